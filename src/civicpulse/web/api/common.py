from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Not signed in / token invalid"},
    403: {"model": ErrorOut, "description": "Your role does not allow this"},
    404: {"model": ErrorOut, "description": "Not found (or not visible to you)"},
    409: {"model": ErrorOut, "description": "Conflict"},
    422: {"model": ErrorOut, "description": "Invalid input"},
}


def page_params(page: int = Query(1, ge=1, le=100000), per_page: int = Query(50, ge=1, le=200)) -> tuple[int, int]:
    return page, per_page
