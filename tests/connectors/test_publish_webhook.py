"""The signed generic webhook against a receiver that checks signatures and deduplicates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from civicpulse.connectors.base import ConnectorError, MediaRef, PublishRequest
from civicpulse.connectors.webhook import WebhookConnector, sign, verify_signature
from fakes.helpers import FakeClock
from fakes.server import Reply
from fakes.webhook_sink import FakeWebhookSink


def make(srv: FakeWebhookSink, **cfg: Any) -> WebhookConnector:
    clock = FakeClock()
    return WebhookConnector({"url": srv.hook_url, "secret": "hook-secret", "allow_private": True, "timeout": 2,
                             **cfg}, clock=clock.clock, sleep=clock.sleep)


def test_signed_delivery_is_received_once(fake_webhook: FakeWebhookSink) -> None:
    conn = make(fake_webhook)
    req = PublishRequest("variant-9", "ข่าว", title="T", link="https://pr.go.th/9", language="th",
                         media=[MediaRef("/data/p.jpg", "image/jpeg", 10, alt_text="alt", width=2, height=1)])
    pub = conn.publish(req)
    assert pub.external_id == "item-1" and pub.url == "https://intranet.example/news/1"
    again = conn.publish(req)
    assert again.external_id == pub.external_id and fake_webhook.deliveries == 2
    [payload] = fake_webhook.posts()
    assert payload["text"] == "ข่าว" and payload["media"][0]["name"] == "p.jpg" and payload["language"] == "th"
    call = fake_webhook.calls("/hook")[0]
    assert call.headers["idempotency-key"] == "variant-9"
    assert call.headers["x-civicpulse-signature"] == sign("hook-secret", call.headers["x-civicpulse-timestamp"],
                                                          call.body)
    assert conn.idempotent_retry


def test_wrong_secret_is_an_auth_error(fake_webhook: FakeWebhookSink) -> None:
    with pytest.raises(ConnectorError) as ei:
        make(fake_webhook, secret="other").publish(PublishRequest("k", "t"))
    assert ei.value.kind == "auth" and "same secret" in ei.value.message
    assert not make(fake_webhook, secret="other").health().ok
    assert make(fake_webhook).health().ok


@pytest.mark.parametrize(("reply", "kind"), [
    (Reply(503, {"error": "down for maintenance"}), "transient"),
    (Reply(429, {"error": "slow down"}, {"Retry-After": "12"}), "rate_limited"),
    (Reply(422, {"error": "text too long"}), "permanent"),
])
def test_receiver_errors(fake_webhook: FakeWebhookSink, reply: Reply, kind: str) -> None:
    fake_webhook.inject("/hook", reply)
    with pytest.raises(ConnectorError) as ei:
        make(fake_webhook).publish(PublishRequest("k", "t"))
    assert ei.value.kind == kind and ei.value.platform_message == reply.body["error"]
    if kind == "rate_limited":
        assert ei.value.retry_after == 12


def test_conflict_means_already_received_and_delete_is_signed(fake_webhook: FakeWebhookSink) -> None:
    fake_webhook.inject("/hook", Reply(409, {"error": "duplicate"}))
    assert make(fake_webhook).publish(PublishRequest("k", "t")).raw == {"already_received": True}
    make(fake_webhook).delete("item-1")
    assert json.loads(fake_webhook.calls("/hook")[-1].body)["event"] == "post.deleted"


def test_verify_signature_rejects_tampering_and_old_timestamps() -> None:
    body = b'{"a":1}'
    sig = sign("s", "1000", body)
    assert verify_signature("s", "1000", body, sig, now=1100)
    assert not verify_signature("s", "1000", body + b" ", sig, now=1100)
    assert not verify_signature("s", "1000", body, sig, now=2000)
    assert not verify_signature("other", "1000", body, sig, now=1100)
