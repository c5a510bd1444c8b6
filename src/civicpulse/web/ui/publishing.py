"""Publishing pages: the calendar (month / week / list, filters, drag to reschedule, iCal and CSV export), the
channels of each unit (health, add a channel, new tokens, check now) and the failed & stuck dashboard.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from civicpulse.domain.errors import DomainError, ValidationFailed
from civicpulse.domain.org import queries as org_queries
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.publishing import calendar as cal
from civicpulse.domain.publishing import engine, platforms, queries
from civicpulse.domain.publishing import services as pub
from civicpulse.domain.publishing.models import STATES
from civicpulse.domain.publishing.schemas import ChannelCreate, CredentialsIn
from civicpulse.i18n import _
from civicpulse.web.deps import DB, WebContext, database, settings
from civicpulse.web.ui.content import _error_message, parse_local, state_labels
from civicpulse.web.ui.render import actor_of, is_htmx, render, signed_in

router = APIRouter(include_in_schema=False)


# ------------------------------------------------------------------ calendar


def _filters(unit_id: str | None, channel_id: str | None, platform: str | None, state: str | None) -> dict[str, Any]:
    return {"unit_id": int(unit_id) if unit_id and unit_id.isdigit() and len(unit_id) < 12 else None,
            "channel_id": int(channel_id) if channel_id and channel_id.isdigit() and len(channel_id) < 12 else None,
            "platform": platform if platform in platforms.known_platforms() else None,
            "state": state if state in STATES else None}


def _day(value: str | None, tz: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if value else dt.datetime.now(ZoneInfo(tz)).date()
    except ValueError:
        raise ValidationFailed(_("'%(value)s' is not a date (YYYY-MM-DD)") % {"value": value}) from None


def _query(f: dict[str, Any], **extra: Any) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in {**f, **extra}.items() if v not in (None, "")})


def calendar_page(request: Request, s: Session, actor: Actor, view: str, day: dt.date, f: dict[str, Any], *,
                  partial: bool = False, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    tz = settings(request).default_timezone
    p = cal.period(view, day, tz)
    rows = cal.entries(s, actor, p, **f)
    movable = {v.id for v in rows if cal.can_move(actor, v)}
    return render(request, "publishing/_calendar.html" if partial else "publishing/calendar.html", p=p, rows=rows,
                  days=cal.by_day(rows, tz), movable=movable, f=f, labels=state_labels(), label=platforms.label,
                  units=org_queries.all_units(s, actor), channels=queries.channels(s, actor),
                  platforms=platforms.known_platforms(), states=STATES, today=dt.datetime.now(ZoneInfo(tz)).date(),
                  qs=_query(f, view=p.view, date=p.day.isoformat()), fq=_query(f), error=error,
                  status_code=status_code)


@router.get("/calendar", response_class=HTMLResponse)
def calendar(request: Request, view: str = Query("month", max_length=10), date: str | None = Query(None, max_length=10),
             unit_id: str | None = Query(None, max_length=20), channel_id: str | None = Query(None, max_length=20),
             platform: str | None = Query(None, max_length=40), state: str | None = Query(None, max_length=20),
             ctx: WebContext = Depends(signed_in), s: Session = DB):
    tz = settings(request).default_timezone
    return calendar_page(request, s, actor_of(ctx), view, _day(date, tz), _filters(unit_id, channel_id, platform,
                                                                                   state))


@router.post("/calendar/variants/{variant_id}/reschedule", response_class=HTMLResponse)
def reschedule(request: Request, variant_id: int, date: str = Form("", max_length=10),
               scheduled_at: str = Form("", max_length=40), view: str = Form("month", max_length=10),
               day: str = Form("", max_length=10), unit_id: str = Form("", max_length=20),
               channel_id: str = Form("", max_length=20), platform: str = Form("", max_length=40),
               state: str = Form("", max_length=20), ctx: WebContext = Depends(signed_in), s: Session = DB):
    """Move a post to another day (drag and drop: ``date``, the time of day is kept) or to an exact time
    (``scheduled_at``, the keyboard way). Calls the schedule service, which checks and audits."""
    actor = actor_of(ctx)
    tz = settings(request).default_timezone
    zone = ZoneInfo(tz)
    f = _filters(unit_id, channel_id, platform, state)
    error = None
    when: dt.datetime | None = None
    try:
        v = queries.variant(s, actor, variant_id)
        if scheduled_at:
            when = parse_local(scheduled_at, tz)
        elif date:
            target = _day(date, tz)
            old = cal.when(v)
            clock = old.astimezone(zone).timetz().replace(tzinfo=None) if old else dt.time(9, 0)
            when = dt.datetime.combine(target, clock, zone)
        else:
            raise ValidationFailed(_("Say when the post should go out"), details={"field": "scheduled_at"})
        assert when is not None
        pub.schedule(s, actor, variant_id, when)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status in (401, 403, 404):
            raise
        s.rollback()
        error = _error_message(exc)
    if day:
        shown = _day(day, tz)
    elif error is None and when is not None:
        shown = when.astimezone(zone).date()
    else:
        shown = _day(None, tz)
    if is_htmx(request):
        return calendar_page(request, s, actor, view, shown, f, partial=True, error=error,
                             status_code=200 if error is None else 409)
    if error:
        return calendar_page(request, s, actor, view, shown, f, error=error, status_code=409)
    return RedirectResponse(f"/calendar?{_query(f, view=view, date=shown.isoformat())}", status_code=303)


def _export_rows(request: Request, s: Session, actor: Actor, view: str, date: str | None, f: dict[str, Any]) -> Any:
    tz = settings(request).default_timezone
    return cal.entries(s, actor, cal.period(view, _day(date, tz), tz), **f)


@router.get("/calendar.ics")
def calendar_ics(request: Request, view: str = Query("month", max_length=10),
                 date: str | None = Query(None, max_length=10), unit_id: str | None = Query(None, max_length=20),
                 channel_id: str | None = Query(None, max_length=20), platform: str | None = Query(None, max_length=40),
                 state: str | None = Query(None, max_length=20), ctx: WebContext = Depends(signed_in),
                 s: Session = DB) -> Response:
    rows = _export_rows(request, s, actor_of(ctx), view, date, _filters(unit_id, channel_id, platform, state))
    body = queries.calendar_ics(rows, host=request.url.hostname or "civicpulse", base_url=settings(request).base_url)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="publishing-calendar.ics"'})


@router.get("/calendar.csv")
def calendar_csv(request: Request, view: str = Query("month", max_length=10),
                 date: str | None = Query(None, max_length=10), unit_id: str | None = Query(None, max_length=20),
                 channel_id: str | None = Query(None, max_length=20), platform: str | None = Query(None, max_length=40),
                 state: str | None = Query(None, max_length=20), ctx: WebContext = Depends(signed_in),
                 s: Session = DB) -> Response:
    rows = _export_rows(request, s, actor_of(ctx), view, date, _filters(unit_id, channel_id, platform, state))
    return Response(queries.calendar_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="publishing-calendar.csv"'})


# ------------------------------------------------------------------ channels


def fixes() -> dict[str, str]:
    """What to do when a channel's token stops working, per platform, in plain words."""
    return {
        "facebook": _("Create a new Page access token (with pages_manage_posts) in Meta Business Suite and paste it "
                      "under New tokens."),
        "x": _("Sign in to the X developer portal, authorise the app again and paste the new user access token."),
        "line": _("Issue a new channel access token in the LINE Developers console (Messaging API tab)."),
        "youtube": _("Authorise civicpulse again with the YouTube account and paste the new OAuth token."),
        "telegram": _("Check that the bot is still an administrator of the channel; if the token was revoked, get a "
                      "new one from @BotFather."),
        "zalo": _("Get a new OA access token (and refresh token) from the Zalo for Developers console."),
        "mastodon": _("Create a new access token under Preferences → Development on the Mastodon server."),
        "bluesky": _("Create a new app password under Settings → Privacy and security → App passwords."),
        "newsletter": _("Check the SMTP server, user name and password with your mail administrator."),
        "webhook": _("Check that the receiving address answers and that both sides use the same signing secret."),
        "website": _("The website channel is served by civicpulse itself; check that the channel is enabled."),
    }


def platform_fields(platform: str) -> list[dict[str, Any]]:
    from civicpulse.connectors import registry

    try:
        info = registry.publishing_info(platform)
    except KeyError:
        return []
    return [f.as_dict() for f in info.fields]


def channels_page(request: Request, s: Session, actor: Actor, *, platform: str | None = None,
                  unit_id: int | None = None, values: dict[str, Any] | None = None, error: str | None = None,
                  message: str | None = None, status_code: int = 200) -> HTMLResponse:
    cfg = settings(request)
    groups = cal.channel_units(s, actor)
    manage_units = [u for u, _c in groups if actor.can("channel.manage", u)]
    known = platforms.known_platforms()
    chosen = platform if platform in known else None
    return render(request, "publishing/channels.html", groups=groups,
                  out={c.id: queries.channel_out(c, cfg) for _u, cs in groups for c in cs},
                  manage_units=manage_units, platforms=known, label=platforms.label, chosen=chosen,
                  fields=platform_fields(chosen) if chosen else [], fields_for=platform_fields, fix=fixes(), values=values or {},
                  unit_id=unit_id, error=error, message=message, status_code=status_code)


@router.get("/channels", response_class=HTMLResponse)
def channels(request: Request, platform: str | None = Query(None, max_length=40),
             unit_id: str | None = Query(None, max_length=20), ctx: WebContext = Depends(signed_in), s: Session = DB):
    uid = int(unit_id) if unit_id and unit_id.isdigit() and len(unit_id) < 12 else None
    return channels_page(request, s, actor_of(ctx), platform=platform, unit_id=uid)


@router.get("/channels/form", response_class=HTMLResponse)
def channel_form_fields(request: Request, platform: str = Query("", max_length=40),
                        ctx: WebContext = Depends(signed_in)):
    """The fields of the add-channel form for one platform (the platform select swaps them in)."""
    return render(request, "publishing/_channel_fields.html", fields=platform_fields(platform), values={})


@router.get("/channels/{channel_id}")
def channel_detail(channel_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB) -> RedirectResponse:
    ch = queries.channel(s, actor_of(ctx), channel_id)
    return RedirectResponse(f"/channels#channel-{ch.id}", status_code=303)


def _field_values(form: Any, fields: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    config: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for fd in fields:
        name, kind = fd["name"], fd["type"]
        raw = form.get(f"f_{name}")
        if fd["secret"]:
            if raw and str(raw).strip():
                secrets[name] = str(raw).strip()
            continue
        if kind == "bool":
            config[name] = bool(raw)
            continue
        text = str(raw or "").strip()
        if not text:
            continue
        if kind == "int":
            if not text.lstrip("-").isdigit():
                raise ValidationFailed(_("%(field)s must be a whole number") % {"field": _(fd["label"])},
                                       details={"field": name})
            config[name] = int(text)
        elif kind == "list":
            config[name] = [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()]
        elif kind == "choice" and fd["choices"] and text not in fd["choices"]:
            raise ValidationFailed(_("%(field)s: choose one of the offered values") % {"field": _(fd["label"])},
                                   details={"field": name})
        else:
            config[name] = text
    missing = [_(fd["label"]) for fd in fields if fd["required"] and fd["name"] not in config
               and fd["name"] not in secrets]
    if missing:
        raise ValidationFailed(_("Fill in: %(fields)s") % {"fields": ", ".join(missing)})
    return config, secrets


@router.post("/channels/new", response_class=HTMLResponse)
async def channel_create(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    form = await request.form()
    platform = str(form.get("platform") or "")
    uid = str(form.get("unit_id") or "")
    fields = platform_fields(platform)
    # what is shown again after an error: never the secrets
    shown = {f"f_{fd['name']}": str(form.get(f"f_{fd['name']}") or "") for fd in fields if not fd["secret"]}
    shown["name"] = str(form.get("name") or "")
    try:
        config, secrets = _field_values(form, fields)
        data = ChannelCreate(unit_id=int(uid) if uid.isdigit() and len(uid) < 12 else 0, platform=platform,
                             name=str(form.get("name") or "").strip(), config=config, secrets=secrets)
        ch = pub.create_channel(s, actor, settings(request), data)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status in (401, 403):
            raise
        s.rollback()
        return channels_page(request, s, actor, platform=platform, unit_id=int(uid) if uid.isdigit() else None,
                             values=shown, error=_error_message(exc),
                             status_code=exc.status if isinstance(exc, DomainError) else 422)
    return RedirectResponse(f"/channels#channel-{ch.id}", status_code=303)


@router.post("/channels/{channel_id}/check", response_class=HTMLResponse)
def channel_check(request: Request, channel_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    """Call the platform now with the stored token and show the answer."""
    actor = actor_of(ctx)
    pub.get_channel(s, actor, channel_id, "channel.manage")
    s.commit()  # the check writes its result in its own transaction
    engine.check_channel(database(request), settings(request), channel_id)
    s.expire_all()
    return RedirectResponse(f"/channels#channel-{channel_id}", status_code=303)


@router.post("/channels/{channel_id}/credentials", response_class=HTMLResponse)
async def channel_credentials(request: Request, channel_id: int, ctx: WebContext = Depends(signed_in),
                              s: Session = DB):
    actor = actor_of(ctx)
    ch = pub.get_channel(s, actor, channel_id, "channel.manage")
    form = await request.form()
    secrets = {fd["name"]: str(form.get(f"f_{fd['name']}")).strip() for fd in platform_fields(ch.platform)
               if fd["secret"] and str(form.get(f"f_{fd['name']}") or "").strip()}
    try:
        if not secrets:
            raise ValidationFailed(_("Paste at least one new token or password"))
        pub.set_credentials(s, actor, settings(request), channel_id, CredentialsIn(secrets=secrets))
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        s.rollback()
        return channels_page(request, s, actor, error=exc.message, status_code=exc.status)
    return RedirectResponse(f"/channels#channel-{channel_id}", status_code=303)


@router.post("/channels/{channel_id}/enabled", response_class=HTMLResponse)
def channel_enabled(request: Request, channel_id: int, enabled: str = Form("", max_length=5),
                    ctx: WebContext = Depends(signed_in), s: Session = DB):
    from civicpulse.domain.publishing.schemas import ChannelUpdate

    pub.update_channel(s, actor_of(ctx), channel_id, ChannelUpdate(enabled=enabled == "yes"))
    return RedirectResponse(f"/channels#channel-{channel_id}", status_code=303)


# ------------------------------------------------------------------ failed & stuck


@router.get("/publishing/failed", response_class=HTMLResponse)
def failed_dashboard(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    d = queries.dashboard(s, actor)
    return render(request, "publishing/failed.html", d=d, labels=state_labels(), label=platforms.label,
                  can={v.id: actor.can("content.draft", v.post.unit) for v in [*d.failed, *d.needs_check, *d.stuck]},
                  next_url="/publishing/failed")
