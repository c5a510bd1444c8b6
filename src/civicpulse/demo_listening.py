"""Demo listening data: real Thai public text plus generated Vietnamese citizen comments."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from civicpulse.config import Settings
from civicpulse.connectors.base import FetchedItem
from civicpulse.db.session import Database

HERE = Path(__file__).parent / "demo_data"

VI_PROVINCES = ["Hà Nội", "TP. Hồ Chí Minh", "Đà Nẵng", "Huế", "Cần Thơ", "Hải Phòng", "Nghệ An", "Khánh Hòa",
                "Lâm Đồng", "Quảng Ninh", "Đắk Lắk", "Gia Lai"]
VI_TEMPLATES: list[tuple[str, str]] = [
    ("neg", "Mức phạt giao thông mới cao quá, dân {p} lương có mấy triệu mà phạt 5 triệu thì sống sao nổi"),
    ("neg", "Đường ở {p} ngập nặng sau mưa, chờ mãi ko thấy ai xử lý, bức xúc thật sự"),
    ("q", "Cho mình hỏi thủ tục làm căn cước cho con ở {p} cần giấy tờ gì ạ? Làm online được không?"),
    ("q", "Nghị định xử phạt nồng độ cồn áp dụng từ ngày nào vậy mọi người? Uống 1 lon bia có bị phạt không?"),
    ("pos", "Cảm ơn bệnh viện tỉnh {p} đã tiêm vắc xin nhanh gọn, nhân viên rất nhiệt tình"),
    ("pos", "Dịch vụ công trực tuyến bây giờ tiện thật, làm giấy phép lái xe ở {p} chỉ mất 3 ngày"),
    ("neu", "Sở Y tế {p} thông báo lịch tiêm chủng mở rộng tháng này tại các trạm y tế phường"),
    ("neu", "UBND {p} họp bàn phương án phòng chống lũ lụt mùa mưa bão năm nay"),
    ("neg", "Giá điện tăng liên tục, hóa đơn tháng này nhà mình ở {p} gấp đôi, đề nghị nhà nước xem lại"),
    ("neu", "Đề nghị thành phố {p} bố trí thêm điểm tiếp nhận hồ sơ đất đai, người dân phải xếp hàng từ sáng sớm"),
    ("neg", "Bệnh viện {p} quá tải, chờ khám từ 6h sáng tới trưa chưa tới lượt, ai chịu trách nhiệm đây"),
    ("pos", "Lực lượng cứu hộ {p} hỗ trợ bà con vùng lũ rất kịp thời, xin cảm ơn các chiến sĩ"),
]
RUMOURS = [
    "NÓNG: Từ tháng sau mỗi người phải nộp phí 2 triệu đồng để làm lại căn cước, ai không làm sẽ bị phạt nặng. Chia sẻ ngay!",
    "Uống nước chanh nóng mỗi sáng chữa khỏi ung thư, bác sĩ Bộ Y tế đã xác nhận, hãy chia sẻ cho người thân",
    "ด่วน! รัฐบาลจะเก็บภาษีเงินฝากทุกบัญชี 10% ตั้งแต่เดือนหน้า รีบถอนเงินด่วน แชร์ต่อ",
]
PREFIXES = ["", "Chia sẻ: ", "RT ", "Mọi người cẩn thận! ", "แชร์ต่อ ", "Xem ngay: "]
# The demo analyst's corrections (what the Models page retrains with): labels the models get wrong on the
# generated comments, corrected on a few items each: (start of the text, task, right label).
# "chỉ mất 3 ngày" (only takes 3 days) reads as a loss to the fast path; a complaint that ends in a request
# ("đề nghị nhà nước xem lại") reads as a neutral request.
CORRECTIONS: list[tuple[str, str, str]] = [
    ("Dịch vụ công trực tuyến bây giờ tiện thật", "sentiment", "pos"),
    ("Dịch vụ công trực tuyến bây giờ tiện thật", "voice", "praise"),
    ("Giá điện tăng liên tục", "sentiment", "neg"),
]
CORRECTIONS_EACH = 3


def _thaigov() -> Iterator[FetchedItem]:
    for line in (HERE / "thaigov_press.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        published = None
        if r.get("pub_date"):
            try:
                published = dt.datetime.fromisoformat(r["pub_date"]).replace(tzinfo=dt.timezone(dt.timedelta(hours=7)))
            except ValueError:
                published = None
        yield FetchedItem(external_id=str(r["id"]), kind="article", title=r.get("title"),
                          text=f"{r.get('title') or ''}\n{r.get('text') or ''}".strip(), url=r.get("url"),
                          published_at=published.astimezone(dt.UTC) if published else None,
                          author_handle="thaigov.go.th", author_name="Royal Thai Government")


def _recent(rng: random.Random, now: dt.datetime, days: int = 14) -> dt.datetime:
    return now - dt.timedelta(days=rng.random() ** 1.6 * days, minutes=rng.randint(0, 59))


def _wisesight(now: dt.datetime) -> Iterator[FetchedItem]:
    rng = random.Random(11)
    for line in (HERE / "wisesight_posts.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        yield FetchedItem(external_id=r["id"], text=r["text"], published_at=_recent(rng, now),
                          author_handle=f"user{rng.randint(1000, 99999)}", likes=int(rng.paretovariate(1.5)) - 1,
                          shares=int(rng.paretovariate(2.5)) - 1)


def vietnamese_comments(now: dt.datetime, n: int = 420, seed: int = 5) -> list[FetchedItem]:
    """Generated Vietnamese citizen comments (team-written templates), including copy-pasted rumours."""
    rng = random.Random(seed)
    out: list[FetchedItem] = []
    for i in range(n):
        if i % 12 == 0:
            base = RUMOURS[(i // 12) % len(RUMOURS)]
            text = rng.choice(PREFIXES) + base + rng.choice(["", " !!", " 😱", " #canhbao"])
        else:
            _label, tpl = rng.choice(VI_TEMPLATES)
            text = tpl.format(p=rng.choice(VI_PROVINCES))
            if rng.random() < 0.3:
                text += rng.choice([" 😡", " 👍", " ạ", "!!!", " #giaothong", " @UBND"])
        out.append(FetchedItem(external_id=f"vi-{i}", kind="comment" if i % 3 else "post", text=text,
                               published_at=_recent(rng, now), author_handle=f"fb.user.{rng.randint(100, 9999)}",
                               likes=rng.randint(0, 300), shares=rng.randint(0, 60), comments=rng.randint(0, 40)))
    return out


SOURCES: list[tuple[str, str, str, Any]] = [
    ("MOPH-PR", "Thai government press releases", "Public domain / Apache-2.0 (thaigov-v2-corpus)", _thaigov),
    ("MOPH", "Social posts sample (Wisesight)", "CC0-1.0 (Wisesight Sentiment)", _wisesight),
    ("DDC", "Vietnamese citizen comments (generated)", "civicpulse team", vietnamese_comments),
]


def load_demo_listening(db: Database, settings: Settings, progress: Any = None) -> None:
    from civicpulse.domain.listening import services
    from civicpulse.domain.listening.enrich import enrich_pending, pending_count
    from civicpulse.domain.listening.models import Item, Source
    from civicpulse.domain.listening.schemas import SourceCreate, TopicCreate
    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.org.permissions import Actor

    actor = Actor.system_actor("demo", via="cli")
    now = dt.datetime.now(dt.UTC)
    with db.session() as s:
        if s.scalar(select(func.count()).select_from(Item)):
            return
        for unit_code, name, licence, gen in SOURCES:
            unit = s.scalar(select(Unit).where(Unit.code == unit_code))
            if unit is None:
                return
            src = s.scalar(select(Source).where(Source.unit_id == unit.id, Source.name == name))
            if src is None:
                src, _ = services.create_source(s, actor, settings, SourceCreate(
                    unit_id=unit.id, name=name, platform="file", config={"licence": licence}))
            items = gen(now) if gen is not _thaigov else gen()
            services.ingest(s, src, items, batch="demo")
        moph = s.scalar(select(Unit).where(Unit.code == "MOPH"))
        ddc = s.scalar(select(Unit).where(Unit.code == "DDC"))
        for unit, name, query in [
            (moph, "Vaccines", 'วัคซีน OR "vắc xin" OR vaccine*'),
            (moph, "Electricity prices", 'ค่าไฟ OR "giá điện" OR "electricity price"'),
            (ddc, "Traffic fines (VN)", '("xử phạt" OR "mức phạt" OR "nồng độ cồn") lang:vi'),
            (ddc, "Floods", 'น้ำท่วม OR "ngập" OR lũ OR flood*'),
        ]:
            if unit is not None:
                services.create_topic(s, actor, TopicCreate(unit_id=unit.id, name=name, query=query))
    n = pending_count(db)
    if progress is not None:
        progress.print(f"Analysing {n} demo items (language, words, sentiment)…")
    enrich_pending(db, settings)
    corrected = _corrections(db)
    clusters = services.dedup_run(db)
    if progress is not None:
        progress.print(f"Loaded demo listening data: {n} items, {clusters} near-duplicate clusters, "
                       f"{corrected} labels corrected by the demo analyst.")


def _corrections(db: Database) -> int:
    """The demo analyst corrects :data:`CORRECTIONS` on the first items (in id order) the models got wrong."""
    from civicpulse.domain.listening import services
    from civicpulse.domain.listening.models import Item
    from civicpulse.domain.org.models import User
    from civicpulse.domain.org.services import actor_for

    column = {"sentiment": Item.sentiment, "voice": Item.voice}
    done = 0
    with db.session() as s:
        user = s.scalar(select(User).where(User.email == "analyst@demo.civicpulse.org"))
        if user is None:
            return 0
        actor = actor_for(s, user, via="cli")
        for start, task, label in CORRECTIONS:
            ids = s.scalars(select(Item.id).where(Item.text.startswith(start, autoescape=True),
                                                  column[task] != label).order_by(Item.id).limit(CORRECTIONS_EACH))
            for item_id in list(ids):
                services.correct_label(s, actor, item_id, task, label)
                done += 1
    return done
