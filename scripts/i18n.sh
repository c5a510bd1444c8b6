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

extract() {  # extract OUTPUT
  "$PYBABEL" extract -F babel.cfg -o "$1" --project civicpulse --version "${version:-0}" \
    --copyright-holder "civicpulse" --add-comments TRANSLATORS: \
    --sort-by-file --no-wrap \
    . 2>&1 | grep -v '^extracting messages from' || true
  [[ -s "$1" ]] || { echo "extraction failed: $1 is empty" >&2; exit 1; }
}

if [[ "${1:-}" == "check" ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  extract "$tmp/messages.pot"
  rc=0
  for lang in "${LOCALES[@]}"; do
    "$PYBABEL" update --check -D messages -i "$tmp/messages.pot" -d "$DIR" -l "$lang" --no-fuzzy-matching \
      >/dev/null 2>&1 || { echo "$lang: catalog out of date; run scripts/i18n.sh" >&2; rc=1; }
  done
  ((rc == 0)) && echo "catalogs are up to date with the sources"
  exit $rc
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
