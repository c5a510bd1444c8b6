"""Writes of the content area: posts (with their per-channel variants), media files and the message library.

Signatures used by the API, the UI and the CLI:

* :func:`create_post` (with variants), :func:`update_post`, :func:`delete_post`, :func:`add_variant`
* :func:`store_media` (size/type checks, stored under ``<data dir>/media``), :func:`set_alt_text`
* :func:`add_library_entry`, :func:`archive_library_entry`, :func:`seed_library_from_plans`
* :func:`import_calendar` (CSV/JSON bulk import: all rows or nothing)
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicpulse.config import Settings
from civicpulse.domain.content.models import LibraryEntry, MediaAsset, Post
from civicpulse.domain.content.schemas import LibraryIn, PostCreate, PostUpdate, VariantIn
from civicpulse.domain.errors import Conflict, NotFound, ValidationFailed
from civicpulse.domain.org import audit
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor, require
from civicpulse.domain.publishing import services as pub
from civicpulse.domain.publishing.models import Channel, Variant

MEDIA_TYPES = {
    "image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",), "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",), "video/mp4": (), "application/pdf": (b"%PDF",),
}
MAX_MEDIA_BYTES = 200 * 1024 * 1024


def _unit(session: Session, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"Unit {unit_id} was not found")
    return unit


def _validation(exc: ValidationError, prefix: str = "") -> ValidationFailed:
    details = [{"field": prefix + ".".join(str(p) for p in e.get("loc", ())),
                "message": str(e.get("msg", "")).removeprefix("Value error, ")} for e in exc.errors()]
    text = "; ".join(f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details[:5])
    return ValidationFailed("The post is not valid — " + text, details={"errors": details})


# ------------------------------------------------------------------ posts


def create_post(session: Session, actor: Actor, data: PostCreate) -> Post:
    unit = _unit(session, data.unit_id)
    require(actor, "content.draft", unit)
    post = Post(unit_id=unit.id, unit_path=unit.path, title=data.title, texts=dict(data.texts), link=data.link,
                hashtags=list(data.hashtags), media_ids=list(data.media_ids), plan_id=data.plan_id,
                created_by_id=actor.user_id)
    pub._media_refs(session, post.media_ids, unit)
    session.add(post)
    session.flush()
    post.unit = unit
    audit.record(session, actor, "post.create", unit=unit, object_type="post", object_id=post.id,
                 after=post.snapshot())
    for vin in data.variants:
        pub.create_variant(session, actor, post, vin)
    return post


def add_variant(session: Session, actor: Actor, post_id: int, data: VariantIn) -> Variant:
    post = pub.get_post(session, actor, post_id, "content.draft")
    if any(v.channel_id == data.channel_id and v.state != "cancelled"
           for v in session.scalars(select(Variant).where(Variant.post_id == post.id))):
        raise Conflict("The post already has a variant for this channel")
    return pub.create_variant(session, actor, post, data)


def update_post(session: Session, actor: Actor, post_id: int, data: PostUpdate) -> Post:
    post = pub.get_post(session, actor, post_id, "content.draft")
    before = post.snapshot()
    for field in ("title", "texts", "link", "hashtags", "media_ids", "plan_id"):
        val = getattr(data, field)
        if val is not None:
            setattr(post, field, val)
    if data.media_ids is not None:
        pub._media_refs(session, data.media_ids, post.unit)
    b, a = audit.diff(before, post.snapshot())
    if a:
        audit.record(session, actor, "post.update", unit=post.unit, object_type="post", object_id=post.id,
                     before=b, after=a)
    session.flush()
    return post


def delete_post(session: Session, actor: Actor, post_id: int) -> None:
    """Remove a post that never went out; a post with published or scheduled variants is cancelled instead."""
    post = pub.get_post(session, actor, post_id, "content.draft")
    variants = list(session.scalars(select(Variant).where(Variant.post_id == post.id)))
    live = [v for v in variants if v.state not in ("draft", "cancelled", "in_review")]
    if live:
        raise Conflict(f"Post '{post.title}' has {len(live)} variant(s) approved, scheduled or published; cancel "
                       "them instead of deleting the post", details={"variants": [v.id for v in live]})
    audit.record(session, actor, "post.delete", unit=post.unit, object_type="post", object_id=post.id,
                 before=post.snapshot())
    for v in variants:
        session.delete(v)
    session.delete(post)
    session.flush()


# ------------------------------------------------------------------ media


def _sniff_ok(mime: str, head: bytes) -> bool:
    magics = MEDIA_TYPES[mime]
    if mime == "video/mp4":
        return head[4:8] == b"ftyp"
    if mime == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return any(head.startswith(m) for m in magics)


def _image_size(mime: str, data: bytes) -> tuple[int | None, int | None]:
    try:
        if mime == "image/png" and len(data) >= 24:
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if mime == "image/gif" and len(data) >= 10:
            return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
        if mime == "image/jpeg":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    break
                marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
                if marker in (0xC0, 0xC1, 0xC2):
                    return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
                i += 2 + length
    except (IndexError, ValueError):  # pragma: no cover - malformed headers
        pass
    return None, None


def media_dir(settings: Settings) -> Path:
    return settings.data_dir / "media"


def store_media(session: Session, actor: Actor, settings: Settings, *, unit_id: int, filename: str, mime: str,
                data: bytes, alt_text: str = "") -> MediaAsset:
    """Check and store an attachment. Types: JPEG, PNG, GIF, WebP, MP4, PDF (the content must match the type)."""
    unit = _unit(session, unit_id)
    require(actor, "content.draft", unit)
    mime = (mime or "").split(";")[0].strip().lower()
    if mime not in MEDIA_TYPES:
        raise ValidationFailed(f"'{filename}': files of type {mime or 'unknown'} cannot be attached. Use JPEG, PNG, "
                               "GIF, WebP, MP4 or PDF.", details={"field": "file"})
    limit = min(MAX_MEDIA_BYTES, settings.max_upload_bytes)
    if not data:
        raise ValidationFailed(f"'{filename}' is empty", details={"field": "file"})
    if len(data) > limit:
        raise ValidationFailed(f"'{filename}' is {len(data) / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB",
                               details={"field": "file"})
    if not _sniff_ok(mime, data[:16]):
        raise ValidationFailed(f"'{filename}' is not really a {mime} file", details={"field": "file"})
    width, height = _image_size(mime, data[:65536])
    ext = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
           "video/mp4": ".mp4", "application/pdf": ".pdf"}[mime]
    stored = f"{uuid.uuid4().hex}{ext}"
    d = media_dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    (d / stored).write_bytes(data)
    m = MediaAsset(unit_id=unit.id, unit_path=unit.path, filename=Path(filename).name[:300] or stored,
                   stored_name=stored, mime=mime, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                   alt_text=alt_text.strip(), width=width, height=height, created_by_id=actor.user_id)
    session.add(m)
    session.flush()
    audit.record(session, actor, "media.create", unit=unit, object_type="media", object_id=m.id, after=m.head())
    return m


def set_alt_text(session: Session, actor: Actor, media_id: int, alt_text: str) -> MediaAsset:
    m = session.get(MediaAsset, media_id)
    if m is None or not actor.can_see(m.unit_path):
        raise NotFound(f"Media file {media_id} was not found")
    require(actor, "content.draft", _unit(session, m.unit_id))
    before = m.alt_text
    m.alt_text = alt_text.strip()
    audit.record(session, actor, "media.alt_text", unit_id=m.unit_id, unit_path=m.unit_path, object_type="media",
                 object_id=m.id, before={"alt_text": before}, after={"alt_text": m.alt_text})
    session.flush()
    return m


def media_path(settings: Settings, m: MediaAsset) -> Path:
    return media_dir(settings) / m.stored_name


# ------------------------------------------------------------------ library


def add_library_entry(session: Session, actor: Actor, data: LibraryIn, source: str | None = None) -> LibraryEntry:
    unit = _unit(session, data.unit_id)
    require(actor, "content.approve", unit)
    e = LibraryEntry(unit_id=unit.id, unit_path=unit.path, kind=data.kind, texts=dict(data.texts), source=source)
    session.add(e)
    session.flush()
    audit.record(session, actor, "library.create", unit=unit, object_type="library", object_id=e.id, after=e.head())
    return e


def archive_library_entry(session: Session, actor: Actor, entry_id: int) -> LibraryEntry:
    e = session.get(LibraryEntry, entry_id)
    if e is None or not actor.can_see(e.unit_path):
        raise NotFound(f"Library entry {entry_id} was not found")
    require(actor, "content.approve", _unit(session, e.unit_id))
    e.archived = True
    audit.record(session, actor, "library.archive", unit_id=e.unit_id, unit_path=e.unit_path,
                 object_type="library", object_id=e.id)
    session.flush()
    return e


def seed_library_from_plans(session: Session, actor: Actor, unit_id: int) -> int:
    """Copy the approved key messages of the unit's plans (in review, approved or active) into the library.
    Already copied messages are updated, not duplicated. Returns how many entries were added or changed."""
    from civicpulse.domain.plans import queries as plans

    unit = _unit(session, unit_id)
    require(actor, "content.approve", unit)
    existing = {e.source: e for e in session.scalars(select(LibraryEntry).where(
        LibraryEntry.unit_id == unit.id, LibraryEntry.source.is_not(None)))}
    changed = 0
    page = 1
    while True:
        found = plans.plans(session, actor, unit_id=unit.id, subtree=False, page=page, per_page=100)
        for p in found.items:
            if p.status not in ("in_review", "approved", "active"):
                continue
            for m in plans.sections(p).messages:
                if m.approval != "approved":
                    continue
                texts = {k: v for k, v in m.text.model_dump().items() if k in ("vi", "th", "en") and v}
                src = f"plan:{p.id}:{m.id}"
                e = existing.get(src)
                if e is None:
                    e = LibraryEntry(unit_id=unit.id, unit_path=unit.path, kind="message", texts=texts, source=src)
                    session.add(e)
                    existing[src] = e
                    changed += 1
                elif e.texts != texts or e.archived:
                    e.texts, e.archived = texts, False
                    changed += 1
        if page >= -(-found.total // 100) or not found.items:
            break
        page += 1
    audit.record(session, actor, "library.seed", unit=unit, object_type="library", after={"changed": changed})
    session.flush()
    return changed


# ------------------------------------------------------------------ bulk import

IMPORT_COLUMNS = ("unit", "title", "channel", "language", "text", "scheduled_at", "link", "hashtags")


@dataclasses.dataclass
class ImportReport:
    rows: int
    posts: int
    variants: int
    errors: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return not self.errors


def _rows(name: str, data: bytes) -> list[dict[str, Any]]:
    text = data.decode("utf-8-sig")
    if name.lower().endswith(".json") or text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(f"The file is not valid JSON (line {exc.lineno}: {exc.msg})") from exc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValidationFailed("The JSON file must be a list of objects, one per post and channel")
        return rows
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("unit", "title", "channel", "text") if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed(f"The CSV file lacks the column(s): {', '.join(missing)}. Expected columns: "
                               f"{', '.join(IMPORT_COLUMNS)}")
    return list(reader)


def import_calendar(session: Session, actor: Actor, name: str, data: bytes, *, dry_run: bool = False) -> ImportReport:
    """Bulk-import a content calendar: one row per (post, channel). Rows with the same unit and title form one post.

    Every row is checked first; if any row is wrong, nothing is stored and the report lists every problem.
    """
    rows = _rows(name, data)
    errors: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], list[tuple[int, dict[str, Any], Channel, dt.datetime | None]]] = {}
    units: dict[str, Unit | None] = {}
    for i, raw in enumerate(rows, start=2 if not name.lower().endswith(".json") else 1):
        row = {k: (str(v).strip() if v is not None else "") for k, v in raw.items() if k}
        problems: list[str] = []
        code = row.get("unit", "")
        if code not in units:
            units[code] = session.scalar(select(Unit).where(Unit.code == code))
        unit = units[code]
        if unit is None or not actor.can_see(unit):
            problems.append(f"unit '{code}' not found")
        elif not actor.can("content.draft", unit):
            problems.append(f"your role on '{code}' does not allow drafting posts")
        if not row.get("title"):
            problems.append("title is empty")
        if not row.get("text"):
            problems.append("text is empty")
        ch = None
        ref = row.get("channel", "")
        if ref.isdigit():
            ch = session.get(Channel, int(ref))
        elif ref:
            ch = session.scalar(select(Channel).where(Channel.name == ref, Channel.unit_path.in_(
                [p for p in _ancestor_paths(unit)] if unit else [])))
        if ch is None or not actor.can_see(ch.unit_path):
            problems.append(f"channel '{ref}' not found")
        lang = row.get("language") or None
        if lang and lang not in ("vi", "th", "en"):
            problems.append(f"language '{lang}' is not vi, th or en")
        when = None
        if row.get("scheduled_at"):
            try:
                when = dt.datetime.fromisoformat(row["scheduled_at"])
                if when.tzinfo is None:
                    problems.append("scheduled_at needs a time zone, e.g. 2026-12-01T09:00:00+07:00")
            except ValueError:
                problems.append(f"scheduled_at '{row['scheduled_at']}' is not a date and time (ISO 8601)")
        if problems:
            errors.append({"row": i, "problems": problems})
            continue
        assert unit is not None and ch is not None
        groups.setdefault((unit.code, row["title"]), []).append((i, row, ch, when))
    report = ImportReport(rows=len(rows), posts=len(groups), variants=sum(len(g) for g in groups.values()),
                          errors=errors)
    if errors or dry_run:
        return report
    savepoint = session.begin_nested()
    for (code, title), items in groups.items():
        unit = units[code]
        assert unit is not None
        texts: dict[str, str] = {}
        for _i, row, _ch, _w in items:
            texts.setdefault(row.get("language") or "en", row["text"])
        hashtags = [h for h in (items[0][1].get("hashtags") or "").replace(",", " ").split() if h]
        try:
            data_in = PostCreate(unit_id=unit.id, title=title, texts=texts, link=items[0][1].get("link") or None,
                                 hashtags=hashtags, variants=[VariantIn(
                                     channel_id=ch.id, language=row.get("language") or None, text=row["text"],
                                     scheduled_at=when) for _i, row, ch, when in items])
            create_post(session, actor, data_in)
        except (ValidationError, ValidationFailed) as exc:
            msg = _validation(exc).message if isinstance(exc, ValidationError) else exc.message
            report.errors.append({"row": items[0][0], "problems": [msg]})
    if report.errors:
        savepoint.rollback()
        return report
    savepoint.commit()
    audit.record(session, actor, "post.import", object_type="post", after={"file": name, "posts": report.posts,
                                                                          "variants": report.variants})
    return report


def _ancestor_paths(unit: Unit | None) -> list[str]:
    if unit is None:
        return []
    ids = [x for x in unit.path.strip("/").split("/") if x]
    return ["/" + "/".join(ids[:i]) + "/" for i in range(1, len(ids) + 1)]
