"""users: a one-time password must be changed at the first sign-in

A password the console (or ``powercredit users add/set-password --temporary``) hands over is
known to the operator who read it out: ``app_user.must_change_password`` keeps its holder on
the change-password page until a password of their own is set. Existing users keep theirs
(false).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('app_user', sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(),
                                        nullable=False))


def downgrade() -> None:
    # A plain DROP COLUMN, on SQLite too (3.35+): a batch rebuild of app_user would drop the table
    # every session, consent and audit row refers to.
    op.drop_column('app_user', 'must_change_password')
