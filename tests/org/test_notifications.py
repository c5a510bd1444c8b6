"""In-app notifications with email copies: who sees what, read state, the bell, the live stream, the API."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from civicpulse.domain.org import notifications, services
from civicpulse.domain.org.models import AuditEntry, Notification, Unit, User
from civicpulse.domain.org.permissions import Actor
from tests.conftest import login


def _actor(s, org, key: str) -> Actor:  # type: ignore[no-untyped-def]
    return services.actor_for(s, s.get(User, org.users[key]), via="ui")


def _titles(s, actor: Actor) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(n.title for n, _ in notifications.for_actor(s, actor))


def test_unit_notifications_reach_the_people_of_that_unit_only(db, org, cfg):  # type: ignore[no-untyped-def]
    with db.session() as s:
        a = s.get(Unit, org.units["A"])
        notifications.notify(s, cfg, units=[a], kind="test", title="for A", email=False)
        notifications.notify(s, cfg, units=[s.get(Unit, org.units["A1"])], kind="test", title="for A1 and up",
                             include_ancestors=True, email=False)
    with db.session() as s:
        assert _titles(s, _actor(s, org, "viewer@A")) == ["for A", "for A1 and up"]
        # a role on R covering the subtree does not flood R's people with every unit's messages ...
        assert _titles(s, _actor(s, org, "root-admin")) == ["for A1 and up"]  # ... but copies sent up arrive
        assert _titles(s, _actor(s, org, "admin@B")) == []
        units = {n.unit_id for n in s.scalars(select(Notification).where(Notification.title == "for A1 and up"))}
        assert units == {org.units["A1"], org.units["A"], org.units["R"]}


def test_personal_notifications_are_seen_by_that_person_only(db, org, cfg):  # type: ignore[no-untyped-def]
    with db.session() as s:
        editor = s.get(User, org.users["editor@A"])
        notifications.notify(s, cfg, units=[s.get(Unit, org.units["A"])], users=[editor], kind="post_failed",
                             title="your post failed", email=False)
    with db.session() as s:
        assert "your post failed" in _titles(s, _actor(s, org, "editor@A"))
        assert "your post failed" in _titles(s, _actor(s, org, "viewer@A"))  # the unit copy
        n_personal = s.scalars(select(Notification).where(Notification.user_id.is_not(None))).one()
        assert n_personal.user_id == org.users["editor@A"]
        viewer = _actor(s, org, "viewer@A")
        assert n_personal.id not in {n.id for n, _ in notifications.for_actor(s, viewer)}


def test_notify_needs_a_recipient(db, cfg):  # type: ignore[no-untyped-def]
    with db.session() as s, pytest.raises(ValueError):
        notifications.notify(s, cfg, kind="x", title="nobody")


def test_emails_go_to_the_unit_contact_and_the_person(db, org, cfg, smtp):  # type: ignore[no-untyped-def]
    with db.session() as s:
        a = s.get(Unit, org.units["A"])
        a.contact_email = "press.a@gov.example"
        editor = s.get(User, org.users["editor@A"])
        out = notifications.notify(s, cfg, units=[a], users=[editor], kind="alert", title="Spike in complaints",
                                   body="42 items in one hour", link="/alerts/1")
        assert [n.email_status for n in out] == ["sent", "sent"]
    assert len(smtp.to("press.a@gov.example")) == 1
    msg = smtp.to(editor.email)[0]
    assert msg["Subject"] == "[civicpulse] Spike in complaints"
    assert "42 items in one hour" in msg.get_payload() and "/alerts/1" in msg.get_payload()


def test_a_mail_failure_keeps_the_notification_and_says_why(db, org, cfg):  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        cfg.smtp_host, cfg.smtp_port = "127.0.0.1", sock.getsockname()[1]  # nothing listens there
    with db.session() as s:
        a = s.get(Unit, org.units["A"])
        a.contact_email = "press.a@gov.example"
        (n,) = notifications.notify(s, cfg, units=[a], kind="alert", title="still here")
    with db.session() as s:
        n = s.get(Notification, n.id)
        assert n.email_status == "failed" and "127.0.0.1" in (n.email_error or "")
        assert "still here" in _titles(s, _actor(s, org, "viewer@A"))


def test_read_state_is_per_person_and_audited(db, org, cfg):  # type: ignore[no-untyped-def]
    with db.session() as s:
        a = s.get(Unit, org.units["A"])
        first, second = (notifications.notify(s, cfg, units=[a], kind="t", title=t, email=False)[0]
                         for t in ("one", "two"))
    with db.session() as s:
        viewer, editor = _actor(s, org, "viewer@A"), _actor(s, org, "editor@A")
        assert notifications.unread_count(s, viewer) == 2
        assert notifications.mark_read(s, viewer, [first.id]) == 1
        assert notifications.mark_read(s, viewer, [first.id]) == 0  # already read
        assert notifications.unread_count(s, viewer) == 1
        assert notifications.unread_count(s, editor) == 2
        assert [t for n, r in notifications.for_actor(s, viewer, unread_only=True) for t in [n.title]] == ["two"]
        assert notifications.mark_read(s, viewer) == 1
        assert notifications.unread_count(s, viewer) == 0
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "notification.read")).all()
        assert len(entries) == 2 and all(e.actor_id == org.users["viewer@A"] for e in entries)


def test_bell_page_and_mark_read_in_the_browser(client, db, org, cfg):  # type: ignore[no-untyped-def]
    with db.session() as s:
        notifications.notify(s, cfg, units=[s.get(Unit, org.units["A"])], kind="t",
                             title="<script>alert(1)</script> flood", link="/plans", email=False)
    csrf = login(client, org.email("viewer@A"))
    page = client.get("/notifications")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; flood" in page.text and "<script>alert(1)" not in page.text
    assert 'data-testid="bell"' in page.text
    r = client.get("/notifications/stream", params={"max_events": 1})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert "event: unread\ndata: 1\n\n" in r.text
    assert client.post("/notifications/read", data={"next": "/notifications"}).status_code == 403  # no CSRF
    r = client.post("/notifications/read", data={"csrf_token": csrf, "next": "//evil.example"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "event: unread\ndata: 0\n\n" in client.get("/notifications/stream", params={"max_events": 1}).text


def test_api_lists_and_marks_read(client, db, org, cfg, token_for):  # type: ignore[no-untyped-def]
    with db.session() as s:
        notifications.notify(s, cfg, units=[s.get(Unit, org.units["B"])], kind="t", title="for B", email=False)
    rw = {"Authorization": f"Bearer {token_for(org.users['admin@B'])}"}
    ro = {"Authorization": f"Bearer {token_for(org.users['admin@B'], scopes=('read',))}"}
    body = client.get("/api/v1/notifications", headers=ro).json()
    assert body["unread"] == 1 and body["items"][0]["title"] == "for B" and body["items"][0]["read"] is False
    assert client.post("/api/v1/notifications/read", headers=ro, json={}).status_code == 403
    assert client.post("/api/v1/notifications/read", headers=rw, json={}).json() == {"marked": 1}
    assert client.get("/api/v1/notifications", headers=rw).json()["unread"] == 0
    other = {"Authorization": f"Bearer {token_for(org.users['viewer@A'])}"}
    assert client.get("/api/v1/notifications", headers=other).json()["items"] == []


def test_dashboard_gathers_what_needs_attention(client, db, org, cfg):  # type: ignore[no-untyped-def]
    import re

    with db.session() as s:
        for title in ("one", "two"):
            notifications.notify(s, cfg, units=[s.get(Unit, org.units["A"])], kind="t", title=title, email=False)
    login(client, org.email("viewer@A"))
    page = client.get("/").text
    section = page[page.index('data-testid="attention"'):]
    unread = re.search(r'href="/notifications\?unread=true"><span class="num">(\d+)</span>', section)
    assert unread and unread.group(1) == "2"
    assert re.search(r'href="/alerts\?status=new"><span class="num">0</span>', section)
