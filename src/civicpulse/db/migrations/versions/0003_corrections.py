"""label corrections

Revision ID: 0003_corrections
Revises: 0002_listening
Create Date: 2026-11-23 12:32:13.379882
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import civicpulse.db.base

revision = '0003_corrections'
down_revision = '0002_listening'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('label_corrections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('task', sa.String(length=20), nullable=False),
    sa.Column('old_label', sa.String(length=20), nullable=True),
    sa.Column('label', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_label_corrections_item_id_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_label_corrections_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_label_corrections')),
    sa.UniqueConstraint('item_id', 'task', name=op.f('uq_label_corrections_item_id_task'))
    )
    with op.batch_alter_table('label_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_label_corrections_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_label_corrections_unit_id'), ['unit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('label_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_label_corrections_unit_id'))
        batch_op.drop_index(batch_op.f('ix_label_corrections_item_id'))

    op.drop_table('label_corrections')
