"""Consent resources: validation, who sees what, the firm's own grant (API and page), the
signed artefact, the audit chain and the CLI."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.audit.services import verify_chain
from app.core.signing import SignatureInvalid, verify_jws
from consent.models import ConsentEvent, ConsentStatus
from tests.consent.conftest import bearer, consent_row, csrf_of, terms


@pytest.mark.parametrize("change, field", [
    ({"valid_until": (dt.datetime.now(dt.UTC) + dt.timedelta(days=400)).isoformat()}, "valid_until"),
    ({"valid_until": "2020-01-01T00:00:00Z"}, "valid_until"),
    ({"scopes": ["tax", "everything"]}, "scopes[1]"),
    ({"scopes": []}, "scopes"),
    ({"purpose": "marketing"}, "purpose"),
    ({"fetch_type": "periodic"}, "frequency"),
    ({"frequency": {"unit": "day", "value": 1}}, "frequency"),
    ({"data_range": {"from": "2026-01-01", "to": "2025-01-01"}}, "data_range.to"),
    ({"data_life": {"unit": "decade", "value": 1}}, "data_life.unit"),
    ({"data_life": {"unit": "year", "value": 31}}, "data_life"),
    ({"data_life": {"unit": "month", "value": 361}}, "data_life"),
    ({"data_range": "2024"}, "data_range"),
    ({"extra": 1}, "extra"),
])
def test_bad_consent_requests_name_the_field(bank, firm, client, db, change, field):
    tok = bank.cc_token()["access_token"]
    before = db.scalar(sa.select(sa.func.count()).select_from(ConsentEvent))
    resp = client.post("/api/v1/consents", json={"uscc": firm.enterprise.uscc, **terms(**change)},
                       headers=bearer(tok))
    assert resp.status_code == 422, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert field in resp.get_json()["errors"], resp.get_json()
    assert db.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == before


def wrong_check_char(code: str) -> str:
    return code[:17] + ("0" if code[17] != "0" else "1")


def test_a_consent_request_checks_the_uscc_in_full_and_ignores_case(bank, firm, client):
    tok = bank.cc_token()["access_token"]
    code = firm.enterprise.uscc
    bad = client.post("/api/v1/consents", json={"uscc": wrong_check_char(code), **terms()}, headers=bearer(tok))
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert "校验位" in bad.get_json()["errors"]["uscc"][0], bad.get_json()
    ok = client.post("/api/v1/consents", json={"uscc": f" {code.lower()} ", **terms()}, headers=bearer(tok))
    assert ok.status_code == 201, ok.get_json()
    assert ok.get_json()["uscc"] == code


def test_consent_request_needs_the_consents_scope_and_a_bank_client(bank, firm, client, make_provider, make_client):
    provider_client, secret = make_client(make_provider())
    from tests.consent.conftest import basic
    ptok = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic(provider_client.client_id, secret)).get_json()["access_token"]
    resp = client.post("/api/v1/consents", json={"uscc": firm.enterprise.uscc, **terms()}, headers=bearer(ptok))
    assert resp.status_code == 403
    unknown = client.post("/api/v1/consents", json={"uscc": "91110000053621038D", **terms()},
                          headers=bearer(bank.cc_token()["access_token"]))
    assert unknown.status_code == 404


def test_who_sees_which_consents(bank, other_bank, firm, make_enterprise, make_user, client, login):
    mine = bank.request_consent(firm.enterprise.uscc)
    theirs = other_bank.request_consent(make_enterprise().uscc)
    btok = bank.cc_token()["access_token"]
    listed = client.get("/api/v1/consents", headers=bearer(btok)).get_json()
    assert [c["consent_id"] for c in listed["items"]] == [mine["consent_id"]]
    assert client.get(f"/api/v1/consents/{theirs['consent_id']}", headers=bearer(btok)).status_code == 404
    login(firm.user)
    assert [c["consent_id"] for c in client.get("/api/v1/consents").get_json()["items"]] == [mine["consent_id"]]
    assert client.get(f"/api/v1/consents/{theirs['consent_id']}").status_code == 404
    login(make_user("operator"))
    ids = {c["consent_id"] for c in client.get("/api/v1/consents?per_page=100").get_json()["items"]}
    assert {mine["consent_id"], theirs["consent_id"]} <= ids
    detail = client.get(f"/api/v1/consents/{mine['consent_id']}").get_json()
    assert detail["events"][0]["to_status"] == "PENDING"
    login(make_user("bank"))  # an officer of yet another institution
    assert client.get("/api/v1/consents").get_json()["items"] == []
    assert client.get(f"/api/v1/consents/{mine['consent_id']}").status_code == 404
    assert client.get("/api/v1/query-log").get_json()["items"] == []


def test_anonymous_sees_no_consents_or_query_log(bank, firm, client):
    bank.request_consent(firm.enterprise.uscc)
    assert client.get("/api/v1/consents").status_code == 401
    assert client.get("/api/v1/query-log").status_code == 401
    # Either way in is offered: a bank's system reads the Bearer challenge.
    asked = client.post("/api/v1/consents", json={})
    assert asked.status_code == 401 and asked.headers["WWW-Authenticate"].startswith('Bearer realm="powercredit"')
    assert "Session" in asked.headers["WWW-Authenticate"] and "Bearer" in asked.get_json()["detail"]
    assert client.get("/api/v1/consents", headers=bearer("not-a-token")).status_code == 401


def test_firm_grants_a_consent_itself_by_api_and_its_artefact_verifies_offline(bank, firm, client, login, db):
    login(firm.user)
    body = {"institution": bank.institution.licence_no, **terms(fetch_type="periodic",
                                                                frequency={"unit": "month", "value": 2})}
    resp = client.post("/api/v1/consents", json=body)
    assert resp.status_code == 201, resp.get_json()
    consent = resp.get_json()
    assert consent["status"] == "ACTIVE" and consent["created_via"] == "firm"
    artefact = client.get(f"/api/v1/consents/{consent['consent_id']}/artefact")
    assert artefact.mimetype == "application/jose"
    jwks = client.get("/.well-known/jwks.json").get_json()
    assert all("d" not in k for k in jwks["keys"])
    payload = verify_jws(artefact.get_data(as_text=True), jwks, "consent+jws")
    assert payload["consent_id"] == consent["consent_id"]
    assert payload["subject"]["uscc"] == firm.enterprise.uscc
    assert payload["recipient"]["licence_no"] == bank.institution.licence_no
    assert payload["fetch"] == {"type": "periodic", "frequency": {"unit": "month", "value": 2}}
    # the bank uses it with a client-credentials token bound to the consent
    tok = bank.cc_token(scope=None, consent_id=consent["consent_id"])
    assert tok["status"] == 200 and "refresh_token" not in tok
    assert bank.fetch(tok["access_token"], firm.enterprise.uscc, sections=["identity"]).status_code == 200


@pytest.mark.parametrize("field, value", [("purpose", "bid_qualification"), ("sections", ["judicial"]),
                                          ("valid_until", "2099-01-01T00:00:00Z")])
def test_tampered_artefact_fails_verification(bank, firm, client, login, field, value):
    login(firm.user)
    resp = client.post("/api/v1/consents", json={"institution": bank.institution.licence_no, **terms()})
    token = client.get(f"/api/v1/consents/{resp.get_json()['consent_id']}/artefact").get_data(as_text=True)
    jwks = client.get("/.well-known/jwks.json").get_json()
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body[field] = value
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    with pytest.raises(SignatureInvalid):
        verify_jws(f"{header}.{forged}.{signature}", jwks, "consent+jws")
    with pytest.raises(SignatureInvalid):  # a signature by another key
        from app.core.signing import SigningKeys
        verify_jws(SigningKeys.generate().sign(body, "consent+jws"), jwks)


def test_pending_consent_has_no_artefact(bank, firm, client, login):
    consent = bank.request_consent(firm.enterprise.uscc)
    login(firm.user)
    resp = client.get(f"/api/v1/consents/{consent['consent_id']}/artefact")
    assert resp.status_code == 422 and resp.get_json()["code"] == "no_artefact"


def test_firm_approves_or_rejects_pending_requests_by_api(bank, firm, client, login, db):
    a = bank.request_consent(firm.enterprise.uscc)
    b = bank.request_consent(firm.enterprise.uscc)
    login(firm.user)
    assert client.post(f"/api/v1/consents/{a['consent_id']}/approve", json={}).get_json()["status"] == "ACTIVE"
    rejected = client.post(f"/api/v1/consents/{b['consent_id']}/reject", json={"reason": "不需要"}).get_json()
    assert rejected["status"] == "REJECTED" and rejected["status_reason"] == "不需要"
    assert client.post(f"/api/v1/consents/{b['consent_id']}/approve", json={}).status_code == 409
    assert client.post(f"/api/v1/consents/{a['consent_id']}/reject", json={}).status_code == 409


def test_firm_page_lists_consents_and_revokes_with_csrf(bank, firm, client, login, db):
    consent = bank.request_consent(firm.enterprise.uscc)
    login(firm.user)
    client.post(f"/api/v1/consents/{consent['consent_id']}/approve", json={})
    page = client.get("/consents").get_data(as_text=True)
    assert consent["consent_id"] in page and bank.institution.name in page and "撤销" in page
    client.environ_base.pop("HTTP_X_CSRFTOKEN")  # a form post without its token
    no_csrf = client.post(f"/consents/{consent['consent_id']}/revoke")
    assert no_csrf.status_code == 400
    assert consent_row(db, consent["consent_id"]).status == ConsentStatus.active
    resp = client.post(f"/consents/{consent['consent_id']}/revoke", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 302
    assert consent_row(db, consent["consent_id"]).status == ConsentStatus.revoked


def test_a_consents_page_shows_every_term_and_its_history_to_its_parties_only(bank, firm, client, login,
                                                                               make_enterprise, make_user):
    consent = bank.request_consent(firm.enterprise.uscc, data_life={"unit": "month", "value": 6})
    login(firm.user)
    client.post(f"/api/v1/consents/{consent['consent_id']}/approve", json={})
    listing = client.get("/consents").get_data(as_text=True)
    assert f'href="/consents/{consent["consent_id"]}"' in listing
    page = client.get(f"/consents/{consent['consent_id']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and bank.institution.name in html
    for shown in ("数据范围", consent["data_range"]["from"], consent["data_range"]["to"], "至多保存 6 个月",
                  "状态变更记录", "待企业确认 → 生效中", firm.user.display_name):
        assert shown in html, shown
    # Another firm: as if it did not exist.
    login(make_user("firm", enterprise=make_enterprise()))
    assert client.get(f"/consents/{consent['consent_id']}").status_code == 404


def test_firm_grant_form_shows_errors_next_to_fields_and_keeps_input(bank, firm, client, login, db):
    login(firm.user)
    page = client.get("/consents/grant").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "institution": bank.institution.licence_no, "purpose": "loan_application",
            "data_from": "2024-01-01", "data_to": "2023-01-01", "valid_until": "2020-01-01",
            "fetch_type": "one_time", "data_life_unit": "month", "data_life_value": "6"}
    resp = client.post("/consents/grant", data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="scopes-err"' in html and 'id="valid_until-err"' in html
    assert 'value="2024-01-01"' in html
    form.update(data_to="2025-12-31", valid_until=(dt.date.today() + dt.timedelta(days=60)).isoformat())
    resp = client.post("/consents/grant", data={**form, "scopes": ["identity", "tax"]})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    db.expire_all()
    listed = client.get("/api/v1/consents").get_json()["items"]
    assert listed[0]["status"] == "ACTIVE" and listed[0]["scopes"] == ["identity", "tax"]


def test_audit_chain_records_changes_and_detects_rewrites(active_token, bank, firm, db):
    consent_id, tok = active_token()
    bank.fetch(tok["access_token"], firm.enterprise.uscc)
    bank.fetch(tok["access_token"], firm.enterprise.uscc)  # refused: allowance used
    db.expire_all()
    actions = [e.action for e in db.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]
    assert {"consent.pending", "consent.active", "gate.access"} <= set(actions)
    assert all(ok for _, ok in verify_chain(db))
    victim = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "gate.access", AuditEvent.outcome == "ok"))
    db.execute(sa.update(AuditEvent).where(AuditEvent.id == victim.id).values(actor="client:someone-else"))
    db.expire_all()
    assert [i for i, ok in verify_chain(db) if not ok][0] == victim.id


def test_metadata_and_jwks(client):
    meta = client.get("/.well-known/oauth-authorization-server").get_json()
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert "implicit" not in meta["grant_types_supported"] and "password" not in meta["grant_types_supported"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    keys = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert keys and all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and k["kid"] for k in keys)


def test_a_notice_asks_the_firm_to_decide_only_while_the_request_waits(bank, firm, client, login):
    """/me/notices states each consent as it stands now: 去同意或拒绝 while it waits, its
    status (and a link to it) once approved, rejected or revoked."""
    import html
    import re

    def notice_of(consent_id: str) -> str:
        page = html.unescape(client.get("/me/notices").get_data(as_text=True))
        [card] = [c for c in re.findall(r"<article.*?</article>", page, re.S) if consent_id in c]
        return card

    waiting, refused = (bank.request_consent(firm.enterprise.uscc)["consent_id"] for _ in range(2))
    login(firm.user)
    assert "去同意或拒绝" in notice_of(waiting) and "待您同意或拒绝" in notice_of(waiting)
    assert client.post(f"/api/v1/consents/{waiting}/approve", json={}).status_code == 200
    assert client.post(f"/api/v1/consents/{refused}/reject", json={}).status_code == 200
    approved = notice_of(waiting)
    assert "去同意或拒绝" not in approved and "当前状态：生效中" in approved
    assert f'href="/consents/{waiting}"' in approved
    assert "当前状态：已拒绝" in notice_of(refused) and "去同意或拒绝" not in notice_of(refused)
    assert client.post(f"/api/v1/consents/{waiting}/revoke", json={}).status_code == 200
    assert "当前状态：已撤销" in notice_of(waiting)
