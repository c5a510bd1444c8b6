"""Helpers for the early-warning tests: items written straight into the listening tables (with chosen times,
sentiments and embeddings, so that no model runs), and the system actor."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import numpy as np
import pytest

from civicpulse.domain.org.permissions import Actor

SYS = Actor.system_actor("test", via="cli")
NOW = dt.datetime(2026, 3, 4, 10, 30, tzinfo=dt.UTC)


def direction(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def near(base: np.ndarray, seed: int, noise: float = 0.15) -> bytes:
    v = base + noise * np.random.default_rng(seed).normal(size=384).astype(np.float32) / np.sqrt(384)
    return (v / np.linalg.norm(v)).astype(np.float32).tobytes()


@pytest.fixture(autouse=True)
def _cheap(monkeypatch):  # type: ignore[no-untyped-def]
    """The org fixture hashes eight passwords; these tests are about alerts, so the hashing is minimal-cost."""
    from argon2 import PasswordHasher

    from civicpulse.domain.org import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def feed(db, org):  # type: ignore[no-untyped-def]
    """feed(unit_code, n, at=..., spread_minutes=..., **fields) -> item ids (one source per unit and name)."""
    from sqlalchemy import select

    from civicpulse.domain.listening.models import Item, Source
    from civicpulse.domain.org.models import Unit

    counter = {"n": 0}

    def make(unit: str, n: int, *, at: dt.datetime = NOW, spread_minutes: float = 30, source: str = "feed",
             texts: list[str] | None = None, **fields: Any) -> list[int]:
        ids = []
        with db.session() as s:
            u = s.get(Unit, org.units[unit])
            src = s.scalar(select(Source).where(Source.unit_id == u.id, Source.name == source))
            if src is None:
                src = Source(unit_id=u.id, name=source, platform="file", config={}, cursor={})
                s.add(src)
                s.flush()
            for k in range(n):
                counter["n"] += 1
                i = counter["n"]
                t = at - dt.timedelta(minutes=spread_minutes * k / max(1, n))
                text = (texts[k % len(texts)] if texts else f"post {i} about things")
                extra = {key: (val(k) if callable(val) else val) for key, val in fields.items()}
                it = Item(source_id=src.id, unit_id=u.id, unit_path=u.path, external_id=f"x{i}", text=text,
                          content_hash=hashlib.sha256(f"{text}{i}".encode()).hexdigest(), index_text=text.lower(),
                          published_at=t, collected_at=t + dt.timedelta(seconds=5), **extra)
                s.add(it)
                s.flush()
                ids.append(it.id)
        return ids

    return make
