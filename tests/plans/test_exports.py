"""Exports: DOCX opened with python-docx, PDF rendered to PNG (pdftoppm) and read back (pdftotext), Markdown,
the iCalendar feed of tactics and the `civicpulse plans` commands."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from civicpulse.domain.org.models import Unit
from tests.plans.conftest import H

THAI = "ขับขี่ปลอดภัย"
_MARKS = re.compile(r"[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\s]")


def _thai_base(text: str) -> str:
    return _MARKS.sub("", text)


@pytest.fixture
def plan(db, org, make_plan):  # type: ignore[no-untyped-def]
    with db.session() as s:
        a = s.scalar(select(Unit).where(Unit.code == "A"))
        a.contact_email, a.address = "press@a.gov.example", "1 Ministry Road"
    return make_plan(org.units["A"])


@pytest.fixture
def h(org, token_for):  # type: ignore[no-untyped-def]
    return H(token_for(org.users["viewer@A"]))


def test_docx(client, plan, h):  # type: ignore[no-untyped-def]
    from docx import Document

    r = client.get(f"/api/v1/plans/{plan}/export?format=docx", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml")
    assert re.search(r'filename="plan-\d+-traffic-fine-decree-rollout-v1\.docx"', r.headers["content-disposition"])
    doc = Document(io.BytesIO(r.content))
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith(("Heading", "Title"))]
    assert headings[0] == "Traffic fine decree rollout"
    for h_ in ("1. Strategy", "2. Objectives", "4. Key messages", "5. Channels and tactics", "Timeline", "6. KPIs",
               "7. Risks", "9. Public-communication checklist"):
        assert h_ in headings, h_
    assert "Unit R › Unit A" in doc.sections[0].header.paragraphs[0].text
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "Unit R" in body and "press@a.gov.example" in body and "Decree 168" in body
    tables = {t.rows[0].cells[0].text: t for t in doc.tables}
    tactics = tables["Tactic"]
    assert [c.text for c in tactics.rows[1].cells][:2] == ["Press briefing", "press"]
    assert "1,000,000 VND" in [c.text for c in tactics.rows[1].cells]
    assert "2,500.50 USD" in [c.text for c in tactics.rows[2].cells]
    messages = tables["Audience"]
    assert THAI in [c.text for c in messages.rows[1].cells]
    assert len(doc.inline_shapes) == 1  # the Gantt chart
    assert "Total budget: 1,000,000 VND; 2,500.50 USD" in body.replace("\n", " ") or "2,500.50 USD" in body


def test_pdf_pages_render_with_text(client, plan, h, tmp_path: Path):  # type: ignore[no-untyped-def]
    assert shutil.which("pdftoppm") and shutil.which("pdftotext"), "Debian poppler-utils is needed"
    r = client.get(f"/api/v1/plans/{plan}/export?format=pdf&lang=en", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    pdf = tmp_path / "plan.pdf"
    pdf.write_bytes(r.content)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2
    from PIL import Image

    with Image.open(pages[0]) as im:
        lo, hi = im.convert("L").getextrema()
        assert lo < 100 and hi > 200, "the first page is blank"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    for needle in ("Unit R", "Traffic fine decree rollout", "Channels and tactics", "Press briefing",
                   "Video series; part 1, 2", "Timeline", "Drive safely", "Lái xe an toàn", "Posts published"):
        assert needle in text, needle
    # poppler moves Thai above-base marks when extracting: compare the base letters
    assert _thai_base(THAI) in _thai_base(text)


def test_markdown_and_languages(client, plan, h):  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/plans/{plan}/export?format=md", headers=h)
    assert r.headers["content-type"].startswith("text/markdown")
    md = r.text
    assert md.startswith("**Unit R › Unit A**")
    assert "# Traffic fine decree rollout" in md
    assert "| Press briefing | press | Everyone | Unit A |" in md
    assert "| Drivers know the new fines | Inform | awareness % | 30 (" in md
    assert "## 5. Channels and tactics" in md and "```" in md and "█" in md
    assert "| crackdown | sounds hostile | new rules |" in md
    r = client.get(f"/api/v1/plans/{plan}/export?format=md&lang=vi", headers=h)
    assert "Đơn vị R" in r.text  # the letterhead in Vietnamese
    assert client.get(f"/api/v1/plans/{plan}/export?format=odt", headers=h).status_code == 422


def test_ical_feed(client, plan, h):  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/plans/{plan}/tactics.ics", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    raw = r.text
    assert raw.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and raw.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in raw.split("\r\n"))
    unfolded = raw.replace("\r\n ", "")
    events = re.findall(r"BEGIN:VEVENT\r\n(.*?)END:VEVENT", unfolded, re.S)
    assert len(events) == 2
    ev = dict(line.split(":", 1) for line in events[1].strip().split("\r\n"))
    assert ev["SUMMARY"] == "Video series\\; part 1\\, 2"
    assert ev["UID"].startswith(f"plan-{plan}-t2@")
    assert re.fullmatch(r"\d{8}", ev["DTSTART;VALUE=DATE"]) and ev["DTEND;VALUE=DATE"] > ev["DTSTART;VALUE=DATE"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", ev["DTSTAMP"])
    assert "Budget: 2\\,500.50 USD" in ev["DESCRIPTION"]


def test_cli_list_and_export(cfg, org, plan, monkeypatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from civicpulse.cli import app
    from civicpulse.config import reset_settings_cache

    monkeypatch.setenv("CIVICPULSE_DATABASE_URL", cfg.database_url)
    monkeypatch.setenv("CIVICPULSE_SECRET_KEY", cfg.secret_key.get_secret_value()
                       if hasattr(cfg.secret_key, "get_secret_value") else cfg.secret_key)
    monkeypatch.setenv("CIVICPULSE_ENV", "test")
    reset_settings_cache()
    try:
        runner = CliRunner()
        r = runner.invoke(app, ["plans", "list", "--json"])
        assert r.exit_code == 0, r.output
        rows = [json.loads(line) for line in r.output.splitlines() if line.strip()]
        assert rows[0]["id"] == plan and rows[0]["unit"] == "A" and rows[0]["status"] == "draft"
        out = tmp_path / "p.md"
        r = runner.invoke(app, ["plans", "export", str(plan), "--format", "md", "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert "# Traffic fine decree rollout" in out.read_text()
        r = runner.invoke(app, ["plans", "export", str(plan), "--format", "md", "--out", str(out)])
        assert r.exit_code == 1 and "already exists" in " ".join(r.output.split())
        r = runner.invoke(app, ["plans", "export", "9999", "--format", "docx", "--out", str(tmp_path / "x.docx")])
        assert r.exit_code == 1 and "Plan 9999 was not found" in " ".join(r.output.split())
        r = runner.invoke(app, ["plans", "export", str(plan), "--format", "rtf", "--out", str(tmp_path / "x.rtf")])
        assert r.exit_code == 1 and "Unknown format" in " ".join(r.output.split())
    finally:
        reset_settings_cache()


def test_gantt_svg_escapes_names_and_png_draws():  # type: ignore[no-untyped-def]
    import datetime as dt

    from PIL import Image

    from civicpulse.domain.plans.export import gantt_png, gantt_svg
    from civicpulse.domain.plans.schemas import Tactic

    ts = [Tactic(name='<script>alert(1)</script> & "x"', start=dt.date(2026, 1, 5), end=dt.date(2026, 2, 1)),
          Tactic(name="ขับขี่ปลอดภัย", start=dt.date(2026, 1, 20), end=dt.date(2026, 3, 1), status="done")]
    svg = gantt_svg(ts, today=dt.date(2026, 1, 25))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and svg.count("<rect") >= 3
    with Image.open(io.BytesIO(gantt_png(ts, today=dt.date(2026, 1, 25)))) as im:
        assert im.size == (1920, (34 + 2 * 26 + 12) * 2)
        assert (58, 154, 91) in {c for _n, c in im.convert("RGB").getcolors(100000)}  # the 'done' bar colour
