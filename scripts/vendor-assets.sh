#!/usr/bin/env bash
# Refresh the vendored front-end assets from the npm registry (pinned versions; no CDN at run time).
set -euo pipefail
HTMX=2.0.11
ECHARTS=5.6.0
here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/src/civicpulse/web/ui/static/vendor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack "htmx.org@$HTMX" "echarts@$ECHARTS" >/dev/null
tar xzf "htmx.org-$HTMX.tgz" && mv package htmx
tar xzf "echarts-$ECHARTS.tgz" && mv package echarts
mkdir -p "$dest/htmx" "$dest/echarts"
cp htmx/dist/htmx.min.js htmx/LICENSE "$dest/htmx/"
cp echarts/dist/echarts.min.js echarts/LICENSE echarts/NOTICE "$dest/echarts/"
echo "vendored htmx $HTMX and echarts $ECHARTS into $dest"
