"""Informal Vietnamese spellings written out for the models (civicpulse.nlp.informal)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicpulse.nlp import informal
from civicpulse.nlp.classify import get_classifier, prepare
from civicpulse.nlp.embed import prepare_texts
from civicpulse.nlp.informal import SHORTHAND, expand, for_models
from civicpulse.nlp.normalize import normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ko có gì đâu, sp dc lắm", "Không có gì đâu, sản phẩm được lắm"),
        ("ko biet j ca, mn oi", "khong biet gi ca, moi nguoi oi"),  # no diacritics: written out without
        ("thg này ngu vl", "thằng này ngu vl"),  # vulgar abbreviations stay
        ("gọi mà KO ai nghe", "gọi mà KHÔNG ai nghe"),  # one word in capitals is no shout: kept
        ("hỏi r mà k ai trả lời", "hỏi rồi mà không ai trả lời"),
        ("Mn ơi", "Mọi người ơi"),
    ],
)
def test_shorthand_is_written_out_in_the_text_s_own_spelling(text, expected):
    assert expand(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "giá 50 k thôi",  # a price
        "mua 2 kg gạo",  # a weight
        "đc: 12 Lê Lợi",  # a label
        "quên mk, nộp hs, ck cho shop, bh 12 tháng",  # not shorthand of the list: password, file, transfer, warranty
        "Bệnh viện K quá tải",  # a name
        "Ng. Văn An và Ng Văn Bình",  # abbreviated names
        "xem https://dichvucong.gov.vn/ko và @ko #ko",  # URL, mention, hashtag
        "cơm, phở v.v. đều có",
        "mẫu ko-2 và dc/dv",
    ],
)
def test_guards_leave_prices_names_links_and_compounds_alone(text):
    assert expand(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("đẹp quáaa, ngonn lắmm", "đẹp quá, ngon lắm"),
        ("tệệệệ thật, cảảả xóm chán", "tệ thật, cả xóm chán"),
        ("hỏii gì cũngg cau có, dep quaa", "hỏi gì cũng cau có, dep qua"),
        ("koo biết", "không biết"),  # stretched shorthand: shortened, then written out
    ],
)
def test_stretched_words_are_shortened(text, expected):
    assert expand(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("t.h.ằ.n.g thầy này dạy n.g.u", "thằng thầy này dạy ngu"),
        ("t h ằ n g csgt đứng núp bụi", "thằng csgt đứng núp bụi"),
        ("đ m bọn này, đ.m", "đm bọn này, đm"),
        ("mấy t***g phòng đào tạo, đ*o hiểu", "mấy thằng phòng đào tạo, đéo hiểu"),
        ("con chu shop nay n*u nhu bo", "con chu shop nay ngu nhu bo"),
    ],
)
def test_masked_vulgar_words_are_unmasked(text, expected):
    assert expand(normalize(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "cơm, phở v.v. đều có",
        "TP.HCM, e-mail a.b@gmail.com, COVID-19, check-in, Wi-Fi",
        "đáp án A B C D",
        "*quan trọng* nhé, a*b",
    ],
)
def test_dots_spaces_and_asterisks_that_mask_nothing_stay(text):
    assert expand(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("KHÔNG AI QUAN TÂM LUÔN", "không ai quan tâm luôn"),
        ("Thủ tục lâu quá, THẬT SỰ CHÁN", "Thủ tục lâu quá, thật sự chán"),
        ("KO ĐƯỢC ĐÂU", "không được đâu"),
        ("Chỗ này kẹt xe mà ko có CSGT phân luồng", "Chỗ này kẹt xe mà không có CSGT phân luồng"),  # an acronym
        ("UBND TP trả lời đi, Tôi ở TP HCM", "UBND TP trả lời đi, Tôi ở TP HCM"),  # acronyms side by side
    ],
)
def test_shouting_is_lowered_and_acronyms_stay(text, expected):
    assert expand(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "thịt cừu, nghỉ hưu, bưu điện, ưu đãi",  # two different letters, not a stretch
        "pass môn, full điểm, mua trên Shopee, coffee ngon",  # loanwords: not Vietnamese syllables once shortened
        "xoong nồi, boong tàu, hmm",
    ],
)
def test_words_that_end_in_a_double_for_a_reason_stay(text):
    assert expand(text) == text


def test_written_out_forms_are_not_shorthand_again():
    for short, (full, plain) in SHORTHAND.items():
        for form in (full, plain):
            assert expand(form) == form, (short, form)
        once = expand(f"a {short} b")
        assert expand(once) == once


def test_only_vietnamese_texts_get_the_whole_step():
    texts = ["ko biet j ca", "r u ok? v nice", "ไม่ ko นะ", "Tui ko hiểu", "so goodd, see youu"]
    assert for_models(texts) == ["khong biet gi ca", "r u ok? v nice", "ไม่ ko นะ", "Tui không hiểu", "so goodd, see youu"]
    # English: only the shouting
    assert for_models(["The bus was late again, THIS IS UNACCEPTABLE", "ko idea, call the NHS or DMV"], ["en", "en"]) == [
        "The bus was late again, this is unacceptable",
        "ko idea, call the NHS or DMV",
    ]
    # given languages are trusted
    assert for_models(["r u ok"], ["vi"]) == ["roi u ok"]
    assert for_models(["ko biet j ca"], ["en"]) == ["ko biet j ca"]


def test_texts_without_shorthand_skip_language_identification(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("language identification was run")

    monkeypatch.setattr(informal.langid, "detect_batch", fail)
    texts = ["Thủ tục nhanh gọn", "ขอบคุณครับ", "thanks a lot"]
    assert for_models(texts) == texts


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(list("ko dcjrvmnđăươ.@#/-5KN ") + ["ko", "dc", "mn", " r ", "https://a.vn/"]), max_size=20))
def test_any_text_is_handled(parts):
    text = "".join(parts)
    norm = normalize(text)
    out = expand(norm)
    assert isinstance(out, str)
    assert expand(out) == out


def test_classifiers_see_the_written_out_text_and_the_rest_keeps_the_author_s_words():
    prep = prepare(["Shop giao hàng ko đúng hẹn, sp dc cái vỏ", "ไม่ ko นะ"])
    assert prep.model_norm[0] == "Shop giao hàng không đúng hẹn, sản phẩm được cái vỏ"
    assert prep.norm[0] == "Shop giao hàng ko đúng hẹn, sp dc cái vỏ"  # stored, indexed, searched
    assert "ko" in prep.tokens[0] and "ko" not in prep.model_tokens[0]
    assert prep.model_norm[1] is prep.norm[1] and prep.model_tokens[1] is prep.tokens[1]


@pytest.mark.parametrize("task", ["sentiment", "voice", "toxicity"])
def test_shorthand_and_full_words_get_the_same_label(task):
    clf = get_classifier(task)
    short = ["thủ tục lâu quá mà ko ai giải quyết, hỏi r vẫn ko dc", "mn cho hỏi làm sđt ở đâu v"]
    full = ["thủ tục lâu quá mà không ai giải quyết, hỏi rồi vẫn không được", "mọi người cho hỏi làm số điện thoại ở đâu vậy"]
    np.testing.assert_allclose(clf.predict_proba(short), clf.predict_proba(full), atol=1e-6)


def test_the_e5_encoder_sees_the_written_out_text():
    assert prepare_texts(["ko biết j luôn", "r u ok"]) == ["không biết gì luôn", "r u ok"]
