"""The compiled int8 kernel (civicpulse.nlp.qgemm): exact against a numpy model of the same
arithmetic, close to float32 on real posts, and the float32 path wherever it does not run."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicpulse.nlp import qgemm
from civicpulse.nlp.e5np import _ERF_P, _ERF_Q, E5Numpy, _gelu, get_e5
from civicpulse.nlp.errors import SettingError

needs_kernel = pytest.mark.skipif(
    not qgemm.kinds(), reason="this CPU or build has no int8 kernel (AMX, AVX-512 VNNI, AVX-VNNI or AVX2)"
)
needs_avx512 = pytest.mark.skipif(not set(qgemm.kinds()) & set(qgemm.FULL), reason="this CPU has no AVX-512 kernel")


@pytest.fixture(params=["amx", "vnni", "avxvnni", "avx2"])
def kernel(request, monkeypatch):
    """Each int8 kernel this machine has (the others skip, saying so)."""
    if request.param not in qgemm.kinds():
        pytest.skip(f"this CPU has no {request.param} kernel")
    monkeypatch.setenv(qgemm.ENV, request.param)
    return request.param

POSTS = [
    "วันนี้อากาศดีมากกกก 555 ขอบคุณครับ",
    "Thủ tục hành chính quá chậm, mong được cải thiện!!",
    "thu tuc cham qua  ko ai giai quyet",
    "Please fix the road near the market 🙏😡",
    "กรมทางหลวง Department of Highways ถนน 4 เลน ช่วงนี้รถติดมาก ขอให้เร่งซ่อมด้วยครับ " * 3,
    "🙂",
]


def _model(x: np.ndarray, w: np.ndarray, b: np.ndarray, cols=()) -> np.ndarray:
    """What the kernel computes: rows of x and columns of w in int8, exact integer products; the
    input columns ``cols`` in float. A row's scale and its int8 values are computed in float32 as the
    kernel does (max |x| / 127, then x times the reciprocal, rounded to nearest even): worked out in
    float64 instead, a value on a rounding boundary can land one step away (seen with 1 value of 128)."""
    cols = list(cols)
    rest = np.asarray(x, np.float32).copy()
    rest[:, cols] = 0.0
    rs = (np.abs(rest).max(1, keepdims=True, initial=np.float32(0)) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.float32(1) / np.where(rs > 0, rs, np.float32(1))
    xq = np.clip(np.rint(rest * inv), -128, 127)
    rs = rs.astype(np.float64)
    w32 = np.asarray(w, np.float32)  # the weights' scales and int8 values as qgemm.pack makes them
    cs = np.maximum(np.abs(w32).max(0), np.float32(1e-30)) / np.float32(127)
    wq = np.clip(np.rint(w32 / cs), -127, 127)
    cs = cs.astype(np.float64)
    return (xq.astype(np.float64) @ wq.astype(np.float64)) * rs * cs + x[:, cols] @ w[cols] + b


def _fma(a, b, c) -> np.ndarray:
    """float32 a * b + c as vfmadd rounds it: in x86 long double (64-bit mantissa) the product of two
    float32 is exact, and the sum's rounding there changes the float32 result only on a near-tie,
    about once in 2**40."""
    ld = np.longdouble
    assert np.finfo(ld).nmant >= 63
    return (np.asarray(a, np.float32).astype(ld) * np.asarray(b, np.float32).astype(ld)
            + np.asarray(c, np.float32).astype(ld)).astype(np.float32)


def _exact(x: np.ndarray, p: qgemm.Packed, b: np.ndarray, residual=None, gelu=False) -> np.ndarray:
    """What every kernel computes, to the bit: the rows quantised in float32 as the kernels do, the
    exact integer sums (int64 here), then the kernels' float32 steps in their order (finish_row /
    finish_row16 in _qgemm.c): sum * row scale, fused with the column scale and the bias, the outlier
    columns fused in one by one, the rational-erf GELU, the residual."""
    f32 = np.float32
    x = np.asarray(x, f32)
    keep = np.ones(p.k, f32)
    keep[p.outliers] = 0
    rest = x * keep
    with np.errstate(invalid="ignore", divide="ignore"):
        amax = np.abs(rest).max(axis=1, initial=f32(0))  # NaN wherever the row holds one
        ok = amax > 0
        rs = np.where(ok, amax / f32(127), np.where(np.isnan(amax), amax, f32(0))).astype(f32)
        inv = f32(1) / np.where(ok, rs, f32(1))
        xq = np.where(ok[:, None], np.clip(np.rint(rest * inv[:, None]), -128, 127), 0).astype(np.int64)
    wq = p.tiles.transpose(1, 2, 4, 0, 3).reshape(p.k, p.n).astype(np.int64)
    sums = xq @ wq
    assert np.abs(sums).max(initial=0) < 2**31  # the kernels' int32 sums
    with np.errstate(invalid="ignore", over="ignore"):
        v = _fma(sums.astype(f32) * rs[:, None], p.scale, b)
        for c in p.outliers:
            v = _fma(x[:, c : c + 1], p.w[c], v)
        if gelu:
            u = np.minimum(np.maximum(v * f32(0.7071067811865476), f32(-4)), f32(4))
            x2 = u * u
            num = np.full_like(v, _ERF_P[0])
            for c in _ERF_P[1:]:
                num = _fma(num, x2, c)
            num = num * u
            den = np.full_like(v, _ERF_Q[0])
            for c in _ERF_Q[1:]:
                den = _fma(den, x2, c)
            v = (v * f32(0.5)) * (num / den + f32(1))
        if residual is not None:
            v = v + np.asarray(residual, f32)
    return v


@pytest.mark.parametrize("m,k,n", [(1, 64, 32), (37, 384, 1152), (70, 1536, 384), (33, 384, 1536)])
def test_linear_matches_the_int8_arithmetic(kernel, m, k, n):
    rng = np.random.default_rng(m + k + n)
    x = rng.standard_normal((m, k)).astype(np.float32)
    x[0] = 0.0  # an all-zero row has no scale
    w = (rng.standard_normal((k, n)) * 0.05).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    res = rng.standard_normal((m, n)).astype(np.float32)
    cols = [3, k - 1][: min(2, k)]
    want = _model(x, w, b, cols)
    p = qgemm.pack(w, cols)
    np.testing.assert_allclose(qgemm.linear(x, p, b), want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(qgemm.linear(x, p, b, residual=res), want + res, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(qgemm.linear(x, p, b, gelu=True), _gelu(want.astype(np.float32)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(qgemm.linear(x, qgemm.pack(w), b), _model(x, w, b), rtol=1e-5, atol=1e-4)
    # and close to the float32 product itself
    ref = x @ w + b
    assert np.abs(qgemm.linear(x, p, b) - ref).max() < 0.02 * np.abs(ref).max()


@pytest.mark.parametrize("k,n", [(64, 32), (128, 96), (384, 1152), (1536, 384), (384, 1536)])
def test_every_kernel_computes_the_model_s_bits(kernel, k, n):
    """Each kernel gives the arithmetic of _exact to the bit (the same integer sums, the same float
    steps), with outlier columns, a zero row, a NaN row, GELU and residual. So the AVX2 kernel (int16
    products, no int8 dot product) gives the bits of the AVX-VNNI and VNNI kernels, which a CPU with
    only AVX2 cannot run. The row counts cover every tail of the row blocks (AVX2 3 rows, AVX-VNNI 6,
    VNNI 4 and 8, AMX 32) and of the AVX2 kernel's passes of 60 rows."""
    rng = np.random.default_rng(k + n)
    w = (rng.standard_normal((k, n)) * 0.05).astype(np.float32)
    w[:, 5] *= 30.0  # a column with a larger scale than the rest
    b = rng.standard_normal(n).astype(np.float32)
    cols = [1, 7, 40, k - 3]
    p = qgemm.pack(w, cols)
    ms = range(1, 71) if k * n <= 128 * 96 else [1, 2, 3, 4, 5, 7, 8, 61, 62, 70]
    for m in ms:
        x = rng.standard_normal((m, k)).astype(np.float32)
        x[:, cols] *= 40.0  # the outlier channels, as in e5's activations
        if m > 2:
            x[1] = 0.0
        if m > 4:
            x[3, k // 2] = np.nan
        res = rng.standard_normal((m, n)).astype(np.float32)
        for kw in ({}, {"gelu": True}, {"residual": res}, {"gelu": True, "residual": res}):
            got = qgemm.linear(x, p, b, **kw)
            np.testing.assert_array_equal(got, _exact(x, p, b, **kw), err_msg=f"{kernel} m={m} {sorted(kw)}")


def test_the_integer_sums_are_exact_at_the_extremes(kernel):
    """Rows and columns whose largest value is 127 have scale 1, so the output is the integer sum itself
    (in float32): values of ±127 everywhere, sums up to 127 * 127 * K. A product or a pair sum that
    saturated or wrapped (as vpmaddubsw's int16 pair sums would) shows here."""
    rng = np.random.default_rng(2)
    for k, n in [(64, 32), (1536, 64)]:
        w = rng.choice(np.array([-127, 127, -126, -1, 0, 1], np.float32), size=(k, n))
        w[:, 0] = 127.0  # one column of 127s: with a row of 127s, the largest sum
        w[0] = 127.0
        p = qgemm.pack(w)
        assert (p.scale == 1.0).all()
        for m in range(1, 71, 1 if k == 64 else 7):
            x = rng.choice(np.array([-127, 127, -126, 5, 0], np.float32), size=(m, k))
            x[:, 0] = 127.0
            x[0] = 127.0
            got = qgemm.linear(x, p, np.zeros(n, np.float32))
            want = (x.astype(np.int64) @ w.astype(np.int64)).astype(np.float32)
            np.testing.assert_array_equal(got, want, err_msg=f"{kernel} m={m} k={k}")
            assert got[0, 0] == 127 * 127 * k


def test_the_row_tail_is_computed_and_nothing_past_it_is_written(kernel):
    """M from 1 to 70, every remainder of every kernel's row block: each row is the model's, and the rows
    after the output's last one stay untouched (a kernel that wrote a whole block of rows past M, or
    left out the last rows of a block, fails here)."""
    rng = np.random.default_rng(9)
    k, n = 128, 64
    w = (rng.standard_normal((k, n)) * 0.05).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    p = qgemm.pack(w, [2])
    wq = p.pairs16() if kernel == "avx2" else p.tiles
    for m in range(1, 71):
        x = rng.standard_normal((m, k)).astype(np.float32)
        big = np.full((m + 40, n), 12345.0, np.float32)
        out = big[:m]  # C-contiguous: the kernel writes into big's first m rows
        qgemm._native.qgemm(kernel, x, m, k, wq, p.colsum, p.scale, b, None, n, out, False, p.w, p.outliers)
        np.testing.assert_array_equal(out, _exact(x, p, b), err_msg=f"{kernel} m={m}")
        assert (big[m:] == 12345.0).all(), m


def test_the_avx2_weights_are_widened_once_per_matrix(monkeypatch):
    """Packed.pairs16: the int8 values in (N/32, K/2, 32, 2), made once; by pack where the AVX2 kernel
    is in use, else on first use (a matrix packed under another choice still runs on it)."""
    rng = np.random.default_rng(4)
    w = (rng.standard_normal((128, 64)) * 0.05).astype(np.float32)
    monkeypatch.setenv(qgemm.ENV, "numpy")
    p = qgemm.pack(w)
    assert p.pairs is None
    a = p.pairs16()
    assert a is p.pairs16() and a.dtype == np.int16 and a.shape == (2, 64, 32, 2) and a.flags.c_contiguous
    q = p.tiles.transpose(1, 2, 4, 0, 3).reshape(128, 64)
    kk, nn = np.meshgrid(np.arange(128), np.arange(64), indexing="ij")
    assert np.array_equal(a[nn // 32, kk // 2, nn % 32, kk % 2], q)
    assert np.array_equal(q, np.clip(np.rint(w / p.scale), -127, 127))
    if "avx2" in qgemm.kinds():
        monkeypatch.setenv(qgemm.ENV, "avx2")
        assert qgemm.pack(w).pairs is not None
        p2 = qgemm.pack(w)
        monkeypatch.setenv(qgemm.ENV, "numpy")
        p3 = qgemm.pack(w)
        monkeypatch.setenv(qgemm.ENV, "avx2")
        x = rng.standard_normal((5, 128)).astype(np.float32)
        b = np.zeros(64, np.float32)
        np.testing.assert_array_equal(qgemm.linear(x, p3, b), qgemm.linear(x, p2, b))
        assert p3.pairs is not None


def test_a_nan_anywhere_in_a_row_gives_nan_like_float32(kernel):
    """A NaN input makes its output row NaN, as in numpy, wherever it sits in the row (the row maximum
    used to lose it when a finite value followed), and leaves the other rows alone."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 128)).astype(np.float32)
    x[0, 0] = np.nan  # first block, finite values after it
    x[1, 127] = np.nan  # last lane of the last block
    w = (rng.standard_normal((128, 32)) * 0.05).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    out = qgemm.linear(x, qgemm.pack(w, [5]), b)
    assert np.isnan(out[:2]).all()
    np.testing.assert_allclose(out[2:], _model(x[2:], w, b, [5]), rtol=1e-5, atol=1e-4)


def test_outlier_columns_are_multiplied_in_float(kernel):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 384)).astype(np.float32)
    x[:, [7, 300]] *= 40.0  # two channels far larger than the rest, as in e5's activations
    w = (rng.standard_normal((384, 64)) * 0.05).astype(np.float32)
    b = np.zeros(64, np.float32)
    ref = x @ w
    err_plain = np.abs(qgemm.linear(x, qgemm.pack(w), b) - ref).mean()
    err_split = np.abs(qgemm.linear(x, qgemm.pack(w, [7, 300]), b) - ref).mean()
    assert err_split < err_plain / 10


def test_the_encoder_finds_its_outlier_channels_once():
    e5 = get_e5()
    cols = e5.outlier_channels()
    assert len(cols) == e5.NL and e5.outlier_channels() is cols
    for per_layer in cols:
        assert set(per_layer) == {"wqkv", "wo", "wi", "wf"}
        assert all(len(c) == 4 for c in per_layer.values())
    # the residual stream's large channels (e.g. 15 and 35 in e5-small) are among them
    assert len({int(c) for layer in cols for c in layer["wqkv"]}) < 4 * e5.NL


@needs_kernel
@needs_avx512
@pytest.mark.parametrize("L", [21, 40, 5, 16])  # 16-query blocks, masked blocks and tails row by row
def test_attention_and_layernorm_match_numpy(L):
    rng = np.random.default_rng(L)
    B, NH, hd = 3, 12, 32
    H = NH * hd
    qkv = rng.standard_normal((B, L, 3 * H)).astype(np.float32)
    lens = np.array([L, min(5, L), 1], np.int32)
    got = qgemm.attention(qkv, lens, NH)
    q, k, v = qkv.reshape(B, L, 3, NH, hd).transpose(2, 0, 3, 1, 4)
    att = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
    att = att + np.where(np.arange(L)[None, :] < lens[:, None], 0.0, -np.inf)[:, None, None, :]
    att = np.exp(att - att.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    want = (att @ v).transpose(0, 2, 1, 3).reshape(B * L, H)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

    x = (rng.standard_normal((7, H)) * 3 + 1).astype(np.float32)
    w, b = rng.standard_normal(H).astype(np.float32), rng.standard_normal(H).astype(np.float32)
    mu, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    want_ln = (x - mu) / np.sqrt(var + 1e-12) * w + b
    np.testing.assert_allclose(qgemm.layernorm(x.copy(), w, b, 1e-12), want_ln, rtol=1e-4, atol=1e-4)


@needs_kernel
@needs_avx512
def test_packed_attention_gives_each_text_s_rows_of_the_padded_layout_bit_for_bit():
    """Texts packed without padding get the rows they get in a padded batch, on every path of the
    kernel: 16-query blocks, masked blocks (a text of 29 rows in 32) and tails row by row (20 in 32)."""
    rng = np.random.default_rng(7)
    NH, hd = 12, 32
    H = NH * hd
    for lens in ([29, 20, 32, 1, 2, 17], [5], [16, 16], [128, 3, 64]):
        L = max(lens)
        qkv = rng.standard_normal((len(lens), L, 3 * H)).astype(np.float32)
        ln = np.array(lens, np.int32)
        padded = qgemm.attention(qkv, ln, NH).reshape(len(lens), L, H)
        real = np.arange(L)[None, :] < ln[:, None]
        packed = qgemm.attention_packed(qkv[real], ln, NH)
        assert packed.shape == (sum(lens), H)
        assert np.array_equal(packed, padded[real]), lens


@needs_kernel
@needs_avx512
def test_packed_attention_refuses_lengths_that_do_not_fit_its_rows():
    qkv = np.ones((10, 3 * 384), np.float32)
    with pytest.raises(ValueError, match="does not fit"):
        qgemm.attention_packed(qkv, np.array([4, 5], np.int32), 12)  # 9 rows, not 10
    with pytest.raises(ValueError, match="does not fit"):
        qgemm.attention_packed(qkv, np.array([10, 0], np.int32), 12)  # a text without tokens


def test_packed_texts_give_the_padded_batch_s_vectors_bit_for_bit(kernel, monkeypatch):
    """Where the compiled attention runs, texts run packed, without padding rows: the same embeddings,
    to the bit, as the padded batches (and the token budget counts only the texts' own tokens)."""
    e5 = get_e5()
    if not e5.packs(e5.layers):
        pytest.skip("texts run packed only beside the compiled attention (AVX-512)")
    texts = POSTS + [f"{p} {i}" for i, p in enumerate(POSTS * 6)]
    packed = e5.encode(texts)
    monkeypatch.setattr(E5Numpy, "packs", lambda self, layers: False)
    assert np.array_equal(packed, e5.encode(texts))
    toks = [e5.ids(t) for t in texts]
    for b in e5.batches(toks, max_tokens=256, packed=True):
        assert int(b.lens.sum()) <= 256 or len(b.idx) == 1


def test_encoder_with_the_kernel_keeps_the_float32_vectors(kernel, monkeypatch):
    e5 = get_e5()
    fast = e5.encode(POSTS)
    monkeypatch.setenv(qgemm.ENV, "numpy")
    exact = e5.encode(POSTS)
    cos = (fast * exact).sum(1)
    assert cos.min() > 0.999, cos
    assert not np.allclose(fast, exact)  # the int8 path really ran


def test_padding_does_not_change_a_text_s_vector_in_the_kernel(kernel):
    e5 = get_e5()
    alone = e5.encode([POSTS[1]])
    with_long = e5.encode([POSTS[1], POSTS[4]])  # one batch: the short text is padded
    np.testing.assert_allclose(alone[0], with_long[0], atol=1e-5)


def test_numpy_choice_keeps_the_float_path(monkeypatch):
    monkeypatch.setenv(qgemm.ENV, "numpy")
    assert not qgemm.enabled()
    e5 = get_e5()
    assert e5.int8_weights(e5.layers[0]) is None
    assert qgemm.describe() == "numpy float32"


def test_bad_kernel_choice_is_named(monkeypatch):
    monkeypatch.setenv(qgemm.ENV, "gpu")
    with pytest.raises(ValueError, match="CIVICPULSE_E5_KERNEL='gpu'"):
        qgemm.enabled()


def test_asking_for_a_kernel_where_it_cannot_run_says_so(monkeypatch):
    monkeypatch.setattr(qgemm, "_kinds", ("vnni",))
    monkeypatch.setenv(qgemm.ENV, "amx")
    with pytest.raises(SettingError, match="AMX kernel is not available on this machine"):
        qgemm.enabled()
    monkeypatch.setenv(qgemm.ENV, "auto")
    assert qgemm.kind() == "vnni" and qgemm.describe() == "int8 AVX-512 VNNI kernel"
    monkeypatch.setattr(qgemm, "_kinds", ("vnni", "avx2"))
    assert qgemm.kind() == "vnni"  # the AVX2 kernel comes last
    monkeypatch.setattr(qgemm, "_kinds", ("avx2",))
    assert qgemm.kind() == "avx2" and qgemm.describe() == "int8 AVX2 kernel" and not qgemm.full()
    monkeypatch.setenv(qgemm.ENV, "avxvnni")
    with pytest.raises(SettingError, match="AVX-VNNI kernel is not available"):
        qgemm.enabled()
    monkeypatch.setattr(qgemm, "_kinds", ())
    monkeypatch.setenv(qgemm.ENV, "vnni")
    with pytest.raises(SettingError, match="VNNI kernel is not available"):
        qgemm.enabled()
    monkeypatch.setenv(qgemm.ENV, "avx2")
    with pytest.raises(SettingError, match="AVX2 kernel is not available"):
        qgemm.enabled()
    monkeypatch.setenv(qgemm.ENV, "auto")
    assert not qgemm.enabled() and qgemm.describe() == "numpy float32"


@pytest.mark.skipif(not {"amx", "vnni"} <= set(qgemm.kinds()), reason="needs both AVX-512 int8 kernels on this CPU")
def test_both_kernels_give_the_same_vectors(monkeypatch):
    e5 = get_e5()
    monkeypatch.setenv(qgemm.ENV, "amx")
    amx = e5.encode(POSTS)
    monkeypatch.setenv(qgemm.ENV, "vnni")
    vnni = e5.encode(POSTS)
    np.testing.assert_array_equal(amx, vnni)  # the same integer sums, the same float steps after them


@pytest.mark.skipif(
    "avx2" not in qgemm.kinds() or not {"vnni", "avxvnni"} & set(qgemm.kinds()),
    reason="needs the AVX2 kernel and a VNNI one",
)
def test_the_avx2_kernel_gives_the_products_and_vectors_of_the_vnni_kernels(monkeypatch):
    rng = np.random.default_rng(6)
    others = [k for k in ("vnni", "avxvnni") if k in qgemm.kinds()]
    for m, k, n in [(1, 64, 32), (37, 384, 1152), (70, 1536, 384), (32, 384, 1536)]:
        x = rng.standard_normal((m, k)).astype(np.float32)
        p = qgemm.pack((rng.standard_normal((k, n)) * 0.05).astype(np.float32), [1, 7, 40])
        b, res = rng.standard_normal(n).astype(np.float32), rng.standard_normal((m, n)).astype(np.float32)
        out = {}
        for kind in ["avx2", *others]:
            monkeypatch.setenv(qgemm.ENV, kind)
            out[kind] = qgemm.linear(x, p, b, residual=res, gelu=True)
        for kind in others:
            np.testing.assert_array_equal(out["avx2"], out[kind])
    if "avxvnni" in others:  # the same path through the encoder (attention and LayerNorm in numpy)
        e5 = get_e5()
        monkeypatch.setenv(qgemm.ENV, "avx2")
        v16 = e5.encode(POSTS)
        monkeypatch.setenv(qgemm.ENV, "avxvnni")
        np.testing.assert_array_equal(v16, e5.encode(POSTS))


@pytest.mark.skipif(not {"vnni", "avxvnni"} <= set(qgemm.kinds()), reason="needs the AVX-512 VNNI and AVX-VNNI kernels")
def test_the_256_bit_kernel_gives_the_products_of_the_512_bit_one_and_numpy_attention(monkeypatch):
    rng = np.random.default_rng(5)
    for m, k, n in [(1, 64, 32), (37, 384, 1152), (70, 1536, 384), (32, 384, 1536)]:
        x = rng.standard_normal((m, k)).astype(np.float32)
        p = qgemm.pack((rng.standard_normal((k, n)) * 0.05).astype(np.float32), [1, 7, 40])
        b, res = rng.standard_normal(n).astype(np.float32), rng.standard_normal((m, n)).astype(np.float32)
        out = {}
        for kind in ("vnni", "avxvnni"):
            monkeypatch.setenv(qgemm.ENV, kind)
            out[kind] = qgemm.linear(x, p, b, residual=res, gelu=True)
        np.testing.assert_array_equal(out["vnni"], out["avxvnni"])  # same integers, same float steps, same bits
    e5 = get_e5()
    monkeypatch.setenv(qgemm.ENV, "avxvnni")
    assert not qgemm.full() and qgemm.describe() == "int8 AVX-VNNI kernel"
    v256 = e5.encode(POSTS)
    monkeypatch.setenv(qgemm.ENV, "vnni")
    v512 = e5.encode(POSTS)
    # attention and LayerNorm in numpy instead of compiled: float rounding apart, which the int8 steps after
    # them can magnify to one quantisation step; the vectors stay as close as either is to float32
    assert (v256 * v512).sum(1).min() > 0.9995


def test_shapes_the_kernel_cannot_take_are_refused():
    with pytest.raises(ValueError, match="multiple of 64"):
        qgemm.pack(np.zeros((100, 32), np.float32))
    assert not qgemm.packable(np.zeros((64, 48), np.float32))


@needs_kernel
def test_mismatched_inputs_are_refused_not_read_out_of_bounds():
    p = qgemm.pack(np.ones((64, 32), np.float32))
    with pytest.raises(ValueError, match="does not fit"):
        qgemm.linear(np.ones((3, 128), np.float32), p, np.zeros(32, np.float32))
    with pytest.raises(ValueError, match="bias has"):
        qgemm.linear(np.ones((3, 64), np.float32), p, np.zeros(31, np.float32))
    with pytest.raises(ValueError, match="residual has"):
        qgemm.linear(np.ones((3, 64), np.float32), p, np.zeros(32, np.float32), residual=np.zeros((2, 32), np.float32))
    with pytest.raises(ValueError, match="outlier columns"):
        qgemm.pack(np.ones((64, 32), np.float32), [64])
    with pytest.raises(ValueError, match="outlier columns"):
        qgemm.pack(np.ones((64, 32), np.float32), list(range(9)))
    if "avx2" in qgemm.kinds():  # the AVX2 kernel reads the int16 layout only
        x, b = np.ones((3, 64), np.float32), np.zeros(32, np.float32)
        with pytest.raises(ValueError, match="packed weights has 2048 bytes, expected 4096"):
            qgemm._native.qgemm("avx2", x, 3, 64, p.tiles, p.colsum, p.scale, b, None, 32,
                                np.empty((3, 32), np.float32), False, p.w, p.outliers)
    if set(qgemm.kinds()) & set(qgemm.FULL):  # the compiled attention (AVX-512 only)
        with pytest.raises(ValueError, match="does not fit"):
            qgemm.attention(np.ones((2, 4, 384 * 3), np.float32), np.array([4], np.int32), 12)


@needs_kernel
def test_the_kernels_let_go_of_every_array_they_are_given():
    """Each call releases every buffer it took (a kept one pins its array: one reference more per product)."""
    import sys

    rng = np.random.default_rng(3)
    p = qgemm.pack((rng.standard_normal((128, 64)) * 0.05).astype(np.float32), [3, 90])
    x = rng.standard_normal((5, 128)).astype(np.float32)
    b, res = np.zeros(64, np.float32), np.ones((5, 64), np.float32)
    qkv, lens = rng.standard_normal((2, 4, 3 * 384)).astype(np.float32), np.array([4, 2], np.int32)
    lw, lb = np.ones(64, np.float32), np.zeros(64, np.float32)
    held = {"x": x, "bias": b, "residual": res, "qkv": qkv, "lens": lens, "ln_w": lw, "ln_b": lb,
            **{k: v for k, v in vars(p).items() if isinstance(v, np.ndarray)}}
    assert {"tiles", "scale", "w", "outliers", "colsum"} <= set(held)
    before = {k: sys.getrefcount(v) for k, v in held.items()}
    for _ in range(3):
        for kind in qgemm.kinds():
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv(qgemm.ENV, kind)
                out = qgemm.linear(x, p, b, residual=res, gelu=True)
        if set(qgemm.kinds()) & set(qgemm.FULL):
            qgemm.layernorm(out, lw, lb, 1e-12)
            qgemm.attention(qkv, lens, 12)
    assert {k: sys.getrefcount(v) for k, v in held.items()} == before


def test_a_separate_encoder_instance_follows_the_same_choice(monkeypatch):
    monkeypatch.setenv(qgemm.ENV, "numpy")
    e = E5Numpy()
    v = e.encode(["thủ tục nhanh gọn"])
    assert v.shape == (1, 384) and abs(float(np.linalg.norm(v)) - 1.0) < 1e-5


def test_worker_processes_take_the_parent_s_choice(monkeypatch):
    from civicpulse.nlp import pipeline

    monkeypatch.setenv(qgemm.ENV, "numpy")
    try:
        assert pipeline._get_e5_pool(1).submit(qgemm.describe).result(timeout=120) == "numpy float32"
        monkeypatch.setenv(qgemm.ENV, "auto")
        expected = qgemm.describe()
        assert pipeline._get_e5_pool(1).submit(qgemm.describe).result(timeout=120) == expected
    finally:
        pipeline.shutdown_pool()


@needs_kernel
@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(0, 70),
    kb=st.integers(1, 4),
    nb=st.integers(1, 3),
    scale=st.sampled_from([0.0, 1e-30, 1.0, 1e20]),
    n_out=st.integers(0, 8),
    data=st.data(),
)
def test_linear_on_random_shapes_and_extreme_values(m, kb, nb, scale, n_out, data):
    """Any shape the kernel accepts, zero / tiny / huge rows and any outlier set: same integers as the
    numpy model, no crash, and every kernel this CPU has gives the same result."""
    k, n = 64 * kb, 32 * nb
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = (rng.standard_normal((m, k)) * scale).astype(np.float32)
    w = (rng.standard_normal((k, n)) * 0.05).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    cols = sorted(set(data.draw(st.lists(st.integers(0, k - 1), max_size=n_out))))
    p = qgemm.pack(w, cols)
    results = []
    for kind in qgemm.kinds():
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(qgemm.ENV, kind)
            results.append(qgemm.linear(x, p, b))
    want = _model(x.astype(np.float64), w, b, cols)
    bits = _exact(x, p, b)
    for got in results:
        assert got.shape == (m, n)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max(initial=0.0))))
        np.testing.assert_array_equal(got, results[0])
        np.testing.assert_array_equal(got, bits)


@needs_kernel
@pytest.mark.parametrize("scale", [1e20, 1.0])
def test_a_value_on_a_rounding_boundary_is_quantised_as_the_kernel_does(kernel, scale):
    """Seed 17111 puts one value of row 20 (and of row 48 at scale 1) on an int8 rounding boundary: the
    float32 quantisation the kernel does and a float64 one give it different integers."""
    rng = np.random.default_rng(17111)
    x = (rng.standard_normal((70, 128)) * scale).astype(np.float32)
    w = (rng.standard_normal((128, 32)) * 0.05).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    want = _model(x.astype(np.float64), w, b)
    got = qgemm.linear(x, qgemm.pack(w), b)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))


def test_auto_takes_the_avx2_kernel_only_where_it_was_measured_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(qgemm.ENV, raising=False)
    monkeypatch.setattr(qgemm, "_kinds", ("avx2",))
    monkeypatch.setattr(qgemm, "_avx2_default", False)
    assert qgemm.kind() is None  # e.g. Intel Haswell, AMD Zen 2: the float32 encoder
    monkeypatch.setenv(qgemm.ENV, "avx2")
    assert qgemm.kind() == "avx2"  # still there when asked for
    monkeypatch.delenv(qgemm.ENV)
    monkeypatch.setattr(qgemm, "_avx2_default", True)
    assert qgemm.kind() == "avx2"
    monkeypatch.setattr(qgemm, "_kinds", ("vnni", "avx2"))
    monkeypatch.setattr(qgemm, "_avx2_default", False)
    assert qgemm.kind() == "vnni"


def test_avx2_by_default_reads_the_cpu_family(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    real = Path.read_text
    f = tmp_path / "cpuinfo"

    def read_text(self: Path, *a: object, **k: object) -> str:
        return real(f if str(self) == "/proc/cpuinfo" else self, *a, **k)  # type: ignore[arg-type]

    for text, want in [("vendor_id\t: AuthenticAMD\ncpu family\t: 25\n", True),
                       ("vendor_id\t: AuthenticAMD\ncpu family\t: 26\n", True),
                       ("vendor_id\t: AuthenticAMD\ncpu family\t: 23\n", False),
                       ("vendor_id\t: GenuineIntel\ncpu family\t: 6\n", False), ("", False)]:
        f.write_text(text)
        monkeypatch.setattr(Path, "read_text", read_text)
        monkeypatch.setattr(qgemm, "_avx2_default", None)
        assert qgemm.avx2_by_default() is want, text
        monkeypatch.undo()
    qgemm._avx2_default = None
