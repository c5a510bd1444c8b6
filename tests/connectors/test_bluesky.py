"""Bluesky connector (AppView modes) against a local fake AppView."""

from __future__ import annotations

import json

import pytest

from civicpulse.connectors.base import ConnectorError
from civicpulse.connectors.bluesky import BlueskyConnector, jwt_expiry, web_url
from fakes.bluesky import FakeBlueskyAppView, fake_jwt
from fakes.helpers import FakeClock
from fakes.server import Reply


def make(srv: FakeBlueskyAppView, clock: FakeClock | None = None, **cfg: object) -> BlueskyConnector:
    clock = clock or FakeClock()
    return BlueskyConnector({"base_url": srv.url, "pds_url": srv.url, "allow_private": True, **cfg},
                            clock=clock.clock, sleep=clock.sleep, now=clock.now)


def test_web_url_mapping() -> None:
    assert web_url("at://did:plc:abc/app.bsky.feed.post/3kxyz") == "https://bsky.app/profile/did:plc:abc/post/3kxyz"
    assert web_url("at://did:plc:abc/app.bsky.feed.like/3kxyz") is None
    assert jwt_expiry(fake_jwt(1_900_000_000)).timestamp() == 1_900_000_000  # type: ignore[union-attr]


def test_search_pages_and_resumes_with_since(fake_bluesky: FakeBlueskyAppView) -> None:
    old = [fake_bluesky.post("ann.bsky.social", f"flood warning {i}", likes=i, reposts=1, quotes=2, replies=3)
           for i in range(3)]
    fake_bluesky.post("ann.bsky.social", "nothing relevant")
    res = make(fake_bluesky, mode="search", q="flood", limit=2).fetch(None)
    # first run: newest page only
    assert [i.text for i in res.items] == ["flood warning 2", "flood warning 1"]
    item = res.items[0]
    assert item.external_id == old[2]["uri"] and item.url == web_url(old[2]["uri"])
    assert item.author_handle == "ann.bsky.social" and item.author_name == "Ann"
    assert (item.likes, item.shares, item.comments, item.language) == (2, 3, 3, "en")
    call = fake_bluesky.calls("searchPosts")[0]
    assert call.arg("sort") == "latest" and call.arg("limit") == "2" and call.arg("since") is None
    cursor = json.loads(json.dumps(res.cursor))

    new = [fake_bluesky.post("bob.bsky.social", f"Flood relief {i}") for i in range(3)]
    res2 = make(fake_bluesky, mode="search", q="flood", limit=2).fetch(cursor)
    assert sorted(i.external_id for i in res2.items) == sorted(p["uri"] for p in new)
    calls = fake_bluesky.calls("searchPosts")[1:]
    assert calls[0].arg("since") == cursor["watermark"] and calls[1].arg("cursor") == "2"
    assert make(fake_bluesky, mode="search", q="flood").fetch(res2.cursor).items == []


def test_search_page_budget_keeps_pending_page(fake_bluesky: FakeBlueskyAppView) -> None:
    fake_bluesky.post("a.test", "flood 0")
    cur = make(fake_bluesky, mode="search", q="flood").fetch(None).cursor
    for i in range(1, 6):
        fake_bluesky.post("a.test", f"flood {i}")
    part = make(fake_bluesky, mode="search", q="flood", limit=2, max_pages=1).fetch(cur)
    assert [i.text for i in part.items] == ["flood 5", "flood 4"] and part.cursor["pending"]["page"] == "2"
    assert part.cursor["watermark"] == cur["watermark"]
    rest = make(fake_bluesky, mode="search", q="flood", limit=2, max_pages=5).fetch(part.cursor)
    assert [i.text for i in rest.items] == ["flood 3", "flood 2", "flood 1"]
    assert rest.cursor["pending"] is None and rest.cursor["watermark"] > cur["watermark"]


def test_author_feed_stops_at_watermark_and_skips_reposts(fake_bluesky: FakeBlueskyAppView) -> None:
    root = fake_bluesky.post("gov.test", "announcement")
    reply = fake_bluesky.post("gov.test", "clarification", reply_to=root["uri"], langs=("th",))
    fake_bluesky.feed_extra.append({"post": fake_bluesky.post("x.test", "someone else"),
                                    "reason": {"$type": "app.bsky.feed.defs#reasonRepost",
                                               "by": {"did": "did:plc:gov", "handle": "gov.test"},
                                               "indexedAt": "2025-05-02T00:00:00.000Z"}})
    res = make(fake_bluesky, mode="author", actor="gov.test").fetch(None)
    assert [i.text for i in res.items] == ["clarification", "announcement"]
    assert res.items[0].kind == "reply" and res.items[0].parent_external_id == root["uri"]
    assert res.items[0].thread_external_id == root["uri"] and res.items[0].language == "th"
    assert fake_bluesky.calls("getAuthorFeed")[0].arg("filter") == "posts_with_replies"
    fake_bluesky.post("gov.test", "update")
    res2 = make(fake_bluesky, mode="author", actor="gov.test", limit=1).fetch(res.cursor)
    assert [i.text for i in res2.items] == ["update"]
    assert reply["uri"] in res2.cursor["seen"]


@pytest.mark.parametrize(("status", "body", "headers", "kind"), [
    (400, {"error": "ExpiredToken", "message": "Token has expired"}, {}, "auth"),
    (401, {"error": "InvalidToken", "message": "Bad token"}, {}, "auth"),
    (429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
     {"ratelimit-limit": "3000", "ratelimit-remaining": "0", "ratelimit-reset": "1746100860"}, "rate_limited"),
    (400, {"error": "InvalidRequest", "message": "Bad query"}, {}, "permanent"),
    (502, {"error": "UpstreamFailure", "message": "Upstream Failure"}, {}, "transient"),
])
def test_error_kinds(fake_bluesky: FakeBlueskyAppView, status: int, body: dict, headers: dict, kind: str) -> None:
    fake_bluesky.inject("searchPosts", Reply(status, body, headers))
    with pytest.raises(ConnectorError) as ei:
        make(fake_bluesky, mode="search", q="x").fetch(None)  # wall clock 2025-05-01T12:00:00Z = 1746100800
    assert ei.value.kind == kind
    assert body["error"] in (ei.value.platform_message or "")
    if kind == "rate_limited":
        assert ei.value.retry_after == 60


def test_login_expired_token_relogin_and_health(fake_bluesky: FakeBlueskyAppView) -> None:
    fake_bluesky.post("a.test", "flood")
    conn = make(fake_bluesky, mode="search", q="flood", identifier="me.test", app_password=fake_bluesky.password)
    assert len(conn.fetch(None).items) == 1
    assert fake_bluesky.calls("searchPosts")[-1].bearer in fake_bluesky.valid_tokens
    fake_bluesky.inject("searchPosts", Reply(400, {"error": "ExpiredToken", "message": "Token has expired"}))
    conn.fetch(None)  # re-logs in once and retries
    assert len(fake_bluesky.calls("createSession")) == 2
    h = conn.health()
    assert h.ok and h.token_expires_at is not None and h.token_expires_at.timestamp() == fake_bluesky.access_exp
    bad = make(fake_bluesky, mode="search", q="flood", identifier="me.test", app_password="nope")
    h = bad.health()
    assert not h.ok and h.details["kind"] == "auth"


def test_unknown_author_is_permanent(fake_bluesky: FakeBlueskyAppView) -> None:
    with pytest.raises(ConnectorError) as ei:
        make(fake_bluesky, mode="author", actor="ghost.test").fetch(None)
    assert ei.value.kind == "permanent" and "ghost.test" in ei.value.message
