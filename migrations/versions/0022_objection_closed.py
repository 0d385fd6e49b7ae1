"""certificate objections: closed (已终结) when the firm withdraws its application

An objection to a result whose firm withdrew its application was closed as ``dismissed``
(异议不成立), which it was not: nobody judged it. The new status ``closed`` says so. The CHECK
of ``certificate_objection.status`` is widened as 0020 widens its CHECKs: on PostgreSQL the
constraint is dropped and made again, on SQLite its text is rewritten in the schema
(https://sqlite.org/lang_altertable.html §7). The objections closed that way before — no
operator resolved them, the withdrawal wrote their resolution — move to ``closed``; a
downgrade moves them back.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

TABLE = 'certificate_objection'
NAME = 'ck_certificate_objection_certificate_objection_status'
STATUSES = ('open', 'upheld', 'dismissed')
WITHDRAWAL = '企业已撤回申报，异议终结'  # the resolution the withdrawal wrote (app.certificates.services.withdraw)


def _condition(new: bool) -> str:
    values = (*STATUSES, 'closed') if new else STATUSES
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _sqlite_replace_check(table: str, name: str, condition: str) -> None:
    """Rewrite ``CONSTRAINT name CHECK (…)`` in the table's stored CREATE TABLE statement."""
    bind = op.get_bind()
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (table,)).scalar_one()
    marker = f"CONSTRAINT {name} CHECK ("
    start = sql.find(marker)
    if start < 0:
        raise RuntimeError(f"{table}: no constraint {name}")
    i = start + len(marker)
    depth = 1
    while depth:
        depth += {"(": 1, ")": -1}.get(sql[i], 0)
        i += 1
    new_sql = sql[:start] + f"{marker}{condition})" + sql[i:]
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (new_sql, table))
    bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def _replace_check(new: bool) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _sqlite_replace_check(TABLE, NAME, _condition(new))
    else:
        op.drop_constraint(op.f(NAME), TABLE, type_='check')
        op.create_check_constraint(op.f(NAME), TABLE, _condition(new))


def upgrade() -> None:
    _replace_check(new=True)
    op.execute(sa.text(f"UPDATE {TABLE} SET status = 'closed' WHERE status = 'dismissed' AND resolved_by IS NULL"
                       " AND resolution = :resolution").bindparams(resolution=WITHDRAWAL))


def downgrade() -> None:
    op.execute(f"UPDATE {TABLE} SET status = 'dismissed' WHERE status = 'closed'")
    _replace_check(new=False)
