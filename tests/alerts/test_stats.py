"""The statistics on synthetic series with known bursts."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicpulse.domain.alerts import stats
from civicpulse.domain.errors import ValidationFailed

START = dt.datetime(2026, 1, 5, 0, 0, tzinfo=dt.UTC)  # a Monday


def poisson_series(hours: int, rate: float, seed: int, daily: bool = True) -> list[int]:
    rng = random.Random(seed)
    out = []
    for h in range(hours):
        lam = rate * (1.8 if daily and 8 <= h % 24 <= 18 else 0.3 if daily else 1.0)
        # Knuth's Poisson sampler (small rates)
        k, p, limit = 0, 1.0, math.exp(-lam)
        while True:
            p *= rng.random()
            if p <= limit:
                break
            k += 1
        out.append(k)
    return out


def test_poisson_tail_matches_the_definition():
    lam = 2.5
    exact = 1 - sum(math.exp(-lam) * lam**i / math.factorial(i) for i in range(6))
    assert stats.poisson_sf(6, lam) == pytest.approx(exact, rel=1e-9)
    assert stats.poisson_sf(0, lam) == 1.0
    assert stats.poisson_sf(3, 0.0) == 0.0
    assert 0 < stats.poisson_sf(200, 3.0) < 1e-200  # no underflow to a wrong value or overflow


def test_binomial_tail_matches_the_definition():
    exact = sum(math.comb(12, i) * 0.3**i * 0.7 ** (12 - i) for i in range(7, 13))
    assert stats.binomial_sf(7, 12, 0.3) == pytest.approx(exact, rel=1e-9)
    assert stats.binomial_sf(13, 12, 0.3) == 0.0


@settings(max_examples=60, deadline=None)
@given(k=st.integers(0, 60), lam=st.floats(0.01, 40))
def test_poisson_tail_is_a_probability_and_decreasing(k, lam):
    a, b = stats.poisson_sf(k, lam), stats.poisson_sf(k + 1, lam)
    assert 0.0 <= b <= a <= 1.0


def test_a_burst_is_found_on_a_seasonal_series():
    series = poisson_series(24 * 28, 2.0, seed=1)
    hist, window = series[:-1], [25]
    r = stats.spike_test(hist, window, START)
    assert r.spike and r.severity in ("medium", "high", "critical")
    assert r.expected < 6


def test_busy_office_hours_are_not_a_spike():
    series = poisson_series(24 * 28 + 10, 3.0, seed=2)  # ends at 10:00, a busy hour
    r = stats.spike_test(series[:-1], series[-1:], START)
    assert not r.spike


def test_zero_history_needs_min_count_and_is_finite():
    r = stats.spike_test([0] * 24 * 7, [3], START)
    assert not r.spike and math.isfinite(r.ratio)
    r = stats.spike_test([0] * 24 * 7, [8], START)
    assert r.spike  # a floor rate of 0.2/h makes 8 items surprising, but not infinitely


def test_empty_windows_are_fine():
    assert not stats.spike_test([], [], START).spike
    assert not stats.share_test(0, 0, 0, 0).surge
    assert stats.hourly_counts([], START, 0) == []
    assert stats.detect_bursts([], START) == []


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(15, 60), at=st.integers(24 * 8, 24 * 13))
def test_injected_bursts_are_detected_on_time(seed, size, at):
    series = poisson_series(24 * 14, 1.0, seed=seed)
    series[at] += size
    bursts = stats.detect_bursts(series, START, stats.SpikeParams(history_days=7))
    # the burst hour itself raises the alarm (no delay), possibly joining an alarm of the hour before
    assert any(b.start <= at <= b.end and b.start >= at - 2 for b in bursts), bursts


def test_quiet_series_has_few_false_alarms():
    series = poisson_series(24 * 60, 2.0, seed=3)
    bursts = stats.detect_bursts(series, START, stats.SpikeParams(history_days=14))
    assert len(bursts) <= 2  # alpha 1e-3 over ~1,300 tested hours


def test_share_surge():
    assert stats.share_test(30, 40, 200, 1000).surge
    assert not stats.share_test(9, 40, 200, 1000).surge
    assert not stats.share_test(6, 8, 200, 1000).surge  # too few items


@pytest.mark.parametrize("params", [{"alpha": 0}, {"alpha": 1.5}, {"min_ratio": 0.5}, {"min_count": 0},
                                    {"window_hours": 0}, {"min_count": 2.5}, {"alpha": "often"},
                                    {"min_increase": 1.2}, {"alpha": float("nan")}])
def test_impossible_thresholds_are_refused(params):
    with pytest.raises(ValidationFailed) as e:
        stats.check_params(params, tuple(stats.LIMITS))
    assert list(params)[0] in e.value.message


def test_unknown_settings_are_refused():
    with pytest.raises(ValidationFailed, match="Unknown rule setting"):
        stats.check_params({"threshold": 3}, ("alpha",))
