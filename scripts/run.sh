#!/usr/bin/env bash
# Runs Weft with the web client and the embedded store: http://127.0.0.1:8080
# Any extra arguments go to `weft serve` (see `weft --help`), e.g. --listen 0.0.0.0:8080.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ -f web-client/package.json ]; then
  if [ ! -f web-client/dist/index.html ] || [ -n "$(find web-client/src web-client/index.html -newer web-client/dist/index.html 2>/dev/null | head -n 1)" ]; then
    echo "building the web client (web-client/dist)..." >&2
    (cd web-client && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
  fi
fi
exec cargo run --release --quiet --bin weft -- serve --web-dir "$ROOT/web-client/dist" "$@"
