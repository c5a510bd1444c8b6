"""Exactly-once under crashes: 100 trials that kill -9 a real worker process at a random moment while it publishes,
restart it, and check that every scheduled post is on the (local) platform exactly once and none is lost."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import signal
import time
from collections import Counter

import pytest
from sqlalchemy import select

from civicpulse.config import Settings
from civicpulse.db.base import utcnow
from civicpulse.db.session import Database
from civicpulse.domain.content import services as content
from civicpulse.domain.content.schemas import PostCreate, VariantIn
from civicpulse.domain.publishing import engine, platforms
from civicpulse.domain.publishing import services as pub
from civicpulse.domain.publishing.models import PublishAttempt, Variant
from tests.publishing import support
from tests.publishing.crashnet import CrashnetConnector, CrashnetPlatform

TRIALS = int(os.environ.get("CP_CRASH_TRIALS", "100"))
POSTS_PER_TRIAL = 2
OPTS = engine.EngineOptions(lease_seconds=0.15, backoff_base=0.01, backoff_cap=0.05, max_attempts=50)


def _worker(db: Database, cfg: Settings) -> None:  # runs in the forked child until it is killed
    db.engine.dispose(close=False)  # new connections of its own; the warm statement caches stay
    engine.run_forever(db, cfg, OPTS, interval=0.002)


def _start(ctx, db: Database, cfg: Settings) -> multiprocessing.Process:  # type: ignore[no-untyped-def]
    p = ctx.Process(target=_worker, args=(db, cfg), daemon=True)
    p.start()
    return p


def _kill(p: multiprocessing.Process) -> None:
    assert p.pid is not None
    os.kill(p.pid, signal.SIGKILL)
    p.join(5)


@pytest.mark.slow
def test_kill_9_during_publishing_never_loses_or_doubles_a_post(db, cfg, org):
    platforms.register("crashnet", CrashnetConnector)
    server = CrashnetPlatform().start()
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(20261123)
    try:
        chans = [support.channel(db, cfg, org.units["A"], platform="crashnet", account=f"c{i}",
                                 config={"base_url": server.url}) for i in range(POSTS_PER_TRIAL)]
        editor = support.actor(db, org.users["editor@A"])
        approver = support.actor(db, org.users["approver@A"])
        # warm up in this process (imports, statement caches) so that each forked worker starts at once
        support.approved_post(db, editor, approver, org.units["A"], chans, text="warm-up")
        assert engine.dispatch_due(db, cfg, OPTS).outcomes["published"] == POSTS_PER_TRIAL
        # one approved post per trial, with a variant per channel, waiting for its time
        trials: list[list[int]] = []
        with db.session() as s:
            for trial in range(TRIALS):
                p = content.create_post(s, editor, PostCreate(unit_id=org.units["A"], title=f"trial {trial}",
                                                              texts={"en": f"trial {trial}"},
                                                              variants=[VariantIn(channel_id=c) for c in chans]))
                pub.submit(s, editor, p.id)
                pub.approve(s, approver, p.id)
                trials.append([v.id for v in s.scalars(select(Variant).where(Variant.post_id == p.id))])
        killed_busy = 0
        # each trial: its posts fall due, the running worker starts on them and is killed at a random moment; the
        # restarted worker recovers them (and is the one killed in the next trial)
        w = _start(ctx, db, cfg)
        for vids in trials:
            with db.session() as s:  # due now
                for vid in vids:
                    pub.schedule(s, editor, vid, utcnow() - dt.timedelta(seconds=1))
            if rng.random() < 0.8:  # most kills land while the worker publishes these, the others anywhere
                until = time.monotonic() + 5
                while time.monotonic() < until:
                    with db.session() as s:
                        if s.scalar(select(Variant.id).where(Variant.id.in_(vids),
                                                             Variant.state != "scheduled").limit(1)):
                            break
                    time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.03))
            _kill(w)
            with db.session() as s:
                killed_busy += bool(s.scalar(select(Variant.id).where(Variant.state == "publishing").limit(1)))
            w = _start(ctx, db, cfg)
        deadline = time.monotonic() + 60
        while True:
            with db.session() as s:
                left = list(s.scalars(select(Variant.state).where(Variant.state != "published")))
            if not left:
                break
            assert time.monotonic() < deadline, f"not all published: {Counter(left)}"
            time.sleep(0.01)
        _kill(w)
        with db.session() as s:
            rows = list(s.scalars(select(Variant)))
            outcomes = Counter(s.scalars(select(PublishAttempt.outcome)))
        assert len(rows) == (TRIALS + 1) * POSTS_PER_TRIAL
        counts = Counter(server.received)
        doubles = {k: n for k, n in counts.items() if n > 1}
        assert not doubles, f"posted more than once: {doubles}"
        for v in rows:
            assert v.state == "published" and counts[v.idempotency_key] == 1, v.id
            assert v.external_id == str(server.by_key[v.idempotency_key])
        assert len(server.received) == len(rows)
        # the trials did hit the dangerous moments: workers died holding a claim, and some posts were only
        # found again by looking them up
        assert killed_busy >= TRIALS // 10 and outcomes["reconciled"] >= 1, (killed_busy, outcomes)
    finally:
        server.stop()
        platforms.unregister("crashnet")
