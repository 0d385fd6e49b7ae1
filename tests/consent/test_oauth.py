"""Token endpoint (client credentials) and RFC 8414 metadata."""

from __future__ import annotations

import base64

import sqlalchemy as sa

from app.oauth.models import OAuthClient, OAuthToken, hash_secret


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_client_credentials_issue_a_bearer_token_stored_only_as_a_hash(client, db, make_provider, make_client):
    oc, secret = make_client(make_provider())
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=_basic(oc.client_id, secret))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["token_type"].lower() == "bearer"
    assert body["scope"] == "records:write"
    assert 0 < body["expires_in"] <= 3600
    stored = db.scalar(sa.select(OAuthToken).where(OAuthToken.client_pk == oc.id))
    assert stored.access_token_hash == hash_secret(body["access_token"])
    columns = db.execute(sa.select(OAuthToken.__table__)).all() + db.execute(sa.select(OAuthClient.__table__)).all()
    flat = " ".join(str(v) for row in columns for v in row)
    assert body["access_token"] not in flat
    assert secret not in flat


def test_wrong_secret_is_invalid_client_in_rfc6749_shape(client, make_provider, make_client):
    oc, _ = make_client(make_provider())
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=_basic(oc.client_id, "nope"))
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "invalid_client"
    # RFC 6749 §5.2: error_description is ASCII only — English by the standard, not by oversight.
    description = resp.get_json()["error_description"]
    assert description and description.isascii(), resp.get_json()


def test_scope_beyond_the_client_is_refused(client, make_provider, make_client):
    oc, secret = make_client(make_provider())
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "records:write reports:read"},
                       headers=_basic(oc.client_id, secret))
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_scope"


def test_unsupported_grants_are_refused(client, make_provider, make_client):
    oc, secret = make_client(make_provider())
    for grant in ("password", "implicit", "authorization_code"):
        resp = client.post("/oauth/token", data={"grant_type": grant}, headers=_basic(oc.client_id, secret))
        assert resp.status_code == 400, grant
        assert resp.get_json()["error"] in ("unsupported_grant_type", "unauthorized_client", "invalid_request")


def test_disabled_client_cannot_get_tokens(client, db, make_provider, make_client):
    import datetime as dt

    oc, secret = make_client(make_provider())
    oc.disabled_at = dt.datetime.now(dt.UTC)
    db.flush()
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=_basic(oc.client_id, secret))
    assert resp.status_code == 401


def test_authorization_server_metadata(client):
    resp = client.get("/.well-known/oauth-authorization-server")
    assert resp.status_code == 200
    meta = resp.get_json()
    assert meta["token_endpoint"].endswith("/oauth/token")
    assert "client_credentials" in meta["grant_types_supported"]
    assert "records:write" in meta["scopes_supported"]
    assert meta["issuer"].startswith("http")


def test_parameters_an_error_description_cannot_repeat_are_refused_not_a_500(client, make_provider, make_client):
    """Authlib repeats response_type and redirect_uri in its error descriptions and raises
    ValueError when they hold characters RFC 6749 §5.2 keeps out of one: an invalid_request."""
    resp = client.get("/oauth/authorize?response_type=%1F")  # not signed in: to the sign-in page
    assert resp.status_code == 302
    oc, secret = make_client(make_provider())
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "records:write 数据\u001f"},
                       headers=_basic(oc.client_id, secret))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_scope", resp.get_json()
    assert resp.get_json()["error_description"].isascii()


def test_the_consent_screen_refuses_unsayable_parameters(client, login, firm, bank):
    login(firm.user)
    for query in ("response_type=%1F",  # authlib: "…response type '\x1f'…"
                  f"response_type=code&client_id={bank.oauth.client_id}&redirect_uri=https://bank.example.com/%E5%9B%9E"):
        resp = client.get(f"/oauth/authorize?{query}")
        assert resp.status_code == 400 and resp.mimetype == "text/html", (query, resp.status_code)



def test_a_token_response_names_the_consent_it_is_bound_to(active_token, bank, client):
    """The bank's system files each token under the consent it acts for: the code's token, its
    refreshed successor and a client-credentials token bound with consent_id all say which."""
    consent_id, token = active_token(fetch_type="periodic", frequency={"unit": "month", "value": 5})
    assert token["consent_id"] == consent_id
    refreshed = client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                  "refresh_token": token["refresh_token"]}, headers=bank.auth)
    assert refreshed.status_code == 200 and refreshed.get_json()["consent_id"] == consent_id
    bound = bank.cc_token(scope=None, consent_id=consent_id)
    assert bound["status"] == 200 and bound["consent_id"] == consent_id
    unbound = bank.cc_token()  # the bank's own system token (consents:write): bound to no consent
    assert unbound["status"] == 200 and "consent_id" not in unbound
