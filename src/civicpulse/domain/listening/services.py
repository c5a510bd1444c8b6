"""All writes of the listening area: sources, ingest, rejects, saved topics, near-duplicate clusters."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import hashlib
import json
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from civicpulse import crypto
from civicpulse.config import Settings
from civicpulse.connectors.base import FetchedItem
from civicpulse.db.base import utcnow
from civicpulse.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicpulse.domain.listening.models import FTS_INSERT_SQL, IngestReject, Item, ItemRaw, SavedTopic, Source
from civicpulse.domain.listening.query import QuerySyntaxError, parse
from civicpulse.domain.listening.schemas import SourceCreate, SourceUpdate, TopicCreate, TopicUpdate
from civicpulse.domain.org import audit
from civicpulse.domain.org import queries as org_queries
from civicpulse.domain.org import services as org
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor, require
from civicpulse.domain.org.security import new_secret, sha256

MAX_TEXT = 100_000
BATCH = 500
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


# ------------------------------------------------------------------ sources


def get_source(session: Session, source_id: int) -> Source:
    src = session.get(Source, source_id)
    if src is None:
        raise NotFound(f"Source {source_id} was not found")
    return src


def _check_config(platform: str, config: dict[str, Any], secrets: dict[str, Any] | None = None) -> None:
    if "allow_private" in config:
        raise ValidationFailed(
            "Private network addresses are allowed or refused for the whole installation by its administrator "
            "(setting CIVICPULSE_ALLOW_PRIVATE_FETCH), not per source", details={"field": "config.allow_private"})
    if platform in ("file", "webhook"):
        return
    from civicpulse.connectors.registry import platform_info

    fields = platform_info(platform).fields
    secret_names = sorted(f.name for f in fields if f.secret and f.name in config)
    if secret_names:
        raise ValidationFailed(
            f"{', '.join(secret_names)} must be given as a secret (stored encrypted), not as a plain setting",
            details={"fields": secret_names})
    known = {f.name for f in fields}
    unknown = sorted(set(config) - known - {"licence"})
    if unknown:
        raise ValidationFailed(f"The {platform} source has no setting named {', '.join(unknown)}",
                               details={"unknown": unknown})
    missing = [f.name for f in fields if f.required and not f.secret and not config.get(f.name)]
    if secrets is not None:
        missing += [f.name for f in fields if f.required and f.secret and not secrets.get(f.name)]
    if missing:
        raise ValidationFailed(f"The {platform} source needs: {', '.join(missing)}", details={"missing": missing})


def create_source(session: Session, actor: Actor, settings: Settings, data: SourceCreate) -> tuple[Source, str | None]:
    unit = org.get_unit(session, data.unit_id)
    require(actor, "listening.manage", unit)
    if session.scalar(select(func.count()).select_from(Source).where(Source.unit_id == unit.id, Source.name == data.name)):
        raise Conflict(f"Unit '{unit.code}' already has a source named '{data.name}'", details={"field": "name"})
    _check_config(data.platform, data.config, data.secrets)
    src = Source(unit_id=unit.id, name=" ".join(data.name.split()), platform=data.platform, config=data.config,
                 secrets=crypto.encrypt(settings, data.secrets) if data.secrets else None,
                 interval_minutes=data.interval_minutes, enabled=data.enabled, cursor={},
                 next_run_at=utcnow() if data.platform not in ("file", "webhook") else None)
    webhook_token = None
    if data.platform == "webhook":
        webhook_token = "cpw_" + new_secret(24)
        src.webhook_token_hash = sha256(webhook_token)
    session.add(src)
    session.flush()
    audit.record(session, actor, "source.create", unit=unit, object_type="source", object_id=src.id,
                 after={**src.snapshot(), "secrets": sorted(data.secrets)})
    return src, webhook_token


def update_source(session: Session, actor: Actor, settings: Settings, source_id: int, data: SourceUpdate) -> Source:
    src = get_source(session, source_id)
    require(actor, "listening.manage", src.unit)
    before = src.snapshot()
    changes = data.model_dump(exclude_unset=True)
    if "config" in changes and changes["config"] is not None:
        _check_config(src.platform, changes["config"])
    for key in ("name", "config", "interval_minutes", "enabled"):
        if changes.get(key) is not None:
            setattr(src, key, changes[key])
    if changes.get("secrets"):
        merged = {**crypto.decrypt(settings, src.secrets), **changes["secrets"]}
        src.secrets = crypto.encrypt(settings, merged)
    if src.enabled and src.next_run_at is None and src.platform not in ("file", "webhook"):
        src.next_run_at = utcnow()
    b, a = audit.diff(before, src.snapshot())
    if changes.get("secrets"):
        a["secrets_changed"] = sorted(changes["secrets"])
    audit.record(session, actor, "source.update", unit=src.unit, object_type="source", object_id=src.id, before=b, after=a)
    return src


def delete_source(session: Session, actor: Actor, source_id: int) -> None:
    src = get_source(session, source_id)
    require(actor, "listening.manage", src.unit)
    n = session.scalar(select(func.count()).select_from(Item).where(Item.source_id == src.id)) or 0
    if n:
        raise Conflict(f"Source '{src.name}' has collected {n} item(s); disable it instead of deleting it",
                       details={"items": n})
    audit.record(session, actor, "source.delete", unit=src.unit, object_type="source", object_id=src.id,
                 before=src.snapshot())
    session.delete(src)


def _units_with_sources(session: Session, unit: Unit) -> str | None:
    n = session.scalar(select(func.count()).select_from(Source).where(Source.unit_id == unit.id)) or 0
    return f"{n} listening source(s)" if n else None


org.UNIT_DELETE_CHECKS.append(_units_with_sources)


def source_for_webhook(session: Session, token: str) -> Source:
    src = session.scalar(select(Source).where(Source.webhook_token_hash == sha256(token or "")))
    if src is None or src.platform != "webhook":
        from civicpulse.domain.errors import NotAuthenticated

        raise NotAuthenticated("The webhook token is not valid")
    if not src.enabled:
        raise ValidationFailed(f"The webhook source '{src.name}' is disabled")
    return src


# ------------------------------------------------------------------ ingest


@dataclasses.dataclass
class IngestStats:
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: list[str] = dataclasses.field(default_factory=list)  # first few, for display
    new_ids: list[int] = dataclasses.field(default_factory=list)

    def add(self, other: IngestStats) -> None:
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.reasons.extend(other.reasons[: max(0, 50 - len(self.reasons))])
        self.new_ids.extend(other.new_ids)


def clean_text(text: str) -> str:
    """NFC, no control characters or lone surrogates; the text is otherwise stored as given."""
    # the usual case: nothing to remove (printable: no control characters, no surrogates; else one regex scan),
    # then NFC (which adds neither)
    if text.isprintable() or _BAD_CHAR.search(text) is None:
        return unicodedata.normalize("NFC", text).strip()
    if _SURROGATE.search(text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    return _CTRL.sub("", unicodedata.normalize("NFC", text)).strip()


def content_hash(text: str) -> str:
    # white space runs → one space, trimmed (str.split() and re's \s agree on what white space is)
    folded = text.casefold()
    # already so when printable (the only printable white space is " "), without "  " and not at either end
    if not folded.isprintable() or "  " in folded or folded[:1] == " " or folded[-1:] == " ":
        folded = " ".join(folded.split())
    return hashlib.sha256(folded.encode()).hexdigest()


class RawJson(dict[str, Any]):
    """A raw payload that remembers the JSON text it was read from (``text``).

    Ingest stores that text as the item's raw payload instead of serialising the dict again (the same JSON
    value; the text as received). Changing the dict forgets the text, so what is stored always matches it.
    """

    __slots__ = ("_text",)  # unset when made from a dict (RawJson(d) copies d in C): no text
    _text: str | None

    @property
    def text(self) -> str | None:
        """The JSON text this dict was read from, or None (made from a dict, or changed since)."""
        return getattr(self, "_text", None)

    @classmethod
    def of(cls, data: dict[str, Any], text: str) -> RawJson:
        """A copy of ``data`` with ``text``, which the caller knows to be JSON text of exactly that value."""
        new = cls()
        dict.update(new, data)  # ~3× cheaper than cls(data), which goes through dict.__init__
        new._text = text
        return new

    @classmethod
    def loads(cls, line: str) -> RawJson:
        """Parses one JSON object (e.g. a JSONL line) and keeps its text (without surrounding white space).

        Raises ``json.JSONDecodeError`` (a ``ValueError``) like ``json.loads``, or ``ValueError`` for JSON that
        is not an object."""
        doc = line.strip()
        obj = json_loads(doc)
        if type(obj) is not dict:
            raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
        return cls.of(obj, doc)

    def __setitem__(self, key: str, value: Any) -> None:
        self._text = None
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._text = None
        super().__delitem__(key)

    def __ior__(self, other: Any) -> RawJson:  # type: ignore[override,misc]
        self._text = None
        return super().__ior__(other)  # type: ignore[return-value]

    def update(self, *args: Any, **kw: Any) -> None:
        self._text = None
        super().update(*args, **kw)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self._text = None
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self._text = None
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self._text = None
        return super().popitem()

    def clear(self) -> None:
        self._text = None
        super().clear()


def json_loads(text: str) -> Any:
    """``json.loads(text)``, the same value or the same error, about twice as fast on typical items.

    orjson parses first. It gives what ``json`` gives for every document it accepts, except integers
    outside the 64-bit range, which it turns into floats; so a document holding any float is parsed again
    by ``json`` (floats are rare in collected items), as is one orjson refuses (NaN, Infinity, lone
    surrogates: ``json`` accepts them; or invalid JSON, for ``json``'s own error message and position)."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    return json.loads(text) if type(obj) in _FLOAT_OR_NESTED and _has_float(obj) else obj


_FLOAT_OR_NESTED = frozenset((float, dict, list))


def _has_float(value: Any) -> bool:
    """Whether a parsed JSON value is or holds a float."""
    if type(value) is float:
        return True
    values = value.values() if type(value) is dict else value
    # the usual case, a flat object of strings and numbers: one pass in C over its value types
    return not _FLOAT_OR_NESTED.isdisjoint(map(type, values)) and any(
        type(v) in _FLOAT_OR_NESTED and _has_float(v) for v in values)


def _raw_text(raw: dict[str, Any]) -> str:
    text = raw.text if type(raw) is RawJson else None
    return text if text is not None else _RAW_JSON.encode(raw)


#: What validation yields per item, in this order (a tuple, not a dict: ingest handles millions of them).
_ROW_COLUMNS = ("external_id", "kind", "url", "title", "author_handle", "author_name", "author_followers", "text",
                "lang", "published_at", "likes", "shares", "comments", "views", "parent_external_id",
                "thread_external_id", "content_hash", "index_text")
_COUNTS = slice(10, 14)  # likes, shares, comments, views


def _same_time(value: dt.datetime | None) -> Any:
    return value


def _validate(it: FetchedItem, when: Callable[[dt.datetime | None], Any] = _same_time) -> tuple[Any, ...] | str:
    """The row of ``_ROW_COLUMNS`` for an item (``published_at`` passed through ``when``), or why it is refused."""
    ext = it.external_id
    if not ext or (ext[0].isspace() or ext[-1].isspace()):
        ext = (ext or "").strip()
        if not ext:
            return "the item has no id"
    if len(ext) > 300:
        return f"the id is {len(ext)} characters long (limit 300)"
    text = it.text
    if not isinstance(text, str):
        return "the text is not a string"
    # clean_text and content_hash, with one printable check for both: printable text has no control
    # characters or surrogates, and no white space but " " (NFC, strip and casefold keep it so)
    printable = text.isprintable()
    if printable:
        text = unicodedata.normalize("NFC", text).strip()
    else:
        text = clean_text(text)
    if not text:
        return "the text is empty"
    if len(text) > MAX_TEXT:
        return f"the text is {len(text):,} characters long (limit {MAX_TEXT:,})"
    folded = text.casefold()
    if not printable or "  " in folded:
        folded = " ".join(folded.split())
    url = it.url
    if url and len(url) > 2000:
        return "the URL is longer than 2,000 characters"
    published = it.published_at
    if published is not None and published.tzinfo is None:
        return "the publication time has no time zone"
    title, handle, name, lang = it.title, it.author_handle, it.author_name, it.language
    return (ext, it.kind or "post", url, (title or None) and title[:1000],
            (handle or None) and handle.lstrip("@")[:300], (name or None) and name[:300], it.author_followers, text,
            lang[:8] if lang else None, when(published), it.likes, it.shares, it.comments, it.views,
            it.parent_external_id, it.thread_external_id, hashlib.sha256(folded.encode()).hexdigest(), "")


def ingest(session: Session, source: Source, items: Iterable[FetchedItem], *, batch: str | None = None,
           rejects: Sequence[tuple[str, str]] = ()) -> IngestStats:
    """Stores new items of one source; existing ones (same source and id) only get fresh engagement counts.

    Invalid items are recorded in ingest_rejects with the reason; nothing is silently dropped.
    """
    stats = IngestStats()
    now = utcnow()
    chunk: list[FetchedItem] = []
    for ref, reason in rejects:
        _reject(session, source, stats, ref, reason, batch)
    store = _ingest_chunk_sqlite if session.connection().dialect.name == "sqlite" else _ingest_chunk
    restore = _bulk_mode(session)
    try:
        for it in items:
            chunk.append(it)
            if len(chunk) >= BATCH:
                store(session, source, chunk, stats, batch, now)
                chunk = []
        if chunk:
            store(session, source, chunk, stats, batch, now)
    finally:
        restore()
    _arrived(source, stats, now)
    return stats


def _arrived(source: Source, stats: IngestStats, now: dt.datetime) -> None:
    if stats.inserted:
        source.items_count = (source.items_count or 0) + stats.inserted
    if stats.inserted or stats.duplicates:
        source.last_success_at = now  # for push sources (files, webhooks): when something last arrived


#: SQLite page cache while ingesting (KiB): the random keys of the items indexes (published_at, the
#: source + external id unique index) stay in memory instead of being re-read from the OS for every row.
BULK_CACHE_KIB = 65_536


def _bulk_mode(session: Session) -> Callable[[], None]:
    """Bulk mode while ingesting; returns what ends it.

    The cyclic garbage collector is paused (ingest makes no reference cycles: what it allocates per item is
    freed by reference counting; the collector's passes over the batches in flight cost ~1.6 µs per item,
    bench/bench_ingest.py), and on SQLite this connection gets a larger page cache.
    """
    conn = session.connection()
    old = int(conn.exec_driver_sql("PRAGMA cache_size").scalar() or 0) if conn.dialect.name == "sqlite" else None
    page_kib = 0
    if old is not None and old > 0:  # positive: pages
        page_kib = int(conn.exec_driver_sql("PRAGMA page_size").scalar() or 4096) // 1024
    bigger = old is not None and (-old if old < 0 else old * page_kib) < BULK_CACHE_KIB  # negative: KiB
    if bigger:
        conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    gc_was_on = gc.isenabled()
    gc.disable()

    def restore() -> None:
        if bigger:
            conn.exec_driver_sql(f"PRAGMA cache_size={old}")
        if gc_was_on:
            gc.enable()

    return restore


def _reject(session: Session, source: Source, stats: IngestStats, ref: str, reason: str, batch: str | None) -> None:
    stats.rejected += 1
    if len(stats.reasons) < 50:
        stats.reasons.append(f"{ref}: {reason}")
    session.add(IngestReject(source_id=source.id, unit_id=source.unit_id, unit_path=source.unit.path, ref=ref[:300],
                             reason=reason, batch=batch))


def _ingest_chunk(session: Session, source: Source, chunk: list[FetchedItem], stats: IngestStats,
                  batch: str | None, now: dt.datetime) -> None:
    """PostgreSQL (and any other back-end): existing items looked up first, new ones by ``insert().returning()``."""
    rows: dict[str, dict[str, Any]] = {}
    raws: dict[str, dict[str, Any]] = {}
    for it in chunk:
        row = _validate(it)
        if isinstance(row, str):
            _reject(session, source, stats, _item_ref(it), row, batch)
            continue
        if row[0] in rows:  # the same id twice in one batch: keep the first
            stats.duplicates += 1
            continue
        rows[row[0]] = dict(zip(_ROW_COLUMNS, row, strict=True))
        if it.raw:
            raws[row[0]] = it.raw
    if not rows:
        return
    existing = {
        ext: (iid, likes, shares, comments, views)
        for iid, ext, likes, shares, comments, views in session.execute(
            select(Item.id, Item.external_id, Item.likes, Item.shares, Item.comments, Item.views).where(
                Item.source_id == source.id, Item.external_id.in_(list(rows))
            )
        )
    }
    new_rows = []
    source_id, unit_id, unit_path = source.id, source.unit_id, source.unit.path
    for ext, new in rows.items():
        if ext in existing:
            stats.duplicates += 1
            iid, *counts = existing[ext]
            fresh = [new["likes"], new["shares"], new["comments"], new["views"]]
            if any(f is not None and f != c for f, c in zip(fresh, counts, strict=True)):
                session.execute(update(Item).where(Item.id == iid).values(
                    **{k: v for k, v in zip(("likes", "shares", "comments", "views"), fresh, strict=True) if v is not None}))
            continue
        new.update(source_id=source_id, unit_id=unit_id, unit_path=unit_path, collected_at=now)
        new_rows.append(new)
    if not new_rows:
        return
    conn = session.connection()
    # Core executemany with RETURNING on the session's connection: the ORM bulk-insert path costs ~20% more
    # CPU per item (bench/bench_ingest.py).
    result = conn.execute(insert(Item).returning(Item.id, Item.external_id), new_rows)
    ids = {ext: iid for iid, ext in result}
    stats.inserted += len(ids)
    stats.new_ids.extend(ids.values())
    raw_rows = [{"item_id": ids[ext], "payload": payload} for ext, payload in raws.items() if ext in ids]
    if raw_rows:
        conn.execute(insert(ItemRaw), raw_rows)


#: Columns written by the SQLite path, in the order of its parameter tuples: the batch's part, then the item's.
_INSERT_COLUMNS = ("source_id", "unit_id", "unit_path", "collected_at", *_ROW_COLUMNS)
_INSERT_SQLITE = (f"INSERT INTO items ({', '.join(_INSERT_COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))}) ON CONFLICT DO NOTHING")
_EXT = 4  # external_id's place in an insert tuple
_FRESH = slice(_EXT + _COUNTS.start, _EXT + _COUNTS.stop)
_UPDATE_COUNTS = ("UPDATE items SET likes = coalesce(?, likes), shares = coalesce(?, shares), "
                  "comments = coalesce(?, comments), views = coalesce(?, views) WHERE id = ?")


def _sqlite_time(value: dt.datetime | None) -> str | None:
    """A UTC time as SQLAlchemy's DateTime stores it on SQLite (naive UTC, always with microseconds)."""
    if value is None:
        return None
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff+00:00" without its offset (the same text as of the naive time, cheaper)
    return value.isoformat(" ", "microseconds")[:-6]


_RAW_JSON = json.JSONEncoder(ensure_ascii=False)  # as the engine's JSON serializer (civicpulse.db.session)


_MAX_ROWID = 2**63 - 1


def _lookup_sqlite(conn: Any, source_id: int, exts: list[str]) -> dict[str, tuple[int, Any, Any, Any, Any]]:
    """(id, likes, shares, comments, views) of the items of a source with these external ids."""
    out = {}
    for i in range(0, len(exts), BATCH):
        part = exts[i:i + BATCH]
        for iid, ext, *counts in conn.exec_driver_sql(
                "SELECT id, external_id, likes, shares, comments, views FROM items "
                f"WHERE source_id = ? AND external_id IN ({', '.join('?' * len(part))})", (source_id, *part)):
            out[ext] = (iid, *counts)
    return out


def _ingest_chunk_sqlite(session: Session, source: Source, chunk: list[FetchedItem], stats: IngestStats,
                         batch: str | None, now: dt.datetime) -> None:
    """SQLite: parameter tuples, one ``INSERT … ON CONFLICT DO NOTHING`` executemany, no SQLAlchemy per row.

    Existing items are only looked up when the insert skipped some (its row count says so): a batch of new
    items costs no lookup. SQLite gives a row inserted without an id an id above every existing one, and this
    transaction holds the write lock, so when nothing was skipped the new ids are the last ``len(rows)`` ones
    (checked on the first and last row, else looked up); when some were skipped, the rows found with an id
    above the largest id before the insert are the new ones, the others existed and get fresh counts. (Once a
    table holds the largest possible id SQLite numbers new rows at random: then the existing ones are looked
    up before the insert.)
    """
    valid: list[tuple[Any, ...]] = []
    raws: list[str | None] = []
    validate, when = _validate, _sqlite_time
    for it in chunk:
        row = validate(it, when)
        if type(row) is str:
            _reject(session, source, stats, _item_ref(it), row, batch)
            continue
        valid.append(row)  # type: ignore[arg-type]
        raws.append(_raw_text(it.raw) if it.raw else None)
    store_rows_sqlite(session, source, valid, raws, stats, batch, now)


def _item_ref(it: FetchedItem) -> str:
    return f"item {it.external_id or '?'}"[:300]


def store_rows_sqlite(session: Session, source: Source, valid: Sequence[tuple[Any, ...]],
                      raws: Sequence[str | None], stats: IngestStats, batch: str | None, now: dt.datetime) -> None:
    """Stores rows already checked by ``_validate(item, _sqlite_time)``, with their raw payloads' JSON text
    (or None); see :func:`_ingest_chunk_sqlite`. The caller updates the source's counters (as ``ingest`` does)."""
    head = (source.id, source.unit_id, source.unit.path, _sqlite_time(now))
    tuples: list[tuple[Any, ...]] = []
    raw_list: list[str | None] = []
    seen: set[str] = set()
    for row, raw in zip(valid, raws, strict=True):
        ext = row[0]
        if ext in seen:  # the same id twice in one batch: keep the first
            stats.duplicates += 1
            continue
        seen.add(ext)
        tuples.append(head + row)
        raw_list.append(raw)
    if not tuples:
        return
    conn = session.connection()
    before = int(conn.exec_driver_sql("SELECT max(id) FROM items").scalar() or 0)
    existed = None  # at the largest possible id SQLite numbers new rows at random: tell old ones apart first
    if before >= _MAX_ROWID:
        existed = set(_lookup_sqlite(conn, source.id, [t[_EXT] for t in tuples]))
    inserted = conn.exec_driver_sql(_INSERT_SQLITE, tuples).rowcount
    if inserted == len(tuples):
        last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar() or 0)
        first = last - inserted + 1
        ends: dict[int, str] = dict(conn.exec_driver_sql("SELECT id, external_id FROM items WHERE id IN (?, ?)", (first, last)).all())
        if ends.get(first) == tuples[0][_EXT] and ends.get(last) == tuples[-1][_EXT]:
            # the usual case: all new, numbered first … last in order (no lookups, no dicts)
            stats.inserted += inserted
            stats.new_ids.extend(range(first, last + 1))
            if any(t[-1] for t in tuples):  # items arrive without words unless given
                words = [first + k for k, t in enumerate(tuples) if t[-1]]
                _index_words(conn, words, inserted)
            _store_raw(conn, [(first + k, raw) for k, raw in enumerate(raw_list) if raw is not None])
            return
    rows = {t[_EXT]: t for t in tuples}
    raw_of = {t[_EXT]: raw for t, raw in zip(tuples, raw_list, strict=True) if raw is not None}
    # some existed (or the ids were not the last ones): look them up
    ids: dict[str, int] = {}
    fresh_counts = []
    for ext, (iid, *counts) in _lookup_sqlite(conn, source.id, list(rows)).items():
        if (ext not in existed) if existed is not None else iid > before:
            ids[ext] = iid
            continue
        stats.duplicates += 1
        fresh = rows[ext][_FRESH]
        if any(f is not None and f != c for f, c in zip(fresh, counts, strict=True)):
            fresh_counts.append((*fresh, iid))
    if fresh_counts:
        conn.exec_driver_sql(_UPDATE_COUNTS, fresh_counts)
    ids = {ext: ids[ext] for ext in rows if ext in ids}  # in insert order
    if not ids:
        return
    stats.inserted += len(ids)
    stats.new_ids.extend(ids.values())
    words = [iid for ext, iid in ids.items() if rows[ext][-1]]  # items arrive without words unless given
    _index_words(conn, words, len(ids))
    _store_raw(conn, [(ids[ext], payload) for ext, payload in raw_of.items() if ext in ids])


def _index_words(conn: Any, words: list[int], inserted: int) -> None:
    """Index the new items that came with words (there is no per-row FTS insert trigger)."""
    if not words:
        return
    if len(words) == inserted and words[-1] - words[0] + 1 == len(words):
        conn.exec_driver_sql(FTS_INSERT_SQL, (words[0], words[-1]))
    else:
        conn.exec_driver_sql(FTS_INSERT_SQL, [(iid, iid) for iid in words])


def _store_raw(conn: Any, raw_tuples: list[tuple[int, str]]) -> None:
    if raw_tuples:
        conn.exec_driver_sql("INSERT INTO item_raw (item_id, payload) VALUES (?, ?)", raw_tuples)


# ------------------------------------------------------------------ collecting from platforms


def connector_for(settings: Settings, source: Source):  # type: ignore[no-untyped-def]
    from civicpulse.connectors.registry import get_connector

    cls = get_connector(source.platform)
    config = {**source.config, **crypto.decrypt(settings, source.secrets)}
    config["allow_private"] = settings.allow_private_fetch  # an installation-wide decision, never per source
    return cls(config)


def run_source(db, settings: Settings, source_id: int, *, actor: Actor | None = None) -> IngestStats:  # type: ignore[no-untyped-def]
    """Fetches one source once and stores what it brings. Errors are kept on the source in plain words."""
    from civicpulse.connectors.base import ConnectorError

    actor = actor or Actor.system_actor("scheduler")
    with db.session() as s:
        src = get_source(s, source_id)
        unit = src.unit
        if actor is not None and not actor.system:
            require(actor, "listening.manage", unit)
        if src.platform in ("file", "webhook"):
            raise ValidationFailed(f"Source '{src.name}' receives its items ({src.platform}); it cannot be fetched")
        conn = connector_for(settings, src)
        cursor = dict(src.cursor or {})
    now = utcnow()
    try:
        result = conn.fetch(cursor)
    except ConnectorError as exc:
        with db.session() as s:
            src = get_source(s, source_id)
            src.last_run_at = now
            src.last_error = exc.message
            src.last_error_at = now
            delay = exc.retry_after if exc.kind == "rate_limited" and exc.retry_after else src.interval_minutes * 60
            if exc.kind == "auth":
                delay = max(delay, 3600)
            src.next_run_at = now + dt.timedelta(seconds=delay)
            audit.record(s, actor, "source.fetch_failed", unit=src.unit, object_type="source", object_id=src.id,
                         note=f"{exc.kind}: {exc.message}"[:1000])
        raise
    with db.session() as s:
        src = get_source(s, source_id)
        stats = ingest(s, src, result.items, rejects=result.rejected, batch=f"fetch {now:%Y-%m-%d %H:%M}")
        src.cursor = result.cursor
        src.last_run_at = now
        src.last_success_at = now
        src.last_error = None
        src.next_run_at = now + dt.timedelta(minutes=src.interval_minutes)
    return stats


def due_sources(db, now: dt.datetime | None = None) -> list[int]:  # type: ignore[no-untyped-def]
    now = now or utcnow()
    with db.session() as s:
        return list(s.scalars(select(Source.id).where(
            Source.enabled.is_(True), Source.next_run_at.is_not(None), Source.next_run_at <= now,
            Source.platform.not_in(("file", "webhook"))).order_by(Source.next_run_at)))


def record_health(db, settings: Settings, source_id: int) -> Any:  # type: ignore[no-untyped-def]
    """Asks the platform whether the source's credentials still work and keeps the answer on the source."""
    from civicpulse.connectors.base import ConnectorError

    with db.session() as s:
        src = get_source(s, source_id)
        conn = connector_for(settings, src)
    try:
        health = conn.health()
    except ConnectorError as exc:
        with db.session() as s:
            src = get_source(s, source_id)
            src.last_error, src.last_error_at = exc.message, utcnow()
        raise
    with db.session() as s:
        src = get_source(s, source_id)
        src.token_expires_at = health.token_expires_at
        if not health.ok:
            src.last_error, src.last_error_at = health.message, health.checked_at
    return health


# ------------------------------------------------------------------ saved topics


def _check_query(q: str) -> None:
    """A saved query must be valid for every search back-end, not only parse."""
    from civicpulse.domain.listening.query import to_fts5, to_tsquery

    try:
        node = parse(q)
        to_fts5(node)
        to_tsquery(node)
    except QuerySyntaxError as exc:
        raise ValidationFailed(f"The query is not valid: {exc}", details={"field": "query", "column": exc.column,
                                                                           "pointer": exc.pointer(q)}) from exc


def create_topic(session: Session, actor: Actor, data: TopicCreate) -> SavedTopic:
    unit = org.get_unit(session, data.unit_id)
    require(actor, "listening.manage", unit)
    _check_query(data.query)
    if session.scalar(select(func.count()).select_from(SavedTopic).where(SavedTopic.unit_id == unit.id,
                                                                        SavedTopic.name == data.name)):
        raise Conflict(f"Unit '{unit.code}' already has a topic named '{data.name}'", details={"field": "name"})
    t = SavedTopic(unit_id=unit.id, name=" ".join(data.name.split()), query=data.query.strip(),
                   description=data.description, created_by_id=actor.user_id)
    session.add(t)
    session.flush()
    audit.record(session, actor, "topic.create", unit=unit, object_type="topic", object_id=t.id, after=t.snapshot())
    return t


def get_topic(session: Session, topic_id: int) -> SavedTopic:
    t = session.get(SavedTopic, topic_id)
    if t is None:
        raise NotFound(f"Topic {topic_id} was not found")
    return t


def update_topic(session: Session, actor: Actor, topic_id: int, data: TopicUpdate) -> SavedTopic:
    t = get_topic(session, topic_id)
    require(actor, "listening.manage", t.unit)
    if data.version is not None and data.version != t.version:
        raise Conflict(f"Topic '{t.name}' was changed by someone else; reload it and apply your change again",
                       details={"current_version": t.version})
    if data.query is not None:
        _check_query(data.query)
    before = t.snapshot()
    for key in ("name", "query", "description"):
        value = getattr(data, key)
        if value is not None:
            setattr(t, key, value.strip() if key == "query" else value)
    session.flush()
    b, a = audit.diff(before, t.snapshot())
    if a:
        audit.record(session, actor, "topic.update", unit=t.unit, object_type="topic", object_id=t.id, before=b, after=a)
    return t


def delete_topic(session: Session, actor: Actor, topic_id: int) -> None:
    t = get_topic(session, topic_id)
    require(actor, "listening.manage", t.unit)
    audit.record(session, actor, "topic.delete", unit=t.unit, object_type="topic", object_id=t.id, before=t.snapshot())
    session.delete(t)


# ------------------------------------------------------------------ near-duplicate clusters


def dedup_run(db, *, threshold: float = 0.7, progress: Callable[[int, int], None] | None = None,  # type: ignore[no-untyped-def]
              batch: int = 20_000) -> int:
    """Groups near-identical items (MinHash LSH over word shingles) and stores the clusters. Returns their number."""
    from civicpulse.domain.listening.dedup import NearDupIndex, signatures
    from civicpulse.domain.listening.models import DupCluster

    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(Item)) or 0
    index = NearDupIndex(threshold=threshold)
    done = 0
    last_id = 0
    while True:
        with db.session() as s:
            rows = s.execute(select(Item.id, Item.index_text, Item.text).where(Item.id > last_id)
                             .order_by(Item.id).limit(batch)).all()
        if not rows:
            break
        ids = [r[0] for r in rows]
        toks = [(r[1] or r[2].casefold()).split() for r in rows]
        index.add(ids, signatures(toks))
        last_id = ids[-1]
        done += len(rows)
        if progress:
            progress(done, total)
    clusters = index.clusters(min_size=2)
    with db.session() as s:
        s.execute(update(Item).where(Item.dup_cluster_id.is_not(None)).values(dup_cluster_id=None))
        s.execute(delete(DupCluster).execution_options(synchronize_session=False))
        _store_clusters(s, [[int(i) for i in members] for members in clusters])  # type: ignore[call-overload]
    return len(clusters)


def _store_clusters(s: Session, clusters: Sequence[Sequence[int]]) -> None:
    """Writes clusters in batches: one read of the members' times and sources, one multi-row insert of the
    clusters, one executemany of the item updates (per batch of 20,000 items) instead of queries per cluster."""
    from sqlalchemy import bindparam

    from civicpulse.domain.listening.models import DupCluster

    now = utcnow()
    pending: list[Sequence[int]] = []
    size = 0

    def flush() -> None:
        ids = [i for members in pending for i in members]
        info: dict[int, tuple[dt.datetime | None, int]] = {}
        for k in range(0, len(ids), 900):
            info.update({int(iid): (pub, int(sid)) for iid, pub, sid in s.execute(
                select(Item.id, Item.published_at, Item.source_id).where(Item.id.in_(ids[k:k + 900])))})
        rows: list[dict[str, Any]] = []
        for members in pending:
            times: list[dt.datetime] = [t for i in members if (t := info[i][0]) is not None]
            first = min(members, key=lambda i: (info[i][0] is None, info[i][0] or now, i))  # oldest, then lowest id
            rows.append({"first_item_id": first, "size": len(members), "sources": len({info[i][1] for i in members}),
                         "first_seen": min(times) if times else None, "last_seen": max(times) if times else None,
                         "updated_at": now})
        cluster_of = {first: cid for cid, first in s.execute(
            insert(DupCluster).returning(DupCluster.id, DupCluster.first_item_id), rows)}
        s.connection().execute(update(Item).where(Item.id == bindparam("b_id"))
                               .values(dup_cluster_id=bindparam("b_c")).execution_options(synchronize_session=False),
                               [{"b_id": i, "b_c": cluster_of[r["first_item_id"]]}
                                for r, members in zip(rows, pending, strict=True) for i in members])
        pending.clear()

    for members in clusters:
        pending.append(members)
        size += len(members)
        if size >= 20_000:
            flush()
            size = 0
    if pending:
        flush()


# ------------------------------------------------------------------ file import


def file_source(session: Session, actor: Actor, settings: Settings, unit: Unit, name: str) -> Source:
    """The file source of that name in the unit, created on first use."""
    src = session.scalar(select(Source).where(Source.unit_id == unit.id, Source.name == name))
    if src is not None:
        require(actor, "listening.manage", src.unit)
        if src.platform != "file":
            raise Conflict(f"Source '{name}' of unit '{unit.code}' is a {src.platform} source, not a file import")
        return src
    src, _ = create_source(session, actor, settings, SourceCreate(unit_id=unit.id, name=name, platform="file"))
    return src


def import_file(db, settings: Settings, actor: Actor, unit_id: int, source_name: str, path: Any, *,  # type: ignore[no-untyped-def]
                fmt: str | None = None, mapping: dict[str, str] | None = None, tz: str | None = None,
                progress: Callable[[int], None] | None = None) -> IngestStats:
    """Imports a CSV/JSONL/XLSX export in ONE transaction: a file that breaks half-way stores nothing.

    Rows that cannot be read are rejected one by one with the reason (row number included).
    """
    from civicpulse.domain.listening.importers import ImportFileError, read_rows, sniff
    from civicpulse.domain.listening.readahead import ReaderFailed

    try:
        if mapping is None:
            preview = sniff(path, fmt)
            mapping = preview.suggested_mapping
            fmt = preview.format
            if not mapping.get("text"):
                raise ValidationFailed(
                    f"Could not tell which column holds the text (columns: {', '.join(preview.columns[:20])}); "
                    "give a mapping, e.g. --map text=message")
        name = str(getattr(path, "name", None) or path)[-300:]
        zone = tz or settings.default_timezone
        with db.session() as s:
            unit = org.get_unit(s, unit_id)
            src = file_source(s, actor, settings, unit, source_name)
            if s.connection().dialect.name == "sqlite":
                stats = _import_sqlite(s, src, path, mapping, fmt, zone, name, progress)
            else:
                stats = _import_items(s, src, read_rows(path, mapping, fmt, tz=zone), name, progress)
            audit.record(s, actor, "source.import", unit=unit, object_type="source", object_id=src.id,
                         after={"file": name, "inserted": stats.inserted, "duplicates": stats.duplicates,
                                "rejected": stats.rejected})
        return stats
    except ImportFileError as exc:
        raise ValidationFailed(f"{exc} Nothing was imported.") from exc
    except ReaderFailed as exc:
        raise ValidationFailed(f"The file could not be read to the end ({exc}). Nothing was imported.") from exc


def _import_items(s: Session, src: Source, rows: Iterable[Any], batch: str,
                  progress: Callable[[int], None] | None) -> IngestStats:
    """Any database: the file's items (or rejections) through :func:`ingest`, ``BATCH`` rows at a time."""
    from civicpulse.domain.listening.importers import Rejection

    stats = IngestStats()
    good: list[FetchedItem] = []
    bad: list[tuple[str, str]] = []
    seen = 0
    for row in rows:
        seen += 1
        if isinstance(row, Rejection):
            bad.append((f"{row.unit} {row.row}", row.reason))
        else:
            good.append(row)
        if len(good) + len(bad) >= BATCH:
            stats.add(ingest(s, src, good, rejects=bad, batch=batch))
            good, bad = [], []
            if progress:
                progress(seen)
    stats.add(ingest(s, src, good, rejects=bad, batch=batch))
    if progress:
        progress(seen)
    return stats


def _import_sqlite(s: Session, src: Source, path: Any, mapping: dict[str, str], fmt: str | None, tz: str,
                   batch: str, progress: Callable[[int], None] | None) -> IngestStats:
    """SQLite: rows checked in batches — by a second process for big files (``readahead``) — and stored."""
    from civicpulse.domain.listening import readahead

    size = 0
    if isinstance(path, (str, os.PathLike)):
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0
    batches = (readahead.read_ahead(path, mapping, fmt, tz) if size >= readahead.MIN_BYTES
               else readahead.checked_batches(path, mapping, fmt, tz))
    stats = IngestStats()
    now = utcnow()
    restore = _bulk_mode(s)
    try:
        for seen, rows, raws, rejects in batches:
            for ref, reason in rejects:
                _reject(s, src, stats, ref, reason, batch)
            for k in range(0, len(rows), BATCH):
                store_rows_sqlite(s, src, rows[k:k + BATCH], raws[k:k + BATCH], stats, batch, now)
            if progress:
                progress(seen)
    finally:
        batches.close()  # stops the reading process if the import ends early
        restore()
    _arrived(src, stats, now)
    return stats


# ------------------------------------------------------------------ label corrections

LABELS = {
    "sentiment": ("pos", "neu", "neg", "q"),
    "voice": ("complaint", "request", "question", "praise", "other"),
    "toxicity": ("clean", "offensive", "hate"),
    "lang": ("th", "vi", "en", "other"),
}
_TASK_COLUMN = {"sentiment": "sentiment", "voice": "voice", "toxicity": "toxicity", "lang": "lang"}


def correct_label(session: Session, actor: Actor, item_id: int, task: str, label: str) -> Any:
    """One click by an analyst: the item's label is replaced and the correction kept for retraining."""
    from civicpulse.domain.listening.models import LabelCorrection

    if task not in LABELS:
        raise ValidationFailed(f"Unknown task '{task}'; one of {', '.join(LABELS)}")
    if label not in LABELS[task]:
        raise ValidationFailed(f"Unknown {task} label '{label}'; one of {', '.join(LABELS[task])}")
    it = session.get(Item, item_id)
    if it is None or not actor.can_see(it.unit_path):
        raise NotFound(f"Item {item_id} was not found")
    unit = session.get(Unit, it.unit_id)
    assert unit is not None
    require(actor, "nlp.correct", unit)
    col = _TASK_COLUMN[task]
    old = getattr(it, col)
    corr = session.scalar(select(LabelCorrection).where(LabelCorrection.item_id == it.id, LabelCorrection.task == task))
    if corr is None:
        corr = LabelCorrection(item_id=it.id, unit_id=it.unit_id, unit_path=it.unit_path, task=task, old_label=old,
                               label=label, user_id=actor.user_id)
        session.add(corr)
    else:
        corr.label, corr.user_id, corr.at = label, actor.user_id, utcnow()
    setattr(it, col, label)
    if task != "lang":
        setattr(it, f"{col}_score", 1.0)
    session.flush()
    audit.record(session, actor, "item.correct", unit=unit, object_type="item", object_id=it.id,
                 before={task: old}, after={task: label})
    return corr


def use_model_version(session: Session, actor: Actor, settings: Settings, task: str, version: str) -> str | None:
    """An administrator of the head office makes a listed version of a model the one in use (a rollback is
    the same step towards an older version). The version's files are checked first; the registry written is
    the writable model dir's, never the package's. Returns the version that was in use before."""
    from civicpulse.domain.listening.enrich import writable_model_dir
    from civicpulse.nlp import model as nlp_model
    from civicpulse.nlp.errors import ModelFileError

    if task not in nlp_model.TASKS:
        raise ValidationFailed(f"Unknown model '{task}'; one of {', '.join(nlp_model.TASKS)}")
    head = org_queries.head_office(session)
    if head is None:
        raise NotFound("There is no head office unit yet")
    if not actor.can("nlp.models", head):  # a network-wide setting: no unit of the actor's own is concerned
        raise PermissionDenied("Only an administrator of the head office can change the model version in use")
    md = writable_model_dir(settings)
    if version not in {v["version"] for v in nlp_model.list_versions(task, md)}:
        raise NotFound(f"{task} model version '{version}' was not found")
    try:
        nlp_model.load_weights(nlp_model.version_dir(task, version, md))
        was = nlp_model.active_version(task, md)
    except ModelFileError as e:
        raise ValidationFailed(f"{task} model version '{version}' cannot be used: {e}") from e
    if was == version:
        return was
    # the audit row first: if the registry cannot be written, the request fails and the row is rolled back with it
    audit.record(session, actor, "model.activate", unit=head, object_type="model", object_id=f"{task}/{version}",
                 before={"active": was}, after={"active": version}, note=str(md / "registry.json"))
    session.flush()
    try:
        nlp_model.activate(task, version, md)
    except OSError as e:
        raise ValidationFailed(f"The model registry {md / 'registry.json'} cannot be written: {e.strerror or e}") from e
    return was


def corrections_for_training(session: Session, task: str) -> list[dict[str, str]]:
    """All corrections of a task as training rows {text, label, lang}."""
    from civicpulse.domain.listening.models import LabelCorrection

    rows = session.execute(select(Item.text, LabelCorrection.label, Item.lang)
                           .join(Item, Item.id == LabelCorrection.item_id)
                           .where(LabelCorrection.task == task).order_by(LabelCorrection.id)).all()
    return [{"text": t, "label": lab, "lang": lang or ""} for t, lab, lang in rows]


# ------------------------------------------------------------------ retraining a model in the background

TRAINING_TASKS = ("sentiment", "voice", "toxicity")
TRAINING_HEARTBEAT_S = 20.0  # a running retraining reports at least this often, even inside one long step


def _training_under_way(session: Session) -> Any:
    """The retraining under way, if any. Runs whose process stopped reporting (:meth:`TrainingRun.is_stale`)
    are closed as failed on the way: they no longer block a new one."""
    from civicpulse.domain.listening.models import TrainingRun

    now = utcnow()
    busy = None
    for run in session.scalars(select(TrainingRun).where(TrainingRun.status.in_(TrainingRun.UNDER_WAY))
                               .order_by(TrainingRun.id)):
        if run.is_stale(now):
            run.status, run.finished_at = "failed", now
            run.error = (f"interrupted: no progress was reported after {(run.heartbeat or run.requested_at):%Y-%m-%d %H:%M} "
                         "UTC (the server was stopped or restarted); nothing was activated")
        elif busy is None:
            busy = run
    return busy


def _models_head_office(session: Session, actor: Actor, doing: str) -> Unit:
    """The head office, where ``actor`` may manage the models (``nlp.models``): else NotFound / PermissionDenied."""
    head = org_queries.head_office(session)
    if head is None:
        raise NotFound("There is no head office unit yet")
    if not actor.can("nlp.models", head):
        raise PermissionDenied(f"Only an administrator of the head office can {doing}")
    return head


def request_training(session: Session, actor: Actor, settings: Settings, task: str,
                     data_dir: str | os.PathLike[str] | None = None) -> Any:
    """An administrator of the head office asks for a model to be retrained with the analysts'
    corrections (what `civicpulse nlp train --task T` does). Checked now, before anything runs: the
    task, the permission, that no other retraining is under way (two would share the server's cores),
    and that the shared training corpora the version in use was built with are there. Returns the
    queued :class:`TrainingRun`; :func:`run_training` does the work."""
    from pathlib import Path

    from civicpulse.domain.listening.enrich import writable_model_dir
    from civicpulse.domain.listening.models import LabelCorrection, TrainingRun
    from civicpulse.nlp import train as nlp_train
    from civicpulse.nlp.errors import ModelFileError

    if task not in TRAINING_TASKS:
        raise ValidationFailed(f"Unknown model '{task}'; one of {', '.join(TRAINING_TASKS)}")
    head = _models_head_office(session, actor, "retrain a model")
    busy = _training_under_way(session)
    if busy is not None:
        raise Conflict(f"The {busy.task} model is being retrained (started {busy.requested_at:%Y-%m-%d %H:%M} UTC); "
                       "wait until it has finished")
    where = Path(data_dir) if data_dir is not None else nlp_train.datasets.shared_data_dir()
    md = writable_model_dir(settings)
    try:
        nlp_train.check_training_sets(task, where, md)
        base = nlp_train.active_version(task, md)
    except nlp_train.MissingTrainingData as e:
        raise ValidationFailed(
            f"The {task} model in use was trained on data that is not on this server under {where}: "
            f"{', '.join(e.missing)}. Set CIVICPULSE_SHARED_DATA to the folder that holds wisesight/ and thaigov/; "
            "nothing was retrained") from e
    except ModelFileError as e:
        raise ValidationFailed(f"The {task} model in use cannot be read: {e}") from e
    n = session.scalar(select(func.count()).select_from(LabelCorrection).where(LabelCorrection.task == task)) or 0
    run = TrainingRun(task=task, status="queued", stage="", fraction=0.0, corrections=n, requested_by=actor.user_id,
                      requested_label=actor.label[:300], requested_at=utcnow(), base_version=base, activated=False)
    session.add(run)
    session.flush()
    audit.record(session, actor, "model.train", unit=head, object_type="training_run", object_id=run.id,
                 after={"task": task, "corrections": n, "version_in_use": base}, note=str(where))
    return run


def cancel_training(session: Session, actor: Actor, run_id: int) -> Any:
    """An administrator of the head office cancels a retraining under way. A queued one ends at once; a running
    one is asked to stop, and stops at its next progress report (within seconds; nothing is written or
    activated). A run that has just begun writing its new version finishes as usual. Returns the run."""
    from civicpulse.domain.listening.models import TrainingRun

    head = _models_head_office(session, actor, "cancel a retraining")
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise NotFound(f"Training run {run_id} was not found")
    if not run.under_way or run.is_stale():
        raise Conflict(f"The retraining of the {run.task} model has already ended ({run.status}); there is nothing to cancel")
    now = utcnow()
    if run.cancel_requested_at is None:
        run.cancel_requested_at, run.cancelled_by_label = now, actor.label[:300]
    if run.status == "queued":
        # the job may be claiming it at this instant: only a run still queued is closed here
        session.execute(update(TrainingRun).where(TrainingRun.id == run.id, TrainingRun.status == "queued")
                        .values(status="cancelled", finished_at=now, error=f"cancelled by {actor.label} before it started"))
        session.refresh(run)
    audit.record(session, actor, "model.train_cancel", unit=head, object_type="training_run", object_id=run.id,
                 before={"status": "running" if run.status == "running" else "queued"},
                 after={"task": run.task, "status": run.status})
    return run


class TrainingCancelled(Exception):
    """Raised inside a retraining (from its progress report) when an administrator has cancelled it."""


def _version_summary(version: str | None, scores: dict[str, Any] | None, selection: float | None) -> dict[str, Any]:
    return {"version": version, "selection_score": selection,
            "scores": {name: {"n": sc.get("n"), "micro_f1": sc.get("micro_f1"), "macro_f1": sc.get("macro_f1")}
                       for name, sc in (scores or {}).items() if isinstance(sc, dict)}}


@dataclasses.dataclass
class TrainingOutcome:
    status: str  # done | failed | cancelled | missing (no such run) | the status of a run another process took
    version: Any = None  # the new ModelVersion when done
    error: str | None = None


def run_training(db: Any, settings: Settings, run_id: int, data_dir: str | os.PathLike[str] | None = None,
                 progress: Callable[[str, float], None] | None = None, via: str = "job",
                 version: str | None = None) -> TrainingOutcome:
    """Run a queued retraining to its end (a job thread of the web process, or `civicpulse nlp train`). Its
    progress is written to the run as it goes (and passed on to ``progress``); the result (both versions'
    validation scores, activated or not) or the error at the end, with an audit entry in the name of who asked
    for it. A run that is not queued (another process took it) is left alone."""
    import threading
    from pathlib import Path

    import structlog

    from civicpulse.domain.listening.enrich import writable_model_dir
    from civicpulse.domain.listening.models import TrainingRun
    from civicpulse.nlp import pipeline
    from civicpulse.nlp import train as nlp_train

    log = structlog.get_logger("civicpulse.training")
    now = utcnow()
    other = aliased(TrainingRun)
    with db.session() as s:
        # claimed only while no other run is running (two requests at the same instant both pass the service's check)
        claimed = s.execute(update(TrainingRun).where(
            TrainingRun.id == run_id, TrainingRun.status == "queued",
            ~exists().where(other.status == "running", other.id != run_id),
        ).values(status="running", started_at=now, heartbeat=now, stage="")).rowcount
        run = s.get(TrainingRun, run_id)
        if run is None:
            return TrainingOutcome("missing")
        if not claimed:
            if run.status == "queued":
                run.status, run.finished_at = "failed", now
                run.error = "another retraining was already running; nothing was done (ask again when it has finished)"
            return TrainingOutcome(run.status, error=run.error)
        task, requester, label = run.task, run.requested_by, run.requested_label
        corrections = corrections_for_training(s, task)
    state: dict[str, Any] = {"stage": "", "fraction": 0.0, "written": 0.0, "cancelled_by": None}
    lock = threading.Lock()

    def write(force: bool = False) -> None:
        """The progress into the run (at most once a second unless forced), and whether it was cancelled."""
        t = time.monotonic()
        with lock:
            if not force and t - state["written"] < 1.0:
                return
            state["written"] = t
            values = {"stage": str(state["stage"])[:200], "fraction": float(state["fraction"]), "heartbeat": utcnow()}
        with db.session() as s2:
            s2.execute(update(TrainingRun).where(TrainingRun.id == run_id, TrainingRun.status == "running")
                       .values(**values))
            asked = s2.execute(select(TrainingRun.cancel_requested_at, TrainingRun.cancelled_by_label)
                               .where(TrainingRun.id == run_id)).first()
        if asked is not None and asked[0] is not None:
            with lock:
                state["cancelled_by"] = asked[1] or "an administrator"

    def report(stage: str, fraction: float) -> None:
        changed = stage != state["stage"]
        with lock:
            state["stage"], state["fraction"] = stage, max(0.0, min(1.0, fraction))
        write(force=changed)
        if state["cancelled_by"] is not None:
            raise TrainingCancelled(state["cancelled_by"])
        if progress is not None:
            progress(stage, fraction)

    stop = threading.Event()

    def heartbeat() -> None:  # one step (a fit, say) can run for a minute without a progress report
        while not stop.wait(TRAINING_HEARTBEAT_S):
            try:
                write(force=True)
            except Exception:  # noqa: BLE001 - a missed heartbeat is not the run's failure
                log.warning("training heartbeat not written", run=run_id)

    beat = threading.Thread(target=heartbeat, name=f"training-{run_id}-heartbeat", daemon=True)
    beat.start()
    status, error, mv = "failed", None, None
    pool_before = pipeline.e5_pool_running()
    try:
        where = Path(data_dir) if data_dir is not None else nlp_train.datasets.shared_data_dir()
        _, mv = nlp_train.retrain(task, where, corrections, writable_model_dir(settings), progress=report,
                                  version=version)
        status = "done"
    except TrainingCancelled as e:
        status, error = "cancelled", f"cancelled by {e} during “{state['stage'] or 'start'}”; nothing was written or activated"
    except (ValueError, OSError, nlp_train.ModelFileError) as e:  # missing data, a model file, bad corrections
        error = str(e)
    except Exception as e:  # noqa: BLE001 - the run is marked failed whatever happened; the log has the traceback
        log.exception("training run failed", run=run_id, task=task)
        error = f"{type(e).__name__}: {e}"
    finally:
        stop.set()
        beat.join(timeout=5)
        if not pool_before:  # the e5 worker processes this run started hold the encoder: not kept for nothing
            pipeline.shutdown_e5_pool()
    with db.session() as s:
        run = s.get(TrainingRun, run_id)
        assert run is not None
        run.status, run.finished_at, run.heartbeat = status, utcnow(), utcnow()
        run.fraction = 1.0 if status == "done" else run.fraction
        head = org_queries.head_office(s)
        actor = Actor(user_id=requester, label=label or "system", via=via)
        if mv is not None:
            run.new_version, run.activated = mv.version, bool(mv.activated)
            old = mv.comparison.get("active") or {}
            run.result = {"active": _version_summary(old.get("version"), old.get("scores"), old.get("selection_score")),
                          "new": _version_summary(mv.version, mv.scores.get("default"),
                                                  (mv.comparison.get("new") or {}).get("selection_score")),
                          "previous_active": mv.previous_active}
            audit.record(s, actor, "model.trained", unit=head, object_type="model", object_id=f"{task}/{mv.version}",
                         before={"active": mv.previous_active},
                         after={"activated": bool(mv.activated), "run": run_id,
                                "selection_score": run.result["new"]["selection_score"]})
        else:
            run.error = (error or "failed")[:4000]
            audit.record(s, actor, "model.train_cancelled" if status == "cancelled" else "model.train_failed", unit=head,
                         object_type="training_run", object_id=run_id, after={"task": task}, note=run.error[:500])
    log.info("training run finished", run=run_id, task=task, status=status,
             version=mv.version if mv else None, activated=bool(mv and mv.activated))
    return TrainingOutcome(status, mv, None if mv is not None else (error or "failed"))
