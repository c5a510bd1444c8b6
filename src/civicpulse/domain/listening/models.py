"""Listening: sources, collected items (raw payload kept apart), rejects, saved topics, near-duplicate clusters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    insert,
    inspect,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicpulse.db.base import Base, UTCDateTime, utcnow
from civicpulse.domain.listening.query import mention_keys
from civicpulse.domain.org.models import Unit

PLATFORMS = ("rss", "file", "webhook", "mastodon", "bluesky", "youtube", "facebook", "x")


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # non-secret settings
    secrets: Mapped[str | None] = mapped_column(Text)  # encrypted JSON (tokens, keys)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    interval_minutes: Mapped[int] = mapped_column(Integer, default=15)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    webhook_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    items_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship()

    __table_args__ = (UniqueConstraint("unit_id", "name"),)

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "platform": self.platform, "unit_id": self.unit_id, "config": self.config,
                "interval_minutes": self.interval_minutes, "enabled": self.enabled}


class Item(Base):
    """One collected post, comment, article or reply."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="RESTRICT"))
    unit_id: Mapped[int] = mapped_column(Integer)  # the source's unit, copied for fast scoping
    unit_path: Mapped[str] = mapped_column(String(1000))
    external_id: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20), default="post")
    url: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str | None] = mapped_column(String(1000))
    author_handle: Mapped[str | None] = mapped_column(String(300))
    author_name: Mapped[str | None] = mapped_column(String(300))
    author_followers: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(8))
    lang_score: Mapped[float | None] = mapped_column(Float)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    collected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    shares: Mapped[int | None] = mapped_column(BigInteger)
    comments: Mapped[int | None] = mapped_column(BigInteger)
    views: Mapped[int | None] = mapped_column(BigInteger)
    parent_external_id: Mapped[str | None] = mapped_column(String(300))
    thread_external_id: Mapped[str | None] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))  # exact duplicates across sources
    index_text: Mapped[str] = mapped_column(Text, default="")  # segmented tokens for full-text search
    dup_cluster_id: Mapped[int | None] = mapped_column(Integer)
    # enrichment (filled by the enrichment job)
    enriched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sentiment: Mapped[str | None] = mapped_column(String(8))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    voice: Mapped[str | None] = mapped_column(String(16))
    voice_score: Mapped[float | None] = mapped_column(Float)
    toxicity: Mapped[str | None] = mapped_column(String(12))
    toxicity_score: Mapped[float | None] = mapped_column(Float)
    entities: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    keyphrases: Mapped[list[str] | None] = mapped_column(JSON)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 x 384, L2-normalised

    source: Mapped[Source] = relationship()

    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        # Few indexes: every one costs ingest time (bench/bench_ingest.py). Only the embedding cache looks items
        # up by content hash, and only items that have an embedding; only cluster pages look items up by
        # cluster: partial indexes cost ingest nothing. Filters on lang / author / source / unit / sentiment are
        # applied inside the full-text MATCH (filter tokens, migration 0010_search_speed).
        Index("ix_items_content_hash_embedded", "content_hash", sqlite_where=sql_text("embedding IS NOT NULL"),
              postgresql_where=sql_text("embedding IS NOT NULL")),
        Index("ix_items_dup_cluster", "dup_cluster_id", sqlite_where=sql_text("dup_cluster_id IS NOT NULL"),
              postgresql_where=sql_text("dup_cluster_id IS NOT NULL")),
    )


#: Adds an item that has words to the SQLite full-text index (content: the view item_fts_content).
FTS_INSERT_SQL = ("INSERT INTO item_fts(rowid, index_text, tags) "
                  "SELECT id, index_text, tags FROM item_fts_content WHERE id BETWEEN ? AND ?")


@event.listens_for(Item, "after_insert")
def _index_inserted_item(_mapper: Any, connection: Connection, target: Item) -> None:
    """SQLite has no insert trigger for the full-text index (it would cost a third of the insert time): an item
    inserted through the ORM with words already (``index_text``) is indexed here. Items get their words from
    enrichment (an UPDATE, indexed by trigger) and ``services.ingest`` indexes its own batches."""
    if target.index_text and connection.dialect.name == "sqlite":
        connection.exec_driver_sql(FTS_INSERT_SQL, (target.id, target.id))


class ItemMention(Base):
    """The lookup keys of an item's entities, so that ``mentions:`` filters find items through an index
    instead of reading every item's entities. One row per distinct key (``query.mention_keys``): an entity's
    id, name and text in lower case, and each end of its id from a colon on (``:ha-noi`` of ``vn:ha-noi``).
    Written with the entities: by the enrichment job (:func:`write_mentions`) and, for items written through the
    ORM, by the two hooks below. Migration 0013 filled them for the items enriched before it."""

    __tablename__ = "item_mentions"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True, index=True)

    __table_args__ = {"sqlite_with_rowid": False}  # the primary key's index is the table (SQLite)


def write_mentions(connection: Connection, entities_by_item: dict[int, object]) -> None:
    """Replace the mention keys of these items (``{item id: its entities}``) in one delete and one insert."""
    if not entities_by_item:
        return
    ids = list(entities_by_item)
    for i in range(0, len(ids), 500):
        connection.execute(delete(ItemMention).where(ItemMention.item_id.in_(ids[i:i + 500])))
    rows = [{"key": k, "item_id": item_id} for item_id, ents in entities_by_item.items() for k in mention_keys(ents)]
    if rows:
        connection.execute(insert(ItemMention), rows)


@event.listens_for(Item, "after_insert")
def _mentions_of_inserted_item(_mapper: Any, connection: Connection, target: Item) -> None:
    if target.entities:
        write_mentions(connection, {target.id: target.entities})


@event.listens_for(Item, "after_update")
def _mentions_of_updated_item(_mapper: Any, connection: Connection, target: Item) -> None:
    if inspect(target).attrs.entities.history.has_changes():
        write_mentions(connection, {target.id: target.entities})


class ItemRaw(Base):
    """The platform's original object, kept apart from the item."""

    __tablename__ = "item_raw"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class IngestReject(Base):
    """Items that could not be stored, with the reason in plain words: never silently dropped."""

    __tablename__ = "ingest_rejects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(Integer, index=True)
    unit_path: Mapped[str] = mapped_column(String(1000))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ref: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)
    batch: Mapped[str | None] = mapped_column(String(300))  # e.g. the imported file name


class SavedTopic(Base):
    __tablename__ = "saved_topics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    query: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (UniqueConstraint("unit_id", "name"),)

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "query": self.query, "unit_id": self.unit_id, "description": self.description}


class DupCluster(Base):
    """A group of near-identical items (copies, retweets, copy-pasted rumours)."""

    __tablename__ = "dup_clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    size: Mapped[int] = mapped_column(Integer)
    sources: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LabelCorrection(Base):
    """An analyst's correction of a model's label on an item (used to retrain the models)."""

    __tablename__ = "label_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(Integer, index=True)
    unit_path: Mapped[str] = mapped_column(String(1000))
    task: Mapped[str] = mapped_column(String(20))  # sentiment | voice | toxicity | lang
    old_label: Mapped[str | None] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("item_id", "task"),)


class TrainingRun(Base):
    """A retraining of one model with the analysts' corrections, asked for on the Models page (or the
    API) and run in the background: queued → running → done | failed | cancelled. ``stage`` / ``fraction``
    are its progress, ``heartbeat`` the last time it reported (a run that stopped reporting was
    interrupted); ``cancel_requested_at`` is set when an administrator cancels it while it runs (the run
    stops at its next progress report)."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(20))  # sentiment | voice | toxicity
    status: Mapped[str] = mapped_column(String(20), default="queued")
    stage: Mapped[str] = mapped_column(String(200), default="")
    fraction: Mapped[float] = mapped_column(Float, default=0.0)
    corrections: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_label: Mapped[str] = mapped_column(String(300), default="")
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    base_version: Mapped[str | None] = mapped_column(String(60))  # the version in use when it started
    new_version: Mapped[str | None] = mapped_column(String(60))
    activated: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # scores of both versions, per validation set
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_by_label: Mapped[str | None] = mapped_column(String(300))

    STALE = dt.timedelta(minutes=3)  # no report for this long: the process that ran it has stopped
    UNDER_WAY = ("queued", "running")

    @property
    def under_way(self) -> bool:
        return self.status in self.UNDER_WAY

    def is_stale(self, now: dt.datetime | None = None) -> bool:
        """Queued or running, but its process stopped reporting (a restart, a crash)."""
        last = self.heartbeat or self.requested_at
        return self.under_way and (now or utcnow()) - last > self.STALE
