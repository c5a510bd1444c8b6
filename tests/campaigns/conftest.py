"""Helpers for the campaign tests: a small helmet-campaign kit, campaigns made through the services, API headers.

Embeddings cost ~20-50 ms a text on two cores, so the texts used across the tests are embedded once per run
in one batch (the embedder caches by content) and the kits are small.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from civicpulse.domain.org.permissions import Actor

TODAY = dt.datetime.now(dt.UTC).date()
SYS = Actor.system_actor("test", via="cli")


def day(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


KIT: dict[str, Any] = {
    "messages": [
        {"id": "h1", "kind": "core", "text": {
            "vi": "Đội mũ bảo hiểm trên mọi chuyến đi xe máy, kể cả quãng đường ngắn.",
            "th": "สวมหมวกกันน็อกทุกครั้งที่ขี่รถจักรยานยนต์ แม้ระยะทางสั้น",
            "en": "Wear a helmet on every motorbike trip, even short ones."}},
        {"id": "h2", "kind": "core", "text": {
            "vi": "Từ ngày 1/1, không đội mũ bảo hiểm khi đi xe máy bị phạt 5 triệu đồng.",
            "en": "From 1 January, riding a motorbike without a helmet is fined 5 million."}},
    ],
    "mandatory": {"hashtags": ["#HelmetOn"], "link": "https://mot.example.gov/helmet"},
    "forbidden": [{"phrase": "crackdown", "instead": "new rules"}],
    "suggested_posts": [{"id": "s1", "channel": "facebook", "lang": "vi",
                         "text": "Đội mũ bảo hiểm mỗi chuyến đi, kể cả quãng ngắn! #HelmetOn https://mot.example.gov/helmet"}],
}

TEXTS = {
    "aligned_en": "Even for a quick ride to the market, wear your helmet on every motorbike trip. From 1 January, no "
                  "helmet means a 5 million fine. #HelmetOn https://mot.example.gov/helmet",
    "contra_th": "ตั้งแต่ 1 มกราคม ไม่สวมหมวกกันน็อก ปรับแค่ ๒ ล้าน #HelmetOn https://mot.example.gov/helmet",
    "contra_vi": "Từ 1/1, không đội mũ bảo hiểm khi đi xe máy chỉ bị phạt 2 triệu đồng. #HelmetOn",
    "off_vi": "Mời bà con tham gia ngày hội hiến máu tình nguyện tại nhà văn hóa xã vào Chủ nhật.",
    "partly_en": "Wear a helmet on every motorbike trip, even short ones.",
    "forbidden_en": "Police launch a crackdown on riders without helmets! #HelmetOn https://mot.example.gov/helmet",
}


def body(unit_id: int, targets: list[int], **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"unit_id": unit_id, "title": "Helmets on every trip", "start_date": day(0),
                            "end_date": day(10), "deadline": day(3), "kit": KIT, "target_unit_ids": targets}
    data.update(over)
    return data


def H(token: str) -> dict[str, str]:  # noqa: N802
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session", autouse=True)
def _warm_embeddings() -> None:
    """One batch for every text the tests score (plus the kit's messages and the background set)."""
    from civicpulse.domain.campaigns import alignment
    from civicpulse.nlp.embed import embed

    msgs = [t for m in KIT["messages"] for t in m["text"].values()]
    embed([*msgs, *TEXTS.values(), *alignment.BACKGROUND])


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    from civicpulse.domain.org import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def make_campaign(db):  # type: ignore[no-untyped-def]
    """make_campaign(unit_id, targets, publish=True, **overrides) -> id (through the services, as the system)."""
    from civicpulse.domain.campaigns import services
    from civicpulse.domain.campaigns.schemas import CampaignCreate

    def make(unit_id: int, targets: list[int], publish: bool = True, **over: Any) -> int:
        with db.session() as s:
            c = services.create_campaign(s, SYS, CampaignCreate(**body(unit_id, targets, **over)))
            if publish:
                services.publish_campaign(s, SYS, None, c.id)
            return c.id

    return make


def actor(db, user_id: int):  # type: ignore[no-untyped-def]
    from civicpulse.domain.org import services
    from civicpulse.domain.org.models import User

    with db.session() as s:
        return services.actor_for(s, s.get(User, user_id), via="ui")


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)
