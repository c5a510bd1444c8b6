"""Tests for the topic query language (parse, FTS5 / tsquery translation, in-memory match)."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from civicpulse.db.session import add_sqlite_functions
from civicpulse.domain.listening import queries
from civicpulse.domain.listening import query as Q
from civicpulse.domain.listening.query import (
    FTS5_TOKENIZE,
    And,
    Field,
    Filter,
    Near,
    Not,
    Or,
    Phrase,
    QuerySyntaxError,
    Term,
    filters_to_sql,
    matches,
    mention_forms,
    mention_keys,
    mention_matches,
    parse,
    to_fts5,
    to_tsquery,
    tokens_of,
)


def T(text: str, col: int, prefix: bool = False) -> Term:
    return Term(text, prefix, col)


# --------------------------------------------------------------------------- parse


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("flood", T("flood", 1)),
        ("a b", And((T("a", 1), T("b", 3)))),
        ("a AND b", And((T("a", 1), T("b", 7)))),
        ("a OR b", Or((T("a", 1), T("b", 6)))),
        ("a and b", And((T("a", 1), T("and", 3), T("b", 7)))),  # lowercase = words
        ("a or b", And((T("a", 1), T("or", 3), T("b", 6)))),
        ("a OR b c", Or((T("a", 1), And((T("b", 6), T("c", 8)))))),  # AND > OR
        ("(a OR b) c", And((Or((T("a", 2), T("b", 7))), T("c", 10)))),
        ("NOT a b", And((Not(T("a", 5), 1), T("b", 7)))),  # NOT > AND
        ("-a b", And((Not(T("a", 2), 1), T("b", 4)))),
        ("b -\"x y\"", And((T("b", 1), Not(Phrase("x y", False, 4), 3)))),
        ("NOT NOT a", T("a", 9)),
        ('"ค่าไฟ แพง"', Phrase("ค่าไฟ แพง", False, 1)),
        ("vaccin*", T("vaccin", 1, True)),
        ('"covid vacc"*', Phrase("covid vacc", True, 1)),
        ("a NEAR/3 b", Near((T("a", 1), T("b", 10)), 3, 3)),
        ("a NEAR/2 b NEAR/2 c", Near((T("a", 1), T("b", 10), T("c", 19)), 2, 3)),
        ("a NEAR/3 b OR c", Or((Near((T("a", 1), T("b", 10)), 3, 3), T("c", 15)))),
        ("lang:th", Field("lang", "th", 1)),
        ("LANG:TH", Field("lang", "th", 1)),
        ("source:Facebook x", And((Field("source", "facebook", 1), T("x", 17)))),
        ('author:"Somchai J"', Field("author", "somchai j", 1)),
        ("author:@PM_Thai", Field("author", "pm_thai", 1)),
        ("after:2026-01-01", Field("after", "2026-01-01", 1)),
        ("before:2026-02-01", Field("before", "2026-02-01", 1)),
        ("sentiment:negative", Field("sentiment", "neg", 1)),
        ("unit:MOF", Field("unit", "mof", 1)),
        ("-source:twitter x", And((Not(Field("source", "twitter", 2), 1), T("x", 17)))),
        ("https://example.com/a", T("https://example.com/a", 1)),
        ("covid-19", T("covid-19", 1)),
        ("NEARBY", T("NEARBY", 1)),
        ("a - b", And((T("a", 1), T("-", 3), T("b", 5)))),
    ],
)
def test_parse(q: str, expected: Q.Node) -> None:
    assert parse(q) == expected


@pytest.mark.parametrize(
    ("q", "message", "column"),
    [
        ("", "The query is empty", 1),
        ("   ", "The query is empty", 1),
        ("(a OR b", "Unbalanced parenthesis at column 1", 1),
        ("a OR (b AND (c)", "Unbalanced parenthesis at column 6", 6),
        ("flood OR b)", "Unbalanced parenthesis at column 11", 11),
        ("lng:th", "Unknown field 'lng' at column 1 (known: lang, source, author, after, before, sentiment, unit, mentions)", 1),
        ("x after:2026-13-01", "Invalid date '2026-13-01' for after: at column 3", 3),
        ("before:yesterday", "Invalid date 'yesterday' for before: at column 1", 1),
        ("flood NEAR rain", "NEAR needs a distance, e.g. NEAR/5, at column 7", 7),
        ("flood NEAR/x rain", "NEAR needs a distance, e.g. NEAR/5, at column 7", 7),
        ("a NEAR/3", "NEAR needs a word on both sides, at column 3", 3),
        ("a NEAR/3 (b OR c)", "NEAR can only join words or \"phrases\", at column 3", 3),
        ("a NEAR/2 b NEAR/3 c", "One NEAR group must use one distance", 12),
        ('say "hello', "Unclosed quote at column 5", 5),
        ('a ""', "Empty phrase at column 3", 3),
        ("a ()", "Empty parentheses at column 3", 3),
        ("a AND", "AND needs a term on both sides, at column 3", 3),
        ("OR a", "OR needs a term on both sides, at column 1", 1),
        ("a OR OR b", "OR needs a term on both sides, at column 3", 3),
        ("a NOT", "NOT needs a term after it, at column 3", 3),
        ("*", "A wildcard needs at least one letter before '*', at column 1", 1),
        ("a*b", "'*' is only allowed at the end of a word, at column 2", 2),
        ("sentiment:angry", "Unknown sentiment 'angry' at column 1", 1),
        ("lang:", "lang: needs a value", 1),
        ("(" * 40 + "a" + ")" * 40, "Too many nested parentheses", 33),
    ],
)
def test_parse_errors(q: str, message: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError) as ei:
        parse(q)
    assert ei.value.message.startswith(message)
    assert ei.value.column == column


def test_pointer_shows_caret_under_column() -> None:
    q = "flood OR b)"
    with pytest.raises(QuerySyntaxError) as ei:
        parse(q)
    assert ei.value.pointer(q) == "flood OR b)\n          ^"


@pytest.mark.parametrize(
    ("q", "fragment", "column"),
    [
        ("-spam", "a query needs at least one term that is not negated", 1),
        ("NOT (a OR b) source:facebook", "a query needs at least one term that is not negated", 1),
        ("a OR -b", "a query needs at least one term that is not negated", 6),
        ("a OR lang:th", "Field filters apply to the whole query", 6),
        ("(lang:th OR source:x) a", "Only filters on the same field can be joined with OR", 13),
        ("a !!!", "'!!!' has no searchable word", 3),
    ],
)
def test_semantic_errors(q: str, fragment: str, column: int) -> None:
    for fn in (to_fts5, to_tsquery):
        with pytest.raises(QuerySyntaxError) as ei:
            fn(parse(q), Q.simple_tokenize)
        assert fragment in ei.value.message
        assert ei.value.column == column


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(list('ab ()"-*:/NEARODTlang:th2026-01x') + [" AND ", " OR ", " NOT ", " NEAR/2 ",
                                                                          "ค่า", "ữ", "lang:", "after:"]),
                max_size=25).map("".join)
       | st.text(max_size=60))
def test_parse_only_raises_query_syntax_error(q: str) -> None:
    try:
        node = parse(q)
    except QuerySyntaxError as e:
        assert e.column >= 1
        assert e.pointer(q).count("\n") == 1
        return
    # translation of a parsed query also only raises QuerySyntaxError
    for fn in (to_fts5, to_tsquery):
        try:
            fn(node, Q.simple_tokenize)
        except QuerySyntaxError:
            pass


# --------------------------------------------------------------------------- translations


def test_fts5_and_tsquery_shapes() -> None:
    q = parse('(flood OR "heavy rain") -spam lang:th')
    expr, filters = to_fts5(q, str.split)
    assert expr == '(("flood" OR "heavy rain") NOT "spam")'
    assert filters == [Filter("lang", "in", ("th",))]
    ts, _ = to_tsquery(q, str.split)
    assert ts == "(('flood' | ('heavy' <-> 'rain')) & !'spam')"
    # OR binds weaker than the implicit AND
    expr, _ = to_fts5(parse('flood OR "heavy rain" -spam'), str.split)
    assert expr == '("flood" OR ("heavy rain" NOT "spam"))'

    assert to_fts5(parse("vacc*"), str.split)[0] == '"vacc"*'
    assert to_tsquery(parse("vacc*"), str.split)[0] == "'vacc':*"
    assert to_fts5(parse('a NEAR/2 "b c"'), str.split)[0] == 'NEAR("a" "b c", 2)'
    ts, _ = to_tsquery(parse("a NEAR/1 b"), str.split)
    assert ts == "('a' <1> 'b' | 'b' <1> 'a' | 'a' <2> 'b' | 'b' <2> 'a')"


def test_quoting_is_safe() -> None:
    expr, _ = to_fts5(parse("o'neil"), str.split)
    assert expr == "\"o'neil\""
    ts, _ = to_tsquery(parse("o'neil back\\slash"), str.split)
    assert ts == "('o''neil' & 'back\\\\slash')"
    expr, _ = to_fts5(Phrase('say "hi"'), str.split)
    assert expr == '"say ""hi"""'


def test_near_distance_limit_on_postgres_only() -> None:
    assert to_fts5(parse("a NEAR/50 b"), str.split)[0] == 'NEAR("a" "b", 50)'
    with pytest.raises(QuerySyntaxError, match="at most NEAR/20"):
        to_tsquery(parse("a NEAR/50 b"), str.split)


def test_thai_term_becomes_phrase_and_vietnamese_syllables_join() -> None:
    expr, _ = to_fts5(parse("ค่าไฟแพง"))
    assert expr == '"ค่า ไฟ แพง"'
    expr, _ = to_fts5(parse('"xử phạt"'))
    assert expr == '"xử_phạt"'
    expr, _ = to_fts5(parse("xử phạt giao thông"))
    assert expr == '("xử_phạt" AND "giao_thông")'
    assert matches("xử phạt", {"text": "Hà Nội xử phạt vi phạm giao thông"})
    assert matches("ค่าไฟแพง", {"text": "ทำไมค่าไฟแพงขนาดนี้"})


def test_only_filters_gives_no_match_expression() -> None:
    expr, filters = to_fts5(parse("(lang:th OR lang:vi) -source:twitter after:2026-01-01"))
    assert expr is None
    assert filters == [
        Filter("lang", "in", ("th", "vi")),
        Filter("source", "in", ("twitter",), negate=True),
        Filter("after", "ge", ("2026-01-01",)),
    ]
    assert filters[2].boundary() == dt.datetime(2025, 12, 31, 17, 0, tzinfo=dt.UTC)


def test_filters_in_memory() -> None:
    item = {"text": "flood in town", "lang": "TH", "source": "facebook", "author": "@Somchai",
            "published_at": dt.datetime(2026, 1, 10, 3, 0, tzinfo=dt.UTC), "sentiment": "neg", "unit": "MOF"}
    tok = str.split
    assert matches("flood lang:th source:facebook author:somchai sentiment:neg unit:mof", item, tok)
    assert matches("flood after:2026-01-10 before:2026-01-11", item, tok)
    assert not matches("flood after:2026-01-11", item, tok)
    assert not matches("flood before:2026-01-10", item, tok)
    assert not matches("flood -source:facebook", item, tok)
    assert matches("flood -source:twitter", {"text": "flood"}, tok)  # missing value passes NOT
    assert not matches("flood source:twitter", {"text": "flood"}, tok)
    # naive datetimes are UTC; ISO strings are accepted
    assert matches("after:2026-01-10", {"published_at": "2026-01-09T17:00:00Z"}, tok)
    assert not matches("after:2026-01-10", {"published_at": dt.datetime(2026, 1, 9, 16, 59)}, tok)


def test_filters_to_sql_matches_in_memory() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, lang TEXT, source TEXT, published_at TEXT)")
    rows = [(1, "th", "facebook", "2026-01-05T00:00:00+00:00"), (2, "vi", "twitter", "2026-01-20T00:00:00+00:00"),
            (3, None, "rss", "2026-02-03T00:00:00+00:00"), (4, "en", None, None)]
    db.executemany("INSERT INTO items VALUES (?, ?, ?, ?)", rows)
    for q in ["lang:th", "-lang:th", "(lang:th OR lang:vi)", "-source:twitter", "after:2026-01-10",
              "before:2026-01-10 -lang:vi", "after:2026-01-01 before:2026-02-01"]:
        _, filters = to_fts5(parse(q))
        where, params = filters_to_sql(filters, {"lang": "lang", "source": "source", "published_at": "published_at"})
        params = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in params.items()}
        got = {r[0] for r in db.execute(f"SELECT id FROM items WHERE {where}", params)}
        want = {r[0] for r in rows if matches(q, {"lang": r[1], "source": r[2], "published_at": r[3]})}
        assert got == want, q


def test_plain_filters_with_letters_beyond_ascii_agree_in_sql_and_in_memory() -> None:
    """author:"Đức" finds "ĐỨC" in SQL on SQLite as in memory: a value beyond ASCII is compared through the
    product's unicode_lower (SQLite's lower() leaves Đ, Ứ as they are)."""
    db = sqlite3.connect(":memory:")
    add_sqlite_functions(db)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, author TEXT, source TEXT)")
    rows = [(1, "ĐỨC", "facebook"), (2, "đức", "zalo"), (3, "Somchai", "RSS"), (4, "สมชาย", None), (5, None, "x")]
    db.executemany("INSERT INTO items VALUES (?, ?, ?)", rows)
    cols = {"author": "author", "source": "source", "unicode_lower": queries._DIALECT_COLUMNS["sqlite"]["unicode_lower"]}
    for q, want in {'author:"Đức"': {1, 2}, "author:ĐỨC": {1, 2}, "-author:đức": {3, 4, 5}, "author:somchai": {3},
                    "author:สมชาย": {4}, "source:rss": {3}, "(author:đức OR author:SOMCHAI)": {1, 2, 3}}.items():
        _, filters = to_fts5(parse(q))
        where, params = filters_to_sql(filters, cols)
        got = {r[0] for r in db.execute(f"SELECT id FROM items WHERE {where}", params)}
        mem = {r[0] for r in rows if matches(q, {"author": r[1], "source": r[2]})}
        assert got == want and mem == want, (q, got, mem)


def test_mentions_in_memory_and_in_sql_agree() -> None:
    ents = {
        1: [{"type": "person", "text": "Phạm Minh Chính", "id": "person:pham-minh-chinh", "name": "Phạm Minh Chính"},
            {"type": "province", "text": "HN", "id": "vn:ha-noi", "name": "Hà Nội"}],
        2: [{"type": "ministry", "text": "Bộ Y tế", "id": "vn-ministry:moh", "name": "Bộ Y tế"}],
        3: [{"type": "province", "text": "กทม.", "id": "th:bkk", "name": "กรุงเทพมหานคร"}],
        4: [],
        5: None,
    }
    ents[6] = None  # JSON null, as an ORM may store None
    ents[7] = [{"type": "ministry", "text": "Uỷ ban Dân tộc", "id": "vn-ministry:cema", "name": "Ủy ban Dân tộc"}]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE item_mentions (key TEXT, item_id INTEGER, PRIMARY KEY (key, item_id))")
    db.executemany("INSERT INTO items VALUES (?)", [(i,) for i in ents])
    db.executemany("INSERT INTO item_mentions VALUES (?, ?)", [(k, i) for i, e in ents.items() for k in mention_keys(e)])
    add_sqlite_functions(db)
    cases = {
        "mentions:person:pham-minh-chinh": {1},
        'mentions:"Phạm Minh Chính"': {1},  # by name, and by the key of the name
        'mentions:"pham minh chinh"': {1},
        'mentions:"Hà Nội"': {1},
        "mentions:ha-noi": {1},
        'mentions:"bộ y tế"': {2},
        "mentions:moh": {2},
        "mentions:กรุงเทพมหานคร": {3},
        "mentions:กทม.": {3},
        "mentions:vn:ha-noi OR mentions:th:bkk": {1, 3},
        "-mentions:vn:ha-noi": {2, 3, 4, 5, 6, 7},
        'mentions:"Ủy ban Dân tộc"': {7},  # a capital SQLite's own lower() leaves as it is
        'mentions:"ỦY BAN DÂN TỘC" OR mentions:"uỷ ban dân tộc"': {7},
        "mentions:nobody": set(),
    }
    for q, want in cases.items():
        _, filters = to_fts5(parse(q))
        mem = {i for i, e in ents.items() if matches(q, {"entities": e})}
        assert mem == want, (q, mem)
        for column in (queries._MENTIONS_COLUMN, queries._MENTIONS_MANY):  # both forms of the condition
            where, params = filters_to_sql(filters, {**queries._DIALECT_COLUMNS["sqlite"], "mentions": column})
            got = {r[0] for r in db.execute(f"SELECT id FROM items WHERE {where}", params)}
            assert got == want, (q, column, got)


def _former_mention_rule(entities: object, values: list[str]) -> bool:
    """How mentions were matched before the keys (a scan of every item's entities)."""
    if not isinstance(entities, list):
        return False
    for e in entities:
        if isinstance(e, dict):
            eid = str(e.get("id") or "").lower()
            seen = {eid, str(e.get("name") or "").lower(), str(e.get("text") or "").lower()}
            if any(exact in seen or eid.endswith(suffix) for exact, suffix in map(mention_forms, values)):
                return True
    return False


_PART = st.sampled_from(["vn", "th", "ha-noi", "Hà Nội", "person", "pham-minh-chinh", "bkk", "กทม.", "Ủy ban", "K",
                         "\u212a", "x", "", "a:b"])


@example([{"id": "vn:Hà Nội", "name": "vn", "text": "vn"}], [":Hà Nội"])  # an id's end that is not a key
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({"id": st.lists(_PART, max_size=3).map(":".join), "name": _PART,
                                       "text": _PART}), max_size=3),
       st.lists(st.one_of(_PART.filter(bool), st.lists(_PART, min_size=2, max_size=3).map(":".join)),
                min_size=1, max_size=2))
def test_mention_keys_keep_the_former_rule(entities: list[dict[str, str]], values: list[str]) -> None:
    """The keys find what the former scan found (ids, names and texts in lower case, ends of ids after a colon)."""
    assert mention_matches(entities, values) == _former_mention_rule(entities, values)


def test_long_mention_keys_are_hashed_alike() -> None:
    name = "Ban chỉ đạo " * 40
    assert mention_matches([{"id": "org:x", "name": name, "text": "x"}], [name.upper()])
    assert all(len(k) <= Q.MENTION_KEY_MAX for k in mention_keys([{"id": "org:x", "name": name}]))


# --------------------------------------------------------------------------- FTS5 round trip

CORPUS = [
    "ค่าไฟแพงมาก รัฐบาลต้องช่วยประชาชน",
    "ทำไมค่าไฟเดือนนี้แพงขึ้นอีกแล้ว",
    "น้ำท่วมหนักที่เชียงใหม่ ขอความช่วยเหลือด่วน",
    "รัฐบาลประกาศมาตรการลดค่าไฟฟ้า",
    "ข่าวปลอม วัคซีนทำให้เป็นหมัน ไม่จริง",
    "วัคซีนโควิดเข็มกระตุ้นเปิดจองแล้ว",
    "ค่าน้ำมันแพง ค่าไฟก็แพง ชีวิตลำบาก",
    "ขอบคุณรัฐบาลที่ช่วยเรื่องน้ำท่วม",
    "ถนนพังมานานแล้ว ไม่มีใครมาซ่อม",
    "ไฟดับทั้งหมู่บ้านตั้งแต่เมื่อคืน",
    "Hà Nội xử phạt vi phạm giao thông rất nghiêm",
    "Người dân phản ánh giá điện tăng cao",
    "Cảnh sát giao thông xử phạt xe máy không đội mũ bảo hiểm",
    "Tin giả về vắc xin lan truyền trên mạng xã hội",
    "Chính phủ hỗ trợ người dân vùng lũ lụt",
    "Giá xăng tăng, người dân lo lắng",
    "Mưa lớn gây ngập lụt ở thành phố Hồ Chí Minh",
    "Bộ Y tế khuyến cáo tiêm vắc xin mũi nhắc lại",
    "Electricity prices are too high this month",
    "The government announced flood relief for the north",
    "Fake news about vaccines spreads on social media",
    "Heavy rain and flooding in Chiang Mai",
    "Power outage in the whole village since last night",
    "Vaccination booster appointments are now open",
    "People complain that electricity bills keep rising",
    "Flood victims need clean water and food",
    "The road has been broken for months",
    "Thank you government for the quick flood response",
    "Prices rising again: electricity, fuel and food",
    "rumour: the vaccine causes infertility, not true",
]

QUERIES = [
    "ค่าไฟ",
    "ค่าไฟแพง",
    '"ค่า ไฟ"',
    "ค่าไฟ -รัฐบาล",
    "ค่าไฟ OR น้ำท่วม",
    "(ค่าไฟ OR ค่าน้ำมัน) แพง",
    "รัฐบาล NEAR/3 ช่วย",
    "วัคซีน*",
    '"xử phạt"',
    "xử phạt giao thông",
    "giá NEAR/2 tăng",
    "người dân -giá",
    "vắc xin OR vaccine*",
    "electricity prices",
    '"electricity prices"',
    "flood* -rain",
    "flood NEAR/2 relief",
    "government AND (flood OR electricity) NOT relief",
    "vaccin* OR วัคซีน OR vắc",
    "rising NEAR/4 electricity",
    "food water OR road",
    "the",
]


@pytest.fixture(scope="module")
def fts_db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE docs USING fts5(tokens, tokenize=\"{FTS5_TOKENIZE}\")")
    for i, text in enumerate(CORPUS):
        db.execute("INSERT INTO docs(rowid, tokens) VALUES (?, ?)", (i, " ".join(tokens_of(text))))
    return db


def test_sqlite_has_fts5(fts_db: sqlite3.Connection) -> None:
    assert fts_db.execute("SELECT count(*) FROM docs").fetchone()[0] == len(CORPUS)


@pytest.mark.parametrize("q", QUERIES)
def test_fts5_and_matches_agree(fts_db: sqlite3.Connection, q: str) -> None:
    expr, filters = to_fts5(parse(q))
    assert expr is not None and not filters
    got = {r[0] for r in fts_db.execute("SELECT rowid FROM docs WHERE docs MATCH ?", (expr,))}
    want = {i for i, text in enumerate(CORPUS) if matches(parse(q), {"text": text})}
    assert got == want, (q, expr)


def test_round_trip_queries_are_not_trivial(fts_db: sqlite3.Connection) -> None:
    sizes = []
    for q in QUERIES:
        expr, _ = to_fts5(parse(q))
        sizes.append(len(fts_db.execute("SELECT rowid FROM docs WHERE docs MATCH ?", (expr,)).fetchall()))
    assert sum(1 for s in sizes if 0 < s < len(CORPUS)) >= len(QUERIES) - 2


def test_matches_accepts_pretokenised_text() -> None:
    item = {"text": "ignored", "tokens": "ค่า ไฟ แพง มาก"}
    assert matches("ค่าไฟแพง", item)
    assert matches('"ค่า ไฟ"*', {"tokens": ["ค่า", "ไฟฟ้า"]})
    assert not matches("ค่าไฟ NEAR/0 มาก", item)
    assert matches("ค่าไฟ NEAR/1 มาก", item)


def test_random_queries_fts5_equals_matches() -> None:
    """Seeded fuzz: random queries over a random corpus agree between FTS5 and matches()."""
    import random

    rng = random.Random(2026)
    words = ["a", "b", "c", "o'x", 'd"q', "ab", "x-y", "ค่า"]
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE d USING fts5(t, tokenize=\"{FTS5_TOKENIZE}\")")
    docs = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(80)]
    db.executemany("INSERT INTO d(rowid, t) VALUES (?, ?)", list(enumerate(docs)))
    pieces = ["a", "b", "c", "ab", "a*", "o'x", "x-y", "ค่า", "AND", "OR", "NOT", "-a", "NEAR/1", "NEAR/0",
              "NEAR/2", "(", ")", '"a b"', '"b c"*']
    checked = 0
    for _ in range(1500):
        q = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 9)))
        try:
            node = parse(q)
            expr, _ = to_fts5(node, str.split)
        except QuerySyntaxError:
            continue
        got = {r[0] for r in db.execute("SELECT rowid FROM d WHERE d MATCH ?", (expr,))}
        want = {i for i, t in enumerate(docs) if matches(node, {"tokens": t}, str.split)}
        assert got == want, (q, expr)
        checked += 1
    assert checked > 300


def test_near_group_of_three_follows_fts5() -> None:
    item = {"tokens": "a b c"}
    assert not matches("a NEAR/0 b NEAR/0 c", item, str.split)  # as FTS5 decides
    assert matches("a NEAR/1 b NEAR/1 c", item, str.split)
    assert matches("c NEAR/0 b", item, str.split)  # either order
