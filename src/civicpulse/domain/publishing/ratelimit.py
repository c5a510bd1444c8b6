"""Token buckets stored in the database, so that every worker process shares the same budget.

A platform limit "``calls`` per ``per_seconds``" becomes a bucket of ``calls`` tokens refilled at
``calls / per_seconds`` tokens a second, one bucket per channel and limit (``pub_rate_buckets``). A post that finds
its bucket empty is not an error: the dispatcher puts it back in the queue until the bucket has a token.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from civicpulse.connectors.base import RateLimit
from civicpulse.domain.publishing.models import RateBucket


def _bucket(session: Session, key: str, capacity: float, now: dt.datetime) -> RateBucket:
    row = session.scalar(select(RateBucket).where(RateBucket.key == key).with_for_update())
    if row is None:
        try:
            with session.begin_nested():
                session.add(RateBucket(key=key, tokens=float(capacity), updated_at=now))
        except IntegrityError:
            pass  # another worker created it first
        row = session.scalar(select(RateBucket).where(RateBucket.key == key).with_for_update())
        assert row is not None
    return row


def lock_buckets(session: Session, scopes: dict[str, Sequence[RateLimit]]) -> dict[str, RateBucket]:
    """Read (and on PostgreSQL lock, in key order) the existing buckets of many scopes in one query, for
    :func:`take_many` over a whole batch."""
    keys = sorted(f"{scope}:{i}" for scope, limits in scopes.items() for i in range(len(limits)))
    out: dict[str, RateBucket] = {}
    for k in range(0, len(keys), 500):
        out.update((row.key, row) for row in session.scalars(
            select(RateBucket).where(RateBucket.key.in_(keys[k:k + 500])).order_by(RateBucket.key)
            .with_for_update()))
    return out


def take(session: Session, scope: str, limits: Sequence[RateLimit], now: dt.datetime) -> float:
    """Take one token from every bucket of ``scope``; returns 0.0, or the seconds to wait (nothing taken)."""
    return take_many(session, scope, limits, now, 1)[0]


def take_many(session: Session, scope: str, limits: Sequence[RateLimit], now: dt.datetime, n: int, *,
              buckets: dict[str, RateBucket] | None = None) -> list[float]:
    """Take up to ``n`` tokens from every bucket of ``scope`` at once (one row lock per bucket for a whole batch).

    Returns ``n`` waits in order: 0.0 for each post that got a token (the first ones), then for each of the others
    the seconds until its token will be there at the buckets' refill rate (nothing was taken for those).
    """
    if n <= 0:
        return []
    if not limits:
        return [0.0] * n
    states = []
    for i, lim in enumerate(limits):
        capacity = float(lim.calls)
        rate = lim.calls / lim.per_seconds
        row = (buckets or {}).get(f"{scope}:{i}") or _bucket(session, f"{scope}:{i}", capacity, now)
        elapsed = max(0.0, (now - row.updated_at).total_seconds())
        states.append((row, min(capacity, row.tokens + elapsed * rate), rate))
    granted = min(n, max(0, min(math.floor(tokens + 1e-9) for _, tokens, _ in states)))
    for row, tokens, _ in states:
        row.tokens = tokens - granted
        row.updated_at = now
    session.flush()
    return [0.0] * granted + [max((j + 1 - tokens) / rate for _, tokens, rate in states) for j in range(granted, n)]


def drain(session: Session, scope: str, now: dt.datetime) -> None:
    """The platform said "too many requests": empty the scope's buckets so that others wait as well."""
    session.execute(update(RateBucket).where(RateBucket.key.startswith(f"{scope}:", autoescape=True))
                    .values(tokens=0.0, updated_at=now))
