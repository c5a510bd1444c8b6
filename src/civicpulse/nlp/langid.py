"""Language identification: th / vi / en / other with a confidence in [0, 1].

1. Unicode script test: Thai script → ``th``; Lao, Khmer, CJK, Hangul, Cyrillic, Arabic …
   → ``other``; Latin letters carrying Vietnamese-only letters (ă â đ ê ô ơ ư and tone-marked
   vowels of the Latin Extended Additional block) → ``vi``.
2. Unaccented Latin text: a small list of very frequent unaccented Vietnamese words and
   teencode ("ko", "dc", "khong", "nguoi") versus English function words.
3. Otherwise ``lingua`` restricted to English, Vietnamese, Thai, Chinese, Indonesian, Malay
   and Tagalog; anything but en/vi/th maps to ``other``.

Empty text, emoji-only, digits-only or punctuation-only input → ``("other", 0.0)``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from civicpulse.nlp.normalize import EMAIL_RE, HASHTAG_RE, MENTION_RE, URL_RE, may_protect, normalize

LANGS = ("th", "vi", "en", "other")

_STRIP_RE = re.compile("|".join(p.pattern for p in (URL_RE, EMAIL_RE, MENTION_RE, HASHTAG_RE)), re.IGNORECASE)
_THAI_RE = re.compile(r"[\u0e01-\u0e5b]")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")
# Letters that (among en/vi/th/id) essentially only Vietnamese uses.
_VI_STRONG_RE = re.compile(
    r"[ăâđêôơưĂÂĐÊÔƠƯ\u1ea0-\u1ef9]|[ìíĩỉịùúũủụỳýỹỷỵòóõỏọàáãảạèéẽẻẹ]"
)
_OTHER_SCRIPT_RE = re.compile(
    r"[\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af"
    r"\u0400-\u04ff\u0600-\u06ff\u0590-\u05ff\u0900-\u097f\u0370-\u03ff]"
)
_WORD_RE = re.compile(r"[a-z]+")

# Frequent unaccented Vietnamese words / teencode that are not English words.
_VI_ASCII = frozenset(
    """
    khong ko k hok hong kh dc duoc đc nguoi cua nhung nhu the thi roi voi nay nua minh ban cac
    toi tui chung mot hai ba nhieu lam qua rat con cung van chua da dang se phai nen vi sao gi
    bao nhieu gio lau dau day kia ay nhe nha nhi ha ah a oi ui vay z j ntn bik biet tuong
    viec tien nuoc xa phuong huyen tinh thanh pho quan uy ban nhan dan cong an xe may duong
    ngap lut benh vien thue phi phat giay to thu tuc ho so lam sao chi anh em ong ba co chu
    hay tot xau te qua tr trc sau truoc moi nam thang ngay tuan dong vnd cho hoi luon muon
    thay noi nghe bt bn mk mn ng nc vs trong ngoai len xuong ra vao di den duoc khi neu thoi
    chuyen dang ky nop tra lai kiem tra can bo nha nuoc chinh quyen dich vu dien
    """.split()
)
_EN_COMMON = frozenset(
    """
    the a an and or but of to in on at for with from by is are was were be been being have
    has had do does did not no yes this that these those it its they them their we our you
    your i me my he she his her what when where why how who which can could would should will
    just very so too there here about please thanks thank road service office people city
    government tax fine water flood hospital police still again today why wait waiting
    """.split()
)

_LINGUA_MAP = {"ENGLISH": "en", "VIETNAMESE": "vi", "THAI": "th"}
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _detector() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    langs = [
        Language.ENGLISH,
        Language.VIETNAMESE,
        Language.THAI,
        Language.CHINESE,
        Language.INDONESIAN,
        Language.MALAY,
        Language.TAGALOG,
    ]
    return LanguageDetectorBuilder.from_languages(*langs).with_preloaded_language_models().build()


def _script_decision(text: str) -> tuple[str, float] | None | str:
    """Return a decision, or the cleaned Latin text to send to lingua (as a ``str``)."""
    t = _STRIP_RE.sub(" ", text) if may_protect(text) else text
    n_thai = len(_THAI_RE.findall(t))
    n_latin = len(_LATIN_RE.findall(t))
    n_other = len(_OTHER_SCRIPT_RE.findall(t))
    total = n_thai + n_latin + n_other
    if total == 0:
        return ("other", 0.0)
    if n_thai / total >= 0.5 or (n_thai >= 4 and n_thai >= n_other and n_thai * 3 >= n_latin):
        share = n_thai / total
        return ("th", round(min(0.99, 0.6 + 0.4 * share), 3))
    if n_other > n_latin:
        return ("other", round(min(0.95, 0.5 + 0.45 * n_other / total), 3))
    # Latin script.
    n_vi = len(_VI_STRONG_RE.findall(t))
    if n_vi >= 2 and n_vi / max(n_latin, 1) >= 0.04:
        return ("vi", round(min(0.99, 0.8 + 2.0 * n_vi / n_latin), 3))
    tokens = _WORD_RE.findall(t.lower())
    if not tokens:
        return ("other", 0.1) if n_vi == 0 else ("vi", 0.5)
    vi_hits = sum(1 for w in tokens if w in _VI_ASCII)
    en_hits = sum(1 for w in tokens if w in _EN_COMMON)
    if n_vi >= 1:
        vi_hits += 2
    if vi_hits >= 2 and vi_hits > 1.5 * en_hits and vi_hits / len(tokens) >= 0.3:
        return ("vi", round(min(0.95, 0.55 + 0.4 * vi_hits / len(tokens)), 3))
    if len(tokens) >= 3 and en_hits / len(tokens) >= 0.3 and vi_hits <= en_hits:
        return ("en", round(min(0.97, 0.6 + 0.5 * en_hits / len(tokens)), 3))
    return t


def _from_lingua(values: Any) -> tuple[str, float]:
    if not values:
        return ("other", 0.1)
    best = values[0]
    lang = _LINGUA_MAP.get(best.language.name, "other")
    return (lang, round(float(best.value), 3))


def detect(text: object) -> tuple[str, float]:
    """``(lang, confidence)`` with lang in th/vi/en/other. Never raises."""
    return detect_batch([text])[0]


_rayon_pid: int | None = None


def _parallel_ok() -> bool:
    """lingua's parallel API uses a Rust (rayon) thread pool that does not survive ``fork``:
    a forked worker (pipeline process pool) that inherits an initialised pool hangs forever on
    its first parallel call. Only the process that first used it may use it again."""
    global _rayon_pid
    if _rayon_pid is None:
        _rayon_pid = os.getpid()
    return _rayon_pid == os.getpid()


def detect_batch(texts: Sequence[object], normalized: bool = False) -> list[tuple[str, float]]:
    """Batched :func:`detect`; lingua runs in parallel over the texts that need it."""
    out: list[tuple[str, float] | None] = []
    pending: list[int] = []
    pending_texts: list[str] = []
    for i, raw in enumerate(texts):
        text = raw if (normalized and isinstance(raw, str)) else normalize(raw)
        if len(text) > 2000:
            text = text[:2000]
        d = _script_decision(text)
        if isinstance(d, str):
            out.append(None)
            pending.append(i)
            pending_texts.append(d)
        else:
            out.append(d)
    if pending:
        det = _detector()
        with _lock:
            if len(pending_texts) > 8 and _parallel_ok():
                vals = det.compute_language_confidence_values_in_parallel(pending_texts)
            else:
                vals = [det.compute_language_confidence_values(t) for t in pending_texts]
        for i, v in zip(pending, vals, strict=True):
            out[i] = _from_lingua(v)
    return [o if o is not None else ("other", 0.0) for o in out]
