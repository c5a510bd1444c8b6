/* Thai word segmentation by PyThaiNLP's newmm (maximal matching on Thai Character Cluster
 * boundaries), compiled, for runs of Thai letters (civicpulse.nlp.segment).
 *
 * A port of pythainlp.tokenize.newmm (PyThaiNLP, Apache License 2.0; algorithm by Korakot
 * Chaovavanich) restricted to text made only of the Thai letters, vowels, tone marks and signs
 * U+0E01-U+0E4F, U+0E5A and U+0E5B (no digits, spaces or other scripts: the runs our segmenter hands
 * to newmm). On such text it makes the same steps in the same order, so it returns the same words:
 *
 * - cluster boundaries: PyThaiNLP's TCC rules (pythainlp.tokenize.tcc_p._RE_TCC), passed in as
 *   they are and compiled here into a small backtracking matcher that tries the alternatives in
 *   order, as Python's re.match does (the first rule that matches wins, not the longest);
 * - the dictionary: the words of newmm's default trie (passed in); words holding other characters
 *   can never match inside such a run and are left out;
 * - the loop of newmm._onecut: the queue of candidate break positions, the graph of dictionary
 *   words with its size limit (50), the breadth-first search for the first path when one
 *   candidate is left, and the skip over an unknown word (to the next position where a word of more
 *   than two consonants starts).
 *
 * table(words, rules) builds a capsule; segment(table, text) returns the list of words, or raises
 * ValueError for text outside those characters (the caller then uses PyThaiNLP itself). A test
 * compares the two on every Thai run of the shared corpora and on random strings.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BASE 0x0E00 /* the Thai block: characters are indexed from here, 0..127 */
#define MAX_GRAPH 50 /* newmm._MAX_GRAPH_SIZE */

static inline int run_char(Py_UCS4 c) { return (c >= 0x0E01 && c <= 0x0E4F) || c == 0x0E5A || c == 0x0E5B; }

/* ---------------------------------------------------------------- the TCC rules */

typedef struct {
    uint8_t op;  /* OP_* */
    uint8_t end; /* LOOK: the end of the text matches too */
    int x, y;    /* SPLIT: first x, then y */
    uint64_t set[2]; /* CLASS, LOOK: characters BASE + i */
} inst_t;

enum { OP_CLASS, OP_SPLIT, OP_LOOK, OP_MATCH };

#define MAX_RULES 64

typedef struct {
    inst_t *code;
    int n, cap;
    const char *err; /* set when a rule uses syntax this compiler does not know */
    int n_rules, start[MAX_RULES]; /* each rule's first instruction */
    uint64_t first[128]; /* per character: the rules that can match a text starting with it (bit r) */
} prog_t;

static int emit(prog_t *p, inst_t in) {
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 256;
        inst_t *c = realloc(p->code, sizeof(inst_t) * (size_t)cap);
        if (!c) {
            p->err = "out of memory";
            return -1;
        }
        p->code = c;
        p->cap = cap;
    }
    p->code[p->n] = in;
    return p->n++;
}

static void set_add(uint64_t *set, Py_UCS4 c) {
    if (c >= BASE && c < BASE + 128) set[(c - BASE) >> 6] |= 1ULL << ((c - BASE) & 63);
}

static inline int set_has(const uint64_t *set, Py_UCS4 c) {
    return c >= BASE && c < BASE + 128 && ((set[(c - BASE) >> 6] >> ((c - BASE) & 63)) & 1);
}

typedef struct {
    const Py_UCS4 *s;
    Py_ssize_t n, i;
} src_t;

/* [...]: characters and ranges a-b (no negation). s->i is after the '['. A ']' right after the '[' is
 * a character to Python's re, not the end: refused, like the other forms this parser does not know. */
static int parse_class(prog_t *p, src_t *s, uint64_t *set) {
    int first = 1;
    if (s->i < s->n && s->s[s->i] == ']') {
        p->err = "unsupported character class";
        return -1;
    }
    while (s->i < s->n && s->s[s->i] != ']') {
        Py_UCS4 c = s->s[s->i++];
        if ((first && c == '^') || c == '\\' || c == '[') {
            p->err = "unsupported character class";
            return -1;
        }
        first = 0;
        if (s->i + 1 < s->n && s->s[s->i] == '-' && s->s[s->i + 1] != ']') {
            Py_UCS4 hi = s->s[s->i + 1];
            s->i += 2;
            if (hi < c) {
                p->err = "bad range";
                return -1;
            }
            for (Py_UCS4 x = c; x <= hi; x++) set_add(set, x);
        } else {
            set_add(set, c);
        }
    }
    if (s->i >= s->n) {
        p->err = "unterminated character class";
        return -1;
    }
    s->i++; /* ']' */
    return 0;
}

static int parse_seq(prog_t *p, src_t *s, int in_group);

/* One atom and its '?' if any. 0, or -1 on error. */
static int parse_atom(prog_t *p, src_t *s) {
    Py_UCS4 c = s->s[s->i];
    int start = p->n;
    int is_look = 0;
    if (c == '[') {
        s->i++;
        inst_t in = {OP_CLASS, 0, 0, 0, {0, 0}};
        if (parse_class(p, s, in.set) < 0 || emit(p, in) < 0) return -1;
    } else if (c == '(' && s->i + 2 < s->n && s->s[s->i + 1] == '?' && s->s[s->i + 2] == '=') {
        /* (?=A|B|...): each alternative one class, one character or '$' */
        s->i += 3;
        inst_t in = {OP_LOOK, 0, 0, 0, {0, 0}};
        for (;;) {
            if (s->i >= s->n) {
                p->err = "unterminated lookahead";
                return -1;
            }
            Py_UCS4 d = s->s[s->i++];
            if (d == '[') {
                if (parse_class(p, s, in.set) < 0) return -1;
            } else if (d == '$') {
                in.end = 1;
            } else if (d == '(' || d == ')' || d == '|' || d == '?' || d == '\\' || d == '.' || d == '*' || d == '+') {
                p->err = "unsupported lookahead";
                return -1;
            } else {
                set_add(in.set, d);
            }
            if (s->i >= s->n) {
                p->err = "unterminated lookahead";
                return -1;
            }
            d = s->s[s->i++];
            if (d == ')') break;
            if (d != '|') {
                p->err = "unsupported lookahead";
                return -1;
            }
        }
        if (emit(p, in) < 0) return -1;
        is_look = 1;
    } else if (c == '(') {
        if (s->i + 1 < s->n && s->s[s->i + 1] == '?') {
            p->err = "unsupported group";
            return -1;
        }
        s->i++;
        if (parse_seq(p, s, 1) < 0) return -1;
        if (s->i >= s->n || s->s[s->i] != ')') {
            p->err = "unterminated group";
            return -1;
        }
        s->i++;
    } else if (c == '\\' || c == '.' || c == '*' || c == '+' || c == '{' || c == '^' || c == '$' || c == '|' ||
               c == ')' || c == '?') {
        p->err = "unsupported syntax";
        return -1;
    } else {
        s->i++;
        inst_t in = {OP_CLASS, 0, 0, 0, {0, 0}};
        set_add(in.set, c);
        if (emit(p, in) < 0) return -1;
    }
    if (s->i < s->n && (s->s[s->i] == '*' || s->s[s->i] == '+' || s->s[s->i] == '{')) {
        p->err = "unsupported quantifier";
        return -1;
    }
    if (s->i < s->n && s->s[s->i] == '?') {
        s->i++;
        if (is_look || (s->i < s->n && s->s[s->i] == '?')) {
            p->err = "unsupported quantifier";
            return -1;
        }
        /* greedy optional: SPLIT(atom, after) in front of the atom's code */
        int len = p->n - start;
        if (emit(p, (inst_t){0}) < 0) return -1;
        memmove(p->code + start + 1, p->code + start, sizeof(inst_t) * (size_t)len);
        for (int k = start + 1; k < p->n; k++) { /* the atom's own jumps move by one */
            if (p->code[k].op == OP_SPLIT) {
                p->code[k].x++;
                p->code[k].y++;
            }
        }
        p->code[start] = (inst_t){OP_SPLIT, 0, start + 1, p->n, {0, 0}};
    }
    return 0;
}

/* A sequence of atoms, up to ')' (in a group), '|' or the end. */
static int parse_seq(prog_t *p, src_t *s, int in_group) {
    while (s->i < s->n) {
        Py_UCS4 c = s->s[s->i];
        if (c == ')') {
            if (!in_group) {
                p->err = "unbalanced ')'";
                return -1;
            }
            return 0;
        }
        if (c == '|') {
            p->err = "unsupported alternation";
            return -1;
        }
        if (parse_atom(p, s) < 0) return -1;
    }
    return 0;
}

/* Each rule's code, ending in MATCH, from p->start[r]; rules_match tries them in order. */
static int compile_rules(prog_t *p, PyObject *rules) {
    Py_ssize_t nr = PyList_GET_SIZE(rules);
    if (nr > MAX_RULES) {
        p->err = "too many rules";
        return -1;
    }
    p->n_rules = (int)nr;
    for (Py_ssize_t r = 0; r < nr; r++) {
        PyObject *o = PyList_GET_ITEM(rules, r);
        if (!PyUnicode_Check(o)) {
            p->err = "rules must be strings";
            return -1;
        }
        Py_UCS4 *u = PyUnicode_AsUCS4Copy(o);
        if (!u) return -2;
        src_t s = {u, PyUnicode_GET_LENGTH(o), 0};
        p->start[r] = p->n;
        int bad = s.n == 0 || parse_seq(p, &s, 0) < 0 || s.i != s.n || emit(p, (inst_t){OP_MATCH, 0, 0, 0, {0, 0}}) < 0;
        PyMem_Free(u);
        if (bad) {
            if (!p->err) p->err = s.n == 0 ? "empty rule" : "unsupported syntax";
            return -1;
        }
    }
    /* A rule whose first instruction is a character class can only match text starting with one of
     * its characters; any other rule is tried everywhere. */
    for (int c = 0; c < 128; c++)
        for (int r = 0; r < p->n_rules; r++) {
            const inst_t *in = &p->code[p->start[r]];
            if (in->op != OP_CLASS || ((in->set[c >> 6] >> (c & 63)) & 1)) p->first[c] |= 1ULL << r;
        }
    return 0;
}

/* Backtracking run of a rule's code from instruction pc at position i: the end of its first match in
 * re's order of preference (a greedy '?' tries the atom first), or -1. The rules have no loops, so
 * this ends. */
static Py_ssize_t vm_run(const inst_t *code, int pc, const Py_UCS4 *t, Py_ssize_t n, Py_ssize_t i) {
    for (;;) {
        const inst_t *in = &code[pc];
        switch (in->op) {
        case OP_CLASS:
            if (i >= n || !set_has(in->set, t[i])) return -1;
            i++;
            pc++;
            break;
        case OP_LOOK:
            if (!((i >= n && in->end) || (i < n && set_has(in->set, t[i])))) return -1;
            pc++;
            break;
        case OP_SPLIT: {
            Py_ssize_t r = vm_run(code, in->x, t, n, i);
            if (r >= 0) return r;
            pc = in->y;
            break;
        }
        default: /* OP_MATCH */
            return i;
        }
    }
}

/* The end of the first rule, in order, that matches at i (re.match of the alternation), or -1. */
static Py_ssize_t rules_match(const prog_t *p, const Py_UCS4 *t, Py_ssize_t n, Py_ssize_t i) {
    uint64_t cand = p->first[t[i] - BASE]; /* t[i] is a run character */
    while (cand) {
        int r = __builtin_ctzll(cand);
        cand &= cand - 1;
        Py_ssize_t e = vm_run(p->code, p->start[r], t, n, i);
        if (e >= 0) return e;
    }
    return -1;
}

/* ---------------------------------------------------------------- the dictionary */

typedef struct {
    int32_t first; /* the node's children: kids[first .. first + count) sorted by character */
    uint16_t count;
    uint8_t end; /* a word ends here */
} node_t;

typedef struct {
    uint8_t ch;    /* character - BASE */
    int32_t child;
} kid_t;

typedef struct {
    node_t *nodes;
    kid_t *kids;
    int32_t n_nodes;
    int32_t root_kids[128]; /* the root's children by character, -1 when none */
    prog_t prog;
} table_t;

static const char *CAPSULE = "civicpulse.nlp._newmm.table";

static inline int32_t child_of(const table_t *t, int32_t node, Py_UCS4 c) {
    unsigned ch = (unsigned)(c - BASE);
    if (node == 0) return t->root_kids[ch];
    const node_t *nd = &t->nodes[node];
    const kid_t *k = t->kids + nd->first;
    int lo = 0, hi = nd->count;
    while (lo < hi) { /* few children: a short search */
        int mid = (lo + hi) >> 1;
        if (k[mid].ch < ch) lo = mid + 1;
        else hi = mid;
    }
    return lo < nd->count && k[lo].ch == ch ? k[lo].child : -1;
}

static void table_free(table_t *t) {
    if (!t) return;
    free(t->nodes);
    free(t->kids);
    free(t->prog.code);
    free(t);
}

static void capsule_free(PyObject *cap) { table_free(PyCapsule_GetPointer(cap, CAPSULE)); }

static int cmp_ucs2(const void *a, const void *b) {
    const uint16_t *x = *(const uint16_t *const *)a, *y = *(const uint16_t *const *)b;
    for (;; x++, y++) { /* each word ends with a 0 */
        if (*x != *y) return (int)*x - (int)*y;
        if (*x == 0) return 0;
    }
}

/* The trie of the sorted words, built depth first so that each node's children are contiguous and
 * in order: a word's node is made when it is first reached, its children come from the run of words
 * that share its prefix. */
typedef struct {
    uint16_t **w;
    Py_ssize_t nw;
    table_t *t;
    int32_t cap_nodes, n_kids, cap_kids;
} build_t;

static int32_t new_node(build_t *b) {
    if (b->t->n_nodes == b->cap_nodes) {
        int32_t cap = b->cap_nodes ? b->cap_nodes * 2 : 1024;
        node_t *n = realloc(b->t->nodes, sizeof(node_t) * (size_t)cap);
        if (!n) return -1;
        b->t->nodes = n;
        b->cap_nodes = cap;
    }
    b->t->nodes[b->t->n_nodes] = (node_t){0, 0, 0};
    return b->t->n_nodes++;
}

/* Node for the words w[lo:hi), which share their first `depth` characters. */
static int build_node(build_t *b, int32_t node, Py_ssize_t lo, Py_ssize_t hi, int depth) {
    if (depth > 4096) return -1;
    Py_ssize_t i = lo;
    if (i < hi && b->w[i][depth] == 0) { /* the shared prefix is itself a word (sorted first) */
        b->t->nodes[node].end = 1;
        while (i < hi && b->w[i][depth] == 0) i++; /* duplicates */
    }
    /* children: one per distinct next character */
    int nk = 0;
    for (Py_ssize_t j = i; j < hi;) {
        uint16_t c = b->w[j][depth];
        while (j < hi && b->w[j][depth] == c) j++;
        nk++;
    }
    int32_t first = b->n_kids;
    if (b->n_kids + nk > b->cap_kids) {
        int32_t cap = b->cap_kids ? b->cap_kids : 1024;
        while (cap < b->n_kids + nk) cap *= 2;
        kid_t *k = realloc(b->t->kids, sizeof(kid_t) * (size_t)cap);
        if (!k) return -1;
        b->t->kids = k;
        b->cap_kids = cap;
    }
    b->n_kids += nk;
    b->t->nodes[node].first = first;
    b->t->nodes[node].count = (uint16_t)nk;
    int k = 0;
    for (Py_ssize_t j = i; j < hi; k++) {
        uint16_t c = b->w[j][depth];
        Py_ssize_t j0 = j;
        while (j < hi && b->w[j][depth] == c) j++;
        int32_t child = new_node(b);
        if (child < 0) return -1;
        b->t->kids[first + k] = (kid_t){(uint8_t)(c - BASE), child};
        if (build_node(b, child, j0, j, depth + 1) < 0) return -1;
    }
    return 0;
}

static PyObject *py_table(PyObject *self, PyObject *args) {
    PyObject *words, *rules;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &words, &PyList_Type, &rules)) return NULL;
    table_t *t = calloc(1, sizeof(table_t));
    if (!t) return PyErr_NoMemory();
    int rc = compile_rules(&t->prog, rules);
    if (rc < 0) {
        if (rc == -1) PyErr_Format(PyExc_ValueError, "TCC rules: %s", t->prog.err ? t->prog.err : "error");
        table_free(t);
        return NULL;
    }
    Py_ssize_t nw = PyList_GET_SIZE(words);
    uint16_t **w = calloc((size_t)nw + 1, sizeof(uint16_t *));
    uint16_t *pool = NULL;
    Py_ssize_t kept = 0, total = 0;
    if (!w) goto nomem;
    for (Py_ssize_t i = 0; i < nw; i++) {
        PyObject *o = PyList_GET_ITEM(words, i);
        if (!PyUnicode_Check(o)) {
            PyErr_SetString(PyExc_TypeError, "words must be strings");
            goto fail;
        }
        total += PyUnicode_GET_LENGTH(o) + 1;
    }
    pool = malloc(sizeof(uint16_t) * ((size_t)total + 1));
    if (!pool) goto nomem;
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < nw; i++) {
        PyObject *o = PyList_GET_ITEM(words, i);
        Py_ssize_t len = PyUnicode_GET_LENGTH(o);
        int kind = PyUnicode_KIND(o);
        const void *data = PyUnicode_DATA(o);
        int ok = len > 0;
        for (Py_ssize_t j = 0; ok && j < len; j++) ok = run_char(PyUnicode_READ(kind, data, j));
        if (!ok) continue; /* cannot occur inside a run of Thai letters */
        w[kept++] = pool + at;
        for (Py_ssize_t j = 0; j < len; j++) pool[at++] = (uint16_t)PyUnicode_READ(kind, data, j);
        pool[at++] = 0;
    }
    qsort(w, (size_t)kept, sizeof(uint16_t *), cmp_ucs2);
    build_t b = {w, kept, t, 0, 0, 0};
    if (new_node(&b) != 0) goto nomem;
    if (build_node(&b, 0, 0, kept, 0) < 0) goto nomem;
    for (int c = 0; c < 128; c++) t->root_kids[c] = -1;
    for (int k = 0; k < t->nodes[0].count; k++) t->root_kids[t->kids[t->nodes[0].first + k].ch] = t->kids[t->nodes[0].first + k].child;
    free(w);
    free(pool);
    PyObject *cap = PyCapsule_New(t, CAPSULE, capsule_free);
    if (!cap) table_free(t);
    return cap;
nomem:
    PyErr_NoMemory();
fail:
    free(w);
    free(pool);
    table_free(t);
    return NULL;
}

/* ---------------------------------------------------------------- newmm */

typedef struct {
    int32_t to, next;
} edge_t;

typedef struct {
    const table_t *t;
    const Py_UCS4 *s;
    Py_ssize_t n;
    uint8_t *valid;  /* [n + 1]: a cluster ends here */
    uint8_t *queued; /* [n + 1]: in the queue of candidate break positions */
    int32_t *head, *tail; /* [n + 1]: the graph's edges from each position, in the order added */
    int32_t *touched; /* positions with edges, to clear the graph */
    int32_t n_touched;
    edge_t *edges;
    int32_t n_edges, cap_edges;
    int32_t *bfs, *parent; /* [n + 1] */
    uint8_t *seen;        /* [n + 1] */
    PyObject *text, *out;
} seg_t;

/* Lengths of the dictionary words starting at i, shortest first (Trie.prefixes). */
static int prefixes(const seg_t *g, Py_ssize_t i, int32_t *lens, int max) {
    int32_t node = 0;
    int k = 0;
    for (Py_ssize_t j = i; j < g->n; j++) {
        node = child_of(g->t, node, g->s[j]);
        if (node < 0) break;
        if (g->t->nodes[node].end && k < max) lens[k++] = (int32_t)(j + 1 - i);
    }
    return k;
}

static int add_edge(seg_t *g, int32_t from, int32_t to) {
    if (g->n_edges == g->cap_edges) {
        int32_t cap = g->cap_edges ? g->cap_edges * 2 : 256;
        edge_t *e = realloc(g->edges, sizeof(edge_t) * (size_t)cap);
        if (!e) return -1;
        g->edges = e;
        g->cap_edges = cap;
    }
    int32_t id = g->n_edges++;
    g->edges[id] = (edge_t){to, -1};
    if (g->head[from] < 0) {
        g->head[from] = id;
        g->touched[g->n_touched++] = from;
    } else {
        g->edges[g->tail[from]].next = id;
    }
    g->tail[from] = id;
    return 0;
}

static void clear_graph(seg_t *g) {
    for (int32_t i = 0; i < g->n_touched; i++) g->head[g->touched[i]] = -1;
    g->n_touched = 0;
    g->n_edges = 0;
}

static int yield(seg_t *g, Py_ssize_t a, Py_ssize_t b) {
    PyObject *w = PyUnicode_Substring(g->text, a, b);
    if (!w) return -1;
    int rc = PyList_Append(g->out, w);
    Py_DECREF(w);
    return rc;
}

/* The first path from start to goal found breadth first (newmm._bfs_paths_graph), yielded as words
 * from start. 0, or -1 (error set). */
static int bfs_yield(seg_t *g, int32_t start, int32_t goal) {
    int32_t qh = 0, qt = 0;
    g->bfs[qt++] = start;
    g->parent[start] = -1;
    g->seen[start] = 1;
    int32_t found = -1;
    while (qh < qt && found < 0) {
        int32_t v = g->bfs[qh++];
        for (int32_t e = g->head[v]; e >= 0; e = g->edges[e].next) {
            int32_t p = g->edges[e].to;
            if (p == goal) {
                found = v;
                break;
            }
            if (!g->seen[p]) {
                g->seen[p] = 1;
                g->parent[p] = v;
                g->bfs[qt++] = p;
            }
        }
    }
    for (int32_t i = 0; i < qt; i++) g->seen[g->bfs[i]] = 0;
    if (found < 0) {
        PyErr_SetString(PyExc_RuntimeError, "newmm: no path in the word graph");
        return -1;
    }
    /* the path start .. found, goal: walk back from found into the queue array (no longer needed) */
    int32_t len = 0;
    for (int32_t v = found; v >= 0; v = g->parent[v]) g->bfs[len++] = v;
    Py_ssize_t prev = start;
    for (int32_t i = len - 2; i >= 0; i--) { /* bfs[len - 1] is start */
        if (yield(g, prev, g->bfs[i]) < 0) return -1;
        prev = g->bfs[i];
    }
    return yield(g, prev, goal);
}

/* newmm._find_skip_end on a run of Thai letters (the non-Thai pattern never matches there). */
static Py_ssize_t skip_end(const seg_t *g, Py_ssize_t begin) {
    int32_t lens[512];
    for (Py_ssize_t p = begin + 1; p < g->n; p++) {
        if (!g->valid[p]) continue;
        int k = prefixes(g, p, lens, 512);
        for (int j = 0; j < k; j++) {
            if (!g->valid[p + lens[j]]) continue;
            /* not [ก-ฮ]{,2}$: a word of one or two consonants does not count */
            int two = lens[j] <= 2;
            for (int c = 0; two && c < lens[j]; c++) two = g->s[p + c] >= 0x0E01 && g->s[p + c] <= 0x0E2E;
            if (!two) return p;
        }
    }
    return g->n;
}

static int onecut(seg_t *g) {
    Py_ssize_t n = g->n;
    for (Py_ssize_t p = 0; p < n;) { /* tcc_pos_array */
        Py_ssize_t e = rules_match(&g->t->prog, g->s, n, p);
        p = e > p ? e : p + 1;
        g->valid[p] = 1;
    }
    int32_t lens[512];
    Py_ssize_t queued = 1, min = 0, end_pos = 0;
    g->queued[0] = 1;
    int graph_size = 0;
    while (min < n) {
        Py_ssize_t begin = min; /* heappop */
        g->queued[begin] = 0;
        queued--;
        int k = prefixes(g, begin, lens, 512); /* _extend_graph */
        for (int j = 0; j < k; j++) {
            Py_ssize_t e = begin + lens[j];
            if (!g->valid[e]) continue;
            if (add_edge(g, (int32_t)begin, (int32_t)e) < 0) {
                PyErr_NoMemory();
                return -1;
            }
            graph_size++;
            if (!g->queued[e]) {
                g->queued[e] = 1;
                queued++;
            }
            if (graph_size > MAX_GRAPH) break;
        }
        min = begin + 1; /* every position still queued lies after begin */
        while (queued && !g->queued[min]) min++;
        if (queued == 1) {
            if (bfs_yield(g, (int32_t)end_pos, (int32_t)min) < 0) return -1;
            end_pos = min;
            graph_size = 0;
            clear_graph(g);
        } else if (queued == 0) {
            end_pos = skip_end(g, begin);
            graph_size = 0;
            clear_graph(g);
            if (yield(g, begin, end_pos) < 0) return -1;
            g->queued[end_pos] = 1;
            queued = 1;
            min = end_pos;
        }
    }
    return 0;
}

static PyObject *py_segment(PyObject *self, PyObject *args) {
    PyObject *cap, *text;
    if (!PyArg_ParseTuple(args, "OU", &cap, &text)) return NULL;
    const table_t *t = PyCapsule_GetPointer(cap, CAPSULE);
    if (!t) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *out = PyList_New(0);
    if (!out || n == 0) return out;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++)
        if (!run_char(PyUnicode_READ(kind, data, i))) {
            Py_DECREF(out);
            return PyErr_Format(PyExc_ValueError, "not a run of Thai letters (character %zd, U+%04X)", i,
                                (unsigned)PyUnicode_READ(kind, data, i));
        }
    size_t m = (size_t)n + 1;
    seg_t g = {.t = t, .n = n, .text = text, .out = out};
    Py_UCS4 *s = PyUnicode_AsUCS4Copy(text);
    g.s = s;
    g.valid = calloc(m, 2);
    g.head = malloc(sizeof(int32_t) * m * 5);
    g.seen = calloc(m, 1);
    int rc = -1;
    if (!s || !g.valid || !g.head || !g.seen) {
        if (s) PyErr_NoMemory();
        goto done;
    }
    g.queued = g.valid + m;
    g.tail = g.head + m;
    g.touched = g.head + 2 * m;
    g.bfs = g.head + 3 * m;
    g.parent = g.head + 4 * m;
    for (size_t i = 0; i < m; i++) g.head[i] = -1;
    rc = onecut(&g);
done:
    PyMem_Free(s);
    free(g.valid);
    free(g.head);
    free(g.seen);
    free(g.edges);
    if (rc < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"table", py_table, METH_VARARGS, "Dictionary trie and compiled TCC rules (a capsule for segment)."},
    {"segment", py_segment, METH_VARARGS, "newmm words of a run of Thai letters."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_newmm", "PyThaiNLP's newmm on runs of Thai letters, compiled.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__newmm(void) { return PyModule_Create(&module); }
