"""One error body for every API failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from civicpulse.domain.errors import DomainError, RateLimited


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def domain_error_response(exc: DomainError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)


def validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
        msg = str(e.get("msg", "invalid"))
        out.append({"field": ".".join(loc), "message": msg.removeprefix("Value error, ")})
    return out


def validation_message(details: list[dict[str, Any]]) -> str:
    parts = [f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details[:5]]
    return "The request is not valid — " + "; ".join(parts)


async def api_validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = validation_details(exc)
    return JSONResponse(error_body("validation_failed", validation_message(details), details), status_code=422)


async def http_exception_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated", 403: "forbidden", 413: "too_large"}
    return JSONResponse(
        error_body(codes.get(exc.status_code, "http_error"), str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )
