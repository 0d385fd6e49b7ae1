"""Operators register institutions and their OAuth clients (API and CLI); the rate limit
per client on bank endpoints; the consent CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from joserfc.jwk import OKPKey

from app.cli import main
from tests.consent.conftest import REDIRECT, basic


def test_operator_registers_an_institution_and_a_client(client, login, make_user):
    login(make_user("operator"))
    resp = client.post("/api/v1/institutions", json={"name": "测试农商银行", "licence_no": "B1234H1", "kind": "rural_bank"})
    assert resp.status_code == 201, resp.get_json()
    bad = client.post("/api/v1/institutions/B1234H1/clients", json={"name": "x", "redirect_uris": ["http://evil.example/cb"]})
    assert bad.status_code == 422 and "redirect_uris[0]" in bad.get_json()["errors"]
    made = client.post("/api/v1/institutions/B1234H1/clients", json={"name": "信贷系统", "redirect_uris": [REDIRECT]})
    assert made.status_code == 201
    body = made.get_json()
    assert body["client_secret"] and "implicit" not in body["grant_types"] and "password" not in body["grant_types"]
    assert body["auth_method"] == body["token_endpoint_auth_method"] == "client_secret_basic"  # named as asked for
    listed = client.get("/api/v1/institutions/B1234H1/clients").get_json()["items"]
    assert listed[0]["client_id"] == body["client_id"] and "client_secret" not in listed[0]
    tok = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "consents:write"},
                      headers=basic(body["client_id"], body["client_secret"]))
    assert tok.status_code == 200


def test_private_key_jwt_client_needs_public_keys_only(client, login, make_user):
    login(make_user("operator"))
    client.post("/api/v1/institutions", json={"name": "签名银行", "licence_no": "B5678H1"})
    key = OKPKey.generate_key("Ed25519")
    missing = client.post("/api/v1/institutions/B5678H1/clients",
                          json={"name": "x", "redirect_uris": [REDIRECT], "auth_method": "private_key_jwt"})
    assert missing.status_code == 422 and "jwks" in missing.get_json()["errors"]
    private = client.post("/api/v1/institutions/B5678H1/clients", json={
        "name": "x", "redirect_uris": [REDIRECT], "auth_method": "private_key_jwt",
        "jwks": {"keys": [key.as_dict(private=True)]}})
    assert private.status_code == 422 and "jwks" in private.get_json()["errors"]
    ok = client.post("/api/v1/institutions/B5678H1/clients", json={
        "name": "x", "redirect_uris": [REDIRECT], "auth_method": "private_key_jwt",
        "jwks": {"keys": [key.as_dict(private=False)]}})
    assert ok.status_code == 201 and "client_secret" not in ok.get_json()


@pytest.mark.parametrize("role", [None, "firm", "bank"])
def test_only_operators_manage_institutions(client, login, make_user, make_enterprise, role):
    if role:
        login(make_user(role, enterprise=make_enterprise() if role == "firm" else None))
    resp = client.post("/api/v1/institutions", json={"name": "冒名银行", "licence_no": "B9999H9"})
    assert resp.status_code in (401, 403)
    assert client.get("/api/v1/institutions").status_code in (401, 403)


def test_bank_endpoints_are_rate_limited_per_client(app, bank, other_bank):
    from app.core.extensions import limiter
    app.config["PC_RATELIMIT"] = True
    limiter.reset()
    try:
        responses = [bank.http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=bank.auth)
                     for _ in range(125)]
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == 120 and statuses[-1] == 429
        # "Retry-After" only on the refusals; every answer counts down the window
        assert "Retry-After" not in responses[0].headers and responses[0].headers["X-RateLimit-Remaining"] == "119"
        assert 0 < int(responses[-1].headers["Retry-After"]) <= 60
        # A refusal that waiting does not cure (a bad grant) carries none either.
        limiter.reset()
        bad = bank.http.post("/oauth/token", data={"grant_type": "authorization_code", "code": "nope"},
                             headers=bank.auth)
        assert bad.status_code == 400 and "Retry-After" not in bad.headers
        assert bad.headers["X-RateLimit-Remaining"] == "119"
        # another bank's client has its own allowance
        other = other_bank.http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=other_bank.auth)
        assert other.status_code == 200
    finally:
        limiter.reset()
        app.config["PC_RATELIMIT"] = False


def test_cli_adds_a_client_and_verifies_the_audit_chain(fresh_databases, tmp_path, monkeypatch):
    url = fresh_databases.new()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path))
    runner = CliRunner()
    refused = runner.invoke(main, ["institutions", "add", "--name", "命令行银行", "--licence", "bad licence"])
    assert refused.exit_code == 1 and "licence_no" in refused.output and "6–30 位" in refused.output  # as the API
    assert runner.invoke(main, ["institutions", "add", "--name", "命令行银行", "--licence", "B4321H1"]).exit_code == 0
    bad = runner.invoke(main, ["institutions", "add-client", "--institution", "B4321H1", "--name", "x",
                               "--redirect-uri", "https://bank.example.com/cb#frag"])
    assert bad.exit_code == 1 and "redirect_uris[0]" in bad.output
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [OKPKey.generate_key("Ed25519").as_dict(private=False)]}))
    made = runner.invoke(main, ["institutions", "add-client", "--institution", "B4321H1", "--name", "x",
                                "--redirect-uri", REDIRECT, "--auth-method", "private_key_jwt", "--jwks", str(jwks)])
    assert made.exit_code == 0, made.output
    assert "client_id" in made.output and "client_secret" not in made.output
    listed = runner.invoke(main, ["institutions", "list"])
    assert "B4321H1" in listed.output and "private_key_jwt" in listed.output
    verified = runner.invoke(main, ["audit", "verify"])
    assert verified.exit_code == 0 and "1 条" in verified.output
    expired = runner.invoke(main, ["consents", "expire"])
    assert expired.exit_code == 0 and "0 项" in expired.output


def test_cli_verifies_an_artefact_offline_and_refuses_a_tampered_one(bank, firm, client, login, tmp_path):
    from tests.consent.conftest import terms

    login(firm.user)
    consent = client.post("/api/v1/consents", json={"institution": bank.institution.licence_no, **terms()}).get_json()
    token = client.get(f"/api/v1/consents/{consent['consent_id']}/artefact").get_data(as_text=True)
    (tmp_path / "jwks.json").write_text(json.dumps(client.get("/.well-known/jwks.json").get_json()))
    (tmp_path / "ok.jws").write_text(token)
    header, payload, sig = token.split(".")
    (tmp_path / "bad.jws").write_text(f"{header}.{payload[:-4]}AAAA.{sig}")
    runner = CliRunner()
    ok = runner.invoke(main, ["consents", "verify", str(tmp_path / "ok.jws"), "--jwks", str(tmp_path / "jwks.json")])
    assert ok.exit_code == 0 and consent["consent_id"] in ok.output and "签名有效" in ok.output
    bad = runner.invoke(main, ["consents", "verify", str(tmp_path / "bad.jws"), "--jwks", str(tmp_path / "jwks.json")])
    assert bad.exit_code == 1 and "验证失败" in bad.output


def test_a_registered_institution_is_found_where_location_says(client, login, make_user):
    login(make_user("operator"))
    resp = client.post("/api/v1/institutions", json={"name": "定位农商银行", "licence_no": "B4321H1", "kind": "rural_bank"})
    assert resp.status_code == 201
    assert resp.headers["Location"].endswith("/api/v1/institutions/B4321H1")
    read = client.get(resp.headers["Location"])
    assert read.status_code == 200 and read.get_json()["name"] == "定位农商银行"
    assert client.get("/api/v1/institutions/B0000H0").status_code == 404
