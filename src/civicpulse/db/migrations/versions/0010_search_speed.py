"""listening search and ingest speed

* SQLite: the FTS5 table gets a second column, ``tags``, with filter tokens (``__lang_th``,
  ``__plat_facebook``, ``__src_<source id>``, ``__unit_<unit id>``, ``__auth_<handle>``,
  ``__sent_<label>``) so that field filters are applied inside ``MATCH``. Its content comes from the
  view ``item_fts_content`` (items that have words). Items get words when enrichment writes
  ``index_text`` (update trigger on the columns the index depends on). There is no insert trigger: even
  one guarded by ``WHEN`` costs a third of SQLite's insert time. Items inserted with words already are
  indexed by whoever inserts them: ``services.ingest`` (one INSERT … SELECT per batch) and an ORM
  ``after_insert`` hook on ``Item`` (``models.py``).
* Both back-ends: indexes on ``items`` that no query needs are dropped (author_handle, lang, sentiment,
  unit_id, enriched_at, unit_path + published_at: filters on these go through the full-text index or
  are checked on the matching rows; pending enrichment is read in id order); the content_hash and
  dup_cluster_id indexes only cover the rows that have a value (the embedding cache and the cluster
  pages are their only readers), so ingest does not pay for them.

Revision ID: 0010_search_speed
Revises: 0009_campaigns
Create Date: 2026-11-23 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import civicpulse.db.base  # noqa: F401

revision = '0010_search_speed'
down_revision = '0009_campaigns'
branch_labels = None
depends_on = None

FTS5_TOKENIZE = "unicode61 remove_diacritics 0 categories 'L* M* N* P* S* Co'"

# The tokens are built on the query side by civicpulse.domain.listening.queries.fts_tag (tested there).
_DROPPED = ("author_handle", "content_hash", "dup_cluster_id", "enriched_at", "lang", "sentiment", "unit_id")
_TRIGGER_COLUMNS = "index_text, lang, author_handle, sentiment, unit_id, source_id"


def _tags(r: str) -> str:
    return (f"'__unit_' || {r}.unit_id || ' __src_' || {r}.source_id"
            f" || coalesce(' __plat_' || lower((SELECT platform FROM sources WHERE sources.id = {r}.source_id)), '')"
            f" || coalesce(' __lang_' || lower({r}.lang), '')"
            f" || coalesce(' __auth_' || lower({r}.author_handle), '')"
            f" || coalesce(' __sent_' || lower({r}.sentiment), '')")


def _create_sqlite_fts() -> None:
    op.execute(f"CREATE VIEW item_fts_content AS SELECT items.id AS id, items.index_text AS index_text, "
               f"{_tags('items')} AS tags FROM items WHERE items.index_text <> ''")
    op.execute("CREATE VIRTUAL TABLE item_fts USING fts5(index_text, tags, content='item_fts_content', "
               f'content_rowid=\'id\', tokenize="{FTS5_TOKENIZE}")')
    op.execute("CREATE TRIGGER items_fts_ad AFTER DELETE ON items WHEN old.index_text <> '' BEGIN "
               "INSERT INTO item_fts(item_fts, rowid, index_text, tags) "
               f"VALUES ('delete', old.id, old.index_text, {_tags('old')}); END")
    op.execute(f"CREATE TRIGGER items_fts_au AFTER UPDATE OF {_TRIGGER_COLUMNS} ON items BEGIN "
               "INSERT INTO item_fts(item_fts, rowid, index_text, tags) "
               f"SELECT 'delete', old.id, old.index_text, {_tags('old')} WHERE old.index_text <> ''; "
               "INSERT INTO item_fts(rowid, index_text, tags) "
               f"SELECT new.id, new.index_text, {_tags('new')} WHERE new.index_text <> ''; END")
    op.execute("INSERT INTO item_fts(item_fts) VALUES ('rebuild')")


def _drop_sqlite_fts() -> None:
    for trig in ("items_fts_ai", "items_fts_ad", "items_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trig}")
    op.execute("DROP TABLE IF EXISTS item_fts")
    op.execute("DROP VIEW IF EXISTS item_fts_content")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _drop_sqlite_fts()
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_unit_path_published')
        for name in _DROPPED:
            batch_op.drop_index(batch_op.f(f'ix_items_{name}'))
        batch_op.create_index('ix_items_content_hash_embedded', ['content_hash'], unique=False,
                              sqlite_where=sa.text('embedding IS NOT NULL'),
                              postgresql_where=sa.text('embedding IS NOT NULL'))
        batch_op.create_index('ix_items_dup_cluster', ['dup_cluster_id'], unique=False,
                              sqlite_where=sa.text('dup_cluster_id IS NOT NULL'),
                              postgresql_where=sa.text('dup_cluster_id IS NOT NULL'))
    if sqlite:
        _create_sqlite_fts()


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _drop_sqlite_fts()
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_dup_cluster')
        batch_op.drop_index('ix_items_content_hash_embedded')
        for name in _DROPPED:
            batch_op.create_index(batch_op.f(f'ix_items_{name}'), [name], unique=False)
        batch_op.create_index('ix_items_unit_path_published', ['unit_path', 'published_at'], unique=False)
    if sqlite:  # the FTS table of 0002_listening, filled from the items
        op.execute("CREATE VIRTUAL TABLE item_fts USING fts5(index_text, content='items', content_rowid='id', "
                   f'tokenize="{FTS5_TOKENIZE}")')
        op.execute("CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN "
                   "INSERT INTO item_fts(rowid, index_text) VALUES (new.id, new.index_text); END")
        op.execute("CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN "
                   "INSERT INTO item_fts(item_fts, rowid, index_text) VALUES ('delete', old.id, old.index_text); END")
        op.execute("CREATE TRIGGER items_fts_au AFTER UPDATE OF index_text ON items BEGIN "
                   "INSERT INTO item_fts(item_fts, rowid, index_text) VALUES ('delete', old.id, old.index_text); "
                   "INSERT INTO item_fts(rowid, index_text) VALUES (new.id, new.index_text); END")
        op.execute("INSERT INTO item_fts(item_fts) VALUES ('rebuild')")
