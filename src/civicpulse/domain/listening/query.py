"""Boolean query language for saved listening topics.

Syntax (what an officer types in the topic editor)::

    ค่าไฟ OR "ค่า ไฟฟ้า แพง"            OR between alternatives
    xử phạt -"tin giả"                 implicit AND, ``-term`` / ``NOT term``
    (flood OR น้ำท่วม) AND lang:th      parentheses, explicit AND
    ค่าไฟ NEAR/3 รัฐบาล                  at most 3 other words between, either order
    vaccin*                            trailing wildcard (prefix match)
    source:facebook author:@pm after:2026-01-01 before:2026-02-01 sentiment:neg unit:MOF

* Precedence: ``NEAR`` > ``NOT`` / ``-`` > ``AND`` (explicit or implicit) > ``OR``.
* Operators are recognised only in UPPERCASE; lowercase ``and``/``or``/``not``/``near`` are
  ordinary words.
* ``NEAR/n`` follows SQLite FTS5: at most ``n`` tokens between the two words/phrases, in
  either order. ``a NEAR/2 b NEAR/2 c`` is one FTS5 NEAR group (with M the start of
  the last phrase, every phrase starts within ``len + n`` tokens before M); mixing
  distances in one group is an error.
* Words are segmented with the same tokenizer used at index time
  (:func:`civicpulse.nlp.segment.index_tokens` by default): a Thai word such as ``ค่าไฟแพง``
  becomes the phrase ``ค่า ไฟ แพง``; adjacent Vietnamese syllables typed without operators
  (``xử phạt``) are segmented together, so they become the compound token ``xử_phạt``.
* Field filters restrict the whole query. They may be negated (``-source:twitter``) and
  OR-ed with the same field (``(lang:th OR lang:vi)``), but cannot be OR-ed with words.
  ``after:D`` means published on or after day ``D``; ``before:D`` means strictly before day
  ``D``; days are local days in the office time zone (default ``Asia/Bangkok``).

Three back-ends share one *resolved* form so they agree:

* :func:`to_fts5` → SQLite FTS5 ``MATCH`` expression over a column of space-joined tokens.
  Create the table with ``tokenize=FTS5_TOKENIZE`` so FTS5 splits only on whitespace.
* :func:`to_tsquery` → PostgreSQL ``to_tsquery('simple', ...)`` text. ``NEAR/n`` is
  approximated by OR-ing ``<1>`` … ``<n+1>`` in both orders (n ≤ 20); a NEAR group of three
  or more is approximated by AND-ing every pair.
* :func:`matches` → in-memory evaluation of one item, for matching new items against saved
  topics at ingest time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from civicpulse.timeutil import as_utc

__all__ = [
    "FIELDS",
    "FTS5_TOKENIZE",
    "And",
    "Field",
    "Filter",
    "Near",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "QuerySyntaxError",
    "Term",
    "Tokenizer",
    "default_tokenizer",
    "filters_to_sql",
    "matches",
    "parse",
    "simple_tokenize",
    "to_fts5",
    "to_tsquery",
    "tokens_of",
]

#: Tokenizer for an FTS5 table whose indexed column holds space-joined tokens: every
#: character except white space (and control characters) is part of a token, no diacritic
#: removal. Use: ``CREATE VIRTUAL TABLE t USING fts5(tokens, tokenize="<this>")``.
FTS5_TOKENIZE = "unicode61 remove_diacritics 0 categories 'L* M* N* P* S* Co'"

#: Known field filters, in the order shown in error messages.
FIELDS = ("lang", "source", "author", "after", "before", "sentiment", "unit", "mentions")

_SENTIMENTS = {
    "pos": "pos", "positive": "pos", "neg": "neg", "negative": "neg",
    "neu": "neu", "neutral": "neu", "q": "q", "question": "q",
}
MAX_DEPTH = 32
MAX_QUERY_CHARS = 4000
MAX_NEAR = 100
MAX_NEAR_POSTGRES = 20

# A tokenizer returns either space-joined tokens (like index_tokens) or a token list.
Tokenizer = Callable[[str], str | Sequence[str]]


# --------------------------------------------------------------------------- errors


class QuerySyntaxError(ValueError):
    """A query that cannot be understood; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = max(1, int(column))
        super().__init__(message)

    def pointer(self, q: str) -> str:
        """The query followed by a caret line under the offending column."""
        line = q.replace("\n", " ").replace("\t", " ")
        return f"{line}\n{' ' * (self.column - 1)}^"


# --------------------------------------------------------------------------- AST


@dataclasses.dataclass(frozen=True, slots=True)
class Term:
    """A bare word; ``prefix`` when written with a trailing ``*``."""

    text: str
    prefix: bool = False
    column: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Phrase:
    """A ``"quoted phrase"`` (optionally ``"..."*`` for a prefix on its last word)."""

    text: str
    prefix: bool = False
    column: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Near:
    """Words/phrases within ``distance`` tokens of each other, in any order."""

    operands: tuple[Term | Phrase, ...]
    distance: int
    column: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Not:
    child: Node
    column: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """A field filter such as ``lang:th``; ``value`` is normalised (dates as ISO days)."""

    name: str
    value: str
    column: int = 1


Node = Term | Phrase | Near | And | Or | Not | Field


@dataclasses.dataclass(frozen=True, slots=True)
class Filter:
    """A structured field condition; all returned filters are AND-ed.

    * ``lang``/``source``/``author``/``sentiment``/``unit``: ``op == "in"``, the item value
      (lower-cased; a leading ``@`` of authors ignored) must be one of ``values``.
    * ``mentions``: ``op == "in"``, one of the item's entities (provinces, ministries, units, people,
      organisations) is one of ``values``: by id (``vn:ha-noi``, ``person:pham-minh-chinh``), by the
      part of its id after the colon, written as a name (*Hà Nội* → ``ha-noi``: :func:`mention_forms`),
      or by its name or text as written.
    * ``after``: ``op == "ge"``, published at or after the start of day ``values[0]``.
    * ``before``: ``op == "lt"``, published before the start of day ``values[0]``.
    * ``negate``: the condition is inverted; items with no value for the field (NULL)
      *pass* a negated filter and *fail* a plain one.
    """

    field: str
    op: str
    values: tuple[str, ...]
    negate: bool = False

    def boundary(self, tz: str = "Asia/Bangkok") -> dt.datetime:
        """For ``after``/``before``: the UTC instant where day ``values[0]`` starts in ``tz``."""
        day = dt.date.fromisoformat(self.values[0])
        local = dt.datetime.combine(day, dt.time(0, 0), tzinfo=ZoneInfo(tz))
        return local.astimezone(dt.UTC)


# --------------------------------------------------------------------------- tokenizer


_VI_LETTERS = "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
_VI_RE = re.compile(f"[{_VI_LETTERS}]", re.IGNORECASE)
_THAI_SPLIT_RE = re.compile(r"([\u0e01-\u0e5b]+)")
_WORD_RE = re.compile(r"[^\W_]+(?:_[^\W_]+)*")


def simple_tokenize(text: str) -> str:
    """Fallback tokenizer: pythainlp newmm for Thai, pyvi for Vietnamese, regex words else."""
    text = unicodedata.normalize("NFC", text or "")
    out: list[str] = []
    for i, part in enumerate(_THAI_SPLIT_RE.split(text)):
        if not part:
            continue
        if i % 2 == 1:  # Thai run
            os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
            from pythainlp.tokenize import word_tokenize

            out.extend(w for w in word_tokenize(part, engine="newmm") if w.strip())
        elif _VI_RE.search(part):
            from pyvi import ViTokenizer

            out.extend(_WORD_RE.findall(ViTokenizer.tokenize(part)))
        else:
            out.extend(_WORD_RE.findall(part))
    return " ".join(out).lower()


@lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """``civicpulse.nlp.segment.index_tokens`` if available, else :func:`simple_tokenize`."""
    try:
        from civicpulse.nlp.segment import index_tokens
    except Exception:  # pragma: no cover - depends on the other module being present
        return simple_tokenize
    return index_tokens  # type: ignore[return-value]


def tokens_of(text: str, tokenizer: Tokenizer | None = None) -> list[str]:
    """Tokens of ``text`` as a list (lower-cased), whatever the tokenizer returns."""
    tok = tokenizer or default_tokenizer()
    res = tok(text)
    parts = res.split() if isinstance(res, str) else [t for t in res if t and not t.isspace()]
    return [p.lower() for p in parts]


# --------------------------------------------------------------------------- lexer


@dataclasses.dataclass(slots=True)
class _Tok:
    kind: str  # WORD PHRASE FIELD LP RP AND OR NOT NEAR
    value: str
    column: int
    prefix: bool = False
    extra: Any = None


_FIELD_RE = re.compile(r"([A-Za-z_]+):")
_NEAR_RE = re.compile(r"NEAR(?:/(\d*))?$")
_STOP = set('()"') | {" ", "\t", "\n", "\r", "\u3000", "\xa0"}


def _is_space(ch: str) -> bool:
    return ch.isspace()


def _read_quoted(q: str, i: int) -> tuple[str, int]:
    """``q[i] == '"'``; returns (content, index after closing quote)."""
    j = q.find('"', i + 1)
    if j < 0:
        raise QuerySyntaxError(f"Unclosed quote at column {i + 1}", i + 1)
    return q[i + 1:j], j + 1


def _lex(q: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        ch = q[i]
        col = i + 1
        if _is_space(ch):
            i += 1
            continue
        if ch == "(":
            toks.append(_Tok("LP", ch, col))
            i += 1
            continue
        if ch == ")":
            toks.append(_Tok("RP", ch, col))
            i += 1
            continue
        if ch == "-" and i + 1 < n and not _is_space(q[i + 1]) and q[i + 1] not in ")-":
            toks.append(_Tok("NOT", "-", col))
            i += 1
            continue
        if ch == '"':
            text, i = _read_quoted(q, i)
            prefix = i < n and q[i] == "*"
            if prefix:
                i += 1
            if not text.strip():
                raise QuerySyntaxError(f"Empty phrase at column {col}", col)
            toks.append(_Tok("PHRASE", text, col, prefix))
            continue
        # a bare word (may be a field, an operator or NEAR/n)
        j = i
        while j < n and q[j] not in _STOP and not _is_space(q[j]):
            j += 1
        word = q[i:j]
        m = _FIELD_RE.match(word)
        if m and not q.startswith("//", i + len(m.group(0))):
            name = m.group(1)
            vstart = i + len(m.group(0))
            if vstart < n and q[vstart] == '"':
                value, j = _read_quoted(q, vstart)
            else:
                value = q[vstart:j]
            toks.append(_Tok("FIELD", name, col, extra=(value, vstart + 1)))
            i = j
            continue
        if word in ("AND", "OR", "NOT"):
            toks.append(_Tok(word, word, col))
        elif word.startswith("NEAR") and (word == "NEAR" or word.startswith("NEAR/")):
            nm = _NEAR_RE.match(word)
            if not nm or not nm.group(1):
                raise QuerySyntaxError(f"NEAR needs a distance, e.g. NEAR/5, at column {col}", col)
            dist = int(nm.group(1))
            if dist > MAX_NEAR:
                raise QuerySyntaxError(
                    f"NEAR/{dist} is too far (at most NEAR/{MAX_NEAR}), at column {col}", col)
            toks.append(_Tok("NEAR", word, col, extra=dist))
        else:
            prefix = word.endswith("*")
            core = word.rstrip("*") if prefix else word
            if not core:
                raise QuerySyntaxError(
                    f"A wildcard needs at least one letter before '*', at column {col}", col)
            if "*" in core:
                raise QuerySyntaxError(
                    f"'*' is only allowed at the end of a word, at column {col + core.index('*')}",
                    col + core.index("*"))
            toks.append(_Tok("WORD", core, col, prefix))
        i = j
    return toks


# --------------------------------------------------------------------------- parser


def _field(tok: _Tok) -> Field:
    name = tok.value.lower()
    value, _vcol = tok.extra
    col = tok.column
    if name not in FIELDS:
        raise QuerySyntaxError(
            f"Unknown field '{tok.value}' at column {col} (known: {', '.join(FIELDS)})", col)
    value = value.strip()
    if not value:
        raise QuerySyntaxError(f"{name}: needs a value, e.g. {_FIELD_EXAMPLE[name]}, at column {col}", col)
    if name in ("after", "before"):
        try:
            day = dt.date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None
        except ValueError:
            day = None
        if day is None:
            raise QuerySyntaxError(
                f"Invalid date '{value}' for {name}: at column {col} (expected YYYY-MM-DD)", col)
        value = day.isoformat()
    elif name == "sentiment":
        norm = _SENTIMENTS.get(value.lower())
        if norm is None:
            raise QuerySyntaxError(
                f"Unknown sentiment '{value}' at column {col} (use pos, neg, neu or q)", col)
        value = norm
    elif name == "author":
        value = value.lower().lstrip("@")
        if not value:
            raise QuerySyntaxError(f"author: needs a value, e.g. author:somchai, at column {col}", col)
    else:
        value = value.lower()
    return Field(name, value, col)


_FIELD_EXAMPLE = {
    "lang": "lang:th", "source": "source:facebook", "author": "author:somchai",
    "after": "after:2026-01-01", "before": "before:2026-02-01", "sentiment": "sentiment:neg",
    "unit": "unit:MOF", "mentions": 'mentions:"Bộ Y tế"',
}


class _Parser:
    def __init__(self, toks: list[_Tok], qlen: int) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.end_col = qlen + 1

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def parse(self) -> Node:
        node = self.or_expr()
        t = self.peek()
        if t is not None:  # only a stray ")" can stop or_expr early
            raise QuerySyntaxError(f"Unbalanced parenthesis at column {t.column}", t.column)
        return node

    def _starts_operand(self, t: _Tok | None) -> bool:
        return t is not None and t.kind in ("WORD", "PHRASE", "FIELD", "LP", "NOT")

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while (t := self.peek()) is not None and t.kind == "OR":
            self.take()
            if not self._starts_operand(self.peek()):
                raise QuerySyntaxError(f"OR needs a term on both sides, at column {t.column}", t.column)
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self) -> Node:
        t = self.peek()
        if t is None:
            raise QuerySyntaxError(f"Expected a word at column {self.end_col}", self.end_col)
        if t.kind in ("AND", "OR"):
            raise QuerySyntaxError(f"{t.kind} needs a term on both sides, at column {t.column}", t.column)
        if t.kind == "NEAR":
            raise QuerySyntaxError(f"NEAR needs a word on both sides, at column {t.column}", t.column)
        if t.kind == "RP":
            raise QuerySyntaxError(f"Unbalanced parenthesis at column {t.column}", t.column)
        children: list[Node] = []
        children.append(self.unary())
        while True:
            t = self.peek()
            if t is not None and t.kind == "AND":
                self.take()
                if not self._starts_operand(self.peek()):
                    raise QuerySyntaxError(f"AND needs a term on both sides, at column {t.column}", t.column)
                children.append(self.unary())
            elif self._starts_operand(t):
                children.append(self.unary())
            elif t is not None and t.kind == "NEAR":
                raise QuerySyntaxError(
                    f"NEAR can only join words or \"phrases\", at column {t.column}", t.column)
            else:
                break
        flat: list[Node] = []
        for c in children:
            flat.extend(c.children if isinstance(c, And) else (c,))
        return flat[0] if len(flat) == 1 else And(tuple(flat))

    def unary(self) -> Node:
        nots: list[_Tok] = []
        while (t := self.peek()) is not None and t.kind == "NOT":
            nots.append(self.take())
        if nots and not self._starts_operand(self.peek()) or (nots and self.peek() is None):
            t = nots[-1]
            what = "'-'" if t.value == "-" else "NOT"
            raise QuerySyntaxError(f"{what} needs a term after it, at column {t.column}", t.column)
        node = self.near_expr()
        for t in reversed(nots):
            node = node.child if isinstance(node, Not) else Not(node, t.column)
        return node

    def near_expr(self) -> Node:
        first = self.primary()
        t = self.peek()
        if t is None or t.kind != "NEAR":
            return first
        operands = [first]
        dist: int | None = None
        col = t.column
        while (t := self.peek()) is not None and t.kind == "NEAR":
            self.take()
            if dist is not None and t.extra != dist:
                raise QuerySyntaxError(
                    f"One NEAR group must use one distance (NEAR/{dist} and {t.value}), at column {t.column}",
                    t.column)
            dist = t.extra
            nxt = self.peek()
            if nxt is None:
                raise QuerySyntaxError(f"NEAR needs a word on both sides, at column {t.column}", t.column)
            if nxt.kind not in ("WORD", "PHRASE", "LP"):
                raise QuerySyntaxError(
                    f"NEAR can only join words or \"phrases\", at column {t.column}", t.column)
            operands.append(self.primary())
        for op in operands:
            if not isinstance(op, (Term, Phrase)):
                raise QuerySyntaxError(
                    f"NEAR can only join words or \"phrases\", at column {col}", col)
        assert dist is not None
        return Near(tuple(operands), dist, col)  # type: ignore[arg-type]

    def primary(self) -> Node:
        t = self.peek()
        if t is None:
            raise QuerySyntaxError(f"Expected a word at column {self.end_col}", self.end_col)
        if t.kind == "WORD":
            self.take()
            return Term(t.value, t.prefix, t.column)
        if t.kind == "PHRASE":
            self.take()
            return Phrase(t.value, t.prefix, t.column)
        if t.kind == "FIELD":
            self.take()
            return _field(t)
        if t.kind == "LP":
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QuerySyntaxError(
                    f"Too many nested parentheses (at most {MAX_DEPTH}) at column {t.column}", t.column)
            nxt = self.peek()
            if nxt is not None and nxt.kind == "RP":
                raise QuerySyntaxError(f"Empty parentheses at column {t.column}", t.column)
            if nxt is None:
                raise QuerySyntaxError(f"Unbalanced parenthesis at column {t.column}", t.column)
            node = self.or_expr()
            close = self.peek()
            if close is None or close.kind != "RP":
                raise QuerySyntaxError(f"Unbalanced parenthesis at column {t.column}", t.column)
            self.take()
            self.depth -= 1
            return node
        if t.kind == "RP":
            raise QuerySyntaxError(f"Unbalanced parenthesis at column {t.column}", t.column)
        if t.kind == "NEAR":
            raise QuerySyntaxError(f"NEAR needs a word on both sides, at column {t.column}", t.column)
        raise QuerySyntaxError(f"{t.kind} needs a term on both sides, at column {t.column}", t.column)


def parse(q: str) -> Node:
    """Parse a topic query into an AST; raises :class:`QuerySyntaxError` only."""
    if not isinstance(q, str):
        raise QuerySyntaxError("The query must be text", 1)
    if len(q) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(
            f"The query is too long ({len(q)} characters, at most {MAX_QUERY_CHARS})", MAX_QUERY_CHARS + 1)
    q = unicodedata.normalize("NFC", q) if not unicodedata.is_normalized("NFC", q) else q
    toks = _lex(q)
    if not toks:
        raise QuerySyntaxError("The query is empty", 1)
    return _Parser(toks, len(q)).parse()


# --------------------------------------------------------------------------- resolution


@dataclasses.dataclass(frozen=True, slots=True)
class _RTokens:
    tokens: tuple[str, ...]
    prefix: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class _RNear:
    phrases: tuple[_RTokens, ...]
    distance: int
    column: int


@dataclasses.dataclass(frozen=True, slots=True)
class _RAnd:
    pos: tuple[_RNode, ...]
    neg: tuple[_RNode, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class _ROr:
    children: tuple[_RNode, ...]


_RNode = _RTokens | _RNear | _RAnd | _ROr

_NEED_POSITIVE = "a query needs at least one term that is not negated"


def _has_field(node: Node) -> Field | None:
    if isinstance(node, Field):
        return node
    if isinstance(node, (And, Or)):
        for c in node.children:
            if (f := _has_field(c)) is not None:
                return f
    if isinstance(node, Not):
        return _has_field(node.child)
    return None


def _first_column(node: Node) -> int:
    if isinstance(node, (Term, Phrase, Near, Field, Not)):
        return node.column
    return _first_column(node.children[0])  # type: ignore[union-attr]


def _as_filter(node: Node) -> Filter | None:
    """A top-level conjunct made only of field filters → one Filter (or None if not one)."""
    negate = False
    while isinstance(node, Not):
        negate = not negate
        node = node.child
    if isinstance(node, Field):
        fields = [node]
    elif isinstance(node, Or) and all(isinstance(c, Field) for c in node.children):
        fields = list(node.children)  # type: ignore[arg-type]
    else:
        return None
    names = {f.name for f in fields}
    if len(names) != 1:
        f = fields[1]
        raise QuerySyntaxError(
            f"Only filters on the same field can be joined with OR ({f.name}: at column {f.column})", f.column)
    name = fields[0].name
    if name in ("after", "before"):
        if len(fields) > 1:
            raise QuerySyntaxError(
                f"{name}: cannot be joined with OR, at column {fields[1].column}", fields[1].column)
        return Filter(name, "ge" if name == "after" else "lt", (fields[0].value,), negate)
    return Filter(name, "in", tuple(dict.fromkeys(f.value for f in fields)), negate)


def _is_vi_word(node: Node) -> bool:
    return (isinstance(node, Term) and not node.prefix
            and not _THAI_SPLIT_RE.search(node.text) and any(c.isalpha() for c in node.text))


class _Resolver:
    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def tokens(self, text: str, column: int, prefix: bool) -> _RTokens:
        toks = tokens_of(text, self.tokenizer)
        if not toks:
            raise QuerySyntaxError(f"'{text}' has no searchable word, at column {column}", column)
        return _RTokens(tuple(toks), prefix)

    def resolve(self, node: Node) -> tuple[_RNode, bool]:
        """Returns (resolved node, is_positive). Negative nodes are wrapped by the caller."""
        if isinstance(node, Field):
            raise QuerySyntaxError(
                f"Field filters apply to the whole query and cannot be joined with OR of words "
                f"({node.name}: at column {node.column})", node.column)
        if isinstance(node, (Term, Phrase)):
            return self.tokens(node.text, node.column, node.prefix), True
        if isinstance(node, Near):
            phrases = tuple(self.tokens(o.text, o.column, o.prefix) for o in node.operands)
            return _RNear(phrases, node.distance, node.column), True
        if isinstance(node, Not):
            inner, positive = self.resolve(node.child)
            if not positive:
                return inner, True
            return inner, False
        if isinstance(node, Or):
            out = []
            for c in node.children:
                r, positive = self.resolve(c)
                if not positive:
                    col = _first_column(c)
                    raise QuerySyntaxError(
                        f"{_NEED_POSITIVE}: a negated alternative of OR matches almost everything, "
                        f"at column {col}", col)
                out.append(r)
            return _ROr(tuple(out)), True
        assert isinstance(node, And)
        pos: list[_RNode] = []
        neg: list[_RNode] = []
        children = list(node.children)
        k = 0
        while k < len(children):
            c = children[k]
            # adjacent Vietnamese syllables → segment together ("xử phạt" → xử_phạt)
            if _is_vi_word(c):
                run = [c]
                while k + len(run) < len(children) and _is_vi_word(children[k + len(run)]):
                    run.append(children[k + len(run)])
                if len(run) > 1 and any(_VI_RE.search(t.text) for t in run):  # type: ignore[union-attr]
                    joined = " ".join(t.text for t in run)  # type: ignore[union-attr]
                    for tok in tokens_of(joined, self.tokenizer):
                        pos.append(_RTokens((tok,)))
                    k += len(run)
                    continue
            r, positive = self.resolve(c)
            (pos if positive else neg).append(r)
            k += 1
        if not pos:
            col = _first_column(node)
            raise QuerySyntaxError(f"{_NEED_POSITIVE}, at column {col}", col)
        if len(pos) == 1 and not neg:
            return pos[0], True
        return _RAnd(tuple(pos), tuple(neg)), True


@lru_cache(maxsize=2048)
def _compile(node: Node, tokenizer: Tokenizer) -> tuple[_RNode | None, tuple[Filter, ...]]:
    conjuncts = list(node.children) if isinstance(node, And) else [node]
    filters: list[Filter] = []
    rest: list[Node] = []
    for c in conjuncts:
        f = _as_filter(c)
        if f is not None:
            filters.append(f)
        else:
            if (fld := _has_field(c)) is not None:
                raise QuerySyntaxError(
                    f"Field filters apply to the whole query and cannot be joined with OR of words "
                    f"({fld.name}: at column {fld.column})", fld.column)
            rest.append(c)
    if not rest:
        return None, tuple(filters)
    text_node: Node = rest[0] if len(rest) == 1 else And(tuple(rest))
    r, positive = _Resolver(tokenizer).resolve(text_node)
    if not positive:
        col = _first_column(text_node)
        raise QuerySyntaxError(f"{_NEED_POSITIVE}, at column {col}", col)
    return r, tuple(filters)


def _compile_any(node: Node | str, tokenizer: Tokenizer | None) -> tuple[_RNode | None, tuple[Filter, ...]]:
    if isinstance(node, str):
        node = parse(node)
    return _compile(node, tokenizer or default_tokenizer())


# --------------------------------------------------------------------------- FTS5


def _fts_str(tokens: Sequence[str]) -> str:
    return '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'


def _fts(r: _RNode) -> str:
    if isinstance(r, _RTokens):
        return _fts_str(r.tokens) + ("*" if r.prefix else "")
    if isinstance(r, _RNear):
        inner = " ".join(_fts_str(p.tokens) + ("*" if p.prefix else "") for p in r.phrases)
        return f"NEAR({inner}, {r.distance})"
    if isinstance(r, _ROr):
        return "(" + " OR ".join(_fts(c) for c in r.children) + ")"
    expr = _fts(r.pos[0]) if len(r.pos) == 1 else "(" + " AND ".join(_fts(c) for c in r.pos) + ")"
    for n in r.neg:
        expr = f"({expr} NOT {_fts(n)})"
    return expr


def to_fts5(node: Node | str, tokenizer: Tokenizer | None = None) -> tuple[str | None, list[Filter]]:
    """SQLite FTS5 ``MATCH`` expression (None when the query has only filters) + filters.

    The indexed column must hold ``tokenizer(text)`` and use ``tokenize=FTS5_TOKENIZE``.
    """
    r, filters = _compile_any(node, tokenizer)
    return (None if r is None else _fts(r)), list(filters)


# --------------------------------------------------------------------------- PostgreSQL


def _pg_lex(tok: str, prefix: bool = False) -> str:
    return "'" + tok.replace("\\", "\\\\").replace("'", "''") + "'" + (":*" if prefix else "")


def _pg_phrase(p: _RTokens) -> str:
    parts = [_pg_lex(t, p.prefix and i == len(p.tokens) - 1) for i, t in enumerate(p.tokens)]
    return parts[0] if len(parts) == 1 else "(" + " <-> ".join(parts) + ")"


def _pg_near2(a: _RTokens, b: _RTokens, n: int) -> str:
    alts = []
    for k in range(1, n + 2):
        alts.append(f"{_pg_phrase(a)} <{k}> {_pg_phrase(b)}")
        alts.append(f"{_pg_phrase(b)} <{k}> {_pg_phrase(a)}")
    return "(" + " | ".join(alts) + ")"


def _pg(r: _RNode) -> str:
    if isinstance(r, _RTokens):
        return _pg_phrase(r)
    if isinstance(r, _RNear):
        if r.distance > MAX_NEAR_POSTGRES:
            raise QuerySyntaxError(
                f"NEAR/{r.distance} is too far for PostgreSQL search (at most NEAR/{MAX_NEAR_POSTGRES}), "
                f"at column {r.column}", r.column)
        ps = r.phrases
        pairs = [_pg_near2(ps[i], ps[j], r.distance) for i in range(len(ps)) for j in range(i + 1, len(ps))]
        return pairs[0] if len(pairs) == 1 else "(" + " & ".join(pairs) + ")"
    if isinstance(r, _ROr):
        return "(" + " | ".join(_pg(c) for c in r.children) + ")"
    parts = [_pg(c) for c in r.pos] + ["!" + _pg(c) for c in r.neg]
    return "(" + " & ".join(parts) + ")"


def to_tsquery(node: Node | str, tokenizer: Tokenizer | None = None) -> tuple[str | None, list[Filter]]:
    """PostgreSQL ``to_tsquery('simple', <this>)`` text (None when only filters) + filters.

    Index with ``to_tsvector('simple', tokenizer(text))``. ``NEAR/n`` (n ≤ 20) becomes an OR
    of ``a <k> b`` and ``b <k> a`` for k = 1 … n+1 (at most n words in between, as in FTS5);
    a NEAR group of three or more phrases is approximated by AND-ing all pairs.
    """
    r, filters = _compile_any(node, tokenizer)
    return (None if r is None else _pg(r)), list(filters)


def mention_forms(value: str) -> tuple[str, str]:
    """What a ``mentions:`` value matches: ``(exact, id_suffix)``. ``exact`` (lower case) is compared with an
    entity's id, name and text; ``id_suffix`` (``:`` + the value's key, as :func:`civicpulse.nlp.names.key`
    makes ids) with the end of its id, so *Hà Nội*, *ha noi* and ``ha-noi`` find ``vn:ha-noi``."""
    from civicpulse.nlp.names import key

    v = value.lower()
    return v, (":" + key(v.split(":", 1)[1] if ":" in v else v))


def mention_matches(entities: object, values: Sequence[str]) -> bool:
    """Whether one of ``entities`` (an item's list of spans) is one of ``values`` (see :class:`Filter`): one of
    the values' :func:`mention_forms` is one of the entities' :func:`mention_keys`, as ``filters_to_sql``
    looks them up."""
    keys = mention_keys(entities)
    return bool(keys) and any(mention_key(form) in keys for v in values for form in mention_forms(v) if form)


#: Mention keys longer than this are stored as ``#`` + their SHA-256 (an index row has a size limit on PostgreSQL).
MENTION_KEY_MAX = 200


def mention_key(value: str) -> str:
    """The stored and looked-up form of one value (already in lower case)."""
    if len(value) <= MENTION_KEY_MAX and not value.startswith("#"):
        return value
    return "#" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def mention_keys(entities: object) -> set[str]:
    """The keys of these entities (an item's list of spans) that a ``mentions:`` filter looks up, stored in the
    table ``item_mentions``: each entity's id, name and text in lower case, and each end of its id from a colon
    on whose rest is a key (:func:`civicpulse.nlp.names.key`). A value finds an item when one of its
    :func:`mention_forms` is one of these keys: the rule of :func:`mention_matches`."""
    from civicpulse.nlp.names import key

    keys: set[str] = set()
    if not isinstance(entities, list):
        return keys
    for e in entities:
        if not isinstance(e, dict):
            continue
        eid = str(e.get("id") or "").lower()
        values = {eid, str(e.get("name") or "").lower(), str(e.get("text") or "").lower()}
        # an end of the id from a colon on, where the rest is a key as mention_forms makes them (ids are made of
        # keys): a value finds it as ":" + its key, never as itself written otherwise
        values.update(eid[i:] for i, c in enumerate(eid) if c == ":" and key(eid[i + 1:]) == eid[i + 1:])
        keys.update(mention_key(v) for v in values if v)
    return keys


def _mentions_sql(f: Filter, i: int, columns: Mapping[str, str], param_prefix: str,
                  params: dict[str, Any]) -> str:
    """``columns["mentions"]``: an SQL condition with a ``{keys}`` slot for a list of mention keys, true when one
    of the item's mention keys (:func:`mention_keys`) is in it; ``columns["mentions.negated"]``, if given, the
    same for a negated filter. The keys looked up are each value in lower case and ``:`` + its
    key (:func:`mention_forms`), which is :func:`mention_matches`' rule."""
    keys: list[str] = []
    for v in f.values:
        for form in mention_forms(v):
            if form and mention_key(form) not in keys:
                keys.append(mention_key(form))
    names = []
    for j, k in enumerate(keys):
        params[f"{param_prefix}{i}_{j}"] = k
        names.append(f":{param_prefix}{i}_{j}")
    form = columns.get("mentions.negated", columns["mentions"]) if f.negate else columns["mentions"]
    cond = form.format(keys=", ".join(names)) if names else "1=0"
    return f"(NOT {cond})" if f.negate else f"({cond})"


def filters_to_sql(filters: Sequence[Filter], columns: Mapping[str, str], *,
                   tz: str = "Asia/Bangkok", param_prefix: str = "qf") -> tuple[str, dict[str, Any]]:
    """Turn filters into a SQL condition with named parameters (``:qf0``...).

    ``columns`` maps field names (lang, source, author, after/before → the timestamp column,
    sentiment, unit) to SQL column expressions. ``lang``/``source``/``author``/``sentiment``/
    ``unit`` columns are compared lower-cased; store authors without a leading ``@``.
    ``mentions`` needs ``columns["mentions"]`` (see :func:`_mentions_sql`). A field whose column is in another
    table gives ``columns[field + ".via"]``, the condition on the item with a ``{cond}`` slot for the one on that
    column (``items.unit_id IN (SELECT units.id FROM units WHERE {cond})``): the other table is read once, not once
    per item, and a negated filter keeps the items whose row does not match.
    ``columns["unicode_lower"]``: the SQL function that lower-cases as Python's ``str.lower`` does, for
    values with letters beyond ASCII (SQLite: ``unicode_lower``; default ``lower``, Unicode-aware on PostgreSQL).
    Returns ``("1=1", {})`` when there is nothing to filter.
    """
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, f in enumerate(filters):
        if f.field == "mentions":
            parts.append(_mentions_sql(f, i, columns, param_prefix, params))
            continue
        col = columns.get("published_at", None) if f.field in ("after", "before") else None
        col = columns.get(f.field, col)
        if col is None:
            raise KeyError(f"no column given for filter {f.field!r}")
        if f.op in ("ge", "lt"):
            name = f"{param_prefix}{i}"
            params[name] = f.boundary(tz)
            cond = f"{col} {'>=' if f.op == 'ge' else '<'} :{name}"
        else:
            names = []
            for j, v in enumerate(f.values):
                name = f"{param_prefix}{i}_{j}"
                params[name] = v
                names.append(f":{name}")
            # A value with letters beyond ASCII needs a Unicode lower case (SQLite's lower() changes ASCII
            # letters only); ASCII values keep the plain, cheaper one.
            lower = "lower" if all(str(v).isascii() for v in f.values) else columns.get("unicode_lower", "lower")
            cond = f"{lower}({col}) IN ({', '.join(names)})"
        via = columns.get(f"{f.field}.via")
        if via is not None:  # the column is another table's: its matching rows looked up once
            cond = via.format(cond=f"{col} IS NOT NULL AND {cond}")
            parts.append(f"(NOT {cond})" if f.negate else f"({cond})")
            continue
        parts.append(f"({col} IS NULL OR NOT {cond})" if f.negate else f"({col} IS NOT NULL AND {cond})")
    return (" AND ".join(parts) if parts else "1=1"), params


# --------------------------------------------------------------------------- in-memory


def _phrase_starts(toks: Sequence[str], p: _RTokens) -> list[int]:
    n = len(p.tokens)
    last = n - 1
    out = []
    for i in range(len(toks) - n + 1):
        for k, t in enumerate(p.tokens):
            w = toks[i + k]
            if not (w.startswith(t) if (p.prefix and k == last) else w == t):
                break
        else:
            out.append(i)
    return out


def _near_ok(toks: Sequence[str], r: _RNear) -> bool:
    """FTS5's NEAR rule: with M the last phrase start, every phrase i has an occurrence
    starting in [M - len_i - n, M] (for two phrases: at most n tokens in between)."""
    occ = [_phrase_starts(toks, p) for p in r.phrases]
    if any(not o for o in occ):
        return False
    lens = [len(p.tokens) for p in r.phrases]
    for m in sorted({s for o in occ for s in o}):
        if all(any(m - ln - r.distance <= s <= m for s in o) for o, ln in zip(occ, lens, strict=True)):
            return True
    return False


def _eval(r: _RNode, toks: Sequence[str], tokset: frozenset[str]) -> bool:
    if isinstance(r, _RTokens):
        if len(r.tokens) == 1 and not r.prefix:
            return r.tokens[0] in tokset
        return bool(_phrase_starts(toks, r))
    if isinstance(r, _RNear):
        return _near_ok(toks, r)
    if isinstance(r, _ROr):
        return any(_eval(c, toks, tokset) for c in r.children)
    return all(_eval(c, toks, tokset) for c in r.pos) and not any(_eval(c, toks, tokset) for c in r.neg)




def _filter_ok(f: Filter, item: Mapping[str, Any], tz: str) -> bool:
    if f.op in ("ge", "lt"):
        when = as_utc(item.get("published_at"))
        if when is None:
            return f.negate
        hit = when >= f.boundary(tz) if f.op == "ge" else when < f.boundary(tz)
    elif f.field == "mentions":
        hit = mention_matches(item.get("entities"), f.values)
    else:
        raw = item.get(f.field)
        if raw is None or raw == "":
            return f.negate
        val = str(raw).lower()
        if f.field == "author":
            val = val.lstrip("@")
        hit = val in f.values
    return hit != f.negate


def matches(node: Node | str, item: Mapping[str, Any], tokenizer: Tokenizer | None = None, *,
            tz: str = "Asia/Bangkok") -> bool:
    """Does ``item`` match the query? Consistent with :func:`to_fts5` + :func:`filters_to_sql`.

    ``item`` keys: ``text``, ``lang``, ``source``, ``author``, ``published_at`` (aware datetime,
    naive = UTC, or ISO text), ``sentiment``, ``unit``, ``entities`` (the item's spans). Pass ``tokens`` (space-joined string or
    list, as indexed) to skip re-tokenising when matching one item against many topics.
    """
    r, filters = _compile_any(node, tokenizer)
    if not all(_filter_ok(f, item, tz) for f in filters):
        return False
    if r is None:
        return True
    toks_in = item.get("tokens")
    if toks_in is None:
        toks = tokens_of(str(item.get("text") or ""), tokenizer)
    else:
        toks = toks_in.split() if isinstance(toks_in, str) else list(toks_in)
    return _eval(r, toks, frozenset(toks))
