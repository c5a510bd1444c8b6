"""Demo claims: four health rumours with verdicts and official corrections in Thai, Vietnamese and English, plus
a small "rumour tip line" source whose posts repeat them (reworded, in other languages), so the claim pages show
matches. Idempotent: does nothing once the registry has claims."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from civicpulse.config import Settings
from civicpulse.db.session import Database

# unit, verdict, wordings [(lang, text)], correction {lang: text}, link
CLAIMS: list[tuple[str, str, list[tuple[str, str]], dict[str, str], str]] = [
    ("DDC", "false", [("th", "ดื่มน้ำมะนาวร้อนรักษาโควิด-19 ได้"), ("en", "Drinking hot lemon water cures COVID-19"),
                      ("vi", "Uống nước chanh nóng chữa khỏi COVID-19")],
     {"th": "น้ำมะนาวร้อนไม่สามารถรักษาหรือป้องกันโควิด-19 ได้ หากมีอาการให้ตรวจ ATK และปรึกษาแพทย์",
      "vi": "Nước chanh nóng không chữa hay phòng được COVID-19. Nếu có triệu chứng, hãy xét nghiệm và hỏi ý kiến bác sĩ.",
      "en": "Hot lemon water does not cure or prevent COVID-19. If you have symptoms, take a test and see a doctor."},
     "https://ddc.moph.go.th/"),
    ("MOPH", "false", [("vi", "Tiêm vắc xin HPV gây vô sinh ở bé gái")],
     {"th": "วัคซีน HPV ไม่ทำให้เป็นหมัน ผ่านการศึกษาในเด็กหญิงหลายล้านคนทั่วโลก",
      "vi": "Vắc xin HPV không gây vô sinh; đã được nghiên cứu trên hàng triệu bé gái trên thế giới.",
      "en": "The HPV vaccine does not cause infertility; it has been studied in millions of girls worldwide."},
     "https://www.who.int/news-room/fact-sheets/detail/human-papilloma-virus-and-cancer"),
    ("MOPH", "misleading", [("en", "The gold card health scheme ends next year and everyone must pay for treatment")],
     {"th": "สิทธิบัตรทองยังคงอยู่ ไม่มีการยกเลิก ประชาชนยังรักษาฟรีตามสิทธิ",
      "en": "The universal coverage (gold card) scheme continues; nobody loses their free treatment."},
     "https://www.nhso.go.th/"),
    ("PHO-CMI", "unverified", [("th", "น้ำประปาเชียงใหม่มีสารพิษ ห้ามดื่ม")], {}, ""),
]

POSTS: list[tuple[str, str]] = [
    ("th", "เพื่อนส่งมาบอกว่าดื่มน้ำมะนาวร้อน ๆ ทุกเช้ารักษาโควิดได้ จริงไหมคะ"),
    ("vi", "Uống nước chanh nóng mỗi sáng chữa khỏi covid, mọi người chia sẻ nhé"),
    ("en", "my aunt swears hot lemon water cured her covid in two days"),
    ("vi", "Các mẹ cẩn thận, con gái tiêm vắc-xin HPV sau này sẽ bị vô sinh"),
    ("th", "ฉีดวัคซีน HPV แล้วลูกสาวจะมีลูกไม่ได้ จริงหรือ"),
    ("th", "ปีหน้าเขายกเลิกบัตรทองแล้ว ต้องจ่ายค่ารักษาเองทุกคน"),
    ("th", "ใครอยู่เชียงใหม่ระวัง น้ำประปามีสารพิษ อย่าดื่มนะ"),
    ("en", "Great turnout at the blood donation drive in Khon Kaen today, thank you volunteers"),
]


def load_demo_claims(db: Database, settings: Settings, progress: Any = None) -> None:
    from civicpulse.connectors.base import FetchedItem
    from civicpulse.domain.alerts.claims import services
    from civicpulse.domain.alerts.claims.models import Claim
    from civicpulse.domain.alerts.claims.schemas import ClaimCreate
    from civicpulse.domain.listening import services as listening
    from civicpulse.domain.listening.enrich import enrich_pending
    from civicpulse.domain.listening.models import Source
    from civicpulse.domain.listening.schemas import SourceCreate
    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.org.permissions import Actor

    actor = Actor.system_actor("demo", via="cli")
    now = dt.datetime.now(dt.UTC)
    with db.session() as s:
        if s.scalar(select(func.count()).select_from(Claim)):
            if progress is not None:
                progress.print("The demo claims are already loaded.")
            return
        units = {u.code: u for u in s.scalars(select(Unit))}
        if "MOPH" not in units:
            return
        src = s.scalar(select(Source).where(Source.unit_id == units["MOPH"].id, Source.name == "Rumour tip line"))
        if src is None:
            src, _ = listening.create_source(s, actor, settings, SourceCreate(
                unit_id=units["MOPH"].id, name="Rumour tip line", platform="file",
                config={"licence": "civicpulse demo data"}))
        listening.ingest(s, src, [FetchedItem(external_id=f"rumour-{i}", text=text, language=lang,
                                              published_at=now - dt.timedelta(hours=3 * (len(POSTS) - i)))
                                  for i, (lang, text) in enumerate(POSTS)], batch="demo")
    enrich_pending(db, settings)
    n = 0
    with db.session() as s:
        units = {u.code: u for u in s.scalars(select(Unit))}
        for code, verdict, texts, corr, link in CLAIMS:
            if code not in units:
                continue
            services.create_claim(s, actor, ClaimCreate(
                unit_id=units[code].id, texts=[{"lang": lg, "text": t} for lg, t in texts],  # type: ignore[misc]
                status=verdict, correction=corr, correction_url=link or None,  # type: ignore[arg-type]
                first_seen_at=now - dt.timedelta(days=2)))
            n += 1
    if progress is not None:
        progress.print(f"Loaded {n} demo claims (rumours and corrections); run the worker to match new posts.")
