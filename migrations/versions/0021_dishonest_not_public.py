"""A 失信 judgment event is not public: a group sees it only under the subsidiary's consent

The public sees grades, lists and 双公示; a 失信 judgment only as the basis of a black-list
entry (list.entered).  Events raised before this revision were marked public; marking them
private withholds any delivery still queued to a group that holds no consent (the check
before sending reads the flag).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE monitoring_event SET public = false WHERE type = 'judicial.dishonest'")


def downgrade() -> None:
    op.execute("UPDATE monitoring_event SET public = true WHERE type = 'judicial.dishonest'")
