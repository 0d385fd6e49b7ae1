"""evaluation: index on as_of

The 信用电力指数 is computed per month of the evaluations' base dates, and the public home
page shows the newest month: with an index on ``as_of`` a month (and the newest base date)
is read through it instead of scanning every evaluation ever made.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:00:00
"""

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.create_index('ix_evaluation_as_of', ['as_of'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.drop_index('ix_evaluation_as_of')
