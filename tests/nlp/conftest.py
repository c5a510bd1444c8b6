from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PYTHAINLP_OFFLINE", "1")

_CANDIDATES = [
    Path(os.environ["CIVICPULSE_SHARED_DATA"]) if os.environ.get("CIVICPULSE_SHARED_DATA") else None,
    Path(__file__).resolve().parents[3] / "shared" / "data",
    Path("/work/shared/data"),
]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    for p in _CANDIDATES:
        if p is not None and (p / "wisesight" / "valid.jsonl").exists():
            return p
    pytest.skip("shared data (wisesight) not available")


@pytest.fixture(autouse=True)
def _no_model_dir_env(monkeypatch):
    monkeypatch.delenv("CIVICPULSE_NLP_MODEL_DIR", raising=False)
