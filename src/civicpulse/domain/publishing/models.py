"""Tables of the publishing area.

* ``Channel``: a unit's account on a platform; its credentials are encrypted at rest (:mod:`civicpulse.crypto`).
* ``Variant``: one post made ready for one channel; it carries the state machine
  draft → in_review → approved → scheduled → publishing → published | failed | cancelled, the idempotency key
  and the lease the worker holds while publishing.
* ``ApprovalWorkflow`` / ``ApprovalEvent``: the per-unit approval steps and the full history of a post's review.
* ``ExternalReviewLink``: a signed, expiring, single-post link for a reviewer without an account.
* ``PublishAttempt``: every call made to a platform, with its outcome (the failed/stuck dashboard reads it).
* ``RateBucket``: token buckets shared by every worker (one row per channel and limit).
* ``WebsitePost``: what the website channel publishes (the unit's public news page and feed).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicpulse.db.base import Base, UTCDateTime, utcnow
from civicpulse.domain.content.models import Post
from civicpulse.domain.org.models import Unit

STATES = ("draft", "in_review", "approved", "scheduled", "publishing", "published", "failed", "cancelled")
FINAL = ("published", "cancelled")


class Channel(Base):
    __tablename__ = "pub_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000), index=True)
    platform: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # settings that are not secret
    secrets: Mapped[str | None] = mapped_column(Text)  # Fernet token (civicpulse.crypto); never returned
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    health_ok: Mapped[bool | None] = mapped_column(Boolean)
    health_message: Mapped[str | None] = mapped_column(Text)
    health_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    secrets_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()

    def head(self) -> dict[str, Any]:
        return {"platform": self.platform, "name": self.name, "unit_id": self.unit_id, "enabled": self.enabled,
                "config": dict(self.config or {})}


class Variant(Base):
    __tablename__ = "pub_variants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("content_posts.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("pub_channels.id", ondelete="RESTRICT"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000), index=True)
    language: Mapped[str | None] = mapped_column(String(2))
    title: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(2000))
    media_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="draft")
    reason: Mapped[str | None] = mapped_column(Text)  # why it failed / was cancelled, in plain words
    needs_check: Mapped[bool] = mapped_column(Boolean, default=False)
    # a call to the platform may have gone through without us recording the answer (crash, timeout):
    # reconcile with lookup() before posting again
    in_doubt: Mapped[bool] = mapped_column(Boolean, default=False)
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    lease_token: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    external_id: Mapped[str | None] = mapped_column(String(300))
    external_url: Mapped[str | None] = mapped_column(String(2000))
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    post: Mapped[Post] = relationship()
    channel: Mapped[Channel] = relationship()

    __table_args__ = (Index("ix_pub_variants_due", "state", "next_attempt_at"),)

    def head(self) -> dict[str, Any]:
        return {"post_id": self.post_id, "channel_id": self.channel_id, "state": self.state, "reason": self.reason,
                "scheduled_at": self.scheduled_at, "attempts": self.attempts, "external_id": self.external_id}


class ApprovalWorkflow(Base):
    """The approval steps of a unit's posts. ``steps``: [{"name", "role", "unit_id"}] in order; a step is done
    when someone holding ``role`` (or higher) on ``unit_id`` (default: the post's unit) approves."""

    __tablename__ = "pub_workflows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), unique=True)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    crisis_steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ApprovalEvent(Base):
    """One line of a post's review history: submitted, approved (a step), changes requested, commented."""

    __tablename__ = "pub_approval_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("content_posts.id", ondelete="CASCADE"), index=True)
    step: Mapped[int | None] = mapped_column(Integer)
    step_name: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(30))  # submitted | approved | changes_requested | commented
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(300))
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExternalReviewLink(Base):
    __tablename__ = "pub_review_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("content_posts.id", ondelete="CASCADE"), index=True)
    nonce: Mapped[str] = mapped_column(String(40), unique=True)
    reviewer: Mapped[str] = mapped_column(String(300), default="")  # who it was sent to (free text)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    used_by_name: Mapped[str | None] = mapped_column(String(300))
    decision: Mapped[str | None] = mapped_column(String(30))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PublishAttempt(Base):
    __tablename__ = "pub_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("pub_variants.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(30))  # published | reconciled | transient | rate_limited | auth | permanent | needs_check
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RateBucket(Base):
    __tablename__ = "pub_rate_buckets"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WebsitePost(Base):
    __tablename__ = "pub_website_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("pub_channels.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(2000))
    language: Mapped[str | None] = mapped_column(String(2))
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("channel_id", "idempotency_key"),)
