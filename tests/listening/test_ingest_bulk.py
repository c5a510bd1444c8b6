"""The bulk ingest path: kept JSON text, duplicates and count updates, and the same rows on every path.

On SQLite ``services.ingest`` writes parameter tuples with ``INSERT … ON CONFLICT DO NOTHING`` and only looks
existing items up when the insert skipped some; elsewhere it looks them up first. Both must store the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from civicpulse.connectors.base import FetchedItem
from civicpulse.domain.listening import services
from civicpulse.domain.listening.models import IngestReject, Item, ItemRaw, Source
from civicpulse.domain.listening.schemas import SourceCreate
from civicpulse.domain.org.permissions import Actor

SYSTEM = Actor.system_actor("test")
T0 = dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.UTC)


def _source(db, cfg, unit_id: int, name: str) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        src, _ = services.create_source(s, SYSTEM, cfg, SourceCreate(unit_id=unit_id, name=name, platform="webhook"))
        return src.id


def _ingest(db, source_id: int, items: list[FetchedItem]) -> services.IngestStats:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return services.ingest(s, s.get(Source, source_id), items, batch="t")


def _items(n: int, *, likes: int = 1) -> list[FetchedItem]:
    out = []
    for i in range(n):
        line = json.dumps({"id": f"e{i}", "text": f"ข่าว {i}", "n": i}, ensure_ascii=False) + "\n"
        out.append(FetchedItem(
            external_id=f"e{i}", text=f" ข่าว\u0e4d {i} Cafe\u0301 " if i % 3 else f"news {i}", url=f"https://x/{i}",
            kind="comment" if i % 5 == 0 else "post", author_handle="@nam" if i % 2 else None, author_name="Nam",
            published_at=T0 + dt.timedelta(minutes=i, microseconds=i) if i % 4 else None,
            likes=likes if i % 7 else None, shares=i, language="th" if i % 2 else None,
            raw=services.RawJson.loads(line) if i % 2 else {"n": i}))
    return out


_COLS = ("external_id", "kind", "url", "title", "author_handle", "author_name", "author_followers", "text", "lang",
         "published_at", "likes", "shares", "comments", "views", "parent_external_id", "thread_external_id",
         "content_hash", "index_text", "unit_id", "unit_path", "enriched_at")


def _rows(db, source_id: int) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        items = s.scalars(select(Item).where(Item.source_id == source_id).order_by(Item.id)).all()
        raws = dict(s.execute(select(ItemRaw.item_id, ItemRaw.payload)).all())
        return [(*(getattr(it, c) for c in _COLS), raws.get(it.id)) for it in items]


def test_sqlite_path_and_generic_path_store_the_same(db, cfg, org) -> None:  # type: ignore[no-untyped-def]
    a = _source(db, cfg, org.units["A"], "fast")
    b = _source(db, cfg, org.units["A"], "generic")
    batch = _items(1234)
    batch[10:10] = [FetchedItem(external_id="", text="no id"), FetchedItem(external_id="e3", text="again")]
    stats_a = _ingest(db, a, batch)
    original = services._ingest_chunk_sqlite
    services._ingest_chunk_sqlite = services._ingest_chunk  # type: ignore[assignment]
    try:
        stats_b = _ingest(db, b, batch)
    finally:
        services._ingest_chunk_sqlite = original  # type: ignore[assignment]
    assert (stats_a.inserted, stats_a.duplicates, stats_a.rejected) == (1234, 1, 1)
    assert (stats_b.inserted, stats_b.duplicates, stats_b.rejected, stats_b.reasons) == (
        stats_a.inserted, stats_a.duplicates, stats_a.rejected, stats_a.reasons)
    rows_a, rows_b = _rows(db, a), _rows(db, b)
    assert rows_a == rows_b and len(rows_a) == 1234
    with db.session() as s:
        assert s.scalars(select(Item.id).where(Item.source_id == a).order_by(Item.id)).all() == sorted(stats_a.new_ids)


def test_reimport_counts_duplicates_and_refreshes_counts_only(db, cfg, org) -> None:  # type: ignore[no-untyped-def]
    src = _source(db, cfg, org.units["A"], "again")
    first = _ingest(db, src, _items(600))
    before = _rows(db, src)
    same = _ingest(db, src, _items(600))
    assert (same.inserted, same.duplicates, same.rejected, same.new_ids) == (0, 600, 0, [])
    assert _rows(db, src) == before
    # fresh counts for the existing ones (None keeps the stored count), new ones in between
    mixed = _items(700, likes=9)
    stats = _ingest(db, src, mixed[::-1])
    assert (stats.inserted, stats.duplicates) == (100, 600)
    with db.session() as s:
        likes = dict(s.execute(select(Item.external_id, Item.likes).where(Item.source_id == src)).all())
        assert s.scalar(select(func.count()).select_from(ItemRaw)) == 700
        new = set(s.scalars(select(Item.external_id).where(Item.id.in_(stats.new_ids))))
    assert new == {f"e{i}" for i in range(600, 700)}
    assert all(likes[f"e{i}"] == (9 if i % 7 else None) for i in range(700))
    assert len(first.new_ids) == 600 and not set(first.new_ids) & set(stats.new_ids)


def test_raw_json_text_is_stored_as_received(db, cfg, org) -> None:  # type: ignore[no-untyped-def]
    src = _source(db, cfg, org.units["A"], "raw")
    kept = services.RawJson.loads('{"b": 1,  "a": "ค่า\\u0e44\\u0e1f", "a": "last"}\n')
    changed = services.RawJson.loads('{"x": 1}')
    changed["y"] = 2
    _ingest(db, src, [FetchedItem(external_id="k", text="t", raw=kept),
                      FetchedItem(external_id="c", text="t", raw=changed)])
    with db.session() as s:
        ids = dict(s.execute(select(Item.external_id, Item.id).where(Item.source_id == src)).all())
        assert s.get(ItemRaw, ids["k"]).payload == {"b": 1, "a": "last"} == dict(kept)
        assert s.get(ItemRaw, ids["c"]).payload == {"x": 1, "y": 2}
        if db.engine.dialect.name == "sqlite":  # the text itself, as received
            stored = s.scalar(text("SELECT payload FROM item_raw WHERE item_id = :i"), {"i": ids["k"]})
            assert stored == '{"b": 1,  "a": "ค่า\\u0e44\\u0e1f", "a": "last"}'


def test_raw_json_forgets_its_text_when_changed() -> None:
    def fresh() -> services.RawJson:
        return services.RawJson.loads('{"a": 1, "b": 2}')

    assert fresh().text == '{"a": 1, "b": 2}'
    changes = [lambda d: d.__setitem__("c", 1), lambda d: d.__delitem__("a"), lambda d: d.update(c=1),
               lambda d: d.setdefault("c", 1), lambda d: d.pop("a"), lambda d: d.popitem(), lambda d: d.clear(),
               lambda d: d.__ior__({"c": 1})]
    for change in changes:
        d = fresh()
        change(d)
        assert d.text is None
    d = fresh()
    d.setdefault("a", 5)
    d.pop("zz", None)
    assert d.text == '{"a": 1, "b": 2}'  # nothing changed
    assert services.RawJson({"a": 1}).text is None
    with pytest.raises(ValueError, match="JSON object"):
        services.RawJson.loads("[1, 2]")
    for bad in ('{"a": 1} x', '{"a": }', ""):
        with pytest.raises(json.JSONDecodeError):
            services.RawJson.loads(bad)
    assert services.RawJson.loads(' {"a": 1}\r\n') == {"a": 1}


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON_VALUES, st.sampled_from(["", " ", "\n", "  \r\n"]))
def test_json_loads_gives_what_json_gives(value: object, pad: str) -> None:
    # ingest parses with orjson where that gives the same value; integers beyond 64 bits, which orjson turns
    # into floats, must come out as json's exact integers
    text = pad + json.dumps(value, ensure_ascii=False) + pad
    got = services.json_loads(text)
    assert got == value and repr(got) == repr(json.loads(text))


def test_json_loads_takes_what_only_json_takes_and_fails_like_json() -> None:
    for doc in ('{"n": 123456789012345678901234567890}', '[{"a": [18446744073709551616]}]', '[-9999999999999999999]', '{"x": NaN}',
                 '{"x": Infinity, "y": -Infinity}', '{"s": "\\ud800"}', '1e400', '{"a": 1.5}', '"\ud800"'):
        assert repr(services.json_loads(doc)) == repr(json.loads(doc)), doc
    assert services.json_loads('{"n": 123456789012345678901234567890}')["n"] == 123456789012345678901234567890
    for bad in ('{"a": 1} x', '{"a": }', "", "{'a': 1}", '{"a": 1,}'):
        with pytest.raises(json.JSONDecodeError) as got:
            services.json_loads(bad)
        with pytest.raises(json.JSONDecodeError) as want:
            json.loads(bad)
        assert (got.value.msg, got.value.pos) == (want.value.msg, want.value.pos)


def test_bulk_mode_is_undone_after_ingest_even_when_it_fails(db, cfg, org) -> None:  # type: ignore[no-untyped-def]
    import gc

    src = _source(db, cfg, org.units["A"], "bulk")

    def broken() -> Iterator[FetchedItem]:
        yield from _items(3)
        raise RuntimeError("the feed broke")

    def cache_size(s) -> object:  # type: ignore[no-untyped-def]
        conn = s.connection()
        return conn.exec_driver_sql("PRAGMA cache_size").scalar() if conn.dialect.name == "sqlite" else None

    assert gc.isenabled()
    with db.session() as s:
        cache = cache_size(s)
        with pytest.raises(RuntimeError, match="the feed broke"):
            services.ingest(s, s.get(Source, src), broken(), batch="t")
        assert gc.isenabled()
        assert cache_size(s) == cache
        s.rollback()
    assert _ingest(db, src, _items(3)).inserted == 3
    assert gc.isenabled()
    gc.disable()
    try:  # a caller that paused the collector itself keeps it paused
        _ingest(db, src, _items(2))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_rejected_items_are_recorded_and_nothing_else_is_lost(db, cfg, org) -> None:  # type: ignore[no-untyped-def]
    src = _source(db, cfg, org.units["A"], "rejects")
    batch = _items(5) + [FetchedItem(external_id=" ", text="x"), FetchedItem(external_id="e9", text="\x07 \x00"),
                         FetchedItem(external_id="n", text="naive", published_at=dt.datetime(2026, 1, 1)),
                         FetchedItem(external_id="x" * 301, text="long id")]
    stats = _ingest(db, src, batch)
    assert (stats.inserted, stats.rejected) == (5, 4)
    assert [r.split(": ", 1)[1] for r in stats.reasons] == [
        "the item has no id", "the text is empty", "the publication time has no time zone",
        "the id is 301 characters long (limit 300)"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(IngestReject).where(IngestReject.source_id == src)) == 4


_OLD_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _old_clean_text(value: str) -> str:
    """clean_text as it was before the single-scan fast path."""
    if re.search("[\ud800-\udfff]", value):
        value = value.encode("utf-8", "replace").decode("utf-8")
    return _OLD_CTRL.sub("", unicodedata.normalize("NFC", value)).strip()


_ALPHABET = st.sampled_from(list("aAé\u0301 \t\n\r\x0b\x1c\x85\xa0\u2028\u3000\x00\x07\x1f\x7f\ud800\udfff"
                                 "ไฟ\u0e4dĐßﬁΣ\u200b"))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=_ALPHABET))
def test_clean_text_and_content_hash_are_unchanged(value: str) -> None:
    assert services.clean_text(value) == _old_clean_text(value)
    if "\ud800" not in value and "\udfff" not in value:  # (lone surrogates cannot be hashed, before or now)
        expected = hashlib.sha256(" ".join(value.casefold().split()).encode()).hexdigest()
        assert services.content_hash(value) == expected
    cleaned = services.clean_text(value)
    assert services.content_hash(cleaned) == hashlib.sha256(" ".join(cleaned.casefold().split()).encode()).hexdigest()
    row = services._validate(FetchedItem(external_id="x", text=value))  # ingest's own copy of both
    if cleaned:
        assert not isinstance(row, str) and (row[7], row[16]) == (cleaned, services.content_hash(cleaned))
    else:
        assert row == "the text is empty"


def test_jsonl_import_keeps_line_text_and_stores_the_same_payloads(db, cfg, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from civicpulse.domain.listening.importers import read_rows

    records = [{"id": "1", "message": "ค่าไฟแพง", "likes": 3}, {"id": "2", "message": "a", "_row": "mine"},
               {"id": "3", "message": "Ã\u00a1 mojibake"}, {"id": "4", "message": "spaced"}]
    lines = [json.dumps(r, ensure_ascii=False) for r in records[:3]] + ['{ "id" : "4",\t"message":"spaced"  }']
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = {"text": "message", "id": "id", "likes": "likes"}
    items = [r for r in read_rows(path, mapping) if isinstance(r, FetchedItem)]
    assert [it.raw.get("_row") for it in items] == [1, 2, 3, 4]
    texts = [getattr(it.raw, "text", None) for it in items]
    assert texts[0] == json.dumps({**records[0], "_row": 1}, ensure_ascii=False)  # as json.dumps would write it
    assert texts[1] is None and texts[2] is None  # own "_row" / repaired text: serialised again
    assert texts[3] == '{ "id" : "4",\t"message":"spaced", "_row": 4}' and json.loads(texts[3]) == items[3].raw
    admin = Actor.system_actor("test")
    stats = services.import_file(db, cfg, admin, org.units["A"], "jsonl", path, mapping=mapping)
    assert (stats.inserted, stats.rejected) == (4, 0)
    with db.session() as s:
        payloads = {ext: p for ext, p in s.execute(select(Item.external_id, ItemRaw.payload).join(
            ItemRaw, ItemRaw.item_id == Item.id))}
    assert payloads == {"1": {**records[0], "_row": 1}, "2": {**records[1], "_row": 2},
                        "3": {"id": "3", "message": "á mojibake", "_row": 3},
                        "4": {"id": "4", "message": "spaced", "_row": 4}}
    again = services.import_file(db, cfg, admin, org.units["A"], "jsonl", path, mapping=mapping)
    assert (again.inserted, again.duplicates) == (0, 4)
