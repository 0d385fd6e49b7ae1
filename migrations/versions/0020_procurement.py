"""procurement and certificates: grade certificates (信用等级证书) with their status history and
notice-period objections; screenings of bidders (投标人信用筛查) and the firms they screened;
the tenderer role and procurement institutions; the bidding edition of the report (招投标专用版)

New enum values widen the CHECK constraints of ``app_user`` (role and its binding: a tenderer
is bound to a procurement institution), ``institution`` (kind) and ``report`` (kind), as 0017
does: on PostgreSQL a constraint is dropped and made again, on SQLite its text is rewritten in
the schema (https://sqlite.org/lang_altertable.html §7).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

KINDS = ('bank', 'rural_bank', 'finance_company', 'guarantee', 'leasing', 'other', 'group')
ROLES = ('operator', 'firm', 'bank', 'group')
REPORT_KINDS = ('self', 'institution')
BINDING = ("(role = 'firm' AND enterprise_id IS NOT NULL AND institution_id IS NULL)"
           " OR (role = 'bank' AND institution_id IS NOT NULL AND enterprise_id IS NULL)"
           " OR (role = 'operator' AND enterprise_id IS NULL AND institution_id IS NULL)"
           " OR (role = 'group' AND enterprise_id IS NOT NULL AND institution_id IS NOT NULL)")
TENDERER_BINDING = " OR (role = 'tenderer' AND institution_id IS NOT NULL AND enterprise_id IS NULL)"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _checks(new: bool) -> list[tuple[str, str, str]]:
    """(table, constraint name, condition) of every CHECK this migration changes."""
    return [
        ('app_user', 'ck_app_user_user_role', _in('role', (*ROLES, 'tenderer') if new else ROLES)),
        ('app_user', 'ck_app_user_role_binding', BINDING + TENDERER_BINDING if new else BINDING),
        ('institution', 'ck_institution_institution_kind', _in('kind', (*KINDS, 'procurement') if new else KINDS)),
        ('report', 'ck_report_report_kind', _in('kind', (*REPORT_KINDS, 'bidding') if new else REPORT_KINDS)),
    ]


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


def _query_log_consent_optional(optional: bool) -> None:
    """``query_log.consent_pk`` nullable: a screening of public facts is in the screened firm's
    query log although no consent was used.  SQLite: the column's text in the stored schema."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        op.alter_column('query_log', 'consent_pk', existing_type=sa.BigInteger(), nullable=optional)
        return
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'query_log'").scalar_one()
    strict, loose = "consent_pk INTEGER NOT NULL,", "consent_pk INTEGER,"
    old, new = (strict, loose) if optional else (loose, strict)
    if old not in sql:
        raise RuntimeError(f"query_log: no column text {old!r}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'query_log'",
                         (sql.replace(old, new, 1),))
    bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def _replace_checks(new: bool) -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table, name, condition in _checks(new):
        if sqlite:
            _sqlite_replace_check(table, name, condition)
        else:
            op.drop_constraint(op.f(name), table, type_='check')
            op.create_check_constraint(op.f(name), table, condition)


def upgrade() -> None:
    op.create_table('certificate',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('certificate_no', sa.String(length=32), nullable=False),
    sa.Column('enterprise_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.Enum('applied', 'publicized', 'issued', 'suspended', 'revoked', 'rejected', 'expired', 'withdrawn', name='certificate_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('evaluation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('grade', sa.String(length=4), nullable=True),
    sa.Column('score', sa.String(length=16), nullable=True),
    sa.Column('scorecard_version', sa.String(length=16), nullable=True),
    sa.Column('grade_as_of', sa.Date(), nullable=True),
    sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notice_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notice_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('next_review_on', sa.Date(), nullable=True),
    sa.Column('status_reason', sa.String(length=500), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('digest', sa.String(length=64), nullable=True),
    sa.Column('signature', sa.Text(), nullable=True),
    sa.Column('kid', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['applied_by'], ['app_user.id'], name=op.f('fk_certificate_applied_by_app_user')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_certificate_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluation.id'], name=op.f('fk_certificate_evaluation_id_evaluation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate')),
    sa.UniqueConstraint('certificate_no', name=op.f('uq_certificate_certificate_no'))
    )
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.create_index('ix_certificate_enterprise_status', ['enterprise_id', 'status'], unique=False)
        batch_op.create_index('ix_certificate_status_notice', ['status', 'notice_until'], unique=False)

    op.create_table('screening',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('screening_no', sa.String(length=32), nullable=False),
    sa.Column('institution_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('client_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('tender_no', sa.String(length=100), nullable=True),
    sa.Column('tender_name', sa.String(length=300), nullable=True),
    sa.Column('rules', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('passed', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('not_found', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('kid', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['client_pk'], ['oauth_client.id'], name=op.f('fk_screening_client_pk_oauth_client')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_screening_institution_id_institution')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_screening_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening')),
    sa.UniqueConstraint('screening_no', name=op.f('uq_screening_screening_no'))
    )
    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.create_index('ix_screening_institution_created', ['institution_id', 'created_at'], unique=False)

    op.create_table('certificate_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('certificate_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('from_status', sa.String(length=32), nullable=True),
    sa.Column('to_status', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['certificate_pk'], ['certificate.id'], name=op.f('fk_certificate_event_certificate_pk_certificate')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_event'))
    )
    with op.batch_alter_table('certificate_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_event_certificate_pk'), ['certificate_pk'], unique=False)

    op.create_table('certificate_objection',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('objection_no', sa.String(length=32), nullable=False),
    sa.Column('certificate_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('open', 'upheld', 'dismissed', name='certificate_objection_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['certificate_pk'], ['certificate.id'], name=op.f('fk_certificate_objection_certificate_pk_certificate')),
    sa.ForeignKeyConstraint(['resolved_by'], ['app_user.id'], name=op.f('fk_certificate_objection_resolved_by_app_user')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_certificate_objection_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_objection')),
    sa.UniqueConstraint('objection_no', name=op.f('uq_certificate_objection_objection_no'))
    )
    with op.batch_alter_table('certificate_objection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_objection_certificate_pk'), ['certificate_pk'], unique=False)

    op.create_table('screening_bidder',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('screening_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('enterprise_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('consent_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('query_log_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['consent_pk'], ['consent.id'], name=op.f('fk_screening_bidder_consent_pk_consent')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_screening_bidder_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['query_log_id'], ['query_log.id'], name=op.f('fk_screening_bidder_query_log_id_query_log')),
    sa.ForeignKeyConstraint(['screening_pk'], ['screening.id'], name=op.f('fk_screening_bidder_screening_pk_screening')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_bidder')),
    sa.UniqueConstraint('screening_pk', 'enterprise_id', name=op.f('uq_screening_bidder_screening_pk_enterprise_id'))
    )
    with op.batch_alter_table('screening_bidder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_screening_bidder_enterprise_id'), ['enterprise_id'], unique=False)

    _replace_checks(new=True)
    _query_log_consent_optional(True)


def downgrade() -> None:
    # Rows of the new values would break the narrower constraints: a downgrade refuses
    # rather than delete users, institutions or reports (and all that refers to them).
    for table, where in (('app_user', "role = 'tenderer'"), ('institution', "kind = 'procurement'"),
                         ('report', "kind = 'bidding'")):
        if op.get_bind().exec_driver_sql(f"SELECT count(*) FROM {table} WHERE {where}").scalar_one():
            raise RuntimeError(f"0020 downgrade: {table} has rows where {where}; remove them first")
    if op.get_bind().exec_driver_sql("SELECT count(*) FROM query_log WHERE consent_pk IS NULL").scalar_one():
        raise RuntimeError("0020 downgrade: query_log has entries without a consent (screenings); remove them first")
    _replace_checks(new=False)
    _query_log_consent_optional(False)

    with op.batch_alter_table('screening_bidder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_screening_bidder_enterprise_id'))

    op.drop_table('screening_bidder')
    with op.batch_alter_table('certificate_objection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_objection_certificate_pk'))

    op.drop_table('certificate_objection')
    with op.batch_alter_table('certificate_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_event_certificate_pk'))

    op.drop_table('certificate_event')
    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.drop_index('ix_screening_institution_created')

    op.drop_table('screening')
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.drop_index('ix_certificate_status_notice')
        batch_op.drop_index('ix_certificate_enterprise_status')

    op.drop_table('certificate')
