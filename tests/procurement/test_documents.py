"""The signed screening: it verifies offline and at ``/verify/{no}``, and fails both after one
byte of its content changes; the PDF's text has the table; the CSV reads back as the rows."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.signing import SignatureInvalid
from app.procurement.services import verify_envelope
from reports.services import canonical, sha256_hex
from tests.consent.conftest import bearer
from tests.procurement.conftest import days_ago, serious_penalty


@pytest.fixture
def issued(tender: Any, make_enterprise: Any, grade: Any, add: Any, listed: Any) -> dict[str, Any]:
    good, bad = make_enterprise(name="浙江恒昌电力设备有限公司"), make_enterprise(name="杭州宏达输变电工程有限公司")
    grade(good, "AA")
    grade(bad, "BBB")
    listed(bad, "black", [add(bad, "penalty", serious_penalty(days_ago(45), no="浙能监罚〔2026〕21号"))])
    resp = tender.screen([good.uscc, bad.uscc, "91110000053621038X"], {"min_grade": "A"})
    assert resp.status_code == 201
    return {"resp": resp, "good": good, "bad": bad, "number": resp.headers["X-Screening-No"]}


def test_the_file_verifies_offline_and_fails_after_a_byte_changes(issued: dict[str, Any], app: Flask) -> None:
    raw = issued["resp"].get_data()
    jwks = app.extensions["pc_signing_keys"].jwks()
    envelope = json.loads(raw)
    signed = verify_envelope(envelope, jwks)
    assert signed["screening_no"] == issued["number"] and signed["digest"] == envelope["digest"]
    assert sha256_hex(canonical(envelope["screening"])) == envelope["digest"]
    # one byte of the content changed: the name of a firm (one character), or an outcome
    tampered = raw.replace("杭州宏达".encode(), "杭州宏远".encode(), 1)
    assert tampered != raw and len(tampered) == len(raw)
    with pytest.raises(SignatureInvalid, match="内容摘要不一致"):
        verify_envelope(json.loads(tampered), jwks)
    flipped = raw.replace(b'"outcome":"fail"', b'"outcome":"pass"', 1)
    with pytest.raises(SignatureInvalid, match="内容摘要不一致"):
        verify_envelope(json.loads(flipped), jwks)
    # a signature lifted onto another file, or no file at all
    with pytest.raises(SignatureInvalid):
        verify_envelope({**envelope, "signature": envelope["signature"][:-4] + "AAAA"}, jwks)
    with pytest.raises(SignatureInvalid, match="缺少 screening"):
        verify_envelope({"report": {}}, jwks)


def test_a_statement_not_matching_the_document_names_what_in_chinese(issued: dict[str, Any], app: Flask) -> None:
    """A signature over this content's digest whose statement names another tenderer (or
    number, time, kind): refused, the field named in words, not by its key."""
    from app.procurement.services import STATEMENT_TYP, statement

    keys = app.extensions["pc_signing_keys"]
    envelope = json.loads(issued["resp"].get_data())
    doc = envelope["screening"]
    digest = sha256_hex(canonical(doc))
    for key, label in (("tenderer", "招标人"), ("screening_no", "编号"), ("issued_at", "出具时间"), ("kind", "文书类型")):
        claimed = statement({**doc, key: {"name": "另一家", "licence_no": "X"} if key == "tenderer" else "PS0"}, digest)
        forged = {**envelope, "signature": keys.sign(claimed, STATEMENT_TYP)}
        with pytest.raises(SignatureInvalid) as refused:
            verify_envelope(forged, keys.jwks())
        assert str(refused.value) == f"筛查结果的{label}与签名不符", key

def test_verify_page_checks_the_digest(issued: dict[str, Any], client: FlaskClient) -> None:
    number, raw = issued["number"], issued["resp"].get_data()
    envelope = json.loads(raw)
    assert envelope["verify_url"] == f"http://localhost/verify/{number}?digest={envelope['digest']}"
    ok = client.get(f"/verify/{number}?digest={envelope['digest']}&format=json").get_json()
    assert ok | {"issued_at": None} == {
        "screening_no": number, "issued": True, "issued_at": None, "kind": "bid_screening",
        "kind_label": "投标人信用筛查结果", "tenderer": "某电力集团电子商务采购平台", "bidders": 3,
        "rows": 3, "duplicates": 0,
        "digest": envelope["digest"], "digest_checked": True, "digest_matches": True, "signature_valid": True,
        "kid": envelope["kid"]}
    tampered = json.loads(raw.replace("杭州宏达".encode(), "杭州宏远".encode(), 1))
    changed = sha256_hex(canonical(tampered["screening"]))
    bad = client.get(f"/verify/{number}?digest={changed}&format=json").get_json()
    assert (bad["digest_checked"], bad["digest_matches"]) == (True, False)
    page = client.get(f"/verify/{number}?digest={changed}").get_data(as_text=True)
    assert "摘要不一致" in page and "投标人信用筛查结果" in page
    assert "浙江恒昌" not in page and issued["good"].uscc not in page  # never the bidders
    html = client.get(f"/verify/{number}").get_data(as_text=True)
    assert "该编号的筛查结果由本平台出具" in html and "某电力集团电子商务采购平台" in html


def test_verify_counts_bidders_not_rows(tender: Any, make_enterprise: Any, client: FlaskClient) -> None:
    """A repeated code is one bidder: the verification says how many bidders were screened
    (as the signed statement and ``powercredit verify`` do) and, apart, how many rows came."""
    firms = [make_enterprise() for _ in range(3)]
    resp = tender.screen([f.uscc for f in firms] + [firms[1].uscc])
    assert resp.status_code == 201
    number, envelope = resp.headers["X-Screening-No"], resp.get_json()
    assert envelope["screening"]["summary"]["bidders"] == 3
    shown = client.get(f"/verify/{number}?format=json").get_json()
    assert (shown["bidders"], shown["rows"]) == (3, 4)
    text = re.sub(r"<[^>]+>", "", client.get(f"/verify/{number}").get_data(as_text=True))
    assert re.search(r"筛查投标人数\s*3 家", text), text
    assert re.search(r"提交行数\s*4 行（其中重复 1 行）", text), text
    assert "4 家" not in text


def test_a_stored_screening_changed_after_issue_no_longer_verifies(issued: dict[str, Any], client: FlaskClient,
                                                                  db: Any) -> None:
    """The verify page shows the tenderer, time and count from the signed body; a body changed
    in the database (a byte) or a row whose counts were edited does not pass as signed."""
    import sqlalchemy as sa

    from app.procurement.models import Screening

    number = issued["number"]
    row = db.scalars(sa.select(Screening).where(Screening.screening_no == number)).one()
    row.total = 999  # a column edited: the answer still reads the signed body
    db.flush()
    shown = client.get(f"/verify/{number}?format=json").get_json()
    assert shown["bidders"] == 3 and shown["signature_valid"] is True
    row.body = row.body.replace("杭州宏达", "杭州宏远", 1)
    db.flush()
    assert client.get(f"/verify/{number}?format=json").get_json()["signature_valid"] is False


def test_verify_unknown_and_malformed_numbers(client: FlaskClient) -> None:
    unknown = client.get("/verify/PS20261118ABCDEFGHJKLM?format=json")
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "screening_not_found"
    assert client.get("/verify/PS20261118ABCDEFGHJKLM").status_code == 404
    bad = client.get("/verify/PS2026111?format=json")
    assert bad.status_code == 422 and list(bad.get_json()["errors"]) == ["screening_no"]
    digest = client.get("/verify/PS20261118ABCDEFGHJKLM?digest=xyz&format=json")
    assert digest.status_code == 422 and list(digest.get_json()["errors"]) == ["digest"]


def test_a_malformed_digest_is_named_as_the_screenings(issued: dict[str, Any], client: FlaskClient) -> None:
    number = issued["number"]
    answer = client.get(f"/verify/{number}?digest=zz&format=json")
    assert answer.status_code == 422 and answer.get_json()["detail"] == "筛查结果的摘要格式不正确"
    page = client.get(f"/verify/{number}?digest=zz")
    assert page.status_code == 422
    text = page.get_data(as_text=True)
    assert "筛查结果的摘要格式不正确" in text and "报告摘要" not in text



def test_every_download_is_an_attachment_named_by_its_number(issued: dict[str, Any], tender: Any) -> None:
    """The signed file, the PDF and the CSV are saved under the screening's number, not shown
    in the browser's tab (the API's answer to the screening itself too: the same file)."""
    number = issued["number"]
    assert issued["resp"].headers["Content-Disposition"] == f'attachment; filename="{number}.json"'
    for path, name in (("", f"{number}.json"), ("/pdf", f"{number}.pdf"), ("/csv", f"{number}.csv")):
        resp = tender.http.get(f"/api/v1/screenings/{number}{path}", headers=bearer(tender.token()))
        assert resp.status_code == 200
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{name}"', path

@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")
def test_the_pdf_has_the_table(issued: dict[str, Any], tender: Any, tmp_path: Path) -> None:
    resp = tender.http.get(f"/api/v1/screenings/{issued['number']}/pdf", headers=bearer(tender.token()))
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{issued["number"]}.pdf"'
    path = tmp_path / "s.pdf"
    path.write_bytes(resp.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ("投标人信用筛查结果", issued["number"], "统一社会信用代码", "企业名称", "结论", "原因与提示",
                     issued["good"].uscc, "浙江恒昌电力设备有限公司", issued["bad"].uscc, "杭州宏达输变电工程有限公司",
                     "不通过", "浙能监罚〔2026〕21号", "91110000053621038X", "代码无效", "第 1 页 / 共 1 页",
                     "信用等级不低于 A"):
        assert expected.replace(" ", "") in re.sub(r"\s+", "", text), expected  # -layout spaces the text out
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Helvetica" not in fonts and "yes" in fonts  # only the embedded Chinese font
    again = tender.http.get(f"/api/v1/screenings/{issued['number']}/pdf", headers=bearer(tender.token()))
    assert again.data == resp.data  # cached: a screening never changes



@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")
def test_a_code_is_never_split_over_lines_in_the_pdf(tender: Any, make_enterprise: Any, tmp_path: Path) -> None:
    """The code column holds the widest valid code on one line (letters like W and M in every
    place that may hold one), as it holds an ordinary one."""
    from app.archive.uscc import check_uscc, make_uscc

    wide = [make_uscc("N", "1", "110000", org) for org in ("WWWWWWMW", "WWMWMWMW", "MWMWMWMW", "MA01W2XQ")]
    assert all(check_uscc(code).ok for code in wide)
    firm = make_enterprise(uscc=wide[0])
    resp = tender.screen([*wide, make_enterprise().uscc])
    assert resp.status_code == 201
    number = resp.headers["X-Screening-No"]
    pdf = tender.http.get(f"/api/v1/screenings/{number}/pdf", headers=bearer(tender.token()))
    path = tmp_path / "codes.pdf"
    path.write_bytes(pdf.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    lines = text.splitlines()
    for row in resp.get_json()["screening"]["bidders"]:
        assert any(row["uscc"] in line for line in lines), (row["uscc"], text)
    assert any(firm.uscc in line and firm.name in line for line in lines)  # a firm found: its name beside it

@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")
def test_the_pdf_has_the_certificate_column(tender: Any, make_enterprise: Any, grade: Any, certificate: Any,
                                            tmp_path: Path) -> None:
    """As the CSV: each firm's certificate number (on one line, beside its code) and status, or
    无; a row that screened no firm has none to show."""
    from app.archive.uscc import make_uscc

    held, paused, none = make_enterprise(uscc=make_uscc("N", "1", "110000", "WWMWMWMW")), make_enterprise(), \
        make_enterprise()
    for ent in (held, paused, none):
        grade(ent, "AA")
    good = certificate(held, valid_until=days_ago(-400))
    good.certificate_no = "PCC2026WWWWWWWWWMWW"  # the widest a number can be
    stopped = certificate(paused, status="suspended")
    resp = tender.screen([held.uscc, paused.uscc, none.uscc, "91110000053621038X"], {"certificate_required": True})
    assert resp.status_code == 201
    pdf = tender.http.get(f"/api/v1/screenings/{resp.headers['X-Screening-No']}/pdf", headers=bearer(tender.token()))
    path = tmp_path / "certificates.pdf"
    path.write_bytes(pdf.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    lines = text.splitlines()
    assert "信用等级证书" in text
    for ent, cert in ((held, good), (paused, stopped)):
        assert any(ent.uscc in line and cert.certificate_no in line for line in lines), (cert.certificate_no, text)
    squeezed = re.sub(r"\s+", "", text)
    assert f"有效，至{days_ago(-400)}" in squeezed and "已暂停，至" in squeezed
    row = next(line for line in lines if none.uscc in line)
    assert re.search(rf"{none.uscc}.*\s无\s", row), row
    invalid = next(line for line in lines if "91110000053621038X" in line)
    assert re.search(r"91110000053621038X.*\s—\s", invalid), invalid


def test_a_long_screening_pdf_runs_over_pages(tender: Any, make_enterprise: Any, tmp_path: Path) -> None:
    from app.procurement.pdf import render_screening_pdf

    firms = [make_enterprise() for _ in range(3)]
    doc = tender.screen([f.uscc for f in firms]).get_json()["screening"]
    doc["bidders"] = [dict(doc["bidders"][i % 3], row=i + 1) for i in range(400)]  # a rendering test only
    pdf = render_screening_pdf(doc, digest="0" * 64, verify_url="http://localhost/verify/x", kid="k1")
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    path = tmp_path / "long.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.count("原因与提示")  # the header row repeated on every page
    assert pages > 3 and f"共 {pages} 页" in text and f"第 {pages} 页" in text and "\n400\n" in text


def test_the_csv_reads_back_as_the_rows(issued: dict[str, Any], tender: Any) -> None:
    resp = tender.http.get(f"/api/v1/screenings/{issued['number']}/csv", headers=bearer(tender.token()))
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.data.startswith("\ufeff".encode())  # Excel reads the Chinese right
    rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"))))
    doc = issued["resp"].get_json()["screening"]
    assert [(int(r["行号"]), r["统一社会信用代码"], r["企业名称"], r["信用等级"], r["结论"]) for r in rows] == [
        (b["row"], b["uscc"], b["name"] or "", b["grade"] or "", b["outcome_label"]) for b in doc["bidders"]]
    assert [r["原因"] for r in rows] == ["；".join(b["reasons"]) for b in doc["bidders"]]
    bad = next(r for r in rows if r["统一社会信用代码"] == issued["bad"].uscc)
    assert bad["名单"].startswith("黑名单（失信联合惩戒）（") and "浙能监罚〔2026〕21号" in bad["原因"]


def test_the_csv_neutralises_formulas_in_every_text_cell(tender: Any, make_enterprise: Any) -> None:
    """OWASP CSV injection: a code typed as a formula, or a firm's name that is one, is written
    with a leading single quote, so a spreadsheet shows it as text and never runs it; the
    signed document keeps what was sent."""
    named = make_enterprise(name="=HYPERLINK(\"http://evil.example\",\"点此\")电力有限公司")
    sent = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1:A9)", "＝1+1", named.uscc]
    resp = tender.screen(sent)
    assert resp.status_code == 201
    number = resp.headers["X-Screening-No"]
    doc = resp.get_json()["screening"]
    assert [b["uscc"] for b in doc["bidders"][:5]] == [s.upper() for s in sent[:5]]  # the document as sent
    csv_resp = tender.http.get(f"/api/v1/screenings/{number}/csv", headers=bearer(tender.token()))
    rows = list(csv.reader(io.StringIO(csv_resp.data.decode("utf-8-sig"))))[1:]
    assert [r[1] for r in rows[:5]] == ["'" + s.upper() for s in sent[:5]]
    assert rows[5][1] == named.uscc and rows[5][2] == "'" + named.name
    formula = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
    assert [cell for row in rows for cell in row if cell.startswith(formula)] == []
