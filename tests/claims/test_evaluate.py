"""The labelled set of the matching evaluation: halves are disjoint, our pairs cover every language pair, and
precision/recall are counted over (claim, item) pairs. (The full evaluation embeds ~540 texts: it is run by
`civicpulse claims evaluate`, not here.)"""

from __future__ import annotations

import json

import numpy as np

from civicpulse.domain.alerts.claims import evaluate


def test_halves_are_disjoint_and_cover_the_languages():  # type: ignore[no-untyped-def]
    parts = evaluate.load_parts()
    assert set(parts) == {("limesoda", "tune"), ("limesoda", "heldout"), ("ours", "tune"), ("ours", "heldout")}
    for name in ("limesoda", "ours"):
        tune = {t for t, _l in parts[(name, "tune")].claims}
        held = {t for t, _l in parts[(name, "heldout")].claims}
        assert tune and held and not tune & held
    ours = json.loads(evaluate.OURS.read_text(encoding="utf-8"))
    for c in ours["claims"]:
        assert {it["lang"] for it in c["items"]} == {"th", "vi", "en"}, c["id"]
    held = parts[("ours", "heldout")]
    assert sum(1 for *_x, c, _cross in held.items if c is None) == 12
    assert sum(1 for *_x, cross in held.items if cross) == 16


def test_precision_and_recall_count_pairs():  # type: ignore[no-untyped-def]
    truth = np.array([[True, False], [False, True], [False, False]])
    pred = np.array([[True, True], [False, False], [False, False]])
    assert evaluate._pr(pred, truth) == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 1, "fp": 1, "fn": 1}
