"""training runs can be cancelled: when it was asked for, and by whom

Revision ID: 0012_training_cancel
Revises: 0011_training_runs
Create Date: 2026-12-07 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import civicpulse.db.base

revision = '0012_training_cancel'
down_revision = '0011_training_runs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancel_requested_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancelled_by_label', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        batch_op.drop_column('cancelled_by_label')
        batch_op.drop_column('cancel_requested_at')
