"""The full-text index stays in step with the items, and field filters inside MATCH change no result.

SQLite keeps a separate FTS5 index (words + filter tokens) that is written by triggers on update and
delete, by ``services.ingest`` per batch and by an ORM hook on insert; PostgreSQL's tsvector column is
generated, so most of this is SQLite-only. The search results themselves are compared on both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update

from civicpulse.connectors.base import FetchedItem
from civicpulse.domain.listening import queries, services
from civicpulse.domain.listening.models import Item, ItemRaw, Source
from civicpulse.domain.listening.schemas import SourceCreate
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor

SYSTEM = Actor.system_actor("test")


def _sqlite(db) -> bool:  # type: ignore[no-untyped-def]
    return db.engine.dialect.name == "sqlite"


def _integrity(db) -> None:  # type: ignore[no-untyped-def]
    """FTS5 compares its index with the content view; raises when they differ."""
    with db.session() as s:
        s.execute(text("INSERT INTO item_fts(item_fts, rank) VALUES ('integrity-check', 1)"))


def _fts_ids(db, expr: str) -> set[int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return set(s.scalars(text("SELECT rowid FROM item_fts WHERE item_fts MATCH :m"), {"m": expr}))


def _source(db, cfg, unit_id: int, name: str, platform: str = "webhook") -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        src, _ = services.create_source(s, SYSTEM, cfg, SourceCreate(unit_id=unit_id, name=name, platform=platform))
        return src.id


def _ingest(db, source_id: int, items: list[FetchedItem]) -> services.IngestStats:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return services.ingest(s, s.get(Source, source_id), items)


def _fi(ext: str, txt: str, **kw) -> FetchedItem:  # type: ignore[no-untyped-def]
    return FetchedItem(external_id=ext, text=txt, **kw)


def test_ingest_ids_times_and_raw_payloads(db, cfg, org) -> None:  # type: ignore[no-untyped-def]
    a = _source(db, cfg, org.units["A"], "a")
    b = _source(db, cfg, org.units["A"], "b")
    when = dt.datetime(2026, 5, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    first = _ingest(db, a, [_fi(f"x{i}", f"text {i}", published_at=when + dt.timedelta(microseconds=i),
                                raw={"n": i, "ไทย": "ค่าไฟ"}) for i in range(7)])
    _ingest(db, b, [_fi("y", "other")])
    again = _ingest(db, a, [_fi("x3", "text 3", likes=5), _fi("x9", "text 9", raw={"n": 9}), _fi("x9", "dup")])
    assert (first.inserted, again.inserted, again.duplicates) == (7, 1, 2)
    with db.session() as s:
        rows = {it.external_id: it for it in s.scalars(select(Item).where(Item.source_id == a))}
        assert set(rows) == {f"x{i}" for i in range(7)} | {"x9"}
        assert sorted(first.new_ids) == sorted(rows[f"x{i}"].id for i in range(7))
        assert again.new_ids == [rows["x9"].id]
        assert rows["x3"].likes == 5 and rows["x9"].text == "text 9"
        assert rows["x2"].published_at == when + dt.timedelta(microseconds=2)
        assert rows["x0"].published_at.tzinfo is not None and rows["x0"].collected_at is not None
        assert rows["x0"].index_text == "" and rows["x0"].unit_path == s.get(Unit, org.units["A"]).path
        assert rows["x5"].content_hash == hashlib.sha256(b"text 5").hexdigest()
        raws = dict(s.execute(select(ItemRaw.item_id, ItemRaw.payload)).all())
        assert raws[rows["x4"].id] == {"n": 4, "ไทย": "ค่าไฟ"} and raws[rows["x9"].id] == {"n": 9}
        # times are stored as SQLAlchemy stores them (date filters compare them in SQL)
        assert queries.search(s, SYSTEM, "after:2026-05-01", count_cap=1000).total == 7
        assert queries.search(s, SYSTEM, "before:2026-05-01", count_cap=1000).total == 0
        assert queries.search(s, SYSTEM, "after:2026-05-02", count_cap=1000).total == 0


@given(st.text(alphabet=st.sampled_from("aB \t\n\u00a0\u2003\x1cxÉ\u0e01\u3000\r"), max_size=30))
def test_content_hash_collapses_white_space_like_before(txt: str) -> None:
    old = hashlib.sha256(re.sub(r"\s+", " ", txt.casefold()).strip().encode()).hexdigest()
    assert services.content_hash(txt) == old


def test_fts_follows_insert_update_delete(db, cfg, org) -> None:  # type: ignore[no-untyped-def]
    if not _sqlite(db):
        pytest.skip("PostgreSQL's tsvector column is generated from the row")
    src = _source(db, cfg, org.units["A"], "feed", platform="webhook")
    _ingest(db, src, [_fi("1", "ค่าไฟแพง", author_handle="@Somchai", language="th"), _fi("2", "flood news")])
    assert _fts_ids(db, '"ค่า"') == set()  # no words yet: not in the index
    with db.session() as s:
        ids = dict(s.execute(select(Item.external_id, Item.id)).all())
        # what enrichment does: one UPDATE sets the words and the labels
        s.execute(update(Item).where(Item.id == ids["1"]).values(index_text="ค่า ไฟ แพง", sentiment="neg"))
        s.execute(update(Item).where(Item.id == ids["2"]).values(index_text="flood news", lang="en"))
    _integrity(db)
    assert _fts_ids(db, '{index_text} : "ไฟ"') == {ids["1"]}
    assert _fts_ids(db, '{tags} : "__auth_somchai" AND {tags} : "__sent_neg"') == {ids["1"]}
    assert _fts_ids(db, '{tags} : "__lang_en"') == {ids["2"]}
    with db.session() as s:  # a label correction changes a filter token
        s.execute(update(Item).where(Item.id == ids["1"]).values(sentiment="pos"))
        s.execute(update(Item).where(Item.id == ids["2"]).values(likes=3))  # not indexed: nothing to do
    _integrity(db)
    assert _fts_ids(db, '{tags} : "__sent_neg"') == set() and _fts_ids(db, '{tags} : "__sent_pos"') == {ids["1"]}
    with db.session() as s:  # an item inserted with words through the ORM
        it = Item(source_id=src, unit_id=org.units["A"], unit_path="/x/", external_id="3", text="t",
                  content_hash="h", index_text="flood warning", lang="en")
        s.add(it)
        s.flush()
        new_id = it.id
    _integrity(db)
    assert _fts_ids(db, '"flood"') == {ids["2"], new_id}
    with db.session() as s:
        s.execute(delete(Item).where(Item.id == ids["2"]))
        s.execute(update(Item).where(Item.id == ids["1"]).values(index_text=""))  # words removed
    _integrity(db)
    assert _fts_ids(db, '"flood"') == {new_id} and _fts_ids(db, '"ไฟ"') == set()


def test_ingest_indexes_items_that_come_with_words(db, cfg, org) -> None:  # type: ignore[no-untyped-def]
    if not _sqlite(db):
        pytest.skip("SQLite's separate full-text index")
    src = _source(db, cfg, org.units["B"], "bulk", platform="webhook")
    original = services._validate

    def with_words(it: FetchedItem, *args):  # type: ignore[no-untyped-def]
        row = original(it, *args)
        if not isinstance(row, str) and it.external_id.startswith("w"):
            row = (*row[:-1], it.text.lower())  # index_text is the row's last column
        return row

    try:
        services._validate = with_words  # type: ignore[assignment]
        _ingest(db, src, [_fi(f"w{i}", f"Bulk word{i % 3}") for i in range(1200)] + [_fi("n1", "bulk none")])
    finally:
        services._validate = original  # type: ignore[assignment]
    _integrity(db)
    assert len(_fts_ids(db, '"bulk"')) == 1200 and len(_fts_ids(db, '"word1"')) == 400


# ----------------------------------------------------------------------------- filters inside MATCH

_WORDS = ["flood", "rain", "ไฟ", "ค่า", "xử_phạt", "tin", "common"]


@pytest.fixture
def corpus(db, cfg, org):  # type: ignore[no-untyped-def]
    """~300 items with words over three sources of two platforms in two units, odd authors and labels."""
    sources = [_source(db, cfg, org.units["A"], "fb", platform="webhook"), _source(db, cfg, org.units["B"], "rss1")]
    with db.session() as s:
        s.execute(update(Source).where(Source.id == sources[1]).values(platform="rss"))
        sources.append(services.file_source(s, SYSTEM, cfg, s.get(Unit, org.units["A1"]), "export").id)
    rng = random.Random(4)
    authors = [None, "somchai", "Somchai", "@nam", "lan_anh", "ĐỨC", 'q"x', "user 1"]
    for k, src in enumerate(sources):
        _ingest(db, src, [_fi(f"{k}-{i}", f"item {i}", author_handle=rng.choice(authors)) for i in range(100)])
    with db.session() as s:
        for iid in s.scalars(select(Item.id)):
            words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 5)))
            s.execute(update(Item).where(Item.id == iid).values(
                index_text=words, lang=rng.choice([None, "th", "vi", "en", "TH"]),
                sentiment=rng.choice([None, "pos", "neg", "neu"]),
                published_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=rng.randint(0, 60))))
    with db.session() as s:
        codes = {u: s.get(Unit, org.units[u]).code for u in ("A", "B", "A1")}
    return {"sources": sources, "codes": codes}


_FILTERS = st.sampled_from([
    "lang:th", "lang:vi", "-lang:en", "(lang:th OR lang:en)", "source:webhook", "source:rss", "-source:file",
    "author:somchai", "author:@nam", "author:đức", 'author:"user 1"', "author:lan_anh", "-author:somchai",
    "sentiment:neg", "(sentiment:pos OR sentiment:neu)", "unit:{A}", "unit:{B}", "unit:{A1}", "unit:nosuch",
    "-unit:{B}", "after:2026-01-20", "before:2026-02-10",
])
_TEXT = st.sampled_from(["flood", "ไฟ", "common", "flood OR rain", '"ค่า ไฟ"', "tin -rain", "xử_phạt", "ra*",
                         "flood NEAR/2 rain"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=_TEXT, filters=st.lists(_FILTERS, max_size=3), opts=st.fixed_dictionaries({
    "lang": st.sampled_from([None, "th", "vi"]), "sentiment": st.sampled_from([None, "neg"]),
    "src": st.sampled_from([None, 0, 1, 2]), "unit": st.sampled_from([None, "A", "B"]),
    "limit": st.sampled_from([3, 20])}))
def test_filters_inside_match_give_the_same_results(db, org, corpus, monkeypatch, words, filters, opts) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(queries, "TAG_MAX_DOCS", 60)  # some filters narrow enough to go into MATCH, some not
    q = " ".join([f"({words})", *filters]).format(**corpus["codes"])
    f = queries.SearchFilters(lang=opts["lang"], sentiment=opts["sentiment"],
                              source_id=None if opts["src"] is None else corpus["sources"][opts["src"]],
                              unit_id=None if opts["unit"] is None else org.units[opts["unit"]])
    viewer = None
    with db.session() as s:
        from civicpulse.domain.org import services as org_services
        from civicpulse.domain.org.models import User

        viewer = org_services.actor_for(s, s.get(User, org.users["viewer@A"]), via="api")
    results = []
    for tags in (True, False):
        original = queries._tag_groups
        if not tags:
            queries._tag_groups = lambda *a, **k: []  # type: ignore[assignment]
        try:
            with db.session() as s:
                for actor in (SYSTEM, viewer):
                    for cap in (None, 5):
                        r = queries.search(s, actor, q, f, limit=opts["limit"], count_cap=cap)
                        results.append(([h.item.id for h in r.hits], r.total, r.total_capped,
                                        [round(h.score, 9) for h in r.hits]))
        finally:
            queries._tag_groups = original  # type: ignore[assignment]
    half = len(results) // 2
    assert results[:half] == results[half:]


_ENTITIES = [None, [], [{"id": "vn:ha-noi", "name": "Hà Nội", "text": "HN"}],
             [{"id": "th:bkk", "name": "กรุงเทพมหานคร", "text": "กทม."}, {"id": "vn:ha-noi", "name": "Hà Nội"}]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters=st.lists(st.one_of(_FILTERS, st.sampled_from(["mentions:vn:ha-noi", 'mentions:"กทม."', "-mentions:hn",
                                                            "mentions:nobody"])), min_size=1, max_size=3),
       limit=st.sampled_from([3, 20]), offset=st.sampled_from([0, 3, 150]), cap=st.sampled_from([None, 5, 1000]))
def test_filters_alone_find_what_they_say_newest_first(db, org, corpus, filters, limit, offset, cap) -> None:  # type: ignore[no-untyped-def]
    """A search of field filters only (no words) gives the items the filters keep, newest first, with the
    right total, whatever the count cap and page: checked against the filters applied in memory."""
    q = " ".join(filters).format(**corpus["codes"])
    with db.session() as s:
        if not s.scalar(select(Item.id).where(Item.entities.is_not(None))):
            rng = random.Random(5)
            for it in s.scalars(select(Item)):
                it.entities = rng.choice(_ENTITIES)
    with db.session() as s:
        from civicpulse.domain.listening.query import matches

        units = {u.id: u.code for u in s.scalars(select(Unit))}
        platforms = {src.id: src.platform for src in s.scalars(select(Source))}
        kept = [it for it in s.scalars(select(Item)) if matches(q, {
            "text": "", "tokens": [], "lang": it.lang, "source": platforms[it.source_id], "author": it.author_handle,
            "published_at": it.published_at, "sentiment": it.sentiment, "unit": units[it.unit_id],
            "entities": it.entities})]
        kept.sort(key=lambda it: (it.published_at, it.id), reverse=True)
        r = queries.search(s, SYSTEM, q, limit=limit, offset=offset, count_cap=cap)
        assert [h.item.id for h in r.hits] == [it.id for it in kept[offset:offset + limit]], q
        if cap is not None and len(kept) > cap:
            assert r.total == cap and r.total_capped, q
        else:
            assert r.total == len(kept) and not r.total_capped, q


def test_filter_tokens_match_the_sql_filters(db, org, corpus) -> None:  # type: ignore[no-untyped-def]
    """Each filter alone: the rows it keeps in SQL are exactly the rows whose tokens match (ASCII values)."""
    if not _sqlite(db):
        pytest.skip("SQLite's filter tokens")
    codes = corpus["codes"]
    for flt in ["lang:th", "source:rss", "author:somchai", "sentiment:neg", f"unit:{codes['A']}",
                f"unit:{codes['A1']}", "(lang:vi OR lang:en)"]:
        with db.session() as s:
            sql = queries._search_sql(s, SYSTEM, f"common {flt}", queries.SearchFilters())
            with_tags = set(s.scalars(text(f"SELECT items.id {sql.base}"), sql.params))
            plain = set(s.scalars(text("SELECT items.id FROM items WHERE items.index_text LIKE '%common%'")))
            _, filters = queries._compile(f"common {flt}", "sqlite")
            where, params = queries.filters_to_sql(filters, queries._FILTER_COLUMNS)
            by_sql = set(s.scalars(text(
                "SELECT items.id FROM items JOIN sources ON sources.id = items.source_id JOIN units ON "
                f"units.id = items.unit_id WHERE {where}"), params)) & plain
            tokens = set(s.scalars(text("SELECT rowid FROM item_fts WHERE item_fts MATCH :m"),
                                   {"m": queries.fts_match('"common"', queries._tag_groups(s, filters,
                                                                                      queries.SearchFilters()))}))
        assert with_tags == by_sql, flt
        assert by_sql <= tokens, flt  # the tokens never lose a row the SQL filter keeps
        assert by_sql, flt  # the corpus has rows for every filter: the comparison is not empty


def test_only_narrow_filters_go_into_match(db, org, corpus, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if not _sqlite(db):
        pytest.skip("SQLite's filter tokens")
    monkeypatch.setattr(queries, "TAG_MAX_DOCS", 60)
    queries._TAG_NARROW.clear()
    with db.session() as s:
        _, filters = queries._compile(f"common source:webhook author:lan_anh unit:{corpus['codes']['A1']}", "sqlite")
        groups = queries._tag_groups(s, filters, queries.SearchFilters())
        n_src = len(_fts_ids(db, '{tags} : "__plat_webhook"'))
        n_auth = len(_fts_ids(db, '{tags} : "__auth_lan_anh"'))
    assert n_src == 100 and n_auth <= 60  # the platform of one source, one author of eight
    assert groups == ['("__auth_lan_anh")']  # 100 items in each unit and platform: broad at this limit


def test_dedup_run_stores_clusters_in_batches(db, cfg, org) -> None:  # type: ignore[no-untyped-def]
    from civicpulse.domain.listening.models import DupCluster

    a = _source(db, cfg, org.units["A"], "dup a")
    b = _source(db, cfg, org.units["B"], "dup b")
    t0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    rumour = "the water price will triple next month says the ministry please share with everyone you know now"
    other = "flood warning for the northern provinces heavy rain expected from tuesday until friday stay safe all"
    _ingest(db, a, [_fi("r1", rumour, published_at=t0 + dt.timedelta(hours=2)), _fi("r2", rumour + " !"),
                    _fi("o1", other, published_at=t0 + dt.timedelta(hours=5)), _fi("solo", "nothing like the others")])
    _ingest(db, b, [_fi("r3", rumour, published_at=t0 + dt.timedelta(hours=1)),
                    _fi("o2", other + " today", published_at=t0 + dt.timedelta(hours=9))])
    for _ in range(2):  # a second run replaces the clusters
        assert services.dedup_run(db) == 2
    with db.session() as s:
        ids = dict(s.execute(select(Item.external_id, Item.id)).all())
        of = dict(s.execute(select(Item.external_id, Item.dup_cluster_id)).all())
        clusters = {c.first_item_id: c for c in s.scalars(select(DupCluster))}
    assert len(clusters) == 2 and of["solo"] is None
    r = clusters[ids["r3"]]  # the oldest publication first; an item without a time never comes first
    assert (r.size, r.sources, r.first_seen, r.last_seen) == (3, 2, t0 + dt.timedelta(hours=1), t0 + dt.timedelta(hours=2))
    assert of["r1"] == of["r2"] == of["r3"] == r.id
    o = clusters[ids["o1"]]
    assert (o.size, o.sources, o.last_seen) == (2, 2, t0 + dt.timedelta(hours=9)) and of["o1"] == of["o2"] == o.id


def test_migration_indexes_existing_items_both_ways(db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """0010_search_speed rebuilds the full-text index from the rows already stored, and so does its downgrade."""
    if not _sqlite(db):
        pytest.skip("the SQLite full-text index (PostgreSQL's tsvector column is untouched)")
    from civicpulse.config import Settings
    from civicpulse.db import migrate
    from civicpulse.db.session import make_engine

    url = f"sqlite:///{tmp_path / 'mig.sqlite3'}"
    settings = Settings(env="dev", database_url=url, data_dir=tmp_path / "data")
    migrate.upgrade(settings, "0009_campaigns")
    eng = make_engine(url)
    with eng.begin() as c:
        c.execute(text("INSERT INTO units (id, code, path, kind, names, timezone, default_language, created_at, "
                       "updated_at, version) VALUES (1, 'U', '/1/', 'department', '{}', 'Asia/Bangkok', 'en', "
                       "'2026-01-01', '2026-01-01', 1)"))
        c.execute(text("INSERT INTO sources (id, unit_id, name, platform, config, cursor, interval_minutes, enabled, "
                       "items_count, created_at) VALUES (1, 1, 's', 'rss', '{}', '{}', 15, 1, 0, '2026-01-01')"))
        for i in range(1, 6):
            c.execute(text("INSERT INTO items (id, source_id, unit_id, unit_path, external_id, kind, text, lang, "
                           "collected_at, content_hash, index_text, author_handle) VALUES (:i, 1, 1, '/1/', :e, "
                           "'post', 't', 'th', '2026-01-01', 'h', :w, 'Nam')"),
                      {"i": i, "e": f"e{i}", "w": "flood rain" if i % 2 else ""})
    eng.dispose()

    def match(expr: str) -> list[int]:
        e = make_engine(url)
        with e.begin() as c:
            c.execute(text("INSERT INTO item_fts(item_fts, rank) VALUES ('integrity-check', 1)"))
            out = list(c.scalars(text("SELECT rowid FROM item_fts WHERE item_fts MATCH :m ORDER BY rowid"),
                                 {"m": expr}))
        e.dispose()
        return out

    migrate.upgrade(settings)
    assert match('{index_text} : "flood" AND {tags} : ("__auth_nam" AND "__plat_rss" AND "__lang_th")') == [1, 3, 5]
    migrate.downgrade(settings, "0009_campaigns")
    assert match('"flood"') == [1, 3, 5]


def test_ingest_looks_ids_up_when_sqlite_does_not_number_them_in_order(db, cfg, org) -> None:  # type: ignore[no-untyped-def]
    if not _sqlite(db):
        pytest.skip("the SQLite insert path")
    src = _source(db, cfg, org.units["A"], "ids")
    with db.session() as s:  # at the largest possible id SQLite picks random free ids for new rows
        s.add(Item(id=2**63 - 1, source_id=src, unit_id=org.units["A"], unit_path="/x/", external_id="top", text="t",
                   content_hash="h"))
    stats = _ingest(db, src, [_fi(f"k{i}", f"text {i}", raw={"i": i}) for i in range(40)])
    with db.session() as s:
        by_id = {it.id: it for it in s.scalars(select(Item).where(Item.id.in_(stats.new_ids)))}
        raws = dict(s.execute(select(ItemRaw.item_id, ItemRaw.payload)).all())
    assert stats.inserted == 40 and len(by_id) == 40
    assert sorted(stats.new_ids) != list(range(min(stats.new_ids), min(stats.new_ids) + 40))  # not in order
    assert all(it.text == f"text {it.external_id[1:]}" and raws[i] == {"i": int(it.external_id[1:])}
               for i, it in by_id.items())
