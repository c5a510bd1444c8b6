"""Reads of the plans area, always limited to what the actor may see.

Listening data (saved topics, items, counts) is read only through :mod:`civicpulse.domain.listening.queries`,
with the actor's own visibility: a KPI or an insight never counts items the reader could not open.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicpulse.domain.errors import NotFound, ValidationFailed
from civicpulse.domain.listening import queries as listening
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.org.queries import Page, paginate
from civicpulse.domain.plans.models import Plan, PlanComment, PlanNotification, PlanVersion
from civicpulse.domain.plans.schemas import Change, Sections
from civicpulse.domain.plans.services import plan_for


def plans(session: Session, actor: Actor, *, unit_id: int | None = None, subtree: bool = True,
          status: str | None = None, q: str | None = None, crisis: bool | None = None, page: int = 1,
          per_page: int = 50) -> Page[Plan]:
    stmt = (select(Plan).join(Unit, Unit.id == Plan.unit_id).where(actor.visible_filter(Unit.path))
            .order_by(Plan.crisis_active.desc(), Plan.updated_at.desc(), Plan.id.desc()))
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        if unit is None or not actor.can_see(unit):
            raise NotFound(f"Unit {unit_id} was not found")
        stmt = stmt.where(Unit.path.startswith(unit.path, autoescape=True) if subtree else Plan.unit_id == unit_id)
    if status:
        stmt = stmt.where(Plan.status == status)
    if crisis is not None:
        stmt = stmt.where(Plan.crisis_active.is_(crisis))
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(func.lower(Plan.title).like(like) | func.lower(Plan.policy).like(like))
    return paginate(session, stmt, page, per_page)


def plan(session: Session, actor: Actor, plan_id: int) -> Plan:
    return plan_for(session, actor, plan_id, "plan.read")


def sections(p: Plan) -> Sections:
    return Sections.model_validate(p.sections or {})


def versions(session: Session, actor: Actor, plan_id: int) -> list[PlanVersion]:
    p = plan(session, actor, plan_id)
    return list(session.scalars(select(PlanVersion).where(PlanVersion.plan_id == p.id)
                                .order_by(PlanVersion.number.desc())))


def version(session: Session, actor: Actor, plan_id: int, number: int) -> PlanVersion:
    p = plan(session, actor, plan_id)
    v = session.scalar(select(PlanVersion).where(PlanVersion.plan_id == p.id, PlanVersion.number == number))
    if v is None:
        raise NotFound(f"Plan {plan_id} has no version {number}")
    return v


def comments(session: Session, actor: Actor, plan_id: int, *, section: str | None = None) -> list[PlanComment]:
    p = plan(session, actor, plan_id)
    stmt = select(PlanComment).where(PlanComment.plan_id == p.id)
    if section:
        stmt = stmt.where(PlanComment.section == section)
    return list(session.scalars(stmt.order_by(PlanComment.at, PlanComment.id)))


def copies(session: Session, actor: Actor, p: Plan) -> list[Plan]:
    return list(session.scalars(select(Plan).join(Unit, Unit.id == Plan.unit_id)
                                .where(Plan.copied_from_id == p.id, actor.visible_filter(Unit.path))
                                .order_by(Plan.id)))


def notifications(session: Session, actor: Actor, *, unit_id: int | None = None, unread: bool = False,
                  limit: int = 50) -> list[PlanNotification]:
    stmt = (select(PlanNotification).join(Unit, Unit.id == PlanNotification.unit_id)
            .where(actor.visible_filter(Unit.path)).order_by(PlanNotification.at.desc(), PlanNotification.id.desc()))
    if unit_id is not None:
        stmt = stmt.where(PlanNotification.unit_id == unit_id)
    if unread:
        stmt = stmt.where(PlanNotification.read_at.is_(None))
    return list(session.scalars(stmt.limit(max(1, min(limit, 500)))))


def units_for_copy(session: Session, actor: Actor, p: Plan) -> list[Unit]:
    """Units strictly below the plan's unit where the actor may create plans."""
    rows = session.scalars(select(Unit).where(Unit.path.startswith(p.unit.path, autoescape=True), Unit.id != p.unit_id,
                                              actor.visible_filter(Unit.path)).order_by(Unit.path))
    return [u for u in rows if actor.can("plan.edit", u)]


def unit_names(session: Session, ids: set[int], lang: str = "en") -> dict[int, str]:
    if not ids:
        return {}
    return {u.id: u.name(lang) for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))}


def organisation_header(p: Plan, lang: str = "en") -> list[str]:
    """The unit and the units above it, top first: the letterhead of an export."""
    chain: list[str] = []
    u: Unit | None = p.unit
    while u is not None:
        chain.append(u.name(lang))
        u = u.parent
    return list(reversed(chain))


# ------------------------------------------------------------------ version diff


SCALARS = ("title", "policy", "summary", "language", "status", "start_date", "end_date", "crisis_active",
           "crisis_phase")
LISTS = ("objectives", "audiences", "messages", "forbidden", "faq", "tactics", "kpis", "risks")


def item_label(x: dict[str, Any]) -> str:
    for key in ("statement", "name", "phrase", "description"):
        if x.get(key):
            return str(x[key])[:80]
    for key in ("text", "question"):
        t = x.get(key) or {}
        if isinstance(t, dict):
            v = t.get("en") or t.get("vi") or t.get("th")
            if v:
                return str(v)[:80]
    return str(x.get("id"))


def _diff_list(section: str, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[Change]:
    out: list[Change] = []
    before = {x.get("id"): x for x in a}
    after = {x.get("id"): x for x in b}
    for iid, x in after.items():
        if iid not in before:
            out.append(Change(section=section, kind="added", item=iid, label=item_label(x), after=x))
            continue
        old = before[iid]
        for field in dict.fromkeys([*old.keys(), *x.keys()]):
            if old.get(field) != x.get(field):
                out.append(Change(section=section, kind="changed", item=iid, label=item_label(x), field=field,
                                  before=old.get(field), after=x.get(field)))
    for iid, x in before.items():
        if iid not in after:
            out.append(Change(section=section, kind="removed", item=iid, label=item_label(x), before=x))
    return out


def diff_snapshots(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    out: list[Change] = []
    for field in SCALARS:
        if a.get(field) != b.get(field):
            out.append(Change(section="plan", kind="changed", field=field, before=a.get(field), after=b.get(field)))
    sa, sb = a.get("sections") or {}, b.get("sections") or {}
    for name in LISTS:
        out += _diff_list(name, sa.get(name) or [], sb.get(name) or [])
    ca, cb = sa.get("crisis") or {}, sb.get("crisis") or {}
    for field in ("scenario", "approval_shortcut"):
        if ca.get(field) != cb.get(field):
            out.append(Change(section="crisis", kind="changed", field=field, before=ca.get(field),
                              after=cb.get(field)))
    for name in ("holding_statements", "contacts"):
        out += _diff_list(f"crisis.{name}", ca.get(name) or [], cb.get(name) or [])
    ka = (sa.get("checklist") or {}).get("scores") or {}
    kb = (sb.get("checklist") or {}).get("scores") or {}
    for p in dict.fromkeys([*ka, *kb]):
        if ka.get(p) != kb.get(p):
            out.append(Change(section="checklist", kind="changed", field=p, before=ka.get(p), after=kb.get(p)))
    return out


def diff(session: Session, actor: Actor, plan_id: int, a: int, b: int) -> tuple[list[Change], str]:
    """What changed from version ``a`` to version ``b``: structured changes and a unified text diff."""
    from civicpulse.domain.plans.export import snapshot_markdown

    if a == b:
        raise ValidationFailed("Pick two different versions to compare")
    va, vb = version(session, actor, plan_id, a), version(session, actor, plan_id, b)
    text = "\n".join(difflib.unified_diff(snapshot_markdown(va.snapshot).splitlines(),
                                          snapshot_markdown(vb.snapshot).splitlines(),
                                          f"version {a}", f"version {b}", lineterm=""))
    return diff_snapshots(va.snapshot, vb.snapshot), text


# ------------------------------------------------------------------ listening: audience insight and KPIs


class _Counts:
    """Counts of a saved topic's matches in date windows, through listening.queries.search (cached)."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session, self.actor = session, actor
        self._cache: dict[tuple[Any, ...], int] = {}
        self._topics: dict[int, Any] = {}

    def topic(self, tid: int) -> Any | None:
        if tid not in self._topics:
            try:
                self._topics[tid] = listening.topic(self.session, self.actor, tid)
            except NotFound:
                self._topics[tid] = None
        return self._topics[tid]

    def count(self, tid: int, since: dt.datetime, until: dt.datetime, sentiment: str | None = None) -> int:
        key = (tid, since, until, sentiment)
        if key not in self._cache:
            t = self.topic(tid)
            if t is None:
                self._cache[key] = 0
            else:
                try:
                    r = listening.search(self.session, self.actor, t.query,
                                         listening.SearchFilters(since=since, until=until, sentiment=sentiment),
                                         limit=1, count=True)
                    self._cache[key] = r.total
                except ValidationFailed:
                    self._cache[key] = 0
        return self._cache[key]


def _at(d: dt.date) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)


@dataclasses.dataclass
class TopicInsight:
    id: int
    name: str
    query: str
    total: int
    mix: dict[str, int]
    concerns: list[tuple[str, int]]
    quotes: list[dict[str, Any]]


@dataclasses.dataclass
class AudienceInsight:
    id: str
    name: str
    description: str
    notes: str
    topics: list[TopicInsight]
    missing_topics: list[int]
    evidence: list[dict[str, Any]]


def today_utc() -> dt.date:
    """Today in UTC: where insight and KPI windows end unless a caller gives a day (one place to pin it)."""
    return dt.datetime.now(dt.UTC).date()


def insight(session: Session, actor: Actor, p: Plan, *, days: int = 30,
            today: dt.date | None = None) -> list[AudienceInsight]:
    """What each audience currently says: linked topics' volume, sentiment mix, top concerns, pinned evidence."""
    today = today or today_utc()
    until = _at(today + dt.timedelta(days=1))
    since = until - dt.timedelta(days=days)
    counts = _Counts(session, actor)
    out = []
    for a in sections(p).audiences:
        topics, missing = [], []
        for tid in a.topic_ids:
            t = counts.topic(tid)
            if t is None:
                missing.append(tid)
                continue
            mix = {s: counts.count(tid, since, until, s) for s in ("neg", "q", "neu", "pos")}
            total = counts.count(tid, since, until)
            concerns: Counter[str] = Counter()
            quotes = []
            for sentiment in ("neg", "q"):
                try:
                    res = listening.search(session, actor, t.query,
                                           listening.SearchFilters(since=since, until=until, sentiment=sentiment),
                                           limit=40, count=False)
                except ValidationFailed:
                    continue
                for h in res.hits:
                    concerns.update(k.lower() for k in (h.item.keyphrases or [])[:5])
                for h in res.hits[:2]:
                    quotes.append({"id": h.item.id, "text": h.item.text[:280], "sentiment": sentiment,
                                   "url": h.item.url, "published_at": h.item.published_at})
            out_t = TopicInsight(id=t.id, name=t.name, query=t.query, total=total, mix=mix,
                                 concerns=concerns.most_common(8), quotes=quotes)
            topics.append(out_t)
        evidence = []
        for iid in a.evidence_item_ids:
            try:
                it = listening.item(session, actor, iid)
            except NotFound:
                continue
            evidence.append({"id": it.id, "text": it.text[:400], "url": it.url, "sentiment": it.sentiment,
                             "published_at": it.published_at, "author": it.author_name or it.author_handle})
        out.append(AudienceInsight(id=a.id or "", name=a.name, description=a.description, notes=a.notes,
                                   topics=topics, missing_topics=missing, evidence=evidence))
    return out


@dataclasses.dataclass
class KpiPoint:
    start: dt.date
    end: dt.date  # exclusive
    value: float | None
    detail: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class KpiResult:
    id: str
    name: str
    level: str
    metric: str
    unit_label: str
    computed: bool
    baseline: float | None
    baseline_computed: bool
    target: float | None
    direction: str
    points: list[KpiPoint]
    latest: float | None
    status: str  # met | on_track | off_track | no_target | no_data
    progress: float | None  # 0..100 from baseline to target


def _metric(counts: _Counts, metric: str, tids: list[int], since: dt.datetime,
            until: dt.datetime) -> tuple[float | None, dict[str, int]]:
    total = sum(counts.count(t, since, until) for t in tids)
    detail = {"total": total}
    if metric == "mention_volume":
        return float(total), detail
    if metric == "questions":
        n = sum(counts.count(t, since, until, "q") for t in tids)
        return float(n), {**detail, "q": n}
    if metric == "concern_volume":
        neg = sum(counts.count(t, since, until, "neg") for t in tids)
        q = sum(counts.count(t, since, until, "q") for t in tids)
        return float(neg + q), {**detail, "neg": neg, "q": q}
    label = "neg" if metric == "negative_share" else "pos"
    n = sum(counts.count(t, since, until, label) for t in tids)
    detail[label] = n
    return (round(100.0 * n / total, 1) if total else None), detail


def kpis(session: Session, actor: Actor, p: Plan, *, periods: int = 8, period_days: int = 7,
         today: dt.date | None = None) -> list[KpiResult]:
    """Every KPI against its target over time. Listening KPIs are computed per period (weeks by default) for
    the linked saved topics; their baseline, unless entered, is the same measure over the 4 weeks before the
    plan started. Manual KPIs show the figures entered by hand."""
    today = today or today_utc()
    counts = _Counts(session, actor)
    anchor = p.start_date or p.created_at.date()
    out = []
    for k in sections(p).kpis:
        computed = k.metric != "manual"
        baseline, baseline_computed = k.baseline, False
        points: list[KpiPoint] = []
        if computed:
            last_end = today + dt.timedelta(days=1)
            for i in range(periods, 0, -1):
                end = last_end - dt.timedelta(days=(i - 1) * period_days)
                start = end - dt.timedelta(days=period_days)
                value, detail = _metric(counts, k.metric, k.topic_ids, _at(start), _at(end))
                points.append(KpiPoint(start=start, end=end, value=value, detail=detail))
            if baseline is None:
                bstart = anchor - dt.timedelta(days=28)
                value, _ = _metric(counts, k.metric, k.topic_ids, _at(bstart), _at(anchor))
                if value is not None:
                    # volumes are per period: scale the 4-week baseline to one period
                    baseline = round(value * period_days / 28, 1) if k.metric in (
                        "mention_volume", "concern_volume", "questions") else value
                    baseline_computed = True
        else:
            for r in sorted(k.readings, key=lambda r: r.date):
                points.append(KpiPoint(start=r.date, end=r.date + dt.timedelta(days=1), value=r.value))
        latest = next((pt.value for pt in reversed(points) if pt.value is not None), None)
        status, progress = _status(latest, baseline, k.target, k.direction)
        out.append(KpiResult(id=k.id or "", name=k.name, level=k.level, metric=k.metric, unit_label=k.unit_label or (
            "%" if k.metric.endswith("_share") else ""), computed=computed, baseline=baseline,
            baseline_computed=baseline_computed, target=k.target, direction=k.direction, points=points,
            latest=latest, status=status, progress=progress))
    return out


def _status(latest: float | None, baseline: float | None, target: float | None,
            direction: str) -> tuple[str, float | None]:
    if latest is None:
        return "no_data", None
    if target is None:
        return "no_target", None
    met = latest >= target if direction == "increase" else latest <= target
    progress = None
    if baseline is not None and target != baseline:
        progress = max(0.0, min(100.0, round(100.0 * (latest - baseline) / (target - baseline), 1)))
    if met:
        return "met", 100.0
    if progress is not None and progress > 0:
        return "on_track", progress
    return "off_track", progress


def kpis_json(results: list[KpiResult]) -> list[dict[str, Any]]:
    return [{**{k: v for k, v in dataclasses.asdict(r).items() if k != "points"},
             "points": [{"start": pt.start.isoformat(), "end": pt.end.isoformat(), "value": pt.value,
                         "detail": pt.detail} for pt in r.points]} for r in results]
