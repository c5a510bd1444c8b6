"""Demo publishing data: channels (the ministry's news page, which works, and platform accounts that point at
nothing reachable, so they show red), a two-step workflow, and posts in every state the screens show."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from civicpulse.config import Settings
from civicpulse.db.base import utcnow
from civicpulse.db.session import Database

NEWS = "MOPH news page"


def load_demo_publishing(db: Database, settings: Settings, progress: Any = None) -> None:
    from civicpulse.domain.content import services as content
    from civicpulse.domain.content.schemas import PostCreate, VariantIn
    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.publishing import engine
    from civicpulse.domain.publishing import services as pub
    from civicpulse.domain.publishing.models import Channel
    from civicpulse.domain.publishing.schemas import ChannelCreate, WorkflowIn, WorkflowStep

    actor = Actor.system_actor("demo", via="cli")
    with db.session() as s:
        units = {u.code: u.id for u in s.scalars(select(Unit))}
        if "MOPH" not in units or s.scalar(select(Channel.id).where(Channel.name == NEWS)) is not None:
            if progress is not None and "MOPH" in units:
                progress.print("The demo channels are already loaded.")
            return
        ids: dict[str, int] = {}
        specs: list[tuple[str, str, str, dict[str, Any], dict[str, str]]] = [
            ("news", "MOPH", "website", {}, {}),
            ("mastodon", "MOPH-PR", "mastodon", {"instance_url": "https://mastodon.moph.invalid", "timeout": 3},
             {"access_token": "demo-token"}),
            ("telegram", "DDC", "telegram", {"chat_id": "@ddc_demo", "timeout": 3}, {"bot_token": "123:demo"}),
            ("newsletter", "PHO-CMI", "newsletter",
             {"smtp_host": "smtp.cmi.invalid", "from_address": "news@cmi.demo.civicpulse.org",
              "recipients": ["subscriber@cmi.demo.civicpulse.org"], "timeout": 3}, {}),
        ]
        names = {"news": NEWS, "mastodon": "MOPH-PR on Mastodon", "telegram": "DDC Telegram channel",
                 "newsletter": "Chiang Mai health newsletter"}
        for key, code, platform, config, secrets in specs:
            if code not in units:
                continue
            ch = pub.create_channel(s, actor, settings, ChannelCreate(unit_id=units[code], platform=platform,
                                                                      name=names[key], config=config, secrets=secrets))
            ids[key] = ch.id
        if "DDC" in units and "MOPH-PR" in units:
            pub.set_workflow(s, actor, units["DDC"], WorkflowIn(
                steps=[WorkflowStep(name="Department head", role="approver"),
                       WorkflowStep(name="Head-office PR", role="approver", unit_id=units["MOPH-PR"])],
                crisis_steps=[WorkflowStep(name="Crisis desk", role="approver", unit_id=units["MOPH-PR"])]))
        content.seed_library_from_plans(s, actor, units["MOPH"])

    def make(code: str, title: str, texts: dict[str, str], channels: list[str], at: dt.datetime | None,
             approve: bool = True, submit: bool = True) -> int:
        with db.session() as s:
            p = content.create_post(s, actor, PostCreate(
                unit_id=units[code], title=title, texts=texts, hashtags=["MOPH"],
                variants=[VariantIn(channel_id=ids[c], scheduled_at=at) for c in channels if c in ids]))
            pid = p.id
        if submit:
            with db.session() as s:
                pub.submit(s, actor, pid)
            if approve:
                for _ in range(3):
                    with db.session() as s:
                        if pub.get_post(s, actor, pid).review_status != "in_review":
                            break
                        pub.approve(s, actor, pid, "Approved for the demo")
        return pid

    now = utcnow()
    make("MOPH", "Dengue prevention week",
         {"en": "Dengue prevention week starts today: empty standing water around your home every 7 days.",
          "th": "สัปดาห์รณรงค์ป้องกันไข้เลือดออกเริ่มวันนี้ เทน้ำขังรอบบ้านทุก 7 วัน"},
         ["news"], now - dt.timedelta(minutes=5))
    make("MOPH", "Heat advisory",
         {"en": "Heat advisory: drink water often and check on older neighbours.",
          "vi": "Cảnh báo nắng nóng: uống nước thường xuyên và hỏi thăm người cao tuổi."},
         ["news", "mastodon"], now + dt.timedelta(days=1, hours=2))
    make("MOPH-PR", "Vaccination clinic hours", {"en": "Vaccination clinics open 08:00-16:00 this weekend."},
         ["mastodon"], now - dt.timedelta(minutes=1))
    make("DDC", "Flood season: boil water", {"th": "ฤดูน้ำหลาก: ต้มน้ำก่อนดื่มทุกครั้ง"}, ["telegram"],
         now + dt.timedelta(days=2), approve=False)
    make("PHO-CMI", "Chiang Mai air quality", {"th": "ค่าฝุ่น PM2.5 สูง โปรดสวมหน้ากาก N95 เมื่อออกนอกบ้าน"},
         ["newsletter"], None, submit=False)
    # publish what is due: the news page works; Mastodon points at nothing reachable and fails with its reason
    engine.dispatch_due(db, settings, engine.EngineOptions(max_attempts=1, max_seconds=30))
    for cid in ids.values():
        engine.check_channel(db, settings, cid)
    if progress is not None:
        progress.print(f"Loaded demo publishing: {len(ids)} channels (the news page at /u/MOPH/news; the others "
                       "point at nothing reachable and show red), 5 posts in several states.")
