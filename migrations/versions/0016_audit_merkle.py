"""audit: the Merkle tree over the audit log (RFC 9162) and its signed tree heads

The events stay as they are (their chain hashes do not change); ``audit_event.uscc`` names the
firm an event is about (copied from ``detail.uscc``), so that a firm can list and prove them.
The tree's leaves and nodes are filled by the first ``powercredit audit sign-head``.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_leaf',
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('idx', name=op.f('pk_audit_leaf')),
    sa.UniqueConstraint('event_id', name=op.f('uq_audit_leaf_event_id'))
    )
    op.create_table('audit_node',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_audit_node'))
    )
    op.create_table('audit_tree_head',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('root_hash', sa.String(length=64), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('kid', sa.String(length=32), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_tree_head'))
    )
    with op.batch_alter_table('audit_tree_head', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_tree_head_tree_size'), ['tree_size'], unique=False)

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uscc', sa.String(length=18), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_event_uscc'), ['uscc'], unique=False)

    # The firm of the events written so far: detail.uscc where it is a code of 18 characters
    # (as app.audit.services.uscc_of takes it).
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("UPDATE audit_event SET uscc = detail->>'uscc' "
                   "WHERE jsonb_typeof(detail->'uscc') = 'string' AND length(detail->>'uscc') = 18")
    else:
        op.execute("UPDATE audit_event SET uscc = json_extract(detail, '$.uscc') "
                   "WHERE json_type(detail, '$.uscc') = 'text' AND length(json_extract(detail, '$.uscc')) = 18")


def downgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_uscc'))
        batch_op.drop_column('uscc')

    op.drop_table('audit_tree_head')
    op.drop_table('audit_node')
    op.drop_table('audit_leaf')
