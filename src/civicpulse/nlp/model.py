"""Model storage (``.npz`` + ``card.json``, no pickle) and the version registry.

Layout of one version::

    <root>/<task>/<version>/model.npz   coef (float16), intercept, bias [, e5_coef, e5_intercept,
                                        ens_w, ens_bias] [, nb_coef (float16), nb_intercept, fast_w]
                                        [, top_w, top_bias]
    <root>/<task>/<version>/e5top.npz   optional: fine-tuned e5 top layers + head (sentiment_e5)
    <root>/<task>/<version>/card.json   labels, feature config, scores, data, sha256 of model.npz

Registries: the package ships ``civicpulse/nlp/models/registry.json``. Retrained versions go
to a writable *model dir* (argument ``model_dir`` or env ``CIVICPULSE_NLP_MODEL_DIR``) with its
own ``registry.json``; when that registry names an active version for a task it wins.
Each registry entry keeps a ``history`` of previously active versions for rollback.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from civicpulse.nlp.errors import ModelFileError

PACKAGE_MODELS = Path(__file__).resolve().parent / "models"
TASKS = ("sentiment", "voice", "toxicity")
LABELS: dict[str, list[str]] = {
    "sentiment": ["pos", "neu", "neg", "q"],
    "voice": ["complaint", "request", "question", "praise", "other"],
    "toxicity": ["clean", "offensive", "hate"],
}
FALLBACK: dict[str, str] = {"sentiment": "neu", "voice": "other", "toxicity": "clean"}


def default_model_dir() -> Path | None:
    d = os.environ.get("CIVICPULSE_NLP_MODEL_DIR")
    return Path(d) if d else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ModelVersion:
    """One trained model version (what :func:`civicpulse.nlp.train.train` returns)."""

    task: str
    version: str
    path: Path
    labels: list[str]
    features: dict[str, Any]
    scores: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    active: bool = False
    activated: bool = False  # set by train(): did this run activate it?
    previous_active: str | None = None
    comparison: dict[str, Any] = field(default_factory=dict)


@dataclass
class LinearWeights:
    labels: list[str]
    features: dict[str, Any]
    coef: np.ndarray  # (n_classes, n_features) float32
    intercept: np.ndarray
    bias: np.ndarray
    e5_coef: np.ndarray | None = None
    e5_intercept: np.ndarray | None = None
    ens_w: np.ndarray | None = None
    ens_bias: np.ndarray | None = None
    # v2 fast path: + NB-LR head on binary (presence) features, blended in log-prob space.
    nb_coef: np.ndarray | None = None  # (n_classes, n_features)
    nb_intercept: np.ndarray | None = None
    fast_w: np.ndarray | None = None  # [w_lr, w_nb]
    # v2 embedding path: fast path blended with the fine-tuned e5 top layers (``e5top.npz``).
    top_w: np.ndarray | None = None  # [w_fast, w_e5top]
    top_bias: np.ndarray | None = None
    card: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError as e:
        raise ModelFileError(path, "file not found") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(path, f"unreadable or corrupted JSON ({e})") from e
    if not isinstance(data, dict):
        raise ModelFileError(path, "expected a JSON object")
    return data


def load_weights(version_dir: Path) -> LinearWeights:
    """Load and verify one version directory; raise :class:`ModelFileError` naming the file."""
    card_path = version_dir / "card.json"
    npz_path = version_dir / "model.npz"
    card = _read_json(card_path)
    if not npz_path.is_file():
        raise ModelFileError(npz_path, "file not found")
    expected = card.get("sha256", {}).get("model.npz")
    if expected and sha256_file(npz_path) != expected:
        raise ModelFileError(npz_path, "checksum mismatch (file corrupted or modified)")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise ModelFileError(npz_path, f"cannot read weights ({e})") from e
    try:
        labels = list(card["labels"])
        feats = dict(card["features"])
        coef = arrays["coef"].astype(np.float32)
        intercept = arrays["intercept"].astype(np.float32)
    except KeyError as e:
        raise ModelFileError(npz_path, f"missing entry {e}") from e
    if coef.shape[0] != len(labels) or intercept.shape != (len(labels),):
        raise ModelFileError(npz_path, f"shape mismatch: coef {coef.shape}, labels {len(labels)}")

    def opt(k: str) -> np.ndarray | None:
        return arrays[k].astype(np.float32) if k in arrays else None

    bias = opt("bias")
    return LinearWeights(
        labels=labels,
        features=feats,
        coef=coef,
        intercept=intercept,
        bias=bias if bias is not None else np.zeros(len(labels), np.float32),
        e5_coef=opt("e5_coef"),
        e5_intercept=opt("e5_intercept"),
        ens_w=opt("ens_w"),
        ens_bias=opt("ens_bias"),
        nb_coef=opt("nb_coef"),
        nb_intercept=opt("nb_intercept"),
        fast_w=opt("fast_w"),
        top_w=opt("top_w"),
        top_bias=opt("top_bias"),
        card=card,
        path=version_dir,
    )


def save_weights(
    version_dir: Path, w: LinearWeights, card: dict[str, Any], extra_files: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Write ``model.npz`` and ``card.json``; the card holds the SHA-256 of ``model.npz`` and of
    ``extra_files`` (already in ``version_dir``, e.g. ``e5top.npz``)."""
    version_dir.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "coef": w.coef.astype(np.float16),
        "intercept": w.intercept.astype(np.float32),
        "bias": w.bias.astype(np.float32),
    }
    for k in ("e5_coef", "e5_intercept", "ens_w", "ens_bias", "nb_intercept", "fast_w", "top_w", "top_bias"):
        v = getattr(w, k)
        if v is not None:
            arrays[k] = np.asarray(v, dtype=np.float32)
    if w.nb_coef is not None:
        arrays["nb_coef"] = w.nb_coef.astype(np.float16)
    npz_path = version_dir / "model.npz"
    np.savez_compressed(npz_path, **arrays)  # type: ignore[arg-type]
    card = dict(card)
    card["labels"] = w.labels
    card["features"] = w.features
    card["sha256"] = {"model.npz": sha256_file(npz_path)} | {f: sha256_file(version_dir / f) for f in extra_files}
    card["size_bytes"] = npz_path.stat().st_size
    _write_json(version_dir / "card.json", card)
    return card


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- registry


def _registry_path(root: Path) -> Path:
    return root / "registry.json"


def read_registry(root: Path) -> dict[str, Any]:
    p = _registry_path(root)
    if not p.exists():
        return {"tasks": {}}
    data = _read_json(p)
    data.setdefault("tasks", {})
    return data


def write_registry(root: Path, data: dict[str, Any]) -> None:
    _write_json(_registry_path(root), data)


def version_dir(task: str, version: str, model_dir: Path | None = None) -> Path:
    """Directory of a version: the model dir first, then the shipped package models."""
    if model_dir is not None:
        d = Path(model_dir) / task / version
        if d.exists():
            return d
    d = PACKAGE_MODELS / task / version
    if d.exists():
        return d
    where = Path(model_dir) / task / version if model_dir is not None else d
    raise ModelFileError(where / "card.json", f"model version {version!r} of task {task!r} not found")


def active_version(task: str, model_dir: Path | None = None) -> str:
    if model_dir is not None:
        reg = read_registry(Path(model_dir))
        entry = reg["tasks"].get(task)
        if entry and entry.get("active"):
            return str(entry["active"])
    reg = read_registry(PACKAGE_MODELS)
    entry = reg["tasks"].get(task)
    if not entry or not entry.get("active"):
        raise ModelFileError(_registry_path(PACKAGE_MODELS), f"no active model for task {task!r}")
    return str(entry["active"])


def list_versions(task: str, model_dir: Path | None = None) -> list[dict[str, Any]]:
    """All known versions of a task (shipped + model dir) with their card scores."""
    seen: dict[str, dict[str, Any]] = {}
    roots = [("package", PACKAGE_MODELS)]
    if model_dir is not None:
        roots.append(("model_dir", Path(model_dir)))
    for origin, root in roots:
        tdir = root / task
        if not tdir.is_dir():
            continue
        for d in sorted(tdir.iterdir()):
            if not (d / "card.json").exists():
                continue
            try:
                card = _read_json(d / "card.json")
            except ModelFileError as e:
                card = {"error": str(e)}
            seen[d.name] = {"version": d.name, "origin": origin, "path": str(d), "card": card,
                            "compared_with": version_comparison(card)}
    try:
        act = active_version(task, model_dir)
    except ModelFileError:
        act = None
    out = []
    for v in seen.values():
        v["active"] = v["version"] == act
        out.append(v)
    out.sort(key=lambda v: str(v["card"].get("created", "")) + v["version"])
    return out


def shown_scores(card: dict[str, Any]) -> dict[str, Any]:
    """A version's validation scores per set on the path its stored labels come from: the routed
    default path where the card has it, else the fast path."""
    scores = card.get("scores") or {}
    return dict(scores.get("default") or scores.get("fast") or {})


def version_comparison(card: dict[str, Any]) -> dict[str, Any] | None:
    """What a version's card says of the version that was active when it was built, scored on the
    same validation data: ``{"version", "previous", "new"}`` (selection scores: mean macro-F1 over
    the validation sets), or ``None`` when the card has no such comparison (first versions)."""
    cw = card.get("compared_with")
    new = (card.get("scores") or {}).get("selection_score")
    if not isinstance(cw, dict) or not cw.get("version"):
        return None
    prev = cw.get("selection_score")
    if not isinstance(prev, int | float) or not isinstance(new, int | float):
        return None
    return {"version": str(cw["version"]), "previous": float(prev), "new": float(new)}


def activate(task: str, version: str, model_dir: Path) -> str | None:
    """Make ``version`` active in the model dir registry; returns the previously active one."""
    root = Path(model_dir)
    reg = read_registry(root)
    entry = reg["tasks"].setdefault(task, {"active": None, "history": []})
    prev = entry.get("active")
    if not prev:
        try:
            prev = active_version(task, None)
        except ModelFileError:
            prev = None
    if prev and prev != version:
        entry.setdefault("history", []).append(prev)
    entry["active"] = version
    write_registry(root, reg)
    return prev


def rollback(task: str, model_dir: Path) -> str:
    """Re-activate the previously active version of ``task``; returns it. A model dir that has never
    activated a version of ``task`` runs the shipped one: its rollback goes to the shipped registry's
    previous version, written into this model dir (the package is not written to)."""
    root = Path(model_dir)
    reg = read_registry(root)
    entry = reg["tasks"].get(task) or {}
    history = list(entry.get("history") or [])
    if not entry.get("active") and root.resolve() != PACKAGE_MODELS.resolve():
        history = list((read_registry(PACKAGE_MODELS)["tasks"].get(task) or {}).get("history") or [])
        entry = reg["tasks"].setdefault(task, {})
    # a version no longer on disk (an older release shipped it; a newer one dropped it) is skipped
    while history:
        prev = str(history.pop())
        try:
            version_dir(task, prev, root)
        except ModelFileError:
            continue
        entry.update(history=history, active=prev)
        write_registry(root, reg)
        return prev
    raise ModelFileError(_registry_path(root), f"nothing to roll back to for task {task!r}")
