"""The alert page and "Emerging now" in Chromium: the charts draw under the strict CSP, the lifecycle buttons work."""

from __future__ import annotations

import datetime as dt

import pytest

from civicpulse.domain.alerts import issues, services
from tests.alerts.conftest import direction, near
from tests.web.test_browser import browser, live_server, page_for, sign_in  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.browser


def test_alert_page_chart_and_lifecycle(page_for, db, cfg, org, feed) -> None:  # noqa: F811
    from playwright.sync_api import expect

    now = dt.datetime.now(dt.UTC)
    feed("A", 30, at=now, spread_minutes=50, embedding=lambda k: near(direction(5), 500 + k), sentiment="neg")
    with db.session() as s:
        issues.detect(s, now=now)
        res = services.run_pass(s, cfg, now=now, detect_issues=False, send=False)
        aid = next(a.id for a, _w in res.alerts if a.kind == "volume_spike" and a.unit.code == "A")
    page = page_for()
    sign_in(page, org.email("analyst@A"))
    page.goto(f"/alerts/{aid}")
    expect(page.locator("#alert-chart svg")).to_be_attached()
    expect(page.get_by_test_id("alert-status")).to_have_text("New")
    page.get_by_role("button", name="Acknowledged").click()
    expect(page.get_by_test_id("alert-status")).to_have_text("Acknowledged")
    page.goto("/alerts/emerging")
    expect(page.locator(".alert-spark svg").first).to_be_attached()
    assert page.errors == []
