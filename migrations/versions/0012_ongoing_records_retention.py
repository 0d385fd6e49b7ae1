"""credit records: behaviour still going on does not expire

征信业管理条例 art. 16 keeps negative information for 5 years from the day the behaviour
ended. Records of behaviour that has not ended — a judgment not (fully) performed, a loan
still overdue or written off and unsettled, an electricity bill in arrears — had been given
an expiry 5 years after they occurred, and those older than that were marked expired and
dropped from evaluations, lists and reports. They now have no expiry until a correction
gives their end; this migration clears the expiry of such records already stored and puts
those marked expired back (disputed where an objection is open, corrected for a later
version, active otherwise).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 14:30:00
"""

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

from app.core import clock

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

BATCH = 2000


def _ongoing(category: str, payload: dict) -> bool:
    """The same test as the category rules' ``ongoing`` (app/archive/categories.py), frozen
    here as the schema of this revision's payloads."""
    if category == "judicial":
        return payload.get("performance") != "full"
    if category == "loan":
        return payload.get("status") == "overdue" or (payload.get("status") == "written_off"
                                                       and not payload.get("settled_on"))
    if category == "utility":
        return payload.get("status") == "arrears"
    return False


def upgrade() -> None:
    conn = op.get_bind()
    record = sa.table("credit_record", sa.column("id", sa.Integer), sa.column("category", sa.String),
                      sa.column("polarity", sa.String), sa.column("ended_on", sa.Date),
                      sa.column("expires_on", sa.Date), sa.column("status", sa.String),
                      sa.column("version", sa.Integer), sa.column("payload", sa.Text),
                      sa.column("updated_at", sa.DateTime(timezone=True)))
    objection = sa.table("objection", sa.column("record_id", sa.Integer), sa.column("status", sa.String))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(record.c.id, record.c.category, record.c.payload, record.c.status, record.c.version)
            .where(record.c.id > last, record.c.polarity == "bad", record.c.ended_on.is_(None),
                   record.c.expires_on.is_not(None), record.c.category.in_(["judicial", "loan", "utility"]))
            .order_by(record.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        ongoing = [r for r in rows
                   if _ongoing(r.category, r.payload if isinstance(r.payload, dict) else json.loads(r.payload or "{}"))]
        if not ongoing:
            continue
        ids = [r.id for r in ongoing]
        # Changed now: ``evaluate --changed`` re-evaluates the firms whose records changed.
        now = clock.now()
        if conn.dialect.name == "sqlite":  # stored as naive UTC there (app.core.db.UTCDateTime)
            now = now.replace(tzinfo=None)
        conn.execute(sa.update(record).where(record.c.id.in_(ids)).values(expires_on=None, updated_at=now))
        expired = [r for r in ongoing if r.status == "expired"]
        if expired:
            disputed = set(conn.scalars(sa.select(objection.c.record_id).where(
                objection.c.record_id.in_([r.id for r in expired]), objection.c.status == "open")))
            for status in ("disputed", "corrected", "active"):
                chosen = [r.id for r in expired
                          if status == ("disputed" if r.id in disputed else "corrected" if r.version > 1 else "active")]
                if chosen:
                    conn.execute(sa.update(record).where(record.c.id.in_(chosen)).values(status=status))


def downgrade() -> None:
    # The expiry dates cleared were wrong; they are not put back.
    pass
