"""Input and output shapes of the claim registry (shared by API, UI and CLI); validation lives here once."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from civicpulse.domain.alerts.claims.models import LANGS, VERDICTS

Verdict = Literal["unverified", "false", "misleading", "true", "partly_true"]
Lang = Literal["th", "vi", "en"]
assert set(Verdict.__args__) == set(VERDICTS)  # type: ignore[attr-defined]
assert set(Lang.__args__) == set(LANGS)  # type: ignore[attr-defined]

MAX_TEXT = 2000
MAX_CORRECTION = 5000


def _clean(v: str | None) -> str:
    return unicodedata.normalize("NFC", v or "").strip()


class ClaimTextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lang: Lang = Field(description="Language of this wording: th, vi or en")
    text: str = Field(description="The claim as people say it", max_length=MAX_TEXT * 2)

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        v = _clean(v)
        if not v:
            raise ValueError("the claim text is empty")
        if len(v) > MAX_TEXT:
            raise ValueError(f"the claim text is too long ({len(v)} characters; at most {MAX_TEXT})")
        return v


def _check_url(v: str | None) -> str | None:
    v = _clean(v)
    if not v:
        return None
    if not (v.lower().startswith("http://") or v.lower().startswith("https://")) or " " in v or len(v) < 10:
        raise ValueError("the correction link must be a web address starting with http:// or https://")
    if len(v) > 2000:
        raise ValueError("the correction link is too long (at most 2000 characters)")
    return v


def _check_corrections(v: dict[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for lang, text in (v or {}).items():
        if lang not in LANGS:
            raise ValueError(f"unknown correction language {lang!r}; use th, vi or en")
        t = _clean(text)
        if len(t) > MAX_CORRECTION:
            raise ValueError(f"the correction is too long ({len(t)} characters; at most {MAX_CORRECTION})")
        if t:
            out[lang] = t
    return out


class ClaimCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int = Field(description="The unit that owns the claim (answers it)")
    texts: list[ClaimTextIn] = Field(min_length=1, max_length=20,
                                     description="The claim's wordings; the first is its title")
    status: Verdict = "unverified"
    correction: dict[str, str] = Field(default_factory=dict, description="Official correction per language")
    correction_url: str | None = None
    notes: str = Field(default="", max_length=5000)
    first_seen_at: dt.datetime | None = None
    source_item_id: int | None = Field(default=None, description="The collected item the claim was taken from")

    _url = field_validator("correction_url")(_check_url)
    _corr = field_validator("correction")(_check_corrections)

    @field_validator("first_seen_at")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            v = v.replace(tzinfo=dt.UTC)
        return v

    @model_validator(mode="after")
    def _distinct(self) -> ClaimCreate:
        seen = set()
        for t in self.texts:
            k = " ".join(t.text.casefold().split())
            if k in seen:
                raise ValueError("the same wording is given twice")
            seen.add(k)
        return self


class ClaimUpdate(BaseModel):
    """Fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    texts: list[ClaimTextIn] | None = Field(default=None, min_length=1, max_length=20)
    status: Verdict | None = None
    correction: dict[str, str] | None = None
    correction_url: str | None = None
    notes: str | None = Field(default=None, max_length=5000)
    first_seen_at: dt.datetime | None = None

    _url = field_validator("correction_url")(_check_url)

    @field_validator("correction")
    @classmethod
    def _corr(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return None if v is None else _check_corrections(v)


class ClaimTextOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    lang: str
    text: str


class ClaimOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    status: str
    texts: list[ClaimTextOut]
    correction: dict[str, str]
    correction_url: str | None
    notes: str
    first_seen_at: dt.datetime | None
    verdict_at: dt.datetime | None
    source_item_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    match_count: int = 0


class MatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_TEXT * 5)
    lang: Lang | None = None
    limit: int = Field(10, ge=1, le=100)

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        v = _clean(v)
        if not v:
            raise ValueError("the text is empty")
        return v


class MatchResult(BaseModel):
    claim_id: int
    status: str
    text: str
    score: float
    method: str
    semantic: float | None
    lexical: float


class ClaimMatchOut(BaseModel):
    claim_id: int
    item_id: int
    score: float
    method: str
    matched_at: dt.datetime
    item_text: str
    item_url: str | None
    item_lang: str | None
    source_name: str
    platform: str
    published_at: dt.datetime | None
