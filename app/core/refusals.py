"""Refusals to be written although the refused work is rolled back.

A refused request (a consent that does not cover the pull, a reused code) is audited, yet its
transaction is rolled back. :func:`refuse_later` keeps the event on the session
(``session.info``); the unit of work calls :func:`write_pending` after the rollback, in its
own transaction. Writing is the audit log's job (``app.audit``): it registers the writer at
start-up (``app.audit.services.init_app``), so this floor does not import the one above it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

_PENDING = "pc_audit_pending"


@dataclass(frozen=True)
class Pending:
    actor: str
    action: str
    code: str | None
    subject_type: str | None = None
    subject_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    outcome: str = "refused"


Writer = Callable[[Session, Pending, "str | None"], Any]
_writer: list[Writer] = []


def set_writer(writer: Writer) -> None:
    """Who writes a remembered refusal (the audit log, at start-up)."""
    _writer[:] = [writer]


def refuse_later(session: Session, pending: Pending) -> None:
    """Remember a refusal; it is written by :func:`write_pending` after the rollback."""
    session.info.setdefault(_PENDING, []).append(pending)


def has_pending(session: Session) -> bool:
    return bool(session.info.get(_PENDING))


def pending_events(session: Session) -> list[Pending]:
    """The refusals waiting to be written (for the log, should writing them fail)."""
    return list(session.info.get(_PENDING, []))


def write_pending(session: Session, request_id: str | None = None) -> int:
    """Write the remembered refusals (call after rolling back the refused work; the caller
    commits)."""
    pending: list[Pending] = session.info.pop(_PENDING, [])
    if pending and not _writer:
        raise RuntimeError("no refusal writer registered: call app.audit.services.init_app at start-up")
    for p in pending:
        _writer[0](session, p, request_id)
    return len(pending)


def discard_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def record_now(session: Session, event: Pending, request_id: str | None = None) -> Any:
    """Write an event at once, in the caller's transaction (for layers beside the audit log,
    which may not import it: an operator's read of a firm's archive, say)."""
    if not _writer:
        raise RuntimeError("the audit writer is not wired: call app.wiring.wire() at start-up")
    return _writer[0](session, event, request_id)
