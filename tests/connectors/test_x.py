"""X API v2 recent-search connector against a local fake."""

from __future__ import annotations

import json

import pytest

from civicpulse.connectors.base import ConnectorError
from civicpulse.connectors.x import XConnector
from fakes.helpers import FakeClock
from fakes.server import Reply
from fakes.x import FakeX, problem


def make(srv: FakeX, clock: FakeClock | None = None, **cfg: object) -> XConnector:
    clock = clock or FakeClock()
    base = {"query": "น้ำท่วม -is:retweet", "bearer_token": "x-bearer", "base_url": srv.url, "allow_private": True}
    return XConnector({**base, **cfg}, clock=clock.clock, sleep=clock.sleep, now=clock.now)


def test_search_fields_paging_and_since_id_resume(fake_x: FakeX) -> None:
    u = fake_x.user("pr_gov", "PR Gov", followers=1200)
    root = fake_x.tweet(u, "น้ำท่วม ถนนสาย 7", likes=5, retweets=2, quotes=1, replies=1)
    reply = fake_x.tweet(u, "น้ำท่วม ลดลงแล้ว", reply_to=root["id"])
    fake_x.tweet(u, "ไม่เกี่ยว")
    res = make(fake_x).fetch(None)
    assert [i.external_id for i in res.items] == [reply["id"], root["id"]]
    first = res.items[1]
    assert first.author_handle == "pr_gov" and first.author_name == "PR Gov" and first.author_followers == 1200
    assert (first.likes, first.shares, first.comments, first.views) == (5, 3, 1, 10)
    assert first.url == f"https://x.com/pr_gov/status/{root['id']}" and first.language == "th"
    assert res.items[0].kind == "reply" and res.items[0].parent_external_id == root["id"]
    assert res.items[0].thread_external_id == root["id"]
    call = fake_x.calls("search/recent")[0]
    assert call.bearer == "x-bearer" and call.arg("expansions") == "author_id" and call.arg("max_results") == "100"
    assert call.arg("tweet.fields") == "created_at,public_metrics,author_id,lang,conversation_id,referenced_tweets"
    assert call.arg("user.fields") == "username,name,public_metrics"
    cursor = json.loads(json.dumps(res.cursor))

    new = [fake_x.tweet(u, f"น้ำท่วม {i}") for i in range(25)]
    res2 = make(fake_x, max_results=10).fetch(cursor)
    assert [i.external_id for i in res2.items] == [t["id"] for t in reversed(new)]
    calls = fake_x.calls("search/recent")[1:]
    assert [c.arg("since_id") for c in calls] == [reply["id"]] * 3
    assert [c.arg("next_token") for c in calls] == [None, "n10", "n20"]
    assert make(fake_x).fetch(res2.cursor).items == []


def test_pending_next_token_survives_restart(fake_x: FakeX) -> None:
    u = fake_x.user("a", "A")
    fake_x.tweet(u, "น้ำท่วม old")
    cur = make(fake_x).fetch(None).cursor
    new = [fake_x.tweet(u, f"น้ำท่วม {i}") for i in range(15)]
    part = make(fake_x, max_results=10, max_pages=1).fetch(cur)
    assert len(part.items) == 10 and part.cursor["pending"]["page"] == "n10"
    rest = make(fake_x, max_results=10).fetch(json.loads(json.dumps(part.cursor)))
    assert [i.external_id for i in rest.items] == [t["id"] for t in reversed(new[:5])]
    assert fake_x.calls("search/recent")[-1].arg("since_id") == fake_x.calls("search/recent")[-2].arg("since_id")
    assert rest.cursor["pending"] is None and rest.cursor["watermark"].lstrip("0") == new[-1]["id"]


@pytest.mark.parametrize(("reply", "kind", "words"), [
    (problem(401, "Unauthorized", "Unauthorized"), "auth", "bearer token"),
    (problem(403, "Client Forbidden", "When authenticating requests to the Twitter API v2 endpoints, you must use "
             "keys and tokens from a Twitter developer App that is attached to a Project.",
             "https://api.twitter.com/2/problems/client-forbidden", reason="client-not-enrolled"), "auth", "Project"),
    (Reply(429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
           {"x-rate-limit-limit": "60", "x-rate-limit-remaining": "0", "x-rate-limit-reset": "1746101700"}),
     "rate_limited", "Waiting 900 s"),
    (problem(429, "UsageCapExceeded", "Usage cap exceeded: Monthly product cap",
             "https://api.twitter.com/2/problems/usage-capped"), "rate_limited", "monthly usage cap"),
    (problem(503, "Service Unavailable", "Service Unavailable"), "transient", "temporary problem"),
])
def test_error_kinds(fake_x: FakeX, reply: Reply, kind: str, words: str) -> None:
    fake_x.inject("search/recent", reply)
    with pytest.raises(ConnectorError) as ei:
        make(fake_x).fetch(None)
    assert ei.value.kind == kind and words in ei.value.message


def test_invalid_request_body_from_fake(fake_x: FakeX) -> None:
    conn = make(fake_x)
    conn.max_results = 5  # bypass clamping to exercise the server's 400 body
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(None)
    assert ei.value.kind == "permanent" and "not between 10 and 100" in ei.value.message


def test_rate_headers_make_limiter_wait(fake_x: FakeX) -> None:
    fake_x.remaining = 1  # next answer: remaining 0, reset in 30 s
    fake_x.reset = 1_746_100_830
    clock = FakeClock()
    conn = make(fake_x, clock)
    conn.fetch(None)
    conn.fetch(None)
    assert clock.sleeps == [30.0]
    fake_x.remaining = 1
    fake_x.reset = 1_746_100_800 + 3600  # an hour away: too long to sleep → rate_limited
    conn.fetch(None)
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(None)
    assert ei.value.kind == "rate_limited" and ei.value.retry_after is not None and 3500 < ei.value.retry_after <= 3570


def test_health(fake_x: FakeX) -> None:
    assert make(fake_x).health().ok
    h = make(fake_x, bearer_token="nope").health()
    assert not h.ok and h.details["kind"] == "auth"
