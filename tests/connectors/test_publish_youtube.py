"""Uploading to YouTube (Data API v3) against the fake server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from civicpulse.connectors.base import ConnectorError, MediaRef, PublishRequest
from civicpulse.connectors.youtube import YouTubePublisher
from fakes.helpers import FakeClock
from fakes.server import Reply
from fakes.youtube import AUTH_ERROR, FakeYouTube, google_error


def make(srv: FakeYouTube, **cfg: Any) -> YouTubePublisher:
    clock = FakeClock()
    return YouTubePublisher({"access_token": "yt-oauth", "base_url": srv.base_url,
                             "upload_url": f"{srv.url}/upload/youtube/v3", "token_url": f"{srv.url}/token",
                             "allow_private": True, "timeout": 5, **cfg}, clock=clock.clock, sleep=clock.sleep)


@pytest.fixture
def video(tmp_path: Path) -> MediaRef:
    p = tmp_path / "briefing.mp4"
    p.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"v" * 2000)
    return MediaRef(str(p), "video/mp4", 2012)


def test_upload_lookup_by_tag_and_delete(fake_youtube: FakeYouTube, video: MediaRef) -> None:
    conn = make(fake_youtube)
    req = PublishRequest("variant-3", "Họp báo về lũ lụt", title="Họp báo 23/11", link="https://hue.gov.vn/1",
                         language="vi", media=[video])
    assert conn.lookup(req) is None
    pub = conn.publish(req)
    [up] = fake_youtube.uploaded
    assert pub.external_id == up["id"] and pub.url == f"https://www.youtube.com/watch?v={up['id']}"
    assert up["snippet"]["title"] == "Họp báo 23/11" and up["snippet"]["defaultLanguage"] == "vi"
    assert up["snippet"]["description"] == "Họp báo về lũ lụt\n\nhttps://hue.gov.vn/1" and up["_bytes"] == 2012
    assert up["status"]["privacyStatus"] == "public"
    found = conn.lookup(req)
    assert found is not None and found.external_id == pub.external_id
    assert fake_youtube.quota_used == 2 + 1600 + 3  # empty uploads list: no videos.list call
    conn.delete(pub.external_id)
    assert fake_youtube.uploaded == []


def test_native_schedule_and_refusals(fake_youtube: FakeYouTube, video: MediaRef) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    make(fake_youtube).publish(PublishRequest("k", "d", title="t", media=[video], scheduled_at=when))
    status = fake_youtube.uploaded[0]["status"]
    assert status["privacyStatus"] == "private" and status["publishAt"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(ConnectorError, match="videos only"):
        make(fake_youtube).publish(PublishRequest("k2", "text only", title="t"))
    with pytest.raises(ConnectorError, match="title"):
        make(fake_youtube).publish(PublishRequest("k3", "d", media=[video]))


def test_quota_is_counted_before_calling(fake_youtube: FakeYouTube, video: MediaRef) -> None:
    conn = make(fake_youtube, daily_quota=1000)
    with pytest.raises(ConnectorError) as ei:
        conn.publish(PublishRequest("k", "d", title="t", media=[video]))
    assert ei.value.kind == "rate_limited" and ei.value.retry_after and fake_youtube.uploaded == []


def test_expired_token_refresh(fake_youtube: FakeYouTube, video: MediaRef) -> None:
    conn = make(fake_youtube, access_token="expired", refresh_token="yt-refresh", client_id="yt-client",
                client_secret="yt-secret")
    assert conn.publish(PublishRequest("k", "d", title="t", media=[video])).external_id
    assert conn.credential_updates["access_token"] in fake_youtube.oauth_tokens
    revoked = make(fake_youtube, access_token="expired", refresh_token="gone", client_id="yt-client",
                   client_secret="yt-secret")
    h = revoked.health()
    assert not h.ok and "renew" in h.message and "expired or revoked" in h.message


@pytest.mark.parametrize(("reply", "kind", "words"), [
    (AUTH_ERROR, "auth", "Reconnect"),
    (google_error(403, "quotaExceeded", "The request cannot be completed because you have exceeded your quota."),
     "rate_limited", "quota"),
    (google_error(400, "uploadLimitExceeded", "The user has exceeded the number of videos they may upload."),
     "rate_limited", "upload limit"),
    (google_error(503, "backendError", "Backend Error"), "transient", "temporary"),
    (google_error(400, "invalidTitle", "The request metadata specifies an invalid video title."), "permanent",
     "rejected"),
])
def test_errors_are_mapped(fake_youtube: FakeYouTube, video: MediaRef, reply: Reply, kind: str, words: str) -> None:
    fake_youtube.inject(r"/upload/youtube/v3/videos", reply)
    with pytest.raises(ConnectorError) as ei:
        make(fake_youtube).publish(PublishRequest("k", "d", title="t", media=[video]))
    assert ei.value.kind == kind and words in ei.value.message


def test_health(fake_youtube: FakeYouTube) -> None:
    h = make(fake_youtube).health()
    assert h.ok and "Provincial PR Office" in h.message
    bad = make(fake_youtube, access_token="nope").health()
    assert not bad.ok and "Reconnect" in bad.message and "invalid authentication" in bad.message
