"""Precision and recall of claim matching on a labelled set, and the choice of the thresholds.

The labelled set has two parts, both shipped in ``eval_data/``:

* ``limesoda_pairs.jsonl``: derived from the LimeSoda Thai health-news data (CC BY 4.0, see
  docs/attribution.md). For each document with a headline, the headline is the claim and an excerpt of the
  body (the headline removed from it) is the item that repeats it; every other document's excerpt is a
  non-matching item. Rebuild it with :func:`build_limesoda_pairs`.
* ``pairs_ours.json``: our own claims with reworded and translated items (th / vi / en) and unrelated items.

Each part is split into a tuning half and a held-out half (by claim). Every item is scored against every claim
of its half; a (claim, item) pair is predicted when it scores over the threshold. Thresholds are chosen on
the tuning half (best F1) and precision/recall are reported on the held-out half.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from civicpulse.domain.alerts.claims import matching

DATA = Path(__file__).parent / "eval_data"
LIMESODA_PAIRS = DATA / "limesoda_pairs.jsonl"
OURS = DATA / "pairs_ours.json"
EXCERPT = 400


def _split_of(key: str) -> str:
    return "tune" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 2 == 0 else "heldout"


def build_limesoda_pairs(src: Path, out: Path = LIMESODA_PAIRS) -> int:
    """Headline -> claim, body excerpt without the headline -> item. Returns the number of pairs written."""
    from civicpulse.nlp.normalize import normalize

    rows = []
    for line in src.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        title = normalize(d.get("title") or "").strip()
        if len(title) < 15:
            continue
        body = normalize(d["text"]).replace(title, " ")
        body = " ".join(body.split())[:EXCERPT]
        if len(body) < 80:
            continue
        rows.append({"id": d["id"], "split": _split_of(d["id"]), "label": d["label"], "claim": title,
                     "item": body})
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(rows)


@dataclasses.dataclass
class Part:
    """One half of one source: claims, items, and which claim each item repeats (None: none)."""

    name: str
    claims: list[tuple[str, str]]  # (text, lang)
    items: list[tuple[str, str, int | None, bool]]  # (text, lang, claim index or None, cross-language)


def load_parts() -> dict[tuple[str, str], Part]:
    parts: dict[tuple[str, str], Part] = {}
    for line in LIMESODA_PAIRS.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        p = parts.setdefault(("limesoda", r["split"]), Part("limesoda", [], []))
        p.items.append((r["item"], "th", len(p.claims), False))
        p.claims.append((r["claim"], "th"))
    ours = json.loads(OURS.read_text(encoding="utf-8"))
    for c in ours["claims"]:
        p = parts.setdefault(("ours", c["split"]), Part("ours", [], []))
        for it in c["items"]:
            p.items.append((it["text"], it["lang"], len(p.claims), it["lang"] != c["lang"]))
        p.claims.append((c["text"], c["lang"]))
    for it in ours["unrelated"]:
        parts.setdefault(("ours", it["split"]), Part("ours", [], [])).items.append((it["text"], it["lang"], None,
                                                                                    False))
    return parts


@dataclasses.dataclass
class Embedded:
    part: Part
    cvec: np.ndarray
    ivec: np.ndarray


def embed_part(part: Part) -> Embedded:
    from civicpulse.nlp.embed import embed

    return Embedded(part, embed([t for t, _l in part.claims]), embed([t for t, _l, _c, _x in part.items]))


def learn_centroids(parts: list[Embedded]) -> dict[str, np.ndarray]:
    """Mean embedding per language over the claims and items given (the tuning halves)."""
    by: dict[str, list[np.ndarray]] = {}
    for e in parts:
        for v, (_t, lg) in zip(e.cvec, e.part.claims, strict=True):
            by.setdefault(lg, []).append(v)
        for v, (_t, lg, _c, _x) in zip(e.ivec, e.part.items, strict=True):
            by.setdefault(lg, []).append(v)
    return {lg: np.mean(vs, axis=0) for lg, vs in sorted(by.items())}


def write_centroids(cents: dict[str, np.ndarray]) -> None:
    matching.CENTROIDS.write_text(json.dumps({k: [round(float(x), 6) for x in v] for k, v in cents.items()}),
                                  encoding="utf-8")
    matching.centroids.cache_clear()


def _center(vecs: np.ndarray, langs: list[str], cents: dict[str, np.ndarray]) -> np.ndarray:
    star = np.mean(list(cents.values()), axis=0)
    x = vecs - np.vstack([cents[lg] if lg in cents else star for lg in langs])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@dataclasses.dataclass
class Scored:
    cos: np.ndarray  # items x claims
    lex: np.ndarray
    truth: np.ndarray  # bool, items x claims
    cross: np.ndarray  # bool per item: a different language from its claim


def score_part(e: Embedded, cents: dict[str, np.ndarray]) -> Scored:
    part = e.part
    ctoks = [matching.tokens_for(t, lg) for t, lg in part.claims]
    itoks = [matching.tokens_for(t, lg) for t, lg, _c, _x in part.items]
    cg = [matching._grams(matching.content_tokens(t)) for t in ctoks]
    ig = [matching._grams(matching.content_tokens(t)) for t in itoks]
    lex = np.array([[matching.lexical(c, i) for c in cg] for i in ig], dtype=np.float32)
    truth = np.zeros(lex.shape, dtype=bool)
    for n, (_t, _l, c, _x) in enumerate(part.items):
        if c is not None:
            truth[n, c] = True
    cross = np.array([x for _t, _l, _c, x in part.items], dtype=bool)
    cv = _center(e.cvec, [lg for _t, lg in part.claims], cents)
    iv = _center(e.ivec, [lg for _t, lg, _c, _x in part.items], cents)
    return Scored(cos=iv @ cv.T, lex=lex, truth=truth, cross=cross)


def _pr(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3), "tp": tp, "fp": fp, "fn": fn}


def predict(sc: Scored, threshold: float, lexical_threshold: float, sem_weight: float, sem_floor: float,
            *, with_embedding: bool = True) -> np.ndarray:
    lex_ok = sc.lex >= lexical_threshold
    if not with_embedding:
        return lex_ok
    sem = np.clip((sc.cos - sem_floor) / (1 - sem_floor), 0, 1)
    return (sem_weight * sem + (1 - sem_weight) * sc.lex >= threshold) | lex_ok


def _concat(items: list[Scored]) -> Scored:
    """Block-diagonal union of parts: items of one part never match claims of another."""
    n = sum(s.truth.shape[0] for s in items)
    m = sum(s.truth.shape[1] for s in items)
    cos = np.full((n, m), -1.0, np.float32)
    lex = np.zeros((n, m), np.float32)
    truth = np.zeros((n, m), bool)
    i = j = 0
    for s in items:
        a, b = s.truth.shape
        cos[i:i + a, j:j + b] = s.cos
        lex[i:i + a, j:j + b] = s.lex
        truth[i:i + a, j:j + b] = s.truth
        i, j = i + a, j + b
    return Scored(cos=cos, lex=lex, truth=truth, cross=np.concatenate([s.cross for s in items]))


def _macro_f1(scored: dict[str, Scored], *args: float) -> float:
    return float(np.mean([_pr(predict(sc, *args), sc.truth)["f1"] for sc in scored.values()]))


def evaluate(*, tune: bool = True, write: bool = False) -> dict[str, Any]:
    """Scores every half; with ``tune`` chooses centroids and thresholds on the tuning halves (``write``: save
    the centroids for production), otherwise uses the shipped ones. Precision/recall are over (claim, item)
    pairs."""
    parts = load_parts()
    embedded = {k: embed_part(p) for k, p in parts.items()}
    if tune:
        cents = learn_centroids([e for (_n, sp), e in embedded.items() if sp == "tune"])
        if write:
            write_centroids(cents)
    else:
        cents = {k: v for k, v in matching.centroids().items() if k != "*"}
    scored = {k: score_part(e, cents) for k, e in embedded.items()}
    tuning = {n: sc for (n, sp), sc in scored.items() if sp == "tune"}
    tune_all = _concat(list(tuning.values()))
    held_all = _concat([v for (_n, sp), v in scored.items() if sp == "heldout"])
    chosen = {"threshold": matching.THRESHOLD, "lexical_threshold": matching.LEXICAL_THRESHOLD,
              "sem_weight": matching.SEM_WEIGHT, "sem_floor": matching.SEM_FLOOR}
    out: dict[str, Any] = {}
    if tune:
        # the lexical-only lane (items still waiting for their embedding): best precision-weighted F
        best_lex = max(((_pr(tune_all.lex >= t, tune_all.truth)["f1"], t) for t in np.arange(0.3, 0.95, 0.05)),
                       key=lambda x: (x[0], x[1]))
        lt = round(float(best_lex[1]), 2)
        best: tuple[float, ...] | None = None
        for floor in (0.0, 0.1, 0.2):
            for w in (0.6, 0.7, 0.8, 0.9, 1.0):
                for t in np.arange(0.1, 0.9, 0.02):
                    f1 = _macro_f1(tuning, round(float(t), 2), lt, w, floor)
                    if best is None or f1 > best[0]:
                        best = (f1, round(float(t), 2), w, floor)
        assert best is not None
        out["tuning_macro_f1"] = round(best[0], 3)
        chosen = {"threshold": best[1], "lexical_threshold": lt, "sem_weight": best[2], "sem_floor": best[3]}
    args = (chosen["threshold"], chosen["lexical_threshold"], chosen["sem_weight"], chosen["sem_floor"])
    out.update({"chosen_on_tuning" if tune else "shipped": chosen,
                "tuning": _pr(predict(tune_all, *args), tune_all.truth),
                "heldout": _pr(predict(held_all, *args), held_all.truth),
                "heldout_lexical_only": _pr(predict(held_all, *args, with_embedding=False), held_all.truth),
                "sizes": {}})
    for (name, sp), sc in sorted(scored.items()):
        out["sizes"][f"{name}/{sp}"] = {"claims": int(sc.truth.shape[1]), "items": int(sc.truth.shape[0]),
                                        "positive_pairs": int(sc.truth.sum())}
        if sp == "heldout":
            pred = predict(sc, *args)
            out[f"heldout_{name}"] = _pr(pred, sc.truth)
            if sc.cross.any():
                out[f"heldout_{name}_cross_language_recall"] = _pr(pred[sc.cross], sc.truth[sc.cross])["recall"]
    return out
