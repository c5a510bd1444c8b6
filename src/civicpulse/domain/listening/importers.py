"""Import listening data from files: CSV, JSONL / JSON, XLSX exports.

Two steps, as in the upload screen:

1. :func:`sniff` reads the start of the file and returns a :class:`Preview` (format,
   encoding, delimiter, columns, first 10 rows and a *suggested* column mapping).
2. :func:`read_rows` streams the whole file with the mapping the officer confirmed and
   yields, per data row, either a :class:`~civicpulse.connectors.base.FetchedItem` or a
   :class:`Rejection` with a reason in plain words (``row 17: text is empty``).

Files are read in chunks: memory stays bounded for files of hundreds of MB (XLSX uses
openpyxl's read-only mode). Encodings: UTF-8 (with or without BOM), UTF-16 with BOM,
TIS-620 / Windows-874 (Thai) and Windows-1258 (Vietnamese, NFC-normalised because it
stores tone marks as combining characters). Thai and Vietnamese legacy encodings are told
apart by how plausible the decoded words look.

Mapping keys (targets) are those of :data:`TARGETS`; values are column names (for JSON,
dotted paths such as ``from.name`` reach into nested objects).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import re
import unicodedata
from collections import deque
from collections.abc import Iterator, Mapping
from typing import IO, Any
from zoneinfo import ZoneInfo

from civicpulse.connectors.base import FetchedItem
from civicpulse.domain.listening.services import RawJson, json_loads

__all__ = [
    "MAX_TEXT_CHARS",
    "TARGETS",
    "ImportFileError",
    "Preview",
    "Rejection",
    "RowResult",
    "detect_encoding",
    "parse_count",
    "parse_time",
    "read_rows",
    "sniff",
    "stable_external_id",
    "suggest_mapping",
]

MAX_TEXT_CHARS = 100_000
SAMPLE_BYTES = 256 * 1024
CHUNK_BYTES = 256 * 1024
MAX_RECORD_LINES = 2_000
MAX_RECORD_CHARS = 1_000_000
MAX_JSON_OBJECT_CHARS = 20_000_000

#: Mapping targets and the FetchedItem field each fills.
TARGETS = (
    "text", "time", "author", "author_name", "url", "title", "likes", "shares", "comments",
    "views", "followers", "parent_id", "thread_id", "id", "kind", "lang",
)

_COUNT_TARGETS = {"likes": "likes", "shares": "shares", "comments": "comments", "views": "views",
                  "followers": "author_followers"}


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, format); message in plain words."""


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    """A row that was not imported. ``row`` is the spreadsheet row / file line number."""

    row: int
    reason: str
    unit: str = "row"  # "row" (CSV/XLSX) or "line" (JSONL) or "item" (JSON array)

    @property
    def message(self) -> str:
        return f"{self.unit} {self.row}: {self.reason}"

    def __str__(self) -> str:
        return self.message


RowResult = FetchedItem | Rejection


@dataclasses.dataclass(slots=True)
class Preview:
    """What :func:`sniff` found out about a file."""

    format: str  # csv | jsonl | json | xlsx
    encoding: str | None  # None for xlsx
    delimiter: str | None  # csv only
    columns: list[str]
    rows: list[dict[str, Any]]  # first 10 data rows, column → value
    suggested_mapping: dict[str, str]  # target → column
    warnings: list[str] = dataclasses.field(default_factory=list)


# --------------------------------------------------------------------------- sources


Source = str | os.PathLike[str] | bytes


def _name(src: Source) -> str:
    return "the uploaded file" if isinstance(src, (bytes, bytearray)) else os.path.basename(os.fspath(src))


def _open(src: Source) -> IO[bytes]:
    if isinstance(src, (bytes, bytearray)):
        return io.BytesIO(src)
    return open(src, "rb")  # noqa: SIM115 - closed by callers


def _head(src: Source, n: int = SAMPLE_BYTES) -> bytes:
    with _open(src) as f:
        return f.read(n)


# --------------------------------------------------------------------------- encoding

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_VI_LETTERS = set("àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ")
_WORDS_RE = re.compile(r"[^\W\d_]+")


def _strict_prefix_decode(data: bytes, encoding: str, final: bool) -> str | None:
    try:
        return codecs.getincrementaldecoder(encoding)("strict").decode(data, final)
    except UnicodeDecodeError:
        return None


def _plausibility(text: str, encoding: str) -> float:
    """Share (by characters) of non-ASCII words that look like real Thai / Vietnamese words."""
    good = total = 0
    for w in _WORDS_RE.findall(text):
        if w.isascii():
            continue
        total += len(w)
        if encoding == "cp874":
            ok = all("\u0e01" <= ch <= "\u0e5b" for ch in w)
        else:
            low = w.lower()
            non_ascii = [ch for ch in low if not ch.isascii()]
            ok = (any(ch.isascii() for ch in low) or len(low) == 1) and all(ch in _VI_LETTERS for ch in non_ascii) \
                and len(non_ascii) <= 2
        if ok:
            good += len(w)
    return good / total if total else 0.0


def detect_encoding(data: bytes, *, name: str = "the file", final: bool = True) -> str:
    """Guess the encoding of ``data`` (the start of a file, or all of it when ``final``).

    Order: BOM → strict UTF-8 → the more plausible of cp874 (Thai) and cp1258 (Vietnamese).
    Raises :class:`ImportFileError` naming the file and the first bad byte offset.
    """
    for bom, enc in _BOMS:
        if data.startswith(bom):  # UTF-32 BOMs are tested before the UTF-16 ones they start with
            return enc
    if _strict_prefix_decode(data, "utf-8", final) is not None:
        return "utf-8"
    try:
        data.decode("utf-8") if final else codecs.getincrementaldecoder("utf-8")().decode(data, False)
        bad = -1
    except UnicodeDecodeError as e:
        bad = e.start
    scores: dict[str, float] = {}
    for enc in ("cp874", "cp1258"):
        text = _strict_prefix_decode(data, enc, final)
        if text is not None:
            if enc == "cp1258":
                text = unicodedata.normalize("NFC", text)
            scores[enc] = _plausibility(text, enc)
    if not scores:
        raise ImportFileError(
            f"Could not read {name}: it is not UTF-8 (invalid byte 0x{data[bad]:02x} at byte offset {bad}), "
            "nor Thai TIS-620/Windows-874, nor Vietnamese Windows-1258. Save it as UTF-8 (CSV UTF-8) and try again.")
    return max(scores, key=lambda e: (scores[e], e == "cp874"))


class _DecodedLines:
    """Iterate over the text lines of a binary stream in a given encoding, in chunks.

    Lines keep their ``\\n`` ending; only ``\\n`` splits (so ``\\r\\n`` and characters such as
    U+2028 inside fields are left to the CSV parser). NUL characters are removed.
    """

    def __init__(self, f: IO[bytes], encoding: str, name: str) -> None:
        self.f = f
        self.encoding = encoding
        self.name = name
        self.nfc = encoding == "cp1258"
        self.decoder = codecs.getincrementaldecoder(encoding)("strict")
        self.offset = 0

    def _chunks(self) -> Iterator[str]:
        while True:
            data = self.f.read(CHUNK_BYTES)
            final = not data
            try:
                text = self.decoder.decode(data, final)
            except UnicodeDecodeError as e:
                raise ImportFileError(
                    f"Could not read {self.name} as {self.encoding}: invalid byte 0x{e.object[e.start]:02x} "
                    f"near byte offset {self.offset + e.start}. Save it as UTF-8 and try again.") from None
            self.offset += len(data)
            if text:
                yield text
            if final:
                return

    def __iter__(self) -> Iterator[str]:
        buf = ""
        for text in self._chunks():
            if "\x00" in text:
                text = text.replace("\x00", "")
            buf += text
            if "\n" not in text:
                continue
            parts = buf.split("\n")
            buf = parts.pop()
            for p in parts:
                yield self._norm(p + "\n")
        if buf:
            yield self._norm(buf)

    def _norm(self, line: str) -> str:
        return unicodedata.normalize("NFC", line) if self.nfc else line


# --------------------------------------------------------------------------- format sniffing


def _detect_format(src: Source, head: bytes, fmt: str | None) -> str:
    if fmt:
        fmt = fmt.lower().lstrip(".")
        if fmt in ("tsv", "txt"):
            return "csv"
        if fmt == "ndjson":
            return "jsonl"
        if fmt not in ("csv", "jsonl", "json", "xlsx"):
            raise ImportFileError(f"Unsupported format '{fmt}' (use csv, jsonl, json or xlsx)")
        return fmt
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if not isinstance(src, (bytes, bytearray)):
        ext = os.path.splitext(os.fspath(src))[1].lower()
        if ext in (".xlsx", ".xlsm"):
            return "xlsx"
        if ext in (".jsonl", ".ndjson"):
            return "jsonl"
        if ext == ".json":
            return "json"
        if ext in (".csv", ".tsv", ".txt"):
            return "csv"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(f"{_name(src)} is an old Excel .xls file; save it as .xlsx or CSV UTF-8")
    enc = detect_encoding(head, name=_name(src), final=False)
    text = codecs.getincrementaldecoder(enc)("replace").decode(head, False).lstrip("\ufeff \t\r\n")
    if text.startswith("["):
        return "json"
    if text.startswith("{"):
        return "jsonl"
    return "csv"


def _sniff_delimiter(lines: list[str]) -> str:
    best, best_score = ",", -1.0
    sample = [ln for ln in lines if ln.strip()][:30]
    for d in (",", ";", "\t", "|"):
        try:
            counts = [len(r) for r in csv.reader(sample, delimiter=d)]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        same = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = same * 10 + min(counts[0], 50) / 50
        if score > best_score:
            best, best_score = d, score
    return best


# --------------------------------------------------------------------------- mapping

_SUGGEST: list[tuple[str, tuple[str, ...]]] = [
    ("text", ("message", "content", "body", "text", "post", "full_text", "comment_text", "caption",
              "nội dung", "noi dung", "nội_dung", "bình luận", "ข้อความ", "เนื้อหา", "โพสต์", "ความคิดเห็น")),
    ("time", ("created_time", "created_at", "created", "post_created", "post created", "date", "time", "datetime",
              "timestamp", "published", "published_at", "publish_date", "pub_date", "posted_at",
              "thời gian", "ngày", "ngày đăng", "วันที่", "เวลา", "วันเวลา")),
    ("author", ("author", "from", "from.name", "user", "username", "user_name", "user name", "screen_name",
                "name", "page name", "page_name", "account", "handle", "tác giả", "người đăng", "ผู้เขียน",
                "ชื่อ", "ผู้โพสต์")),
    ("url", ("url", "link", "permalink", "permalink_url", "post_url", "post url", "ลิงก์", "liên kết")),
    ("likes", ("likes", "like", "reactions", "reaction_count", "reactions.summary.total_count",
               "total interactions", "likes_count", "lượt thích", "ถูกใจ")),
    ("shares", ("shares", "share", "share_count", "shares.count", "retweets", "retweet_count",
                "lượt chia sẻ", "แชร์")),
    ("comments", ("comments", "comment_count", "comments_count", "comments.summary.total_count",
                  "replies", "reply_count", "lượt bình luận", "คอมเมนต์")),
    ("views", ("views", "view_count", "impressions", "lượt xem", "ยอดวิว")),
    ("followers", ("followers", "follower_count", "followers_count", "likes at posting")),
    ("parent_id", ("parent_id", "parent", "parent.id", "in_reply_to", "in_reply_to_id", "reply_to")),
    ("thread_id", ("thread_id", "conversation_id", "post_id_of_comment")),
    ("id", ("id", "post_id", "message_id", "comment_id", "status_id", "tweet_id", "facebook id",
            "external_id", "uid")),
    ("title", ("title", "headline", "tiêu đề", "หัวข้อ")),
    ("kind", ("kind", "type", "post_type")),
    ("lang", ("lang", "language", "ngôn ngữ", "ภาษา")),
]


def _norm_header(h: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", str(h)).strip().lower().replace("_", " "))


def suggest_mapping(columns: list[str]) -> dict[str, str]:
    """Guess target → column from header names (exact names first, then substrings)."""
    normed = {c: _norm_header(c) for c in columns}
    used: set[str] = set()
    out: dict[str, str] = {}
    for exact in (True, False):
        for target, names in _SUGGEST:
            if target in out:
                continue
            keys = [_norm_header(n) for n in names]
            for key in keys:
                hit = next((c for c, n in normed.items() if c not in used and
                            (n == key if exact else (len(key) > 3 and key in n))), None)
                if hit is not None:
                    out[target] = hit
                    used.add(hit)
                    break
    return out


# --------------------------------------------------------------------------- value parsing

_ISO_RE = re.compile(
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$", re.IGNORECASE)
_DMY_RE = re.compile(
    r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})"
    r"(?:[T ,]+(\d{1,2})[:.h](\d{2})(?::(\d{2}))?\s*(am|pm|sa|ch)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$", re.IGNORECASE)
_EPOCH_RE = re.compile(r"^\d{9,13}(?:\.\d+)?$")
_TIME_HINT = "expected e.g. 2026-05-01 14:30 or an ISO-8601 timestamp"


def _offset(tzs: str | None, default: dt.tzinfo) -> dt.tzinfo:
    if not tzs:
        return default
    t = tzs.upper()
    if t in ("Z", "UTC", "GMT"):
        return dt.UTC
    sign = 1 if t[0] == "+" else -1
    digits = t[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def parse_time(value: Any, tz: str = "Asia/Bangkok") -> dt.datetime | None:
    """Parse a time value to an aware UTC datetime (None for empty).

    Accepts ISO 8601, ``YYYY-MM-DD HH:MM[:SS]``, ``DD/MM/YYYY [HH:MM[:SS]]`` (day first, as in
    Thai and Vietnamese exports; month first only when the day cannot be a month), unix
    seconds or milliseconds, Excel/openpyxl datetimes, and Buddhist-era years (> 2400 →
    minus 543). Naive times are taken as local time in ``tz``. Raises ValueError otherwise.
    """
    zone = ZoneInfo(tz)
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        dtv = value
        if dtv.year > 2400:
            dtv = _be_fix(
                dtv.year, dtv.month, dtv.day, dtv.hour, dtv.minute, dtv.second, dtv.microsecond,
                dtv.tzinfo,
            )
        return (dtv.replace(tzinfo=zone) if dtv.tzinfo is None else dtv).astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0, 0), tzinfo=zone).astimezone(dt.UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_epoch(float(value))
    s = str(value).strip()
    if not s:
        return None
    if len(s) >= 19 and s[10] in "T " and s[4] == "-":  # the usual ISO 8601 form: parsed in C
        try:
            fast = dt.datetime.fromisoformat(s)
        except ValueError:
            pass
        else:  # the same result as below; Buddhist-era and unlikely years take the long way (fixed or refused)
            if 1900 <= fast.year <= 2200:
                fast = fast.replace(tzinfo=zone) if fast.tzinfo is None else fast
                if 1900 <= fast.astimezone(dt.UTC).year <= 2200:
                    return fast.astimezone(dt.UTC)
    if _EPOCH_RE.match(s):
        return _from_epoch(float(s))
    m = _ISO_RE.match(s)
    if m:
        y, mo, d, hh, mi, ss, frac, tzs = m.groups()
        return _build(int(y), int(mo), int(d), hh, mi, ss, frac, None, _offset(tzs, zone), s)
    m = _DMY_RE.match(s)
    if m:
        d, mo, y, hh, mi, ss, ampm, tzs = m.groups()
        day, month = int(d), int(mo)
        if month > 12 and day <= 12:
            day, month = month, day
        return _build(int(y), month, day, hh, mi, ss, None, ampm, _offset(tzs, zone), s)
    try:
        parsed = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{s}' is not a date ({_TIME_HINT})") from None
    return (parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed).astimezone(dt.UTC)


def _from_epoch(x: float) -> dt.datetime:
    if x > 1e11:  # milliseconds
        x /= 1000.0
    return dt.datetime.fromtimestamp(x, dt.UTC)


def _be_fix(y: int, mo: int, d: int, hh: int, mi: int, ss: int, us: int, tzinfo: Any) -> dt.datetime:
    return dt.datetime(y - 543, mo, d, hh, mi, ss, us, tzinfo=tzinfo)


def _build(y: int, mo: int, d: int, hh: str | None, mi: str | None, ss: str | None, frac: str | None,
           ampm: str | None, tzinfo: dt.tzinfo, raw: str) -> dt.datetime:
    if y > 2400:
        y -= 543
    hour = int(hh or 0)
    if ampm:
        a = ampm.lower()
        if a in ("pm", "ch") and hour < 12:
            hour += 12
        elif a in ("am", "sa") and hour == 12:
            hour = 0
    us = int((frac or "0")[:6].ljust(6, "0"))
    try:
        d_ = dt.datetime(y, mo, d, hour, int(mi or 0), int(ss or 0), us, tzinfo=tzinfo)
    except ValueError:
        raise ValueError(f"'{raw}' is not a valid date ({_TIME_HINT})") from None
    if not 1900 <= d_.year <= 2200:
        raise ValueError(f"'{raw}' has an unlikely year {d_.year} ({_TIME_HINT})")
    return d_.astimezone(dt.UTC)


_SUFFIX = {
    "k": 1_000, "n": 1_000, "nghìn": 1_000, "ngàn": 1_000, "พัน": 1_000, "หมื่น": 10_000, "แสน": 100_000,
    "m": 1_000_000, "tr": 1_000_000, "triệu": 1_000_000, "ล้าน": 1_000_000, "b": 1_000_000_000, "tỷ": 1_000_000_000,
}
_COUNT_RE = re.compile(r"^(\d+(?:[.,]\d+)?)\s*([^\d\s.,]+)?$")


def parse_count(value: Any) -> int | None:
    """Parse a count such as ``1,234`` / ``1.234`` / ``1.2K`` / ``1,2 N`` / ``3 ล้าน`` (None if empty)."""
    if value is None or isinstance(value, bool):
        if value is None:
            return None
        raise ValueError("is not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer() and value >= 0:
            return int(value)
        raise ValueError("is not a whole number")
    s = unicodedata.normalize("NFC", str(value)).strip().replace("\u00a0", " ").replace("\u202f", " ")
    if not s or s in ("-", "—"):
        return None
    compact = s.replace(" ", "")
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", compact) or re.fullmatch(r"\d{1,3}(?:\.\d{3})+", compact):
        return int(re.sub(r"[.,]", "", compact))
    if re.fullmatch(r"\d+", compact):
        return int(compact)
    if re.fullmatch(r"\d+\.0+", compact):
        return int(compact.split(".")[0])
    m = _COUNT_RE.match(s)
    if m and m.group(2) and m.group(2).lower() in _SUFFIX:
        num = float(m.group(1).replace(",", "."))
        return int(round(num * _SUFFIX[m.group(2).lower()]))
    raise ValueError("is not a whole number")


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value).strip()
    return s or None


def stable_external_id(url: str | None, author: str | None, published_at: dt.datetime | None, text: str) -> str:
    """A stable id for rows without one: hash of the URL, else of (author, time, text)."""
    if url:
        basis = "url\x1f" + url.strip()
    else:
        when = published_at.isoformat() if published_at else ""
        basis = "\x1f".join(("row", (author or "").strip().lower(), when, " ".join(text.split())))
    return "imp:" + hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# --------------------------------------------------------------------------- row → item


def _lookup(row: Mapping[str, Any], column: str) -> Any:
    if column in row:
        return row[column]
    if "." in column:  # dotted path into nested JSON objects
        cur: Any = row
        for part in column.split("."):
            if isinstance(cur, Mapping) and part in cur:
                cur = cur[part]
            elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
                cur = cur[int(part)]
            else:
                return None
        return cur
    return None


def _text_value(value: Any) -> str | None:
    """A mapped cell as a trimmed string (None if empty): ``_str`` with a quick way for plain strings."""
    if type(value) is str and value and not (value[0].isspace() or value[-1].isspace()):
        return value
    return _str(value)


#: the column of each target, in this order (``_columns``): what ``_to_item`` reads per row
_ORDER = ("text", "time", "author", "author_name", "url", "title", "parent_id", "thread_id", "id", "kind", "lang")
Columns = tuple[tuple[str | None, ...], tuple[tuple[str, str, str], ...]]


def _columns(mapping: Mapping[str, str]) -> Columns:
    """The mapping as read per row: the columns of ``_ORDER``, and (target, count field, column) of the counts."""
    counts = tuple((t, f, mapping[t]) for t, f in _COUNT_TARGETS.items() if mapping.get(t))
    return tuple(mapping.get(t) or None for t in _ORDER), counts


def _to_item(row: Mapping[str, Any], mapping: Mapping[str, str] | Columns, tz: str, *,
             copy_raw: bool = True) -> FetchedItem | str:
    """Build an item or return a plain-words rejection reason (without the row prefix).

    ``mapping`` may be given as ``_columns(mapping)`` (once per file). ``copy_raw=False``: the item's
    ``raw`` is left empty (the caller sets it)."""
    cols, count_cols = _columns(mapping) if isinstance(mapping, Mapping) else mapping
    values = [(row[c] if c in row else _lookup(row, c)) if c else None for c in cols]
    raw_text, t, author, author_name, url, title, parent, thread, ext, kind, lang = values
    if isinstance(raw_text, (dict, list)):
        raw_text = json.dumps(raw_text, ensure_ascii=False)
    text = unicodedata.normalize("NFC", str(raw_text)).replace("\x00", "").strip() if raw_text is not None else ""
    if not text:
        return "text is empty"
    if len(text) > MAX_TEXT_CHARS:
        return f"text is {len(text):,} characters long (the limit is {MAX_TEXT_CHARS:,})"
    published: dt.datetime | None = None
    if t is not None and _str(t) is not None:
        try:
            published = parse_time(t, tz)
        except ValueError:
            return f"time '{_str(t)}' is not a date ({_TIME_HINT})"
        except (OverflowError, OSError):
            return f"time '{_str(t)}' is out of range"
    counts: dict[str, int | None] = dict.fromkeys(_COUNT_TARGETS.values())
    for target, field, col in count_cols:
        v = row[col] if col in row else _lookup(row, col)
        if v is None or type(v) is int:
            counts[field] = v
            continue
        if isinstance(v, Mapping):  # e.g. Facebook {"summary": {"total_count": 5}}
            v = _lookup(v, "summary.total_count") if "summary" in v else v.get("count")
        try:
            counts[field] = parse_count(v)
        except ValueError:
            return f"{target} '{_str(v)}' is not a whole number"
    author = _text_value(author)
    url = _text_value(url)
    parent = _text_value(parent)
    kind = (_text_value(kind) or ("comment" if parent else "post")).lower()
    ext = _text_value(ext) or stable_external_id(url, author, published, text)
    return FetchedItem(
        external_id=ext,
        text=text,
        url=url,
        kind=kind,
        title=_text_value(title),
        author_handle=author,
        author_name=_text_value(author_name) or None,
        author_followers=counts["author_followers"],
        published_at=published,
        likes=counts["likes"],
        shares=counts["shares"],
        comments=counts["comments"],
        views=counts["views"],
        parent_external_id=parent,
        thread_external_id=_text_value(thread),
        language=(_text_value(lang) or None),
        raw=dict(row) if copy_raw else {},
    )


def _result(n: int, unit: str, row: Mapping[str, Any], mapping: Mapping[str, str] | Columns, tz: str) -> RowResult:
    text = row.text if type(row) is RawJson else None
    as_read = text is not None and "_row" not in row and text.endswith("}")
    res = _to_item(row, mapping, tz, copy_raw=not as_read)
    if isinstance(res, str):
        return Rejection(n, res, unit)
    if as_read:
        # a JSONL line as read: its text plus the row number is the payload's JSON (ingest stores it as is)
        assert text is not None and isinstance(row, RawJson)
        raw = row  # the reader's own copy of this line's object (``RawJson.of``): completed in place
        dict.__setitem__(raw, "_row", n)  # (RawJson's own __setitem__ forgets the text, set just below)
        raw._text = f'{text[:-1].rstrip()}{", " if row else ""}"_row": {n}}}'
        res.raw = raw
    else:
        res.raw["_row"] = n
    return res


# --------------------------------------------------------------------------- Facebook JSON


#: what a line needs to hold for any of its strings to be Facebook mojibake: a character U+0080–U+00FF,
#: as such or as a \u00XX escape (lines without one are left alone, unscanned)
_LATIN1_CHAR = re.compile(r"[\x80-\xff]")


def _maybe_mojibake(line: str) -> bool:
    return "\\u00" in line or (not line.isascii() and _LATIN1_CHAR.search(line) is not None)


def _fix_mojibake(value: Any) -> Any:
    """Facebook's "Download your information" JSON stores UTF-8 bytes as \\u00XX escapes."""
    if isinstance(value, str):
        if value.isascii() or max(value) > "\xff":
            return value
        try:
            return value.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return value
    if isinstance(value, list):
        fixed = [_fix_mojibake(v) for v in value]
        return value if all(a is b for a, b in zip(fixed, value, strict=True)) else fixed
    if isinstance(value, dict):
        pairs = {k: _fix_mojibake(v) for k, v in value.items()}
        return value if all(pairs[k] is v for k, v in value.items()) else pairs  # unchanged: the same object
    return value


def _flatten_facebook(obj: dict[str, Any]) -> dict[str, Any]:
    """Lift ``data[].post`` / ``attachments`` text of Facebook exports to top-level ``post``.

    Returns ``obj`` itself when there is nothing to lift, else a changed copy."""
    data = obj.get("data")
    if isinstance(data, list) and "post" not in obj:
        for d in data:
            if isinstance(d, Mapping) and isinstance(d.get("post"), str):
                return {**obj, "post": d["post"]}
    return obj


def _flat_keys(obj: Mapping[str, Any], prefix: str = "", depth: int = 0) -> list[str]:
    keys: list[str] = []
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and depth < 2 and v:
            keys.extend(_flat_keys(v, key + ".", depth + 1))
        else:
            keys.append(key)
    return keys


# --------------------------------------------------------------------------- readers


class _Pushback:
    def __init__(self, it: Iterator[str]) -> None:
        self.it = it
        self.back: deque[tuple[int, str]] = deque()
        self.lineno = 0

    def next(self) -> tuple[int, str] | None:
        if self.back:
            return self.back.popleft()
        try:
            line = next(self.it)
        except StopIteration:
            return None
        self.lineno += 1
        return self.lineno, line


class _RecordTooLong(Exception):
    pass


def _csv_records(lines: Iterator[str], delimiter: str,
                 expected: list[int]) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(line number, fields, error). Each record is parsed on its own so that a broken quote
    costs only its own line: when a record spanning several lines fails (or has the wrong
    number of fields, ``expected[0]`` once the header is known), its first line is rejected
    and the following lines are parsed again."""
    src = _Pushback(lines)
    while True:
        first = src.next()
        if first is None:
            return
        consumed = [first]
        size = [len(first[1])]

        def feed(first_line: str = first[1], consumed: list[tuple[int, str]] = consumed,
                 size: list[int] = size) -> Iterator[str]:
            yield first_line
            while True:
                if len(consumed) >= MAX_RECORD_LINES or size[0] > MAX_RECORD_CHARS:
                    raise _RecordTooLong
                nxt = src.next()
                if nxt is None:
                    return
                consumed.append(nxt)
                size[0] += len(nxt[1])
                yield nxt[1]

        err: str | None = None
        try:
            # strict: a quote that "closes" a field but is not followed by the delimiter or
            # the end of the line means the quoting went wrong somewhere.
            rec = next(csv.reader(feed(), delimiter=delimiter, strict=True), None)
        except (csv.Error, _RecordTooLong) as e:
            rec = None
            if "field larger than field limit" in str(e) and len(consumed) == 1:
                err = "a field is longer than the limit of 131,072 characters"
            elif len(consumed) == 1:  # one line with odd quotes: accept it leniently
                try:
                    rec = next(csv.reader([first[1]], delimiter=delimiter, strict=False), None)
                except csv.Error as e2:
                    err = f"could not be read as CSV ({e2})"
            else:
                err = "a quoted field is never closed (check for a stray \" character)"
        if rec is None and err is None:
            return
        if rec is not None:
            if len(consumed) > 1 and expected[0] and len(rec) != expected[0] \
                    and not (len(rec) > expected[0] and not any(c.strip() for c in rec[expected[0]:])):
                err = "a quoted field is never closed (check for a stray \" character)"
        if err is not None:
            for item in reversed(consumed[1:]):
                src.back.appendleft(item)
            yield first[0], None, err
            continue
        yield first[0], rec, None


def _read_csv(src: Source, encoding: str, delimiter: str, name: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    with _open(src) as f:
        lines = iter(_DecodedLines(f, encoding, name))
        header: list[str] | None = None
        expected = [0]
        for lineno, rec, err in _csv_records(lines, delimiter, expected):
            if header is None:
                if err is not None:
                    raise ImportFileError(f"Could not read the header line of {name}: {err}")
                if not rec or not any(c.strip() for c in rec):
                    continue
                header = [c.strip().lstrip("\ufeff") or f"column {i + 1}" for i, c in enumerate(rec)]
                expected[0] = len(header)
                continue
            if err is not None:
                yield lineno, None, err
                continue
            assert rec is not None
            if not rec or not any(c.strip() for c in rec):
                continue  # blank line
            if len(rec) > len(header) and not any(c.strip() for c in rec[len(header):]):
                rec = rec[:len(header)]
            if len(rec) != len(header):
                yield lineno, None, (f"has {len(rec)} fields but the header has {len(header)} "
                                     "(check for an unquoted delimiter or quote)")
                continue
            yield lineno, dict(zip(header, rec, strict=True)), None


def _read_jsonl(src: Source, encoding: str, name: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    with _open(src) as f:
        for lineno, line in enumerate(_DecodedLines(f, encoding, name), start=1):
            s = line.strip().lstrip("\ufeff")
            if not s:
                continue
            if len(s) > MAX_RECORD_CHARS * 2:
                yield lineno, None, f"line is {len(s):,} characters long (too long to import)"
                continue
            try:
                obj = json_loads(s)
            except json.JSONDecodeError as e:
                yield lineno, None, f"not valid JSON: {e.msg} at char {e.pos}"
                continue
            if not isinstance(obj, dict):
                yield lineno, None, f"expected a JSON object {{...}}, got {type(obj).__name__}"
                continue
            fixed = _fix_mojibake(obj) if _maybe_mojibake(s) else obj
            row = _flatten_facebook(fixed)
            # unchanged: keep the line's text
            yield lineno, (RawJson.of(row, s) if row is obj or row == obj else row), None


def _read_json_array(src: Source, encoding: str, name: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Stream the elements of a top-level JSON array (or an object holding one array)."""
    decoder = json.JSONDecoder()
    with _open(src) as f:
        chunks = _DecodedLines(f, encoding, name)._chunks()
        buf, pos, eof = "", 0, False

        def fill() -> bool:
            nonlocal buf, pos, eof
            if eof:
                return False
            try:
                buf = buf[pos:] + next(chunks)
            except StopIteration:
                eof = True
                buf = buf[pos:]
                pos = 0
                return False
            pos = 0
            return True

        def skip_ws() -> None:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n\ufeff":
                    pos += 1
                if pos < len(buf) or not fill():
                    return

        skip_ws()
        if pos >= len(buf):
            return
        if buf[pos] == "{":  # {"posts": [...]} style: find the first array value
            m = None
            while m is None:
                m = re.search(r'^\{\s*"[^"]*"\s*:\s*\[', buf[pos:])
                if m is None:
                    if len(buf) - pos > 10_000 or not fill():
                        raise ImportFileError(f"{name} is a JSON object without a list of items at its start")
            pos += m.end() - 1
        if buf[pos] != "[":
            raise ImportFileError(f"{name} does not start with a JSON list '['")
        pos += 1
        n = 0
        while True:
            skip_ws()
            if pos >= len(buf):
                raise ImportFileError(f"{name} ends in the middle of the JSON list (item {n + 1})")
            if buf[pos] == "]":
                return
            if buf[pos] == ",":
                pos += 1
                continue
            while True:
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as e:
                    if len(buf) - pos > MAX_JSON_OBJECT_CHARS or not fill():
                        raise ImportFileError(
                            f"{name}: item {n + 1} is not valid JSON: {e.msg} at char {e.pos}") from None
            pos = end
            n += 1
            if not isinstance(obj, dict):
                yield n, None, f"expected a JSON object {{...}}, got {type(obj).__name__}"
            else:
                yield n, _flatten_facebook(_fix_mojibake(obj)), None


def _xlsx_rows(src: Source, name: str) -> Iterator[tuple[int, list[Any]]]:
    try:
        import openpyxl
    except ImportError as e:  # pragma: no cover
        raise ImportFileError("Reading .xlsx needs openpyxl") from e
    f = _open(src)
    try:
        try:
            wb = openpyxl.load_workbook(f, read_only=True, data_only=True)
        except Exception as e:
            raise ImportFileError(f"Could not open {name} as an Excel .xlsx workbook ({type(e).__name__})") from None
        try:
            ws = wb.worksheets[0]
            for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
                yield i, list(row)
        finally:
            wb.close()
    finally:
        f.close()


def _read_xlsx(src: Source, name: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    header: list[str] | None = None
    for i, row in _xlsx_rows(src, name):
        if header is None:
            if not any(v not in (None, "") for v in row):
                continue
            header = [str(v).strip() if v not in (None, "") else f"column {j + 1}" for j, v in enumerate(row)]
            continue
        if not any(v not in (None, "") for v in row):
            continue
        vals = list(row[:len(header)]) + [None] * (len(header) - len(row))
        yield i, {h: (v.replace("\x00", "") if isinstance(v, str) else v) for h, v in zip(header, vals, strict=True)}, None


def _records(src: Source, fmt: str, encoding: str | None, delimiter: str | None,
             name: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    if fmt == "xlsx":
        return _read_xlsx(src, name)
    assert encoding is not None
    if fmt == "jsonl":
        return _read_jsonl(src, encoding, name)
    if fmt == "json":
        return _read_json_array(src, encoding, name)
    return _read_csv(src, encoding, delimiter or ",", name)


_UNIT = {"csv": "row", "xlsx": "row", "jsonl": "line", "json": "item"}


def _encoding_for(src: Source, head: bytes, name: str) -> str:
    enc = detect_encoding(head, name=name, final=len(head) < SAMPLE_BYTES)
    return enc


def sniff(path_or_bytes: Source, format: str | None = None) -> Preview:  # noqa: A002 - public API name
    """Look at the start of a file: format, encoding, delimiter, columns, 10 rows, mapping."""
    name = _name(path_or_bytes)
    head = _head(path_or_bytes)
    if not head:
        raise ImportFileError(f"{name} is empty")
    fmt = _detect_format(path_or_bytes, head, format)
    warnings: list[str] = []
    encoding: str | None = None
    delimiter: str | None = None
    if fmt != "xlsx":
        encoding = _encoding_for(path_or_bytes, head, name)
        if encoding in ("cp874", "cp1258"):
            warnings.append(f"The file is not UTF-8; it was read as {encoding} "
                            f"({'Thai' if encoding == 'cp874' else 'Vietnamese'}). Check the preview.")
    if fmt == "csv":
        assert encoding is not None
        text = codecs.getincrementaldecoder(encoding)("replace").decode(head, len(head) < SAMPLE_BYTES)
        delimiter = _sniff_delimiter(text.splitlines()[:40])
    rows: list[dict[str, Any]] = []
    columns: list[str] = []
    rejected = 0
    for _n, rec, _err in _records(path_or_bytes, fmt, encoding, delimiter, name):
        if rec is None:
            rejected += 1
            if rejected > 50:
                break
            continue
        for k in (_flat_keys(rec) if fmt in ("jsonl", "json") else list(rec)):
            if k not in columns:
                columns.append(k)
        rows.append(rec)
        if len(rows) >= 10:
            break
    if fmt == "csv" and not columns:
        with _open(path_or_bytes) as f:
            for line in _DecodedLines(f, encoding or "utf-8", name):
                if line.strip():
                    columns = [c.strip().lstrip("\ufeff") for c in next(csv.reader([line], delimiter=delimiter or ","))]
                    break
    if rejected:
        warnings.append(f"{rejected} of the first rows could not be read; the import will list them")
    return Preview(fmt, encoding, delimiter, columns, rows, suggest_mapping(columns), warnings)


def read_rows(path: Source, mapping: Mapping[str, str], format: str | None = None,  # noqa: A002
              encoding: str | None = None, *, delimiter: str | None = None,
              tz: str = "Asia/Bangkok") -> Iterator[RowResult]:
    """Stream the rows of a file as :class:`FetchedItem` or :class:`Rejection`.

    ``mapping`` maps targets (``text`` is required) to column names. ``encoding`` and
    ``delimiter`` default to what :func:`sniff` would detect. Naive times are taken in
    ``tz`` and converted to UTC. Items without an id column get :func:`stable_external_id`,
    so importing the same file twice yields the same ids.
    """
    if not mapping.get("text"):
        raise ImportFileError("Choose which column holds the text (mapping['text'])")
    unknown = set(mapping) - set(TARGETS)
    if unknown:
        raise ImportFileError(f"Unknown mapping targets: {', '.join(sorted(unknown))} (known: {', '.join(TARGETS)})")
    name = _name(path)
    head = _head(path)
    if not head:
        return
    fmt = _detect_format(path, head, format)
    if fmt != "xlsx" and encoding is None:
        encoding = _encoding_for(path, head, name)
    if fmt == "csv" and delimiter is None:
        assert encoding is not None
        text = codecs.getincrementaldecoder(encoding)("replace").decode(head, len(head) < SAMPLE_BYTES)
        delimiter = _sniff_delimiter(text.splitlines()[:40])
    unit = _UNIT[fmt]
    cols = _columns(mapping)
    for n, rec, err in _records(path, fmt, encoding, delimiter, name):
        if rec is None:
            yield Rejection(n, err or "could not be read", unit)
        else:
            yield _result(n, unit, rec, cols, tz)
