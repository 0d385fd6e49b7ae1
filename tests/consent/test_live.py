"""Over real HTTP against a server on a committed database: the happy path driven by a
real OAuth client library (Authlib's OAuth2Session), and real concurrency (PostgreSQL):
ten simultaneous redemptions of one code, two simultaneous pulls against an allowance of one."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from werkzeug.serving import make_server

from app import create_app
from app.accounts.services import create_institution, create_user
from app.archive.services import load_enterprise, register_enterprise
from app.archive.uscc import make_uscc
from app.oauth.models import OAuthToken
from app.oauth.services import register_bank_client
from consent.models import Consent, QueryLog
from tests.conftest import PASSWORD
from tests.consent.conftest import REDIRECT, pkce, terms

pytestmark = pytest.mark.slow


@dataclass
class Live:
    base: str
    app: Any
    uscc: str
    firm_username: str
    client_id: str
    secret: str

    def firm_browser(self) -> requests.Session:
        browser = requests.Session()
        page = browser.get(f"{self.base}/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        resp = browser.post(f"{self.base}/login", data={"username": self.firm_username, "password": PASSWORD,
                                                        "csrf_token": token}, allow_redirects=False)
        assert resp.status_code == 302
        return browser

    def approve(self, browser: requests.Session, url: str) -> str:
        page = browser.get(url)
        assert page.status_code == 200, page.text[:500]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        resp = browser.post(url, data={"csrf_token": token, "decision": "approve"}, allow_redirects=False)
        assert resp.status_code == 302, resp.text[:500]
        return resp.headers["Location"]

    def request_consent(self, **overrides: Any) -> str:
        tok = requests.post(f"{self.base}/oauth/token", data={"grant_type": "client_credentials",
                                                               "scope": "consents:write"},
                            auth=(self.client_id, self.secret)).json()["access_token"]
        resp = requests.post(f"{self.base}/api/v1/consents", json={"uscc": self.uscc, **terms(**overrides)},
                             headers={"Authorization": f"Bearer {tok}"})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["consent_id"])

    def count(self, stmt: Any) -> int:
        with self.app.extensions["pc_db"].transaction() as s:
            return int(s.scalar(stmt) or 0)


@pytest.fixture
def live(fresh_databases: Any, tmp_path: Any) -> Iterator[Live]:
    url = fresh_databases.new()
    app = create_app({"database_url": url, "instance_path": tmp_path, "secret_key": "live-secret", "testing": True})
    with app.extensions["pc_db"].transaction() as s:
        uscc = make_uscc("9", "1", "330106", str(secrets.randbelow(10**8)).zfill(8))
        ent, _ = register_enterprise(s, app.extensions["pc_cipher"], load_enterprise(
            {"uscc": uscc, "name": "并发测试电力有限公司", "segment": "supplier", "registered_capital": "1000000",
             "founded_on": "2015-01-01"}))
        username = f"firm-{secrets.token_hex(3)}"
        create_user(s, username=username, password=PASSWORD, role="firm", enterprise_uscc=ent.uscc)
        inst = create_institution(s, name="真实客户端银行", licence_no=f"L{secrets.token_hex(3)}")
        oauth, secret = register_bank_client(s, inst, name="信贷系统", redirect_uris=[REDIRECT])
        client_id = oauth.client_id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{server.server_port}", app, uscc, username, client_id, str(secret))
    finally:
        server.shutdown()
        app.extensions["pc_db"].dispose()


def test_happy_path_with_a_real_oauth_client_library(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain HTTP on 127.0.0.1 in the test only
    bank = OAuth2Session(live.client_id, live.secret, token_endpoint_auth_method="client_secret_basic")
    bank.fetch_token(f"{live.base}/oauth/token", grant_type="client_credentials", scope="consents:write")
    created = bank.post(f"{live.base}/api/v1/consents", json={
        "uscc": live.uscc, **terms(fetch_type="periodic", frequency={"unit": "day", "value": 3})})
    assert created.status_code == 201, created.text
    consent_id = created.json()["consent_id"]

    oauth = OAuth2Session(live.client_id, live.secret, redirect_uri=REDIRECT, code_challenge_method="S256",
                          token_endpoint_auth_method="client_secret_basic")
    verifier = generate_token(64)
    url, state = oauth.create_authorization_url(f"{live.base}/oauth/authorize", code_verifier=verifier,
                                                consent_id=consent_id)
    assert "code_challenge_method=S256" in url
    callback = live.approve(live.firm_browser(), url)
    assert callback.startswith(REDIRECT) and f"state={state}" in callback and "iss=" in callback
    token = oauth.fetch_token(f"{live.base}/oauth/token", authorization_response=callback, code_verifier=verifier)
    assert token["refresh_token"] and "report:tax" in token["scope"].split()

    pulled = oauth.post(f"{live.base}/api/v1/data/fetch", json={"uscc": live.uscc, "purpose": "loan_application"})
    assert pulled.status_code == 200, pulled.text
    assert pulled.json()["sections"]["identity"]["uscc"] == live.uscc

    refreshed = oauth.refresh_token(f"{live.base}/oauth/token")
    assert refreshed["access_token"] != token["access_token"]
    assert oauth.post(f"{live.base}/api/v1/data/fetch",
                      json={"uscc": live.uscc, "purpose": "loan_application"}).status_code == 200
    old = requests.post(f"{live.base}/oauth/token", auth=(live.client_id, live.secret),
                        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert old.status_code == 400  # rotated: the first refresh token is spent

    revoked = oauth.revoke_token(f"{live.base}/oauth/revoke", token=refreshed["access_token"])
    assert revoked.status_code == 200
    after = oauth.post(f"{live.base}/api/v1/data/fetch", json={"uscc": live.uscc, "purpose": "loan_application"})
    assert after.status_code == 401
    assert live.count(sa.select(sa.func.count()).select_from(QueryLog)) == 2


def _run_together(n: int, work: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_ten_concurrent_redemptions_of_one_code_exactly_one_wins(live: Live) -> None:
    consent_id = live.request_consent()
    verifier, challenge = pkce()
    params = {"response_type": "code", "client_id": live.client_id, "redirect_uri": REDIRECT, "state": "s",
              "code_challenge": challenge, "code_challenge_method": "S256", "consent_id": consent_id}
    callback = live.approve(live.firm_browser(), f"{live.base}/oauth/authorize?{urlencode(params)}")
    code = re.search(r"[?&]code=([^&]+)", callback).group(1)  # type: ignore[union-attr]

    def redeem() -> tuple[int, dict[str, Any]]:
        resp = requests.post(f"{live.base}/oauth/token", auth=(live.client_id, live.secret), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
        return resp.status_code, resp.json()

    results = _run_together(10, redeem)
    assert sorted(status for status, _ in results) == [200] + [400] * 9, results
    assert all(body["error"] == "invalid_grant" for status, body in results if status == 400)
    # the nine reuses revoked what the winner got (RFC 6749 §4.1.2)
    assert live.count(sa.select(sa.func.count()).select_from(OAuthToken).where(
        OAuthToken.auth_code_pk.is_not(None))) == 1
    assert live.count(sa.select(sa.func.count()).select_from(OAuthToken).where(
        OAuthToken.auth_code_pk.is_not(None), OAuthToken.revoked_at.is_(None))) == 0


def _consent_token(live: Live) -> tuple[str, str]:
    consent_id = live.request_consent()
    verifier, challenge = pkce()
    params = {"response_type": "code", "client_id": live.client_id, "redirect_uri": REDIRECT, "state": "s",
              "code_challenge": challenge, "code_challenge_method": "S256", "consent_id": consent_id}
    callback = live.approve(live.firm_browser(), f"{live.base}/oauth/authorize?{urlencode(params)}")
    code = re.search(r"[?&]code=([^&]+)", callback).group(1)  # type: ignore[union-attr]
    token = requests.post(f"{live.base}/oauth/token", auth=(live.client_id, live.secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier}).json()["access_token"]
    return consent_id, str(token)


@pytest.mark.parametrize("round_", range(3))  # three rounds: a race that passes once by luck fails here
def test_two_concurrent_pulls_against_an_allowance_of_one(live: Live, round_: int) -> None:
    consent_id, token = _consent_token(live)

    def pull() -> tuple[int, str | None]:
        resp = requests.post(f"{live.base}/api/v1/data/fetch", headers={"Authorization": f"Bearer {token}"},
                             json={"uscc": live.uscc, "purpose": "loan_application"})
        return resp.status_code, resp.json().get("code")

    results = _run_together(2, pull)
    assert sorted(results, key=str) == [(200, None), (403, "allowance_exhausted")], results
    assert live.count(sa.select(sa.func.count()).select_from(QueryLog)) == 1
    with live.app.extensions["pc_db"].transaction() as s:
        assert s.scalar(sa.select(Consent.use_count).where(Consent.consent_id == consent_id)) == 1
