"""Scheduler benchmark: N posts due in the same minute across C channels, published by the real dispatcher.

    python bench/bench_scheduler.py [--n 10000] [--channels 500] [--threads 4] [--limited 25]
                                    [--database-url postgresql://postgres@127.0.0.1:5432/cp_bench_scheduler]

* A fresh migrated SQLite database (or ``--database-url`` for PostgreSQL); one unit; C channels spread over six
  platforms (X, Telegram, Mastodon, Bluesky, Facebook, LINE). Each platform's connector is replaced by an in-process
  fake that records the moment of each publish call, but keeps the real connector's published ``rate_limits``,
  so the dispatcher's token buckets see the real per-platform limits.
* ``--limited`` channels also get ``max_per_minute = 6`` (a lowered limit): they receive more posts than that, so
  part of their posts must wait in the queue (not fail).
* N approved variants, all due at the same instant T0, are inserted in bulk (setup, not measured).
* Measured: ``engine.dispatch_due`` (the code the worker's every-minute task runs) with ``--threads`` threads, called
  again until nothing is left. Dispatch delay of a post = its publish call − T0: p50/p95/max, throughput.
* Checks: every post published exactly once; for each channel and each of its limits, the publish times never
  exceed the token bucket (burst of ``calls``, then ``calls / per_seconds``); no post failed.
* Baseline, same run, same database engine: a plain loop that selects each due row, calls the fake publish, and
  marks it published in one transaction (no claim, lease, audit, attempt log or rate limit). Ratio = dispatcher
  time per post / baseline time per post: the cost of the guarantees.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_dir, cleanup, fresh_db, loadavg, machine, make_org, percentile  # noqa: E402

PLATFORMS = ("x", "telegram", "mastodon", "bluesky", "facebook", "line")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--channels", type=int, default=500)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--limited", type=int, default=25, help="channels with a lowered limit of 6 posts a minute")
    p.add_argument("--baseline-n", type=int, default=2000)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--database-url", default="",
                   help="a scratch PostgreSQL database (its public schema is dropped and migrated again)")
    args = p.parse_args()

    from sqlalchemy import insert, select, update

    from civicpulse.connectors.base import Connector, Published, PublishRequest, RateLimit
    from civicpulse.crypto import encrypt
    from civicpulse.db.base import utcnow
    from civicpulse.domain.content.models import Post
    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.publishing import engine, platforms
    from civicpulse.domain.publishing.models import Channel, Variant

    calls: dict[str, list[tuple[float, int]]] = collections.defaultdict(list)  # key -> [(t, channel)]
    lock = threading.Lock()

    def fake_class(platform: str) -> type[Connector]:
        real = platforms.connector_class(platform)

        class Fake(Connector):
            rate_limits: ClassVar[tuple[RateLimit, ...]] = tuple(real.rate_limits)
            can_lookup: ClassVar[bool] = True

            def publish(self, request: PublishRequest) -> Published:
                with lock:
                    calls[request.idempotency_key].append((time.monotonic(), int(self.config["n"])))
                return Published(external_id=uuid.uuid4().hex, url=None)

            def lookup(self, request: PublishRequest) -> Published | None:
                return None

        Fake.platform = platform  # type: ignore[misc]
        return Fake

    limits = {}
    for plat in PLATFORMS:
        cls = fake_class(plat)
        limits[plat] = cls.rate_limits
        platforms.register(plat, cls)

    d = bench_dir("scheduler")
    if args.database_url:
        settings, db = _fresh_pg(args.database_url, d)
    else:
        settings, db, _path = fresh_db(d)
    (unit_id,) = make_org(db, ("BENCH",))
    print("# Scheduler benchmark")
    print(f"machine: {machine()}; load average {loadavg()}; database: "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}")
    print(f"{args.n:,} posts due at the same instant across {args.channels} channels ({', '.join(PLATFORMS)}), "
          f"{args.limited} channels limited to 6/minute, {args.threads} dispatcher threads")
    for plat in PLATFORMS:
        print(f"  {plat:9} limits: " + "; ".join(f"{lim.calls}/{lim.per_seconds:g}s" for lim in limits[plat]))

    def populate(n: int, n_channels: int, limited: int, state: str = "scheduled") -> tuple[list[int], dt.datetime]:
        with db.session() as s:
            unit = s.get(Unit, unit_id)
            assert unit is not None
            secrets = encrypt(settings, {"token": "x"})
            ch_rows = [{"unit_id": unit_id, "unit_path": unit.path, "platform": PLATFORMS[i % len(PLATFORMS)],
                        "name": f"bench {uuid.uuid4().hex[:6]} {i}", "secrets": secrets, "enabled": True,
                        "config": {"n": i, **({"max_per_minute": 6} if i < limited else {})},
                        "created_at": utcnow(), "updated_at": utcnow()} for i in range(n_channels)]
            ids = list(s.scalars(insert(Channel).returning(Channel.id), ch_rows))
            post_id = s.scalar(insert(Post).returning(Post.id), [{
                "unit_id": unit_id, "unit_path": unit.path, "title": "bench", "texts": {"en": "bench"},
                "hashtags": [], "media_ids": [], "review_status": "approved", "review_steps": [], "review_step": 0,
                "review_crisis": False, "created_at": utcnow(), "updated_at": utcnow()}])
            t0 = utcnow()
            rows = [{"post_id": post_id, "channel_id": ids[i % n_channels], "unit_id": unit_id,
                     "unit_path": unit.path, "language": "en", "text": f"post {i}", "media_ids": [], "options": {},
                     "state": state, "needs_check": False, "in_doubt": False, "scheduled_at": t0,
                     "next_attempt_at": t0, "attempts": 0, "idempotency_key": f"cp-{uuid.uuid4().hex}",
                     "created_at": t0, "updated_at": t0} for i in range(n)]
            for k in range(0, n, 2000):
                s.execute(insert(Variant), rows[k:k + 2000])
        return ids, t0

    # ---- the dispatcher
    channel_ids, t0 = populate(args.n, args.channels, args.limited)
    cfg = {cid: i for i, cid in enumerate(channel_ids)}
    opts = engine.EngineOptions(threads=args.threads, batch=500, max_seconds=3600)
    start = time.monotonic()
    rounds = 0
    first: tuple[float, int] | None = None
    while True:
        stats = engine.dispatch_due(db, settings, opts)
        rounds += 1
        if first is None:
            first = (time.monotonic() - start, stats.outcomes["published"])
        with db.session() as s:
            left = s.scalar(select(Variant.id).where(Variant.state.in_(("scheduled", "publishing"))).limit(1))
            nxt = s.scalar(select(Variant.next_attempt_at).where(Variant.state == "scheduled")
                           .order_by(Variant.next_attempt_at).limit(1))
        if left is None:
            break
        if stats.due == 0 and nxt is not None:
            time.sleep(max(0.0, min(5.0, (nxt - utcnow()).total_seconds())))
    wall = time.monotonic() - start
    with db.session() as s:
        states = collections.Counter(s.scalars(select(Variant.state)))
    assert states == {"published": args.n}, states
    doubles = [k for k, v in calls.items() if len(v) != 1]
    assert not doubles, f"{len(doubles)} posts published more than once"
    delays = sorted(v[0][0] - start for v in calls.values())
    free = sorted(t - start for v in calls.values() for t, n in v if n >= args.limited)
    limited = sorted(t - start for v in calls.values() for t, n in v if n < args.limited)

    once = sum(1 for v in calls.values() if len(v) == 1)
    # rate limits respected: per channel and limit, replay the bucket on the claim times (audit log)
    from civicpulse.domain.org.models import AuditEntry

    by_channel: dict[int, list[float]] = collections.defaultdict(list)
    with db.session() as s:
        vch = {int(a): int(b) for a, b in s.execute(select(Variant.id, Variant.channel_id))}
        for oid, after in s.execute(select(AuditEntry.object_id, AuditEntry.after).where(
                AuditEntry.action == "variant.publishing")):
            by_channel[cfg[vch[int(oid)]]].append(dt.datetime.fromisoformat(after["claimed_at"]).timestamp())
    violations = 0
    for n, times in by_channel.items():
        plat = PLATFORMS[n % len(PLATFORMS)]
        lims = list(limits[plat]) + ([RateLimit(6, 60.0)] if n < args.limited else [])
        for lim in lims:
            times.sort()
            tokens, last = float(lim.calls), times[0] if times else 0.0
            for t in times:
                tokens = min(lim.calls, tokens + (t - last) * lim.calls / lim.per_seconds)
                last = t
                if tokens < 1.0 - 1e-6:
                    violations += 1
                tokens -= 1.0
    assert first is not None
    per_post = first[0] / max(1, first[1])

    # ---- baseline: a plain loop, same database, no guarantees
    with db.session() as s:
        s.execute(update(Variant).values(state="published"))
    populate(args.baseline_n, args.channels, 0)
    conns = {cid: platforms.build(s_ch, settings) for cid, s_ch in _channels(db, Channel)}
    b_start = time.monotonic()
    while True:
        with db.session() as s:
            ids = list(s.scalars(select(Variant.id).where(Variant.state == "scheduled").limit(500)))
        if not ids:
            break
        for vid in ids:
            with db.session() as s:
                v = s.get(Variant, vid)
                assert v is not None
                res = conns[v.channel_id].publish(PublishRequest(idempotency_key=v.idempotency_key, text=v.text))
                v.state, v.external_id = "published", res.external_id
    b_wall = time.monotonic() - b_start
    b_per_post = b_wall / args.baseline_n

    print()
    print(f"dispatcher: {args.n:,} posts in {wall:.1f} s ({rounds} dispatch runs; the last ones wait for the "
          "lowered limits)")
    print(f"  first dispatch run: {first[1]:,} posts published in {first[0]:.1f} s ({first[1] / first[0]:,.0f} posts/s)")
    print(f"  dispatch delay (publish call − due time): p50 {percentile(delays, 50):.2f} s, "
          f"p95 {percentile(delays, 95):.2f} s, max {delays[-1]:.2f} s")
    if free:
        print(f"  channels at their platform limits: p50 {percentile(free, 50):.2f} s, p95 {percentile(free, 95):.2f} s")
    if limited:
        print(f"  channels limited to 6/minute (queued, not failed): p50 {percentile(limited, 50):.2f} s, "
              f"p95 {percentile(limited, 95):.2f} s, max {limited[-1]:.2f} s")
    print(f"  published exactly once: {once:,}/{args.n:,}; failed: 0; rate-limit violations: {violations}")
    print(f"baseline (plain loop: select, publish, mark published): {args.baseline_n:,} posts in {b_wall:.1f} s "
          f"({args.baseline_n / b_wall:,.0f} posts/s)")
    print(f"ratio, time per post, dispatcher (first run) / baseline: {per_post / b_per_post:.2f}x")
    db.dispose()
    cleanup(d, args.keep)
    assert violations == 0


def _fresh_pg(url: str, directory: Path) -> tuple[Any, Any]:
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


def _channels(db: Any, channel_cls: Any) -> list[tuple[int, Any]]:
    from sqlalchemy import select

    with db.session() as s:
        return [(c.id, c) for c in s.scalars(select(channel_cls))]


if __name__ == "__main__":
    main()
