"""Input and output shapes of the early-warning area (API, UI and CLI share them)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from civicpulse.domain.alerts.models import ALERT_STATUSES, CHANNEL_KINDS, RULE_KINDS, SEVERITIES

RuleKind = Literal["volume_spike", "issue_spike", "negative_surge", "toxicity_surge", "viral_spread", "high_reach",
                   "claim_match"]
AlertStatus = Literal["new", "acknowledged", "in_progress", "resolved", "false_alarm"]
Severity = Literal["low", "medium", "high", "critical"]
ChannelKind = Literal["webhook", "telegram", "line", "email"]
assert set(RuleKind.__args__) == set(RULE_KINDS)  # type: ignore[attr-defined]
assert set(AlertStatus.__args__) == set(ALERT_STATUSES)  # type: ignore[attr-defined]
assert set(Severity.__args__) == set(SEVERITIES)  # type: ignore[attr-defined]
assert set(ChannelKind.__args__) == set(CHANNEL_KINDS)  # type: ignore[attr-defined]


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int
    kind: RuleKind
    name: str = Field(min_length=1, max_length=200)
    topic_id: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("the name cannot be blank")
        return v


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    params: dict[str, Any] | None = None
    enabled: bool | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    kind: str
    name: str
    topic_id: int | None
    params: dict[str, Any]
    enabled: bool
    is_default: bool


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AlertStatus
    note: str | None = Field(None, max_length=2000)


class AlertSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    rule_id: int | None
    issue_id: int | None
    kind: str
    severity: str
    status: str
    label: str
    summary: str
    item_ids: list[int]
    revision: int
    updates: int
    first_at: dt.datetime
    last_at: dt.datetime


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: dt.datetime
    actor_label: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    target: str
    channel_id: int | None
    revision: int
    status: str
    attempts: int
    last_error: str | None
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None


class AlertOut(AlertSummary):
    evidence: dict[str, Any]
    events: list[EventOut] = []
    deliveries: list[DeliveryOut] = []


class IssueSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    label: str
    status: str
    size: int
    count_1h: int
    count_6h: int
    count_24h: int
    growth: float
    negative_share: float
    score: float
    first_seen: dt.datetime
    last_seen: dt.datetime
    linked_unit_ids: list[int]
    topic_ids: list[int]
    representative_ids: list[int]


class IssueOut(IssueSummary):
    stats: dict[str, Any]
    merged_into_id: int | None
    item_ids: list[int] = []


class IssueRename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=300)


class IssueMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_ids: list[int] = Field(min_length=1, max_length=50)


class IssueSplit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[int] = Field(min_length=1, max_length=1000)
    label: str | None = Field(None, max_length=300)


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quiet_start: int | None = Field(None, ge=0, le=23)
    quiet_end: int | None = Field(None, ge=0, le=23)
    digest: bool = False
    digest_minutes: int = Field(60, ge=5, le=24 * 60)
    min_severity: Severity = "low"


class SettingsOut(SettingsIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    unit_id: int


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int
    kind: ChannelKind
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True


class ChannelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None  # only the keys given are replaced; secrets are never shown back
    enabled: bool | None = None


class ChannelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    kind: str
    name: str
    config: dict[str, Any]
    enabled: bool
    has_secret: bool = False
    last_status: str | None
    last_error: str | None


class Finding(BaseModel):
    """What a rule found in one evaluation (becomes a new alert, or updates the open one with the same key)."""

    key: str
    kind: str
    severity: Severity
    label: str
    summary: str = ""
    score: float = 0.0
    evidence: dict[str, Any] = Field(default_factory=dict)
    item_ids: list[int] = Field(default_factory=list)
    event_at: dt.datetime | None = None
    issue_id: int | None = None
