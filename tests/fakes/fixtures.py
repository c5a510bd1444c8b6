"""pytest fixtures: one running fake server per platform (function scope, fresh state)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.bluesky import FakeBlueskyAppView
from fakes.facebook import FakeGraph
from fakes.helpers import FakeClock
from fakes.mastodon import FakeMastodon
from fakes.rss import FakeFeeds
from fakes.x import FakeX
from fakes.youtube import FakeYouTube


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
