from __future__ import annotations

from tests.org.support import _fast_passwords  # noqa: F401  (fixture)
from tests.publishing.support import testnet  # noqa: F401  (autouse fixture)
