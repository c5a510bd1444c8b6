"""YouTube connector against a local fake Data API v3."""

from __future__ import annotations

import json

import pytest

from civicpulse.connectors.base import ConnectorError
from civicpulse.connectors.youtube import YouTubeConnector
from fakes.helpers import FakeClock
from fakes.server import Reply
from fakes.youtube import FakeYouTube, google_error


def make(srv: FakeYouTube, clock: FakeClock | None = None, **cfg: object) -> YouTubeConnector:
    clock = clock or FakeClock()
    base = {"api_key": "good-key", "video_id": "vid123", "base_url": srv.base_url, "allow_private": True}
    return YouTubeConnector({**base, **cfg}, clock=clock.clock, sleep=clock.sleep, now=clock.now)


def test_threads_replies_paging_resume_and_quota(fake_youtube: FakeYouTube) -> None:
    t1 = fake_youtube.thread("vid123", "น้ำท่วมที่ไหนบ้าง", likes=4)
    r1 = fake_youtube.reply(t1, "ดูประกาศจังหวัด")
    fake_youtube.thread("vid123", "second")
    res = make(fake_youtube).fetch(None)
    assert [i.text for i in res.items] == ["second", "น้ำท่วมที่ไหนบ้าง", "ดูประกาศจังหวัด"]
    top = res.items[1]
    assert top.kind == "comment" and top.likes == 4 and top.comments == 1 and top.parent_external_id == "vid123"
    assert top.url == f"https://www.youtube.com/watch?v=vid123&lc={t1['id']}" and top.author_handle == "@citizen"
    reply = res.items[2]
    assert reply.kind == "reply" and reply.parent_external_id == t1["id"] and reply.thread_external_id == t1["id"]
    assert reply.external_id == r1["id"]
    call = fake_youtube.calls("commentThreads")[0]
    assert (call.arg("part"), call.arg("maxResults"), call.arg("videoId"), call.arg("key")) == \
        ("snippet,replies", "100", "vid123", "good-key")
    assert res.cursor["quota"] == {"day": "2025-05-01", "used": 1}
    cursor = json.loads(json.dumps(res.cursor))

    new = [fake_youtube.thread("vid123", f"new {i}") for i in range(250)]
    res2 = make(fake_youtube).fetch(cursor)
    assert [i.external_id for i in res2.items] == [t["id"] for t in reversed(new)]
    assert [c.arg("pageToken") for c in fake_youtube.calls("commentThreads")[1:]] == [None, "P100", "P200"]
    assert res2.cursor["quota"]["used"] == 4
    assert make(fake_youtube).fetch(res2.cursor).items == []


def test_page_budget_and_daily_quota_stop(fake_youtube: FakeYouTube) -> None:
    fake_youtube.thread("vid123", "old")
    cur = make(fake_youtube).fetch(None).cursor
    for i in range(300):
        fake_youtube.thread("vid123", f"n{i}")
    cur["quota"]["used"] = 9_998  # two units left today
    part = make(fake_youtube).fetch(cur)
    assert len(part.items) == 200 and part.cursor["pending"]["page"] == "P200"
    assert part.cursor["quota"]["used"] == 10_000
    with pytest.raises(ConnectorError) as ei:
        make(fake_youtube).fetch(part.cursor)
    assert ei.value.kind == "rate_limited" and "midnight Pacific" in ei.value.message
    # 12:00 UTC on 1 May = 05:00 PDT → 19 h to the Pacific midnight reset
    assert ei.value.retry_after == 19 * 3600
    # next (Pacific) day the pending pages are finished first
    nextday = FakeClock()
    nextday.t += 20 * 3600
    rest = make(fake_youtube, nextday).fetch(part.cursor)
    assert len(rest.items) == 100 and rest.cursor["pending"] is None
    assert rest.cursor["quota"] == {"day": "2025-05-02", "used": 2}


def test_fetch_all_replies_uses_comments_list(fake_youtube: FakeYouTube) -> None:
    t = fake_youtube.thread("vid123", "q")
    replies = [fake_youtube.reply(t, f"r{i}") for i in range(8)]
    short = make(fake_youtube).fetch(None)
    assert len(short.items) == 1 + 5
    full = make(fake_youtube, fetch_all_replies=True).fetch(None)
    assert [i.external_id for i in full.items[1:]] == [r["id"] for r in replies]
    assert fake_youtube.calls("/comments$")[0].arg("parentId") == t["id"]
    assert full.cursor["quota"]["used"] == 2


def test_channel_mode(fake_youtube: FakeYouTube) -> None:
    fake_youtube.thread("vid123", "hello")
    res = make(fake_youtube, video_id=None, channel_id="UCchannel").fetch(None)
    assert len(res.items) == 1
    assert fake_youtube.calls("commentThreads")[0].arg("allThreadsRelatedToChannelId") == "UCchannel"


@pytest.mark.parametrize(("reply", "kind", "words"), [
    (google_error(403, "quotaExceeded", "quota"), "rate_limited", "daily API quota"),
    (google_error(403, "rateLimitExceeded", "slow down"), "rate_limited", "too fast"),
    (google_error(403, "accessNotConfigured", "not enabled"), "auth", "not enabled"),
    (google_error(403, "commentsDisabled", "disabled"), "permanent", "Comments are turned off"),
    (google_error(404, "videoNotFound", "nope"), "permanent", "could not find the video"),
    (google_error(500, "backendError", "Backend Error"), "transient", "temporary problem"),
    (Reply(503, "<html>unavailable</html>"), "transient", "temporary problem"),
])
def test_error_kinds(fake_youtube: FakeYouTube, reply: Reply, kind: str, words: str) -> None:
    fake_youtube.inject("commentThreads", reply)
    with pytest.raises(ConnectorError) as ei:
        make(fake_youtube).fetch(None)
    assert ei.value.kind == kind and words in ei.value.message


def test_invalid_key_from_real_server_shape(fake_youtube: FakeYouTube) -> None:
    with pytest.raises(ConnectorError) as ei:
        make(fake_youtube, api_key="bad").fetch(None)
    assert ei.value.kind == "auth" and "did not accept the API key" in ei.value.message


def test_health(fake_youtube: FakeYouTube) -> None:
    assert make(fake_youtube).health().ok
    assert fake_youtube.calls("/videos$")[0].arg("part") == "id"
    h = make(fake_youtube, video_id="missing").health()
    assert not h.ok and "could not find" in h.message
    h = make(fake_youtube, api_key="bad").health()
    assert not h.ok and h.details["kind"] == "auth"
    fake_youtube.quota_used = 10_000
    h = make(fake_youtube).health()
    assert not h.ok and h.details["kind"] == "rate_limited"
