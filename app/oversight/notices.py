"""Notices to firms: an objection's outcome, a repair decision, a list entry or exit, and
what higher layers tell a firm (a consent asked for, a certificate's step).  A notice names
its subject; where the subject lives above this layer, the roof registers how to state it
*now* (:func:`register_subject`), so an old notice does not ask the firm to decide what it has
decided already."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core import clock
from app.core.db import Page, paginate
from app.oversight.models import Notice


def notify(session: Session, enterprise_id: int, kind: str, title: str, body: str,
           subject_type: str | None = None, subject_id: str | None = None) -> Notice:
    notice = Notice(enterprise_id=enterprise_id, kind=kind, title=title, body=body, subject_type=subject_type,
                    subject_id=subject_id, created_at=clock.now())
    session.add(notice)
    session.flush()
    return notice


def notices_for(session: Session, enterprise_id: int, page: int, per_page: int) -> Page[Notice]:
    return paginate(session, sa.select(Notice).where(Notice.enterprise_id == enterprise_id)
                    .order_by(Notice.created_at.desc(), Notice.id.desc()), page, per_page)


def unread_count(session: Session, enterprise_id: int) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(Notice).where(
        Notice.enterprise_id == enterprise_id, Notice.read_at.is_(None))) or 0)


def mark_read(session: Session, enterprise_id: int, now: dt.datetime | None = None) -> int:
    result = session.execute(sa.update(Notice).where(Notice.enterprise_id == enterprise_id, Notice.read_at.is_(None))
                             .values(read_at=now or clock.now()).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SubjectState:
    """A notice's subject as it stands: its state in words, where to see it, and the words of
    that link (an action while the firm still has to act, 查看… otherwise)."""

    label: str
    url: str
    action: str
    pending: bool = False  # the firm still has to act on it


SubjectDescriber = Callable[[Session, list[str]], dict[str, SubjectState]]
_describers: dict[str, SubjectDescriber] = {}


def register_subject(subject_type: str, describe: SubjectDescriber) -> None:
    """How the notices of ``subject_type`` state their subject now (called by the roof)."""
    _describers[subject_type] = describe


def subject_states(session: Session, items: Iterable[Notice]) -> dict[tuple[str, str], SubjectState]:
    """The current state of each notice's subject, where a describer is registered: one
    query per kind of subject on the page."""
    wanted: dict[str, list[str]] = {}
    for n in items:
        if n.subject_type in _describers and n.subject_id:
            wanted.setdefault(n.subject_type, []).append(n.subject_id)
    out: dict[tuple[str, str], SubjectState] = {}
    for kind, ids in wanted.items():
        for subject_id, state in _describers[kind](session, sorted(set(ids))).items():
            out[(kind, subject_id)] = state
    return out
