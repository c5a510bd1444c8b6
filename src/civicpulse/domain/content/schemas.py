"""Input and output shapes of the content area (shared by the API, the UI and the CLI)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Language = Literal["vi", "th", "en"]
HASHTAG_RE = re.compile(r"^#?[\w\u0E00-\u0E7F]{1,100}$", re.UNICODE)


def _nfc(v: str | None) -> str | None:
    return unicodedata.normalize("NFC", v).strip() if isinstance(v, str) else v


def _texts(v: dict[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, t in (v or {}).items():
        if k not in ("vi", "th", "en"):
            raise ValueError(f"unknown language {k!r}: use vi, th or en")
        t = _nfc(t) or ""
        if t:
            out[k] = t
    return out


def _hashtags(v: list[str] | None) -> list[str]:
    out: list[str] = []
    for h in v or []:
        h = (_nfc(h) or "").lstrip("#")
        if not h:
            continue
        if not HASHTAG_RE.match(h):
            raise ValueError(f"'{h}' is not a hashtag (letters, digits and _ only, no spaces)")
        if h not in out:
            out.append(h)
    return out


class VariantIn(BaseModel):
    """A post made ready for one channel. Without ``text``, the post's text in ``language`` is used."""

    model_config = ConfigDict(extra="forbid")

    channel_id: int
    language: Language | None = None
    text: str | None = Field(default=None, max_length=100_000)
    title: str | None = Field(default=None, max_length=300)
    link: str | None = Field(default=None, max_length=2000)
    media_ids: list[int] | None = None
    scheduled_at: dt.datetime | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    _n = field_validator("text", "title", "link")(_nfc)

    @field_validator("scheduled_at")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give the time with its time zone, e.g. 2026-12-01T09:00:00+07:00")
        return v


class VariantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Language | None = None
    text: str | None = Field(default=None, max_length=100_000)
    title: str | None = Field(default=None, max_length=300)
    link: str | None = Field(default=None, max_length=2000)
    media_ids: list[int] | None = None
    options: dict[str, Any] | None = None

    _n = field_validator("text", "title", "link")(_nfc)


class PostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int
    title: str = Field(min_length=1, max_length=300)
    texts: dict[str, str] = Field(default_factory=dict, description="The text in vi, th and/or en")
    link: str | None = Field(default=None, max_length=2000)
    hashtags: list[str] = Field(default_factory=list, max_length=30)
    media_ids: list[int] = Field(default_factory=list, max_length=20)
    plan_id: int | None = None
    variants: list[VariantIn] = Field(default_factory=list, max_length=50)

    _t = field_validator("texts")(_texts)
    _h = field_validator("hashtags")(_hashtags)
    _n = field_validator("title", "link")(_nfc)

    @model_validator(mode="after")
    def _some_text(self) -> PostCreate:
        if not self.texts and not any(v.text for v in self.variants):
            raise ValueError("a post needs its text in at least one language (vi, th or en)")
        if self.link and not re.match(r"^https?://", self.link):
            raise ValueError("the link must start with http:// or https://")
        return self


class PostUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=300)
    texts: dict[str, str] | None = None
    link: str | None = Field(default=None, max_length=2000)
    hashtags: list[str] | None = None
    media_ids: list[int] | None = None
    plan_id: int | None = None

    @field_validator("texts")
    @classmethod
    def _t(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return None if v is None else _texts(v)

    @field_validator("hashtags")
    @classmethod
    def _h(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _hashtags(v)


class ProblemOut(BaseModel):
    code: str
    message: str
    severity: str = "error"


class VariantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    post_id: int
    channel_id: int
    unit_id: int
    language: str | None
    title: str | None
    text: str
    link: str | None
    media_ids: list[int]
    options: dict[str, Any]
    state: str
    reason: str | None
    needs_check: bool
    scheduled_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    attempts: int
    idempotency_key: str
    external_id: str | None
    external_url: str | None
    published_at: dt.datetime | None
    updated_at: dt.datetime


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    title: str
    texts: dict[str, str]
    link: str | None
    hashtags: list[str]
    media_ids: list[int]
    plan_id: int | None
    review_status: str
    review_steps: list[dict[str, Any]]
    review_step: int
    review_crisis: bool
    created_by_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    variants: list[VariantOut] = Field(default_factory=list)


class MediaOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    filename: str
    mime: str
    size: int
    alt_text: str
    width: int | None
    height: int | None
    created_at: dt.datetime


class LibraryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int
    kind: Literal["message", "hashtag"] = "message"
    texts: dict[str, str]

    _t = field_validator("texts")(_texts)

    @model_validator(mode="after")
    def _check(self) -> LibraryIn:
        if not self.texts:
            raise ValueError("give the text in at least one language (vi, th or en)")
        if self.kind == "hashtag":
            self.texts = {k: "#" + _hashtags([v])[0] for k, v in self.texts.items()}
        return self


class LibraryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    kind: str
    texts: dict[str, str]
    source: str | None
    archived: bool
