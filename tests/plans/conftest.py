"""Helpers for the plans tests: a valid plan body, plans made directly through the services, API headers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from civicpulse.domain.org.permissions import Actor

TODAY = dt.datetime.now(dt.UTC).date()
SYS = Actor.system_actor("test", via="cli")


@pytest.fixture(autouse=True)
def _today_is_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan queries' today stays the TODAY these tests date their data by, when a run crosses midnight UTC
    (a KPI test once saw its last week end a day later than it expected)."""
    from civicpulse.domain.plans import queries

    monkeypatch.setattr(queries, "today_utc", lambda: TODAY)


def day(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


def body(unit_id: int, **over: Any) -> dict[str, Any]:
    """A complete, valid plan for the API."""
    data: dict[str, Any] = {
        "unit_id": unit_id,
        "title": "Traffic fine decree rollout",
        "policy": "Decree 168 on road traffic fines",
        "summary": "Explain the new fines before they apply.\n\nAnswer questions fast.",
        "language": "en",
        "start_date": day(0),
        "end_date": day(120),
        "sections": {
            "objectives": [{"id": "o1", "statement": "Drivers know the new fines", "type": "inform",
                            "metric": "awareness %", "baseline_value": 30, "baseline_date": day(-10),
                            "baseline_source": "survey", "target_value": 70, "deadline": day(90)}],
            "audiences": [{"id": "a1", "name": "Drivers", "description": "Car and motorbike drivers"}],
            "messages": [{"id": "m1", "kind": "core", "text": {"vi": "Lái xe an toàn", "th": "ขับขี่ปลอดภัย",
                                                                 "en": "Drive safely, the fines are higher now"}}],
            "forbidden": [{"id": "f1", "phrase": "crackdown", "reason": "sounds hostile", "instead": "new rules"}],
            "faq": [{"id": "q1", "question": {"en": "When does it start?"}, "answer": {"en": "On 1 January."}}],
            "tactics": [
                {"id": "t1", "name": "Press briefing", "channels": ["press"], "owner_unit_id": unit_id,
                 "start": day(5), "end": day(5), "budget": "1000000", "currency": "VND"},
                {"id": "t2", "name": "Video series; part 1, 2", "channels": ["facebook", "youtube"],
                 "audience_id": "a1", "owner_unit_id": unit_id, "start": day(10), "end": day(40),
                 "budget": "2500.50", "currency": "USD"},
            ],
            "kpis": [{"id": "k1", "name": "Posts published", "level": "output", "metric": "manual",
                      "target": 20, "readings": [{"date": day(0), "value": 3}]}],
            "risks": [{"id": "r1", "description": "Rumours about fines", "likelihood": 4, "impact": 3}],
        },
    }
    data.update(over)
    return data


def H(token: str) -> dict[str, str]:  # noqa: N802
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_plan(db):  # type: ignore[no-untyped-def]
    """Creates a plan through the service as the system: make_plan(unit_id, **overrides) -> id."""
    from civicpulse.domain.plans import services
    from civicpulse.domain.plans.schemas import PlanCreate

    def make(unit_id: int, **over: Any) -> int:
        with db.session() as s:
            return services.create_plan(s, SYS, PlanCreate(**body(unit_id, **over))).id

    return make


ALL_SCORES = {p: {"score": 2, "note": ""} for p in (
    "transparency", "integrity", "inclusiveness", "accessibility", "timeliness", "responsiveness",
    "evidence_based", "two_way")}


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):  # type: ignore[no-untyped-def]
    """The org fixture hashes eight passwords with production argon2 parameters (seconds on a busy machine);
    these tests are about plans, so they use the same algorithm with minimal cost."""
    from argon2 import PasswordHasher

    from civicpulse.domain.org import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
