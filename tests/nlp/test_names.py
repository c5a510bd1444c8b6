"""People and organisations: the rules for Thai, Vietnamese and English, the Vietnamese tagger's part,
and how they sit beside the gazetteer's provinces, ministries and units."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicpulse.nlp import names
from civicpulse.nlp.entities import EntityFinder, default_finder


def found(text: str, lang: str | None = None, finder: EntityFinder | None = None) -> list[tuple[str, str]]:
    return [(e["type"], e["text"]) for e in (finder or default_finder()).find(text, lang)]


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Thủ tướng Phạm Minh Chính làm việc với Tập đoàn Điện lực Việt Nam về giá điện", "vi",
         [("person", "Phạm Minh Chính"), ("org", "Tập đoàn Điện lực Việt Nam")]),
        ("chị Lan ơi, UBND phường Bến Nghé trả lời chậm quá", "vi",
         [("person", "Lan"), ("org", "UBND phường Bến Nghé")]),
        ("cảm ơn bác sĩ Trần Thị Hoa, Công ty TNHH Samsung Electronics Việt Nam tài trợ", "vi",
         [("person", "Trần Thị Hoa"), ("org", "Công ty TNHH Samsung Electronics Việt Nam")]),
        ("Bệnh viện Bạch Mai làm việc cả chủ nhật", "vi", [("org", "Bệnh viện Bạch Mai")]),
        ("Giám đốc Sở Y tế cho biết", "vi", [("org", "Sở Y tế")]),
        ("nhà em ở 12 Lê Lợi, đường Trần Hưng Đạo ngập hết rồi", "vi", []),
        ("Anh ấy nói Mai Châu đẹp lắm", "vi", []),
        ("นายอนุทิน ชาญวีรกูล รองนายกรัฐมนตรี เปิดเผยว่า นายกรัฐมนตรีได้สั่งการ", "th",
         [("person", "อนุทิน ชาญวีรกูล")]),
        ("พล.อ.ประยุทธ์ จันทร์โอชา และนางสาวรัชดา ธนาดิเรก ร่วมงาน นายจ้างและผู้ประกันตน", "th",
         [("person", "ประยุทธ์ จันทร์โอชา"), ("person", "รัชดา ธนาดิเรก")]),
        ("ธนาคารกรุงไทย และ บริษัท ปตท. จำกัด (มหาชน) ร่วมกับโรงพยาบาลศิริราช", "th",
         [("org", "ธนาคารกรุงไทย"), ("org", "บริษัท ปตท. จำกัด (มหาชน)"), ("org", "โรงพยาบาลศิริราช")]),
        ("ขอบคุณครับ คุณลูกค้าสามารถรับชมรายการได้ ทนายคนนี้มีหมด นางทำโฆษณาได้น่าดู", "th", []),
        ("นายสมชายกล่าวว่าจะไปตรวจพื้นที่ในวันพรุ่งนี้ (นายอนุทิน) เห็นด้วย", "th",
         [("person", "สมชาย"), ("person", "อนุทิน")]),
        ("ขอบคุณพลโทสรรเสริญค่ะ อยากได้งบบ้าง", "th", [("person", "สรรเสริญ")]),
        ("ธนาคารหรือโรงพยาบาลทุกแห่ง บริษัท เป็นผู้ผลิต", "th", []),
        ("สมเด็จพระกนิษฐาธิราชเจ้า กรมสมเด็จพระเทพรัตนราชสุดาฯ เสด็จ โดยกรมป้องกันและบรรเทาสาธารณภัยได้แจ้งเตือน", "th",
         [("org", "กรมป้องกันและบรรเทาสาธารณภัย")]),
        ("ร่วมกับโรงพยาบาลศิริราชและโรงพยาบาลรามาธิบดีในการรักษา", "th",
         [("org", "โรงพยาบาลศิริราช"), ("org", "โรงพยาบาลรามาธิบดี")]),
        ("Prime Minister Paetongtarn Shinawatra met Dr. Jane Smith of the World Health Organization", "en",
         [("person", "Paetongtarn Shinawatra"), ("person", "Jane Smith"), ("org", "World Health Organization")]),
        ("Prime Minister General Prayut Chan-o-cha met Minister Dr. Somchai", "en",
         [("person", "Prayut Chan-o-cha"), ("person", "Somchai")]),
        ("Acme Corporation and the Bank of Thailand said Mr. Lee would attend", "en",
         [("org", "Acme Corporation"), ("org", "Bank of Thailand"), ("person", "Lee")]),
    ],
)
def test_people_and_organisations(text: str, lang: str, expected: list[tuple[str, str]]) -> None:
    assert [x for x in found(text, lang) if x[0] in ("person", "org")] == expected


def test_spans_index_the_text_and_ids_ignore_diacritics() -> None:
    text = "Hôm nay ông Nguyễn Văn Nam và bà Le Thi Hoa đến Ngân hàng Vietcombank"
    ents = default_finder().find(text, "vi")
    for e in ents:
        assert text[e["start"]:e["end"]] == e["text"]
    ids = {e["text"]: e["id"] for e in ents}
    assert ids["Nguyễn Văn Nam"] == "person:nguyen-van-nam"
    assert ids["Le Thi Hoa"] == "person:le-thi-hoa"
    assert ids["Ngân hàng Vietcombank"] == "org:ngan-hang-vietcombank"
    assert default_finder().find("ong Nguyen Van Nam noi", "vi")[0]["id"] == "person:nguyen-van-nam"


def test_an_organisation_may_hold_a_province_a_person_may_not() -> None:
    ents = found("Tổng Bí thư Tô Lâm thăm Trường Đại học Bách khoa Hà Nội", "vi")
    assert ("person", "Tô Lâm") in ents
    assert ("org", "Trường Đại học Bách khoa Hà Nội") in ents
    assert ("province", "Hà Nội") in ents  # still there for province filters and alerts
    assert found("Mai Châu và Hà Giang", "vi") == [("province", "Hà Giang")]


def test_gazetteer_entities_and_own_units_come_first() -> None:
    f = EntityFinder(extra={"unit:hcm-health": ["Sở Y tế TP.HCM"]})
    ents = found("Sở Y tế TP.HCM khuyến cáo, Bộ Y tế đồng ý", "vi", f)
    assert ents == [("unit", "Sở Y tế TP.HCM"), ("ministry", "Bộ Y tế")]


def test_without_people() -> None:
    assert default_finder().find("Thủ tướng Phạm Minh Chính đến Hà Nội", "vi", people=False) == [
        e for e in default_finder().find("Thủ tướng Phạm Minh Chính đến Hà Nội", "vi") if e["type"] == "province"]


def test_the_tagger_sees_only_unexplained_vietnamese_sentences(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = names._vi_tagger()
    assert real is not None, "underthesea is a dependency: its tagger must load offline"

    def spy(sentence: str) -> list[tuple[str, ...]]:
        seen.append(sentence)
        return real(sentence)  # type: ignore[misc]

    monkeypatch.setattr(names, "_vi_tagger", lambda: spy)
    f = EntityFinder()
    # a name with no title and no surname of the list: the tagger finds it
    assert ("person", "Minh Anh") in found("hôm qua gặp Minh Anh ở chợ. Giá rau tăng quá", "vi", f)
    assert seen == ["hôm qua gặp Minh Anh ở chợ"]
    seen.clear()
    # explained by the rules or the gazetteer, in capitals, at a sentence's start, or not Vietnamese: no call
    for text, lang in [("Thủ tướng Phạm Minh Chính đến Hà Nội", "vi"), ("Hôm nay trời mưa to", "vi"),
                       ("giá điện THẬT SỰ CAO QUÁ", "vi"), ("we met Jane Smith", "en")]:
        f.find(text, lang)
    assert seen == []
    # countries, brands and one-word runs it may call people are not kept
    assert found("tôi mua ở Shop Hoa Mai rồi gửi sang Hàn Quốc", "vi", f) == []
    assert EntityFinder(tagger=False).find("hôm qua gặp Minh Anh ở chợ", "vi") == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("Nguyễn Văn Namông bà chịนายนางคุณบริษัท จำกัดMr.Dr Bank of,. \n😀\u200b")),
               max_size=80), st.sampled_from([None, "vi", "th", "en", "other"]))
def test_never_raises_and_spans_fit(text: str, lang: str | None) -> None:
    for e in default_finder().find(text, lang):
        assert 0 <= e["start"] < e["end"] <= len(text)
        assert e["id"].startswith(f"{e['type']}:") or e["type"] not in ("person", "org")


@pytest.mark.parametrize("text", ["", "😀😀😀", "\ud800 bà Lan", "ông " + "Nam " * 25_000, "นาย" * 20_000, "\u200b" * 100])
def test_bad_input(text: str) -> None:
    for lang in (None, "vi", "th"):
        ents = default_finder().find(text, lang)
        assert isinstance(ents, list)


@pytest.mark.parametrize(("text", "expected"), [
    # Hồ Chí Minh after Chủ tịch, Bác, tư tưởng is the man; with Thành phố, TP or alone after ở, the city
    ("Chủ tịch Hồ Chí Minh đọc Tuyên ngôn Độc lập", [("person", "Hồ Chí Minh")]),
    ("Học tập và làm theo tư tưởng Hồ Chí Minh", [("person", "Hồ Chí Minh")]),
    ("Lăng Chủ tịch Hồ Chí Minh mở cửa", [("person", "Hồ Chí Minh")]),
    ("chu tich Ho Chi Minh", [("person", "Ho Chi Minh")]),
    ("Chủ tịch Thành phố Hồ Chí Minh nói", [("province", "Thành phố Hồ Chí Minh")]),
    ("Đường ở Hồ Chí Minh ngập", [("province", "Hồ Chí Minh")]),
    # Ông, Bà… are surnames too: before another surname they are the title
    ("Ông Nguyễn Văn Nam ở Hồ Chí Minh", [("person", "Nguyễn Văn Nam"), ("province", "Hồ Chí Minh")]),
    ("Bà Trần Thị Hoa nói", [("person", "Trần Thị Hoa")]),
    ("ông La Văn Cầu", [("person", "La Văn Cầu")]),
    # an organisation named by a place ends there when a person's name follows, and the person is found
    ("Chủ tịch UBND TP Hồ Chí Minh Phan Văn Mãi phát biểu",
     [("org", "UBND TP Hồ Chí Minh"), ("province", "Hồ Chí Minh"), ("person", "Phan Văn Mãi")]),
    ("Giám đốc Sở Y tế Hà Nội Nguyễn Văn An cho biết",
     [("org", "Sở Y tế Hà Nội"), ("province", "Hà Nội"), ("person", "Nguyễn Văn An")]),
    ("Trường Đại học Phan Chu Trinh tuyển sinh", [("org", "Trường Đại học Phan Chu Trinh")]),
    ("đường Nguyễn Hoàng Anh ngập", []),
])
def test_names_beside_places(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text, "vi") == expected


@pytest.mark.parametrize(
    ("text", "orgs"),
    [
        # a known organisation that newmm's dictionary holds as one word, glued to the sentence
        ("สำนักงานตำรวจแห่งชาติออกประกาศเมื่อวานนี้", ["สำนักงานตำรวจแห่งชาติ"]),
        ("การไฟฟ้านครหลวงประกาศดับไฟบางพื้นที่", ["การไฟฟ้านครหลวง"]),
        ("กรมทางหลวงเร่งซ่อมถนน", ["กรมทางหลวง"]),
        ("ธนาคารกรุงไทยแจ้งยกเลิกการให้บริการ", ["ธนาคารกรุงไทย"]),
        # the verb of announcing starts the clause after a name of several words
        ("กรมควบคุมโรคแจ้งว่าพบผู้ป่วยเพิ่ม", ["กรมควบคุมโรค"]),
        # การ and the kinds of local government take the name after them
        ("กรมการข้าวปรับแผนการปฏิบัติงาน", ["กรมการข้าว"]),
        ("เทศบาลนครเชียงรายจัดงานลอยกระทง", ["เทศบาลนครเชียงราย"]),
        ("เทศบาลตำบลหนองบัวแจ้งปิดถนน", ["เทศบาลตำบลหนองบัว"]),
        ("สำนักงานปลัดกระทรวงการคลังเปิดรับสมัคร", ["สำนักงานปลัดกระทรวงการคลัง"]),
        # kinds of organisation, words that only begin like one, a royal title: no organisation
        ("สถาบันการเงินต้องดูแลลูกหนี้", []),
        ("พรรคการเมืองหลายพรรคเห็นด้วย", []),
        ("สำนักงานใหญ่ย้ายไปแล้ว", []),
        ("ทำกรมธรรม์ประกันภัยรถยนต์", []),
        ("ไปนั่งที่ศาลาวัด", []),
        ("กรมหลวงชุมพรเขตอุดมศักดิ์", []),
    ],
)
def test_thai_organisations_glued_to_the_sentence(text: str, orgs: list[str]) -> None:
    assert [e["text"] for e in names._thai_orgs(text)] == orgs
