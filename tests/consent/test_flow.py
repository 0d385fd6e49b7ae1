"""The consent flow end to end through the test client: request → consent screen →
code (PKCE S256) → token bound to the consent → gated data fetch → query log."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from app.oauth.models import AuthorizationCode, OAuthToken
from consent.models import ConsentStatus, QueryLog
from tests.consent.conftest import REDIRECT, SECTIONS, bearer, code_from, consent_row, decide, pkce


def test_bank_requests_a_pending_consent(bank, firm, db):
    consent = bank.request_consent(firm.enterprise.uscc)
    assert consent["status"] == "PENDING"
    assert consent["consent_id"].startswith("cst_")
    assert consent["uscc"] == firm.enterprise.uscc
    assert consent["scopes"] == sorted(SECTIONS)
    assert consent["artefact"] is None
    assert consent_row(db, consent["consent_id"]).client_pk == bank.oauth.id


def test_whole_flow_issues_a_token_bound_to_the_consent_and_logs_the_fetch(bank, firm, client, login, db,
                                                                           make_enterprise):
    consent = bank.request_consent(firm.enterprise.uscc)
    login(firm.user)
    verifier, challenge = pkce()
    params = bank.authorize_params(consent["consent_id"], challenge)
    screen = client.get("/oauth/authorize", query_string=params).get_data(as_text=True)
    for text in (bank.institution.name, "贷款申请审查", "纳税信息", "合同履约", "仅一次", "6 个月", bank.oauth.name):
        assert text in screen
    resp = decide(client, params)
    location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == [params["state"]]
    assert query["iss"] == ["http://localhost"]  # RFC 9207, exactly once
    code = code_from(resp)
    row = consent_row(db, consent["consent_id"])
    assert row.status == ConsentStatus.active
    assert row.artefact and row.artefact.count(".") == 2

    tok = bank.exchange(code, verifier)
    assert tok.status_code == 200, tok.get_json()
    body = tok.get_json()
    assert set(body["scope"].split()) == {f"report:{s}" for s in SECTIONS}
    assert "refresh_token" not in body  # one-time consent: no refresh token
    stored = db.scalar(sa.select(OAuthToken).where(OAuthToken.consent_pk == row.id))
    assert stored is not None and stored.user_id == firm.user.id

    got = bank.fetch(body["access_token"], firm.enterprise.uscc)
    assert got.status_code == 200, got.get_json()
    data = got.get_json()
    assert data["consent_id"] == consent["consent_id"]
    assert set(data["sections"]) == set(SECTIONS)
    assert data["sections"]["identity"]["uscc"] == firm.enterprise.uscc
    log = db.scalar(sa.select(QueryLog).where(QueryLog.consent_pk == row.id))
    assert log is not None and log.institution_id == bank.institution.id and log.sections == sorted(SECTIONS)
    row = consent_row(db, consent["consent_id"])
    assert row.use_count == 1 and row.last_used_at is not None

    # the firm sees the use and the query log; the bank sees its own query
    mine = client.get("/api/v1/consents").get_json()["items"]
    assert [c["use_count"] for c in mine if c["consent_id"] == consent["consent_id"]] == [1]
    assert client.get("/api/v1/query-log").get_json()["items"][0]["institution"]["name"] == bank.institution.name
    bank_view = client.get("/api/v1/query-log", headers=bearer(bank.cc_token()["access_token"])).get_json()
    assert bank_view["meta"]["total"] == 1
    # The uscc filter: the firm's own code, or a 404 for another firm's; a bank narrows its
    # own accesses to one firm.
    own = client.get(f"/api/v1/query-log?uscc={firm.enterprise.uscc}").get_json()
    assert own["meta"]["total"] == 1
    other_firm = make_enterprise()
    other = client.get(f"/api/v1/query-log?uscc={other_firm.uscc}")
    assert other.status_code == 404 and other.get_json()["code"] == "query_log_not_found"
    system = bearer(bank.cc_token()["access_token"])
    assert client.get(f"/api/v1/query-log?uscc={firm.enterprise.uscc}",
                      headers=system).get_json()["meta"]["total"] == 1
    assert client.get(f"/api/v1/query-log?uscc={other_firm.uscc}", headers=system).get_json()["meta"]["total"] == 0


def test_firm_rejects_on_the_consent_screen(bank, firm, client, login, db):
    consent = bank.request_consent(firm.enterprise.uscc)
    login(firm.user)
    _, challenge = pkce()
    resp = decide(client, bank.authorize_params(consent["consent_id"], challenge), "reject")
    assert resp.status_code == 302
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["iss"] == ["http://localhost"]  # RFC 9207, once
    assert consent_row(db, consent["consent_id"]).status == ConsentStatus.rejected
    assert db.scalar(sa.select(sa.func.count()).select_from(AuthorizationCode)) == 0


def test_signed_out_user_is_sent_to_sign_in_first(bank, firm, client):
    consent = bank.request_consent(firm.enterprise.uscc)
    _, challenge = pkce()
    resp = client.get("/oauth/authorize", query_string=bank.authorize_params(consent["consent_id"], challenge))
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")
