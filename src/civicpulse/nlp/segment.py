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

import os
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


try:  # the optional compiled newmm (setup.py); without it PyThaiNLP segments every run
    from civicpulse.nlp import _newmm as _native_newmm  # type: ignore[attr-defined]
except ImportError:
    _native_newmm = None

# CIVICPULSE_NATIVE_NEWMM=0 segments with PyThaiNLP only (the benchmark's baseline in the same run).
NATIVE_NEWMM_ENV = "CIVICPULSE_NATIVE_NEWMM"


@lru_cache(maxsize=1)
def _newmm_table() -> object | None:
    """The compiled newmm's dictionary and cluster rules, taken from PyThaiNLP itself (its default
    word trie, its TCC rules); None where the module is not built, is turned off, or this PyThaiNLP's
    rules use syntax it does not know."""
    if _native_newmm is None or os.environ.get(NATIVE_NEWMM_ENV, "1").strip() == "0":
        return None
    try:
        from pythainlp.tokenize import tcc_p, word_dict_trie

        return _native_newmm.table(list(word_dict_trie()), list(tcc_p._RE_TCC))
    except (AttributeError, ImportError, TypeError, ValueError):
        return None


@lru_cache(maxsize=1)
def _thai_tokenizer() -> Callable[[str], list[str]]:
    """newmm on a run of Thai letters (``_THAI_RUN``: no digits, no spaces).

    On such a run ``word_tokenize(s, engine="newmm", keep_whitespace=False)`` returns exactly
    ``newmm.segment(s)``: its post-processors (rejoining numbers, dropping whitespace) find nothing
    to do. Calling ``segment`` directly skips building an empty custom dictionary per call and the
    post-processing passes (a test checks both give the same words).

    Where the compiled newmm is built (``civicpulse.nlp._newmm``), it segments such runs: the same
    steps as PyThaiNLP's on the same dictionary and cluster rules, so the same words (a test compares
    them on every Thai run of the shared corpora), about ten times faster. Other text (spaces, digits,
    Latin letters) goes to PyThaiNLP."""
    from pythainlp.tokenize.newmm import segment

    segment("ทดสอบ")  # builds and caches the dictionary trie
    table = _newmm_table()
    if table is None or _native_newmm is None:
        return segment
    native = _native_newmm.segment

    def newmm(text: str) -> list[str]:
        try:
            return native(table, text)  # type: ignore[no-any-return]
        except ValueError:  # not a run of Thai letters only
            return segment(text)

    return newmm


@lru_cache(maxsize=1)
def _vi_tokenizer() -> Callable[[str], str]:
    """pyvi's ``ViTokenizer.tokenize``, with its CRF features computed once per syllable.

    pyvi builds each syllable's feature dict from scratch, lowering and testing each syllable up to
    three times and joining its neighbours for the n-gram look-ups twice. :func:`_vi_features`
    builds the same dicts from per-syllable values computed once, without the attributes whose value
    is False: their weight is 0, so they add nothing to the CRF's scores (the same probabilities and
    marginals, checked on our 2,507 Vietnamese rows), and leaving them out makes the CRF's call about
    three times faster. The CRF model, the syllables and the joining rule are pyvi's own. A test
    compares the output with ``ViTokenizer.tokenize`` on our Vietnamese rows and on random text."""
    import string

    from pyvi.ViTokenizer import ViTokenizer

    ViTokenizer.tokenize("xin chào")  # loads the CRF model once
    model, bi, tri, punct = ViTokenizer.model, ViTokenizer.bi_grams, ViTokenizer.tri_grams, string.punctuation

    def tokenize(text: str) -> str:
        _, tmp = ViTokenizer.sylabelize(text)
        if len(tmp) == 0:
            return text
        labels = model.predict([_vi_features(tmp, bi, tri)])[0]
        parts = [tmp[0]]
        for i in range(1, len(labels)):  # pyvi's rule for joining a syllable to the one before
            if labels[i] == "I_W" and tmp[i] not in punct and tmp[i - 1] not in punct \
                    and not tmp[i][0].isdigit() and not tmp[i - 1][0].isdigit() \
                    and not (tmp[i][0].istitle() and not tmp[i - 1][0].istitle()):
                parts.append("_")
            else:
                parts.append(" ")
            parts.append(tmp[i])
        return "".join(parts)

    return tokenize


def _vi_features(sent: list[str], bi_grams: set[str], tri_grams: set[str]) -> list[dict[str, object]]:
    """``[ViTokenizer.word2features(sent, i, False) for i in range(len(sent))]`` without the entries whose
    value is False (see :func:`_vi_tokenizer`); the other entries the same, in the same order."""
    n = len(sent)
    low = [w.lower() for w in sent]
    title = [w.istitle() for w in sent]
    upper = [w.isupper() for w in sent]
    bi = [" ".join([sent[j], sent[j + 1]]).lower() in bi_grams for j in range(n - 1)]
    tri = [" ".join([sent[j], sent[j + 1], sent[j + 2]]).lower() in tri_grams for j in range(n - 2)]
    out: list[dict[str, object]] = []
    for i, w in enumerate(sent):
        f: dict[str, object] = {"bias": 1.0, "word.lower()": low[i]}
        if upper[i]:
            f["word.isupper()"] = True
        if title[i]:
            f["word.istitle()"] = True
        if w.isdigit():
            f["word.isdigit()"] = True
        if i > 0:
            f["-1:word.lower()"] = low[i - 1]
            if title[i - 1]:
                f["-1:word.istitle()"] = True
            if upper[i - 1]:
                f["-1:word.isupper()"] = True
            if bi[i - 1]:
                f["-1:word.bi_gram()"] = True
            if i > 1 and tri[i - 2]:
                f["-2:word.tri_gram()"] = True
        if i < n - 1:
            f["+1:word.lower()"] = low[i + 1]
            if title[i + 1]:
                f["+1:word.istitle()"] = True
            if upper[i + 1]:
                f["+1:word.isupper()"] = True
            if bi[i]:
                f["+1:word.bi_gram()"] = True
            if i < n - 2 and tri[i]:
                f["+2:word.tri_gram()"] = True
        out.append(f)
    return out


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
