"""mentions: benchmark: ``queries.search`` with ``mentions:`` filters through the mention keys (table
``item_mentions``) against the former per-item scan of the entities, over N items, in one run.

    python bench/bench_mentions.py [--n 1000000] [--reps 7] [--rebuild]

* The items are those of ``bench_search.py`` (the same cached database, copied). Each gets the entities that
  the real entity finder (``civicpulse.nlp.entities.default_finder``) finds in its text, so places, ministries,
  people and organisations are as frequent as in the corpus its sentences come from. They are written as
  enrichment writes them: ``items.entities`` and the keys of ``mention_keys``. Cached like the search database.
* Each query runs once to warm up, then ``--reps`` times through ``queries.search(session, Actor.system_actor(),
  q, limit=20, count_cap=1000)`` (as the UI, API and CLI call it): with the keys, and with the ``mentions``
  condition as it was before them (``json_each`` over every candidate item's entities: ids, names and texts in
  lower case, ends of ids after a colon), alternated query by query. The two must find the same items.
* Prints per query p50/p95 wall for both and the ratio former ÷ keys.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_search import cached_db  # noqa: E402
from bench.common import (  # noqa: E402
    WORK,
    Clock,
    bench_dir,
    cleanup,
    header,
    loadavg,
    log,
    parse_args,
    percentile,
    save_results,
)

#: The former condition (until migration 0013): every candidate item's entities read from JSON and compared.
FORMER_COLUMNS = {
    "mentions": "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_type(items.entities) = 'array' "
                "THEN items.entities ELSE '[]' END) AS ent WHERE {cond})",
    "mentions.id": "lower(json_extract(ent.value, '$.id'))",
    "mentions.name": "unicode_lower(json_extract(ent.value, '$.name'))",
    "mentions.text": "unicode_lower(json_extract(ent.value, '$.text'))",
}


def former_mentions_sql(f: Any, i: int, columns: Any, param_prefix: str, params: dict[str, Any]) -> str:
    """``query._mentions_sql`` as it was before the keys."""
    from civicpulse.domain.listening.query import mention_forms

    cols = FORMER_COLUMNS
    conds = []
    for j, v in enumerate(f.values):
        exact, suffix = mention_forms(v)
        a, b = f"{param_prefix}{i}_{j}", f"{param_prefix}{i}_{j}s"
        params[a], params[b] = exact, "%" + suffix
        conds.append(f"{cols['mentions.id']} = :{a} OR {cols['mentions.id']} LIKE :{b} "
                     f"OR {cols['mentions.name']} = :{a} OR {cols['mentions.text']} = :{a}")
    exists = cols["mentions"].format(cond=" OR ".join(f"({c})" for c in conds))
    return f"(NOT {exists})" if f.negate else f"({exists})"


#: (label, query); {top}, {mid}, {rare}: entities of the corpus by frequency, filled in at run time.
QUERIES: list[tuple[str, str]] = [
    ("most frequent, by id", "mentions:{top_id}"),
    ("most frequent, by name", 'mentions:"{top_name}"'),
    ("mid frequency, by id end", "mentions:{mid_end}"),
    ("rare", 'mentions:"{rare_name}"'),
    ("two, OR", "mentions:{mid_id} OR mentions:{rare_id}"),
    ("with lang", "mentions:{top_id} lang:{top_lang}"),
    ("negated, with lang", "lang:en -mentions:{top_id}"),
    ("word + mentions", "{word} mentions:{top_id}"),
    ("nobody", "mentions:nobody-at-all"),
]


def add_entities(path: Path) -> dict[str, list[Any]]:
    """Each item's entities, found by the real entity finder in its text, written as enrichment writes them."""
    from civicpulse.domain.listening.query import mention_keys
    from civicpulse.nlp.entities import default_finder

    finder = default_finder()
    con = sqlite3.connect(path, isolation_level=None)
    n = con.execute("SELECT count(*) FROM items").fetchone()[0]
    freq: dict[str, list[Any]] = {}
    t = time.perf_counter()
    last, done = 0, 0
    while True:
        rows = con.execute("SELECT id, text, lang FROM items WHERE id > ? ORDER BY id LIMIT 5000", (last,)).fetchall()
        if not rows:
            break
        ups: list[tuple[str, int]] = []
        keys: list[tuple[str, int]] = []
        for item_id, text, lang in rows:
            ents = finder.find(text, lang)
            if ents:
                ups.append((json.dumps(ents, ensure_ascii=False), item_id))
                keys.extend((k, item_id) for k in mention_keys(ents))
            for e in {e["id"]: e for e in ents if e.get("id")}.values():
                freq.setdefault(e["id"], [0, e.get("name") or e.get("text"), lang])[0] += 1
        con.execute("BEGIN")
        con.executemany("UPDATE items SET entities = ? WHERE id = ?", ups)
        con.executemany("INSERT INTO item_mentions (key, item_id) VALUES (?, ?)", keys)
        con.execute("COMMIT")
        last, done = rows[-1][0], done + len(rows)
        if done % 100_000 < 5000:
            log(f"  {done:,} of {n:,} items ({done / (time.perf_counter() - t):,.0f}/s)")
    con.execute("ANALYZE")
    con.close()
    return freq


def _pick(freq: dict[str, list[Any]]) -> dict[str, str]:
    ranked = sorted(freq.items(), key=lambda kv: (-kv[1][0], kv[0]))
    top, mid, rare = ranked[0], ranked[len(ranked) // 4], ranked[-1]
    return {"top_id": top[0], "top_name": str(top[1][1]), "top_lang": top[1][2], "mid_id": mid[0],
            "mid_end": mid[0].split(":", 1)[1], "rare_id": rare[0], "rare_name": str(rare[1][1]),
            "top_n": str(top[1][0]), "mid_n": str(mid[1][0]), "rare_n": str(rare[1][0]),
            "word": {"th": "ประชาชน", "vi": "người dân", "en": "government"}.get(top[1][2], "government")}


def run(db, queries_: list[tuple[str, str]], reps: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from civicpulse.domain.listening import queries, query
    from civicpulse.domain.org.permissions import Actor

    actor = Actor.system_actor()
    keys_sql = query._mentions_sql
    out = []
    for label, q in queries_:
        times: dict[str, list[float]] = {"keys": [], "former": []}
        found: dict[str, tuple[int, list[int]]] = {}
        for rep in range(reps + 1):
            for way in ("keys", "former"):
                query._mentions_sql = keys_sql if way == "keys" else former_mentions_sql  # type: ignore[assignment]
                try:
                    t = time.perf_counter()
                    with db.session() as s:
                        res = queries.search(s, actor, q, limit=20, count_cap=1000)
                    spent = (time.perf_counter() - t) * 1000
                finally:
                    query._mentions_sql = keys_sql  # type: ignore[assignment]
                if rep:
                    times[way].append(spent)
                found[way] = (res.total, [h.item.id for h in res.hits])
        same = found["keys"] == found["former"]
        r = {"label": label, "query": q, "total": found["keys"][0], "same": same,
             **{f"{w}_p50_ms": percentile(v, 50) for w, v in times.items()},
             **{f"{w}_p95_ms": percentile(v, 95) for w, v in times.items()}}
        r["ratio_p50"] = r["former_p50_ms"] / r["keys_p50_ms"] if r["keys_p50_ms"] else float("inf")
        log(f"  {label:<26} keys {r['keys_p50_ms']:8.1f} ms  former {r['former_p50_ms']:9.1f} ms  "
            f"x {r['ratio_p50']:7.1f}  matches {r['total']:,}{'' if same else '  RESULTS DIFFER'}")
        out.append(r)
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: (
        p.add_argument("--reps", type=int, default=7),
        p.add_argument("--rebuild", action="store_true", help="rebuild the cached databases")))
    header("mentions: benchmark", args)
    src = cached_db(args.n, args.seed, args.rebuild)
    key = hashlib.sha256(Path(__file__).read_bytes() + src.parent.name.encode()).hexdigest()[:12]
    cached = WORK / "cache" / f"mentions-{args.n}-{key}" / "mentions.sqlite3"
    freq_path = cached.parent / "freq.json"
    if args.rebuild or not cached.exists():
        shutil.rmtree(cached.parent, ignore_errors=True)
        cached.parent.mkdir(parents=True)
        shutil.copyfile(src, cached)
        log(f"adding entities to {args.n:,} items")
        with Clock() as clk:
            freq = add_entities(cached)
        log(f"  done in {clk.wall:.0f}s")
        freq_path.write_text(json.dumps(freq, ensure_ascii=False))
    freq = json.loads(freq_path.read_text())
    d = bench_dir("mentions")
    try:
        shutil.copyfile(cached, d / "mentions.sqlite3")
        from civicpulse.config import Settings
        from civicpulse.db.session import Database

        settings = Settings(env="dev", database_url=f"sqlite:///{d / 'mentions.sqlite3'}", data_dir=d / "data")
        db = Database(settings)
        picks = _pick(freq)
        log(f"entities: {len(freq):,} distinct; most frequent {picks['top_id']} ({picks['top_n']} items), "
            f"a quarter down {picks['mid_id']} ({picks['mid_n']}), rarest {picks['rare_id']} ({picks['rare_n']})")
        log(f"running {len(QUERIES)} queries x {args.reps}, keys and former alternated (load average {loadavg()})")
        rows = run(db, [(label, q.format(**picks)) for label, q in QUERIES], args.reps)
        db.dispose()
        print(f"\n## {args.n:,} items: mentions: through the keys vs the former scan (search, count_cap=1000)")
        print(f"{'query':<26}{'matches':>9}{'keys p50':>10}{'p95':>8}{'former p50':>12}{'p95':>9}{'x':>8}  same")
        for r in rows:
            print(f"{r['label']:<26}{r['total']:>9,}{r['keys_p50_ms']:>10.1f}{r['keys_p95_ms']:>8.1f}"
                  f"{r['former_p50_ms']:>12.1f}{r['former_p95_ms']:>9.1f}{r['ratio_p50']:>8.1f}  {r['same']}")
        worst = max(r["keys_p95_ms"] for r in rows)
        print(f"worst p95 through the keys: {worst:.1f} ms; load average after the run {loadavg()}")
        save_results("mentions", args.n, {"queries": rows, "picks": picks, "loadavg": loadavg()})
        if not all(r["same"] for r in rows):
            sys.exit("the keys and the former scan found different items")
    finally:
        cleanup(d, args.keep)


if __name__ == "__main__":
    main()
