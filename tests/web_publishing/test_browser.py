"""The compose page's live checks and drag-to-reschedule in the calendar, in Debian's Chromium (Playwright)."""

from __future__ import annotations

import datetime as dt
import re
import struct
import zlib
from zoneinfo import ZoneInfo

import pytest

from civicpulse.domain.org.models import Unit
from civicpulse.domain.publishing.models import Channel, Variant
from tests.publishing import support
from tests.web.test_browser import browser, live_server, page_for, sign_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser
TZ = ZoneInfo("Asia/Bangkok")
WAIT = 20_000  # ms: each live check is a request to the server, which may be busy


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x10\x60\xb0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_compose_live_checks_and_drag_to_reschedule(page_for, db, cfg, org, tmp_path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    with db.session() as s:
        a = s.get(Unit, org.units["A"])
        x = Channel(unit_id=a.id, unit_path=a.path, platform="x", name="Ministry on X", config={})
        s.add(x)
        s.flush()
        x_id = x.id
    net = support.channel(db, cfg, org.units["A"], name="Testnet A")
    at = dt.datetime(2030, 4, 10, 14, 0, tzinfo=TZ)
    pid = support.approved_post(db, support.actor(db, org.users["editor@A"]),
                                support.actor(db, org.users["approver@A"]), org.units["A"], [net], at=at)
    with db.session() as s:
        vid = s.query(Variant.id).filter(Variant.post_id == pid).scalar()

    page = page_for(390, 844)  # a phone
    sign_in(page, org.email("editor@A"))
    page.goto("/content/new")
    page.check(f"input[name=channel_ids][value='{x_id}']")
    page.fill("textarea[name=text_en]", "Read https://example.org/" + "a" * 100 + " now")
    counter = page.locator(f"[data-testid=counter-{x_id}]")
    expect(counter).to_have_text(re.compile(r"^\s*32\s*/\s*280\s*$"), timeout=WAIT)  # the URL counts 23, the platform's way
    page.fill("textarea[name=text_en]", "x" * 290)
    expect(counter).to_have_text(re.compile(r"^\s*290\s*/\s*280\s*$"), timeout=WAIT)
    expect(page.locator(f"[data-testid=check-{x_id}] [data-code=too_long]")).to_be_visible(timeout=WAIT)
    page.fill("textarea[name=text_en]", "Short and fine")
    expect(page.locator(f"[data-testid=check-{x_id}]")).to_contain_text("Ready for this platform", timeout=WAIT)

    # an image without alt text: the check turns red at once; describing it makes it green again
    image = tmp_path / "chart.png"
    image.write_bytes(_png(40, 30))
    page.set_input_files("#media-file", str(image))
    page.click("[data-testid=upload]")
    row = page.locator(".media-row")
    expect(row).to_contain_text("chart.png", timeout=WAIT)
    expect(page.locator(f"[data-testid=check-{x_id}] [data-code=alt_text_missing]")).to_be_visible(timeout=WAIT)
    row.locator("input[name^=alt_]").fill("Bar chart of weekly cases")
    expect(page.locator(f"[data-testid=check-{x_id}]")).to_contain_text("Ready for this platform", timeout=WAIT)

    page = page_for(1280, 900)
    sign_in(page, org.email("editor@A"))
    page.goto("/calendar?view=month&date=2030-04-01")
    chip = page.locator(f"[data-testid=cal-variant-{vid}]")
    expect(page.locator("[data-testid=day-2030-04-10]").locator(chip)).to_be_visible(timeout=WAIT)
    chip.drag_to(page.locator("[data-testid=day-2030-04-17]"))
    expect(page.locator("[data-testid=day-2030-04-17]").locator(f"[data-testid=cal-variant-{vid}]")).to_be_visible(timeout=WAIT)
    with db.session() as s:
        v = s.get(Variant, vid)
        assert v.scheduled_at == dt.datetime(2030, 4, 17, 14, 0, tzinfo=TZ).astimezone(dt.UTC)
        assert v.state == "scheduled"
    assert not page.errors, page.errors
