"""Hashed features shared by all fast classifiers.

Two hashed blocks (scikit-learn ``HashingVectorizer``, MurmurHash3 — stable across
versions, no vocabulary to ship; where the optional compiled ``_hashgrams`` module is built, it
computes the same n-gram indices about ten times faster, and the matrices are the same bit for bit):

* character n-grams (``char_wb``) of the normalised, lowercased text with URLs and
  mentions masked;
* word uni/bi-grams of the segmented words plus cue-lexicon marker tokens
  (see :mod:`civicpulse.nlp.lexicon`).

The configuration is stored with every model (``card.json`` → ``features``), so a model
is always scored with the featurizer it was trained with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

from civicpulse.nlp import lexicon

try:  # the optional compiled module (setup.py); without it HashingVectorizer does the same work
    from civicpulse.nlp import _hashgrams  # type: ignore[attr-defined]
except ImportError:
    _hashgrams = None

_MASK_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MASK_MENTION_RE = re.compile(r"(?<![\w@])@[\w.]+")
_DIGITS_RE = re.compile(r"\d{4,}")

DEFAULT_CONFIG: dict[str, Any] = {
    "kind": "hashed-char-word-v1",
    "char_ngram": [1, 4],
    "char_bits": 18,
    "word_ngram": [1, 2],
    "word_bits": 17,
    "word_weight": 1.0,
    "max_chars": 2000,
}


def feature_text(norm_text: str, max_chars: int = 2000) -> str:
    s = norm_text[:max_chars].lower()
    s = _MASK_URL_RE.sub(" xxurl ", s)
    if "@" in s:  # a mention needs one (the pattern's lookbehind would be tried at every position)
        s = _MASK_MENTION_RE.sub(" xxuser ", s)
    return _DIGITS_RE.sub("0000", s)


@dataclass(frozen=True)
class Featurizer:
    char_ngram: tuple[int, int]
    char_bits: int
    word_ngram: tuple[int, int]
    word_bits: int
    word_weight: float
    max_chars: int

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Featurizer:
        return _cached(
            tuple(cfg["char_ngram"]),
            int(cfg["char_bits"]),
            tuple(cfg["word_ngram"]),
            int(cfg["word_bits"]),
            float(cfg.get("word_weight", 1.0)),
            int(cfg.get("max_chars", 2000)),
        )

    @property
    def n_features(self) -> int:
        return (1 << self.char_bits) + (1 << self.word_bits)

    def _vectorizers(self) -> tuple[HashingVectorizer, HashingVectorizer]:
        return _vecs(self)

    def transform(self, norm_texts: Sequence[str], tokens: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """Features for normalised texts and their word tokens (same order)."""
        ftexts = [feature_text(t, self.max_chars) for t in norm_texts]
        wdocs = []
        for ft, toks in zip(ftexts, tokens, strict=True):
            ws = [w.lower() for w in toks[:400]]
            ws.extend(lexicon.markers(ft))
            wdocs.append(" ".join(ws) if ws else "__empty__")
        if _hashgrams is not None and ftexts:
            xc = hashed_counts(ftexts, 0, self.char_ngram, 1 << self.char_bits)
            xw = hashed_counts(wdocs, 1, self.word_ngram, 1 << self.word_bits)
        else:
            cv, wv = self._vectorizers()
            xc = cv.transform(ftexts)
            xw = wv.transform(wdocs)
        if self.word_weight != 1.0:
            xw = xw * self.word_weight
        return sp.hstack([xc, xw], format="csr", dtype=np.float32)


def hashed_counts(docs: Sequence[str], mode: int, ngram: tuple[int, int], n_features: int) -> sp.csr_matrix:
    """What ``HashingVectorizer(analyzer="char_wb" (mode 0) or "word" with token_pattern ``\\S+`` (mode 1),
    ngram_range=ngram, n_features=n_features, alternate_sign=False, norm="l2", lowercase=False,
    dtype=float32).transform(docs)`` returns, from the compiled module's indices: ones, duplicates
    summed (which also sorts each row's indices), rows L2-normalised, as HashingVectorizer does."""
    if _hashgrams is None:
        raise RuntimeError("the compiled _hashgrams module is not built; use Featurizer.transform")
    ind_b, ptr_b = _hashgrams.hash_ngrams(list(docs), mode, ngram[0], ngram[1], n_features)
    indices = np.frombuffer(ind_b, dtype=np.int32).copy()  # writable copies: sum_duplicates works in place
    indptr = np.frombuffer(ptr_b, dtype=np.int64)
    indptr = indptr.astype(np.int32 if indptr[-1] <= np.iinfo(np.int32).max else np.int64)  # as HashingVectorizer
    x = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(docs), n_features))
    x.sum_duplicates()
    return normalize(x, norm="l2", copy=False)


@lru_cache(maxsize=8)
def _cached(
    char_ngram: tuple[int, int], char_bits: int, word_ngram: tuple[int, int], word_bits: int, ww: float, mc: int
) -> Featurizer:
    return Featurizer(char_ngram, char_bits, word_ngram, word_bits, ww, mc)


@lru_cache(maxsize=8)
def _vecs(f: Featurizer) -> tuple[HashingVectorizer, HashingVectorizer]:
    cv = HashingVectorizer(
        analyzer="char_wb",
        ngram_range=f.char_ngram,
        n_features=1 << f.char_bits,
        alternate_sign=False,
        norm="l2",
        lowercase=False,
        dtype=np.float32,
    )
    wv = HashingVectorizer(
        analyzer="word",
        token_pattern=r"\S+",  # noqa: S106
        ngram_range=f.word_ngram,
        n_features=1 << f.word_bits,
        alternate_sign=False,
        norm="l2",
        lowercase=False,
        dtype=np.float32,
    )
    return cv, wv
