"""Operators register a procurement institution (API and CLI), its system's OAuth client
(client credentials, scope ``screening:write``, no redirect URI needed) and tenderer users;
and a screening is a handful of set-based queries whatever the number of bidders."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask.testing import FlaskClient

from app.accounts.models import User
from app.cli import main
from app.oauth.models import OAuthClient
from app.procurement.models import Screening, ScreeningBidder
from consent.models import QueryLog
from tests.consent.conftest import REDIRECT, basic, bearer


def test_an_operator_registers_a_procurement_institution_and_its_client(client: FlaskClient, login: Any,
                                                                        make_user: Any) -> None:
    login(make_user("operator"))
    made = client.post("/api/v1/institutions", json={"name": "某电力集团电子商务平台", "licence_no": "PROC0001",
                                                      "kind": "procurement"})
    assert made.status_code == 201 and made.get_json()["kind"] == "procurement"
    oauth = client.post("/api/v1/institutions/PROC0001/clients", json={"name": "招标采购系统", "redirect_uris": []})
    assert oauth.status_code == 201, oauth.get_json()
    body = oauth.get_json()
    assert (body["scope"], body["grant_types"], body["redirect_uris"]) == ("screening:write", ["client_credentials"], [])
    token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic(body["client_id"], body["client_secret"])).get_json()
    assert token["scope"] == "screening:write"
    assert client.get("/api/v1/screenings", headers=bearer(token["access_token"])).status_code == 200
    # no consent requests, no reports, no monitoring for a procurement system
    for scope in ("consents:write", "monitoring", "report:identity"):
        refused = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": scope},
                              headers=basic(body["client_id"], body["client_secret"]))
        assert refused.status_code == 400, scope
    # a bank still needs a redirect URI, and gets no screening scope
    client.post("/api/v1/institutions", json={"name": "某银行", "licence_no": "B7777H1"})
    bank = client.post("/api/v1/institutions/B7777H1/clients", json={"name": "信贷系统", "redirect_uris": []})
    assert bank.status_code == 422 and bank.get_json()["errors"] == {"redirect_uris": ["至少登记一个回调地址。"]}
    bank = client.post("/api/v1/institutions/B7777H1/clients", json={"name": "信贷系统", "redirect_uris": [REDIRECT]})
    assert "screening:write" not in bank.get_json()["scope"].split()


def test_the_cli_registers_the_tenderer_side(fresh_databases: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                             app: Any) -> None:
    url = fresh_databases.new()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path))
    runner = CliRunner()
    added = runner.invoke(main, ["institutions", "add", "--name", "某电力集团电子商务平台", "--licence", "PROC0002",
                                 "--kind", "procurement"])
    assert added.exit_code == 0, added.output
    client = runner.invoke(main, ["institutions", "add-client", "--institution", "PROC0002", "--name", "招标采购系统",
                                  "--redirect-uri", "https://ecp.example.com/cb"])
    assert client.exit_code == 0 and "client_secret" in client.output
    user = runner.invoke(main, ["users", "add", "--username", "zb-zhang", "--role", "tenderer", "--institution",
                                "PROC0002", "--password", "correct-horse-battery"])
    assert user.exit_code == 0, user.output
    wrong = runner.invoke(main, ["users", "add", "--username", "zb-li", "--role", "tenderer", "--password",
                                 "correct-horse-battery"])
    assert wrong.exit_code == 1 and "institution" in wrong.output
    runner.invoke(main, ["institutions", "add", "--name", "某银行", "--licence", "B8888H1"])
    not_procurement = runner.invoke(main, ["users", "add", "--username", "zb-wang", "--role", "tenderer",
                                           "--institution", "B8888H1", "--password", "correct-horse-battery"])
    assert not_procurement.exit_code == 1 and "招标采购单位" in not_procurement.output
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        scope = conn.execute(sa.select(OAuthClient.scope)).scalar_one()
        role = conn.execute(sa.select(User.role).where(User.username == "zb-zhang")).scalar_one()
    engine.dispose()
    assert (scope, role) == ("screening:write", "tenderer")


def test_a_screening_is_a_handful_of_queries(tender: Any, make_enterprise: Any, grade: Any, statements: list[str],
                                             certificate: Any, db: Any) -> None:
    """The same statements for 60 bidders as for 120 (set-based, not per firm); every firm logged."""
    rules = {"min_grade": "BB", "max_open_dishonest": 1, "serious_penalty_years": 3, "max_serious_penalties": 0,
             "certificate_required": True}

    def count(n: int) -> int:
        firms = [make_enterprise() for _ in range(n)]
        for firm in firms:
            grade(firm, "A")
        certificate(firms[0])
        token = tender.token()
        statements.clear()
        resp = tender.screen([f.uscc for f in firms], rules, token=token)
        assert resp.status_code == 201
        sent = len(statements)
        logs = db.scalars(sa.select(QueryLog).where(QueryLog.resource == f"screening:{resp.headers['X-Screening-No']}")
                          .order_by(QueryLog.enterprise_id)).all()
        assert [(q.enterprise_id, q.consent_pk, q.sections, str(q.purpose)) for q in logs] == [
            (f.id, None, [], "bid_qualification") for f in sorted(firms, key=lambda f: f.id)]
        bidders = db.scalars(sa.select(ScreeningBidder.query_log_id).join(Screening).where(
            Screening.screening_no == resp.headers["X-Screening-No"]).order_by(ScreeningBidder.query_log_id)).all()
        assert bidders == sorted(q.id for q in logs)
        return sent

    few, many = count(60), count(120)  # (from 50 rows PostgreSQL is sent COPY: both sizes alike)
    assert few == many
    assert many < 40
