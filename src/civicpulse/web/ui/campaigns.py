"""Campaign pages: the list with the unit's tasks (kits awaiting adaptation), a kit form, the campaign itself
(kit, assets, adaptation, agency posts with their traffic lights, the compliance table and exports) and the
alignment partial that the compose screen embeds (``/campaigns/{id}/align?text=…``).

Routes stay thin: parse the form, call a service (which checks permission and audits), render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from civicpulse.domain.campaigns import alignment, export, queries, services
from civicpulse.domain.campaigns.models import LEVELS, STATUSES
from civicpulse.domain.campaigns.schemas import (
    CHANNELS,
    AssetLinkIn,
    CampaignCreate,
    CampaignUpdate,
    Kit,
    PostIn,
)
from civicpulse.domain.errors import DomainError
from civicpulse.domain.org import queries as org_queries
from civicpulse.i18n import _
from civicpulse.web.deps import DB, WebContext, settings
from civicpulse.web.ui.render import actor_of, render, signed_in

router = APIRouter(include_in_schema=False)
MESSAGE_ROWS = 4
SUGGESTION_ROWS = 3


def _error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return services.validation_error(exc).message
    return getattr(exc, "message", str(exc))


def _count(v: Any, default: int) -> int:
    """A row count from the form: a small positive integer, whatever was sent."""
    return min(int(v), 50) if isinstance(v, str) and v.isdigit() else default


def kit_from_form(form: Any) -> dict[str, Any]:
    """The kit fields of the campaign form as the API's JSON shape (validated by the schemas)."""
    messages = []
    for i in range(_count(form.get("msg-count"), MESSAGE_ROWS)):
        text = {lg: (form.get(f"msg-{i}-{lg}") or "").strip() for lg in ("vi", "th", "en")}
        if any(text.values()):
            row: dict[str, Any] = {"kind": form.get(f"msg-{i}-kind") or "core", "text": text}
            if form.get(f"msg-{i}-id"):
                row["id"] = form.get(f"msg-{i}-id")
            messages.append(row)
    forbidden = []
    for line in (form.get("forbidden") or "").splitlines():
        phrase, _sep, instead = line.partition("=>")
        if phrase.strip():
            forbidden.append({"phrase": phrase.strip(), "instead": instead.strip()})
    suggested: list[dict[str, Any]] = []
    for i in range(_count(form.get("sug-count"), SUGGESTION_ROWS)):
        body = (form.get(f"sug-{i}-text") or "").strip()
        if body:
            srow: dict[str, Any] = {"channel": form.get(f"sug-{i}-channel") or "facebook",
                                    "lang": form.get(f"sug-{i}-lang") or "vi", "text": body}
            if form.get(f"sug-{i}-id"):
                srow["id"] = form.get(f"sug-{i}-id")
            suggested.append(srow)
    tags = [t for t in (form.get("hashtags") or "").replace(",", " ").split() if t]
    return {"messages": messages, "forbidden": forbidden, "suggested_posts": suggested,
            "mandatory": {"hashtags": tags, "link": (form.get("link") or "").strip(),
                          "asset_required": bool(form.get("asset_required"))}}


def _form_values(form: Any) -> dict[str, Any]:
    return {k: form.get(k) for k in form.keys()} | {"target": [int(x) for x in form.getlist("target") if x.isdigit()]}


def _kit_values(c: Any) -> dict[str, Any]:
    """A stored campaign as form values (for the edit form)."""
    kit = Kit.model_validate(c.kit or {})
    v: dict[str, Any] = {"title": c.title, "description": c.description, "unit_id": c.unit_id,
                         "plan_id": c.plan_id or "", "start_date": c.start_date.isoformat(),
                         "end_date": c.end_date.isoformat() if c.end_date else "", "deadline": c.deadline.isoformat(),
                         "hashtags": " ".join(kit.mandatory.hashtags), "link": kit.mandatory.link,
                         "asset_required": kit.mandatory.asset_required, "target": [t.unit_id for t in c.targets],
                         "forbidden": "\n".join(f"{f.phrase} => {f.instead}" if f.instead else f.phrase
                                                for f in kit.forbidden), "version": c.version}
    for i, m in enumerate(kit.messages):
        v[f"msg-{i}-kind"], v[f"msg-{i}-id"] = m.kind, m.id
        for lg in ("vi", "th", "en"):
            v[f"msg-{i}-{lg}"] = getattr(m.text, lg)
    for i, sp in enumerate(kit.suggested_posts):
        v[f"sug-{i}-channel"], v[f"sug-{i}-lang"], v[f"sug-{i}-text"], v[f"sug-{i}-id"] = (
            sp.channel, sp.lang, sp.text, sp.id)
    v["msg-count"] = max(MESSAGE_ROWS, len(kit.messages) + 1)
    v["sug-count"] = max(SUGGESTION_ROWS, len(kit.suggested_posts) + 1)
    return v


def _date(v: Any) -> str | None:
    return (v or "").strip() or None


# ------------------------------------------------------------------ list and create


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_list(request: Request, status: str | None = Query(None, max_length=20),
                   q: str | None = Query(None, max_length=200), page: int = Query(1, ge=1),
                   ctx: WebContext = Depends(signed_in), s: Session = DB):
    return _list_page(request, s, ctx, status=status if status in STATUSES else None, q=q, page=page)


def _list_page(request: Request, s: Session, ctx: WebContext, *, status: str | None = None, q: str | None = None,
               page: int = 1, errors: dict[str, str] | None = None, values: dict[str, Any] | None = None,
               status_code: int = 200) -> HTMLResponse:
    from civicpulse.domain.listening import queries as listening

    actor = actor_of(ctx)
    units = org_queries.all_units(s, actor)
    own = {o.source_id for o in queries.own_accounts(s, actor)}
    sources = [(src, src.id in own) for src in listening.sources(s, actor) if actor.can("campaign.manage", src.unit)]
    return render(request, "campaigns/list.html", page=queries.campaigns(s, actor, status=status, q=q, page=page),
                  sources=sources,
                  tasks=queries.tasks(s, actor), units=units,
                  editable_units=[u for u in units if actor.can("campaign.manage", u)], statuses=STATUSES,
                  status=status or "", q=q or "", errors=errors or {}, values=values or {"msg-count": MESSAGE_ROWS,
                                                                                     "sug-count": SUGGESTION_ROWS},
                  channels=CHANNELS, status_label=export.status_label, today=dt.date.today(),
                  status_code=status_code)


@router.post("/campaigns/new", response_class=HTMLResponse)
async def campaign_create(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    form = await request.form()
    try:
        data = CampaignCreate.model_validate({
            "unit_id": form.get("unit_id"), "title": form.get("title") or "",
            "description": form.get("description") or "", "plan_id": _date(form.get("plan_id")),
            "start_date": _date(form.get("start_date")), "end_date": _date(form.get("end_date")),
            "deadline": _date(form.get("deadline")), "kit": kit_from_form(form),
            "use_plan_messages": bool(form.get("use_plan_messages")),
            "target_unit_ids": [int(x) for x in form.getlist("target") if isinstance(x, str) and x.isdigit()]})
        c = services.create_campaign(s, actor, data)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status == 404:
            raise
        s.rollback()
        return _list_page(request, s, ctx, errors={"form": _error(exc)}, values=_form_values(form), status_code=422)
    return RedirectResponse(f"/campaigns/{c.id}", status_code=303)


@router.post("/campaigns/own-accounts")
def own_account(request: Request, source_id: int = Form(...), own: str = Form(""),
                ctx: WebContext = Depends(signed_in), s: Session = DB):
    services.set_own_account(s, actor_of(ctx), source_id, bool(own))
    return RedirectResponse("/campaigns#own-h", status_code=303)


# ------------------------------------------------------------------ one campaign


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    return _detail(request, s, ctx, campaign_id)


def _detail(request: Request, s: Session, ctx: WebContext, campaign_id: int, *, error: str | None = None,
            status_code: int = 200) -> HTMLResponse:
    actor = actor_of(ctx)
    c = queries.campaign(s, actor, campaign_id)
    kit = Kit.model_validate(c.kit or {})
    my_units = [t.unit for t in c.targets if actor.can("campaign.manage", t.unit)]
    if actor.can("campaign.manage", c.unit) and c.unit not in my_units:
        my_units.insert(0, c.unit)
    return render(request, "campaigns/detail.html", c=c, kit=kit, cp=queries.compliance(s, actor, c.id),
                  posts=queries.posts(s, actor, c.id), can_manage=actor.can("campaign.manage", c.unit),
                  my_units=my_units, levels=LEVELS, level_label=export.level_label,
                  status_label=export.status_label, reason_text=alignment.reason_text, channels=CHANNELS,
                  error=error, status_code=status_code)


@router.get("/campaigns/{campaign_id}/edit", response_class=HTMLResponse)
def campaign_edit(request: Request, campaign_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    c = services.campaign_for(s, actor, campaign_id, "campaign.manage")
    return _edit_page(request, s, ctx, c, _kit_values(c))


def _edit_page(request: Request, s: Session, ctx: WebContext, c: Any, values: dict[str, Any], *,
               error: str | None = None, status_code: int = 200) -> HTMLResponse:
    actor = actor_of(ctx)
    units = [u for u in org_queries.all_units(s, actor) if u.path.startswith(c.unit.path)]
    return render(request, "campaigns/edit.html", c=c, values=values, units=units, channels=CHANNELS,
                  errors={"form": error} if error else {}, status_code=status_code)


@router.post("/campaigns/{campaign_id}/edit", response_class=HTMLResponse)
async def campaign_save(request: Request, campaign_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    form = await request.form()
    try:
        data = CampaignUpdate.model_validate({
            "version": form.get("version") or None, "title": form.get("title") or "",
            "description": form.get("description") or "", "plan_id": _date(form.get("plan_id")),
            "start_date": _date(form.get("start_date")), "end_date": _date(form.get("end_date")),
            "deadline": _date(form.get("deadline")), "kit": kit_from_form(form),
            "target_unit_ids": [int(x) for x in form.getlist("target") if isinstance(x, str) and x.isdigit()]})
        services.update_campaign(s, actor, campaign_id, data, settings(request))
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status == 404:
            raise
        s.rollback()
        c = services.campaign_for(s, actor, campaign_id, "campaign.manage")
        return _edit_page(request, s, ctx, c, _form_values(form), error=_error(exc), status_code=422)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


def _action(request: Request, s: Session, ctx: WebContext, campaign_id: int, fn: Any) -> Response:
    try:
        fn()
    except DomainError as exc:
        if exc.status == 404:
            raise
        s.rollback()
        return _detail(request, s, ctx, campaign_id, error=exc.message, status_code=exc.status)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@router.post("/campaigns/{campaign_id}/publish")
def campaign_publish(request: Request, campaign_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    return _action(request, s, ctx, campaign_id,
                   lambda: services.publish_campaign(s, actor_of(ctx), settings(request), campaign_id))


@router.post("/campaigns/{campaign_id}/close")
def campaign_close(request: Request, campaign_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    return _action(request, s, ctx, campaign_id, lambda: services.close_campaign(s, actor_of(ctx), campaign_id))


@router.post("/campaigns/{campaign_id}/delete")
def campaign_delete(request: Request, campaign_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    services.delete_campaign(s, actor_of(ctx), campaign_id)
    return RedirectResponse("/campaigns", status_code=303)


@router.post("/campaigns/{campaign_id}/adapt")
def campaign_adapt(request: Request, campaign_id: int, unit_id: int = Form(...),
                   suggestion_id: str = Form("", max_length=40), ctx: WebContext = Depends(signed_in),
                   s: Session = DB):
    return _action(request, s, ctx, campaign_id, lambda: services.adapt(
        s, actor_of(ctx), campaign_id, unit_id, suggestion_id or None, settings(request)))


@router.post("/campaigns/{campaign_id}/posts")
def campaign_post(request: Request, campaign_id: int, unit_id: int = Form(...),
                  text: str = Form("", max_length=20000), channel: str = Form("other", max_length=40),
                  url: str = Form("", max_length=2000), published_at: str = Form("", max_length=30),
                  ctx: WebContext = Depends(signed_in), s: Session = DB):
    def run() -> None:
        try:
            when = dt.datetime.fromisoformat(published_at) if published_at else None
            if when is not None and when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            data = PostIn(unit_id=unit_id, text=text, channel=channel, url=url or None, published_at=when)
        except (ValueError, ValidationError) as exc:
            raise services.validation_error(exc) if isinstance(exc, ValidationError) else DomainError(
                _("The publication time is not a date and time: %(v)s") % {"v": published_at}) from exc
        services.record_post(s, actor_of(ctx), campaign_id, data)

    return _action(request, s, ctx, campaign_id, run)


@router.post("/campaigns/{campaign_id}/posts/{post_id}")
def campaign_post_update(request: Request, campaign_id: int, post_id: int, text: str = Form("", max_length=20000),
                         published_at: str = Form("", max_length=30), ctx: WebContext = Depends(signed_in),
                         s: Session = DB):
    def run() -> None:
        try:
            when = dt.datetime.fromisoformat(published_at) if published_at else None
        except ValueError as exc:
            raise DomainError(_("The publication time is not a date and time: %(v)s") % {"v": published_at}) from exc
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        services.update_post_text(s, actor_of(ctx), post_id, text, published_at=when)

    return _action(request, s, ctx, campaign_id, run)


@router.post("/campaigns/{campaign_id}/assets")
async def campaign_asset(request: Request, campaign_id: int, file: UploadFile | None = File(None),
                         name: str = Form("", max_length=300), url: str = Form("", max_length=2000),
                         ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    content = await file.read(services.MAX_ASSET_BYTES + 1) if file is not None and file.filename else None

    def run() -> None:
        if content is not None:
            services.add_asset_file(s, actor, settings(request), campaign_id, name or (file.filename if file else "")
                                    or "asset", content)
        elif url:
            try:
                link = AssetLinkIn(name=name or url, url=url)
            except ValidationError as exc:
                raise services.validation_error(exc) from exc
            services.add_asset_link(s, actor, campaign_id, link)
        else:
            raise DomainError(_("Choose a file or give a link"))

    return _action(request, s, ctx, campaign_id, run)


@router.get("/campaigns/{campaign_id}/assets/{asset_id}")
def campaign_asset_file(campaign_id: int, asset_id: int, request: Request, ctx: WebContext = Depends(signed_in),
                        s: Session = DB):
    c = queries.campaign(s, actor_of(ctx), campaign_id)
    a = next((x for x in c.assets if x.id == asset_id and x.kind == "file" and x.path), None)
    if a is None or a.path is None:
        return Response(status_code=404)
    path = services.asset_dir(settings(request), c.id) / a.path
    if not path.is_file():
        return Response(status_code=404)
    return Response(path.read_bytes(), media_type=a.content_type or "application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{a.name}"',
                             "X-Content-Type-Options": "nosniff"})


@router.get("/campaigns/{campaign_id}/export.{fmt}")
def campaign_export(request: Request, campaign_id: int, fmt: str, ctx: WebContext = Depends(signed_in),
                    s: Session = DB):
    lang = getattr(request.state, "lang", "en")
    content, media, name = export.export(queries.compliance(s, actor_of(ctx), campaign_id), fmt, lang)
    return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/campaigns/{campaign_id}/align", response_class=HTMLResponse)
def campaign_align(request: Request, campaign_id: int, text: str = Query("", max_length=20000),
                   lang: str | None = Query(None, max_length=2), ctx: WebContext = Depends(signed_in),
                   s: Session = DB):
    """The traffic light for a draft text: an HTMX partial the compose screen embeds."""
    c = queries.campaign(s, actor_of(ctx), campaign_id)
    result = alignment.score_text(s, c, text, lang if lang in ("vi", "th", "en") else None) if text.strip() else None
    return render(request, "campaigns/_align.html", c=c, r=result, level_label=export.level_label)
