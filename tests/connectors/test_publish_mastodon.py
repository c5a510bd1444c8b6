"""Publishing to Mastodon against the local fake server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from civicpulse.connectors.base import ConnectorError, MediaRef, PublishRequest
from civicpulse.connectors.mastodon import MastodonPublisher
from fakes.helpers import FakeClock
from fakes.mastodon import FakeMastodon
from fakes.server import Reply


def make(srv: FakeMastodon, clock: FakeClock | None = None, **cfg: Any) -> MastodonPublisher:
    clock = clock or FakeClock()
    return MastodonPublisher({"instance_url": srv.url, "access_token": "user-token", "allow_private": True,
                              "timeout": 2, **cfg}, clock=clock.clock, sleep=clock.sleep)


@pytest.fixture
def srv(fake_mastodon: FakeMastodon) -> FakeMastodon:
    fake_mastodon.user_token("user-token")
    return fake_mastodon


def test_publish_sends_idempotency_key_and_lookup_finds_the_post(srv: FakeMastodon) -> None:
    conn = make(srv)
    req = PublishRequest("var-1-k", "ประกาศ: น้ำท่วม #flood", link="https://pr.go.th/news/1", language="th")
    assert conn.lookup(req) is None
    pub = conn.publish(req)
    assert pub.external_id == srv.own_statuses("user-token")[0]["id"]
    assert pub.url and pub.published_at is not None
    call = srv.calls(r"/api/v1/statuses$")[-1]
    assert call.headers["idempotency-key"] == "var-1-k"
    assert call.json()["status"] == "ประกาศ: น้ำท่วม #flood\n\nhttps://pr.go.th/news/1"
    assert call.json()["language"] == "th"
    # exactly once: retrying with the same key returns the same status, and the look-up finds it
    assert conn.publish(req).external_id == pub.external_id
    assert len(srv.own_statuses("user-token")) == 1
    found = conn.lookup(req)
    assert found is not None and found.external_id == pub.external_id
    assert conn.lookup(PublishRequest("other", "another text")) is None
    conn.delete(pub.external_id)
    assert srv.own_statuses("user-token") == []


def test_media_upload_waits_for_processing_and_sends_alt_text(srv: FakeMastodon, tmp_path: Path) -> None:
    img = tmp_path / "map.png"
    img.write_bytes(b"\x89PNG fake")
    srv.processing_polls = 2
    clock = FakeClock()
    conn = make(srv, clock)
    pub = conn.publish(PublishRequest("k-media", "Map", media=[MediaRef(str(img), "image/png", 9, alt_text="Flood map")]))
    status = next(s for s in srv.statuses if s["id"] == pub.external_id)
    media = status["media_attachments"][0]
    assert media["description"] == "Flood map" and media["url"]
    assert len(srv.calls(r"/api/v1/media/\d+")) == 3
    assert clock.sleeps == [2.0, 4.0, 6.0]


def test_native_schedule_only_when_at_least_five_minutes_ahead(srv: FakeMastodon) -> None:
    conn = make(srv)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    pub = conn.publish(PublishRequest("k-soon", "now please", scheduled_at=soon))
    assert not pub.external_id.startswith("scheduled:")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    pub2 = conn.publish(PublishRequest("k-later", "later please", scheduled_at=later))
    assert pub2.external_id.startswith("scheduled:") and srv.scheduled
    conn.delete(pub2.external_id)
    assert srv.scheduled == {}


@pytest.mark.parametrize(("reply", "kind"), [
    (Reply(401, {"error": "The access token is invalid"}), "auth"),
    (FakeMastodon.too_many(), "rate_limited"),
    (Reply(503, {"error": "Service Unavailable"}), "transient"),
    (Reply(422, {"error": "Validation failed: Text character limit of 500 exceeded"}), "permanent"),
])
def test_errors_are_mapped(srv: FakeMastodon, reply: Reply, kind: str) -> None:
    srv.inject(r"/api/v1/statuses$", reply)
    with pytest.raises(ConnectorError) as ei:
        make(srv).publish(PublishRequest("k", "text"))
    assert ei.value.kind == kind
    assert ei.value.platform_message and ei.value.platform_message in ei.value.message or kind == "rate_limited"
    if kind == "rate_limited":
        assert ei.value.retry_after is not None


def test_timeout_is_transient(srv: FakeMastodon) -> None:
    srv.inject(r"/api/v1/statuses$", Reply(200, {}, delay=1.0))
    with pytest.raises(ConnectorError) as ei:
        make(srv, timeout=0.3).publish(PublishRequest("k", "text"))
    assert ei.value.kind == "transient"


def test_health_reports_the_account_or_the_revoked_token(srv: FakeMastodon) -> None:
    h = make(srv).health()
    assert h.ok and "@pr_office" in h.message
    bad = make(srv, access_token="revoked").health()
    assert not bad.ok and "Reconnect" in bad.message and "invalid" in bad.message
