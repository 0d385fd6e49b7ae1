"""Receivers of the lower layers' signals (app.core.signals): each writes its events to the
outbox in the sender's session, so they commit or roll back with their cause."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.core import signals
from app.monitoring import services


def _records_written(_sender: Any, *, session: Session, run_id: int) -> None:
    services.write_events(session, services.events_of_run(session, run_id))


def _records_expired(_sender: Any, *, session: Session, records: list[tuple[int, int, str, int]]) -> None:
    services.write_events(session, services.events_of_expiry(session, records))


def _grades_changed(_sender: Any, *, session: Session, changes: list[dict[str, Any]]) -> None:
    services.write_events(session, services.events_of_grades(session, changes))


def _oversight_changed(_sender: Any, *, session: Session, type: str, enterprise_id: int, data: dict[str, Any]) -> None:
    services.write_events(session, services.events_of_oversight(session, type, enterprise_id, data))


def init_app() -> None:
    """Connect the receivers (the roof calls this at start-up; connecting twice is harmless)."""
    signals.records_written.connect(_records_written)
    signals.records_expired.connect(_records_expired)
    signals.grades_changed.connect(_grades_changed)
    signals.oversight_changed.connect(_oversight_changed)
