"""content and publishing: channels, posts, variants, approvals, deliveries

Revision ID: 0006_publishing
Revises: 0005_notifications
Create Date: 2026-11-23 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import civicpulse.db.base  # noqa: F401

revision = '0006_publishing'
down_revision = '0005_notifications'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pub_rate_buckets',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_pub_rate_buckets'))
    )
    op.create_table('content_library',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('texts', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=True),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_content_library_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_library'))
    )
    with op.batch_alter_table('content_library', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_content_library_source'), ['source'], unique=False)
        batch_op.create_index(batch_op.f('ix_content_library_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_content_library_unit_path'), ['unit_path'], unique=False)
    op.create_table('content_media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('stored_name', sa.String(length=200), nullable=False),
    sa.Column('mime', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('alt_text', sa.Text(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_content_media_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_content_media_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_media')),
    sa.UniqueConstraint('stored_name', name=op.f('uq_content_media_stored_name'))
    )
    with op.batch_alter_table('content_media', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_content_media_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_content_media_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_content_media_unit_path'), ['unit_path'], unique=False)
    op.create_table('pub_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('platform', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('secrets', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('health_ok', sa.Boolean(), nullable=True),
    sa.Column('health_message', sa.Text(), nullable=True),
    sa.Column('health_checked_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('token_expires_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('secrets_updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_pub_channels_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pub_channels'))
    )
    with op.batch_alter_table('pub_channels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pub_channels_platform'), ['platform'], unique=False)
        batch_op.create_index(batch_op.f('ix_pub_channels_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pub_channels_unit_path'), ['unit_path'], unique=False)
    op.create_table('pub_workflows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('crisis_steps', sa.JSON(), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_pub_workflows_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pub_workflows')),
    sa.UniqueConstraint('unit_id', name=op.f('uq_pub_workflows_unit_id'))
    )
    op.create_table('content_posts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('texts', sa.JSON(), nullable=False),
    sa.Column('link', sa.String(length=2000), nullable=True),
    sa.Column('hashtags', sa.JSON(), nullable=False),
    sa.Column('media_ids', sa.JSON(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('review_status', sa.String(length=20), nullable=False),
    sa.Column('review_steps', sa.JSON(), nullable=False),
    sa.Column('review_step', sa.Integer(), nullable=False),
    sa.Column('review_crisis', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_content_posts_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_content_posts_plan_id_plans'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_content_posts_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_posts'))
    )
    with op.batch_alter_table('content_posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_content_posts_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_content_posts_review_status'), ['review_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_content_posts_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_content_posts_unit_path'), ['unit_path'], unique=False)
    op.create_table('pub_website_posts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=80), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=2000), nullable=True),
    sa.Column('language', sa.String(length=2), nullable=True),
    sa.Column('published_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['pub_channels.id'], name=op.f('fk_pub_website_posts_channel_id_pub_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_pub_website_posts_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pub_website_posts')),
    sa.UniqueConstraint('channel_id', 'idempotency_key', name=op.f('uq_pub_website_posts_channel_id_idempotency_key'))
    )
    with op.batch_alter_table('pub_website_posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pub_website_posts_channel_id'), ['channel_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pub_website_posts_unit_id'), ['unit_id'], unique=False)
    op.create_table('pub_approval_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=True),
    sa.Column('step_name', sa.String(length=200), nullable=True),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=300), nullable=False),
    sa.Column('external', sa.Boolean(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_pub_approval_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['post_id'], ['content_posts.id'], name=op.f('fk_pub_approval_events_post_id_content_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pub_approval_events'))
    )
    with op.batch_alter_table('pub_approval_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pub_approval_events_post_id'), ['post_id'], unique=False)
    op.create_table('pub_review_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=40), nullable=False),
    sa.Column('reviewer', sa.String(length=300), nullable=False),
    sa.Column('expires_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('used_by_name', sa.String(length=300), nullable=True),
    sa.Column('decision', sa.String(length=30), nullable=True),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_pub_review_links_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['post_id'], ['content_posts.id'], name=op.f('fk_pub_review_links_post_id_content_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pub_review_links')),
    sa.UniqueConstraint('nonce', name=op.f('uq_pub_review_links_nonce'))
    )
    with op.batch_alter_table('pub_review_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pub_review_links_post_id'), ['post_id'], unique=False)
    op.create_table('pub_variants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=2000), nullable=True),
    sa.Column('media_ids', sa.JSON(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('needs_check', sa.Boolean(), nullable=False),
    sa.Column('in_doubt', sa.Boolean(), nullable=False),
    sa.Column('scheduled_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=80), nullable=False),
    sa.Column('lease_token', sa.String(length=40), nullable=True),
    sa.Column('lease_until', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('external_id', sa.String(length=300), nullable=True),
    sa.Column('external_url', sa.String(length=2000), nullable=True),
    sa.Column('published_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['pub_channels.id'], name=op.f('fk_pub_variants_channel_id_pub_channels'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['post_id'], ['content_posts.id'], name=op.f('fk_pub_variants_post_id_content_posts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_pub_variants_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pub_variants')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_pub_variants_idempotency_key'))
    )
    with op.batch_alter_table('pub_variants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pub_variants_channel_id'), ['channel_id'], unique=False)
        batch_op.create_index('ix_pub_variants_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pub_variants_post_id'), ['post_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pub_variants_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pub_variants_unit_path'), ['unit_path'], unique=False)
    op.create_table('pub_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=30), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['variant_id'], ['pub_variants.id'], name=op.f('fk_pub_attempts_variant_id_pub_variants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pub_attempts'))
    )
    with op.batch_alter_table('pub_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pub_attempts_variant_id'), ['variant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pub_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pub_attempts_variant_id'))
    op.drop_table('pub_attempts')
    with op.batch_alter_table('pub_variants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pub_variants_unit_path'))
        batch_op.drop_index(batch_op.f('ix_pub_variants_unit_id'))
        batch_op.drop_index(batch_op.f('ix_pub_variants_post_id'))
        batch_op.drop_index('ix_pub_variants_due')
        batch_op.drop_index(batch_op.f('ix_pub_variants_channel_id'))
    op.drop_table('pub_variants')
    with op.batch_alter_table('pub_review_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pub_review_links_post_id'))
    op.drop_table('pub_review_links')
    with op.batch_alter_table('pub_approval_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pub_approval_events_post_id'))
    op.drop_table('pub_approval_events')
    with op.batch_alter_table('pub_website_posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pub_website_posts_unit_id'))
        batch_op.drop_index(batch_op.f('ix_pub_website_posts_channel_id'))
    op.drop_table('pub_website_posts')
    with op.batch_alter_table('content_posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_posts_unit_path'))
        batch_op.drop_index(batch_op.f('ix_content_posts_unit_id'))
        batch_op.drop_index(batch_op.f('ix_content_posts_review_status'))
        batch_op.drop_index(batch_op.f('ix_content_posts_plan_id'))
    op.drop_table('content_posts')
    op.drop_table('pub_workflows')
    with op.batch_alter_table('pub_channels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pub_channels_unit_path'))
        batch_op.drop_index(batch_op.f('ix_pub_channels_unit_id'))
        batch_op.drop_index(batch_op.f('ix_pub_channels_platform'))
    op.drop_table('pub_channels')
    with op.batch_alter_table('content_media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_media_unit_path'))
        batch_op.drop_index(batch_op.f('ix_content_media_unit_id'))
        batch_op.drop_index(batch_op.f('ix_content_media_sha256'))
    op.drop_table('content_media')
    with op.batch_alter_table('content_library', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_library_unit_path'))
        batch_op.drop_index(batch_op.f('ix_content_library_unit_id'))
        batch_op.drop_index(batch_op.f('ix_content_library_source'))
    op.drop_table('content_library')
    op.drop_table('pub_rate_buckets')
    # ### end Alembic commands ###
