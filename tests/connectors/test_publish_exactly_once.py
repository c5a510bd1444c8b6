"""Exactly-once when the answer is lost: the platform stored the post but the connector timed out.

For every platform the scheduler can reconcile, the connector either finds the post with ``lookup`` (so
the scheduler does not post again) or the platform deduplicates a repeat with the same key
(``idempotent_retry``). The fakes store the post and then answer too late.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from civicpulse.connectors.base import Connector, ConnectorError, MediaRef, PublishRequest
from civicpulse.connectors.facebook import FacebookPublisher
from civicpulse.connectors.line import LineConnector
from civicpulse.connectors.mastodon import MastodonPublisher
from civicpulse.connectors.webhook import WebhookConnector
from civicpulse.connectors.x import XPublisher
from civicpulse.connectors.youtube import YouTubePublisher
from civicpulse.connectors.zalo import ZaloConnector
from fakes.server import FakeServer, Reply, Request

TIMEOUT = 0.3


def answer_late(srv: FakeServer, method: str, pattern: str) -> None:
    """Re-register the route so it still does its work but answers after the client gave up."""
    for m, pat, fn in list(srv.routes):
        if m == method and pat.pattern == pattern:
            def late(req: Request, fn: Callable[[Request], Reply] = fn) -> Reply:
                return dataclasses.replace(fn(req), delay=TIMEOUT * 3)
            srv.add(method, pattern, late)
            return
    raise AssertionError(f"no route {method} {pattern}")


def check(conn: Connector, late_conn: Connector, req: PublishRequest, stored: Callable[[], int]) -> None:
    with pytest.raises(ConnectorError) as ei:
        late_conn.publish(req)
    assert ei.value.kind == "transient"  # the outcome is unknown to the scheduler...
    assert stored() == 1  # ...but the platform has the post
    if conn.can_lookup:
        found = conn.lookup(req)
        assert found is not None and found.external_id
    else:
        assert conn.idempotent_retry
        conn.publish(req)  # safe: the platform deduplicates on the key
    assert stored() == 1


def cfg(**extra: Any) -> dict[str, Any]:
    return {"allow_private": True, "timeout": 2, **extra}


def test_mastodon(fake_mastodon: Any) -> None:
    fake_mastodon.user_token("user-token")
    c = cfg(instance_url=fake_mastodon.url, access_token="user-token")
    late = MastodonPublisher({**c, "timeout": TIMEOUT})
    answer_late(fake_mastodon, "POST", r"/api/v1/statuses")
    check(MastodonPublisher(c), late, PublishRequest("k", "ประกาศ"), lambda: len(fake_mastodon.own_statuses("user-token")))


def test_x(fake_x: Any) -> None:
    fake_x.user_token("user-token")
    c = cfg(access_token="user-token", base_url=fake_x.url)
    late = XPublisher({**c, "timeout": TIMEOUT})
    answer_late(fake_x, "POST", r"/2/tweets")
    check(XPublisher(c), late, PublishRequest("k", "ข่าว https://pr.go.th/1"), lambda: len(fake_x.own()))


def test_facebook(fake_graph: Any) -> None:
    c = cfg(page_id="1234567890", access_token="page-token", base_url=fake_graph.url)
    late = FacebookPublisher({**c, "timeout": TIMEOUT})
    answer_late(fake_graph, "POST", r"/v21.0/(?P<page>\d+)/feed")
    check(FacebookPublisher(c), late, PublishRequest("k", "Thông báo"), lambda: len(fake_graph.posts))


def test_youtube(fake_youtube: Any, tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"v" * 100)
    c = cfg(access_token="yt-oauth", base_url=fake_youtube.base_url, upload_url=f"{fake_youtube.url}/upload/youtube/v3")
    late = YouTubePublisher({**c, "timeout": TIMEOUT})
    answer_late(fake_youtube, "POST", r"/upload/youtube/v3/videos")
    check(YouTubePublisher(c), late, PublishRequest("k", "d", title="t", media=[MediaRef(str(video), "video/mp4", 100)]),
          lambda: len(fake_youtube.uploaded))


def test_zalo(fake_zalo: Any) -> None:
    c = cfg(access_token="zalo-token", base_url=fake_zalo.url)
    late = ZaloConnector({**c, "timeout": TIMEOUT})
    answer_late(fake_zalo, "POST", r"/v2.0/article/verify")
    check(ZaloConnector(c), late, PublishRequest("k", "Nội dung", title="Thông báo"), lambda: len(fake_zalo.articles))


def test_line(fake_line: Any) -> None:
    c = cfg(channel_access_token="line-token", base_url=fake_line.url)
    late = LineConnector({**c, "timeout": TIMEOUT})
    answer_late(fake_line, "POST", r"/v2/bot/message/(?P<mode>broadcast|narrowcast|push|multicast)")
    # a new connector for the retry talks to the same server, whose route still answers late: restore it
    check(_Fresh(fake_line, LineConnector, c), late, PublishRequest("k", "ประกาศ"), lambda: len(fake_line.sent))


def test_webhook(fake_webhook: Any) -> None:
    c = cfg(url=fake_webhook.hook_url, secret="hook-secret")
    late = WebhookConnector({**c, "timeout": TIMEOUT})
    answer_late(fake_webhook, "POST", r"/hook")
    check(_Fresh(fake_webhook, WebhookConnector, c), late, PublishRequest("k", "ข่าว"), lambda: len(fake_webhook.posts()))


class _Fresh(Connector):
    """Publishes with a connector of ``cls`` after the late route has been dropped (the server recovered)."""

    def __init__(self, srv: FakeServer, cls: type[Connector], config: dict[str, Any]) -> None:
        super().__init__(config)
        self.srv, self.cls = srv, cls
        self.can_lookup = cls.can_lookup  # type: ignore[misc]
        self.idempotent_retry = cls.idempotent_retry  # type: ignore[misc]

    def publish(self, request: PublishRequest) -> Any:
        del self.srv.routes[0]  # the late wrapper was added in front
        return self.cls(self.config).publish(request)
