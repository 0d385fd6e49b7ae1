"""Webhook endpoints and the delivery of alerts to them, as the Standard Webhooks
specification has it (https://www.standardwebhooks.com/).

A subscriber (a bank, a group or a firm) registers an endpoint: a URL checked against SSRF
(:mod:`app.monitoring.ssrf`), the event types it takes (none: all) and a signing secret
``whsec_<base64 of 32 random bytes>``, shown once and kept encrypted (``FieldCipher``).
Dispatch (``app.monitoring.services``) queues one :class:`WebhookDelivery` per endpoint and
alert; :func:`deliver_due`, the ``monitoring.deliver`` job, sends what is due:

1. it claims the due deliveries in a short transaction (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, SQLite's write lock elsewhere) by setting ``locked_until``, so two consumers
   never send the same one; a delivery whose consent ended since its alert is ``withheld``
   there, never sent (``services.allowed_deliveries``);
2. it POSTs them outside any transaction, from a pool of sender threads sharing one urllib3
   ``PoolManager`` (keep-alive), to the address it resolved and checked (no redirects);
3. it writes each attempt and its outcome in batched transactions: a 2xx is ``succeeded``,
   a 410 Gone disables the endpoint, anything else is tried again after the next step of
   :data:`RETRY_SCHEDULE` (with jitter) and is ``dead`` after the last — replayed from the
   API or the console as a new message.

Every request carries ``webhook-id`` (the delivery's message id, the same on every retry),
``webhook-timestamp`` (seconds since the epoch, now) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of id.timestamp.body>``; two of them, space-separated, for a day
after a rotation: the new secret's and the previous one's).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import urllib3
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from app.accounts.models import Institution
from app.archive.models import Enterprise
from app.audit import services as audit
from app.core import clock
from app.core.config import Settings
from app.core.crypto import FieldCipher, load_keyring
from app.core.db import Page, after_commit, paginate
from app.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from app.core.jobs import Runtime, enqueue
from app.core.schemas_base import With
from app.monitoring import ssrf
from app.monitoring.models import (
    WEBHOOK_PING,
    DeliveryAttempt,
    DeliveryStatus,
    EndpointStatus,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.monitoring.parties import Party

log = logging.getLogger(__name__)

# How long after a failed attempt the next one is made: attempt 1 at once, then after 5 s,
# 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (each ±10 % jitter) — 8 attempts over about 28 hours;
# a delivery whose 8th attempt fails is dead (replay it). The schedule Svix uses.
RETRY_SCHEDULE: tuple[dt.timedelta, ...] = (
    dt.timedelta(seconds=5), dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2),
    dt.timedelta(hours=5), dt.timedelta(hours=10), dt.timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
JITTER = 0.1  # each delay is stretched or shrunk by up to this share
SECRET_GRACE = dt.timedelta(hours=24)  # the previous secret still signs this long after a rotation
SECRET_PREFIX = "whsec_"
USER_AGENT = "PowerCredit-Webhooks/1.0 (+Standard Webhooks)"
SENDERS = 16  # sender threads
CLAIM_LIMIT = 200  # deliveries claimed per round
RECORD_BATCH = 200  # outcomes written per transaction
MAX_RESPONSE_BYTES = 64 * 1024  # what is read of a receiver's answer (the rest is dropped)
TABLE = "webhook_endpoint"
GONE = 410

Resolver = ssrf.Resolver


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def message_body(event_type: str, data: Mapping[str, Any], *, at: dt.datetime | None = None) -> str:
    """A payload as Standard Webhooks shapes it, ``{"type", "timestamp", "data"}``, in the
    exact bytes signed and sent (compact JSON, UTF-8)."""
    return json.dumps({"type": event_type, "timestamp": clock.iso_utc(at or clock.now()), "data": dict(data)},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=False, default=str)


class UrlRefusedError(DomainError):
    """A webhook URL that may not be registered (SSRF rules): 400 naming ``url``."""

    status = 400
    code = "webhook_url_refused"


# --- endpoints ------------------------------------------------------------------------------------


def check_url(url: str, settings: Settings) -> ssrf.Target:
    try:
        return ssrf.check_url(url, allow_http=settings.webhook_allow_http, allow_private=settings.webhook_allow_private,
                              allow_networks=settings.webhook_allow_networks)
    except ssrf.UrlRefused as exc:
        raise UrlRefusedError(f"推送地址不可用：{exc}", errors={"url": [f"{exc}。"]}) from exc


def check_events(events: list[str]) -> list[str]:
    """Known event types, each once, in order (an empty list takes every type)."""
    known = {str(t) for t in EventType}
    bad = [e for e in events if e not in known]
    if bad:
        raise InvalidInput("未知的事件类型", errors={"events": [
            f"未知的事件类型：{'、'.join(bad)}；可用：{'、'.join(sorted(known))}。"]})
    return list(dict.fromkeys(events))


def _may_own(party: Party) -> None:
    if party.kind not in ("bank", "group", "firm"):
        raise Forbidden("只有金融机构、集团和企业可以登记 Webhook 端点", code="webhook_owner_required")


def create_endpoint(session: Session, cipher: FieldCipher, party: Party, *, url: str, events: list[str],
                    description: str, settings: Settings) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of ``party`` and its signing secret (shown this once; kept encrypted)."""
    _may_own(party)
    check_url(url, settings)
    events = check_events(events)
    secret = new_secret()
    endpoint_id = new_id("ep_")
    endpoint = WebhookEndpoint(
        endpoint_id=endpoint_id, url=url, events=events, description=description or "",
        secret=_encrypt(cipher, secret, "secret", endpoint_id), status=EndpointStatus.active,
        created_at=clock.now(), created_by=party.actor, **party.owner_columns(),
    )
    session.add(endpoint)
    session.flush()
    audit.record(session, party.actor, "webhook.endpoint_created", subject_type="webhook_endpoint",
                 subject_id=endpoint_id, detail={"url": url, "events": events})
    return endpoint, secret


def _encrypt(cipher: FieldCipher, secret: str, column: str, endpoint_id: str) -> str:
    stored = cipher.encrypt(secret, table=TABLE, column=column, row=endpoint_id)
    assert stored is not None
    return stored


def _decrypt(cipher: FieldCipher, stored: str, column: str, endpoint_id: str) -> str:
    plain = cipher.decrypt(stored, table=TABLE, column=column, row=endpoint_id)
    assert plain is not None
    return plain


def signing_secrets(cipher: FieldCipher, endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    """The secrets that sign a message now: the current one, and the previous one during
    the day after a rotation."""
    out = [_decrypt(cipher, endpoint.secret, "secret", endpoint.endpoint_id)]
    if endpoint.previous_secret is not None and endpoint.previous_valid_until is not None \
            and now < endpoint.previous_valid_until:
        out.append(_decrypt(cipher, endpoint.previous_secret, "previous_secret", endpoint.endpoint_id))
    return out


def sign(message_id: str, timestamp: dt.datetime, body: str, secrets_: list[str]) -> str:
    """The ``webhook-signature`` header: one ``v1,…`` per secret, space-separated."""
    return " ".join(Webhook(s).sign(message_id, timestamp, body) for s in secrets_)


def _owned(party: Party, endpoint: WebhookEndpoint) -> bool:
    return party.owns(endpoint.institution_id, endpoint.subscriber_enterprise_id)


def get_endpoint(session: Session, party: Party, endpoint_id: str, *, write: bool = False) -> WebhookEndpoint:
    """One endpoint its owner (or, to read, an operator) may see; another party's is a 404."""
    endpoint = session.scalars(sa.select(WebhookEndpoint).where(WebhookEndpoint.endpoint_id == endpoint_id)).first()
    if endpoint is None or not (_owned(party, endpoint) or (party.is_operator and not write)):
        raise NotFound(f"没有编号为 {endpoint_id} 的 Webhook 端点", code="webhook_endpoint_not_found")
    return endpoint


def list_endpoints(session: Session, party: Party, *, page: int = 1, per_page: int = 20) -> Page[WebhookEndpoint]:
    stmt = sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc())
    if not party.is_operator:
        stmt = stmt.where(party.owner_filter(WebhookEndpoint.institution_id, WebhookEndpoint.subscriber_enterprise_id))
    return paginate(session, stmt, page, per_page)


def rotate_secret(session: Session, cipher: FieldCipher, party: Party, endpoint_id: str) -> tuple[WebhookEndpoint, str]:
    """A new secret (shown this once); the one it replaces keeps signing, beside it, for
    :data:`SECRET_GRACE` so receivers can switch without losing a message."""
    endpoint = get_endpoint(session, party, endpoint_id, write=True)
    now = clock.now()
    current = _decrypt(cipher, endpoint.secret, "secret", endpoint.endpoint_id)
    secret = new_secret()
    endpoint.previous_secret = _encrypt(cipher, current, "previous_secret", endpoint.endpoint_id)
    endpoint.previous_valid_until = now + SECRET_GRACE
    endpoint.secret = _encrypt(cipher, secret, "secret", endpoint.endpoint_id)
    endpoint.rotated_at = now
    session.flush()
    audit.record(session, party.actor, "webhook.secret_rotated", subject_type="webhook_endpoint",
                 subject_id=endpoint.endpoint_id, detail={"previous_valid_until": endpoint.previous_valid_until.isoformat()})
    return endpoint, secret


def set_status(session: Session, party: Party, endpoint_id: str, status: EndpointStatus) -> WebhookEndpoint:
    """Disable an endpoint (its pending deliveries become dead, replayable once it is enabled
    again) or enable it; its delivery log stays."""
    endpoint = get_endpoint(session, party, endpoint_id, write=True)
    if status == EndpointStatus.disabled and endpoint.status != EndpointStatus.disabled:
        _disable(session, endpoint, "端点已停用")
    endpoint.status = status
    session.flush()
    audit.record(session, party.actor, f"webhook.endpoint_{status}", subject_type="webhook_endpoint",
                 subject_id=endpoint.endpoint_id)
    return endpoint


def _disable(session: Session, endpoint: WebhookEndpoint, why: str) -> None:
    endpoint.status = EndpointStatus.disabled
    session.execute(sa.update(WebhookDelivery).where(
        WebhookDelivery.endpoint_pk == endpoint.id, WebhookDelivery.status == DeliveryStatus.pending)
        .values(status=DeliveryStatus.dead, next_attempt_at=None, locked_until=None, last_error=why)
        .execution_options(synchronize_session=False))


# --- deliveries -----------------------------------------------------------------------------------


def _wake(session: Session) -> None:
    after_commit(session, lambda: enqueue("monitoring.deliver"), key="monitoring.deliver")


def queue_delivery(session: Session, endpoint: WebhookEndpoint, *, alert: Any = None, event_type: str,
                   body: str | Mapping[str, Any]) -> WebhookDelivery:
    """A delivery of ``body`` (Standard Webhooks' ``{type, timestamp, data}``; a mapping is
    written as compact JSON) to ``endpoint``, due now."""
    text = body if isinstance(body, str) else json.dumps(dict(body), ensure_ascii=False, separators=(",", ":"),
                                                          default=str)
    now = clock.now()
    delivery = WebhookDelivery(
        message_id=new_id("msg_"), endpoint_pk=endpoint.id, alert_pk=getattr(alert, "id", None),
        event_type=event_type, body=text, status=DeliveryStatus.pending, attempts=0, next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    _wake(session)
    return delivery


def ping(session: Session, party: Party, endpoint_id: str) -> WebhookDelivery:
    """A ``webhook.ping`` message queued to one of ``party``'s endpoints (to check a receiver)."""
    endpoint = get_endpoint(session, party, endpoint_id, write=True)
    if endpoint.status != EndpointStatus.active:
        raise Conflict("端点已停用，请先启用", code="webhook_endpoint_disabled")
    body = message_body(WEBHOOK_PING, {"endpoint_id": endpoint.endpoint_id, "message": "PowerCredit 测试推送"})
    return queue_delivery(session, endpoint, event_type=WEBHOOK_PING, body=body)


def get_delivery(session: Session, party: Party, message_id: str) -> WebhookDelivery:
    delivery = session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.message_id == message_id)).first()
    if delivery is None or not (party.is_operator or _owned(party, delivery.endpoint)):
        raise NotFound(f"没有编号为 {message_id} 的推送", code="webhook_delivery_not_found")
    return delivery


REPLAYABLE = (DeliveryStatus.dead, DeliveryStatus.succeeded)


def replay(session: Session, party: Party, message_id: str) -> WebhookDelivery:
    """A dead or delivered message sent again: a new delivery with the same body and a new
    message id (``replay_of`` names the original); the consent check applies again."""
    original = get_delivery(session, party, message_id)
    if original.status not in REPLAYABLE:
        raise Conflict("只能重放已放弃或已送达的推送", code="webhook_delivery_not_replayable",
                       errors={"id": [f"该推送状态为 {original.status}。"]})
    if original.endpoint.status != EndpointStatus.active:
        raise Conflict("端点已停用，请先启用后再重放" if _owned(party, original.endpoint)
                       else "端点已被停用：须由其所有者启用端点后才能重放", code="webhook_endpoint_disabled")
    delivery = queue_delivery(session, original.endpoint, event_type=original.event_type, body=original.body)
    delivery.alert_pk = original.alert_pk
    delivery.replay_of = original.id
    session.flush()
    return delivery


def delivery_views(session: Session, deliveries: list[WebhookDelivery]) -> list[With]:
    """Deliveries as the log shows them: each with its attempts (``attempt_log``), its
    endpoint's public id and the message id of the delivery it replays."""
    if not deliveries:
        return []
    attempts: dict[int, list[DeliveryAttempt]] = {d.id: [] for d in deliveries}
    for attempt in session.scalars(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_pk.in_(list(attempts)))
                                   .order_by(DeliveryAttempt.delivery_pk, DeliveryAttempt.attempt)):
        attempts[attempt.delivery_pk].append(attempt)
    originals = {d.replay_of for d in deliveries if d.replay_of is not None}
    ids: dict[int, str] = {}
    if originals:
        for pk, message_id in session.execute(sa.select(WebhookDelivery.id, WebhookDelivery.message_id)
                                              .where(WebhookDelivery.id.in_(originals))):
            ids[pk] = message_id
    return [With(d, attempt_log=attempts[d.id], endpoint_id=d.endpoint.endpoint_id,
                 replay_of_id=ids.get(d.replay_of) if d.replay_of is not None else None) for d in deliveries]


def list_deliveries(session: Session, party: Party, endpoint_id: str, *, status: str | None = None,
                    page: int = 1, per_page: int = 20) -> tuple[WebhookEndpoint, Page[With]]:
    """An endpoint's delivery log, newest first, each with its attempts."""
    endpoint = get_endpoint(session, party, endpoint_id)
    stmt = sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_pk == endpoint.id)
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    result = paginate(session, stmt.order_by(WebhookDelivery.id.desc()), page, per_page)
    return endpoint, Page(delivery_views(session, result.items), result.page, result.per_page, result.total)


def list_dead(session: Session, party: Party, *, page: int = 1, per_page: int = 50) -> Page[With]:
    """Dead deliveries across every endpoint (operators: the console's dead letters)."""
    if not party.is_operator:
        raise Forbidden("仅运营人员可查看全部失败推送")
    stmt = (sa.select(WebhookDelivery).where(WebhookDelivery.status == DeliveryStatus.dead)
            .order_by(WebhookDelivery.id.desc()))
    result = paginate(session, stmt, page, per_page)
    owners = _owner_names(session, [d.endpoint for d in result.items])
    views = [With(v, owner_name=owners[v.endpoint.id]) for v in delivery_views(session, result.items)]
    return Page(views, result.page, result.per_page, result.total)


def _owner_names(session: Session, endpoints: list[WebhookEndpoint]) -> dict[int, str]:
    """Each endpoint's owner by name (the institution, or the firm), for the operators."""
    inst_ids = {e.institution_id for e in endpoints if e.institution_id is not None}
    firm_ids = {e.subscriber_enterprise_id for e in endpoints if e.subscriber_enterprise_id is not None}
    insts: dict[int, str] = dict(session.execute(
        sa.select(Institution.id, Institution.name).where(Institution.id.in_(inst_ids))).all()) if inst_ids else {}
    firms: dict[int, str] = dict(session.execute(
        sa.select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(firm_ids))).all()) if firm_ids else {}
    return {e.id: (insts.get(e.institution_id, "") if e.institution_id is not None
                   else firms.get(e.subscriber_enterprise_id or 0, "")) for e in endpoints}


# --- sending ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Send:
    pk: int
    message_id: str
    body: str
    url: str
    secrets: tuple[str, ...]
    attempt: int


@dataclass(frozen=True)
class Outcome:
    pk: int
    attempt: int
    at: dt.datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


POOL_SIZE = 64  # connections kept alive per receiver (host, port): every sender of two consumers
_pool_lock = threading.Lock()
_pools: list[urllib3.PoolManager] = []


def pool_manager() -> urllib3.PoolManager:
    """The process's one PoolManager (connections kept alive between deliveries)."""
    with _pool_lock:
        if not _pools:
            _pools.append(urllib3.PoolManager(num_pools=256, maxsize=POOL_SIZE, block=False, retries=False))
        return _pools[0]


def close_pools() -> None:
    """Close every kept-alive connection (tests, and a consumer shutting down)."""
    with _pool_lock:
        for pm in _pools:
            pm.clear()


def send(job: _Send, settings: Settings, *, pm: urllib3.PoolManager | None = None,
         resolver: Resolver | None = None) -> Outcome:
    """POST one delivery: resolve and check its host, connect to that address, sign, send;
    never raises (every failure is an outcome with a Chinese error)."""
    started = time.perf_counter()
    at = clock.now()

    def done(status: int | None, error: str | None) -> Outcome:
        return Outcome(job.pk, job.attempt, at, status, error[:500] if error else None,
                       int((time.perf_counter() - started) * 1000))

    try:
        target = ssrf.check_url(job.url, allow_http=settings.webhook_allow_http,
                                allow_private=settings.webhook_allow_private,
                                allow_networks=settings.webhook_allow_networks)
        address = ssrf.resolve(target, allow_private=settings.webhook_allow_private,
                               allow_networks=settings.webhook_allow_networks, resolver=resolver)
    except ssrf.UrlRefused as exc:
        return done(None, f"未发送：{exc}")
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": job.message_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": sign(job.message_id, at, job.body, list(job.secrets)),
        "host": target.host_header,
    }
    pool_kwargs: dict[str, Any] = {}
    if target.scheme == "https" and target.literal is None:
        pool_kwargs = {"server_hostname": target.host, "assert_hostname": target.host}
    timeout = urllib3.Timeout(total=settings.webhook_timeout)
    try:
        pool = (pm or pool_manager()).connection_from_host(address, target.port, target.scheme, pool_kwargs=pool_kwargs)
        resp = pool.urlopen("POST", target.path, body=job.body.encode(), headers=headers, redirect=False,
                            retries=False, timeout=timeout, preload_content=False, assert_same_host=False)
    except urllib3.exceptions.NewConnectionError:
        return done(None, f"无法连接接收方 {target.host_header}（连接被拒绝或不可达）")
    except urllib3.exceptions.TimeoutError:
        return done(None, f"接收方在 {settings.webhook_timeout} 秒内未应答（超时）")
    except urllib3.exceptions.SSLError as exc:
        return done(None, f"TLS 握手失败：{exc}")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return done(None, f"无法连接接收方：{type(exc).__name__} {exc}")
    finished = False
    try:  # the answer is read (up to a limit) so that the connection can serve the next delivery
        finished = len(resp.read(MAX_RESPONSE_BYTES)) < MAX_RESPONSE_BYTES
    except (urllib3.exceptions.HTTPError, OSError):
        finished = False
    finally:
        if not finished:
            resp.close()  # a long or broken answer: this connection is not kept
        resp.release_conn()
    status = resp.status
    if 200 <= status < 300:
        return done(status, None)
    if 300 <= status < 400:
        return done(status, f"接收方返回 HTTP {status} 重定向（不跟随重定向）")
    if status == GONE:
        return done(status, "接收方返回 HTTP 410 Gone：端点已停用")
    return done(status, f"接收方返回 HTTP {status}")


def next_delay(attempts: int, rand: Callable[[float, float], float] = random.uniform) -> dt.timedelta | None:
    """The wait after the ``attempts``-th failed attempt, jittered; None when it was the last."""
    if attempts >= MAX_ATTEMPTS:
        return None
    base = RETRY_SCHEDULE[attempts - 1]
    return base * rand(1 - JITTER, 1 + JITTER)


def _claim(session: Session, cipher: FieldCipher, limit: int, lock_for: dt.timedelta) -> tuple[list[_Send], int]:
    """Due deliveries claimed for this consumer (and withheld ones settled); the sends and
    how many were withheld."""
    from app.monitoring import services as monitoring_services  # dispatch's consent check

    now = clock.now()
    stmt = (sa.select(WebhookDelivery).join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_pk)
            .where(WebhookDelivery.status == DeliveryStatus.pending, WebhookDelivery.next_attempt_at <= now,
                   sa.or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
                   WebhookEndpoint.status == EndpointStatus.active)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=WebhookDelivery)
    deliveries = list(session.scalars(stmt))
    allowed = monitoring_services.allowed_deliveries(session, deliveries)  # the consents, in a few queries
    sends: list[_Send] = []
    withheld = 0
    keys: dict[int, tuple[str, ...]] = {}
    for delivery in deliveries:
        if delivery.alert_pk is not None and delivery.id not in allowed:
            delivery.status = DeliveryStatus.withheld
            delivery.next_attempt_at = None
            delivery.locked_until = None
            delivery.last_error = "授权已失效（暂停、撤销或到期），未发送"
            withheld += 1
            continue
        endpoint = delivery.endpoint
        if endpoint.id not in keys:
            keys[endpoint.id] = tuple(signing_secrets(cipher, endpoint, now))
        delivery.locked_until = now + lock_for
        sends.append(_Send(delivery.id, delivery.message_id, delivery.body, endpoint.url, keys[endpoint.id],
                           delivery.attempts + 1))
    session.flush()
    return sends, withheld


def _record(session: Session, outcomes: list[Outcome]) -> None:
    """Each attempt and what follows from it, in the caller's transaction."""
    if not outcomes:
        return
    by_pk = {d.id: d for d in session.scalars(sa.select(WebhookDelivery).where(
        WebhookDelivery.id.in_([o.pk for o in outcomes])))}
    session.execute(sa.insert(DeliveryAttempt), [
        {"delivery_pk": o.pk, "attempt": o.attempt, "at": o.at, "status_code": o.status_code, "error": o.error,
         "duration_ms": o.duration_ms} for o in outcomes])
    gone: set[int] = set()
    for outcome in outcomes:
        delivery = by_pk.get(outcome.pk)
        if delivery is None or delivery.status != DeliveryStatus.pending:
            continue
        delivery.attempts = outcome.attempt
        delivery.last_attempt_at = outcome.at
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        delivery.locked_until = None
        if outcome.ok:
            delivery.status = DeliveryStatus.succeeded
            delivery.delivered_at = outcome.at
            delivery.next_attempt_at = None
            continue
        delay = next_delay(outcome.attempt)
        if outcome.status_code == GONE or delay is None:
            delivery.status = DeliveryStatus.dead
            delivery.next_attempt_at = None
            if outcome.status_code == GONE:
                gone.add(delivery.endpoint_pk)
        else:
            delivery.next_attempt_at = outcome.at + delay
    session.flush()
    for endpoint_pk in gone:
        endpoint = session.get(WebhookEndpoint, endpoint_pk)
        if endpoint is not None and endpoint.status == EndpointStatus.active:
            log.warning("webhook endpoint %s answered 410 Gone: disabled", endpoint.endpoint_id)
            _disable(session, endpoint, "接收方返回 HTTP 410 Gone，端点已停用")
    session.flush()


def deliver_due(runtime: Runtime, *, limit: int = CLAIM_LIMIT, workers: int = SENDERS, max_rounds: int = 1000,
                cipher: FieldCipher | None = None, resolver: Resolver | None = None) -> int:
    """Send every delivery that is due, in rounds of ``limit``; returns the deliveries
    attempted or withheld (the ``monitoring.deliver`` sweep)."""
    settings = runtime.settings
    cipher = cipher or FieldCipher(load_keyring(settings))
    pm = pool_manager()
    rounds = max(1, math.ceil(limit / max(1, workers)))
    lock_for = dt.timedelta(seconds=settings.webhook_timeout * (rounds + 1) + 60)
    total = 0
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="webhook") as executor:
        for _ in range(max_rounds):
            with runtime.database.transaction() as session:
                sends, withheld = _claim(session, cipher, limit, lock_for)
            total += withheld
            if not sends:
                if withheld < limit:
                    return total
                continue
            outcomes = list(executor.map(lambda job: send(job, settings, pm=pm, resolver=resolver), sends))
            for start in range(0, len(outcomes), RECORD_BATCH):
                with runtime.database.transaction() as session:
                    _record(session, outcomes[start:start + RECORD_BATCH])
            total += len(sends)
            if len(sends) + withheld < limit:
                break
    return total
