"""Firms download their own reports: every section and every query record, within the yearly
free allowance; re-downloads are free; nobody else's."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import jsonschema
import sqlalchemy as sa

from app.archive.models import CreditRecord, RecordStatus
from app.core import clock
from reports.models import Report
from reports.schemas import report_json_schema
from tests.reports.conftest import pull


def test_a_self_report_has_every_section_and_counts_against_the_allowance(archive, login, client):
    login(archive.user)
    resp = client.get("/api/v1/me/report")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    doc = body["report"]
    assert doc["kind"] == "self" and doc["recipient"]["uscc"] == archive.enterprise.uscc
    from app.oauth.scopes import REPORT_SECTIONS
    assert list(doc["section_list"]) == list(REPORT_SECTIONS) and set(doc["sections"]) == set(REPORT_SECTIONS)
    year = dt.datetime.now(ZoneInfo("Asia/Shanghai")).year
    assert body["allowance"] == {"year": year, "free": 2, "used": 1, "remaining": 1}
    assert resp.headers["X-Free-Reports-Remaining"] == "1"
    jsonschema.validate(doc, report_json_schema("1.2"))

    second = client.get("/api/v1/me/report?format=pdf")
    assert second.status_code == 201 and second.mimetype == "application/pdf"
    assert second.headers["X-Free-Reports-Remaining"] == "0"
    third = client.get("/api/v1/me/report")
    assert third.status_code == 403 and third.mimetype == "application/problem+json"
    problem = third.get_json()
    assert problem["code"] == "self_report_allowance_exhausted" and "已用完" in problem["detail"]
    assert f"{clock.today().year + 1}年1月1日起可再次查询" in problem["detail"]  # as a date is written, not 01 月 01 日
    assert int(third.headers["Retry-After"]) > 0

    listing = client.get("/api/v1/me/reports").get_json()
    assert listing["allowance"]["used"] == 2 and listing["allowance"]["remaining"] == 0
    assert len(listing["items"]) == 2
    # Re-downloading an issued report is free, as JSON or PDF.
    no = doc["report_no"]
    again = client.get(f"/api/v1/me/reports/{no}")
    assert again.status_code == 200 and again.get_json()["report"] == doc
    pdf = client.get(f"/api/v1/me/reports/{no}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    by_accept = client.get(f"/api/v1/me/reports/{no}", headers={"Accept": "application/pdf"})
    assert by_accept.mimetype == "application/pdf"
    assert client.get("/api/v1/me/reports").get_json()["allowance"]["used"] == 2


def test_the_allowance_is_configurable(archive, login, client, app):
    from dataclasses import replace

    settings = app.extensions["pc_settings"]
    app.extensions["pc_settings"] = replace(settings, free_self_reports=1)
    try:
        login(archive.user)
        assert client.get("/api/v1/me/report").status_code == 201
        assert client.get("/api/v1/me/report").status_code == 403
    finally:
        app.extensions["pc_settings"] = settings


def test_last_years_reports_do_not_count(archive, login, client, db):
    login(archive.user)
    for _ in range(2):
        assert client.get("/api/v1/me/report").status_code == 201
    for report in db.scalars(sa.select(Report)):
        report.issued_at = report.issued_at.replace(year=report.issued_at.year - 1)
    db.flush()
    assert client.get("/api/v1/me/report").status_code == 201


def test_query_records_appear_in_the_next_self_report(archive, bank, active_token, login, client):
    _, tok = active_token(scopes=["identity"])
    pulled = pull(bank, tok["access_token"], archive.enterprise.uscc)
    assert pulled.status_code == 201
    login(archive.user)
    doc = client.get("/api/v1/me/report").get_json()["report"]
    queries = doc["sections"]["query_records"]
    assert [q["querier"] for q in queries if q["querier_type"] == "institution"] == [bank.institution.name]
    q = queries[0]
    assert q["purpose"] == "loan_application" and q["purpose_label"] == "贷款申请审查"
    assert q["resource"] == f"report:{pulled.get_json()['report']['report_no']}"
    # The firm's own earlier self-query shows in the next one too.
    later = client.get("/api/v1/me/report").get_json()["report"]["sections"]["query_records"]
    assert [x["querier_type"] for x in later] == ["self", "institution"]


def test_disputed_records_are_marked_and_expired_ones_absent(archive, login, client, db):
    recs = {r.provider_ref: r for r in db.scalars(sa.select(CreditRecord).where(
        CreditRecord.enterprise_id == archive.enterprise.id))}
    recs["c-1"].status = RecordStatus.disputed
    recs["t-1"].status = RecordStatus.expired
    recs["u-1"].expires_on = dt.date.today() - dt.timedelta(days=1)  # retention over, job not yet run
    db.flush()
    login(archive.user)
    doc = client.get("/api/v1/me/report").get_json()["report"]
    sections = doc["sections"]
    assert [r["provider_ref"] for r in sections["contract"]] == ["c-1"]
    assert sections["contract"][0]["disputed"] is True and sections["contract"][0]["status"] == "disputed"
    assert [r["provider_ref"] for r in sections["objections"]] == ["c-1"]
    assert [r["provider_ref"] for r in sections["tax"]] == ["t-2"]
    assert sections["utility"] == []
    assert doc["statement"]["disputed_records"] == 1
    summary = {row["category"]: row for row in sections["summary"]}
    assert summary["contract"]["disputed"] == 1 and "utility" not in summary and summary["tax"]["good"] == 1


def test_only_firms_get_self_reports_and_only_their_own(archive, firm, login, client, make_user, make_enterprise, db):
    assert client.get("/api/v1/me/report").status_code == 401
    login(make_user("bank"))
    assert client.get("/api/v1/me/report").status_code == 403
    login(archive.user)
    no = client.get("/api/v1/me/report").get_json()["report"]["report_no"]
    from app.accounts.services import create_user
    from tests.conftest import PASSWORD

    other = create_user(db, username="other-firm-admin", password=PASSWORD, role="firm",
                        enterprise_uscc=make_enterprise().uscc)
    login(other)
    assert client.get(f"/api/v1/me/reports/{no}").status_code == 404
    assert client.get(f"/api/v1/me/reports/{no}.pdf").status_code == 404
    assert client.get("/api/v1/me/reports").get_json()["items"] == []


def test_bad_format_is_refused_with_the_field(archive, login, client):
    login(archive.user)
    resp = client.get("/api/v1/me/report?format=docx")
    assert resp.status_code == 422 and "format" in resp.get_json()["errors"]
    assert client.get("/api/v1/me/reports").get_json()["allowance"]["used"] == 0


def test_the_firms_page_issues_and_lists_reports(archive, login, client):
    login(archive.user)
    page = client.get("/me/reports")
    assert page.status_code == 200 and "剩余 2 次" in page.get_data(as_text=True)
    from tests.consent.conftest import csrf_of

    token = csrf_of(page.get_data(as_text=True))
    done = client.post("/me/reports", data={"csrf_token": token}, follow_redirects=True)
    html = done.get_data(as_text=True)
    assert "已出具自主查询报告 PC" in html and "剩余 1 次" in html and ".pdf" in html
    client.post("/me/reports", data={"csrf_token": token})
    refused = client.post("/me/reports", data={"csrf_token": token}, follow_redirects=True)
    assert "已用完" in refused.get_data(as_text=True)
    spent = client.get("/me/reports").get_data(as_text=True)
    assert f"本年度次数已用完，{clock.today().year + 1}年1月1日起恢复" in spent


def test_each_button_that_spends_a_free_report_asks_first_and_files_download(archive, login, client):
    """Both editions' buttons ask for confirmation (a free report is spent by one click
    otherwise), and the signed JSON and PDF links download rather than open."""
    import re

    from tests.consent.conftest import csrf_of

    login(archive.user)
    made = client.post("/me/reports", data={"csrf_token": csrf_of(client.get("/me/reports").get_data(as_text=True))})
    assert made.status_code == 302
    page = client.get("/me/reports").get_data(as_text=True)
    buttons = re.findall(r"<button type=\"submit\"[^>]*>[^<]+</button>", page)
    spending = [b for b in buttons if "出具" in b]
    assert len(spending) == 2 and all("data-confirm=\"" in b and "使用一次本年度免费报告次数" in b for b in spending)
    assert re.search(r'href="/api/v1/me/reports/PC\w+" download="PC\w+\.json"', page)
    assert re.search(r'href="/api/v1/me/reports/PC\w+\.pdf" download="PC\w+\.pdf"', page)


def test_an_issued_report_is_in_the_session_exactly_as_stored_and_audited(archive, app, db):
    """freeze writes the row with a plain INSERT and attaches it as loaded: the object the
    caller gets is the stored row (persistent, relationships load), and the audit chain
    the issue appended to still verifies."""
    from sqlalchemy import inspect

    from app.audit.services import verify_chain
    from app.core.signing import load_signing_keys
    from reports.services import issue_self_report

    keys = load_signing_keys(app.extensions["pc_settings"])
    report, left = issue_self_report(db, keys, archive.enterprise, None, 5, actor="test:self")
    assert inspect(report).persistent and report in db and left.remaining == 4
    assert report.enterprise.uscc == archive.enterprise.uscc
    row = db.execute(sa.select(Report.report_no, Report.kind, Report.digest, Report.body, Report.sections,
                               Report.signature, Report.issued_at).where(Report.id == report.id)).one()
    assert row == (report.report_no, report.kind, report.digest, report.body, report.sections,
                   report.signature, report.issued_at)
    db.flush()  # nothing pending: the attached row is not written a second time
    assert db.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.report_no == report.report_no)) == 1
    assert all(ok for _, ok in verify_chain(db))


def test_another_sites_link_cannot_spend_the_firms_free_reports(archive, login, client):
    login(archive.user)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Referer": "https://evil.example/page"}, {"Origin": "https://evil.example"}):
        resp = client.get("/api/v1/me/report", headers=headers)
        assert resp.status_code == 403 and resp.get_json()["code"] == "cross_site_request", headers
    listing = client.get("/api/v1/me/reports").get_json()
    assert listing["allowance"]["used"] == 0 and listing["items"] == []
    # The site's own pages, an address typed in, and programs sending neither are served.
    for headers in ({"Sec-Fetch-Site": "same-origin"}, {"Referer": "http://localhost/me/reports"}):
        assert client.get("/api/v1/me/report", headers=headers).status_code == 201, headers
    assert client.get("/api/v1/me/reports").get_json()["allowance"]["used"] == 2
    typed = client.get("/api/v1/me/report", headers={"Sec-Fetch-Site": "none"})  # past the check, out of reports
    assert typed.status_code == 403 and typed.get_json()["code"] == "self_report_allowance_exhausted"
    # A malformed Referer is not this site's either (and no 500).
    odd = client.get("/api/v1/me/report", headers={"Referer": "http://[oops/"})
    assert odd.status_code == 403 and odd.get_json()["code"] == "cross_site_request"


def test_a_link_cannot_issue_a_self_report_without_the_sessions_csrf_token(archive, login, client):
    """Sec-Fetch-Site is "none" for a link opened from a mail or chat app too: the session's
    CSRF token, which no link can carry, is what tells the firm's own request apart."""
    login(archive.user)
    token = client.environ_base.pop("HTTP_X_CSRFTOKEN")
    for headers in ({}, {"Sec-Fetch-Site": "none"}, {"X-CSRFToken": "forged"}):
        resp = client.get("/api/v1/me/report", headers=headers)
        assert resp.status_code == 400 and resp.get_json()["code"] == "csrf_failed", headers
    assert client.get("/api/v1/me/reports").get_json()["allowance"]["used"] == 0
    assert client.get("/api/v1/me/report", headers={"X-CSRFToken": token}).status_code == 201
