"""Helpers for the claims tests: items collected through the listening services and analysed by the real
enrichment lanes (language, words, embeddings), claims made through the services, API headers."""

from __future__ import annotations

from typing import Any

import pytest

from civicpulse.domain.org.permissions import Actor

SYS = Actor.system_actor("test", via="cli")

CLAIM_EN = "Tap water in the capital has been poisoned with chlorine and is unsafe to drink"
CORRECTION = {"en": "Tap water is tested every day and is safe to drink; chlorine is kept at the WHO level.",
              "th": "น้ำประปาได้รับการตรวจทุกวันและปลอดภัยสำหรับการดื่ม"}
LINK = "https://water.example.org/safe"

# the same rumour reworded and in other languages, and posts about something else
PARAPHRASE_EN = "Don't drink from the tap!! the city water is full of toxic chlorine now"
TRANSLATION_TH = "น้ำประปาในกรุงเทพมีคลอรีนเป็นพิษ ห้ามดื่มเด็ดขาด"
TRANSLATION_VI = "Nước máy ở thủ đô bị nhiễm độc clo, không được uống"
UNRELATED = [
    "The provincial office opens three new vaccination points this weekend, bring your ID card",
    "ขอเชิญประชาชนร่วมวิ่งการกุศลเพื่อโรงพยาบาลชุมชน วันอาทิตย์นี้",
    "Giá xăng giảm nhẹ từ chiều nay theo thông báo của liên bộ",
]


def H(token: str) -> dict[str, str]:  # noqa: N802
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):  # type: ignore[no-untyped-def]
    """The org fixture hashes eight passwords with production argon2 parameters; these tests are about claims."""
    from argon2 import PasswordHasher

    from civicpulse.domain.org import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def collect(db, cfg):  # type: ignore[no-untyped-def]
    """collect(unit_id, texts, analyse=True, embed=True) -> item ids: ingests posts into a file source of the
    unit and runs the enrichment lanes on them."""
    import datetime as dt
    import itertools

    from sqlalchemy import select

    from civicpulse.connectors.base import FetchedItem
    from civicpulse.domain.listening import services
    from civicpulse.domain.listening.enrich import embed_pending, enrich_pending
    from civicpulse.domain.listening.models import Item, Source
    from civicpulse.domain.listening.schemas import SourceCreate

    counter = itertools.count()

    def make(unit_id: int, texts: list[str], *, analyse: bool = True, embed: bool = True) -> list[int]:
        now = dt.datetime.now(dt.UTC)
        with db.session() as s:
            src = s.scalar(select(Source).where(Source.unit_id == unit_id, Source.name == "posts"))
            if src is None:
                src, _ = services.create_source(s, SYS, cfg, SourceCreate(unit_id=unit_id, name="posts",
                                                                          platform="file", config={}))
            ext = [f"p{next(counter)}" for _t in texts]
            services.ingest(s, src, [FetchedItem(external_id=e, text=t, published_at=now,
                                                 url=f"https://social.example.org/{e}")
                                     for e, t in zip(ext, texts, strict=True)])
            ids = list(s.scalars(select(Item.id).where(Item.source_id == src.id, Item.external_id.in_(ext))
                                 .order_by(Item.id)))
        if analyse:
            enrich_pending(db, cfg)
        if embed:
            embed_pending(db)
        return ids

    return make


@pytest.fixture
def make_claim(db):  # type: ignore[no-untyped-def]
    from civicpulse.domain.alerts.claims import services
    from civicpulse.domain.alerts.claims.schemas import ClaimCreate

    def make(unit_id: int, text: str = CLAIM_EN, lang: str = "en", **over: Any) -> int:
        data: dict[str, Any] = {"unit_id": unit_id, "texts": [{"lang": lang, "text": text}], "status": "false",
                                "correction": CORRECTION, "correction_url": LINK}
        data.update(over)
        with db.session() as s:
            return services.create_claim(s, SYS, ClaimCreate(**data)).id

    return make


@pytest.fixture
def actor_of(db):  # type: ignore[no-untyped-def]
    """actor_of(user_id) -> the user's Actor, as the UI builds it."""
    from civicpulse.domain.org import services
    from civicpulse.domain.org.models import User

    def make(user_id: int) -> Actor:
        with db.session() as s:
            return services.actor_for(s, s.get(User, user_id), via="ui")

    return make


def matches_of(db, claim_id: int) -> dict[int, tuple[float, str]]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from civicpulse.domain.alerts.claims.models import ClaimMatch

    with db.session() as s:
        return {m.item_id: (m.score, m.method) for m in s.scalars(select(ClaimMatch).where(
            ClaimMatch.claim_id == claim_id))}
