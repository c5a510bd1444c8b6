from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicpulse.nlp.langid import detect, detect_batch
from civicpulse.nlp.normalize import LAUGH_TOKEN, normalize, strip_diacritics
from civicpulse.nlp.segment import index_tokens, words

# ---------------------------------------------------------------- normalisation


def test_vietnamese_tone_placement_unified():
    assert normalize("hoà") == normalize("hòa") == "hòa"
    assert normalize("thuý") == normalize("thúy") == "thúy"
    assert normalize("khoẻ") == "khỏe"
    assert normalize("Khánh Hoà") == "Khánh Hòa"
    # tone stays where both styles agree
    assert normalize("hoàn thành quý") == "hoàn thành quý"


def test_thai_rules():
    assert normalize("5555555") == LAUGH_TOKEN
    assert normalize("ดีมากกกกก") == "ดีมาก"
    assert normalize("ดี ๆ ๆ ๆ") == "ดีๆ"
    assert "555" not in normalize("ฮา 55555 จริง")
    assert normalize("โทร 0815552345") == "โทร 0815552345"  # phone numbers are not laughter


def test_invisible_surrogates_and_tokens_kept():
    assert normalize("a\u200bb\ufeffc\u200d") == "abc"
    assert normalize("\ud800") == ""
    assert normalize("x\udfffy") == "xy"
    s = "see https://gov.vn/aaaa?x=1 #ngậpLụt @ubnd_hcm 😡"
    assert normalize(s) == s
    assert normalize(None) == "" and normalize(b"abc") == "abc"
    assert normalize("soooo gooood!!!!") == "soo good!"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1FAFF), max_size=80))
def test_normalize_total_and_idempotent(s):
    once = normalize(s)
    assert isinstance(once, str)
    assert normalize(once) == once


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="hoàuýqeẻ5ๆกาh!? \u200bxk", max_size=40))
def test_normalize_idempotent_on_rule_alphabet(s):
    once = normalize(s)
    assert normalize(once) == once


def test_strip_diacritics():
    assert strip_diacritics("Đà Nẵng") == "Da Nang"


# ---------------------------------------------------------------- language id


def test_langid_basic():
    assert detect("วันนี้น้ำท่วมหนักมาก ไม่มีใครมาช่วยเลย")[0] == "th"
    assert detect("Thủ tục hành chính ở phường chậm quá")[0] == "vi"
    assert detect("ko hiểu sao đường này ngập hoài")[0] == "vi"
    assert detect("thu tuc o phuong cham qua ko ai giai quyet")[0] == "vi"
    assert detect("The road near my house has been flooded for a week")[0] == "en"
    lang, conf = detect("Thủ tục hành chính ở phường chậm quá")
    assert 0.5 < conf <= 1.0


def test_langid_mixed_and_other():
    assert detect("iPhone 15 ราคาเท่าไหร่คะ")[0] == "th"
    assert detect("你好，今天天气很好")[0] == "other"
    for s in ["", "😀😀🔥", "12345", "!!!", "\ud800", "\u200b\u200b"]:
        lang, conf = detect(s)
        assert lang == "other" and conf <= 0.2
    big = "ถนน " * 30000
    assert detect(big)[0] == "th"


def test_langid_batch_matches_single():
    texts = ["hello there how are you doing today", "xin chào các bạn", "สวัสดี", ""]
    assert detect_batch(texts) == [detect(t) for t in texts]


# ---------------------------------------------------------------- segmentation


def test_words_thai_vi_en():
    th = words("ไปทำบัตรประชาชนที่เขต")
    assert "บัตรประชาชน" in th or "บัตร" in th
    vi = words("Thủ tục hành chính ở phường")
    assert "Thủ_tục" in vi and "hành_chính" in vi
    en = words("Hello, world! Why?")
    assert en == ["Hello", "world", "Why", "?"]


def test_words_keep_special_tokens():
    toks = words("ดูที่ https://a.co/x นะ #น้ำท่วม @admin 😡 55555")
    assert "https://a.co/x" in toks and "#น้ำท่วม" in toks and "@admin" in toks and "😡" in toks
    assert LAUGH_TOKEN in toks


def test_index_tokens_deterministic_and_lowercase():
    s = "Thủ tục HÀNH CHÍNH ở Phường 5"
    a = index_tokens(s, "vi")
    assert a == index_tokens(s, "vi")
    assert a == a.lower() and "  " not in a
    assert index_tokens("Thủ tục", "vi", fold=True) == "thu_tuc"
    assert index_tokens("") == ""
    assert index_tokens("ค้นหาข้อมูลน้ำท่วม", "th").split()[0] == "ค้นหา"


def test_segment_bad_input_never_crashes():
    for s in ["", "😀", "\ud800x", "a\u200bb", "x" * 100_000, "ไทย Việt English 中文 😀"]:
        assert isinstance(words(s), list)
        assert isinstance(index_tokens(s), str)


@pytest.mark.parametrize("text", ["S\u200b\u0326", "a\u200d\u0301 b", "Vie\u00adt\u0302 Nam"])
def test_normalize_composes_after_removing_invisible_characters(text):
    once = normalize(text)
    assert normalize(once) == once
    assert unicodedata.is_normalized("NFC", once)


def test_thai_runs_are_split_as_word_tokenize_splits_them() -> None:
    import re

    from pythainlp.tokenize import word_tokenize

    from civicpulse.nlp import segment as seg
    from civicpulse.nlp.datasets import DATA_DIR, read_jsonl

    runs: set[str] = set()
    for name in ("th_sentiment_train.jsonl", "th_sentiment_valid.jsonl"):
        for r in read_jsonl(DATA_DIR / name):
            runs.update(re.findall(seg._THAI_RUN, r["text"]))
    runs.update(["ก", "ๆๆๆ", "ฯลฯ", "กกกกกกกกกกกกกกกกกกกกกกกกกกกกก" * 20, "ไม่ไหวแล้วววววว"])
    assert len(runs) > 1000
    for run in sorted(runs):
        want = tuple(w for w in word_tokenize(run, engine="newmm", keep_whitespace=False) if w.strip())
        assert seg._thai_words(run) == want, run
