"""scoring: not rated (NR) evaluations, coverage; provider coverage; paid-in capital

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa
import app.core.db
from sqlalchemy.dialects import postgresql


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

GRADES = ('AAA', 'AA', 'A', 'BBB', 'BB', 'B', 'CCC', 'CC', 'C')


def _grade_check(values: tuple[str, ...]) -> str:
    return "grade IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table('data_provider', schema=None) as batch_op:
        # A plain string (checked where providers are registered): no CHECK, so that a
        # downgrade can drop it on SQLite without rebuilding the table records refer to.
        batch_op.add_column(sa.Column('coverage', sa.String(length=16), server_default='reported', nullable=False))
        batch_op.add_column(sa.Column('provinces', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
    # Providers registered before coverage existed: by kind, as new ones are.
    op.execute("UPDATE data_provider SET coverage = 'region' WHERE kind IN "
               "('tax_authority', 'court', 'market_regulator', 'grid_company', 'industry_body')")
    # No CHECK here: on SQLite it would rebuild the table every record refers to (the API and
    # imports refuse a negative amount).
    with op.batch_alter_table('enterprise', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paid_in_capital', app.core.db.Money(), nullable=True))
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_evaluation_grade'), type_='check')
        batch_op.create_check_constraint('grade', _grade_check((*GRADES, 'NR')))
        batch_op.alter_column('score', existing_type=sa.Numeric(5, 2), nullable=True)
        batch_op.alter_column('uncapped_grade', existing_type=sa.String(32), nullable=True)
        batch_op.alter_column('supervision_class', existing_type=sa.String(32), nullable=True)
        for dim in ('willingness', 'capability', 'performance'):
            batch_op.alter_column(dim, existing_type=sa.Numeric(5, 2), nullable=True)
        batch_op.add_column(sa.Column('coverage', sa.Numeric(precision=5, scale=4), nullable=True))
        batch_op.create_check_constraint('not_rated_has_no_score', "(grade = 'NR') = (score IS NULL)")


def downgrade() -> None:
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_evaluation_not_rated_has_no_score'), type_='check')
        batch_op.drop_column('coverage')
    op.execute("DELETE FROM evaluation WHERE grade = 'NR'")
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        for dim in ('willingness', 'capability', 'performance'):
            batch_op.alter_column(dim, existing_type=sa.Numeric(5, 2), nullable=False)
        batch_op.alter_column('supervision_class', existing_type=sa.String(32), nullable=False)
        batch_op.alter_column('uncapped_grade', existing_type=sa.String(32), nullable=False)
        batch_op.alter_column('score', existing_type=sa.Numeric(5, 2), nullable=False)
        batch_op.drop_constraint(op.f('ck_evaluation_grade'), type_='check')
        batch_op.create_check_constraint('grade', _grade_check(GRADES))
    # Plain DROP COLUMN (SQLite 3.35+ too): a batch rebuild would drop the tables the
    # records' foreign keys refer to.
    for table, column in (('enterprise', 'paid_in_capital'), ('data_provider', 'provinces'),
                          ('data_provider', 'coverage')):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
