"""Writing and verifying the audit log.

Every event's ``hash`` is SHA-256 over the previous event's hash and the event's own
canonical JSON, so rewriting or deleting an event breaks every hash after it
(``powercredit audit verify``).  On PostgreSQL appends are serialised by a transaction-level
advisory lock; on SQLite by the write lock every writing transaction takes as it begins
(``BEGIN IMMEDIATE``, see ``app.core.db.make_engine``).

Refusals must be recorded even though the refused request's transaction is rolled back:
``app.core.refusals`` keeps them on the session and has them written here after the rollback
(:func:`init_app` registers :func:`write` as their writer).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.core import clock, refusals
from app.core.db import Page, Prepared, paginate, run_batch
from app.core.refusals import (  # noqa: F401 — the audit API callers use
    Pending,
    discard_pending,
    has_pending,
    pending_events,
    refuse_later,
    write_pending,
)

GENESIS = "0" * 64
_LOCK_KEY = 0x50434155  # "PCAU"


def _digest(prev_hash: str, event: AuditEvent) -> str:
    body = {
        "at": event.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": event.actor, "action": event.action, "outcome": event.outcome, "code": event.code,
        "subject_type": event.subject_type, "subject_id": event.subject_id,
        "detail": event.detail, "request_id": event.request_id,
    }
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def record(session: Session, actor: str, action: str, *, outcome: str = "ok", code: str | None = None,
           subject_type: str | None = None, subject_id: str | None = None,
           detail: dict[str, Any] | None = None, request_id: str | None = None) -> AuditEvent:
    """Append one event to the chain (in the caller's transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        # The lock, then the chain's head read under it: one round trip, two statements (the
        # read's snapshot is taken once the lock is held, so it sees the last appender's event).
        last = run_batch(session, [(_LOCK, {"key": _LOCK_KEY}), (_PREV_HASH, {})])[1]
    else:
        last = _PREV_HASH.rows(session, {})
    prev = (last[0][0] if last else None) or GENESIS
    event = AuditEvent(at=clock.now(), actor=actor, action=action, outcome=outcome, code=code,
                       subject_type=subject_type, subject_id=subject_id, detail=detail or {},
                       request_id=request_id, prev_hash=prev)
    event.hash = _digest(prev, event)
    # A plain INSERT on the session's connection (no unit of work for an append-only row
    # that every request writes); the returned event carries its id but is not in the session.
    event.id = _INSERT.scalar(session, {
        "at": event.at, "actor": actor, "action": action, "outcome": outcome, "code": code,
        "subject_type": subject_type, "subject_id": subject_id, "detail": event.detail, "request_id": request_id,
        "prev_hash": prev, "hash": event.hash})
    return event


_COLUMNS = ("at", "actor", "action", "outcome", "code", "subject_type", "subject_id", "detail", "request_id",
            "prev_hash", "hash")
# Every request that reaches a firm's data appends here: the three statements run straight
# on the cursor (app.core.db.Prepared), in the caller's transaction.
_LOCK = Prepared(sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key", type_=sa.BigInteger()))))
_PREV_HASH = Prepared(sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
_INSERT = Prepared.insert_returning_id(AuditEvent, _COLUMNS)


def write(session: Session, p: Pending, request_id: str | None = None) -> AuditEvent:
    """Write an event prepared earlier (a refusal, or an access whose caller writes it last)."""
    return record(session, p.actor, p.action, outcome=p.outcome, code=p.code, subject_type=p.subject_type,
                  subject_id=p.subject_id, detail=p.detail, request_id=p.request_id or request_id)


def init_app(app: Any = None) -> None:
    """Write the refusals the unit of work remembers (``app.core.refusals``) to this log."""
    refusals.set_writer(write)


def verify_chain(session: Session, batch: int = 5000) -> Iterator[tuple[int, bool]]:
    """Yields (event id, hash ok) in order; a broken link or digest yields False."""
    prev = GENESIS
    last_id = 0
    while True:
        events = list(session.scalars(
            sa.select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ))
        if not events:
            return
        for event in events:
            ok = event.prev_hash == prev and event.hash == _digest(prev, event)
            yield event.id, ok
            prev = event.hash
            last_id = event.id
        session.expunge_all()


def events_for(session: Session, subject_type: str, subject_id: str) -> list[AuditEvent]:
    return list(session.scalars(
        sa.select(AuditEvent).where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == subject_id)
        .order_by(AuditEvent.id)
    ))


def list_events(session: Session, *, action: str | None = None, actor: str | None = None,
                subject_type: str | None = None, subject_id: str | None = None, outcome: str | None = None,
                request_id: str | None = None, page: int = 1, per_page: int = 50) -> Page[AuditEvent]:
    """The audit log for operators, newest first: ``action`` matches a whole action or a
    family (``consent`` matches ``consent.revoke``), the other filters exactly."""
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id.desc())
    if action:
        stmt = stmt.where(sa.or_(AuditEvent.action == action, AuditEvent.action.startswith(f"{action}.",
                                                                                          autoescape=True)))
    for column, value in ((AuditEvent.actor, actor), (AuditEvent.subject_type, subject_type),
                          (AuditEvent.subject_id, subject_id), (AuditEvent.outcome, outcome),
                          (AuditEvent.request_id, request_id)):
        if value:
            stmt = stmt.where(column == value)
    return paginate(session, stmt, page, per_page)
