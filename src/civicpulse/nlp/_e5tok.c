/* The Viterbi search of the e5 tokenizer (civicpulse.nlp.e5np.Tokenizer.content_ids), compiled.
 *
 * table(pieces, ids, scores) builds a hash table of the SentencePiece pieces (code point strings) with
 * their ids and scores, and of the pieces' 2- and 3-character beginnings with the length of the longest
 * piece that starts with each (the bound of Tokenizer._longest_from). viterbi(table, s, unk, unk_score,
 * max_chars) runs on a normalised string s (spaces already written as U+2581) exactly the loop of
 * content_ids: the same candidates in the same order, the same float64 sums and the same strict
 * comparisons, so the ids are the same for every text (a test compares the two on the shared corpora).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {   /* 16 bytes: the table of e5-small's 250,000 pieces takes 8 MB */
    uint32_t off;   /* the key's code points in the pool */
    int32_t id;     /* the piece's id, or -1 when the key is only a beginning of pieces */
    float score;    /* the piece's score (float32 in the model file; summed in float64) */
    uint16_t len;   /* 0: empty slot; keys have at most 255 characters */
    uint16_t reach; /* for a 2- or 3-character key: the longest piece beginning with it (0: none) */
} entry_t;

typedef struct {
    entry_t *slots;
    size_t mask, count;
    Py_UCS4 *pool;
    size_t pool_len, pool_cap;
} table_t;

static const char *CAPSULE = "civicpulse.nlp._e5tok.table";

static inline uint64_t hash_step(uint64_t h, Py_UCS4 c) { return (h ^ (uint64_t)c) * 0x100000001b3ULL; }
static const uint64_t HASH0 = 0xcbf29ce484222325ULL;

static uint64_t hash_of(const Py_UCS4 *s, size_t n) {
    uint64_t h = HASH0;
    for (size_t i = 0; i < n; i++) h = hash_step(h, s[i]);
    return h;
}

/* The slot of key s[0:n] with hash h: its entry, or the empty slot where it would go. */
static entry_t *find(const table_t *t, uint64_t h, const Py_UCS4 *s, size_t n) {
    size_t i = (size_t)(h ^ (h >> 29)) & t->mask;
    for (;;) {
        entry_t *e = &t->slots[i];
        if (e->len == 0) return e;
        if (e->len == n && memcmp(t->pool + e->off, s, n * sizeof(Py_UCS4)) == 0) return e;
        i = (i + 1) & t->mask;
    }
}

/* Twice the slots, the entries placed again (the table stays under 2/3 full). 0 when out of memory. */
static int grow(table_t *t) {
    size_t size = (t->mask + 1) * 2;
    entry_t *old = t->slots, *slots = calloc(size, sizeof(entry_t));
    if (!slots) return 0;
    size_t old_size = t->mask + 1;
    t->slots = slots;
    t->mask = size - 1;
    for (size_t i = 0; i < old_size; i++) {
        if (!old[i].len) continue;
        const Py_UCS4 *k = t->pool + old[i].off;
        *find(t, hash_of(k, old[i].len), k, old[i].len) = old[i];
    }
    free(old);
    return 1;
}

/* The entry of key s[0:n], added (id -1, reach 0) if missing. */
static entry_t *get_or_add(table_t *t, const Py_UCS4 *s, size_t n) {
    entry_t *e = find(t, hash_of(s, n), s, n);
    if (e->len) return e;
    if ((t->count + 1) * 3 > (t->mask + 1) * 2) {
        if (!grow(t)) return NULL;
        e = find(t, hash_of(s, n), s, n);
    }
    if (t->pool_len + n > t->pool_cap) {
        size_t cap = (t->pool_cap + n) * 2;
        Py_UCS4 *p = realloc(t->pool, cap * sizeof(Py_UCS4));
        if (!p) return NULL;
        t->pool = p;
        t->pool_cap = cap;
    }
    memcpy(t->pool + t->pool_len, s, n * sizeof(Py_UCS4));
    e->off = (uint32_t)t->pool_len;
    e->len = (uint16_t)n;
    e->id = -1;
    e->reach = 0;
    e->score = 0.f;
    t->pool_len += n;
    t->count++;
    return e;
}

static void table_free(PyObject *cap) {
    table_t *t = PyCapsule_GetPointer(cap, CAPSULE);
    if (!t) return;
    free(t->slots);
    free(t->pool);
    free(t);
}

/* table(pieces: list[str], ids: list[int], scores: list[float]) -> capsule */
static PyObject *py_table(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *pieces, *ids, *scores;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyList_Type, &pieces, &PyList_Type, &ids, &PyList_Type, &scores)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(pieces);
    if (PyList_GET_SIZE(ids) != n || PyList_GET_SIZE(scores) != n) {
        PyErr_SetString(PyExc_ValueError, "table: pieces, ids and scores differ in length");
        return NULL;
    }
    table_t *t = calloc(1, sizeof(table_t));
    if (!t) return PyErr_NoMemory();
    size_t size = 1024;
    while (size < (size_t)n * 2) size <<= 1; /* pieces and their 2- and 3-character beginnings; grown past 2/3 */
    t->slots = calloc(size, sizeof(entry_t));
    t->mask = size - 1;
    if (!t->slots) {
        free(t);
        return PyErr_NoMemory();
    }
    Py_UCS4 buf[256];
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PyList_GET_ITEM(pieces, i);
        if (!PyUnicode_Check(p)) {
            PyErr_SetString(PyExc_TypeError, "table: a piece is not a str");
            goto fail;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(p);
        if (len < 1) continue;
        if (len > 255) {
            PyErr_SetString(PyExc_ValueError, "table: a piece of more than 255 characters");
            goto fail;
        }
        if (!PyUnicode_AsUCS4(p, buf, 256, 0)) goto fail;
        long id = PyLong_AsLong(PyList_GET_ITEM(ids, i));
        double sc = PyFloat_AsDouble(PyList_GET_ITEM(scores, i));
        if (PyErr_Occurred()) goto fail;
        entry_t *e = get_or_add(t, buf, (size_t)len);
        if (!e) goto nomem;
        if (e->id < 0) { /* the first piece wins, as in the dict the caller built */
            e->id = (int32_t)id;
            e->score = (float)sc;
            if ((double)e->score != sc) {
                PyErr_SetString(PyExc_ValueError, "table: a score that is not a float32 value");
                goto fail;
            }
        }
        for (Py_ssize_t k = 2; k <= 3; k++) {
            if (len < k) break;
            entry_t *b = get_or_add(t, buf, (size_t)k);
            if (!b) goto nomem;
            if (b->reach < len) b->reach = (uint16_t)len;
        }
    }
    PyObject *cap = PyCapsule_New(t, CAPSULE, table_free);
    if (!cap) goto fail;
    return cap;
nomem:
    PyErr_NoMemory();
fail:
    free(t->slots);
    free(t->pool);
    free(t);
    return NULL;
}

/* The reach of key s[0:n] (a 2- or 3-character beginning), or dflt where there is none. */
static inline int reach_of(const table_t *t, const Py_UCS4 *s, size_t n, int dflt) {
    entry_t *e = find(t, hash_of(s, n), s, n);
    return e->len && e->reach > 0 ? (int)e->reach : dflt;
}

/* viterbi(table, s: str, unk: int, unk_score: float, max_chars: int) -> list[int] */
static PyObject *py_viterbi(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *cap, *str;
    int unk, mp;
    double us;
    if (!PyArg_ParseTuple(args, "OUidi", &cap, &str, &unk, &us, &mp)) return NULL;
    const table_t *t = PyCapsule_GetPointer(cap, CAPSULE);
    if (!t) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(str);
    Py_UCS4 *s = PyUnicode_AsUCS4Copy(str);
    double *best = malloc(sizeof(double) * (size_t)(n + 1));
    int32_t *bp = malloc(sizeof(int32_t) * (size_t)(n + 1));
    Py_ssize_t *bf = malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
    PyObject *out = NULL;
    if (!s || !best || !bp || !bf) {
        if (s) PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i <= n; i++) {
        best[i] = -1e30;
        bp[i] = 0;
        bf[i] = 0;
    }
    best[0] = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        double bi = best[i];
        if (bi <= -1e29) continue;
        /* Tokenizer._longest_from: no piece starting here is longer (s[i:i+2] and s[i:i+3] as Python
         * slices them: shorter at the end of the string) */
        Py_ssize_t k2 = n - i < 2 ? n - i : 2, k3 = n - i < 3 ? n - i : 3;
        int r2 = k2 == 2 ? reach_of(t, s + i, 2, 1) : 1;
        int longest = r2 <= 2 ? r2 : (k3 == 3 ? reach_of(t, s + i, 3, 2) : reach_of(t, s + i, (size_t)k3, 2));
        Py_ssize_t end = n;
        if (i + mp < end) end = i + mp;
        if (i + longest < end) end = i + longest;
        uint64_t h = HASH0;
        for (Py_ssize_t e = i + 1; e <= end; e++) {
            h = hash_step(h, s[e - 1]);
            const entry_t *en = find(t, h, s + i, (size_t)(e - i));
            if (en->len && en->id >= 0 && en->id != unk) {
                double sc = bi + (double)en->score;
                if (sc > best[e]) {
                    best[e] = sc;
                    bp[e] = en->id;
                    bf[e] = i;
                }
            }
        }
        double u = bi + us;
        if (u > best[i + 1]) {
            best[i + 1] = u;
            bp[i + 1] = -1;
            bf[i + 1] = i;
        }
    }
    Py_ssize_t count = 0;
    for (Py_ssize_t i = n; i > 0; i = bf[i]) count++;
    out = PyList_New(count);
    if (!out) goto done;
    for (Py_ssize_t i = n, j = count - 1; i > 0; i = bf[i], j--) {
        PyObject *v = PyLong_FromLong(bp[i] < 0 ? unk : bp[i]);
        if (!v) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, j, v);
    }
done:
    PyMem_Free(s);
    free(best);
    free(bp);
    free(bf);
    return out;
}

static PyMethodDef methods[] = {
    {"table", py_table, METH_VARARGS, "Hash table of the tokenizer's pieces (a capsule for viterbi)."},
    {"viterbi", py_viterbi, METH_VARARGS, "Token ids of a normalised string (Tokenizer.content_ids's search)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_e5tok", "The e5 tokenizer's search, compiled.", -1, methods};

PyMODINIT_FUNC PyInit__e5tok(void) { return PyModule_Create(&module); }
