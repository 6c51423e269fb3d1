#!/usr/bin/env bash
# Weft's /hocuspocus endpoint vs the real Hocuspocus server (@hocuspocus/server, in memory),
# side by side in one run, both loaded by load.mjs (the real @hocuspocus/provider).
#
#   bench/hocuspocus/run.sh [--runs N] [--clients 50] [--rate 200] [--warmup 3] [--duration 12]
#                           [--weft-arg ARG]... [-- extra load.mjs options, e.g. --workers 2]
#
# Each run is a pair: start server.mjs (Hocuspocus) on a free port, run load.mjs against
# ws://127.0.0.1:PORT/ with --server-pid, stop it; then start Weft (a fresh, empty data
# folder) and run load.mjs against ws://127.0.0.1:PORT/hocuspocus, stop it. Prints a markdown
# table (server CPU seconds over the measured window, latency p50/p99, deliveries/s,
# convergence, Weft/Hocuspocus ratios) and writes every run's JSON summaries to
# bench/hocuspocus/results/<UTC date-time>.json. Does not build Weft.
# Weft runs as documented (`weft serve`, embedded store, its default --sqlite-sync full: every
# batch is committed, fsynced, before it is broadcast); Hocuspocus keeps nothing. --weft-arg
# adds an argument to `weft serve` (e.g. --weft-arg --sqlite-sync=normal), recorded in the JSON.
# Env: WEFT_BIN (default ${CARGO_TARGET_DIR:-<repo>/target}/release/weft).
# Installs the npm packages with `npm ci` when node_modules is missing. Every process it
# started is stopped on exit, failure or Ctrl-C.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WEFT_BIN=${WEFT_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/weft}
RUNS=1 CLIENTS=50 RATE=200 WARMUP=3 DURATION=12
EXTRA=()
WEFT_ARGS=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=${2:?--runs needs a number}; shift ;;
    --clients) CLIENTS=${2:?}; shift ;;
    --rate) RATE=${2:?}; shift ;;
    --warmup) WARMUP=${2:?}; shift ;;
    --duration) DURATION=${2:?}; shift ;;
    --weft-arg) WEFT_ARGS+=("${2:?--weft-arg needs an argument}"); shift ;;
    --weft-arg=*) WEFT_ARGS+=("${1#--weft-arg=}") ;;
    --) shift; EXTRA=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
case "$RUNS" in '' | *[!0-9]*) echo "--runs must be a positive integer" >&2; exit 2 ;; esac
[ "$RUNS" -ge 1 ] && [ "$RUNS" -le 50 ] || { echo "--runs must be 1..50" >&2; exit 2; }
[ -x "$WEFT_BIN" ] || { echo "no Weft binary at $WEFT_BIN (build it, or set WEFT_BIN)" >&2; exit 1; }
command -v node >/dev/null || { echo "node is required" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

if [ ! -d "$HERE/node_modules/@hocuspocus/server" ] || [ ! -d "$HERE/node_modules/@hocuspocus/provider" ]; then
  echo "installing npm packages (npm ci)" >&2
  (cd "$HERE" && npm ci --engine-strict=false --no-audit --no-fund >&2)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/weft-hp-bench.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# stop PID: SIGTERM, then SIGKILL after 5 s.
stop() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=(${keep[@]+"${keep[@]}"})
}

# load NAME URL PID OUT: runs load.mjs, appends its JSON summary (tagged) to OUT.
load() {
  local name=$1 url=$2 pid=$3 out=$4 run=$5 rc=0
  echo "--- run $run: $name ($url, server pid $pid)" >&2
  node "$HERE/load.mjs" --url "$url" --server-pid "$pid" --clients "$CLIENTS" --rate "$RATE" \
    --warmup "$WARMUP" --duration "$DURATION" ${EXTRA[@]+"${EXTRA[@]}"} >"$WORK/load.out" || rc=$?
  local line
  line=$(tail -n 1 "$WORK/load.out")
  case "$line" in
    '{"tool":"hocuspocus-load"'*) ;;
    *) line='{"tool":"hocuspocus-load","ok":false,"error":"no summary"}' ;;
  esac
  printf '{"run":%d,"server":"%s","loadExit":%d,"summary":%s}\n' "$run" "$name" "$rc" "$line" >>"$out"
}

RESULTS_JSONL="$WORK/results.jsonl"
: >"$RESULTS_JSONL"
HP_VERSION=$(node -p "require('$HERE/node_modules/@hocuspocus/server/package.json').version")
PROVIDER_VERSION=$(node -p "require('$HERE/node_modules/@hocuspocus/provider/package.json').version")
WEFT_VERSION=$("$WEFT_BIN" --version 2>/dev/null || echo unknown)
echo "Hocuspocus server $HP_VERSION, provider $PROVIDER_VERSION, $WEFT_VERSION ($WEFT_BIN)" >&2

for run in $(seq "$RUNS"); do
  # Hocuspocus (in memory), at the root path.
  port=$(free_port)
  node "$HERE/server.mjs" --port "$port" >"$WORK/hocuspocus.log" 2>&1 &
  hp_pid=$!
  PIDS+=("$hp_pid")
  for _ in $(seq 150); do
    grep -q '^listening' "$WORK/hocuspocus.log" 2>/dev/null && break
    kill -0 "$hp_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^listening' "$WORK/hocuspocus.log"; then
    echo "Hocuspocus server did not start:" >&2; cat "$WORK/hocuspocus.log" >&2; exit 1
  fi
  load hocuspocus "ws://127.0.0.1:$port/" "$hp_pid" "$RESULTS_JSONL" "$run"
  stop "$hp_pid"
  sleep 1

  # Weft, open (no WEFT_AUTH_SECRET), a fresh data folder, on /hocuspocus.
  port=$(free_port)
  data="$WORK/weft-data-$run"
  mkdir -p "$data"
  env -u WEFT_AUTH_SECRET "$WEFT_BIN" serve --listen "127.0.0.1:$port" --data-dir "$data" \
    --web-dir "$data/none" --log warn ${WEFT_ARGS[@]+"${WEFT_ARGS[@]}"} >"$WORK/weft.log" 2>&1 &
  weft_pid=$!
  PIDS+=("$weft_pid")
  for _ in $(seq 150); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$weft_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    echo "Weft did not start:" >&2; tail -n 20 "$WORK/weft.log" >&2; exit 1
  fi
  load weft "ws://127.0.0.1:$port/hocuspocus" "$weft_pid" "$RESULTS_JSONL" "$run"
  stop "$weft_pid"
  sleep 1
done

mkdir -p "$HERE/results"
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT_JSON="$HERE/results/$STAMP.json"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

COMMIT="$COMMIT" WEFT_VERSION="$WEFT_VERSION" WEFT_BIN="$WEFT_BIN" HP_VERSION="$HP_VERSION" \
  PROVIDER_VERSION="$PROVIDER_VERSION" CLIENTS="$CLIENTS" RATE="$RATE" WARMUP="$WARMUP" \
  DURATION="$DURATION" RUNS="$RUNS" WEFT_ARGS="${WEFT_ARGS[*]-}" LOAD_ARGS="${EXTRA[*]-}" node - "$RESULTS_JSONL" "$OUT_JSON" <<'EOF'
const fs = require('fs')
const [jsonl, outPath] = process.argv.slice(2)
const E = process.env
const rows = fs.readFileSync(jsonl, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
const meta = {
  date: new Date().toISOString(), commit: E.COMMIT, weft: E.WEFT_VERSION, weftBin: E.WEFT_BIN,
  hocuspocusServer: E.HP_VERSION, hocuspocusProvider: E.PROVIDER_VERSION, node: process.version,
  cpus: require('os').cpus().length, loadavgAtEnd: require('os').loadavg(),
  clients: Number(E.CLIENTS), rate: Number(E.RATE), warmupS: Number(E.WARMUP), durationS: Number(E.DURATION), runs: Number(E.RUNS),
  weftExtraArgs: E.WEFT_ARGS, loadExtraArgs: E.LOAD_ARGS
}
const median = (xs) => { const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b); if (!v.length) return null; const m = v.length >> 1; return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2 }
const pick = (server, f) => rows.filter((r) => r.server === server).map((r) => f(r.summary))
const fig = {
  cpu: (s) => s.serverCpuSeconds, p50: (s) => s.latencyMs?.p50, p99: (s) => s.latencyMs?.p99,
  dps: (s) => s.deliveredPerSec, rss: (s) => s.serverRssKiB
}
const med = {}
for (const server of ['hocuspocus', 'weft']) {
  med[server] = {}
  for (const [k, f] of Object.entries(fig)) med[server][k] = median(pick(server, f))
}
const ratio = (k) => (med.weft[k] != null && med.hocuspocus[k]) ? Math.round(1000 * med.weft[k] / med.hocuspocus[k]) / 1000 : null
const ratios = { cpu: ratio('cpu'), p50: ratio('p50'), p99: ratio('p99'), deliveredPerSec: ratio('dps'), rss: ratio('rss') }
fs.writeFileSync(outPath, JSON.stringify({ meta, medians: med, ratiosWeftOverHocuspocus: ratios, runs: rows }, null, 2) + '\n')

const f = (x, d = 1) => x == null ? '—' : Number(x).toFixed(d)
const lines = []
lines.push(`Weft /hocuspocus vs Hocuspocus ${meta.hocuspocusServer} (provider ${meta.hocuspocusProvider}): ${meta.clients} clients on one document, ${meta.rate} edits/s, ${meta.durationS} s window after ${meta.warmupS} s warmup${meta.weftExtraArgs ? `; weft serve ${meta.weftExtraArgs}` : ''}${meta.loadExtraArgs ? `; load.mjs ${meta.loadExtraArgs}` : ''}`)
lines.push('')
lines.push('| run | server | server CPU s | CPU % | p50 ms | p99 ms | delivered/s | converged | ok | RSS MiB | loadgen ELU |')
lines.push('|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|')
for (const r of rows) {
  const s = r.summary
  lines.push(`| ${r.run} | ${r.server} | ${f(s.serverCpuSeconds, 2)} | ${f(s.serverCpuPercent)} | ${f(s.latencyMs?.p50)} | ${f(s.latencyMs?.p99)} | ${f(s.deliveredPerSec, 0)} | ${s.converged ?? '—'} | ${s.ok} | ${f(s.serverRssKiB == null ? null : s.serverRssKiB / 1024)} | ${f(s.loadgenEventLoopUtilization, 2)}${s.loadgenEventLoopUtilization >= 0.95 ? ' ⚠' : ''} |`)
}
if (rows.some((r) => r.summary.loadgenEventLoopUtilization >= 0.95)) {
  lines.push('')
  lines.push('⚠ the load generator was saturated (event loop ≥ 95% busy): that run\'s latency measures the client more than the server.')
}
lines.push('')
const label = rows.length > 2 ? 'medians over runs' : 'this run'
lines.push(`Weft / Hocuspocus (${label}): server CPU ${f(ratios.cpu, 2)}x, p50 ${f(ratios.p50, 2)}x, p99 ${f(ratios.p99, 2)}x, delivered/s ${f(ratios.deliveredPerSec, 2)}x, RSS ${f(ratios.rss, 2)}x`)
lines.push('')
lines.push(`Results: ${outPath}`)
console.log(lines.join('\n'))
process.exit(rows.every((r) => r.summary.ok) ? 0 : 1)
EOF
