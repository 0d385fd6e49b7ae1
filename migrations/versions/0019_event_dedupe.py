"""monitoring_event.dedupe_key: an event raised once whoever raises it (index warnings)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('monitoring_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_monitoring_event_dedupe_key'), ['dedupe_key'])
    # warnings raised before the column existed keep their key (the first of each, should a
    # race have written one twice), so a rerun does not raise them again
    key = "data->>'key'" if op.get_bind().dialect.name == 'postgresql' else "json_extract(data, '$.key')"
    op.execute(f"UPDATE monitoring_event SET dedupe_key = {key} WHERE id IN ("
               f"SELECT min(id) FROM monitoring_event WHERE type = 'index.warning' GROUP BY {key})")

def downgrade() -> None:
    with op.batch_alter_table('monitoring_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_monitoring_event_dedupe_key'), type_='unique')
        batch_op.drop_column('dedupe_key')
