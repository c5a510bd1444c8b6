"""Listening pages: search, item detail, saved topics, sources (with file import and rejects), clusters.

Routes stay thin: parse the form, call a query or service (which checks permission and audits), render.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from civicpulse.config import Settings
from civicpulse.connectors.base import ConnectorError
from civicpulse.domain.errors import DomainError, NotFound, ValidationFailed
from civicpulse.domain.listening import queries, services
from civicpulse.domain.listening.importers import TARGETS
from civicpulse.domain.listening.schemas import SourceCreate, SourceUpdate, TopicCreate, TopicUpdate
from civicpulse.domain.org import queries as org_queries
from civicpulse.domain.org.permissions import Actor
from civicpulse.i18n import _
from civicpulse.web.api import listening as api
from civicpulse.web.deps import DB, WebContext, database, settings
from civicpulse.web.ui.render import actor_of, is_htmx, render, signed_in

router = APIRouter(include_in_schema=False)

PER_PAGE = 20
UPLOAD_TTL_SECONDS = 24 * 3600
HIDDEN_FIELDS = {"allow_private"}  # installation-wide setting, refused per source


def N_(message: str) -> str:  # noqa: N802 - the gettext convention: mark for extraction, translate later
    return message


# The connector registry speaks English; these marks let the catalogs carry its words
# (tests/listening/test_ui.py checks that every label of the registry is listed here).
REGISTRY_MESSAGES = (
    N_("RSS / Atom feed"), N_("News sites, agency press releases and blogs that publish a feed."),
    N_("Feed address"), N_("Fetch the full article when the feed has only a summary"),
    N_("Most entries per collection"), N_("Time limit per request (seconds)"), N_("Mastodon"),
    N_("Public posts on a Mastodon server: a hashtag, the public timeline or one account."),
    N_("Server address"), N_("For example https://mastodon.social"), N_("What to follow"), N_("Hashtag (without #)"),
    N_("Account (user or user@server)"), N_("Only posts from this server"), N_("Access token"),
    N_("Needed on servers that only show timelines to signed-in apps."), N_("Bluesky"),
    N_("Bluesky posts: a search, one account's feed, or an account read straight from its server (PDS)."),
    N_("Search words"), N_("Language filter (e.g. th, vi, en)"), N_("Account handle or DID"), N_("AppView address"),
    N_("PDS address (repo mode and sign-in)"), N_("Sign-in handle (optional)"), N_("App password (optional)"),
    N_("YouTube comments"),
    N_("Comments on one video or on everything related to a channel (YouTube Data API v3)."), N_("API key"),
    N_("Video ID"), N_("Channel ID (instead of a video)"), N_("Only comments containing"),
    N_("Read every reply (uses more quota)"), N_("Daily quota units"), N_("Facebook Page"),
    N_("Posts on a Facebook Page and the comments under them (Graph API)."), N_("Page ID"),
    N_("Page access token"), N_("What to collect"), N_("Also collect comments on recent posts"),
    N_("Post IDs (comments mode)"), N_("Graph API version"), N_("X (Twitter)"),
    N_("Recent posts on X matching a search (API v2, last 7 days)."), N_("Search query"),
    N_('X search syntax, e.g. "น้ำท่วม lang:th -is:retweet"'), N_("Bearer token"),
    N_("Requests per 15 minutes allowed by your plan"),
    # choices
    N_("hashtag"), N_("public"), N_("account"), N_("search"), N_("author"), N_("repo"), N_("posts"), N_("comments"),
)


def _target_labels() -> dict[str, str]:
    return {
        "text": _("Text (required)"), "time": _("Published time"), "author": _("Author handle"),
        "author_name": _("Author name"), "url": _("Link"), "title": _("Title"), "likes": _("Likes"),
        "shares": _("Shares"), "comments": _("Comments"), "views": _("Views"), "followers": _("Author's followers"),
        "parent_id": _("Replies to (id of the parent)"), "thread_id": _("Thread id"), "id": _("Item id"),
        "kind": _("Kind (post, comment, article, reply)"), "lang": _("Language"),
    }


def platform_label(platform: str) -> str:
    from civicpulse.connectors.registry import platform_info

    if platform == "file":
        return _("File import")
    if platform == "webhook":
        return _("Webhook")
    try:
        return _(platform_info(platform).label)
    except KeyError:
        return platform


# ------------------------------------------------------------------ small helpers


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _local_day(value: str | None, tz: str) -> dt.datetime | None:
    """A yyyy-mm-dd from a date input → the UTC instant that local day starts."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        return None
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)


def _errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors():
        field = ".".join(str(p) for p in e.get("loc", ())) or "form"
        out.setdefault(field.split(".")[0], str(e.get("msg", "")).removeprefix("Value error, "))
    return out


def _domain_errors(exc: DomainError) -> dict[str, str]:
    field = exc.details.get("field") if isinstance(exc.details, dict) else None
    if isinstance(field, str) and field:
        return {field.split(".")[-1]: exc.message}
    return {"form": exc.message}


def manageable_units(s: Session, actor: Actor) -> list[Any]:
    return [u for u in org_queries.all_units(s, actor) if actor.can("listening.manage", u)]


def safe_url(url: str | None) -> str | None:
    """Links to the outside world only over http(s): never javascript: or data: from collected items."""
    return url if url and re.match(r"^https?://", url, re.IGNORECASE) else None


def sparkline(series: list[int], width: int = 112, height: int = 28, pad: int = 2) -> str:
    """SVG polyline points for a series (drawn server-side; no script)."""
    if not series:
        return ""
    top = max(series) or 1
    step = (width - 2 * pad) / max(1, len(series) - 1)
    pts = [f"{pad + i * step:.1f},{height - pad - (v / top) * (height - 2 * pad):.1f}" for i, v in enumerate(series)]
    return " ".join(pts)


@dataclasses.dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    count: int


def bars(days: list[api.DayCount], width: int = 320, height: int = 60, max_bars: int = 60) -> list[Bar]:
    """Bars for items per day (grouped into several-day buckets when the span is long)."""
    if not days:
        return []
    size = max(1, math.ceil(len(days) / max_bars))
    buckets = [days[i:i + size] for i in range(0, len(days), size)]
    counts = [sum(d.count for d in b) for b in buckets]
    top = max(counts) or 1
    slot = width / max(len(buckets), 14)  # a short span keeps narrow bars
    out: list[Bar] = []
    for b, c in zip(buckets, counts, strict=True):
        h = 0 if c == 0 else max(1.5, (c / top) * (height - 2))
        i = len(out)
        label = b[0].day.isoformat() if len(b) == 1 else f"{b[0].day.isoformat()} – {b[-1].day.isoformat()}"
        out.append(Bar(x=round(i * slot + slot * 0.1, 1), y=round(height - h, 1), width=round(max(1.0, slot * 0.8), 1),
                       height=round(h, 1), label=label, count=c))
    return out


async def form_data(request: Request) -> FormData:
    return await request.form()  # already parsed (and CSRF-checked) by ui_context; cached by Starlette


@router.get("/listening")
def listening_home(ctx: WebContext = Depends(signed_in)):
    return RedirectResponse("/listening/search", status_code=303)


# ------------------------------------------------------------------ search


@router.get("/listening/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    q: str = Query("", max_length=4000),
    lang: str = Query("", max_length=8),
    source_id: str = Query("", max_length=20),
    unit_id: str = Query("", max_length=20),
    sentiment: str = Query("", max_length=8),
    since: str = Query("", max_length=10),
    until: str = Query("", max_length=10),
    page: int = Query(1, ge=1, le=10000),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    tz = settings(request).default_timezone
    until_dt = _local_day(until, tz)
    f = queries.SearchFilters(
        since=_local_day(since, tz), until=until_dt + dt.timedelta(days=1) if until_dt else None,
        source_id=_int(source_id), lang=lang or None, unit_id=_int(unit_id),
        sentiment=sentiment if sentiment in api.SENTIMENTS else None,
    )
    params = {"q": q, "lang": lang, "source_id": source_id, "unit_id": unit_id, "sentiment": sentiment,
              "since": since, "until": until}
    result, error, pointer = None, None, None
    if q.strip():
        try:
            result = queries.search(s, actor, q, f, limit=PER_PAGE, offset=(page - 1) * PER_PAGE,
                                    count_cap=queries.SEARCH_COUNT_CAP)
        except ValidationFailed as exc:
            error, pointer = exc.message, exc.details.get("pointer")
    pages = max(1, -(-result.total // PER_PAGE)) if result else 1
    qs = urlencode({k: v for k, v in params.items() if v})
    base = "/listening/search?" + (qs + "&" if qs else "")
    context: dict[str, Any] = dict(result=result, error=error, pointer=pointer, page_no=page, pages=pages, base=base,
                                   form=params)
    status = 422 if error else 200
    if is_htmx(request) and request.headers.get("hx-target") == "results" \
            and not request.headers.get("hx-history-restore-request"):
        response = render(request, "listening/_results.html", **context)
        response.headers["HX-Push-Url"] = (base + f"page={page}" if page > 1 else base).rstrip("?&")  # no empty fields
        return response
    return render(request, "listening/search.html", status_code=status, sources=queries.sources(s, actor),
                  units=org_queries.all_units(s, actor), **context)


@router.get("/listening/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, item_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    it = queries.item(s, actor, item_id)
    near = [x for x in queries.cluster_items(s, actor, it.dup_cluster_id) if x.id != it.id] if it.dup_cluster_id else []
    unit = org_queries.unit(s, actor, it.unit_id)
    return render(request, "listening/item.html", it=it, near=near[:50], near_total=len(near), unit=unit,
                  link=safe_url(it.url), platform=platform_label(it.source.platform),
                  can_correct=actor.can("nlp.correct", unit), corrected=request.query_params.get("corrected") == "1",
                  correction_labels=[(t, services.LABELS[t]) for t in ("sentiment", "voice", "toxicity")])


@router.post("/listening/items/{item_id}/correct")
def item_correct(request: Request, item_id: int, task: str = Form(..., max_length=20),
                 label: str = Form(..., max_length=20), ctx: WebContext = Depends(signed_in),
                 s: Session = DB):
    services.correct_label(s, actor_of(ctx), item_id, task, label)
    return RedirectResponse(f"/listening/items/{item_id}?corrected=1", status_code=303)


# ------------------------------------------------------------------ topics


def _topics_page(request: Request, s: Session, ctx: WebContext, *, errors: dict[str, str] | None = None,
                 values: dict[str, Any] | None = None, pointer: str | None = None, status_code: int = 200):
    actor = actor_of(ctx)
    rows: list[dict[str, Any]] = []
    for t in queries.topics(s, actor):
        total, series = queries.topic_counts(s, actor, t)
        rows.append({"topic": t, "total": total, "series": series, "points": sparkline(series),
                     "days": api.topic_day_counts(series, t.unit.timezone), "can_manage": actor.can("listening.manage", t.unit)})
    groups: dict[int, dict[str, Any]] = {}
    for r in rows:
        groups.setdefault(r["topic"].unit_id, {"unit": r["topic"].unit, "rows": []})["rows"].append(r)
    return render(request, "listening/topics.html", groups=sorted(groups.values(), key=lambda g: g["unit"].path),
                  units=manageable_units(s, actor), errors=errors or {}, values=values or {}, pointer=pointer,
                  status_code=status_code)


@router.get("/listening/topics", response_class=HTMLResponse)
def topics_page(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    return _topics_page(request, s, ctx)


@router.post("/listening/topics", response_class=HTMLResponse)
def topic_create(
    request: Request,
    unit_id: int = Form(...),
    name: str = Form("", max_length=1000),
    query: str = Form("", max_length=8000),
    description: str = Form("", max_length=4000),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    values = dict(unit_id=unit_id, name=name, query=query, description=description)
    try:
        data = TopicCreate(unit_id=unit_id, name=name.strip(), query=query, description=description.strip() or None)
        services.create_topic(s, actor_of(ctx), data)
        s.commit()  # before the redirect: the next page must see it
    except ValidationError as exc:
        return _topics_page(request, s, ctx, errors=_errors(exc), values=values, status_code=422)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        s.rollback()
        return _topics_page(request, s, ctx, errors=_domain_errors(exc), values=values,
                            pointer=exc.details.get("pointer"), status_code=exc.status)
    return RedirectResponse("/listening/topics", status_code=303)


@router.get("/listening/topics/{topic_id}/edit", response_class=HTMLResponse)
def topic_edit(request: Request, topic_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    t = queries.topic(s, actor_of(ctx), topic_id)
    return render(request, "listening/topic_form.html", topic=t, errors={}, values={}, pointer=None)


@router.post("/listening/topics/{topic_id}/edit", response_class=HTMLResponse)
def topic_update(
    request: Request,
    topic_id: int,
    version: int = Form(...),
    name: str = Form("", max_length=1000),
    query: str = Form("", max_length=8000),
    description: str = Form("", max_length=4000),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    values = dict(name=name, query=query, description=description)
    try:
        data = TopicUpdate(name=name.strip(), query=query, description=description.strip(), version=version)
        services.update_topic(s, actor, topic_id, data)
        s.commit()
    except ValidationError as exc:
        t = queries.topic(s, actor, topic_id)
        return render(request, "listening/topic_form.html", topic=t, errors=_errors(exc), values=values,
                      pointer=None, status_code=422)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        s.rollback()
        t = queries.topic(s, actor, topic_id)
        return render(request, "listening/topic_form.html", topic=t, errors=_domain_errors(exc), values=values,
                      pointer=exc.details.get("pointer"), status_code=exc.status)
    return RedirectResponse("/listening/topics", status_code=303)


@router.post("/listening/topics/{topic_id}/delete")
def topic_delete(topic_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    services.delete_topic(s, actor_of(ctx), topic_id)
    s.commit()
    return RedirectResponse("/listening/topics", status_code=303)


# ------------------------------------------------------------------ sources


@dataclasses.dataclass
class FormField:
    name: str
    label: str
    type: str
    required: bool
    secret: bool
    help: str
    choices: list[tuple[str, str]]
    value: Any


def platform_form(platform: str, values: dict[str, Any] | None = None) -> list[FormField]:
    """The settings form of a platform, from the connector registry (secret fields become password inputs)."""
    from civicpulse.connectors.registry import platform_info

    if platform in ("file", "webhook"):
        return []
    values = values or {}
    out = []
    for f in platform_info(platform).fields:
        if f.name in HIDDEN_FIELDS:
            continue
        value = values.get(f.name, f.default)
        if f.type == "list" and isinstance(value, list):
            value = "\n".join(str(v) for v in value)
        out.append(FormField(
            name=f.name, label=_(f.label), type=f.type, required=f.required, secret=f.secret,
            help=_(f.help) if f.help else "", choices=[(c, _(c)) for c in f.choices],
            value="" if f.secret or value is None else value,
        ))
    return out


def read_platform_form(platform: str, form: FormData) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """config, secrets and per-field errors from a submitted platform form (empty secrets are left out)."""
    config: dict[str, Any] = {}
    secret_values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for f in platform_form(platform):
        raw = form.get(f"cfg_{f.name}")
        value = raw.strip() if isinstance(raw, str) else ""
        if f.secret:
            if value:
                secret_values[f.name] = value
            continue
        if f.type == "bool":
            config[f.name] = value in ("true", "on", "1")
        elif f.type == "int":
            if value:
                if not re.fullmatch(r"-?\d{1,9}", value):
                    errors[f.name] = _("Type a whole number")
                else:
                    config[f.name] = int(value)
        elif f.type == "list":
            items = [v.strip() for v in re.split(r"[\n,]+", value) if v.strip()]
            if items:
                config[f.name] = items
        elif f.type == "choice":
            if value:
                if value not in {c for c, _label in f.choices}:
                    errors[f.name] = _("Choose one of the options")
                else:
                    config[f.name] = value
        elif value:
            config[f.name] = value
    return config, secret_values, errors


def _source_errors(exc: DomainError) -> dict[str, str]:
    details = exc.details if isinstance(exc.details, dict) else {}
    missing = details.get("missing")
    if isinstance(missing, list) and missing:
        errs = {str(m): _("Required") for m in missing}
        errs["form"] = exc.message
        return errs
    return _domain_errors(exc)


@router.get("/listening/sources", response_class=HTMLResponse)
def sources_page(
    request: Request,
    ran: str = Query("", max_length=20),
    inserted: str = Query("", max_length=20),
    duplicates: str = Query("", max_length=20),
    rejected: str = Query("", max_length=20),
    failed: str = Query("", max_length=20),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    rows = queries.sources(s, actor)
    now = dt.datetime.now(dt.UTC)
    ran_id, failed_id = _int(ran), _int(failed)
    notice = None
    if ran_id is not None:
        src = next((x for x in rows if x.id == ran_id), None)
        if src is not None:
            notice = {"source": src, "inserted": _int(inserted) or 0, "duplicates": _int(duplicates) or 0,
                      "rejected": _int(rejected) or 0}
    failed_src = next((x for x in rows if x.id == failed_id), None) if failed_id is not None else None
    return render(request, "listening/sources.html",
                  rows=[{"src": x, "platform": platform_label(x.platform),
                         "can_manage": actor.can("listening.manage", x.unit),
                         "expired": x.token_expires_at is not None and x.token_expires_at <= now,
                         "expires_soon": x.token_expires_at is not None
                         and now < x.token_expires_at <= now + dt.timedelta(days=14)} for x in rows],
                  notice=notice, failed=failed_src, can_add=bool(manageable_units(s, actor)))


def _platforms() -> list[dict[str, str]]:
    from civicpulse.connectors.registry import PLATFORMS

    out = [{"platform": p.platform, "label": _(p.label), "description": _(p.description)} for p in PLATFORMS]
    out.append({"platform": "webhook", "label": platform_label("webhook"),
                "description": _("Another system sends items to civicpulse (JSON over HTTPS, with its own token).")})
    return out


def _source_new(request: Request, s: Session, ctx: WebContext, platform: str | None, *,
                errors: dict[str, str] | None = None, values: dict[str, Any] | None = None, status_code: int = 200):
    known = {p["platform"] for p in _platforms()}
    platform = platform if platform in known else None
    values = values or {}
    return render(request, "listening/source_new.html", platforms=_platforms(), platform=platform,
                  platform_name=platform_label(platform) if platform else "",
                  fields=platform_form(platform, values.get("config")) if platform else [],
                  units=manageable_units(s, actor_of(ctx)), errors=errors or {}, values=values,
                  status_code=status_code)


@router.get("/listening/sources/new", response_class=HTMLResponse)
def source_new(request: Request, platform: str | None = Query(None, max_length=20), ctx: WebContext = Depends(signed_in),
               s: Session = DB):
    return _source_new(request, s, ctx, platform)


@router.post("/listening/sources/new", response_class=HTMLResponse)
def source_create(
    request: Request,
    platform: str = Form(..., max_length=20),
    unit_id: int = Form(...),
    name: str = Form("", max_length=1000),
    interval_minutes: int = Form(15, ge=1, le=7 * 24 * 60),
    enabled: bool = Form(False),
    form: FormData = Depends(form_data),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    known = {p["platform"] for p in _platforms()}
    if platform not in known:
        raise ValidationFailed(_("Choose a kind of source"))
    config, secret_values, errors = read_platform_form(platform, form)
    values = dict(unit_id=unit_id, name=name, interval_minutes=interval_minutes, enabled=enabled, config=config)
    if errors:
        return _source_new(request, s, ctx, platform, errors=errors, values=values, status_code=422)
    try:
        data = SourceCreate(unit_id=unit_id, name=name.strip(), platform=platform, config=config,
                            secrets=secret_values, interval_minutes=interval_minutes, enabled=enabled)
        src, token = services.create_source(s, actor, settings(request), data)
        s.commit()  # before answering: the redirected page (or the webhook token) must work at once
    except ValidationError as exc:
        return _source_new(request, s, ctx, platform, errors=_errors(exc), values=values, status_code=422)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        s.rollback()
        return _source_new(request, s, ctx, platform, errors=_source_errors(exc), values=values,
                           status_code=exc.status)
    if token:
        endpoint = settings(request).base_url.rstrip("/") + "/api/v1/ingest/webhook"
        return render(request, "listening/source_created.html", src=src, token=token, endpoint=endpoint)
    return RedirectResponse(f"/listening/sources#source-{src.id}", status_code=303)


def _source_edit(request: Request, s: Session, ctx: WebContext, source_id: int, *,
                 errors: dict[str, str] | None = None, values: dict[str, Any] | None = None, status_code: int = 200):
    src = queries.source(s, actor_of(ctx), source_id)
    values = values or {"name": src.name, "interval_minutes": src.interval_minutes, "config": src.config}
    return render(request, "listening/source_form.html", src=src, platform_name=platform_label(src.platform),
                  fields=platform_form(src.platform, values.get("config")), errors=errors or {}, values=values,
                  has_secrets=bool(src.secrets), status_code=status_code)


@router.get("/listening/sources/{source_id}/edit", response_class=HTMLResponse)
def source_edit(request: Request, source_id: int, ctx: WebContext = Depends(signed_in),
                s: Session = DB):
    return _source_edit(request, s, ctx, source_id)


@router.post("/listening/sources/{source_id}/edit", response_class=HTMLResponse)
def source_update(
    request: Request,
    source_id: int,
    name: str = Form("", max_length=1000),
    interval_minutes: int = Form(15, ge=1, le=7 * 24 * 60),
    form: FormData = Depends(form_data),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    src = queries.source(s, actor, source_id)
    config, secret_values, errors = read_platform_form(src.platform, form)
    values = dict(name=name, interval_minutes=interval_minutes, config=config)
    if errors:
        return _source_edit(request, s, ctx, source_id, errors=errors, values=values, status_code=422)
    try:
        changes: dict[str, Any] = {"name": name.strip(), "interval_minutes": interval_minutes}
        if src.platform not in ("file", "webhook"):
            changes["config"] = config
        if secret_values:
            changes["secrets"] = secret_values
        services.update_source(s, actor, settings(request), source_id, SourceUpdate(**changes))
        s.commit()
    except ValidationError as exc:
        return _source_edit(request, s, ctx, source_id, errors=_errors(exc), values=values, status_code=422)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        s.rollback()
        return _source_edit(request, s, ctx, source_id, errors=_source_errors(exc), values=values,
                            status_code=exc.status)
    return RedirectResponse(f"/listening/sources#source-{source_id}", status_code=303)


@router.post("/listening/sources/{source_id}/enabled")
def source_set_enabled(request: Request, source_id: int, enabled: bool = Form(...),
                       ctx: WebContext = Depends(signed_in), s: Session = DB):
    services.update_source(s, actor_of(ctx), settings(request), source_id, SourceUpdate(enabled=enabled))
    s.commit()
    return RedirectResponse(f"/listening/sources#source-{source_id}", status_code=303)


@router.post("/listening/sources/{source_id}/run")
def source_run(request: Request, source_id: int, ctx: WebContext = Depends(signed_in),
               s: Session = DB):
    s.commit()  # the fetch uses its own transactions
    try:
        stats = services.run_source(database(request), settings(request), source_id, actor=actor_of(ctx))
    except ConnectorError:
        # the reason is kept on the source and shown in red in the list
        return RedirectResponse(f"/listening/sources?failed={source_id}#source-{source_id}", status_code=303)
    q = urlencode({"ran": source_id, "inserted": stats.inserted, "duplicates": stats.duplicates,
                   "rejected": stats.rejected})
    return RedirectResponse(f"/listening/sources?{q}#source-{source_id}", status_code=303)


@router.post("/listening/sources/{source_id}/delete")
def source_delete(source_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    services.delete_source(s, actor_of(ctx), source_id)
    s.commit()
    return RedirectResponse("/listening/sources", status_code=303)


@router.get("/listening/sources/{source_id}/rejects", response_class=HTMLResponse)
def source_rejects(request: Request, source_id: int, page: int = Query(1, ge=1, le=100000),
                   ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    src = queries.source(s, actor, source_id)
    p = queries.rejects(s, actor, source_id=src.id, page=page, per_page=50)
    return render(request, "listening/rejects.html", src=src, page=p, platform=platform_label(src.platform))


# ------------------------------------------------------------------ file import


def _clean_old_uploads(root: Path) -> None:
    if not root.exists():
        return
    cutoff = time.time() - UPLOAD_TTL_SECONDS
    for d in root.iterdir():
        try:
            if d.is_dir() and d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            continue


def _upload(request: Request, ctx: WebContext, upload_id: str) -> tuple[Path, dict[str, Any]]:
    """A file uploaded for preview by this same person (an unknown or foreign id is simply not found)."""
    if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
        raise NotFound(_("This upload was not found; upload the file again."))
    folder = api.uploads_dir(settings(request)) / upload_id
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise NotFound(_("This upload was not found; upload the file again.")) from None
    if meta.get("user_id") != actor_of(ctx).user_id:
        raise NotFound(_("This upload was not found; upload the file again."))
    return folder / meta["name"], meta


def _import_form(request: Request, s: Session, ctx: WebContext, *, errors: dict[str, str] | None = None,
                 values: dict[str, Any] | None = None, status_code: int = 200):
    actor = actor_of(ctx)
    file_sources = [x for x in queries.sources(s, actor) if x.platform == "file"]
    return render(request, "listening/import.html", units=manageable_units(s, actor), file_sources=file_sources,
                  errors=errors or {}, values=values or {}, formats=api.FORMATS, status_code=status_code)


def cell(row: dict[str, Any], column: str) -> Any:
    """A preview cell: the column itself, or a dotted path into a JSON record; objects shown as JSON."""
    value: Any = row.get(column) if column in row else row
    if column not in row:
        for part in column.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _preview_page(request: Request, s: Session, ctx: WebContext, upload_id: str, path: Path, meta: dict[str, Any],
                  mapping: dict[str, str] | None, *, errors: dict[str, str] | None = None, status_code: int = 200,
                  preview: Any = None):
    preview = preview or api.preview_file(path, meta.get("format"))
    unit = org_queries.unit(s, actor_of(ctx), meta["unit_id"])
    return render(request, "listening/import_preview.html", upload_id=upload_id, preview=preview, unit=unit,
                  source=meta["source"], original=meta.get("original"), targets=TARGETS,
                  target_labels=_target_labels(), mapping=preview.suggested_mapping if mapping is None else mapping,
                  errors=errors or {}, cell=cell, status_code=status_code)


@router.get("/listening/import", response_class=HTMLResponse)
def import_page(request: Request, unit_id: str = Query("", max_length=20), source: str = Query("", max_length=200),
                ctx: WebContext = Depends(signed_in), s: Session = DB):
    return _import_form(request, s, ctx, values={"unit_id": _int(unit_id), "source": source})


@router.post("/listening/import", response_class=HTMLResponse)
def import_preview(
    request: Request,
    file: UploadFile = File(...),
    unit_id: int = Form(...),
    source: str = Form("", max_length=1000),
    format: str = Form("", max_length=10),  # noqa: A002
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    cfg = settings(request)
    org_queries.unit(s, actor_of(ctx), unit_id)  # an invisible unit is not found before anything is stored
    values = {"unit_id": unit_id, "source": source, "format": format}
    source = " ".join(source.split())
    if not source or len(source) > 200:
        return _import_form(request, s, ctx, errors={"source": _("Give the source a name (up to 200 characters)")},
                            values=values, status_code=422)
    if not file.filename:
        return _import_form(request, s, ctx, errors={"file": _("Choose a file")}, values=values, status_code=422)
    fmt = format if format in api.FORMATS else None
    _clean_old_uploads(api.uploads_dir(cfg))
    upload_id, path = api.save_upload(cfg, file, meta={"user_id": actor_of(ctx).user_id, "unit_id": unit_id,
                                                       "source": source, "format": fmt,
                                                       "original": (file.filename or "")[:300]})
    try:
        preview = api.preview_file(path, fmt)
    except ValidationFailed as exc:
        api.drop_upload(path)
        return _import_form(request, s, ctx, errors={"file": exc.message}, values=values, status_code=422)
    meta = {"unit_id": unit_id, "source": source, "format": fmt, "original": file.filename}
    return _preview_page(request, s, ctx, upload_id, path, meta, None, preview=preview)


@router.post("/listening/import/{upload_id}", response_class=HTMLResponse)
def import_run(
    request: Request,
    upload_id: str,
    form: FormData = Depends(form_data),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    cfg = settings(request)
    path, meta = _upload(request, ctx, upload_id)
    mapping = {t: v for t in TARGETS if isinstance(v := form.get(f"map_{t}"), str) and v}
    if form.get("cancel"):
        api.drop_upload(path)
        return RedirectResponse("/listening/import", status_code=303)
    if not mapping.get("text"):
        return _preview_page(request, s, ctx, upload_id, path, meta, mapping,
                             errors={"text": _("Choose the column that holds the text")}, status_code=422)
    s.commit()  # the import is one transaction of its own
    try:
        stats = services.import_file(database(request), cfg, actor, meta["unit_id"], meta["source"], path,
                                     fmt=meta.get("format"), mapping=mapping)
    except DomainError as exc:
        if exc.status in (403, 404):
            api.drop_upload(path)
            raise
        return _preview_page(request, s, ctx, upload_id, path, meta, mapping, errors={"form": exc.message},
                             status_code=exc.status)
    api.drop_upload(path)
    src = next((x for x in queries.sources(s, actor, unit_id=meta["unit_id"]) if x.name == meta["source"]), None)
    return render(request, "listening/import_result.html", stats=stats, src=src, original=meta.get("original"))


# ------------------------------------------------------------------ clusters


@router.get("/listening/clusters", response_class=HTMLResponse)
def clusters_page(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    rows = queries.clusters(s, actor_of(ctx), limit=50)
    return render(request, "listening/clusters.html", rows=rows)


@router.get("/listening/clusters/{cluster_id}", response_class=HTMLResponse)
def cluster_page(request: Request, cluster_id: int, ctx: WebContext = Depends(signed_in),
                 s: Session = DB):
    items = queries.cluster_items(s, actor_of(ctx), cluster_id)
    if not items:
        raise NotFound(_("This cluster was not found"))
    c = api.cluster_summary(cluster_id, items, settings(request).default_timezone)
    return render(request, "listening/cluster.html", c=c, bars=bars(c.days), items=items,
                  platform_label=platform_label)


@router.get("/listening/clusters/{cluster_id}/spread", response_class=HTMLResponse)
def cluster_spread(request: Request, cluster_id: int, ctx: WebContext = Depends(signed_in),
                   s: Session = DB):
    c = api.cluster_detail(s, actor_of(ctx), cluster_id, settings(request).default_timezone)
    return render(request, "listening/_spread.html", c=c, bars=bars(c.days, width=200, height=36), small=True)


# ------------------------------------------------------------------ model versions


def _model_rows(cfg: Settings) -> list[dict[str, Any]]:
    """Every version of the three models, newest first, with its validation scores on the path its
    labels come from (the routed default path where the card has it, else the fast path) and its
    comparison with the version that was active when it was built, on the same validation data."""
    from civicpulse.domain.listening.enrich import model_dir
    from civicpulse.nlp.model import list_versions, shown_scores

    rows: list[dict[str, Any]] = []
    for task in ("sentiment", "voice", "toxicity"):
        for v in reversed(list_versions(task, model_dir(cfg))):
            card = v["card"]
            scores = []
            for split, sc in sorted(shown_scores(card).items()):
                if isinstance(sc, dict) and "micro_f1" in sc:
                    scores.append({"split": split, "n": sc.get("n"), "micro": sc.get("micro_f1"),
                                   "macro": sc.get("macro_f1")})
            rows.append({"task": task, "version": v["version"], "active": v["active"], "origin": v["origin"],
                         "error": card.get("error"),
                         "created": card.get("created"), "model": card.get("model"), "scores": scores,
                         "compared": v["compared_with"],
                         "corrections": (card.get("training_data") or {}).get("corrections", 0)})
    return rows


@router.get("/listening/models", response_class=HTMLResponse)
def models_page(request: Request, ctx: WebContext = Depends(signed_in),
                s: Session = DB):
    from sqlalchemy import func, select

    from civicpulse.domain.listening.models import LabelCorrection

    actor = actor_of(ctx)
    counts = dict(s.execute(select(LabelCorrection.task, func.count()).where(
        actor.visible_filter(LabelCorrection.unit_path)).group_by(LabelCorrection.task)).all())
    head = org_queries.head_office(s)
    return render(request, "listening/models.html", rows=_model_rows(settings(request)), corrections=counts,
                  can_switch=head is not None and actor.can("nlp.models", head),
                  switched=request.query_params.get("switched"), **_training_context(s))


def _stage_label(stage: str) -> str:
    """A retraining's step, as train() reports it, in the reader's language."""
    steps = (("prepare", _("Reading the training data and the corrections")),
             ("embed", _("Computing e5 vectors of the texts")),
             ("fit (tuning split)", _("Fitting the model on part of the data, to tune its blend")),
             ("fit", _("Fitting the model")),
             ("fine-tuned e5 layers", _("Running the fine-tuned e5 layers on the validation data")),
             ("active version", _("Scoring the version in use")),
             ("compare", _("Comparing with the version in use")),
             ("baseline", _("Scoring the TF-IDF baseline")))
    return next((label for key, label in steps if stage.startswith(key)), stage or _("Starting"))


def _training_context(s: Session) -> dict[str, Any]:
    runs = queries.training_runs(s)
    now = dt.datetime.now(dt.UTC)
    shown = [{"run": r, "stale": r.is_stale(now), "stage": _stage_label(r.stage),
              "elapsed": int(((r.finished_at or now) - (r.started_at or r.requested_at)).total_seconds())}
             for r in runs]
    busy = any(x["run"].under_way and not x["stale"] for x in shown)
    return {"runs": shown, "training_busy": busy,
            "training_tasks": services.TRAINING_TASKS}


@router.get("/listening/models/training", response_class=HTMLResponse)
def models_training(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    """The retraining card, polled every two seconds while a retraining is under way. When the one it
    was watching has ended, the whole page is reloaded so that its versions table shows the new version."""
    head = org_queries.head_office(s)
    actor = actor_of(ctx)
    context = _training_context(s)
    resp = render(request, "listening/_training.html", can_switch=head is not None and actor.can("nlp.models", head),
                  **context)
    if request.query_params.get("watching") and not context["training_busy"]:
        resp.headers["HX-Refresh"] = "true"
    return resp


@router.post("/listening/models/train")
def model_train(request: Request, task: str = Form(..., max_length=20), ctx: WebContext = Depends(signed_in),
                s: Session = DB):
    from civicpulse.web.api.nlp import queue_training

    queue_training(request, s, actor_of(ctx), task)
    return RedirectResponse("/listening/models#training", status_code=303)


@router.post("/listening/models/training/{run_id}/cancel")
def model_train_cancel(run_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    services.cancel_training(s, actor_of(ctx), run_id)
    return RedirectResponse("/listening/models#training", status_code=303)


@router.post("/listening/models/use")
def model_use(request: Request, task: str = Form(..., max_length=20), version: str = Form(..., max_length=40),
              ctx: WebContext = Depends(signed_in), s: Session = DB):
    services.use_model_version(s, actor_of(ctx), settings(request), task, version)
    return RedirectResponse(f"/listening/models?switched={task}", status_code=303)
