"""The web UI in a real browser: Playwright drives Debian's Chromium (/usr/bin/chromium) against the app
served by uvicorn on 127.0.0.1, with the test database.

Nothing is downloaded: Playwright's own browser builds are never used (no `playwright install`).
Without /usr/bin/chromium (Debian package `chromium`) these tests are skipped on a developer machine and
fail in CI (when the environment variable CI is set).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's browser with `apt-get install chromium`"
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI must run the browser tests)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app under uvicorn in a background thread, on a free port of 127.0.0.1; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:  # noqa: S310 - our own server
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            pytest.fail(f"the test server on {base} did not answer /healthz within 30 s")
        time.sleep(0.1)
    yield base
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.fixture
def page_for(browser, live_server, tmp_path):  # type: ignore[no-untyped-def]
    """page_for(width, height) -> a fresh browser context's page; console errors are collected in page.errors.

    On a failed test, a screenshot of every page is left in the test's tmp_path."""
    contexts = []

    def make(width: int = 1280, height: int = 800):  # type: ignore[no-untyped-def]
        ctx = browser.new_context(viewport={"width": width, "height": height}, locale="en-US",
                                  base_url=live_server)
        ctx.set_default_timeout(15_000)
        page = ctx.new_page()
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        contexts.append((ctx, page))
        return page

    yield make
    for i, (ctx, page) in enumerate(contexts):
        try:
            page.screenshot(path=str(tmp_path / f"last-page-{i}.png"), full_page=True)
        except Exception:  # noqa: S110 - best effort, only for debugging a failure
            pass
        ctx.close()


def sign_in(page, email: str, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():  # the POST, its redirect, and the next page's load event
        page.click("form[action='/login'] button[type=submit]")
    page.wait_for_selector("nav.mainnav", state="attached")


def switch_language(page, lang: str) -> None:  # type: ignore[no-untyped-def]
    """The language menu in the header submits itself on change (static/js/app.js, loaded with defer)."""
    page.wait_for_load_state("load")
    with page.expect_navigation():
        page.select_option("#lang-select", lang)
    page.wait_for_selector(f"html[lang={lang}]", state="attached")


def test_admin_works_in_thai_units_users_and_audit(page_for, org) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = page_for()
    sign_in(page, org.email("root-admin"))
    expect(page.locator("nav.mainnav")).to_contain_text("Dashboard")

    switch_language(page, "th")
    nav = page.locator("nav.mainnav")
    expect(nav).to_contain_text("ภาพรวม")
    expect(nav).to_contain_text("บันทึกการตรวจสอบ")
    expect(page.locator("h1")).to_have_text("ภาพรวม")
    expect(page.get_by_role("button", name="ออกจากระบบ")).to_be_visible()

    # a new unit below A, through the "add unit below" button on A's row
    nav.get_by_role("link", name="หน่วยงาน", exact=True).click()
    expect(page.locator("h1")).to_have_text("หน่วยงาน")
    a_row = page.locator(f"#unit-{org.units['A']} > .unit-row")
    expect(a_row).to_contain_text("หน่วย A")
    a_row.get_by_role("link", name="เพิ่มหน่วยงานในสังกัด").click()
    expect(page.locator("h1")).to_have_text("หน่วยงานใหม่")
    expect(page.locator("select[name=parent_id] option:checked")).to_contain_text("หน่วย A")
    page.get_by_label("รหัสหน่วยงาน").fill("A-PR")
    page.get_by_label("ประเภท").select_option("bureau")
    page.fill("input[name=name_th]", "สำนักประชาสัมพันธ์ A")
    page.fill("input[name=name_vi]", "Ban Truyền thông A")
    page.fill("input[name=name_en]", "Public Relations A")
    page.get_by_role("button", name="บันทึก", exact=True).click()
    page.wait_for_url(re.compile(r"/units#unit-\d+$"))
    new_row = page.locator(f"#unit-{org.units['A']} li .unit-row", has_text="สำนักประชาสัมพันธ์ A")
    expect(new_row).to_be_visible()
    expect(new_row).to_contain_text("A-PR")
    expect(new_row).to_contain_text("สำนัก")

    # a person with the editor role on the new unit, through the "add a person" form
    nav.get_by_role("link", name="ผู้ใช้และบทบาท").click()
    page.get_by_role("link", name="เพิ่มผู้ใช้").click()
    expect(page.locator("h1")).to_have_text("เพิ่มผู้ใช้")
    page.get_by_label("ชื่อ-นามสกุล").fill("สมหญิง ใจดี")
    page.get_by_label("อีเมล").fill("somying@example.org")
    page.select_option("select[name=language]", "th")
    unit_select = page.locator("select[name=unit_id]")
    unit_select.select_option(label=unit_select.locator("option", has_text="สำนักประชาสัมพันธ์ A").inner_text())
    page.select_option("select[name=role]", "editor")
    page.fill("input[name=password]", "a-long-enough-password-42")
    with page.expect_navigation():
        page.get_by_role("button", name="เพิ่ม", exact=True).click()
    expect(page.locator("h1")).to_have_text("สมหญิง ใจดี")
    roles = page.locator("table tbody tr")
    expect(roles).to_have_count(1)
    expect(roles.first).to_contain_text("บรรณาธิการ")
    expect(roles.first).to_contain_text("สำนักประชาสัมพันธ์ A")

    # the audit log shows both changes, in Thai around the technical action names
    nav.get_by_role("link", name="บันทึกการตรวจสอบ").click()
    expect(page.locator("h1")).to_have_text("บันทึกการตรวจสอบ")
    actions = page.locator("table.audit tbody td:nth-child(3) code")
    expect(actions.filter(has_text="unit.create").first).to_be_visible()
    expect(actions.filter(has_text="role.grant").first).to_be_visible()
    unit_create = page.locator("table.audit tbody tr", has=page.locator("code", has_text="unit.create")).first
    expect(unit_create).to_contain_text("A-PR")
    # the filter form narrows it to the grants made by this administrator (the fixture's were by the system)
    page.get_by_label("การดำเนินการ").first.fill("role.grant")
    page.get_by_label("ผู้ดำเนินการ").first.fill(org.email("root-admin"))
    page.get_by_role("button", name="กรอง").click()
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("role.grant")
    expect(rows.first).to_contain_text("editor")
    assert not page.errors, page.errors


@pytest.mark.parametrize("lang", ["th", "vi"])
def test_phone_menu_and_no_sideways_scrolling(page_for, org, lang: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = page_for(390, 844)
    sign_in(page, org.email("root-admin"))
    switch_language(page, lang)
    page.goto("/units")
    menu_link = page.locator("nav.mainnav a[href='/users']")
    expect(menu_link).to_be_hidden()
    toggle = page.locator("label.navbutton")
    expect(toggle).to_be_visible()
    toggle.click()
    expect(menu_link).to_be_visible()
    toggle.click()
    expect(menu_link).to_be_hidden()
    toggle.click()
    menu_link.click()
    page.wait_for_url("**/users")
    expect(page.locator("h1")).to_have_text({"th": "ผู้ใช้และบทบาท", "vi": "Người dùng và vai trò"}[lang])

    for path in ["/units", "/", "/users", f"/users/{org.users['editor@A']}", "/users/new", "/units/new",
                 "/audit", "/tokens"]:
        page.goto(path)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"{path} scrolls sideways on a phone: {widths}"
    assert not page.errors, page.errors


def test_keyboard_can_open_the_phone_menu(page_for, org) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = page_for(390, 844)
    sign_in(page, org.email("viewer@A"))
    page.focus("#navtoggle")
    page.keyboard.press("Space")
    expect(page.locator("nav.mainnav a[href='/units']")).to_be_visible()


def test_post_redirect_get_reads_its_own_write(live_server, org) -> None:  # type: ignore[no-untyped-def]
    """Over a real socket (TestClient waits for the whole app, so it cannot see this)."""
    import httpx

    from tests.conftest import csrf_from

    with httpx.Client(base_url=live_server, timeout=10) as c:
        page = c.get("/login").text
        c.post("/login", data={"email": org.email("viewer@A"), "password": PASSWORD, "next": "/",
                               "csrf_token": csrf_from(page)})
        token = csrf_from(c.get("/tokens").text)
        stale = []
        for i in range(60):
            lang = ("th", "vi")[i % 2]
            r = c.post("/language", data={"lang": lang, "next": "/tokens", "csrf_token": token}, follow_redirects=True)
            if f'<html lang="{lang}">' not in r.text:
                stale.append(i)
    assert not stale, f"{len(stale)} of 60 pages after POST /language showed the previous language"


def test_head_office_admin_goes_back_to_an_earlier_model_version(page_for, org, cfg) -> None:  # type: ignore[no-untyped-def]
    """On the Models page, "Use this version" asks first, then the version is in use (in Vietnamese here)."""
    from civicpulse.domain.listening.enrich import model_dir
    from civicpulse.nlp.model import active_version, list_versions

    older = next(v["version"] for v in list_versions("toxicity") if not v["active"])
    page = page_for()
    sign_in(page, org.email("root-admin"))
    switch_language(page, "vi")
    page.goto("/listening/models")
    form = page.locator(f"form[action='/listening/models/use']:has(input[name=version][value='{older}'])"
                        ":has(input[name=task][value=toxicity])")
    button = form.locator("button[type=submit]")
    assert button.inner_text().strip() == "Dùng phiên bản này"
    assert page.locator(f"td:has(code:text-is('{older}')) .badge").count() == 0  # not in use yet
    asked: list[str] = []

    def answer(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    with page.expect_navigation():
        button.click()
    assert asked == ["Dùng phiên bản này cho mọi đơn vị từ bây giờ?"]
    assert "Đã đổi phiên bản mô hình đang dùng" in page.inner_text("main")
    assert active_version("toxicity", model_dir(cfg)) == older
    assert page.locator(f"td:has(input[name=task][value=toxicity]):has(code:text-is('{older}'))").count() == 0
    cell = page.locator(f"td:has(code:text-is('{older}'))").filter(has=page.locator(".badge"))
    assert cell.count() == 1 and cell.locator(".badge").inner_text().strip() == "đang dùng"
    assert not page.errors, page.errors


def test_a_retraining_started_in_the_browser_shows_its_progress_then_its_result(page_for, org, app,
                                                                                 monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Retrain on the Models page asks first; the card then follows the run by itself (HTMX polling):
    each step as it comes, with its progress bar, and the page reloads with the result when it ends."""
    from civicpulse.nlp import train as train_mod
    from civicpulse.nlp.model import ModelVersion

    steps = [threading.Event() for _ in range(2)]

    def retrain(task, data_dir, corrections, out_dir, *, version=None, progress=None):  # type: ignore[no-untyped-def]
        progress("fit", 0.5)
        assert steps[0].wait(60)
        progress("compare with the active version", 0.25)
        assert steps[1].wait(60)
        scores = {"civic_own": {"n": 100, "micro_f1": 0.81, "macro_f1": 0.7}}
        return None, ModelVersion(task=task, version="vbrowser", path=out_dir, labels=[], features={},
                                  scores={"default": scores}, activated=True, previous_active="v3",
                                  comparison={"active": {"version": "v3", "selection_score": 0.7866,
                                                         "scores": {"civic_own": {"n": 100, "micro_f1": 0.8}}},
                                              "new": {"selection_score": 0.7901}})

    monkeypatch.setattr(train_mod, "check_training_sets", lambda *a, **k: None)  # (the data check: tests/nlp)
    monkeypatch.setattr(train_mod, "retrain", retrain)
    page = page_for()
    sign_in(page, org.email("root-admin"))
    page.goto("/listening/models")
    page.select_option("#training select[name=task]", "voice")
    page.on("dialog", lambda d: d.accept())
    try:
        with page.expect_navigation():
            page.click("#training button[type=submit]")
        card = page.locator("#training")
        card.get_by_text("Fitting the model", exact=True).wait_for()
        assert card.locator("progress").get_attribute("value") == "0.500"
        assert card.locator("form[action='/listening/models/train'] button").is_disabled()  # one retraining at a time
        steps[0].set()
        card.get_by_text("Comparing with the version in use", exact=True).wait_for()  # the card followed by itself
        assert card.locator("progress").get_attribute("value") == "0.250"
        steps[1].set()
        page.locator("#training .badge", has_text="now in use").wait_for()  # reloaded with the result
    finally:
        for e in steps:
            e.set()
    assert app.state.jobs.join(timeout=30)
    text = " ".join(page.inner_text("#training").split())
    assert "finished" in text and "v3 0.7866 → vbrowser 0.7901" in text and "civic_own (n=100): 0.800 → 0.810" in text
    assert not page.locator("#training[hx-trigger]").count()  # no longer polled
    assert not page.errors, page.errors


def test_a_retraining_cancelled_in_the_browser_stops_and_says_so(page_for, org, app,
                                                                 monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Cancel asks first; the run stops at its next progress report, and the card (still following it) ends
    as cancelled, naming who cancelled it; Retrain can be pressed again."""
    from civicpulse.nlp import train as train_mod

    went_on = threading.Event()

    def retrain(task, data_dir, corrections, out_dir, *, version=None, progress=None):  # type: ignore[no-untyped-def]
        for i in range(600):  # a long fit reporting as it goes
            progress("fit", i / 600)
            time.sleep(0.05)
        went_on.set()
        raise AssertionError("not cancelled")

    monkeypatch.setattr(train_mod, "check_training_sets", lambda *a, **k: None)
    monkeypatch.setattr(train_mod, "retrain", retrain)
    page = page_for()
    sign_in(page, org.email("root-admin"))
    page.goto("/listening/models")
    page.on("dialog", lambda d: d.accept())
    with page.expect_navigation():
        page.click("#training form[action='/listening/models/train'] button")
    card = page.locator("#training")
    card.get_by_text("Fitting the model", exact=True).wait_for()
    with page.expect_navigation():
        card.get_by_role("button", name="Cancel").click()
    page.locator("#training .badge", has_text="cancelled").wait_for(timeout=20_000)
    assert app.state.jobs.join(timeout=30) and not went_on.is_set()
    text = " ".join(page.inner_text("#training").split())
    assert "Cancelled by" in text and "Nothing was changed" in text
    assert card.locator("form[action='/listening/models/train'] button").is_enabled()
    assert not page.locator("#training[hx-trigger]").count()
    assert not page.errors, page.errors
