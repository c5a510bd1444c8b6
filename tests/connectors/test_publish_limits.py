"""Per-platform text counting and validation (connectors.limits)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicpulse.connectors.base import MediaRef
from civicpulse.connectors.limits import (
    MEDIA_RULES,
    TEXT_LIMITS,
    graphemes,
    max_length,
    text_length,
    validate,
    x_weighted_length,
)

# Text without URLs, mentions or "www." (so the URL and mention rules do not apply).
plain = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=80).filter(
    lambda t: "http" not in t.lower() and "www" not in t.lower() and "@" not in t)
url = st.from_regex(r"https://[a-z]{1,12}\.(go\.th|gov\.vn|org)(/[a-z0-9]{1,40}){0,3}", fullmatch=True)


def codes(problems: list) -> set[str]:
    return {p.code for p in problems}


# ---------------------------------------------------------------------------------------- X

def test_x_weights_follow_twitter_text_v3() -> None:
    assert x_weighted_length("hello") == 5
    assert x_weighted_length("น้ำท่วมเชียงใหม่") == len("น้ำท่วมเชียงใหม่")  # Thai is inside U+0000–U+10FF
    # Vietnamese: letters up to U+10FF weigh 1 (ũ U+0169), Latin Extended Additional (ụ ở ế, U+1Exx) weighs 2
    assert x_weighted_length("Lũ lụt ở Huế") == len("Lũ lụt ở Huế") + 3
    assert x_weighted_length("洪水") == 4  # CJK weighs 2
    assert x_weighted_length("👍") == 2
    assert x_weighted_length("👨‍👩‍👧‍👦") == 2  # one ZWJ sequence counts once
    assert x_weighted_length("🇹🇭") == 2
    assert x_weighted_length("see https://example.org/a/very/long/path/that/goes/on") == 4 + 23
    assert x_weighted_length("a\u2014b") == 3  # em dash is in 8208–8223


@given(plain, url)
@settings(max_examples=150, deadline=None)
def test_x_adding_a_url_adds_exactly_23_plus_separator(text: str, link: str) -> None:
    assert x_weighted_length(f"{text} {link}") == x_weighted_length(text) + 1 + 23


@given(plain)
@settings(max_examples=150, deadline=None)
def test_x_weight_is_between_one_and_two_per_code_point(text: str) -> None:
    import unicodedata

    n = len(unicodedata.normalize("NFC", text))
    assert x_weighted_length(text) <= 2 * n
    assert x_weighted_length(text) >= graphemes(unicodedata.normalize("NFC", text))


def test_x_decomposed_vietnamese_counts_like_composed() -> None:
    import unicodedata

    word = "Thừa Thiên Huế"
    assert x_weighted_length(unicodedata.normalize("NFD", word)) == x_weighted_length(word) == len(word) + 2


# ---------------------------------------------------------------------------------- Bluesky

@pytest.mark.parametrize(("text", "n"), [
    ("กำ", 1), ("น้ำ", 1), ("ที่", 1), ("ผู้ว่าราชการ", 9), ("Việt Nam", 8),
    ("👨‍👩‍👧‍👦", 1), ("👍🏽", 1), ("🇻🇳🇹🇭", 2), ("e\u0301", 1),
])
def test_bluesky_counts_graphemes(text: str, n: int) -> None:
    assert text_length("bluesky", text) == n


thai_base = st.sampled_from("กขคงจฉชซญดตถทนบปผพฟมยรลวศษสหอฮ")
thai_marks = st.lists(st.sampled_from("\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c"),
                      max_size=3)
emoji = st.sampled_from(["👨‍👩‍👧‍👦", "👩🏽‍💻", "🏳️‍🌈", "🇻🇳", "❤️", "👍🏿", "1️⃣"])


@given(st.lists(st.tuples(thai_base, thai_marks), min_size=1, max_size=40))
@settings(max_examples=150, deadline=None)
def test_bluesky_thai_base_with_combining_marks_is_one_grapheme_each(clusters: list) -> None:
    text = "".join(base + "".join(marks) for base, marks in clusters)
    assert text_length("bluesky", text) == len(clusters)


@given(st.lists(emoji, min_size=1, max_size=30), plain)
@settings(max_examples=150, deadline=None)
def test_bluesky_emoji_sequences_count_one_each(items: list[str], text: str) -> None:
    assert text_length("bluesky", text + " " + "".join(items)) == graphemes(text) + 1 + len(items)


def test_bluesky_byte_limit_is_checked_too() -> None:
    text = "👨‍👩‍👧‍👦" * 150  # 150 graphemes but 25 bytes each
    assert codes(validate("bluesky", text)) == {"too_long_bytes"}


# --------------------------------------------------------------------------- other platforms

def test_mastodon_urls_count_23_and_remote_mentions_count_the_username() -> None:
    assert text_length("mastodon", "read https://example.org/" + "x" * 100) == 5 + 23
    assert text_length("mastodon", "hi @pr@social.example.gov") == len("hi @pr")


@given(plain, url)
@settings(max_examples=100, deadline=None)
def test_mastodon_adding_a_url_adds_23_plus_separator(text: str, link: str) -> None:
    assert text_length("mastodon", f"{text} {link}") == text_length("mastodon", text) + 1 + 23


def test_telegram_and_line_count_utf16_units() -> None:
    assert text_length("telegram", "👍") == 2
    assert text_length("line", "ก") == 1
    assert max_length("telegram") == 4096 and max_length("telegram", caption=True) == 1024
    assert max_length("line") == 5000 and max_length("facebook") == 63_206 and max_length("x") == 280
    assert max_length("bluesky") == 300 and max_length("mastodon") == 500


def test_limits_at_the_boundary() -> None:
    for platform, limit in [("x", 280), ("mastodon", 500), ("bluesky", 300), ("line", 5000), ("telegram", 4096),
                            ("facebook", 63_206)]:
        assert validate(platform, "a" * limit) == [], platform
        problems = validate(platform, "a" * (limit + 1))
        assert codes(problems) == {"too_long"}, platform
        assert f"{limit:,}" in problems[0].message and "1 too many" in problems[0].message
    assert codes(validate("x", "ก" * 280)) == set()
    assert codes(validate("x", "洪" * 141)) == {"too_long"}


def test_telegram_caption_limit_applies_with_media() -> None:
    photo = MediaRef("/tmp/p.jpg", "image/jpeg", 1000, alt_text="Flood map")
    assert validate("telegram", "a" * 2000) == []
    assert codes(validate("telegram", "a" * 2000, [photo])) == {"too_long"}


def test_youtube_needs_title_video_and_no_angle_brackets() -> None:
    got = codes(validate("youtube", "Description <b>", [], title=None))
    assert got == {"title_missing", "invalid_characters", "video_missing"}
    video = MediaRef("/tmp/v.mp4", "video/mp4", 10_000)
    assert validate("youtube", "ok", [video], title="Press briefing") == []
    assert codes(validate("youtube", "ok", [video], title="t" * 101)) == {"title_too_long"}
    assert codes(validate("youtube", "é" * 2501, [video], title="t")) == {"too_long"}  # 5000 bytes


# ----------------------------------------------------------------------------------- media

def test_alt_text_is_required_for_images_everywhere() -> None:
    img = MediaRef("/data/flood.jpg", "image/jpeg", 200_000)
    for platform in ("x", "bluesky", "mastodon", "telegram", "facebook", "newsletter", "webhook", "website"):
        problems = validate(platform, "text", [img])
        assert "alt_text_missing" in codes(problems), platform
        assert "flood.jpg" in next(p.message for p in problems if p.code == "alt_text_missing")
    with_alt = MediaRef("/data/flood.jpg", "image/jpeg", 200_000, alt_text="Flooded street in Hue")
    assert validate("x", "text", [with_alt]) == []


def test_media_count_size_type_and_aspect() -> None:
    imgs = [MediaRef(f"/d/{i}.png", "image/png", 1000, alt_text="a") for i in range(5)]
    assert codes(validate("x", "t", imgs)) == {"too_many_media"}
    assert codes(validate("bluesky", "t", [MediaRef("/d/big.jpg", "image/jpeg", 1_000_001, alt_text="a")])) == {
        "media_too_large"}
    assert codes(validate("x", "t", [MediaRef("/d/a.pdf", "application/pdf", 10)])) == {"media_type"}
    mixed = [MediaRef("/d/a.png", "image/png", 10, alt_text="a"), MediaRef("/d/v.mp4", "video/mp4", 10)]
    assert codes(validate("x", "t", mixed)) == {"mixed_media"}
    wide = MediaRef("/d/w.png", "image/png", 10, alt_text="banner", width=4200, height=200)
    assert codes(validate("telegram", "t", [wide])) == {"aspect_ratio"}
    assert codes(validate("line", "t", [MediaRef("/d/a.png", "image/png", 10, alt_text="a")])) == {"media_needs_url"}
    assert all(p.severity == "warning" for p in validate("line", "t", [MediaRef("/d/a.png", "image/png", 10,
                                                                                 alt_text="a")]))


def test_every_platform_has_rules_and_unknown_platforms_are_named() -> None:
    assert set(MEDIA_RULES) == set(TEXT_LIMITS)
    with pytest.raises(KeyError, match="unknown platform"):
        text_length("myspace", "x")
    assert codes(validate("facebook", "")) == {"empty"}


def test_zalo_messages_are_short_but_articles_are_not() -> None:
    assert codes(validate("zalo", "a" * 2001, options={"kind": "message"})) == {"too_long"}
    assert validate("zalo", "a" * 5000, title="Thông báo") == []
    assert codes(validate("zalo", "a" * 10)) == {"title_missing"}
