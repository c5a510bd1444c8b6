"""Text normalisation for Thai, Vietnamese and English social-media posts.

``normalize(text)`` is total (never raises, whatever it is given) and idempotent
(``normalize(normalize(x)) == normalize(x)``). It:

* repairs invalid UTF-16 surrogates (lone ``\\ud800`` → removed) and applies Unicode NFC;
* removes zero-width and other invisible format characters, control characters and
  the replacement character; collapses runs of spaces (newlines are kept, collapsed);
* Thai: ``555…`` → the laughter token ``xxlaugh``; repeated ``ๆ`` → one ``ๆ`` glued
  to the previous word; elongated letters/vowels (``มากกกก``, ``ค่าาาา``) → one letter;
* Latin elongation (``sooooo`` → ``soo``) and repeated punctuation (``!!!!`` → ``!``);
* Vietnamese tone placement: the "new" style (``hoà``, ``thuý``, ``khoẻ``) is rewritten
  to the common "old" style (``hòa``, ``thúy``, ``khỏe``) used in administrative names;
* URLs, e-mails, @mentions, #hashtags and emoji are preserved unchanged (they are
  protected from the rewriting rules) so the tokenizer keeps them as tokens.
"""

from __future__ import annotations

import re
import unicodedata

LAUGH_TOKEN = "xxlaugh"  # noqa: S105

# Invisible format characters: zero width space/joiners, word joiner, BOM, soft hyphen,
# bidi marks/embeddings/isolates, invisible operators, Mongolian vowel separator.
_INVISIBLE_RE = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufffd\ufffe\uffff"
    "\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]"
)
# ZWJ/VS16 are kept only inside emoji sequences; outside they are removed above (U+200D
# is in the U+200B–U+200F range). Variation selector 16 is harmless and kept.
_SPACES_RE = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_NEWLINES_RE = re.compile(r"\s*\n[\s\n]*")

# Protected spans: URLs, e-mails, mentions, hashtags.
URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"'（）]+", re.IGNORECASE)
EMAIL_RE = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}\.[\w.-]{1,63}")
MENTION_RE = re.compile(r"(?<![\w@])@[\w.]{1,60}")
HASHTAG_RE = re.compile(r"(?<![\w#])#[^\s#@,.!?;:()\[\]{}\"'“”]{1,100}")
_PROTECT_RE = re.compile("|".join(p.pattern for p in (URL_RE, EMAIL_RE, MENTION_RE, HASHTAG_RE)), re.IGNORECASE)
# What a protected span needs: an "@" (e-mail, mention), a "#" (hashtag) or a URL's beginning. Most posts
# have none, and then the search for the spans (which tries the e-mail rule at every letter) is skipped.
_URL_START_RE = re.compile(r"https?://|www\.", re.IGNORECASE)

# Patterns below that start with a lookbehind or a word boundary begin with a lookahead of the
# characters they can start with: it changes no match, and lets Python's regex engine reject most
# positions at one test instead of trying the whole pattern there.

# Thai rules.
_LAUGH_TH_RE = re.compile(r"(?=555)(?<![0-9])5{3,}(?![0-9])")
_LAUGH_LATIN_RE = re.compile(r"(?=[hklw])\b(?:(?:h[aeiu]){3,}h?|k{4,}|(?:l+o+l+)(?:o+l+)+|(?:wk){3,})\b", re.IGNORECASE)
_MAIYAMOK_RE = re.compile(r"\s*ๆ(?:\s*ๆ)*")
_THAI_ELONG_RE = re.compile(r"([\u0e01-\u0e4e])\1{2,}")  # a Thai char 3+ times → once
_LATIN_ELONG_RE = re.compile(r"([a-zA-Z])\1{2,}")  # 3+ → 2 (keeps "good", "see")
_PUNCT_REPEAT_RE = re.compile(r"([!?.,~^*=\-_+])\1+")
_PUNCT_MIXED_RE = re.compile(r"[!?]{2,}")

# Vietnamese tone placement (new style → old style for oa / oe / uy at syllable end).
_TONED_A = "àáảãạ"
_TONED_E = "èéẻẽẹ"
_TONED_Y = "ỳýỷỹỵ"
_TONES = "\u0300\u0301\u0309\u0303\u0323"  # grave, acute, hook, tilde, dot below
_VI_NEW_STYLE_RE = re.compile(
    "(?=[oOuU])(?:(?<![qQ])([oO])([" + _TONED_A + _TONED_E + _TONED_A.upper() + _TONED_E.upper() + "])(?![^\\W\\d_])"
    "|(?<![qQ])([uU])([" + _TONED_Y + _TONED_Y.upper() + "])(?![^\\W\\d_]))"
)


def _move_tone(m: re.Match[str]) -> str:
    first = m.group(1) or m.group(3)
    second = m.group(2) or m.group(4)
    decomposed = unicodedata.normalize("NFD", second)
    base = decomposed[0]
    tone = "".join(ch for ch in decomposed[1:] if ch in _TONES)
    rest = "".join(ch for ch in decomposed[1:] if ch not in _TONES)
    new_first = unicodedata.normalize("NFC", first + tone)
    return new_first + unicodedata.normalize("NFC", base + rest)


def fix_surrogates(text: str) -> str:
    """Join valid surrogate pairs and drop lone surrogates (never raises)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").replace("\ufffd", "")


def _to_str(text: object) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return str(text)
    return text


def may_protect(text: str) -> bool:
    """False when ``text`` cannot hold a URL, an e-mail, a mention or a hashtag (no "@", no "#", no
    URL beginning): the patterns for them need not be searched."""
    return "@" in text or "#" in text or _URL_START_RE.search(text) is not None


def vi_tone_old_style(text: str) -> str:
    """Rewrite Vietnamese new-style tone placement (hoà, thuý) to old style (hòa, thúy)."""
    return _VI_NEW_STYLE_RE.sub(_move_tone, text)


def _normalize_plain(seg: str) -> str:
    seg = _LAUGH_TH_RE.sub(f" {LAUGH_TOKEN} ", seg)
    seg = _LAUGH_LATIN_RE.sub(f" {LAUGH_TOKEN} ", seg)
    seg = _THAI_ELONG_RE.sub(r"\1", seg)
    seg = _LATIN_ELONG_RE.sub(r"\1\1", seg)
    seg = _MAIYAMOK_RE.sub("ๆ", seg)
    seg = _PUNCT_REPEAT_RE.sub(r"\1", seg)
    seg = _PUNCT_MIXED_RE.sub("?", seg)
    seg = vi_tone_old_style(seg)
    return seg


def normalize(text: object) -> str:
    """Canonical form of a post: see the module docstring. Never raises; idempotent."""
    s = _to_str(text)
    if not s:
        return ""
    s = fix_surrogates(s)
    s = _INVISIBLE_RE.sub("", s)  # before NFC: a removed zero-width char may sit between a letter and its mark
    s = unicodedata.normalize("NFC", s)
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    if may_protect(s):
        parts: list[str] = []
        pos = 0
        for m in _PROTECT_RE.finditer(s):
            parts.append(_normalize_plain(s[pos : m.start()]))
            parts.append(m.group(0))
            pos = m.end()
        parts.append(_normalize_plain(s[pos:]))
        out = "".join(parts)
    else:
        out = _normalize_plain(s)
    out = _SPACES_RE.sub(" ", out)
    if "\n" in out:
        out = _NEWLINES_RE.sub("\n", out)
    # the replacements above can bring a letter next to a combining mark (U+0053 U+0326 → U+0218)
    return unicodedata.normalize("NFC", out).strip()


def normalize_idempotent(text: object) -> str:
    """``normalize`` iterated to a fixed point (at most 3 passes)."""
    prev = normalize(text)
    for _ in range(2):
        nxt = normalize(prev)
        if nxt == prev:
            return nxt
        prev = nxt
    return prev


def has_diacritics(text: str) -> bool:
    """Whether :func:`strip_diacritics` would change ``text`` (Vietnamese typed with its accents)."""
    return not text.isascii() and strip_diacritics(text) != text


def strip_diacritics(text: str) -> str:
    """Remove combining marks (Vietnamese accents; đ→d). Thai is left unchanged."""
    out = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and not ("\u0e00" <= ch <= "\u0e7f"):
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)).replace("đ", "d").replace("Đ", "D")
