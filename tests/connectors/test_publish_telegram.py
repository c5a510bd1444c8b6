"""Publishing to a Telegram channel against the fake Bot API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from civicpulse.connectors.base import ConnectorError, MediaRef, PublishRequest
from civicpulse.connectors.telegram import TelegramConnector
from fakes.helpers import FakeClock
from fakes.server import Reply
from fakes.telegram import REVOKED, TOO_MANY, FakeTelegram, tg_error

TOKEN = "123456:ABC-secret-token"


def make(srv: FakeTelegram, **cfg: Any) -> TelegramConnector:
    clock = FakeClock()
    return TelegramConnector({"bot_token": TOKEN, "chat_id": "@civic_news", "base_url": srv.url,
                              "allow_private": True, "timeout": 2, **cfg}, clock=clock.clock, sleep=clock.sleep)


def test_text_post_link_and_delete(fake_telegram: FakeTelegram) -> None:
    conn = make(fake_telegram, disable_link_preview=True)
    pub = conn.publish(PublishRequest("k1", "แจ้งเตือน 🌊 Lũ lụt", link="https://pr.go.th/1"))
    [msg] = fake_telegram.posts()
    assert msg["text"] == "แจ้งเตือน 🌊 Lũ lụt\n\nhttps://pr.go.th/1"
    assert pub.external_id == f"-1001234567890:{msg['message_id']}"
    assert pub.url == f"https://t.me/civic_news/{msg['message_id']}" and pub.published_at is not None
    assert fake_telegram.calls("sendMessage")[0].json()["link_preview_options"] == {"is_disabled": True}
    assert not conn.can_lookup
    conn.delete(pub.external_id)
    assert fake_telegram.posts() == []


def test_photo_with_caption_and_media_group(fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    files = []
    for i in range(2):
        p = tmp_path / f"p{i}.jpg"
        p.write_bytes(b"\xff\xd8" + bytes([i]) * 100)
        files.append(MediaRef(str(p), "image/jpeg", 102, alt_text=f"photo {i}"))
    conn = make(fake_telegram)
    one = conn.publish(PublishRequest("k1", "one photo", media=files[:1]))
    assert fake_telegram.posts()[0]["caption"] == "one photo" and one.external_id
    group = conn.publish(PublishRequest("k2", "two photos", media=files))
    assert len(group.external_id.split(",")) == 2 and len(fake_telegram.posts()) == 3
    with pytest.raises(ConnectorError, match="1024"):
        conn.publish(PublishRequest("k3", "x" * 1100, media=files[:1]))


@pytest.mark.parametrize(("reply", "kind", "words"), [
    (REVOKED, "auth", "@BotFather"),
    (TOO_MANY, "rate_limited", "7 s"),
    (tg_error(403, "Forbidden: bot was kicked from the channel chat"), "auth", "administrator"),
    (tg_error(400, "Bad Request: chat not found"), "permanent", "cannot find the chat"),
    (tg_error(502, "Bad Gateway"), "transient", "temporary"),
])
def test_errors_are_mapped_and_the_token_never_leaks(fake_telegram: FakeTelegram, reply: Reply, kind: str,
                                                      words: str) -> None:
    fake_telegram.inject("sendMessage", reply)
    with pytest.raises(ConnectorError) as ei:
        make(fake_telegram).publish(PublishRequest("k", "hello"))
    assert ei.value.kind == kind and words in ei.value.message
    assert ei.value.platform_message == reply.body["description"]
    if kind == "rate_limited":
        assert ei.value.retry_after == 7
    assert TOKEN not in ei.value.message


def test_timeout_message_hides_the_bot_token(fake_telegram: FakeTelegram) -> None:
    fake_telegram.inject("sendMessage", Reply(200, {"ok": True}, delay=1.0))
    with pytest.raises(ConnectorError) as ei:
        make(fake_telegram, timeout=0.3).publish(PublishRequest("k", "hello"))
    assert ei.value.kind == "transient" and TOKEN not in ei.value.message and "***" in ei.value.message


def test_health(fake_telegram: FakeTelegram) -> None:
    h = make(fake_telegram).health()
    assert h.ok and "@pr_office_bot" in h.message and "Civic News" in h.message
    bad = make(fake_telegram, bot_token="999:revoked").health()
    assert not bad.ok and "@BotFather" in bad.message and bad.details["platform_message"] == "Unauthorized"
    outsider = make(fake_telegram, chat_id="@elsewhere").health()
    assert not outsider.ok and "cannot find the chat" in outsider.message
