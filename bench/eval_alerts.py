"""Ingest-to-alert latency for a live source: a real RSS poll (local feed server) → enrichment (fast lane and
embeddings) → issue detection → rule evaluation → in-app alert, as the every-minute job does it.

    .venv/bin/python bench/eval_alerts.py [--items 30]

The clock starts when the new entries appear on the feed and stops when the alert row exists. The budget is
60 s: the job runs every minute, so the worst case is one minute of waiting plus this processing time; the
figure printed is the processing time, and its ratio to the budget.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


HISTORY = ["The provincial office opens a new service counter for land documents",
           "Vaccination schedule for next week at the district health stations",
           "Road maintenance on the ring road this weekend, expect delays",
           "Farmers' market moves to the stadium car park from Saturday",
           "Scholarship applications for high-school students are open until the end of the month",
           "Power cut planned in two sub-districts on Tuesday morning for line repairs"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=30)
    args = ap.parse_args()

    from sqlalchemy import select

    from civicpulse.config import Settings
    from civicpulse.db import migrate
    from civicpulse.db.session import Database
    from civicpulse.domain.alerts import services as alerts
    from civicpulse.domain.alerts.models import Alert
    from civicpulse.domain.listening import services as listening
    from civicpulse.domain.listening.enrich import embed_pending, enrich_pending
    from civicpulse.domain.listening.models import Item
    from civicpulse.domain.listening.schemas import SourceCreate
    from civicpulse.domain.org import services as org
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.org.schemas import UnitCreate
    from fakes.rss import Entry, FakeFeeds  # type: ignore[import-not-found]

    work = Path(tempfile.mkdtemp(prefix="civicpulse-alerts-bench-"))
    settings = Settings(env="test", secret_key="bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
                        database_url=f"sqlite:///{work / 'db.sqlite3'}", data_dir=work / "data",
                        allow_private_fetch=True)
    migrate.upgrade(settings)
    db = Database(settings)
    feeds = FakeFeeds().start()
    sys_actor = Actor.system_actor("bench", via="cli")
    try:
        now = dt.datetime.now(dt.UTC)
        with db.session() as s:
            unit = org.create_unit(s, sys_actor, UnitCreate(code="PRD", names={"en": "Provincial office"}))
            src, _tok = listening.create_source(s, sys_actor, settings, SourceCreate(
                unit_id=unit.id, name="provincial news", platform="rss",
                config={"url": f"{feeds.url}/feed/news"}))
            sid, uid, upath = src.id, unit.id, unit.path
            # two quiet weeks of history: about one item every four hours
            for k in range(14 * 6):
                t = now - dt.timedelta(hours=2 + 4 * k)
                s.add(Item(source_id=sid, unit_id=uid, unit_path=upath, external_id=f"h{k}",
                           text=HISTORY[k % len(HISTORY)] + f" ({k})", content_hash=hashlib.sha256(f"h{k}".encode()).hexdigest(),
                           published_at=t, collected_at=t, enriched_at=t, sentiment="neu"))
        feeds.feed("news")
        listening.run_source(db, settings, sid)  # the source's first (empty) poll
        embed_pending(db)  # the history was embedded long ago in a live installation (model loaded too)
        with db.session() as s:  # the first pass adds the default rules
            alerts.run_pass(s, settings)
        texts = ["Flood water cuts the road to the district hospital, villagers stranded since morning",
                 "Road to the district hospital flooded, people cannot reach the hospital",
                 "Floods: the hospital road is under water, ambulances turned back"]
        t0 = time.perf_counter()
        for k in range(args.items):
            feeds.add_entry("news", Entry(guid=f"n{k}", title=texts[k % 3], summary=texts[k % 3] + f" ({k})",
                                          published=time.time() - k))
        marks: dict[str, float] = {}
        listening.run_source(db, settings, sid)
        marks["poll"] = time.perf_counter() - t0
        enrich_pending(db, settings)
        marks["enrich"] = time.perf_counter() - t0
        embed_pending(db, limit=2000)
        marks["embed"] = time.perf_counter() - t0
        with db.session() as s:
            res = alerts.run_pass(s, settings)
            marks["alerts"] = time.perf_counter() - t0
            raised = [(a.kind, a.severity, a.label) for a, w in res.alerts if w == "raised"]
            n_alerts = s.query(Alert).count()
            n_items = len(list(s.scalars(select(Item.id))))
        total = marks["alerts"]
        print(f"items polled: {args.items} (database: {n_items} items)")
        for k, v in marks.items():
            print(f"  after {k:7s} {v:6.2f} s")
        print(f"ingest-to-alert processing: {total:.2f} s = {total / 60:.2f} × the 60 s budget")
        print(f"alerts raised: {raised} ({n_alerts} in the database)")
        print(f"issues: {[(i.label, i.size) for i in res.issues]}")
    finally:
        feeds.stop()
        db.dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
