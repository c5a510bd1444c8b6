"""Entity finder: provinces of Vietnam and Thailand, ministries and own units from gazetteers; people
and other organisations around them (:mod:`civicpulse.nlp.names`).

Matching is leftmost-longest over trie-compiled regular expressions (fast: one pass per
regex), case-insensitive, with and without Vietnamese diacritics, on the NFC text with
Vietnamese tone placement normalised (these steps keep character offsets, so ``start`` /
``end`` index the NFC form of the input — identical to the input for ordinary text).

Span: ``{"type", "text", "start", "end", "id", "name"}`` plus, for a Vietnamese province
that no longer exists after the 2025 merger, ``"former": True, "current_id", "current_name"``.

Types: ``province`` (ids ``vn:<slug>``, ``vn-old:<slug>``, ``th:<code>``), ``ministry``
(``vn-ministry:<code>``, ``th-ministry:<code>``) and any type given for extra entries
(ids like ``unit:<code>``; the type is the part before the colon); ``person`` and ``org``
(ids ``person:<key>``, ``org:<key>``, see :mod:`civicpulse.nlp.names`).

    finder = EntityFinder(extra={"unit:dn-ict": ["Sở Thông tin Đà Nẵng", "สำนักงานไอซีที", "Da Nang ICT Dept"]})
    finder.find("Bình Dương giờ thuộc TP.HCM")
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from civicpulse.nlp import gazetteer as gz
from civicpulse.nlp import names as name_rules
from civicpulse.nlp.lexicon import first_char_guard
from civicpulse.nlp.normalize import fix_surrogates, strip_diacritics, vi_tone_old_style


def slug(name: str) -> str:
    s = strip_diacritics(name).lower()
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")


@dataclass(frozen=True)
class Entry:
    id: str
    type: str
    name: str
    extra: tuple[tuple[str, Any], ...] = ()


def _is_thai(s: str) -> bool:
    return any("\u0e00" <= c <= "\u0e7f" for c in s)


# Places named after a person, with the words that, right before the bare name, make it the person.
_PERSON_PLACES = {"vn:ho-chi-minh": "hochiminh"}
_PERSON_TITLE_BEFORE_RE = re.compile(r"(?<![^\W_])(?:chủ tịch|bác|tư tưởng|lãnh tụ|chu tich|bac|tu tuong|lanh tu)[ ]+$",
                                     re.IGNORECASE)


def _person_not_place(s: str, span: dict[str, Any]) -> bool:
    bare = _PERSON_PLACES.get(span["id"])
    return (bare is not None and strip_diacritics(span["text"]).lower().replace(" ", "") == bare
            and _PERSON_TITLE_BEFORE_RE.search(s, max(0, span["start"] - 20), span["start"]) is not None)


def _trie_regex(words: Iterable[str]) -> str:
    """A regex matching any of ``words`` (longest first thanks to greedy optional groups)."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = True

    def piece(ch: str) -> str:
        if ch == " ":
            return r"\s+"
        if ch in "-–":
            return r"\s*[-–]?\s*"
        if ch == ".":
            return r"\.?\s*"
        return re.escape(ch)

    def build(node: dict[str, Any]) -> str:
        end = "" in node
        alts = [piece(ch) + build(child) for ch, child in sorted(node.items()) if ch != ""]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if end else body

    return build(trie)


class EntityFinder:
    """Find gazetteer entities in text. Thread-safe; ``add`` rebuilds lazily."""

    def __init__(
        self, extra: dict[str, Sequence[str]] | None = None, include_builtin: bool = True, tagger: bool = True
    ) -> None:
        self.tagger = tagger  # underthesea's tagger on Vietnamese sentences the rules leave unexplained
        self._lock = threading.Lock()
        self._aliases: dict[str, list[tuple[str, Entry, bool]]] = {}  # key -> (alias, entry, case_sensitive)
        self._by_key: dict[tuple[str, bool], Entry] = {}
        self._compiled: list[tuple[re.Pattern[str], bool]] | None = None
        if include_builtin:
            for alias, entry, cs in _builtin_aliases():
                self._add_alias(alias, entry, cs)
        for eid, names in (extra or {}).items():
            self.add(eid, names)

    # ------------------------------------------------------------------ building
    def _add_alias(self, alias: str, entry: Entry, case_sensitive: bool = False) -> None:
        alias = vi_tone_old_style(unicodedata.normalize("NFC", alias.strip()))
        if len(alias) < 2:
            return
        key = alias if case_sensitive else alias.lower()
        k = (key, case_sensitive)
        if k in self._by_key:
            # first registration wins (current names are registered before former ones)
            return
        self._by_key[k] = entry
        self._compiled = None

    def add(self, entity_id: str, names: Sequence[str] | str, type: str | None = None, **extra: Any) -> None:
        """Register an entity (e.g. the organisation's own unit) under one or more names."""
        if isinstance(names, str):
            names = [names]
        etype = type or (entity_id.split(":", 1)[0] if ":" in entity_id else "unit")
        entry = Entry(entity_id, etype, names[0] if names else entity_id, tuple(sorted(extra.items())))
        with self._lock:
            # own units override built-in names
            for n in names:
                for variant in {n, strip_diacritics(n)}:
                    alias = vi_tone_old_style(unicodedata.normalize("NFC", variant.strip()))
                    if len(alias) >= 2:
                        self._by_key[(alias.lower(), False)] = entry
            self._compiled = None

    def _compile(self) -> list[tuple[re.Pattern[str], bool]]:
        with self._lock:
            if self._compiled is not None:
                return self._compiled
            groups: dict[tuple[bool, bool], list[str]] = {}
            for (key, cs), _ in self._by_key.items():
                groups.setdefault((_is_thai(key), cs), []).append(key)
            out = []
            for (thai, cs), keys in groups.items():
                body = _trie_regex(keys)
                if thai:
                    pat = body  # Thai has no spaces between words
                else:  # the guard only where every key starts with a character matched as itself
                    guard = "" if any(k[0] in " -–.\\" for k in keys) else first_char_guard(keys)
                    pat = guard + r"(?<![^\W_])" + body + r"(?![^\W_])"
                flags = 0 if cs else re.IGNORECASE
                out.append((re.compile(pat, flags), cs))
            self._compiled = out
            return out

    def _lookup(self, matched: str, cs: bool) -> Entry | None:
        m = re.sub(r"\s+", " ", matched)
        cands = [m, re.sub(r"\s*[-–]\s*", " - ", m), re.sub(r"\s*[-–]\s*", "-", m), m.replace(". ", "."), m.replace(" ", "")]
        for c in cands:
            e = self._by_key.get((c if cs else c.lower(), cs))
            if e is not None:
                return e
        # last resort: compare with whitespace/punctuation removed
        squash = re.sub(r"[\s.\-–]", "", m if cs else m.lower())
        for (key, kcs), e in self._by_key.items():
            if kcs == cs and re.sub(r"[\s.\-–]", "", key) == squash:
                return e
        return None

    # ------------------------------------------------------------------ finding
    def find(self, text: object, lang: str | None = None, people: bool = True) -> list[dict[str, Any]]:
        """Entity spans in ``text``, sorted by start: the gazetteer's (non-overlapping, leftmost-longest),
        then with ``people`` the people and organisations of :mod:`civicpulse.nlp.names` around them (an
        organisation's span may hold a province's: *Sở Y tế Hà Nội*). ``lang``: the text's language
        where known. Never raises."""
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        if not text:
            return []
        s = vi_tone_old_style(unicodedata.normalize("NFC", fix_surrogates(text)))
        cands: list[tuple[int, int, bool]] = []
        for rx, cs in self._compile():
            for m in rx.finditer(s):
                if m.end() > m.start():
                    cands.append((m.start(), m.end(), cs))
        cands.sort(key=lambda c: (c[0], -(c[1] - c[0])))
        out: list[dict[str, Any]] = []
        last = -1
        for start, end, cs in cands:
            if start < last:
                continue
            raw = s[start:end]
            stripped = raw.rstrip(" .-–")
            end = start + len(stripped)
            e = self._lookup(stripped, cs)
            if e is None:
                continue
            span: dict[str, Any] = {"type": e.type, "text": stripped, "start": start, "end": end, "id": e.id, "name": e.name}
            span.update(dict(e.extra))
            out.append(span)
            last = end
        if people:
            # Hồ Chí Minh after Chủ tịch, Bác, tư tưởng… is the man, not the city (found below as a person)
            out = [sp for sp in out if not _person_not_place(s, sp)]
            places = [(sp["start"], sp["end"]) for sp in out if sp["type"] == "province"]
            taken = [(sp["start"], sp["end"]) for sp in out if sp["type"] != "province"]
            found = name_rules.find(s, lang, taken, places, tagger=self.tagger)
            if found:
                out = sorted(out + found, key=lambda sp: (sp["start"], -sp["end"]))
        return out

    def find_batch(self, texts: Sequence[object], langs: Sequence[str | None] | None = None) -> list[list[dict[str, Any]]]:
        return [self.find(t, langs[i] if langs else None) for i, t in enumerate(texts)]


@lru_cache(maxsize=1)
def _builtin_aliases() -> tuple[tuple[str, Entry, bool], ...]:
    out: list[tuple[str, Entry, bool]] = []

    def add(names: Iterable[str], entry: Entry) -> None:
        for n in names:
            out.append((n, entry, False))
            plain = strip_diacritics(n)
            if plain != n or n in gz.VN_CASE_SENSITIVE:
                out.append((plain, entry, plain in gz.VN_CASE_SENSITIVE))

    # Vietnam, current 34 first (so a shared name maps to the current unit).
    for cur in gz.VN_MERGER:
        kind = "city" if cur in gz.VN_CITIES else "province"
        entry = Entry(f"vn:{slug(cur)}", "province", cur, (("country", "VN"), ("level", kind)))
        add([cur] + gz.VN_ALIASES.get(cur, []), entry)
    for cur, olds in gz.VN_MERGER.items():
        for old in olds:
            if old == cur:
                continue
            entry = Entry(
                f"vn-old:{slug(old)}",
                "province",
                old,
                (("country", "VN"), ("current_id", f"vn:{slug(cur)}"), ("current_name", cur), ("former", True)),
            )
            add([old] + gz.VN_ALIASES.get(old, []), entry)
    # Thailand.
    for th, en, code in gz.thai_provinces():
        entry = Entry(f"th:{code.lower()}", "province", th, (("country", "TH"), ("name_en", en)))
        if th in gz.TH_AMBIGUOUS:
            out.extend((f"{p}{th}", entry, False) for p in ("จังหวัด", "จ.", "จ. "))
        else:
            out.append((th, entry, False))
            out.extend((f"{p}{th}", entry, False) for p in ("จังหวัด", "จ."))
        out.append((en, entry, False))
        if th == "กรุงเทพมหานคร":
            out.extend((a, entry, False) for a in ("กรุงเทพฯ", "กรุงเทพ", "กทม.", "กทม", "Krung Thep"))
    # Ministries.
    for code, info in gz.VN_MINISTRIES.items():
        extra: tuple[tuple[str, Any], ...] = (("country", "VN"),)
        if "current" in info:
            extra += (("current_id", f"vn-ministry:{info['current']}"), ("former", True))
        names = list(info["names"])
        entry = Entry(f"vn-ministry:{code}", "ministry", names[0], extra)
        add(names, entry)
    for code, names in gz.TH_MINISTRIES.items():
        entry = Entry(f"th-ministry:{code}", "ministry", names[0], (("country", "TH"),))
        out.extend((n, entry, False) for n in names)
        if names[0].startswith("กระทรวง"):
            out.append(("ก." + names[0][len("กระทรวง") :], entry, False))
    return tuple(out)


_default: EntityFinder | None = None
_default_lock = threading.Lock()


def default_finder() -> EntityFinder:
    global _default
    with _default_lock:
        if _default is None:
            _default = EntityFinder()
        return _default


def find_entities(text: object) -> list[dict[str, Any]]:
    """Spans found by the default (built-in gazetteer) finder."""
    return default_finder().find(text)
