"""Ingest benchmark: civicpulse ``services.ingest`` against a plain ``json.loads`` + ``executemany`` floor.

    python bench/bench_ingest.py [--n 1000000] [--profile] [--enrich-sample 5000]

Steps (all in one run, on the same JSONL file of synthetic items, each into its own fresh SQLite file
under /tmp/civicpulse-bench):

* **floor** — ``json.loads`` per line, a tuple per row, ``sqlite3.executemany`` (500 rows) into a plain
  ``items`` table with the same columns (no secondary index, no FTS) plus the raw line into a plain
  ``item_raw`` table; commit every 50,000 rows. No validation, no hashing. The database file has
  civicpulse's settings (``civicpulse.db.session``: 16 KiB pages, WAL, ``synchronous=NORMAL``), so the ratio
  measures our code and schema, not a database setting. Diagnostic: the same floor with SQLite's default
  4 KiB pages (16 KiB pages make the floor ~10% faster and civicpulse ~15%).
* **floor + real schema** (diagnostic) — the same loop into the migrated civicpulse schema (its
  indexes and foreign keys): what SQLite itself costs, so the rest of the gap is Python.
* **civicpulse** — ``services.RawJson.loads`` (``json.loads`` keeping the line's text) → :class:`FetchedItem`
  (with the row as raw payload; the JSONL importer keeps its lines' text the same way) → ``services.ingest`` in one session per 50,000
  items, into a database made by ``alembic upgrade head``. Ingest stores the kept text as the raw payload.
* **civicpulse ingest file** — ``services.import_file`` as ``civicpulse ingest file PATH`` runs it: the JSONL
  file read, decoded, mapped (times, counts), checked and stored in one transaction; the file is read in a
  second process (``domain/listening/readahead.py``) while this one writes. It does more than the floor
  (encoding, mapping, time formats, one transaction for the whole file), so the goal is judged on
  ``services.ingest`` above; this is what an officer's import costs. With the diagnostics, the same
  command path with the file read in this process.
  CPU figures include the reading process (it has ended when the step's clock stops).
* **civicpulse, no raw payload** (diagnostic).
* **previous** (``--previous``) — the schema and insert statement before migration 0010_search_speed:
  a database migrated to ``0009_campaigns`` (ten indexes on ``items``, an FTS insert trigger for every
  row) and the generic ingest path (existing items looked up per batch, ``insert(Item).returning(...)``
  through SQLAlchemy, raw payloads serialised again) instead of the SQLite path.
  The before/after figures of the same run.

PostgreSQL (``--database-url postgresql://user@host:port/scratchdb``): the floor is psycopg
``executemany`` of the same tuples into plain tables, civicpulse is ``services.ingest`` into the
migrated schema; both in fresh schemas of that (scratch) database, which is emptied first.

Ingest does not segment words (``index_text = ''``; such items are not in the full-text index). The
indexing cost lands in the enrichment lane, measured here on a sample (``--enrich-sample``).
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import sqlite3
import sys
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    NOW,
    Clock,
    bench_dir,
    cleanup,
    fresh_db,
    header,
    loadavg,
    log,
    make_file_source,
    make_org,
    parse_args,
    parse_time,
    peak_rss_mb,
    rate,
    save_results,
    write_jsonl,
)

COMMIT_EVERY = 50_000
EXEC_BATCH = 500
GOAL = 0.5

_COLUMNS = ("id", "source_id", "unit_id", "unit_path", "external_id", "kind", "url", "title", "author_handle",
            "author_name", "author_followers", "text", "lang", "published_at", "collected_at", "likes", "shares",
            "comments", "views", "parent_external_id", "thread_external_id", "content_hash", "index_text")

_PLAIN_DDL = """
CREATE TABLE items (
  id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL, unit_id INTEGER NOT NULL, unit_path VARCHAR(1000) NOT NULL,
  external_id VARCHAR(300) NOT NULL, kind VARCHAR(20) NOT NULL, url VARCHAR(2000), title VARCHAR(1000),
  author_handle VARCHAR(300), author_name VARCHAR(300), author_followers BIGINT, text TEXT NOT NULL,
  lang VARCHAR(8), lang_score FLOAT, published_at DATETIME, collected_at DATETIME NOT NULL, likes BIGINT,
  shares BIGINT, comments BIGINT, views BIGINT, parent_external_id VARCHAR(300), thread_external_id VARCHAR(300),
  content_hash VARCHAR(64) NOT NULL, index_text TEXT NOT NULL, dup_cluster_id INTEGER, enriched_at DATETIME,
  sentiment VARCHAR(8), sentiment_score FLOAT, voice VARCHAR(16), voice_score FLOAT, toxicity VARCHAR(12),
  toxicity_score FLOAT, entities JSON, keyphrases JSON, embedding BLOB);
CREATE TABLE item_raw (item_id INTEGER PRIMARY KEY, payload JSON NOT NULL);
"""


def migrated_db(directory: Path, filename: str, revision: str = "head"):  # type: ignore[no-untyped-def]
    """Like bench.common.fresh_db, at a given migration."""
    import logging

    from civicpulse.config import Settings
    from civicpulse.db import migrate
    from civicpulse.db.session import Database

    path = directory / filename
    settings = Settings(env="dev", database_url=f"sqlite:///{path}", data_dir=directory / "data")
    migrate.upgrade(settings, revision)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings, Database(settings), path


_PG_PLAIN_DDL = """
DROP SCHEMA IF EXISTS bench_floor CASCADE; CREATE SCHEMA bench_floor;
CREATE TABLE bench_floor.items (
  id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL, unit_id INTEGER NOT NULL, unit_path VARCHAR(1000) NOT NULL,
  external_id VARCHAR(300) NOT NULL, kind VARCHAR(20) NOT NULL, url VARCHAR(2000), title VARCHAR(1000),
  author_handle VARCHAR(300), author_name VARCHAR(300), author_followers BIGINT, text TEXT NOT NULL,
  lang VARCHAR(8), lang_score FLOAT, published_at TIMESTAMPTZ, collected_at TIMESTAMPTZ NOT NULL, likes BIGINT,
  shares BIGINT, comments BIGINT, views BIGINT, parent_external_id VARCHAR(300), thread_external_id VARCHAR(300),
  content_hash VARCHAR(64) NOT NULL, index_text TEXT NOT NULL, dup_cluster_id INTEGER, enriched_at TIMESTAMPTZ,
  sentiment VARCHAR(8), sentiment_score FLOAT, voice VARCHAR(16), voice_score FLOAT, toxicity VARCHAR(12),
  toxicity_score FLOAT, entities JSON, keyphrases JSON, embedding BYTEA);
CREATE TABLE bench_floor.item_raw (item_id INTEGER PRIMARY KEY, payload JSON NOT NULL);
"""


def pg_floor_load(jsonl: Path, url: str) -> int:
    """The floor on PostgreSQL: json.loads + psycopg executemany into plain tables."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as con:
        con.execute(_PG_PLAIN_DDL)
        con.commit()
        cols = ", ".join(_COLUMNS)
        ins = f"INSERT INTO bench_floor.items ({cols}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
        ins_raw = "INSERT INTO bench_floor.item_raw (item_id, payload) VALUES (%s, %s)"
        n = 0
        rows: list[tuple[object, ...]] = []
        raws: list[tuple[int, str]] = []
        with con.cursor() as cur, jsonl.open(encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                n += 1
                rows.append((n, 1, 1, "/1/", r["id"], r["kind"], r["url"], None, r["author"], r["author_name"], None,
                             r["text"], r["lang"], r["published_at"], NOW, r["likes"], r["shares"], r["comments"],
                             r["views"], None, None, "", ""))
                raws.append((n, line))
                if len(rows) >= EXEC_BATCH:
                    cur.executemany(ins, rows)
                    cur.executemany(ins_raw, raws)
                    rows.clear()
                    raws.clear()
                if n % COMMIT_EVERY == 0:
                    con.commit()
            if rows:
                cur.executemany(ins, rows)
                cur.executemany(ins_raw, raws)
        con.commit()
        con.execute("DROP SCHEMA bench_floor CASCADE")
        con.commit()
    return n


def pg_fresh_db(url: str, directory: Path):  # type: ignore[no-untyped-def]
    """The scratch PostgreSQL database emptied (public schema recreated) and migrated to head."""
    import logging

    import psycopg

    from civicpulse.config import Settings
    from civicpulse.db import migrate
    from civicpulse.db.session import Database

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as con:
        con.execute("DROP SCHEMA public CASCADE")
        con.execute("CREATE SCHEMA public")
    settings = Settings(env="dev", database_url=url, data_dir=directory / "data")
    migrate.upgrade(settings)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings, Database(settings)


def _connect(path: Path, page_size: int | None = None) -> sqlite3.Connection:
    """A connection with civicpulse's database settings (``civicpulse.db.session``): its page size for a new
    file (``page_size`` overrides it), WAL, ``synchronous=NORMAL``, foreign keys."""
    from civicpulse.db.session import SQLITE_PAGE_SIZE

    con = sqlite3.connect(path, isolation_level=None)
    for pragma in (f"page_size={page_size or SQLITE_PAGE_SIZE}", "foreign_keys=ON", "journal_mode=WAL",
                   "synchronous=NORMAL"):
        con.execute(f"PRAGMA {pragma}")
    return con


def raw_sqlite_load(jsonl: Path, db: Path, *, plain: bool, source_id: int = 1, unit_id: int = 1,
                    unit_path: str = "/1/", page_size: int | None = None) -> int:
    """The floor: json.loads + executemany; returns rows inserted."""
    con = _connect(db, page_size)
    if plain:
        con.executescript(_PLAIN_DDL)
    else:  # into the real schema: with the page cache ingest gives itself (its indexes do not fit in the default)
        from civicpulse.domain.listening.services import BULK_CACHE_KIB

        con.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    ins = f"INSERT INTO items ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    ins_raw = "INSERT INTO item_raw (item_id, payload) VALUES (?, ?)"
    collected = NOW.replace(tzinfo=None).isoformat(sep=" ")
    n = 0
    rows: list[tuple[object, ...]] = []
    raws: list[tuple[int, str]] = []
    con.execute("BEGIN")

    def flush() -> None:
        con.executemany(ins, rows)
        con.executemany(ins_raw, raws)
        rows.clear()
        raws.clear()

    with jsonl.open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            n += 1
            rows.append((n, source_id, unit_id, unit_path, r["id"], r["kind"], r["url"], None, r["author"],
                         r["author_name"], None, r["text"], r["lang"], r["published_at"], collected, r["likes"],
                         r["shares"], r["comments"], r["views"], None, None, "", ""))
            raws.append((n, line))
            if len(rows) >= EXEC_BATCH:
                flush()
            if n % COMMIT_EVERY == 0:
                flush()
                con.execute("COMMIT")
                con.execute("BEGIN")
    flush()
    con.execute("COMMIT")
    con.close()
    return n


def civicpulse_load(jsonl: Path, db, source_id: int, *, with_raw: bool = True,  # type: ignore[no-untyped-def]
                    progress: bool = False) -> tuple[int, int, int]:
    """json.loads → FetchedItem → services.ingest, one session per 50,000 items; (inserted, duplicates, rejected)."""
    from civicpulse.connectors.base import FetchedItem
    from civicpulse.domain.listening import services
    from civicpulse.domain.listening.models import Source

    def fetched(lines: list[str]) -> Iterator[FetchedItem]:
        # a stream, as connectors and importers hand items to ingest (a list of 50,000 items held at once would
        # add ~3 µs per item of cyclic garbage collection, all in this loop: measured with gc.callbacks)
        for line in lines:
            r = services.RawJson.loads(line) if with_raw else json.loads(line)  # keeps the line's text
            yield FetchedItem(
                external_id=r["id"], text=r["text"], url=r["url"], kind=r["kind"], author_handle=r["author"],
                author_name=r["author_name"], published_at=parse_time(r["published_at"]), likes=r["likes"],
                shares=r["shares"], comments=r["comments"], views=r["views"], language=r["lang"],
                raw=r if with_raw else {})

    total = services.IngestStats()
    with jsonl.open(encoding="utf-8") as fh:
        while True:
            lines = list(islice(fh, COMMIT_EVERY))
            if not lines:
                break
            t, c = time.perf_counter(), time.process_time()
            with db.session() as s:
                src = s.get(Source, source_id)
                stats = services.ingest(s, src, fetched(lines), batch="bench")
                stats.new_ids.clear()
                total.add(stats)
            if progress:
                w, cpu = time.perf_counter() - t, time.process_time() - c
                log(f"  {total.inserted:>9,} items: this block {rate(len(lines), w):,.0f}/s wall, "
                    f"{rate(len(lines), cpu):,.0f}/s CPU")
    return total.inserted, total.duplicates, total.rejected


#: the columns of the synthetic JSONL for ``civicpulse ingest file`` (what its mapping step suggests, plus the name)
IMPORT_MAPPING = {"text": "text", "time": "published_at", "author": "author", "author_name": "author_name",
                  "url": "url", "likes": "likes", "shares": "shares", "comments": "comments", "views": "views",
                  "id": "id", "kind": "kind", "lang": "lang"}


def import_load(jsonl: Path, db, settings, unit_id: int, *, read_ahead: bool) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """``services.import_file`` as ``civicpulse ingest file`` calls it (one transaction for the whole file),
    with the file read in a second process (``read_ahead``) or in this one; (inserted, duplicates, rejected)."""
    from civicpulse.domain.listening import readahead, services
    from civicpulse.domain.org.permissions import Actor

    old = readahead.MIN_BYTES
    readahead.MIN_BYTES = 0 if read_ahead else 1 << 62
    try:
        st = services.import_file(db, settings, Actor.system_actor("bench", via="cli"), unit_id,
                                  "bench import" + (" read-ahead" if read_ahead else ""), jsonl,
                                  fmt="jsonl", mapping=IMPORT_MAPPING)
    finally:
        readahead.MIN_BYTES = old
    return st.inserted, st.duplicates, st.rejected


def enrich_sample(db, settings, sample: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The indexing work that ingest leaves to the enrichment lane, on the first ``sample`` items."""
    from sqlalchemy import bindparam, select, update

    from civicpulse.domain.listening.models import Item
    from civicpulse.nlp.classify import prepare

    out: dict[str, object] = {"sample": sample}
    # 1) can the real lane run? (needs an active model per task in nlp/models/registry.json)
    missing = []
    try:
        from civicpulse.nlp.classify import get_classifier

        for task in ("sentiment", "voice", "toxicity"):
            try:
                get_classifier(task, None)
            except Exception as exc:  # noqa: BLE001 - report, don't fail the benchmark
                missing.append(f"{task}: {exc}")
    except Exception as exc:  # noqa: BLE001
        missing.append(str(exc))
    if missing:
        out["enrich_pending"] = "not run: " + "; ".join(missing)
        log(f"enrich_pending not run: {'; '.join(missing)}")
    else:
        from civicpulse.domain.listening.enrich import enrich_pending

        st = enrich_pending(db, settings, limit=sample)
        out["enrich_pending_per_s"] = st.per_second
        log(f"enrich_pending: {st.done:,} items in {st.seconds:.1f}s = {st.per_second:,.0f} items/s")
    # 2) the indexing part alone: normalise + detect language + segment (classify.prepare, as the lane does),
    #    then the UPDATE of index_text that fires the FTS update trigger (delete + insert).
    with db.session() as s:
        rows = s.execute(select(Item.id, Item.text).order_by(Item.id).limit(sample)).all()
    prepare(["warm up ทดสอบ", "khởi động"])  # loads pythainlp / pyvi / the language detector
    t = time.perf_counter()
    prep = prepare([r[1] for r in rows])
    seg_s = time.perf_counter() - t
    params = [{"b_id": r[0], "b_it": " ".join(w for w in toks if w != "?").lower()}
              for r, toks in zip(rows, prep.tokens, strict=True)]
    t = time.perf_counter()
    with db.session() as s:
        s.connection().execute(update(Item).where(Item.id == bindparam("b_id"))
                               .values(index_text=bindparam("b_it")), params)
    upd_s = time.perf_counter() - t
    out.update(segment_per_s=rate(len(rows), seg_s), fts_update_per_s=rate(len(rows), upd_s),
               index_lane_per_s=rate(len(rows), seg_s + upd_s))
    log(f"enrichment lane, indexing part on {len(rows):,} items: segment (prepare) {rate(len(rows), seg_s):,.0f}/s, "
        f"UPDATE index_text + FTS trigger {rate(len(rows), upd_s):,.0f}/s, "
        f"together {rate(len(rows), seg_s + upd_s):,.0f}/s (1 process)")
    return out


def _cache_pragma(db, mb: int) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    @event.listens_for(db.engine, "connect")
    def _cache(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.execute(f"PRAGMA cache_size=-{mb * 1024}")

    db.engine.dispose()


def pg_main(args, jsonl: Path, d: Path, report, rows) -> None:  # type: ignore[no-untyped-def]
    url = args.database_url
    with Clock() as floor:
        n = pg_floor_load(jsonl, url)
    report("PostgreSQL floor: json.loads + psycopg executemany, plain tables", n, floor)
    settings, db = pg_fresh_db(url, d)
    units = make_org(db)
    src = make_file_source(db, settings, units[1])
    with Clock() as cp:
        inserted, dups, rejected = civicpulse_load(jsonl, db, src, progress=args.n >= 200_000)
    report(f"PostgreSQL civicpulse ingest ({dups:,} duplicates, {rejected:,} rejected)", inserted, cp)
    db.dispose()
    ratio_wall, ratio_cpu = floor.wall / cp.wall, floor.cpu / cp.cpu
    print("\n## Results (PostgreSQL; CPU = this process only, the server's work is not in it)")
    print(f"{'step':<70}{'items/s wall':>13}{'ratio':>7}{'items/s CPU':>13}{'ratio':>7}")
    for label, k, clk in rows:
        print(f"{label:<70}{rate(k, clk.wall):>13,.0f}{floor.wall / clk.wall:>7.2f}"
              f"{rate(k, clk.cpu):>13,.0f}{floor.cpu / clk.cpu:>7.2f}")
    print(f"\nratio to the PostgreSQL floor: wall {ratio_wall:.2f}, client CPU {ratio_cpu:.2f}")
    save_results("ingest-postgresql", args.n, {
        "steps": [{"step": label, "n": k, "wall_s": clk.wall, "cpu_s": clk.cpu, "per_s_wall": rate(k, clk.wall),
                   "ratio_wall": floor.wall / clk.wall} for label, k, clk in rows],
        "ratio_wall": ratio_wall, "ratio_cpu": ratio_cpu, "inserted": inserted})


def best(clocks: list[Clock]) -> Clock:
    """The least wall time and the least CPU time of several runs of the same step."""
    out = Clock()
    out.wall, out.cpu = min(c.wall for c in clocks), min(c.cpu for c in clocks)
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: (
        p.add_argument("--repeat", type=int, default=2,
                       help="rounds of floor + civicpulse ingest; each is reported by its best round (default 2)"),
        p.add_argument("--profile", action="store_true", help="cProfile the civicpulse run"),
        p.add_argument("--enrich-sample", type=int, default=5000, help="items for the enrichment-lane sample (0: skip)"),
        p.add_argument("--cache-mb", type=int, default=0,
                       help="diagnostic: also run civicpulse ingest with PRAGMA cache_size of this many MB"),
        p.add_argument("--no-raw", action="store_true", help="diagnostic: also run civicpulse ingest without raw payloads"),
        p.add_argument("--skip-diagnostics", action="store_true", help="skip the floor into the real schema"),
        p.add_argument("--previous", action="store_true",
                       help="also run the schema and insert statement before migration 0010 (before/after)"),
        p.add_argument("--database-url", default="",
                       help="a scratch PostgreSQL database (emptied!): run the floor and civicpulse there")))
    header("Ingest benchmark", args)
    d = bench_dir("ingest")
    res: dict[str, object] = {}
    rows: list[tuple[str, int, Clock]] = []

    def report(label: str, n: int, clk: Clock) -> None:
        rows.append((label, n, clk))
        log(f"{label}: {n:,} items in {clk.wall:.1f}s wall / {clk.cpu:.1f}s CPU = {rate(n, clk.wall):,.0f}/s wall, "
            f"{rate(n, clk.cpu):,.0f}/s CPU")

    try:
        jsonl = d / "items.jsonl"
        t = time.perf_counter()
        size = write_jsonl(jsonl, args.n, args.seed)
        log(f"wrote {args.n:,} synthetic items ({size / 1e6:,.0f} MB JSONL) in {time.perf_counter() - t:.0f}s")

        if args.database_url:
            pg_main(args, jsonl, d, report, rows)
            return

        # the floor and civicpulse ingest, alternating --repeat times; each is reported by its best round
        # (least wall time; least CPU time), so a burst of other work on the machine does not decide the ratio
        floors, floors4k, cps = [], [], []
        for r in range(args.repeat):
            with Clock() as clk:
                n = raw_sqlite_load(jsonl, d / "floor.sqlite3", plain=True)
            (d / "floor.sqlite3").unlink()
            floors.append(clk)
            with Clock() as clk:
                n1 = raw_sqlite_load(jsonl, d / "floor4k.sqlite3", plain=True, page_size=4096)
            (d / "floor4k.sqlite3").unlink()
            floors4k.append(clk)
            settings, db, path = fresh_db(d)
            units = make_org(db)
            src = make_file_source(db, settings, units[1])
            prof = cProfile.Profile() if args.profile and r == args.repeat - 1 else None
            with Clock() as clk:
                if prof:
                    prof.enable()
                inserted, dups, rejected = civicpulse_load(jsonl, db, src, progress=args.n >= 200_000)
                if prof:
                    prof.disable()
            cps.append(clk)
            if r < args.repeat - 1:
                db.dispose()
                path.unlink()
            log(f"round {r + 1}/{args.repeat}: floor {floors[-1].wall:.1f}s wall / {floors[-1].cpu:.1f}s CPU, "
                f"civicpulse {clk.wall:.1f}s / {clk.cpu:.1f}s")
        floor, floor4k, cp = best(floors), best(floors4k), best(cps)
        report("floor: json.loads + executemany, plain tables", n, floor)
        report("floor with SQLite's default page size (4 KiB)", n1, floor4k)

        if args.previous:
            from civicpulse.domain.listening import services

            settings0, db0, path0 = migrated_db(d, "previous.sqlite3", "0009_campaigns")
            units0 = make_org(db0)
            src0 = make_file_source(db0, settings0, units0[1])
            current = services._ingest_chunk_sqlite
            services._ingest_chunk_sqlite = services._ingest_chunk  # lookup first, then insert().returning()
            try:
                with Clock() as clk:
                    ins0, _, _ = civicpulse_load(jsonl, db0, src0, progress=args.n >= 200_000)
            finally:
                services._ingest_chunk_sqlite = current  # type: ignore[assignment]
            db0.dispose()
            path0.unlink()
            report("previous: schema of 0009 (10 indexes, FTS trigger per row) + insert().returning()", ins0, clk)

        if not args.skip_diagnostics:
            settings2, db2, path2 = fresh_db(d, "schema.sqlite3")
            units2 = make_org(db2)
            src2 = make_file_source(db2, settings2, units2[1])
            db2.dispose()
            with Clock() as clk:
                n2 = raw_sqlite_load(jsonl, path2, plain=False, source_id=src2, unit_id=units2[1],
                                     unit_path=f"/{units2[0]}/{units2[1]}/")
            report("floor into the real schema (its indexes and foreign keys)", n2, clk)
            path2.unlink()

        report(f"civicpulse ingest ({dups:,} duplicates, {rejected:,} rejected)", inserted, cp)
        rows[-1] = ("civicpulse ingest: FetchedItem + raw payload", inserted, cp)

        # the whole command path: reading the file (decoding, mapping, times, counts) + checking + storing
        imports = [("civicpulse ingest file (import_file), file read in a 2nd process", True)]
        if not args.skip_diagnostics:
            imports.append(("civicpulse ingest file (import_file), one process", False))
        for label, ahead in imports:
            settings4, db4, path4 = fresh_db(d, f"import{int(ahead)}.sqlite3")
            units4 = make_org(db4)
            with Clock() as clk:
                ins4, dup4, rej4 = import_load(jsonl, db4, settings4, units4[1], read_ahead=ahead)
            db4.dispose()
            path4.unlink()
            report(f"{label} ({dup4:,} duplicates, {rej4:,} rejected)", ins4, clk)
            if ahead:
                res["import_read_ahead"] = {"per_s_wall": rate(ins4, clk.wall), "ratio_wall": floor.wall / clk.wall,
                                            "per_s_cpu": rate(ins4, clk.cpu), "ratio_cpu": floor.cpu / clk.cpu}
                imp_clk, imp_n = clk, ins4

        variants = []
        if args.no_raw:
            variants.append(("civicpulse ingest, no raw payload", False, 0))
        if args.cache_mb:
            variants.append((f"civicpulse ingest, PRAGMA cache_size {args.cache_mb} MB", True, args.cache_mb))
        for k, (label, with_raw, cache_mb) in enumerate(variants):
            settings3, db3, path3 = fresh_db(d, f"variant{k}.sqlite3")
            units3 = make_org(db3)
            src3 = make_file_source(db3, settings3, units3[1])
            if cache_mb:
                _cache_pragma(db3, cache_mb)
            with Clock() as clk:
                ins3, _, _ = civicpulse_load(jsonl, db3, src3, with_raw=with_raw, progress=args.n >= 200_000)
            db3.dispose()
            path3.unlink()
            report(label, ins3, clk)

        enrich = enrich_sample(db, settings, min(args.enrich_sample, inserted)) if args.enrich_sample else {}
        db.dispose()

        ratio_wall = rate(inserted, cp.wall) / rate(n, floor.wall)
        ratio_cpu = rate(inserted, cp.cpu) / rate(n, floor.cpu)
        print("\n## Results")
        print(f"{'step':<80}{'items/s wall':>13}{'ratio':>7}{'items/s CPU':>13}{'ratio':>7}")
        for label, k, clk in rows:
            print(f"{label:<80}{rate(k, clk.wall):>13,.0f}{floor.wall / clk.wall:>7.2f}"
                  f"{rate(k, clk.cpu):>13,.0f}{floor.cpu / clk.cpu:>7.2f}")
        imp_ratio = floor.wall / imp_clk.wall * imp_n / n
        met = min(ratio_wall, ratio_cpu) >= GOAL  # on a shared machine the wall ratio alone can flatter
        print(f"\ngoal ≥ {GOAL} of the floor: {'MET' if met else 'NOT MET'} — services.ingest (json.loads → "
              f"FetchedItem → ingest, as the floor: parse + insert) wall {ratio_wall:.2f}, CPU {ratio_cpu:.2f}; both "
              f"must reach it")
        print(f"against the floor with SQLite's default 4 KiB pages (civicpulse uses 16 KiB): wall "
              f"{floor4k.wall / cp.wall * inserted / n1:.2f}, CPU {floor4k.cpu / cp.cpu * inserted / n1:.2f}")
        print(f"the whole command `civicpulse ingest file` (reading, decoding, mapping, one transaction), file read "
              f"in a 2nd process: {imp_ratio:.2f} wall ({floor.cpu / imp_clk.cpu * imp_n / n:.2f} per CPU-second of "
              f"both processes)")
        print(f"load average at the end: {loadavg()}")
        print(f"peak RSS {peak_rss_mb():,.0f} MB; civicpulse database {path.stat().st_size / 1e6:,.0f} MB")
        res.update(repeat=args.repeat, rounds=[{"floor_wall_s": f.wall, "floor_cpu_s": f.cpu, "civicpulse_wall_s": c.wall,
                                                "civicpulse_cpu_s": c.cpu} for f, c in zip(floors, cps, strict=True)],
                   steps=[{"step": label, "n": k, "wall_s": clk.wall, "cpu_s": clk.cpu,
                           "per_s_wall": rate(k, clk.wall), "per_s_cpu": rate(k, clk.cpu),
                           "ratio_wall": floor.wall / clk.wall, "ratio_cpu": floor.cpu / clk.cpu}
                          for label, k, clk in rows],
                   ratio_wall=ratio_wall, ratio_cpu=ratio_cpu, inserted=inserted, enrich=enrich,
                   goal_met=met, db_mb=path.stat().st_size / 1e6)
        if prof:
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
            print("\n## cProfile (civicpulse run, cumulative)\n" + buf.getvalue())
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(20)
            print("\n## cProfile (civicpulse run, own time)\n" + buf.getvalue())
        save_results("ingest", args.n, res)
    finally:
        cleanup(d, args.keep)


if __name__ == "__main__":
    main()
