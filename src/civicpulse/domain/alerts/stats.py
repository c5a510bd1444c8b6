"""The statistics behind the alerts: pure functions on counts, no database.

Volume spike (seasonal Poisson tail)
    Hourly counts ``c[t]`` of the history (e.g. the last 28 days). The expected count of hour ``t`` is

        λ(t) = m · h[hour_of_day(t)] · d[day_of_week(t)]

    where ``m`` is the mean hourly count and ``h`` / ``d`` are the hour-of-day and day-of-week profiles,
    each the ratio of that slot's mean to ``m`` *shrunk towards 1* with a pseudo-count
    (``(sum_slot + k·mean_slot_size·m) / ((n_slot + k·mean_slot_size)·m)``), so that a slot seen with zero
    items does not get an expected count of 0 (which would make any single item "infinitely" surprising).
    ``λ`` is floored at ``min_rate`` (per hour) for the same reason. The observed count ``x`` of the current
    window (``w`` hours) is compared with ``Λ = Σ λ`` over the window by the Poisson upper tail
    ``p = P(X ≥ x | Λ)``. A spike needs ``p < alpha`` **and** ``x ≥ min_count`` **and** ``x ≥ min_ratio · Λ``.
    Severity comes from the ratio and the p-value (:func:`severity_for`).

Share surge (binomial tail)
    For the negative (or toxic) share: ``k`` of ``n`` recent items are negative; the baseline share ``p0``
    is estimated from the history with a Beta(1, 1) prior (never 0 or 1). ``p = P(K ≥ k | n, p0)`` and a
    surge needs ``p < alpha``, ``n ≥ min_items`` and ``k/n ≥ p0 + min_increase``.

Both tails are computed in log space from the first term upwards, so tiny p-values (1e-30) are exact
enough to rank, and large counts do not overflow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from civicpulse.domain.errors import ValidationFailed

# ------------------------------------------------------------------ tails


def poisson_sf(k: int, lam: float) -> float:
    """P(X ≥ k) for X ~ Poisson(lam)."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if k <= lam:
        # the lower part is small or moderate: 1 - P(X <= k-1), summed in log space
        logs = [i * math.log(lam) - lam - math.lgamma(i + 1) for i in range(k)]
        top = max(logs)
        low = math.exp(top) * sum(math.exp(x - top) for x in logs)
        return max(0.0, min(1.0, 1.0 - low))
    first = k * math.log(lam) - lam - math.lgamma(k + 1)
    total, term, i = 1.0, 1.0, k
    while True:
        i += 1
        term *= lam / i
        total += term
        if term < 1e-17 * total or i > k + 10_000:
            break
    return max(0.0, min(1.0, math.exp(first + math.log(total))))


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(K ≥ k) for K ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0

    def logpmf(i: int) -> float:
        return (math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p)
                + (n - i) * math.log1p(-p))

    logs = [logpmf(i) for i in range(k, n + 1)]
    top = max(logs)
    return max(0.0, min(1.0, math.exp(top) * sum(math.exp(x - top) for x in logs)))


# ------------------------------------------------------------------ parameters


@dataclasses.dataclass(frozen=True)
class SpikeParams:
    alpha: float = 1e-3  # Poisson tail probability below which a window is a spike
    min_count: int = 5  # at least this many items in the window
    min_ratio: float = 2.0  # and at least this many times the expected count
    window_hours: int = 1
    history_days: int = 28
    min_rate: float = 0.2  # expected items per hour never below this
    prior_weight: float = 1.0  # strength of the shrinkage of the seasonal profiles towards flat


@dataclasses.dataclass(frozen=True)
class ShareParams:
    alpha: float = 1e-3
    min_items: int = 10
    min_increase: float = 0.15  # the share must rise by at least 15 points over the baseline
    window_hours: int = 6
    history_days: int = 28


LIMITS: dict[str, tuple[float, float, str]] = {
    # name: (lowest, highest, explanation)
    "alpha": (1e-12, 0.5, "a probability between 0 and 0.5 (smaller = fewer, surer alerts)"),
    "min_count": (1, 1_000_000, "a whole number of items, at least 1"),
    "min_ratio": (1.0, 1000.0, "a ratio of at least 1 (the observed count over the expected count)"),
    "window_hours": (1, 72, "between 1 and 72 hours"),
    "history_days": (1, 365, "between 1 and 365 days"),
    "min_rate": (0.001, 1000.0, "a positive rate in items per hour"),
    "prior_weight": (0.0, 1000.0, "zero or more"),
    "min_items": (1, 1_000_000, "a whole number of items, at least 1"),
    "min_increase": (0.0, 0.99, "a share increase between 0 and 0.99 (0.15 = 15 points)"),
    "min_copies": (2, 1_000_000, "at least 2 copies"),
    "min_sources": (1, 1000, "at least 1 source"),
    "min_followers": (1, 10**12, "a positive number of followers"),
    "min_matches": (1, 1_000_000, "at least 1 match"),
    "min_score": (0.0, 1.0, "a score between 0 and 1"),
    "min_size": (2, 1_000_000, "at least 2 items"),
    "cooldown_hours": (0, 720, "between 0 and 720 hours"),
}
INTEGER = {"min_count", "window_hours", "history_days", "min_items", "min_copies", "min_sources", "min_followers",
           "min_matches", "min_size", "cooldown_hours"}


def check_params(params: dict[str, Any], allowed: Sequence[str]) -> dict[str, Any]:
    """Validated, typed copy of rule parameters; refuses unknown names and impossible thresholds."""
    out: dict[str, Any] = {}
    for name, raw in params.items():
        if name not in allowed:
            raise ValidationFailed(f"Unknown rule setting '{name}' (this rule takes: {', '.join(allowed)})",
                                   details={"field": f"params.{name}"})
        lo, hi, why = LIMITS[name]
        try:
            value: float = float(raw)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(f"Rule setting '{name}' must be a number ({why}), not {raw!r}",
                                   details={"field": f"params.{name}"}) from exc
        if math.isnan(value) or not lo <= value <= hi or (name in INTEGER and value != int(value)):
            raise ValidationFailed(f"Rule setting '{name}' = {raw} is impossible: it must be {why}",
                                   details={"field": f"params.{name}", "min": lo, "max": hi})
        out[name] = int(value) if name in INTEGER else value
    return out


# ------------------------------------------------------------------ seasonal baseline


def hour_floor(t: dt.datetime) -> dt.datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def hourly_counts(times: Sequence[dt.datetime], start: dt.datetime, hours: int) -> list[int]:
    """Counts per hour from ``start`` (an hour boundary, aware) for ``hours`` hours; other times ignored."""
    out = [0] * max(0, hours)
    for t in times:
        i = int((t - start).total_seconds() // 3600)
        if 0 <= i < hours:
            out[i] += 1
    return out


@dataclasses.dataclass(frozen=True)
class Baseline:
    mean: float
    hour_factor: tuple[float, ...]  # 24, local hour of day
    day_factor: tuple[float, ...]  # 7, Monday = 0

    def rate(self, t_local: dt.datetime, min_rate: float) -> float:
        return max(min_rate, self.mean * self.hour_factor[t_local.hour] * self.day_factor[t_local.weekday()])


def seasonal_baseline(counts: Sequence[int], start_local: dt.datetime, prior_weight: float = 1.0) -> Baseline:
    """Profiles of an hourly history starting at ``start_local`` (local time of the unit)."""
    n = len(counts)
    mean = sum(counts) / n if n else 0.0
    hour_sum, hour_n = [0.0] * 24, [0] * 24
    day_sum, day_n = [0.0] * 7, [0] * 7
    h0, w0 = start_local.hour, start_local.weekday()  # slots by arithmetic: hours are consecutive
    for i, c in enumerate(counts):
        hour, day = (h0 + i) % 24, (w0 + (h0 + i) // 24) % 7
        hour_sum[hour] += c
        hour_n[hour] += 1
        day_sum[day] += c
        day_n[day] += 1

    def factors(sums: list[float], ns: list[int], slot_size: float) -> tuple[float, ...]:
        if mean <= 0:
            return tuple(1.0 for _ in sums)
        k = prior_weight * slot_size
        return tuple((s + k * mean) / ((m + k) * mean) for s, m in zip(sums, ns, strict=True))

    return Baseline(mean=mean, hour_factor=factors(hour_sum, hour_n, 1.0), day_factor=factors(day_sum, day_n, 24.0))


@dataclasses.dataclass(frozen=True)
class SpikeResult:
    observed: int
    expected: float
    p_value: float
    ratio: float
    spike: bool
    severity: str | None


def severity_for(ratio: float, p_value: float) -> str:
    if ratio >= 10 and p_value < 1e-9:
        return "critical"
    if ratio >= 5 and p_value < 1e-6:
        return "high"
    if ratio >= 3:
        return "medium"
    return "low"


def spike_test(history: Sequence[int], window: Sequence[int], history_start_local: dt.datetime,
               params: SpikeParams = SpikeParams()) -> SpikeResult:
    """Is the window (the hours right after the history) a spike against the seasonal baseline?"""
    base = seasonal_baseline(history, history_start_local, params.prior_weight)
    first = history_start_local + dt.timedelta(hours=len(history))
    expected = sum(base.rate(first + dt.timedelta(hours=i), params.min_rate) for i in range(len(window)))
    observed = int(sum(window))
    p = poisson_sf(observed, expected) if window else 1.0
    ratio = observed / expected if expected > 0 else math.inf
    spike = bool(window) and p < params.alpha and observed >= params.min_count and ratio >= params.min_ratio
    return SpikeResult(observed, expected, p, ratio, spike, severity_for(ratio, p) if spike else None)


@dataclasses.dataclass(frozen=True)
class ShareResult:
    hits: int
    total: int
    share: float
    baseline: float
    p_value: float
    surge: bool
    severity: str | None


def share_test(hits: int, total: int, base_hits: int, base_total: int,
               params: ShareParams = ShareParams()) -> ShareResult:
    """Is ``hits / total`` a surge over the baseline share ``base_hits / base_total``?"""
    p0 = (base_hits + 1) / (base_total + 2)
    share = hits / total if total else 0.0
    p = binomial_sf(hits, total, p0) if total else 1.0
    surge = total >= params.min_items and share >= p0 + params.min_increase and p < params.alpha
    sev = None
    if surge:
        sev = "high" if share >= 0.7 and p < 1e-6 else "medium" if share >= 0.5 else "low"
    return ShareResult(hits, total, share, p0, p, surge, sev)


# ------------------------------------------------------------------ bursts in a whole series (replay)


@dataclasses.dataclass(frozen=True)
class Burst:
    start: int  # hour index of the first alarm
    end: int  # last alarm hour (inclusive)
    peak_ratio: float


def detect_bursts(counts: Sequence[int], start_local: dt.datetime, params: SpikeParams = SpikeParams(),
                  warmup_hours: int = 24 * 7) -> list[Burst]:
    """Run the spike test hour by hour, using only the past (what the live job would have seen).

    Alarm hours closer than ``window_hours + 1`` are one burst (the alert is updated, not raised again).
    Hours already flagged are left out of later baselines so a long burst does not raise its own baseline.
    """
    hist_len = params.history_days * 24
    w = params.window_hours
    clean = list(counts)
    alarms: list[tuple[int, float]] = []
    for t in range(max(warmup_hours, w - 1), len(counts)):
        lo = max(0, t - w - hist_len)
        hist = clean[lo : t - w + 1] if t - w + 1 > lo else []
        window = counts[t - w + 1 : t + 1]
        if not hist or len(window) < w:
            continue
        r = spike_test(hist, window, start_local + dt.timedelta(hours=lo), params)
        if r.spike:
            alarms.append((t, r.ratio))
            base = seasonal_baseline(hist, start_local + dt.timedelta(hours=lo), params.prior_weight)
            local = start_local + dt.timedelta(hours=t)
            clean[t] = min(clean[t], round(base.rate(local, params.min_rate)))
    bursts: list[Burst] = []
    for t, ratio in alarms:
        if bursts and t - bursts[-1].end <= w + 1:
            b = bursts[-1]
            bursts[-1] = Burst(b.start, t, max(b.peak_ratio, ratio))
        else:
            bursts.append(Burst(t, t, ratio))
    return bursts
