"""Connector tests: make ``tests/fakes`` importable as ``fakes`` and load its fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from fakes.fixtures import *  # noqa: E402,F403
