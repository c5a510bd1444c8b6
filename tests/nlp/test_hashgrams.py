"""The compiled n-gram hasher gives HashingVectorizer's features, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import HashingVectorizer

from civicpulse.nlp import features as F
from civicpulse.nlp.datasets import DATA_DIR, read_jsonl

pytestmark = pytest.mark.skipif(F._hashgrams is None, reason="the compiled _hashgrams module is not built")

EDGE = ["", " ", "a", "ab", " x  y\t\u00a0z\u2003w ", "\u200b\u200bzero width", "😀😀 emoji 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "Đường ngập quá!!! ko đc", "ไม่ ๆ 555 ดีมากกกก", "a\x1cb\x1dc\x85d\u2028e", "x" * 3000]


def _sk(mode: int, ngram: tuple[int, int], n_features: int) -> HashingVectorizer:
    kw = {"analyzer": "char_wb"} if mode == 0 else {"analyzer": "word", "token_pattern": r"\S+"}
    return HashingVectorizer(ngram_range=ngram, n_features=n_features, alternate_sign=False, norm="l2",
                             lowercase=False, dtype=np.float32, **kw)


def _same(docs: list[str], mode: int, ngram: tuple[int, int], n_features: int) -> None:
    a = _sk(mode, ngram, n_features).transform(docs)
    b = F.hashed_counts(docs, mode, ngram, n_features)
    assert a.shape == b.shape
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data.view(np.uint32), b.data.view(np.uint32))  # bit for bit


@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize("ngram", [(1, 4), (1, 1), (2, 5), (3, 3)])
def test_same_as_hashing_vectorizer_on_shipped_texts(mode: int, ngram: tuple[int, int]) -> None:
    docs = [r["text"] for r in read_jsonl(DATA_DIR / "vi_sentiment_valid.jsonl")]
    docs += [r["text"] for r in read_jsonl(DATA_DIR / "th_sentiment_valid.jsonl")] + EDGE
    _same(docs, mode, ngram, 1 << 18)
    _same(docs, mode, ngram, 1000)  # a modulus that is not a power of two


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(st.lists(_text, min_size=1, max_size=6), st.integers(0, 1), st.integers(1, 3), st.integers(0, 2))
def test_same_as_hashing_vectorizer_on_any_text(docs: list[str], mode: int, nmin: int, extra: int) -> None:
    _same(docs, mode, (nmin, nmin + extra), 1 << 17)


def test_lone_surrogate_is_an_error_as_in_hashing_vectorizer() -> None:
    with pytest.raises(UnicodeError):
        _sk(0, (1, 4), 1 << 18).transform(["ab\ud800c"])
    with pytest.raises(UnicodeError, match="document 1 has a lone surrogate"):
        F.hashed_counts(["ok", "ab\ud800c"], 0, (1, 4), 1 << 18)


def test_bad_arguments_are_errors() -> None:
    with pytest.raises(ValueError):
        F._hashgrams.hash_ngrams(["a"], 2, 1, 4, 16)
    with pytest.raises(ValueError):
        F._hashgrams.hash_ngrams(["a"], 0, 3, 2, 16)
    with pytest.raises(TypeError, match="document 0 is not a str"):
        F._hashgrams.hash_ngrams([b"a"], 0, 1, 4, 16)


def test_featurizer_is_the_same_with_and_without_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    f = F.Featurizer.from_config(F.DEFAULT_CONFIG)
    texts = ["Đường ngập quá, ko đi được", "ขอบคุณครับ บริการดีมาก 555", "please fix @user http://x.y/z", ""]
    toks = [t.split() for t in texts]
    a = f.transform(texts, toks)
    monkeypatch.setattr(F, "_hashgrams", None)
    b = f.transform(texts, toks)
    assert (a != b).nnz == 0 and np.array_equal(a.indices, b.indices)
