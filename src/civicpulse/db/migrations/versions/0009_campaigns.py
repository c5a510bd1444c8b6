"""campaign kits, target units, alignment scores

Revision ID: 0009_campaigns
Revises: 0008_claims
Create Date: 2026-11-23 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import civicpulse.db.base  # noqa: F401

revision = '0009_campaigns'
down_revision = '0008_claims'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaign_own_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_campaign_own_accounts_source_id_sources'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_campaign_own_accounts_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_own_accounts')),
    sa.UniqueConstraint('source_id', name=op.f('uq_campaign_own_accounts_source_id'))
    )
    with op.batch_alter_table('campaign_own_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_own_accounts_unit_id'), ['unit_id'], unique=False)
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('kit', sa.JSON(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_campaigns_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_campaigns_plan_id_plans'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_campaigns_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_deleted_at'), ['deleted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaigns_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaigns_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaigns_unit_id'), ['unit_id'], unique=False)
    op.create_table('campaign_assets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('path', sa.String(length=500), nullable=True),
    sa.Column('content_type', sa.String(length=100), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_assets_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_assets'))
    )
    with op.batch_alter_table('campaign_assets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_assets_campaign_id'), ['campaign_id'], unique=False)
    op.create_table('campaign_posts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('origin', sa.String(length=12), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=True),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=True),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('has_asset', sa.Boolean(), nullable=False),
    sa.Column('published_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('level', sa.String(length=16), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=True),
    sa.Column('scored_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_posts_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_campaign_posts_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_campaign_posts_item_id_items'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_campaign_posts_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_posts')),
    sa.UniqueConstraint('campaign_id', 'item_id', name='uq_campaign_posts_campaign_item')
    )
    with op.batch_alter_table('campaign_posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_posts_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index('ix_campaign_posts_campaign_unit', ['campaign_id', 'unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_posts_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_posts_level'), ['level'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_posts_post_id'), ['post_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_posts_published_at'), ['published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_posts_unit_id'), ['unit_id'], unique=False)
    op.create_table('campaign_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('notified_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_reminder_on', sa.Date(), nullable=True),
    sa.Column('reminders', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_targets_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_campaign_targets_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_targets')),
    sa.UniqueConstraint('campaign_id', 'unit_id', name=op.f('uq_campaign_targets_campaign_id_unit_id'))
    )
    with op.batch_alter_table('campaign_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_targets_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_targets_unit_id'), ['unit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('campaign_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_targets_unit_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_targets_campaign_id'))
    op.drop_table('campaign_targets')
    with op.batch_alter_table('campaign_posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_posts_unit_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_posts_published_at'))
        batch_op.drop_index(batch_op.f('ix_campaign_posts_post_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_posts_level'))
        batch_op.drop_index(batch_op.f('ix_campaign_posts_item_id'))
        batch_op.drop_index('ix_campaign_posts_campaign_unit')
        batch_op.drop_index(batch_op.f('ix_campaign_posts_campaign_id'))
    op.drop_table('campaign_posts')
    with op.batch_alter_table('campaign_assets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_assets_campaign_id'))
    op.drop_table('campaign_assets')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_unit_id'))
        batch_op.drop_index(batch_op.f('ix_campaigns_status'))
        batch_op.drop_index(batch_op.f('ix_campaigns_plan_id'))
        batch_op.drop_index(batch_op.f('ix_campaigns_deleted_at'))
    op.drop_table('campaigns')
    with op.batch_alter_table('campaign_own_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_own_accounts_unit_id'))
    op.drop_table('campaign_own_accounts')
