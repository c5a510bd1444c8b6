"""training runs: retraining a model from the Models page, in the background, with its progress

Revision ID: 0011_training_runs
Revises: 0010_search_speed
Create Date: 2026-12-07 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import civicpulse.db.base

revision = '0011_training_runs'
down_revision = '0010_search_speed'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('training_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('stage', sa.String(length=200), nullable=False),
    sa.Column('fraction', sa.Float(), nullable=False),
    sa.Column('corrections', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('requested_label', sa.String(length=300), nullable=False),
    sa.Column('requested_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('base_version', sa.String(length=60), nullable=True),
    sa.Column('new_version', sa.String(length=60), nullable=True),
    sa.Column('activated', sa.Boolean(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_training_runs_requested_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_runs'))
    )
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_runs_requested_at'), ['requested_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_runs_requested_at'))

    op.drop_table('training_runs')
