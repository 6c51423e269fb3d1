#!/usr/bin/env bash
# Document memory (issue 17), side by side in one run: see BENCHMARKS.md, "Document memory".
#   bench/doc-memory.sh idle  [doc-memory.mjs flags]   Weft and the reference server, 40 idle 1 MiB documents
#   bench/doc-memory.sh churn [doc-churn.mjs flags]    Weft under waves of short-lived documents
# Env: WEFT_BIN (default $CARGO_TARGET_DIR/release/weft), WEFT_ARGS (extra serve flags; churn
# adds --doc-idle 5s unless WEFT_ARGS sets it), SHARED_BENCH (the harness, for the reference
# server), PORT (first port, default 9171). Needs `npm ci` in tests/js. Starts and stops its own
# servers; raw output is on stdout (the JSON summary is the last line).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "${SHARED_BENCH:-$ROOT/../shared/bench}" && pwd)
BIN=${WEFT_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/weft}
PORT=${PORT:-9171}
mode=${1:?usage: doc-memory.sh idle|churn [flags]}
shift
[ -x "$BIN" ] || { echo "no weft binary at $BIN (cargo build --release --bin weft, or set WEFT_BIN)" >&2; exit 2; }
DATA=$(mktemp -d /tmp/weft-docmem.XXXXXX)
WEFT_PID="" REF_STARTED=0
cleanup() {
  [ -n "$WEFT_PID" ] && kill "$WEFT_PID" 2>/dev/null && wait "$WEFT_PID" 2>/dev/null
  [ "$REF_STARTED" = 1 ] && "$SHARED/reference-server.sh" stop $((PORT + 1)) >/dev/null 2>&1
  rm -rf "$DATA"
}
trap cleanup EXIT INT TERM

start_weft() {
  # shellcheck disable=SC2086
  "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" --web-dir "$DATA/no-web" "$@" ${WEFT_ARGS:-} \
    >"$DATA/weft.log" 2>&1 </dev/null &
  WEFT_PID=$!
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && return 0
    sleep 0.1
  done
  echo "weft did not come up; see $DATA/weft.log" >&2
  exit 1
}

case "$mode" in
  idle)
    start_weft
    REF_PID=$("$SHARED/reference-server.sh" start $((PORT + 1)))
    REF_STARTED=1
    node "$ROOT/bench/doc-memory.mjs" \
      --server "weft=ws://127.0.0.1:$PORT/ws@$WEFT_PID" \
      --server "ref=ws://127.0.0.1:$((PORT + 1))@$REF_PID" "$@"
    ;;
  churn)
    case " ${WEFT_ARGS:-} " in *" --doc-idle "*) start_weft ;; *) start_weft --doc-idle 5s ;; esac
    node "$ROOT/bench/doc-churn.mjs" --url "ws://127.0.0.1:$PORT/ws" --pid "$WEFT_PID" "$@"
    ;;
  *) echo "usage: doc-memory.sh idle|churn [flags]" >&2; exit 2 ;;
esac
