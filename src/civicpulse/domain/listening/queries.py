"""Reads of the listening area, always limited to the units the actor can see."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
import time
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from civicpulse.domain.errors import NotFound, ValidationFailed
from civicpulse.domain.listening.models import DupCluster, IngestReject, Item, SavedTopic, Source
from civicpulse.domain.listening.query import (
    Filter,
    QuerySyntaxError,
    filters_to_sql,
    parse,
    to_fts5,
    to_tsquery,
)
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.org.queries import Page, paginate
from civicpulse.timeutil import as_utc


def sources(session: Session, actor: Actor, *, unit_id: int | None = None) -> list[Source]:
    stmt = select(Source).join(Unit, Unit.id == Source.unit_id).where(actor.visible_filter(Unit.path))
    if unit_id is not None:
        stmt = stmt.where(Source.unit_id == unit_id)
    return list(session.scalars(stmt.order_by(Source.name)))


def source(session: Session, actor: Actor, source_id: int) -> Source:
    src = session.get(Source, source_id)
    if src is None or not actor.can_see(src.unit):
        raise NotFound(f"Source {source_id} was not found")
    return src


def item(session: Session, actor: Actor, item_id: int) -> Item:
    it = session.get(Item, item_id)
    if it is None or not actor.can_see(it.unit_path):
        raise NotFound(f"Item {item_id} was not found")
    return it


def rejects(session: Session, actor: Actor, *, source_id: int | None = None, page: int = 1,
            per_page: int = 50) -> Page[IngestReject]:
    stmt = select(IngestReject).where(actor.visible_filter(IngestReject.unit_path)).order_by(IngestReject.id.desc())
    if source_id is not None:
        stmt = stmt.where(IngestReject.source_id == source_id)
    return paginate(session, stmt, page, per_page)


def topics(session: Session, actor: Actor, *, unit_id: int | None = None) -> list[SavedTopic]:
    stmt = select(SavedTopic).join(Unit, Unit.id == SavedTopic.unit_id).where(actor.visible_filter(Unit.path))
    if unit_id is not None:
        stmt = stmt.where(SavedTopic.unit_id == unit_id)
    return list(session.scalars(stmt.order_by(SavedTopic.name)))


def topic(session: Session, actor: Actor, topic_id: int) -> SavedTopic:
    t = session.get(SavedTopic, topic_id)
    if t is None or not actor.can_see(t.unit):
        raise NotFound(f"Topic {topic_id} was not found")
    return t


# ------------------------------------------------------------------ search


@dataclasses.dataclass
class SearchFilters:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    source_id: int | None = None
    lang: str | None = None
    unit_id: int | None = None
    sentiment: str | None = None


@dataclasses.dataclass
class Hit:
    item: Item
    snippet: str
    score: float


@dataclasses.dataclass
class SearchResult:
    query: str
    total: int
    hits: list[Hit]
    terms: list[str]
    total_capped: bool = False  # more than ``count_cap`` matches: show the total as "10,000+"


#: With ``count_cap``: broader SQLite queries are ranked among their newest RANK_WINDOW matches only.
RANK_WINDOW = 2_000

# Interactive searches count at most this many matches and show "1,000+" beyond (see docs/benchmarks.md).
SEARCH_COUNT_CAP = 1000

_FILTER_COLUMNS = {
    "lang": "items.lang",
    "source": "sources.platform",
    "source.via": "items.source_id IN (SELECT sources.id FROM sources WHERE {cond})",
    "author": "items.author_handle",
    "published_at": "items.published_at",
    "sentiment": "items.sentiment",
    "unit": "units.code",
    "unit.via": "items.unit_id IN (SELECT units.id FROM units WHERE {cond})",
}


# Plain filters with letters beyond ASCII go through unicode_lower on SQLite (db.session.add_sqlite_functions): its
# own lower() keeps Ủ, Đ… as they are.
_DIALECT_COLUMNS = {
    "sqlite": {"unicode_lower": "unicode_lower"},  # author:"Đức" and other non-ASCII values of the plain filters
    "postgresql": {},
}
# mentions: the item's mention keys (table item_mentions, query.mention_keys), in two forms. Filters alone read the
# matching items through the keys (a rare name: a few rows, however many items there are). With words, or when the
# count says there are many matches, each candidate item is looked up in the keys instead: the full-text matches, or
# the items newest first until a page is full, without reading and sorting every item of a frequent name
# (bench/bench_mentions.py). A negated filter is always looked up item by item: it keeps most items.
_MENTIONS_COLUMN = "items.id IN (SELECT item_id FROM item_mentions WHERE item_mentions.key IN ({keys}))"
_MENTIONS_MANY = ("EXISTS (SELECT 1 FROM item_mentions WHERE item_mentions.key IN ({keys}) "
                  "AND item_mentions.item_id = items.id)")


def _sql_value(session: Session, v: Any) -> Any:
    if isinstance(v, dt.datetime) and session.get_bind().dialect.name == "sqlite":
        return v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    return v


def _compile(q: str, dialect: str) -> tuple[str | None, list[Filter]]:
    try:
        node = parse(q)
        return to_fts5(node) if dialect == "sqlite" else to_tsquery(node)
    except QuerySyntaxError as exc:
        raise ValidationFailed(f"The query is not valid: {exc}",
                               details={"column": exc.column, "pointer": exc.pointer(q)}) from exc


def _positive_terms(q: str) -> list[str]:
    """The words to highlight: every quoted phrase or bare word not negated and not a field filter."""
    out: list[str] = []
    for m in re.finditer(r'(-?)"([^"]+)"|(?<![\w:])(-?)([^\s()"]+)', q):
        if m.group(2) and not m.group(1):
            out.append(m.group(2))
        elif m.group(4) and not m.group(3):
            w = m.group(4)
            if ":" in w or w in ("AND", "OR", "NOT") or w.startswith("NEAR/"):
                continue
            out.append(w.rstrip("*"))
    return [t for t in out if t]


def highlight(text_: str, terms: Sequence[str], width: int = 240) -> str:
    """An HTML-escaped window of the text around the first match, with <mark> around every match."""
    pats = []
    for t in sorted({t for t in terms if t.strip()}, key=len, reverse=True):
        parts = [re.escape(p) for p in re.split(r"[\s_]+", t.strip()) if p]
        if parts:
            pats.append(r"\s*".join(parts))
    rx = re.compile("|".join(pats), re.IGNORECASE) if pats else None
    start = 0
    if rx is not None:
        m = rx.search(text_)
        if m:
            start = max(0, m.start() - width // 3)
    window = text_[start:start + width]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(text_) else ""
    if rx is None:
        return prefix + html.escape(window) + suffix
    out, last = [], 0
    for m in rx.finditer(window):
        out.append(html.escape(window[last:m.start()]))
        out.append(f"<mark>{html.escape(m.group(0))}</mark>")
        last = m.end()
    out.append(html.escape(window[last:]))
    return prefix + "".join(out) + suffix


@dataclasses.dataclass
class _SQL:
    match: str | None
    base: str
    params: dict[str, Any]
    score: str
    order: str
    mentions: bool = False  # a mentions: filter is in the query


def fts_tag(kind: str, value: object) -> str:
    """A filter token of the SQLite full-text index's ``tags`` column (see migration 0010_search_speed):
    ``unit`` / ``src`` (ids), ``plat`` (platform), ``lang``, ``auth`` (author handle), ``sent`` (sentiment)."""
    return f"__{kind}_{str(value).lower()}"


def _fts_phrase(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _tag_groups(session: Session, filters: Sequence[Filter], f: SearchFilters) -> list[str]:
    """FTS5 conditions on the ``tags`` column implied by the positive field filters.

    They only narrow what MATCH returns: every filter is still checked in SQL on the matching rows, so a
    tag condition must hold for (at least) every row the SQL filter keeps. Negated filters are left to SQL,
    and so are broad ones (see TAG_MAX_DOCS).
    """
    groups: list[list[str]] = []
    for flt in filters:
        if flt.negate or flt.op != "in":
            continue
        if flt.field == "unit":
            ids = list(session.scalars(select(Unit.id).where(func.lower(Unit.code).in_(flt.values))))
            groups.append([fts_tag("unit", i) for i in ids] or [fts_tag("unit", 0)])  # no such unit: no match
        else:
            kind = {"lang": "lang", "source": "plat", "author": "auth", "sentiment": "sent"}.get(flt.field)
            if kind is not None:
                groups.append([fts_tag(kind, v) for v in flt.values])
    for kind, value in (("src", f.source_id), ("lang", f.lang), ("unit", f.unit_id), ("sent", f.sentiment)):
        if value is not None:
            groups.append([fts_tag(kind, value)])
    exprs = ["(" + " OR ".join(_fts_phrase(t) for t in g) + ")" for g in groups]
    return [e for e in exprs if _narrow(session, e)]


#: A filter goes into MATCH only when at most this many items carry its tokens: AND-ing a broad token (lang:th
#: holds most Thai items) costs FTS5 more than checking the filter on the matching rows (bench_search.py).
TAG_MAX_DOCS = 50_000
TAG_CHECK_SECONDS = 300.0
_TAG_NARROW: dict[tuple[str, str], tuple[float, bool]] = {}  # (database, tag group) -> (checked at, narrow)


def _narrow(session: Session, group: str) -> bool:
    """Does the tag group match at most TAG_MAX_DOCS items? Counted (capped) at most every few minutes."""
    key = (str(session.get_bind().engine.url), group)
    now = time.monotonic()
    hit = _TAG_NARROW.get(key)
    if hit is not None and now - hit[0] < TAG_CHECK_SECONDS:
        return hit[1]
    n = session.execute(text("SELECT count(*) FROM (SELECT rowid FROM item_fts WHERE item_fts MATCH :m LIMIT :k)"),
                        {"m": "{tags} : " + group, "k": TAG_MAX_DOCS + 1}).scalar() or 0
    if len(_TAG_NARROW) > 10_000:
        _TAG_NARROW.clear()
    _TAG_NARROW[key] = (now, n <= TAG_MAX_DOCS)
    return n <= TAG_MAX_DOCS


def fts_match(match: str, tag_groups: Sequence[str]) -> str:
    """The user's expression on the words column, AND-ed with the filter tokens on the tags column."""
    expr = f"{{index_text}} : ({match})"
    if tag_groups:
        expr += " AND {tags} : (" + " AND ".join(tag_groups) + ")"
    return expr


def _search_sql(session: Session, actor: Actor, q: str, f: SearchFilters, *,
                unit_path: str | None = None, many: bool = False) -> _SQL:
    """The FROM/WHERE part shared by search and counts: full-text match, field filters, visibility.

    On SQLite the positive field filters are also applied inside MATCH through filter tokens, so a common
    word with a narrow filter does not join every match of the word to ``items``.
    """
    dialect = session.get_bind().dialect.name
    match, filters = _compile(q, dialect)
    columns = {**_FILTER_COLUMNS, **_DIALECT_COLUMNS.get(dialect, _DIALECT_COLUMNS["postgresql"]),
               "mentions": _MENTIONS_MANY if many or match is not None else _MENTIONS_COLUMN,
               "mentions.negated": _MENTIONS_MANY}
    where, params = filters_to_sql(filters, columns)
    params = {k: _sql_value(session, v) for k, v in params.items()}
    vis = actor.visible_filter(Item.unit_path)
    vis_sql = str(vis.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    extra = []
    if f.since:
        extra.append("items.published_at >= :since")
        params["since"] = _sql_value(session, f.since)
    if f.until:
        extra.append("items.published_at < :until")
        params["until"] = _sql_value(session, f.until)
    for key, col in (("source_id", "items.source_id"), ("lang", "items.lang"), ("unit_id", "items.unit_id"),
                     ("sentiment", "items.sentiment")):
        value = getattr(f, key)
        if value is not None:
            extra.append(f"{col} = :{key}")
            params[key] = value
    cond = " AND ".join(f"({c})" for c in [where, vis_sql, *extra])
    if match is None:
        base = f"FROM items WHERE {cond}"
        order, score = "items.published_at DESC, items.id DESC", "0.0"
    elif dialect == "sqlite":
        base = f"FROM item_fts JOIN items ON items.id = item_fts.rowid WHERE item_fts MATCH :m AND {cond}"
        order, score = "bm25(item_fts, 1.0, 0.0)", "-bm25(item_fts, 1.0, 0.0)"  # the tags column does not score
        match = fts_match(match, _tag_groups(session, filters, f))
        params["m"] = match
    else:
        base = f"FROM items WHERE items.index_tsv @@ to_tsquery('simple', :m) AND {cond}"
        score = "ts_rank_cd(items.index_tsv, to_tsquery('simple', :m))"
        order = f"{score} DESC, items.id DESC"
        params["m"] = match
    if unit_path is not None:  # a unit and the units below it (paths hold only digits and slashes)
        base += " AND items.unit_path LIKE :unit_prefix"
        params["unit_prefix"] = unit_path + "%"
    return _SQL(match, base, params, score, order, any(flt.field == "mentions" for flt in filters))


def search(session: Session, actor: Actor, q: str, f: SearchFilters | None = None, *, limit: int = 20,
           offset: int = 0, count: bool = True, count_cap: int | None = None) -> SearchResult:
    """Full-text search over items the actor can see, ranked (BM25 on SQLite, ts_rank_cd on PostgreSQL).

    ``count_cap`` bounds the work of broad queries: at most ``count_cap + 1`` matches are counted (the result
    then has ``total == count_cap`` and ``total_capped``) and, on SQLite, a query with more than
    :data:`RANK_WINDOW` full-text matches is ranked among its newest ``RANK_WINDOW`` matches only (BM25 and
    the join cost ~2.5 µs per match: seconds for a very common word over 1M items; see docs/benchmarks.md).
    """
    f = f or SearchFilters()
    dialect = session.get_bind().dialect.name
    sql = _search_sql(session, actor, q, f)
    match, base, params, score, order = sql.match, sql.base, sql.params, sql.score, sql.order
    capped, known, window = False, None, ""
    if count and count_cap is not None:
        known = session.execute(text(f"SELECT count(*) FROM (SELECT 1 {base} LIMIT :cap) AS capped"),
                                {**params, "cap": count_cap + 1}).scalar() or 0
        capped = known > count_cap
        if match is not None and dialect == "sqlite":
            floor = session.execute(text(
                "SELECT rowid FROM item_fts WHERE item_fts MATCH :m ORDER BY rowid DESC LIMIT 1 OFFSET :k"),
                {"m": match, "k": RANK_WINDOW - 1}).scalar()
            if floor is not None:  # a broad query: rank its newest RANK_WINDOW full-text matches only
                params["floor"] = floor
                window = " AND item_fts.rowid >= :floor"
    if match is None and dialect == "sqlite" and capped and sql.mentions:
        base = _search_sql(session, actor, q, f, many=True).base  # many matches: newest first, each looked up
    if match is None and dialect == "sqlite" and known is not None and not capped:
        # Filters alone, and the count found them all: few matches, read in one pass over the items and sorted.
        # Walking the time index newest first would look up every item's row to find them (SQLite, 200,000
        # items, a filter no item passes: 610 ms against 50).
        order = "+items.published_at DESC, +items.id DESC"
    head, tail = f"SELECT items.id, {score} AS score {base}", f" ORDER BY {order} LIMIT :lim OFFSET :off"
    rows: Sequence[Any] = []  # unless the count found nothing (more) to show:
    if known is None or capped or offset < known:
        rows = session.execute(text(head + window + tail), {**params, "lim": limit, "off": offset}).all()
    if window and len(rows) < limit and (known is None or capped or offset + len(rows) < known):
        # the filters keep too few of the newest matches (and the count says there are more): rank them all
        rows = session.execute(text(head + tail), {**params, "lim": limit, "off": offset}).all()
    total = len(rows) + offset
    if known is not None:
        assert count_cap is not None  # known is only counted when count_cap is set
        total = count_cap if capped else known
    elif count and (len(rows) == limit or offset):
        total = session.execute(text(f"SELECT count(*) {base}"), params).scalar() or 0
    items = {i.id: i for i in session.scalars(select(Item).where(Item.id.in_([r[0] for r in rows])))}
    terms = _positive_terms(q)
    hits = [Hit(item=items[r[0]], snippet=highlight(items[r[0]].text, terms), score=float(r[1] or 0)) for r in rows]
    return SearchResult(query=q, total=total, hits=hits, terms=terms, total_capped=capped)


def query_match_times(session: Session, actor: Actor, q: str, *, unit_path: str, since: dt.datetime,
                      until: dt.datetime) -> list[tuple[int, dt.datetime | None, dt.datetime | None]]:
    """(item id, published_at, collected_at) of the items matching a topic query in a unit's subtree whose
    time (published, else collected) lies in [since, until]: the raw series behind volume rules."""
    sql = _search_sql(session, actor, q, SearchFilters(), unit_path=unit_path)
    params = {**sql.params, "a_since": _sql_value(session, since), "a_until": _sql_value(session, until)}
    rows = session.execute(text(
        f"SELECT items.id, items.published_at, items.collected_at {sql.base} "
        "AND coalesce(items.published_at, items.collected_at) >= :a_since "
        "AND coalesce(items.published_at, items.collected_at) <= :a_until"), params).all()
    return [(int(r[0]), as_utc(r[1]), as_utc(r[2])) for r in rows]


def topic_counts(session: Session, actor: Actor, t: SavedTopic, *, days: int = 14) -> tuple[int, list[int]]:
    """Matches of a saved topic among the items of its unit (and the units below it) that the reader can see:
    the total and a daily series (oldest first, days in the unit's time zone) for a sparkline. Two queries."""
    zone = ZoneInfo(t.unit.timezone or "Asia/Bangkok")
    today = dt.datetime.now(zone).date()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    sql = _search_sql(session, actor, t.query, SearchFilters(), unit_path=t.unit.path)
    total = session.execute(text(f"SELECT count(*) {sql.base}"), sql.params).scalar() or 0
    params = {**sql.params, "start": _sql_value(session, start)}
    rows = session.execute(text(f"SELECT items.published_at {sql.base} AND items.published_at >= :start"),
                           params).scalars().all()
    series = [0] * days
    for value in rows:
        published = as_utc(value)  # SQLite through a text() query gives naive UTC text
        if published is None:
            continue
        i = (published.astimezone(zone).date() - first).days
        if 0 <= i < days:
            series[i] += 1
    return total, series


def clusters(session: Session, actor: Actor, *, limit: int = 50) -> list[tuple[DupCluster, Item]]:
    stmt = (select(DupCluster, Item).join(Item, Item.id == DupCluster.first_item_id)
            .where(actor.visible_filter(Item.unit_path)).order_by(DupCluster.size.desc()).limit(limit))
    return [(c, i) for c, i in session.execute(stmt).all()]


def cluster_items(session: Session, actor: Actor, cluster_id: int) -> list[Item]:
    return list(session.scalars(select(Item).where(Item.dup_cluster_id == cluster_id,
                                                   actor.visible_filter(Item.unit_path))
                                .order_by(Item.published_at, Item.id)))


def counts_by_source(session: Session, actor: Actor) -> dict[int, int]:
    return dict(session.execute(select(Item.source_id, func.count()).where(actor.visible_filter(Item.unit_path))
                                .group_by(Item.source_id)).all())


# ------------------------------------------------------------------ retraining runs


def training_runs(session: Session, limit: int = 5) -> list[Any]:
    """The latest retraining runs, newest first (network-wide: every signed-in user may see them)."""
    from civicpulse.domain.listening.models import TrainingRun

    return list(session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(limit)))


def training_run(session: Session, run_id: int) -> Any:
    from civicpulse.domain.listening.models import TrainingRun

    run = session.get(TrainingRun, run_id)
    if run is None:
        raise NotFound(f"Training run {run_id} was not found")
    return run
