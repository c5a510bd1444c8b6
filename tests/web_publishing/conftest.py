from __future__ import annotations

from collections.abc import Iterator

import pytest

from civicpulse.domain.publishing import platforms
from tests.org.support import _fast_passwords  # noqa: F401  (fixture)
from tests.publishing import support


@pytest.fixture(autouse=True)
def testnet() -> Iterator[dict[str, support.FakePlatform]]:
    platforms.register("testnet", support.TestnetConnector)
    support.PLATFORMS.clear()
    yield support.PLATFORMS
    platforms.unregister("testnet")
    support.PLATFORMS.clear()
