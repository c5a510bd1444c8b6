"""Request-scoped plumbing shared by the JSON API and the web UI: database, actor, CSRF."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from civicpulse.config import Settings
from civicpulse.db.session import Database
from civicpulse.domain.errors import NotAuthenticated, PermissionDenied
from civicpulse.domain.org import services as org
from civicpulse.domain.org.models import User, WebSession
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.org.security import same

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def settings(request: Request) -> Settings:
    return request.app.state.settings


def database(request: Request) -> Database:
    return request.app.state.db


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error.

    Routes take it as ``s: Session = DB`` (below): the "function" scope commits BEFORE the response
    is sent, so a client following a redirect sees its own write.
    """
    with database(request).session() as s:
        yield s


# The one way routes ask for the request's transaction (see db_session).
DB = Depends(db_session, scope="function")


@dataclasses.dataclass
class WebContext:
    """The signed-in person behind a browser request (or none)."""

    web_session: WebSession | None
    user: User | None
    actor: Actor | None
    raw_cookie: str | None


def load_web_context(request: Request, s: Session) -> WebContext:
    cfg = settings(request)
    raw = request.cookies.get(cfg.session_cookie_name)
    ws = org.load_web_session(s, raw)
    user = None
    actor = None
    if ws is not None and ws.user_id is not None:
        user = s.get(User, ws.user_id)
        if user is None or not user.is_active:
            user = None
        else:
            actor = org.actor_for(s, user, via="ui", ip=client_ip(request))
    return WebContext(web_session=ws, user=user, actor=actor, raw_cookie=raw if ws else None)


def check_csrf(request: Request, ws: WebSession | None, form_token: str | None) -> None:
    if request.method not in UNSAFE:
        return
    token = request.headers.get("x-csrf-token") or form_token
    if ws is None or not token or not same(token, ws.csrf_token):
        raise PermissionDenied("The form has expired or did not come from civicpulse (CSRF check failed). Reload the page and try again.")


async def api_actor(request: Request, s: Session = DB) -> Actor:
    """API callers authenticate with a personal token (Bearer) or, from the browser, the session cookie."""
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, raw = auth.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise NotAuthenticated("Use 'Authorization: Bearer <token>' with a personal API token")
        # the token check and its audit entry are committed on their own, whatever the request does next
        with database(request).session() as auth_s:
            actor = org.authenticate_token(
                auth_s, raw.strip(), ip=client_ip(request), method=request.method, path=request.url.path
            )
        if request.method in UNSAFE and "write" not in actor.scopes:
            # every write, including those that need no unit role (revoking one's tokens)
            raise PermissionDenied("This API token is read-only; create one with the write scope to change things")
        return actor
    ctx = load_web_context(request, s)
    if ctx.actor is None:
        raise NotAuthenticated("Sign in or send a personal API token ('Authorization: Bearer <token>')")
    check_csrf(request, ctx.web_session, None)
    return dataclasses.replace(ctx.actor, via="api")
