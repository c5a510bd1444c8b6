"""Tests for file import: encodings, formats, rejections, streaming, stable ids."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc
import unicodedata
from pathlib import Path

import pytest

from civicpulse.connectors.base import FetchedItem
from civicpulse.domain.listening.importers import (
    ImportFileError,
    Rejection,
    detect_encoding,
    parse_count,
    parse_time,
    read_rows,
    sniff,
    stable_external_id,
    suggest_mapping,
)

FIXTURES = Path(__file__).parent / "fixtures"
UTC = dt.UTC
TONES = "\u0300\u0301\u0303\u0309\u0323"


def cp1258_bytes(text: str) -> bytes:
    """Encode like Windows-1258 software does: base letter + combining tone mark."""
    out = b""
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        d = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in d if c not in TONES))
        out += (base + "".join(c for c in d if c in TONES)).encode("cp1258")
    return out


def items(results: list) -> list[FetchedItem]:
    return [r for r in results if isinstance(r, FetchedItem)]


def rejections(results: list) -> list[str]:
    return [r.message for r in results if isinstance(r, Rejection)]


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-01T07:30:00Z", dt.datetime(2026, 5, 1, 7, 30, tzinfo=UTC)),
        ("2026-05-01T07:30:00+0000", dt.datetime(2026, 5, 1, 7, 30, tzinfo=UTC)),
        ("2026-05-01T14:30:00+07:00", dt.datetime(2026, 5, 1, 7, 30, tzinfo=UTC)),
        ("2026-05-01 14:30", dt.datetime(2026, 5, 1, 7, 30, tzinfo=UTC)),  # naive = Bangkok
        ("2026-05-01 14:30:15", dt.datetime(2026, 5, 1, 7, 30, 15, tzinfo=UTC)),
        ("2026-05-01T14:30:15.250", dt.datetime(2026, 5, 1, 7, 30, 15, 250000, tzinfo=UTC)),
        ("2026-05-01", dt.datetime(2026, 4, 30, 17, 0, tzinfo=UTC)),
        ("01/05/2026 14:30", dt.datetime(2026, 5, 1, 7, 30, tzinfo=UTC)),  # day first
        ("1/5/2026", dt.datetime(2026, 4, 30, 17, 0, tzinfo=UTC)),
        ("05/13/2026 02:30 PM", dt.datetime(2026, 5, 13, 7, 30, tzinfo=UTC)),  # month first when forced
        ("15/03/2569 10:30", dt.datetime(2026, 3, 15, 3, 30, tzinfo=UTC)),  # Buddhist era
        ("1714550000", dt.datetime(2024, 5, 1, 7, 53, 20, tzinfo=UTC)),  # unix seconds
        ("1714550000000", dt.datetime(2024, 5, 1, 7, 53, 20, tzinfo=UTC)),  # milliseconds
        (1714550000, dt.datetime(2024, 5, 1, 7, 53, 20, tzinfo=UTC)),
        (dt.datetime(2026, 5, 1, 14, 30), dt.datetime(2026, 5, 1, 7, 30, tzinfo=UTC)),
        ("", None),
    ],
)
def test_parse_time(value: object, expected: dt.datetime | None) -> None:
    assert parse_time(value) == expected


def test_parse_time_other_zone_and_errors() -> None:
    assert parse_time("2026-05-01 14:30", tz="Asia/Ho_Chi_Minh") == dt.datetime(2026, 5, 1, 7, 30, tzinfo=UTC)
    assert parse_time("2567-02-29 12:00") == dt.datetime(2024, 2, 29, 5, 0, tzinfo=UTC)  # BE leap year
    for bad in ("yesterday", "2026-13-01", "32/01/2026", "hôm qua", "2569-02-29"):  # BE 2569 = 2026
        with pytest.raises(ValueError):
            parse_time(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12), ("1,234", 1234), ("1.234", 1234), ("1.2K", 1200), ("12k", 12000), ("3.4M", 3_400_000),
     ("1,2 N", 1200), ("2 nghìn", 2000), ("1.5 ล้าน", 1_500_000), ("7 พัน", 7000), (5.0, 5), (7, 7),
     ("", None), (None, None), ("-", None), ("12.0", 12)],
)
def test_parse_count(value: object, expected: int | None) -> None:
    assert parse_count(value) == expected


@pytest.mark.parametrize("value", ["lots", "12.5", "-3", "1,23", "1.5x", 2.5])
def test_parse_count_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_count(value)


def test_suggest_mapping_multilingual_headers() -> None:
    m = suggest_mapping(["Post ID", "Nội dung", "Thời gian", "Người đăng", "Link", "Lượt thích"])
    assert m == {"text": "Nội dung", "time": "Thời gian", "author": "Người đăng", "url": "Link",
                 "likes": "Lượt thích", "id": "Post ID"}
    m = suggest_mapping(["ข้อความ", "วันที่", "ผู้โพสต์", "ลิงก์", "shares", "comments", "parent_id"])
    assert m == {"text": "ข้อความ", "time": "วันที่", "author": "ผู้โพสต์", "url": "ลิงก์",
                 "shares": "shares", "comments": "comments", "parent_id": "parent_id"}


# --------------------------------------------------------------------------- fixtures


def test_vendor_csv_export() -> None:
    path = FIXTURES / "vendor_export.csv"
    p = sniff(path)
    assert (p.format, p.encoding, p.delimiter) == ("csv", "utf-8-sig", ",")
    assert p.columns[0] == "post_id" and len(p.rows) == 6
    assert p.suggested_mapping == {
        "text": "message", "time": "created_time", "author": "from", "url": "permalink_url",
        "likes": "reactions", "shares": "shares", "comments": "comments", "parent_id": "parent_id",
        "id": "post_id"}
    res = list(read_rows(path, p.suggested_mapping))
    got = items(res)
    assert [i.external_id for i in got] == ["101", "102", "104"]
    first = got[0]
    assert first.text == "ค่าไฟแพงมาก <script>alert(1)</script>"  # kept as plain text
    assert first.published_at == dt.datetime(2026, 5, 1, 7, 30, tzinfo=UTC)
    assert (first.likes, first.shares, first.comments, first.author_handle) == (1234, 12, 3, "Somchai")
    assert first.url == "https://facebook.com/p/101" and first.kind == "post"
    assert got[1].likes == 1200 and got[1].published_at == dt.datetime(2026, 5, 1, 7, 30, tzinfo=UTC)
    assert got[2].kind == "comment" and got[2].parent_external_id == "101"
    assert got[2].published_at == dt.datetime(2026, 5, 1, 8, 0, tzinfo=UTC)  # BE 2569
    assert rejections(res) == [
        "row 4: text is empty",
        "row 6: time 'yesterday' is not a date (expected e.g. 2026-05-01 14:30 or an ISO-8601 timestamp)",
        "row 7: likes 'lots' is not a whole number",
    ]


def test_facebook_json_export_fixes_mojibake() -> None:
    path = FIXTURES / "facebook_posts.json"
    p = sniff(path)
    assert p.format == "json"
    assert p.suggested_mapping["text"] == "post" and p.suggested_mapping["time"] == "timestamp"
    res = list(read_rows(path, p.suggested_mapping))
    got = items(res)
    assert [i.text for i in got] == ["ค่าไฟแพงมาก รัฐบาลต้องช่วย", "Xử phạt vi phạm giao thông"]
    assert got[0].title == "Somchai posted on the page"
    assert got[0].published_at == dt.datetime.fromtimestamp(1746063000, UTC)
    assert rejections(res) == ["item 3: text is empty"]


# --------------------------------------------------------------------------- encodings

THAI_CSV = "id,ข้อความ,วันที่\n1,ค่าไฟแพงมาก รัฐบาลต้องช่วยประชาชน,01/05/2569 09:00\n2,น้ำท่วมหนักที่เชียงใหม่,2026-05-02 10:00\n"
VI_CSV = ("id;nội dung;thời gian\n1;Xử phạt vi phạm giao thông ở Hà Nội, người dân phản ánh;01/05/2026 14:30\n"
          "2;Giá điện tăng cao, chính phủ hỗ trợ;02/05/2026 08:00\n")


@pytest.mark.parametrize(
    ("encoded", "encoding", "source"),
    [
        (THAI_CSV.encode("cp874"), "cp874", THAI_CSV),
        (THAI_CSV.encode("utf-8"), "utf-8", THAI_CSV),
        (THAI_CSV.encode("utf-8-sig"), "utf-8-sig", THAI_CSV),
        (THAI_CSV.encode("utf-16"), "utf-16", THAI_CSV),  # LE with BOM
        (b"\xfe\xff" + THAI_CSV.encode("utf-16-be"), "utf-16", THAI_CSV),
        (cp1258_bytes(VI_CSV), "cp1258", VI_CSV),
        (VI_CSV.encode("utf-16"), "utf-16", VI_CSV),
        (VI_CSV.encode("utf-8"), "utf-8", VI_CSV),
    ],
)
def test_encodings(tmp_path: Path, encoded: bytes, encoding: str, source: str) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(encoded)
    p = sniff(path)
    assert p.encoding == encoding
    assert p.delimiter == ("," if source is THAI_CSV else ";")
    res = list(read_rows(path, p.suggested_mapping))
    assert not rejections(res)
    expected = [line.split(p.delimiter)[1] for line in source.splitlines()[1:]]
    got = [i.text for i in items(res)]
    assert got == [unicodedata.normalize("NFC", t) for t in expected]
    assert all(unicodedata.is_normalized("NFC", t) for t in got)
    # bytes work as well as paths
    assert [i.text for i in items(list(read_rows(encoded, p.suggested_mapping)))] == got


def test_cp1258_decoded_text_is_nfc_with_combining_marks_in_source() -> None:
    raw = cp1258_bytes("Xử phạt")
    assert b"\xd2" in raw or b"\xf2" in raw  # a cp1258 combining tone mark byte is present
    assert detect_encoding(raw * 20) == "cp1258"


def test_undecodable_file_names_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(b"text\nhello \x81 world\n")
    with pytest.raises(ImportFileError, match=r"broken\.csv.*0x81 at byte offset 11"):
        sniff(path)


def test_bad_byte_after_sample_reported_with_offset(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    body = b"text\n" + b"hello world\n" * 30_000
    path.write_bytes(body + b"bad \xff byte\n")
    results = read_rows(path, {"text": "text"})
    with pytest.raises(ImportFileError, match=rf"late\.csv.*byte offset {len(body) + 4}"):
        for _ in results:
            pass


# --------------------------------------------------------------------------- malformed rows


def test_malformed_csv_rows(tmp_path: Path) -> None:
    long_text = "ก" * 120_000
    content = (
        "id,text,time\n"
        "1,first ok,2026-05-01 10:00\n"
        '2,"unclosed quote,2026-05-01 10:00\n'
        "3,after the broken quote,2026-05-01 10:00\n"
        "4,too,many,fields\n"
        "5,nul\x00 byte,2026-05-01 10:00\n"
        f'6,"{long_text}",2026-05-01 10:00\n'
        '7,"multi\nline, quoted",2026-05-01 10:00\n'
        "\n"
        "8,short\n"
        "9,last,2026-05-01 10:00,,\n"
    )
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    res = list(read_rows(path, {"text": "text", "time": "time", "id": "id"}))
    assert [(i.external_id, i.text) for i in items(res)] == [
        ("1", "first ok"), ("3", "after the broken quote"), ("5", "nul byte"),
        ("7", "multi\nline, quoted"), ("9", "last")]
    assert rejections(res) == [
        'row 3: a quoted field is never closed (check for a stray " character)',
        "row 5: has 4 fields but the header has 3 (check for an unquoted delimiter or quote)",
        "row 7: text is 120,000 characters long (the limit is 100,000)",
        "row 11: has 2 fields but the header has 3 (check for an unquoted delimiter or quote)",
    ]


def test_unclosed_quote_at_end_of_file(tmp_path: Path) -> None:
    path = tmp_path / "eof.csv"
    path.write_text('text,time\nok,2026-01-01\n"never closed,2026-01-01\nlast,2026-01-02\n', encoding="utf-8")
    res = list(read_rows(path, {"text": "text"}))
    assert [i.text for i in items(res)] == ["ok", "last"]
    assert rejections(res) == ['row 3: a quoted field is never closed (check for a stray " character)']


def test_jsonl_rejections() -> None:
    data = (b'{"id": "a", "text": "hello", "time": "2026-05-01 10:00"}\n'
            b'{"id": "b" "text": "x"}\n'
            b"[1, 2]\n"
            b"\n"
            b'{"id": "c", "text": "  "}\n'
            b'{"id": "d", "text": "ok", "likes": "1.5x"}\n')
    p = sniff(data)
    assert p.format == "jsonl" and p.columns == ["id", "text", "time", "likes"]
    res = list(read_rows(data, p.suggested_mapping))
    assert [i.external_id for i in items(res)] == ["a"]
    assert rejections(res) == [
        "line 2: not valid JSON: Expecting ',' delimiter at char 11",
        "line 3: expected a JSON object {...}, got list",
        "line 5: text is empty",
        "line 6: likes '1.5x' is not a whole number",
    ]


def test_jsonl_nested_paths() -> None:
    data = json.dumps({"id": "p1", "message": "hi", "from": {"name": "An", "id": "9"},
                       "reactions": {"summary": {"total_count": 5}}}).encode()
    p = sniff(data, format="jsonl")
    assert p.suggested_mapping["author"] == "from.name"
    assert p.suggested_mapping["likes"] == "reactions.summary.total_count"
    item = items(list(read_rows(data, p.suggested_mapping)))[0]
    assert (item.author_handle, item.likes) == ("An", 5)


def test_mapping_needs_text() -> None:
    with pytest.raises(ImportFileError, match="text"):
        list(read_rows(b"a,b\n1,2\n", {"time": "a"}))


# --------------------------------------------------------------------------- xlsx


def test_xlsx_import(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Post ID", "Message", "Created", "Author", "Likes"])
    ws.append([1234567890123.0, "ค่าไฟแพง", dt.datetime(2026, 5, 1, 14, 30), "Somchai", 12])
    ws.append([2, "Giá điện tăng", "01/05/2026 09:00", "Lan", "1.2K"])
    ws.append([None, None, None, None, None])
    ws.append([3, "", "2026-05-01", "X", 1])
    path = tmp_path / "export.xlsx"
    wb.save(path)
    p = sniff(path)
    assert (p.format, p.encoding, p.delimiter) == ("xlsx", None, None)
    assert p.columns == ["Post ID", "Message", "Created", "Author", "Likes"]
    assert p.suggested_mapping == {"text": "Message", "time": "Created", "author": "Author",
                                   "likes": "Likes", "id": "Post ID"}
    res = list(read_rows(path, p.suggested_mapping))
    got = items(res)
    assert [i.external_id for i in got] == ["1234567890123", "2"]
    assert got[0].published_at == dt.datetime(2026, 5, 1, 7, 30, tzinfo=UTC)
    assert got[1].likes == 1200 and got[1].published_at == dt.datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
    assert rejections(res) == ["row 5: text is empty"]


# --------------------------------------------------------------------------- ids and streaming


def test_stable_external_ids_on_reimport(tmp_path: Path) -> None:
    content = ("text,time,author,url,likes\n"
               "same text,2026-05-01 10:00,a,,1\n"
               "same text,2026-05-01 10:00,b,,1\n"
               "with url,2026-05-01 10:00,a,https://x.example/1,1\n")
    path = tmp_path / "noid.csv"
    path.write_text(content, encoding="utf-8")
    mapping = suggest_mapping(["text", "time", "author", "url", "likes"])
    ids1 = [i.external_id for i in items(list(read_rows(path, mapping)))]
    ids2 = [i.external_id for i in items(list(read_rows(path, mapping)))]
    assert ids1 == ids2 and len(set(ids1)) == 3
    # counts change between exports, ids do not
    path.write_text(content.replace(",1\n", ",99\n"), encoding="utf-8")
    assert [i.external_id for i in items(list(read_rows(path, mapping)))] == ids1
    # the same row saved as UTF-16 gets the same ids
    path.write_bytes(content.encode("utf-16"))
    assert [i.external_id for i in items(list(read_rows(path, mapping)))] == ids1
    assert stable_external_id("https://x.example/1", "zz", None, "other") == ids1[2]


def test_reading_is_lazy_and_memory_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    line = "{i},ค่าไฟแพงมาก รัฐบาลต้องช่วย {pad},2026-05-01 10:00,author{i},1\n"
    pad = "ข้อความยาว " * 150
    with path.open("w", encoding="utf-8") as f:
        f.write("id,text,time,author,likes\n")
        i = 0
        while f.tell() < 20_000_000:
            f.write(line.format(i=i, pad=pad))
            i += 1
    n_rows = i
    mapping = {"id": "id", "text": "text", "time": "time", "author": "author", "likes": "likes"}
    tracemalloc.start()
    try:
        gen = read_rows(path, mapping)
        first = [next(gen) for _ in range(100)]
        _, peak_partial = tracemalloc.get_traced_memory()
        gen.close()
        tracemalloc.reset_peak()
        count = sum(1 for r in read_rows(path, mapping) if isinstance(r, FetchedItem))
        _, peak_full = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(isinstance(r, FetchedItem) for r in first)
    assert count == n_rows
    assert peak_partial < 8_000_000
    assert peak_full < 8_000_000  # a 20 MB file never sits in memory
