"""Notices to firms: an objection's outcome, a repair decision, a list entry or exit."""

from __future__ import annotations

import datetime as dt

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
