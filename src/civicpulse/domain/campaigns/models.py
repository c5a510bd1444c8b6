"""Campaign kits sent down the network, the agency posts that carry them, and their alignment scores.

A campaign belongs to the unit that sends it; its kit (key messages, mandatory elements, forbidden
phrasings, suggested posts) lives in one JSON column validated by :mod:`civicpulse.domain.campaigns.schemas`.
Target units are rows of ``campaign_targets`` (each inside the sender's subtree). Every agency post linked to
a campaign is a row of ``campaign_posts``: a post composed in civicpulse (``post_id``, when the publishing
area holds it), a post collected by listening from the unit's own account (``item_id``), or a text recorded
by hand; each carries its latest alignment score. Deleting a campaign is a soft delete so that posts keep
their history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicpulse.db.base import Base, UTCDateTime, utcnow
from civicpulse.domain.listening import models as _listening  # noqa: F401 - items/sources named by foreign keys
from civicpulse.domain.org.models import Unit
from civicpulse.domain.plans import models as _plans  # noqa: F401 - plans named by a foreign key

STATUSES = ("draft", "published", "closed")
LEVELS = ("aligned", "partly", "off_message", "contradicting")
ORIGINS = ("composed", "collected", "manual")


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    kit: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    deadline: Mapped[dt.date] = mapped_column(Date)  # last day the target units should have published
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    targets: Mapped[list[CampaignTarget]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="CampaignTarget.id")
    assets: Mapped[list[CampaignAsset]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="CampaignAsset.id")

    __mapper_args__ = {"version_id_col": version}

    def head(self) -> dict[str, Any]:
        return {"title": self.title, "unit_id": self.unit_id, "status": self.status, "version": self.version,
                "start_date": self.start_date, "deadline": self.deadline}

    def snapshot(self) -> dict[str, Any]:
        return {**self.head(), "description": self.description, "plan_id": self.plan_id, "end_date": self.end_date,
                "kit": self.kit or {}, "targets": [t.unit_id for t in self.targets]}


class CampaignTarget(Base):
    """A unit asked to carry the campaign; ``last_reminder_on`` keeps reminders to one a day."""

    __tablename__ = "campaign_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_reminder_on: Mapped[dt.date | None] = mapped_column(Date)
    reminders: Mapped[int] = mapped_column(Integer, default=0)

    campaign: Mapped[Campaign] = relationship(back_populates="targets")
    unit: Mapped[Unit] = relationship()

    __table_args__ = (UniqueConstraint("campaign_id", "unit_id"),)


class CampaignAsset(Base):
    """A file stored under the data directory (``path``) or a link (``url``): logo, image, video, PDF."""

    __tablename__ = "campaign_assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(10))  # file | link
    url: Mapped[str | None] = mapped_column(String(2000))
    path: Mapped[str | None] = mapped_column(String(500))  # relative to <data dir>/campaigns
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="assets")


class CampaignPost(Base):
    """One agency post carrying (or meant to carry) a campaign, with its latest alignment score."""

    __tablename__ = "campaign_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000))
    origin: Mapped[str] = mapped_column(String(12), default="manual")  # composed | collected | manual
    post_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the publishing area's post (no FK)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(40), default="")
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(8))
    url: Mapped[str | None] = mapped_column(String(2000))
    has_asset: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    score: Mapped[float | None] = mapped_column(Float)
    level: Mapped[str | None] = mapped_column(String(16), index=True)
    reasons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    scored_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship()

    __table_args__ = (
        UniqueConstraint("campaign_id", "item_id", name="uq_campaign_posts_campaign_item"),
        Index("ix_campaign_posts_campaign_unit", "campaign_id", "unit_id"),
    )

    def snapshot(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "unit_id": self.unit_id, "origin": self.origin,
                "post_id": self.post_id, "item_id": self.item_id, "channel": self.channel,
                "text": self.text[:500], "level": self.level, "score": self.score}


class OwnAccount(Base):
    """A listening source that is one of a unit's own accounts: what it collects is the unit's own posts."""

    __tablename__ = "campaign_own_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
