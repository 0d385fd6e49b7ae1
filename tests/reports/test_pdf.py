"""The PDF: embedded Chinese font, the Chinese text extractable (pdftotext), the firm's name
and grade, the report number and digest, page numbers "第 x 页 / 共 y 页", a contents page,
tables split across pages with their header repeated, cached per report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import sqlalchemy as sa

from app.archive.ingestion import ingest_records
from app.scoring.services import evaluate
from reports.models import Report
from reports.pdf import render_pdf

POPPLER = shutil.which("pdftotext") and shutil.which("pdffonts")
pytestmark = pytest.mark.skipif(not POPPLER, reason="poppler-utils missing: scripts/test.sh installs it")


def text_of(pdf: bytes, tmp_path, *flags: str) -> str:
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", *flags, str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def fonts_of(pdf: bytes, tmp_path) -> list[list[str]]:
    path = tmp_path / "f.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    return [line.split() for line in out.splitlines()[2:] if line.strip()]


@pytest.fixture
def long_report(archive, db, make_provider, rows, login, client):
    """A firm with 80 contracts (a table over several pages), 14 electricity bills and an
    evaluation."""
    import datetime as dt

    provider = make_provider(["contract", "utility"])
    contracts = [rows.contract(archive.enterprise.uscc, f"ct-{i}", contract_no=f"HT-{i:04d}") for i in range(80)]
    first = dt.date.today().replace(day=1)
    bills = []
    for i in range(14):
        month = (first - dt.timedelta(days=31 * (i + 2))).replace(day=1)
        bills.append(rows.utility(archive.enterprise.uscc, f"bill-{i}", month=month.strftime("%Y-%m"),
                                  paid_on=(month + dt.timedelta(days=40)).isoformat(),
                                  **({"status": "late"} if i == 3 else {})))
    assert ingest_records(db, provider, contracts + bills).accepted == 94
    ev = evaluate(db, archive.enterprise)
    login(archive.user)
    resp = client.get("/api/v1/me/report?format=pdf")
    assert resp.status_code == 201
    return resp.data, ev, resp.headers["X-Report-No"]


def test_the_font_is_embedded_and_nothing_else_is_needed(long_report, tmp_path):
    pdf, _, _ = long_report
    fonts = fonts_of(pdf, tmp_path)
    assert fonts, "no fonts listed"
    for row in fonts:
        assert "WenQuanYiMicroHei" in row[0], row  # no Helvetica, no STSong-Light
        assert row[-5] == "yes", row  # emb


def test_the_text_comes_back_in_chinese_with_name_grade_number_and_pages(long_report, tmp_path, archive, db):
    pdf, ev, no = long_report
    text = text_of(pdf, tmp_path, "-nodiag")
    flat = re.sub(r"\s+", "", text)
    assert archive.enterprise.name in flat and archive.enterprise.uscc in flat
    assert "企业信用报告" in flat and "自主查询版" in flat
    assert f"信用等级{ev.grade}" in flat or f"当前等级{ev.grade}" in flat
    assert no in flat
    stored = db.scalar(sa.select(Report).where(Report.report_no == no))
    assert stored.digest in flat
    pages = [int(n) for n in re.findall(r"共(\d+)页", flat)]
    total = pages[0]
    assert total >= 4 and all(p == total for p in pages)
    assert [int(n) for n in re.findall(r"第(\d+)页/共", flat)] == list(range(1, total + 1))
    assert "目录" in flat and "查询记录" in flat and "数据说明与声明" in flat
    assert "电费缴纳" in flat and "共15期电费：按时14期，逾期1期" in flat  # the payment grid's totals
    assert "HT-0079" in flat


def test_long_tables_repeat_their_header_on_every_page(long_report, tmp_path):
    pdf, _, _ = long_report
    pages = text_of(pdf, tmp_path, "-nodiag").split("\f")
    with_contracts = [p for p in pages if "HT-00" in p]
    assert len(with_contracts) >= 2  # the 80 contracts split across pages
    for page in with_contracts:
        assert re.search(r"日期\s*内容\s*性质", page) or all(h in page for h in ("日期", "内容", "性质", "程度", "来源")), page[:300]


def test_the_watermark_names_the_recipient_on_every_page(long_report, tmp_path, archive):
    pdf, _, _ = long_report
    pages = text_of(pdf, tmp_path).split("\f")
    pages = [p for p in pages if p.strip()]
    for page in pages:
        assert archive.enterprise.name in re.sub(r"\s+", "", page)


def test_rendering_is_cached_per_report(long_report, client, app):
    _, _, no = long_report
    cached = app.extensions["pc_settings"].instance_path / "report-pdfs" / f"{no}.pdf"
    assert cached.exists()
    first = client.get(f"/api/v1/me/reports/{no}.pdf").data
    assert first == cached.read_bytes()


def test_a_bank_report_pdf_names_the_bank(archive, bank, active_token, client, tmp_path):
    from tests.reports.conftest import bearer, pull

    _, tok = active_token(scopes=["identity", "tax"])
    no = pull(bank, tok["access_token"], archive.enterprise.uscc).get_json()["report"]["report_no"]
    pdf = client.get(f"/api/v1/reports/{no}.pdf", headers=bearer(bank.cc_token()["access_token"])).data
    flat = re.sub(r"\s+", "", text_of(pdf, tmp_path, "-nodiag"))
    assert "授信机构版" in flat and bank.institution.name in flat and "贷款申请审查" in flat
    assert "纳税信息" in flat and "合同履约" not in flat  # outside the consent: not in the PDF either


def test_render_from_the_frozen_json_alone():
    doc = {
        "schema_version": "1.0", "report_no": "PC20261123ABCDEFGHJKLM", "kind": "institution",
        "kind_label": "授信机构版", "issued_at": "2026-11-23T08:00:00Z",
        "subject": {"uscc": "91620102934141843Y", "name": "示例电力有限公司"},
        "recipient": {"type": "institution", "name": "示例银行", "licence_no": "B0001"}, "consent": None,
        "section_list": ["lists"], "sections": {"lists": []},
        "statement": {"as_of": "2026-11-23", "data_updated_to": None, "data_range": {"from": None, "to": None},
                      "sources": [], "disputed_records": 0, "notice": "仅供参考", "dispute_notice": "",
                      "retention": ""},
    }
    pdf = render_pdf(json.loads(json.dumps(doc)), digest="0" * 64, verify_url="http://localhost/verify/x", kid="s1")
    assert pdf.startswith(b"%PDF") and b"WenQuanYiMicroHei" in pdf
