"""Speed-path rewrites keep results identical; the v2 (LR + NB-LR) fast head works."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from civicpulse.nlp import lexicon
from civicpulse.nlp.classify import Classifier, _log_softmax
from civicpulse.nlp.features import DEFAULT_CONFIG, Featurizer
from civicpulse.nlp.model import LinearWeights, load_weights, save_weights
from civicpulse.nlp.pipeline import enrich_texts
from civicpulse.nlp.train import _fit_nblr, _tune_blend


def test_negpos_marker_factored_regex():
    assert "__lex_negpos__" in lexicon.markers("dịch vụ không tốt")
    assert "__lex_negpos__" in lexicon.markers("it was not very good")
    assert "__lex_negpos__" in lexicon.markers("ไม่ค่อยดี")
    assert "__lex_negpos__" not in lexicon.markers("dịch vụ rất tốt")
    assert "__lex_negpos__" not in lexicon.markers("nothing good")  # word boundary


def test_enrich_dedupes_but_returns_independent_copies():
    texts = ["ดีมากครับ", "Đường ngập quá", None, "ดีมากครับ", "Đường ngập quá", None]
    out = enrich_texts(texts, workers=1)
    assert len(out) == len(texts)
    assert out[0] == out[3] and out[0] is not out[3] and out[0].tokens is not out[3].tokens
    assert out[1].to_dict() == out[4].to_dict()
    single = enrich_texts(["Đường ngập quá"], workers=1)[0]
    assert single.to_dict() == out[1].to_dict()
    # per-item languages are kept per distinct (text, lang)
    o2 = enrich_texts(["ok", "ok"], langs=["en", "vi"], workers=1)
    assert [e.lang for e in o2] == ["en", "vi"]


def test_nb_head_blend_and_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    feats = dict(DEFAULT_CONFIG) | {"char_bits": 10, "word_bits": 9}
    f = Featurizer.from_config(feats)
    texts = ["ดีมาก", "แย่มาก", "ปกติ", "อะไร?"] * 10
    toks = [[t] for t in texts]
    x = f.transform(texts, toks)
    y = np.array([0, 2, 1, 3] * 10)
    sw = np.ones(len(y), np.float32)
    nb_c, nb_i = _fit_nblr(x, y, sw, 1.0, 4)
    assert nb_c.shape == (4, f.n_features)
    w = LinearWeights(
        labels=["pos", "neu", "neg", "q"], features=feats,
        coef=rng.normal(size=(4, f.n_features)).astype(np.float32), intercept=np.zeros(4, np.float32),
        bias=np.zeros(4, np.float32), nb_coef=nb_c, nb_intercept=nb_i, fast_w=np.array([0.3, 0.7], np.float32),
    )
    save_weights(tmp_path / "v", w, {"task": "sentiment"})
    w2 = load_weights(tmp_path / "v")
    clf = Classifier("sentiment", w2, "v")
    assert clf.has_nb
    z = clf.fast_logits(x)
    xb = x.copy()
    xb.data[:] = 1
    z1 = np.asarray(x @ w2.coef.T) + w2.intercept
    z2 = np.asarray(xb @ w2.nb_coef.T) + w2.nb_intercept
    assert np.allclose(z, 0.3 * _log_softmax(z1) + 0.7 * _log_softmax(z2), atol=1e-4)
    assert (clf.proba_from_features(x).argmax(1) == y).mean() > 0.9  # NB head dominates; separable toy data
    a, b, _ = _tune_blend(_log_softmax(z1), _log_softmax(z2), y)
    assert 0.0 <= a <= 1.0 and b.shape == (4,)
    assert isinstance(sp.csr_matrix(x), sp.csr_matrix)


def test_pool_path_matches_in_process():
    from civicpulse.nlp.pipeline import PARALLEL_MIN, shutdown_pool

    texts = [f"ถนนเส้นที่ {i} น้ำท่วมมาก แย่มาก" if i % 2 else f"Đường số {i} ngập quá" for i in range(PARALLEL_MIN + 10)]
    try:
        pooled = enrich_texts(texts, workers=2)
    finally:
        shutdown_pool()
    local = enrich_texts(texts[:50], workers=1)
    assert len(pooled) == len(texts)
    assert [e.to_dict() for e in pooled[:50]] == [e.to_dict() for e in local]
