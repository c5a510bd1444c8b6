"""Input and output shapes of campaigns (shared by API, UI and CLI). Rules that need no database live here:
at least one key message, deadline not before the start, end not before the start, hashtags and links well
formed, suggested posts on known languages. Rules that need the database (target units inside the sender's
subtree, linked plan visible) are the services'.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LANGS = ("vi", "th", "en")
CHANNELS = ("facebook", "zalo", "line", "x", "youtube", "tiktok", "website", "mastodon", "bluesky", "press",
            "other")
Level = Literal["aligned", "partly", "off_message", "contradicting"]


def _clean(v: str) -> str:
    return unicodedata.normalize("NFC", v).strip()


def _id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class Texts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vi: str = Field(default="", max_length=4000)
    th: str = Field(default="", max_length=4000)
    en: str = Field(default="", max_length=4000)

    @field_validator("vi", "th", "en")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return _clean(v)

    def items(self) -> list[tuple[str, str]]:
        return [(lg, getattr(self, lg)) for lg in LANGS if getattr(self, lg)]

    def get(self, lang: str) -> str:
        return getattr(self, lang, "") or self.en or self.vi or self.th


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prefix: ClassVar[str] = "x"
    id: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _assign(self) -> _Row:
        if not self.id:
            self.id = _id(self.prefix)
        return self


class KeyMessage(_Row):
    prefix: ClassVar[str] = "m"
    kind: Literal["core", "supporting"] = "core"
    text: Texts

    @model_validator(mode="after")
    def _some_text(self) -> KeyMessage:
        if not self.text.items():
            raise ValueError("a key message needs its text in at least one language (vi, th or en)")
        return self


class ForbiddenPhrase(_Row):
    prefix: ClassVar[str] = "f"
    phrase: str = Field(min_length=1, max_length=300)
    reason: str = Field(default="", max_length=1000)
    instead: str = Field(default="", max_length=1000)

    @field_validator("phrase", "reason", "instead")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return _clean(v)


class SuggestedPost(_Row):
    prefix: ClassVar[str] = "s"
    channel: str = Field(default="facebook", max_length=40)
    lang: Literal["vi", "th", "en"] = "vi"
    text: str = Field(min_length=1, max_length=5000)

    @field_validator("text")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return _clean(v)

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        v = v.strip().lower()
        if not re.fullmatch(r"[a-z0-9_-]{1,40}", v):
            raise ValueError("a channel is a short name such as facebook, zalo, line or website")
        return v


class Mandatory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hashtags: list[str] = Field(default_factory=list, max_length=20)
    link: str = Field(default="", max_length=2000)
    asset_required: bool = False

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        out = []
        for t in v:
            t = _clean(t)
            if not t:
                continue
            if not t.startswith("#"):
                t = "#" + t
            if not re.fullmatch(r"#[\w]{1,100}", t):
                raise ValueError(f"'{t}' is not a hashtag (letters, digits and '_' after '#')")
            out.append(t)
        return list(dict.fromkeys(out))

    @field_validator("link")
    @classmethod
    def _link(cls, v: str) -> str:
        v = v.strip()
        if v and not re.fullmatch(r"https?://[^\s<>\"]+", v):
            raise ValueError("the link must start with http:// or https://")
        return v


class Kit(BaseModel):
    """The body of a campaign kit."""

    model_config = ConfigDict(extra="forbid")

    messages: list[KeyMessage] = Field(default_factory=list, max_length=50)
    mandatory: Mandatory = Field(default_factory=Mandatory)
    forbidden: list[ForbiddenPhrase] = Field(default_factory=list, max_length=100)
    suggested_posts: list[SuggestedPost] = Field(default_factory=list, max_length=50)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def languages(self) -> set[str]:
        return {lg for m in self.messages for lg, _t in m.text.items()}


def check_kit(kit: Kit) -> None:
    if not kit.messages:
        raise ValueError("a campaign needs at least one key message")
    if not any(m.kind == "core" for m in kit.messages):
        raise ValueError("at least one key message must be a core message")


class _Dates(BaseModel):
    @model_validator(mode="after")
    def _dates(self) -> Any:
        start, end, deadline = getattr(self, "start_date", None), getattr(self, "end_date", None), \
            getattr(self, "deadline", None)
        if start and deadline and deadline < start:
            raise ValueError(f"the deadline {deadline.isoformat()} is before the start {start.isoformat()}")
        if start and end and end < start:
            raise ValueError(f"the end {end.isoformat()} is before the start {start.isoformat()}")
        return self


class CampaignCreate(_Dates):
    model_config = ConfigDict(extra="forbid")

    unit_id: int
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20000)
    plan_id: int | None = None
    start_date: dt.date
    end_date: dt.date | None = None
    deadline: dt.date
    kit: Kit = Field(default_factory=Kit)
    target_unit_ids: list[int] = Field(default_factory=list, max_length=500)
    use_plan_messages: bool = Field(default=False, description="Start from the linked plan's approved key messages")

    @field_validator("title", "description")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return _clean(v)

    @model_validator(mode="after")
    def _kit(self) -> CampaignCreate:
        if not self.use_plan_messages:
            check_kit(self.kit)
        return self


class CampaignUpdate(_Dates):
    model_config = ConfigDict(extra="forbid")

    version: int | None = None
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20000)
    plan_id: int | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    deadline: dt.date | None = None
    kit: Kit | None = None
    target_unit_ids: list[int] | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _kit(self) -> CampaignUpdate:
        if self.kit is not None:
            check_kit(self.kit)
        return self


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20000)
    lang: Literal["vi", "th", "en"] | None = None
    has_asset: bool | None = None


class PostIn(BaseModel):
    """An agency post recorded against a campaign (composed elsewhere, or entered by hand)."""

    model_config = ConfigDict(extra="forbid")

    unit_id: int
    text: str = Field(min_length=1, max_length=20000)
    channel: str = Field(default="other", max_length=40)
    url: str | None = Field(default=None, max_length=2000)
    published_at: dt.datetime | None = None
    has_asset: bool = False
    post_id: int | None = None
    item_id: int | None = None

    @field_validator("text")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return _clean(v)


class AssetLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    url: str = Field(max_length=2000)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = v.strip()
        if not re.fullmatch(r"https?://[^\s<>\"]+", v):
            raise ValueError("the link must start with http:// or https://")
        return v


class OwnAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    own: bool = True
    channel: str = Field(default="", max_length=40)


class ReasonOut(BaseModel):
    code: str
    ok: bool
    message: str


class AlignmentOut(BaseModel):
    score: float
    level: Level
    lang: str | None
    reasons: list[ReasonOut]
    similarity: float
    best_message_id: str | None
    flags: list[str]


class TargetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    unit_id: int
    notified_at: dt.datetime | None
    last_reminder_on: dt.date | None


class AssetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    url: str | None
    content_type: str | None
    size: int | None


class CampaignSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    title: str
    status: str
    start_date: dt.date
    end_date: dt.date | None
    deadline: dt.date
    plan_id: int | None
    published_at: dt.datetime | None
    version: int


class CampaignOut(CampaignSummary):
    description: str
    kit: dict[str, Any]
    targets: list[TargetOut]
    assets: list[AssetOut]
    deleted_at: dt.datetime | None


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    campaign_id: int
    unit_id: int
    origin: str
    post_id: int | None
    item_id: int | None
    channel: str
    text: str
    lang: str | None
    url: str | None
    published_at: dt.datetime | None
    score: float | None
    level: str | None
    reasons: list[dict[str, Any]] | None
