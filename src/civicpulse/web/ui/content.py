"""Post pages: compose (one post, variants per channel, live per-platform checks), the post itself (variants and
their states, approval steps, decisions, external reviewer link, scheduling, history), the list of posts and the
external reviewer's page (no sign-in: the signed link is the key).

Routes stay thin: parse the form, call a service (which checks permission and audits), render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from civicpulse.connectors import limits
from civicpulse.connectors.base import MediaRef
from civicpulse.domain.content import services as content
from civicpulse.domain.content.schemas import PostCreate, VariantIn
from civicpulse.domain.errors import DomainError, NotFound, ValidationFailed
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.publishing import calendar as cal
from civicpulse.domain.publishing import platforms, queries
from civicpulse.domain.publishing import services as pub
from civicpulse.domain.publishing.models import STATES
from civicpulse.domain.publishing.schemas import ExternalDecisionIn, ExternalLinkIn
from civicpulse.i18n import _
from civicpulse.web.deps import DB, WebContext, client_ip, settings
from civicpulse.web.ui.auth import ensure_session, set_session_cookie
from civicpulse.web.ui.render import actor_of, is_htmx, render, safe_next, signed_in, ui_context

router = APIRouter(include_in_schema=False)
LANGS = ("vi", "th", "en")


def state_labels() -> dict[str, str]:
    return {"draft": _("Draft"), "in_review": _("In review"), "approved": _("Approved"),
            "scheduled": _("Scheduled"), "publishing": _("Publishing"), "published": _("Published"),
            "failed": _("Failed"), "cancelled": _("Cancelled")}


def language_labels() -> dict[str, str]:
    return {"vi": _("Vietnamese"), "th": _("Thai"), "en": _("English")}


def event_labels() -> dict[str, str]:
    return {"submitted": _("Sent for approval"), "approved": _("Approved"),
            "changes_requested": _("Changes requested"), "commented": _("Comment")}


def _error_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return content._validation(exc).message
    return getattr(exc, "message", str(exc))


def parse_local(value: str, tz: str) -> dt.datetime | None:
    """A ``datetime-local`` field (YYYY-MM-DDTHH:MM) read in the display time zone; aware ISO text is kept."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(_("'%(value)s' is not a date and time (for example 2026-12-01 09:00)")
                               % {"value": value}, details={"field": "scheduled_at"}) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=ZoneInfo(tz))


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 12 else None


# ------------------------------------------------------------------ compose


def _compose_values(form: Any) -> dict[str, Any]:
    """Everything the compose form sent, as plain values (to show them again after an error)."""
    channel_ids = [i for i in (_int(x) for x in form.getlist("channel_ids")) if i is not None]
    media_ids = [i for i in (_int(x) for x in form.getlist("media_ids")) if i is not None]
    return {
        "unit_id": _int(form.get("unit_id")),
        "title": str(form.get("title") or "").strip(),
        "texts": {lg: str(form.get(f"text_{lg}") or "") for lg in LANGS},
        "link": str(form.get("link") or "").strip(),
        "hashtags": str(form.get("hashtags") or "").strip(),
        "channel_ids": channel_ids,
        "languages": {c: str(form.get(f"lang_{c}") or "") for c in channel_ids},
        "overrides": {c: str(form.get(f"text_ch_{c}") or "") for c in channel_ids},
        "media_ids": media_ids,
        "alts": {m: str(form.get(f"alt_{m}") or "") for m in media_ids},
        "scheduled_at": str(form.get("scheduled_at") or ""),
        "reply_to_item": _int(form.get("reply_to_item")),
        "campaign": _int(form.get("campaign")),
    }


def _hashtag_list(raw: str) -> list[str]:
    return [h for h in raw.replace(",", " ").split() if h.strip("#")]


def _variant_text(values: dict[str, Any], channel_id: int) -> tuple[str | None, str]:
    """(language, text) of the channel's variant as the post service will build it."""
    override = values["overrides"].get(channel_id, "").strip()
    texts = {k: v for k, v in values["texts"].items() if v.strip()}
    lang = values["languages"].get(channel_id) or next(iter(texts), None)
    if override:
        return lang, override
    text = texts.get(lang or "", "").strip()
    tags = _hashtag_list(values["hashtags"])
    if tags:
        text = (text + "\n\n" + " ".join("#" + h.lstrip("#") for h in tags)).strip()
    return lang, text


def _compose_page(request: Request, s: Session, actor: Actor, values: dict[str, Any], *, error: str | None = None,
                  status_code: int = 200) -> HTMLResponse:
    units = cal.draft_units(s, actor)
    if not units:
        from civicpulse.domain.errors import PermissionDenied

        raise PermissionDenied(_("Writing posts needs the editor role on a unit"))
    unit_id: int = values["unit_id"] if values.get("unit_id") in {u.id for u in units} else units[0].id
    values["unit_id"] = unit_id
    channels = cal.usable_channels(s, actor, unit_id)
    media = []
    for mid in values.get("media_ids", []):
        try:
            media.append(queries.media(s, actor, mid))
        except NotFound:
            continue
    library = queries.library(s, actor, unit_id)
    item = None
    if values.get("reply_to_item"):
        from civicpulse.domain.listening import queries as listening

        try:
            item = listening.item(s, actor, values["reply_to_item"])
        except DomainError:
            values["reply_to_item"] = None
    return render(request, "content/compose.html", units=units, channels=channels, v=values, media=media,
                  library=library, item=item, langs=LANGS, lang_labels=language_labels(),
                  label=platforms.label, error=error, status_code=status_code)


def _guess_language(text: str, fallback: str) -> str:
    try:
        from civicpulse.nlp import langid

        found, _conf = langid.detect(text)
    except Exception:  # noqa: BLE001 - a guess only; the officer moves the text if it is wrong
        return fallback
    return found if found in LANGS else fallback


@router.get("/content/new", response_class=HTMLResponse)
def compose(request: Request, text: str = Query("", max_length=20_000),
            reply_to_item: str | None = Query(None, max_length=20), campaign: str | None = Query(None, max_length=20),
            unit_id: str | None = Query(None, max_length=20), ctx: WebContext = Depends(signed_in), s: Session = DB):
    lang = getattr(request.state, "lang", "en")
    texts = {lg: "" for lg in LANGS}
    if text.strip():
        texts[_guess_language(text, lang if lang in LANGS else "en")] = text
    values: dict[str, Any] = {"unit_id": _int(unit_id), "title": "", "texts": texts, "link": "", "hashtags": "", "channel_ids": [],
              "languages": {}, "overrides": {}, "media_ids": [], "alts": {}, "scheduled_at": "",
              "reply_to_item": _int(reply_to_item), "campaign": _int(campaign)}
    return _compose_page(request, s, actor_of(ctx), values)


@router.get("/content/new/channels", response_class=HTMLResponse)
def compose_channels(request: Request, unit_id: int = Query(...), ctx: WebContext = Depends(signed_in),
                     s: Session = DB):
    """The channel choice for another unit (the unit select of the compose form swaps it in)."""
    actor = actor_of(ctx)
    if unit_id not in {u.id for u in cal.draft_units(s, actor)}:
        raise NotFound(_("Unit %(id)s was not found") % {"id": unit_id})
    return render(request, "content/_channels.html", channels=cal.usable_channels(s, actor, unit_id),
                  v={"channel_ids": [], "languages": {}, "overrides": {}}, langs=LANGS,
                  lang_labels=language_labels(), label=platforms.label)


def checks_for(s: Session, actor: Actor, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Per selected channel: the text as the platform counts it, its limit and the problems found."""
    media_refs = []
    for mid in values["media_ids"]:
        try:
            m = queries.media(s, actor, mid)
        except NotFound:
            continue
        media_refs.append(MediaRef(path=m.filename, mime=m.mime, size=m.size,
                                   alt_text=values["alts"].get(mid, m.alt_text), width=m.width, height=m.height))
    out = []
    for cid in values["channel_ids"]:
        try:
            ch = queries.channel(s, actor, cid)
        except DomainError:
            continue
        lang, text = _variant_text(values, cid)
        row: dict[str, Any] = {"channel": ch, "language": lang, "text": text, "count": len(text), "limit": None,
                               "problems": []}
        try:
            caption = ch.platform == "telegram" and bool(media_refs)
            row["count"] = limits.text_length(ch.platform, text)
            row["limit"] = int((ch.config or {}).get("max_chars") or 0) or limits.max_length(ch.platform,
                                                                                             caption=caption)
            row["problems"] = limits.validate(ch.platform, text, media_refs, title=values["title"] or None,
                                              options=dict(ch.config or {}))
        except KeyError:
            pass  # a platform without published limits: the plain count is shown
        if not text.strip() and not row["problems"]:
            row["problems"] = [limits.Problem("empty", _("The post has no text in this language."))]
        out.append(row)
    return out


@router.post("/content/validate", response_class=HTMLResponse)
async def compose_validate(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    """The live checks under the compose form (HTMX partial; nothing is stored)."""
    form = await request.form()
    values = _compose_values(form)
    return render(request, "content/_checks.html", checks=checks_for(s, actor_of(ctx), values),
                  label=platforms.label, lang_labels=language_labels())


@router.post("/content/media", response_class=HTMLResponse)
async def compose_media(request: Request, unit_id: int = Form(...), alt_text: str = Form("", max_length=5000),
                        file: UploadFile = File(...), ctx: WebContext = Depends(signed_in), s: Session = DB):
    """Upload one attachment; answers the row to add to the compose form's media list."""
    data = await file.read()
    try:
        m = content.store_media(s, actor_of(ctx), settings(request), unit_id=unit_id,
                                filename=file.filename or "upload", mime=file.content_type or "", data=data,
                                alt_text=alt_text)
    except ValidationFailed as exc:
        s.rollback()
        # HTMX swaps only successful answers: the message goes into the list in its place
        return render(request, "content/_media_error.html", message=exc.message,
                      status_code=200 if is_htmx(request) else 422)
    page = render(request, "content/_media.html", m=m, alt=m.alt_text)
    page.headers["HX-Trigger-After-Settle"] = "media-changed"  # once the row is in the form
    return page


@router.get("/content/media/{media_id}/file")
def media_file(request: Request, media_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    from fastapi.responses import FileResponse

    m = queries.media(s, actor_of(ctx), media_id)
    return FileResponse(content.media_path(settings(request), m), media_type=m.mime, filename=m.filename)


@router.post("/content/new", response_class=HTMLResponse)
async def compose_save(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    form = await request.form()
    values = _compose_values(form)
    action = str(form.get("action") or "draft")
    tz = settings(request).default_timezone
    try:
        when = parse_local(values["scheduled_at"], tz)
        for mid, alt in values["alts"].items():
            m = queries.media(s, actor, mid)
            if alt.strip() != (m.alt_text or ""):
                content.set_alt_text(s, actor, mid, alt)
        options: dict[str, Any] = {}
        if values["reply_to_item"]:
            options["reply_to_item"] = values["reply_to_item"]
        if values["campaign"]:
            options["campaign_id"] = values["campaign"]
        variants = []
        for cid in values["channel_ids"]:
            override = values["overrides"].get(cid, "").strip()
            variants.append(VariantIn(channel_id=cid, language=values["languages"].get(cid) or None,  # type: ignore[arg-type]
                                      text=override or None, scheduled_at=when, options=options))
        if values["unit_id"] is None:
            raise ValidationFailed(_("Choose the unit the post is for"), details={"field": "unit_id"})
        data = PostCreate(unit_id=values["unit_id"], title=values["title"] or "", texts=values["texts"],
                          link=values["link"] or None, hashtags=_hashtag_list(values["hashtags"]),
                          media_ids=values["media_ids"], variants=variants)
        post = content.create_post(s, actor, data)
        if action == "submit":
            pub.submit(s, actor, post.id)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status == 401:
            raise
        s.rollback()  # nothing is stored; the officer's text comes back in the form
        return _compose_page(request, s, actor, values, error=_error_message(exc),
                             status_code=exc.status if isinstance(exc, DomainError) else 422)
    return RedirectResponse(f"/content/posts/{post.id}", status_code=303)


# ------------------------------------------------------------------ list of posts


@router.get("/content", include_in_schema=False)
def content_home() -> RedirectResponse:
    return RedirectResponse("/content/posts", status_code=303)


@router.get("/content/posts", response_class=HTMLResponse)
def posts_list(request: Request, q: str | None = Query(None, max_length=200),
               state: str | None = Query(None, max_length=20), review_status: str | None = Query(None, max_length=20),
               page: int = Query(1, ge=1, le=100_000), ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    st = state if state in STATES else None
    rs = review_status if review_status in ("draft", "in_review", "approved", "cancelled") else None
    p = queries.posts(s, actor, q=q, state=st, review_status=rs, page=page, per_page=30)
    variants = {x.id: queries.variants_of(s, actor, x.id) for x in p.items}
    return render(request, "content/list.html", page=p, variants=variants, q=q or "", state=st or "",
                  review_status=rs or "", states=STATES, labels=state_labels(),
                  waiting=queries.review_queue(s, actor, limit=20), can_write=bool(cal.draft_units(s, actor)))


# ------------------------------------------------------------------ one post


def post_page(request: Request, s: Session, actor: Actor, post_id: int, *, error: str | None = None,
              new_link: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    post = queries.post(s, actor, post_id)
    variants = queries.variants_of(s, actor, post.id)
    can_draft = actor.can("content.draft", post.unit)
    problems = {v.id: pub.problems(s, v) for v in variants if v.state in ("draft", "in_review", "approved",
                                                                          "scheduled", "failed")}
    return render(request, "content/post.html", post=post, variants=variants, problems=problems,
                  events=queries.history(s, actor, post.id), audit_rows=cal.post_history(s, actor, post.id),
                  labels=state_labels(), event_labels=event_labels(), lang_labels=language_labels(),
                  can_draft=can_draft, can_decide=cal.can_decide(s, actor, post), step=cal.current_step(post),
                  step_units=cal.step_unit_codes(s, post), has_drafts=any(v.state == "draft" for v in variants),
                  label=platforms.label, error=error, new_link=new_link, movable=cal.MOVABLE,
                  status_code=status_code)


@router.get("/content/posts/{post_id}", response_class=HTMLResponse)
def post_detail(request: Request, post_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    return post_page(request, s, actor_of(ctx), post_id)


def _run(request: Request, s: Session, actor: Actor, post_id: int, fn: Any, nxt: str | None = None) -> Response:
    """Run a service call; a refused change shows the post again with the reason (nothing was saved)."""
    try:
        fn()
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status in (401, 403, 404):
            raise
        s.rollback()
        status = exc.status if isinstance(exc, DomainError) else 422
        return post_page(request, s, actor, post_id, error=_error_message(exc), status_code=status)
    target = safe_next(nxt) if nxt else f"/content/posts/{post_id}"
    return RedirectResponse(target, status_code=303)


@router.post("/content/posts/{post_id}/submit")
def post_submit(request: Request, post_id: int, comment: str = Form("", max_length=5000),
                ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    return _run(request, s, actor, post_id, lambda: pub.submit(s, actor, post_id, comment))


@router.post("/content/posts/{post_id}/approve")
def post_approve(request: Request, post_id: int, comment: str = Form("", max_length=5000),
                 ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    return _run(request, s, actor, post_id, lambda: pub.approve(s, actor, post_id, comment))


@router.post("/content/posts/{post_id}/request-changes")
def post_request_changes(request: Request, post_id: int, comment: str = Form("", max_length=5000),
                         ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    return _run(request, s, actor, post_id, lambda: pub.request_changes(s, actor, post_id, comment))


@router.post("/content/posts/{post_id}/comment")
def post_comment(request: Request, post_id: int, comment: str = Form("", max_length=5000),
                 ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    return _run(request, s, actor, post_id, lambda: pub.comment(s, actor, post_id, comment))


@router.post("/content/posts/{post_id}/review-link", response_class=HTMLResponse)
def post_review_link(request: Request, post_id: int, reviewer: str = Form("", max_length=300),
                     hours: int = Form(72, ge=1, le=24 * 14), ctx: WebContext = Depends(signed_in),
                     s: Session = DB):
    """Create an external reviewer link; the page shows it once (only its signature is kept)."""
    actor = actor_of(ctx)
    cfg = settings(request)
    try:
        link, token = pub.create_review_link(s, actor, cfg, post_id, ExternalLinkIn(reviewer=reviewer, hours=hours))
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status in (401, 403, 404):
            raise
        s.rollback()
        return post_page(request, s, actor, post_id, error=_error_message(exc),
                         status_code=exc.status if isinstance(exc, DomainError) else 422)
    url = f"{cfg.base_url.rstrip('/')}/review/{token}"
    return post_page(request, s, actor, post_id, new_link={"url": url, "expires_at": link.expires_at,
                                                           "reviewer": link.reviewer})


# ------------------------------------------------------------------ variants: time, cancel, retry, check


def _variant_post(s: Session, actor: Actor, variant_id: int) -> int:
    return queries.variant(s, actor, variant_id).post_id


@router.post("/content/variants/{variant_id}/schedule")
def variant_schedule(request: Request, variant_id: int, scheduled_at: str = Form("", max_length=40),
                     next: str = Form("", max_length=500), ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    post_id = _variant_post(s, actor, variant_id)
    tz = settings(request).default_timezone

    def run() -> None:
        when = parse_local(scheduled_at, tz)
        if when is None:
            raise ValidationFailed(_("Give the date and time the post should go out"),
                                   details={"field": "scheduled_at"})
        pub.schedule(s, actor, variant_id, when)

    return _run(request, s, actor, post_id, run, next or None)


@router.post("/content/variants/{variant_id}/edit")
def variant_edit(request: Request, variant_id: int, text: str = Form("", max_length=100_000),
                 ctx: WebContext = Depends(signed_in), s: Session = DB):
    """Change a channel's text; an approved or scheduled post goes back to draft (it needs approval again)."""
    from civicpulse.domain.content.schemas import VariantUpdate

    actor = actor_of(ctx)
    post_id = _variant_post(s, actor, variant_id)

    def run() -> None:
        if not text.strip():
            raise ValidationFailed(_("The text is empty"), details={"field": "text"})
        pub.update_variant(s, actor, variant_id, VariantUpdate(text=text))

    return _run(request, s, actor, post_id, run)


@router.post("/content/variants/{variant_id}/{op}")
def variant_action(request: Request, variant_id: int, op: str, reason: str = Form("", max_length=2000),
                   found: str = Form("", max_length=5), url: str = Form("", max_length=2000),
                   next: str = Form("", max_length=500), ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    post_id = _variant_post(s, actor, variant_id)
    ops = {
        "unschedule": lambda: pub.unschedule(s, actor, variant_id),
        "cancel": lambda: pub.cancel(s, actor, variant_id, reason),
        "retry": lambda: pub.retry(s, actor, variant_id),
        "resolve": lambda: pub.resolve_check(s, actor, variant_id, found == "yes", url.strip() or None),
    }
    if op not in ops:
        raise NotFound(_("Unknown action %(op)s") % {"op": op})
    return _run(request, s, actor, post_id, ops[op], next or None)


# ------------------------------------------------------------------ external reviewer (no sign-in)


def _review_page(request: Request, s: Session, ctx: WebContext, token: str, *, error: str | None = None,
                 done: str | None = None, name: str = "", comment: str = "", status_code: int = 200) -> Response:
    cfg = settings(request)
    raw = ensure_session(request, s, ctx)
    view = None if done else pub.external_review_view(s, cfg, token)
    page = render(request, "content/review.html", view=view, token=token, error=error, done=done, reviewer_name=name,
                  comment=comment, label=platforms.label, lang_labels=language_labels(), status_code=status_code)
    if raw:
        set_session_cookie(request, page, raw)
    return page


@router.get("/review/{token}", response_class=HTMLResponse)
def external_review(request: Request, token: str, ctx: WebContext = Depends(ui_context), s: Session = DB):
    return _review_page(request, s, ctx, token[:400])


@router.post("/review/{token}", response_class=HTMLResponse)
def external_review_decide(request: Request, token: str, decision: str = Form(..., max_length=20),
                           name: str = Form("", max_length=300), comment: str = Form("", max_length=5000),
                           ctx: WebContext = Depends(ui_context), s: Session = DB):
    token = token[:400]
    try:
        data = ExternalDecisionIn(decision=decision, name=name.strip(), comment=comment)  # type: ignore[arg-type]
        pub.external_review_decide(s, settings(request), token, data, ip=client_ip(request))
    except (ValidationError, ValidationFailed) as exc:
        s.rollback()
        msg = _("Write your name so that the team knows who decided") if isinstance(exc, ValidationError) and any(
            e.get("loc") == ("name",) for e in exc.errors()) else _error_message(exc)
        return _review_page(request, s, ctx, token, error=msg, name=name, comment=comment, status_code=422)
    return _review_page(request, s, ctx, token, done=decision)
