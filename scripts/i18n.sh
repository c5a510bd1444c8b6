#!/usr/bin/env bash
# Translation catalogs: extract every _("...") from the Python package and the Jinja2 templates into
# src/civicpulse/locale/messages.pot, then merge it into the vi, th and en catalogs.
#
#   scripts/i18n.sh          extract + update (new strings arrive with an empty msgstr: translate them)
#   scripts/i18n.sh check    only report whether the catalogs are out of date (exit 1 if they are)
#
# The .po files are loaded directly at run time (civicpulse/i18n.py); nothing is compiled.
# English is the source language: its catalog stays empty (identity).
# Fuzzy matching is off on purpose: a guessed translation is worse than a missing one, and
# tests/web/test_i18n.py fails on any empty or fuzzy entry.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
PYBABEL="${PYBABEL:-$here/.venv/bin/pybabel}"
[[ -x "$PYBABEL" ]] || PYBABEL=pybabel
LOCALES=(vi th en)
DIR=src/civicpulse/locale
POT=$DIR/messages.pot
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)

extract() {  # extract OUTPUT (a template syntax error fails it: silent = false in babel.cfg)
  local log
  log=$(mktemp)
  rm -f "$1"
  if ! "$PYBABEL" extract -F babel.cfg -o "$1" --project civicpulse --version "${version:-0}" \
      --copyright-holder "civicpulse" --add-comments TRANSLATORS: --sort-by-file --no-wrap . >"$log" 2>&1 \
      || [[ ! -s "$1" ]]; then
    grep -v '^extracting messages from' "$log" >&2 || true
    rm -f "$log"
    echo "extraction failed" >&2
    exit 1
  fi
  rm -f "$log"
}

if [[ "${1:-}" == "check" ]]; then
  # (pybabel update --check also compares header dates, so it always reports a fresh template as new)
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  extract "$tmp/messages.pot"
  PY="$here/.venv/bin/python"
  [[ -x "$PY" ]] || PY=python3
  "$PY" - "$tmp/messages.pot" "$DIR" "${LOCALES[@]}" <<'PYEOF'
import sys
from babel.messages.pofile import read_po

pot_path, locale_dir, *langs = sys.argv[1:]
with open(pot_path, "rb") as fh:
    wanted = {m.id for m in read_po(fh) if m.id}
rc = 0
for lang in langs:
    with open(f"{locale_dir}/{lang}/LC_MESSAGES/messages.po", "rb") as fh:
        cat = read_po(fh, locale=lang)
    have = {m.id for m in cat if m.id}
    todo = [] if lang == "en" else [
        m.id for m in cat if m.id in wanted
        and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))]
    missing, stale = wanted - have, have - wanted
    if missing or stale or todo:
        rc = 1
        print(f"{lang}: {len(missing)} new, {len(stale)} no longer used, {len(todo)} untranslated or fuzzy")
        for msgid in sorted(map(str, missing))[:20]:
            print(f"  new: {msgid!r}")
        for msgid in map(str, todo[:20]):
            print(f"  untranslated: {msgid!r}")
    else:
        print(f"{lang}: up to date ({len(have)} messages)")
sys.exit(rc)
PYEOF
  exit $?
fi

extract "$POT"
echo "$(grep -c '^msgid "' "$POT") entries (incl. header) in $POT"
for lang in "${LOCALES[@]}"; do
  po=$DIR/$lang/LC_MESSAGES/messages.po
  if [[ -f "$po" ]]; then
    "$PYBABEL" update -D messages -i "$POT" -d "$DIR" -l "$lang" --no-fuzzy-matching --ignore-obsolete \
      --no-wrap --update-header-comment
  else
    "$PYBABEL" init -D messages -i "$POT" -d "$DIR" -l "$lang" --no-wrap
  fi
done
echo "now translate every empty msgstr in $DIR/{vi,th}/LC_MESSAGES/messages.po, then run"
echo "  .venv/bin/python -m pytest tests/web/test_i18n.py"
