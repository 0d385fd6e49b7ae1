"""Requests that must be refused, refused — and each refusal audited."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import OKPKey

from app.oauth.models import AuthorizationCode, OAuthToken
from app.oauth.services import register_bank_client
from consent.models import ConsentStatus
from tests.consent.conftest import (
    REDIRECT,
    basic,
    bearer,
    code_from,
    consent_row,
    csrf_of,
    decide,
    pkce,
    refusals,
)
from tests.consent.conftest import terms as _terms

# --- PKCE -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", [None, "plain"])
def test_pkce_missing_or_plain_is_refused_at_authorization(bank, firm, client, login, db, method):
    consent = bank.request_consent(firm.enterprise.uscc)
    login(firm.user)
    verifier, challenge = pkce()
    params = bank.authorize_params(consent["consent_id"], verifier if method == "plain" else None,
                                   code_challenge_method=method)
    if method is None:
        params.pop("code_challenge_method", None)
    resp = client.get("/oauth/authorize?" + urlencode(params))
    assert resp.status_code == 302  # the redirect URI is registered: the error goes there
    assert "error=invalid_request" in resp.headers["Location"]
    # RFC 9207: error responses name the issuer too, exactly once
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["iss"] == ["http://localhost"]
    assert consent_row(db, consent["consent_id"]).status == ConsentStatus.pending
    assert refusals(db, "invalid_request")


def test_challenge_without_method_is_not_treated_as_plain(bank, firm, client, login):
    consent = bank.request_consent(firm.enterprise.uscc)
    login(firm.user)
    _, challenge = pkce()
    params = bank.authorize_params(consent["consent_id"], challenge)
    params.pop("code_challenge_method")
    resp = client.get("/oauth/authorize?" + urlencode(params))
    assert "error=invalid_request" in resp.headers["Location"]


@pytest.mark.parametrize("bad", ["missing", "wrong", "malformed"])
def test_wrong_missing_or_malformed_verifier_is_refused(active_code, bank, db, bad):
    code, verifier = active_code()
    sent = {"missing": None, "wrong": pkce()[0], "malformed": "short!"}[bad]
    resp = bank.exchange(code, sent)
    assert resp.status_code == 400
    assert resp.get_json()["error"] in ("invalid_request", "invalid_grant")
    assert db.scalar(sa.select(sa.func.count()).select_from(OAuthToken).where(OAuthToken.consent_pk.is_not(None))) == 0
    assert refusals(db, resp.get_json()["error"])
    # A failed verification uses the code up: whoever tried a guess, the code is gone, and
    # the real verifier afterwards is refused too (the bank starts the flow again).
    again = bank.exchange(code, verifier)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert db.scalar(sa.select(sa.func.count()).select_from(OAuthToken).where(OAuthToken.consent_pk.is_not(None))) == 0


@pytest.fixture
def active_code(bank, firm, client, login):
    def make(**overrides):
        consent = bank.request_consent(firm.enterprise.uscc, **overrides)
        login(firm.user)
        verifier, challenge = pkce()
        return code_from(decide(client, bank.authorize_params(consent["consent_id"], challenge))), verifier

    return make


# --- redirect URIs ------------------------------------------------------------------------------


@pytest.mark.parametrize("uri", [
    "https://bank.example.com/oauth/callback/extra",  # suffix
    "https://bank.example.com/oauth/",  # prefix
    "https://bank.example.com:8443/oauth/callback",  # other port
    "https://bank.example.com@evil.example/oauth/callback",  # user-info trick
    "https://evil.example/?https://bank.example.com/oauth/callback",
    "http://bank.example.com/oauth/callback",  # downgrade
])
def test_redirect_uri_not_registered_exactly_is_refused_without_redirecting(bank, firm, client, login, db, uri):
    consent = bank.request_consent(firm.enterprise.uscc)
    login(firm.user)
    _, challenge = pkce()
    resp = client.get("/oauth/authorize?" + urlencode(bank.authorize_params(consent["consent_id"], challenge,
                                                                              redirect_uri=uri)))
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    page = resp.get_data(as_text=True)
    assert "授权请求无效" in page and "回调地址（redirect_uri）未在该金融机构客户端登记" in page
    assert "not supported" not in page  # authlib's English stays in the audit log
    assert consent_row(db, consent["consent_id"]).status == ConsentStatus.pending
    [event] = refusals(db, "invalid_request")
    assert "not supported" in event.detail["description"]


def test_an_unknown_client_on_the_consent_screen_is_explained_in_chinese(firm, client, login):
    login(firm.user)
    resp = client.get("/oauth/authorize?" + urlencode({"response_type": "code", "client_id": "pc_nobody",
                                                       "redirect_uri": "https://x.example/cb"}))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "客户端不存在或已停用" in page and "does not exist" not in page


def test_redirect_uris_must_be_https_without_fragment_or_userinfo(db):
    from app.accounts.services import create_institution
    from app.core.errors import InvalidInput

    inst = create_institution(db, name="银行", licence_no="B-redirect")
    for uri in ("http://bank.example.com/cb", "https://bank.example.com/cb#x", "https://u@bank.example.com/cb",
                "https://*.bank.example.com/cb", "bank.example.com/cb"):
        with pytest.raises(InvalidInput) as err:
            register_bank_client(db, inst, name="x", redirect_uris=[uri])
        assert "redirect_uris[0]" in err.value.errors


# --- codes --------------------------------------------------------------------------------------


def test_reused_code_is_refused_and_revokes_the_tokens_from_its_first_use(active_code, bank, firm, db):
    code, verifier = active_code()
    first = bank.exchange(code, verifier)
    assert first.status_code == 200
    token = first.get_json()["access_token"]
    assert bank.fetch(token, firm.enterprise.uscc).status_code == 200
    again = bank.exchange(code, verifier)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    db.expire_all()
    assert all(t.revoked_at is not None for t in db.scalars(sa.select(OAuthToken).where(OAuthToken.auth_code_pk.is_not(None))))
    assert refusals(db, "code_reused")
    resp = bank.fetch(token, firm.enterprise.uscc)
    assert resp.status_code == 401 and resp.get_json()["code"] == "invalid_token"


def test_code_older_than_60_seconds_is_refused(active_code, bank, db):
    code, verifier = active_code()
    row = db.scalar(sa.select(AuthorizationCode))
    assert (row.expires_at - row.issued_at) == dt.timedelta(seconds=60)
    db.execute(sa.update(AuthorizationCode).values(issued_at=row.issued_at - dt.timedelta(seconds=61),
                                                   expires_at=row.expires_at - dt.timedelta(seconds=61)))
    db.flush()
    resp = bank.exchange(code, verifier)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    assert refusals(db, "invalid_grant")


def test_code_of_client_a_redeemed_by_client_b_is_refused(active_code, bank, other_bank, db):
    code, verifier = active_code()
    resp = bank.exchange(code, verifier, headers=other_bank.auth)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    assert refusals(db, "invalid_grant")
    assert bank.exchange(code, verifier).status_code == 200  # not burnt by B's attempt


# --- private_key_jwt ----------------------------------------------------------------------------


@pytest.fixture
def jwt_bank(db, client):
    from app.accounts.services import create_institution

    key = OKPKey.generate_key("Ed25519", parameters={"kid": "bank-k1"})
    inst = create_institution(db, name="签名认证银行", licence_no="B-pkjwt")
    oauth, secret = register_bank_client(db, inst, name="pkjwt", redirect_uris=[REDIRECT],
                                         auth_method="private_key_jwt",
                                         jwks={"keys": [key.as_dict(private=False)]})
    assert secret is None and oauth.client_secret_hash is None
    return oauth, key


def assertion(oauth, key, **claims):
    now = int(time.time())
    body = {"iss": oauth.client_id, "sub": oauth.client_id, "aud": "http://localhost/oauth/token",
            "iat": now, "exp": now + 60, "jti": secrets.token_hex(8)}
    body.update(claims)
    return jwt.encode({"alg": "Ed25519", "kid": "bank-k1"}, body, key, algorithms=["Ed25519"])


def _cc_with_assertion(client, token):
    return client.post("/oauth/token", data={
        "grant_type": "client_credentials", "scope": "consents:write",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": token})


def test_private_key_jwt_authenticates(client, jwt_bank):
    oauth, key = jwt_bank
    resp = _cc_with_assertion(client, assertion(oauth, key))
    assert resp.status_code == 200, resp.get_json()


@pytest.mark.parametrize("case", ["wrong_audience", "expired", "replayed_jti", "alg_none", "other_key",
                                  "too_long_lived"])
def test_bad_client_assertions_are_refused(client, db, jwt_bank, case):
    oauth, key = jwt_bank
    if case == "wrong_audience":
        token = assertion(oauth, key, aud="https://evil.example/oauth/token")
    elif case == "expired":
        token = assertion(oauth, key, exp=int(time.time()) - 300, iat=int(time.time()) - 600)
    elif case == "replayed_jti":
        token = assertion(oauth, key, jti="same-jti")
        assert _cc_with_assertion(client, token).status_code == 200
    elif case == "too_long_lived":
        token = assertion(oauth, key, exp=int(time.time()) + 3600)
    elif case == "other_key":
        token = assertion(oauth, OKPKey.generate_key("Ed25519", parameters={"kid": "bank-k1"}))
    else:
        def b64(obj):
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
        now = int(time.time())
        token = b64({"alg": "none"}) + "." + b64({"iss": oauth.client_id, "sub": oauth.client_id,
                                                  "aud": "http://localhost/oauth/token", "exp": now + 60,
                                                  "jti": "x"}) + "."
    resp = _cc_with_assertion(client, token)
    assert resp.status_code in (400, 401), resp.get_json()  # RFC 6749 §5.2: 401 only for header auth
    assert resp.get_json()["error"] == "invalid_client"
    assert refusals(db, "invalid_client")


def test_secret_client_cannot_switch_to_another_auth_method(bank, client):
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": bank.oauth.client_id,
                                             "client_secret": bank.secret})  # _post, not registered
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"


# --- scopes -------------------------------------------------------------------------------------


def test_scope_beyond_the_consent_is_refused_at_authorization(bank, firm, client, login, db):
    consent = bank.request_consent(firm.enterprise.uscc, scopes=["identity", "tax"])
    login(firm.user)
    _, challenge = pkce()
    params = bank.authorize_params(consent["consent_id"], challenge, scope="report:identity report:judicial")
    resp = client.get("/oauth/authorize?" + urlencode(params))
    assert resp.status_code == 302 and "error=invalid_scope" in resp.headers["Location"]


def test_scope_beyond_the_consent_is_refused_on_refresh_and_on_client_credentials(active_token, bank, db):
    consent_id, tok = active_token(scopes=["identity", "tax"], fetch_type="periodic",
                                   frequency={"unit": "day", "value": 5})
    assert "refresh_token" in tok
    resp = bank.http.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
                                                "scope": "report:identity report:judicial"}, headers=bank.auth)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_scope"
    cc = bank.cc_token(scope="report:judicial", consent_id=consent_id)
    assert cc["status"] == 400 and cc["error"] == "invalid_scope"
    plain = bank.cc_token(scope="report:tax")  # report scopes only through a consent
    assert plain["status"] == 400 and plain["error"] == "invalid_scope"
    assert len(refusals(db, "invalid_scope")) == 3
    narrowed = bank.http.post("/oauth/token", data={"grant_type": "refresh_token", "scope": "report:tax",
                                                    "refresh_token": tok["refresh_token"]}, headers=bank.auth)
    assert narrowed.status_code == 200 and narrowed.get_json()["scope"] == "report:tax"


def test_fetch_of_sections_beyond_the_token_is_refused(active_token, bank, firm, db):
    _, tok = active_token(scopes=["identity", "tax"])
    resp = bank.fetch(tok["access_token"], firm.enterprise.uscc, sections=["identity", "judicial"])
    assert resp.status_code == 403 and resp.get_json()["code"] == "scope_insufficient"
    assert refusals(db, "scope_insufficient")


# --- lifecycle at the gate ----------------------------------------------------------------------


def _api_action(client, consent_id, action):
    return client.post(f"/api/v1/consents/{consent_id}/{action}", json={})


def test_token_after_revoke_is_refused_at_once_and_tokens_are_revoked(active_token, bank, firm, client, db):
    consent_id, tok = active_token(fetch_type="periodic", frequency={"unit": "day", "value": 10})
    assert bank.fetch(tok["access_token"], firm.enterprise.uscc).status_code == 200
    resp = _api_action(client, consent_id, "revoke")
    assert resp.status_code == 200 and resp.get_json()["status"] == "REVOKED"
    db.expire_all()
    assert all(t.revoked_at for t in db.scalars(sa.select(OAuthToken).where(
        OAuthToken.consent_pk == consent_row(db, consent_id).id)))
    again = bank.fetch(tok["access_token"], firm.enterprise.uscc)
    assert again.status_code == 403 and again.get_json()["code"] == "consent_revoked"
    assert refusals(db, "consent_revoked")
    refresh = bank.http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": tok["refresh_token"]}, headers=bank.auth)
    assert refresh.status_code == 400 and refresh.get_json()["error"] == "invalid_grant"
    assert bank.cc_token(scope=None, consent_id=consent_id)["error"] == "invalid_grant"
    for action in ("resume", "pause", "revoke"):  # revoked never comes back
        assert _api_action(client, consent_id, action).status_code == 409


def test_token_while_paused_is_refused_and_works_again_after_resume(active_token, bank, firm, client, db):
    consent_id, tok = active_token(fetch_type="periodic", frequency={"unit": "day", "value": 10})
    assert _api_action(client, consent_id, "pause").get_json()["status"] == "PAUSED"
    resp = bank.fetch(tok["access_token"], firm.enterprise.uscc)
    assert resp.status_code == 403 and resp.get_json()["code"] == "consent_paused"
    assert refusals(db, "consent_paused")
    intro = bank.http.post("/oauth/introspect", data={"token": tok["access_token"]}, headers=bank.auth)
    assert intro.get_json() == {"active": False}
    assert _api_action(client, consent_id, "resume").get_json()["status"] == "ACTIVE"
    assert bank.fetch(tok["access_token"], firm.enterprise.uscc).status_code == 200
    assert _api_action(client, consent_id, "resume").status_code == 409  # not paused any more


def test_token_after_expiry_is_refused(active_token, bank, firm, db):
    consent_id, tok = active_token(fetch_type="periodic", frequency={"unit": "day", "value": 10})
    row = consent_row(db, consent_id)
    row.valid_from = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    row.valid_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db.flush()
    resp = bank.fetch(tok["access_token"], firm.enterprise.uscc)
    assert resp.status_code == 403 and resp.get_json()["code"] == "consent_expired"
    from consent.services import expire_due
    assert expire_due(db) == 1
    assert consent_row(db, consent_id).status == ConsentStatus.expired
    assert expire_due(db) == 0
    assert refusals(db, "consent_expired")


def test_consent_for_firm_a_used_for_firm_b_is_refused(active_token, bank, make_enterprise, db):
    _, tok = active_token()
    other = make_enterprise()
    resp = bank.fetch(tok["access_token"], other.uscc)
    assert resp.status_code == 403 and resp.get_json()["code"] == "consent_subject_mismatch"
    assert refusals(db, "consent_subject_mismatch")


def test_purpose_other_than_the_consents_is_refused(active_token, bank, firm, db):
    _, tok = active_token()
    resp = bank.fetch(tok["access_token"], firm.enterprise.uscc, purpose="bid_qualification")
    assert resp.status_code == 403 and resp.get_json()["code"] == "purpose_mismatch"


def test_bank_b_cannot_use_bank_as_consent(active_token, bank, other_bank, firm, client, login, db):
    consent_id, _ = active_token()
    cc = other_bank.cc_token(scope=None, consent_id=consent_id)
    assert cc["status"] == 400 and cc["error"] == "invalid_grant"
    b_token = other_bank.cc_token()["access_token"]
    assert client.get(f"/api/v1/consents/{consent_id}", headers=bearer(b_token)).status_code == 404
    assert client.get(f"/api/v1/consents/{consent_id}/artefact", headers=bearer(b_token)).status_code == 404
    pending = bank.request_consent(firm.enterprise.uscc)
    _, challenge = pkce()
    params = other_bank.authorize_params(pending["consent_id"], challenge)
    resp = client.get("/oauth/authorize?" + urlencode(params))
    assert resp.status_code == 302 and "error=invalid_request" in resp.headers["Location"]
    assert consent_row(db, pending["consent_id"]).status == ConsentStatus.pending


def test_a_firm_user_cannot_decide_for_another_firm(bank, firm, make_enterprise, make_user, client, login, db):
    consent = bank.request_consent(firm.enterprise.uscc)
    intruder = make_user("firm", enterprise=make_enterprise())
    login(intruder)
    _, challenge = pkce()
    params = bank.authorize_params(consent["consent_id"], challenge)
    page = client.get("/oauth/authorize?" + urlencode(params))
    assert page.status_code == 404 and "Location" not in page.headers  # not disclosed
    assert refusals(db, "tenancy_denied")
    token = csrf_of(client.get("/login").get_data(as_text=True))
    post = client.post("/oauth/authorize?" + urlencode(params), data={"csrf_token": token, "decision": "approve"})
    assert post.status_code == 404
    for action in ("approve", "revoke"):
        assert _api_action(client, consent["consent_id"], action).status_code == 404
    assert consent_row(db, consent["consent_id"]).status == ConsentStatus.pending
    assert refusals(db, "consent_not_found")


def test_bank_officer_and_operator_cannot_decide_for_a_firm(bank, firm, make_user, client, login, db):
    consent = bank.request_consent(firm.enterprise.uscc)
    login(make_user("operator"))
    assert _api_action(client, consent["consent_id"], "approve").status_code == 403
    assert consent_row(db, consent["consent_id"]).status == ConsentStatus.pending


def test_one_time_allowance_is_used_once(active_token, bank, firm, db):
    _, tok = active_token()
    assert bank.fetch(tok["access_token"], firm.enterprise.uscc).status_code == 200
    resp = bank.fetch(tok["access_token"], firm.enterprise.uscc)
    assert resp.status_code == 403 and resp.get_json()["code"] == "allowance_exhausted"
    assert refusals(db, "allowance_exhausted")


def test_frequency_limit_gives_429_with_retry_after(active_token, bank, firm, db):
    consent_id, tok = active_token(fetch_type="periodic", frequency={"unit": "day", "value": 2})
    for _ in range(2):
        assert bank.fetch(tok["access_token"], firm.enterprise.uscc).status_code == 200
    resp = bank.fetch(tok["access_token"], firm.enterprise.uscc)
    assert resp.status_code == 429 and resp.get_json()["code"] == "frequency_exceeded"
    assert 0 < int(resp.headers["Retry-After"]) <= 86400
    assert consent_row(db, consent_id).use_count == 2
    assert refusals(db, "frequency_exceeded")


def test_token_in_the_query_string_is_refused(active_token, bank, firm, db):
    consent_id, tok = active_token()
    resp = bank.http.post("/api/v1/data/fetch?access_token=" + tok["access_token"],
                          json={"uscc": firm.enterprise.uscc, "purpose": "loan_application"})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert refusals(db, "missing_authorization")
    assert consent_row(db, consent_id).use_count == 0


def test_client_credentials_token_without_consent_cannot_fetch(bank, firm, db):
    tok = bank.cc_token()["access_token"]
    resp = bank.fetch(tok, firm.enterprise.uscc)
    assert resp.status_code == 403 and resp.get_json()["code"] == "consent_required"


# --- revocation and introspection ---------------------------------------------------------------


def test_introspection_and_revocation_only_for_own_tokens(active_token, bank, other_bank, firm, db):
    consent_id, tok = active_token(fetch_type="periodic", frequency={"unit": "day", "value": 10})
    mine = bank.http.post("/oauth/introspect", data={"token": tok["access_token"]}, headers=bank.auth).get_json()
    assert mine["active"] is True and mine["consent_id"] == consent_id and mine["sub"] == firm.enterprise.uscc
    theirs = bank.http.post("/oauth/introspect", data={"token": tok["access_token"]}, headers=other_bank.auth)
    assert theirs.get_json() == {"active": False}
    stolen = bank.http.post("/oauth/revoke", data={"token": tok["access_token"]}, headers=other_bank.auth)
    assert stolen.status_code in (200, 400)
    assert bank.fetch(tok["access_token"], firm.enterprise.uscc).status_code == 200  # still valid
    unauth = bank.http.post("/oauth/introspect", data={"token": tok["access_token"]})
    assert unauth.status_code == 401
    assert bank.http.post("/oauth/revoke", data={"token": tok["access_token"]}, headers=bank.auth).status_code == 200
    resp = bank.fetch(tok["access_token"], firm.enterprise.uscc)
    assert resp.status_code == 401 and resp.get_json()["code"] == "invalid_token"


# --- found in review ----------------------------------------------------------------------------


def test_reused_code_also_kills_tokens_obtained_by_refreshing(active_code, bank, firm, db):
    code, verifier = active_code(fetch_type="periodic", frequency={"unit": "day", "value": 10})
    first = bank.exchange(code, verifier).get_json()
    refreshed = bank.http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                     "refresh_token": first["refresh_token"]}, headers=bank.auth)
    assert refreshed.status_code == 200
    assert bank.exchange(code, verifier).status_code == 400  # the code again
    resp = bank.fetch(refreshed.get_json()["access_token"], firm.enterprise.uscc)
    assert resp.status_code == 401
    again = bank.http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                 "refresh_token": refreshed.get_json()["refresh_token"]},
                           headers=bank.auth)
    assert again.status_code == 400


def test_refresh_token_is_single_use(active_token, bank):
    _, tok = active_token(fetch_type="periodic", frequency={"unit": "day", "value": 10})
    data = {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}
    assert bank.http.post("/oauth/token", data=data, headers=bank.auth).status_code == 200
    assert bank.http.post("/oauth/token", data=data, headers=bank.auth).status_code == 400


def test_assertion_audience_does_not_follow_the_host_header(client, jwt_bank):
    oauth, key = jwt_bank
    token = assertion(oauth, key, aud="https://other-as.example/oauth/token")
    resp = client.post("/oauth/token", base_url="https://other-as.example", data={
        "grant_type": "client_credentials", "scope": "consents:write",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": token})
    assert resp.status_code in (400, 401) and resp.get_json()["error"] == "invalid_client"


def test_a_spent_assertion_stays_spent_when_its_request_fails(client, jwt_bank):
    oauth, key = jwt_bank
    token = assertion(oauth, key)
    failed = client.post("/oauth/token", data={
        "grant_type": "client_credentials", "consent_id": "cst_unknown",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": token})
    assert failed.status_code == 400
    assert _cc_with_assertion(client, token).status_code in (400, 401)


@pytest.mark.parametrize("exp", [10**13, "soon", 1e30])
def test_assertion_with_absurd_exp_is_refused_not_a_500(client, jwt_bank, exp):
    oauth, key = jwt_bank
    resp = _cc_with_assertion(client, assertion(oauth, key, exp=exp))
    assert resp.status_code in (400, 401) and resp.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("url", ["/api/v1/consents/%00", "/oauth/authorize?client_id=%00&consent_id=x",
                                 "/api/v1/consents?page=99999999999999999999"])
def test_bad_identifiers_and_pages_are_4xx_not_500(client, login, make_user, url):
    login(make_user("operator"))
    resp = client.get(url)
    assert resp.status_code in (400, 422), resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/problem+json"


def test_nul_in_credentials_or_body_is_refused_cleanly(bank, client):
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("pc_\x00x", "s"))
    assert resp.status_code == 400 and resp.get_json()["code"] == "invalid_characters"
    tok = bank.cc_token()["access_token"]
    body = client.post("/api/v1/consents", json={"uscc": "9111000005362103\x008", "purpose": "loan_application"},
                       headers=bearer(tok))
    assert body.status_code == 422 and "uscc" in body.get_json()["errors"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00", "9999-12-31T23:59:59-12:00"])
def test_out_of_range_valid_until_is_422(bank, firm, client, moment):
    resp = client.post("/api/v1/consents", json={"uscc": firm.enterprise.uscc, **_terms(valid_until=moment)},
                       headers=bearer(bank.cc_token()["access_token"]))
    assert resp.status_code == 422 and "valid_until" in resp.get_json()["errors"]


def test_cookie_writes_need_the_csrf_token(bank, firm, client, login, db):
    consent = bank.request_consent(firm.enterprise.uscc)
    login(firm.user)
    client.environ_base.pop("HTTP_X_CSRFTOKEN")
    resp = client.post(f"/api/v1/consents/{consent['consent_id']}/approve", json={})
    assert resp.status_code == 400 and resp.get_json()["code"] == "csrf_failed"
    # An Authorization header beside the session does not waive it: the view acts as the
    # signed-in user.
    for action in ("approve", "reject"):
        resp = client.post(f"/api/v1/consents/{consent['consent_id']}/{action}", json={},
                           headers={"Authorization": "x"})
        assert resp.status_code == 400 and resp.get_json()["code"] == "csrf_failed", resp.get_json()
    assert consent_row(db, consent["consent_id"]).status == ConsentStatus.pending


def test_consent_bound_report_token_does_not_list_consents(active_token, client):
    _, tok = active_token()
    resp = client.get("/api/v1/consents", headers=bearer(tok["access_token"]))
    assert resp.status_code == 403 and resp.get_json()["code"] == "insufficient_scope"


def test_unknown_consent_lookups_by_a_bank_are_audited(bank, client, db):
    resp = client.get("/api/v1/consents/cst_guess", headers=bearer(bank.cc_token()["access_token"]))
    assert resp.status_code == 404
    assert refusals(db, "consent_not_found")


# --- issue #25: OAuth details -------------------------------------------------------------------


def test_a_client_id_beside_an_assertion_must_be_its_sub(client, db, jwt_bank, bank):
    oauth, key = jwt_bank
    body = {"grant_type": "client_credentials", "scope": "consents:write",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    other = client.post("/oauth/token", data={**body, "client_assertion": assertion(oauth, key),
                                              "client_id": bank.oauth.client_id})
    assert other.status_code in (400, 401) and other.get_json()["error"] == "invalid_client"
    assert refusals(db, "invalid_client")
    same = client.post("/oauth/token", data={**body, "client_assertion": assertion(oauth, key),
                                             "client_id": oauth.client_id})
    assert same.status_code == 200, same.get_json()


def test_a_rotated_refresh_token_used_again_revokes_the_family(active_token, bank, firm, db):
    """RFC 9700 §4.14.2: the old refresh token presented after rotation means one of the two
    copies is in the wrong hands; every token descended from the grant is revoked."""
    _, tok = active_token(fetch_type="periodic", frequency={"unit": "day", "value": 10})
    old = {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}
    rotated = bank.http.post("/oauth/token", data=old, headers=bank.auth)
    assert rotated.status_code == 200
    new = rotated.get_json()
    assert bank.fetch(new["access_token"], firm.enterprise.uscc).status_code == 200
    replay = bank.http.post("/oauth/token", data=old, headers=bank.auth)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert refusals(db, "refresh_token_reused")
    assert bank.fetch(new["access_token"], firm.enterprise.uscc).status_code == 401  # the family is revoked
    onward = bank.http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                  "refresh_token": new["refresh_token"]}, headers=bank.auth)
    assert onward.status_code == 400


def test_expires_in_never_outlives_the_consent(active_token, bank):
    import datetime as dt

    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat()
    _, tok = active_token(valid_until=soon)
    assert 0 < tok["expires_in"] <= 600  # not the configured hour
    _, periodic = active_token(fetch_type="periodic", frequency={"unit": "day", "value": 10}, valid_until=soon)
    refreshed = bank.http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                     "refresh_token": periodic["refresh_token"]}, headers=bank.auth)
    assert refreshed.status_code == 200 and 0 < refreshed.get_json()["expires_in"] <= 600
