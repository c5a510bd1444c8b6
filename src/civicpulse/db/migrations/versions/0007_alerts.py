"""early warning: emerging issues, alert rules, alerts, deliveries

Revision ID: 0007_alerts
Revises: 0006_publishing
Create Date: 2026-11-23 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import civicpulse.db.base  # noqa: F401

revision = '0007_alerts'
down_revision = '0006_publishing'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('alert_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('secrets', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_status', sa.String(length=20), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_alert_channels_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_channels')),
    sa.UniqueConstraint('unit_id', 'name', name=op.f('uq_alert_channels_unit_id_name'))
    )
    with op.batch_alter_table('alert_channels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_channels_unit_id'), ['unit_id'], unique=False)

    op.create_table('alert_issues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('label_locked', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('centroid', sa.LargeBinary(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('count_1h', sa.Integer(), nullable=False),
    sa.Column('count_6h', sa.Integer(), nullable=False),
    sa.Column('count_24h', sa.Integer(), nullable=False),
    sa.Column('growth', sa.Float(), nullable=False),
    sa.Column('negative_share', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('stats', sa.JSON(), nullable=False),
    sa.Column('linked_unit_ids', sa.JSON(), nullable=False),
    sa.Column('topic_ids', sa.JSON(), nullable=False),
    sa.Column('representative_ids', sa.JSON(), nullable=False),
    sa.Column('first_seen', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['alert_issues.id'], name=op.f('fk_alert_issues_merged_into_id_alert_issues'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_alert_issues_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_issues'))
    )
    with op.batch_alter_table('alert_issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_issues_last_seen'), ['last_seen'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_issues_score'), ['score'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_issues_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_issues_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_issues_unit_path'), ['unit_path'], unique=False)

    op.create_table('alert_settings',
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('quiet_start', sa.Integer(), nullable=True),
    sa.Column('quiet_end', sa.Integer(), nullable=True),
    sa.Column('digest', sa.Boolean(), nullable=False),
    sa.Column('digest_minutes', sa.Integer(), nullable=False),
    sa.Column('min_severity', sa.String(length=10), nullable=False),
    sa.Column('last_digest_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_alert_settings_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('unit_id', name=op.f('pk_alert_settings'))
    )
    op.create_table('alert_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['topic_id'], ['saved_topics.id'], name=op.f('fk_alert_rules_topic_id_saved_topics'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_alert_rules_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules')),
    sa.UniqueConstraint('unit_id', 'name', name=op.f('uq_alert_rules_unit_id_name'))
    )
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_rules_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_rules_unit_path'), ['unit_path'], unique=False)

    op.create_table('alert_issue_items',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('similarity', sa.Float(), nullable=False),
    sa.Column('at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('added_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['alert_issues.id'], name=op.f('fk_alert_issue_items_issue_id_alert_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_alert_issue_items_item_id_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_alert_issue_items'))
    )
    with op.batch_alter_table('alert_issue_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_issue_items_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_issue_items_issue_id'), ['issue_id'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('issue_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('open_key', sa.String(length=200), nullable=True),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=14), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('item_ids', sa.JSON(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('updates', sa.Integer(), nullable=False),
    sa.Column('first_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('event_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['alert_issues.id'], name=op.f('fk_alerts_issue_id_alert_issues'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], name=op.f('fk_alerts_rule_id_alert_rules'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_alerts_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('unit_id', 'open_key', name=op.f('uq_alerts_unit_id_open_key'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_first_at'), ['first_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index('ix_alerts_unit_key', ['unit_id', 'key'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_unit_path'), ['unit_path'], unique=False)

    op.create_table('alert_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=True),
    sa.Column('target', sa.String(length=40), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_deliveries_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['channel_id'], ['alert_channels.id'], name=op.f('fk_alert_deliveries_channel_id_alert_channels'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_deliveries')),
    sa.UniqueConstraint('alert_id', 'target', 'revision', name=op.f('uq_alert_deliveries_alert_id_target_revision'))
    )
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_deliveries_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_deliveries_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_deliveries_status'), ['status'], unique=False)

    op.create_table('alert_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_label', sa.String(length=300), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('from_status', sa.String(length=14), nullable=True),
    sa.Column('to_status', sa.String(length=14), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_events_alert_id_alerts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_events'))
    )
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_events_alert_id'), ['alert_id'], unique=False)


def downgrade() -> None:

    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_events_alert_id'))

    op.drop_table('alert_events')
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_deliveries_status'))
        batch_op.drop_index(batch_op.f('ix_alert_deliveries_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_alert_deliveries_alert_id'))

    op.drop_table('alert_deliveries')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_unit_path'))
        batch_op.drop_index('ix_alerts_unit_key')
        batch_op.drop_index(batch_op.f('ix_alerts_unit_id'))
        batch_op.drop_index(batch_op.f('ix_alerts_status'))
        batch_op.drop_index(batch_op.f('ix_alerts_rule_id'))
        batch_op.drop_index(batch_op.f('ix_alerts_kind'))
        batch_op.drop_index(batch_op.f('ix_alerts_first_at'))

    op.drop_table('alerts')
    with op.batch_alter_table('alert_issue_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_issue_items_issue_id'))
        batch_op.drop_index(batch_op.f('ix_alert_issue_items_at'))

    op.drop_table('alert_issue_items')
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_rules_unit_path'))
        batch_op.drop_index(batch_op.f('ix_alert_rules_unit_id'))

    op.drop_table('alert_rules')
    op.drop_table('alert_settings')
    with op.batch_alter_table('alert_issues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_issues_unit_path'))
        batch_op.drop_index(batch_op.f('ix_alert_issues_unit_id'))
        batch_op.drop_index(batch_op.f('ix_alert_issues_status'))
        batch_op.drop_index(batch_op.f('ix_alert_issues_score'))
        batch_op.drop_index(batch_op.f('ix_alert_issues_last_seen'))

    op.drop_table('alert_issues')
    with op.batch_alter_table('alert_channels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_channels_unit_id'))

    op.drop_table('alert_channels')
