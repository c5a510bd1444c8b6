"""int8 matrix products for the e5 encoder, on CPUs with Intel AMX, AVX-512 VNNI, AVX-VNNI or AVX2 (compiled ``_qgemm``).

The encoder's weight products (``x @ W + b``) take most of an embedding's time. Where the optional
compiled module was built at install time and the CPU has AMX (Intel Xeon 4th generation,
"Sapphire Rapids", and later), AVX-512 VNNI (Intel Xeon 2nd and 3rd generation, "Cascade Lake"
and "Ice Lake"; AMD Zen 4 and 5), AVX-VNNI (the 256-bit form: Intel Core 12th generation,
"Alder Lake", and later, which have no AVX-512) or, failing those, AVX2 and FMA (AMD Zen 2 and 3,
Intel Core 4th to 11th generation), :func:`linear` runs them in int8: each row of ``x`` is
quantised with its own scale (max |x| / 127), ``W`` with one scale per output column (:func:`pack`,
once per layer), the integer dot products are exact, and the result is scaled back to float32 with
the bias, and optionally the GELU or the residual, applied in the same pass. Without an int8
dot-product instruction, the AVX2 kernel multiplies the same int8 values widened to int16
(``vpmaddwd``, whose products and pair sums are exact; :meth:`Packed.pairs16`): the same integers
again. A few input channels per product that run much larger than the rest (found once per
process by :meth:`E5Numpy.outlier_channels`) are multiplied in float32 instead, so that they do not
set the rows' int8 scales. On Wisesight posts, embeddings computed this way have a cosine of at
least 0.9996 with the float32 ones (mean 0.99987; ``tests/nlp/test_qgemm.py`` checks ≥ 0.999). The kernels compute the same integers and the
same float steps after them, so they give the same vectors. With AMX or AVX-512 the attention and
the LayerNorms run compiled too (:func:`attention`, :func:`layernorm`); with AVX-VNNI or AVX2 alone
they stay in numpy (:func:`full`).

Where no int8 kernel runs (``CIVICPULSE_E5_KERNEL=numpy``, or the module not built), the float32
numpy encoder still uses one compiled step from the same module where the CPU has AVX2:
:func:`bias_gelu`, the bias and the GELU of the intermediate product in one pass, the same bits as
numpy's code.

``CIVICPULSE_E5_KERNEL``: ``auto`` (the default; AMX, else VNNI, else AVX-VNNI, else AVX2 where it
was measured faster than float32 (AMD Zen 3: :func:`avx2_by_default`), else numpy), ``amx``, ``vnni``, ``avxvnni`` or ``avx2`` (that kernel, or an error where it cannot run),
``numpy`` (the float32 numpy encoder).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from civicpulse.nlp.errors import SettingError

ENV = "CIVICPULSE_E5_KERNEL"
CHOICES = ("auto", "amx", "vnni", "avxvnni", "avx2", "numpy")
NAMES = {
    "amx": "int8 AMX kernel",
    "vnni": "int8 AVX-512 VNNI kernel",
    "avxvnni": "int8 AVX-VNNI kernel",
    "avx2": "int8 AVX2 kernel",
}
FULL = ("amx", "vnni")  # kernels beside which attention and LayerNorm run compiled (AVX-512); not avxvnni, avx2
_kinds: tuple[str, ...] | None = None

try:  # the optional compiled module, built by pip where a C compiler is present (setup.py)
    from civicpulse.nlp import _qgemm as _native  # type: ignore[attr-defined]
except ImportError:
    _native = None


def kinds() -> tuple[str, ...]:
    """The int8 kernels this machine can run, best first, of ``"amx"``, ``"vnni"``, ``"avxvnni"``,
    ``"avx2"`` (e.g. ``("amx", "vnni", "avxvnni", "avx2")``, ``("vnni", "avx2")``, ``("avx2",)`` or ``()``)."""
    global _kinds
    if _kinds is None:
        _kinds = tuple(_native.kinds()) if _native is not None else ()
    return _kinds


def choice() -> str:
    """``CIVICPULSE_E5_KERNEL``, checked: one of :data:`CHOICES`."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise SettingError(f"{ENV}={value!r}: expected one of {', '.join(repr(c) for c in CHOICES)}")
    return value


def use(value: str) -> None:
    """Set the choice in this process (worker pools pass the parent's choice on with this)."""
    os.environ[ENV] = value
    choice()


def kind() -> str | None:
    """The int8 kernel the encoder uses here (``"amx"``, ``"vnni"``, ``"avxvnni"`` or ``"avx2"``), or None for
    float32 numpy."""
    c = choice()
    if c == "numpy":
        return None
    have = kinds()
    if c == "auto":
        return next((k for k in have if k != "avx2" or avx2_by_default()), None)
    if c not in have:
        raise SettingError(
            f"{ENV}={c}, but the {NAMES[c]} is not available on this machine (use 'auto' or 'numpy')"
        )
    return c


_avx2_default: bool | None = None


def avx2_by_default() -> bool:
    """Whether ``auto`` takes the AVX2 kernel on this CPU: only where it was measured faster than the
    float32 encoder, AMD Zen 3 and later (``cpu family`` 25 and up; Zen 4 and 5 take a VNNI kernel
    first). There ``vpmaddwd`` runs two per cycle; on Intel Haswell and Broadwell and on AMD Zen 2 it
    runs one per cycle, as fast as float32 multiply-adds, so the kernel would gain little or lose, and
    the Skylake family was not measured. Elsewhere ``CIVICPULSE_E5_KERNEL=avx2`` still chooses it."""
    global _avx2_default
    if _avx2_default is None:
        try:
            info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            info = ""
        vendor = re.search(r"^vendor_id\s*:\s*(\S+)", info, re.M)
        family = re.search(r"^cpu family\s*:\s*(\d+)", info, re.M)
        _avx2_default = bool(vendor and family and vendor.group(1) == "AuthenticAMD" and int(family.group(1)) >= 25)
    return _avx2_default


def enabled() -> bool:
    """True when an int8 kernel runs here (see :func:`kind`)."""
    return kind() is not None


def full() -> bool:
    """True when the kernel in use has the compiled attention and LayerNorm beside it (AMX, AVX-512 VNNI)."""
    return kind() in FULL


def _kernel():  # type: ignore[no-untyped-def]
    """The compiled module, when this CPU can run its AVX-512 code."""
    if not set(kinds()) & set(FULL):
        raise RuntimeError("the AVX-512 kernels are not available on this machine")
    return _native


def describe() -> str:
    """One line for benchmarks and diagnostics: which kernel the encoder uses."""
    k = kind()
    return NAMES[k] if k else "numpy float32"


@dataclass(frozen=True)
class Packed:
    """A weight matrix (K, N) quantised per output column and laid out in AMX tiles (and for the AVX2
    kernel the same int8 values widened to int16, :meth:`pairs16`)."""

    tiles: np.ndarray  # int8, (N/16, K/64, 16, 16, 4)
    scale: np.ndarray  # float32, (N,)
    k: int
    n: int
    w: np.ndarray  # the float32 matrix itself: its rows for the outlier columns of the input
    outliers: np.ndarray  # int32: input columns multiplied in float32 (see linear)
    colsum: np.ndarray  # int32, (N,): sums of the int8 columns (the VNNI kernel's correction)
    pairs: np.ndarray | None = field(default=None, repr=False, compare=False)  # see pairs16

    def pairs16(self) -> np.ndarray:
        """The int8 weights widened to int16 for the AVX2 kernel, (N/32, K/2, 32, 2): per 32 columns,
        for each pair of consecutive k, each column's two values (one 32-bit lane of ``vpmaddwd``).
        Twice the bytes of :attr:`tiles`: made by :func:`pack` when the AVX2 kernel is in use, else on
        first use, and kept."""
        pairs = self.pairs
        if pairs is None:  # two threads may both build it: the same array, one of them kept
            pairs = _pairs16(self.tiles, self.k, self.n)
            object.__setattr__(self, "pairs", pairs)
        return pairs


def _pairs16(tiles: np.ndarray, k: int, n: int) -> np.ndarray:
    q = tiles.transpose(1, 2, 4, 0, 3).reshape(k, n)  # tile (n // 16, k // 64)[(k % 64) // 4, n % 16, k % 4]
    return np.ascontiguousarray(q.astype(np.int16).reshape(k // 2, 2, n // 32, 32).transpose(2, 0, 3, 1))


def packable(w: np.ndarray) -> bool:
    return w.ndim == 2 and w.shape[0] % 64 == 0 and w.shape[1] % 32 == 0 and w.shape[0] > 0


MAX_OUTLIERS = 8


def pack(w: np.ndarray, outliers: Sequence[int] | np.ndarray = ()) -> Packed:
    """``w`` (K, N) float → int8 per output column (scale max |w| / 127), in the tile layout the
    kernels read: tile (n // 16, k // 64) holds 16 groups of 4 consecutive k for 16 columns (where
    the AVX2 kernel is in use, its int16 layout too: :meth:`Packed.pairs16`).
    ``outliers``: input columns to multiply in float32 instead (at most 8)."""
    if not packable(w):
        raise ValueError(f"cannot pack a weight matrix of shape {w.shape}: K must be a multiple of 64, N of 32")
    cols = np.asarray(outliers, np.int32).reshape(-1)
    if len(cols) > MAX_OUTLIERS or (len(cols) and (cols.min() < 0 or cols.max() >= w.shape[0])):
        raise ValueError(f"outlier columns {cols.tolist()}: at most {MAX_OUTLIERS}, each in 0..{w.shape[0] - 1}")
    k, n = w.shape
    w32 = np.asarray(w, np.float32)
    scale = np.maximum(np.abs(w32).max(axis=0), np.float32(1e-30)) / np.float32(127.0)
    q = np.clip(np.rint(w32 / scale), -127, 127).astype(np.int8)
    tiles = np.ascontiguousarray(q.reshape(k // 64, 16, 4, n // 16, 16).transpose(3, 0, 1, 4, 2))
    colsum = q.sum(axis=0, dtype=np.int32)
    p = Packed(tiles, scale.astype(np.float32), k, n, np.ascontiguousarray(w32), np.ascontiguousarray(cols), colsum)
    try:
        eager = kind() == "avx2"
    except SettingError:  # a bad choice is reported where a kernel is asked for, not here
        eager = False
    if eager:
        p.pairs16()
    return p


def linear(
    x: np.ndarray, p: Packed, bias: np.ndarray, residual: np.ndarray | None = None, gelu: bool = False
) -> np.ndarray:
    """``gelu(x @ W + bias) [+ residual]`` in int8 with the kernel of :func:`kind`; ``x`` (M, K)
    float32 → (M, N) float32.

    The packed matrix's outlier columns of ``x`` are left out of the int8 product and multiplied in
    float32, so that they do not set each row's int8 scale: e5-small's activations have a few
    channels much larger than the rest, and taking 4 out per product cuts the embeddings' deviation
    from float32 about five-fold (mean 1 − cosine 7.7e-4 → 1.5e-4 on Wisesight posts)."""
    k = kind()
    if k is None:
        raise RuntimeError(f"no int8 kernel is in use ({ENV}={choice()})")
    x = np.ascontiguousarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] != p.k:
        raise ValueError(f"input of shape {x.shape} does not fit a ({p.k}, {p.n}) weight matrix")
    b = np.ascontiguousarray(bias, np.float32)
    r = None if residual is None else np.ascontiguousarray(residual, np.float32)
    out = np.empty((x.shape[0], p.n), np.float32)
    wq = p.pairs16() if k == "avx2" else p.tiles
    _native.qgemm(k, x, x.shape[0], p.k, wq, p.colsum, p.scale, b, r, p.n, out, gelu, p.w, p.outliers)
    return out


def bias_gelu_native() -> bool:
    """Whether :func:`bias_gelu` runs compiled here (the module is built and the CPU has AVX2)."""
    return _native is not None and hasattr(_native, "bias_gelu") and bool(_native.avx2())


def bias_gelu_fits(x: np.ndarray) -> bool:
    """Whether :func:`bias_gelu` takes ``x``: a writable C-contiguous float32 (M, N), N a multiple of 8."""
    return (x.dtype == np.float32 and x.ndim == 2 and x.flags.c_contiguous and x.flags.writeable
            and x.shape[1] % 8 == 0 and x.shape[1] > 0)


def bias_gelu(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x = gelu(x + b)`` in place, in one compiled AVX2 pass, bit for bit what the numpy encoder
    computes (``x += b`` then its rational-erf GELU); needs :func:`bias_gelu_native` and an ``x``
    that :func:`bias_gelu_fits`."""
    if not bias_gelu_fits(x):
        raise ValueError("bias_gelu: x must be a writable C-contiguous float32 (M, N) array, N a multiple of 8")
    bb = np.ascontiguousarray(b, dtype=np.float32)
    if bb.shape != (x.shape[1],):
        raise ValueError(f"bias_gelu: bias of shape {bb.shape}, expected ({x.shape[1]},)")
    _native.bias_gelu(x, x.shape[0], x.shape[1], bb)
    return x


def layernorm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm of each row of ``x`` (M, H) float32, in place (AVX-512, beside the int8 kernels)."""
    mod = _kernel()
    if x.dtype != np.float32 or x.ndim != 2 or not x.flags.c_contiguous:
        raise ValueError("layernorm needs a C-contiguous float32 (M, H) array")
    mod.layernorm(x, x.shape[0], x.shape[1], np.ascontiguousarray(w, np.float32), np.ascontiguousarray(b, np.float32), eps)
    return x


def attention(qkv: np.ndarray, lens: np.ndarray, n_heads: int) -> np.ndarray:
    """Self-attention of a padded batch: ``qkv`` (B, L, 3H) float32 (q | k | v, each ``n_heads``
    heads), text ``b`` attending to its first ``lens[b]`` tokens → context (B * L, H)."""
    mod = _kernel()
    qkv = np.ascontiguousarray(qkv, np.float32)
    B, L, H3 = qkv.shape
    H = H3 // 3
    if H3 % 3 or H % n_heads or len(lens) != B:
        raise ValueError(f"attention: qkv of shape {qkv.shape} does not fit {n_heads} heads and {len(lens)} texts")
    out = np.empty((B * L, H), np.float32)
    mod.attention(qkv, B, L, n_heads, H // n_heads, np.ascontiguousarray(lens, np.int32), out)
    return out


def attention_packed(qkv: np.ndarray, lens: np.ndarray, n_heads: int) -> np.ndarray:
    """:func:`attention` of texts packed without padding: ``qkv`` (sum(lens), 3H), text ``b``'s
    ``lens[b]`` rows after those of text ``b - 1`` → context (sum(lens), H). Each row's result is
    the same as in the padded layout."""
    mod = _kernel()
    qkv = np.ascontiguousarray(qkv, np.float32)
    T, H3 = qkv.shape
    H = H3 // 3
    lens32 = np.ascontiguousarray(lens, np.int32)
    if H3 % 3 or H % n_heads or int(lens32.sum()) != T or (lens32 < 1).any():
        raise ValueError(f"attention: qkv of shape {qkv.shape} does not fit {n_heads} heads and texts of {len(lens32)} lengths")
    out = np.empty((T, H), np.float32)
    mod.attention(qkv, len(lens32), 0, n_heads, H // n_heads, lens32, out)
    return out
