#!/usr/bin/env bash
# Runs every test of Weft: Rust unit + black-box tests, the Node tests with the real
# yjs/y-websocket client, and (when present) the web client's unit and browser tests.
# Fails on the first failing suite. Needs: cargo (+ cargo-nextest if installed), node/npm,
# and for the browser tests Debian's chromium at /usr/bin/chromium (.ci/run installs it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export WEFT_BIN="$TARGET_DIR/debug/weft"

step() { printf '\n=== %s ===\n' "$*"; }

step "build (debug)"
cargo build --workspace --bins --quiet

step "Rust tests (unit, codec proptests, black-box against the real binary)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  echo "(cargo-nextest not found; using cargo test)"
  cargo test --workspace --no-fail-fast
fi
cargo test --workspace --doc --quiet

step "Node black-box tests (real yjs + y-websocket)"
(cd tests/js && npm ci --no-audit --no-fund --silent && npm test)

if [ -f web-client/package.json ]; then
  step "web client: unit tests, build, browser tests"
  (cd web-client && npm ci --no-audit --no-fund --silent && npm test && npm run build)
  if [ ! -x /usr/bin/chromium ]; then
    echo "Chromium is missing: install Debian's package (apt-get install -y chromium) — .ci/run does this." >&2
    exit 1
  fi
  (cd web-client && npm run e2e:nobuild)
fi

echo
echo "all tests passed"
