"""The bidding edition (招投标专用版, issue #27): a report the firm issues itself to attach to a
bid — the public sections only, the grade with its validity (NR 不予评级 with its reason), the
certificate (none, issued, suspended), the lists and what they mean in a tender with their
basis; counted against the free allowance; nobody else issues or reads it; verifiable, and
any changed byte fails; its PDF; its schema."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import subprocess
from dataclasses import replace
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
import time_machine

from app.archive.ingestion import ingest_records
from app.audit.models import AuditEvent
from app.certificates.models import Certificate, CertificateStatus
from app.core import clock
from app.core.signing import SignatureInvalid
from app.oversight import lists
from app.oversight.models import ListEntry
from app.scoring.services import evaluate
from reports.bidding import BIDDING_SECTIONS, grade_valid_until
from reports.models import ReportKind
from reports.schemas import report_json_schema
from reports.sections import RECORD_SECTIONS
from reports.services import canonical, issue_self_report, verify_envelope
from tests.consent.conftest import csrf_of
from tests.oversight.conftest import (  # noqa: F401 (fixtures)
    TODAY,
    add,
    breached,
    days_ago,
    dishonest,
    grade,
    provider,
    serious_penalty,
    tax,
)

POPPLER = shutil.which("pdftotext")
BARRED = "列入失信联合惩戒名单：限制参加电力集团公司及所属企业招标与物资采购"
# What the firm's archive holds that is not public: none of it may be in the edition.
SECRETS = ("HT-SECRET-7781", "ACC-SECRET-5521", "秘密商业银行", "支付货款 120 万元", "杭州市西湖区人民法院",
           "secret-loan-ref", "未按调度指令运行造成电网事故-无此字段")
LICENCE = {"decision_doc_name": "准予电力业务许可决定", "decision_doc_no": "许可〔2025〕8号", "licence_category": "general",
           "certificate_name": "电力业务许可证", "certificate_no": "1033025-00001", "content": "准予从事售电业务",
           "decided_on": days_ago(400), "valid_from": days_ago(400),
           "valid_to": (TODAY + dt.timedelta(days=900)).isoformat(), "authority": "国家能源局浙江监管办公室",
           "authority_uscc": "113300000000000199"}


def bidding(client: Any, **body: Any) -> Any:
    return client.post("/api/v1/me/reports", json={"edition": "bidding", **body})


def keys(app: Any) -> Any:
    return app.extensions["pc_signing_keys"]


def issue(db: Any, app: Any, ent: Any) -> dict[str, Any]:
    """The edition issued by the service (a generous allowance), as its document."""
    report, _ = issue_self_report(db, keys(app), ent, None, 50, actor="test", kind=ReportKind.bidding)
    return dict(json.loads(report.body))


def certificate(db: Any, ent: Any, status: CertificateStatus, **extra: Any) -> Certificate:
    issued = clock.now() - dt.timedelta(days=40)
    values: dict[str, Any] = {
        "certificate_no": f"PCC{TODAY:%Y%m%d}{secrets.token_hex(4).upper()}", "enterprise_id": ent.id,
        "status": status, "grade": "AA", "grade_as_of": TODAY - dt.timedelta(days=50), "issued_at": issued,
        "valid_from": TODAY - dt.timedelta(days=40), "valid_until": clock.add_years(TODAY, 3) - dt.timedelta(days=40),
        "next_review_on": clock.add_years(TODAY, 1) - dt.timedelta(days=40)}
    values.update(extra)
    cert = Certificate(**values)
    db.add(cert)
    db.flush()
    return cert


def black_listed(db: Any, add: Any, ent: Any) -> None:  # noqa: F811
    """A 失信被执行人 judgment and a serious penalty: the black list, published today."""
    add(ent, "judicial", dishonest(7))
    add(ent, "penalty", serious_penalty(no="浙能监罚〔2026〕7号"))
    lists.refresh(db, TODAY, enterprise_ids=[ent.id])
    lists.publish(db, None, actor="test")


def pdf_text(pdf: bytes, tmp_path: Any) -> str:
    path = tmp_path / "bid.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


# --- what it contains ------------------------------------------------------------------------

def test_only_the_public_sections_even_when_the_firm_has_private_records(archive, add, db, login, client):  # noqa: F811
    ent = archive.enterprise
    contract = breached(30)
    contract["contract_no"] = "HT-SECRET-7781"
    add(ent, "contract", contract)
    add(ent, "utility", {"account_no": "ACC-SECRET-5521", "month": (TODAY.replace(day=1) - dt.timedelta(days=1))
                         .strftime("%Y-%m"), "consumption_kwh": "1000", "amount_due": "700.00", "status": "on_time",
                         "paid_on": TODAY.isoformat()})
    add(ent, "loan", {"lender": "秘密商业银行", "amount": "1000000", "start_on": days_ago(300),
                      "end_on": (TODAY + dt.timedelta(days=60)).isoformat(), "status": "normal"}, ref="secret-loan-ref")
    add(ent, "tax", tax(TODAY.year - 1, "D"))
    add(ent, "licence", LICENCE)
    black_listed(db, add, ent)
    evaluate(db, ent)
    login(archive.user)

    resp = bidding(client)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    doc = body["report"]
    assert (doc["kind"], doc["kind_label"], doc["consent"]) == ("bidding", "招投标专用版", None)
    assert doc["recipient"] == {"type": "enterprise", "name": ent.name, "uscc": ent.uscc}
    assert doc["section_list"] == list(BIDDING_SECTIONS) and set(doc["sections"]) == set(BIDDING_SECTIONS)
    assert not set(doc["sections"]) & (set(RECORD_SECTIONS) | {"summary", "evaluation", "objections", "query_records"})
    jsonschema.validate(doc, report_json_schema("1.2"))
    text = canonical(doc).decode()
    for secret in SECRETS:
        assert secret not in text, secret
    # No adverse factor, no history, no dimension: only the grade's public facts.
    assert not {"adverse_factors", "history", "dimensions", "coverage"} & set(doc["sections"]["rating"])
    # 双公示: exactly the public page's fields, the penalty and the licence.
    sections = doc["sections"]
    assert [p["decision_no"] for p in sections["penalties"]] == ["浙能监罚〔2026〕7号"]
    assert "serious" not in sections["penalties"][0] and sections["penalties"][0]["disputed"] is False
    assert [x["certificate_no"] for x in sections["licences"]] == ["1033025-00001"]
    assert sections["identity"]["uscc"] == ent.uscc
    assert doc["statement"]["disputed_records"] == 0 and doc["statement"]["sources"][0]["records"] == 2
    # The report file: Location, the allowance, the remaining count.
    assert resp.headers["Location"].endswith(f"/api/v1/me/reports/{doc['report_no']}")
    assert body["allowance"]["used"] == 1 and resp.headers["X-Free-Reports-Remaining"] == "1"


def test_a_disputed_penalty_is_marked_in_the_edition(firm, add, db, app):  # noqa: F811
    from app.archive.models import RecordStatus

    record = add(firm.enterprise, "penalty", serious_penalty(no="浙能监罚〔2026〕9号"))
    record.status = RecordStatus.disputed
    db.flush()
    doc = issue(db, app, firm.enterprise)
    assert [p["disputed"] for p in doc["sections"]["penalties"]] == [True]
    assert doc["statement"]["disputed_records"] == 1


def test_the_grade_holds_twelve_months_from_its_base_date(firm, grade, db, app):  # noqa: F811
    ent = firm.enterprise
    assert issue(db, app, ent)["sections"]["rating"] is None  # never evaluated
    ev = grade(ent, "AA", days=30)
    rating = issue(db, app, ent)["sections"]["rating"]
    until = clock.add_months(ev.as_of, 12) - dt.timedelta(days=1)
    assert (rating["grade"], rating["grade_label"], rating["not_rated"]) == ("AA", "信用优良", False)
    assert rating["valid_from"] == ev.as_of.isoformat() and rating["valid_until"] == until.isoformat()
    assert rating["in_force"] is True and "12 个月" in rating["validity_rule"]
    assert grade_valid_until(dt.date(2024, 2, 29)) == dt.date(2025, 2, 28)  # the anniversary is 1 March
    grade(ent, "A", days=400)  # a grade older than a year no longer holds
    stale = issue(db, app, ent)["sections"]["rating"]
    assert stale["grade"] == "A" and stale["in_force"] is False


@pytest.mark.parametrize(("as_of", "last"), [
    (dt.date(2028, 2, 29), dt.date(2029, 2, 28)),  # its anniversary in a common year is 1 March
    (dt.date(2028, 2, 28), dt.date(2029, 2, 27)),
    (dt.date(2028, 3, 1), dt.date(2029, 2, 28)),
    (dt.date(2027, 2, 28), dt.date(2028, 2, 27)),
    (dt.date(2027, 3, 1), dt.date(2028, 2, 29)),  # ends on a leap day
    (dt.date(2026, 3, 10), dt.date(2027, 3, 9)),
])
def test_a_grades_validity_at_the_edges_of_february_is_counted_as_a_certificates(as_of, last):
    from app.certificates.rules import term_end

    assert grade_valid_until(as_of) == last == term_end(as_of, 12)


def test_a_grade_based_on_29_february_holds_through_28_february(firm, grade, db, app):  # noqa: F811
    ent = firm.enterprise
    with time_machine.travel(clock.at_cn(dt.date(2028, 2, 29), 12), tick=False):
        ev = grade(ent, "AA", days=0)
    assert ev.as_of == dt.date(2028, 2, 29)
    with time_machine.travel(clock.at_cn(dt.date(2029, 2, 28), 23, 59), tick=False):
        last = issue(db, app, ent)["sections"]["rating"]
    assert (last["valid_from"], last["valid_until"], last["in_force"]) == ("2028-02-29", "2029-02-28", True)
    with time_machine.travel(clock.at_cn(dt.date(2029, 3, 1), 0, 1), tick=False):
        after = issue(db, app, ent)["sections"]["rating"]
    assert (after["valid_until"], after["in_force"]) == ("2029-02-28", False)


def test_not_rated_shows_as_such_with_its_reason_and_no_validity(firm, db, app, make_provider, rows):
    ent = firm.enterprise
    ingest_records(db, make_provider(), [rows.contract(ent.uscc, "c-1")])
    assert evaluate(db, ent).grade == "NR"
    doc = issue(db, app, ent)
    rating = doc["sections"]["rating"]
    assert (rating["grade"], rating["grade_label"], rating["not_rated"]) == ("NR", "不予评级", True)
    assert rating["reason"].startswith("不予评级（信息不足）") and rating["score"] is None
    assert rating["valid_from"] is None and rating["valid_until"] is None and rating["in_force"] is False
    jsonschema.validate(doc, report_json_schema("1.2"))


def test_the_certificate_none_issued_or_suspended(firm, db, app):
    ent = firm.enterprise
    assert issue(db, app, ent)["sections"]["certificate"] is None
    # Neither a revoked one nor one past its validity is the firm's certificate.
    certificate(db, ent, CertificateStatus.revoked)
    certificate(db, ent, CertificateStatus.issued, valid_until=TODAY - dt.timedelta(days=1))
    assert issue(db, app, ent)["sections"]["certificate"] is None

    cert = certificate(db, ent, CertificateStatus.issued)
    shown = issue(db, app, ent)["sections"]["certificate"]
    assert shown == {
        "certificate_no": cert.certificate_no, "grade": "AA", "grade_as_of": cert.grade_as_of.isoformat(),
        "status": "issued", "status_label": "有效", "status_reason": None,
        "issued_at": cert.issued_at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "valid_from": cert.valid_from.isoformat(), "valid_until": cert.valid_until.isoformat(),
        "next_review_on": cert.next_review_on.isoformat(), "verify_path": f"/verify/{cert.certificate_no}"}

    cert.status, cert.status_reason = CertificateStatus.suspended, "年度复核未通过：信用等级降至 BB"
    db.flush()
    doc = issue(db, app, ent)
    suspended = doc["sections"]["certificate"]
    assert (suspended["status"], suspended["status_label"]) == ("suspended", "暂停")
    assert suspended["status_reason"] == "年度复核未通过：信用等级降至 BB"
    jsonschema.validate(doc, report_json_schema("1.2"))


def test_a_black_listed_firm_is_barred_with_the_basis_and_a_watched_one_warned(firm, add, db, app,  # noqa: F811
                                                                               make_enterprise):
    ent = firm.enterprise
    clear = issue(db, app, ent)["sections"]["restrictions"]
    assert clear == {"barred": False, "warning": False, "entries": [],
                     "summary": "未列入失信联合惩戒名单或重点关注名单，无因信用名单产生的投标限制。"}

    black_listed(db, add, ent)
    entry = db.scalar(sa.select(ListEntry).where(ListEntry.enterprise_id == ent.id, ListEntry.list_name == "black"))
    limits = issue(db, app, ent)["sections"]["restrictions"]
    assert limits["barred"] is True and limits["summary"] == BARRED + "。"
    [black] = [e for e in limits["entries"] if e["list"] == "black"]
    assert black["text"] == BARRED and black["effect"] == "barred" and black["entry_no"] == entry.id
    assert black["published_on"] == TODAY.isoformat() and black["entered_on"] == TODAY.isoformat()
    assert black["ends_on"] == (entry.ends_on.isoformat() if entry.ends_on else None)
    documents = {d["number"]: d for b in black["basis"] for d in b["documents"]}
    assert documents["(2026)浙0106执7号"] == {"category": "judicial", "category_label": "司法",
                                          "number": "(2026)浙0106执7号", "date": days_ago(60)}
    assert documents["浙能监罚〔2026〕7号"]["date"] == days_ago(30)
    assert all(b["label"] for b in black["basis"])

    other = make_enterprise()
    add(other, "tax", tax(TODAY.year - 1, "D"))
    lists.refresh(db, TODAY, enterprise_ids=[other.id])
    lists.publish(db, None, actor="test")
    watched = issue(db, app, other)["sections"]["restrictions"]
    assert watched["barred"] is False and watched["warning"] is True
    assert watched["entries"][0]["list"] == "watch" and "风险提示" in watched["entries"][0]["text"]
    assert watched["summary"].startswith("风险提示：")


# --- the allowance -----------------------------------------------------------------------------

def test_it_counts_against_the_free_allowance_and_is_refused_when_it_is_used(archive, login, client, db):
    login(archive.user)
    assert bidding(client).status_code == 201
    assert client.get("/api/v1/me/report").status_code == 201  # the 自主查询版 draws on the same two
    refused = bidding(client)
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert problem["code"] == "self_report_allowance_exhausted"
    assert "已用完" in problem["detail"] and "招投标专用版" in problem["detail"]
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get("/api/v1/me/report").status_code == 403
    listing = client.get("/api/v1/me/reports").get_json()
    assert listing["allowance"] == {**listing["allowance"], "used": 2, "remaining": 0}
    assert sorted(r["kind_label"] for r in listing["items"]) == ["招投标专用版", "自主查询版"]
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "report.bidding", AuditEvent.outcome == "refused",
        AuditEvent.code == "self_report_allowance_exhausted")) == 1
    # Re-downloading is free.
    no = next(r["report_no"] for r in listing["items"] if r["kind"] == "bidding")
    again = client.get(f"/api/v1/me/reports/{no}")
    assert again.status_code == 200 and again.get_json()["report"]["kind"] == "bidding"
    assert client.get(f"/api/v1/me/reports/{no}.pdf").mimetype == "application/pdf"


def test_bad_bodies_name_the_field_and_spend_nothing(archive, login, client):
    login(archive.user)
    for body, field in (({"edition": "full"}, "edition"), ({}, "edition"), ({"edition": None}, "edition"),
                        ({"edition": "bidding", "uscc": "91110000053621038D"}, "uscc")):
        resp = client.post("/api/v1/me/reports", json=body)
        assert resp.status_code == 422 and resp.mimetype == "application/problem+json", body
        assert field in resp.get_json()["errors"], resp.get_json()
    assert client.post("/api/v1/me/reports?format=docx", json={"edition": "bidding"}).status_code == 422
    assert client.get("/api/v1/me/reports").get_json()["allowance"]["used"] == 0


def test_the_issued_edition_is_audited_like_a_self_report(archive, login, client, db):
    login(archive.user)
    no = bidding(client).get_json()["report"]["report_no"]
    event = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "report.bidding",
                                                  AuditEvent.subject_id == no))
    assert event is not None and event.detail["uscc"] == archive.enterprise.uscc and event.outcome == "ok"


# --- who may ----------------------------------------------------------------------------------

def tenderer(db: Any) -> Any:
    """A tenderer (招标人): the one who reads the edition, never the one who issues it."""
    from app.accounts.services import create_institution, create_user
    from tests.conftest import PASSWORD

    n = secrets.token_hex(4)
    inst = create_institution(db, name=f"测试招标采购中心{n}", licence_no=f"T{n}", kind="procurement")
    return create_user(db, username=f"tenderer-{n}", password=PASSWORD, role="tenderer", institution_licence=inst.licence_no)


def test_nobody_but_the_firm_issues_or_reads_its_bidding_edition(archive, login, client, make_user, make_enterprise,
                                                                 bank, active_token, db):
    assert bidding(client).status_code in (400, 401)  # no session: not even the CSRF check passes
    for user in (make_user("bank"), make_user("operator"), tenderer(db)):
        login(user)
        resp = bidding(client)
        assert resp.status_code == 403 and resp.mimetype == "application/problem+json", user.role
    # A bank's token cannot issue it either.
    _, tok = active_token(scopes=["identity"])
    client.post("/logout", data={})
    client.environ_base.pop("HTTP_X_CSRFTOKEN", None)
    by_token = client.post("/api/v1/me/reports", json={"edition": "bidding"},
                           headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert by_token.status_code in (400, 401, 403)

    login(archive.user)
    no = bidding(client).get_json()["report"]["report_no"]
    other = make_user("firm", enterprise=make_enterprise())
    login(other)
    assert client.get(f"/api/v1/me/reports/{no}").status_code == 404
    assert client.get(f"/api/v1/me/reports/{no}.pdf").status_code == 404
    assert client.get("/api/v1/me/reports").get_json()["items"] == []
    # What the other firm issues is about itself, whatever it tries.
    own = bidding(client).get_json()["report"]
    assert own["subject"]["uscc"] != archive.enterprise.uscc
    login(make_user("bank"))
    assert client.get(f"/api/v1/reports/{no}").status_code == 404  # not a bank's report


# --- verification ------------------------------------------------------------------------------

def test_it_verifies_and_fails_after_a_byte_changes(archive, login, client):
    login(archive.user)
    envelope = bidding(client).get_json()
    client.post("/logout", data={})
    jwks = client.get("/.well-known/jwks.json").get_json()
    signed = verify_envelope(envelope, jwks)
    assert signed["kind"] == "bidding"
    body = canonical(envelope["report"])
    checked = 0
    for i in range(0, len(body), 7):
        tampered = bytearray(body)
        tampered[i] ^= 0x01
        try:
            doc = json.loads(bytes(tampered))
        except ValueError:
            continue
        checked += 1
        with pytest.raises(SignatureInvalid):
            verify_envelope({**envelope, "report": doc}, jwks)
    assert checked > len(body) // 14
    # A changed grade (what a bidder would be tempted to change) fails too.
    forged = json.loads(body)
    forged["sections"]["restrictions"]["barred"] = not forged["sections"]["restrictions"]["barred"]
    with pytest.raises(SignatureInvalid):
        verify_envelope({**envelope, "report": forged}, jwks)

    no, digest = envelope["report"]["report_no"], envelope["digest"]
    result = client.get(f"/verify/{no}?digest={digest}&format=json").get_json()
    assert result["kind"] == "bidding" and result["kind_label"] == "招投标专用版"
    assert result["recipient"] == "受查询企业本身（招投标使用）"
    assert result["digest_matches"] is True and result["signature_valid"] is True
    wrong = client.get(f"/verify/{no}?digest={'0' * 64}&format=json").get_json()
    assert wrong["digest_matches"] is False
    page = client.get(f"/verify/{no}?digest={digest}").get_data(as_text=True)
    assert "招投标专用版" in page and "受查询企业本身（招投标使用）" in page
    assert archive.enterprise.name not in page and archive.enterprise.uscc not in page


# --- the PDF -----------------------------------------------------------------------------------

@pytest.mark.skipif(not POPPLER, reason="poppler-utils missing: scripts/test.sh installs it")
def test_the_pdf_says_edition_grade_certificate_and_restrictions(archive, add, grade, db, login, client,  # noqa: F811
                                                                  tmp_path):
    ent = archive.enterprise
    black_listed(db, add, ent)
    grade(ent, "C")
    cert = certificate(db, ent, CertificateStatus.suspended, status_reason="列入失信联合惩戒名单")
    login(archive.user)
    resp = client.post("/api/v1/me/reports?format=pdf", json={"edition": "bidding"})
    assert resp.status_code == 201 and resp.mimetype == "application/pdf"
    no = resp.headers["X-Report-No"]
    text = pdf_text(resp.data, tmp_path)
    flat = "".join(text.split())
    assert "招投标专用版" in text and "招投标信用信息摘要" in text
    assert "C（信用缺失）" in flat and cert.certificate_no in flat and "暂停（列入失信联合惩戒名单）" in flat
    assert BARRED in flat and no in flat and f"/verify/{no}" in flat and f"/verify/{cert.certificate_no}" in flat
    assert "第1页/共" in flat
    # Page one carries the box: the grade, the certificate and the restriction.
    first = "".join(pdf_text(resp.data, tmp_path).split("\f")[0].split())
    assert cert.certificate_no in first and BARRED in first and "有效期" in first
    # The footer names the report and its verify address on every page.
    pages = [p for p in text.split("\f") if p.strip()]
    assert len(pages) >= 2 and all(no in "".join(p.split()) and "核验" in p for p in pages)


@pytest.mark.skipif(not POPPLER, reason="poppler-utils missing: scripts/test.sh installs it")
def test_the_pdf_without_grade_or_certificate_says_so(firm, db, app, tmp_path):
    from reports.pdf import render_pdf

    report, _ = issue_self_report(db, keys(app), firm.enterprise, None, 5, actor="test", kind=ReportKind.bidding)
    text = pdf_text(render_pdf(json.loads(report.body), digest=report.digest, kid=report.kid,
                               verify_url=f"https://pc.example/verify/{report.report_no}"), tmp_path)
    flat = "".join(text.split())
    assert "未取得信用等级证书" in flat and "尚未进行信用评价" in flat and "无因信用名单产生的投标限制" in flat


# --- the page, the schema, the query records -------------------------------------------------

def test_the_firms_page_offers_the_edition_and_says_it_spends_a_free_report(archive, login, client):
    login(archive.user)
    html = client.get("/me/reports").get_data(as_text=True)
    assert "出具招投标专用版" in html and "使用一次本年度免费报告次数" in html and 'value="bidding"' in html
    assert "自主查询版与招投标专用版合计" in html
    token = csrf_of(html)
    done = client.post("/me/reports", data={"csrf_token": token, "edition": "bidding"}, follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "已出具信用报告（招投标专用版） PC" in page and "剩余 1 次" in page and '<td data-label="版本">招投标专用版</td>' in page
    plain = client.post("/me/reports", data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True)
    assert "已出具自主查询报告 PC" in plain and "剩余 0 次" in plain  # without a choice: the 自主查询版, as before
    bad = client.post("/me/reports", data={"csrf_token": token, "edition": "full"})
    assert bad.status_code == 422


def test_the_schema_refuses_a_bidding_document_with_a_private_section(firm, db, app, client):
    schema = json.loads(client.get("/api/v1/reports/schema").data)
    assert schema["properties"]["schema_version"] == {"const": "1.2"}
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = issue(db, app, firm.enterprise)
    jsonschema.validate(doc, schema)
    for extra in ({"tax": []}, {"query_records": []}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**doc, "sections": {**doc["sections"], **extra}}, schema)
    with pytest.raises(jsonschema.ValidationError):  # and a standard report may not carry the edition's
        jsonschema.validate({**doc, "kind": "self", "kind_label": "自主查询版"}, schema)
    assert json.loads(client.get("/api/v1/reports/schema?version=1.1").data)["properties"]["schema_version"] \
        == {"const": "1.1"}


def test_the_next_self_report_lists_the_bidding_edition_among_the_firms_own_queries(archive, login, client):
    login(archive.user)
    no = bidding(client).get_json()["report"]["report_no"]
    queries = client.get("/api/v1/me/report").get_json()["report"]["sections"]["query_records"]
    assert [(q["querier_type"], q["purpose"], q["purpose_label"], q["resource"]) for q in queries] == [
        ("self", "bidding_edition", "本企业出具招投标专用版", f"report:{no}")]


def test_the_allowance_setting_applies_to_the_edition(archive, login, client, app):
    settings = app.extensions["pc_settings"]
    app.extensions["pc_settings"] = replace(settings, free_self_reports=1)
    try:
        login(archive.user)
        assert bidding(client).status_code == 201
        assert bidding(client).status_code == 403
    finally:
        app.extensions["pc_settings"] = settings


def test_the_command_line_issues_the_edition_and_verifies_it(fresh_databases, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from app.archive.services import load_enterprise, register_enterprise
    from app.archive.uscc import make_uscc
    from app.cli import main
    from app.core.crypto import FieldCipher, KeyRing
    from app.core.db import Database

    code = make_uscc("9", "1", "330106", "MA2L0B1D")
    url = fresh_databases.new()
    database = Database(url)
    with database.transaction() as session:
        register_enterprise(session, FieldCipher(KeyRing.generate()),
                            load_enterprise({"uscc": code, "name": "杭州投标测试电力有限公司", "segment": "supplier"}))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    runner = CliRunner()
    try:
        out = tmp_path / "bid.json"
        issued = runner.invoke(main, ["reports", "issue", "--uscc", code, "--edition", "bidding", "--json", str(out),
                                      "--base-url", "https://pc.example"])
        assert issued.exit_code == 0, issued.output
        assert "（招投标专用版，摘要" in issued.output and "剩余免费次数 1 次" in issued.output
        envelope = json.loads(out.read_text(encoding="utf-8"))
        assert envelope["report"]["kind"] == "bidding" and envelope["verify_url"].startswith("https://pc.example/verify/")
        checked = runner.invoke(main, ["verify", str(out)])
        assert checked.exit_code == 0 and "核验通过" in checked.output and "（招投标专用版）" in checked.output
        wrong = runner.invoke(main, ["reports", "issue", "--uscc", code, "--edition", "full", "--json", str(out)])
        assert wrong.exit_code == 2 and "--edition" in wrong.output
    finally:
        database.dispose()
