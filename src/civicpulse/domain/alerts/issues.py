"""Emerging issues: online clustering of recent items on their stored embeddings.

One pass (:func:`detect`, run every minute after the enrichment lanes, and by ``civicpulse issues detect``):

0. Take the background mean (the common component of recent embeddings) out of every vector before comparing
   (:func:`background_mean`).
1. Load the items of the last 24 hours that have an embedding and belong to no issue yet (at most
   ``max_items``, oldest first). Items still waiting for their embedding are skipped; the next pass takes them.
2. Each item joins the active issue whose centroid is most similar (centred cosine ≥ ``threshold``, 0.62);
   the centroid is the running mean of the members. Otherwise it joins (or starts) a candidate group of this
   pass. Candidate groups of at least ``min_size`` items become new issues; smaller ones are dropped and their
   items are reconsidered next pass (while inside the window), so a story that grows slowly still forms.
3. Active issues whose centroids come closer than ``merge_threshold`` (0.82) are merged (the smaller into the
   larger), unless an analyst split one from the other.
4. Every active issue seen in the last two days gets its figures refreshed: counts in the 1 h / 6 h / 24 h
   windows, growth, sentiment mix, top sources, places, units, people and organisations mentioned, representative items (closest to
   the centroid), the units and saved topics it concerns, and a label from key phrases (unless renamed).

Growth is ``(n_6h + 1) / ((n_24h − n_6h) / 3 + 1)``: the last six hours against the average six hours of the
eighteen before (1 = steady, 3 = three times faster). The ranking score is
``growth × (0.5 + negative share) × log(1 + n_24h)``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections import Counter
from typing import Any

import numpy as np
import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicpulse.db.base import utcnow
from civicpulse.domain.alerts.models import Issue, IssueItem
from civicpulse.domain.listening.models import Item, SavedTopic, Source
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.queries import head_office
from civicpulse.timeutil import as_utc

log = structlog.get_logger("civicpulse.issues")

DIM = 384


@dataclasses.dataclass(frozen=True)
class DetectParams:
    threshold: float = 0.62  # cosine after removing the background mean (see background_mean)
    merge_threshold: float = 0.82
    background_items: int = 2000
    background_prior: int = 60
    min_size: int = 3
    window_hours: int = 24
    max_items: int = 3000
    keep_days: int = 7  # issues quiet for longer are closed


def _norm(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _vec(blob: bytes | None) -> np.ndarray | None:
    if blob is None:
        return None
    v = np.frombuffer(blob, dtype=np.float32)
    return v if v.shape == (DIM,) else None


def common_path(paths: list[str]) -> str:
    """The deepest unit path covering every path ("/1/4/" and "/1/5/" → "/1/")."""
    if not paths:
        return "/"
    parts = [p.strip("/").split("/") for p in paths]
    out: list[str] = []
    for segs in zip(*parts, strict=False):
        if all(s == segs[0] for s in segs):
            out.append(segs[0])
        else:
            break
    return "/" + "/".join(out) + "/" if out else "/"


def _unit_for_path(session: Session, path: str) -> Unit | None:
    ids = [int(x) for x in path.strip("/").split("/") if x]
    if not ids:
        return head_office(session)
    return session.get(Unit, ids[-1])


def background_mean(session: Session, now: dt.datetime, params: DetectParams) -> np.ndarray:
    """The mean embedding of recent items, shrunk towards zero when few items are known.

    Multilingual e5 vectors share a strong common component (two unrelated Thai posts have cosine ~0.8); taking
    the mean of the recent stream out before comparing spreads them (unrelated posts ~0, copies ~0.9, the same
    story reworded ~0.6), so one threshold separates stories. With ``n`` recent items the mean is weighted
    ``n / (n + background_prior)``, so a nearly empty database compares raw vectors."""
    t_expr = func.coalesce(Item.published_at, Item.collected_at)
    blobs = list(session.scalars(select(Item.embedding).where(
        Item.embedding.is_not(None), t_expr >= now - dt.timedelta(days=7), t_expr <= now)
        .order_by(Item.id.desc()).limit(params.background_items)))
    vecs = [v for v in (_vec(b) for b in blobs) if v is not None]
    if not vecs:
        return np.zeros(DIM, np.float32)
    n = len(vecs)
    return (np.mean(np.stack(vecs), axis=0) * (n / (n + params.background_prior))).astype(np.float32)


@dataclasses.dataclass
class _Group:
    total: np.ndarray  # sum of the centred members (for comparisons)
    raw: np.ndarray  # sum of the stored embeddings (the issue's centroid is their mean)
    members: list[tuple[int, float, dt.datetime, str]]  # item id, similarity, time, unit path

    @property
    def centroid(self) -> np.ndarray:
        return _norm(self.total / max(1, len(self.members)))


def detect(session: Session, *, now: dt.datetime | None = None, params: DetectParams = DetectParams(),
           topics: list[SavedTopic] | None = None) -> list[Issue]:
    """One clustering pass; returns the active issues with activity in the window, best ranked first."""
    now = now or utcnow()
    since = now - dt.timedelta(hours=params.window_hours)
    t_expr = func.coalesce(Item.published_at, Item.collected_at)
    assigned = select(IssueItem.item_id)
    rows = session.execute(
        select(Item.id, Item.embedding, Item.unit_path, Item.published_at, Item.collected_at)
        .where(Item.embedding.is_not(None), t_expr >= since, t_expr <= now, Item.id.not_in(assigned))
        .order_by(t_expr, Item.id).limit(params.max_items)).all()

    mu = background_mean(session, now, params)
    issues = list(session.scalars(select(Issue).where(
        Issue.status == "active", Issue.last_seen >= now - dt.timedelta(days=2))))
    cents = [(_vec(i.centroid), i) for i in issues]
    live = [(v, i) for v, i in cents if v is not None]
    mat = np.stack([_norm(v - mu) for v, _ in live]) if live else np.zeros((0, DIM), np.float32)
    sums = {i.id: v.astype(np.float64) * max(1, i.size) for v, i in live}
    touched: set[int] = set()
    groups: list[_Group] = []
    for iid, blob, upath, published, collected in rows:
        raw = _vec(blob)
        if raw is None:
            continue
        v = _norm(raw - mu)
        c_at = as_utc(collected)
        assert c_at is not None
        p_at = as_utc(published)
        t = min(p_at, c_at) if p_at is not None else c_at
        best_sim, best_idx = -1.0, -1
        if len(mat):
            sims = mat @ v
            best_idx = int(np.argmax(sims))
            best_sim = float(sims[best_idx])
        if best_sim >= params.threshold:
            issue = live[best_idx][1]
            session.add(IssueItem(item_id=iid, issue_id=issue.id, similarity=best_sim, at=t))
            sums[issue.id] += raw
            issue.size += 1
            mat[best_idx] = _norm(sums[issue.id].astype(np.float32) / issue.size - mu)
            touched.add(issue.id)
            continue
        g_best, g_sim = None, -1.0
        for g in groups:
            s = float(g.centroid @ v)
            if s > g_sim:
                g_best, g_sim = g, s
        if g_best is not None and g_sim >= params.threshold:
            g_best.total = g_best.total + v
            g_best.raw = g_best.raw + raw
            g_best.members.append((iid, g_sim, t, upath))
        else:
            groups.append(_Group(total=v.astype(np.float64), raw=raw.astype(np.float64),
                                 members=[(iid, 1.0, t, upath)]))

    for issue in issues:
        if issue.id in sums and issue.id in touched:
            issue.centroid = (sums[issue.id] / max(1, issue.size)).astype(np.float32).tobytes()
    for g in groups:
        if len(g.members) < params.min_size:
            continue
        path = common_path([m[3] for m in g.members])
        unit = _unit_for_path(session, path)
        if unit is None:
            continue
        first = min(m[2] for m in g.members)
        issue = Issue(unit_id=unit.id, unit_path=unit.path, size=len(g.members), first_seen=first, last_seen=first,
                      centroid=(g.raw / len(g.members)).astype(np.float32).tobytes(), stats={})
        session.add(issue)
        session.flush()
        for iid, sim, t, _p in g.members:
            session.add(IssueItem(item_id=iid, issue_id=issue.id, similarity=sim, at=t))
        issues.append(issue)
        touched.add(issue.id)
    session.flush()
    merge_close(session, [i for i in issues if i.status == "active"], params.merge_threshold, mu)
    if topics is None:
        topics = list(session.scalars(select(SavedTopic)))
    out = []
    for issue in issues:
        if issue.status != "active":
            continue
        refresh(session, issue, now=now, topics=topics)
        if issue.last_seen < now - dt.timedelta(days=params.keep_days):
            issue.status = "closed"
        elif issue.count_24h > 0:
            out.append(issue)
    session.flush()
    out.sort(key=lambda i: (-i.score, -i.size, i.id))
    return out


def merge_close(session: Session, issues: list[Issue], threshold: float, mu: np.ndarray | None = None) -> None:
    live = [(i, _vec(i.centroid)) for i in issues]
    live2 = [(i, _norm(v - mu if mu is not None else v.copy())) for i, v in live if v is not None]
    live2.sort(key=lambda x: -x[0].size)
    for a_idx, (a, va) in enumerate(live2):
        if a.status != "active":
            continue
        for b, vb in live2[a_idx + 1:]:
            if b.status != "active":
                continue
            if (b.stats or {}).get("split_from") == a.id or (a.stats or {}).get("split_from") == b.id:
                continue
            if float(va @ vb) >= threshold:
                absorb(session, a, b)
                log.info("issues merged", into=a.id, merged=b.id)


def absorb(session: Session, into: Issue, other: Issue) -> None:
    """Move every member of ``other`` into ``into`` (centroids weighted by size)."""
    va, vb = _vec(into.centroid), _vec(other.centroid)
    if va is not None and vb is not None:
        into.centroid = ((va * into.size + vb * other.size) / max(1, into.size + other.size)).astype(
            np.float32).tobytes()
    for m in session.scalars(select(IssueItem).where(IssueItem.issue_id == other.id)):
        m.issue_id = into.id
    into.size += other.size
    into.first_seen = min(into.first_seen, other.first_seen)
    into.last_seen = max(into.last_seen, other.last_seen)
    other.status, other.merged_into_id, other.size = "merged", into.id, 0
    session.flush()


def recompute_centroid(session: Session, issue: Issue) -> None:
    blobs = session.scalars(select(Item.embedding).join(IssueItem, IssueItem.item_id == Item.id)
                            .where(IssueItem.issue_id == issue.id, Item.embedding.is_not(None)))
    vecs = [v for v in (_vec(b) for b in blobs) if v is not None]
    issue.centroid = np.mean(np.stack(vecs), axis=0).astype(np.float32).tobytes() if vecs else None
    issue.size = session.scalar(select(func.count()).select_from(IssueItem)
                                .where(IssueItem.issue_id == issue.id)) or 0


def _topic_matchers(topics: list[SavedTopic]) -> list[tuple[SavedTopic, Any]]:
    from civicpulse.domain.listening.query import QuerySyntaxError, parse

    out = []
    for t in topics:
        try:
            out.append((t, parse(t.query)))
        except QuerySyntaxError:
            continue
    return out


def refresh(session: Session, issue: Issue, *, now: dt.datetime, topics: list[SavedTopic]) -> None:
    """Recompute an issue's figures, label, representative items and links."""
    from civicpulse.domain.listening.query import matches

    members = session.execute(
        select(IssueItem.item_id, IssueItem.at).where(IssueItem.issue_id == issue.id)
        .order_by(IssueItem.at.desc()).limit(2000)).all()
    size = session.scalar(select(func.count()).select_from(IssueItem).where(IssueItem.issue_id == issue.id)) or 0
    issue.size = size
    if not members:
        issue.count_1h = issue.count_6h = issue.count_24h = 0
        issue.growth = issue.score = 0.0
        return
    times = [as_utc(t) for _i, t in members]
    ts = [t for t in times if t is not None]
    issue.last_seen = max(ts)
    issue.first_seen = min(min(ts), as_utc(issue.first_seen) or min(ts))
    c1 = sum(1 for t in ts if now - dt.timedelta(hours=1) <= t <= now)
    c6 = sum(1 for t in ts if now - dt.timedelta(hours=6) <= t <= now)
    c24 = sum(1 for t in ts if now - dt.timedelta(hours=24) <= t <= now)
    issue.count_1h, issue.count_6h, issue.count_24h = c1, c6, c24
    issue.growth = round((c6 + 1) / ((c24 - c6) / 3 + 1), 3)
    start = (now - dt.timedelta(hours=47)).replace(minute=0, second=0, microsecond=0)
    timeline = [0] * 48
    for t in ts:
        k = int((t - start).total_seconds() // 3600)
        if 0 <= k < 48:
            timeline[k] += 1

    recent_ids = [i for i, _t in members[:300]]
    items = list(session.scalars(select(Item).where(Item.id.in_(recent_ids))))
    sentiment = Counter(it.sentiment or "unknown" for it in items)
    labelled = sum(v for k, v in sentiment.items() if k != "unknown")
    issue.negative_share = round(sentiment.get("neg", 0) / labelled, 3) if labelled else 0.0
    issue.score = round(issue.growth * (0.5 + issue.negative_share) * math.log1p(c24), 4)
    source_names = dict(session.execute(select(Source.id, Source.name).where(
        Source.id.in_({it.source_id for it in items}))).all())
    sources = Counter(source_names.get(it.source_id, str(it.source_id)) for it in items)
    places: Counter[str] = Counter()
    unit_codes: Counter[str] = Counter()
    names: Counter[str] = Counter()  # people and organisations
    for it in items:
        seen: set[str] = set()
        for e in it.entities or []:
            eid = str(e.get("id") or "")
            if eid in seen:
                continue
            seen.add(eid)
            if e.get("type") == "province":
                places[str(e.get("current_name") or e.get("name") or e.get("text"))] += 1
            elif eid.startswith("unit:"):
                unit_codes[eid[5:]] += 1
            elif e.get("type") in ("person", "org"):
                names[str(e.get("name") or e.get("text"))] += 1
    # representative items: closest to the centroid
    cen = _vec(issue.centroid)
    reps: list[int] = []
    if cen is not None:
        c = _norm(cen.copy())
        scored = sorted(((float(_norm(v.copy()) @ c), it.id) for it in items
                         if (v := _vec(it.embedding)) is not None), reverse=True)
        reps = [i for _s, i in scored[:5]]
    issue.representative_ids = reps or recent_ids[:5]
    if not issue.label_locked:
        issue.label = _label(items)[:300] or issue.label or f"#{issue.id}"
    linked: set[int] = set()
    if unit_codes:
        linked |= set(session.scalars(select(Unit.id).where(Unit.code.in_(list(unit_codes)))))
    topic_ids: list[int] = []
    sample = items[:50]
    for topic, node in _topic_matchers(topics):
        hits = sum(1 for it in sample if matches(node, {"text": it.text, "tokens": it.index_text or None,
                                                         "lang": it.lang, "sentiment": it.sentiment,
                                                         "author": it.author_handle,
                                                         "published_at": it.published_at,
                                                         "entities": it.entities}))
        if sample and hits >= max(2, math.ceil(0.3 * len(sample))):
            topic_ids.append(topic.id)
            linked.add(topic.unit_id)
    issue.topic_ids = sorted(topic_ids)
    issue.linked_unit_ids = sorted(linked)
    issue.stats = {**(issue.stats or {}),
                   "sentiment": dict(sentiment), "sources": sources.most_common(5), "places": places.most_common(5),
                   "units": unit_codes.most_common(5), "names": names.most_common(5),
                   "timeline_start": start.isoformat(), "timeline": timeline}


def _label(items: list[Item]) -> str:
    from civicpulse.nlp.keyphrases import topic_label

    token_lists = [(it.index_text or "").split() for it in items[:200] if it.index_text]
    phrases = topic_label(token_lists, k=3) if token_lists else []
    if not phrases:
        counter = Counter(p for it in items for p in (it.keyphrases or [])[:3])
        phrases = [p for p, _n in counter.most_common(3)]
    if phrases:
        return " · ".join(phrases)
    first = items[0] if items else None
    return (first.title or first.text[:80]) if first else ""
