"""Reads of the claim registry, limited to what the actor may see, plus the two reads the alerts engine uses.

For the alerts engine (no actor: it runs as the system and decides itself whom to notify):

* :func:`recent_matches` — every match attached since a time, optionally only items in a unit's subtree.
* :func:`match_counts_by_claim` — how many items matched each claim since a time (viral spread).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicpulse.domain.alerts.claims import matching
from civicpulse.domain.alerts.claims.models import Claim, ClaimMatch
from civicpulse.domain.alerts.claims.schemas import ClaimMatchOut, MatchResult
from civicpulse.domain.alerts.claims.services import claim_for, claim_index, embed_texts
from civicpulse.domain.errors import NotFound
from civicpulse.domain.listening import queries as listening
from civicpulse.domain.listening.models import Item, Source
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.org.queries import Page, paginate


def claims(session: Session, actor: Actor, *, status: str | None = None, unit_id: int | None = None,
           q: str | None = None, page: int = 1, per_page: int = 50) -> Page[Claim]:
    stmt = select(Claim).where(actor.reads_from_above_filter(Claim.unit_path)).order_by(Claim.updated_at.desc(),
                                                                                Claim.id.desc())
    if status:
        stmt = stmt.where(Claim.status == status)
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        if unit is None or not actor.can_see(unit):
            raise NotFound(f"Unit {unit_id} was not found")
        stmt = stmt.where(Claim.unit_path.startswith(unit.path, autoescape=True))
    if q:
        from civicpulse.domain.alerts.claims.models import ClaimText

        like = f"%{q.lower()}%"
        stmt = stmt.where(Claim.id.in_(select(ClaimText.claim_id).where(func.lower(ClaimText.text).like(like))))
    return paginate(session, stmt, page, per_page)


def claim(session: Session, actor: Actor, claim_id: int) -> Claim:
    return claim_for(session, actor, claim_id, "claim.read")


def match_counts(session: Session, actor: Actor, claim_ids: list[int]) -> dict[int, int]:
    """Matched items per claim, counting only items the actor can open."""
    if not claim_ids:
        return {}
    rows = session.execute(select(ClaimMatch.claim_id, func.count()).where(
        ClaimMatch.claim_id.in_(claim_ids), actor.visible_filter(ClaimMatch.item_unit_path))
        .group_by(ClaimMatch.claim_id))
    return {cid: n for cid, n in rows}


def matches(session: Session, actor: Actor, claim_id: int, *, limit: int = 200) -> list[ClaimMatchOut]:
    """The items that repeat a claim (newest match first), only those the actor can open, with their source."""
    c = claim(session, actor, claim_id)
    rows = session.execute(
        select(ClaimMatch, Item, Source).join(Item, Item.id == ClaimMatch.item_id)
        .join(Source, Source.id == Item.source_id)
        .where(ClaimMatch.claim_id == c.id, actor.visible_filter(ClaimMatch.item_unit_path))
        .order_by(ClaimMatch.matched_at.desc(), ClaimMatch.id.desc()).limit(limit))
    return [ClaimMatchOut(claim_id=m.claim_id, item_id=it.id, score=m.score, method=m.method,
                          matched_at=m.matched_at, item_text=it.text, item_url=it.url, item_lang=it.lang,
                          source_name=src.name, platform=src.platform, published_at=it.published_at)
            for m, it, src in rows]


def timeline(session: Session, actor: Actor, claim_id: int, *, days: int = 30) -> list[tuple[dt.date, int]]:
    """Matches per day (UTC) over the last ``days``: the spread of the claim."""
    c = claim(session, actor, claim_id)
    today = dt.datetime.now(dt.UTC).date()
    since = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), tzinfo=dt.UTC)
    times = session.scalars(select(func.coalesce(Item.published_at, ClaimMatch.matched_at))
                            .select_from(ClaimMatch).join(Item, Item.id == ClaimMatch.item_id)
                            .where(ClaimMatch.claim_id == c.id, actor.visible_filter(ClaimMatch.item_unit_path),
                                   ClaimMatch.matched_at >= since))
    counts = Counter(t.astimezone(dt.UTC).date() if t.tzinfo else t.date() for t in times)
    return [(today - dt.timedelta(days=i), counts.get(today - dt.timedelta(days=i), 0))
            for i in range(days - 1, -1, -1)]


def match_text(session: Session, actor: Actor, text: str, *, lang: str | None = None,
               limit: int = 10) -> list[MatchResult]:
    """The visible claims a text repeats, best first (the same scoring as the matching job)."""
    from civicpulse.nlp import detect

    lang = lang or detect(text)[0]
    index = claim_index(session, unit_filter=actor.reads_from_above_filter(Claim.unit_path))
    if not len(index):
        return []
    vec = embed_texts([text])[0]
    hits = index.match(matching.tokens_for(text, lang), vec, lang)[:limit]
    found = {c.id: c for c in session.scalars(select(Claim).where(Claim.id.in_([h.claim_id for h in hits])))}
    return [MatchResult(claim_id=h.claim_id, status=found[h.claim_id].status, text=found[h.claim_id].title,
                        score=h.score, method=h.method,
                        semantic=None if h.semantic is None else round(h.semantic, 4), lexical=round(h.lexical, 4))
            for h in hits]


@dataclasses.dataclass
class ItemClaim:
    """A claim an item repeats, with the reply drafted from its official correction."""

    claim: Claim
    score: float
    method: str
    reply: str
    reply_lang: str | None
    compose_url: str


def reply_draft(c: Claim, lang: str | None) -> tuple[str, str | None]:
    text, corr_lang = c.correction_in(lang)
    parts = [p for p in (text, c.correction_url or "") if p]
    return "\n\n".join(parts), corr_lang


def compose_url(text: str, item_id: int) -> str:
    return f"/content/new?text={quote(text, safe='')}&reply_to_item={item_id}"


def claims_for_item(session: Session, actor: Actor, item_id: int) -> list[ItemClaim]:
    """Visible claims matched to an item (best first), each with a reply draft in the item's language."""
    it = listening.item(session, actor, item_id)
    rows = session.execute(select(ClaimMatch, Claim).join(Claim, Claim.id == ClaimMatch.claim_id)
                           .where(ClaimMatch.item_id == it.id, actor.reads_from_above_filter(Claim.unit_path))
                           .order_by(ClaimMatch.score.desc()))
    out = []
    for m, c in rows:
        reply, rl = reply_draft(c, it.lang)
        out.append(ItemClaim(claim=c, score=m.score, method=m.method, reply=reply, reply_lang=rl,
                             compose_url=compose_url(reply, it.id)))
    return out


# ------------------------------------------------------------------ for the alerts engine


@dataclasses.dataclass(frozen=True)
class RecentMatch:
    claim_id: int
    claim_unit_id: int
    claim_unit_path: str
    claim_status: str  # unverified | false | misleading | true | partly_true
    item_id: int
    item_unit_path: str
    score: float
    method: str
    matched_at: dt.datetime


def recent_matches(session: Session, *, since: dt.datetime, unit_path: str | None = None) -> list[RecentMatch]:
    """Every match attached at or after ``since`` (oldest first). With ``unit_path``, only items collected
    by that unit's subtree. Not filtered by an actor: the alerts engine decides whom it tells."""
    stmt = (select(ClaimMatch, Claim.unit_id, Claim.unit_path, Claim.status)
            .join(Claim, Claim.id == ClaimMatch.claim_id).where(ClaimMatch.matched_at >= since)
            .order_by(ClaimMatch.matched_at, ClaimMatch.id))
    if unit_path:
        stmt = stmt.where(ClaimMatch.item_unit_path.startswith(unit_path, autoescape=True))
    return [RecentMatch(claim_id=m.claim_id, claim_unit_id=uid, claim_unit_path=path, claim_status=st,
                        item_id=m.item_id, item_unit_path=m.item_unit_path, score=m.score, method=m.method,
                        matched_at=m.matched_at) for m, uid, path, st in session.execute(stmt)]


def match_counts_by_claim(session: Session, since: dt.datetime) -> dict[int, int]:
    """Items matched per claim at or after ``since`` (claims with none are left out)."""
    rows = session.execute(select(ClaimMatch.claim_id, func.count()).where(ClaimMatch.matched_at >= since)
                           .group_by(ClaimMatch.claim_id))
    return {cid: n for cid, n in rows}
