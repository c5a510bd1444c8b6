"""The ``soup`` stage of ``scripts/train_sentiment_e5.py``: fine-tuned layer files averaged."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from civicpulse.nlp.sentiment_e5 import quantize_int8

ROOT = Path(__file__).resolve().parents[2]


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("train_sentiment_e5", ROOT / "scripts" / "train_sentiment_e5.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _layers(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "l0.wqkv": rng.standard_normal((8, 24)).astype(np.float16),
        "l0.bqkv": rng.standard_normal(24).astype(np.float16),
        "head.w": rng.standard_normal((8, 4)).astype(np.float16),
        "head.b": rng.standard_normal(4).astype(np.float16),
        "eps": np.float32(1e-12),
        "nh": np.int32(2),
    }


def test_soup_averages_float16_and_int8_files_with_weights(tmp_path: Path) -> None:
    a, b = _layers(1), _layers(2)
    np.savez(tmp_path / "a.npz", **a)
    np.savez(tmp_path / "b.npz", **quantize_int8(b))  # a shipped version's file: int8 + per-column scales
    out = tmp_path / "soup.npz"
    _script().main(["soup", "--inputs", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"),
                    "--weights", "3,1", "--e5top", str(out)])
    with np.load(out) as z:
        got = {k: z[k] for k in z.files}
    assert sorted(got) == sorted(a)
    q = quantize_int8(b)
    b_w = q["l0.wqkv"].astype(np.float32) * q["l0.wqkv.scale"]
    want = 0.75 * a["l0.wqkv"].astype(np.float32) + 0.25 * b_w
    assert got["l0.wqkv"].dtype == np.float16
    np.testing.assert_allclose(got["l0.wqkv"].astype(np.float32), want, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(got["head.b"].astype(np.float32),
                               0.75 * a["head.b"].astype(np.float32) + 0.25 * b["head.b"].astype(np.float32),
                               rtol=2e-3, atol=2e-3)
    assert got["nh"] == 2


def test_soup_refuses_files_of_other_layers_or_bad_weights(tmp_path: Path) -> None:
    a, b = _layers(1), _layers(2)
    del b["head.b"]
    np.savez(tmp_path / "a.npz", **a)
    np.savez(tmp_path / "b.npz", **b)
    mod = _script()
    with pytest.raises(SystemExit, match="other arrays"):
        mod.main(["soup", "--inputs", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="one non-negative weight"):
        mod.main(["soup", "--inputs", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "--weights", "1"])
    with pytest.raises(SystemExit, match="at least two"):
        mod.main(["soup", "--inputs", str(tmp_path / "a.npz")])
