"""Who is asking comes first, on every API route: a caller with neither session nor token is
answered 401 with the route's challenges — before its input is validated and before a CSRF
token is asked for — and a route that bank or procurement systems call with a token names the
Bearer challenge first.  Only the public routes answer such a caller otherwise.

The routes are read from the application's URL map, so a route added later is checked too:
one that answers a nobody with anything but 401 must be listed here as public."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

# (method, rule) answered without credentials: the public data (enterprises, grades, the index,
# the scorecards, products, lists, the commitment texts, the public profile, the certificate
# check and notices, the audit log's transparency proofs) and the report schema.
PUBLIC = {
    ("GET", "/api/v1/enterprises"), ("GET", "/api/v1/enterprises/<string:uscc>"),
    ("GET", "/api/v1/enterprises/<string:uscc>/evaluation"), ("GET", "/api/v1/enterprises/<string:uscc>/evaluations"),
    ("GET", "/api/v1/grades/distribution"), ("GET", "/api/v1/index"), ("GET", "/api/v1/scorecards"),
    ("GET", "/api/v1/scorecards/<string:version>"), ("GET", "/api/v1/reports/schema"), ("GET", "/api/v1/products"),
    ("GET", "/api/v1/products/<string:product_no>"), ("GET", "/api/v1/marketplace/stats"),
    ("GET", "/api/v1/lists/<string:name>"), ("GET", "/api/v1/commitment-texts"),
    ("GET", "/api/v1/public/certificate-notices"),
    ("GET", "/api/v1/public/enterprises/<string:uscc>"),
    ("GET", "/api/v1/public/enterprises/<string:uscc>/certificates"),
    ("GET", "/api/v1/certificates/<string:certificate_no>"),
    ("GET", "/api/v1/audit/tree-head"), ("GET", "/api/v1/audit/tree-heads"),
    ("GET", "/api/v1/audit/tree-heads/<int:head_id>"),
    ("GET", "/api/v1/audit/proofs/inclusion"), ("GET", "/api/v1/audit/proofs/consistency"),
    ("GET", "/api/v1/index/groups"),
}
# Routes a system calls with an access token (banks, procurement platforms, providers): the
# Bearer challenge first.
BEARER_FIRST = re.compile(r"^/api/v1/(reports(?!/schema)|consents(?!/<string:consent_id>/(approve|reject|pause|"
                          r"resume|revoke))|query-log|subscriptions|alerts|webhook-endpoints|deliveries|screenings|"
                          r"data/|records/|enterprise-relations/batches)")


def api_routes(app: Flask) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        url = re.sub(r"<int:[^>]+>", "1", rule.rule)
        url = re.sub(r"<[^>]+>", "X", url)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((method, rule.rule, url))
    return out


def test_every_api_route_asks_who_first(app: Flask, client: FlaskClient) -> None:
    routes = api_routes(app)
    assert len(routes) > 100
    wrong = []
    for method, rule, url in routes:
        resp = client.open(url, method=method, json={} if method != "GET" else None)
        body = resp.get_json(silent=True)
        code = body.get("code") if isinstance(body, dict) else None
        if (method, rule) in PUBLIC:
            if resp.status_code == 401 or code == "csrf_failed":
                wrong.append((method, rule, resp.status_code, code, "public route refused a nobody"))
            continue
        challenge = resp.headers.get("WWW-Authenticate", "")
        if resp.status_code != 401 or not challenge:
            wrong.append((method, rule, resp.status_code, code, challenge))
        elif BEARER_FIRST.match(rule) and not challenge.startswith("Bearer "):
            wrong.append((method, rule, resp.status_code, code, f"Bearer not first: {challenge}"))
        elif not BEARER_FIRST.match(rule) and "Bearer" in challenge and "Session" not in challenge:
            wrong.append((method, rule, resp.status_code, code, f"a session route offering only Bearer: {challenge}"))
    assert wrong == [], "\n".join(map(str, wrong))


@pytest.mark.parametrize("path", ["/api/v1/products", "/api/v1/applications", "/api/v1/objections",
                                  "/api/v1/institutions", "/api/v1/webhook-endpoints"])
def test_an_anonymous_write_is_401_not_a_csrf_or_validation_error(client: FlaskClient, path: str) -> None:
    resp = client.post(path, json={"nothing": "valid"})
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "sign_in_required"
    assert "Session realm=\"powercredit\"" in resp.headers["WWW-Authenticate"]


def test_a_bank_reading_reports_without_a_token_gets_the_bearer_challenge_first(client: FlaskClient) -> None:
    for path in ("/api/v1/reports", "/api/v1/reports/PC20261118ABCDEFGHJKMN", "/api/v1/consents"):
        resp = client.get(path)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="powercredit", Session realm="powercredit"'


def test_a_signed_in_write_without_the_csrf_token_is_still_refused(client: FlaskClient, login: Any,
                                                                   make_user: Any) -> None:
    """Asking who first does not waive CSRF for a session: its writes still need the token."""
    login(make_user("operator"))
    client.environ_base.pop("HTTP_X_CSRFTOKEN", None)
    resp = client.post("/api/v1/institutions", json={"name": "某银行", "licence_no": "B0001H111000001"})
    assert resp.status_code == 400 and resp.get_json()["code"] == "csrf_failed"
