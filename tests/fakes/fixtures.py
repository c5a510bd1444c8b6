"""pytest fixtures: one running fake server per platform (function scope, fresh state)."""

from __future__ import annotations

import os
from collections.abc import Iterator

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


@pytest.fixture
def fake_feeds() -> Iterator[FakeFeeds]:
    with FakeFeeds() as srv:
        yield srv


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon() as srv:
        yield srv


@pytest.fixture
def fake_bluesky() -> Iterator[FakeBlueskyAppView]:
    with FakeBlueskyAppView() as srv:
        yield srv


@pytest.fixture
def fake_youtube() -> Iterator[FakeYouTube]:
    with FakeYouTube() as srv:
        yield srv


@pytest.fixture
def fake_graph() -> Iterator[FakeGraph]:
    with FakeGraph() as srv:
        yield srv


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    with FakeX() as srv:
        yield srv


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as srv:
        yield srv


@pytest.fixture
def fake_line() -> Iterator[FakeLine]:
    with FakeLine() as srv:
        yield srv


@pytest.fixture
def fake_zalo() -> Iterator[FakeZalo]:
    with FakeZalo() as srv:
        yield srv


@pytest.fixture
def fake_webhook() -> Iterator[FakeWebhookSink]:
    with FakeWebhookSink() as srv:
        yield srv


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
