"""People and organisations named in a text: rules for Thai, Vietnamese and English, and for
Vietnamese the underthesea tagger (CRF, shipped inside the package) on what the rules leave unexplained.

The gazetteer finder (:mod:`civicpulse.nlp.entities`) knows provinces, ministries and the
organisation's own units by name. People and other organisations cannot be listed in advance; they
are found by how they are written:

* **A title before a name.** Vietnamese *ông / bà / anh / chị / Thủ tướng / Bộ trưởng / bác sĩ /
  PGS.TS.*… followed by capitalised words (*ông Nguyễn Văn Nam*, *chị Lan*); English *Mr / Dr /
  Minister / Governor*… followed by capitalised words; Thai honorifics glued to the name (*นาย*,
  *นางสาว*, *ดร.*, *พล.อ.*, *นพ.*…), the first name up to the next space and the surname after it
  (*นายอนุทิน ชาญวีรกูล*). Words that only begin like an honorific (*นายกรัฐมนตรี*, *นายจ้าง*,
  *นางพยาบาล*) are not names: newmm reads them as one word.
* **A Vietnamese surname** (*Nguyễn, Trần, Lê, Phạm…*) followed by one to three capitalised
  syllables: *Phạm Minh Chính*, *Tô Lâm*. Not after a house number or a street word (*12 Lê Lợi*,
  *đường Trần Hưng Đạo* are addresses).
* **An organisation word** (*Công ty, Tập đoàn, Ngân hàng, Bệnh viện, Trường, UBND*…; *บริษัท,
  ธนาคาร, มหาวิทยาลัย, โรงพยาบาล*…; *Bank, University, Ministry of*…) followed (or, in English,
  preceded) by its capitalised name: *Bệnh viện Bạch Mai*, *Sở Y tế Hà Nội*, *ธนาคารกรุงไทย*,
  *Bank of Thailand*, *Acme Corporation*.
* **Vietnamese, the rest.** A run of capitalised words inside a Vietnamese sentence that none of the
  above explains (not the sentence's first word, not a known place or unit) goes to underthesea's
  named-entity tagger (word segmentation, part of speech, chunking and a CRF, all shipped in its
  wheel; no download), which tells a person (*PER*) or an organisation (*ORG*) from a place. The
  tagger runs about 290 sentences a second on one core, so it sees only those sentences.

Spans are ``{"type": "person" | "org", "text", "start", "end", "id", "name"}``; ids are
``person:<key>`` / ``org:<key>`` where the key is the name in lower case, Latin letters without
diacritics, words joined by ``-`` (Thai kept as written), so that the same person written with or
without diacritics is one id.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import structlog

from civicpulse.nlp.lexicon import first_char_guard
from civicpulse.nlp.normalize import has_diacritics, strip_diacritics
from civicpulse.nlp.segment import has_thai

log = structlog.get_logger("civicpulse.nlp.names")


def _letters(pred: Callable[[str], bool]) -> str:
    """The Latin letters of Vietnamese and English (with their accented forms) for which ``pred`` holds."""
    chars = (chr(c) for c in (*range(0x41, 0x250), *range(0x1E00, 0x1F00)))
    return "".join(c for c in chars if c.isalpha() and pred(c))


_UP = re.escape(_letters(str.isupper))
_LOW = re.escape(_letters(str.islower))
_CAP = f"[{_UP}][{_LOW}]*(?:-[{_UP}][{_LOW}]*)?"  # Nam, Hà, Jean-Pierre
_ACRO = f"[{_UP}][{_UP}0-9&]+"  # EVN, TNHH, VNPT, CP
_CAP_RUN = f"{_CAP}(?:[ ]{_CAP}){{0,4}}"  # up to five capitalised words

# --- Vietnamese --------------------------------------------------------------------------------
# Titles before a person's name; longer first. Kinship words (anh, chị…) are how comments address
# or mention people; the name after them must be capitalised.
VI_TITLES = (
    "Tổng Bí thư", "Bí thư", "Phó Thủ tướng", "Thủ tướng", "Phó Chủ tịch", "Chủ tịch", "Bộ trưởng", "Thứ trưởng",
    "Phó Giám đốc", "Giám đốc", "Tổng giám đốc", "Trưởng phòng", "Phó trưởng phòng", "Trưởng ban", "Trưởng công an",
    "Tổng thống", "Thống đốc", "Đại sứ", "Phát ngôn viên", "Người phát ngôn", "Đại biểu", "Đại tướng", "Thượng tướng",
    "Trung tướng", "Thiếu tướng", "Đại tá", "Thượng tá", "Trung tá", "Thiếu tá", "Đại úy", "Thượng úy", "Trung úy",
    "Thiếu úy", "Hiệu trưởng", "Viện trưởng", "Cục trưởng", "Vụ trưởng", "Chánh văn phòng", "Chánh án",
    "bác sĩ", "BS.", "BS", "PGS.TS.", "PGS.TS", "GS.TS.", "GS.TS", "PGS.", "GS.", "TS.", "ThS.", "ThS", "luật sư",
    "LS.", "nhà báo", "nhà văn", "nhà thơ", "ca sĩ", "diễn viên", "nghệ sĩ", "NSƯT", "NSND", "cầu thủ", "huấn luyện viên",
    "HLV", "đồng chí", "thầy", "cô", "ông", "bà", "anh", "chị", "em", "chú", "bác", "cụ", "cháu", "bạn", "Bác",
)
VI_SURNAMES = frozenset(
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đinh Đào Trương Lâm Trịnh Đoàn Lưu "
    "Tạ Châu Tô Lương Vương Quách Kiều Tăng Hứa Lục Mạc Phùng Khổng Khúc Triệu Âu Nghiêm Thân Doãn La Ninh Diệp "
    "Giang Từ Văn Quan Tôn Chu Kim Mai Cao Thái Hà Trình Chế Lò Hầu Ông Tống Viên".split()
)
# Surnames that are as often the first word of a place or a thing (Hà Giang, Mai Châu, Cao tốc…): a
# name needs two more capitalised syllables after them.
_VI_WEAK_SURNAMES = frozenset("Mai Cao Thái Hà Giang Kim Văn Quan Từ La Ninh Chu Lò Ông Lâm Châu Tô Hồ".split())
# without diacritics more surnames are other words too (Do, Vu, Ho, Ha, Le, Ly, To, Ong, Lo)
_VI_WEAK_PLAIN = frozenset(strip_diacritics(w) for w in _VI_WEAK_SURNAMES | frozenset("Đỗ Vũ Lê Lý Đào Tạ Tô Âu Thân".split()))
VI_ORG_HEADS = (
    "Tổng công ty", "Công ty", "Tập đoàn", "Ngân hàng", "Bệnh viện", "Trường Đại học", "Trường", "Đại học", "Học viện",
    "Viện", "Báo", "Đài", "Hiệp hội", "Hội", "Quỹ", "Tòa án nhân dân", "Tòa án", "Viện kiểm sát nhân dân",
    "Tổng cục", "Cục", "Chi cục", "Sở", "Công an", "Trung tâm", "Hợp tác xã", "Nhà máy", "Cảng", "Ban quản lý",
    "Ủy ban nhân dân", "UBND", "Hội đồng nhân dân", "HĐND", "Mặt trận Tổ quốc", "Đoàn thanh niên",
)
# words between an org word and its name that belong to it (UBND phường Bến Nghé, Công ty TNHH X)
_VI_ORG_LEVELS = ("thành phố", "thị trấn", "thị xã", "phường", "xã", "huyện", "quận", "tỉnh", "đặc khu", "TP.", "TP")
# a house number or a street word before a surname: an address, not a person
_VI_ADDRESS_BEFORE = re.compile(
    r"(?<![^\W_])(?:\d+[A-Za-z]?(?:/\d+)*|đường|phố|Đường|Phố|ngõ|hẻm|Ngõ|Hẻm|số|Số|cầu|Cầu|trường|chợ|Chợ|tượng|phường|quận|"
    r"xã|huyện|Phường|Quận|Xã|Huyện|ga|Ga|công viên|Công viên|lăng|Lăng|Bệnh viện|bệnh viện|Trường|THPT|THCS)\s*$"
)


def _alts(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


# comments typed without diacritics name people so too (ong Nguyen Van Nam)
_VI_TITLE_RE = re.compile(
    rf"(?<![^\W_])(?P<title>{_alts([*VI_TITLES, *map(strip_diacritics, VI_TITLES)])})[ ]+(?P<name>{_CAP_RUN})(?![^\W_])"
)
_VI_SURNAME_SET = frozenset([*VI_SURNAMES, *map(strip_diacritics, VI_SURNAMES)])
_VI_SURNAME_ALTS = _alts(_VI_SURNAME_SET)
# a surname and 1-3 capitalised words, at every word start, the matches overlapping (a lookahead that
# consumes nothing)
_VI_SURNAME_AT_RE = re.compile(rf"(?<![^\W_])(?=(?P<name>(?:{_VI_SURNAME_ALTS})(?:[ ]{_CAP}){{1,3}})(?![^\W_]))")
_VI_TITLES_LOWER = frozenset(t.lower() for t in VI_TITLES if " " not in t and "." not in t)
# what follows a place inside an organisation's name when it is a person's name: a surname and 1-3 capitalised words
_VI_PERSON_AFTER_RE = re.compile(rf"[ ]+(?:{_VI_SURNAME_ALTS})(?:[ ]{_CAP}){{1,3}}")
# the second syllables of institutions' names written with one capital (Sở Y tế, Bách khoa, Giáo dục)
_VI_SECOND = "tế khoa dục tạo thông nghiệp lực tải vụ chính dựng thương pháp giao hóa động trường sản thuật học dân".split()
_ORG_WORD = rf"(?:{_ACRO}|{_CAP}(?:[ ](?:{_alts(_VI_SECOND)})(?![^\W_]))?|\d+)"
_ORG_NAME = rf"{_ORG_WORD}(?:[ ](?:{_ORG_WORD}|[{_LOW}]+(?=[ ](?:{_ACRO}|{_CAP}))))*"
_VI_ORG_RE = re.compile(
    rf"(?<![^\W_])(?P<name>(?:{_alts(VI_ORG_HEADS)})(?:[ ](?:{_alts(_VI_ORG_LEVELS)}))?[ ]+"
    rf"(?:(?:TNHH|CP|MTV|cổ phần|Cổ phần|trách nhiệm hữu hạn)[ ]+)*{_ORG_NAME})(?![^\W_])"
)
# two to four capitalised words inside a sentence (not its first word, not in capitals: for the tagger)
_VI_CAND_RE = re.compile(rf"(?<=[{_LOW},;:]\s)[{_UP}][{_LOW}]+(?:[ ][{_UP}][{_LOW}]+){{1,3}}(?![^\W_])")
# a word before a capitalised run that makes it a place (ở Phú Quốc, đi Đà Lạt, quận Bình Thạnh): no tagger call
_VI_PLACE_BEFORE = re.compile(
    r"(?<![^\W_])(?:ở|tại|đi|đến|tới|về|từ|lên|xuống|ra|vào|qua|sang|khu|quận|huyện|tỉnh|thành phố|thị xã|xã|phường|cầu|chợ|sân|"
    r"sân vận động|công viên|hồ|núi|sông|biển|đảo|bến|ga|cảng|cao tốc|nhà hàng|khách sạn|quán|ks|o|di|den|toi|ve|tu|"
    r"len|quan|huyen|tinh|cho|cau|Cầu|Chợ|Quận|Huyện|Tỉnh|Phường|Xã)\s+$", re.IGNORECASE)
# capitalised words the tagger takes for a person's and that are not (countries, brands, words of address)
_VI_NOT_PERSON = frozenset(
    "Việt Nam Trung Quốc Hàn Nhật Bản Thái Lan Hoa Kỳ Mỹ Nga Pháp Đức Lào Campuchia Ấn Độ Singapore Úc "
    "Shop Facebook Zalo Google Tết Phật Chúa Trời Đảng Nhà Nước Bác".split()
)

# --- English ----------------------------------------------------------------------------------
EN_TITLES = (
    "Mr.", "Mr", "Mrs.", "Mrs", "Ms.", "Ms", "Miss", "Dr.", "Dr", "Prof.", "Professor", "Sir", "Dame",
    "Prime Minister", "Deputy Prime Minister", "Minister", "President", "Governor", "Mayor", "Senator", "Director",
    "Director-General", "Secretary", "Ambassador", "Chairman", "Chairwoman", "General", "Gen.", "Colonel", "Col.",
    "Captain", "Capt.", "Judge", "Spokesman", "Spokeswoman", "Spokesperson",
)
_EN_CAP_NAME = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*|[A-Z]\."
_EN_TITLE_RE = re.compile(
    rf"(?<![\w.])(?P<title>(?:{_alts(EN_TITLES)})(?:[ ]+(?:{_alts(EN_TITLES)}))*)[ ]+(?P<name>(?:{_EN_CAP_NAME})(?:[ ](?:{_EN_CAP_NAME})){{0,3}})(?!\w)"
)
_EN_ORG_TAILS = (
    "Inc.", "Inc", "Ltd.", "Ltd", "Co.", "Corporation", "Corp.", "Company", "Group", "Bank", "University", "Hospital",
    "Foundation", "Association", "Agency", "Authority", "Council", "Commission", "Institute", "Ministry", "Department",
    "Office", "Police", "Airlines", "Airways", "Party", "Organization", "Organisation", "Fund", "Programme", "Program",
    "Service", "Services", "Union", "Forum", "Court", "Network", "Club", "Federation",
)
_EN_ORG_HEADS = ("Ministry of", "Department of", "University of", "Bank of", "Office of", "Institute of",
                 "Bureau of", "Agency for", "Commission on", "Council of")
_EN_CAPW = r"[A-Z][A-Za-z&'.-]*"
_EN_ORG_RE = re.compile(
    rf"(?<![\w.])(?P<name>(?:the[ ])?(?:{_alts(_EN_ORG_HEADS)})(?:[ ](?:the[ ])?[A-Z][A-Za-z&'.-]*)+"
    rf"|[A-Z][A-Za-z&'.-]*(?:[ ]{_EN_CAPW}){{0,4}}[ ](?:{_alts(_EN_ORG_TAILS)}))(?!\w)"
)

# --- Thai -------------------------------------------------------------------------------------
TH_HONORIFICS = (
    "นางสาว", "นาย", "นาง", "น.ส.", "ด.ช.", "ด.ญ.", "ดร.", "ศ.ดร.", "รศ.ดร.", "ผศ.ดร.", "ศ.", "รศ.", "ผศ.",
    "ศาสตราจารย์", "รองศาสตราจารย์", "ผู้ช่วยศาสตราจารย์", "นพ.", "พญ.", "ทพ.", "ทพญ.", "ภก.", "ภญ.", "นายแพทย์",
    "แพทย์หญิง", "พลเอก", "พลโท", "พลตรี", "พล.อ.", "พล.ท.", "พล.ต.", "พ.อ.", "พ.ท.", "พ.ต.", "ร.อ.", "ร.ท.", "ร.ต.",
    "พล.ต.อ.", "พล.ต.ท.", "พล.ต.ต.", "พ.ต.อ.", "พ.ต.ท.", "พ.ต.ต.", "ร.ต.อ.", "ร.ต.ท.", "ร.ต.ต.", "ด.ต.", "จ.ส.ต.",
    "ส.ต.อ.", "พลตำรวจเอก", "พลตำรวจโท", "พลตำรวจตรี", "พันตำรวจเอก", "พันตำรวจโท", "พันตำรวจตรี", "คุณ",
)
# honorifics written as a word of their own: an unrelated longer word may begin with them (นายจ้าง)
_TH_WORD_HONORIFICS = frozenset(h for h in TH_HONORIFICS if "." not in h)
# a word after the first name that starts a sentence's verb or a title, not a surname
_TH_NOT_SURNAME = (
    "ว่า", "และ", "ได้", "จะ", "ก็", "ไม่", "ให้", "กล่าว", "เปิดเผย", "เผย", "ระบุ", "บอก", "เป็น", "มี", "ที่", "ยัง",
    "พร้อม", "ร่วม", "นำ", "ประธาน", "รอง", "รัฐมนตรี", "ผู้", "นายก", "เลขาธิการ", "อธิบดี", "ปลัด", "โฆษก", "หัวหน้า",
    "ซึ่ง", "โดย", "กับ", "ใน", "จาก", "ของ", "เพื่อ", "ได้รับ", "เดินทาง", "ตรวจ", "ลง", "เข้า", "ออก", "ขอ", "ทำ",
    "สมาชิก", "ส.ส.", "ส.ว.", "ผวจ.", "ผู้ว่า", "นาย", "นาง", "เมื่อ", "แล้ว", "ครับ", "ค่ะ", "คะ", "นะ", "อยาก", "โปรด",
)
# dictionary words that begin with an organisation's head word and name a kind of organisation, not one
_TH_ORG_GENERIC = frozenset((
    "สถาบันการเงิน", "สถาบันการศึกษา", "สถาบันวิจัย", "ธนาคารพาณิชย์", "ธนาคารกลาง", "พรรคการเมือง", "พรรคฝ่ายค้าน",
    "บริษัทเอกชน", "บริษัทแม่", "บริษัทลูก", "บริษัทผู้ผลิต", "บริษัทตัวแทน", "ศาลเจ้า", "สำนักงานใหญ่", "สมาคมการค้า",
    "โรงเรียนอนุบาล", "โรงเรียนเทศบาล", "โรงเรียนเอกชน", "โรงพยาบาลเอกชน", "มหาวิทยาลัยเอกชน",
))
# kinds that take the name after them (เทศบาลนคร|เชียงใหม่, สำนักงานปลัดกระทรวง|การคลัง)
_TH_ORG_KINDS = frozenset((
    "เทศบาลนคร", "เทศบาลเมือง", "เทศบาลตำบล", "องค์การบริหารส่วนตำบล", "องค์การบริหารส่วนจังหวัด",
    "สำนักงานปลัดกระทรวง",
))
# words that begin Thai place names of two words (หนอง|บัว, แม่|ริม, บ้าน|สวน, บาง|รัก)
_TH_PLACE_FIRST = frozenset(
    "หนอง แม่ บ้าน ป่า โคก ลาด บัว ไทร หอ ราง โพธิ์ ปัก ท่า บาง ดอน นา ห้วย วัง สัน เวียง ทุ่ง คลอง เขา ศรี โนน หัว บึง "
    "สระ ปาก กุด ดง ลำ บ่อ น้ำ ไผ่ ม่วง สาม เชียง พระ ดอย".split()
)
_TH_PARTICLES_RE = re.compile("(?:ครับ|ค่ะ|คะ|นะ|จ้า|จ้ะ|ด้วย)+$")
TH_ORG_HEADS = (
    "บริษัท", "ธนาคาร", "มหาวิทยาลัย", "โรงพยาบาล", "โรงเรียน", "สถาบัน", "มูลนิธิ", "สมาคม", "การไฟฟ้า", "การประปา",
    "การท่าเรือ", "การรถไฟ", "การท่องเที่ยว", "สหกรณ์", "พรรค", "ห้างหุ้นส่วนจำกัด", "หจก.", "บมจ.", "บจก.",
    "สำนักงาน", "กรม", "สถานีตำรวจ", "สภ.", "เทศบาล", "องค์การบริหารส่วน", "อบต.", "อบจ.", "ศาล",
)
_TH = r"\u0e01-\u0e4f"
_TH_ROYAL = ("สมเด็จ", "หลวง", "หมื่น", "ขุน", "พระ")
# Thai writes no space between words: an honorific may follow another word (และนางสาว…); newmm tells
# an honorific from the start of a longer word. คุณ only after a space (ขอบคุณครับ is no name).
_TH_HON_RE = re.compile(
    first_char_guard([*TH_HONORIFICS, "คุณ"]) + rf"(?P<title>(?<![{_TH}.])คุณ|(?<![.])(?:{_alts(h for h in TH_HONORIFICS if h != 'คุณ')}))\s?(?P<first>[{_TH}]+)"
)
_TH_NEXT_WORD_RE = re.compile(rf"[ ](?P<w>[{_TH}]+)(?=$|[\s,.;:!?)\"'”])")
_TH_ORG_RE = re.compile(
    rf"(?P<name>(?P<head>{_alts(TH_ORG_HEADS)})\s?[{_TH}A-Za-z0-9.&]+"
    rf"(?:\s(?:จำกัด(?:\s?\(มหาชน\))?))?)"
)


def key(name: str) -> str:
    """The id key of a name: lower case, Latin letters without diacritics, words joined by ``-``."""
    s = strip_diacritics(name).lower()
    return "-".join(re.findall(r"[a-z0-9\u0e01-\u0e4f]+", s)) or s.strip()


def _span(kind: str, s: str, start: int, end: int) -> dict[str, Any]:
    text = s[start:end]
    name = re.sub(r"\s+", " ", text)
    return {"type": kind, "text": text, "start": start, "end": end, "id": f"{kind}:{key(name)}", "name": name}


def _vi_like(s: str) -> bool:
    return has_diacritics(s) or "Đ" in s or "đ" in s


def _newmm() -> Callable[[str], list[str]]:
    from civicpulse.nlp.segment import _thai_tokenizer

    return _thai_tokenizer()


@lru_cache(maxsize=1)
def _thai_lists() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """pythainlp's word list, given names and family names (shipped with it)."""
    from pythainlp.corpus import thai_family_names, thai_female_names, thai_male_names, thai_words

    return frozenset(thai_words()), frozenset(thai_male_names()) | frozenset(thai_female_names()), frozenset(
        thai_family_names())


# honorifics that are also pronouns or parts of words in everyday Thai (คุณ "you", นาง "she", นาย "you")
_TH_PRONOUNS = frozenset(("คุณ", "นาง", "นาย"))
# words that begin a clause, not an organisation's name (ธนาคารหรือ…, โรงพยาบาลทุกแห่ง)
_TH_NOT_NAME = (
    "และ", "หรือ", "ที่", "ของ", "ใน", "เป็น", "ใช้", "ทุก", "นี้", "นั้น", "ก็", "จะ", "ได้", "ไม่", "เขา", "เรา", "ผม",
    "มี", "ให้", "ไป", "มา", "ว่า", "แต่", "กับ", "จาก", "ต้อง", "ยัง", "แล้ว", "เลย", "ด้วย", "อยู่", "ทำ", "คือ", "ไหน",
    "อะไร", "ต่าง", "หลาย", "แห่ง", "เอง", "ก่อน", "หลัง", "ช่วย", "บอก", "ขอ", "อยาก", "ควร", "เพื่อ", "โดย", "ซึ่ง",
    "ทั่วไป", "ชั้นนำ", "ต่างๆ", "ภายใน", "สืบ", "เอกชน", "นั่น", "นี่", "ใด", "ไหม", "มั้ย", "ทั้ง", "จน", "ตาม", "เคย",
    "ร่วม", "กำลัง", "เพิ่ง", "เริ่ม", "ดัง", "ชื่อ", "ดี", "ใหญ่", "เล็ก",
    # verbs of announcing, which start the clause after an organisation's name (กรมควบคุมโรคแจ้งว่า…)
    "แจ้ง", "ประกาศ", "เตือน", "เผย", "เปิดเผย", "ระบุ", "กล่าว", "ยืนยัน", "ชี้แจง", "แถลง",
)


def _honorific_here(s: str, start: int, title: str) -> bool:
    """Whether newmm reads ``title`` as a word of its own at ``start`` (not ทนาย, นายจ้าง, นายกรัฐมนตรี)."""
    a = start
    while a > 0 and start - a < 12 and "\u0e01" <= s[a - 1] <= "\u0e4f":
        a -= 1
    b = start + len(title)
    while b < len(s) and b - start < 30 and "\u0e01" <= s[b] <= "\u0e4f":
        b += 1
    pos = a
    for tok in _newmm()(s[a:b]):
        if pos == start:
            return tok == title
        if pos > start:
            return False
        pos += len(tok)
    return False


def _glued_name(run: str, given: frozenset[str]) -> str:
    """The first name at the start of a run of Thai letters that goes on with the sentence (สมชายกล่าวว่า…): the
    longest given name of PyThaiNLP's lists it starts with, else newmm's words up to one that starts a clause."""
    for k in range(min(len(run), 20), 1, -1):
        if run[:k] in given:
            return run[:k]
    n = 0
    for tok in _newmm()(run):
        if n and (tok in _TH_NOT_NAME or tok.startswith(_TH_NOT_SURNAME)):
            break
        n += len(tok)
        if n >= 14:
            break
    return run[:n]


def _thai_people(s: str) -> list[dict[str, Any]]:
    out = []
    words, given, family = _thai_lists()
    for m in _TH_HON_RE.finditer(s):
        title, first = m.group("title"), m.group("first")
        if title in _TH_WORD_HONORIFICS and not _honorific_here(s, m.start(), title):
            continue
        if len(first) > 14:  # the first name glued to the sentence after it
            first = _glued_name(first, given)
        stripped = _TH_PARTICLES_RE.sub("", first)  # สรรเสริญค่ะ: the sentence ends after the name
        if _newmm()(first)[0] in _TH_NOT_NAME or len(stripped) < 2:
            continue
        end = m.start("first") + len(stripped)
        surname = None
        if end == m.end():  # the name's letters end here; a surname may follow after a space
            nxt = _TH_NEXT_WORD_RE.match(s, end)
            w = nxt.group("w") if nxt else ""
            if w in family or (3 <= len(w) <= 20 and w not in words and not w.startswith(_TH_NOT_SURNAME)
                               and _newmm()(w)[0] not in _TH_NOT_NAME):
                surname, end = w, nxt.end()  # type: ignore[union-attr]
        known = first in given or (first not in words and len(first) >= 2)
        if title in _TH_PRONOUNS:  # "you", "she": a name only when it reads as one
            ok = first in given or (surname is not None and (surname in family or first not in words))
        else:
            ok = known or surname is not None
        if ok and len(first) >= 2:
            out.append(_span("person", s, m.start("first"), end))
    return out


def _thai_orgs(s: str) -> list[dict[str, Any]]:
    out = []
    words = _thai_lists()[0]
    pos = 0
    while (m := _TH_ORG_RE.search(s, pos)) is not None:
        pos = m.end()  # or, below, where a name cut short ends: another may follow in the same run
        name = m.group("name")
        head = m.group("head")
        rest = name[len(head):].strip()
        if len(rest) < 2:
            continue
        glued = not name[len(head)].isspace()
        if "." not in head and glued and (tok := _newmm()(name)[0]) != head:
            # one dictionary word that begins with the head: a known organisation when the rest of it is
            # words too (สำนักงานตำรวจแห่งชาติ, การไฟฟ้านครหลวง, มหาวิทยาลัยเชียงใหม่), then the name ends with
            # it; else a word that only begins like one (กรมธรรม์, ศาลา)
            if tok in _TH_ORG_GENERIC:
                continue  # a kind of organisation, no name (สถาบันการเงิน, พรรคการเมือง)
            parts = _newmm()(tok[len(head):]) if tok.startswith(head) and len(tok) > len(head) + 1 else []
            if not parts or not all(w in words for w in parts) or parts[0] in _TH_NOT_NAME \
                    or (head == "กรม" and parts[0].startswith(_TH_ROYAL)):
                continue  # สำนักงานใหญ่ (headquarters), กรมหลวง… (a royal title), ศาลา (a hall)
            end = m.start("name") + len(tok)
            if parts == ["การ"] or tok in _TH_ORG_KINDS:
                # กรมการ|ข้าว (the Rice Department), เทศบาลนคร|เชียงใหม่: the name follows; without it a kind
                after = _newmm()(name[len(tok):])
                if after and after[0] in words and after[0] not in _TH_NOT_NAME:
                    end += len(after[0])
                    if after[0] in _TH_PLACE_FIRST and len(after) > 1 and after[1] in words \
                            and after[1] not in _TH_NOT_NAME:
                        end += len(after[1])  # เทศบาลตำบล|แม่|ริม: a place name of two words
                elif tok in _TH_ORG_KINDS:
                    continue
            out.append(_span("org", s, m.start("name"), end))
            pos = end
            continue
        first = _newmm()(rest)[0]
        if first in _TH_NOT_NAME or (head == "กรม" and rest.startswith(_TH_ROYAL)):
            continue  # ธนาคารหรือ…; กรมสมเด็จพระ… is a royal title, not a department
        end = m.end("name")
        if not glued and "จำกัด" not in rest and first in words:
            continue  # บริษัท เป็น…, มหาวิทยาลัย คณาจารย์…: a sentence goes on after the word
        if glued and len(rest) > 15 and "จำกัด" not in rest:
            # the name glued to what follows: its words up to the first that starts a clause (≤ 40 letters)
            n = 0
            toks = _newmm()(rest)
            for i, tok in enumerate(toks):
                # และ inside a name (กรมป้องกันและบรรเทาสาธารณภัย), not before another organisation
                joined = tok == "และ" and i + 1 < len(toks) and not rest[n + 3:].startswith(TH_ORG_HEADS)
                if (tok in _TH_NOT_NAME and not joined) or n + len(tok) > 40:
                    break
                n += len(tok)
            end = pos = m.start("name") + len(head) + n
            if n < 2:
                continue
        out.append(_span("org", s, m.start("name"), end))
    return out


def _vi_people(s: str) -> list[dict[str, Any]]:
    out = []
    for m in _VI_TITLE_RE.finditer(s):
        title, name = m.group("title"), m.group("name")
        if title[0].islower() and m.start() > 0 and s[m.start() - 1] not in " \n\t(\"'“,.;:!?-":
            continue
        words = name.split(" ")
        if words[0] in _STOP_WORDS or words[0] in _TITLE_FIRST_WORDS:
            continue
        # a name stops before a word that starts something else (an organisation word, a title)
        cut = next((i for i, w in enumerate(words) if i > 0 and w in _STOP_WORDS), len(words))
        out.append(_span("person", s, m.start("name"), m.start("name") + len(" ".join(words[:cut]))))
    blocked = 0  # the end of the last candidate these rules turned down: no other starts inside it
    for m in _VI_SURNAME_AT_RE.finditer(s):
        # a candidate at every surname (the matches overlap): one that overlaps a place is dropped later (Hà
        # Nội Nguyễn Văn), and the name after the place (Nguyễn Văn An) must still be there
        if m.start("name") < blocked:
            continue
        words = m.group("name").split(" ")
        start = m.start("name")
        if len(words) >= 3 and words[0].lower() in _VI_TITLES_LOWER and words[1] in _VI_SURNAME_SET:
            # Ông, Bà, La… are surnames too; before another surname they are the title (Ông Nguyễn Văn Nam)
            start += len(words[0]) + 1
            words = words[1:]
        if (words[0] in _VI_WEAK_SURNAMES or words[0] in _VI_WEAK_PLAIN) and len(words) < 3 \
                or _before(s, start, _VI_ADDRESS_BEFORE) or any(w in _STOP_WORDS for w in words[1:]):
            blocked = m.end("name")
            continue
        out.append(_span("person", s, start, m.end("name")))
    return out


_STOP_WORDS = frozenset(
    "UBND HĐND Sở Bộ Cục Công Tập Ngân Bệnh Trường Đại Học Viện Báo Đài Hội Quỹ Tòa Ban Trung Phòng Tổng Thủ Chủ "
    "Phó Giám Bí Thứ Tỉnh Thành Huyện Quận Phường Xã TP".split()
)
_TITLE_FIRST_WORDS = frozenset("Nhà Nước Chính Quốc Đảng".split())


# places whose name begins with an organisation word
_VI_NOT_ORG = frozenset(("Hội An", "Cảng Hải Phòng"))


def _before(s: str, at: int, rx: re.Pattern[str]) -> bool:
    """Whether the words just before ``at`` match ``rx`` (anchored at its end; only the last 40 characters are
    read, so that a long text costs no more per name)."""
    return rx.search(s, max(0, at - 40), at) is not None


def _vi_orgs(s: str) -> list[dict[str, Any]]:
    return [_span("org", s, m.start("name"), m.end("name")) for m in _VI_ORG_RE.finditer(s)
            if m.group("name") not in _VI_NOT_ORG]


_EN_TITLE_WORDS = frozenset(w for t in EN_TITLES for w in t.split())


def _en_people(s: str) -> list[dict[str, Any]]:
    out = []
    for m in _EN_TITLE_RE.finditer(s):
        start, words = m.start("name"), m.group("name").split(" ")
        while words and words[0] in _EN_TITLE_WORDS:  # Prime Minister General Prayut: the name after the titles
            start += len(words.pop(0)) + 1
        if words:
            out.append(_span("person", s, start, m.end("name")))
    return out


def _en_orgs(s: str) -> list[dict[str, Any]]:
    out = []
    for m in _EN_ORG_RE.finditer(s):
        start, name = m.start("name"), m.group("name")
        if name.startswith("the "):
            start, name = start + 4, name[4:]
        out.append(_span("org", s, start, start + len(name)))
    return out


# --- the Vietnamese tagger ----------------------------------------------------------------------
_tagger_lock = threading.Lock()
_MAX_TAGGED = 20  # candidate runs per text looked at (a long text's sentences are tagged at most this often)


@lru_cache(maxsize=1)
def _vi_tagger() -> Callable[[str], list[tuple[str, ...]]] | None:
    """underthesea's CRF named-entity tagger (shipped in its wheel), or None where it is not installed."""
    try:
        from underthesea import ner
    except Exception:  # pragma: no cover - an optional dependency missing or broken
        return None
    ner("Ông Nam")  # loads the models once
    return ner  # type: ignore[no-any-return]


def tagger_available() -> bool:
    return _vi_tagger() is not None


def _vi_tagged(s: str, taken: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """People and organisations the tagger finds in the sentences of ``s`` that hold a capitalised run
    the rules and the gazetteer left unexplained (``taken``: spans already found)."""
    cands = []
    for m in _VI_CAND_RE.finditer(s):
        if any(a <= m.start() < b or a < m.end() <= b for a, b in taken) or _before(s, m.start(), _VI_ADDRESS_BEFORE) \
                or _before(s, m.start(), _VI_PLACE_BEFORE):
            continue
        cands.append(m)
        if len(cands) >= _MAX_TAGGED:
            break
    if not cands:
        return []
    tag = _vi_tagger()
    if tag is None:
        return []
    out = []
    done: set[int] = set()
    for c in cands:
        # the sentence around the candidate (the tagger's unit), with its offset in s
        a = max(s.rfind(p, 0, c.start()) for p in (". ", "! ", "? ", "\n"))
        a = 0 if a < 0 else a + 1
        if a in done:
            continue
        done.add(a)
        ends = [e for e in (s.find(p, c.end()) for p in (". ", "! ", "? ", "\n")) if e >= 0]
        b = min(ends) if ends else len(s)
        sent = s[a:b]
        if len(sent) > 1000:
            continue
        with _tagger_lock:  # the tagger keeps state between calls
            try:
                rows = tag(sent)
            except Exception:  # pragma: no cover - the tagger's own failure must not stop enrichment
                log.warning("vietnamese tagger failed", exc_info=True)
                continue
        out.extend(_spans_of_tags(s, a, sent, rows))
    return out


def _spans_of_tags(s: str, offset: int, sent: str, rows: list[tuple[str, ...]]) -> list[dict[str, Any]]:
    """PER / ORG runs of the tagger's (word, pos, chunk, tag) rows as spans of ``s`` (the words found in
    ``sent``, which starts at ``offset``, in order)."""
    out = []
    pos = 0
    cur: tuple[str, int, int] | None = None
    for row in rows:
        word, tag = row[0], row[-1]
        at = sent.find(word, pos)
        if at < 0:  # the tagger changed the word (spacing, normalisation): give up on the run
            cur = None
            continue
        pos = at + len(word)
        kind = {"PER": "person", "ORG": "org"}.get(tag[2:]) if len(tag) > 2 else None
        if kind and tag.startswith("I-") and cur and cur[0] == kind:
            cur = (kind, cur[1], pos)
        else:
            if cur:
                out.append(_span(cur[0], s, offset + cur[1], offset + cur[2]))
            cur = (kind, at, pos) if kind else None
    if cur:
        out.append(_span(cur[0], s, offset + cur[1], offset + cur[2]))
    # the tagger's organisations and its one-word people are mostly wrong on comments (VNeID, BHYT, Shop):
    # only people of two or more capitalised words, none a country's or a brand's, are kept
    return [sp for sp in out if sp["type"] == "person" and _vi_person_words(sp["text"])]


def _vi_person_words(text: str) -> bool:
    words = text.split()
    return 2 <= len(words) <= 4 and all(
        w[0].isupper() and w[1:].islower() and w not in _VI_NOT_PERSON for w in words)


def find(
    s: str,
    lang: str | None = None,
    taken: Iterable[tuple[int, int]] = (),
    places: Iterable[tuple[int, int]] = (),
    tagger: bool = True,
) -> list[dict[str, Any]]:
    """People and organisations in ``s`` (normalised, NFC), sorted by start. They overlap neither each
    other nor ``taken`` (spans found before: ministries, units); an organisation may hold one of
    ``places`` whole (*Sở Y tế Hà Nội* holds *Hà Nội*), a person none. ``lang``: the text's language
    where known (th / vi / en; others get the rules of the scripts they hold). ``tagger``: let
    underthesea's tagger look at Vietnamese sentences the rules leave unexplained."""
    if not s:
        return []
    thai = has_thai(s)
    vi_like = lang is None and _vi_like(s)  # language unknown: the scripts decide
    vi = lang == "vi" or (vi_like and not thai)
    found: list[dict[str, Any]] = []
    if thai or lang == "th":
        found += _thai_people(s) + _thai_orgs(s)
    # every Latin-script rule (and the tagger's candidates) needs a capital letter: most comments have none
    latin = s != s.lower()
    if latin and (lang in ("vi", "en", "other") or (lang is None and (not thai or vi_like))):
        if vi:
            found += _vi_people(s) + _vi_orgs(s)
        if lang != "vi":
            found += _en_people(s) + _en_orgs(s)
    taken, places = list(taken), list(places)
    found = [_org_before_person(sp, s, places) for sp in found]
    found = [sp for sp in found if _fits(sp, places)]
    out = _non_overlapping(found, taken)
    if vi and tagger and latin:
        occupied = taken + places + [(sp["start"], sp["end"]) for sp in out]
        out += _non_overlapping([sp for sp in _vi_tagged(s, occupied) if _fits(sp, places)],
                                taken + [(sp["start"], sp["end"]) for sp in out])
    return sorted(out, key=lambda sp: sp["start"])


def _org_before_person(sp: dict[str, Any], s: str, places: list[tuple[int, int]]) -> dict[str, Any]:
    """An organisation named by a place ends with it when a person's name follows: *UBND TP Hồ Chí Minh
    Phan Văn Mãi* is the committee, then its chairman (the name is then found on its own)."""
    if sp["type"] != "org":
        return sp
    for a, b in places:
        if sp["start"] <= a and b < sp["end"] and _VI_PERSON_AFTER_RE.fullmatch(s, b, sp["end"]):
            return _span("org", s, sp["start"], b)
    return sp


def _fits(sp: dict[str, Any], places: list[tuple[int, int]]) -> bool:
    """A person overlaps no place; an organisation holds a place whole or not at all."""
    for a, b in places:
        if sp["start"] < b and a < sp["end"]:
            if sp["type"] != "org" or not (sp["start"] <= a and b <= sp["end"]) or (a, b) == (sp["start"], sp["end"]):
                return False
    return True


def _non_overlapping(spans: list[dict[str, Any]], taken: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Leftmost-longest spans that overlap neither each other nor ``taken``."""
    out: list[dict[str, Any]] = []
    occupied = list(taken)
    for sp in sorted(spans, key=lambda x: (x["start"], -(x["end"] - x["start"]))):
        if any(sp["start"] < b and a < sp["end"] for a, b in occupied):
            continue
        out.append(sp)
        occupied.append((sp["start"], sp["end"]))
    return out
