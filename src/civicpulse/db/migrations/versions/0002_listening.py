"""listening

Revision ID: 0002_listening
Revises: 0001_org
Create Date: 2026-11-23 12:27:18.920714
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import civicpulse.db.base

revision = '0002_listening'
down_revision = '0001_org'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('saved_topics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_saved_topics_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_saved_topics_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_topics')),
    sa.UniqueConstraint('unit_id', 'name', name=op.f('uq_saved_topics_unit_id_name'))
    )
    with op.batch_alter_table('saved_topics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_topics_unit_id'), ['unit_id'], unique=False)

    op.create_table('sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('secrets', sa.Text(), nullable=True),
    sa.Column('cursor', sa.JSON(), nullable=False),
    sa.Column('interval_minutes', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('next_run_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_run_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('token_expires_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('webhook_token_hash', sa.String(length=64), nullable=True),
    sa.Column('items_count', sa.Integer(), nullable=False),
    sa.Column('created_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_sources_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sources')),
    sa.UniqueConstraint('unit_id', 'name', name=op.f('uq_sources_unit_id_name')),
    sa.UniqueConstraint('webhook_token_hash', name=op.f('uq_sources_webhook_token_hash'))
    )
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sources_next_run_at'), ['next_run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sources_unit_id'), ['unit_id'], unique=False)

    op.create_table('ingest_rejects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ref', sa.String(length=300), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('batch', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_ingest_rejects_source_id_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_rejects'))
    )
    with op.batch_alter_table('ingest_rejects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_rejects_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_rejects_source_id'), ['source_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_rejects_unit_id'), ['unit_id'], unique=False)

    op.create_table('items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=1000), nullable=False),
    sa.Column('external_id', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('title', sa.String(length=1000), nullable=True),
    sa.Column('author_handle', sa.String(length=300), nullable=True),
    sa.Column('author_name', sa.String(length=300), nullable=True),
    sa.Column('author_followers', sa.BigInteger(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=True),
    sa.Column('lang_score', sa.Float(), nullable=True),
    sa.Column('published_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('collected_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('likes', sa.BigInteger(), nullable=True),
    sa.Column('shares', sa.BigInteger(), nullable=True),
    sa.Column('comments', sa.BigInteger(), nullable=True),
    sa.Column('views', sa.BigInteger(), nullable=True),
    sa.Column('parent_external_id', sa.String(length=300), nullable=True),
    sa.Column('thread_external_id', sa.String(length=300), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('index_text', sa.Text(), nullable=False),
    sa.Column('dup_cluster_id', sa.Integer(), nullable=True),
    sa.Column('enriched_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sentiment', sa.String(length=8), nullable=True),
    sa.Column('sentiment_score', sa.Float(), nullable=True),
    sa.Column('voice', sa.String(length=16), nullable=True),
    sa.Column('voice_score', sa.Float(), nullable=True),
    sa.Column('toxicity', sa.String(length=12), nullable=True),
    sa.Column('toxicity_score', sa.Float(), nullable=True),
    sa.Column('entities', sa.JSON(), nullable=True),
    sa.Column('keyphrases', sa.JSON(), nullable=True),
    sa.Column('embedding', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_items_source_id_sources'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_items')),
    sa.UniqueConstraint('source_id', 'external_id', name=op.f('uq_items_source_id_external_id'))
    )
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_items_author_handle'), ['author_handle'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_content_hash'), ['content_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_dup_cluster_id'), ['dup_cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_enriched_at'), ['enriched_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_lang'), ['lang'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_published_at'), ['published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_sentiment'), ['sentiment'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index('ix_items_unit_path_published', ['unit_path', 'published_at'], unique=False)

    op.create_table('dup_clusters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('first_item_id', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sources', sa.Integer(), nullable=False),
    sa.Column('first_seen', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_seen', civicpulse.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', civicpulse.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['first_item_id'], ['items.id'], name=op.f('fk_dup_clusters_first_item_id_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dup_clusters'))
    )
    op.create_table('item_raw',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_raw_item_id_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_item_raw'))
    )
    create_search_index()


def downgrade() -> None:
    drop_search_index()
    op.drop_table('item_raw')
    op.drop_table('dup_clusters')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_unit_path_published')
        batch_op.drop_index(batch_op.f('ix_items_unit_id'))
        batch_op.drop_index(batch_op.f('ix_items_sentiment'))
        batch_op.drop_index(batch_op.f('ix_items_published_at'))
        batch_op.drop_index(batch_op.f('ix_items_lang'))
        batch_op.drop_index(batch_op.f('ix_items_enriched_at'))
        batch_op.drop_index(batch_op.f('ix_items_dup_cluster_id'))
        batch_op.drop_index(batch_op.f('ix_items_content_hash'))
        batch_op.drop_index(batch_op.f('ix_items_author_handle'))

    op.drop_table('items')
    with op.batch_alter_table('ingest_rejects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_rejects_unit_id'))
        batch_op.drop_index(batch_op.f('ix_ingest_rejects_source_id'))
        batch_op.drop_index(batch_op.f('ix_ingest_rejects_at'))

    op.drop_table('ingest_rejects')
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sources_unit_id'))
        batch_op.drop_index(batch_op.f('ix_sources_next_run_at'))

    op.drop_table('sources')
    with op.batch_alter_table('saved_topics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_topics_unit_id'))

    op.drop_table('saved_topics')


# index_text holds space-joined tokens: FTS5 must split on white space only (Thai vowel and tone
# marks are combining characters, punctuation may be part of a token) and keep diacritics.
FTS5_TOKENIZE = "unicode61 remove_diacritics 0 categories 'L* M* N* P* S* Co'"


def create_search_index() -> None:
    """Full-text search over items.index_text (words already segmented by civicpulse.nlp.segment)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE item_fts USING fts5(index_text, content='items', content_rowid='id', "
            f'tokenize="{FTS5_TOKENIZE}")'
        )
        op.execute(
            "CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN "
            "INSERT INTO item_fts(rowid, index_text) VALUES (new.id, new.index_text); END"
        )
        op.execute(
            "CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN "
            "INSERT INTO item_fts(item_fts, rowid, index_text) VALUES ('delete', old.id, old.index_text); END"
        )
        op.execute(
            "CREATE TRIGGER items_fts_au AFTER UPDATE OF index_text ON items BEGIN "
            "INSERT INTO item_fts(item_fts, rowid, index_text) VALUES ('delete', old.id, old.index_text); "
            "INSERT INTO item_fts(rowid, index_text) VALUES (new.id, new.index_text); END"
        )
    else:
        op.execute(
            "ALTER TABLE items ADD COLUMN index_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', coalesce(index_text, ''))) STORED"
        )
        op.execute("CREATE INDEX ix_items_index_tsv ON items USING gin (index_tsv)")


def drop_search_index() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trig in ("items_fts_ai", "items_fts_ad", "items_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trig}")
        op.execute("DROP TABLE IF EXISTS item_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_items_index_tsv")
        op.execute("ALTER TABLE items DROP COLUMN IF EXISTS index_tsv")
