"""Sentiment from fine-tuned top layers of multilingual-e5-small, run with numpy.

A sentiment version may ship ``e5top.npz``: the top ``k`` encoder layers of e5-small,
fine-tuned on Wisesight (+ our own rows), and a linear head on their mean-pooled output
(trained by ``scripts/train_sentiment_e5.py``, which needs torch; inference here needs only
numpy). :class:`E5Joint` runs the frozen lower ``12 - k`` layers once per text and then both

* the **original** top layers → the stored 384-d passage embedding (what ``embed.embed``
  returns, up to float rounding), and
* the **fine-tuned** top layers + head → sentiment log-probabilities,

so the sentiment upgrade costs ``k / 12`` of an embedding on top of it. Identical texts are
computed once per batch and remembered (LRU keyed by a content hash).

Optionally (``mix.*`` entries, from sentiment ``v3`` on) the file also holds a linear head on the
original L2-normalised embedding; the sentiment log-probabilities are then
``log_softmax(w_ft * log_softmax(fine-tuned head) + w_emb * log_softmax(embedding head))``.
"""

from __future__ import annotations

import hashlib
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from civicpulse.nlp.e5np import E5Numpy, Layer, get_e5, l2n, set_depth
from civicpulse.nlp.embed import prepare_texts
from civicpulse.nlp.errors import ModelFileError

FILE = "e5top.npz"
Compute = Callable[[list[str]], tuple[np.ndarray, np.ndarray]]
_FIELDS = ("wqkv", "bqkv", "wo", "bo", "ln1_w", "ln1_b", "wi", "bi", "wf", "bf", "ln2_w", "ln2_b")


def prepare_text(text: object) -> str:
    """The exact text the e5 encoder sees (same as ``embed.embed``: :func:`embed.prepare_texts`)."""
    return prepare_texts([text])[0]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # type: ignore[no-any-return]


def quantize_int8(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The fine-tuned layers' weight matrices as int8 with one float32 scale per output column
    (``name`` + ``name.scale``); everything else unchanged. Halves the file against float16;
    :class:`E5TopHead` de-quantises at load, so inference still runs in float32."""
    out: dict[str, np.ndarray] = {}
    for k, v in arrays.items():
        if k.startswith("l") and k.split(".")[-1] in ("wqkv", "wo", "wi", "wf") and v.ndim == 2:
            w = v.astype(np.float32)
            scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
            out[k] = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
            out[k + ".scale"] = scale.astype(np.float32)
        else:
            out[k] = v
    return out


def _dequant(arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    w = arrays[key].astype(np.float32)
    scale = arrays.get(key + ".scale")
    if scale is None:
        return w
    if w.ndim != 2 or scale.shape != (w.shape[1],):
        raise ValueError(f"{key}.scale has shape {scale.shape}, expected ({w.shape[-1]},)")
    return w * scale.astype(np.float32)


class E5TopHead:
    """The fine-tuned top layers + linear head of one sentiment version."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except FileNotFoundError as e:
            raise ModelFileError(path, "file not found") from e
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise ModelFileError(path, f"cannot read weights ({e})") from e
        try:
            n = len({k.split(".")[0] for k in arrays if k.startswith("l") and k[1].isdigit()})
            self.layers = [Layer(**{f: _dequant(arrays, f"l{i}.{f}") for f in _FIELDS}) for i in range(n)]
            self.head_w = arrays["head.w"].astype(np.float32)
            self.head_b = arrays["head.b"].astype(np.float32)
        except KeyError as e:
            raise ModelFileError(path, f"missing entry {e}") from e
        except ValueError as e:
            raise ModelFileError(path, str(e)) from e
        if n == 0:
            raise ModelFileError(path, "no layers")
        # optional: a linear head on the original (frozen) embedding, blended in log-probability space
        self.mix_w: np.ndarray | None = None
        self.emb_w: np.ndarray | None = None
        self.emb_b: np.ndarray | None = None
        if "mix.w" in arrays:
            try:
                self.mix_w = arrays["mix.w"].astype(np.float32)
                self.emb_w = arrays["mix.emb_w"].astype(np.float32)
                self.emb_b = arrays["mix.emb_b"].astype(np.float32)
            except KeyError as e:
                raise ModelFileError(path, f"missing entry {e}") from e
            if self.mix_w.shape != (2,) or self.emb_w.shape[1] != self.head_w.shape[1]:
                raise ModelFileError(path, "mix entries do not match the head")

    @property
    def n_top(self) -> int:
        return len(self.layers)

    def logp(self, ft_logits: np.ndarray, emb: np.ndarray) -> np.ndarray:
        """Sentiment log-probabilities from the fine-tuned head's logits and the (L2-normalised)
        original embedding (used only when the file has ``mix.*`` entries)."""
        lp = _log_softmax(ft_logits)
        if self.mix_w is None or self.emb_w is None or self.emb_b is None:
            return lp.astype(np.float32)
        return mix_logp(lp, emb, self.emb_w, self.emb_b, (float(self.mix_w[0]), float(self.mix_w[1])))


def mix_logp(ft_lp: np.ndarray, emb: np.ndarray, emb_w: np.ndarray, emb_b: np.ndarray,
             weights: tuple[float, float]) -> np.ndarray:
    """``log_softmax(w_ft * ft_lp + w_emb * log_softmax(emb @ emb_w + emb_b))``: the fine-tuned branch's
    log-probabilities with a linear head on the original embedding mixed in."""
    le = _log_softmax(emb @ emb_w + emb_b)
    return _log_softmax(weights[0] * ft_lp + weights[1] * le).astype(np.float32)


class E5Joint:
    """Embeddings + fine-tuned sentiment in one pass (see module docstring)."""

    def __init__(self, head: E5TopHead, e5: E5Numpy | None = None, cache_size: int = 50_000) -> None:
        self.head = head
        self.e5 = e5 or get_e5()
        nl = self.e5.NL
        self.low = self.e5.layers[: nl - head.n_top]
        self.orig_top = self.e5.layers[nl - head.n_top :]
        for i, ly in enumerate(head.layers):  # fine-tuned copies: the int8 kernel's outlier channels by depth
            set_depth(ly, nl - head.n_top + i)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def _compute(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        # One BLAS thread: with several threads OpenBLAS spin-waits, and on a loaded machine
        # that made a pass up to 10x slower. Use processes for the second core (``compute``).
        with threadpool_limits(1):
            return self._compute_1(texts)

    def _compute_1(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        e5 = self.e5
        toks = [e5.ids(t) for t in texts]
        emb = np.zeros((len(texts), e5.H), np.float32)
        lp = np.zeros((len(texts), self.head.head_w.shape[1]), np.float32)
        packed = e5.packs(self.low + self.orig_top + self.head.layers)  # no padding rows to compute
        for b in e5.batches(toks, packed=packed):
            x = e5.run_layers(e5.inputs(b, packed), self.low, b.bias, b.lens)
            emb[b.idx] = b.pool(e5.run_layers(x, self.orig_top, b.bias, b.lens))
            pooled = b.pool(e5.run_layers(x, self.head.layers, b.bias, b.lens))
            lp[b.idx] = pooled @ self.head.head_w + self.head.head_b
        emb = l2n(emb)
        return emb, self.head.logp(lp, emb)

    def encode(
        self, texts: Sequence[object], compute: Compute | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(embeddings (n, 384) L2-normalised, sentiment log-probabilities (n, k))``.

        ``compute`` (optional) computes the distinct uncached texts elsewhere (e.g. split over
        worker processes); by default they are computed here."""
        norm = prepare_texts(texts)
        keys = [hashlib.sha1(t.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest() for t in norm]
        n = len(norm)
        emb = np.zeros((n, self.e5.H), np.float32)
        lp = np.zeros((n, self.head.head_w.shape[1]), np.float32)
        missing: dict[str, str] = {}
        with self._lock:
            for i, k in enumerate(keys):
                hit = self._cache.get(k)
                if hit is not None:
                    emb[i], lp[i] = hit
                    self._cache.move_to_end(k)
                elif k not in missing:
                    missing[k] = norm[i] if norm[i] else " "
        if missing:
            mk = list(missing)
            e, p = (compute or self._compute)([missing[k] for k in mk])
            with self._lock:
                for j, k in enumerate(mk):
                    self._cache[k] = (e[j], p[j])
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            pos = {k: j for j, k in enumerate(mk)}
            for i, k in enumerate(keys):
                jj = pos.get(k)
                if jj is not None:
                    emb[i], lp[i] = e[jj], p[jj]
        return emb, lp


_joint: dict[str, E5Joint] = {}
_jlock = threading.Lock()


def compute_in_worker(path: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Pool-worker entry: embeddings + sentiment log-probs of already-normalised texts."""
    return get_joint(Path(path))._compute(texts)


def get_joint(path: Path) -> E5Joint:
    with _jlock:
        j = _joint.get(str(path))
        if j is None:
            j = _joint[str(path)] = E5Joint(E5TopHead(path))
        return j
