"""rumour and claim registry, claim matches

Revision ID: 0008_claims
Revises: 0007_alerts
Create Date: 2026-11-23 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import civicpulse.db.base

revision = '0008_claims'
down_revision = '0007_alerts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('correction', sa.JSON(), nullable=False),
    sa.Column('correction_url', sa.String(length=2000), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('first_seen_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verdict_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('source_item_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_claims_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_claims_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claims'))
    )
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claims_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_unit_path'), ['unit_path'], unique=False)

    op.create_table('claim_match_cursors',
    sa.Column('lane', sa.String(length=20), nullable=False),
    sa.Column('last_item_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('lane', name=op.f('pk_claim_match_cursors'))
    )
    op.create_table('claim_texts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('text_key', sa.String(length=64), nullable=False),
    sa.Column('tokens', sa.Text(), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_claim_texts_claim_id_claims'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_texts')),
    sa.UniqueConstraint('unit_id', 'text_key', name=op.f('uq_claim_texts_unit_id_text_key'))
    )
    with op.batch_alter_table('claim_texts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_texts_claim_id'), ['claim_id'], unique=False)

    op.create_table('claim_matches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('item_unit_path', sa.String(length=1000), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('matched_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_claim_matches_claim_id_claims'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_claim_matches_item_id_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_matches')),
    sa.UniqueConstraint('claim_id', 'item_id', name=op.f('uq_claim_matches_claim_id_item_id'))
    )
    with op.batch_alter_table('claim_matches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_matches_item_id'), ['item_id'], unique=False)
        batch_op.create_index('ix_claim_matches_matched_at', ['matched_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('claim_matches', schema=None) as batch_op:
        batch_op.drop_index('ix_claim_matches_matched_at')
        batch_op.drop_index(batch_op.f('ix_claim_matches_item_id'))

    op.drop_table('claim_matches')
    with op.batch_alter_table('claim_texts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_texts_claim_id'))

    op.drop_table('claim_texts')
    op.drop_table('claim_match_cursors')
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claims_unit_path'))
        batch_op.drop_index(batch_op.f('ix_claims_unit_id'))
        batch_op.drop_index(batch_op.f('ix_claims_status'))

    op.drop_table('claims')
