"""Sign in and out, password reset, invitations and the language switch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from civicpulse import i18n
from civicpulse.domain.errors import NotAuthenticated, RateLimited, ValidationFailed
from civicpulse.domain.org import services as org
from civicpulse.domain.org.models import User
from civicpulse.i18n import _
from civicpulse.mail import MailError, send_mail
from civicpulse.web.deps import DB, WebContext, client_ip, settings
from civicpulse.web.ui.render import render, safe_next, ui_context

router = APIRouter(include_in_schema=False)


def set_session_cookie(request: Request, response: Response, raw: str) -> None:
    cfg = settings(request)
    response.set_cookie(
        cfg.session_cookie_name,
        raw,
        max_age=cfg.session_lifetime_hours * 3600,
        httponly=True,
        secure=cfg.secure_cookies,
        samesite="lax",
        path="/",
    )


def ensure_session(request: Request, s: Session, ctx: WebContext) -> str | None:
    """Anonymous visitors get a session too, so that the sign-in form carries a CSRF token.

    Returns the new cookie value to set, or None when the visitor already has a session.
    """
    if ctx.web_session is not None:
        return None
    # no language stored: until the visitor picks one, Accept-Language decides, and at sign-in the
    # person's own preference wins (an explicit choice made here is kept: switch_language sets it)
    raw, ws = org.create_web_session(
        s, settings(request), None, ip=client_ip(request), user_agent=request.headers.get("user-agent"),
    )
    ctx.web_session = ws
    return raw


def _page_with_session(request: Request, s: Session, ctx: WebContext, template: str, **kw: Any) -> Response:
    raw = ensure_session(request, s, ctx)
    page = render(request, template, **kw)
    if raw:
        set_session_cookie(request, page, raw)
    return page


def send_invitation(request: Request, user: User, raw: str) -> None:
    link = f"{settings(request).base_url.rstrip('/')}/password/reset/{raw}"
    body = _(
        "%(name)s,\n\n"
        "An account was created for you in civicpulse. Choose your password with this link "
        "(valid for %(minutes)s minutes):\n\n%(link)s\n"
    ) % {"name": user.display_name, "minutes": settings(request).password_reset_minutes, "link": link}
    try:
        send_mail(settings(request), user.email, _("civicpulse: your account"), body)
    except MailError:
        pass  # the administrator sees the link on screen as well


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", s: Session = DB, ctx: WebContext = Depends(ui_context)):
    if ctx.actor is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _page_with_session(request, s, ctx, "login.html", next=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    email: str = Form("", max_length=254),
    password: str = Form("", max_length=1000),
    next: str = Form("/", max_length=2000),
    s: Session = DB,
    ctx: WebContext = Depends(ui_context),
):
    cfg = settings(request)
    try:
        user = org.authenticate(s, cfg, email, password, client_ip(request), via="ui")
    except (NotAuthenticated, RateLimited) as exc:
        # the failed attempt and its audit entry are committed with this request
        status = 429 if isinstance(exc, RateLimited) else 401
        msg = _("The email or password is wrong") if isinstance(exc, NotAuthenticated) else exc.message
        return render(request, "login.html", status_code=status, error=msg, email=email, next=safe_next(next))
    raw, _ws = org.login_session(s, cfg, ctx.web_session, user, ip=client_ip(request),
                                 user_agent=request.headers.get("user-agent"))
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, raw)
    return response


@router.post("/logout")
def logout(request: Request, s: Session = DB, ctx: WebContext = Depends(ui_context)):
    if ctx.web_session is not None and ctx.actor is not None:
        org.logout(s, ctx.actor, ctx.web_session)
    response = RedirectResponse("/login", status_code=303)
    cfg = settings(request)
    # the same flags as when it was set: HttpOnly and SameSite always, Secure per configuration
    response.delete_cookie(cfg.session_cookie_name, path="/", secure=cfg.secure_cookies, httponly=True, samesite="lax")
    return response


@router.post("/language")
def switch_language(
    request: Request,
    lang: str = Form(..., max_length=5),
    next: str = Form("/", max_length=2000),
    s: Session = DB,
    ctx: WebContext = Depends(ui_context),
):
    if lang not in i18n.LANGUAGES:
        raise ValidationFailed(_("Unknown language %(lang)r; use vi, th or en") % {"lang": lang})
    response = RedirectResponse(safe_next(next), status_code=303)
    raw = ensure_session(request, s, ctx)
    if raw:
        set_session_cookie(request, response, raw)
    assert ctx.web_session is not None
    ctx.web_session.language = lang
    if ctx.actor is not None:
        org.set_my_language(s, ctx.actor, lang)
    return response


@router.get("/password/forgot", response_class=HTMLResponse)
def forgot_form(request: Request, s: Session = DB, ctx: WebContext = Depends(ui_context)):
    return _page_with_session(request, s, ctx, "password_forgot.html")


@router.post("/password/forgot", response_class=HTMLResponse)
def forgot(request: Request, email: str = Form(..., max_length=254), s: Session = DB,
           ctx: WebContext = Depends(ui_context)):
    cfg = settings(request)
    found = org.request_password_reset(s, cfg, email, client_ip(request))
    if found is not None:
        user, raw = found
        link = f"{cfg.base_url.rstrip('/')}/password/reset/{raw}"
        body = _(
            "%(name)s,\n\nSomeone (hopefully you) asked to reset your civicpulse password. "
            "Open this link within %(minutes)s minutes to choose a new one:\n\n%(link)s\n\n"
            "If it was not you, ignore this message; your password stays as it is.\n"
        ) % {"name": user.display_name, "minutes": cfg.password_reset_minutes, "link": link}
        try:
            send_mail(cfg, user.email, _("civicpulse: reset your password"), body)
        except MailError:
            return render(request, "password_forgot.html", status_code=503,
                          error=_("The email could not be sent. Contact your administrator."))
    # the same answer whether or not the address exists
    return render(request, "password_forgot.html", sent=True)


@router.get("/password/reset/{token}", response_class=HTMLResponse)
def reset_form(request: Request, token: str, s: Session = DB, ctx: WebContext = Depends(ui_context)):
    return _page_with_session(request, s, ctx, "password_reset.html", token=token)


@router.post("/password/reset/{token}", response_class=HTMLResponse)
def reset(
    request: Request,
    token: str,
    password: str = Form(..., max_length=1000),
    password2: str = Form(..., max_length=1000),
    s: Session = DB,
    ctx: WebContext = Depends(ui_context),
):
    if password != password2:
        return render(request, "password_reset.html", token=token, status_code=422, error=_("The two passwords differ"))
    try:
        org.reset_password(s, settings(request), token, password, client_ip(request))
    except ValidationFailed as exc:
        return render(request, "password_reset.html", token=token, status_code=422, error=exc.message)
    return render(request, "login.html", next="/", notice=_("Your password was changed. Sign in with it now."))
