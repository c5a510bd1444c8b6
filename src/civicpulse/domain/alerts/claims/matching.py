"""Scoring items against the claim registry: multilingual embeddings plus lexical overlap on segmented words.

Pure functions and one small in-memory index; no database here (the job and the services load the rows).

* **semantic**: cosine of the item's stored e5 embedding and each wording of the claim (the best wording
  counts), after removing each text's *language centroid* (the mean embedding of texts in that language).
  Raw e5 cosines rank an unrelated Thai post above the same rumour in Vietnamese; without the language
  component the same rumour in Thai, Vietnamese or English lines up. The centroids are learned on the tuning
  half of the labelled set and shipped in ``lang_centroids.json``.
* **lexical**: how much of the claim's words (and word pairs) the item contains, on the tokens of
  :func:`civicpulse.nlp.index_tokens` (Thai and Vietnamese segmented), minus stop words. It needs no
  embedding, so a new item can be matched as soon as it is analysed.

An item with an embedding gets ``score = SEM_WEIGHT * semantic' + (1 - SEM_WEIGHT) * lexical``, where
``semantic'`` rescales the cosine from ``[SEM_FLOOR, 1]`` to ``[0, 1]``; it matches at ``score >= THRESHOLD``.
An item without one is matched on the lexical score alone at ``>= LEXICAL_THRESHOLD``. The constants were
chosen on the tuning half of the labelled set (``civicpulse claims evaluate``; docs/models/claims.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from civicpulse.nlp.normalize import normalize

# chosen on the tuning split (see docs/models/claims.md); the evaluation prints how they fare on held-out data
SEM_FLOOR = 0.0
SEM_WEIGHT = 0.7
THRESHOLD = 0.22
LEXICAL_THRESHOLD = 0.30
MIN_CLAIM_TOKENS = 3  # shorter wordings are too vague for the lexical lane

STOP = frozenset("""
a an the of to in on at for and or but is are was were be been it this that these those with from by as not no
do does did will would can could should may might has have had i you he she we they them his her its our your
their there here what which who whom how why when where so if than then also just about into over out up very
và là của có cho các những được không này với một trong để đã khi thì mà người cũng như tại vì ra đến từ lại
rằng nhưng đó bị vào sẽ nên hay hoặc
ที่ และ ใน ของ ได้ ให้ เป็น มี ไม่ จะ ว่า กับ การ ก็ แต่ หรือ นี้ แล้ว ไป มา อยู่ โดย จาก ความ คือ ซึ่ง ถ้า เพื่อ
ทำ นั้น เลย ค่ะ ครับ นะ จ้า
""".split())


CENTROIDS = Path(__file__).parent / "lang_centroids.json"


@lru_cache(maxsize=1)
def centroids() -> dict[str, np.ndarray]:
    """Mean embedding per language (th, vi, en); ``*`` is their mean, used for any other language."""
    if not CENTROIDS.exists():
        return {}
    raw = json.loads(CENTROIDS.read_text(encoding="utf-8"))
    out = {k: np.asarray(v, dtype=np.float32) for k, v in raw.items()}
    out["*"] = np.mean(list(out.values()), axis=0).astype(np.float32)
    return out


def center(vecs: np.ndarray, langs: Sequence[str | None]) -> np.ndarray:
    """Embeddings (n, 384) without their language component, L2-normalised again."""
    cents = centroids()
    if not cents or not len(vecs):
        return vecs
    sub = np.vstack([cents.get(lg or "*", cents["*"]) for lg in langs])
    x = vecs - sub
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n == 0, 1, n)).astype(np.float32)


def text_key(text: str) -> str:
    """Identity of a wording for the duplicate rule: normalised, case-folded, whitespace collapsed."""
    s = " ".join(normalize(text).casefold().split())
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def tokens_for(text: str, lang: str | None) -> str:
    from civicpulse.nlp import index_tokens

    return index_tokens(text, lang)


def content_tokens(tokens: str) -> list[str]:
    return [t for t in tokens.split() if t not in STOP and (len(t) > 1 or not t.isascii())]


def _grams(toks: list[str]) -> tuple[set[str], set[str]]:
    return set(toks), {f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)}


def lexical(claim: tuple[set[str], set[str]], item: tuple[set[str], set[str]]) -> float:
    """Share of the claim's words and word pairs found in the item (0..1); 0 for too-short wordings."""
    cu, cb = claim
    if len(cu) < MIN_CLAIM_TOKENS:
        return 0.0
    iu, ib = item
    uni = len(cu & iu) / len(cu)
    bi = len(cb & ib) / len(cb) if cb else uni
    return 0.5 * uni + 0.5 * bi


def combine(cos: float, lex: float, *, sem_floor: float = SEM_FLOOR, sem_weight: float = SEM_WEIGHT) -> float:
    sem = min(1.0, max(0.0, (cos - sem_floor) / (1.0 - sem_floor)))
    return sem_weight * sem + (1.0 - sem_weight) * lex


@dataclasses.dataclass(frozen=True)
class Hit:
    claim_id: int
    score: float
    method: str  # semantic | lexical | both
    semantic: float | None  # best cosine, when the item had an embedding
    lexical: float


class ClaimIndex:
    """The registry's wordings in memory: a centred embedding matrix and an inverted index of words and word
    pairs, so that one item is scored against every wording with a few numpy operations."""

    def __init__(self, rows: Sequence[tuple[int, str | None, str, bytes | None]], *, threshold: float = THRESHOLD,
                 lexical_threshold: float = LEXICAL_THRESHOLD, sem_floor: float = SEM_FLOOR,
                 sem_weight: float = SEM_WEIGHT) -> None:
        """``rows``: (claim id, language, segmented tokens, embedding bytes or None) per wording."""
        self.threshold = threshold
        self.lexical_threshold = lexical_threshold
        self.sem_floor = sem_floor
        self.sem_weight = sem_weight
        self.claims = sorted({r[0] for r in rows})
        pos = {c: i for i, c in enumerate(self.claims)}
        self.claim_pos = np.array([pos[r[0]] for r in rows], dtype=np.int64)
        vecs = [np.frombuffer(r[3], dtype=np.float32) if r[3] else np.zeros(384, np.float32) for r in rows]
        self.has_vec = np.array([r[3] is not None for r in rows], dtype=bool)
        self.matrix = center(np.vstack(vecs), [r[1] for r in rows]) if vecs else np.zeros((0, 384), np.float32)
        self.uni_n = np.zeros(len(rows), np.float32)
        self.bi_n = np.zeros(len(rows), np.float32)
        self.postings: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            uni, bi = _grams(content_tokens(r[2]))
            if len(uni) < MIN_CLAIM_TOKENS:
                continue
            self.uni_n[i], self.bi_n[i] = len(uni), len(bi)
            for g in uni | bi:
                self.postings.setdefault(g, []).append(i)

    def __len__(self) -> int:
        return len(self.claim_pos)

    def _rows(self, tokens: str, embedding: np.ndarray | None,
              lang: str | None) -> tuple[np.ndarray | None, np.ndarray]:
        n = len(self)
        uni, bi = _grams(content_tokens(tokens))
        hit_u = [i for g in uni for i in self.postings.get(g, ())]
        hit_b = [i for g in bi for i in self.postings.get(g, ())]
        cu = np.bincount(np.asarray(hit_u, dtype=np.int64), minlength=n).astype(np.float32)
        cb = np.bincount(np.asarray(hit_b, dtype=np.int64), minlength=n).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(self.uni_n > 0, cu / np.maximum(self.uni_n, 1), 0.0)
            b = np.where(self.bi_n > 0, cb / np.maximum(self.bi_n, 1), u)
        lex = (0.5 * u + 0.5 * b).astype(np.float32)
        cos = None
        if embedding is not None and n:
            cos = self.matrix @ center(embedding.reshape(1, -1).astype(np.float32), [lang])[0]
        return cos, lex

    def score(self, tokens: str, embedding: np.ndarray | None,
              lang: str | None = None) -> dict[int, tuple[float | None, float]]:
        """Best (cosine, lexical) per claim id for one item."""
        cos_c, lex_c = self._per_claim(tokens, embedding, lang)
        return {c: (None if cos_c is None or not np.isfinite(cos_c[i]) else float(cos_c[i]), float(lex_c[i]))
                for i, c in enumerate(self.claims)}

    def _per_claim(self, tokens: str, embedding: np.ndarray | None,
                   lang: str | None) -> tuple[np.ndarray | None, np.ndarray]:
        cos, lex = self._rows(tokens, embedding, lang)
        lex_c = np.zeros(len(self.claims), np.float32)
        np.maximum.at(lex_c, self.claim_pos, lex)
        cos_c = None
        if cos is not None:
            cos_c = np.full(len(self.claims), -np.inf, np.float32)
            np.maximum.at(cos_c, self.claim_pos[self.has_vec], cos[self.has_vec])
        return cos_c, lex_c

    def match(self, tokens: str, embedding: np.ndarray | None, lang: str | None = None) -> list[Hit]:
        """Claims this item repeats, best first."""
        if not len(self):
            return []
        cos_c, lex_c = self._per_claim(tokens, embedding, lang)
        lex_ok = lex_c >= self.lexical_threshold
        if cos_c is None:
            sem_ok = np.zeros(len(self.claims), bool)
            comb = np.zeros(len(self.claims), np.float32)
        else:
            sem = np.clip((np.where(np.isfinite(cos_c), cos_c, 0.0) - self.sem_floor) / (1.0 - self.sem_floor), 0, 1)
            comb = (self.sem_weight * sem + (1.0 - self.sem_weight) * lex_c).astype(np.float32)
            sem_ok = np.isfinite(cos_c) & (comb >= self.threshold)
        hits = []
        for i in np.flatnonzero(lex_ok | sem_ok).tolist():
            cos_i = None if cos_c is None or not np.isfinite(cos_c[i]) else float(cos_c[i])
            lx = float(lex_c[i])
            if sem_ok[i]:
                method = "both" if lex_ok[i] else "semantic"
            else:
                method = "lexical"
            score = max(float(comb[i]) if sem_ok[i] else 0.0, lx if lex_ok[i] else 0.0)
            hits.append(Hit(self.claims[i], round(score, 4), method, cos_i, lx))
        return sorted(hits, key=lambda h: -h.score)
