"""Classifiers with one interface: ``predict(texts) -> list[(label, prob)]``.

Tasks: ``sentiment`` (pos/neu/neg/q), ``voice`` (complaint/request/question/praise/other),
``toxicity`` (clean/offensive/hate). Each is a linear model over hashed char/word features
(the *fast path*). A version may also carry an e5-embedding head; when embeddings are passed
(``predict(texts, embeddings=E)``) the two are blended (the *ensemble*, or *e5 path*).

Per-language routing: a version's ``card.json`` may hold ``route: {"th": "fast", "vi": "e5", ...}``,
chosen at training time from validation scores (the e5 path is used for a language only where it
beat the fast path). :meth:`Classifier.uses_e5` applies it; ``mode="fast"`` / ``mode="e5"`` force
one path. A version with an e5 head and no ``route`` uses the e5 path for every language.
Vietnamese typed without diacritics has a route key of its own, ``vi_plain`` (:func:`route_key`): the
e5 tokenizer handles it worse than the char n-grams do. A card without that key routes it like ``vi``.

    clf = get_classifier("sentiment")
    clf.predict(["ดีมากครับ", "Thủ tục chậm quá"])      # [("pos", 0.93), ("neg", 0.81)]
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from civicpulse.nlp import informal, langid, segment
from civicpulse.nlp.errors import ModelFileError
from civicpulse.nlp.features import Featurizer
from civicpulse.nlp.model import (
    FALLBACK,
    LinearWeights,
    active_version,
    default_model_dir,
    load_weights,
    sha256_file,
    version_dir,
)
from civicpulse.nlp.normalize import has_diacritics, normalize

if TYPE_CHECKING:
    from civicpulse.nlp.sentiment_e5 import E5Joint

_verified: set[str] = set()
MODES = ("auto", "fast", "e5")
_HAS_CONTENT_RE = re.compile(r"[^\W_]")
MAX_CHARS = 5000  # texts are cut before segmentation (100 KB posts stay fast)


VI_PLAIN = "vi_plain"  # route key: Vietnamese typed without diacritics


def route_key(lang: str, text: str) -> str:
    """The key a text is routed by: its language, or ``vi_plain`` for Vietnamese without any diacritic."""
    return VI_PLAIN if lang == "vi" and not has_diacritics(text) else lang


def route_lang(key: str) -> str:
    """The language of a route key (``vi_plain`` → ``vi``)."""
    return "vi" if key == VI_PLAIN else key


@dataclass
class Prepared:
    """Normalised texts, detected languages and word tokens of a batch; ``model_norm`` and
    ``model_tokens`` are what the classifiers see (informal Vietnamese spellings written out,
    :mod:`civicpulse.nlp.informal`), the same objects where nothing was written out."""

    norm: list[str]
    langs: list[tuple[str, float]]
    tokens: list[list[str]]
    model_norm: list[str]
    model_tokens: list[list[str]]

    @property
    def route_keys(self) -> list[str]:
        """Per text, the key of the per-language route (:func:`route_key`)."""
        return [route_key(lg, t) for t, (lg, _) in zip(self.norm, self.langs, strict=True)]

    @property
    def empty(self) -> np.ndarray:
        return np.array([not _HAS_CONTENT_RE.search(t) for t in self.norm], dtype=bool)


def prepare(texts: Sequence[object], langs: Sequence[str | None] | None = None) -> Prepared:
    norm = [normalize(t)[:MAX_CHARS] for t in texts]
    detected = langid.detect_batch(norm, normalized=True)
    if langs is not None:
        detected = [(lg, 1.0) if lg else d for lg, d in zip(langs, detected, strict=True)]
    toks = [segment.words(t, lg, normalized=True) for t, (lg, _) in zip(norm, detected, strict=True)]
    model = informal.for_models(norm, [lg for lg, _ in detected])
    model_toks = [
        tk if m is t else segment.words(m, lg, normalized=True)
        for t, m, tk, (lg, _) in zip(norm, model, toks, detected, strict=True)
    ]
    return Prepared(norm, detected, toks, model, model_toks)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # type: ignore[no-any-return]


class Classifier:
    def __init__(self, task: str, weights: LinearWeights, version: str) -> None:
        self.task = task
        self.version = version
        self.w = weights
        self.labels = list(weights.labels)
        self.featurizer = Featurizer.from_config(weights.features)
        self.fallback = FALLBACK.get(task, self.labels[0])
        self._coef_t = np.ascontiguousarray(weights.coef.T)  # (n_features, n_classes)
        self._nb_coef_t = np.ascontiguousarray(weights.nb_coef.T) if weights.nb_coef is not None else None
        top = weights.card.get("e5_top") if isinstance(weights.card, dict) else None
        self.e5top_path: Path | None = (
            weights.path / str(top.get("file", "e5top.npz")) if top and weights.path is not None else None
        )

    @property
    def has_e5top(self) -> bool:
        """This version ships fine-tuned e5 top layers (used on the embedding path)."""
        return self.e5top_path is not None and self.w.top_w is not None

    def joint(self) -> E5Joint:
        """Embeddings + fine-tuned sentiment in one e5 pass (raises ModelFileError if broken)."""
        assert self.e5top_path is not None
        from civicpulse.nlp.sentiment_e5 import get_joint

        expected = self.w.card.get("sha256", {}).get(self.e5top_path.name)
        if not self.e5top_path.is_file():
            raise ModelFileError(self.e5top_path, "file not found")
        key = str(self.e5top_path)
        if key not in _verified:
            if expected and sha256_file(self.e5top_path) != expected:
                raise ModelFileError(self.e5top_path, "checksum mismatch (file corrupted or modified)")
            _verified.add(key)
        return get_joint(self.e5top_path)

    @property
    def has_e5(self) -> bool:
        return self.w.e5_coef is not None and self.w.ens_w is not None

    @property
    def embeds(self) -> bool:
        """This version has an embedding path (e5 head or fine-tuned e5 layers)."""
        return self.has_e5 or self.has_e5top

    @property
    def route(self) -> dict[str, str]:
        """Path per language from the card (``{}``: no routing table)."""
        r = self.w.card.get("route") if isinstance(self.w.card, dict) else None
        return {str(k): str(v) for k, v in r.items()} if isinstance(r, dict) else {}

    def path_for(self, lang: str, mode: str = "auto") -> str:
        """``"e5"`` or ``"fast"`` for a text with route key ``lang`` (a language, or ``vi_plain``;
        ``mode``: auto | fast | e5)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        if mode == "fast" or not self.embeds:
            return "fast"
        if mode == "e5":
            return "e5"
        route = self.route
        if not route:
            return "e5"
        path = route.get(lang) or route.get(route_lang(lang)) or route.get("other", "fast")
        return "e5" if path == "e5" else "fast"

    def uses_e5(self, langs: Sequence[str], mode: str = "auto") -> np.ndarray:
        """Boolean mask: which texts (by route key, :attr:`Prepared.route_keys`) take the embedding path."""
        return np.array([self.path_for(lg, mode) == "e5" for lg in langs], dtype=bool)

    def features(self, prep: Prepared) -> sp.csr_matrix:
        return self.featurizer.transform(prep.model_norm, prep.model_tokens)

    @property
    def has_nb(self) -> bool:
        return self.w.nb_coef is not None and self.w.fast_w is not None

    def fast_logits(self, x: sp.csr_matrix) -> np.ndarray:
        """Fast-path scores before the class offsets. v1: LR logits. v2: the LR and NB-LR
        (binary features) heads blended in log-probability space."""
        z = np.asarray(x @ self._coef_t) + self.w.intercept
        if not self.has_nb:
            return z
        assert self.w.nb_coef is not None and self.w.nb_intercept is not None and self.w.fast_w is not None
        xb = x.copy()
        xb.data[:] = 1.0
        znb = np.asarray(xb @ self._nb_coef_t) + self.w.nb_intercept
        return self.w.fast_w[0] * _log_softmax(z) + self.w.fast_w[1] * _log_softmax(znb)  # type: ignore[no-any-return]

    def proba_from_features(
        self,
        x: sp.csr_matrix,
        embeddings: np.ndarray | None = None,
        empty: np.ndarray | None = None,
        e5_logp: np.ndarray | None = None,
    ) -> np.ndarray:
        z = self.fast_logits(x)
        if e5_logp is not None and self.has_e5top:
            assert self.w.top_w is not None
            top_bias = self.w.top_bias if self.w.top_bias is not None else 0.0
            p = _softmax(self.w.top_w[0] * _log_softmax(z) + self.w.top_w[1] * e5_logp + top_bias)
        elif embeddings is not None and self.has_e5:
            assert self.w.e5_coef is not None and self.w.e5_intercept is not None and self.w.ens_w is not None
            lp_fast = np.log(_softmax(z) + 1e-9)
            lp_e5 = np.log(_softmax(embeddings.astype(np.float32) @ self.w.e5_coef.T + self.w.e5_intercept) + 1e-9)
            ens_bias = self.w.ens_bias if self.w.ens_bias is not None else 0.0
            p = _softmax(self.w.ens_w[0] * lp_fast + self.w.ens_w[1] * lp_e5 + ens_bias)
        else:
            p = _softmax(z + self.w.bias)
        if empty is not None and empty.any():
            fb = np.zeros(len(self.labels), np.float32)
            fb[self.labels.index(self.fallback)] = 1.0
            p[empty] = fb
        return p

    def proba_routed(
        self,
        x: sp.csr_matrix,
        langs: Sequence[str],
        embeddings: np.ndarray | None = None,
        empty: np.ndarray | None = None,
        e5_logp: np.ndarray | None = None,
        mode: str = "auto",
    ) -> np.ndarray:
        """Probabilities with the per-language route: texts routed to ``e5`` use the embedding
        path (``embeddings`` / ``e5_logp`` rows aligned with ``x``), the others the fast path."""
        p = self.proba_from_features(x, None, empty)
        if embeddings is None and e5_logp is None:
            return p
        mask = self.uses_e5(langs, mode)
        if mask.any():
            idx = np.flatnonzero(mask)
            p[idx] = self.proba_from_features(
                x[idx],
                embeddings[idx] if embeddings is not None else None,
                empty[idx] if empty is not None else None,
                e5_logp[idx] if e5_logp is not None else None,
            )
        return p

    def to_labels(self, p: np.ndarray, empty: np.ndarray | None = None) -> list[tuple[str, float]]:
        idx = p.argmax(axis=1)
        out = []
        for i, j in enumerate(idx):
            if empty is not None and empty[i]:
                out.append((self.fallback, 0.0))
            else:
                out.append((self.labels[j], round(float(p[i, j]), 4)))
        return out

    def _e5_logp(self, texts: Sequence[object], with_e5: bool) -> np.ndarray | None:
        if not (with_e5 and self.has_e5top):
            return None
        return self.joint().encode(texts)[1]

    def predict_proba(
        self,
        texts: Sequence[object],
        embeddings: np.ndarray | None = None,
        prepared: Prepared | None = None,
        with_e5: bool = False,
    ) -> np.ndarray:
        prep = prepared or prepare(texts)
        if not prep.norm:
            return np.zeros((0, len(self.labels)), np.float32)
        lp = self._e5_logp(texts, with_e5)
        return self.proba_from_features(self.features(prep), embeddings, prep.empty, lp)

    def predict(
        self,
        texts: Sequence[object],
        embeddings: np.ndarray | None = None,
        prepared: Prepared | None = None,
        with_e5: bool = False,
    ) -> list[tuple[str, float]]:
        """Batched prediction: ``[(label, probability), ...]``. Empty/emoji-free-of-text
        input gets the task's neutral label (neu / other / clean) with score 0.
        ``with_e5=True`` uses the fine-tuned e5 layers when the version has them (slow path)."""
        prep = prepared or prepare(texts)
        if not prep.norm:
            return []
        lp = self._e5_logp(texts, with_e5)
        p = self.proba_from_features(self.features(prep), embeddings, prep.empty, lp)
        return self.to_labels(p, prep.empty)


_cache: dict[tuple[str, str, str], Classifier] = {}
_lock = threading.Lock()


def get_classifier(task: str, model_dir: str | Path | None = None, version: str | None = None) -> Classifier:
    """The active (or given) version of ``task``; cached. Raises ModelFileError if broken."""
    md = Path(model_dir) if model_dir is not None else default_model_dir()
    ver = version or active_version(task, md)
    vdir = version_dir(task, ver, md)
    key = (task, ver, str(vdir))
    with _lock:
        clf = _cache.get(key)
        if clf is None:
            clf = Classifier(task, load_weights(vdir), ver)
            _cache[key] = clf
        return clf


def clear_cache() -> None:
    with _lock:
        _cache.clear()
        _verified.clear()
