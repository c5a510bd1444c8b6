/* int8 matrix products for the e5-small encoder (civicpulse.nlp.qgemm), on Intel AMX, AVX-512 VNNI,
 * AVX-VNNI or plain AVX2.
 *
 * out[M,N] = act( rowq(A)[M,K] . W[K,N] * row_scale * col_scale + A[:,O] . W[O,:] + bias [+ residual] )
 *
 * A is float32; each row is quantised to int8 with its own scale (max |a| / 127), leaving out a
 * few given columns O (the model's outlier channels), which are multiplied in float32.
 * W was quantised per output column and packed by qgemm.pack into AMX tiles, a layout the VNNI
 * paths read as well (per 16 columns, 4 consecutive k per 32-bit lane); the AVX2 path (no int8 dot
 * product instruction) reads the same int8 values widened to int16 (Packed.pairs16: per 32 columns,
 * 2 consecutive k per 32-bit lane) and multiplies them with vpmaddwd, whose int16 products and pair
 * sums are exact. The int32 dot products are exact, so every kernel has the same integers; the
 * result is converted back to float32 with the two scales, the outlier columns and the bias added,
 * then optionally the exact-erf GELU or a residual, in the same float steps. Attention and LayerNorm
 * run in AVX-512 beside the AMX and VNNI kernels. Built only where the compiler knows these
 * instructions; at run time kinds() checks the CPU and the OS (for AMX, Linux's permission to use
 * the tile registers). Without them the package computes the same layers in float32 numpy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAXOUT 8 /* at most this many outlier columns per product */

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11))
#define HAVE_KERNELS 1
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define TGT_AMX __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq")))
#define TGT_VNNI __attribute__((target("avx512vnni,avx512f,avx512bw,avx512vl,avx512dq")))
#define TGT_AVXVNNI __attribute__((target("avxvnni,avx2,fma")))
#define TGT_AVX2 __attribute__((target("avx2,fma")))
#else
#define HAVE_KERNELS 0
#endif

#define KIND_VNNI 1 /* AVX-512 F/BW/VL/DQ + VNNI, and the OS saves the zmm state */
#define KIND_AMX 2  /* + AMX-TILE, AMX-INT8, and Linux lets this process use the tiles */
#define KIND_AVXVNNI 4 /* AVX2, FMA and AVX-VNNI (256-bit vpdpbusd; Intel Core 12th generation and later), the OS saves ymm */
#define KIND_AVX2 8    /* AVX2 and FMA (e.g. AMD Zen 2 and 3, Intel Core 4th-11th generation), the OS saves ymm */
#define KIND_AVX512 (KIND_VNNI | KIND_AMX)
static int cpu_kinds = -1;

#if HAVE_KERNELS
typedef struct {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

static int kinds_check(void) {
    unsigned a, b, c, d;
    int kinds = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) return 0; /* OSXSAVE */
    int fma = (c >> 12) & 1;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x6) != 0x6) return 0; /* SSE and AVX states enabled */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    unsigned max_sub = a, b7 = b, c7 = c, d7 = d;
    /* leaf 7 EBX 5: AVX2; leaf 7 subleaf 1, EAX 4: AVX-VNNI */
    if (((b7 >> 5) & 1) && fma) kinds |= KIND_AVX2;
    if (max_sub >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 4) & 1) && ((b7 >> 5) & 1) && fma)
        kinds |= KIND_AVXVNNI;
    if ((lo & 0xE6) != 0xE6) return kinds; /* opmask, ZMM_Hi256, Hi16_ZMM states enabled */
    /* EBX 16 AVX512F, 17 DQ, 30 BW, 31 VL; ECX 11 VNNI; EDX 24 AMX-TILE, 25 AMX-INT8 */
    if (!((b7 >> 16) & 1) || !((b7 >> 17) & 1) || !((b7 >> 30) & 1) || !((b7 >> 31) & 1)) return kinds;
    if ((c7 >> 11) & 1) kinds |= KIND_VNNI;
    /* ARCH_REQ_XCOMP_PERM (0x1023) for XFEATURE_XTILEDATA (18): Linux >= 5.16 */
    if (((d7 >> 24) & 1) && ((d7 >> 25) & 1) && syscall(SYS_arch_prctl, 0x1023, 18) == 0) kinds |= KIND_AMX;
    return kinds;
}

/* float32 erf: the rational approximation of civicpulse.nlp.e5np._erf32 (|error| < 1e-6) on [-4, 4]:
 * odd numerator u * P(u^2) over Q(u^2), coefficients from the highest power down */
static const float ERF_P[7] = {-2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f,
                               -5.69250639462346e-05f, -7.34990630326855e-04f, -2.95459980854025e-03f,
                               -1.60960333262415e-02f};
static const float ERF_Q[5] = {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f,
                               -7.37332916720468e-03f, -1.42647390514189e-02f};

TGT static inline __m512 erf16(__m512 u) {
    u = _mm512_min_ps(_mm512_max_ps(u, _mm512_set1_ps(-4.f)), _mm512_set1_ps(4.f));
    __m512 x2 = _mm512_mul_ps(u, u);
    __m512 p = _mm512_set1_ps(ERF_P[0]);
    for (int i = 1; i < 7; i++) p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(ERF_P[i]));
    p = _mm512_mul_ps(p, u);
    __m512 q = _mm512_set1_ps(ERF_Q[0]);
    for (int i = 1; i < 5; i++) q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(ERF_Q[i]));
    return _mm512_div_ps(p, q);
}

TGT static inline __m512 gelu16(__m512 x) {
    __m512 e = erf16(_mm512_mul_ps(x, _mm512_set1_ps(0.7071067811865476f)));
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), _mm512_add_ps(e, _mm512_set1_ps(1.f)));
}

/* Quantise rows of A (M x K) into Aq (Mp x K, rows >= M zero), without the columns in keep == 0;
 * rs gets each row's scale. With shift, each byte is stored + 128 (the unsigned bytes of the VNNI
 * kernel: the sign bit flipped). */
TGT static void quant_rows(const float *A, int M, int Mp, int K, const float *keep, int8_t *Aq, float *rs, int shift) {
    const int zero = shift ? 0x80 : 0;
    const __m128i flip = _mm_set1_epi8((char)zero);
    for (int m = 0; m < Mp; m++) {
        int8_t *q = Aq + (size_t)m * K;
        if (m >= M) {
            memset(q, zero, (size_t)K);
            rs[m] = 0.f;
            continue;
        }
        const float *x = A + (size_t)m * K;
        __m512 mx = _mm512_setzero_ps();
        __mmask16 nan = 0; /* max_ps passes a NaN on only when it is the second operand: track NaNs apart */
        for (int k = 0; k < K; k += 16) {
            __m512 v = _mm512_abs_ps(_mm512_mul_ps(_mm512_loadu_ps(x + k), _mm512_load_ps(keep + k)));
            nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            mx = _mm512_max_ps(mx, v);
        }
        float amax = nan ? NAN : _mm512_reduce_max_ps(mx);
        if (!(amax > 0.f) || amax != amax) { /* zero row (or NaN: keep it out of the integers) */
            memset(q, zero, (size_t)K);
            rs[m] = amax != amax ? amax : 0.f;
            continue;
        }
        float s = amax / 127.f;
        rs[m] = s;
        __m512 inv = _mm512_set1_ps(1.f / s);
        for (int k = 0; k < K; k += 16) {
            __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + k), _mm512_load_ps(keep + k)), inv);
            _mm_storeu_si128((__m128i *)(q + k), _mm_xor_si128(_mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(v)), flip));
        }
    }
}

/* What the GEMM bodies need to turn 32 int32 sums of one row into 32 outputs. */
typedef struct {
    const float *cs, *bias, *res, *W, *rs, *xo;
    const int32_t *cols, *corr; /* corr: subtracted from the sums (VNNI: 128 x column sums), or NULL */
    int nout, N, gelu;
    float *C;
} epi_t;

TGT static inline void finish_row(const epi_t *e, const int32_t *acc, int m, int n0) {
    __m512 s = _mm512_set1_ps(e->rs[m]);
    __m512i a0 = _mm512_load_si512(acc), a1 = _mm512_load_si512(acc + 16);
    if (e->corr) {
        a0 = _mm512_sub_epi32(a0, _mm512_loadu_si512(e->corr + n0));
        a1 = _mm512_sub_epi32(a1, _mm512_loadu_si512(e->corr + n0 + 16));
    }
    __m512 v0 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a0), s), _mm512_loadu_ps(e->cs + n0), _mm512_loadu_ps(e->bias + n0));
    __m512 v1 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a1), s), _mm512_loadu_ps(e->cs + n0 + 16),
                                _mm512_loadu_ps(e->bias + n0 + 16));
    for (int o = 0; o < e->nout; o++) { /* the outlier columns, in float32 */
        __m512 xv = _mm512_set1_ps(e->xo[(size_t)m * MAXOUT + o]);
        const float *wr = e->W + (size_t)e->cols[o] * e->N + n0;
        v0 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(wr), v0);
        v1 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(wr + 16), v1);
    }
    if (e->gelu) {
        v0 = gelu16(v0);
        v1 = gelu16(v1);
    }
    size_t o = (size_t)m * e->N + n0;
    if (e->res) {
        v0 = _mm512_add_ps(v0, _mm512_loadu_ps(e->res + o));
        v1 = _mm512_add_ps(v1, _mm512_loadu_ps(e->res + o + 16));
    }
    _mm512_storeu_ps(e->C + o, v0);
    _mm512_storeu_ps(e->C + o + 16, v1);
}

/* finish_row for a whole block of 4 rows x 64 columns, from the sums in registers: per value the same
 * operations in the same order, but each step runs over the block's 16 vectors before the next one,
 * so that the outlier products (a chain of dependent multiply-adds per value) of 16 values overlap.
 * Row by row, 32 columns at a time, those chains took a seventh of the product's time on Zen 4. */
TGT static inline void finish_block4x64(const epi_t *e, __m512i acc[4][4], int m0, int n0) {
    __m512 v[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        __m512 s = _mm512_set1_ps(e->rs[m0 + r]);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m512i a = acc[r][j];
            if (e->corr) a = _mm512_sub_epi32(a, _mm512_loadu_si512(e->corr + n0 + 16 * j));
            v[r][j] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a), s), _mm512_loadu_ps(e->cs + n0 + 16 * j),
                                      _mm512_loadu_ps(e->bias + n0 + 16 * j));
        }
    }
    for (int o = 0; o < e->nout; o++) { /* the outlier columns, in float32 */
        const float *wr = e->W + (size_t)e->cols[o] * e->N + n0;
        __m512 w0 = _mm512_loadu_ps(wr), w1 = _mm512_loadu_ps(wr + 16), w2 = _mm512_loadu_ps(wr + 32),
               w3 = _mm512_loadu_ps(wr + 48);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512 xv = _mm512_set1_ps(e->xo[(size_t)(m0 + r) * MAXOUT + o]);
            v[r][0] = _mm512_fmadd_ps(xv, w0, v[r][0]);
            v[r][1] = _mm512_fmadd_ps(xv, w1, v[r][1]);
            v[r][2] = _mm512_fmadd_ps(xv, w2, v[r][2]);
            v[r][3] = _mm512_fmadd_ps(xv, w3, v[r][3]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        size_t o = (size_t)(m0 + r) * e->N + n0;
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m512 x = v[r][j];
            if (e->gelu) x = gelu16(x);
            if (e->res) x = _mm512_add_ps(x, _mm512_loadu_ps(e->res + o + 16 * j));
            _mm512_storeu_ps(e->C + o + 16 * j, x);
        }
    }
}

/* AMX: 32 x 32 blocks of C in four tiles; K in steps of 64. */
TGT_AMX static void gemm_amx(const int8_t *Aq, int M, int Mp, int K, const int8_t *Bp, const epi_t *e) {
    int KB = K / 64;
    tilecfg t;
    memset(&t, 0, sizeof t);
    t.palette_id = 1;
    for (int i = 0; i < 8; i++) {
        t.rows[i] = 16;
        t.colsb[i] = 64;
    }
    _tile_loadconfig(&t);
    int32_t buf[32 * 32] __attribute__((aligned(64)));
    for (int n0 = 0; n0 < e->N; n0 += 32) {
        /* packed W: tile (n/16, kb) = 16 groups of 4 k x 16 columns, 1 KiB each */
        const int8_t *B0 = Bp + (size_t)(n0 / 16) * KB * 1024, *B1 = B0 + (size_t)KB * 1024;
        for (int m0 = 0; m0 < Mp; m0 += 32) {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            const int8_t *a = Aq + (size_t)m0 * K;
            for (int kb = 0; kb < KB; kb++) {
                _tile_loadd(4, a + kb * 64, K);
                _tile_loadd(5, a + (size_t)16 * K + kb * 64, K);
                _tile_loadd(6, B0 + (size_t)kb * 1024, 64);
                _tile_loadd(7, B1 + (size_t)kb * 1024, 64);
                _tile_dpbssd(0, 4, 6);
                _tile_dpbssd(1, 4, 7);
                _tile_dpbssd(2, 5, 6);
                _tile_dpbssd(3, 5, 7);
            }
            _tile_stored(0, buf, 128);
            _tile_stored(1, buf + 16, 128);
            _tile_stored(2, buf + 16 * 32, 128);
            _tile_stored(3, buf + 16 * 32 + 16, 128);
            int rows = M - m0 < 32 ? M - m0 : 32;
            for (int r = 0; r < rows; r++) finish_row(e, buf + r * 32, m0 + r, n0);
        }
    }
    _tile_release();
}

/* AVX-512 VNNI: 8 rows x 32 columns in 16 registers; vpdpbusd multiplies unsigned bytes by signed
 * ones, so the activations come shifted by 128 (quant_rows with shift) and e->corr takes the 128 x
 * column sums back out. The packed tiles of one 16-column block are K/4 rows of 64 bytes. */
TGT_VNNI static void gemm_vnni(const int8_t *Aq, int M, int K, const int8_t *Bp, const epi_t *e) {
    int G = K / 4;
    int32_t buf[64] __attribute__((aligned(64)));
    int n0 = 0;
    /* 4 rows x 64 columns in 16 registers: per step 4 broadcasts for 16 vpdpbusd, half the broadcasts
     * of 8 x 32 (on Zen 4 the broadcasts held a quarter of the 8 x 32 loop's profile samples, and this
     * step ran 3-10 % faster; 2 x 128 was slower: its weights no longer stay in L1) */
    for (; n0 + 64 <= e->N; n0 += 64) {
        const int8_t *B0 = Bp + (size_t)(n0 / 16) * G * 64, *B1 = B0 + (size_t)G * 64, *B2 = B1 + (size_t)G * 64,
                     *B3 = B2 + (size_t)G * 64;
        for (int m0 = 0; m0 < M; m0 += 4) {
            __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
                    c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
            const int32_t *a = (const int32_t *)(Aq + (size_t)m0 * K);
            size_t K4 = (size_t)K / 4;
            for (int g = 0; g < G; g++) {
                __m512i w0 = _mm512_loadu_si512(B0 + (size_t)g * 64), w1 = _mm512_loadu_si512(B1 + (size_t)g * 64),
                        w2 = _mm512_loadu_si512(B2 + (size_t)g * 64), w3 = _mm512_loadu_si512(B3 + (size_t)g * 64);
#define VNNI_ROW4(r, x0, x1, x2, x3)                                                                          \
    {                                                                                                          \
        __m512i av = _mm512_set1_epi32(a[(r) * K4 + g]);                                                      \
        x0 = _mm512_dpbusd_epi32(x0, av, w0);                                                                  \
        x1 = _mm512_dpbusd_epi32(x1, av, w1);                                                                  \
        x2 = _mm512_dpbusd_epi32(x2, av, w2);                                                                  \
        x3 = _mm512_dpbusd_epi32(x3, av, w3);                                                                  \
    }
                VNNI_ROW4(0, c00, c01, c02, c03) VNNI_ROW4(1, c10, c11, c12, c13)
                VNNI_ROW4(2, c20, c21, c22, c23) VNNI_ROW4(3, c30, c31, c32, c33)
#undef VNNI_ROW4
            }
            if (M - m0 >= 4) {
                __m512i acc[4][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}};
                finish_block4x64(e, acc, m0, n0);
                continue;
            }
            __m512i acc[4][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}};
            int rows = M - m0 < 4 ? M - m0 : 4;
            for (int r = 0; r < rows; r++) {
                for (int v = 0; v < 4; v++) _mm512_store_si512(buf + 16 * v, acc[r][v]);
                finish_row(e, buf, m0 + r, n0);
                finish_row(e, buf + 32, m0 + r, n0 + 32);
            }
        }
    }
    for (; n0 < e->N; n0 += 32) {
        const int8_t *B0 = Bp + (size_t)(n0 / 16) * G * 64, *B1 = B0 + (size_t)G * 64;
        for (int m0 = 0; m0 < M; m0 += 8) {
            /* sixteen named accumulators: written as an array, GCC shuffled them between registers and
             * the stack on every step of the loop (half the peak speed) */
            __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
                    c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00,
                    c70 = c00, c71 = c00;
            const int32_t *a = (const int32_t *)(Aq + (size_t)m0 * K); /* 4 bytes of k per step */
            size_t K4 = (size_t)K / 4;
            for (int g = 0; g < G; g++) {
                __m512i w0 = _mm512_loadu_si512(B0 + (size_t)g * 64), w1 = _mm512_loadu_si512(B1 + (size_t)g * 64);
#define VNNI_ROW(r, x0, x1)                                                                                   \
    {                                                                                                          \
        __m512i av = _mm512_set1_epi32(a[(r) * K4 + g]);                                                      \
        x0 = _mm512_dpbusd_epi32(x0, av, w0);                                                                  \
        x1 = _mm512_dpbusd_epi32(x1, av, w1);                                                                  \
    }
                VNNI_ROW(0, c00, c01) VNNI_ROW(1, c10, c11) VNNI_ROW(2, c20, c21) VNNI_ROW(3, c30, c31)
                VNNI_ROW(4, c40, c41) VNNI_ROW(5, c50, c51) VNNI_ROW(6, c60, c61) VNNI_ROW(7, c70, c71)
#undef VNNI_ROW
            }
            __m512i acc[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                                 {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
            int rows = M - m0 < 8 ? M - m0 : 8;
            for (int r = 0; r < rows; r++) {
                _mm512_store_si512(buf, acc[r][0]);
                _mm512_store_si512(buf + 16, acc[r][1]);
                finish_row(e, buf, m0 + r, n0);
            }
        }
    }
}

/* The same steps on 256-bit registers, for the AVX-VNNI and AVX2 kernels (no AVX-512): the operations
 * of erf16, gelu16, quant_rows and finish_row in the same order, so the results are the same bits.
 * AVX2 and FMA only, so that both kernels use them. */
TGT_AVX2 static inline __m256 erf8(__m256 u) {
    u = _mm256_min_ps(_mm256_max_ps(u, _mm256_set1_ps(-4.f)), _mm256_set1_ps(4.f));
    __m256 x2 = _mm256_mul_ps(u, u);
    __m256 p = _mm256_set1_ps(ERF_P[0]);
    for (int i = 1; i < 7; i++) p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(ERF_P[i]));
    p = _mm256_mul_ps(p, u);
    __m256 q = _mm256_set1_ps(ERF_Q[0]);
    for (int i = 1; i < 5; i++) q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(ERF_Q[i]));
    return _mm256_div_ps(p, q);
}

TGT_AVX2 static inline __m256 gelu8(__m256 x) {
    __m256 e = erf8(_mm256_mul_ps(x, _mm256_set1_ps(0.7071067811865476f)));
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), _mm256_add_ps(e, _mm256_set1_ps(1.f)));
}

TGT_AVX2 static float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

/* quant_rows in AVX2: with Aq, the bytes shifted by 128 (the AVX-VNNI kernel); with Aq16 instead,
 * the same int8 values unshifted, each widened to int16 (the AVX2 kernel). */
TGT_AVX2 static void quant_rows_avx2(const float *A, int M, int Mp, int K, const float *keep, int8_t *Aq, int16_t *Aq16,
                                     float *rs) {
    const __m256 sign = _mm256_set1_ps(-0.f);
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (int m = 0; m < Mp; m++) {
        int8_t *q = Aq16 ? NULL : Aq + (size_t)m * K;
        int16_t *q16 = Aq16 ? Aq16 + (size_t)m * K : NULL;
        if (m >= M) {
            if (q16) memset(q16, 0, (size_t)K * 2);
            else memset(q, 0x80, (size_t)K);
            rs[m] = 0.f;
            continue;
        }
        const float *x = A + (size_t)m * K;
        __m256 mx = _mm256_setzero_ps();
        int nan = 0;
        for (int k = 0; k < K; k += 8) {
            __m256 v = _mm256_andnot_ps(sign, _mm256_mul_ps(_mm256_loadu_ps(x + k), _mm256_load_ps(keep + k)));
            nan |= _mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
            mx = _mm256_max_ps(mx, v);
        }
        float amax = nan ? NAN : hmax8(mx);
        if (!(amax > 0.f) || amax != amax) {
            if (q16) memset(q16, 0, (size_t)K * 2);
            else memset(q, 0x80, (size_t)K);
            rs[m] = amax != amax ? amax : 0.f;
            continue;
        }
        float s = amax / 127.f;
        rs[m] = s;
        __m256 inv = _mm256_set1_ps(1.f / s);
        for (int k = 0; k < K; k += 8) {
            __m256i iv = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k), _mm256_load_ps(keep + k)), inv));
            __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(iv), _mm256_extracti128_si256(iv, 1));
            __m128i b8 = _mm_packs_epi16(w16, w16); /* the int8 values, saturated as in the other kernels */
            if (q16) _mm_storeu_si128((__m128i *)(q16 + k), _mm_cvtepi8_epi16(b8));
            else _mm_storel_epi64((__m128i *)(q + k), _mm_xor_si128(b8, flip));
        }
    }
}

/* finish_row for 16 columns */
TGT_AVX2 static inline void finish_row16(const epi_t *e, const int32_t *acc, int m, int n0) {
    __m256 s = _mm256_set1_ps(e->rs[m]);
    __m256i a0 = _mm256_load_si256((const __m256i *)acc), a1 = _mm256_load_si256((const __m256i *)(acc + 8));
    if (e->corr) {
        a0 = _mm256_sub_epi32(a0, _mm256_loadu_si256((const __m256i *)(e->corr + n0)));
        a1 = _mm256_sub_epi32(a1, _mm256_loadu_si256((const __m256i *)(e->corr + n0 + 8)));
    }
    __m256 v0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a0), s), _mm256_loadu_ps(e->cs + n0), _mm256_loadu_ps(e->bias + n0));
    __m256 v1 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a1), s), _mm256_loadu_ps(e->cs + n0 + 8),
                                _mm256_loadu_ps(e->bias + n0 + 8));
    for (int o = 0; o < e->nout; o++) {
        __m256 xv = _mm256_set1_ps(e->xo[(size_t)m * MAXOUT + o]);
        const float *wr = e->W + (size_t)e->cols[o] * e->N + n0;
        v0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(wr), v0);
        v1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(wr + 8), v1);
    }
    if (e->gelu) {
        v0 = gelu8(v0);
        v1 = gelu8(v1);
    }
    size_t o = (size_t)m * e->N + n0;
    if (e->res) {
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(e->res + o));
        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(e->res + o + 8));
    }
    _mm256_storeu_ps(e->C + o, v0);
    _mm256_storeu_ps(e->C + o + 8, v1);
}

/* AVX-VNNI: 6 rows x 16 columns in 12 registers (of 16); the packed 16-column block's groups of 4 k
 * are 64 bytes: columns 0-7 then 8-15. Activations shifted by 128 as for the AVX-512 VNNI kernel. */
TGT_AVXVNNI static void gemm_avxvnni(const int8_t *Aq, int M, int K, const int8_t *Bp, const epi_t *e) {
    int G = K / 4;
    size_t K4 = (size_t)K / 4;
    int32_t buf[16] __attribute__((aligned(32)));
    for (int n0 = 0; n0 < e->N; n0 += 16) {
        const int8_t *B = Bp + (size_t)(n0 / 16) * G * 64;
        for (int m0 = 0; m0 < M; m0 += 6) {
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
                    c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
            const int32_t *a = (const int32_t *)(Aq + (size_t)m0 * K);
            for (int g = 0; g < G; g++) {
                __m256i w0 = _mm256_loadu_si256((const __m256i *)(B + (size_t)g * 64)),
                        w1 = _mm256_loadu_si256((const __m256i *)(B + (size_t)g * 64 + 32));
#define AVXVNNI_ROW(r, x0, x1)                                                                                \
    {                                                                                                          \
        __m256i av = _mm256_set1_epi32(a[(r) * K4 + g]);                                                      \
        x0 = _mm256_dpbusd_avx_epi32(x0, av, w0);                                                              \
        x1 = _mm256_dpbusd_avx_epi32(x1, av, w1);                                                              \
    }
                AVXVNNI_ROW(0, c00, c01) AVXVNNI_ROW(1, c10, c11) AVXVNNI_ROW(2, c20, c21)
                AVXVNNI_ROW(3, c30, c31) AVXVNNI_ROW(4, c40, c41) AVXVNNI_ROW(5, c50, c51)
#undef AVXVNNI_ROW
            }
            __m256i acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
            int rows = M - m0 < 6 ? M - m0 : 6;
            for (int r = 0; r < rows; r++) {
                _mm256_store_si256((__m256i *)buf, acc[r][0]);
                _mm256_store_si256((__m256i *)(buf + 8), acc[r][1]);
                finish_row16(e, buf, m0 + r, n0);
            }
        }
    }
}

/* AVX2 without VNNI: vpmaddwd multiplies int16 pairs into exact int32 pair sums (the int8 values
 * widened: no saturation, unlike vpmaddubsw's int16 pair sums), vpaddd accumulates; no +128 shift,
 * so no column-sum correction. Per step of 2 k, a 32-bit broadcast of a row's 2 activations times
 * one weight register (8 columns x 2 k). 3 rows x 32 columns: 12 accumulators, the weights of one
 * 32-column block (Packed.pairs16) are 128 bytes per step. On Zen 3 (vpmaddwd on 2 of the 4 vector
 * pipes, vpaddd on any) a bare vpmaddwd + vpaddd loop reaches about 1.6 vpmaddwd per cycle, and this
 * loop 80-95 % of that at the e5 shapes. 6 x 16, 5 x 16 and 4 x 24 ran within +-5 % of 3 x 32 (the
 * machine's noise: no order held across runs); 3 x 32 fits N (a multiple of 32) without a tail and
 * reads whole cache lines of its block. The rows go in passes of AVX2_MBLOCK, so that their int16
 * activations (60 x 1536 x 2 bytes at most) stay in L2 while the weights stream past them (no
 * difference measured here at 600 and 1,020 rows; it bounds the working set of larger batches). */
#define AVX2_MBLOCK 60 /* a multiple of the 3-row block */
TGT_AVX2 static void gemm_avx2(const int16_t *Aq, int M, int K, const int16_t *Bp, const epi_t *e) {
    int J = K / 2;
    int32_t buf[32] __attribute__((aligned(32)));
    for (int mb = 0; mb < M; mb += AVX2_MBLOCK) {
        int me = mb + AVX2_MBLOCK < M ? mb + AVX2_MBLOCK : M;
        for (int n0 = 0; n0 < e->N; n0 += 32) {
            const int16_t *B = Bp + (size_t)(n0 / 32) * J * 64;
            for (int m0 = mb; m0 < me; m0 += 3) {
                __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
                        c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00;
                const int32_t *a = (const int32_t *)(Aq + (size_t)m0 * K);
                for (int j = 0; j < J; j++) {
                    const __m256i *w = (const __m256i *)(B + (size_t)j * 64);
                    __m256i w0 = _mm256_loadu_si256(w), w1 = _mm256_loadu_si256(w + 1), w2 = _mm256_loadu_si256(w + 2),
                            w3 = _mm256_loadu_si256(w + 3);
#define AVX2_ROW4(r, x0, x1, x2, x3)                                                                          \
    {                                                                                                          \
        __m256i av = _mm256_set1_epi32(a[(size_t)(r) * J + j]);                                               \
        x0 = _mm256_add_epi32(x0, _mm256_madd_epi16(av, w0));                                                  \
        x1 = _mm256_add_epi32(x1, _mm256_madd_epi16(av, w1));                                                  \
        x2 = _mm256_add_epi32(x2, _mm256_madd_epi16(av, w2));                                                  \
        x3 = _mm256_add_epi32(x3, _mm256_madd_epi16(av, w3));                                                  \
    }
                    AVX2_ROW4(0, c00, c01, c02, c03) AVX2_ROW4(1, c10, c11, c12, c13) AVX2_ROW4(2, c20, c21, c22, c23)
#undef AVX2_ROW4
                }
                __m256i acc[3][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}};
                int rows = M - m0 < 3 ? M - m0 : 3;
                for (int r = 0; r < rows; r++) {
                    for (int v = 0; v < 4; v++) _mm256_store_si256((__m256i *)(buf + 8 * v), acc[r][v]);
                    finish_row16(e, buf, m0 + r, n0);
                    finish_row16(e, buf + 16, m0 + r, n0 + 16);
                }
            }
        }
    }
}

static int qgemm_run(int kind, const float *A, int M, int K, const void *Bp, const int32_t *colsum,
                     const float *cs, const float *bias, const float *res, int N, float *C, int gelu,
                     const float *W, const int32_t *cols, int nout) {
    int Mp = (kind == KIND_AVXVNNI || kind == KIND_AVX2 ? M + 5 + 31 : M + 31) & ~31; /* the kernels read whole blocks of rows */
    size_t width = kind == KIND_AVX2 ? 2 : 1; /* bytes per quantised activation: int16 for the AVX2 kernel */
    void *Aq = aligned_alloc(64, (size_t)Mp * K * width);
    float *rs = malloc(sizeof(float) * (size_t)Mp);
    float *keep = aligned_alloc(64, sizeof(float) * (size_t)K);
    float *xo = malloc(sizeof(float) * ((size_t)Mp * MAXOUT + 1));
    int shifted = kind == KIND_VNNI || kind == KIND_AVXVNNI; /* unsigned activations: 128 x column sums out */
    int32_t *corr = shifted ? malloc(sizeof(int32_t) * (size_t)N) : NULL;
    if (!Aq || !rs || !keep || !xo || (shifted && !corr)) {
        free(Aq);
        free(rs);
        free(keep);
        free(xo);
        free(corr);
        return -1;
    }
    for (int k = 0; k < K; k++) keep[k] = 1.f;
    for (int o = 0; o < nout; o++) keep[cols[o]] = 0.f;
    for (int m = 0; m < M; m++)
        for (int o = 0; o < nout; o++) xo[(size_t)m * MAXOUT + o] = A[(size_t)m * K + cols[o]];
    if (kind == KIND_AVXVNNI) quant_rows_avx2(A, M, Mp, K, keep, Aq, NULL, rs);
    else if (kind == KIND_AVX2) quant_rows_avx2(A, M, Mp, K, keep, NULL, Aq, rs);
    else quant_rows(A, M, Mp, K, keep, Aq, rs, kind == KIND_VNNI);
    if (corr)
        for (int n = 0; n < N; n++) corr[n] = 128 * colsum[n];
    epi_t e = {cs, bias, res, W, rs, xo, cols, corr, nout, N, gelu, C};
    if (kind == KIND_AMX) gemm_amx(Aq, M, Mp, K, Bp, &e);
    else if (kind == KIND_VNNI) gemm_vnni(Aq, M, K, Bp, &e);
    else if (kind == KIND_AVXVNNI) gemm_avxvnni(Aq, M, K, Bp, &e);
    else gemm_avx2(Aq, M, K, Bp, &e);
    free(Aq);
    free(rs);
    free(keep);
    free(xo);
    free(corr);
    return 0;
}
/* exp on 16 floats: 2^n * p(r), n = round(x / ln 2), |r| <= ln 2 / 2, degree-6 Taylor (rel. error < 2e-7) */
TGT static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.f / 720.f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    return _mm512_scalef_ps(p, n);
}

/* LayerNorm of each row of x (M x H, H % 16 == 0), in place */
TGT static void layernorm(float *x, int M, int H, const float *w, const float *b, float eps) {
    for (int m = 0; m < M; m++) {
        float *r = x + (size_t)m * H;
        __m512 s = _mm512_setzero_ps();
        for (int k = 0; k < H; k += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(r + k));
        __m512 mu = _mm512_set1_ps(_mm512_reduce_add_ps(s) / (float)H);
        __m512 v = _mm512_setzero_ps();
        for (int k = 0; k < H; k += 16) {
            __m512 d = _mm512_sub_ps(_mm512_loadu_ps(r + k), mu);
            v = _mm512_fmadd_ps(d, d, v);
        }
        __m512 inv = _mm512_set1_ps(1.f / sqrtf(_mm512_reduce_add_ps(v) / (float)H + eps));
        for (int k = 0; k < H; k += 16) {
            __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(r + k), mu), inv);
            _mm512_storeu_ps(r + k, _mm512_fmadd_ps(d, _mm512_loadu_ps(w + k), _mm512_loadu_ps(b + k)));
        }
    }
}

/* t[ldt d + i] = scale * x[i * ld + d] for d < 16 and i < 16 (zero for i >= rows): a 16 x 16 block
 * transposed in registers (a gather per column took a fifth of the attention's time on Zen 4). */
TGT static inline void transpose16(const float *x, size_t ld, int rows, float scale, float *t, size_t ldt) {
    __m512 r[16], u[16];
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(x + (size_t)i * ld) : _mm512_setzero_ps();
    for (int i = 0; i < 16; i += 2) { /* pairs of rows interleaved: 2 x 2 blocks */
        u[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        u[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) { /* 4 x 4 blocks within each 128-bit lane */
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(u[i]), _mm512_castps_pd(u[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(u[i]), _mm512_castps_pd(u[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(u[i + 1]), _mm512_castps_pd(u[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(u[i + 1]), _mm512_castps_pd(u[i + 3])));
    }
    /* r[4 g + c] now holds, in 128-bit lane l, column 4 l + c of rows 4 g .. 4 g + 3; the 128-bit lanes
     * are then moved across the four groups: u[4 l + c] = column 4 l + c of the 16 rows */
    for (int c = 0; c < 4; c++) {
        __m512 a = r[c], b = r[4 + c], e = r[8 + c], f = r[12 + c];
        __m512 ab0 = _mm512_shuffle_f32x4(a, b, 0x44), ab1 = _mm512_shuffle_f32x4(a, b, 0xEE); /* lanes 0,1 | 2,3 */
        __m512 ef0 = _mm512_shuffle_f32x4(e, f, 0x44), ef1 = _mm512_shuffle_f32x4(e, f, 0xEE);
        u[4 * 0 + c] = _mm512_shuffle_f32x4(ab0, ef0, 0x88); /* lane 0 of a, b, e, f */
        u[4 * 1 + c] = _mm512_shuffle_f32x4(ab0, ef0, 0xDD); /* lane 1 */
        u[4 * 2 + c] = _mm512_shuffle_f32x4(ab1, ef1, 0x88); /* lane 2 */
        u[4 * 3 + c] = _mm512_shuffle_f32x4(ab1, ef1, 0xDD); /* lane 3 */
    }
    __m512 sc = _mm512_set1_ps(scale);
    for (int l = 0; l < 4; l++)
        for (int c = 0; c < 4; c++) _mm512_store_ps(t + ldt * (4 * l + c), _mm512_mul_ps(u[4 * l + c], sc));
}

/* A mask of the first n of 16 lanes (n >= 1). */
static inline __mmask16 first_lanes(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u); }

/* One query row of one head (the tail of a text when fewer than 8 rows are left): scores over
 * the keys transposed in kt[d][j] (np = n rounded up to 16), softmax with masked lanes, then
 * sum_j p_j v_j. */
TGT static void attend_row(const float *q, const float *kt, int n, int np, const float *vb, int H3, int hd,
                           float scale, float *sc, float *o) {
    /* the same operations in the same order as the 16-query blocks of attention(), so that a text's
     * result does not depend on which path its rows take (that is, on its batch) */
    float qs[128];
    for (int d = 0; d < hd; d++) qs[d] = q[d] * scale;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int jb = 0; jb < np; jb += 16) {
        __m512 s = _mm512_setzero_ps();
        for (int d = 0; d < hd; d++) s = _mm512_fmadd_ps(_mm512_set1_ps(qs[d]), _mm512_load_ps(kt + (size_t)d * np + jb), s);
        int left = n - jb;
        __mmask16 keep = first_lanes(left);
        s = _mm512_mask_blend_ps(keep, _mm512_set1_ps(-INFINITY), s);
        _mm512_store_ps(sc + jb, s);
        mx = _mm512_max_ps(mx, s);
    }
    __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    for (int jb = 0; jb < np; jb += 16) {
        int left = n - jb;
        __mmask16 keep = first_lanes(left);
        _mm512_store_ps(sc + jb, _mm512_maskz_mov_ps(keep, exp16(_mm512_sub_ps(_mm512_load_ps(sc + jb), m))));
    }
    float sum = 0.f;
    for (int j = 0; j < n; j++) sum += sc[j];
    __m512 inv = _mm512_set1_ps(1.f / sum);
    for (int d0 = 0; d0 < hd; d0 += 16) {
        __m512 acc = _mm512_setzero_ps();
        for (int j = 0; j < n; j++) acc = _mm512_fmadd_ps(_mm512_set1_ps(sc[j]), _mm512_loadu_ps(vb + (size_t)j * H3 + d0), acc);
        _mm512_storeu_ps(o + d0, _mm512_mul_ps(acc, inv));
    }
}

/* sum_j p_j v_j for eight queries (p_j of query t at p[16 j + t]), scaled by inv[t]; the first nq
 * rows go to o (rows ldo apart). Per query and component the same operations in the same order as
 * attend_row's. Eight independent chains keep the FMA units busy. */
TGT static void pv_rows(const float *p, int n, const float *vb, int H3, int hd, const float *inv, int nq, float *o,
                        int ldo) {
    for (int d0 = 0; d0 < hd; d0 += 16) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int j = 0; j < n; j++) {
            __m512 v = _mm512_loadu_ps(vb + (size_t)j * H3 + d0);
            const float *pj = p + 16 * j;
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(pj[0]), v, a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(pj[1]), v, a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(pj[2]), v, a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(pj[3]), v, a3);
            a4 = _mm512_fmadd_ps(_mm512_set1_ps(pj[4]), v, a4);
            a5 = _mm512_fmadd_ps(_mm512_set1_ps(pj[5]), v, a5);
            a6 = _mm512_fmadd_ps(_mm512_set1_ps(pj[6]), v, a6);
            a7 = _mm512_fmadd_ps(_mm512_set1_ps(pj[7]), v, a7);
        }
        __m512 a[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
        for (int t = 0; t < nq; t++) _mm512_storeu_ps(o + (size_t)t * ldo + d0, _mm512_mul_ps(a[t], _mm512_set1_ps(inv[t])));
    }
}

/* Self-attention of a padded batch. qkv (B*L, 3*NH*hd): per token q | k | v, each NH heads of hd.
 * Text b attends to its first lens[b] tokens; out (B*L, NH*hd). hd % 16 == 0, hd <= 128.
 * L == 0: the texts are packed, without padding: text b's lens[b] rows follow text b-1's, and only
 * those rows are computed (out has sum(lens) rows). A row's result is the same in both layouts.
 * Queries go 16 at a time, one per vector lane, so that the softmax over keys needs no
 * horizontal reductions: scores s_j = q . k_j for the 16 queries at once, then exp, then
 * sum_j p_j v_j with v_j's components broadcast. */
TGT static int attention(const float *qkv, int B, int L, int NH, int hd, const int32_t *lens, float *out) {
    int H = NH * hd, H3 = 3 * NH * hd;
    int packed = L == 0, Lmax = L;
    if (packed)
        for (int bi = 0; bi < B; bi++) Lmax = lens[bi] > Lmax ? lens[bi] : Lmax;
    if (Lmax < 1) Lmax = 1;
    int Lp = (Lmax + 15) & ~15;
    float *qt = aligned_alloc(64, sizeof(float) * 16 * (size_t)hd); /* qt[d][lane] */
    float *sc = aligned_alloc(64, sizeof(float) * 16 * (size_t)Lp); /* sc[j][lane] */
    float *kt = aligned_alloc(64, sizeof(float) * (size_t)hd * Lp); /* keys transposed, for tail rows */
    if (!qt || !sc || !kt) {
        free(qt);
        free(sc);
        free(kt);
        return -1;
    }
    const float scale = 1.f / sqrtf((float)hd);
    size_t start = 0; /* the text's first row */
    for (int bi = 0; bi < B; bi++) {
        int Lb = packed ? lens[bi] : L; /* the rows of this text in qkv and out */
        int n = lens[bi] < Lb ? lens[bi] : Lb;
        if (n < 1) n = 1;
        if (Lb < 1) continue;
        const float *base = qkv + start * H3;
        for (int h = 0; h < NH; h++) {
            const float *kb = base + H + h * hd, *vb = base + 2 * H + h * hd;
            for (int i0 = 0; i0 < Lb; i0 += 16) {
                int rows = Lb - i0 < 16 ? Lb - i0 : 16;
                if (rows < 8) { /* a short tail: row by row wastes fewer lanes */
                    int np = (n + 15) & ~15; /* kt[d][j] = k_j[d], zero for j >= n */
                    for (int j0 = 0; j0 < n; j0 += 16)
                        for (int d0 = 0; d0 < hd; d0 += 16)
                            transpose16(kb + (size_t)j0 * H3 + d0, H3, n - j0, 1.f, kt + (size_t)d0 * np + j0, np);
                    for (int i = i0; i < Lb; i++)
                        attend_row(base + (size_t)i * H3 + h * hd, kt, n, np, vb, H3, hd, scale, sc,
                                   out + (start + i) * H + h * hd);
                    break;
                }
                const float *qb = base + (size_t)i0 * H3 + h * hd;
                for (int d0 = 0; d0 < hd; d0 += 16) /* qt[d][lane] = scale * q of row i0 + lane */
                    transpose16(qb + d0, H3, rows, scale, qt + 16 * d0, 16);
                __m512 mx = _mm512_set1_ps(-INFINITY);
                int j = 0;
                for (; j + 7 < n; j += 8) { /* eight keys at a time: eight independent chains */
                    const float *k0 = kb + (size_t)j * H3;
                    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
                    for (int d = 0; d < hd; d++) {
                        __m512 qd = _mm512_load_ps(qt + 16 * d);
                        s0 = _mm512_fmadd_ps(qd, _mm512_set1_ps(k0[d]), s0);
                        s1 = _mm512_fmadd_ps(qd, _mm512_set1_ps(k0[H3 + d]), s1);
                        s2 = _mm512_fmadd_ps(qd, _mm512_set1_ps(k0[2 * (size_t)H3 + d]), s2);
                        s3 = _mm512_fmadd_ps(qd, _mm512_set1_ps(k0[3 * (size_t)H3 + d]), s3);
                        s4 = _mm512_fmadd_ps(qd, _mm512_set1_ps(k0[4 * (size_t)H3 + d]), s4);
                        s5 = _mm512_fmadd_ps(qd, _mm512_set1_ps(k0[5 * (size_t)H3 + d]), s5);
                        s6 = _mm512_fmadd_ps(qd, _mm512_set1_ps(k0[6 * (size_t)H3 + d]), s6);
                        s7 = _mm512_fmadd_ps(qd, _mm512_set1_ps(k0[7 * (size_t)H3 + d]), s7);
                    }
                    __m512 s[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
                    for (int t = 0; t < 8; t++) _mm512_store_ps(sc + 16 * (j + t), s[t]);
                    mx = _mm512_max_ps(mx, _mm512_max_ps(_mm512_max_ps(_mm512_max_ps(s0, s1), _mm512_max_ps(s2, s3)),
                                                         _mm512_max_ps(_mm512_max_ps(s4, s5), _mm512_max_ps(s6, s7))));
                }
                for (; j + 1 < n; j += 2) { /* two keys at a time: two independent chains */
                    const float *k0 = kb + (size_t)j * H3, *k1 = k0 + H3;
                    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
                    for (int d = 0; d < hd; d++) {
                        __m512 qd = _mm512_load_ps(qt + 16 * d);
                        s0 = _mm512_fmadd_ps(qd, _mm512_set1_ps(k0[d]), s0);
                        s1 = _mm512_fmadd_ps(qd, _mm512_set1_ps(k1[d]), s1);
                    }
                    _mm512_store_ps(sc + 16 * j, s0);
                    _mm512_store_ps(sc + 16 * (j + 1), s1);
                    mx = _mm512_max_ps(mx, _mm512_max_ps(s0, s1));
                }
                if (j < n) {
                    const float *k0 = kb + (size_t)j * H3;
                    __m512 s0 = _mm512_setzero_ps();
                    for (int d = 0; d < hd; d++) s0 = _mm512_fmadd_ps(_mm512_load_ps(qt + 16 * d), _mm512_set1_ps(k0[d]), s0);
                    _mm512_store_ps(sc + 16 * j, s0);
                    mx = _mm512_max_ps(mx, s0);
                }
                __m512 sum = _mm512_setzero_ps();
                for (int j = 0; j < n; j++) {
                    __m512 e = exp16(_mm512_sub_ps(_mm512_load_ps(sc + 16 * j), mx));
                    _mm512_store_ps(sc + 16 * j, e);
                    sum = _mm512_add_ps(sum, e);
                }
                float inv[16] __attribute__((aligned(64)));
                _mm512_store_ps(inv, _mm512_div_ps(_mm512_set1_ps(1.f), sum));
                float *ob = out + (start + i0) * H + h * hd;
                for (int t0 = 0; t0 < rows; t0 += 8) /* eight queries at a time, their rows stored whole */
                    pv_rows(sc + t0, n, vb, H3, hd, inv + t0, rows - t0 < 8 ? rows - t0 : 8, ob + (size_t)t0 * H, H);
            }
        }
        start += (size_t)Lb;
    }
    free(qt);
    free(sc);
    free(kt);
    return 0;
}
#endif

static int kinds(void) {
#if HAVE_KERNELS
    if (cpu_kinds < 0) cpu_kinds = kinds_check();
    return cpu_kinds;
#else
    return 0;
#endif
}

static PyObject *py_kinds(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    int k = kinds();
    PyObject *out = PyList_New(0);
    static const struct { int bit; const char *name; } order[] = {{KIND_AMX, "amx"}, {KIND_VNNI, "vnni"}, {KIND_AVXVNNI, "avxvnni"}, {KIND_AVX2, "avx2"}};
    for (size_t i = 0; out && i < sizeof order / sizeof order[0]; i++) {
        if (!(k & order[i].bit)) continue;
        PyObject *name = PyUnicode_FromString(order[i].name);
        if (!name || PyList_Append(out, name) != 0) Py_CLEAR(out);
        Py_XDECREF(name);
    }
    if (!out) return NULL;
    PyObject *t = PyList_AsTuple(out);
    Py_DECREF(out);
    return t;
}

/* Releases every buffer a call took; a buffer never taken is all zeros, which PyBuffer_Release leaves alone. */
#define RELEASE(...)                                                                \
    do {                                                                            \
        Py_buffer *bufs_[] = {__VA_ARGS__};                                         \
        for (size_t i_ = 0; i_ < sizeof bufs_ / sizeof bufs_[0]; i_++) PyBuffer_Release(bufs_[i_]); \
    } while (0)

static int need(Py_buffer *b, Py_ssize_t bytes, const char *what) {
    if (b->len != bytes) {
        PyErr_Format(PyExc_ValueError, "qgemm: %s has %zd bytes, expected %zd", what, b->len, bytes);
        return 0;
    }
    return 1;
}

/* qgemm(kind, A, M, K, packed, col_sums_int32, col_scale, bias, residual_or_None, N, out, gelu, W_float,
 *       outlier_cols_int32); kind: "amx", "vnni", "avxvnni" or "avx2"; packed: qgemm.pack's int8 tiles (K * N
 *       bytes), for "avx2" the int16 pairs of Packed.pairs16 (K * N * 2 bytes) */
static PyObject *py_qgemm(PyObject *self, PyObject *args) {
    Py_buffer a, bp, csum, cs, bias, out, wf, oc, res = {0};
    PyObject *res_obj;
    const char *kind_name;
    int M, K, N, gelu;
    if (!PyArg_ParseTuple(args, "sy*iiy*y*y*y*Oiw*py*y*", &kind_name, &a, &M, &K, &bp, &csum, &cs, &bias, &res_obj, &N,
                          &out, &gelu, &wf, &oc))
        return NULL;
    int kind = strcmp(kind_name, "amx") == 0       ? KIND_AMX
               : strcmp(kind_name, "vnni") == 0    ? KIND_VNNI
               : strcmp(kind_name, "avxvnni") == 0 ? KIND_AVXVNNI
               : strcmp(kind_name, "avx2") == 0    ? KIND_AVX2
                                                   : 0;
    int ok = 1, have_res = 0, nout = (int)(oc.len / 4);
    if (res_obj != Py_None) {
        if (PyObject_GetBuffer(res_obj, &res, PyBUF_SIMPLE) != 0) ok = 0;
        else have_res = 1;
    }
    if (ok && (oc.len % 4 || nout > MAXOUT)) {
        PyErr_Format(PyExc_ValueError, "qgemm: at most %d outlier columns (int32)", MAXOUT);
        ok = 0;
    }
    for (int o = 0; ok && o < nout; o++) {
        int32_t c = ((const int32_t *)oc.buf)[o];
        if (c < 0 || c >= K) {
            PyErr_Format(PyExc_ValueError, "qgemm: outlier column %d is outside 0..%d", (int)c, K - 1);
            ok = 0;
        }
    }
    ok = ok && need(&wf, (Py_ssize_t)K * N * 4, "float weights");
    if (ok && (M < 0 || K <= 0 || N <= 0 || K % 64 || N % 32)) {
        PyErr_SetString(PyExc_ValueError, "qgemm: K must be a multiple of 64 and N of 32");
        ok = 0;
    }
    ok = ok && need(&a, (Py_ssize_t)M * K * 4, "A") && need(&bp, (Py_ssize_t)K * N * (kind == KIND_AVX2 ? 2 : 1), "packed weights") &&
         need(&csum, (Py_ssize_t)N * 4, "column sums") &&
         need(&cs, (Py_ssize_t)N * 4, "column scales") && need(&bias, (Py_ssize_t)N * 4, "bias") &&
         need(&out, (Py_ssize_t)M * N * 4, "out") && (!have_res || need(&res, (Py_ssize_t)M * N * 4, "residual"));
    if (ok && (kind == 0 || !(kinds() & kind))) {
        PyErr_Format(PyExc_RuntimeError, "qgemm: the %s kernel is not available on this CPU", kind_name);
        ok = 0;
    }
#if HAVE_KERNELS
    if (ok && M > 0) {
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = qgemm_run(kind, a.buf, M, K, bp.buf, csum.buf, cs.buf, bias.buf, have_res ? res.buf : NULL, N, out.buf,
                       gelu, wf.buf, oc.buf, nout);
        Py_END_ALLOW_THREADS
        if (rc != 0) {
            PyErr_NoMemory();
            ok = 0;
        }
    }
#endif
    RELEASE(&a, &bp, &csum, &cs, &bias, &out, &wf, &oc, &res);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static int avx512_ready(void) {
    if (kinds() & KIND_AVX512) return 1;
    PyErr_SetString(PyExc_RuntimeError, "the AVX-512 kernels are not available on this CPU");
    return 0;
}

/* layernorm(x, M, H, w, b, eps): x (M x H float32) in place */
static PyObject *py_layernorm(PyObject *self, PyObject *args) {
    Py_buffer x, w, b;
    int M, H;
    float eps;
    if (!PyArg_ParseTuple(args, "w*iiy*y*f", &x, &M, &H, &w, &b, &eps)) return NULL;
    int ok = 1;
    if (M < 0 || H <= 0 || H % 16) {
        PyErr_SetString(PyExc_ValueError, "layernorm: H must be a positive multiple of 16");
        ok = 0;
    }
    ok = ok && need(&x, (Py_ssize_t)M * H * 4, "x") && need(&w, (Py_ssize_t)H * 4, "weight") &&
         need(&b, (Py_ssize_t)H * 4, "bias") && avx512_ready();
#if HAVE_KERNELS
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        layernorm(x.buf, M, H, w.buf, b.buf, eps);
        Py_END_ALLOW_THREADS
    }
#endif
    RELEASE(&x, &w, &b);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

/* attention(qkv, B, L, NH, hd, lens_int32, out); L == 0: packed texts */
static PyObject *py_attention(PyObject *self, PyObject *args) {
    Py_buffer qkv, lens, out;
    int B, L, NH, hd;
    if (!PyArg_ParseTuple(args, "y*iiiiy*w*", &qkv, &B, &L, &NH, &hd, &lens, &out)) return NULL;
    int ok = 1;
    if (B < 0 || L < 0 || NH <= 0 || hd <= 0 || hd % 16 || hd > 128) {
        PyErr_SetString(PyExc_ValueError, "attention: head size must be a multiple of 16, at most 128");
        ok = 0;
    }
    Py_ssize_t H = (Py_ssize_t)NH * hd;
    Py_ssize_t rows = (Py_ssize_t)B * L; /* L == 0: packed texts, sum(lens) rows */
    if (ok && L == 0 && need(&lens, (Py_ssize_t)B * 4, "lens")) {
        const int32_t *ln = lens.buf;
        for (int bi = 0; bi < B; bi++) {
            if (ln[bi] < 1) {
                PyErr_SetString(PyExc_ValueError, "attention: a packed text has no tokens");
                ok = 0;
                break;
            }
            rows += ln[bi];
        }
    }
    ok = ok && need(&qkv, rows * 3 * H * 4, "qkv") && need(&lens, (Py_ssize_t)B * 4, "lens") &&
         need(&out, rows * H * 4, "out") && avx512_ready();
#if HAVE_KERNELS
    if (ok && B > 0) {
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = attention(qkv.buf, B, L, NH, hd, lens.buf, out.buf);
        Py_END_ALLOW_THREADS
        if (rc != 0) {
            PyErr_NoMemory();
            ok = 0;
        }
    }
#endif
    RELEASE(&qkv, &lens, &out);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

/* ---- float32 bias + GELU for the numpy encoder (CPUs without the int8 kernels) ----------------
 * x[r, j] = gelu(x[r, j] + b[j]) in place, with the same float32 operations in the same order as
 * civicpulse.nlp.e5np's numpy code (`mid += bi; _gelu(mid)`: the rational erf of _erf32), so the
 * result is the same bit for bit: one pass over x instead of about twenty. AVX2, 8 floats at a time
 * (N a multiple of 8); no multiply and add may be fused into one rounding (numpy rounds each), so
 * contraction is off even where the build's flags allow FMA. Where AVX2 is missing, avx2() is False
 * and the encoder keeps its numpy code. */
#if HAVE_KERNELS
#if defined(__clang__)
#define NOFMA
#define NOFMA_BODY _Pragma("clang fp contract(off)")
#else
#define NOFMA __attribute__((optimize("fp-contract=off")))
#define NOFMA_BODY
#endif
NOFMA __attribute__((target("avx2"))) static void bias_gelu_avx2(float *x, const float *b, Py_ssize_t M,
                                                                  Py_ssize_t N) {
    NOFMA_BODY
    const __m256 c = _mm256_set1_ps(0.70710678118654752f), lo = _mm256_set1_ps(-4.0f), hi = _mm256_set1_ps(4.0f);
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    for (Py_ssize_t r = 0; r < M; r++) {
        float *row = x + r * N;
        for (Py_ssize_t j = 0; j < N; j += 8) {
            __m256 s = _mm256_add_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(b + j));
            __m256 u = _mm256_mul_ps(s, c);
            u = _mm256_min_ps(hi, _mm256_max_ps(lo, u)); /* max/min return the 2nd operand for NaN: kept */
            __m256 x2 = _mm256_mul_ps(u, u);
            __m256 p = _mm256_add_ps(_mm256_mul_ps(x2, _mm256_set1_ps(ERF_P[0])), _mm256_set1_ps(ERF_P[1]));
            for (int i = 2; i < 7; i++) p = _mm256_add_ps(_mm256_mul_ps(p, x2), _mm256_set1_ps(ERF_P[i]));
            p = _mm256_mul_ps(p, u);
            __m256 q = _mm256_add_ps(_mm256_mul_ps(x2, _mm256_set1_ps(ERF_Q[0])), _mm256_set1_ps(ERF_Q[1]));
            for (int i = 2; i < 5; i++) q = _mm256_add_ps(_mm256_mul_ps(q, x2), _mm256_set1_ps(ERF_Q[i]));
            p = _mm256_mul_ps(_mm256_add_ps(_mm256_div_ps(p, q), one), half);
            _mm256_storeu_ps(row + j, _mm256_mul_ps(s, p));
        }
    }
}
#endif

static int avx2_ok(void) {
#if HAVE_KERNELS
    static int ok = -1;
    if (ok < 0) {
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return ok;
#else
    return 0;
#endif
}

static PyObject *py_avx2(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyBool_FromLong(avx2_ok());
}

/* bias_gelu(x, M, N, b): float32 x (M x N, C order, N % 8 == 0, written in place), b (N); needs avx2() */
static PyObject *py_bias_gelu(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer x, b;
    int M, N;
    if (!PyArg_ParseTuple(args, "w*iiy*", &x, &M, &N, &b)) return NULL;
    int ok = M >= 0 && N > 0 && N % 8 == 0;
    if (!ok) PyErr_SetString(PyExc_ValueError, "bias_gelu: need M >= 0 and N a positive multiple of 8");
    ok = ok && need(&x, (Py_ssize_t)M * N * 4, "x") && need(&b, (Py_ssize_t)N * 4, "bias");
    if (ok && !avx2_ok()) {
        PyErr_SetString(PyExc_RuntimeError, "bias_gelu: this CPU or build has no AVX2");
        ok = 0;
    }
#if HAVE_KERNELS
    if (ok) {
        float *xf = x.buf;
        const float *bf = b.buf;
        Py_BEGIN_ALLOW_THREADS
        bias_gelu_avx2(xf, bf, M, N);
        Py_END_ALLOW_THREADS
    }
#endif
    RELEASE(&x, &b);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"kinds", py_kinds, METH_NOARGS, "The int8 kernels this CPU and OS can run, best first, of 'amx', 'vnni', 'avxvnni', 'avx2'."},
    {"layernorm", py_layernorm, METH_VARARGS, "LayerNorm of each row, in place (AVX-512)."},
    {"attention", py_attention, METH_VARARGS, "Self-attention of a padded batch (AVX-512)."},
    {"qgemm", py_qgemm, METH_VARARGS, "int8 matrix product (AMX, AVX-512 VNNI, AVX-VNNI or AVX2) with row/column scales, bias, GELU, residual."},
    {"avx2", py_avx2, METH_NOARGS, "Whether bias_gelu can run here (AVX2)."},
    {"bias_gelu", py_bias_gelu, METH_VARARGS, "x = gelu(x + b) in place, float32, as the numpy encoder computes it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_qgemm", NULL, -1, methods};

PyMODINIT_FUNC PyInit__qgemm(void) { return PyModule_Create(&module); }
