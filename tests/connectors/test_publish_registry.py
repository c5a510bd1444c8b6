"""The publishing registry: every platform resolves to a publishing connector with its form fields."""

from __future__ import annotations

import json

import pytest

from civicpulse.connectors.base import Connector
from civicpulse.connectors.limits import TEXT_LIMITS
from civicpulse.connectors.registry import (
    PLATFORMS,
    PUBLISHING_PLATFORMS,
    get_connector,
    get_publisher,
    list_publishing_platforms,
)


def test_every_publishing_platform_resolves_and_declares_limits() -> None:
    names = [p.platform for p in PUBLISHING_PLATFORMS]
    assert names == ["facebook", "x", "line", "youtube", "telegram", "zalo", "mastodon", "bluesky", "newsletter",
                     "webhook"]
    json.dumps(list_publishing_platforms())
    for info in PUBLISHING_PLATFORMS:
        cls = get_publisher(info.platform)
        assert issubclass(cls, Connector) and cls.platform == info.platform and cls.rate_limits, info.platform
        assert cls.publish is not Connector.publish and cls.health is not Connector.health, info.platform
        assert info.platform in TEXT_LIMITS
        if cls.can_lookup:
            assert cls.lookup is not Connector.lookup, info.platform
        assert any(f.secret for f in info.fields), info.platform  # every platform has a credential to protect
        assert any(f.required for f in info.fields), info.platform


def test_tokens_are_marked_secret() -> None:
    secret = {(p.platform, f.name) for p in PUBLISHING_PLATFORMS for f in p.fields if f.secret}
    assert {("facebook", "access_token"), ("x", "access_token"), ("x", "refresh_token"), ("x", "client_secret"),
            ("line", "channel_access_token"), ("telegram", "bot_token"), ("zalo", "secret_key"),
            ("bluesky", "app_password"), ("newsletter", "password"), ("webhook", "secret")} <= secret
    plain = {(p.platform, f.name) for p in PUBLISHING_PLATFORMS for f in p.fields if not f.secret}
    assert ("telegram", "chat_id") in plain and ("facebook", "page_id") in plain


def test_listening_registry_is_unchanged_and_unknown_names_are_explained() -> None:
    assert [p.platform for p in PLATFORMS] == ["rss", "mastodon", "bluesky", "youtube", "facebook", "x"]
    assert get_connector("mastodon").__name__ == "MastodonConnector"
    assert get_publisher("mastodon").__name__ == "MastodonPublisher"
    with pytest.raises(KeyError, match="known platforms"):
        get_publisher("myspace")


def test_declared_rate_limits_match_the_published_ones() -> None:
    def limits(platform: str) -> set[tuple[int, float]]:
        return {(r.calls, r.per_seconds) for r in get_publisher(platform).rate_limits}

    assert (200, 900.0) in limits("x")
    assert {(5000, 3600.0), (35_000, 86_400.0)} <= limits("bluesky")
    assert {(30, 1.0), (20, 60.0)} <= limits("telegram")
    assert (300, 300.0) in limits("mastodon")
    assert (10_000, 86_400.0) in limits("youtube")
    assert (60, 3600.0) in limits("line")
