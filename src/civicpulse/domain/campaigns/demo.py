"""The demo campaign: the ministry's dengue-prevention kit sent to departments, institutes and provincial
offices, with agency posts at every alignment level (aligned, partly, off message, contradicting), units on
time, late and missing, and a draft measles-rubella kit started from the vaccination plan's approved messages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from civicpulse.config import Settings
from civicpulse.db.session import Database

DENGUE_KIT: dict[str, Any] = {
    "messages": [
        {"id": "d1", "kind": "core", "text": {
            "vi": "Mỗi tuần một lần, hãy đổ bỏ nước đọng và diệt lăng quăng quanh nhà để phòng sốt xuất huyết.",
            "th": "สัปดาห์ละครั้ง เทน้ำขังทิ้งและกำจัดลูกน้ำยุงลายรอบบ้าน เพื่อป้องกันไข้เลือดออก",
            "en": "Once a week, empty standing water and destroy mosquito larvae around your home to prevent dengue."}},
        {"id": "d2", "kind": "core", "text": {
            "vi": "Sốt cao trên 2 ngày, hãy đến ngay cơ sở y tế; không tự ý dùng aspirin.",
            "th": "ถ้ามีไข้สูงเกิน 2 วัน ให้รีบไปสถานพยาบาล ห้ามกินยาแอสไพรินเอง",
            "en": "With a high fever for more than 2 days, go to a health facility at once; do not take aspirin."}},
        {"id": "d3", "kind": "supporting", "text": {
            "vi": "Xét nghiệm sốt xuất huyết miễn phí tại mọi bệnh viện huyện.",
            "th": "ตรวจไข้เลือดออกฟรีที่โรงพยาบาลอำเภอทุกแห่ง",
            "en": "Free dengue tests at every district hospital."}},
    ],
    "mandatory": {"hashtags": ["#StopDengue"], "link": "https://moph.example.go.th/dengue"},
    "forbidden": [
        {"phrase": "ควบคุมไม่ได้", "reason": "ทำให้ตื่นตระหนก", "instead": "กำลังเพิ่มขึ้น"},
        {"phrase": "out of control", "reason": "causes panic", "instead": "rising"},
        {"phrase": "mất kiểm soát", "reason": "gây hoảng loạn", "instead": "đang gia tăng"},
    ],
    "suggested_posts": [
        {"id": "s1", "channel": "facebook", "lang": "th",
         "text": "สัปดาห์ละครั้ง 10 นาที เทน้ำขัง คว่ำภาชนะ กำจัดลูกน้ำยุงลาย ป้องกันไข้เลือดออก ถ้ามีไข้สูงเกิน 2 วัน "
                 "รีบไปโรงพยาบาล #StopDengue https://moph.example.go.th/dengue"},
        {"id": "s2", "channel": "line", "lang": "th",
         "text": "[จังหวัด] ชวนทุกบ้านกำจัดลูกน้ำยุงลายทุกสัปดาห์ ตรวจไข้เลือดออกฟรีที่โรงพยาบาลอำเภอ #StopDengue "
                 "https://moph.example.go.th/dengue"},
        {"id": "s3", "channel": "website", "lang": "en",
         "text": "Once a week, empty standing water and destroy mosquito larvae. High fever for more than 2 days? "
                 "Go to a health facility, and do not take aspirin. #StopDengue https://moph.example.go.th/dengue"},
    ],
}

# unit code, channel, days after the start (None: not published), text — one post per alignment level
POSTS: list[tuple[str, str, int | None, str]] = [
    ("PHO-CMI", "facebook", 1,
     "ชาวเชียงใหม่ สัปดาห์ละครั้ง เทน้ำขังในกระถาง ยางรถเก่า และกำจัดลูกน้ำยุงลาย ป้องกันไข้เลือดออก มีไข้สูงเกิน 2 วัน "
     "รีบไปโรงพยาบาล #StopDengue https://moph.example.go.th/dengue"),
    ("PHO-KKN", "line", 2,
     "ฤดูฝนมาแล้ว ระวังไข้เลือดออก ช่วยกันดูแลบ้านให้สะอาดนะครับ"),
    ("PHO-SKA", "facebook", 2,
     "ไข้เลือดออกระบาดจนควบคุมไม่ได้แล้วในหลายอำเภอ ทุกคนระวังตัวด้วย #StopDengue https://moph.example.go.th/dengue"),
    ("BIDI", "website", 3,
     "High fever? Only go to hospital after more than 5 days; until then rest at home. #StopDengue "
     "https://moph.example.go.th/dengue"),
    ("DDC", "x", 1,
     "Once a week, empty standing water and destroy mosquito larvae around your home: that is how we stop dengue. "
     "Free tests at every district hospital. #StopDengue https://moph.example.go.th/dengue"),
    ("HPC1", "facebook", 7,
     "ศูนย์อนามัยที่ 1 ชวนคว่ำภาชนะ กำจัดลูกน้ำทุกสัปดาห์ ป้องกันไข้เลือดออก #StopDengue https://moph.example.go.th/dengue"),
    ("PHO-PKT", "facebook", None, ""),
]


def load_demo_campaigns(db: Database, settings: Settings, progress: Any = None) -> None:
    from civicpulse.domain.campaigns import services
    from civicpulse.domain.campaigns.models import Campaign
    from civicpulse.domain.campaigns.schemas import CampaignCreate, PostIn
    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.plans.models import Plan

    actor = Actor.system_actor("demo", via="cli")
    with db.session() as s:
        if s.scalar(select(func.count()).select_from(Campaign)):
            return
        units = {u.code: u.id for u in s.scalars(select(Unit))}
        if "MOPH" not in units:
            return
        today = dt.datetime.now(dt.UTC).date()
        start = today - dt.timedelta(days=6)
        targets = [units[c] for c, _ch, _d, _t in POSTS if c in units]
        c = services.create_campaign(s, actor, CampaignCreate(
            unit_id=units["MOPH"], title="Dengue prevention: kill the larvae every week",
            description="Rainy-season dengue prevention. Every department, institute and provincial office carries "
                        "the two core messages on its own channels in the first week.",
            start_date=start, end_date=today + dt.timedelta(days=20), deadline=start + dt.timedelta(days=4),
            kit=DENGUE_KIT, target_unit_ids=targets))  # type: ignore[arg-type]
        services.publish_campaign(s, actor, None, c.id)
        n = 0
        for code, channel, days, text in POSTS:
            if code not in units or days is None:
                continue
            when = dt.datetime.combine(start + dt.timedelta(days=days), dt.time(3, 0), tzinfo=dt.UTC)
            services.record_post(s, actor, c.id, PostIn(unit_id=units[code], text=text, channel=channel,
                                                        published_at=when))
            n += 1
        plan = s.scalar(select(Plan).where(Plan.unit_id == units["MOPH"]).order_by(Plan.id))
        second = ""
        if plan is not None:
            try:
                with s.begin_nested():
                    services.create_campaign(s, actor, CampaignCreate(
                        unit_id=units["MOPH"], title="Measles-rubella catch-up: every child 1 to 5",
                        plan_id=plan.id, use_plan_messages=True, start_date=today + dt.timedelta(days=7),
                        deadline=today + dt.timedelta(days=14),
                        kit={"mandatory": {"hashtags": ["#VaccinesWork"]}},  # type: ignore[arg-type]
                        target_unit_ids=[units[x] for x in ("PHO-CMI", "PHO-KKN") if x in units]))
                    second = " and a draft kit from the vaccination plan"
            except DomainError:
                second = ""
        if progress is not None:
            progress.print(f"Loaded the demo campaign: {len(targets)} target units, {n} agency posts{second}.")
