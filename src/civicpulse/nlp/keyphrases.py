"""Key-phrase extraction from segmented words (TF-IDF of word 1-2-grams).

Candidates are uni/bi-grams of content words (no stopwords, punctuation, numbers, URLs,
mentions, emoji). Scores are ``tf * idf`` where idf comes from a background document-frequency
table built from the shared corpora (Wisesight + ThaiGov for Thai; our own comments for vi/en)
and shipped as ``models/keyphrases/background.json``; unseen words get the maximum idf.

* ``keyphrases(text, lang=None, k=5)`` → phrases of one post;
* ``keyphrases_batch(token_lists, k=5)`` → for pre-segmented posts (pipeline);
* ``topic_label(token_lists, k=3)`` → phrases describing a *group* of posts (topic labels).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from civicpulse.nlp import segment

BACKGROUND = Path(__file__).resolve().parent / "models" / "keyphrases" / "background.json"

VI_STOP = frozenset(
    """
    và của là có không ko k được đc dc cho với các những một này đó thì mà như để từ trong ngoài trên dưới
    khi nếu vì nên đã đang sẽ rồi còn cũng vẫn lại ra vào đi đến tới về bị bởi theo nhưng hay hoặc
    thế vậy nhé nha nhỉ ạ à ơi ừ ư hả chứ đâu gì sao ai nào bao giờ lúc này kia ấy đây ở tại
    tôi tui mình bạn anh chị em ông bà cô chú họ chúng ta người ta nó mọi rất quá lắm hơn nhất
    nhiều ít mỗi cả tất_cả chỉ thôi luôn vừa mới đều cùng nhau làm việc thấy biết nói muốn phải cần
    xin cảm_ơn cám_ơn vâng dạ thì_là hôm_nay ngày tháng năm giờ lần cái con chiếc những_người
    khong duoc nhung mot nay thi nhu de tu trong khi neu vi nen da dang se roi con cung van lai di den
    ve bi theo hay the vay nhe nha a oi gi sao nao o tai toi minh ban anh chi em ong ba co chu ho rat qua
    lam hon nhat nhieu moi ca chi thoi luon vua moi deu cung
    """.split()
)
EN_STOP = frozenset(
    """
    a an the and or but if then of to in on at for with from by about as into over after before is are was
    were be been being have has had do does did not no yes this that these those it its they them their
    we our you your i me my he she his her him what when where why how who which can could would should
    will just very so too there here than also only still again more most some any all each other such
    get got go going one two there's it's i'm don't can't please thanks thank
    """.split()
)
_SKIP_RE = re.compile(r"^(?:\W+|\d[\d.,:/]*|https?://.*|www\..*|[@#].*|xxlaugh|__.*__)$")


@lru_cache(maxsize=1)
def _thai_stop() -> frozenset[str]:
    try:
        from pythainlp.corpus import thai_stopwords

        return frozenset(thai_stopwords()) | {"ครับ", "ค่ะ", "คะ", "นะ", "จ้า", "จ้ะ", "ค่า", "คับ", "ฮะ"}
    except Exception:
        return frozenset({"ครับ", "ค่ะ", "คะ", "นะ", "และ", "ที่", "ของ", "ใน", "มี", "ไม่", "ได้", "เป็น"})


@lru_cache(maxsize=1 << 16)  # words repeat across posts; the answer depends only on the word
def is_stop(w: str) -> bool:
    return w in VI_STOP or w in EN_STOP or w in _thai_stop() or bool(_SKIP_RE.match(w)) or len(w) < 2


@lru_cache(maxsize=1)
def background() -> tuple[dict[str, int], int]:
    try:
        data = json.loads(BACKGROUND.read_text(encoding="utf-8"))
        return dict(data["df"]), int(data["n_docs"])
    except (OSError, ValueError, KeyError):
        return {}, 1


def build_background(token_lists: Iterable[Sequence[str]], min_df: int = 3, path: Path = BACKGROUND) -> int:
    """Build and save the background df table (unigrams and bigrams)."""
    df: Counter[str] = Counter()
    n = 0
    for toks in token_lists:
        n += 1
        df.update(set(_candidates([t.lower() for t in toks])))
    kept = {w: c for w, c in df.items() if c >= min_df}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"n_docs": n, "min_df": min_df, "df": kept}, ensure_ascii=False), encoding="utf-8")
    background.cache_clear()
    return len(kept)


def _candidates(toks: Sequence[str]) -> list[str]:
    out = []
    prev: str | None = None
    for t in toks:
        if is_stop(t):
            prev = None
            continue
        out.append(t)
        if prev is not None:
            out.append(prev + " " + t)
        prev = t
    return out


def _score(toks: Sequence[str], k: int) -> list[str]:
    df, n = background()
    cands = Counter(_candidates([t.lower() for t in toks]))
    if not cands:
        return []
    max_idf = math.log((n + 1) / 1) + 1
    scored = []
    get, log = df.get, math.log
    for c, tf in cands.items():
        idf = log((n + 1) / (get(c, 0) + 1)) + 1 if df else max_idf
        bonus = 1.3 if " " in c else 1.0
        scored.append((-(tf * idf * bonus), c))
    scored.sort()  # highest score first, ties by phrase
    out: list[str] = []
    for _, c in scored:
        if any(c in o.split(" ") or c == o for o in out):
            continue
        out = [o for o in out if o not in c.split(" ")]
        out.append(c)
        if len(out) >= k:
            break
    return [o.replace("_", " ") for o in out]


def keyphrases_batch(token_lists: Sequence[Sequence[str]], k: int = 5) -> list[list[str]]:
    return [_score(t, k) for t in token_lists]


def keyphrases(text: object, lang: str | None = None, k: int = 5) -> list[str]:
    """Top ``k`` key phrases of one text."""
    return _score(segment.words(text, lang), k)


def topic_label(token_lists: Sequence[Sequence[str]], k: int = 3) -> list[str]:
    """Key phrases describing a group of posts (document frequency within the group × idf)."""
    df, n = background()
    group: Counter[str] = Counter()
    for toks in token_lists:
        group.update(set(_candidates([t.lower() for t in toks])))
    if not group:
        return []
    scored = sorted(
        ((c * (math.log((n + 1) / (df.get(w, 0) + 1)) + 1) * (1.3 if " " in w else 1.0), w) for w, c in group.items() if c >= 2 or len(token_lists) < 3),
        key=lambda x: (-x[0], x[1]),
    )
    return [w.replace("_", " ") for _, w in scored[:k]]
