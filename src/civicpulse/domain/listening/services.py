"""All writes of the listening area: sources, ingest, rejects, saved topics, near-duplicate clusters."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from civicpulse import crypto
from civicpulse.config import Settings
from civicpulse.connectors.base import FetchedItem
from civicpulse.db.base import utcnow
from civicpulse.domain.errors import Conflict, NotFound, ValidationFailed
from civicpulse.domain.listening.models import IngestReject, Item, ItemRaw, SavedTopic, Source
from civicpulse.domain.listening.query import QuerySyntaxError, parse
from civicpulse.domain.listening.schemas import SourceCreate, SourceUpdate, TopicCreate, TopicUpdate
from civicpulse.domain.org import audit
from civicpulse.domain.org import services as org
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor, require
from civicpulse.domain.org.security import new_secret, sha256

MAX_TEXT = 100_000
BATCH = 500
_WS = re.compile(r"\s+")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


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
    if _SURROGATE.search(text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    return _CTRL.sub("", unicodedata.normalize("NFC", text)).strip()


def content_hash(text: str) -> str:
    return hashlib.sha256(_WS.sub(" ", text.casefold()).strip().encode()).hexdigest()


def _validate(it: FetchedItem) -> tuple[dict[str, Any] | None, str | None]:
    ext = (it.external_id or "").strip()
    if not ext:
        return None, "the item has no id"
    if len(ext) > 300:
        return None, f"the id is {len(ext)} characters long (limit 300)"
    if not isinstance(it.text, str):
        return None, "the text is not a string"
    text = clean_text(it.text)
    if not text:
        return None, "the text is empty"
    if len(text) > MAX_TEXT:
        return None, f"the text is {len(text):,} characters long (limit {MAX_TEXT:,})"
    if it.url and len(it.url) > 2000:
        return None, "the URL is longer than 2,000 characters"
    if it.published_at is not None and it.published_at.tzinfo is None:
        return None, "the publication time has no time zone"
    row = {
        "external_id": ext, "kind": it.kind or "post", "url": it.url, "title": (it.title or None) and it.title[:1000],
        "author_handle": (it.author_handle or None) and it.author_handle.lstrip("@")[:300],
        "author_name": (it.author_name or None) and it.author_name[:300],
        "author_followers": it.author_followers, "text": text,
        "lang": it.language[:8] if it.language else None,
        "published_at": it.published_at, "likes": it.likes, "shares": it.shares, "comments": it.comments,
        "views": it.views, "parent_external_id": it.parent_external_id, "thread_external_id": it.thread_external_id,
        "content_hash": content_hash(text),
    }
    return row, None


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
    for it in items:
        chunk.append(it)
        if len(chunk) >= BATCH:
            _ingest_chunk(session, source, chunk, stats, batch, now)
            chunk = []
    if chunk:
        _ingest_chunk(session, source, chunk, stats, batch, now)
    if stats.inserted:
        source.items_count = (source.items_count or 0) + stats.inserted
    if stats.inserted or stats.duplicates:
        source.last_success_at = now  # for push sources (files, webhooks): when something last arrived
    return stats


def _reject(session: Session, source: Source, stats: IngestStats, ref: str, reason: str, batch: str | None) -> None:
    stats.rejected += 1
    if len(stats.reasons) < 50:
        stats.reasons.append(f"{ref}: {reason}")
    session.add(IngestReject(source_id=source.id, unit_id=source.unit_id, unit_path=source.unit.path, ref=ref[:300],
                             reason=reason, batch=batch))


def _ingest_chunk(session: Session, source: Source, chunk: list[FetchedItem], stats: IngestStats,
                  batch: str | None, now: dt.datetime) -> None:
    rows: dict[str, dict[str, Any]] = {}
    raws: dict[str, dict[str, Any]] = {}
    for it in chunk:
        row, reason = _validate(it)
        if row is None:
            _reject(session, source, stats, f"item {it.external_id or '?'}"[:300], reason or "invalid", batch)
            continue
        if row["external_id"] in rows:  # the same id twice in one batch: keep the first
            stats.duplicates += 1
            continue
        rows[row["external_id"]] = row
        if it.raw:
            raws[row["external_id"]] = it.raw
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
    for ext, row in rows.items():
        if ext in existing:
            stats.duplicates += 1
            iid, *counts = existing[ext]
            fresh = [row["likes"], row["shares"], row["comments"], row["views"]]
            if any(f is not None and f != c for f, c in zip(fresh, counts, strict=True)):
                session.execute(update(Item).where(Item.id == iid).values(
                    **{k: v for k, v in zip(("likes", "shares", "comments", "views"), fresh, strict=True) if v is not None}))
            continue
        row.update(source_id=source.id, unit_id=source.unit_id, unit_path=source.unit.path, collected_at=now)
        new_rows.append(row)
    if not new_rows:
        return
    # Core executemany with RETURNING on the session's connection: the ORM bulk-insert path costs ~20% more
    # CPU per item (bench/bench_ingest.py).
    conn = session.connection()
    result = conn.execute(insert(Item).returning(Item.id, Item.external_id), new_rows)
    ids = {ext: iid for iid, ext in result}
    stats.inserted += len(ids)
    stats.new_ids.extend(ids.values())
    raw_rows = [{"item_id": ids[ext], "payload": payload} for ext, payload in raws.items() if ext in ids]
    if raw_rows:
        conn.execute(insert(ItemRaw), raw_rows)


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
        for members in clusters:
            meta = s.execute(select(func.min(Item.published_at), func.max(Item.published_at),
                                    func.count(func.distinct(Item.source_id))).where(Item.id.in_(members))).one()
            first = s.scalar(select(Item.id).where(Item.id.in_(members))
                             .order_by(Item.published_at.is_(None), Item.published_at, Item.id).limit(1))
            c = DupCluster(first_item_id=first, size=len(members), sources=meta[2], first_seen=meta[0], last_seen=meta[1])
            s.add(c)
            s.flush()
            for i in range(0, len(members), 900):
                s.execute(update(Item).where(Item.id.in_(members[i:i + 900])).values(dup_cluster_id=c.id))
    return len(clusters)


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
    from civicpulse.domain.listening.importers import ImportFileError, Rejection, read_rows, sniff

    try:
        if mapping is None:
            preview = sniff(path, fmt)
            mapping = preview.suggested_mapping
            fmt = preview.format
            if not mapping.get("text"):
                raise ValidationFailed(
                    f"Could not tell which column holds the text (columns: {', '.join(preview.columns[:20])}); "
                    "give a mapping, e.g. --map text=message")
        name = getattr(path, "name", None) or str(path)
        stats = IngestStats()
        with db.session() as s:
            unit = org.get_unit(s, unit_id)
            src = file_source(s, actor, settings, unit, source_name)
            good: list[FetchedItem] = []
            bad: list[tuple[str, str]] = []
            seen = 0
            for row in read_rows(path, mapping, fmt, tz=tz or settings.default_timezone):
                seen += 1
                if isinstance(row, Rejection):
                    bad.append((f"{row.unit} {row.row}", row.reason))
                else:
                    good.append(row)
                if len(good) + len(bad) >= BATCH:
                    stats.add(ingest(s, src, good, rejects=bad, batch=str(name)[-300:]))
                    good, bad = [], []
                    if progress:
                        progress(seen)
            stats.add(ingest(s, src, good, rejects=bad, batch=str(name)[-300:]))
            if progress:
                progress(seen)
            audit.record(s, actor, "source.import", unit=unit, object_type="source", object_id=src.id,
                         after={"file": str(name)[-300:], "inserted": stats.inserted, "duplicates": stats.duplicates,
                                "rejected": stats.rejected})
        return stats
    except ImportFileError as exc:
        raise ValidationFailed(f"{exc} Nothing was imported.") from exc


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


def corrections_for_training(session: Session, task: str) -> list[dict[str, str]]:
    """All corrections of a task as training rows {text, label, lang}."""
    from civicpulse.domain.listening.models import LabelCorrection

    rows = session.execute(select(Item.text, LabelCorrection.label, Item.lang)
                           .join(Item, Item.id == LabelCorrection.item_id)
                           .where(LabelCorrection.task == task).order_by(LabelCorrection.id)).all()
    return [{"text": t, "label": lab, "lang": lang or ""} for t, lab, lang in rows]
