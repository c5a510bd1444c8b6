"""Tables of the content area: posts, media attachments and the message library.

A post is written once, with its text in one or more of vi/th/en side by side (``texts``). Each channel gets a
*variant* of it (see :mod:`civicpulse.domain.publishing.models`), which is what is approved, scheduled and published.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicpulse.db.base import Base, UTCDateTime, utcnow
from civicpulse.domain.org.models import Unit, User

LANGUAGES = ("vi", "th", "en")
POST_STATUSES = ("draft", "in_review", "approved", "cancelled")


class Post(Base):
    __tablename__ = "content_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000), index=True)
    title: Mapped[str] = mapped_column(String(300))
    texts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # {"vi": ..., "th": ..., "en": ...}
    link: Mapped[str | None] = mapped_column(String(2000))
    hashtags: Mapped[list[str]] = mapped_column(JSON, default=list)
    media_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"), index=True)
    # approval: the steps copied from the unit's workflow when the post was submitted
    review_status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    review_steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    review_step: Mapped[int] = mapped_column(Integer, default=0)
    review_crisis: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()
    created_by: Mapped[User | None] = relationship()

    def head(self) -> dict[str, Any]:
        return {"title": self.title, "unit_id": self.unit_id, "review_status": self.review_status,
                "review_step": self.review_step}

    def snapshot(self) -> dict[str, Any]:
        return {**self.head(), "texts": dict(self.texts or {}), "link": self.link,
                "hashtags": list(self.hashtags or []), "media_ids": list(self.media_ids or []),
                "plan_id": self.plan_id}


class MediaAsset(Base):
    """A file stored under ``<data dir>/media/`` (checked for size and type when uploaded)."""

    __tablename__ = "content_media"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    stored_name: Mapped[str] = mapped_column(String(200), unique=True)
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    alt_text: Mapped[str] = mapped_column(Text, default="")
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def head(self) -> dict[str, Any]:
        return {"filename": self.filename, "mime": self.mime, "size": self.size, "unit_id": self.unit_id}


class LibraryEntry(Base):
    """An approved message or hashtag that editors reuse (seeded from plans' approved key messages)."""

    __tablename__ = "content_library"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="message")  # message | hashtag
    texts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    source: Mapped[str | None] = mapped_column(String(100), index=True)  # "plan:<id>:<message id>" when seeded
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def head(self) -> dict[str, Any]:
        return {"kind": self.kind, "texts": dict(self.texts or {}), "source": self.source, "archived": self.archived}


__all__ = ["LANGUAGES", "LibraryEntry", "MediaAsset", "Post"]
