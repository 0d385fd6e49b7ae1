"""The subscriptions and alerts API: who may subscribe to whom, and who sees which alerts."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.accounts.models import Institution
from app.core import signals
from app.oauth.services import register_bank_client
from consent.models import ConsentStatus
from tests.monitoring.conftest import add_consent, dispatch


def bank_token(client: FlaskClient, db: Session, institution: Institution, scope: str = "monitoring") -> str:
    oauth, secret = register_bank_client(db, institution, name="监测客户端", redirect_uris=["https://bank.example.com/cb"])
    basic = base64.b64encode(f"{oauth.client_id}:{secret}".encode()).decode()
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": scope},
                       headers={"Authorization": f"Basic {basic}"}, base_url="https://localhost")
    assert resp.status_code == 200, resp.get_json()
    return str(resp.get_json()["access_token"])


def downgrade(db: Session, firm: Any) -> None:
    signals.grades_changed.send(None, session=db, changes=[{
        "enterprise_id": firm.id, "old_grade": "AAA", "new_grade": "AA", "old_score": "91.00", "new_score": "86.00",
        "as_of": "2026-11-18"}])
    dispatch(db)


def test_nobody_gets_401_with_both_challenges_bearer_first(client: FlaskClient) -> None:
    for method, path in [("get", "/api/v1/subscriptions"), ("post", "/api/v1/subscriptions"),
                         ("get", "/api/v1/alerts"), ("post", "/api/v1/alerts/read")]:
        resp = getattr(client, method)(path, json={"uscc": "x"})
        assert resp.status_code == 401, path
        assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
        assert resp.mimetype == "application/problem+json"


def test_a_bank_system_subscribes_under_its_consent_and_reads_its_alerts(
        client: FlaskClient, db: Session, make_enterprise: Any, make_bank: Any) -> None:
    firm = make_enterprise()
    inst, _ = make_bank()
    token = bank_token(client, db, inst)
    auth = {"Authorization": f"Bearer {token}"}
    refused = client.post("/api/v1/subscriptions", json={"uscc": firm.uscc}, headers=auth, base_url="https://localhost")
    assert refused.status_code == 403 and refused.get_json()["code"] == "consent_required"
    assert refused.get_json()["errors"] == {"uscc": ["该企业未向本机构授予此项授权。"]}
    paused = add_consent(db, firm, inst, status=ConsentStatus.paused)
    refused = client.post("/api/v1/subscriptions", json={"uscc": firm.uscc}, headers=auth, base_url="https://localhost")
    assert refused.get_json()["errors"]["uscc"] == [f"该授权（{paused.consent_id}）当前为「已暂停」。"]
    add_consent(db, firm, inst)
    resp = client.post("/api/v1/subscriptions", json={"uscc": firm.uscc, "events": ["grade.downgraded"]},
                       headers=auth, base_url="https://localhost")
    assert resp.status_code == 201, resp.get_json()
    sub = resp.get_json()
    assert sub["uscc"] == firm.uscc and sub["events"] == ["grade.downgraded"] and sub["kind"] == "bank"
    assert resp.headers["Location"].endswith(f"/api/v1/subscriptions/{sub['id']}")
    again = client.post("/api/v1/subscriptions", json={"uscc": firm.uscc, "events": []}, headers=auth,
                        base_url="https://localhost")
    assert again.status_code == 200 and again.get_json()["id"] == sub["id"]
    downgrade(db, firm)
    alerts = client.get("/api/v1/alerts", headers=auth, base_url="https://localhost").get_json()
    assert [a["type"] for a in alerts["items"]] == ["grade.downgraded"] and alerts["unread"] == 1
    assert alerts["items"][0]["payload"]["data"]["to"] == "AA"
    marked = client.post("/api/v1/alerts/read", json={"ids": [alerts["items"][0]["id"]]}, headers=auth,
                         base_url="https://localhost")
    assert marked.get_json() == {"marked": 1}
    ended = client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=auth, base_url="https://localhost")
    assert ended.status_code == 200 and ended.get_json()["ended_at"]
    assert client.get("/api/v1/subscriptions", headers=auth, base_url="https://localhost").get_json()["items"] == []


def test_a_token_without_the_monitoring_scope_is_refused(client: FlaskClient, db: Session, make_bank: Any) -> None:
    inst, _ = make_bank()
    token = bank_token(client, db, inst, scope="consents:write")
    resp = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}, base_url="https://localhost")
    assert resp.status_code == 403 and resp.get_json()["code"] == "insufficient_scope"
    assert 'scope="monitoring"' in resp.headers["WWW-Authenticate"]  # RFC 6750 §3: the scope it needs
    assert "本接口需要范围 monitoring" in resp.get_json()["detail"]


def test_another_bank_sees_neither_the_subscription_nor_the_alerts(
        client: FlaskClient, db: Session, make_enterprise: Any, make_bank: Any) -> None:
    firm = make_enterprise()
    inst, _ = make_bank()
    other, _ = make_bank()
    add_consent(db, firm, inst)
    mine = {"Authorization": f"Bearer {bank_token(client, db, inst)}"}
    theirs = {"Authorization": f"Bearer {bank_token(client, db, other)}"}
    sub = client.post("/api/v1/subscriptions", json={"uscc": firm.uscc}, headers=mine,
                      base_url="https://localhost").get_json()
    downgrade(db, firm)
    assert client.get(f"/api/v1/subscriptions/{sub['id']}", headers=theirs,
                      base_url="https://localhost").status_code == 404
    assert client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=theirs,
                         base_url="https://localhost").status_code == 404
    assert client.get("/api/v1/alerts", headers=theirs, base_url="https://localhost").get_json()["items"] == []
    assert len(client.get("/api/v1/alerts", headers=mine, base_url="https://localhost").get_json()["items"]) == 1


def test_a_firm_user_subscribes_to_itself_only(client: FlaskClient, db: Session, make_enterprise: Any,
                                               make_user: Any, login: Any) -> None:
    own, other = make_enterprise(), make_enterprise()
    login(make_user("firm", own))
    assert client.post("/api/v1/subscriptions", json={"uscc": other.uscc}).status_code == 403
    resp = client.post("/api/v1/subscriptions", json={"uscc": own.uscc})
    assert resp.status_code == 201
    downgrade(db, own)
    downgrade(db, other)
    items = client.get("/api/v1/alerts").get_json()["items"]
    assert [a["uscc"] for a in items] == [own.uscc]


@pytest.mark.parametrize(("body", "field"), [
    ({"uscc": "91330106MA2B3C4D5X", "events": ["nonsense"]}, "events[0]"),
    ({"uscc": "not-a-code"}, "uscc"),
    ({"uscc": "91330106MA2B3C4D5X", "min_severity": 9}, "min_severity"),
    ({"events": []}, "uscc"),
])
def test_bad_subscription_requests_name_the_field(client: FlaskClient, make_enterprise: Any, make_user: Any,
                                                  login: Any, body: dict[str, Any], field: str) -> None:
    login(make_user("firm", make_enterprise()))
    resp = client.post("/api/v1/subscriptions", json=body)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert field in resp.get_json()["errors"]
