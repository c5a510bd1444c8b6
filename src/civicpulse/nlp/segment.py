"""Word segmentation for Thai (pythainlp newmm), Vietnamese (pyvi) and English (regex).

* ``words(text, lang=None)`` → list of word tokens (case kept). Vietnamese compounds are
  joined with ``_`` ("thủ_tục"). URLs, e-mails, @mentions, #hashtags, emoji and the
  laughter token are single tokens. Punctuation is dropped except ``?`` (useful for
  question detection).
* ``index_tokens(text, lang=None)`` → one deterministic, lowercase, space-joined string for
  full-text indexing (SQLite FTS5 / PostgreSQL ``simple``). Call it at index time AND on
  queries. It is a pure function of (text, lang): when ``lang`` is None the language is
  detected with :func:`civicpulse.nlp.langid.detect`, so pass the stored language when you
  have it. ``fold=True`` additionally strips Vietnamese accents (for accent-insensitive
  search, apply it on both sides).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from civicpulse.nlp import langid
from civicpulse.nlp.normalize import LAUGH_TOKEN, normalize, strip_diacritics

# Special tokens kept whole.
_SPECIAL = (
    r"(?:https?://|www\.)[^\s<>\"']+"
    r"|[\w.+-]{1,64}@[\w-]{1,63}\.[\w.-]{1,63}"
    r"|(?<![\w@])@[\w.]{1,60}"
    r"|(?<![\w#])#[^\s#@,.!?;:()\[\]{}\"'“”]{1,100}"
)
_EMOJI = (
    r"[\U0001f1e6-\U0001f1ff]{2}"
    r"|[\u2600-\u27bf\U0001f000-\U0001faff\u2b00-\u2bff\u2300-\u23ff]"
    r"(?:[\ufe0f\U0001f3fb-\U0001f3ff]|\u200d[\u2600-\u27bf\U0001f000-\U0001faff])*"
)
_THAI_RUN = r"[\u0e01-\u0e4f\u0e5a\u0e5b]+"
_WORDCHARS = r"[^\W_]+(?:['’.\-][^\W_]+)*"
_CHUNK_RE = re.compile(
    f"(?P<special>{_SPECIAL})|(?P<emoji>{_EMOJI})|(?P<thai>{_THAI_RUN})|(?P<word>{_WORDCHARS})|(?P<q>\\?)",
    re.IGNORECASE,
)
_LATIN_SPAN_RE = re.compile(r"[^\u0e01-\u0e5b]+")
_VI_TOKEN_RE = re.compile(r"[^\W_]+(?:_[^\W_]+)*")
_THAI_CHARS_RE = re.compile(r"[\u0e01-\u0e5b]")


@lru_cache(maxsize=1)
def _thai_tokenizer() -> Callable[[str], list[str]]:
    """newmm on a run of Thai letters (``_THAI_RUN``: no digits, no spaces).

    On such a run ``word_tokenize(s, engine="newmm", keep_whitespace=False)`` returns exactly
    ``newmm.segment(s)``: its post-processors (rejoining numbers, dropping whitespace) find nothing
    to do. Calling ``segment`` directly skips building an empty custom dictionary per call and the
    post-processing passes (a test checks both give the same words)."""
    from pythainlp.tokenize.newmm import segment

    segment("ทดสอบ")  # builds and caches the dictionary trie
    return segment


@lru_cache(maxsize=1)
def _vi_tokenizer() -> Callable[[str], str]:
    from pyvi import ViTokenizer

    ViTokenizer.tokenize("xin chào")  # loads the CRF model once
    return ViTokenizer.tokenize  # type: ignore[no-any-return]


@lru_cache(maxsize=1 << 16)  # Thai runs repeat a lot across posts
def _thai_words(run: str) -> tuple[str, ...]:
    return tuple(w for w in _thai_tokenizer()(run) if w.strip())


def _vi_words(span: str) -> list[str]:
    try:
        seg = _vi_tokenizer()(span)
    except Exception:  # pyvi can fail on odd input; fall back to syllables
        seg = span
    return _VI_TOKEN_RE.findall(seg)


def _tokens(text: str, lang: str) -> list[str]:
    out: list[str] = []
    if lang == "vi":
        # pyvi on each Latin span (between specials / Thai / emoji), keeping order.
        buf: list[str] = []

        def flush() -> None:
            if buf:
                out.extend(_vi_words(" ".join(buf)))
                buf.clear()

        for m in _CHUNK_RE.finditer(text):
            kind = m.lastgroup
            if kind == "word" and m.group(0) != LAUGH_TOKEN and len(m.group(0)) <= 30:
                buf.append(m.group(0))
                if len(buf) >= 400:
                    flush()
                continue
            flush()
            if kind == "thai":
                out.extend(_thai_words(m.group(0)))
            else:
                out.append(m.group(0))
        flush()
        return out
    for m in _CHUNK_RE.finditer(text):
        kind = m.lastgroup
        if kind == "thai":
            out.extend(_thai_words(m.group(0)))
        else:
            out.append(m.group(0))
    return out


def words(text: object, lang: str | None = None, *, normalized: bool = False) -> list[str]:
    """Word tokens of ``text`` (see module docstring). Never raises."""
    s = text if (normalized and isinstance(text, str)) else normalize(text)
    if not s:
        return []
    if lang is None:
        lang = langid.detect_batch([s], normalized=True)[0][0]
    return _tokens(s, lang)


def index_tokens(text: object, lang: str | None = None, *, fold: bool = False, normalized: bool = False) -> str:
    """Space-joined lowercase tokens for full-text indexing; deterministic. Never raises."""
    toks = [t for t in words(text, lang, normalized=normalized) if t != "?"]
    s = " ".join(toks).lower()
    if fold:
        s = strip_diacritics(s)
    return s


def has_thai(text: str) -> bool:
    return _THAI_CHARS_RE.search(text) is not None
