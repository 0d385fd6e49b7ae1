"""The webhook API and pages: the contracts of the issue, SSRF refusals as problem+json naming
``url``, tenancy (another party's endpoint is a 404, operators own none) and the console."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from app.accounts.models import Institution
from app.monitoring.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint
from app.oauth.services import register_client

URL = "https://hooks.example.com/powercredit"


def _create(client: Any, **body: Any) -> Any:
    return client.post("/api/v1/webhook-endpoints", json={"url": URL, "events": [], "description": "贷后", **body})


def test_register_read_rotate_ping_and_the_delivery_log(client, db, make_user, login):
    login(make_user("bank"))
    resp = _create(client, events=["grade.downgraded", "list.entered"])
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["id"].startswith("ep_") and body["secret"].startswith("whsec_")
    assert resp.headers["Location"].endswith(f"/api/v1/webhook-endpoints/{body['id']}")
    assert body["events"] == ["grade.downgraded", "list.entered"] and body["status"] == "active"

    listed = client.get("/api/v1/webhook-endpoints").get_json()
    assert [e["id"] for e in listed["items"]] == [body["id"]] and "secret" not in listed["items"][0]
    detail = client.get(f"/api/v1/webhook-endpoints/{body['id']}")
    assert detail.status_code == 200 and "secret" not in detail.get_json()

    rotated = client.post(f"/api/v1/webhook-endpoints/{body['id']}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.get_json()["secret"].startswith("whsec_") and rotated.get_json()["secret"] != body["secret"]
    assert rotated.get_json()["previous_secret_expires_at"]

    pinged = client.post(f"/api/v1/webhook-endpoints/{body['id']}/ping")
    assert pinged.status_code == 202 and pinged.get_json()["status"] == "pending"
    log = client.get(f"/api/v1/webhook-endpoints/{body['id']}/deliveries").get_json()
    assert [d["id"] for d in log["items"]] == [pinged.get_json()["id"]]
    assert log["items"][0]["event_type"] == "webhook.ping" and log["items"][0]["attempts"] == []

    replay = client.post(f"/api/v1/deliveries/{pinged.get_json()['id']}/replay")
    assert replay.status_code == 409  # still pending
    db.execute(sa.update(WebhookDelivery).values(status=DeliveryStatus.dead))
    replay = client.post(f"/api/v1/deliveries/{pinged.get_json()['id']}/replay")
    assert replay.status_code == 201
    assert replay.get_json()["replay_of"] == pinged.get_json()["id"] and replay.get_json()["status"] == "pending"
    assert replay.headers["Location"].endswith(f"/api/v1/deliveries/{replay.get_json()['id']}")
    one = client.get(replay.headers["Location"])
    assert one.status_code == 200 and one.get_json()["id"] == replay.get_json()["id"]
    assert client.get(f"/api/v1/deliveries/{pinged.get_json()['id']}").get_json()["status"] == "dead"
    dead = client.get(f"/api/v1/webhook-endpoints/{body['id']}/deliveries?status=dead").get_json()
    assert dead["meta"]["total"] == 1


@pytest.mark.parametrize("url", [
    "http://hooks.example.com/x",  # plain http
    "https://127.0.0.1/x", "https://127.1/x", "https://2130706433/x", "https://[::1]/x",  # loopback
    "https://10.0.0.8/x", "https://192.168.1.1/x", "https://172.16.0.1/x",  # private
    "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
    "https://224.0.0.1/x", "https://[ff02::1]/x",  # multicast
    "https://240.0.0.1/x", "https://0.0.0.0/x", "https://[::]/x",  # reserved, unspecified
    "https://[::ffff:127.0.0.1]/x", "https://[2002:a00:1::]/x",  # IPv4-mapped, 6to4
    "https://localhost/x", "https://api.localhost/x",  # localhost names
    "https://user:pass@hooks.example.com/x",  # credentials
    "ftp://hooks.example.com/x", "gopher://hooks.example.com/x", "file:///etc/passwd",  # odd schemes
])
def test_forbidden_urls_are_refused_at_registration_naming_the_field(client, make_user, login, url):
    login(make_user("bank"))
    resp = _create(client, url=url)
    assert resp.status_code == 400, (url, resp.get_json())
    assert resp.content_type == "application/problem+json"
    assert list(resp.get_json()["errors"]) == ["url"]
    assert client.get("/api/v1/webhook-endpoints").get_json()["meta"]["total"] == 0


def test_bad_bodies_are_problems_naming_the_field(client, make_user, login):
    login(make_user("bank"))
    for body, field in (({"events": ["grade.sideways"]}, "events"), ({"url": 5}, "url"), ({"colour": "red"}, "colour"),
                        ({"description": "x" * 501}, "description")):
        resp = _create(client, **body)
        assert resp.status_code == 422 and resp.content_type == "application/problem+json"
        assert any(k.startswith(field) for k in resp.get_json()["errors"]), resp.get_json()


def test_another_bank_sees_a_404_and_an_operator_cannot_register(app, client, db, make_user, login):
    login(make_user("bank"))
    created = _create(client).get_json()
    delivery = client.post(f"/api/v1/webhook-endpoints/{created['id']}/ping").get_json()
    db.execute(sa.update(WebhookDelivery).values(status=DeliveryStatus.dead))
    login(make_user("bank"))
    for method, path in (("get", f"/api/v1/webhook-endpoints/{created['id']}"),
                         ("post", f"/api/v1/webhook-endpoints/{created['id']}/ping"),
                         ("post", f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret"),
                         ("get", f"/api/v1/webhook-endpoints/{created['id']}/deliveries"),
                         ("get", f"/api/v1/deliveries/{delivery['id']}"),
                         ("post", f"/api/v1/deliveries/{delivery['id']}/replay")):
        resp = getattr(client, method)(path)
        assert resp.status_code == 404, (path, resp.get_json())
    assert client.get("/api/v1/webhook-endpoints").get_json()["meta"]["total"] == 0
    login(make_user("operator"))
    assert _create(client).status_code == 403
    assert client.post(f"/api/v1/deliveries/{delivery['id']}/replay").status_code == 201  # operators replay any
    assert client.get(f"/api/v1/deliveries/{delivery['id']}").status_code == 200  # and read any
    assert client.post(f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret").status_code == 404


def test_anonymous_is_asked_to_sign_in(app):
    resp = app.test_client().get("/api/v1/webhook-endpoints")
    assert resp.status_code == 401 and "Bearer" in resp.headers["WWW-Authenticate"]


def test_a_bank_system_registers_with_a_monitoring_token(client, db, make_user, token_for):
    bank = make_user("bank")
    oauth_client, secret = register_client(db, name="贷后系统", scope="monitoring", grant_types=["client_credentials"],
                                           institution_id=bank.institution_id)
    token = token_for(oauth_client, secret, "monitoring")
    resp = client.post("/api/v1/webhook-endpoints", json={"url": URL, "events": [], "description": ""},
                       headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 201, resp.get_json()
    ep = db.scalars(sa.select(WebhookEndpoint).where(WebhookEndpoint.endpoint_id == resp.get_json()["id"])).one()
    assert ep.institution_id == bank.institution_id and ep.created_by.startswith("client:")


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_the_owner_s_page_shows_the_secret_once_and_the_console_replays_dead_ones(
        client, db, make_user, login: Callable[..., None]):
    login(make_user("bank"))
    page = client.get("/monitoring/webhooks")
    assert page.status_code == 200 and "登记新端点" in page.get_data(as_text=True)
    token = _csrf(page.get_data(as_text=True))
    made = client.post("/monitoring/webhooks", data={"url": URL, "description": "页面登记", "events": ["grade.downgraded"],
                                                     "csrf_token": token})
    html = made.get_data(as_text=True)
    assert made.status_code == 201 and "只显示这一次" in html
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", html)
    assert secret is not None
    again = client.get("/monitoring/webhooks").get_data(as_text=True)
    assert secret.group() not in again and "页面登记" in again  # shown once
    refused = client.post("/monitoring/webhooks", data={"url": "https://10.0.0.1/x", "csrf_token": token})
    assert refused.status_code == 400 and "私有网络地址" in refused.get_data(as_text=True)

    ep = db.scalars(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc())).first()
    assert ep is not None
    detail = client.get(f"/monitoring/webhooks/{ep.endpoint_id}").get_data(as_text=True)
    assert "data-confirm" in detail and "轮换签名密钥" in detail and " onclick=" not in detail
    assert "首次失败后 5 秒、5 分钟、30 分钟、2 小时" in detail and "0:00:05" not in detail
    assert 'value="index.warning"' not in page.get_data(as_text=True)  # a bank never receives index warnings
    client.post(f"/monitoring/webhooks/{ep.endpoint_id}/ping", data={"csrf_token": token})
    db.execute(sa.update(WebhookDelivery).values(status=DeliveryStatus.dead, last_error="接收方返回 HTTP 500"))
    delivery = db.scalars(sa.select(WebhookDelivery)).one()

    login(make_user("operator"))
    console = client.get("/console/webhooks")
    text = console.get_data(as_text=True)
    assert console.status_code == 200 and delivery.message_id in text and "重放" in text
    resp = client.post(f"/monitoring/deliveries/{delivery.message_id}/replay", data={"csrf_token": _csrf(text)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/webhooks")
    assert db.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.replay_of == delivery.id)).one().status == \
        DeliveryStatus.pending
    assert client.get("/monitoring/webhooks").status_code in (401, 403)  # the owners' page is not the console's

    # Once the owner has disabled the endpoint, the console says so and whose it is, and the
    # operator cannot replay into it (enabling it is the owner's decision).
    owner_name = db.get(Institution, ep.institution_id).name
    ep.status = EndpointStatus.disabled
    db.flush()
    text = client.get("/console/webhooks").get_data(as_text=True)
    assert owner_name in text and "已停用" in text and "须由其所有者启用后才能重放" in text
    resp = client.post(f"/monitoring/deliveries/{delivery.message_id}/replay", data={"csrf_token": _csrf(text)},
                       follow_redirects=True)
    assert "须由其所有者启用端点后才能重放" in resp.get_data(as_text=True)
    assert db.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)
                     .where(WebhookDelivery.replay_of == delivery.id)) == 1  # no second replay
