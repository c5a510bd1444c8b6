"""/api/v1 for the listening area: sources, ingest (webhook, file), items and search, saved topics, clusters.

Routes stay thin: parse, call a query or service (which checks permissions and audits), shape the answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.orm import Session

from civicpulse.config import Settings
from civicpulse.connectors.base import ConnectorError, FetchedItem
from civicpulse.domain.errors import ValidationFailed
from civicpulse.domain.listening import queries, services
from civicpulse.domain.listening.models import Item, Source
from civicpulse.domain.listening.schemas import (
    IngestOut,
    ItemIn,
    ItemOut,
    ItemsIn,
    SearchHit,
    SearchOut,
    SourceCreate,
    SourceCreated,
    SourceOut,
    SourceUpdate,
    TopicCreate,
    TopicOut,
    TopicUpdate,
)
from civicpulse.domain.org.permissions import Actor
from civicpulse.web.api.common import ERRORS, ErrorOut, PageOut, page_params
from civicpulse.web.deps import DB, api_actor, database, settings
from civicpulse.web.errors import error_body

router = APIRouter(responses=ERRORS)

SENTIMENTS = ("pos", "neu", "neg", "q")
FORMATS = ("csv", "jsonl", "json", "xlsx")
UPLOAD_CHUNK = 1024 * 1024


# ------------------------------------------------------------------ shapes only the API needs


class ItemDetailOut(ItemOut):
    lang_score: float | None
    voice_score: float | None
    toxicity_score: float | None
    entities: list[dict[str, Any]] | None
    keyphrases: list[str] | None
    enriched_at: dt.datetime | None


class SearchPageOut(SearchOut):
    page: int
    per_page: int


class RejectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: int | None
    at: dt.datetime
    ref: str
    reason: str
    batch: str | None


class DayCount(BaseModel):
    day: dt.date
    count: int


class TopicCountsOut(BaseModel):
    topic_id: int
    query: str
    total: int
    days: list[DayCount]


class SourceRef(BaseModel):
    id: int
    name: str
    platform: str


class ClusterOut(BaseModel):
    id: int
    size: int
    sources: int
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    first_item: ItemOut


class ClusterDetailOut(BaseModel):
    id: int
    size: int
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    sources: list[SourceRef]
    days: list[DayCount]
    items: list[ItemOut]


class PreviewOut(BaseModel):
    format: str
    encoding: str | None
    delimiter: str | None
    columns: list[str]
    rows: list[dict[str, Any]]
    suggested_mapping: dict[str, str]
    warnings: list[str]


# ------------------------------------------------------------------ helpers shared with the web pages


def secret_field_names(platform: str) -> set[str]:
    from civicpulse.connectors.registry import platform_info

    try:
        return {f.name for f in platform_info(platform).fields if f.secret}
    except KeyError:
        return set()


def source_out(src: Source, cls: type[SourceOut] = SourceOut, **extra: Any) -> SourceOut:
    """A source as returned to callers: secrets are write-only, never echoed (not even if put in config)."""
    out = cls.model_validate(src)
    hidden = secret_field_names(src.platform)
    out.config = {k: v for k, v in (src.config or {}).items() if k not in hidden}
    for k, v in extra.items():
        setattr(out, k, v)
    return out


def aware(t: dt.datetime | None) -> dt.datetime | None:
    return t.replace(tzinfo=dt.UTC) if t is not None and t.tzinfo is None else t


def ingest_out(stats: services.IngestStats) -> IngestOut:
    return IngestOut(inserted=stats.inserted, duplicates=stats.duplicates, rejected=stats.rejected,
                     reasons=stats.reasons)


def day_counts(times: Sequence[dt.datetime | None], tz: str = "UTC", max_days: int = 400) -> list[DayCount]:
    """Items per (local) day from the first to the last known time; empty days included."""

    zone = ZoneInfo(tz)
    days = sorted(t.astimezone(zone).date() for t in times if t is not None)
    if not days:
        return []
    counts: dict[dt.date, int] = {}
    for d in days:
        counts[d] = counts.get(d, 0) + 1
    first, last = days[0], days[-1]
    if (last - first).days > max_days:
        first = last - dt.timedelta(days=max_days)
    return [DayCount(day=first + dt.timedelta(days=i), count=counts.get(first + dt.timedelta(days=i), 0))
            for i in range((last - first).days + 1)]


def topic_day_counts(series: list[int], tz: str) -> list[DayCount]:
    """Labels for queries.topic_counts' series: days in the topic unit's time zone, the last one being today."""
    today = dt.datetime.now(ZoneInfo(tz)).date()
    n = len(series)
    return [DayCount(day=today - dt.timedelta(days=n - 1 - i), count=c) for i, c in enumerate(series)]


_SAFE_NAME = re.compile(r"[^\w.\-]+", re.UNICODE)


def safe_filename(name: str | None) -> str:
    base = Path((name or "").replace("\\", "/")).name
    base = _SAFE_NAME.sub("_", base).strip("._")[:120]
    return base or "upload"


def uploads_dir(cfg: Settings) -> Path:
    return cfg.data_dir / "uploads"


def save_upload(cfg: Settings, upload: UploadFile, *, meta: dict[str, Any] | None = None) -> tuple[str, Path]:
    """Copies an upload to data_dir/uploads/<random id>/<its name>, chunk by chunk (never whole in memory)."""
    upload_id = secrets.token_hex(16)
    folder = uploads_dir(cfg) / upload_id
    folder.mkdir(parents=True, exist_ok=False)
    path = folder / safe_filename(upload.filename)
    try:
        upload.file.seek(0)
        with path.open("wb") as out:
            shutil.copyfileobj(upload.file, out, UPLOAD_CHUNK)
        if meta is not None:
            (folder / "meta.json").write_text(json.dumps({**meta, "name": path.name, "at": time.time()}),
                                              encoding="utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return upload_id, path


def drop_upload(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


@contextlib.contextmanager
def uploaded(cfg: Settings, upload: UploadFile) -> Iterator[Path]:
    """The upload as a file on disk for the duration of the block; deleted afterwards whatever happens."""
    _id, path = save_upload(cfg, upload)
    try:
        yield path
    finally:
        drop_upload(path)


def parse_mapping(raw: str | None) -> dict[str, str] | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValidationFailed(f"The mapping is not valid JSON ({exc})", details={"field": "mapping"}) from exc
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationFailed('The mapping must be a JSON object of target → column, e.g. {"text": "message"}',
                               details={"field": "mapping"})
    return {k: v for k, v in value.items() if v}


def check_timezone(tz: str | None) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if tz:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationFailed(f"Unknown time zone '{tz}' (e.g. Asia/Bangkok)", details={"field": "tz"}) from exc


def preview_file(path: Path, fmt: str | None) -> Any:
    from civicpulse.domain.listening.importers import ImportFileError, sniff

    try:
        return sniff(path, fmt)
    except ImportFileError as exc:
        raise ValidationFailed(str(exc), details={"field": "file"}) from exc


def fetched(it: ItemIn) -> FetchedItem:
    return FetchedItem(
        external_id=it.id, text=it.text, url=it.url, kind=it.kind, title=it.title, author_handle=it.author,
        author_name=it.author_name, author_followers=it.author_followers, published_at=it.published_at,
        likes=it.likes, shares=it.shares, comments=it.comments, views=it.views, parent_external_id=it.parent_id,
        thread_external_id=it.thread_id, language=it.lang, raw=it.raw or {},
    )


def cluster_detail(s: Session, actor: Actor, cluster_id: int, tz: str = "UTC") -> ClusterDetailOut:
    """A near-duplicate cluster as far as the actor can see it (404 when none of its items is visible)."""
    from civicpulse.domain.errors import NotFound

    items = queries.cluster_items(s, actor, cluster_id)
    if not items:
        raise NotFound(f"Cluster {cluster_id} was not found")
    return cluster_summary(cluster_id, items, tz)


def cluster_summary(cluster_id: int, items: list[Item], tz: str = "UTC") -> ClusterDetailOut:
    seen: dict[int, SourceRef] = {}
    for it in items:
        if it.source_id not in seen:
            seen[it.source_id] = SourceRef(id=it.source_id, name=it.source.name, platform=it.source.platform)
    times = [it.published_at or it.collected_at for it in items]
    known = [t for t in times if t is not None]
    return ClusterDetailOut(
        id=cluster_id, size=len(items), first_seen=min(known) if known else None,
        last_seen=max(known) if known else None, sources=list(seen.values()), days=day_counts(times, tz),
        items=[ItemOut.model_validate(it) for it in items],
    )


# ------------------------------------------------------------------ sources


@router.get("/sources", response_model=PageOut[SourceOut], tags=["listening: sources"],
            summary="Listening sources of the units you can see")
def list_sources(
    unit_id: int | None = None,
    paging: tuple[int, int] = Depends(page_params),
    actor: Actor = Depends(api_actor),
    s: Session = DB,
):
    page, per_page = paging
    rows = queries.sources(s, actor, unit_id=unit_id)
    chunk = rows[(page - 1) * per_page: page * per_page]
    return PageOut[SourceOut](items=[source_out(x) for x in chunk], total=len(rows), page=page, per_page=per_page)


@router.post("/sources", response_model=SourceCreated, status_code=201, tags=["listening: sources"],
             summary="Add a source (a webhook source's token is returned once, here)")
def create_source(data: SourceCreate, request: Request, actor: Actor = Depends(api_actor),
                  s: Session = DB):
    src, token = services.create_source(s, actor, settings(request), data)
    s.commit()  # committed before answering, so that the caller's next request sees it
    return source_out(src, SourceCreated, webhook_token=token)


@router.get("/sources/{source_id}", response_model=SourceOut, tags=["listening: sources"])
def get_source(source_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return source_out(queries.source(s, actor, source_id))


@router.patch("/sources/{source_id}", response_model=SourceOut, tags=["listening: sources"],
              summary="Change a source (secrets given here are merged with the stored ones)")
def update_source(source_id: int, data: SourceUpdate, request: Request, actor: Actor = Depends(api_actor),
                  s: Session = DB):
    src = services.update_source(s, actor, settings(request), source_id, data)
    s.commit()
    return source_out(src)


@router.delete("/sources/{source_id}", status_code=204, tags=["listening: sources"],
               summary="Delete a source that has collected nothing (disable it otherwise)")
def delete_source(source_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    services.delete_source(s, actor, source_id)
    s.commit()
    return Response(status_code=204)


@router.post("/sources/{source_id}/run", response_model=IngestOut, tags=["listening: sources"],
             summary="Collect from the source now",
             responses={502: {"model": ErrorOut, "description": "The platform refused or could not be reached"}})
def run_source(source_id: int, request: Request, actor: Actor = Depends(api_actor), s: Session = DB):
    s.commit()  # the fetch uses its own transactions: do not hold this one open meanwhile
    try:
        stats = services.run_source(database(request), settings(request), source_id, actor=actor)
    except ConnectorError as exc:
        return JSONResponse(error_body("source_failed", exc.message, {"kind": exc.kind}), status_code=502)
    return ingest_out(stats)


@router.get("/sources/{source_id}/rejects", response_model=PageOut[RejectOut], tags=["listening: sources"],
            summary="Items of this source that could not be stored, with the reason (newest first)")
def source_rejects(source_id: int, paging: tuple[int, int] = Depends(page_params), actor: Actor = Depends(api_actor),
                   s: Session = DB):
    src = queries.source(s, actor, source_id)
    p = queries.rejects(s, actor, source_id=src.id, page=paging[0], per_page=paging[1])
    return PageOut[RejectOut](items=[RejectOut.model_validate(r) for r in p.items], total=p.total, page=p.page,
                              per_page=p.per_page)


# ------------------------------------------------------------------ ingest


def webhook_source(request: Request, s: Session = DB) -> Source:
    """The webhook source whose own token (``Authorization: Bearer cpw_…``) came with the request."""
    from civicpulse.domain.errors import NotAuthenticated

    scheme, _, raw = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise NotAuthenticated("Send the webhook source's token: 'Authorization: Bearer cpw_…'")
    return services.source_for_webhook(s, raw.strip())


async def json_body(request: Request) -> Any:
    raw = await request.body()  # the size is limited for the whole application
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValidationFailed(f"The body is not valid JSON ({exc})") from exc


_ITEM_SCHEMA = ItemIn.model_json_schema()
_WEBHOOK_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"oneOf": [
        {**_ITEM_SCHEMA, "title": "One item"},
        {"title": "A batch", "type": "object", "additionalProperties": False, "required": ["items"],
         "properties": {"items": {"type": "array", "minItems": 1, "maxItems": 1000, "items": _ITEM_SCHEMA}}},
    ]}}},
}


@router.post("/ingest/webhook", response_model=IngestOut, tags=["listening: ingest"],
             summary="Push items to a webhook source (one item, or {\"items\": [...]} up to 1000)",
             description="Authenticated by the webhook source's own token: `Authorization: Bearer cpw_…`. "
                         "All or nothing: if any item is invalid, nothing is stored and the answer is 422.",
             openapi_extra={"requestBody": _WEBHOOK_BODY})
def ingest_webhook(src: Source = Depends(webhook_source), payload: Any = Depends(json_body),
                   s: Session = DB):
    try:
        if isinstance(payload, dict) and "items" in payload:
            items = ItemsIn.model_validate(payload).items
        else:
            items = [ItemIn.model_validate(payload)]
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    stats = services.ingest(s, src, [fetched(i) for i in items],
                            batch=f"webhook {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}")
    if stats.rejected:
        # raising rolls back the whole request: nothing of the batch is stored
        raise ValidationFailed(f"{stats.rejected} item(s) are not valid, so nothing was stored: "
                               + "; ".join(stats.reasons[:5]), details={"rejected": stats.reasons})
    s.commit()
    return ingest_out(stats)


@router.post("/ingest/file", response_model=IngestOut, tags=["listening: ingest"],
             summary="Import a CSV / JSONL / JSON / XLSX export into a file source (all or nothing)")
def ingest_file(
    request: Request,
    file: UploadFile = File(..., description="The export"),
    unit_id: int = Form(...),
    source: str = Form(..., min_length=1, max_length=200, description="File source name (created on first use)"),
    mapping: str | None = Form(None, max_length=20_000,
                               description='JSON target → column, e.g. {"text": "message", "time": "created"}; '
                                           "default: the suggestion of /ingest/preview"),
    format: Literal["csv", "jsonl", "json", "xlsx"] | None = Form(None),  # noqa: A002
    tz: str | None = Form(None, max_length=60, description="Time zone of times written without one"),
    actor: Actor = Depends(api_actor),
    s: Session = DB,
):
    cfg = settings(request)
    columns = parse_mapping(mapping)
    check_timezone(tz)
    s.commit()  # the import runs in its own transaction
    with uploaded(cfg, file) as path:
        stats = services.import_file(database(request), cfg, actor, unit_id, " ".join(source.split()), path,
                                     fmt=format, mapping=columns, tz=tz or None)
    return ingest_out(stats)


@router.post("/ingest/preview", response_model=PreviewOut, tags=["listening: ingest"],
             summary="Look at a file before importing it: format, encoding, columns, first rows, suggested mapping")
def ingest_preview(
    request: Request,
    file: UploadFile = File(...),
    format: Literal["csv", "jsonl", "json", "xlsx"] | None = Form(None),  # noqa: A002
    actor: Actor = Depends(api_actor),
):
    with uploaded(settings(request), file) as path:
        p = preview_file(path, format)
    return PreviewOut(**dataclasses.asdict(p))


# ------------------------------------------------------------------ items and search


def search_filters(
    since: dt.datetime | None = Query(None, description="Published at or after (ISO time; UTC if no zone)"),
    until: dt.datetime | None = Query(None, description="Published before"),
    source_id: int | None = None,
    lang: str | None = Query(None, max_length=8),
    unit_id: int | None = None,
    sentiment: Literal["pos", "neu", "neg", "q"] | None = None,
) -> queries.SearchFilters:
    return queries.SearchFilters(since=aware(since), until=aware(until), source_id=source_id, lang=lang or None,
                                 unit_id=unit_id, sentiment=sentiment)


@router.get("/items/search", response_model=SearchPageOut, tags=["listening: items"],
            summary="Full-text search (AND OR NOT, \"phrase\", NEAR/3, prefix*, lang:th source:rss after:2026-01-01)")
def search_items(
    q: str = Query(..., min_length=1, max_length=4000,
                   description='Words, "phrases", AND / OR / NOT, NEAR/3, prefix*, and the filters lang:, source:, '
                               'author:, after:, before:, sentiment:, unit: and mentions: (an entity the item names, '
                               'by id or name: mentions:vn:ha-noi, mentions:"Bộ Y tế", mentions:"Phạm Minh Chính")'),
    f: queries.SearchFilters = Depends(search_filters),
    paging: tuple[int, int] = Depends(page_params),
    actor: Actor = Depends(api_actor),
    s: Session = DB,
):
    page, per_page = paging
    r = queries.search(s, actor, q, f, limit=per_page, offset=(page - 1) * per_page,
                       count_cap=queries.SEARCH_COUNT_CAP)
    return SearchPageOut(query=r.query, total=r.total, total_capped=r.total_capped, page=page, per_page=per_page,
                         hits=[SearchHit(item=ItemOut.model_validate(h.item), snippet=h.snippet, score=h.score)
                               for h in r.hits])


@router.get("/items/{item_id}", response_model=ItemDetailOut, tags=["listening: items"])
def get_item(item_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    it: Item = queries.item(s, actor, item_id)
    return ItemDetailOut.model_validate(it)


# ------------------------------------------------------------------ saved topics


@router.get("/topics", response_model=PageOut[TopicOut], tags=["listening: topics"])
def list_topics(unit_id: int | None = None, paging: tuple[int, int] = Depends(page_params),
                actor: Actor = Depends(api_actor), s: Session = DB):
    page, per_page = paging
    rows = queries.topics(s, actor, unit_id=unit_id)
    chunk = rows[(page - 1) * per_page: page * per_page]
    return PageOut[TopicOut](items=[TopicOut.model_validate(t) for t in chunk], total=len(rows), page=page,
                             per_page=per_page)


@router.post("/topics", response_model=TopicOut, status_code=201, tags=["listening: topics"],
             summary="Save a topic (its query is checked; a syntax error answers 422 with details.column)")
def create_topic(data: TopicCreate, actor: Actor = Depends(api_actor), s: Session = DB):
    t = services.create_topic(s, actor, data)
    s.commit()
    return TopicOut.model_validate(t)


@router.get("/topics/{topic_id}", response_model=TopicOut, tags=["listening: topics"])
def get_topic(topic_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return TopicOut.model_validate(queries.topic(s, actor, topic_id))


@router.patch("/topics/{topic_id}", response_model=TopicOut, tags=["listening: topics"],
              summary="Change a topic (send the version you read to avoid overwriting someone else's change)")
def update_topic(topic_id: int, data: TopicUpdate, actor: Actor = Depends(api_actor),
                 s: Session = DB):
    t = services.update_topic(s, actor, topic_id, data)
    s.commit()
    return TopicOut.model_validate(t)


@router.delete("/topics/{topic_id}", status_code=204, tags=["listening: topics"])
def delete_topic(topic_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    services.delete_topic(s, actor, topic_id)
    s.commit()
    return Response(status_code=204)


@router.get("/topics/{topic_id}/counts", response_model=TopicCountsOut, tags=["listening: topics"],
            summary="How many items match the topic: in total and per day over the last 14 days (UTC days)")
def topic_counts(topic_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    t = queries.topic(s, actor, topic_id)
    total, series = queries.topic_counts(s, actor, t)
    return TopicCountsOut(topic_id=t.id, query=t.query, total=total, days=topic_day_counts(series, t.unit.timezone))


# ------------------------------------------------------------------ near-duplicate clusters

MAX_CLUSTERS = 1000


@router.get("/clusters", response_model=PageOut[ClusterOut], tags=["listening: clusters"],
            summary="Near-duplicate clusters, largest first")
def list_clusters(paging: tuple[int, int] = Depends(page_params), actor: Actor = Depends(api_actor),
                  s: Session = DB):
    page, per_page = paging
    rows = queries.clusters(s, actor, limit=MAX_CLUSTERS)
    chunk = rows[(page - 1) * per_page: page * per_page]
    return PageOut[ClusterOut](
        items=[ClusterOut(id=c.id, size=c.size, sources=c.sources, first_seen=c.first_seen, last_seen=c.last_seen,
                          first_item=ItemOut.model_validate(i)) for c, i in chunk],
        total=len(rows), page=page, per_page=per_page)


@router.get("/clusters/{cluster_id}", response_model=ClusterDetailOut, tags=["listening: clusters"],
            summary="One cluster: its items (oldest first), first seen, sources, items per day (UTC)")
def get_cluster(cluster_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return cluster_detail(s, actor, cluster_id)
