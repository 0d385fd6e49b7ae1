"""The OpenAPI document is a true contract: schemathesis generates requests for every
operation of ``/api/openapi.json`` and sends them to the app in-process, as an anonymous
caller, a bank's system (OAuth bearer token) and the people signed in (session cookie with
its CSRF header): a bank officer, a firm's administrator and an operator. No answer is a server error, and every answer is one the document describes:
its status, its content type and its body's schema.

The app serves a small demo (20 firms: records, grades, consents, reports, products,
applications, offers, lists, objections, repairs) seeded once per backend in a database of
its own; every test runs in a transaction rolled back at the end, so what the generated
writes do is undone and no other test sees it. Bounded and deterministic: a few examples per
operation and caller, derandomised, no example database.

``PC_CONTRACT_STATS=FILE`` appends one line per request answered as documented (caller,
operation, status)."""

from __future__ import annotations

import base64
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from app import create_app
from app.cli import main
from tests.conftest import DEMO_PASSWORD, FreshDatabases, kept, rolled_back

FIRMS = 20
# Per operation and caller (110 operations × 5 callers, on each backend); PC_CONTRACT_EXAMPLES=N
# for a longer hunt.
EXAMPLES = int(os.environ.get("PC_CONTRACT_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
STATS = os.environ.get("PC_CONTRACT_STATS")


def _document() -> dict[str, Any]:
    """The document as the app serves it (writing it touches no database)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"database_url": f"sqlite:///{tmp}/unused.db", "instance_path": tmp,
                          "secret_key": "contract", "testing": True, "issuer": "http://localhost"})
        doc = app.test_client().get("/api/openapi.json").get_json()
        app.extensions["pc_db"].dispose()
    return doc  # type: ignore[no-any-return]


schema = schemathesis.openapi.from_dict(_document(), config=schemathesis.Config.from_dict({
    "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
}))


@dataclass
class Site:
    app: Flask
    seed_output: str


@pytest.fixture(scope="session")
def site(backend: str, fresh_databases: FreshDatabases, tmp_path_factory: pytest.TempPathFactory) -> Site:
    def make() -> Site:
        url = fresh_databases.new()
        instance = tmp_path_factory.mktemp(f"contract-{backend}")
        mp = pytest.MonkeyPatch()
        mp.setenv("DATABASE_URL", url)
        mp.setenv("PC_INSTANCE_PATH", str(instance))
        try:
            result = CliRunner().invoke(main, ["seed", "--firms", str(FIRMS), "--seed", "2026",
                                               "--password", DEMO_PASSWORD])
            assert result.exit_code == 0, result.output
            signed = CliRunner().invoke(main, ["audit", "sign-head"])  # as scripts/run.sh does: proofs to ask for
            assert signed.exit_code == 0, signed.output
        finally:
            mp.undo()
        app = create_app({"database_url": url, "instance_path": instance, "secret_key": "contract-key",
                          "testing": True, "issuer": "http://localhost"})
        return Site(app, result.output)

    return kept("contract", backend, make, lambda s: s.app.extensions["pc_db"].dispose())  # type: ignore[no-any-return]


@dataclass
class Caller:
    name: str
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)  # a signed-in session
    bound_headers: dict[str, str] = field(default_factory=dict)  # a consent-bound token (reports, data fetch)
    client_headers: dict[str, str] = field(default_factory=dict)  # its OAuth client's credentials (/oauth/…)
    known: dict[str, Any] = field(default_factory=dict)  # path parameters naming things that exist


def _csrf(http: Any) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").get_data(as_text=True))
    assert found is not None
    return found.group(1)


def _sign_in(app: Flask, username: str) -> tuple[dict[str, str], dict[str, str]]:
    http = app.test_client()
    resp = http.post("/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": _csrf(http)})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    cookie = http.get_cookie("session")
    assert cookie is not None
    return {"X-CSRFToken": _csrf(http)}, {"session": cookie.value}


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _token(app: Flask, client_id: str, secret: str, **data: str) -> dict[str, str]:
    resp = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials", **data},
                                  headers=_basic(client_id, secret))
    assert resp.status_code == 200, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


def _first(db: Session, *queries: str, **params: Any) -> Any:
    """The first value the first query that finds one finds."""
    for sql in queries:
        value = db.execute(sa.text(sql + " ORDER BY id LIMIT 1"), params).scalar()
        if value is not None:
            return value
    return None


def _known(db: Session, role: str, institution_id: int, firm_id: int) -> dict[str, Any]:
    """One of each thing the demo has, the caller's own where it matters: the demo firm's
    (a pending consent first) for the firm, the demo bank's for the bank and everyone else."""
    firm = role == "firm"
    mine = "enterprise_id = :e" if firm else "institution_id = :i"
    ids = {"e": firm_id, "i": institution_id}
    found = {
        "uscc": _first(db, "SELECT uscc FROM enterprise WHERE id = :e", **ids),
        "run_id": _first(db, "SELECT id FROM ingestion_run"),
        "supervision_class": "C",
        "version": _first(db, "SELECT scorecard_version FROM evaluation"),
        "consent_id": _first(db, f"SELECT consent_id FROM consent WHERE {mine} AND status = "
                                 f"'{'PENDING' if firm else 'ACTIVE'}'", f"SELECT consent_id FROM consent WHERE {mine}", **ids),
        "licence_no": _first(db, "SELECT licence_no FROM institution WHERE id = :i", **ids),
        "report_no": _first(db, f"SELECT report_no FROM report WHERE {mine}", "SELECT report_no FROM report", **ids),
        "product_no": _first(db, "SELECT product_no FROM loan_product WHERE institution_id = :i", **ids),
        "application_no": _first(db, f"SELECT application_no FROM loan_application WHERE {mine}",
                                 "SELECT application_no FROM loan_application", **ids),
        "offer_no": _first(db, f"SELECT offer_no FROM credit_offer WHERE {mine}", "SELECT offer_no FROM credit_offer", **ids),
        "name": "black",
        "entry_id": _first(db, "SELECT id FROM list_entry WHERE enterprise_id = :e", "SELECT id FROM list_entry", **ids),
        "objection_no": _first(db, "SELECT objection_no FROM objection WHERE enterprise_id = :e",
                               "SELECT objection_no FROM objection", **ids),
        "request_no": _first(db, "SELECT request_no FROM repair_request WHERE enterprise_id = :e",
                             "SELECT request_no FROM repair_request", **ids),
        "commitment_no": _first(db, "SELECT commitment_no FROM signed_commitment WHERE enterprise_id = :e",
                                "SELECT commitment_no FROM signed_commitment", **ids),
        "file_id": _first(db, "SELECT id FROM evidence_file"),
        "head_id": _first(db, "SELECT id FROM audit_tree_head"),
        "username": "firm",
    }
    return {key: value for key, value in found.items() if value is not None}


# The callers: nobody; a bank's system (OAuth client: a token with consents:write, and one bound
# to a consent for the report scopes); and people signed in (session cookie and X-CSRFToken):
# the bank's officer, the firm's administrator and an operator (the demo's accounts).
CALLERS = ["anonymous", "bank", "officer", "firm", "operator"]
ACCOUNTS = {"officer": "bank", "firm": "firm", "operator": "operator"}


@pytest.fixture(params=CALLERS)
def caller(request: pytest.FixtureRequest, site: Site) -> Iterator[Caller]:
    """Who calls, signed in or holding tokens in the test's transaction, and what exists
    for it to name."""
    with rolled_back(site.app) as db:
        bank = re.search(r"金融机构 (\S+) 客户端：client_id=(\S+) client_secret=(\S+)", site.seed_output)
        consent = re.search(r"演示授权（[^）]*）：(cst_\w+)（已生效", site.seed_output)
        assert bank is not None and consent is not None, site.seed_output
        licence, client_id, secret = bank.groups()
        institution_id = _first(db, "SELECT id FROM institution WHERE licence_no = :l", l=licence)
        firm_id = _first(db, "SELECT enterprise_id FROM app_user WHERE username = 'firm'")
        who = Caller(request.param, known=_known(db, request.param, institution_id, firm_id))
        if request.param == "bank":
            who.headers = _token(site.app, client_id, secret, scope="consents:write")
            who.bound_headers = _token(site.app, client_id, secret, consent_id=consent.group(1))
            who.client_headers = _basic(client_id, secret)
        elif request.param in ACCOUNTS:
            who.headers, who.cookies = _sign_in(site.app, ACCOUNTS[request.param])
        yield who


@schema.parametrize()
@schema.given(name_known=st.booleans())
@settings(suppress_health_check=list(HealthCheck), deadline=None, derandomize=True, database=None)
def test_every_operation_keeps_its_contract(case: Any, name_known: bool, site: Site, caller: Caller) -> None:
    if name_known:  # half the cases name things that exist, so that the views get past their 404s
        for key in case.path_parameters or {}:
            if key in caller.known:
                case.path_parameters[key] = caller.known[key]
    security = case.operation.definition.raw.get("security", [])
    if any("clientBasic" in req for req in security):  # the OAuth endpoints: the client authenticates
        headers = caller.client_headers
    elif any(req.get("oauth2") == [] for req in security):  # a report scope: the consent-bound token
        headers = caller.bound_headers or caller.headers
    else:
        headers = caller.headers
    response = case.call_and_validate(app=site.app, headers=headers, cookies=caller.cookies, checks=CHECKS)
    if STATS:
        with open(STATS, "a", encoding="utf-8") as out:
            out.write(f"{caller.name}\t{case.operation.label}\t{response.status_code}\n")
