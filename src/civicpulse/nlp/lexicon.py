"""Small hand-written cue lexicons (th / vi / en), written by the civicpulse team.

They are used as *features* (marker tokens such as ``__lex_neg__`` appended to the word
stream), never as rules on their own. Because the markers are shared across languages, a
weight learnt for ``__lex_neg__`` on 21k Thai posts also applies to Vietnamese and
English posts: a cheap cross-lingual transfer for the fast (no-embedding) models.
Profanity for Thai also comes from pythainlp's own list (``thai_profanity_words``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

LEX: dict[str, list[str]] = {
    "pos": [
        # th
        "ดีมาก", "ดีใจ", "ชอบ", "รัก", "ขอบคุณ", "ขอบใจ", "สุดยอด", "เยี่ยม", "ประทับใจ", "อร่อย", "สวย",
        "น่ารัก", "ปลื้ม", "เก่ง", "ยอดเยี่ยม", "คุ้ม", "ถูกใจ", "สะดวก", "รวดเร็ว", "ชื่นชม", "เลิศ", "ปัง",
        "แนะนำเลย", "ดีงาม", "ทันใจ", "เป็นกำลังใจ", "ขอบพระคุณ", "ชื่นใจ",
        # vi
        "tốt", "tuyệt", "tuyệt vời", "cảm ơn", "cám ơn", "camon", "cam on", "thanks", "hài lòng", "nhanh chóng",
        "chu đáo", "nhiệt tình", "tận tình", "tận tâm", "thích", "yêu", "ủng hộ", "xuất sắc", "đỉnh", "hay quá",
        "ổn", "ok", "oke", "rất tốt", "vui", "hoan nghênh", "biết ơn", "trân trọng", "khen", "xịn", "10 điểm",
        "tot qua", "tuyet voi", "hai long", "nhiet tinh", "ung ho",
        "thân thiện", "dễ hiểu", "dễ thương", "đẹp", "ngon", "sạch sẽ", "rõ ràng", "hữu ích", "bổ ích", "chất lượng",
        "hợp lý", "công bằng", "chuyên nghiệp", "vui vẻ", "nhanh gọn", "tiện lợi", "thuận tiện", "đáng tiền",
        "đáng mua", "hấp dẫn", "thú vị", "yên tâm", "hiệu quả",
        "sâu sắc", "dễ tiếp thu", "sinh động", "lôi cuốn", "tâm huyết", "nhiệt huyết", "tận tụy", "kỹ lưỡng",
        "vững vàng", "kiến thức vững", "chuyên môn vững", "truyền cảm hứng", "có tâm",
        # en
        "good", "great", "excellent", "thank", "thanks", "thank you", "appreciate", "love", "amazing", "helpful",
        "fast", "quick", "efficient", "well done", "awesome", "happy", "kudos", "nice", "impressed", "smooth",
        "friendly", "grateful", "best", "perfect",
    ],
    "neg": [
        # th
        "แย่", "ห่วย", "เลว", "ช้า", "โกง", "แพง", "ไม่ดี", "ผิดหวัง", "เสียใจ", "เบื่อ", "โมโห", "เซ็ง", "รำคาญ",
        "ไม่พอใจ", "ไม่ไหว", "เสีย", "พัง", "ทุเรศ", "เหม็น", "ขยะ", "ไม่ได้เรื่อง", "หลอก", "ปัญหา", "ร้องเรียน",
        "ทำไมไม่", "ไม่ทำ", "ไม่มา", "รอนาน", "เหนื่อย", "เดือดร้อน", "ท่วม", "คอรัปชั่น", "ทุจริต", "ไม่โอเค",
        "น่าเกลียด", "แย่มาก", "ไม่ชอบ", "ไม่แนะนำ", "ไม่คุ้ม", "เสียเวลา", "บ้า",
        # vi
        "tệ", "kém", "chậm", "chậm trễ", "bức xúc", "thất vọng", "không hài lòng", "ko hài lòng", "k hài lòng",
        "nhũng nhiễu", "hách dịch", "tham nhũng", "phiền", "phiền hà", "vô lý", "vô trách nhiệm", "quá đáng",
        "lừa", "lừa đảo", "dở", "bực", "mệt", "khổ", "ngập", "hỏng", "kẹt", "tắc", "ô nhiễm", "bẩn", "hôi",
        "chán", "tồi", "không ai", "ko ai", "ăn tiền", "làm khó", "đùn đẩy", "tắc trách", "xuống cấp", "thối",
        "te qua", "cham qua", "buc xuc", "that vong", "vo ly", "phien ha", "chan",
        "sơ sài", "qua loa", "hời hợt", "lan man", "khó hiểu", "nhàm chán", "khô khan", "thiếu thốn", "cẩu thả",
        "thiếu trách nhiệm", "kém chất lượng", "không tương xứng", "chặt chém", "lãng phí", "rườm rà", "ồn ào",
        "chật chội", "nóng bức", "đắt đỏ", "khắt khe", "thiên vị", "bất tiện", "lộn xộn", "so sai", "kho hieu",
        # en
        "bad", "terrible", "awful", "slow", "worst", "useless", "corrupt", "disappointed", "angry", "annoyed",
        "complain", "complaint", "problem", "broken", "dirty", "flooded", "rude", "ridiculous", "unacceptable",
        "waste", "scam", "never", "late", "delay", "delayed", "horrible", "poor", "fail", "failed", "incompetent",
    ],
    "q": [
        # th
        "ไหม", "มั้ย", "มั๊ย", "มะ", "ป่าว", "ป่ะ", "หรือเปล่า", "รึเปล่า", "อะไร", "ยังไง", "อย่างไร", "เหรอ", "หรอ",
        "ไหน", "ที่ไหน", "เท่าไหร่", "เท่าไร", "กี่", "เมื่อไหร่", "เมื่อไร", "ทำไม", "ใคร", "ได้ไหม", "ได้มั้ย",
        "บ้างคะ", "บ้างครับ", "ไงคะ", "ไงครับ", "สอบถาม", "ขอถาม", "รึยัง", "หรือยัง", "ใช่ไหม", "ใช่มั้ย",
        # vi
        "không ạ", "ko ạ", "k ạ", "chưa ạ", "ở đâu", "đâu ạ", "bao giờ", "bao nhiêu", "bao lâu", "thế nào",
        "như thế nào", "ra sao", "làm sao", "tại sao", "vì sao", "gì", "hả", "hỏi", "cho hỏi", "cho em hỏi",
        "cho mình hỏi", "được không", "dc ko", "đc ko", "phải không", "có phải", "khi nào", "ai", "sao",
        "o dau", "bao gio", "bao nhieu", "the nao", "cho hoi", "duoc khong",
        # en
        "what", "how", "when", "where", "why", "which", "who", "is there", "are there", "can i", "could you",
        "does", "do i", "anyone know", "any idea",
    ],
    "req": [
        # th
        "ขอให้", "ช่วย", "ช่วยด้วย", "ฝาก", "อยากให้", "ควร", "ควรจะ", "เสนอ", "เรียกร้อง", "วอน", "ขอความกรุณา",
        "รบกวน", "โปรด", "กรุณา", "แนะนำให้", "ขอเถอะ", "ช่วยดู", "ช่วยแก้", "เร่ง",
        # vi
        "đề nghị", "kiến nghị", "mong", "mong muốn", "xin", "xin hãy", "hãy", "nên", "cần", "yêu cầu",
        "đề xuất", "giúp", "giúp đỡ", "giúp với", "làm ơn", "mong được", "rất mong", "sớm", "khẩn trương",
        "de nghi", "lam on", "giup",
        # en
        "please", "should", "request", "suggest", "suggestion", "propose", "need", "must", "urge", "ask",
        "hope", "fix", "kindly", "would like",
    ],
    "prof": [
        # vi (common vulgar words / abbreviations)
        "đm", "dm", "đmm", "dmm", "đcm", "dcm", "vcl", "vl", "vkl", "clgt", "cmm", "cmn", "đéo", "địt",
        "lồn", "buồi", "cặc", "đĩ", "chó má", "mẹ mày", "me may", "óc chó", "oc cho",
        "dkm", "đkm", "dcmm", "đcmm", "clm", "clmm", "cmnr", "vcc", "loz", "cứt", "đụ", "đụ má", "đù má",
        "đậu má",
        "ngu", "ngu như bò", "thằng", "con mẹ", "khốn nạn", "khon nan", "súc vật", "đồ chó", "cút",
        # en
        "fuck", "fucking", "fck", "f*ck", "shit", "bullshit", "bitch", "bastard", "asshole", "damn", "idiot",
        "stupid", "moron", "dumb", "crap", "wtf", "stfu", "retard", "dick", "piss",
        # th (pythainlp's list is added at run time)
        "ควาย", "โง่", "ส้นตีน", "ตีน", "แม่ง", "แม่มึง", "พ่อมึง", "ไอ้", "อีดอก", "ชิบหาย", "เวร", "สันดาน",
    ],
    "hate": [
        # generic dehumanising / group-targeted terms (kept short; used only as features)
        # vi
        "bắc kỳ", "bac ky", "nam kỳ", "nam ky", "parky", "bake", "bò đỏ", "3 que", "ba que", "khựa", "tàu khựa",
        "mọi rợ", "đồ mọi", "bọn mọi", "đuổi hết", "cút về nước", "giết hết", "bọn nhập cư", "bê đê", "pê đê",
        # th
        "ขี้ข้า", "พม่า", "ต่างด้าว", "ไอ้ลาว", "ไอ้เขมร", "แขก", "ตุ๊ด", "กะเทย", "ไล่ออกไป", "ฆ่าให้หมด",
        "ชนชั้นต่ำ", "พวกนี้มัน", "ไอ้พวก",
        # en
        "go back to your country", "vermin", "subhuman", "kill them all", "these people", "invaders",
        "faggot", "nigger", "chink", "gook", "towelhead", "illegals", "animals",
    ],
}

_NEGATION = {
    "th": ["ไม่", "ไม่ค่อย", "ไม่ได้"],
    "vi": ["không", "ko", "k", "chẳng", "chả", "chưa", "hổng", "hông", "khong"],
    "en": ["not", "no", "never", "don't", "didn't", "isn't", "wasn't", "won't", "can't", "hardly"],
}


def _is_thai(w: str) -> bool:
    return any("\u0e00" <= c <= "\u0e7f" for c in w)


@lru_cache(maxsize=1)
def _thai_profanity() -> list[str]:
    try:
        from pythainlp.corpus import thai_profanity_words

        return sorted(w for w in thai_profanity_words() if w and not w.startswith("#"))
    except Exception:  # pythainlp without the list: our own entries still work
        return []


def first_char_guard(words: Iterable[str]) -> str:
    """A lookahead for the first characters of ``words``: put before a pattern that matches one of
    them (and starts with a lookbehind, which keeps Python's regex engine from skipping ahead to
    where a word may start), it changes no match and lets most positions fail at one test. Compile
    it with the pattern's flags (with IGNORECASE the set matches in any case, as the words do)."""
    firsts = sorted({w[0] for w in words if w})
    return "(?=[" + "".join(re.escape(c) for c in firsts) + "])" if firsts else ""


def _parts(words: list[str]) -> tuple[str | None, str | None]:
    """The two branches of a lexicon's pattern: its entries without Thai letters (lower case, whole
    words), then its Thai entries (anywhere: Thai is written without spaces); longest first."""
    thai = sorted({w for w in words if _is_thai(w)}, key=len, reverse=True)
    latin = sorted({w.lower() for w in words if not _is_thai(w)}, key=len, reverse=True)
    return (
        first_char_guard(latin) + r"(?<![^\W_])(?:" + "|".join(re.escape(w) for w in latin) + r")(?![^\W_])"
        if latin
        else None,
        "(?:" + "|".join(re.escape(w) for w in thai) + ")" if thai else None,
    )


def _lexicons() -> dict[str, list[str]]:
    lex = {k: list(v) for k, v in LEX.items()}
    lex["prof"] = lex["prof"] + _thai_profanity()
    return lex


def _negpos_parts() -> tuple[str, str]:
    # One factored branch ``(?:neg1|neg2|…)\s+(?:\w+\s+)?(?:pos…)`` — equivalent to (and ~10x
    # faster than) one alternative per negation word: the engine tries the negations in the
    # same order either way.
    negs = "|".join(re.escape(n) for n in _NEGATION["vi"] + _NEGATION["en"])
    poss = "|".join(re.escape(p) for p in LEX["pos"] if not _is_thai(p))
    return (
        first_char_guard(_NEGATION["vi"] + _NEGATION["en"]) + rf"(?<![^\W_])(?:{negs})\s+(?:\w+\s+)?(?:{poss})(?![^\W_])",
        "ไม่(?:ค่อย)?(?:ดี|ชอบ|โอเค|สะดวก|อร่อย|คุ้ม|ประทับใจ)",
    )


_THAI_CHAR_RE = re.compile("[\u0e00-\u0e7f]")
_OTHER_LETTER_RE = re.compile("[^\\W\\d_\u0e00-\u0e7f]")


@lru_cache(maxsize=1)
def _split() -> list[tuple[str, re.Pattern[str] | None, re.Pattern[str] | None]]:
    """Each cue lexicon's pattern, and ``negpos`` (a negation before a positive word), as its two
    branches: (name, entries without Thai letters, Thai entries). Thai entries are made of Thai
    characters only and every other entry holds a letter and no Thai character (checked here), so a
    match of one branch never overlaps one of the other: the lexicon's number of matches is the sum
    of its branches', and a branch finds nothing in a text without its kind of letter."""
    out = []
    lex = _lexicons()
    parts = {k: _parts(v) for k, v in lex.items()}
    parts["negpos"] = _negpos_parts()
    for name, (latin, thai) in parts.items():
        words = lex.get(name, [])
        if any(_is_thai(w) and re.search("[^\u0e00-\u0e7f]", w) for w in words) or any(
            not _is_thai(w) and not _OTHER_LETTER_RE.search(w.lower()) for w in words
        ):
            raise ValueError(f"lexicon {name}: an entry mixes scripts or has no letter")
        out.append((name, re.compile(latin) if latin else None, re.compile(thai) if thai else None))
    return out


def markers(text_lower: str) -> list[str]:
    """Marker tokens for the cue lexicons found in (normalised, lowercased) text.

    Counts the matches of each lexicon, branch by branch (:func:`_split`), and only the branches
    whose letters the text has: the counts of one pattern per lexicon, without running the Latin
    words over Thai posts or the Thai words over Vietnamese ones."""
    out: list[str] = []
    thai = _THAI_CHAR_RE.search(text_lower) is not None
    other = _OTHER_LETTER_RE.search(text_lower) is not None
    for name, latin_rx, thai_rx in _split():
        n = 0
        if other and latin_rx is not None:
            n += len(latin_rx.findall(text_lower))
        if thai and thai_rx is not None:
            n += len(thai_rx.findall(text_lower))
        if n:
            tok = f"__lex_{name}__"
            out.extend([tok] * min(n, 3))
    if "?" in text_lower:
        out.append("__qmark__")
    return out
