"""plans: plans, their versions, section comments and network notifications

Revision ID: 0004_plans
Revises: 0003_corrections
Create Date: 2026-11-23 12:42:28.039031
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import civicpulse.db.base

revision = '0004_plans'
down_revision = '0003_corrections'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('policy', sa.String(length=300), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('template', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('sections', sa.JSON(), nullable=False),
    sa.Column('copied_from_id', sa.Integer(), nullable=True),
    sa.Column('crisis_active', sa.Boolean(), nullable=False),
    sa.Column('crisis_phase', sa.String(length=20), nullable=True),
    sa.Column('crisis_since', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['copied_from_id'], ['plans.id'], name=op.f('fk_plans_copied_from_id_plans'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_plans_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_plans_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plans'))
    )
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plans_copied_from_id'), ['copied_from_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_plans_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_plans_unit_id'), ['unit_id'], unique=False)

    op.create_table('plan_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('section', sa.String(length=30), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_label', sa.String(length=300), nullable=False),
    sa.Column('plan_version', sa.Integer(), nullable=False),
    sa.Column('at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_plan_comments_plan_id_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_comments'))
    )
    with op.batch_alter_table('plan_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_comments_plan_id'), ['plan_id'], unique=False)

    op.create_table('plan_notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('email_to', sa.String(length=254), nullable=True),
    sa.Column('email_status', sa.String(length=20), nullable=False),
    sa.Column('email_error', sa.Text(), nullable=True),
    sa.Column('at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_plan_notifications_plan_id_plans'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_plan_notifications_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_notifications'))
    )
    with op.batch_alter_table('plan_notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_notifications_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index('ix_plan_notifications_unit_at', ['unit_id', 'at'], unique=False)

    op.create_table('plan_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_label', sa.String(length=300), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_plan_versions_plan_id_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_versions')),
    sa.UniqueConstraint('plan_id', 'number', name=op.f('uq_plan_versions_plan_id_number'))
    )


def downgrade() -> None:
    op.drop_table('plan_versions')
    with op.batch_alter_table('plan_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_plan_notifications_unit_at')
        batch_op.drop_index(batch_op.f('ix_plan_notifications_plan_id'))

    op.drop_table('plan_notifications')
    with op.batch_alter_table('plan_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_comments_plan_id'))

    op.drop_table('plan_comments')
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plans_unit_id'))
        batch_op.drop_index(batch_op.f('ix_plans_status'))
        batch_op.drop_index(batch_op.f('ix_plans_copied_from_id'))

    op.drop_table('plans')
