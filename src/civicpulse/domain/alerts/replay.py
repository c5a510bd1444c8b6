"""Replay of the historical stream: how well would the volume-spike detector have found bursts?

The hourly counts of the stored items between two dates (by publication time) are the background; synthetic
bursts are added on top at known hours (seeded, so the figures are reproducible). The detector then runs hour by
hour exactly as the live job does (each hour sees only the past: :func:`stats.detect_bursts`).

* A detected burst that overlaps an injected burst (from its start to ``tolerance`` hours after its end) is a
  true positive; the other detections are counted as false positives, although some may be genuine bursts of
  the corpus itself (press releases do come in bursts), so precision is a lower bound.
* Recall is the share of injected bursts that were found; the detection delay is the hours from the start of an
  injected burst to the first alarm hour inside it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicpulse.domain.alerts import stats
from civicpulse.domain.errors import ValidationFailed
from civicpulse.domain.listening.models import Item
from civicpulse.timeutil import as_utc


@dataclasses.dataclass
class Injected:
    start: int
    hours: int
    extra: list[int]


def inject(base: list[int], n: int, rng: random.Random, *, warmup: int, min_size: int = 4,
           max_size: int = 40) -> tuple[list[int], list[Injected]]:
    """Add ``n`` bursts (1–4 hours, ``min_size``–``max_size`` extra items spread over a rising then falling
    profile) at random hours after the warm-up, at least two days apart."""
    counts = list(base)
    out: list[Injected] = []
    slots = list(range(warmup, len(counts) - 6, 48))
    rng.shuffle(slots)
    for s in sorted(slots[:n]):
        start = s + rng.randrange(0, 24)
        hours = rng.randint(1, 4)
        size = rng.randint(min_size, max_size)
        weights = [1.0 + min(i, hours - 1 - i) for i in range(hours)]
        extra = [int(round(size * w / sum(weights))) for w in weights]
        for i, e in enumerate(extra):
            if start + i < len(counts):
                counts[start + i] += e
        out.append(Injected(start, hours, extra))
    return counts, out


def replay(session: Session, start: dt.date, end: dt.date, *, bursts: int = 20, seed: int = 7,
           params: stats.SpikeParams | None = None, tz: str = "Asia/Bangkok", tolerance: int = 2,
           min_size: int = 4, max_size: int = 40) -> dict[str, Any]:
    if end <= start:
        raise ValidationFailed(f"--to ({end}) must be after --from ({start})")
    days = (end - start).days
    if days > 3 * 366:
        raise ValidationFailed("Replay at most three years at a time")
    params = params or stats.SpikeParams(history_days=14)
    zone = ZoneInfo(tz)
    t0 = dt.datetime.combine(start, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    t1 = dt.datetime.combine(end, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    hours = int((t1 - t0).total_seconds() // 3600)
    t_expr = func.coalesce(Item.published_at, Item.collected_at)
    times = [as_utc(t) for t in session.scalars(select(t_expr).where(t_expr >= t0, t_expr < t1))]
    base = stats.hourly_counts([t for t in times if t is not None], t0, hours)
    warmup = min(7 * 24, hours // 3)
    rng = random.Random(seed)
    counts, injected = inject(base, bursts, rng, warmup=warmup, min_size=min_size, max_size=max_size)
    background = stats.detect_bursts(base, t0.astimezone(zone), params, warmup_hours=warmup)
    found = stats.detect_bursts(counts, t0.astimezone(zone), params, warmup_hours=warmup)
    tp_detections = 0
    matched: dict[int, int] = {}
    for b in found:
        hit = None
        for k, inj in enumerate(injected):
            if b.start <= inj.start + inj.hours - 1 + tolerance and b.end >= inj.start:
                hit = k
                break
        if hit is not None:
            tp_detections += 1
            delay = max(0, b.start - injected[hit].start)
            matched[hit] = min(matched.get(hit, delay), delay)
    detections = len(found)
    precision = tp_detections / detections if detections else 0.0
    recall = len(matched) / len(injected) if injected else 0.0
    delays = sorted(matched.values())
    by_size: dict[str, list[int]] = {"small (<=10)": [0, 0], "medium (11-25)": [0, 0], "large (>25)": [0, 0]}
    for k, inj in enumerate(injected):
        total = sum(inj.extra)
        key = "small (<=10)" if total <= 10 else "medium (11-25)" if total <= 25 else "large (>25)"
        by_size[key][1] += 1
        by_size[key][0] += int(k in matched)
    return {
        "from": start.isoformat(), "to": end.isoformat(), "hours": hours, "items": sum(base),
        "mean_per_hour": round(sum(base) / hours, 3) if hours else 0.0,
        "injected": len(injected), "detections": detections, "true_detections": tp_detections,
        "background_detections": len(background),
        "precision": round(precision, 3), "recall": round(recall, 3),
        "precision_excluding_background": round(tp_detections / max(1, detections - len(background)), 3)
        if detections else 0.0,
        "delay_hours_mean": round(sum(delays) / len(delays), 2) if delays else None,
        "delay_hours_median": delays[len(delays) // 2] if delays else None,
        "delay_hours_max": max(delays) if delays else None,
        "recall_by_size": {k: f"{v[0]}/{v[1]}" for k, v in by_size.items()},
        "params": dataclasses.asdict(params), "seed": seed, "tolerance_hours": tolerance,
        "bursts": [{"start": (t0 + dt.timedelta(hours=i.start)).isoformat(), "hours": i.hours, "extra": i.extra,
                    "found": k in matched, "delay_hours": matched.get(k)} for k, i in enumerate(injected)],
    }
