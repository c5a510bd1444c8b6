"""Mastodon connector against a local fake Mastodon server."""

from __future__ import annotations

import json

import pytest

from civicpulse.connectors.base import ConnectorError
from civicpulse.connectors.mastodon import MastodonConnector
from fakes.helpers import FakeClock
from fakes.mastodon import FakeMastodon
from fakes.server import Reply


def make(srv: FakeMastodon, clock: FakeClock | None = None, **cfg: object) -> MastodonConnector:
    clock = clock or FakeClock()
    return MastodonConnector({"instance_url": srv.url, "allow_private": True, **cfg},
                             clock=clock.clock, sleep=clock.sleep, now=clock.now)


def test_hashtag_timeline_pagination_and_resume(fake_mastodon: FakeMastodon) -> None:
    alice = fake_mastodon.add_account("alice", display_name="Alice", followers=42)
    first_batch = [fake_mastodon.post(alice, f"<p>Flood #{i} <a href='x'>#flood</a></p>", tags=("flood",),
                                      favourites=i) for i in range(3)]
    fake_mastodon.post(alice, "<p>unrelated</p>", tags=("cats",))
    res = make(fake_mastodon, hashtag="#Flood", limit=2).fetch(None)
    # first run: newest page only
    assert [i.external_id for i in res.items] == [first_batch[1]["id"], first_batch[2]["id"]]
    assert res.cursor["min_id"] == first_batch[2]["id"]
    item = res.items[0]
    assert item.text == "Flood #1 #flood" and item.author_handle == "alice" and item.author_name == "Alice"
    assert item.author_followers == 42 and item.likes == 1 and item.url.endswith(first_batch[1]["id"])
    assert item.published_at is not None and item.published_at.tzinfo is not None and item.language == "en"
    cursor = json.loads(json.dumps(res.cursor))

    # five new posts arrive; a fresh connector ("restart") pages forward with min_id, 2 at a time
    new = [fake_mastodon.post(alice, f"<p>more {i}</p>", tags=("flood",)) for i in range(5)]
    res2 = make(fake_mastodon, hashtag="flood", limit=2).fetch(cursor)
    assert [i.external_id for i in res2.items] == [s["id"] for s in new]
    calls = fake_mastodon.calls(r"/timelines/tag/flood$")
    assert [c.arg("min_id") for c in calls[-3:]] == [first_batch[2]["id"], new[1]["id"], new[3]["id"]]
    assert res2.cursor["min_id"] == new[-1]["id"]
    assert make(fake_mastodon, hashtag="flood").fetch(res2.cursor).items == []


def test_public_timeline_reply_and_reblog_mapping(fake_mastodon: FakeMastodon) -> None:
    bob = fake_mastodon.add_account("bob", domain="other.example")
    root = fake_mastodon.post(bob, "<p>Root<br>line two</p>", replies=1)
    reply = fake_mastodon.post(bob, "<p>a reply</p>", in_reply_to_id=root["id"])
    fake_mastodon.post(bob, "", reblog_of=root)
    items = make(fake_mastodon, mode="public").fetch(None).items
    assert [i.external_id for i in items] == [root["id"], reply["id"]]  # boost skipped
    assert items[0].text == "Root\nline two" and items[0].comments == 1
    assert items[1].kind == "reply" and items[1].parent_external_id == root["id"]
    assert items[0].author_handle == "bob@other.example"


def test_account_timeline_uses_lookup(fake_mastodon: FakeMastodon) -> None:
    gov = fake_mastodon.add_account("prgov")
    other = fake_mastodon.add_account("other")
    mine = fake_mastodon.post(gov, "<p>announcement</p>")
    fake_mastodon.post(other, "<p>noise</p>")
    res = make(fake_mastodon, mode="account", account="@prgov").fetch(None)
    assert [i.external_id for i in res.items] == [mine["id"]] and res.cursor["account_id"] == gov["id"]
    assert fake_mastodon.calls("/accounts/lookup")[0].arg("acct") == "prgov"
    make(fake_mastodon, mode="account", account="prgov").fetch(res.cursor)
    assert len(fake_mastodon.calls("/accounts/lookup")) == 1  # id kept in cursor
    with pytest.raises(ConnectorError) as ei:
        make(fake_mastodon, mode="account", account="ghost").fetch(None)
    assert ei.value.kind == "permanent" and "@ghost was not found" in ei.value.message


def test_bearer_token_and_auth_errors(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.require_token = True
    with pytest.raises(ConnectorError) as ei:
        make(fake_mastodon, mode="public").fetch(None)
    assert ei.value.kind == "auth" and "add an access token" in ei.value.message
    with pytest.raises(ConnectorError) as ei:
        make(fake_mastodon, mode="public", access_token="stale").fetch(None)
    assert ei.value.kind == "auth" and ei.value.platform_message == "The access token is invalid"
    make(fake_mastodon, mode="public", access_token="good-token").fetch(None)
    assert fake_mastodon.requests[-1].headers["authorization"] == "Bearer good-token"


def test_429_maps_to_rate_limited_with_reset(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.inject("/timelines/public", FakeMastodon.too_many())
    clock = FakeClock()  # wall clock 2025-05-01T12:00:00Z; reset at 12:05
    with pytest.raises(ConnectorError) as ei:
        make(fake_mastodon, clock, mode="public").fetch(None)
    assert ei.value.kind == "rate_limited" and ei.value.retry_after == 300


def test_remaining_zero_header_makes_limiter_sleep(fake_mastodon: FakeMastodon) -> None:
    alice = fake_mastodon.add_account("alice")
    fake_mastodon.post(alice, "<p>x</p>")
    fake_mastodon.rate_remaining = 1  # next answer says Remaining: 0, reset at 12:00:30
    fake_mastodon.rate_reset = "2025-05-01T12:00:30.000Z"
    clock = FakeClock()
    conn = make(fake_mastodon, clock, mode="public")
    conn.fetch(None)
    assert clock.sleeps == []
    conn.fetch(None)
    assert clock.sleeps == [30.0]


def test_declared_rate_limit_token_bucket(fake_mastodon: FakeMastodon) -> None:
    clock = FakeClock()
    conn = make(fake_mastodon, clock, mode="public")
    for _ in range(300):
        conn.limiter.acquire()
    assert clock.sleeps == []
    conn.limiter.acquire()
    assert clock.sleeps == [pytest.approx(1.0)]  # 300 per 300 s → one token per second


def test_health_v2_fallback_v1_and_token(fake_mastodon: FakeMastodon) -> None:
    h = make(fake_mastodon).health()
    assert h.ok and "Social Example" in h.message and h.details["api"] == 2
    fake_mastodon.inject("/api/v2/instance", Reply(404, {"error": "Record not found"}))
    h = make(fake_mastodon).health()
    assert h.ok and h.details["api"] == 1
    h = make(fake_mastodon, access_token="nope").health()
    assert not h.ok and h.details["kind"] == "auth"
    conn = make(fake_mastodon, mode="public")
    fake_mastodon.inject("/timelines/public", Reply(503, "<html>Maintenance</html>"))
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(None)
    assert ei.value.kind == "transient"
    h = conn.health()
    assert h.ok and "last collection failed" in h.message and h.details["last_error_kind"] == "transient"
