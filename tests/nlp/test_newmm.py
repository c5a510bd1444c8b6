"""The compiled newmm (civicpulse.nlp._newmm) gives PyThaiNLP's words on every run of Thai letters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythainlp.tokenize import tcc_p, word_dict_trie
from pythainlp.tokenize.newmm import segment as pythainlp_newmm

from civicpulse.nlp import segment as seg
from civicpulse.nlp.datasets import DATA_DIR, read_jsonl

pytestmark = pytest.mark.skipif(seg._native_newmm is None, reason="the compiled _newmm module is not built")

RUN = re.compile(seg._THAI_RUN)


@pytest.fixture(scope="module")
def table() -> object:
    return seg._native_newmm.table(list(word_dict_trie()), list(tcc_p._RE_TCC))


def _runs(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(r for t in texts for r in RUN.findall(t)))


def _same(table: object, runs: list[str]) -> None:
    for run in runs:
        assert seg._native_newmm.segment(table, run) == pythainlp_newmm(run), run


def test_same_words_as_pythainlp_on_the_corpora(table: object, shared_data: Path) -> None:
    texts = [r["text"] for r in read_jsonl(shared_data / "wisesight" / "valid.jsonl")]
    texts += [r["text"] for r in read_jsonl(shared_data / "wisesight" / "train.jsonl")[::4]]
    for r in read_jsonl(shared_data / "thaigov" / "thaigov_sample.jsonl"):
        texts += [v for k, v in r.items() if k in ("title", "text", "body") and isinstance(v, str)]
    runs = _runs(texts)
    assert len(runs) > 30_000
    _same(table, runs)


def test_same_words_on_the_shipped_thai_rows_and_hard_cases(table: object) -> None:
    texts = [r["text"] for name in ("th_sentiment_train.jsonl", "th_sentiment_valid.jsonl")
             for r in read_jsonl(DATA_DIR / name)]
    hard = [
        "ก", "ๆ", "ๆๆๆ", "ฯลฯ", "ฯ", "์", "่่่", "เเเ", "ไม่ไหวแล้วววววว", "กกกกกกกกกกกกกกกกกกกกกกกก" * 20,
        "เเพงงงงงงง", "คุณสมชายกล่าวว่า", "นายกรัฐมนตรีแพทองธารชินวัตร", "กรมป้องกันและบรรเทาสาธารณภัย",
        "ๅๅๅ", "ฺฺ", "๏๛๚", "็็็", "ะะะะ", "ำำ", "เกเกเกเก", "แปลกกกก", "โอ้โห", "ก็ได้ก็ได้",
        "ประเทศไทยรวมเลือดเนื้อชาติเชื้อไทย" * 30,  # a run far longer than newmm's scan window
    ]
    _same(table, _runs(texts) + hard)


_THAI = st.sampled_from([chr(c) for c in range(0x0E01, 0x0E50)] + ["\u0e5a", "\u0e5b"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_THAI, min_size=1, max_size=200).map("".join))
def test_same_words_on_any_run_of_thai_letters(run: str) -> None:
    table = seg._newmm_table()
    assert table is not None
    assert seg._native_newmm.segment(table, run) == pythainlp_newmm(run)


_WORDS = ["ไม่", "ได้", "ความ", "สุข", "ประ", "เทศ", "ไทย", "ก็", "เก", "แก", "ๆ", "่", "ะ", "า", "ำ"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS) | _THAI, min_size=1, max_size=60).map("".join))
def test_same_words_on_runs_made_of_words_and_pieces(run: str) -> None:
    table = seg._newmm_table()
    assert table is not None
    assert seg._native_newmm.segment(table, run) == pythainlp_newmm(run)


def test_other_text_is_refused_and_the_tokenizer_hands_it_to_pythainlp(table: object) -> None:
    for text in ("ไม่ ดี", "ราคา 100 บาท", "ok ดี", "๑๒๓", "ดี\n"):
        with pytest.raises(ValueError, match="not a run of Thai letters"):
            seg._native_newmm.segment(table, text)
        assert seg._thai_tokenizer()(text) == pythainlp_newmm(text)
    assert seg._native_newmm.segment(table, "") == []
    with pytest.raises(TypeError):
        seg._native_newmm.segment(table, b"\xe0\xb8\x81")
    with pytest.raises(ValueError):
        seg._native_newmm.segment(object(), "ก")


@pytest.mark.parametrize("rule", ["[ก-ฮ]*", "ก+", "(?:ก)", "[^ก]", "ก{2}", "(ก|ข)", "(?!ก)", ".", "ก\\d", "[ก-ฮ",
                                  "[]ก]", "(?=ก", "(ก"])
def test_rules_it_cannot_compile_are_errors(rule: str) -> None:
    with pytest.raises(ValueError, match="TCC rules"):
        seg._native_newmm.table(["ดี"], [rule])


def test_without_the_compiled_rules_pythainlp_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PyThaiNLP whose cluster rules this compiler does not know, or the switch turned off: the
    tokenizer is PyThaiNLP's own."""
    try:
        seg._newmm_table.cache_clear()
        seg._thai_tokenizer.cache_clear()
        monkeypatch.setattr(tcc_p, "_RE_TCC", [*tcc_p._RE_TCC, "ก+"])
        assert seg._newmm_table() is None
        assert seg._thai_tokenizer() is pythainlp_newmm
        monkeypatch.undo()
        seg._newmm_table.cache_clear()
        seg._thai_tokenizer.cache_clear()
        monkeypatch.setenv(seg.NATIVE_NEWMM_ENV, "0")
        assert seg._thai_tokenizer() is pythainlp_newmm
        monkeypatch.undo()
        seg._newmm_table.cache_clear()
        seg._thai_tokenizer.cache_clear()
        assert seg._thai_tokenizer() is not pythainlp_newmm
        assert seg._thai_tokenizer()("ไม่ไหวแล้ว") == pythainlp_newmm("ไม่ไหวแล้ว")
    finally:
        seg._newmm_table.cache_clear()
        seg._thai_tokenizer.cache_clear()
        seg._thai_words.cache_clear()


def test_a_word_list_with_other_characters_is_taken_as_pythainlp_takes_it(table: object) -> None:
    """Dictionary entries with spaces, dots or digits cannot match inside a run; the rest build the
    same trie as PyThaiNLP's (a custom list, compared with PyThaiNLP on that list)."""
    from pythainlp.util import Trie

    words = ["ไม่", "ไม่ไหว", "ไหว", "แล้ว", "ต่าง ๆ", "ตร.", "ปี2567", "ดี", "ดีมาก", "มาก", "ๆ"]
    mine = seg._native_newmm.table(words, list(tcc_p._RE_TCC))
    for run in ("ไม่ไหวแล้ว", "ดีมากๆ", "ต่างๆ", "ตรดีมาก", "ไม่ดีมากแล้วไหว"):
        assert seg._native_newmm.segment(mine, run) == pythainlp_newmm(run, custom_dict=Trie(words))


# ---------------------------------------------------------------- Vietnamese: pyvi with features built once

def _pyvi():  # type: ignore[no-untyped-def]
    from pyvi.ViTokenizer import ViTokenizer

    return ViTokenizer


def test_vi_tokenizer_gives_pyvi_output_on_our_rows() -> None:
    texts = [r["text"] for f in sorted(DATA_DIR.glob("vi_*.jsonl")) for r in read_jsonl(f)]
    texts += ["", "   ", "a", "Tp. HCM", "U.S.A. Mr. Nam", "12,5 triệu", "ΑΣ ΒΣ xin chào", "ĐƯỜNG NGẬP QUÁ", "x" * 500]
    assert len(texts) > 2000
    tok = seg._vi_tokenizer()
    for t in texts:
        assert tok(t) == _pyvi().tokenize(t), t


_VI = st.sampled_from(list("aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
                          "ΣσςÆæİıß0123456789 .,!?-_@#/:'\n"))


@settings(max_examples=200, deadline=None)
@given(st.lists(_VI, max_size=80).map("".join))
def test_vi_features_are_pyvi_features_on_any_text(text: str) -> None:
    v = _pyvi()
    _, syl = v.sylabelize(text)
    mine = seg._vi_features(syl, v.bi_grams, v.tri_grams)
    theirs = [{k: x for k, x in d.items() if x is not False} for d in v.sent2features(syl, False)]
    assert mine == theirs
    assert [list(d) for d in mine] == [list(d) for d in theirs]  # the same keys in the same order
    assert seg._vi_tokenizer()(text) == v.tokenize(text)


def test_vi_features_without_false_give_the_crf_the_same_probabilities() -> None:
    """Entries whose value is False weigh 0 in the CRF: leaving them out changes no label, no probability,
    no marginal (compared to the bit on our rows)."""
    v = _pyvi()
    tagger = v.model.tagger_
    texts = [r["text"] for f in sorted(DATA_DIR.glob("vi_*.jsonl")) for r in read_jsonl(f)][:600]
    for t in texts:
        _, syl = v.sylabelize(t)
        if not syl:
            continue
        got = []
        for feats in (v.sent2features(syl, False), seg._vi_features(syl, v.bi_grams, v.tri_grams)):
            tagger.set(feats)
            labels = tagger.tag()
            got.append((labels, tagger.probability(labels), [tagger.marginal("I_W", i) for i in range(len(syl))]))
        assert got[0] == got[1], t
