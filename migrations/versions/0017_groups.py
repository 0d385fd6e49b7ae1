"""groups: enterprise relations (集团与子公司) with history; the group role, group institutions
and the 集团信用管理 consent purpose

New enum values widen the CHECK constraints of ``app_user`` (role and its binding: a group user
is bound to its group's institution and to the parent enterprise), ``institution`` (kind),
``consent`` and ``query_log`` (purpose).  On PostgreSQL a constraint is dropped and made again.
On SQLite a batch rebuild would drop tables that others' foreign keys refer to (refused with
foreign keys on, and the migration runs in a transaction where they cannot be turned off), so
the constraint's text is rewritten in the schema instead: the procedure SQLite documents for
changes that leave the stored rows as they are (https://sqlite.org/lang_altertable.html §7).
Widening a CHECK leaves every row valid; a downgrade removes the rows of the new values must be removed first.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

PURPOSES = ('loan_application', 'credit_line_review', 'post_loan_monitoring', 'supply_chain_finance',
            'bid_qualification')
KINDS = ('bank', 'rural_bank', 'finance_company', 'guarantee', 'leasing', 'other')
ROLES = ('operator', 'firm', 'bank')
BINDING = ("(role = 'firm' AND enterprise_id IS NOT NULL AND institution_id IS NULL)"
           " OR (role = 'bank' AND institution_id IS NOT NULL AND enterprise_id IS NULL)"
           " OR (role = 'operator' AND enterprise_id IS NULL AND institution_id IS NULL)")
GROUP_BINDING = " OR (role = 'group' AND enterprise_id IS NOT NULL AND institution_id IS NOT NULL)"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _checks(new: bool) -> list[tuple[str, str, str]]:
    """(table, constraint name, condition) of every CHECK this migration changes."""
    purposes = (*PURPOSES, 'group_credit_management') if new else PURPOSES
    return [
        ('app_user', 'ck_app_user_user_role', _in('role', (*ROLES, 'group') if new else ROLES)),
        ('app_user', 'ck_app_user_role_binding', BINDING + GROUP_BINDING if new else BINDING),
        ('institution', 'ck_institution_institution_kind', _in('kind', (*KINDS, 'group') if new else KINDS)),
        ('consent', 'ck_consent_consent_purpose', _in('purpose', purposes)),
        ('query_log', 'ck_query_log_query_purpose', _in('purpose', purposes)),
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


def _replace_checks(new: bool) -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table, name, condition in _checks(new):
        if sqlite:
            _sqlite_replace_check(table, name, condition)
        else:
            op.drop_constraint(op.f(name), table, type_='check')
            op.create_check_constraint(op.f(name), table, condition)


def upgrade() -> None:
    op.create_table('enterprise_relation',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('child_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Enum('wholly_owned', 'controlling', 'minority', name='relation_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('share', sa.Numeric(precision=7, scale=4), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('provider_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=True),
    sa.Column('provider_ref', sa.String(length=64), nullable=True),
    sa.Column('ended_by', sa.String(length=80), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(provider_id IS NULL) <> (operator IS NULL)', name=op.f('ck_enterprise_relation_one_filer')),
    sa.CheckConstraint("kind <> 'wholly_owned' OR share = 100", name=op.f('ck_enterprise_relation_wholly_owned_is_100')),
    sa.CheckConstraint('parent_id <> child_id', name=op.f('ck_enterprise_relation_not_self')),
    sa.CheckConstraint('share > 0 AND share <= 100', name=op.f('ck_enterprise_relation_share_range')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to >= valid_from', name=op.f('ck_enterprise_relation_valid_span')),
    sa.ForeignKeyConstraint(['child_id'], ['enterprise.id'], name=op.f('fk_enterprise_relation_child_id_enterprise')),
    sa.ForeignKeyConstraint(['parent_id'], ['enterprise.id'], name=op.f('fk_enterprise_relation_parent_id_enterprise')),
    sa.ForeignKeyConstraint(['provider_id'], ['data_provider.id'], name=op.f('fk_enterprise_relation_provider_id_data_provider')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enterprise_relation'))
    )
    with op.batch_alter_table('enterprise_relation', schema=None) as batch_op:
        batch_op.create_index('ix_enterprise_relation_child', ['child_id', 'valid_from'], unique=False)
        batch_op.create_index('ix_enterprise_relation_parent', ['parent_id', 'valid_from'], unique=False)
        batch_op.create_index('uq_enterprise_relation_open', ['parent_id', 'child_id'], unique=True,
                              sqlite_where=sa.text('valid_to IS NULL'), postgresql_where=sa.text('valid_to IS NULL'))

    _replace_checks(new=True)


def downgrade() -> None:
    # Rows of the new values would break the narrower constraints: a downgrade refuses
    # rather than delete consents, their query log or users (and all that refers to them).
    for table, where in (('consent', "purpose = 'group_credit_management'"),
                         ('query_log', "purpose = 'group_credit_management'"),
                         ('app_user', "role = 'group'"), ('institution', "kind = 'group'")):
        if op.get_bind().exec_driver_sql(f"SELECT count(*) FROM {table} WHERE {where}").scalar_one():
            raise RuntimeError(f"0017 downgrade: {table} has rows where {where}; remove them first")
    _replace_checks(new=False)

    with op.batch_alter_table('enterprise_relation', schema=None) as batch_op:
        batch_op.drop_index('uq_enterprise_relation_open', sqlite_where=sa.text('valid_to IS NULL'),
                            postgresql_where=sa.text('valid_to IS NULL'))
        batch_op.drop_index('ix_enterprise_relation_parent')
        batch_op.drop_index('ix_enterprise_relation_child')

    op.drop_table('enterprise_relation')
