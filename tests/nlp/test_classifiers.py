from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
import pytest

from civicpulse.nlp import ModelFileError
from civicpulse.nlp.classify import clear_cache, get_classifier
from civicpulse.nlp.datasets import DATA_DIR, read_jsonl
from civicpulse.nlp.metrics import evaluate_labels
from civicpulse.nlp.model import LABELS, PACKAGE_MODELS, active_version, load_weights


def _majority(gold):
    lab = Counter(gold).most_common(1)[0][0]
    return evaluate_labels(gold, [lab] * len(gold))


def _check_beats_majority(task, rows):
    clf = get_classifier(task)
    gold = [r["label"] for r in rows]
    pred = [lab for lab, _ in clf.predict([r["text"] for r in rows])]
    m = evaluate_labels(gold, pred, LABELS[task])
    base = _majority(gold)
    assert m["macro_f1"] > base["macro_f1"] + 0.1, (m["macro_f1"], base["macro_f1"])
    assert m["accuracy"] >= base["accuracy"], (m["accuracy"], base["accuracy"])
    return m


def test_sentiment_beats_majority_on_wisesight_valid(shared_data):
    rows = read_jsonl(shared_data / "wisesight" / "valid.jsonl")
    m = _check_beats_majority("sentiment", rows)
    assert m["micro_f1"] > 0.65


@pytest.mark.parametrize("name", ["vi_sentiment_valid.jsonl", "en_sentiment_valid.jsonl"])
def test_sentiment_beats_majority_on_own_sets(name):
    _check_beats_majority("sentiment", read_jsonl(DATA_DIR / name))


def test_voice_beats_majority():
    _check_beats_majority("voice", read_jsonl(DATA_DIR / "civic_voice_valid.jsonl"))


def test_toxicity_beats_majority():
    _check_beats_majority("toxicity", read_jsonl(DATA_DIR / "civic_toxicity_valid.jsonl"))


def test_predict_interface_and_bad_input():
    clf = get_classifier("sentiment")
    bad = ["", "😀😀", "\ud800", "\u200b\u200b", "x" * 100_000, "ไทย Việt English 中文", "   "]
    out = clf.predict(bad)
    assert len(out) == len(bad)
    for lab, p in out:
        assert lab in LABELS["sentiment"] and 0.0 <= p <= 1.0
    assert out[0] == ("neu", 0.0) and out[2] == ("neu", 0.0) and out[3] == ("neu", 0.0)
    assert clf.predict([]) == []
    assert get_classifier("voice").predict([""])[0] == ("other", 0.0)
    assert get_classifier("toxicity").predict([""])[0] == ("clean", 0.0)


def test_sentiment_sensible_examples():
    clf = get_classifier("sentiment")
    res = clf.predict(["ขอบคุณมากครับ บริการดีมาก ประทับใจ", "แย่มาก รอนานไม่มีใครสนใจ", "ทำบัตรต้องใช้เอกสารอะไรบ้างคะ"])
    assert [r[0] for r in res] == ["pos", "neg", "q"]


def test_ensemble_with_embeddings_shape():
    clf = get_classifier("sentiment")
    assert clf.has_e5
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(2, 384)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    out = clf.predict(["ดีมาก", "แย่มาก"], embeddings=emb)
    assert len(out) == 2


def test_corrupted_model_file_names_path(tmp_path):
    task = "toxicity"
    ver = active_version(task)
    src = PACKAGE_MODELS / task / ver
    dst = tmp_path / task / ver
    shutil.copytree(src, dst)
    npz = dst / "model.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    npz.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as ei:
        load_weights(dst)
    assert str(npz) in str(ei.value)
    # through the public API with a model dir whose registry points at it
    (tmp_path / "registry.json").write_text(json.dumps({"tasks": {task: {"active": ver, "history": []}}}))
    clear_cache()
    with pytest.raises(ModelFileError) as ei2:
        get_classifier(task, tmp_path)
    assert str(npz) in str(ei2.value)
    # missing file / corrupted card
    npz.unlink()
    with pytest.raises(ModelFileError, match="model.npz"):
        load_weights(dst)
    (dst / "card.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="card.json"):
        load_weights(dst)
    clear_cache()


def test_vietnamese_vulgar_abbreviations_are_profanity_and_look_alikes_are_not():
    """Common vulgar spellings of Vietnamese comments (*clm*, *dkm*, *đậu má* …) mark profanity, so the
    toxicity model flags them; *đâu mà* typed without diacritics ("dau ma": "how would …") does not."""
    from civicpulse.nlp.lexicon import markers

    for text in ("clm kẹt xe từ sáng tới giờ", "dkm cái thời tiết nóng muốn chết", "đậu má trận này đá hay quá",
                 "vcc luôn", "đụ má nó"):
        assert "__lex_prof__" in markers(text), text
    for text in ("dau ma biet duoc", "du ma troi mua van di", "500 ml nuoc", "cl1 va cl2"):
        assert "__lex_prof__" not in markers(text), text
    tox = get_classifier("toxicity")
    got = tox.predict(["clm kẹt xe từ sáng tới giờ", "dkm cái thời tiết nóng muốn chết", "đậu má trận này đá hay quá"])
    assert [lab for lab, _ in got] == ["offensive"] * 3


def test_vietnamese_praise_words_and_their_negation_are_marked():
    """Praise words of Vietnamese reviews and course feedback mark praise, and negated mark a negated
    praise (the marker the models weigh as a complaint): *không thân thiện*, *không rõ ràng* …"""
    from civicpulse.nlp.lexicon import markers

    for word in ("thân thiện", "dễ hiểu", "rõ ràng", "hợp lý", "công bằng", "chuyên nghiệp", "sạch sẽ", "ngon"):
        assert "__lex_pos__" in markers(f"nhân viên {word}"), word
        assert "__lex_negpos__" in markers(f"nhân viên không {word}"), word
        assert "__lex_negpos__" not in markers(f"nhân viên {word}"), word


def test_vietnamese_feedback_complaint_and_praise_words_are_marked_and_move_the_labels():
    """Words of course feedback and reviews that state a complaint (*sơ sài*, *không tương xứng*) or praise
    (*kiến thức … vững*, *sâu sắc*) without a generic praise or complaint word mark it, and the models
    weigh those markers: without them the fast path took *thiếu thốn* for praise and *sơ sài* for neutral."""
    from civicpulse.nlp.lexicon import markers

    for word in ("sơ sài", "qua loa", "hời hợt", "khó hiểu", "nhàm chán", "không tương xứng", "thiếu thốn"):
        assert "__lex_neg__" in markers(f"bài giảng {word} quá"), word
        assert "__lex_pos__" not in markers(f"bài giảng {word} quá"), word
    for word in ("sâu sắc", "dễ tiếp thu", "sinh động", "tâm huyết", "tận tụy", "kiến thức vững"):
        assert "__lex_pos__" in markers(f"thầy dạy {word}"), word
        assert "__lex_neg__" not in markers(f"thầy dạy {word}"), word
    voice = get_classifier("voice")
    got = voice.predict(["slide bài giảng sơ sài .", "cơ sở vật chất còn thiếu thốn ."])
    assert [lab for lab, _ in got] == ["complaint", "complaint"]
    assert get_classifier("sentiment").predict(["slide bài giảng sơ sài ."])[0][0] == "neg"
