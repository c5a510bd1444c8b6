"""pytest fixtures: one running fake server per platform (function scope, fresh state)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.bluesky import FakeBlueskyAppView
from fakes.bsky_pds import installed, running_pds
from fakes.facebook import FakeGraph
from fakes.helpers import FakeClock
from fakes.line import FakeLine
from fakes.mastodon import FakeMastodon
from fakes.rss import FakeFeeds
from fakes.telegram import FakeTelegram
from fakes.webhook_sink import FakeWebhookSink
from fakes.x import FakeX
from fakes.youtube import FakeYouTube
from fakes.zalo import FakeZalo


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


def _serving(name: str, server: type[Any]) -> Any:
    """A function-scoped fixture ``name``: the fake ``server`` running on a free local port, fresh each test."""

    def fixture() -> Iterator[Any]:
        with server() as srv:
            yield srv

    fixture.__name__ = name
    return pytest.fixture(fixture, name=name)


fake_feeds = _serving("fake_feeds", FakeFeeds)
fake_mastodon = _serving("fake_mastodon", FakeMastodon)
fake_bluesky = _serving("fake_bluesky", FakeBlueskyAppView)
fake_youtube = _serving("fake_youtube", FakeYouTube)
fake_graph = _serving("fake_graph", FakeGraph)
fake_x = _serving("fake_x", FakeX)
fake_telegram = _serving("fake_telegram", FakeTelegram)
fake_line = _serving("fake_line", FakeLine)
fake_zalo = _serving("fake_zalo", FakeZalo)
fake_webhook = _serving("fake_webhook", FakeWebhookSink)


@pytest.fixture(scope="session")
def pds_url() -> Iterator[str]:
    """A real reference PDS (``CIVICPULSE_BSKY_PDS_DIR``), started once per session; skipped without it
    (and a failure in CI)."""
    peer = os.environ.get("CIVICPULSE_BSKY_PDS_DIR", "")
    problem = None
    if not peer:
        problem = "CIVICPULSE_BSKY_PDS_DIR is not set"
    elif not installed(peer):
        problem = f"CIVICPULSE_BSKY_PDS_DIR={peer} has no installed PDS"
    if problem:
        how = "run `tests/fakes/bsky_pds.sh install DIR` and set CIVICPULSE_BSKY_PDS_DIR=DIR"
        if os.environ.get("CI"):
            pytest.fail(f"Bluesky PDS tests need a real PDS in CI: {problem}; {how}.", pytrace=False)
        pytest.skip(f"no local Bluesky PDS: {problem} ({how})")
    with running_pds(peer) as url:
        yield url
