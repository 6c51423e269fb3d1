#!/usr/bin/env bash
# Runs every test of Weft: Rust unit + black-box tests, the Node tests with the real
# yjs/y-websocket client, and (when present) the web client's unit and browser tests.
# Fails on the first failing suite. Needs: cargo (+ cargo-nextest if installed), node/npm,
# and for the browser tests Debian's chromium at /usr/bin/chromium (installed here when missing, as root).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export WEFT_BIN="$TARGET_DIR/debug/weft"

step() { printf '\n=== %s ===\n' "$*"; }

# PostgreSQL for the store tests: DATABASE_URL if given, else a throwaway server.
if [ -n "${DATABASE_URL:-}" ]; then
  export WEFT_TEST_DATABASE_URL=${WEFT_TEST_DATABASE_URL:-$DATABASE_URL}
  unset DATABASE_URL   # servers under test choose their store explicitly
fi
if [ -z "${WEFT_TEST_DATABASE_URL:-}" ]; then
  step "throwaway PostgreSQL"
  PG_TMP=$(mktemp -d)
  chmod 755 "$PG_TMP"
  trap '"$ROOT/scripts/pg-test-server.sh" stop "$PG_TMP/pg"; rm -rf "$PG_TMP"' EXIT
  WEFT_TEST_DATABASE_URL=$("$ROOT/scripts/pg-test-server.sh" start "$PG_TMP/pg")
  export WEFT_TEST_DATABASE_URL
  echo "PostgreSQL at $WEFT_TEST_DATABASE_URL"
fi

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

# The neutral harness beside the repository (../shared/bench), when it is there.
BENCH="$ROOT/../shared/bench/dist"
if [ -f "$BENCH/converge.mjs" ]; then
  step "conformance with the shared harness (converge with restart + persistence, awareness, trace)"
  CONF_TMP=$(mktemp -d)
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  export WEFT_BIN CONF_TMP PORT
  cat >"$CONF_TMP/restart.sh" <<'EOS'
#!/usr/bin/env bash
[ -f "$CONF_TMP/pid" ] && { kill "$(cat "$CONF_TMP/pid")" 2>/dev/null; while kill -0 "$(cat "$CONF_TMP/pid")" 2>/dev/null; do sleep 0.05; done; }
"$WEFT_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$CONF_TMP/data" --web-dir "$CONF_TMP/none" --log warn >>"$CONF_TMP/weft.log" 2>&1 &
echo $! >"$CONF_TMP/pid"
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && exit 0; sleep 0.1; done
exit 1
EOS
  chmod +x "$CONF_TMP/restart.sh"
  "$CONF_TMP/restart.sh"
  conf_ok=0
  node "$BENCH/converge.mjs" --url "ws://127.0.0.1:$PORT/ws" --duration 8 --restart-cmd "$CONF_TMP/restart.sh" \
      --check-persist --persist-restart --quiet | tail -n 1 | cut -c1-300 || conf_ok=1
  node "$BENCH/awareness.mjs" --url "ws://127.0.0.1:$PORT/ws" --quiet | tail -n 1 | cut -c1-200 || conf_ok=1
  node "$BENCH/trace.mjs" --url "ws://127.0.0.1:$PORT/ws" --trace "$ROOT/../shared/bench/traces/sveltecomponent.json.gz" \
      --readers 2 --quiet | tail -n 1 | cut -c1-200 || conf_ok=1
  kill "$(cat "$CONF_TMP/pid")" 2>/dev/null || true
  if [ "$conf_ok" != 0 ]; then
    echo "conformance failed; server log: $CONF_TMP/weft.log" >&2
    tail -n 30 "$CONF_TMP/weft.log" >&2
    exit 1
  fi
  rm -rf "$CONF_TMP"
fi

if [ -f web-client/package.json ]; then
  step "web client: unit tests, build, browser tests"
  (cd web-client && npm ci --no-audit --no-fund --silent && npm test && npm run build)
  if [ ! -x /usr/bin/chromium ]; then
    # Debian's Chromium for the browser tests (never a tool's own browser download).
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing chromium (Debian package)"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq chromium >/dev/null
    else
      echo "Chromium is missing: install Debian's package (sudo apt-get install -y chromium)." >&2
      exit 1
    fi
  fi
  (cd web-client && npm run e2e:nobuild)
fi

echo
echo "all tests passed"
