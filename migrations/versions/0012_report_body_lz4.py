"""report: LZ4 compression for the stored report JSON (PostgreSQL)

A report's canonical JSON is 50–100 KB and is written once per pull; PostgreSQL compresses
it into TOAST with ``pglz`` by default, which costs about 0.7 ms of server CPU per report
(measured: 1,000 inserts of an 75 KB report, 0.67 ms each with pglz, 0.22 ms with lz4, at a
similar size on disk).  Where the server is built with LZ4 (PostgreSQL 14+, Debian's is),
new values of ``report.body`` are compressed with it; values already stored stay as they
are and are read as before.  SQLite (and a server without LZ4) is left unchanged.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    return bool(bind.execute(sa.text(
        "SELECT coalesce(bool_or('lz4' = ANY(enumvals)), false) FROM pg_settings "
        "WHERE name = 'default_toast_compression'")).scalar())


def upgrade() -> None:
    if _lz4_available():
        op.execute("ALTER TABLE report ALTER COLUMN body SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and op.get_bind().dialect.server_version_info >= (14,):
        op.execute("ALTER TABLE report ALTER COLUMN body SET COMPRESSION default")
