#!/usr/bin/env bash
# Version folding under load (issue 14): the same fanout.mjs load against the embedded store
# with versions off and with a version every 10 committed updates, 5 kept (so every version
# folds the oldest away). Prints, per run, the store commit p99 (from weft_store_commit_seconds,
# interpolated in its bucket), the update latency p99 seen by the clients, and the versions saved.
#
#   bench/version-folding.sh [SECONDS]     # needs the release binary (cargo build --release -p weft-server)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${WEFT_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/weft}
BENCH=${SHARED_BENCH:-$ROOT/../shared/bench}
DURATION=${1:-20}
[ -x "$BIN" ] || { echo "no release binary at $BIN" >&2; exit 1; }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# p99 of a Prometheus histogram, linearly interpolated inside its bucket.
p99() {
  python3 -c '
import re, sys
name = sys.argv[1]
buckets = []
for line in sys.stdin:
    m = re.match(name + r"_bucket\{le=\"([^\"]+)\"\} (\S+)", line)
    if m:
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        buckets.append((le, float(m.group(2))))
buckets.sort()
total = buckets[-1][1] if buckets else 0
if total == 0:
    print("n/a"); sys.exit()
want, lo, below = 0.99 * total, 0.0, 0.0
for le, count in buckets:
    if count >= want:
        frac = (want - below) / max(count - below, 1)
        print(f"{(lo + (le - lo) * frac) * 1000:.2f} ms ({int(total)} commits)"); break
    lo, below = le, count
' "$1"
}

run() {
  local label=$1; shift
  local dir port pid
  dir=$(mktemp -d); port=$(port)
  "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" --web-dir "$dir/none" --log warn "$@" &
  pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  local out
  out=$(node "$BENCH/dist/fanout.mjs" --url "ws://127.0.0.1:$port/ws" --server-pid "$pid" \
        --duration "$DURATION" --quiet 2>&1 | tail -n 1)
  local metrics
  metrics=$(curl -sf "http://127.0.0.1:$port/metrics")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  echo "== $label"
  echo "commit p99: $(p99 weft_store_commit_seconds <<<"$metrics")"
  echo "versions saved: $(grep -E '^weft_versions_saved_total' <<<"$metrics" | awk '{print $2}' || echo 0)"
  echo "fanout: $(python3 -c "import json,sys; d=json.loads(sys.argv[1]); l=d.get(\"latencyMs\") or d.get(\"latency\") or {}; print({k: d[k] for k in d if k in (\"ok\",\"latencyMs\",\"deliveredPerSec\",\"server\")})" "$out" 2>/dev/null || echo "${out:0:300}")"
}

run "versions off" --version-every-updates 0 --version-interval 0s
run "a version every 10 updates, 5 kept" --version-every-updates 10 --versions-keep 5 --version-interval 0s
