"""Publishing on a Facebook Page against the fake Graph API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from civicpulse.connectors.base import ConnectorError, MediaRef, PublishRequest
from civicpulse.connectors.facebook import FacebookPublisher
from fakes.facebook import EXPIRED, POLICY_BLOCK, RATE_LIMIT, FakeGraph
from fakes.helpers import FakeClock
from fakes.server import Reply


def make(srv: FakeGraph, **cfg: Any) -> FacebookPublisher:
    clock = FakeClock()
    return FacebookPublisher({"page_id": "1234567890", "access_token": "page-token", "base_url": srv.url,
                              "allow_private": True, "timeout": 2, **cfg}, clock=clock.clock, sleep=clock.sleep,
                             now=clock.now)


def test_text_post_lookup_duplicate_and_delete(fake_graph: FakeGraph) -> None:
    conn = make(fake_graph)
    req = PublishRequest("k1", "ประกาศ: เปิดศูนย์พักพิง 🏠", link="https://pr.go.th/shelter")
    assert conn.lookup(req) is None
    pub = conn.publish(req)
    [post] = fake_graph.posts
    assert pub.external_id == post["id"] and pub.url == post["permalink_url"] and pub.published_at is not None
    assert post["message"] == "ประกาศ: เปิดศูนย์พักพิง 🏠" and post["link"] == "https://pr.go.th/shelter"
    found = conn.lookup(req)
    assert found is not None and found.external_id == pub.external_id
    # Facebook refuses the same text again (506): we answer with the post that is already there
    again = conn.publish(req)
    assert again.external_id == pub.external_id and len(fake_graph.posts) == 1
    conn.delete(pub.external_id)
    assert fake_graph.posts == []


def test_photos_single_and_multiple(fake_graph: FakeGraph, tmp_path: Path) -> None:
    media = []
    for i in range(3):
        p = tmp_path / f"{i}.jpg"
        p.write_bytes(b"\xff\xd8" + b"x" * (10 + i))
        media.append(MediaRef(str(p), "image/jpeg", 12 + i, alt_text=f"ภาพ {i}"))
    conn = make(fake_graph)
    one = conn.publish(PublishRequest("k1", "one", media=media[:1]))
    assert fake_graph.posts[0]["attached"] and one.external_id == fake_graph.posts[0]["id"]
    assert next(iter(fake_graph.photos.values()))["alt_text_custom"] == "ภาพ 0"
    many = conn.publish(PublishRequest("k2", "many", link="https://pr.go.th", media=media))
    post = fake_graph.posts[-1]
    assert many.external_id == post["id"] and len(post["attached"]) == 3
    assert post["message"] == "many\n\nhttps://pr.go.th"


@pytest.mark.parametrize(("reply", "kind", "words"), [
    (EXPIRED, "auth", "expired"),
    (POLICY_BLOCK, "permanent", "Community Standards"),
    (RATE_LIMIT, "rate_limited", "5 min"),
    (Reply(500, {"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1,
                           "fbtrace_id": "x"}}), "transient", "temporary"),
    (Reply(400, {"error": {"message": "(#200) Requires pages_manage_posts permission", "type": "OAuthException",
                           "code": 200}}), "auth", "pages_manage_posts"),
])
def test_graph_errors_are_mapped(fake_graph: FakeGraph, reply: Reply, kind: str, words: str) -> None:
    fake_graph.inject(r"/feed$", reply)
    with pytest.raises(ConnectorError) as ei:
        make(fake_graph).publish(PublishRequest("k", "hello"))
    assert ei.value.kind == kind and words in ei.value.message
    assert ei.value.platform_message == reply.body["error"]["message"]
    if kind == "rate_limited":
        assert ei.value.retry_after == 300


def test_health_shows_expiry_permission_and_revoked_tokens(fake_graph: FakeGraph) -> None:
    lacking = make(fake_graph).health()  # a token made for reading only
    assert not lacking.ok and "pages_manage_posts" in lacking.message
    fake_graph.scopes.append("pages_manage_posts")
    h = make(fake_graph).health()
    assert h.ok and "Provincial PR Office" in h.message and h.token_expires_at is not None
    bad = make(fake_graph, access_token="revoked").health()
    assert not bad.ok and "Reconnect" in bad.message
