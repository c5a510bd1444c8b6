"""Input and output shapes of the listening area."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from civicpulse.domain.listening.models import PLATFORMS


class SourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int
    name: str = Field(min_length=1, max_length=200)
    platform: str
    config: dict[str, Any] = Field(default_factory=dict, description="Platform settings, e.g. {'url': ...}")
    secrets: dict[str, str] = Field(default_factory=dict, description="Tokens and keys; stored encrypted")
    interval_minutes: int = Field(default=15, ge=1, le=7 * 24 * 60)
    enabled: bool = True

    @field_validator("platform")
    @classmethod
    def _platform(cls, v: str) -> str:
        if v not in PLATFORMS:
            raise ValueError(f"unknown platform {v!r}; one of {', '.join(PLATFORMS)}")
        return v


class SourceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None
    interval_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    enabled: bool | None = None


class SourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    name: str
    platform: str
    config: dict[str, Any]
    interval_minutes: int
    enabled: bool
    next_run_at: dt.datetime | None
    last_run_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None
    token_expires_at: dt.datetime | None
    items_count: int
    created_at: dt.datetime


class SourceCreated(SourceOut):
    webhook_token: str | None = Field(default=None, description="Webhook sources only; shown once")


class ItemIn(BaseModel):
    """One item pushed to the webhook endpoint."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=300, description="Your stable id for the item")
    text: str = Field(min_length=1, max_length=100_000)
    url: str | None = Field(default=None, max_length=2000)
    kind: str = Field(default="post", pattern="^(post|comment|article|reply)$")
    title: str | None = Field(default=None, max_length=1000)
    author: str | None = Field(default=None, max_length=300)
    author_name: str | None = Field(default=None, max_length=300)
    author_followers: int | None = Field(default=None, ge=0)
    published_at: dt.datetime | None = None
    likes: int | None = Field(default=None, ge=0)
    shares: int | None = Field(default=None, ge=0)
    comments: int | None = Field(default=None, ge=0)
    views: int | None = Field(default=None, ge=0)
    parent_id: str | None = Field(default=None, max_length=300)
    thread_id: str | None = Field(default=None, max_length=300)
    lang: str | None = Field(default=None, max_length=8)
    raw: dict[str, Any] | None = None


class ItemsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] = Field(min_length=1, max_length=1000)


class IngestOut(BaseModel):
    inserted: int
    duplicates: int
    rejected: int
    reasons: list[str]


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: int
    unit_id: int
    external_id: str
    kind: str
    url: str | None
    title: str | None
    author_handle: str | None
    author_name: str | None
    author_followers: int | None
    text: str
    lang: str | None
    published_at: dt.datetime | None
    collected_at: dt.datetime
    likes: int | None
    shares: int | None
    comments: int | None
    views: int | None
    parent_external_id: str | None
    sentiment: str | None
    sentiment_score: float | None
    voice: str | None
    toxicity: str | None
    dup_cluster_id: int | None


class SearchHit(BaseModel):
    item: ItemOut
    snippet: str = Field(description="HTML-escaped text with <mark> around matched words")
    score: float


class SearchOut(BaseModel):
    query: str
    total: int
    total_capped: bool = Field(default=False, description="True when there are more than `total` matches")
    hits: list[SearchHit]


class TopicCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int
    name: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1, max_length=4000)
    description: str | None = Field(default=None, max_length=2000)


class TopicUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    query: str | None = Field(default=None, min_length=1, max_length=4000)
    description: str | None = Field(default=None, max_length=2000)
    version: int | None = None


class TopicOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    name: str
    query: str
    description: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
