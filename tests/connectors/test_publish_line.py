"""Publishing through the LINE Messaging API against the fake server."""

from __future__ import annotations

from typing import Any

import pytest

from civicpulse.connectors.base import ConnectorError, MediaRef, PublishRequest
from civicpulse.connectors.line import LineConnector
from fakes.helpers import FakeClock
from fakes.line import INVALID_TOKEN, MONTHLY_LIMIT, RATE_LIMITED, FakeLine
from fakes.server import Reply


def make(srv: FakeLine, **cfg: Any) -> LineConnector:
    clock = FakeClock()
    return LineConnector({"channel_access_token": "line-token", "base_url": srv.url, "allow_private": True,
                          "timeout": 2, **cfg}, clock=clock.clock, sleep=clock.sleep, now=clock.now)


def test_broadcast_with_retry_key_is_sent_once(fake_line: FakeLine) -> None:
    conn = make(fake_line)
    req = PublishRequest("variant-7", "ประกาศ 📢", link="https://pr.go.th/7",
                         media=[MediaRef("https://pr.go.th/media/7.jpg", "image/jpeg", 100, alt_text="poster")])
    first = conn.publish(req)
    [sent] = fake_line.sent
    assert sent["messages"] == [{"type": "text", "text": "ประกาศ 📢\n\nhttps://pr.go.th/7"},
                                {"type": "image", "originalContentUrl": "https://pr.go.th/media/7.jpg",
                                 "previewImageUrl": "https://pr.go.th/media/7.jpg"}]
    assert first.external_id == sent["request_id"]
    # an unknown outcome is resolved by sending again: LINE answers 409 with the first request id
    again = conn.publish(req)
    assert again.external_id == first.external_id and again.raw["already_accepted"]
    assert len(fake_line.sent) == 1
    assert conn.idempotent_retry and not conn.can_lookup
    with pytest.raises(ConnectorError, match="cannot take back"):
        conn.delete(first.external_id)


def test_push_narrowcast_and_local_images_refused(fake_line: FakeLine) -> None:
    make(fake_line, mode="push", to="Uuser1").publish(PublishRequest("k1", "hi"))
    make(fake_line, mode="narrowcast", audience_group_id=55).publish(PublishRequest("k2", "hi all"))
    assert [s["mode"] for s in fake_line.sent] == ["push", "narrowcast"]
    assert fake_line.sent[1]["recipient"] == {"type": "audience", "audienceGroupId": 55}
    with pytest.raises(ConnectorError, match="public https"):
        make(fake_line).publish(PublishRequest("k3", "x", media=[MediaRef("/data/a.jpg", "image/jpeg", 1)]))
    with pytest.raises(ValueError, match="to"):
        make(fake_line, mode="push")


@pytest.mark.parametrize(("reply", "kind", "words"), [
    (INVALID_TOKEN, "auth", "channel access token"),
    (RATE_LIMITED, "rate_limited", "too fast"),
    (MONTHLY_LIMIT, "rate_limited", "this month"),
    (Reply(500, {"message": "An error occurred in the backend"}), "transient", "temporary"),
])
def test_errors_are_mapped(fake_line: FakeLine, reply: Reply, kind: str, words: str) -> None:
    fake_line.inject("broadcast", reply)
    with pytest.raises(ConnectorError) as ei:
        make(fake_line).publish(PublishRequest("k", "hello"))
    assert ei.value.kind == kind and words in ei.value.message
    assert ei.value.platform_message == reply.body["message"]
    if reply is MONTHLY_LIMIT:
        assert ei.value.retry_after == pytest.approx(31 * 86400 - 12 * 3600)  # 1 May 12:00 → 1 June 00:00


def test_validation_details_reach_the_message(fake_line: FakeLine) -> None:
    with pytest.raises(ConnectorError) as ei:
        make(fake_line).publish(PublishRequest("k", "ก" * 5001))
    assert ei.value.kind == "permanent" and "messages[0].text: Length must be between 0 and 5000" in ei.value.message


def test_health(fake_line: FakeLine) -> None:
    h = make(fake_line).health()
    assert h.ok and "PR Office" in h.message
    assert h.token_expires_at is not None and h.token_expires_at.isoformat().startswith("2025-05-31")
    bad = make(fake_line, channel_access_token="expired").health()
    assert not bad.ok and "LINE Developers console" in bad.message and "invalid token" in bad.message
