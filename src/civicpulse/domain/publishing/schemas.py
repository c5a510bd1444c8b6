"""Input and output shapes of the publishing area: channels, workflows, decisions, scheduling, reports."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["editor", "approver", "admin"]
State = Literal["draft", "in_review", "approved", "scheduled", "publishing", "published", "failed", "cancelled"]


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int
    platform: str = Field(min_length=1, max_length=40)  # "x" is X (Twitter)
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict, description="Settings that are not secret")
    secrets: dict[str, str] = Field(default_factory=dict, description="Tokens and passwords; stored encrypted")
    enabled: bool = True


class ChannelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    enabled: bool | None = None


class CredentialsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secrets: dict[str, str]


class ChannelOut(BaseModel):
    """A channel as shown to people: the names of its stored secrets, never their values."""

    id: int
    unit_id: int
    platform: str
    name: str
    config: dict[str, Any]
    secret_fields: list[str]
    enabled: bool
    health_ok: bool | None
    health_message: str | None
    health_checked_at: dt.datetime | None
    token_expires_at: dt.datetime | None
    secrets_updated_at: dt.datetime | None
    public_url: str | None = None


class WorkflowStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: Role = "approver"
    unit_id: int | None = Field(default=None, description="Where the role is needed; empty = the post's unit")


class WorkflowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[WorkflowStep] = Field(min_length=1, max_length=10)
    crisis_steps: list[WorkflowStep] = Field(default_factory=list, max_length=10,
                                             description="Shortened path used while the unit has a plan in crisis mode")


class WorkflowOut(BaseModel):
    unit_id: int
    steps: list[dict[str, Any]]
    crisis_steps: list[dict[str, Any]]
    is_default: bool


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=5000)


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheduled_at: dt.datetime

    @field_validator("scheduled_at")
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("give the time with its time zone, e.g. 2026-12-01T09:00:00+07:00")
        return v


class ResolveIn(BaseModel):
    """After "needs a check": the officer looked at the platform and says whether the post is there."""

    model_config = ConfigDict(extra="forbid")

    found: bool
    url: str | None = Field(default=None, max_length=2000)


class ExternalLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewer: str = Field(default="", max_length=300)
    hours: int = Field(default=72, ge=1, le=24 * 14)


class ExternalLinkOut(BaseModel):
    id: int
    url: str
    token: str
    expires_at: dt.datetime


class ExternalDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "request_changes", "comment"]
    comment: str = Field(default="", max_length=5000)
    name: str = Field(min_length=1, max_length=300)


class ApprovalEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    post_id: int
    step: int | None
    step_name: str | None
    action: str
    actor_id: int | None
    actor_label: str
    external: bool
    comment: str
    created_at: dt.datetime


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    variant_id: int
    number: int
    outcome: str
    message: str
    created_at: dt.datetime


class HealthOut(BaseModel):
    channel_id: int
    ok: bool
    message: str
    checked_at: dt.datetime
