"""Webhook delivery against a real receiver on 127.0.0.1 that verifies every request with
``standardwebhooks`` as a receiver would: signatures, rotation, retries with backoff to the
dead letter and replay, 410 Gone, SSRF at send time, the consent check before sending, and
two consumers at once."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from sqlalchemy.orm import Session

from app.accounts.services import create_institution
from app.core import clock, jobs
from app.core.config import Settings
from app.core.crypto import FieldCipher
from app.core.db import Database
from app.core.errors import Forbidden, InvalidInput, NotFound
from app.core.jobs import Runtime
from app.monitoring import ssrf, webhooks
from app.monitoring.models import (
    WEBHOOK_PING,
    Alert,
    DeliveryAttempt,
    DeliveryStatus,
    EndpointStatus,
    MonitoringEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.monitoring.parties import Party, party_of_user
from tests.conftest import FreshDatabases
from tests.monitoring.webhook_rig import Receiver, start_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rig = start_receiver()
    yield rig
    webhooks.close_pools()
    rig.server.shutdown()
    rig.server.server_close()


@pytest.fixture
def hook_settings(app: Flask) -> Settings:
    """A test rig's settings: plain http and 127.0.0.1 allowed."""
    return dataclasses.replace(app.extensions["pc_settings"], webhook_allow_http=True, webhook_allow_private=True,
                               webhook_timeout=5)


@pytest.fixture
def runtime(app: Flask, db: Session, hook_settings: Settings) -> Runtime:
    return Runtime(app.extensions["pc_db"], hook_settings)


@pytest.fixture
def bank(make_user: Callable[..., Any]) -> Party:
    return party_of_user(make_user("bank"))


def deliver(runtime: Runtime, cipher: FieldCipher, db: Session, **kw: Any) -> int:
    done = webhooks.deliver_due(runtime, cipher=cipher, **kw)
    db.expire_all()
    return done


def attempts_of(db: Session, delivery: WebhookDelivery) -> list[DeliveryAttempt]:
    return list(db.scalars(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_pk == delivery.id)
                           .order_by(DeliveryAttempt.attempt)))


def test_a_delivery_is_signed_as_standard_webhooks_says_and_verifies(db, cipher, bank, receiver, runtime,
                                                                      hook_settings):
    ep, secret = webhooks.create_endpoint(db, cipher, bank, url=receiver.url(), events=[], description="贷后",
                                          settings=hook_settings)
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret not in ep.secret and ep.secret.startswith(cipher.ring.active + ":")  # encrypted at rest
    assert cipher.decrypt(ep.secret, table="webhook_endpoint", column="secret", row=ep.endpoint_id) == secret

    delivery = webhooks.ping(db, bank, ep.endpoint_id)
    assert delivery.status == DeliveryStatus.pending and delivery.message_id.startswith("msg_")
    assert deliver(runtime, cipher, db) == 1

    [got] = receiver.received
    assert got.verifies_with(secret)
    assert not got.verifies_with(webhooks.new_secret())
    assert got.headers["webhook-id"] == delivery.message_id
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("PowerCredit-Webhooks/")
    assert abs(int(got.headers["webhook-timestamp"]) - clock.now().timestamp()) < 60
    assert got.body.decode() == delivery.body
    payload = got.json()
    assert payload["type"] == WEBHOOK_PING and payload["data"]["endpoint_id"] == ep.endpoint_id
    assert set(payload) == {"type", "timestamp", "data"}

    db.refresh(delivery)
    assert delivery.status == DeliveryStatus.succeeded and delivery.attempts == 1
    assert delivery.delivered_at is not None and delivery.locked_until is None
    [attempt] = attempts_of(db, delivery)
    assert attempt.status_code == 204 and attempt.error is None
    assert deliver(runtime, cipher, db) == 0  # nothing sent twice
    assert len(receiver.received) == 1


def test_after_a_rotation_both_secrets_verify_for_a_day_then_only_the_new(db, cipher, bank, receiver, runtime,
                                                                           hook_settings):
    ep, old = webhooks.create_endpoint(db, cipher, bank, url=receiver.url(), events=[], description="",
                                       settings=hook_settings)
    _, new = webhooks.rotate_secret(db, cipher, bank, ep.endpoint_id)
    assert new != old and ep.previous_valid_until is not None
    assert ep.previous_valid_until - clock.now() <= dt.timedelta(hours=24)
    webhooks.ping(db, bank, ep.endpoint_id)
    deliver(runtime, cipher, db)
    during = receiver.received[-1]
    assert during.headers["webhook-signature"].count("v1,") == 2
    assert during.verifies_with(new) and during.verifies_with(old)

    with time_machine.travel(clock.now() + dt.timedelta(hours=24, minutes=1), tick=False):
        webhooks.ping(db, bank, ep.endpoint_id)
        deliver(runtime, cipher, db)
        after = receiver.received[-1]
        assert after.headers["webhook-signature"].count("v1,") == 1
        assert after.verifies_with(new)
        assert not after.verifies_with(old)


def test_a_failing_receiver_is_retried_with_backoff_then_dead_then_replayed(db, cipher, bank, receiver, runtime,
                                                                            hook_settings):
    receiver.answer = lambda r: 500
    ep, secret = webhooks.create_endpoint(db, cipher, bank, url=receiver.url(), events=[], description="",
                                          settings=hook_settings)
    delivery = webhooks.ping(db, bank, ep.endpoint_id)
    assert deliver(runtime, cipher, db) == 1
    db.refresh(delivery)
    assert delivery.status == DeliveryStatus.pending and delivery.attempts == 1
    for n, step in enumerate(webhooks.RETRY_SCHEDULE, start=1):
        last = attempts_of(db, delivery)[-1].at
        assert delivery.next_attempt_at is not None
        waited = delivery.next_attempt_at - last
        assert step * 0.9 <= waited <= step * 1.1, (n, waited, step)
        with time_machine.travel(delivery.next_attempt_at - dt.timedelta(seconds=1), tick=False):
            assert deliver(runtime, cipher, db) == 0  # not due yet
        with time_machine.travel(delivery.next_attempt_at + dt.timedelta(seconds=1), tick=False):
            assert deliver(runtime, cipher, db) == 1
        db.refresh(delivery)
        assert delivery.attempts == n + 1
    assert delivery.status == DeliveryStatus.dead and delivery.next_attempt_at is None
    assert delivery.last_status_code == 500 and "500" in (delivery.last_error or "")
    assert len(receiver.received) == webhooks.MAX_ATTEMPTS == 8
    assert set(receiver.ids()) == {delivery.message_id}  # the same webhook-id on every retry
    first, last_seen = attempts_of(db, delivery)[0].at, attempts_of(db, delivery)[-1].at
    assert dt.timedelta(hours=20) < last_seen - first < dt.timedelta(hours=32)  # about a day

    later = clock.now() + dt.timedelta(days=2)
    with time_machine.travel(later, tick=False):
        receiver.answer = lambda r: 200
        replayed = webhooks.replay(db, bank, delivery.message_id)
        assert replayed.replay_of == delivery.id and replayed.message_id != delivery.message_id
        assert deliver(runtime, cipher, db) == 1
        got = receiver.received[-1]
        assert got.headers["webhook-id"] == replayed.message_id and got.verifies_with(secret)
        assert got.body == delivery.body.encode()
        db.refresh(replayed)
        assert replayed.status == DeliveryStatus.succeeded
        with pytest.raises(Exception, match="只能重放"):
            webhooks.replay(db, bank, webhooks.ping(db, bank, ep.endpoint_id).message_id)  # pending: not yet


def test_410_gone_disables_the_endpoint(db, cipher, bank, receiver, runtime, hook_settings):
    receiver.answer = lambda r: 410
    ep, _ = webhooks.create_endpoint(db, cipher, bank, url=receiver.url(), events=[], description="",
                                     settings=hook_settings)
    first = webhooks.ping(db, bank, ep.endpoint_id)
    assert deliver(runtime, cipher, db, limit=1, max_rounds=1) == 1
    db.refresh(first)
    db.refresh(ep)
    assert first.status == DeliveryStatus.dead and first.last_status_code == 410
    assert ep.status == EndpointStatus.disabled
    endpoint = db.get(WebhookEndpoint, ep.id)
    assert endpoint is not None
    second = webhooks.queue_delivery(db, endpoint, event_type=WEBHOOK_PING, body={"type": WEBHOOK_PING})
    assert deliver(runtime, cipher, db) == 0
    assert len(receiver.received) == 1
    db.refresh(second)
    assert second.status == DeliveryStatus.pending and second.attempts == 0  # never sent to a disabled endpoint
    with pytest.raises(Exception, match="端点已停用"):
        webhooks.replay(db, bank, first.message_id)
    webhooks.set_status(db, bank, ep.endpoint_id, EndpointStatus.active)
    receiver.answer = lambda r: 204
    assert webhooks.replay(db, bank, first.message_id).status == DeliveryStatus.pending


def test_a_name_resolving_to_loopback_is_refused_at_send_time(db, cipher, bank, receiver, app, monkeypatch):
    strict = dataclasses.replace(app.extensions["pc_settings"], webhook_allow_http=True, webhook_allow_private=False)
    runtime = Runtime(app.extensions["pc_db"], strict)
    url = receiver.url(host="hooks.example.com")
    ep, _ = webhooks.create_endpoint(db, cipher, bank, url=url, events=[], description="", settings=strict)
    looked_up: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:  # public when registered, loopback when sent
        looked_up.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(ssrf, "system_resolver", rebinding)
    delivery = webhooks.ping(db, bank, ep.endpoint_id)
    assert deliver(runtime, cipher, db) == 1
    assert receiver.received == [] and looked_up == ["hooks.example.com"]
    db.refresh(delivery)
    [attempt] = attempts_of(db, delivery)
    assert attempt.status_code is None and "回环地址" in (attempt.error or "") and "未发送" in (attempt.error or "")
    assert delivery.status == DeliveryStatus.pending and delivery.next_attempt_at is not None  # retried later

    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["93.184.216.34", "10.1.2.3"])
    with time_machine.travel(delivery.next_attempt_at + dt.timedelta(seconds=1), tick=False):
        deliver(runtime, cipher, db)
    assert receiver.received == []
    assert "私有网络地址" in (attempts_of(db, delivery)[-1].error or "")  # any forbidden address refuses


def test_the_sender_connects_to_the_address_it_checked(db, cipher, bank, receiver, runtime, hook_settings,
                                                       monkeypatch):
    """The name is resolved once and the connection goes to that address (Host keeps the name)."""
    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["127.0.0.1"])
    ep, secret = webhooks.create_endpoint(db, cipher, bank, url=receiver.url("/in?x=1", host="hooks.example.com"),
                                          events=[], description="", settings=hook_settings)
    webhooks.ping(db, bank, ep.endpoint_id)
    deliver(runtime, cipher, db)
    [got] = receiver.received
    assert got.host == f"hooks.example.com:{receiver.port}" and got.path == "/in?x=1" and got.verifies_with(secret)


def test_a_redirect_is_not_followed(db, cipher, bank, receiver, runtime, hook_settings):
    receiver.answer = lambda r: 307 if r.path == "/hooks" else 204
    ep, _ = webhooks.create_endpoint(db, cipher, bank, url=receiver.url(), events=[], description="",
                                     settings=hook_settings)
    delivery = webhooks.ping(db, bank, ep.endpoint_id)
    deliver(runtime, cipher, db)
    db.refresh(delivery)
    assert [r.path for r in receiver.received] == ["/hooks"]
    assert delivery.status == DeliveryStatus.pending and delivery.last_status_code == 307


def _alert(db: Session, enterprise_id: int | None = None) -> Alert:
    event = MonitoringEvent(event_id=webhooks.new_id("evt_"), type="grade.downgraded", enterprise_id=enterprise_id,
                            data={"from": "AA", "to": "A"}, occurred_at=clock.now())
    db.add(event)
    db.flush()
    alert = Alert(alert_id=webhooks.new_id("alt_"), event_pk=event.id, type=event.type, title="等级下调",
                  payload={}, created_at=clock.now())
    db.add(alert)
    db.flush()
    return alert


def test_a_delivery_whose_consent_ended_is_withheld_never_sent(db, cipher, bank, receiver, runtime, hook_settings,
                                                              monkeypatch):
    from app.monitoring import services

    asked: list[str] = []
    allowed = {"yes": False}

    def allowed_deliveries(session: Session, deliveries: list[WebhookDelivery]) -> set[int]:
        asked.extend(d.message_id for d in deliveries)
        return {d.id for d in deliveries} if allowed["yes"] else set()

    monkeypatch.setattr(services, "allowed_deliveries", allowed_deliveries)
    ep, secret = webhooks.create_endpoint(db, cipher, bank, url=receiver.url(), events=[], description="",
                                          settings=hook_settings)
    body = webhooks.message_body("grade.downgraded", {"uscc": "x"})
    withheld = webhooks.queue_delivery(db, ep, alert=_alert(db), event_type="grade.downgraded", body=body)
    assert deliver(runtime, cipher, db) == 1
    db.refresh(withheld)
    assert asked == [withheld.message_id]
    assert withheld.status == DeliveryStatus.withheld and withheld.attempts == 0 and attempts_of(db, withheld) == []
    assert receiver.received == []
    assert deliver(runtime, cipher, db) == 0  # and it stays so
    assert receiver.received == []

    allowed["yes"] = True  # the same check lets one in force through
    sent = webhooks.queue_delivery(db, ep, alert=_alert(db), event_type="grade.downgraded", body=body)
    deliver(runtime, cipher, db)
    assert receiver.ids() == [sent.message_id] and receiver.received[0].verifies_with(secret)


def test_endpoint_owners_and_tenancy(db, cipher, bank, make_user, make_enterprise, hook_settings):
    ep, _ = webhooks.create_endpoint(db, cipher, bank, url="https://hooks.example.com/a", events=["grade.downgraded"],
                                     description="", settings=hook_settings)
    other = party_of_user(make_user("bank"))
    for look in (lambda: webhooks.get_endpoint(db, other, ep.endpoint_id),
                 lambda: webhooks.rotate_secret(db, cipher, other, ep.endpoint_id),
                 lambda: webhooks.ping(db, other, ep.endpoint_id),
                 lambda: webhooks.list_deliveries(db, other, ep.endpoint_id)):
        with pytest.raises(NotFound):
            look()
    assert webhooks.list_endpoints(db, other).total == 0
    operator = party_of_user(make_user("operator"))
    with pytest.raises(Forbidden):
        webhooks.create_endpoint(db, cipher, operator, url="https://hooks.example.com/b", events=[], description="",
                                 settings=hook_settings)
    assert webhooks.get_endpoint(db, operator, ep.endpoint_id) is ep  # operators read
    with pytest.raises(NotFound):
        webhooks.rotate_secret(db, cipher, operator, ep.endpoint_id)  # but own none
    firm = party_of_user(make_user("firm", make_enterprise()))
    mine, _ = webhooks.create_endpoint(db, cipher, firm, url="https://hooks.example.com/c", events=[], description="",
                                       settings=hook_settings)
    assert mine.subscriber_enterprise_id == firm.enterprise_id and mine.institution_id is None
    inst = create_institution(db, name="某电力集团财务公司", licence_no="G-TEST-1")
    group = Party("group", institution_id=inst.id, actor="user:group")
    theirs, _ = webhooks.create_endpoint(db, cipher, group, url="https://hooks.example.com/d", events=[],
                                         description="", settings=hook_settings)
    assert theirs.institution_id == inst.id
    with pytest.raises(InvalidInput) as refused:
        webhooks.create_endpoint(db, cipher, bank, url="https://hooks.example.com/e", events=["grade.sideways"],
                                 description="", settings=hook_settings)
    assert refused.value.errors is not None and "events" in refused.value.errors


def test_the_delivery_job_is_registered_as_a_sweep():
    job = jobs.registered()["monitoring.deliver"]
    assert job.sweep and job.label == "发送到期的 Webhook 推送"


def test_the_retry_schedule_is_about_a_day():
    assert webhooks.RETRY_SCHEDULE[0] == dt.timedelta(seconds=5)
    total = sum(webhooks.RETRY_SCHEDULE, dt.timedelta())
    assert dt.timedelta(hours=20) < total < dt.timedelta(hours=30)
    assert webhooks.next_delay(webhooks.MAX_ATTEMPTS) is None
    assert webhooks.next_delay(1, lambda a, b: b) == dt.timedelta(seconds=5.5)


def test_two_consumers_at_once_send_each_delivery_once(app: Flask, cipher: FieldCipher, receiver: Receiver,
                                                       fresh_databases: FreshDatabases, hook_settings: Settings):
    """Two deliver_due calls on their own connections, at the same time, against committed
    deliveries (SKIP LOCKED on PostgreSQL, the write lock on SQLite)."""
    database = Database(fresh_databases.new())
    try:
        with database.transaction() as session:
            inst = create_institution(session, name="并发测试银行", licence_no="B-CONCURRENT")
            party = Party("bank", institution_id=inst.id, actor="test")
            ep, secret = webhooks.create_endpoint(session, cipher, party, url=receiver.url(), events=[],
                                                  description="", settings=hook_settings)
            ids = [webhooks.queue_delivery(session, ep, event_type=WEBHOOK_PING,
                                           body=webhooks.message_body(WEBHOOK_PING, {"n": n})).message_id
                   for n in range(60)]
        receiver.delay = 0.01
        runtime = Runtime(database, hook_settings)
        start = threading.Barrier(2)
        counts: list[int] = []
        errors: list[BaseException] = []

        def consumer() -> None:
            try:
                start.wait()
                counts.append(webhooks.deliver_due(runtime, cipher=cipher, limit=10, workers=4))
            except BaseException as exc:  # shown below
                errors.append(exc)

        threads = [threading.Thread(target=consumer) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert sorted(receiver.ids()) == sorted(ids)  # each once, none twice
        assert sum(counts) == 60
        assert all(r.verifies_with(secret) for r in receiver.received)
        with database.reading() as session:
            statuses = session.scalars(sa.select(WebhookDelivery.status)).all()
            attempts = session.scalar(sa.select(sa.func.count()).select_from(DeliveryAttempt))
        assert set(statuses) == {DeliveryStatus.succeeded} and attempts == 60
    finally:
        database.dispose()


def test_message_body_is_compact_standard_webhooks_json():
    at = dt.datetime(2026, 11, 18, 2, 0, tzinfo=dt.UTC)
    body = webhooks.message_body("grade.downgraded", {"name": "某电力公司"}, at=at)
    assert json.loads(body) == {"type": "grade.downgraded", "timestamp": "2026-11-18T02:00:00.000Z",
                                "data": {"name": "某电力公司"}}
    assert " " not in body and "某电力公司" in body


@pytest.mark.parametrize(("url", "networks", "refused"), [
    ("http://127.0.0.1:9000/in", ("127.0.0.1/32",), None),
    ("http://[::1]:9000/in", ("::1/128",), None),
    ("http://10.20.3.4/in", ("10.20.0.0/16",), None),
    ("http://10.21.0.1/in", ("10.20.0.0/16",), "私有网络地址"),  # outside the allowed range
    ("http://127.0.0.2/in", ("127.0.0.1/32",), "回环地址"),
    ("http://169.254.169.254/latest/meta-data", ("127.0.0.1/32",), "链路本地地址"),  # the metadata service stays shut
    ("http://localhost:9000/in", ("127.0.0.1/32",), "本机名称"),  # a name, not the address the network names
])
def test_allowed_networks_open_only_themselves(url: str, networks: tuple[str, ...], refused: str | None) -> None:
    if refused is None:
        assert ssrf.check_url(url, allow_http=True, allow_private=False, allow_networks=networks).port
    else:
        with pytest.raises(ssrf.UrlRefused, match=refused) as exc:
            ssrf.check_url(url, allow_http=True, allow_private=False, allow_networks=networks)
        assert "PC_WEBHOOK_ALLOW_NETWORKS" in str(exc.value)  # the refusal says how to allow a test receiver


def test_a_receiver_on_an_allowed_network_gets_its_delivery(db, cipher, bank, receiver, app, monkeypatch):
    """Only 127.0.0.1 let through: the local receiver is reached; a name that resolves to
    another private address is still refused at send time."""
    narrow = dataclasses.replace(app.extensions["pc_settings"], webhook_allow_http=True, webhook_allow_private=False,
                                 webhook_allow_networks=("127.0.0.1/32",))
    runtime = Runtime(app.extensions["pc_db"], narrow)
    ep, secret = webhooks.create_endpoint(db, cipher, bank, url=receiver.url(), events=[], description="",
                                          settings=narrow)
    webhooks.ping(db, bank, ep.endpoint_id)
    assert deliver(runtime, cipher, db) == 1
    [got] = receiver.received
    assert got.verifies_with(secret)

    other, _ = webhooks.create_endpoint(db, cipher, bank, url=receiver.url(host="hooks.example.com"), events=[],
                                        description="", settings=narrow)
    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["10.1.2.3"])
    delivery = webhooks.ping(db, bank, other.endpoint_id)
    deliver(runtime, cipher, db)
    assert len(receiver.received) == 1
    assert "私有网络地址" in (attempts_of(db, delivery)[-1].error or "")


def test_a_bad_allowed_network_stops_start_up(monkeypatch):
    from app.core.config import ConfigError, load_settings

    monkeypatch.setenv("PC_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32, 10.0.0.0/33")
    with pytest.raises(ConfigError, match="PC_WEBHOOK_ALLOW_NETWORKS"):
        load_settings()
    monkeypatch.setenv("PC_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1, 10.20.0.0/16")
    assert load_settings().webhook_allow_networks == ("127.0.0.1/32", "10.20.0.0/16")
