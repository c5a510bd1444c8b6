"""Claim matching cost per item, against a baseline measured in the same run.

The matching job scores every new item against every wording of the registry. This measures
``ClaimIndex.match`` (language-centred cosine + lexical overlap, in Python per wording) for a registry of
``--claims`` claims x ``--wordings`` wordings, over ``--items`` items with stored embeddings and segmented
tokens, against the floor: the bare numpy matrix-vector product of the same embeddings. No model is loaded
(embeddings are the shipped language centroid plus noise, which is how e5 embeddings of unrelated posts
look; tokens are drawn from a 5,000-word vocabulary), so the figures are the job's
own cost, not the enrichment lane's.

    .venv/bin/python bench/bench_claims.py [--claims 300] [--wordings 3] [--items 2000]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from civicpulse.domain.alerts.claims.matching import ClaimIndex, centroids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--claims", type=int, default=300)
    ap.add_argument("--wordings", type=int, default=3)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    nrng = np.random.default_rng(a.seed)
    vocab = [f"w{i}" for i in range(5000)]
    langs = ["th", "vi", "en"]

    cents = centroids()

    def vec(lang: str) -> np.ndarray:
        noise = nrng.standard_normal(384).astype(np.float32)
        v = cents[lang] / np.linalg.norm(cents[lang]) * 0.9 + noise / np.linalg.norm(noise) * 0.45
        return (v / np.linalg.norm(v)).astype(np.float32)

    rows = [(c, langs[w % 3], " ".join(rng.choices(vocab, k=12)), vec(langs[w % 3]).tobytes())
            for c in range(a.claims) for w in range(a.wordings)]
    items = []
    for _ in range(a.items):
        lg = rng.choice(langs)
        items.append((" ".join(rng.choices(vocab, k=40)), vec(lg), lg))

    t = time.perf_counter()
    index = ClaimIndex(rows)
    build = time.perf_counter() - t

    t = time.perf_counter()
    hits = sum(len(index.match(toks, v, lg)) for toks, v, lg in items)
    ours = time.perf_counter() - t

    matrix = np.vstack([np.frombuffer(r[3], dtype=np.float32) for r in rows])
    t = time.perf_counter()
    for _toks, v, _lg in items:
        (matrix @ v).max()
    floor = time.perf_counter() - t

    n = len(rows)
    print(f"registry: {a.claims} claims x {a.wordings} wordings = {n} rows; index built in {build * 1000:.1f} ms")
    print(f"match:    {a.items} items in {ours:.2f} s = {ours / a.items * 1000:.2f} ms/item "
          f"({a.items / ours:,.0f} items/s); {hits} hits on unrelated synthetic data")
    print(f"floor:    numpy matrix @ vector alone {floor / a.items * 1000:.3f} ms/item")
    print(f"ratio:    {ours / floor:.0f}x the floor (the lexical overlap per wording is the rest)")


if __name__ == "__main__":
    main()
