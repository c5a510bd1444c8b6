"""Demo plans: a complete, active vaccination-confidence plan of the ministry (copied to a provincial office)
and a flood-season crisis plan of the Department of Disease Control with crisis mode on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from civicpulse.config import Settings
from civicpulse.db.session import Database


def _t(vi: str, th: str, en: str) -> dict[str, str]:
    return {"vi": vi, "th": th, "en": en}


def vaccination_plan(today: dt.date, units: dict[str, int], topics: dict[str, int]) -> dict[str, Any]:
    start = today - dt.timedelta(days=21)

    def d(days: int) -> str:
        return (start + dt.timedelta(days=days)).isoformat()

    vaccines = [topics["Vaccines"]] if "Vaccines" in topics else []
    return {
        "title": "Vaccination confidence campaign 2026",
        "policy": "National Immunization Programme: free HPV and influenza vaccines at every public health centre",
        "summary": (
            "From this season every girl aged 11–12 and every person over 65 can get the HPV or influenza vaccine "
            "free of charge at any public health centre. Uptake fell after rumours about side effects spread on "
            "social media last year.\n\n"
            "The strategy: explain the change simply and early, answer every question within a day, let trusted "
            "messengers (village health volunteers, school nurses, doctors) carry the core message, and correct "
            "rumours with facts, never with ridicule. One voice: provincial offices adapt this plan, they do not "
            "write their own messages."),
        "language": "en",
        "template": "behaviour_change",
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=150)).isoformat(),
        "sections": {
            "objectives": [
                {"id": "o1", "type": "inform", "statement": "Parents of girls aged 11–12 know the HPV vaccine is "
                 "free at their health centre", "metric": "Share of surveyed parents aware (%)",
                 "baseline_value": 38, "baseline_date": (start - dt.timedelta(days=30)).isoformat(),
                 "baseline_source": "DOH phone survey, n=1,200", "target_value": 70,
                 "deadline": (today + dt.timedelta(days=100)).isoformat()},
                {"id": "o2", "type": "change_behaviour", "statement": "More people over 65 get the influenza vaccine",
                 "metric": "Doses given to people over 65", "baseline_value": 410000,
                 "baseline_date": (start - dt.timedelta(days=365)).isoformat(),
                 "baseline_source": "Immunization registry, last season", "target_value": 520000,
                 "deadline": (today + dt.timedelta(days=120)).isoformat()},
                {"id": "o3", "type": "build_trust", "statement": "Fewer negative conversations about vaccine safety",
                 "metric": "Share of negative responses in the Vaccines topic (%)",
                 "baseline_date": (start - dt.timedelta(days=28)).isoformat(),
                 "baseline_source": "civicpulse listening (computed)", "target_value": 20,
                 "deadline": (today + dt.timedelta(days=100)).isoformat()},
            ],
            "audiences": [
                {"id": "a1", "name": "Parents of girls aged 11–12", "topic_ids": vaccines,
                 "description": "Mostly mothers, active in LINE groups and Facebook parenting pages.",
                 "notes": "Worried about side effects and fertility rumours; unsure whether the vaccine is free."},
                {"id": "a2", "name": "People over 65 and their carers", "topic_ids": vaccines,
                 "description": "Reached through village health volunteers, temples and local radio.",
                 "notes": "Ask where and when; some believe one dose protects for life."},
                {"id": "a3", "name": "Village health volunteers", "description":
                 "1 million volunteers: the most trusted messengers in rural areas.",
                 "notes": "Need a short script and answers to the five most common questions."},
            ],
            "messages": [
                {"id": "m1", "kind": "core", "approval": "approved", "text": _t(
                    "Vắc xin HPV và cúm miễn phí tại mọi trạm y tế công. An toàn, hiệu quả, tiêm ngay hôm nay.",
                    "วัคซีน HPV และไข้หวัดใหญ่ ฉีดฟรีที่สถานบริการสาธารณสุขของรัฐทุกแห่ง ปลอดภัย ได้ผล ฉีดได้วันนี้",
                    "HPV and flu vaccines are free at every public health centre. Safe, effective — get yours today.")},
                {"id": "m2", "kind": "supporting", "audience_id": "a1", "approval": "approved", "text": _t(
                    "Một mũi vắc xin HPV hôm nay bảo vệ con gái bạn khỏi ung thư cổ tử cung sau này.",
                    "วัคซีน HPV หนึ่งเข็มวันนี้ ช่วยปกป้องลูกสาวจากมะเร็งปากมดลูกในอนาคต",
                    "One HPV shot today protects your daughter from cervical cancer later in life.")},
                {"id": "m3", "kind": "supporting", "audience_id": "a2", "approval": "draft", "text": _t(
                    "Cúm thay đổi mỗi năm: hãy tiêm nhắc lại mỗi mùa.",
                    "ไข้หวัดใหญ่เปลี่ยนทุกปี ควรฉีดวัคซีนทุกปี",
                    "Flu changes every year: get your shot every season.")},
            ],
            "forbidden": [
                {"id": "f1", "phrase": "100% safe", "reason": "No medicine is; it destroys trust when a side "
                 "effect happens", "instead": "safe and closely monitored"},
                {"id": "f2", "phrase": "anti-vaxxers", "reason": "Labels people we need to reach",
                 "instead": "people with questions about vaccines"},
                {"id": "f3", "phrase": "mandatory", "reason": "The programme is voluntary",
                 "instead": "recommended and free"},
            ],
            "faq": [
                {"id": "q1", "approval": "approved", "question": _t(
                    "Vắc xin HPV có ảnh hưởng khả năng sinh sản không?", "วัคซีน HPV ทำให้มีลูกยากหรือไม่",
                    "Does the HPV vaccine affect fertility?"), "answer": _t(
                    "Không. Hàng trăm triệu liều đã được tiêm; không có bằng chứng ảnh hưởng sinh sản.",
                    "ไม่ วัคซีนถูกฉีดไปแล้วหลายร้อยล้านโดส ไม่มีหลักฐานว่าทำให้มีบุตรยาก",
                    "No. Hundreds of millions of doses have been given; there is no evidence of any effect on "
                    "fertility.")},
                {"id": "q2", "approval": "approved", "question": _t(
                    "Tôi có phải trả tiền không?", "ต้องเสียเงินไหม", "Do I have to pay?"), "answer": _t(
                    "Không, miễn phí tại mọi trạm y tế công.", "ไม่ ฉีดฟรีที่สถานบริการของรัฐทุกแห่ง",
                    "No, it is free at every public health centre.")},
                {"id": "q3", "question": _t("Tiêm ở đâu?", "ฉีดได้ที่ไหน", "Where can I get it?"), "answer": _t(
                    "Tại trạm y tế gần nhà; xem danh sách trên website của Bộ.",
                    "ที่ รพ.สต. ใกล้บ้าน ดูรายชื่อได้ที่เว็บไซต์กระทรวง",
                    "At your nearest health centre; see the list on the ministry's website.")},
            ],
            "tactics": [
                {"id": "t1", "name": "Launch press conference with the minister", "channels": ["press", "tv"],
                 "owner_unit_id": units["MOPH-PR"], "audience_id": None, "start": d(0), "end": d(0),
                 "budget": "150000", "currency": "THB", "status": "done"},
                {"id": "t2", "name": "Explainer videos and infographics", "channels": ["facebook", "youtube", "line"],
                 "owner_unit_id": units["MOPH-PR"], "audience_id": "a1", "start": d(3), "end": d(60),
                 "budget": "480000", "currency": "THB", "status": "in_progress"},
                {"id": "t3", "name": "Volunteer script and training", "channels": ["training"],
                 "owner_unit_id": units["DOH"], "audience_id": "a3", "start": d(7), "end": d(35),
                 "budget": "320000", "currency": "THB", "status": "in_progress"},
                {"id": "t4", "name": "School nurse sessions with parents", "channels": ["events"],
                 "owner_unit_id": units["PHO-CMI"], "audience_id": "a1", "start": d(21), "end": d(90),
                 "budget": "210000", "currency": "THB", "status": "planned"},
                {"id": "t5", "name": "Local radio spots for older people", "channels": ["radio"],
                 "owner_unit_id": units["PHO-KKN"], "audience_id": "a2", "start": d(28), "end": d(84),
                 "budget": "95000", "currency": "THB", "status": "planned"},
                {"id": "t6", "name": "Rumour monitoring and daily answers", "channels": ["facebook", "line"],
                 "owner_unit_id": units["DDC"], "audience_id": None, "start": d(0), "end": d(150),
                 "budget": "0", "currency": "THB", "status": "in_progress"},
            ],
            "kpis": [
                {"id": "k1", "name": "Posts published", "level": "output", "metric": "manual", "unit_label": "posts",
                 "target": 60, "baseline": 0, "readings": [
                     {"date": d(7), "value": 9}, {"date": d(14), "value": 17}, {"date": d(21), "value": 26}]},
                {"id": "k2", "name": "Mentions of vaccines", "level": "output", "metric": "mention_volume",
                 "topic_ids": vaccines, "unit_label": "items", "direction": "increase", "target": 40},
                {"id": "k3", "name": "Negative share about vaccines", "level": "outtake", "metric": "negative_share",
                 "topic_ids": vaccines, "objective_id": "o3", "direction": "decrease", "target": 20},
                {"id": "k4", "name": "Concerns about vaccines", "level": "outcome", "metric": "concern_volume",
                 "topic_ids": vaccines, "direction": "decrease", "target": 5},
                {"id": "k5", "name": "Parents aware the vaccine is free (survey)", "level": "outcome",
                 "metric": "manual", "unit_label": "%", "objective_id": "o1", "baseline": 38, "target": 70,
                 "readings": [{"date": d(20), "value": 46, "note": "Rapid phone survey, n=600"}]},
            ] if vaccines else [
                {"id": "k1", "name": "Posts published", "level": "output", "metric": "manual", "unit_label": "posts",
                 "target": 60, "readings": [{"date": d(7), "value": 9}]},
            ],
            "risks": [
                {"id": "r1", "description": "A serious adverse event after vaccination goes viral", "likelihood": 2,
                 "impact": 5, "mitigation": "Pre-cleared holding statement; DDC investigates within 24 h",
                 "owner": "DDC"},
                {"id": "r2", "description": "Fertility rumour spreads in parent groups", "likelihood": 4,
                 "impact": 4, "mitigation": "FAQ answer q1 in every channel; doctors as messengers",
                 "owner": "MOPH-PR"},
                {"id": "r3", "description": "Vaccine stock runs out in some provinces", "likelihood": 2,
                 "impact": 3, "mitigation": "Weekly stock check with GPO; tell people where to go instead",
                 "owner": "GPO"},
            ],
            "crisis": {
                "scenario": "A death or serious illness is reported after vaccination and spreads on social media.",
                "holding_statements": [
                    {"id": "h1", "phase": "initial", "pre_cleared": True, "text": _t(
                        "Chúng tôi đã nhận được thông tin và đang khẩn trương xác minh. Cập nhật tiếp theo lúc 18h.",
                        "เราได้รับทราบข้อมูลแล้วและกำลังตรวจสอบอย่างเร่งด่วน จะแจ้งความคืบหน้าเวลา 18.00 น.",
                        "We know about the report and are urgently checking the facts. Next update at 18:00.")},
                    {"id": "h2", "phase": "maintenance", "text": _t(
                        "Đây là những gì chúng tôi biết, những gì đang làm và khi nào cập nhật.",
                        "นี่คือสิ่งที่เรารู้ สิ่งที่กำลังทำ และเวลาที่จะแจ้งครั้งต่อไป",
                        "Here is what we know, what we are doing and when we will update you.")},
                ],
                "contacts": [
                    {"id": "c1", "name": "Dr. Nguyễn Minh Anh", "role": "Director of Public Relations",
                     "phone": "+66 2 590 1000", "spokesperson": True},
                    {"id": "c2", "name": "Somchai Wongsawat", "role": "Listening analyst", "reports_to": "c1"},
                    {"id": "c3", "name": "Pimchanok Rattana", "role": "DDC communication officer",
                     "reports_to": "c1", "spokesperson": True},
                ],
                "approval_shortcut": "While crisis mode is on, h1 may be published by the duty officer at once; any "
                                     "other statement is cleared by the Director of Public Relations alone.",
            },
        },
    }


def load_demo_plans(db: Database, settings: Settings, progress: Any = None) -> None:
    from civicpulse.domain.listening import queries as listening
    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.plans import services
    from civicpulse.domain.plans.models import Plan
    from civicpulse.domain.plans.schemas import (
        ChecklistIn,
        CopyIn,
        CrisisIn,
        PlanCreate,
        Score,
        TransitionIn,
    )

    actor = Actor.system_actor("demo", via="cli")
    with db.session() as s:
        if s.scalar(select(func.count()).select_from(Plan)):
            return
        units = {u.code: u.id for u in s.scalars(select(Unit))}
        if "MOPH" not in units:
            return
        topics = {t.name: t.id for t in listening.topics(s, actor)}
        today = dt.datetime.now(dt.UTC).date()
        data = vaccination_plan(today, units, topics)
        plan = services.create_plan(s, actor, PlanCreate(unit_id=units["MOPH"], **data))
        notes = {"transparency": "Sources and survey methods are published",
                 "accessibility": "Sign-language version of the videos still missing"}
        scores = {p: Score(score=sc, note=notes.get(p, "")) for p, sc in (
            ("transparency", 3), ("integrity", 3), ("inclusiveness", 2), ("accessibility", 1), ("timeliness", 3),
            ("responsiveness", 2), ("evidence_based", 3), ("two_way", 2))}
        services.score_checklist(s, actor, plan.id, ChecklistIn(scores=scores))
        for to in ("in_review", "approved", "active"):
            services.transition(s, actor, plan.id, TransitionIn(to=to))  # type: ignore[arg-type]
        if "PHO-CMI" in units:
            services.copy_plan(s, actor, plan.id, CopyIn(unit_id=units["PHO-CMI"],
                                                           title="Vaccination confidence campaign 2026 — Chiang Mai"))
        if "DDC" in units:
            start = today - dt.timedelta(days=3)
            flood = services.create_plan(s, actor, PlanCreate(
                unit_id=units["DDC"], title="Flood season: waterborne disease prevention",
                policy="Emergency health guidance for flood-affected provinces", template="crisis_response",
                start_date=start, end_date=start + dt.timedelta(days=45),
                summary="Heavy rain has flooded districts in the north-east. The plan keeps one voice on "
                        "drinking water, leptospirosis and diarrhoea while the situation evolves."))
            services.set_crisis(s, actor, None, flood.id, CrisisIn(active=True, phase="initial",
                                                                   note="Floods in Khon Kaen and Udon Thani"))
    if progress is not None:
        progress.print("Loaded demo plans: an active vaccination campaign (copied to Chiang Mai) and a flood-season "
                       "crisis plan.")
