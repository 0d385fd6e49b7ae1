"""report: available_until (an institution report's data life, from its consent)

An institution report may be read again by its bank only until the consent's data life
(数据保存期限) counted from the issue ends; the end is stored with the report so the bank's
lists leave it out and its pages refuse it (410) from that moment.  Reports issued before
this revision get it from their consents.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:50:00
"""

from alembic import op
import sqlalchemy as sa

import app.core.db
from app.core import clock

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('available_until', app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_report_institution_available', ['institution_id', 'available_until'], unique=False)

    report = sa.table('report', sa.column('id', sa.BigInteger()), sa.column('consent_pk', sa.BigInteger()),
                      sa.column('issued_at', app.core.db.UTCDateTime(timezone=True)),
                      sa.column('available_until', app.core.db.UTCDateTime(timezone=True)))
    consent = sa.table('consent', sa.column('id', sa.BigInteger()), sa.column('data_life_unit', sa.String()),
                       sa.column('data_life_value', sa.Integer()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(report.c.id, report.c.issued_at, consent.c.data_life_unit, consent.c.data_life_value)
                        .join(consent, consent.c.id == report.c.consent_pk)).all()
    for report_id, issued_at, unit, value in rows:
        bind.execute(sa.update(report).where(report.c.id == report_id)
                     .values(available_until=clock.add_period(issued_at, unit, value)))


def downgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_index('ix_report_institution_available')
        batch_op.drop_column('available_until')
