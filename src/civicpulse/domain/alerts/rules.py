"""Evaluation of one alert rule: read the recent data of the rule's unit (and the units below it) and return
:class:`Finding` objects. Pure reads; :mod:`civicpulse.domain.alerts.services` turns findings into alerts.

Kinds and their event keys (one open alert per unit and key, updated while the event goes on):

* ``volume_spike``: the unit's items (or a saved topic's matches) in the last ``window_hours`` against the
  seasonal Poisson baseline of the ``history_days`` before (see :mod:`civicpulse.domain.alerts.stats`).
  Key ``spike:unit`` or ``spike:topic:<id>``.
* ``issue_spike``: an emerging issue concerning the unit grows: its last hour against its own previous 23 hours
  (Poisson tail). Key ``issue:<id>``.
* ``negative_surge`` / ``toxicity_surge``: the share of negative (offensive or hateful) items in the window
  against the share in the history (binomial tail). Keys ``negative`` / ``toxicity``.
* ``viral_spread``: a near-duplicate cluster copied ``min_copies`` times from ``min_sources`` sources in the
  window, or a registered claim matched ``min_matches`` times. Keys ``viral:cluster:<id>`` / ``viral:claim:<id>``.
* ``high_reach``: an author with at least ``min_followers`` followers mentions the unit by name.
  Key ``reach:<author>``.
* ``claim_match``: items matching a claim of the registry. Key ``claim:<id>``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicpulse.domain.alerts import stats
from civicpulse.domain.alerts.models import AlertRule, Issue
from civicpulse.domain.alerts.schemas import Finding
from civicpulse.domain.listening.models import Item, SavedTopic
from civicpulse.domain.org.models import Unit
from civicpulse.timeutil import as_utc

log = structlog.get_logger("civicpulse.alerts")

PARAMS: dict[str, tuple[str, ...]] = {
    "volume_spike": ("alpha", "min_count", "min_ratio", "window_hours", "history_days", "min_rate", "prior_weight",
                     "cooldown_hours"),
    "issue_spike": ("alpha", "min_count", "min_ratio", "min_rate", "cooldown_hours"),
    "negative_surge": ("alpha", "min_items", "min_increase", "window_hours", "history_days", "cooldown_hours"),
    "toxicity_surge": ("alpha", "min_items", "min_increase", "window_hours", "history_days", "cooldown_hours"),
    "viral_spread": ("min_copies", "min_sources", "min_matches", "window_hours", "cooldown_hours"),
    "high_reach": ("min_followers", "window_hours", "cooldown_hours"),
    "claim_match": ("min_score", "min_matches", "window_hours", "cooldown_hours"),
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "volume_spike": {"alpha": 1e-3, "min_count": 5, "min_ratio": 2.0, "window_hours": 1, "history_days": 28,
                     "min_rate": 0.2, "prior_weight": 1.0, "cooldown_hours": 6},
    "issue_spike": {"alpha": 1e-3, "min_count": 5, "min_ratio": 3.0, "min_rate": 0.2, "cooldown_hours": 6},
    "negative_surge": {"alpha": 1e-3, "min_items": 10, "min_increase": 0.15, "window_hours": 6, "history_days": 28,
                       "cooldown_hours": 12},
    "toxicity_surge": {"alpha": 1e-3, "min_items": 10, "min_increase": 0.10, "window_hours": 6, "history_days": 28,
                       "cooldown_hours": 12},
    "viral_spread": {"min_copies": 10, "min_sources": 2, "min_matches": 5, "window_hours": 6, "cooldown_hours": 24},
    "high_reach": {"min_followers": 100_000, "window_hours": 6, "cooldown_hours": 24},
    "claim_match": {"min_score": 0.0, "min_matches": 1, "window_hours": 24, "cooldown_hours": 24},
}
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
TOXIC = ("offensive", "hate")
FALSE_STATUSES = ("false", "misleading")  # claim verdicts that make a match an alert


def effective(rule: AlertRule) -> dict[str, Any]:
    return {**DEFAULTS[rule.kind], **(rule.params or {})}


def _zone(unit: Unit) -> ZoneInfo:
    try:
        return ZoneInfo(unit.timezone or "Asia/Bangkok")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _subtree(path: str) -> Any:
    return Item.unit_path.startswith(path, autoescape=True)


T_EXPR = func.coalesce(Item.published_at, Item.collected_at)


def _times(session: Session, unit: Unit, since: dt.datetime, now: dt.datetime,
           topic: SavedTopic | None) -> list[tuple[int, dt.datetime]]:
    """(item id, time) of the unit's items (or the topic's matches) between ``since`` and ``now``."""
    rows: list[tuple[int, dt.datetime | None, dt.datetime | None]]
    if topic is None:
        rows = [(r[0], r[1], r[2]) for r in session.execute(
            select(Item.id, Item.published_at, Item.collected_at)
            .where(_subtree(unit.path), T_EXPR >= since, T_EXPR <= now))]
    else:
        from civicpulse.domain.listening import queries as listening
        from civicpulse.domain.org.permissions import Actor

        rows = listening.query_match_times(session, Actor.system_actor("alerts"), topic.query,
                                           unit_path=unit.path, since=since, until=now)
    out = []
    for iid, pub, col in rows:
        c, p = as_utc(col), as_utc(pub)
        t = min(p, c) if p and c else (p or c)
        if t is not None:
            out.append((int(iid), t))
    return out


def volume_spike(session: Session, rule: AlertRule, now: dt.datetime) -> list[Finding]:
    p = effective(rule)
    unit = rule.unit
    topic = session.get(SavedTopic, rule.topic_id) if rule.topic_id else None
    if rule.topic_id and topic is None:
        return []
    w, hist_h = int(p["window_hours"]), int(p["history_days"]) * 24
    win_start = now - dt.timedelta(hours=w)
    hist_start = win_start - dt.timedelta(hours=hist_h)
    rows = _times(session, unit, hist_start, now, topic)
    hist_counts = stats.hourly_counts([t for _i, t in rows if t < win_start], hist_start, hist_h)
    window_counts = [0] * w
    for _i, t in rows:
        if t >= win_start:  # the item at exactly "now" belongs to the last hour of the window
            window_counts[min(w - 1, int((t - win_start).total_seconds() // 3600))] += 1
    zone = _zone(unit)
    sp = stats.SpikeParams(alpha=p["alpha"], min_count=p["min_count"], min_ratio=p["min_ratio"], window_hours=w,
                           history_days=p["history_days"], min_rate=p["min_rate"], prior_weight=p["prior_weight"])
    r = stats.spike_test(hist_counts, window_counts, hist_start.astimezone(zone), sp)
    if not r.spike or r.severity is None:
        return []
    base = stats.seasonal_baseline(hist_counts, hist_start.astimezone(zone), sp.prior_weight)
    series_start = now - dt.timedelta(hours=48)
    series = stats.hourly_counts([t for _i, t in rows], series_start, 48)
    expected = [round(base.rate((series_start + dt.timedelta(hours=i)).astimezone(zone), sp.min_rate), 3)
                for i in range(48)]
    recent = sorted(((t, i) for i, t in rows if t >= win_start), reverse=True)
    what = topic.name if topic else unit.name(unit.default_language)
    key = f"spike:topic:{topic.id}" if topic else "spike:unit"
    return [Finding(
        key=key, kind="volume_spike", severity=r.severity,  # type: ignore[arg-type]
        label=f"Volume spike: {what}",
        summary=(f"{r.observed} items in the last {w} h, {r.ratio:.1f}× the expected {r.expected:.1f} for this hour "
                 f"and weekday (p = {r.p_value:.2g})"),
        score=-math.log10(max(r.p_value, 1e-300)),
        evidence={"statistic": "seasonal Poisson tail", "observed": r.observed, "expected": round(r.expected, 3),
                  "ratio": round(r.ratio, 2), "p_value": r.p_value, "window_hours": w,
                  "series": {"start": series_start.isoformat(), "step": "1h", "observed": series,
                             "expected": expected}, "topic_id": topic.id if topic else None},
        item_ids=[i for _t, i in recent[:50]], event_at=win_start)]


def issue_spike(session: Session, rule: AlertRule, now: dt.datetime) -> list[Finding]:
    p = effective(rule)
    unit = rule.unit
    out: list[Finding] = []
    issues = session.scalars(select(Issue).where(Issue.status == "active",
                                                 Issue.last_seen >= now - dt.timedelta(hours=2)))
    for issue in issues:
        if issue.unit_id != unit.id and unit.id not in (issue.linked_unit_ids or []):
            continue
        c1, c24 = issue.count_1h, issue.count_24h
        expected = max(float(p["min_rate"]), (c24 - c1) / 23.0)
        pv = stats.poisson_sf(c1, expected)
        ratio = c1 / expected
        if not (pv < p["alpha"] and c1 >= p["min_count"] and ratio >= p["min_ratio"]):
            continue
        sev = stats.severity_for(ratio, pv)
        if issue.negative_share >= 0.6 and sev in ("low", "medium"):
            sev = SEVERITIES_UP[sev]
        timeline = (issue.stats or {}).get("timeline", [])
        out.append(Finding(
            key=f"issue:{issue.id}", kind="issue_spike", severity=sev,  # type: ignore[arg-type]
            label=f"Emerging issue: {issue.label}"[:300],
            summary=(f"{c1} items in the last hour ({ratio:.1f}× its rate over the day before), "
                     f"{issue.count_24h} in 24 h, {round(issue.negative_share * 100)}% negative"),
            score=-math.log10(max(pv, 1e-300)),
            evidence={"statistic": "Poisson tail against the issue's own previous 23 hours", "observed": c1,
                      "expected": round(expected, 3), "ratio": round(ratio, 2), "p_value": pv,
                      "growth": issue.growth, "negative_share": issue.negative_share,
                      "series": {"start": (issue.stats or {}).get("timeline_start"), "step": "1h",
                                 "observed": timeline}},
            item_ids=list(issue.representative_ids or []), event_at=issue.first_seen, issue_id=issue.id))
    return out


SEVERITIES_UP = {"low": "medium", "medium": "high", "high": "critical", "critical": "critical"}


def _share(session: Session, rule: AlertRule, now: dt.datetime, toxic: bool) -> list[Finding]:
    p = effective(rule)
    unit = rule.unit
    w = int(p["window_hours"])
    win_start = now - dt.timedelta(hours=w)
    hist_start = win_start - dt.timedelta(days=int(p["history_days"]))
    col = Item.toxicity if toxic else Item.sentiment
    hit = col.in_(TOXIC) if toxic else col == "neg"

    def counts(a: dt.datetime, b: dt.datetime) -> tuple[int, int]:
        row = session.execute(select(func.count(), func.count().filter(hit)).where(
            _subtree(unit.path), col.is_not(None), T_EXPR >= a, T_EXPR < b)).one()
        return int(row[1] or 0), int(row[0] or 0)

    k, n = counts(win_start, now + dt.timedelta(seconds=1))
    bk, bn = counts(hist_start, win_start)
    sp = stats.ShareParams(alpha=p["alpha"], min_items=p["min_items"], min_increase=p["min_increase"],
                           window_hours=w, history_days=p["history_days"])
    r = stats.share_test(k, n, bk, bn, sp)
    if not r.surge or r.severity is None:
        return []
    series_start = now - dt.timedelta(hours=48)
    rows = session.execute(select(Item.id, Item.published_at, Item.collected_at, col).where(
        _subtree(unit.path), col.is_not(None), T_EXPR >= series_start)).all()
    tot, hits = [0] * 48, [0] * 48
    ids: list[tuple[dt.datetime, int]] = []
    for iid, pub, colat, label in rows:
        c, pu = as_utc(colat), as_utc(pub)
        t = min(pu, c) if pu and c else (pu or c)
        if t is None:
            continue
        i = int((t - series_start).total_seconds() // 3600)
        is_hit = label in TOXIC if toxic else label == "neg"
        if 0 <= i < 48:
            tot[i] += 1
            hits[i] += int(is_hit)
        if is_hit and t >= win_start:
            ids.append((t, int(iid)))
    share_series = [round(h / t, 3) if t else None for h, t in zip(hits, tot, strict=True)]
    what = "Toxicity surge" if toxic else "Negative-share surge"
    return [Finding(
        key="toxicity" if toxic else "negative", kind="toxicity_surge" if toxic else "negative_surge",
        severity=r.severity,  # type: ignore[arg-type]
        label=f"{what}: {unit.name(unit.default_language)}",
        summary=(f"{round(r.share * 100)}% of {n} items in the last {w} h "
                 f"({'offensive or hateful' if toxic else 'negative'}), usually {round(r.baseline * 100)}% "
                 f"(p = {r.p_value:.2g})"),
        score=-math.log10(max(r.p_value, 1e-300)),
        evidence={"statistic": "binomial tail against the baseline share", "hits": k, "total": n,
                  "share": round(r.share, 3), "baseline_share": round(r.baseline, 3), "p_value": r.p_value,
                  "series": {"start": series_start.isoformat(), "step": "1h", "share": share_series,
                             "observed": tot}},
        item_ids=[i for _t, i in sorted(ids, reverse=True)[:50]], event_at=win_start)]


def negative_surge(session: Session, rule: AlertRule, now: dt.datetime) -> list[Finding]:
    return _share(session, rule, now, toxic=False)


def toxicity_surge(session: Session, rule: AlertRule, now: dt.datetime) -> list[Finding]:
    return _share(session, rule, now, toxic=True)


@dataclasses.dataclass(frozen=True)
class ClaimHit:
    claim_id: int
    claim_unit_id: int | None
    claim_status: str
    item_id: int
    score: float


def _claim_rows(session: Session, since: dt.datetime, unit_path: str) -> list[ClaimHit]:
    """Matches of registered claims on items of the unit's subtree since ``since``, from the claim registry."""
    from civicpulse.domain.alerts.claims import queries as claims

    return [ClaimHit(int(r.claim_id), r.claim_unit_id, str(r.claim_status or ""), int(r.item_id), float(r.score))
            for r in claims.recent_matches(session, since=since, unit_path=unit_path)]


def _claim_title(session: Session, claim_id: int) -> str:
    from civicpulse.domain.alerts.claims.models import Claim

    c = session.get(Claim, claim_id)
    return (c.title if c is not None else "")[:160]


def viral_spread(session: Session, rule: AlertRule, now: dt.datetime) -> list[Finding]:
    p = effective(rule)
    unit = rule.unit
    w = int(p["window_hours"])
    since = now - dt.timedelta(hours=w)
    out: list[Finding] = []
    rows = session.execute(
        select(Item.dup_cluster_id, func.count(), func.count(func.distinct(Item.source_id)), func.min(T_EXPR))
        .where(_subtree(unit.path), Item.dup_cluster_id.is_not(None), T_EXPR >= since, T_EXPR <= now)
        .group_by(Item.dup_cluster_id)
        .having(func.count() >= p["min_copies"])).all()
    for cid, n, n_sources, first in rows:
        if n_sources < p["min_sources"]:
            continue
        items = session.execute(select(Item.id, Item.text, T_EXPR).where(
            Item.dup_cluster_id == cid, _subtree(unit.path), T_EXPR >= since).order_by(T_EXPR)).all()
        series_start = since
        series = stats.hourly_counts([t for _i, _x, t in ((a, b, as_utc(c)) for a, b, c in items) if t],
                                     series_start, w + 1)
        sev = "critical" if n >= 10 * p["min_copies"] else "high" if n >= 3 * p["min_copies"] else "medium"
        out.append(Finding(
            key=f"viral:cluster:{cid}", kind="viral_spread", severity=sev,  # type: ignore[arg-type]
            label=f"Viral copies: {(items[0][1] if items else '')[:120]}",
            summary=f"{n} near-identical copies from {n_sources} sources in the last {w} h",
            score=float(n),
            evidence={"statistic": "near-duplicate copies in the window", "copies": n, "sources": n_sources,
                      "cluster_id": cid, "series": {"start": series_start.isoformat(), "step": "1h",
                                                    "observed": series}},
            item_ids=[int(i) for i, _x, _t in items[-50:]], event_at=as_utc(first)))
    by_claim: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for h in _claim_rows(session, since, unit.path):
        if h.claim_status != "true":  # a true claim spreading is no rumour
            by_claim[h.claim_id].append((h.item_id, h.score))
    for cid, hits in by_claim.items():
        if len(hits) < p["min_matches"]:
            continue
        n = len(hits)
        sev = "critical" if n >= 10 * p["min_matches"] else "high"
        out.append(Finding(
            key=f"viral:claim:{cid}", kind="viral_spread", severity=sev,  # type: ignore[arg-type]
            label=f"Claim spreading: {_claim_title(session, cid)}"[:300],
            summary=f"{n} items matched claim #{cid} in the last {w} h",
            score=float(n), evidence={"statistic": "claim matches in the window", "matches": n, "claim_id": cid},
            item_ids=[i for i, _s in hits[-50:]], event_at=since))
    return out


def high_reach(session: Session, rule: AlertRule, now: dt.datetime) -> list[Finding]:
    p = effective(rule)
    unit = rule.unit
    since = now - dt.timedelta(hours=int(p["window_hours"]))
    rows = session.scalars(select(Item).where(Item.author_followers >= p["min_followers"], T_EXPR >= since,
                                              T_EXPR <= now, Item.entities.is_not(None)))
    wanted = f"unit:{unit.code}"
    by_author: dict[str, list[Item]] = defaultdict(list)
    for it in rows:
        if any(str(e.get("id")) == wanted for e in (it.entities or [])):
            by_author[it.author_handle or it.author_name or "?"].append(it)
    out = []
    for author, items in by_author.items():
        followers = max(it.author_followers or 0 for it in items)
        sev = "high" if followers >= 10 * p["min_followers"] else "medium"
        out.append(Finding(
            key=f"reach:{author}"[:200], kind="high_reach", severity=sev,  # type: ignore[arg-type]
            label=f"High-reach mention by {author}"[:300],
            summary=f"{author} ({followers:,} followers) mentioned {unit.name(unit.default_language)} "
                    f"{len(items)} time(s)",
            score=math.log10(max(1, followers)),
            evidence={"statistic": "author reach", "followers": followers, "author": author,
                      "mentions": len(items)},
            item_ids=[it.id for it in items][:50], event_at=min(as_utc(it.published_at or it.collected_at)
                                                                 for it in items)))  # type: ignore[type-var]
    return out


def claim_match(session: Session, rule: AlertRule, now: dt.datetime) -> list[Finding]:
    p = effective(rule)
    unit = rule.unit
    since = now - dt.timedelta(hours=int(p["window_hours"]))
    by_claim: dict[int, list[tuple[int, float]]] = defaultdict(list)
    units: dict[int, Any] = {}
    for h in _claim_rows(session, since, unit.path):
        if h.score >= p["min_score"] and h.claim_status in FALSE_STATUSES:
            by_claim[h.claim_id].append((h.item_id, h.score))
            units[h.claim_id] = h.claim_unit_id
    out = []
    for cid, hits in by_claim.items():
        if len(hits) < p["min_matches"]:
            continue
        best = max(s for _i, s in hits)
        out.append(Finding(
            key=f"claim:{cid}", kind="claim_match", severity="high" if len(hits) >= 5 else "medium",
            label=f"Known false claim: {_claim_title(session, cid)}"[:300],
            summary=f"{len(hits)} item(s) match claim #{cid} (best score {best:.2f}); answer with the correction",
            score=best, evidence={"statistic": "claim registry matches", "claim_id": cid, "claim_unit": units[cid],
                                  "matches": len(hits), "best_score": best},
            item_ids=[i for i, _s in sorted(hits, key=lambda x: -x[1])][:50], event_at=since))
    return out


EVALUATORS = {
    "volume_spike": volume_spike,
    "issue_spike": issue_spike,
    "negative_surge": negative_surge,
    "toxicity_surge": toxicity_surge,
    "viral_spread": viral_spread,
    "high_reach": high_reach,
    "claim_match": claim_match,
}


def evaluate(session: Session, rule: AlertRule, now: dt.datetime) -> list[Finding]:
    return EVALUATORS[rule.kind](session, rule, now)
