"""Jinja2 rendering with gettext, the signed-in context, CSRF and language plumbing for UI routes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.orm import Session

from civicpulse import i18n
from civicpulse.domain.org.permissions import Actor
from civicpulse.web.deps import DB, UNSAFE, WebContext, check_csrf, load_web_context, settings

HERE = Path(__file__).parent
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
)
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext_, i18n.ngettext_, newstyle=True
)
templates.env.policies["ext.i18n.trimmed"] = True


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def _localtime(value: dt.datetime | None, tz: str = "Asia/Bangkok", fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


templates.env.filters["localtime"] = _localtime


def pick_language(request: Request, ctx: WebContext) -> str:
    if ctx.web_session is not None and ctx.web_session.language in i18n.LANGUAGES:
        return ctx.web_session.language
    if ctx.user is not None and ctx.user.language in i18n.LANGUAGES:
        return ctx.user.language
    return i18n.negotiate(request.headers.get("accept-language"), settings(request).default_language)


async def ui_context(request: Request, s: Session = DB) -> WebContext:
    """Every UI request: who is signed in, the language, and the CSRF check on every unsafe method."""
    ctx = load_web_context(request, s)
    if request.method in UNSAFE:
        form = await request.form()
        token = form.get("csrf_token")
        check_csrf(request, ctx.web_session, token if isinstance(token, str) else None)
    lang = pick_language(request, ctx)
    i18n.set_language(lang)
    request.state.lang = lang
    request.state.ctx = ctx
    return ctx


def signed_in(request: Request, ctx: WebContext = Depends(ui_context)) -> WebContext:
    if ctx.actor is None:
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(nxt if request.method == "GET" else "/")
    return ctx


def actor_of(ctx: WebContext) -> Actor:
    assert ctx.actor is not None
    return ctx.actor


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    ctx: WebContext | None = getattr(request.state, "ctx", None)
    lang = getattr(request.state, "lang", "en")
    base = {
        "request": request,
        "lang": lang,
        "languages": i18n.LANGUAGES,
        "user": ctx.user if ctx else None,
        "actor": ctx.actor if ctx else None,
        "csrf_token": ctx.web_session.csrf_token if ctx and ctx.web_session else "",
        "csrf_field": Markup('<input type="hidden" name="csrf_token" value="{}">').format(
            ctx.web_session.csrf_token
        )
        if ctx and ctx.web_session
        else "",
        "tz": settings(request).default_timezone,
    }
    base.update(context)
    return templates.TemplateResponse(request, name, base, status_code=status_code)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def safe_next(value: str | None) -> str:
    """Only same-site relative paths: never redirect to another host."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return "/"
    return value
