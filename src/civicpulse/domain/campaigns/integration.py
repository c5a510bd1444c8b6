"""The seam with the publishing area (posts, per-channel variants, approval, deliveries).

Campaigns work on their own: the link between a kit and an agency post is ``campaign_posts``. When the
publishing area is installed, "Adapt" also creates a draft post there, and the compliance dashboard also
counts that area's published variants of linked posts. Everything the publishing area offers is read
through its own services and queries; nothing here writes its tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicpulse.config import Settings
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor

if TYPE_CHECKING:
    from civicpulse.domain.campaigns.models import Campaign

log = structlog.get_logger("civicpulse.campaigns")


@dataclasses.dataclass(frozen=True, slots=True)
class PublishedVariant:
    unit_id: int
    channel: str
    published_at: dt.datetime
    post_id: int


def publishing_available() -> bool:
    return (importlib.util.find_spec("civicpulse.domain.content") is not None
            and importlib.util.find_spec("civicpulse.domain.publishing") is not None)


def create_draft(session: Session, actor: Actor, settings: Settings | None, c: Campaign, unit: Unit, text: str,
                 channel: str, lang: str | None) -> int | None:
    """A draft post of ``unit`` in the publishing area, pre-filled from the suggested post; its id.

    The draft then follows the unit's normal approval and scheduling (per-channel variants are added there).
    Mandatory hashtags and the campaign link go into the post's own fields unless the text already has them.
    Returns None when the publishing area is not installed.
    """
    if not publishing_available():
        return None
    from civicpulse.domain.campaigns.alignment import kit_of
    from civicpulse.domain.content import services as content
    from civicpulse.domain.content.schemas import PostCreate
    from civicpulse.nlp import detect

    kit = kit_of(c)
    if lang not in ("vi", "th", "en"):
        found, _score = detect(text)
        lang = found if found in ("vi", "th", "en") else "vi"
    low = text.lower()
    tags = [t for t in kit.mandatory.hashtags if t.lower() not in low]
    link = kit.mandatory.link if kit.mandatory.link and kit.mandatory.link.lower() not in low else None
    post = content.create_post(session, actor, PostCreate(
        unit_id=unit.id, title=f"{c.title} — {unit.code}"[:300], texts={lang: text}, link=link, hashtags=tags))
    log.info("campaign draft created", campaign_id=c.id, post_id=post.id, unit=unit.code, channel=channel)
    return post.id


def published_variants(session: Session, c: Campaign, actor: Actor | None = None) -> list[PublishedVariant]:
    """Published per-channel variants of the publishing-area posts linked to ``c`` (read with ``actor``'s
    visibility; the system's when None)."""
    if not publishing_available():
        return []
    from civicpulse.domain.campaigns.models import CampaignPost
    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.publishing import queries as publishing

    who = actor or Actor.system_actor("campaign compliance", via="system")
    ids = sorted({i for i in session.scalars(select(CampaignPost.post_id).where(
        CampaignPost.campaign_id == c.id, CampaignPost.post_id.is_not(None))) if i is not None})
    out: list[PublishedVariant] = []
    for pid in ids:
        try:
            variants = publishing.variants_of(session, who, pid)
        except DomainError:
            continue  # deleted, or not visible to this reader
        for v in variants:
            if v.state == "published" and v.published_at is not None:
                out.append(PublishedVariant(unit_id=v.unit_id, channel=v.channel.platform,
                                            published_at=v.published_at, post_id=pid))
    return out


def current_text(session: Session, post_id: int) -> tuple[str, str | None] | None:
    """The publishing-area post's current text (its first language) and that language; None if it is gone."""
    if not publishing_available():
        return None
    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.publishing import queries as publishing

    try:
        post = publishing.post(session, Actor.system_actor("campaign alignment", via="system"), post_id)
    except DomainError:
        return None
    texts = post.texts or {}
    for lg in ("vi", "th", "en"):
        if texts.get(lg):
            return texts[lg], lg
    return None
