"""The FastAPI application: JSON API under /api/v1 (OpenAPI at /openapi.json) and the HTMX web UI."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civicpulse import __version__, i18n
from civicpulse.config import Settings, get_settings
from civicpulse.db.session import Database
from civicpulse.domain.errors import DomainError
from civicpulse.jobs.background import BackgroundJobs
from civicpulse.web import errors
from civicpulse.web.api.alerts import router as alerts_api
from civicpulse.web.api.campaigns import router as campaigns_api
from civicpulse.web.api.claims import router as claims_api
from civicpulse.web.api.content import router as content_api
from civicpulse.web.api.listening import router as listening_api
from civicpulse.web.api.nlp import router as nlp_api
from civicpulse.web.api.notifications import router as notifications_api
from civicpulse.web.api.org import router as org_api
from civicpulse.web.api.plans import router as plans_api
from civicpulse.web.api.publishing import router as publishing_api
from civicpulse.web.deps import load_web_context
from civicpulse.web.ui.alerts import router as alerts_ui
from civicpulse.web.ui.auth import router as auth_ui
from civicpulse.web.ui.campaigns import router as campaigns_ui
from civicpulse.web.ui.claims import router as claims_ui
from civicpulse.web.ui.content import router as content_ui
from civicpulse.web.ui.listening import router as listening_ui
from civicpulse.web.ui.news import router as news_ui
from civicpulse.web.ui.notifications import router as notifications_ui
from civicpulse.web.ui.pages import router as pages_ui
from civicpulse.web.ui.plans import router as plans_ui
from civicpulse.web.ui.publishing import router as publishing_ui
from civicpulse.web.ui.render import LoginRequired, is_htmx, pick_language, render

STATIC = Path(__file__).parent / "ui" / "static"

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class BodyLimit:
    """Refuses request bodies over the configured size before reading them (413 with a clear message)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        mb = self.max_bytes / (1024 * 1024)
        body = JSONResponse(
            errors.error_body("too_large", f"The upload is larger than the limit of {mb:.0f} MB"), status_code=413
        )
        await send({"type": "http.response.start", "status": 413, "headers": body.raw_headers})
        await send({"type": "http.response.body", "body": body.body})


class _TooLarge(Exception):
    pass


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="civicpulse API",
        version=__version__,
        description=(
            "Social listening, policy-communication plans and one-voice publishing for a government "
            "communication network. Authenticate with a personal token: `Authorization: Bearer cp_…` "
            "(create one under *My tokens* in the web interface). Every list is paginated with `page` and "
            "`per_page`; every error has the body `{\"error\": {\"code\", \"message\", \"details\"}}`."
        ),
        openapi_url="/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db or Database(settings)
    app.state.jobs = BackgroundJobs()

    app.include_router(org_api, prefix="/api/v1")
    app.include_router(listening_api, prefix="/api/v1")
    app.include_router(nlp_api, prefix="/api/v1")
    app.include_router(notifications_api, prefix="/api/v1")
    app.include_router(plans_api, prefix="/api/v1")
    app.include_router(alerts_api, prefix="/api/v1")
    app.include_router(content_api, prefix="/api/v1")
    app.include_router(publishing_api, prefix="/api/v1")
    app.include_router(claims_api, prefix="/api/v1")
    app.include_router(campaigns_api, prefix="/api/v1")
    app.include_router(auth_ui)
    app.include_router(pages_ui)
    app.include_router(listening_ui)
    app.include_router(notifications_ui)
    app.include_router(plans_ui)
    app.include_router(alerts_ui)
    app.include_router(news_ui)
    app.include_router(claims_ui)
    app.include_router(content_ui)
    app.include_router(publishing_ui)
    app.include_router(campaigns_ui)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        with app.state.db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": __version__}

    def error_page(request: Request, status: int, message: str) -> Response:
        """The HTML error page in the visitor's language, with the signed-in header.

        The failed request's database session was rolled back and closed (its ORM objects are detached and
        expired), so the web context is loaded again in a fresh session while the page renders."""
        with app.state.db.session() as s:
            ctx = load_web_context(request, s)
            request.state.ctx = ctx
            request.state.lang = pick_language(request, ctx)
            i18n.set_language(request.state.lang)
            return render(request, "error.html", status_code=status, message=message, status=status)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if errors.wants_json(request):
            return errors.domain_error_response(exc)
        if exc.status == 401:
            return RedirectResponse("/login", status_code=303)
        if is_htmx(request):
            return HTMLResponse(f'<div class="flash error" role="alert">{_escape(exc.message)}</div>',
                                status_code=exc.status, headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return error_page(request, exc.status, exc.message)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        from urllib.parse import quote

        target = "/login" if exc.next_url in ("", "/") else f"/login?next={quote(exc.next_url, safe='/')}"
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if errors.wants_json(request):
            return await errors.api_validation_handler(request, exc)
        details = errors.validation_details(exc)
        return error_page(request, 422, errors.validation_message(details))

    @app.exception_handler(DataError)  # PostgreSQL: integer out of range, NUL in text, value too long
    @app.exception_handler(OverflowError)  # SQLite: an integer beyond 64 bits
    async def unstorable_value(request: Request, exc: Exception) -> Response:
        # the request's transaction was rolled back; the input, not the server, is at fault
        message = ("A value in the request cannot be used: a number is out of range, or a text is too long "
                   "or holds a character that cannot be stored")
        if errors.wants_json(request):
            return JSONResponse(errors.error_body("validation_failed", message), status_code=422)
        return error_page(request, 422, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if errors.wants_json(request) or request.url.path.startswith("/static/"):
            return await errors.http_exception_handler(request, exc)
        return error_page(request, exc.status_code, str(exc.detail))

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith("/api/docs"):
            response.headers.setdefault("Content-Security-Policy", CSP)
        if request.url.path.startswith("/api/") or "text/html" in response.headers.get("content-type", ""):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    return app


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
