"""The email newsletter through a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from civicpulse.connectors.base import ConnectorError, MediaRef, PublishRequest
from civicpulse.connectors.newsletter import NewsletterConnector
from fakes.helpers import FakeClock


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Any]] = []
        self.refuse: set[str] = set()
        self.busy = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        if self.busy:
            return "451 4.3.0 try again later"
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default)))
        return "250 OK"


def _auth(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"news" and auth_data.password == b"pw"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=_auth, auth_require_tls=False,
                            auth_exclude_mechanism=["LOGIN"])
    controller.start()
    yield inbox, port
    controller.stop()


def make(port: int, **cfg: Any) -> NewsletterConnector:
    return NewsletterConnector({"smtp_host": "127.0.0.1", "smtp_port": port, "security": "none", "username": "news",
                                "password": "pw", "from_address": "PR Office <news@pr.go.th>",
                                "recipients": ["a@example.org", "b@example.org"],
                                "unsubscribe_url": "https://pr.go.th/unsubscribe?email={email}",
                                "unsubscribe_mailto": "unsubscribe@pr.go.th", "list_id": "news.pr.go.th",
                                "timeout": 5, **cfg})


def test_each_subscriber_gets_a_copy_with_one_click_unsubscribe(smtp_server: tuple[Inbox, int],
                                                                 tmp_path: Path) -> None:
    inbox, port = smtp_server
    img = tmp_path / "poster.png"
    img.write_bytes(b"\x89PNG data")
    req = PublishRequest("variant-5", "น้ำท่วม <ด่วน>\n\nโปรดติดตามประกาศ", title="ประกาศเตือนภัย",
                         link="https://pr.go.th/5", language="th",
                         media=[MediaRef(str(img), "image/png", 9, alt_text="poster")])
    pub = make(port).publish(req)
    assert pub.raw["sent"] == 2 and pub.raw["refused"] == {}
    assert [rcpt for rcpt, _ in inbox.messages] == [["a@example.org"], ["b@example.org"]]
    msg = inbox.messages[0][1]
    assert msg["List-Unsubscribe"] == ("<https://pr.go.th/unsubscribe?email=a%40example.org>, "
                                       "<mailto:unsubscribe@pr.go.th?subject=unsubscribe>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and msg["List-Id"] == "news.pr.go.th"
    assert str(msg["Subject"]) == "ประกาศเตือนภัย" and msg["Content-Language"] == "th"
    parts = {p.get_content_type(): p for p in msg.walk()}
    html = parts["text/html"].get_payload(decode=True).decode()
    assert "&lt;ด่วน&gt;" in html and 'href="https://pr.go.th/5"' in html and 'lang="th"' in html
    assert "image/png" in parts
    # the Message-ID is stable per key and address, so a repeat is recognisable
    first_ids = [m["Message-ID"] for _, m in inbox.messages]
    make(port).publish(req)
    assert [m["Message-ID"] for _, m in inbox.messages[2:]] == first_ids and len(set(first_ids)) == 2


def test_refused_addresses_are_listed_and_all_refused_fails(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    inbox.refuse = {"b@example.org"}
    pub = make(port).publish(PublishRequest("k", "hello", title="Hi"))
    assert pub.raw["sent"] == 1 and "550" in pub.raw["refused"]["b@example.org"]
    inbox.refuse = {"a@example.org", "b@example.org"}
    with pytest.raises(ConnectorError) as ei:
        make(port).publish(PublishRequest("k2", "hello", title="Hi"))
    assert ei.value.kind == "permanent"


def test_bad_password_unreachable_server_and_health(smtp_server: tuple[Inbox, int]) -> None:
    _, port = smtp_server
    with pytest.raises(ConnectorError) as ei:
        make(port, password="wrong").publish(PublishRequest("k", "t", title="t"))
    assert ei.value.kind == "auth" and "535" in (ei.value.platform_message or "")
    assert make(port).health().ok
    bad = make(port, password="wrong").health()
    assert not bad.ok and "password" in bad.message
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(ConnectorError) as ei2:
        make(closed).publish(PublishRequest("k", "t", title="t"))
    assert ei2.value.kind == "transient"


def test_sending_is_paced_and_busy_servers_are_transient(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    clock = FakeClock()
    conn = NewsletterConnector({**make(port).config, "per_minute": 2,
                                "recipients": [f"s{i}@example.org" for i in range(4)]},
                               clock=clock.clock, sleep=clock.sleep)
    assert conn.publish(PublishRequest("k", "paced", title="t")).raw["sent"] == 4
    assert clock.sleeps == [pytest.approx(30.0), pytest.approx(30.0)]  # 2 per minute: the 3rd and 4th wait
    inbox.busy = True
    with pytest.raises(ConnectorError) as ei:
        make(port).publish(PublishRequest("k2", "t", title="t"))
    assert ei.value.kind == "transient" and "451" in (ei.value.platform_message or "")
