"""Alignment levels in vi/th/en, number and date extraction, cross-language scoring."""

from __future__ import annotations

import pytest

from civicpulse.domain.campaigns import alignment, numbers
from civicpulse.domain.campaigns.schemas import Kit
from tests.campaigns.conftest import KIT, TEXTS


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("Phạt 5 triệu đồng nếu không đội mũ", "amount", 5e6),
    ("ปรับ ๕ ล้านบาท", "amount", 5e6),
    ("a fine of 5 million", "amount", 5e6),
    ("phạt 5.000.000đ", "amount", 5e6),
    ("1,5 tỷ đồng", "amount", 1.5e9),
    ("80% of children", "percent", 80.0),
    ("ภายใน ๑๔ วัน", "duration", 14.0),
    ("trong 2 tuần", "duration", 14.0),
    ("ngày 15/6", "date", (6, 15)),
    ("15 tháng 6", "date", (6, 15)),
    ("15 มิ.ย.", "date", (6, 15)),
    ("on June 15th", "date", (6, 15)),
    ("from 1 January", "date", (1, 1)),
])
def test_extracts_facts_in_three_languages(text, kind, value):  # type: ignore[no-untyped-def]
    facts = numbers.extract(text)
    assert [(f.kind, f.value) for f in facts] == [(kind, value)], facts


def test_plain_counts_and_hotlines_are_not_facts():
    assert numbers.extract("Call 1900 9095, 3 steps to stay safe") == []


def test_compare_flags_a_different_fine_but_not_the_same_one_in_another_script():
    kit = numbers.extract("fined 5 million")
    assert numbers.compare(kit, numbers.extract("ปรับ ๕ ล้าน")) == []
    (m,) = numbers.compare(kit, numbers.extract("chỉ bị phạt 2 triệu đồng"))
    assert m.kind == "amount" and m.post == "2 triệu đồng" and m.kit == ["5 million"]
    # a kind the kit does not state is not compared
    assert numbers.compare(kit, numbers.extract("80% of riders")) == []


@pytest.fixture(scope="module")
def kit() -> Kit:
    return Kit.model_validate(KIT)


def test_levels_on_examples_in_three_languages(kit: Kit):
    r = alignment.score_kit(kit, TEXTS["aligned_en"])
    assert r.level == "aligned" and r.light == "green" and r.score >= 0.75, r.as_dict()
    assert {x.code for x in r.reasons} >= {"similar", "hashtags_ok", "link_ok", "numbers_ok"}

    r = alignment.score_kit(kit, TEXTS["contra_th"])
    assert r.level == "contradicting" and r.score <= 0.2 and r.lang == "th"
    (mm,) = [x for x in r.reasons if x.code == "number_mismatch"]
    assert mm.args["post"] == "2 ล้าน" and "5 million" in mm.args["kit"]
    assert "contradicts the kit" in mm.message

    r = alignment.score_kit(kit, TEXTS["contra_vi"])
    assert r.level == "contradicting" and any(x.code == "number_mismatch" for x in r.reasons)

    r = alignment.score_kit(kit, TEXTS["off_vi"])
    assert r.level == "off_message" and r.light == "red" and r.score <= 0.4

    r = alignment.score_kit(kit, TEXTS["partly_en"])
    assert r.level == "partly" and 0.4 <= r.score <= 0.75
    assert {x.code for x in r.reasons if not x.ok} >= {"hashtags_missing", "link_missing"}

    r = alignment.score_kit(kit, TEXTS["forbidden_en"])
    assert r.level == "off_message" and any(x.code == "forbidden" and x.args["phrase"] == "crackdown"
                                            for x in r.reasons)


def test_post_in_a_language_without_a_message_version_is_scored_and_flagged():
    only_vi = Kit.model_validate({"messages": [{"kind": "core", "text": {"vi": KIT["messages"][0]["text"]["vi"]}}],
                                  "mandatory": {"hashtags": ["#HelmetOn"]}})
    r = alignment.score_kit(only_vi, KIT["messages"][0]["text"]["th"] + " #HelmetOn")
    assert "no_message_in_language" in r.flags
    assert r.level in ("aligned", "partly")  # compared across languages, not dismissed as off message
    assert r.relative > alignment.thresholds()["off"]


def test_thresholds_come_from_the_calibration_file():
    th = alignment.thresholds()
    assert set(th) == {"off", "aligned", "tone"} and th["off"] <= th["aligned"]
