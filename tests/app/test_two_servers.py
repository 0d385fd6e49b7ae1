"""Two ``powercredit serve`` processes on two ports, one PostgreSQL and one Redis, behave as one
service: a session begun on one is used and ended on the other, sign-in throttles and rate
limits count across both, and an OAuth code redeemed on one is spent on the other."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from app.core.db import Database
from tests.conftest import PASSWORD, FreshDatabases, frozen_python
from tests.consent.conftest import REDIRECT, pkce, terms

REDIS = os.environ.get("TEST_REDIS_URL")

PG = os.environ.get("TEST_DATABASE_URL")

# Two servers share one PostgreSQL and one Redis: CI provides both (.ci/run fails without them).
pytestmark = pytest.mark.skipif(not (REDIS and PG), reason="needs TEST_DATABASE_URL and TEST_REDIS_URL (CI sets both)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:300]
    return found.group(1)


def _sign_in(http: requests.Session, base: str, username: str, password: str = PASSWORD) -> requests.Response:
    token = _csrf(http.get(f"{base}/login").text)
    return http.post(f"{base}/login", data={"username": username, "password": password, "csrf_token": token},
                     allow_redirects=False)


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    import redis

    from app.accounts.services import create_institution, create_user
    from app.archive.services import load_enterprise, register_enterprise
    from app.core.config import load_settings
    from app.core.crypto import FieldCipher, load_keyring
    from app.oauth.services import register_bank_client

    redis.Redis.from_url(REDIS).flushdb()
    databases = FreshDatabases("postgresql", tmp_path)  # PostgreSQL only: no SQLite variant to skip
    url = databases.new()
    instance = tmp_path / "instance"
    env = {**os.environ, "DATABASE_URL": url, "PC_INSTANCE_PATH": str(instance), "PC_RATELIMIT_STORAGE_URI": REDIS,
           "PC_PASSWORD_HASH": "production", "PC_LOG_LEVEL": "INFO"}  # the logs say why, should a check fail
    settings = load_settings({"database_url": url, "instance_path": instance})  # the secrets both servers share
    database = Database(url)
    facts: dict[str, str] = {}
    try:
        with database.transaction() as s:
            ent, _ = register_enterprise(s, FieldCipher(load_keyring(settings)),
                                         load_enterprise({"uscc": "91330106MA2H00014Q", "name": "两台服务器测试电力有限公司",
                                                          "segment": "supplier"}))
            create_user(s, username="firm-two", password=PASSWORD, role="firm", enterprise_uscc=ent.uscc)
            inst = create_institution(s, name="测试银行", licence_no="B-two")
            oauth, secret = register_bank_client(s, inst, name="测试银行信贷系统", redirect_uris=[REDIRECT])
            facts.update(uscc=ent.uscc, client_id=oauth.client_id, secret=str(secret))
    finally:
        database.dispose()
    ports = [_free_port(), _free_port()]
    logs = [(tmp_path / f"server-{p}.log").open("wb") for p in ports]
    procs = [subprocess.Popen(frozen_python("from app.cli import main; main()", "serve", "--port", str(p),
                                            "--workers", "1"), env=env, stdout=log, stderr=subprocess.STDOUT)
             for p, log in zip(ports, logs, strict=True)]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for base, proc in zip(bases, procs, strict=True):
            for _ in range(200):
                try:
                    if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert proc.poll() is None, (tmp_path / f"server-{base.rsplit(':', 1)[1]}.log").read_text()
                time.sleep(0.1)
            else:
                pytest.fail(f"{base} did not start")
        facts["logs"] = str(tmp_path)  # the servers' logs (INFO: a refused session says why)
        yield bases[0], bases[1], facts
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
        for log in logs:
            log.close()
        databases.drop_all()


def test_a_session_begun_on_one_server_is_ended_on_the_other(two_servers):
    a, b, facts = two_servers
    http = requests.Session()
    assert _sign_in(http, a, "firm-two").status_code == 302
    assert http.get(f"{a}/api/v1/me").status_code == 200
    seen = http.get(f"{b}/api/v1/me")  # the same session, read by the other server
    logs = "\n".join(p.read_text()[-3000:] for p in sorted(Path(facts["logs"]).glob("server-*.log")))
    assert seen.status_code == 200, (seen.text, http.get(f"{a}/api/v1/me").status_code, logs)
    token = _csrf(http.get(f"{b}/login").text)
    assert http.post(f"{b}/logout", data={"csrf_token": token}, allow_redirects=False).status_code == 302
    stolen = requests.Session()
    stolen.cookies.update(http.cookies)
    assert http.get(f"{a}/api/v1/me").status_code == 401
    assert stolen.get(f"{a}/api/v1/me").status_code == 401


def test_throttles_and_rate_limits_count_across_servers(two_servers):
    a, b, _ = two_servers
    for n in range(5):  # the per-account throttle: failures on both servers add up
        assert _sign_in(requests.Session(), (a, b)[n % 2], "firm-two", "wrong-password").status_code == 422
    held = _sign_in(requests.Session(), a, "firm-two")
    assert held.status_code == 429 and int(held.headers["Retry-After"]) > 0
    # The sign-in form's per-address limit (20 a minute; 6 posts so far): 16 more, on either server.
    statuses = [_sign_in(requests.Session(), (a, b)[n % 2], f"nobody-{n}", "x").status_code for n in range(16)]
    assert 429 in statuses and statuses[-1] == 429, statuses  # counted once for both servers


def test_an_oauth_code_redeemed_on_one_server_is_spent_on_the_other(two_servers):
    a, b, facts = two_servers
    auth = (facts["client_id"], facts["secret"])
    # gunicorn believes no forwarded header here (PC_TRUSTED_PROXIES unset): no HTTPS by claim.
    forged = requests.post(f"{a}/oauth/token", data={"grant_type": "client_credentials"}, auth=auth,
                           headers={"Host": "credit.example.com", "X-Forwarded-Proto": "https"})
    assert forged.status_code == 400 and forged.json()["code"] == "insecure_transport"
    cc = requests.post(f"{a}/oauth/token", data={"grant_type": "client_credentials", "scope": "consents:write"},
                       auth=auth).json()
    consent = requests.post(f"{a}/api/v1/consents", json={"uscc": facts["uscc"], **terms()},
                            headers={"Authorization": f"Bearer {cc['access_token']}"})
    assert consent.status_code == 201, consent.text
    firm = requests.Session()
    assert _sign_in(firm, b, "firm-two").status_code == 302
    verifier, challenge = pkce()
    params = urlencode({"response_type": "code", "client_id": facts["client_id"], "redirect_uri": REDIRECT,
                        "state": "st", "code_challenge": challenge, "code_challenge_method": "S256",
                        "consent_id": consent.json()["consent_id"]})
    page = firm.get(f"{b}/oauth/authorize?{params}")
    assert page.status_code == 200, page.text[:300]
    decided = firm.post(f"{b}/oauth/authorize?{params}", data={"csrf_token": _csrf(page.text), "decision": "approve"},
                        allow_redirects=False)
    code = parse_qs(urlsplit(decided.headers["Location"]).query)["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    assert requests.post(f"{a}/oauth/token", data=exchange, auth=auth).status_code == 200
    again = requests.post(f"{b}/oauth/token", data=exchange, auth=auth)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
