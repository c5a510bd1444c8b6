"""End to end through the API and the worker's dispatcher: the website channel (public page and Atom feed, read
with feedparser), the email newsletter through a real local SMTP server, and Mastodon through its local peer."""

from __future__ import annotations

import datetime as dt
import socket
import sys
import time
from pathlib import Path

import feedparser
import pytest
from aiosmtpd.controller import Controller

from civicpulse.domain.publishing import engine
from civicpulse.domain.publishing.models import Variant

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from fakes.mastodon import FakeMastodon  # noqa: E402


def H(token: str) -> dict[str, str]:  # noqa: N802
    return {"Authorization": f"Bearer {token}"}


def _now() -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()


def _publish_through_api(client, token_for, org, channel: dict, text: str, title: str = "Flood update") -> dict:  # type: ignore[no-untyped-def]
    editor, approver = token_for(org.users["editor@A"]), token_for(org.users["approver@A"])
    r = client.post("/api/v1/posts", headers=H(editor), json={
        "unit_id": org.units["A"], "title": title, "texts": {"en": text},
        "variants": [{"channel_id": channel["id"], "scheduled_at": _now()}]})
    assert r.status_code == 201, r.text
    post = r.json()
    assert post["variants"][0]["state"] == "draft"
    r = client.post(f"/api/v1/posts/{post['id']}/submit", headers=H(editor), json={"comment": "please check"})
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/posts/{post['id']}/approve", headers=H(approver), json={"comment": "ok"})
    assert r.status_code == 200 and r.json()["variants"][0]["state"] == "scheduled", r.text
    return post


def test_website_channel_public_page_and_feed(client, token_for, org, db, cfg):
    admin = token_for(org.users["admin@A"])
    r = client.post("/api/v1/channels", headers=H(admin), json={
        "unit_id": org.units["A"], "platform": "website", "name": "News page"})
    assert r.status_code == 201, r.text
    ch = r.json()
    assert ch["public_url"].endswith("/u/A/news")
    post = _publish_through_api(client, token_for, org, ch, "Water levels are falling.\n\n<script>alert(1)</script>",
                                title="Flood update <b>3</b>")
    stats = engine.dispatch_due(db, cfg)
    assert stats.outcomes["published"] == 1
    v = client.get(f"/api/v1/posts/{post['id']}", headers=H(admin)).json()["variants"][0]
    assert v["state"] == "published" and v["external_url"].endswith("/u/A/news#post-1")

    anon = client.__class__(client.app)
    page = anon.get("/u/A/news")
    assert page.status_code == 200
    assert "Water levels are falling." in page.text
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    feed = anon.get("/u/A/feed.xml")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(feed.content)
    assert not parsed.bozo, parsed.bozo_exception
    (entry,) = parsed.entries
    assert entry.title == "Flood update <b>3</b>"
    assert "Water levels are falling." in entry.content[0].value
    assert anon.get("/u/B/news").status_code == 404  # no website channel there
    assert engine.dispatch_due(db, cfg).due == 0
    assert len(feedparser.parse(anon.get("/u/A/feed.xml").content).entries) == 1


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def test_newsletter_through_a_real_local_smtp_server(client, token_for, org, db, cfg):
    inbox = _Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        admin = token_for(org.users["admin@A"])
        r = client.post("/api/v1/channels", headers=H(admin), json={
            "unit_id": org.units["A"], "platform": "newsletter", "name": "Weekly newsletter",
            "config": {"smtp_host": "127.0.0.1", "smtp_port": port,
                       "security": "none", "from_address": "news@a.example",
                       "recipients": ["one@example.org", "two@example.org"], "timeout": 5}})
        assert r.status_code == 201, r.text
        _publish_through_api(client, token_for, org, r.json(), "Vaccination week starts Monday.")
        assert engine.dispatch_due(db, cfg).outcomes["published"] == 1
        deadline = time.monotonic() + 5
        while len(inbox.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        rcpts = sorted(r for _f, rs, _b in inbox.messages for r in rs)
        assert rcpts == ["one@example.org", "two@example.org"]
        assert all(b"Vaccination week starts Monday." in body for _f, _r, body in inbox.messages)
        with db.session() as s:
            (v,) = s.query(Variant).all()
            assert v.state == "published"
    finally:
        smtp.stop()


@pytest.fixture
def mastodon():  # type: ignore[no-untyped-def]
    srv = FakeMastodon().start()
    srv.user_token("user-token")
    yield srv
    srv.stop()


def test_mastodon_connector_publishes_once_and_reconciles(client, token_for, org, db, cfg, mastodon):
    admin = token_for(org.users["admin@A"])
    r = client.post("/api/v1/channels", headers=H(admin), json={
        "unit_id": org.units["A"], "platform": "mastodon", "name": "Mastodon",
        "config": {"instance_url": mastodon.url, "allow_private": True, "timeout": 2},
        "secrets": {"access_token": "user-token"}})
    assert r.status_code == 201, r.text
    assert "user-token" not in r.text and r.json()["secret_fields"] == ["access_token"]
    _publish_through_api(client, token_for, org, r.json(), "ประกาศ: ระดับน้ำลดลงแล้ว")
    with db.session() as s:
        (v,) = s.query(Variant).all()
    c = engine.claim(db, cfg, v.id, engine.EngineOptions())  # a worker claims, posts, and dies
    assert isinstance(c, engine.Claim)
    engine.connector_for(db, cfg, c.channel_id).publish(c.request)
    with db.session() as s:
        s.get(Variant, v.id).next_attempt_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert engine.dispatch_due(db, cfg).outcomes["reconciled"] == 1
    own = mastodon.own_statuses("user-token")
    assert len(own) == 1
    with db.session() as s:
        v2 = s.get(Variant, v.id)
        assert v2.state == "published" and v2.external_id == own[0]["id"]
