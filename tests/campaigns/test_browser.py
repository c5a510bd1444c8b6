"""The compose-time traffic light in a real browser: typing in "Check a text" fetches the HTMX partial
(no inline script, strict CSP) and shows the level and the reasons."""

from __future__ import annotations

import pytest

from tests.campaigns.conftest import TEXTS
from tests.web.test_browser import browser, live_server, page_for, sign_in  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


def test_align_partial_updates_as_you_type(page_for, org, make_campaign) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    cid = make_campaign(org.units["A"], [org.units["A1"]])
    page = page_for()
    sign_in(page, org.email("editor@A"))
    page.goto(f"/campaigns/{cid}")
    page.fill("[data-testid=align-text]", TEXTS["contra_vi"])
    page.dispatch_event("[data-testid=align-text]", "change")
    page.wait_for_selector("#align-result [data-level=contradicting]", timeout=60_000)
    assert "2 triệu đồng" in page.inner_text("#align-result")
    assert [e for e in page.errors if "Content Security Policy" in e] == []
