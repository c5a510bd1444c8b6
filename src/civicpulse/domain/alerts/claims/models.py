"""Rumours and claims: the registry of claims circulating in the public, their verdicts and official corrections,
and the collected items found to repeat them.

A claim has one or more *versions* (the same claim worded in Thai, Vietnamese, English or reworded); each
version keeps its segmented tokens and its embedding so that new items can be compared to it cheaply. The
correction is kept per language (``{"th": ..., "en": ...}``) so that a reply can be drafted in the item's
language. Matches (claim, item) are unique; ``claim_match_cursors`` remembers how far the matching job got in
each lane (lexical: as soon as an item is analysed; semantic: once its embedding exists).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicpulse.db.base import Base, UTCDateTime, utcnow
from civicpulse.domain.org.models import Unit

VERDICTS = ("unverified", "false", "misleading", "true", "partly_true")
LANGS = ("th", "vi", "en")
METHODS = ("semantic", "lexical", "both", "manual")


class Claim(Base):
    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000), index=True)  # the owner unit's path, for scoping
    status: Mapped[str] = mapped_column(String(20), default="unverified", index=True)
    correction: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # lang -> official correction
    correction_url: Mapped[str | None] = mapped_column(String(2000))
    notes: Mapped[str] = mapped_column(Text, default="")
    first_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verdict_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    source_item_id: Mapped[int | None] = mapped_column(Integer)  # the item it was added from (no FK: items age out)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()
    texts: Mapped[list[ClaimText]] = relationship(back_populates="claim", cascade="all, delete-orphan",
                                                  order_by="ClaimText.id")

    @property
    def title(self) -> str:
        return self.texts[0].text if self.texts else ""

    def text_in(self, lang: str | None) -> str:
        for t in self.texts:
            if t.lang == lang:
                return t.text
        return self.title

    def correction_in(self, lang: str | None) -> tuple[str, str | None]:
        """The correction in ``lang`` when there is one, else the first one stored: (text, its language)."""
        corr = self.correction or {}
        if lang and corr.get(lang):
            return corr[lang], lang
        for lg in (*LANGS, *corr):
            if corr.get(lg):
                return corr[lg], lg
        return "", None

    def snapshot(self) -> dict[str, Any]:
        return {"unit_id": self.unit_id, "status": self.status,
                "texts": [{"lang": t.lang, "text": t.text} for t in self.texts],
                "correction": dict(self.correction or {}), "correction_url": self.correction_url,
                "notes": self.notes,
                "first_seen_at": self.first_seen_at.isoformat() if self.first_seen_at else None,
                "verdict_at": self.verdict_at.isoformat() if self.verdict_at else None}


class ClaimText(Base):
    """One wording of a claim in one language, with what matching needs (tokens, embedding)."""

    __tablename__ = "claim_texts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(Integer)  # copied from the claim: one wording per unit
    lang: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    text_key: Mapped[str] = mapped_column(String(64))  # hash of the case-folded, normalised text
    tokens: Mapped[str] = mapped_column(Text, default="")  # segmented, lower-case, space-joined
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 x 384, L2-normalised

    claim: Mapped[Claim] = relationship(back_populates="texts")

    __table_args__ = (UniqueConstraint("unit_id", "text_key"),)


class ClaimMatch(Base):
    """A collected item found to repeat a claim."""

    __tablename__ = "claim_matches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    item_unit_path: Mapped[str] = mapped_column(String(1000))  # the item's unit, for scoping
    score: Mapped[float] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(10))  # semantic | lexical | both | manual (added from the item)
    matched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("claim_id", "item_id"),
        Index("ix_claim_matches_matched_at", "matched_at"),
    )


class ClaimMatchCursor(Base):
    """How far the matching job got, per lane (``lexical`` / ``semantic``): the last item id done."""

    __tablename__ = "claim_match_cursors"

    lane: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_item_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
