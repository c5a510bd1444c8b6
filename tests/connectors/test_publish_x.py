"""Publishing on X (API v2) against the fake server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from civicpulse.connectors.base import ConnectorError, MediaRef, PublishRequest
from civicpulse.connectors.x import XPublisher
from fakes.helpers import FakeClock
from fakes.server import Reply
from fakes.x import FakeX, problem


def make(srv: FakeX, **cfg: Any) -> XPublisher:
    clock = FakeClock()
    return XPublisher({"access_token": "user-token", "base_url": srv.url, "allow_private": True, "timeout": 2,
                       **cfg}, clock=clock.clock, sleep=clock.sleep)


@pytest.fixture
def srv(fake_x: FakeX) -> FakeX:
    fake_x.user_token("user-token")
    return fake_x


def test_post_lookup_through_tco_links_duplicate_and_delete(srv: FakeX) -> None:
    conn = make(srv)
    req = PublishRequest("k1", "น้ำท่วม: ศูนย์พักพิงเปิดแล้ว", link="https://pr.go.th/shelter/2024")
    assert conn.lookup(req) is None
    pub = conn.publish(req)
    [tweet] = srv.own()
    assert pub.external_id == tweet["id"] and "https://t.co/" in tweet["text"]
    found = conn.lookup(req)  # the stored text has a t.co link; the look-up expands it
    assert found is not None and found.external_id == pub.external_id
    again = conn.publish(req)  # X refuses duplicate content; we answer with the existing post
    assert again.external_id == pub.external_id and len(srv.own()) == 1
    conn.delete(pub.external_id)
    assert srv.own() == []


def test_images_are_uploaded_with_alt_text(srv: FakeX, tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    img.write_bytes(b"\x89PNG" + b"0" * 50)
    pub = make(srv).publish(PublishRequest("k", "map", media=[MediaRef(str(img), "image/png", 54, alt_text="แผนที่")]))
    [media] = srv.media.values()
    assert media["alt_text"] == "แผนที่" and media["category"] == "tweet_image"
    assert srv.own()[0]["media_ids"] == [media["id"]] and pub.external_id



def test_video_is_uploaded_in_chunks_and_waits_for_processing(srv: FakeX, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"m" * 2500)
    clock = FakeClock()
    conn = XPublisher({"access_token": "user-token", "base_url": srv.url, "allow_private": True, "timeout": 2},
                      clock=clock.clock, sleep=clock.sleep)
    conn.CHUNK = 1000  # type: ignore[misc]
    pub = conn.publish(PublishRequest("kv", "briefing", media=[MediaRef(str(clip), "video/mp4", 2500)]))
    [media] = srv.media.values()
    assert media["segments"] == {0: 1000, 1: 1000, 2: 500} and media["finalized"]
    assert srv.own()[0]["media_ids"] == [media["id"]] and pub.external_id
    assert clock.sleeps == [1.0, 3.0]  # check_after_secs from finalize, then from the STATUS answer


def test_expired_token_is_refreshed_with_the_refresh_token(srv: FakeX) -> None:
    srv.user_token("old-expired", refresh="r-1")
    del srv.user_tokens["old-expired"]
    conn = make(srv, access_token="old-expired", refresh_token="r-1", client_id="x-client")
    pub = conn.publish(PublishRequest("k", "after refresh"))
    assert pub.external_id and conn.credential_updates["access_token"] in srv.user_tokens
    assert conn.credential_updates["refresh_token"] != "r-1"
    # without refresh credentials the expired sign-in is reported in plain words
    with pytest.raises(ConnectorError) as ei:
        make(srv, access_token="old-expired").publish(PublishRequest("k2", "x"))
    assert ei.value.kind == "auth" and "Reconnect" in ei.value.message


@pytest.mark.parametrize(("reply", "kind"), [
    (Reply(429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                 "status": 429}, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": "9999999999"}), "rate_limited"),
    (problem(503, "Service Unavailable", "Service Unavailable"), "transient"),
    (problem(403, "Forbidden", "You are not permitted to perform this action."), "permanent"),
])
def test_errors_are_mapped(srv: FakeX, reply: Reply, kind: str) -> None:
    srv.inject(r"/2/tweets$", reply)
    with pytest.raises(ConnectorError) as ei:
        make(srv).publish(PublishRequest("k", "hello"))
    assert ei.value.kind == kind
    if kind == "rate_limited":
        assert ei.value.retry_after and ei.value.retry_after > 0


def test_health_and_declared_limit(srv: FakeX) -> None:
    h = make(srv).health()
    assert h.ok and "@pr_office" in h.message
    assert not make(srv, access_token="nope").health().ok
    assert XPublisher.rate_limits[0].calls == 200 and XPublisher.rate_limits[0].per_seconds == 900
