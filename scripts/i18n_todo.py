"""Hand the untranslated catalog entries to a translator as JSON, and take the translations back.

    .venv/bin/python scripts/i18n_todo.py export todo.json      # after scripts/i18n.sh: empty vi/th entries
    .venv/bin/python scripts/i18n_todo.py import todo.json      # writes the filled-in strings into the .po files

The JSON is a list of objects ``{"id": msgid, "plural": msgid_plural or null, "where": "file:line", "vi": "", "th": ""}``;
for plural entries the vi/th values are lists (one string per plural form; vi and th have one form).
Entries left empty stay untranslated (tests/web/test_i18n.py fails on them), so nothing is guessed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "src" / "civicpulse" / "locale"
LANGS = ("vi", "th")


def _po(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"


def _empty(string: object) -> bool:
    return not (all(string) if isinstance(string, tuple) else string)


def export(out: Path) -> int:
    todo: dict[object, dict[str, object]] = {}
    for lang in LANGS:
        with _po(lang).open("rb") as fh:
            cat = read_po(fh, locale=lang)
        for m in cat:
            if not m.id or not (_empty(m.string) or m.fuzzy):
                continue
            key = m.id
            entry = todo.setdefault(key, {
                "id": m.id[0] if isinstance(m.id, tuple) else m.id,
                "plural": m.id[1] if isinstance(m.id, tuple) else None,
                "where": ", ".join(f"{f}:{n}" for f, n in m.locations[:3]),
                **{lg: ([""] if isinstance(m.id, tuple) else "") for lg in LANGS},
            })
            entry[f"_{lang}_missing"] = True
    rows = [{k: v for k, v in e.items() if not k.startswith("_")} for e in todo.values()]
    out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{len(rows)} entries to translate written to {out}")
    return 0


def import_(src: Path) -> int:
    rows = json.loads(src.read_text(encoding="utf-8"))
    by_id = {(r["id"], r.get("plural")): r for r in rows}
    for lang in LANGS:
        path = _po(lang)
        with path.open("rb") as fh:
            cat = read_po(fh, locale=lang)
        filled = 0
        for m in cat:
            if not m.id:
                continue
            key = (m.id[0], m.id[1]) if isinstance(m.id, tuple) else (m.id, None)
            row = by_id.get(key)
            value = row.get(lang) if row else None
            if not value:
                continue
            if isinstance(m.id, tuple):
                m.string = tuple(value) if isinstance(value, list) else (value,)
            else:
                m.string = value
            m.flags.discard("fuzzy")
            filled += 1
        with path.open("wb") as fh:
            write_po(fh, cat, width=0, omit_header=False)
        print(f"{lang}: {filled} entries filled")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"export", "import"}:
        print(__doc__)
        return 2
    return export(Path(argv[1])) if argv[0] == "export" else import_(Path(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
