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


def _texts(shared_data) -> list[str]:
    from civicpulse.nlp.datasets import DATA_DIR, read_jsonl

    texts = [r["text"] for r in read_jsonl(shared_data / "wisesight" / "valid.jsonl")]
    for f in sorted(DATA_DIR.glob("*.jsonl")):
        texts += [r["text"] for r in read_jsonl(f) if isinstance(r.get("text"), str)]
    return texts + [
        "not good không tốt ไม่ดี ko ổn", "NOT GOOD", "dont-good", "k tốt", "xkhông tốt", "ไม่ดีไม่ชอบ notgood",
        "ngu như bò ไอ้สัตว์ bullshit", "cho mình hỏi?", "", "\u212aill them all", "ok👍ดีมาก",
    ]


def test_markers_count_what_the_whole_lexicon_patterns_count(shared_data):
    """markers() runs each lexicon's Latin and Thai branches apart, only where the text has such
    letters, with a first-character lookahead: the counts are those of one plain pattern per
    lexicon (built here as it was built before those changes)."""
    import re

    from civicpulse.nlp.normalize import normalize

    def plain(words: list[str]) -> re.Pattern[str]:
        thai = sorted({w for w in words if lexicon._is_thai(w)}, key=len, reverse=True)
        latin = sorted({w.lower() for w in words if not lexicon._is_thai(w)}, key=len, reverse=True)
        parts = []
        if latin:
            parts.append(r"(?<![^\W_])(?:" + "|".join(re.escape(w) for w in latin) + r")(?![^\W_])")
        if thai:
            parts.append("(?:" + "|".join(re.escape(w) for w in thai) + ")")
        return re.compile("|".join(parts))

    ref = {k: plain(v) for k, v in lexicon._lexicons().items()}
    negs = "|".join(re.escape(n) for n in lexicon._NEGATION["vi"] + lexicon._NEGATION["en"])
    poss = "|".join(re.escape(p) for p in lexicon.LEX["pos"] if not lexicon._is_thai(p))
    ref["negpos"] = re.compile(rf"(?<![^\W_])(?:{negs})\s+(?:\w+\s+)?(?:{poss})(?![^\W_])"
                               "|ไม่(?:ค่อย)?(?:ดี|ชอบ|โอเค|สะดวก|อร่อย|คุ้ม|ประทับใจ)")
    assert list(ref) == [name for name, _, _ in lexicon._split()]
    n_found = 0
    for text in _texts(shared_data):
        t = normalize(text).lower()
        want: list[str] = []
        for name, rx in ref.items():
            n = len(rx.findall(t))
            want.extend([f"__lex_{name}__"] * min(n, 3))
        if "?" in t:
            want.append("__qmark__")
        assert lexicon.markers(t) == want, t
        n_found += bool(want)
    assert n_found > 1000


def test_an_entry_mixing_scripts_is_refused(monkeypatch):
    lexicon._split.cache_clear()
    monkeypatch.setitem(lexicon.LEX, "pos", [*lexicon.LEX["pos"], "ดีok"])
    try:
        import pytest

        with pytest.raises(ValueError, match="mixes scripts"):
            lexicon._split()
    finally:
        monkeypatch.undo()
        lexicon._split.cache_clear()


def test_first_character_lookaheads_change_no_match(shared_data):
    """The lookaheads put before the normaliser's, the entity finder's and the Thai honorifics'
    patterns: every pattern finds the same spans without its lookahead."""
    import re

    from civicpulse.nlp import entities, names
    from civicpulse.nlp import normalize as N

    texts = _texts(shared_data) + ["HTTP://X.COM hoà Hoà QUÝ thuý 5555 hahaha KKKK \u212a\u212a\u212a\u212a lolol wkwkwk",
                                   "Quý hoà ſ HAHAHA ดร.สมชาย นายกฯ คุณสมศรี"]
    finder = entities.EntityFinder()
    pats = [N._LAUGH_TH_RE, N._LAUGH_LATIN_RE, N._VI_NEW_STYLE_RE, names._TH_HON_RE] + [rx for rx, _ in finder._compile()]
    guarded = 0
    for rx in pats:
        m = re.match(r"\(\?=(?:555|\[[^\]]*\])\)", rx.pattern)
        if m is None:
            continue
        guarded += 1
        bare = re.compile(rx.pattern[m.end():], rx.flags)
        for t in texts:
            assert [x.span() for x in rx.finditer(t)] == [x.span() for x in bare.finditer(t)], (rx.pattern[:40], t)
    assert guarded >= 5


def test_posts_without_protected_spans_are_normalised_as_before():
    """normalize() skips the search for URLs, e-mails, mentions and hashtags where a text has no
    '@', '#' or URL beginning: the same result as searching."""
    from civicpulse.nlp import normalize as N

    for t in ["ดีมาก 555 ๆๆ", "Hoà bình!!!", "HTTP://A.B ok", "www.x.vn", "a@b.vn", "#tag ok", "plain text",
              "Https://x.y", "mail me at a.b@c.de", "ไม่ดี#แท็ก"]:
        s = N.unicodedata.normalize("NFC", t)
        parts, pos = [], 0
        for m in N._PROTECT_RE.finditer(s):
            parts += [N._normalize_plain(s[pos:m.start()]), m.group(0)]
            pos = m.end()
        parts.append(N._normalize_plain(s[pos:]))
        want = N.unicodedata.normalize("NFC", N._SPACES_RE.sub(" ", "".join(parts))).strip()
        assert N.normalize(t) == want
