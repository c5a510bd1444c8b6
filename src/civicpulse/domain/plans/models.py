"""Policy-communication plans: the plan document, its saved versions, section comments and network notifications.

A plan is edited as one document. Its sections (objectives, audiences, messages, FAQ, forbidden phrasings,
tactics, KPIs, risks, crisis kit, checklist) live in one JSON column validated by
:mod:`civicpulse.domain.plans.schemas`; every save stores a full snapshot in ``plan_versions`` so that any
two versions can be compared. The ``version`` column is the optimistic lock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicpulse.db.base import Base, UTCDateTime, utcnow
from civicpulse.domain.org.models import Unit

STATUSES = ("draft", "in_review", "approved", "active", "closed")
CERC_PHASES = ("pre_crisis", "initial", "maintenance", "resolution", "evaluation")
TEMPLATES = ("blank", "policy_launch", "crisis_response", "behaviour_change")


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    policy: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")  # the strategy in a few paragraphs
    language: Mapped[str] = mapped_column(String(2), default="en")
    template: Mapped[str] = mapped_column(String(30), default="blank")
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    sections: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    copied_from_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"), index=True)
    crisis_active: Mapped[bool] = mapped_column(Boolean, default=False)
    crisis_phase: Mapped[str | None] = mapped_column(String(20))
    crisis_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    copied_from: Mapped[Plan | None] = relationship(remote_side=[id])

    __mapper_args__ = {"version_id_col": version}

    def snapshot(self) -> dict[str, Any]:
        """The whole document as saved in the version history (and compared by the diff)."""
        return {
            "title": self.title,
            "policy": self.policy,
            "summary": self.summary,
            "language": self.language,
            "unit_id": self.unit_id,
            "status": self.status,
            "start_date": self.start_date.isoformat() if self.start_date else None,
            "end_date": self.end_date.isoformat() if self.end_date else None,
            "crisis_active": self.crisis_active,
            "crisis_phase": self.crisis_phase,
            "sections": self.sections or {},
        }

    def head(self) -> dict[str, Any]:
        """The short form for the audit log."""
        return {"title": self.title, "policy": self.policy, "unit_id": self.unit_id, "status": self.status,
                "version": self.version}


class PlanVersion(Base):
    """A full snapshot of a plan after each save: the version history."""

    __tablename__ = "plan_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    author_id: Mapped[int | None] = mapped_column(Integer)  # no FK: history outlives users
    author_label: Mapped[str] = mapped_column(String(300))
    note: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("plan_id", "number"),)


class PlanComment(Base):
    """A reviewer's (or editor's) comment on one section of a plan."""

    __tablename__ = "plan_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    section: Mapped[str] = mapped_column(String(30))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(Integer)
    author_label: Mapped[str] = mapped_column(String(300))
    plan_version: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(300))

    def snapshot(self) -> dict[str, Any]:
        return {"section": self.section, "body": self.body, "resolved": self.resolved_at is not None}


class PlanNotification(Base):
    """An in-app notice to one unit of the network (crisis mode turned on or off, a plan copied to it)."""

    __tablename__ = "plan_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))  # crisis_on | crisis_off | crisis_phase | copied
    message: Mapped[str] = mapped_column(Text)
    email_to: Mapped[str | None] = mapped_column(String(254))
    email_status: Mapped[str] = mapped_column(String(20), default="none")  # none | sent | failed
    email_error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_plan_notifications_unit_at", "unit_id", "at"),)
