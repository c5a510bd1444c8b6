"""Password reset through a REAL SMTP server (aiosmtpd on 127.0.0.1): the link arrives by email, works
once, expires, and reveals nothing about which addresses exist."""

from __future__ import annotations

import datetime as dt
import email as email_lib
import re
import socket
import threading
from collections.abc import Iterator
from email import policy

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from civicpulse.domain.org import services
from civicpulse.domain.org.models import PasswordReset, WebSession
from tests.conftest import PASSWORD, csrf_from
from tests.org.support import World, audit_after, email, max_audit_id

NEW_PASSWORD = "a-brand-new-password"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email_lib.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        msg = email_lib.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(msg)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[email_lib.message.EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def mailbox(smtp: tuple[Mailbox, int]) -> Mailbox:
    box, _ = smtp
    with box.lock:
        box.messages.clear()
    return box


@pytest.fixture
def browser(w: World, smtp: tuple[Mailbox, int]) -> Iterator[TestClient]:
    from civicpulse.web.app import create_app

    cfg = w.cfg.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp[1], "password_reset_minutes": 30,
                                   "smtp_from": "civicpulse@example.org"})
    with TestClient(create_app(cfg, w.db)) as c:
        yield c


def ask_for_reset(browser: TestClient, address: str):  # type: ignore[no-untyped-def]
    page = browser.get("/password/forgot")
    assert page.status_code == 200
    return browser.post("/password/forgot", data={"email": address, "csrf_token": csrf_from(page.text)})


def link_in(mailbox: Mailbox, address: str) -> str:
    (msg,) = mailbox.to(address)
    assert msg["From"] == "civicpulse@example.org"
    assert "reset" in msg["Subject"].lower()
    body = msg.get_content()
    m = re.search(r"http://testserver(/password/reset/[A-Za-z0-9_\-]+)", body)
    assert m, body
    assert "30 minutes" in body
    return m.group(1)


def set_password(browser: TestClient, path: str, password: str, repeat: str | None = None):  # type: ignore[no-untyped-def]
    form = browser.get(path)
    assert form.status_code == 200
    return browser.post(path, data={"password": password, "password2": repeat if repeat is not None else password,
                                    "csrf_token": csrf_from(form.text)})


def can_sign_in(w: World, who: str, password: str) -> bool:
    c = w.anonymous()
    page = c.get("/login")
    r = c.post("/login", data={"email": email(who), "password": password, "csrf_token": csrf_from(page.text)},
               follow_redirects=False)
    return r.status_code == 303


def test_reset_by_email_link_then_sign_in(w: World, browser: TestClient, mailbox: Mailbox) -> None:
    address = email("editor@A")
    last = max_audit_id(w.db)
    r = ask_for_reset(browser, address)
    assert r.status_code == 200
    path = link_in(mailbox, address)
    r = set_password(browser, path, NEW_PASSWORD)
    assert r.status_code == 200
    assert "Sign in" in r.text
    assert can_sign_in(w, "editor@A", NEW_PASSWORD)
    assert not can_sign_in(w, "editor@A", PASSWORD)
    assert audit_after(w.db, last, "auth.reset_requested") and audit_after(w.db, last, "auth.password_reset")
    # the other browsers of that person were signed out (the world's signed-in editor)
    assert w.clients["editor@A"].get("/units", follow_redirects=False).status_code == 303
    # and the link is one-time
    r = set_password(browser, path, "yet-another-password")
    assert r.status_code == 422
    assert "already used" in r.text
    assert can_sign_in(w, "editor@A", NEW_PASSWORD)


def test_link_expires(w: World, browser: TestClient, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    address = email("viewer@A")
    ask_for_reset(browser, address)
    path = link_in(mailbox, address)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=31)
    monkeypatch.setattr(services, "utcnow", lambda: later)
    r = set_password(browser, path, NEW_PASSWORD)
    assert r.status_code == 422
    assert "expired" in r.text
    monkeypatch.undo()
    assert can_sign_in(w, "viewer@A", PASSWORD)


def test_link_still_works_just_before_expiry(w: World, browser: TestClient, mailbox: Mailbox,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    address = email("viewer@A")
    ask_for_reset(browser, address)
    path = link_in(mailbox, address)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=29)
    monkeypatch.setattr(services, "utcnow", lambda: later)
    assert set_password(browser, path, NEW_PASSWORD).status_code == 200


def test_a_newer_link_replaces_the_older_one(w: World, browser: TestClient, mailbox: Mailbox) -> None:
    address = email("viewer@A")
    ask_for_reset(browser, address)
    first = link_in(mailbox, address)
    mailbox.messages.clear()
    ask_for_reset(browser, address)
    second = link_in(mailbox, address)
    assert first != second
    assert set_password(browser, first, NEW_PASSWORD).status_code == 422
    assert set_password(browser, second, NEW_PASSWORD).status_code == 200


def _page_text(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html)


def test_unknown_address_gets_the_same_page_and_no_email(w: World, browser: TestClient, mailbox: Mailbox) -> None:
    known = ask_for_reset(browser, email("viewer@A"))
    unknown = ask_for_reset(browser, "nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    assert _page_text(known.text) == _page_text(unknown.text)
    assert mailbox.to("nobody@example.org") == []
    assert len(mailbox.to(email("viewer@A"))) == 1


def test_too_short_password_is_refused_and_the_link_stays_usable(w: World, browser: TestClient,
                                                                 mailbox: Mailbox) -> None:
    address = email("analyst@A")
    ask_for_reset(browser, address)
    path = link_in(mailbox, address)
    r = set_password(browser, path, "short")
    assert r.status_code == 422
    assert "at least 10 characters" in r.text
    r = set_password(browser, path, NEW_PASSWORD, repeat=NEW_PASSWORD + "x")
    assert r.status_code == 422
    assert can_sign_in(w, "analyst@A", PASSWORD)
    assert set_password(browser, path, NEW_PASSWORD).status_code == 200
    assert can_sign_in(w, "analyst@A", NEW_PASSWORD)


def test_forged_link_is_refused(w: World, browser: TestClient) -> None:
    r = set_password(browser, "/password/reset/not-a-real-token", NEW_PASSWORD)
    assert r.status_code == 422 and "invalid" in r.text


def test_only_the_hash_of_the_link_is_stored(w: World, browser: TestClient, mailbox: Mailbox) -> None:
    address = email("viewer@A")
    ask_for_reset(browser, address)
    raw = link_in(mailbox, address).rsplit("/", 1)[1]
    with w.db.session() as s:
        hashes = s.scalars(select(PasswordReset.token_hash)).all()
    assert raw not in hashes
    from civicpulse.domain.org.security import sha256

    assert sha256(raw) in hashes


def test_smtp_down_is_reported(w: World, smtp: tuple[Mailbox, int]) -> None:
    from civicpulse.web.app import create_app

    cfg = w.cfg.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": free_port()})
    with TestClient(create_app(cfg, w.db)) as c:
        r = ask_for_reset(c, email("viewer@A"))
    assert r.status_code == 503
    assert "could not be sent" in r.text


def test_reset_signs_out_every_session(w: World, browser: TestClient, mailbox: Mailbox) -> None:
    with w.db.session() as s:
        assert s.scalars(select(WebSession).where(WebSession.user_id == w.users["approver@A"])).all()
    ask_for_reset(browser, email("approver@A"))
    set_password(browser, link_in(mailbox, email("approver@A")), NEW_PASSWORD)
    with w.db.session() as s:
        assert s.scalars(select(WebSession).where(WebSession.user_id == w.users["approver@A"])).all() == []
