"""Content: media checks, the message library (seeded from plans' approved key messages), CSV/JSON bulk import with
its all-or-nothing validation report, and the CLI commands."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from civicpulse.domain.content import services as content
from civicpulse.domain.content.models import LibraryEntry, MediaAsset, Post
from civicpulse.domain.errors import PermissionDenied, ValidationFailed
from civicpulse.domain.plans import services as plans
from civicpulse.domain.plans.schemas import PlanCreate, Sections
from civicpulse.domain.publishing import queries
from civicpulse.domain.publishing.models import Variant
from tests.publishing import support


def _png(w: int = 64, h: int = 32) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\x00" * (w * 3) for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_media_is_checked_and_stored_under_the_data_dir(db, cfg, org):
    editor = support.actor(db, org.users["editor@A"])
    with db.session() as s:
        m = content.store_media(s, editor, cfg, unit_id=org.units["A"], filename="../../chart.png", mime="image/png",
                                data=_png(), alt_text="Water level chart")
        assert (m.width, m.height) == (64, 32) and m.filename == "chart.png"
        assert content.media_path(cfg, m).read_bytes() == _png()
        assert content.media_path(cfg, m).parent == cfg.data_dir / "media"
    with db.session() as s, pytest.raises(ValidationFailed, match="not really"):
        content.store_media(s, editor, cfg, unit_id=org.units["A"], filename="x.png", mime="image/png",
                            data=b"<html>not an image</html>")
    with db.session() as s, pytest.raises(ValidationFailed, match="cannot be attached"):
        content.store_media(s, editor, cfg, unit_id=org.units["A"], filename="x.exe", mime="application/x-msdownload",
                            data=b"MZ....")
    with db.session() as s, pytest.raises(ValidationFailed, match="limit"):
        content.store_media(s, editor, cfg.model_copy(update={"max_upload_bytes": 20}), unit_id=org.units["A"],
                            filename="big.png", mime="image/png", data=_png())
    viewer = support.actor(db, org.users["viewer@A"])
    with db.session() as s, pytest.raises(PermissionDenied):
        content.store_media(s, viewer, cfg, unit_id=org.units["A"], filename="c.png", mime="image/png", data=_png())
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(MediaAsset)) == 1


def test_media_upload_through_the_api(client, token_for, org):
    h = {"Authorization": f"Bearer {token_for(org.users['editor@A'])}"}
    r = client.post("/api/v1/attachments", headers=h, data={"unit_id": str(org.units["A"]), "alt_text": "chart"},
                    files={"file": ("chart.png", _png(), "image/png")})
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/attachments/{r.json()['id']}/file", headers=h)
    assert got.status_code == 200 and got.content == _png()


def test_library_is_seeded_from_approved_plan_messages(db, cfg, org):
    admin = support.actor(db, org.users["admin@A"])
    sections = Sections.model_validate({"messages": [
        {"kind": "core", "text": {"en": "Boil water before drinking", "th": "ต้มน้ำก่อนดื่ม"}, "approval": "approved"},
        {"kind": "supporting", "text": {"en": "Draft idea"}, "approval": "draft"}]})
    with db.session() as s:
        p = plans.create_plan(s, admin, PlanCreate(unit_id=org.units["A"], title="Flood", policy="Flood response",
                                                   sections=sections))
        from civicpulse.domain.plans.schemas import TransitionIn
        plans.transition(s, admin, p.id, TransitionIn(to="in_review"))
    approver = support.actor(db, org.users["approver@A"])
    with db.session() as s:
        assert content.seed_library_from_plans(s, approver, org.units["A"]) == 1
    with db.session() as s:
        assert content.seed_library_from_plans(s, approver, org.units["A"]) == 0  # no duplicates
        rows = queries.library(s, approver, org.units["A1"])  # a child unit sees the messages from above
        assert [r.texts["th"] for r in rows] == ["ต้มน้ำก่อนดื่ม"]
        assert queries.library(s, support.actor(db, org.users["admin@B"]), org.units["B"]) == []
    editor = support.actor(db, org.users["editor@A"])
    with db.session() as s, pytest.raises(PermissionDenied):
        content.seed_library_from_plans(s, editor, org.units["A"])
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(LibraryEntry)) == 1


def _csv(rows: list[str]) -> bytes:
    return ("unit,title,channel,language,text,scheduled_at,link,hashtags\n" + "\n".join(rows) + "\n").encode()


def test_import_is_all_or_nothing_with_a_report(db, cfg, org):
    ch = support.channel(db, cfg, org.units["A"], name="Main")
    editor = support.actor(db, org.users["editor@A"])
    bad = _csv(["A,Flood update,Main,th,ระดับน้ำลดลง,2026-12-01T09:00:00+07:00,,flood",
                f"A,Flood update,{ch},en,Water is falling,2026-12-01T09:00:00+07:00,,",
                "B,Elsewhere,Main,en,x,,,", "A,No channel,Nope,en,x,,,", "A,Bad time,Main,en,x,tomorrow,,",
                "A,,Main,en,,,,"])
    with db.session() as s:
        rep = content.import_calendar(s, editor, "cal.csv", bad)
    assert not rep.ok and [e["row"] for e in rep.errors] == [4, 5, 6, 7]
    assert "unit 'B' not found" in rep.errors[0]["problems"][0]
    assert any("not a date" in p for p in rep.errors[2]["problems"])
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Post)) == 0
    good = _csv(["A,Flood update,Main,th,ระดับน้ำลดลง,2026-12-01T09:00:00+07:00,,flood",
                 f"A,Flood update,{ch},en,Water is falling,2026-12-01T10:00:00+07:00,,"])
    with db.session() as s:
        rep = content.import_calendar(s, editor, "cal.csv", good)
    assert rep.ok and (rep.posts, rep.variants) == (1, 2)
    with db.session() as s:
        (p,) = s.scalars(select(Post))
        assert p.texts == {"th": "ระดับน้ำลดลง", "en": "Water is falling"} and p.hashtags == ["flood"]
        assert sorted(v.state for v in s.scalars(select(Variant))) == ["draft", "draft"]


def test_cli_import_list_and_channels(db, cfg, org, tmp_path, monkeypatch):
    from civicpulse.cli import app
    from civicpulse.config import reset_settings_cache

    ch = support.channel(db, cfg, org.units["A"], name="Main")
    support.channel(db, cfg, org.units["A"], name="Expired", account="old", token="expired")
    monkeypatch.setenv("CIVICPULSE_DATABASE_URL", cfg.database_url or "")
    monkeypatch.setenv("CIVICPULSE_SECRET_KEY", cfg.secret_key)
    monkeypatch.setenv("CIVICPULSE_DATA_DIR", str(cfg.data_dir))
    monkeypatch.setenv("CIVICPULSE_ENV", "test")
    reset_settings_cache()
    runner = CliRunner()
    f = tmp_path / "cal.json"
    f.write_text(json.dumps([{"unit": "A", "title": "Heat", "channel": "Main", "language": "en",
                              "text": "Drink water", "scheduled_at": "2026-12-01T09:00:00+07:00"},
                             {"unit": "A", "title": "Heat", "channel": "Nope", "text": "x"}]), encoding="utf-8")
    r = runner.invoke(app, ["posts", "import", str(f)])
    assert r.exit_code == 1 and "nothing was imported" in r.output and "channel 'Nope' not found" in r.output
    f.write_text(json.dumps([{"unit": "A", "title": "Heat", "channel": str(ch), "language": "en",
                              "text": "Drink water", "scheduled_at": "2026-12-01T09:00:00+07:00"}]), encoding="utf-8")
    r = runner.invoke(app, ["posts", "import", str(f), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["variants"] == 1
    r = runner.invoke(app, ["posts", "list", "--state", "draft", "--json"])
    assert r.exit_code == 0 and [x["title"] for x in json.loads(r.output)] == ["Heat"]
    r = runner.invoke(app, ["posts", "list", "--state", "failed"])
    assert r.exit_code == 0 and "No posts in state 'failed'" in r.output
    r = runner.invoke(app, ["posts", "list", "--state", "nonsense"])
    assert r.exit_code == 2 and "Unknown state" in r.output
    r = runner.invoke(app, ["channels", "check"])
    assert r.exit_code == 1 and "1 channel(s) ok, 1 need attention" in r.output and "Token expired" in r.output
    r = runner.invoke(app, ["channels", "list", "--json"])
    rows = json.loads(r.output)
    assert {x["name"]: x["health_ok"] for x in rows} == {"Main": True, "Expired": False}
    assert "good" not in r.output
    reset_settings_cache()
