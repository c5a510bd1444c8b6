from __future__ import annotations

import os

os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
