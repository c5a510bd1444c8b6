"""Per-platform limits for publishing, counted the platform's way.

* :func:`text_length` — the length the platform itself would count:

  - **X**: twitter-text v3 weighted length (NFC-normalised). Every URL counts 23
    (``transformedURLLength``); an emoji sequence (including ZWJ families, flags, keycaps, skin tones)
    counts 2; any other code point counts 1 inside the v3 default ranges (U+0000–U+10FF, which covers
    Latin incl. Vietnamese, Thai, Cyrillic...; U+2000–U+200D; U+2010–U+201F; U+2032–U+2037) and 2
    outside them (CJK, Hangul, ...). The limit is 280.
  - **Bluesky**: grapheme clusters (``\\X``), limit 300 (and at most 3000 UTF-8 bytes).
  - **Mastodon**: grapheme clusters, every URL counts 23 and ``@user@domain`` counts as ``@user``; limit 500
    (the default of a Mastodon server; ``max_chars`` can change it).
  - **Telegram**: UTF-16 code units (how the Bot API measures text and entity offsets); 4096 for a
    message, 1024 for a photo caption.
  - **LINE**: UTF-16 code units, 5000 per text message.
  - **Facebook**: 63,206 characters.
  - **YouTube**: title 100 characters; description 5000 UTF-8 bytes (and neither may contain ``<`` or ``>``).
  - **Zalo OA**: a text message 2000 characters; an article title 150 characters, its summary 300.

* :func:`validate` — the text limit plus the media rules (count, size, type, aspect ratio) and the
  accessibility rule: every image needs alt text. Returns a list of :class:`Problem`; any
  ``severity == "error"`` blocks publishing, warnings are shown next to the text.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Sequence
from typing import Literal

import regex

from civicpulse.connectors.base import MediaRef
from civicpulse.i18n import _

Severity = Literal["error", "warning"]

X_URL_WEIGHT = 23
MASTODON_URL_WEIGHT = 23
#: twitter-text v3 ``ranges`` with weight 100 (i.e. 1); everything else weighs ``defaultWeight`` 200 (2).
X_LIGHT_RANGES: tuple[tuple[int, int], ...] = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))

URL_RE = regex.compile(r"""(?:https?://|www\.)[^\s<>"]+""", regex.IGNORECASE)
MENTION_RE = regex.compile(r"(?<![\w@])@(\w+)@[\w.-]+\w", regex.UNICODE)
_TRAILING = ".,;:!?)]}'\u201d\u2019"
_X_HEAVY = regex.compile("[^" + "".join(f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi in X_LIGHT_RANGES) + "]")
_EMOJI_ANY = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\u20E3]")
_EMOJI_RE = regex.compile(r"^(?:\p{Extended_Pictographic}|\p{Regional_Indicator}|[0-9#*]\uFE0F?\u20E3)")


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a post for a platform."""

    code: str  # e.g. "too_long", "alt_text_missing", "too_many_media"
    message: str  # plain words, translated
    severity: Severity = "error"


@dataclasses.dataclass(frozen=True, slots=True)
class MediaRule:
    max_count: int
    types: tuple[str, ...]  # mime types or "image/*" style prefixes
    max_bytes: dict[str, int]  # per mime prefix ("image", "video", "image/gif") -> bytes
    max_videos: int = 1
    mix_images_and_video: bool = False
    max_aspect: float | None = None  # longest side / shortest side
    alt_text_max: int | None = None
    required: str | None = None  # "video" when the platform publishes only videos
    needs_public_url: bool = False  # the platform fetches media from an https address


MB = 1024 * 1024

TEXT_LIMITS: dict[str, int] = {
    "x": 280, "bluesky": 300, "mastodon": 500, "telegram": 4096, "line": 5000, "facebook": 63_206,
    "youtube": 5000, "zalo": 2000, "website": 100_000, "newsletter": 100_000, "webhook": 100_000,
}
TITLE_LIMITS: dict[str, int] = {"youtube": 100, "zalo": 150, "website": 200, "newsletter": 200}
TELEGRAM_CAPTION_LIMIT = 1024
ZALO_ARTICLE_LIMIT = 100_000
BLUESKY_MAX_BYTES = 3000

MEDIA_RULES: dict[str, MediaRule] = {
    "x": MediaRule(4, ("image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4"),
                   {"image": 5 * MB, "image/gif": 15 * MB, "video": 512 * MB}, alt_text_max=1000),
    "bluesky": MediaRule(4, ("image/jpeg", "image/png", "image/webp", "video/mp4"),
                         {"image": 1_000_000, "video": 100 * MB}, alt_text_max=2000),
    "mastodon": MediaRule(4, ("image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4", "video/webm",
                              "audio/mpeg"),
                          {"image": 16 * MB, "video": 99 * MB, "audio": 99 * MB}, alt_text_max=1500),
    "telegram": MediaRule(10, ("image/jpeg", "image/png", "image/webp", "video/mp4", "application/pdf"),
                          {"image": 10 * MB, "video": 50 * MB, "application": 50 * MB}, max_videos=10,
                          mix_images_and_video=True, max_aspect=20.0),
    "line": MediaRule(4, ("image/jpeg", "image/png"), {"image": 10 * MB}, needs_public_url=True),
    "facebook": MediaRule(10, ("image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4"),
                          {"image": 10 * MB, "video": 1024 * MB}),
    "youtube": MediaRule(1, ("video/",), {"video": 256 * 1024 * MB}, required="video"),
    "zalo": MediaRule(1, ("image/jpeg", "image/png"), {"image": 1 * MB}, needs_public_url=True),
    "website": MediaRule(20, ("image/", "video/", "application/pdf"), {"image": 20 * MB, "video": 500 * MB,
                                                                       "application": 50 * MB},
                         max_videos=5, mix_images_and_video=True),
    "newsletter": MediaRule(10, ("image/", "application/pdf"), {"image": 10 * MB, "application": 20 * MB}),
    "webhook": MediaRule(20, ("image/", "video/", "application/", "audio/"),
                         {"image": 50 * MB, "video": 1024 * MB, "application": 50 * MB, "audio": 200 * MB},
                         max_videos=20, mix_images_and_video=True),
}

LABELS = {"x": "X", "bluesky": "Bluesky", "mastodon": "Mastodon", "telegram": "Telegram", "line": "LINE",
          "facebook": "Facebook", "youtube": "YouTube", "zalo": "Zalo", "website": "Website",
          "newsletter": "Newsletter", "webhook": "Webhook"}


def _check_platform(platform: str) -> str:
    p = platform.lower()
    if p not in TEXT_LIMITS:
        raise KeyError(f"unknown platform {platform!r}; known: {', '.join(sorted(TEXT_LIMITS))}")
    return p


# ------------------------------------------------------------------------------------ counting

def graphemes(text: str) -> int:
    """User-perceived characters (extended grapheme clusters)."""
    return len(regex.findall(r"\X", text))


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def urls(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the URLs in ``text`` (trailing punctuation excluded)."""
    spans = []
    for m in URL_RE.finditer(text):
        start, end = m.span()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        if end - start > len("https://"):
            spans.append((start, end))
    return spans


def _replace_urls(text: str, placeholder_len: int, filler: str = "x") -> str:
    out, last = [], 0
    for start, end in urls(text):
        out.append(text[last:start])
        out.append(filler * placeholder_len)
        last = end
    out.append(text[last:])
    return "".join(out)


def x_weighted_length(text: str) -> int:
    """twitter-text v3 weighted length (see the module docs)."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    last = 0
    for start, end in urls(text):
        total += _x_plain(text[last:start]) + X_URL_WEIGHT
        last = end
    return total + _x_plain(text[last:])


def _x_plain(text: str) -> int:
    if not _EMOJI_ANY.search(text):  # fast path: 1 per code point, +1 for each outside the light ranges
        return len(text) + len(_X_HEAVY.findall(text))
    total = 0
    for cluster in regex.findall(r"\X", text):
        if _EMOJI_RE.match(cluster):
            total += 2
        else:
            total += len(cluster) + len(_X_HEAVY.findall(cluster))
    return total


def mastodon_length(text: str) -> int:
    text = MENTION_RE.sub(lambda m: "@" + m.group(1), text)
    return graphemes(_replace_urls(text, MASTODON_URL_WEIGHT))


def text_length(platform: str, text: str) -> int:
    """The length of ``text`` as ``platform`` counts it."""
    p = _check_platform(platform)
    if p == "x":
        return x_weighted_length(text)
    if p == "mastodon":
        return mastodon_length(text)
    if p in ("telegram", "line"):
        return utf16_units(text)
    if p == "youtube":
        return len(text.encode("utf-8"))
    if p == "bluesky":
        return graphemes(text)
    return len(text)


def max_length(platform: str, *, caption: bool = False) -> int:
    """The text limit (for Telegram with ``caption=True``: the photo caption limit)."""
    p = _check_platform(platform)
    if p == "telegram" and caption:
        return TELEGRAM_CAPTION_LIMIT
    return TEXT_LIMITS[p]


# ---------------------------------------------------------------------------------- validation

def _family(mime: str) -> str:
    return mime.split("/", 1)[0].lower()


def _allowed(rule: MediaRule, mime: str) -> bool:
    mime = mime.lower()
    return any(mime == t or (t.endswith("/") and mime.startswith(t)) for t in rule.types)


def _size_limit(rule: MediaRule, mime: str) -> int | None:
    return rule.max_bytes.get(mime.lower(), rule.max_bytes.get(_family(mime)))


def _fmt_bytes(n: int) -> str:
    if n >= MB:
        return f"{n / MB:.0f} MB" if n % MB == 0 else f"{n / MB:.1f} MB"
    if n >= 1000:
        return f"{n / 1000:.0f} KB"
    return f"{n} B"


def validate(platform: str, text: str, media: Sequence[MediaRef] = (), *, title: str | None = None,
             options: dict[str, object] | None = None) -> list[Problem]:
    """Everything that would make ``platform`` refuse (errors) or degrade (warnings) this post."""
    p = _check_platform(platform)
    label = LABELS[p]
    options = options or {}
    problems: list[Problem] = []
    has_media = bool(media)
    caption = p == "telegram" and has_media
    limit = int(options.get("max_chars") or 0) or max_length(p, caption=caption)  # type: ignore[call-overload]
    if p == "zalo" and options.get("kind", "article") == "article":
        limit = ZALO_ARTICLE_LIMIT  # the 2000-character limit is for messages; an article body is long HTML
    used = text_length(p, text)
    if not text.strip() and not has_media and p not in ("youtube",):
        problems.append(Problem("empty", _("The post has no text.")))
    if used > limit:
        what = _("caption") if caption else _("text")
        problems.append(Problem("too_long", _("{platform} allows {limit} characters in the {what}; this one has "
                                              "{used} ({over} too many).").format(
            platform=label, limit=f"{limit:,}", what=what, used=f"{used:,}", over=f"{used - limit:,}")))
    if p == "bluesky" and len(text.encode("utf-8")) > BLUESKY_MAX_BYTES:
        problems.append(Problem("too_long_bytes", _("Bluesky allows at most {limit} bytes of text; this one has "
                                                    "{used}.").format(limit=BLUESKY_MAX_BYTES,
                                                                      used=len(text.encode("utf-8")))))
    if p == "youtube":
        if not (title or "").strip():
            problems.append(Problem("title_missing", _("YouTube videos need a title.")))
        for name, value in ((_("title"), title or ""), (_("description"), text)):
            if "<" in value or ">" in value:
                problems.append(Problem("invalid_characters", _("YouTube does not allow < or > in the {name}.")
                                        .format(name=name)))
    if p == "zalo" and options.get("kind", "article") == "article" and not (title or "").strip():
        problems.append(Problem("title_missing", _("A Zalo article needs a title.")))
    if title is not None and p in TITLE_LIMITS and len(title) > TITLE_LIMITS[p]:
        problems.append(Problem("title_too_long", _("{platform} allows {limit} characters in the title; this one "
                                                    "has {used}.").format(platform=label, limit=TITLE_LIMITS[p],
                                                                          used=len(title))))
    problems.extend(_media_problems(p, label, media))
    return problems


def _media_problems(p: str, label: str, media: Sequence[MediaRef]) -> list[Problem]:
    rule = MEDIA_RULES[p]
    out: list[Problem] = []
    if rule.required == "video" and not any(_family(m.mime) == "video" for m in media):
        out.append(Problem("video_missing", _("{platform} publishes videos: attach one video file.")
                           .format(platform=label)))
    if len(media) > rule.max_count:
        out.append(Problem("too_many_media", _("{platform} allows at most {n} attachments; this post has {got}.")
                           .format(platform=label, n=rule.max_count, got=len(media))))
    videos = [m for m in media if _family(m.mime) == "video"]
    images = [m for m in media if _family(m.mime) == "image"]
    if len(videos) > rule.max_videos:
        out.append(Problem("too_many_videos", _("{platform} allows at most {n} video per post.")
                           .format(platform=label, n=rule.max_videos)))
    if videos and images and not rule.mix_images_and_video:
        out.append(Problem("mixed_media", _("{platform} cannot mix images and a video in one post.")
                           .format(platform=label)))
    for i, m in enumerate(media, start=1):
        name = m.path.rsplit("/", 1)[-1] or str(i)
        if not _allowed(rule, m.mime):
            out.append(Problem("media_type", _("{platform} does not accept {mime} files ({name}).")
                               .format(platform=label, mime=m.mime, name=name)))
            continue
        cap = _size_limit(rule, m.mime)
        if cap is not None and m.size > cap:
            out.append(Problem("media_too_large", _("{name} is {size}; {platform} accepts at most {cap}.")
                               .format(name=name, size=_fmt_bytes(m.size), platform=label, cap=_fmt_bytes(cap))))
        if _family(m.mime) == "image":
            if not m.alt_text.strip():
                out.append(Problem("alt_text_missing", _("Describe the image {name} for people who cannot see it "
                                                         "(alt text).").format(name=name)))
            elif rule.alt_text_max and len(m.alt_text) > rule.alt_text_max:
                out.append(Problem("alt_text_too_long", _("The alt text of {name} is longer than the {n} characters "
                                                          "{platform} allows.").format(name=name, n=rule.alt_text_max,
                                                                                       platform=label)))
            if m.width and m.height and rule.max_aspect:
                ratio = max(m.width, m.height) / max(1, min(m.width, m.height))
                if ratio > rule.max_aspect:
                    out.append(Problem("aspect_ratio", _("{name} is too narrow or too wide ({w}×{h}); {platform} "
                                                         "accepts a ratio up to {r}:1.").format(
                        name=name, w=m.width, h=m.height, platform=label, r=f"{rule.max_aspect:g}")))
            if p == "x" and m.width and m.height and (m.width < 4 or m.height < 4):
                out.append(Problem("image_too_small", _("{name} is smaller than 4×4 pixels.").format(name=name)))
        if rule.needs_public_url and not m.path.startswith("https://"):
            out.append(Problem("media_needs_url", _("{platform} fetches images from a public https address; publish "
                                                    "{name} on the website channel first.").format(platform=label,
                                                                                                   name=name),
                               "warning"))
    return out


def errors_only(problems: Sequence[Problem]) -> list[Problem]:
    return [pr for pr in problems if pr.severity == "error"]
