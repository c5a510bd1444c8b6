"""Early warning: emerging issues (clusters of recent items), alert rules, alerts with their lifecycle,
notification channels per unit, and the record of every delivery.

* An :class:`Issue` keeps its identity across detection passes: new items join the issue whose centroid
  they are close to; the centroid is the running mean of its members' embeddings.
* An :class:`Alert` is one ongoing event. ``open_key`` holds the event key (e.g. ``spike:topic:3``) while the
  alert is open and is cleared when it is resolved or dismissed; the unique constraint on
  ``(unit_id, open_key)`` makes "one open alert per event" a database guarantee.
* A :class:`Delivery` is unique per alert, channel and alert revision: retries update the same row, and a
  re-run of the evaluation never sends the same revision twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicpulse.db.base import Base, UTCDateTime, utcnow
from civicpulse.domain.org.models import Unit

ISSUE_STATUSES = ("active", "merged", "closed")
RULE_KINDS = ("volume_spike", "issue_spike", "negative_surge", "toxicity_surge", "viral_spread", "high_reach",
              "claim_match")
SEVERITIES = ("low", "medium", "high", "critical")
ALERT_STATUSES = ("new", "acknowledged", "in_progress", "resolved", "false_alarm")
OPEN_STATUSES = ("new", "acknowledged", "in_progress")
CHANNEL_KINDS = ("webhook", "telegram", "line", "email")
DELIVERY_STATUSES = ("pending", "held", "digest", "retrying", "sent", "failed")


class Issue(Base):
    __tablename__ = "alert_issues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # the lowest unit covering every member item: who may see the issue
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000), index=True)
    label: Mapped[str] = mapped_column(String(300), default="")
    label_locked: Mapped[bool] = mapped_column(Boolean, default=False)  # renamed by an analyst
    status: Mapped[str] = mapped_column(String(12), default="active", index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("alert_issues.id", ondelete="SET NULL"))
    centroid: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 x 384, not normalised
    size: Mapped[int] = mapped_column(Integer, default=0)
    count_1h: Mapped[int] = mapped_column(Integer, default=0)
    count_6h: Mapped[int] = mapped_column(Integer, default=0)
    count_24h: Mapped[int] = mapped_column(Integer, default=0)
    growth: Mapped[float] = mapped_column(Float, default=0.0)
    negative_share: Mapped[float] = mapped_column(Float, default=0.0)
    score: Mapped[float] = mapped_column(Float, default=0.0, index=True)  # ranking: growth x negativity
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # sentiment, sources, places, units, ...
    linked_unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    topic_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    representative_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()

    def snapshot(self) -> dict[str, Any]:
        return {"label": self.label, "status": self.status, "size": self.size, "unit_id": self.unit_id,
                "merged_into_id": self.merged_into_id}


class IssueItem(Base):
    """An item's membership of one issue (an item belongs to at most one issue)."""

    __tablename__ = "alert_issue_items"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("alert_issues.id", ondelete="CASCADE"), index=True)
    similarity: Mapped[float] = mapped_column(Float, default=0.0)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)  # the item's time (published or collected)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertRule(Base):
    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("saved_topics.id", ondelete="CASCADE"))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()

    __table_args__ = (UniqueConstraint("unit_id", "name"),)

    def snapshot(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "topic_id": self.topic_id, "params": self.params,
                "enabled": self.enabled, "unit_id": self.unit_id}


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"), index=True)
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("alert_issues.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    key: Mapped[str] = mapped_column(String(200))
    open_key: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10), default="medium")
    status: Mapped[str] = mapped_column(String(14), default="new", index=True)
    label: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # statistic, series, expected, ...
    item_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    revision: Mapped[int] = mapped_column(Integer, default=1)  # bumped when severity rises: notify again
    updates: Mapped[int] = mapped_column(Integer, default=0)  # evaluation passes that found it still going
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    event_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # when the triggering data starts
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()

    __table_args__ = (UniqueConstraint("unit_id", "open_key"), Index("ix_alerts_unit_key", "unit_id", "key"))

    def snapshot(self) -> dict[str, Any]:
        return {"status": self.status, "severity": self.severity, "label": self.label, "revision": self.revision}


class AlertEvent(Base):
    """The alert's own history (raised, updated, each lifecycle change), shown on the alert page."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_label: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(30))  # raised | updated | escalated | <status>
    from_status: Mapped[str | None] = mapped_column(String(14))
    to_status: Mapped[str | None] = mapped_column(String(14))
    note: Mapped[str | None] = mapped_column(Text)


class AlertSettings(Base):
    """Per-unit notification settings: quiet hours (in the unit's time zone) and digest mode."""

    __tablename__ = "alert_settings"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    quiet_start: Mapped[int | None] = mapped_column(Integer)  # hour 0-23, None = no quiet hours
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_minutes: Mapped[int] = mapped_column(Integer, default=60)
    min_severity: Mapped[str] = mapped_column(String(10), default="low")  # below: in-app only
    last_digest_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def snapshot(self) -> dict[str, Any]:
        return {"quiet_start": self.quiet_start, "quiet_end": self.quiet_end, "digest": self.digest,
                "digest_minutes": self.digest_minutes, "min_severity": self.min_severity}


class AlertChannel(Base):
    """A notification channel of one unit. Secrets (webhook signing key, bot tokens) are encrypted."""

    __tablename__ = "alert_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000))
    kind: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # url, chat_id, to, ... (not secret)
    secrets: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()

    __table_args__ = (UniqueConstraint("unit_id", "name"),)

    def snapshot(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "config": self.config, "enabled": self.enabled,
                "has_secret": bool(self.secrets)}


class Delivery(Base):
    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("alert_channels.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(40))  # "inapp:<unit id>" or "channel:<id>"
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("alert_id", "target", "revision"),)
