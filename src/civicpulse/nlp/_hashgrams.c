/* Hashed n-gram indices for the fast classifiers' features (civicpulse.nlp.features).
 *
 * One call turns a list of documents into the column indices of scikit-learn's HashingVectorizer
 * (MurmurHash3_x86_32 of the UTF-8 bytes, seed 0, index = |h| mod n_features), in the order that
 * HashingVectorizer's analyzers produce the features:
 *   mode 0, "char_wb": for each whitespace-separated word w, padded as " " + w + " ", the character
 *           n-grams for n = nmin..nmax, a word shorter than n counted once (sklearn's _char_wb_ngrams);
 *   mode 1, "word":    the whitespace-separated tokens, then their n-grams for n = max(nmin, 2)..nmax
 *           joined by one space (sklearn's _word_ngrams with token_pattern \S+).
 * Whitespace is what str.split() and the regex \s treat as whitespace (Py_UNICODE_ISSPACE).
 * A lone surrogate (no UTF-8 form) raises UnicodeError, as HashingVectorizer's encode() does.
 * The caller builds the sparse matrix from the indices (ones, duplicates summed, rows normalised)
 * exactly as HashingVectorizer does, so the features are the same, bit for bit; a test checks it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint32_t murmur3_32(const uint8_t *key, size_t len) {
    const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
    uint32_t h = 0; /* seed 0 */
    size_t nblocks = len / 4;
    for (size_t i = 0; i < nblocks; i++) {
        uint32_t k;
        memcpy(&k, key + 4 * i, 4); /* little-endian block, as the reference on x86 */
        k *= c1;
        k = (k << 15) | (k >> 17);
        k *= c2;
        h ^= k;
        h = (h << 13) | (h >> 19);
        h = h * 5 + 0xe6546b64u;
    }
    const uint8_t *tail = key + nblocks * 4;
    uint32_t k1 = 0;
    switch (len & 3) {
    case 3: k1 ^= (uint32_t)tail[2] << 16; /* fall through */
    case 2: k1 ^= (uint32_t)tail[1] << 8;  /* fall through */
    case 1:
        k1 ^= tail[0];
        k1 *= c1;
        k1 = (k1 << 15) | (k1 >> 17);
        k1 *= c2;
        h ^= k1;
    }
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static int32_t bucket(const uint8_t *key, size_t len, int32_t n_features) {
    int32_t h = (int32_t)murmur3_32(key, len);
    if (h == INT32_MIN) /* as sklearn: abs() would overflow */
        return (int32_t)((2147483647 - (int64_t)(n_features - 1)) % n_features);
    return (h < 0 ? -h : h) % n_features;
}

/* UTF-8 bytes of code points [a, b) of the string, into buf (4 bytes per code point at most). */
static size_t utf8_of(int kind, const void *data, Py_ssize_t a, Py_ssize_t b, uint8_t *buf) {
    size_t n = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            buf[n++] = (uint8_t)c;
        } else if (c < 0x800) {
            buf[n++] = (uint8_t)(0xc0 | (c >> 6));
            buf[n++] = (uint8_t)(0x80 | (c & 0x3f));
        } else if (c >= 0xd800 && c < 0xe000) { /* a lone surrogate has no UTF-8 form */
            return (size_t)-1;
        } else if (c < 0x10000) {
            buf[n++] = (uint8_t)(0xe0 | (c >> 12));
            buf[n++] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
            buf[n++] = (uint8_t)(0x80 | (c & 0x3f));
        } else {
            buf[n++] = (uint8_t)(0xf0 | (c >> 18));
            buf[n++] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
            buf[n++] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
            buf[n++] = (uint8_t)(0x80 | (c & 0x3f));
        }
    }
    return n;
}

typedef struct {
    int32_t *v;
    size_t n, cap;
} ivec;

static int push(ivec *a, int32_t x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4096;
        int32_t *v = realloc(a->v, cap * sizeof(int32_t));
        if (!v)
            return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

typedef struct {
    uint8_t *b;
    size_t cap;
} bbuf;

static uint8_t *room(bbuf *s, size_t need) {
    if (need > s->cap) {
        size_t cap = need < 256 ? 256 : need * 2;
        uint8_t *b = realloc(s->b, cap);
        if (!b)
            return NULL;
        s->b = b;
        s->cap = cap;
    }
    return s->b;
}

/* The next whitespace-separated word of doc at or after *i: sets [*s, *i) and returns 1, or 0 at the end. */
static int next_word(int kind, const void *data, Py_ssize_t len, Py_ssize_t *i, Py_ssize_t *s) {
    while (*i < len && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, *i)))
        (*i)++;
    if (*i >= len)
        return 0;
    *s = *i;
    while (*i < len && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, *i)))
        (*i)++;
    return 1;
}

/* char_wb n-grams of one document */
static int char_wb(PyObject *doc, int nmin, int nmax, int32_t nf, ivec *out, bbuf *buf, bbuf *offs) {
    int kind = PyUnicode_KIND(doc);
    const void *data = PyUnicode_DATA(doc);
    Py_ssize_t len = PyUnicode_GET_LENGTH(doc), i = 0, s;
    while (next_word(kind, data, len, &i, &s)) {
        /* padded word " " + doc[s:i] + " ": its UTF-8 bytes, and the byte offset of each code point */
        Py_ssize_t wl = i - s + 2;
        uint8_t *b = room(buf, (size_t)(i - s) * 4 + 2);
        size_t *off = (size_t *)room(offs, (size_t)(wl + 1) * sizeof(size_t));
        if (!b || !off)
            return -1;
        size_t n = 0;
        off[0] = 0;
        b[n++] = ' ';
        off[1] = n;
        for (Py_ssize_t j = s; j < i; j++) {
            size_t m = utf8_of(kind, data, j, j + 1, b + n);
            if (m == (size_t)-1)
                return -2;
            n += m;
            off[j - s + 2] = n;
        }
        b[n++] = ' ';
        off[wl] = n;
        for (int g = nmin; g <= nmax; g++) {
            if (g >= wl) { /* the whole padded word, once, and no longer n-grams */
                if (push(out, bucket(b, off[wl], nf)))
                    return -1;
                break;
            }
            for (Py_ssize_t a = 0; a + g <= wl; a++)
                if (push(out, bucket(b + off[a], off[a + g] - off[a], nf)))
                    return -1;
        }
    }
    return 0;
}

/* word n-grams of one document (tokens = whitespace-separated runs) */
static int words(PyObject *doc, int nmin, int nmax, int32_t nf, ivec *out, bbuf *buf, ivec *tok) {
    int kind = PyUnicode_KIND(doc);
    const void *data = PyUnicode_DATA(doc);
    Py_ssize_t len = PyUnicode_GET_LENGTH(doc), i = 0, s;
    tok->n = 0;
    while (next_word(kind, data, len, &i, &s))
        if (push(tok, (int32_t)s) || push(tok, (int32_t)i))
            return -1;
    Py_ssize_t nt = (Py_ssize_t)tok->n / 2;
    for (int g = nmin; g <= nmax && g <= nt; g++) {
        if (g == 0)
            continue;
        for (Py_ssize_t a = 0; a + g <= nt; a++) {
            size_t need = 0;
            for (int k = 0; k < g; k++)
                need += (size_t)(tok->v[2 * (a + k) + 1] - tok->v[2 * (a + k)]) * 4 + 1;
            uint8_t *b = room(buf, need);
            if (!b)
                return -1;
            size_t n = 0;
            for (int k = 0; k < g; k++) {
                if (k)
                    b[n++] = ' ';
                size_t m = utf8_of(kind, data, tok->v[2 * (a + k)], tok->v[2 * (a + k) + 1], b + n);
                if (m == (size_t)-1)
                    return -2;
                n += m;
            }
            if (push(out, bucket(b, n, nf)))
                return -1;
        }
    }
    return 0;
}

static PyObject *hash_ngrams(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *docs;
    int mode, nmin, nmax;
    int n_features;
    if (!PyArg_ParseTuple(args, "Oiiii", &docs, &mode, &nmin, &nmax, &n_features))
        return NULL;
    if (nmin < 1 || nmax < nmin || n_features < 1 || (mode != 0 && mode != 1)) {
        PyErr_SetString(PyExc_ValueError, "hash_ngrams: bad mode, n-gram range or n_features");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(docs, "hash_ngrams: docs must be a sequence of str");
    if (!seq)
        return NULL;
    Py_ssize_t nd = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    ivec out = {0}, tok = {0};
    bbuf buf = {0}, offs = {0};
    int64_t *indptr = malloc((size_t)(nd + 1) * sizeof(int64_t));
    PyObject *res = NULL;
    if (!indptr) {
        PyErr_NoMemory();
        goto done;
    }
    indptr[0] = 0;
    for (Py_ssize_t d = 0; d < nd; d++) {
        PyObject *doc = items[d];
        if (!PyUnicode_Check(doc)) {
            PyErr_Format(PyExc_TypeError, "hash_ngrams: document %zd is not a str", d);
            goto done;
        }
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(doc) < 0) /* a legacy string not yet in its canonical form */
            goto done;
#endif
        if (PyUnicode_GET_LENGTH(doc) > INT32_MAX) { /* word offsets are kept as int32 */
            PyErr_Format(PyExc_ValueError, "hash_ngrams: document %zd is longer than 2**31 characters", d);
            goto done;
        }
        int rc = mode == 0 ? char_wb(doc, nmin, nmax, n_features, &out, &buf, &offs)
                           : words(doc, nmin, nmax, n_features, &out, &buf, &tok);
        if (rc == -2) {
            PyErr_Format(PyExc_UnicodeError, "hash_ngrams: document %zd has a lone surrogate (no UTF-8 form)", d);
            goto done;
        }
        if (rc) {
            PyErr_NoMemory();
            goto done;
        }
        indptr[d + 1] = (int64_t)out.n;
    }
    {
        PyObject *ind = PyBytes_FromStringAndSize((const char *)out.v, (Py_ssize_t)(out.n * sizeof(int32_t)));
        PyObject *ptr = PyBytes_FromStringAndSize((const char *)indptr, (Py_ssize_t)((nd + 1) * sizeof(int64_t)));
        if (ind && ptr)
            res = PyTuple_Pack(2, ind, ptr);
        Py_XDECREF(ind);
        Py_XDECREF(ptr);
    }
done:
    free(out.v);
    free(tok.v);
    free(buf.b);
    free(offs.b);
    free(indptr);
    Py_DECREF(seq);
    return res;
}

static PyMethodDef methods[] = {
    {"hash_ngrams", hash_ngrams, METH_VARARGS,
     "hash_ngrams(docs, mode, nmin, nmax, n_features) -> (int32 indices bytes, int64 indptr bytes); "
     "mode 0 = char_wb, 1 = word n-grams"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hashgrams", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__hashgrams(void) { return PyModule_Create(&module); }
