"""Numbers, amounts and dates in Vietnamese, Thai and English text, and whether a post contradicts a kit.

``extract(text)`` finds the facts a communication officer would check against the kit:

* **money / large amounts**: "5 million", "2 triệu đồng", "5.000.000đ", "๕ ล้านบาท", "1,5 tỷ", "$200"
* **percentages**: "80%", "80 phần trăm", "80 เปอร์เซ็นต์"
* **durations**: "14 days", "14 ngày", "14 วัน", "2 weeks", "2 tuần", "2 สัปดาห์"
* **dates**: "15 June", "June 15", "15/6", "15 tháng 6", "ngày 15/6", "15 มิ.ย.", "15 มิถุนายน", "2026-06-15"

Thai digits (๐–๙) are read as digits. A plain count ("3 steps", a hotline number) is not a fact here: too
many of those differ legitimately between a kit and a local adaptation.

``compare(kit_facts, post_facts)`` reports, per kind, a post value that the kit does not contain while the
kit states at least one value of that kind: "fine of 2 million" against a kit saying "5 million".
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")

SCALES: dict[str, float] = {
    "thousand": 1e3, "k": 1e3, "nghìn": 1e3, "ngàn": 1e3, "ngan": 1e3, "nghin": 1e3, "พัน": 1e3,
    "หมื่น": 1e4, "แสน": 1e5,
    "million": 1e6, "millions": 1e6, "mn": 1e6, "triệu": 1e6, "trieu": 1e6, "tr": 1e6, "ล้าน": 1e6,
    "billion": 1e9, "billions": 1e9, "bn": 1e9, "tỷ": 1e9, "tỉ": 1e9, "ty": 1e9, "พันล้าน": 1e9,
}
CURRENCY = ("đồng", "dong", "vnd", "vnđ", "đ", "baht", "บาท", "thb", "usd", "$", "dollars", "dollar", "฿")
PERCENT = ("%", "percent", "per cent", "phần trăm", "เปอร์เซ็นต์", "เปอร์เซ็น")
DAYS = {"day": 1, "days": 1, "ngày": 1, "วัน": 1, "week": 7, "weeks": 7, "tuần": 7, "สัปดาห์": 7,
        "month": 30, "months": 30, "tháng": 30, "เดือน": 30}

MONTHS_EN = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
             "november", "december"]
MONTHS_TH = ["มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม",
             "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม"]
MONTHS_TH_ABBR = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."]


def _month_alternatives() -> dict[str, int]:
    out: dict[str, int] = {}
    for i, m in enumerate(MONTHS_EN, 1):
        out[m] = i
        if len(m) > 3:
            out[m[:3]] = i
    for i, m in enumerate(MONTHS_TH, 1):
        out[m] = i
    for i, m in enumerate(MONTHS_TH_ABBR, 1):
        out[m] = i
    return out


MONTHS = _month_alternatives()
_MONTH_RE = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))

NUM = r"\d+(?:[.,]\d+)*"
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DM_SLASH = re.compile(r"(?<![\d/.])(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?(?![\d/])")
_D_MONTH = re.compile(rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:of\s+)?({_MONTH_RE})(?![a-z])", re.IGNORECASE)
_MONTH_D = re.compile(rf"(?<![a-z])({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?!\d)", re.IGNORECASE)
_VI_DATE = re.compile(r"(?<!\d)(\d{1,2})\s+tháng\s+(\d{1,2})(?!\d)", re.IGNORECASE)
_SCALE_WORDS = sorted(SCALES, key=len, reverse=True)
_SCALE_RE = "|".join(re.escape(w) for w in _SCALE_WORDS)
_CUR_RE = "|".join(re.escape(c) for c in sorted(CURRENCY, key=len, reverse=True))
_PCT_RE = "|".join(re.escape(p) for p in sorted(PERCENT, key=len, reverse=True))
_DAY_RE = "|".join(re.escape(d) for d in sorted(DAYS, key=len, reverse=True))
# a number, optional space, then a scale word and/or currency, or a percent / duration word
_AMOUNT = re.compile(
    rf"(?P<pre>\$|usd\s?|฿)?(?<![\d.,])(?P<num>{NUM})\s*(?P<scale>(?:{_SCALE_RE})(?![a-z\u00c0-\u024f\u1e00-\u1eff]))?\s*"
    rf"(?P<cur>(?:{_CUR_RE})(?![a-z\u00c0-\u024f\u1e00-\u1eff]))?", re.IGNORECASE)
_PERCENT = re.compile(rf"(?<![\d.,])(?P<num>{NUM})\s*(?:{_PCT_RE})", re.IGNORECASE)
_DURATION = re.compile(rf"(?<![\d.,/])(?P<num>{NUM})\s*(?P<unit>{_DAY_RE})(?![a-z\u00c0-\u024f\u1e00-\u1eff])(?!\s*\d)", re.IGNORECASE)


@dataclasses.dataclass(frozen=True, slots=True)
class Fact:
    kind: str  # amount | percent | duration | date
    value: float | tuple[int, int]
    text: str

    def label(self) -> str:
        return self.text.strip()


def prepare(text: str) -> str:
    t = unicodedata.normalize("NFC", text).translate(THAI_DIGITS)
    return t.replace("\u00a0", " ").replace("\u202f", " ")


def parse_number(raw: str, *, thousands_hint: bool = False) -> float | None:
    """'5', '1,5', '1.5', '5.000.000', '5,000,000', '2.500' (vi thousands) -> float."""
    s = raw.strip()
    if not s:
        return None
    groups = re.split(r"[.,]", s)
    seps = re.findall(r"[.,]", s)
    try:
        if not seps:
            return float(s)
        if len(seps) >= 2 and len(set(seps)) == 1:
            if all(len(g) == 3 for g in groups[1:]):
                return float("".join(groups))
            return None
        if len(set(seps)) == 2:  # 1,234.5 or 1.234,5
            dec = seps[-1]
            whole = s[: s.rfind(dec)]
            frac = s[s.rfind(dec) + 1:]
            return float(re.sub(r"[.,]", "", whole) + "." + frac)
        # one separator
        head, tail = groups
        if len(tail) == 3 and (thousands_hint or head != "0"):
            return float(head + tail) if thousands_hint or len(head) <= 3 else float(f"{head}.{tail}")
        return float(f"{head}.{tail}")
    except ValueError:
        return None


def _dates(t: str) -> list[tuple[Fact, tuple[int, int]]]:
    out: list[tuple[Fact, tuple[int, int]]] = []
    for m in _ISO.finditer(t):
        mo, d = int(m.group(2)), int(m.group(3))
        if 1 <= mo <= 12 and 1 <= d <= 31:
            out.append((Fact("date", (mo, d), m.group(0)), m.span()))
    for rx, dm in ((_VI_DATE, (1, 2)), (_DM_SLASH, (1, 2))):
        for m in rx.finditer(t):
            d, mo = int(m.group(dm[0])), int(m.group(dm[1]))
            if 1 <= mo <= 12 and 1 <= d <= 31:
                out.append((Fact("date", (mo, d), m.group(0)), m.span()))
    for m in _D_MONTH.finditer(t):
        d, mo = int(m.group(1)), MONTHS[m.group(2).lower()]
        if 1 <= d <= 31:
            out.append((Fact("date", (mo, d), m.group(0)), m.span()))
    for m in _MONTH_D.finditer(t):
        mo, d = MONTHS[m.group(1).lower()], int(m.group(2))
        if 1 <= d <= 31:
            out.append((Fact("date", (mo, d), m.group(0)), m.span()))
    return out


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < b and a < span[1] for a, b in taken)


def extract(text: str) -> list[Fact]:
    t = prepare(text)
    facts: list[Fact] = []
    taken: list[tuple[int, int]] = []
    for f, span in _dates(t):
        if not _overlaps(span, taken):
            facts.append(f)
            taken.append(span)
    for m in _PERCENT.finditer(t):
        if _overlaps(m.span(), taken):
            continue
        v = parse_number(m.group("num"))
        if v is not None:
            facts.append(Fact("percent", v, m.group(0)))
            taken.append(m.span())
    for m in _DURATION.finditer(t):
        if _overlaps(m.span(), taken):
            continue
        v = parse_number(m.group("num"))
        if v is not None:
            facts.append(Fact("duration", v * DAYS[m.group("unit").lower()], m.group(0)))
            taken.append(m.span())
    for m in _AMOUNT.finditer(t):
        scale, cur, pre = m.group("scale"), m.group("cur"), m.group("pre")
        if not (scale or cur or pre) or _overlaps(m.span("num"), taken):
            continue
        v = parse_number(m.group("num"), thousands_hint=not scale)
        if v is None:
            continue
        if scale:
            v *= SCALES[scale.lower()]
        elif cur and cur.lower() in ("đ",) and v < 1000:
            continue  # "5đ" is too short to be a fine; likely noise
        facts.append(Fact("amount", v, m.group(0).strip()))
        taken.append(m.span())
    return facts


@dataclasses.dataclass(frozen=True, slots=True)
class Mismatch:
    kind: str
    post: str
    kit: list[str]


def _same(a: float | tuple[int, int], b: float | tuple[int, int]) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return a == b
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1.0)


def compare(kit: list[Fact], post: list[Fact]) -> list[Mismatch]:
    """Post facts of a kind the kit states, with a value the kit does not state."""
    out: list[Mismatch] = []
    by_kind: dict[str, list[Fact]] = {}
    for f in kit:
        by_kind.setdefault(f.kind, []).append(f)
    seen: set[tuple[str, str]] = set()
    for f in post:
        ref = by_kind.get(f.kind)
        if not ref or any(_same(f.value, r.value) for r in ref):
            continue
        key = (f.kind, str(f.value))
        if key in seen:
            continue
        seen.add(key)
        out.append(Mismatch(f.kind, f.label(), sorted({r.label() for r in ref})))
    return out
