"""All writes of the claim registry, and the matching job.

Registry writes check ``claim.manage`` on the claim's unit and write the audit log in the same transaction.
Adding or editing a claim back-matches the recent items at once. The matching job (``run_matching``) attaches
matches as items arrive: a lexical lane as soon as an item is analysed, a semantic lane once its embedding
exists; each lane keeps a cursor, and a (claim, item) pair is stored once (a later, better score updates it).
Matches written by the job are machine results and are not audited one by one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from civicpulse.db.base import utcnow
from civicpulse.domain.alerts.claims import matching
from civicpulse.domain.alerts.claims.models import Claim, ClaimMatch, ClaimMatchCursor, ClaimText
from civicpulse.domain.alerts.claims.schemas import ClaimCreate, ClaimTextIn, ClaimUpdate
from civicpulse.domain.errors import Conflict, NotFound, ValidationFailed
from civicpulse.domain.listening import queries as listening
from civicpulse.domain.listening.models import Item
from civicpulse.domain.org import audit
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor, require, visible_unit

log = structlog.get_logger("civicpulse.claims")

BACKMATCH_DAYS = 30
BACKMATCH_LIMIT = 5000
JOB_BATCH = 500


# ------------------------------------------------------------------ helpers


def get_claim(session: Session, claim_id: int) -> Claim:
    claim = session.get(Claim, claim_id)
    if claim is None:
        raise NotFound(f"Claim {claim_id} was not found")
    return claim


def claim_for(session: Session, actor: Actor, claim_id: int, action: str = "claim.read") -> Claim:
    """The claim, if the actor may do ``action`` on it; 404 when its unit is invisible to them."""
    claim = get_claim(session, claim_id)
    if action == "claim.read" and actor.reads_from_above(claim.unit):
        return claim  # a parent unit's verdicts and corrections are read by the whole subtree
    if not actor.can_see(claim.unit):
        raise NotFound(f"Claim {claim_id} was not found")
    require(actor, action, claim.unit)
    return claim


def _unit(session: Session, actor: Actor, unit_id: int) -> Unit:
    return visible_unit(session, actor, unit_id)


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    from civicpulse.nlp.embed import embed

    return embed(list(texts)).astype(np.float32)


def _check_duplicates(session: Session, unit: Unit, texts: Iterable[ClaimTextIn], own_id: int | None) -> None:
    for t in texts:
        other = session.scalar(select(ClaimText).where(ClaimText.unit_id == unit.id,
                                                       ClaimText.text_key == matching.text_key(t.text)))
        if other is not None and other.claim_id != own_id:
            raise Conflict(f"Claim {other.claim_id} of unit '{unit.code}' already has the wording "
                           f"\u201c{t.text[:80]}\u201d; edit that claim (or add this wording to it) instead",
                           details={"field": "texts", "claim_id": other.claim_id})


def _set_texts(session: Session, claim: Claim, texts: list[ClaimTextIn]) -> None:
    """Replace the wordings; unchanged ones keep their embedding, new ones are embedded now."""
    old = {t.text_key: t for t in claim.texts}
    new = [t for t in texts if matching.text_key(t.text) not in old]
    vecs = embed_texts([t.text for t in new]) if new else np.zeros((0, 384), np.float32)
    rows = []
    for t in texts:
        key = matching.text_key(t.text)
        if key in old:
            row = old[key]
            if row.lang != t.lang:
                row.lang, row.tokens = t.lang, matching.tokens_for(t.text, t.lang)
            rows.append(row)
            continue
        v = vecs[new.index(t)]
        rows.append(ClaimText(unit_id=claim.unit_id, lang=t.lang, text=t.text, text_key=key,
                              tokens=matching.tokens_for(t.text, t.lang), embedding=v.tobytes()))
    claim.texts = rows
    session.flush()


# ------------------------------------------------------------------ registry


def create_claim(session: Session, actor: Actor, data: ClaimCreate) -> Claim:
    unit = _unit(session, actor, data.unit_id)
    require(actor, "claim.manage", unit)
    _check_duplicates(session, unit, data.texts, None)
    now = utcnow()
    claim = Claim(unit_id=unit.id, unit_path=unit.path, status=data.status, correction=data.correction,
                  correction_url=data.correction_url, notes=data.notes,
                  first_seen_at=data.first_seen_at or now,
                  verdict_at=now if data.status != "unverified" else None, source_item_id=data.source_item_id,
                  created_by_id=actor.user_id)
    session.add(claim)
    session.flush()
    _set_texts(session, claim, data.texts)
    session.flush()
    audit.record(session, actor, "claim.create", unit=unit, object_type="claim", object_id=claim.id,
                 after=claim.snapshot())
    if data.source_item_id is not None:
        _attach_source_item(session, actor, claim, data.source_item_id)
    back_match(session, claim)
    return claim


def _attach_source_item(session: Session, actor: Actor, claim: Claim, item_id: int) -> None:
    item = listening.item(session, actor, item_id)  # 404 when the actor cannot open it
    store_hits(session, [(item.id, item.unit_path, [matching.Hit(claim.id, 1.0, "manual", None, 1.0)])])


def update_claim(session: Session, actor: Actor, claim_id: int, data: ClaimUpdate) -> Claim:
    claim = claim_for(session, actor, claim_id, "claim.manage")
    before = claim.snapshot()
    fields = data.model_fields_set
    if data.texts is not None:
        _check_duplicates(session, claim.unit, data.texts, claim.id)
        _set_texts(session, claim, data.texts)
    if "status" in fields and data.status is not None and data.status != claim.status:
        claim.status = data.status
        claim.verdict_at = utcnow() if data.status != "unverified" else None
    if "correction" in fields and data.correction is not None:
        claim.correction = data.correction
    if "correction_url" in fields:
        claim.correction_url = data.correction_url
    if "notes" in fields and data.notes is not None:
        claim.notes = data.notes
    if "first_seen_at" in fields and data.first_seen_at is not None:
        fs = data.first_seen_at if data.first_seen_at.tzinfo else data.first_seen_at.replace(tzinfo=dt.UTC)
        claim.first_seen_at = fs
    claim.updated_at = utcnow()
    session.flush()
    b, a = audit.diff(before, claim.snapshot())
    if a:
        audit.record(session, actor, "claim.update", unit=claim.unit, object_type="claim", object_id=claim.id,
                     before=b, after=a)
    if data.texts is not None:
        back_match(session, claim)
    return claim


def delete_claim(session: Session, actor: Actor, claim_id: int) -> None:
    claim = claim_for(session, actor, claim_id, "claim.manage")
    audit.record(session, actor, "claim.delete", unit=claim.unit, object_type="claim", object_id=claim.id,
                 before=claim.snapshot())
    session.execute(delete(ClaimMatch).where(ClaimMatch.claim_id == claim.id))
    session.delete(claim)
    session.flush()


def claim_from_item(session: Session, actor: Actor, item_id: int, unit_id: int | None = None) -> Claim:
    """One click on an item: a new unverified claim worded as the item, owned by the item's unit (or
    ``unit_id``), with the item attached as its first match. Adding the same item twice opens the first claim."""
    item = listening.item(session, actor, item_id)
    unit = _unit(session, actor, unit_id or item.unit_id)
    require(actor, "claim.manage", unit)
    text = " ".join((item.text or "").split())[:2000] or (item.title or "")[:2000]
    lang = item.lang if item.lang in ("th", "vi", "en") else "en"
    existing = session.scalar(select(ClaimText).where(ClaimText.unit_id == unit.id,
                                                      ClaimText.text_key == matching.text_key(text)))
    if existing is not None:
        return existing.claim
    try:
        data = ClaimCreate(unit_id=unit.id, texts=[ClaimTextIn(lang=lang, text=text)],  # type: ignore[arg-type]
                           first_seen_at=item.published_at or item.collected_at, source_item_id=item.id)
    except ValueError as exc:
        raise ValidationFailed(f"This item cannot become a claim: {exc}") from exc
    return create_claim(session, actor, data)


# ------------------------------------------------------------------ matching


def claim_index(session: Session, claim_ids: Sequence[int] | None = None,
                unit_filter: Any = None) -> matching.ClaimIndex:
    stmt = select(ClaimText.claim_id, ClaimText.lang, ClaimText.tokens, ClaimText.embedding)
    if claim_ids is not None:
        stmt = stmt.where(ClaimText.claim_id.in_(claim_ids))
    if unit_filter is not None:
        stmt = stmt.join(Claim, Claim.id == ClaimText.claim_id).where(unit_filter)
    return matching.ClaimIndex([tuple(r) for r in session.execute(stmt.order_by(ClaimText.id))])  # type: ignore[misc]


def store_hits(session: Session, rows: Sequence[tuple[int, str, list[matching.Hit]]]) -> int:
    """Attach hits [(item id, item unit path, hits)]: new pairs are inserted, a better score updates a pair.
    Returns the number of new pairs."""
    ids = [r[0] for r in rows if r[2]]
    if not ids:
        return 0
    existing = {(m.claim_id, m.item_id): m for m in session.scalars(
        select(ClaimMatch).where(ClaimMatch.item_id.in_(ids)))}
    new = 0
    now = utcnow()
    for item_id, path, hits in rows:
        for h in hits:
            m = existing.get((h.claim_id, item_id))
            if m is None:
                m = ClaimMatch(claim_id=h.claim_id, item_id=item_id, item_unit_path=path, score=h.score,
                               method=h.method, matched_at=now)
                session.add(m)
                existing[(h.claim_id, item_id)] = m
                new += 1
            elif m.method != "manual":
                if h.method != m.method:
                    m.method = "both"
                m.score = max(m.score, h.score)
    session.flush()
    return new


def _item_rows(session: Session, stmt: Any) -> list[Any]:
    return list(session.execute(stmt))


def back_match(session: Session, claim: Claim, *, days: int = BACKMATCH_DAYS, limit: int = BACKMATCH_LIMIT) -> int:
    """Compare the recent items (collected in the last ``days``, newest first, at most ``limit``) to one claim."""
    index = claim_index(session, [claim.id])
    if not len(index):
        return 0
    since = utcnow() - dt.timedelta(days=days)
    rows = _item_rows(session, select(Item.id, Item.unit_path, Item.index_text, Item.lang, Item.embedding)
                      .where(Item.collected_at >= since, Item.enriched_at.is_not(None))
                      .order_by(Item.id.desc()).limit(limit))
    out = []
    for iid, path, toks, lang, emb in rows:
        vec = np.frombuffer(emb, dtype=np.float32) if emb is not None else None
        out.append((iid, path, index.match(toks or "", vec, lang)))
    return store_hits(session, out)


@dataclasses.dataclass
class MatchStats:
    lexical: int = 0  # items compared in the lexical lane
    semantic: int = 0  # items compared in the semantic lane
    matches: int = 0  # new (claim, item) pairs


def _cursor(session: Session, lane: str) -> ClaimMatchCursor:
    c = session.get(ClaimMatchCursor, lane)
    if c is None:
        c = ClaimMatchCursor(lane=lane, last_item_id=0)
        session.add(c)
        session.flush()
    return c


def _lane(session: Session, index: matching.ClaimIndex, lane: str, batch: int) -> tuple[int, int]:
    cur = _cursor(session, lane)
    ready = Item.enriched_at.is_not(None) if lane == "lexical" else Item.embedding.is_not(None)
    rows = _item_rows(session, select(Item.id, Item.unit_path, Item.index_text, Item.lang, Item.embedding, ready)
                      .where(Item.id > cur.last_item_id).order_by(Item.id).limit(batch))
    done = []
    for r in rows:
        if not r[5]:
            break  # wait for this item (keeps the lane in id order, nothing skipped)
        done.append(r)
    if not done:
        return 0, 0
    out = []
    if len(index):
        for iid, path, toks, lang, emb, _ok in done:
            vec = np.frombuffer(emb, dtype=np.float32) if (lane == "semantic" and emb is not None) else None
            out.append((iid, path, index.match(toks or "", vec, lang)))
    new = store_hits(session, out)
    cur.last_item_id = done[-1][0]
    cur.updated_at = utcnow()
    session.flush()
    return len(done), new


def run_matching(db, *, batch: int = JOB_BATCH, limit: int = 20_000) -> MatchStats:  # type: ignore[no-untyped-def]
    """The job: compare newly analysed items (lexical lane) and newly embedded items (semantic lane) with
    every claim in the registry. Restartable and idempotent; at most ``limit`` items per lane per run."""
    stats = MatchStats()
    with db.session() as s:
        index = claim_index(s)
    for lane in ("lexical", "semantic"):
        done = 0
        while done < limit:
            with db.session() as s:
                n, new = _lane(s, index, lane, min(batch, limit - done))
            if not n:
                break
            done += n
            stats.matches += new
            setattr(stats, lane, getattr(stats, lane) + n)
    return stats


def pending_counts(session: Session) -> dict[str, int]:
    out = {}
    for lane in ("lexical", "semantic"):
        c = session.get(ClaimMatchCursor, lane)
        out[lane] = session.scalar(select(func.count()).select_from(Item).where(
            Item.id > (c.last_item_id if c else 0))) or 0
    return out


def match_count(session: Session, claim_id: int) -> int:
    """All items attached to a claim (for the operator's CLI; UI and API count what the reader can open)."""
    return session.scalar(select(func.count()).select_from(ClaimMatch).where(ClaimMatch.claim_id == claim_id)) or 0
