"""Near-duplicate benchmark: ``dedup.signatures`` + ``NearDupIndex`` over N items with planted near-duplicates.

    python bench/bench_dedup.py [--n 1000000] [--dup-rate 0.03] [--threshold 0.7]

* Items are token lists (as ``services.dedup_run`` reads them from ``items.index_text``) composed of
  2-4 sentences tokenized once with the real tokenizer (cache under /tmp/civicpulse-bench/cache), so
  originals rarely coincide by chance.
* ``--dup-rate`` of the items are planted copies of an earlier original: exact repost, ``rt @user``
  prefix, 1-2 words replaced, a short tail appended (hashtag / comment), 1-2 words deleted, or two of
  these. Recall = planted (copy, original) pairs that end up in one cluster; it is also given for the
  pairs whose true 3-shingle Jaccard similarity is ≥ the threshold (the ones LSH is meant to find).
* Baseline: the raw numpy MinHash step alone (permutations + segmented minimum over precomputed
  32-bit shingle hashes, same batches) — the ratio says how much the rest (token hashing, shingling,
  banding, candidate pairs, verification, components) adds.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    Clock,
    _lang,
    header,
    log,
    parse_args,
    peak_rss_mb,
    rate,
    save_results,
    tokenized_pools,
)

GOAL_S = 300.0
EDITS = ("exact", "rt", "replace", "append", "delete", "rt+replace", "append+delete")


def make_token_lists(n: int, seed: int, dup_rate: float) -> tuple[list[list[str]], list[tuple[int, int, str]]]:
    """(token lists, planted (copy, original, edit) triples)."""
    pools = {lg: [t.split() for t in toks] for lg, (_s, toks) in tokenized_pools(seed).items()}
    vocab = {lg: sorted({w for toks in pl[:3000] for w in toks}) for lg, pl in pools.items()}
    rng = random.Random(seed * 31 + 5)
    out: list[list[str]] = []
    langs: list[str] = []
    originals: list[int] = []
    planted: list[tuple[int, int, str]] = []
    for i in range(n):
        if originals and rng.random() < dup_rate:
            # viral items: most copies go to a few recent originals
            j = originals[max(0, len(originals) - 1 - int(rng.expovariate(1 / 2000)))]
            lang = langs[j]
            toks = list(out[j])
            edit = rng.choice(EDITS)
            for e in edit.split("+"):
                if e == "rt":
                    toks = ["rt", f"@user{rng.randrange(50_000)}"] + toks
                elif e == "replace":
                    for _ in range(rng.randint(1, 2)):
                        toks[rng.randrange(len(toks))] = rng.choice(vocab[lang])
                elif e == "append":
                    toks = toks + [rng.choice(vocab[lang]) for _ in range(rng.randint(1, 3))]
                elif e == "delete" and len(toks) > 4:
                    for _ in range(rng.randint(1, 2)):
                        del toks[rng.randrange(len(toks))]
            out.append(toks)
            langs.append(lang)
            planted.append((i, j, edit))
        else:
            lang = _lang(rng)
            pool = pools[lang]
            toks = [w for _ in range(rng.choice((2, 2, 3, 4))) for w in pool[rng.randrange(len(pool))]]
            out.append(toks)
            langs.append(lang)
            originals.append(i)
    return out, planted


def shingle_set(toks: list[str], k: int = 3) -> set[tuple[str, ...]]:
    if len(toks) < k:
        return {(t,) for t in toks}
    return {tuple(toks[i:i + k]) for i in range(len(toks) - k + 1)}


def numpy_baseline(token_lists: list[list[str]], num_perm: int = 128, batch_size: int = 512,
                   seed: int = 1) -> tuple[Clock, np.ndarray]:
    """Time of the numpy MinHash kernel alone over precomputed shingle hashes (computed outside the timer)."""
    from civicpulse.domain.listening import dedup

    batches = []
    for lo in range(0, len(token_lists), batch_size):
        sh, counts = dedup._shingle_hashes(token_lists[lo:lo + batch_size], 3)
        batches.append((sh.astype(np.uint32), counts))
    a, b, c = dedup._perm_params(num_perm, seed)
    a, b, c = a[:, None], b[:, None], c[:, None]
    s15, s13 = np.uint32(15), np.uint32(13)
    out = np.empty((len(token_lists), num_perm), dtype=np.uint32)
    clk = Clock().__enter__()
    row = 0
    for sh, counts in batches:
        buf = np.multiply(a, sh[None, :])
        buf += b
        buf ^= buf >> s15
        buf *= c
        buf ^= buf >> s13
        nz = np.flatnonzero(counts)
        starts = (np.cumsum(counts) - counts)[nz]
        res = np.full((len(counts), num_perm), dedup.EMPTY, dtype=np.uint32)
        res[nz] = np.minimum.reduceat(buf, starts, axis=1).T
        out[row:row + len(counts)] = res
        row += len(counts)
    clk.__exit__()
    return clk, out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: (
        p.add_argument("--dup-rate", type=float, default=0.03),
        p.add_argument("--threshold", type=float, default=0.7),
        p.add_argument("--workers", type=int, default=2, help="threads for signatures (numpy releases the GIL)")))
    header("Near-duplicate benchmark", args)
    from civicpulse.domain.listening import dedup

    res: dict[str, Any] = {}
    with Clock() as clk:
        toks, planted = make_token_lists(args.n, args.seed, args.dup_rate)
    n_tok = sum(map(len, toks))
    log(f"made {len(toks):,} token lists ({n_tok / len(toks):.1f} tokens each), {len(planted):,} planted copies, "
        f"in {clk.wall:.0f}s")

    base, base_sigs = numpy_baseline(toks)
    base_s = base.wall
    log(f"baseline, numpy MinHash kernel alone: {base.wall:.1f}s wall, {base.cpu:.1f}s CPU "
        f"= {rate(len(toks), base_s):,.0f} items/s")

    stages: dict[str, Clock] = {}
    dedup._TOKEN_HASHES.clear()
    with Clock() as stages["signatures"]:
        sigs = dedup.signatures(toks, workers=args.workers)
    assert np.array_equal(sigs, base_sigs), "baseline and signatures disagree"
    del base_sigs
    log(f"signatures (workers={args.workers}): {stages['signatures'].wall:.1f}s wall, "
        f"{stages['signatures'].cpu:.1f}s CPU")
    index = dedup.NearDupIndex(threshold=args.threshold)
    with Clock() as stages["index.add"]:
        index.add(list(range(len(toks))), sigs)
    log(f"index.add (bands={index.bands}, rows={index.rows}): {stages['index.add'].wall:.1f}s")
    with Clock() as stages["candidate_pairs"]:
        pairs = index.candidate_pairs()
    log(f"candidate pairs: {len(pairs):,} in {stages['candidate_pairs'].wall:.1f}s (measured apart; clusters() "
        f"computes them again)")
    with Clock() as stages["clusters"]:
        clusters = index.clusters(min_size=2)
    log(f"clusters: {len(clusters):,} in {stages['clusters'].wall:.1f}s")
    total_wall = stages["signatures"].wall + stages["index.add"].wall + stages["clusters"].wall
    total_cpu = stages["signatures"].cpu + stages["index.add"].cpu + stages["clusters"].cpu

    sig1_s = None
    if args.workers > 1:
        dedup._TOKEN_HASHES.clear()
        with Clock() as c1:
            dedup.signatures(toks, workers=1)
        sig1_s = c1.wall
        log(f"signatures with workers=1 (for comparison): {c1.wall:.1f}s")

    # quality
    label = np.full(len(toks), -1, dtype=np.int64)
    for k, members in enumerate(clusters):
        label[members] = k
    copies = {c for c, _o, _e in planted}
    found = hi_found = hi_total = 0
    per_edit: dict[str, list[int]] = {}
    for c, o, e in planted:
        same = label[c] >= 0 and label[c] == label[o]
        a, b = shingle_set(toks[c]), shingle_set(toks[o])
        jac = len(a & b) / len(a | b) if a or b else 1.0
        found += same
        if jac >= args.threshold:
            hi_total += 1
            hi_found += same
        per_edit.setdefault(e, [0, 0])
        per_edit[e][0] += same
        per_edit[e][1] += 1
    planted_groups = {o for _c, o, _e in planted}
    accidental = sum(1 for members in clusters if not any(m in copies or m in planted_groups for m in members))
    in_clusters = int((label >= 0).sum())
    recall = found / len(planted) if planted else float("nan")
    recall_hi = hi_found / hi_total if hi_total else float("nan")

    print("\n## Results")
    print(f"{'stage':<44}{'wall s':>8}{'items/s':>11}{'CPU s':>8}")
    print(f"{'baseline: numpy MinHash kernel alone':<44}{base.wall:>8.1f}{rate(len(toks), base.wall):>11,.0f}"
          f"{base.cpu:>8.1f}")
    for name in ("signatures", "index.add", "clusters"):
        c = stages[name]
        print(f"{'  ' + name:<44}{c.wall:>8.1f}{rate(len(toks), c.wall):>11,.0f}{c.cpu:>8.1f}")
    if sig1_s:
        print(f"{'  (signatures with workers=1)':<44}{sig1_s:>8.1f}{rate(len(toks), sig1_s):>11,.0f}")
    print(f"{'civicpulse: signatures + add + clusters':<44}{total_wall:>8.1f}{rate(len(toks), total_wall):>11,.0f}"
          f"{total_cpu:>8.1f}")
    print(f"ratio to the baseline (items/s): wall {base.wall / total_wall:.2f}, CPU {base.cpu / total_cpu:.2f}")
    print(f"goal < {GOAL_S:.0f} s for {len(toks):,} items: {'MET' if total_wall < GOAL_S else 'NOT MET'} "
          f"({total_wall:.0f} s)")
    print(f"\nclusters found: {len(clusters):,} ({in_clusters:,} items); clusters with no planted copy "
          f"(chance duplicates of the synthetic corpus): {accidental:,}")
    print(f"planted copies: {len(planted):,} of {len(planted_groups):,} originals; recall {recall:.3f} "
          f"(all planted pairs), {recall_hi:.3f} (the {hi_total:,} pairs with 3-shingle Jaccard ≥ {args.threshold})")
    print("recall by edit: " + ", ".join(f"{e} {v[0] / v[1]:.2f}" for e, v in sorted(per_edit.items())))
    print(f"peak RSS {peak_rss_mb():,.0f} MB")
    res.update(baseline_s=base.wall, baseline_cpu_s=base.cpu, ratio_cpu=base.cpu / total_cpu, stages={k: {"wall_s": v.wall, "cpu_s": v.cpu} for k, v in stages.items()},
               signatures_workers1_s=sig1_s, total_s=total_wall, total_cpu_s=total_cpu,
               per_s=rate(len(toks), total_wall), ratio=base_s / total_wall, clusters=len(clusters),
               items_in_clusters=in_clusters, accidental_clusters=accidental, planted=len(planted),
               recall=recall, recall_jaccard_ge_threshold=recall_hi, pairs_jaccard_ge_threshold=hi_total,
               recall_by_edit={e: v[0] / v[1] for e, v in per_edit.items()}, bands=index.bands, rows=index.rows,
               tokens_per_item=n_tok / len(toks), candidate_pairs=len(pairs), goal_met=total_wall < GOAL_S)
    save_results("dedup", args.n, res)


if __name__ == "__main__":
    main()
