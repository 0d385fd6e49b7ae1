"""OAuth over plain HTTP to a host other than this machine is refused clearly (not a 500);
behind a trusted TLS proxy, its X-Forwarded-Proto makes the request HTTPS."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("method", "path"), [("POST", "/oauth/token"), ("GET", "/oauth/authorize?client_id=x"),
                                              ("POST", "/oauth/revoke"), ("POST", "/oauth/introspect")])
def test_plain_http_to_another_host_is_refused_clearly(client, method, path):
    resp = client.open(path, method=method, base_url="http://credit.example.com",
                       data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic eDp5"})
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["code"] == "insecure_transport" and "HTTPS" in body["detail"]


def test_https_and_loopback_are_served(client):
    for base in ("https://credit.example.com", "http://localhost", "http://127.0.0.1"):
        resp = client.post("/oauth/token", base_url=base, data={"grant_type": "client_credentials"},
                           headers={"Authorization": "Basic eDp5"})
        assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client", base  # reached the check


def test_a_trusted_proxy_says_https(database_url, tmp_path, db):
    from app import create_app

    behind = create_app({"database_url": database_url, "instance_path": tmp_path, "secret_key": "k" * 32,
                         "testing": True, "trusted_proxies": 1})
    behind.extensions["pc_db"].bind_to(db.connection())
    client = behind.test_client()
    proxied = client.post("/oauth/token", base_url="http://credit.example.com", data={"grant_type": "client_credentials"},
                          headers={"Authorization": "Basic eDp5", "X-Forwarded-Proto": "https"})
    assert proxied.status_code == 401 and proxied.get_json()["error"] == "invalid_client"


def test_without_a_trusted_proxy_its_header_is_ignored(client):
    forged = client.post("/oauth/token", base_url="http://credit.example.com", data={"grant_type": "client_credentials"},
                         headers={"Authorization": "Basic eDp5", "X-Forwarded-Proto": "https"})
    assert forged.status_code == 400 and forged.get_json()["code"] == "insecure_transport"


def test_two_servers_starting_together_agree_on_one_secret(tmp_path):
    """Secrets are created once (a link that only the first process wins), never half-written."""
    from concurrent.futures import ThreadPoolExecutor

    from app.core.config import create_private_once

    path = tmp_path / "instance" / "secret_key"
    with ThreadPoolExecutor(8) as pool:
        seen = set(pool.map(lambda n: create_private_once(path, f"secret-{n}"), range(32)))
    assert len(seen) == 1 and seen == {path.read_text()}
    assert not list(path.parent.glob("*.tmp"))  # no leftovers
