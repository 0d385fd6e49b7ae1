"""Receivers of the lower layers' signals (``app.core.signals``): a firm re-graded, or
published on the black list, has its certificates judged by the rule — in the sender's
session, so the change and its cause commit or roll back together."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.certificates import services
from app.core import signals
from app.oversight.models import ListName


def _grades_changed(_sender: Any, *, session: Session, changes: list[dict[str, Any]]) -> None:
    services.grades_changed(session, changes)


def _oversight_changed(_sender: Any, *, session: Session, type: str, enterprise_id: int,
                       data: dict[str, Any]) -> None:
    if type == "list.entered" and data.get("list") == ListName.black:
        services.entered_black_list(session, enterprise_id)


def init_app() -> None:
    """Connect the receivers (the roof calls this at start-up; connecting twice is harmless)."""
    signals.grades_changed.connect(_grades_changed)
    signals.oversight_changed.connect(_oversight_changed)
