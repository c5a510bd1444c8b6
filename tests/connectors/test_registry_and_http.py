"""Registry, shared HTTP helpers and the rate limiter."""

from __future__ import annotations

import json

import pytest

from civicpulse.connectors.base import Connector, ConnectorError, RateLimit
from civicpulse.connectors.http import RateLimiter, map_http_error, parse_reset
from civicpulse.connectors.registry import PLATFORMS, get_connector, list_platforms
from fakes.helpers import FakeClock


def test_registry_lists_every_platform_with_form_fields() -> None:
    names = [p["platform"] for p in list_platforms()]
    assert names == ["rss", "mastodon", "bluesky", "youtube", "facebook", "x"]
    json.dumps(list_platforms())
    for info in PLATFORMS:
        cls = get_connector(info.platform)
        assert issubclass(cls, Connector) and cls.platform == info.platform and cls.rate_limits
        for f in info.fields:
            assert set(f.as_dict()) >= {"name", "label", "type", "required", "secret"}
    secrets = {f.name for p in PLATFORMS for f in p.fields if f.secret}
    assert {"api_key", "access_token", "bearer_token", "app_password"} <= secrets
    with pytest.raises(KeyError, match="known platforms"):
        get_connector("myspace")


def test_parse_reset_formats() -> None:
    now = 1_746_100_800.0
    assert parse_reset("30", now=now) == 30
    assert parse_reset("1746100860", now=now) == 60
    assert parse_reset("2025-05-01T12:05:00.000Z", now=now) == 300
    assert parse_reset("Thu, 01 May 2025 12:01:00 GMT", now=now) == 60
    assert parse_reset("soon", now=now) is None


@pytest.mark.parametrize(("status", "kind"), [(400, "permanent"), (401, "auth"), (403, "auth"), (404, "permanent"),
                                               (408, "transient"), (429, "rate_limited"), (500, "transient"),
                                               (503, "transient")])
def test_generic_status_mapping(status: int, kind: str) -> None:
    err = map_http_error(status, {"error": {"message": "boom"}}, {"Retry-After": "7"}, service="Svc")
    assert isinstance(err, ConnectorError) and err.kind == kind and err.status == status
    assert err.platform_message == "boom"
    if kind == "rate_limited":
        assert err.retry_after == 7 and "Waiting 7 s" in err.message


def test_token_bucket_sleeps_via_injected_clock() -> None:
    clock = FakeClock()
    lim = RateLimiter([RateLimit(2, 10.0)], clock=clock.clock, sleep=clock.sleep)
    lim.acquire()
    lim.acquire()
    lim.acquire()
    assert clock.sleeps == [pytest.approx(5.0)]
    lim.note_server(0, 20.0)
    lim.acquire()
    assert clock.sleeps[-1] == pytest.approx(20.0)
    lim.note_server(0, 3600.0)
    with pytest.raises(ConnectorError) as ei:
        lim.acquire()
    assert ei.value.kind == "rate_limited" and ei.value.retry_after == pytest.approx(3600.0)
