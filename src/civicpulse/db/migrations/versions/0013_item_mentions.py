"""mention keys of items' entities: ``mentions:`` filters look items up through an index

Until now a ``mentions:`` filter read every item's entities (JSON) and compared their fields: 16-28 s for a rare
name over a million items (bench/bench_mentions.py). ``item_mentions`` holds, for each item, the keys such a filter
compares (``civicpulse.domain.listening.query.mention_keys``); it is filled here from the entities already stored.

Revision ID: 0013_item_mentions
Revises: 0012_training_cancel
Create Date: 2026-12-07 23:30:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = '0013_item_mentions'
down_revision = '0012_training_cancel'
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    from civicpulse.domain.listening.query import mention_keys

    op.create_table(
        'item_mentions',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_mentions_item_id_items'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('key', 'item_id', name=op.f('pk_item_mentions')),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table('item_mentions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_mentions_item_id'), ['item_id'], unique=False)

    conn = op.get_bind()
    table = sa.table('item_mentions', sa.column('key', sa.String), sa.column('item_id', sa.Integer))
    last = 0
    while True:
        rows = conn.execute(sa.text("SELECT id, entities FROM items WHERE id > :last AND entities IS NOT NULL "
                                    "ORDER BY id LIMIT :n"), {"last": last, "n": _BATCH}).all()
        if not rows:
            break
        out: list[dict[str, object]] = []
        for item_id, entities in rows:
            if isinstance(entities, str):  # SQLite gives the JSON as text
                entities = json.loads(entities)
            out.extend({"key": k, "item_id": item_id} for k in mention_keys(entities))
        if out:
            conn.execute(table.insert(), out)
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table('item_mentions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_mentions_item_id'))
    op.drop_table('item_mentions')
