"""Big file imports read in a second process: the same rows, rejects and payloads as in-process; a file
that breaks half-way stores nothing; a reader that dies is reported, not waited on forever."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from civicpulse.domain.errors import ValidationFailed
from civicpulse.domain.listening import readahead, services
from civicpulse.domain.listening.models import IngestReject, Item, ItemRaw, Source
from civicpulse.domain.org.permissions import Actor

MAPPING = {"text": "message", "id": "id", "time": "time", "likes": "likes", "author": "user"}


def _rows(n: int) -> list[str]:
    out = []
    for i in range(n):
        rec: dict[str, object] = {"id": f"p{i}", "message": f"ค่าไฟแพงมาก ซอย {i} Giá điện tăng {i}",
                                  "time": f"2026-0{1 + i % 9}-1{i % 10}T0{i % 10}:15:00+07:00", "likes": i,
                                  "user": f"@u{i % 7}"}
        if i % 97 == 5:
            rec["message"] = "   "  # rejected: empty text
        if i % 101 == 7:
            rec["time"] = "not a time"  # rejected: bad time
        out.append(json.dumps(rec, ensure_ascii=False))
    out[10] = '{"id": "broken",'  # not JSON: rejected with its line number
    out[20] = out[19]  # the same id twice: a duplicate
    return out


def _snapshot(db, name: str) -> tuple[list[tuple[object, ...]], list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        src = s.scalar(select(Source.id).where(Source.name == name))
        items = s.execute(select(Item.external_id, Item.text, Item.published_at, Item.likes, Item.author_handle,
                                 Item.content_hash, ItemRaw.payload).join(ItemRaw, ItemRaw.item_id == Item.id)
                          .where(Item.source_id == src).order_by(Item.external_id)).all()
        rejects = s.execute(select(IngestReject.ref, IngestReject.reason).where(IngestReject.source_id == src)
                            .order_by(IngestReject.ref)).all()
    return [tuple(r) for r in items], [tuple(r) for r in rejects]


def test_read_ahead_gives_what_reading_in_process_gives(db, cfg, org, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if not cfg.database_url.startswith("sqlite"):
        pytest.skip("the read-ahead process serves the SQLite path")
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(_rows(5_000)) + "\n", encoding="utf-8")
    admin = Actor.system_actor("test")
    seen: list[int] = []
    small = services.import_file(db, cfg, admin, org.units["A"], "in-process", path, mapping=MAPPING)
    monkeypatch.setattr(readahead, "MIN_BYTES", 0)
    monkeypatch.setattr(readahead, "BATCH_ROWS", 700)
    calls: list[int] = []
    real = readahead.read_ahead

    def spy(*a, **kw):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(readahead, "read_ahead", spy)
    big = services.import_file(db, cfg, admin, org.units["A"], "read-ahead", path, mapping=MAPPING,
                               progress=seen.append)
    assert calls == [1]
    assert (big.inserted, big.duplicates, big.rejected) == (small.inserted, small.duplicates, small.rejected)
    assert big.rejected > 50 and big.duplicates == 1 and big.inserted == 5_000 - big.rejected - 1
    assert seen[-1] == 5_000 and seen == sorted(seen)
    assert _snapshot(db, "read-ahead") == _snapshot(db, "in-process")
    # importing it again: nothing new
    again = services.import_file(db, cfg, admin, org.units["A"], "read-ahead", path, mapping=MAPPING)
    assert (again.inserted, again.duplicates) == (0, big.inserted + 1)


def test_broken_file_read_ahead_stores_nothing(db, cfg, org, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if not cfg.database_url.startswith("sqlite"):
        pytest.skip("the read-ahead process serves the SQLite path")
    monkeypatch.setattr(readahead, "MIN_BYTES", 0)
    monkeypatch.setattr(readahead, "BATCH_ROWS", 300)
    lines = ["id,message"] + [f"{i},ค่าไฟแพงมาก แถว {i} " + "ข" * 150 for i in range(3_000)]
    path = tmp_path / "big.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8") + b"9000,\xff\xfe broken\n")
    admin = Actor.system_actor("test")
    with pytest.raises(ValidationFailed, match="Nothing was imported"):
        services.import_file(db, cfg, admin, org.units["A"], "Big export", path, mapping={"text": "message", "id": "id"})
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 0
        assert s.scalar(select(func.count()).select_from(IngestReject)) == 0


def test_reader_process_failure_is_reported(tmp_path: Path) -> None:
    # a mapping target that does not exist fails in the reader (as an ImportFileError): raised here
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": 1, "message": "hello"}\n', encoding="utf-8")
    from civicpulse.domain.listening.importers import ImportFileError

    with pytest.raises(ImportFileError, match="Unknown mapping targets"):
        list(readahead.read_ahead(path, {"text": "message", "nonsense": "x"}, None, "UTC"))
    # a file that disappears before the reader opens it: a plain-words failure, not a hang
    with pytest.raises((readahead.ReaderFailed, ImportFileError)):
        list(readahead.read_ahead(tmp_path / "missing.jsonl", {"text": "message"}, "jsonl", "UTC"))


def test_a_reader_that_dies_stops_the_import_cleanly(db, cfg, org, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if not cfg.database_url.startswith("sqlite"):
        pytest.skip("the read-ahead process serves the SQLite path")

    def dead(*_a, **_kw):  # type: ignore[no-untyped-def]
        yield (1, [], [], [])
        raise readahead.ReaderFailed("the process reading the file stopped (exit code -9)")

    monkeypatch.setattr(readahead, "MIN_BYTES", 0)
    monkeypatch.setattr(readahead, "read_ahead", dead)
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": 1, "message": "hello"}\n', encoding="utf-8")
    with pytest.raises(ValidationFailed, match="could not be read to the end.*exit code -9.*Nothing was imported"):
        services.import_file(db, cfg, Actor.system_actor("test"), org.units["A"], "x", path, mapping={"text": "message"})
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Source)) == 0
