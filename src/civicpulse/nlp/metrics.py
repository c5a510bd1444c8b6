"""Classification metrics (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def evaluate_labels(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None) -> dict[str, Any]:
    """accuracy, micro/macro F1, per-class P/R/F1/support and a confusion matrix.

    ``labels`` fixes the class order; classes absent from both gold and predictions are
    left out of the macro average.
    """
    if labels is None:
        labels = sorted(set(gold) | set(pred))
    labels = list(labels)
    for x in list(gold) + list(pred):
        if x not in labels:
            labels.append(x)
    idx = {lab: i for i, lab in enumerate(labels)}
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    for g, p in zip(gold, pred, strict=True):
        cm[idx[g], idx[p]] += 1
    n = int(cm.sum())
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(predicted > 0, tp / predicted, 0.0)
        rec = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    present = (support + predicted) > 0
    acc = float(tp.sum() / n) if n else 0.0
    per_class = {
        lab: {"precision": round(float(prec[i]), 4), "recall": round(float(rec[i]), 4), "f1": round(float(f1[i]), 4), "support": int(support[i])}
        for i, lab in enumerate(labels)
    }
    return {
        "n": n,
        "accuracy": round(acc, 4),
        # single-label multi-class: micro-F1 == accuracy
        "micro_f1": round(acc, 4),
        "macro_f1": round(float(f1[present].mean()) if present.any() else 0.0, 4),
        "per_class": per_class,
        "labels": labels,
        "confusion": cm.tolist(),
    }


def macro_f1_fast(gold_idx: np.ndarray, pred_idx: np.ndarray, k: int) -> float:
    cm = np.bincount(gold_idx * k + pred_idx, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    denom = support + predicted
    present = denom > 0
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(f1[present].mean())
