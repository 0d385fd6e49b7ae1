"""Banks pull reports through the consent gate: exactly the consented sections, frozen and
signed, readable later by that bank only."""

from __future__ import annotations

import json
import re

import jsonschema
import sqlalchemy as sa

from consent.models import QueryLog
from reports.models import Report
from reports.schemas import report_json_schema
from tests.reports.conftest import bearer, pull

NO = re.compile(r"^PC\d{8}[A-Z2-7]{12}$")


def test_a_pull_issues_a_report_with_exactly_the_consented_sections(archive, bank, active_token, db):
    consent_id, tok = active_token(scopes=["identity", "tax"])
    resp = pull(bank, tok["access_token"], archive.enterprise.uscc)
    assert resp.status_code == 201, resp.get_json()
    env = resp.get_json()
    doc = env["report"]
    assert NO.match(doc["report_no"]) and resp.headers["X-Report-No"] == doc["report_no"]
    assert resp.headers["X-Report-Digest"] == env["digest"] and "Digest" not in resp.headers
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{doc["report_no"]}.json"'
    assert resp.headers["Location"].endswith(f"/api/v1/reports/{doc['report_no']}")
    assert set(doc["sections"]) == {"identity", "tax"} == set(doc["section_list"])
    for absent in ("evaluation", "contract", "utility", "query_records", "summary", "objections"):
        assert absent not in doc["sections"], absent  # absent, not even empty
    assert [r["payload"]["year"] for r in doc["sections"]["tax"]] == [2024, 2023]
    assert doc["kind"] == "institution" and doc["kind_label"] == "授信机构版"
    assert doc["recipient"] == {"type": "institution", "name": bank.institution.name,
                                "licence_no": bank.institution.licence_no}
    assert doc["consent"]["consent_id"] == consent_id and doc["consent"]["purpose"] == "loan_application"
    assert doc["statement"]["sources"][0]["records"] == 2
    jsonschema.validate(doc, report_json_schema("1.2"))
    # Logged under the consent, with the report as the resource.
    log = db.scalar(sa.select(QueryLog).where(QueryLog.resource == f"report:{doc['report_no']}"))
    assert log is not None and log.sections == ["identity", "tax"]
    stored = db.scalar(sa.select(Report).where(Report.report_no == doc["report_no"]))
    assert stored.query_log_id == log.id and stored.institution_id == bank.institution.id


def test_a_requested_subset_narrows_the_report_and_more_than_consented_is_refused(archive, bank, active_token):
    _, tok = active_token(scopes=["identity", "tax", "contract"], fetch_type="periodic",
                          frequency={"unit": "day", "value": 5})
    resp = pull(bank, tok["access_token"], archive.enterprise.uscc, sections=["contract"])
    assert resp.status_code == 201, resp.get_json()
    assert set(resp.get_json()["report"]["sections"]) == {"contract"}
    refused = pull(bank, tok["access_token"], archive.enterprise.uscc, sections=["contract", "judicial"])
    assert refused.status_code == 403 and refused.get_json()["code"] == "scope_insufficient"
    assert "司法信息" in refused.get_json()["detail"]


def test_no_consent_no_report(archive, bank, active_token):
    plain = bank.cc_token()  # a token not bound to a consent
    resp = pull(bank, plain["access_token"], archive.enterprise.uscc)
    assert resp.status_code == 403 and resp.get_json()["code"] == "consent_required"
    _, tok = active_token(scopes=["identity"])
    wrong_purpose = pull(bank, tok["access_token"], archive.enterprise.uscc, purpose="post_loan_monitoring")
    assert wrong_purpose.status_code == 403 and wrong_purpose.get_json()["code"] == "purpose_mismatch"
    assert pull(bank, "not-a-token", archive.enterprise.uscc).status_code == 401


def test_a_revoked_consent_stops_the_next_pull(archive, bank, active_token, client):
    consent_id, tok = active_token(scopes=["identity"], fetch_type="periodic", frequency={"unit": "day", "value": 5})
    assert pull(bank, tok["access_token"], archive.enterprise.uscc).status_code == 201
    assert client.post(f"/api/v1/consents/{consent_id}/revoke", json={}).status_code == 200
    again = pull(bank, tok["access_token"], archive.enterprise.uscc)
    assert again.status_code in (401, 403)
    assert again.status_code == 401 or again.get_json()["code"] == "consent_revoked"


def test_one_time_consent_gives_one_report(archive, bank, active_token):
    _, tok = active_token(scopes=["identity"])
    assert pull(bank, tok["access_token"], archive.enterprise.uscc).status_code == 201
    second = pull(bank, tok["access_token"], archive.enterprise.uscc)
    assert second.status_code == 403 and second.get_json()["code"] == "allowance_exhausted"


def test_bad_request_bodies_name_the_field(archive, bank, active_token):
    _, tok = active_token(scopes=["identity"])
    resp = bank.http.post("/api/v1/reports", json={"purpose": "loan_application"}, headers=bearer(tok["access_token"]))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "uscc" in resp.get_json()["errors"]
    resp = pull(bank, tok["access_token"], archive.enterprise.uscc, purpose="curiosity")
    assert resp.status_code == 422 and "purpose" in resp.get_json()["errors"]
    resp = pull(bank, tok["access_token"], archive.enterprise.uscc, sections=["everything"])
    assert resp.status_code == 422 and "sections[0]" in resp.get_json()["errors"]
    code = archive.enterprise.uscc
    resp = pull(bank, tok["access_token"], code[:17] + ("0" if code[17] != "0" else "1"))
    assert resp.status_code == 422 and "校验位" in resp.get_json()["errors"]["uscc"][0], resp.get_json()
    # None of these used the one-time consent; the firm's code in any case and spacing does.
    resp = pull(bank, tok["access_token"], f" {code.lower()} ")
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["report"]["subject"]["uscc"] == code


def test_the_pulling_bank_reads_its_report_again_and_nobody_else_does(archive, bank, other_bank, active_token, login,
                                                                      make_user, client):
    _, tok = active_token(scopes=["identity", "tax"])
    first = pull(bank, tok["access_token"], archive.enterprise.uscc).get_json()
    no = first["report"]["report_no"]
    mine = bank.cc_token()["access_token"]
    again = client.get(f"/api/v1/reports/{no}", headers=bearer(mine))
    assert again.status_code == 200 and again.get_json()["report"] == first["report"]
    assert again.get_json()["digest"] == first["digest"]
    pdf = client.get(f"/api/v1/reports/{no}.pdf", headers=bearer(mine))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    listing = client.get("/api/v1/reports", headers=bearer(mine)).get_json()
    assert [r["report_no"] for r in listing["items"]] == [no]

    theirs = other_bank.cc_token()["access_token"]
    for path in (f"/api/v1/reports/{no}", f"/api/v1/reports/{no}.pdf", f"/api/v1/reports/{no}?format=pdf"):
        resp = client.get(path, headers=bearer(theirs))
        assert resp.status_code == 404, path
        assert resp.get_json()["code"] == "report_not_found"
    assert client.get("/api/v1/reports", headers=bearer(theirs)).get_json()["items"] == []
    # Guessing: a well-formed number that was never issued looks the same as another bank's.
    guess = no[:10] + ("A" if no[10] != "A" else "B") + no[11:]
    assert client.get(f"/api/v1/reports/{guess}", headers=bearer(mine)).status_code == 404
    # Not the firm, not anonymous users.
    login(archive.user)
    assert client.get(f"/api/v1/reports/{no}").status_code == 403
    officer = make_user("bank")
    login(officer)  # a bank officer of another institution
    assert client.get(f"/api/v1/reports/{no}").status_code in (403, 404)


def test_a_consent_bound_token_reads_only_its_own_consents_reports_and_only_while_it_is_in_force(
        archive, bank, active_token, client, make_enterprise, login):
    first_id, first = active_token(scopes=["identity"], fetch_type="periodic", frequency={"unit": "day", "value": 5})
    _, second = active_token(scopes=["identity", "tax"])
    mine = pull(bank, first["access_token"], archive.enterprise.uscc).get_json()["report"]["report_no"]
    other = pull(bank, second["access_token"], archive.enterprise.uscc).get_json()["report"]["report_no"]
    narrow = bearer(first["access_token"])
    assert client.get(f"/api/v1/reports/{mine}", headers=narrow).status_code == 200
    listed = client.get("/api/v1/reports", headers=narrow).get_json()["items"]
    assert [r["report_no"] for r in listed] == [mine]
    # Another consent's report (wider sections) is not this token's: the same 404 as a guess.
    for path in (f"/api/v1/reports/{other}", f"/api/v1/reports/{other}.pdf"):
        resp = client.get(path, headers=narrow)
        assert resp.status_code == 404 and resp.get_json()["code"] == "report_not_found", path
    # The bank's own system token (consents:write) sees both.
    system = bearer(bank.cc_token()["access_token"])
    both = {r["report_no"] for r in client.get("/api/v1/reports", headers=system).get_json()["items"]}
    assert both == {mine, other}
    # A paused consent: its token reads nothing (introspection calls it inactive too).
    login(archive.user)
    assert client.post(f"/api/v1/consents/{first_id}/pause", json={}).status_code == 200
    client.post("/logout")
    for path in ("/api/v1/reports", f"/api/v1/reports/{mine}"):
        resp = client.get(path, headers=narrow)
        assert resp.status_code == 403 and resp.get_json()["code"] == "consent_paused", path
    assert client.get(f"/api/v1/reports/{mine}", headers=system).status_code == 200


def test_report_numbers_are_random_not_sequential(archive, bank, active_token):
    _, tok = active_token(scopes=["identity"], fetch_type="periodic", frequency={"unit": "day", "value": 20})
    numbers = [pull(bank, tok["access_token"], archive.enterprise.uscc).get_json()["report"]["report_no"]
               for _ in range(6)]
    assert len(set(numbers)) == 6 and all(NO.match(n) for n in numbers)
    tails = [n[10:] for n in numbers]
    assert len({t[:4] for t in tails}) > 1  # no common prefix a counter would give


def test_past_the_consents_data_life_the_report_is_gone(archive, bank, active_token, client, db, login):
    import datetime as dt

    from app.accounts.services import create_user
    from tests.conftest import PASSWORD

    _, short = active_token(scopes=["identity"], data_life={"unit": "day", "value": 1})
    gone = pull(bank, short["access_token"], archive.enterprise.uscc).get_json()["report"]["report_no"]
    _, long = active_token(scopes=["identity"], data_life={"unit": "month", "value": 6})
    kept = pull(bank, long["access_token"], archive.enterprise.uscc).get_json()["report"]["report_no"]
    stored = db.scalar(sa.select(Report).where(Report.report_no == gone))
    assert stored.available_until == stored.issued_at + dt.timedelta(days=1)
    # Two days pass for the first report.
    stored.issued_at -= dt.timedelta(days=2)
    stored.available_until -= dt.timedelta(days=2)
    db.flush()
    mine = bearer(bank.cc_token()["access_token"])
    for path in (f"/api/v1/reports/{gone}", f"/api/v1/reports/{gone}.pdf"):
        resp = client.get(path, headers=mine)
        assert resp.status_code == 410 and resp.get_json()["code"] == "report_data_life_ended"
    assert client.get(f"/api/v1/reports/{kept}", headers=mine).status_code == 200
    # Nor is it listed any more: not by the API, not on the officer's pages.
    items = client.get("/api/v1/reports", headers=mine).get_json()["items"]
    assert [r["report_no"] for r in items] == [kept]
    kept_row = db.scalar(sa.select(Report).where(Report.report_no == kept))
    assert dt.datetime.fromisoformat(items[0]["available_until"]) == kept_row.available_until
    officer = create_user(db, username="officer-life", password=PASSWORD, role="bank",
                          institution_licence=bank.institution.licence_no)
    db.flush()
    login(officer)
    for page in ("/bank/reports", "/"):
        html = client.get(page).get_data(as_text=True)
        assert kept in html and gone not in html, page


def test_the_schema_is_published(client):
    resp = client.get("/api/v1/reports/schema")
    assert resp.status_code == 200 and resp.mimetype == "application/schema+json"
    schema = json.loads(resp.data)
    assert schema["properties"]["schema_version"] == {"const": "1.2"}
    jsonschema.Draft202012Validator.check_schema(schema)
    old = json.loads(client.get("/api/v1/reports/schema?version=1.0").data)  # reports issued before 1.1
    assert old["properties"]["schema_version"] == {"const": "1.0"}
    before = json.loads(client.get("/api/v1/reports/schema?version=1.1").data)  # reports issued before 1.2
    assert before["properties"]["schema_version"] == {"const": "1.1"}
    bad = client.get("/api/v1/reports/schema?version=9")
    assert bad.status_code == 422 and "query.version" in bad.get_json()["errors"]


def test_reading_a_pulled_report_again_is_audited(archive, bank, active_token, client, db):
    from app.audit.models import AuditEvent

    _, tok = active_token(scopes=["identity"])
    no = pull(bank, tok["access_token"], archive.enterprise.uscc).get_json()["report"]["report_no"]
    mine = bearer(bank.cc_token()["access_token"])
    assert client.get(f"/api/v1/reports/{no}", headers=mine).status_code == 200
    assert client.get(f"/api/v1/reports/{no}.pdf", headers=mine).status_code == 200
    db.expire_all()
    reads = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "report.read",
                                                   AuditEvent.subject_id == no)).all()
    assert [e.detail["format"] for e in reads] == ["json", "pdf"]
    assert all(e.actor == f"client:{bank.oauth.client_id}" for e in reads)
    issued = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "gate.access")).all()
    assert [e.detail.get("report_no") for e in issued] == [no]


def test_verify_accepts_a_lowercase_number(archive, bank, active_token, client):
    _, tok = active_token(scopes=["identity"])
    no = pull(bank, tok["access_token"], archive.enterprise.uscc).get_json()["report"]["report_no"]
    assert client.get(f"/verify/{no.lower()}?format=json").get_json()["report_no"] == no


def test_without_a_valid_token_the_body_is_not_even_read(client, bank, active_token):
    for headers, code in (({}, "missing_authorization"), ({"Authorization": "Bearer nope"}, "invalid_token")):
        for path in ("/api/v1/reports", "/api/v1/data/fetch"):
            resp = client.post(path, json={}, headers=headers)
            assert resp.status_code == 401 and resp.get_json()["code"] == code, (path, resp.get_json())
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    # With one, the body's mistakes are named as before.
    _, tok = active_token(scopes=["identity"])
    resp = client.post("/api/v1/reports", json={}, headers=bearer(tok["access_token"]))
    assert resp.status_code == 422 and {"uscc", "purpose"} <= set(resp.get_json()["errors"])
