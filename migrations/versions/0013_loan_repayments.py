"""marketplace: loan repayments (the outcomes of disbursed loans)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa
import app.core.db


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('loan_repayment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('application_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('amount_due', app.core.db.Money(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('amount_paid', app.core.db.Money(), nullable=True),
    sa.Column('days_past_due', sa.Integer(), nullable=False),
    sa.Column('recorded_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['loan_application.id'], name=op.f('fk_loan_repayment_application_id_loan_application')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_repayment')),
    sa.UniqueConstraint('application_id', 'due_on', name=op.f('uq_loan_repayment_application_id_due_on'))
    )
    with op.batch_alter_table('loan_repayment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loan_repayment_application_id'), ['application_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('loan_repayment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loan_repayment_application_id'))

    op.drop_table('loan_repayment')
