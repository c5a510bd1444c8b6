"""Publishing to a Zalo Official Account against the fake API."""

from __future__ import annotations

from typing import Any

import pytest

from civicpulse.connectors.base import ConnectorError, PublishRequest
from civicpulse.connectors.zalo import ZaloConnector
from fakes.helpers import FakeClock
from fakes.server import Reply
from fakes.zalo import EXPIRED, QUOTA, FakeZalo


def make(srv: FakeZalo, **cfg: Any) -> ZaloConnector:
    clock = FakeClock()
    return ZaloConnector({"access_token": "zalo-token", "base_url": srv.url, "oauth_url": srv.oauth_url,
                          "allow_private": True, "timeout": 2, **cfg}, clock=clock.clock, sleep=clock.sleep)


def test_article_create_verify_lookup_delete(fake_zalo: FakeZalo) -> None:
    conn = make(fake_zalo, author="Sở TT&TT")
    req = PublishRequest("k1", "Cảnh báo lũ <khẩn>\n\nNgười dân cần sơ tán.", title="Cảnh báo lũ lụt tại Huế",
                         link="https://hue.gov.vn/tin/1")
    assert conn.lookup(req) is None
    pub = conn.publish(req)
    [art] = fake_zalo.articles
    assert pub.external_id == art["id"] and pub.url == art["link"]
    body = art["body"][0]["content"]
    assert "&lt;khẩn&gt;" in body and 'href="https://hue.gov.vn/tin/1"' in body
    found = conn.lookup(req)
    assert found is not None and found.external_id == pub.external_id
    assert conn.lookup(PublishRequest("k2", "Other", title="Cảnh báo lũ lụt tại Huế")) is None
    conn.delete(pub.external_id)
    assert fake_zalo.articles == []
    with pytest.raises(ConnectorError, match="needs a title"):
        conn.publish(PublishRequest("k3", "no title"))


def test_expired_token_is_refreshed_once_and_the_new_pair_is_reported(fake_zalo: FakeZalo) -> None:
    conn = make(fake_zalo, access_token="old", refresh_token="zalo-refresh-1", app_id="4242",
                secret_key="zalo-secret")
    fake_zalo.inject("article/create", EXPIRED)
    conn.publish(PublishRequest("k1", "text", title="Title"))
    assert conn.credential_updates["access_token"] in fake_zalo.tokens
    assert conn.credential_updates["refresh_token"] != "zalo-refresh-1"  # single use: the new one must be stored
    assert len(fake_zalo.articles) == 1
    # the used refresh token no longer works
    stale = make(fake_zalo, access_token="old", refresh_token="zalo-refresh-1", app_id="4242",
                 secret_key="zalo-secret")
    with pytest.raises(ConnectorError) as ei:
        stale.publish(PublishRequest("k2", "text", title="Title 2"))
    assert ei.value.kind == "auth" and "renew" in ei.value.message


@pytest.mark.parametrize(("reply", "kind"), [
    (EXPIRED, "auth"), (QUOTA, "rate_limited"), (Reply(502, b"Bad Gateway"), "transient"),
    (Reply(200, {"error": -201, "message": "Parameters are invalid"}), "permanent"),
])
def test_errors_in_200_answers_are_mapped(fake_zalo: FakeZalo, reply: Reply, kind: str) -> None:
    fake_zalo.inject("article/create", reply)
    with pytest.raises(ConnectorError) as ei:
        make(fake_zalo).publish(PublishRequest("k", "t", title="T"))
    assert ei.value.kind == kind
    if isinstance(reply.body, dict):
        assert str(reply.body["error"]) in (ei.value.platform_message or "")


def test_consultation_message_and_health(fake_zalo: FakeZalo) -> None:
    pub = make(fake_zalo, kind="message", user_id="u-1").publish(PublishRequest("k", "Xin chào"))
    assert fake_zalo.messages[0]["message"] == {"text": "Xin chào"} and pub.external_id.startswith("m")
    with pytest.raises(ConnectorError, match="7 days"):
        make(fake_zalo, kind="message", user_id="stranger").publish(PublishRequest("k2", "hi"))
    h = make(fake_zalo).health()
    assert h.ok and "Sở Thông tin Truyền thông" in h.message
    bad = make(fake_zalo, access_token="nope").health()
    assert not bad.ok and "Reconnect" in bad.message and "-216" in bad.message
