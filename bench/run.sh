#!/usr/bin/env bash
# Weft vs the reference Node server, side by side in one run, with the neutral harness in
# ../shared/bench (see BENCHMARKS.md for what each measurement means and the targets).
#
#   bench/run.sh [--quick] [--only NAME[,NAME...]] [--no-pg] [--no-build]
#
# Builds Weft in release, then for every measurement starts each server fresh, runs the same
# harness tool against it with --server-pid, and stops it:
#   weft      Weft, embedded store (a fresh data folder per measurement)
#   weft-pg   Weft on PostgreSQL: $DATABASE_URL when set, else a throwaway server from
#             scripts/pg-test-server.sh; skipped (with a note) without the PG binaries or --no-pg
#   ref       the reference server (@y/websocket-server 0.1.1, in memory; with LevelDB
#             persistence for the cold-load measurement), ../shared/bench/reference-server.sh
#   relay     for the three `fanout*` only: `weft-loadgen relay`, a bare WebSocket relay (no CRDT, no
#             storage), the floor any server pays for the same deliveries
# Measurements (NAME for --only; a tool name selects every measurement made with it):
#   fanout       fanout.mjs defaults (1 doc x 50 clients, 200 edits/s)
#   fanout-docs  fanout.mjs --docs 100 --clients 10 (the default 200 edits/s per document:
#                20,000 edits/s in all, more than the harness can drive on 2 cores)
#   fanout-docs-r20  the same at --rate 20 per document, a load the harness sustains
#   per-doc      weft-loadgen fanout --docs 100 --clients 10 --rate 20: the same load from Rust
#                clients, with latency percentiles per document (fanout.mjs pools them)
#   observers    fanout.mjs --docs 1 --clients 1001 --writers 1 (1 writer -> 1,000 observers)
#   trace        trace.mjs --trace traces/rustcode.json.gz --fresh-clients 3
#   cold         trace.mjs ... --cold, with the server restarted while no client is connected
#   conns        conns.mjs --conns 10000 --docs 1000
#   join-storm   fanout.mjs fills one ~5 MB document, then 200 clients join it at once: the Rust
#                load generator (bench/loadgen), then conns.mjs
# Writes a table of figures and Weft/reference ratios to stdout and to
# bench/results/<date>-<commit>.md and .json (-quick.md/.json with --quick); raw tool outputs go to bench/results/raw/ (ignored).
# Every server it started is stopped on exit, failure or Ctrl-C.
# Env: CARGO_TARGET_DIR (where the release build goes), SHARED_BENCH (default ../shared/bench),
#      DATABASE_URL (use this PostgreSQL instead of a throwaway one; documents are left in it),
#      REF_DIR (reference server install folder, see reference-server.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "${SHARED_BENCH:-$ROOT/../shared/bench}" && pwd)
QUICK=0 ONLY="" NO_PG=0 BUILD=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) ONLY=${2:?--only needs a name}; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    --no-pg) NO_PG=1 ;;
    --no-build) BUILD=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

ALL="fanout fanout-docs fanout-docs-r20 per-doc observers trace cold conns join-storm"
tool_of() {
  case "$1" in
    fanout | fanout-docs | fanout-docs-r20 | observers) echo fanout ;;
    trace | cold) echo trace ;;
    conns | join-storm) echo conns ;;
  esac
}
for n in ${ONLY//,/ }; do
  case " $ALL fanout trace conns " in *" $n "*) ;; *) echo "--only: unknown measurement $n (one of: $ALL)" >&2; exit 2 ;; esac
done
want() {
  [ -z "$ONLY" ] && return 0
  case ",$ONLY," in *",$1,"* | *",$(tool_of "$1"),"*) return 0 ;; esac
  return 1
}
note() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

for cmd in node curl; do
  command -v "$cmd" >/dev/null || { echo "bench/run.sh needs $cmd" >&2; exit 2; }
done
[ -f "$SHARED/dist/fanout.mjs" ] || { echo "harness not found at $SHARED (set SHARED_BENCH)" >&2; exit 2; }

# ---- build ----
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET" in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
export WEFT_BIN=$TARGET/release/weft
LOADGEN=$TARGET/release/weft-loadgen
if [ "$BUILD" = 1 ]; then
  note "cargo build --release -p weft-server -p weft-loadgen (target $TARGET)"
  CARGO_TARGET_DIR=$TARGET cargo build --release -p weft-server -p weft-loadgen >&2
fi
[ -x "$WEFT_BIN" ] || { echo "$WEFT_BIN missing (drop --no-build)" >&2; exit 2; }
[ -x "$LOADGEN" ] || { echo "$LOADGEN missing (drop --no-build)" >&2; exit 2; }

# ---- bookkeeping, cleanup ----
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -c . || true)
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
RESULTS=$ROOT/bench/results
RAW=$RESULTS/raw/$STAMP-$COMMIT
mkdir -p "$RAW"
WORK=$(mktemp -d /tmp/weft-bench.XXXXXX)
STARTED=()    # "kind port" of every server running now
TOOL_PID=""   # the harness tool running now
PG_DIR=""

stop_server() { # kind port
  case "$1" in
    weft | weft-pg) "$ROOT/bench/weft-server.sh" stop "$2" || true ;;
    ref | ref-persist) "$SHARED/reference-server.sh" stop "$2" || true ;;
    relay) [ -n "${RELAY_PID:-}" ] && { kill "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null; RELAY_PID=""; } || true ;;
  esac
  local keep=() s
  for s in "${STARTED[@]}"; do [ "$s" = "$1 $2" ] || keep+=("$s"); done
  STARTED=("${keep[@]}")
}
cleanup() {
  local rc=$? s
  trap - EXIT INT TERM
  [ -n "$TOOL_PID" ] && kill "$TOOL_PID" 2>/dev/null
  for s in "${STARTED[@]}"; do
    # shellcheck disable=SC2086
    stop_server $s
  done
  [ -n "$PG_DIR" ] && { "$ROOT/scripts/pg-test-server.sh" stop "$PG_DIR" || true; rm -rf "$PG_DIR"; }
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Room for a server's descriptors and the harness' (conns.mjs needs N + 100): root may raise
# the hard limit, anyone the soft one up to it.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- PostgreSQL ----
SERVERS="weft"
PG_URL=""
PG_NOTE=""
if [ "$NO_PG" = 1 ]; then
  PG_NOTE="Weft on PostgreSQL skipped (--no-pg)"
elif [ -n "${DATABASE_URL:-}" ]; then
  PG_URL=$DATABASE_URL
  PG_NOTE="Weft on PostgreSQL at \$DATABASE_URL"
elif PG_DIR=$(mktemp -d /tmp/weft-bench-pg.XXXXXX) && PG_URL=$("$ROOT/scripts/pg-test-server.sh" start "$PG_DIR" 2>"$WORK/pg.err"); then
  PG_NOTE="Weft on a throwaway PostgreSQL (scripts/pg-test-server.sh, $(pg_config --version 2>/dev/null || echo version unknown), fsync on)"
else
  PG_NOTE="Weft on PostgreSQL skipped: $(head -n 1 "$WORK/pg.err")"
  rm -rf "$PG_DIR"; PG_DIR=""; PG_URL=""
fi
[ -n "$PG_URL" ] && SERVERS="weft weft-pg"
SERVERS="$SERVERS ref"
note "$PG_NOTE"

# start_server KIND LABEL: sets SRV_PID, SRV_PORT, SRV_URL, SRV_DATA.
start_server() {
  local kind=$1 label=$2
  SRV_PORT=$(free_port)
  SRV_DATA=$WORK/$label-$kind
  case "$kind" in
    weft)
      SRV_PID=$(env -u DATABASE_URL "$ROOT/bench/weft-server.sh" start "$SRV_PORT" "$SRV_DATA" | tail -n 1)
      SRV_URL=ws://127.0.0.1:$SRV_PORT/ws ;;
    weft-pg)
      SRV_PID=$(DATABASE_URL=$PG_URL "$ROOT/bench/weft-server.sh" start "$SRV_PORT" "$SRV_DATA" | tail -n 1)
      SRV_URL=ws://127.0.0.1:$SRV_PORT/ws ;;
    ref)
      SRV_PID=$("$SHARED/reference-server.sh" start "$SRV_PORT" | tail -n 1)
      SRV_URL=ws://127.0.0.1:$SRV_PORT ;;
    ref-persist)
      SRV_PID=$("$SHARED/reference-server.sh" start "$SRV_PORT" "$SRV_DATA" | tail -n 1)
      SRV_URL=ws://127.0.0.1:$SRV_PORT ;;
    relay)
      "$LOADGEN" relay --listen "127.0.0.1:$SRV_PORT" >"$WORK/relay.log" 2>&1 &
      RELAY_PID=$! SRV_PID=$!
      SRV_URL=ws://127.0.0.1:$SRV_PORT
      local i=0
      until grep -q listening "$WORK/relay.log" || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done ;;
  esac
  STARTED+=("$kind $SRV_PORT")
}
restart_server() { # kind: same port and data
  case "$1" in
    weft) env -u DATABASE_URL "$ROOT/bench/weft-server.sh" restart "$SRV_PORT" "$SRV_DATA" | tail -n 1 ;;
    weft-pg) DATABASE_URL=$PG_URL "$ROOT/bench/weft-server.sh" restart "$SRV_PORT" "$SRV_DATA" | tail -n 1 ;;
    ref-persist) "$SHARED/reference-server.sh" restart "$SRV_PORT" "$SRV_DATA" | tail -n 1 ;;
  esac
}

# record NAME SERVER LABEL CMD...: runs CMD against the current server, keeps its stdout/stderr
# in $RAW and its JSON summary (the last stdout line) in $RAW/NAME.SERVER.json; a run without
# one gets a failing summary naming LABEL.
record() {
  local name=$1 server=$2 label=$3 rc=0
  shift 3
  local base=$RAW/$name.$server
  # In the background and waited for, so that a signal reaches the traps at once.
  "$@" >"$base.out" 2>"$base.err" &
  TOOL_PID=$!
  wait "$TOOL_PID" || rc=$?
  TOOL_PID=""
  tail -n 1 "$base.out" >"$base.json"
  if ! node -e 'JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))' "$base.json" 2>/dev/null; then
    printf '{"tool":"%s","ok":false,"error":"no JSON summary (exit %s); see %s.err","failures":[]}\n' "$label" "$rc" "$(basename "$base")" >"$base.json"
  fi
  note "$name / $server: exit $rc ($(node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(j.ok?"PASS":"FAIL "+(j.error||"")+(j.failures||[]).slice(0,2).join("; "))' "$base.json"))"
  return 0
}

# tool NAME SERVER TOOL ARGS...: a harness tool from $SHARED (run from there: its flags name
# files like traces/...).
harness_tool() { cd "$SHARED" && exec node "dist/$1.mjs" --url "$SRV_URL" "${@:2}"; }
tool() { record "$1" "$2" "$3" harness_tool "${@:3}"; }

# loadgen NAME SERVER ARGS...: the same with the Rust load generator (bench/loadgen).
loadgen() { record "$1" "$2" weft-loadgen "$LOADGEN" "${@:3}"; }

# Durations and sizes (--quick: a smoke run of every path, figures not comparable).
if [ "$QUICK" = 1 ]; then
  FAN=(--duration 8 --warmup 2) LG_FAN=(--duration 8 --warmup 2) OBS_CLIENTS=201 TRACE_LIMIT=(--limit 8000)
  CONNS=(--conns 2000 --docs 200) STORM_EDIT=1000 STORM_CLIENTS=200
else
  FAN=() LG_FAN=() OBS_CLIENTS=1001 TRACE_LIMIT=()
  CONNS=(--conns 10000 --docs 1000) STORM_EDIT=5000 STORM_CLIENTS=200
fi

measure() { # NAME SERVER
  local name=$1 server=$2 kind=$2
  [ "$kind" = ref ] && [ "$name" = cold ] && kind=ref-persist
  start_server "$kind" "$name"
  local pid=$SRV_PID
  case "$name" in
    fanout) tool fanout "$server" fanout --server-pid "$pid" "${FAN[@]}" ;;
    fanout-docs) tool fanout-docs "$server" fanout --server-pid "$pid" --docs 100 --clients 10 --workers 2 "${FAN[@]}" ;;
    fanout-docs-r20)
      tool fanout-docs-r20 "$server" fanout --server-pid "$pid" --docs 100 --clients 10 --rate 20 --workers 2 "${FAN[@]}" ;;
    observers)
      tool observers "$server" fanout --server-pid "$pid" --docs 1 --clients "$OBS_CLIENTS" --writers 1 --rate 10 \
        --no-awareness --workers 2 --connect-timeout 180 "${FAN[@]}" ;;
    per-doc)
      loadgen per-doc "$server" fanout --url "$SRV_URL" --docs 100 --clients 10 --rate 20 \
        --server-pid "$pid" "${LG_FAN[@]}" ;;
    trace) tool trace "$server" trace --server-pid "$pid" --trace traces/rustcode.json.gz --fresh-clients 3 "${TRACE_LIMIT[@]}" ;;
    cold)
      # trace.mjs --cold closes every client, waits --cold-wait ms, then times one fresh client.
      # We restart the server inside that wait, so the fresh client loads from storage. The
      # PID changes on restart, so no --server-pid here (the trace measurement has the CPU).
      local base=$RAW/cold.$server rc=0 t0 t1 i=0
      (cd "$SHARED" && exec node dist/trace.mjs --url "$SRV_URL" --trace traces/rustcode.json.gz --fresh-clients 1 \
        --cold --cold-wait 12000 "${TRACE_LIMIT[@]}") >"$base.out" 2>"$base.err" &
      local tpid=$!
      TOOL_PID=$tpid
      while kill -0 "$tpid" 2>/dev/null && ! grep -q "fresh client 1:" "$base.err"; do sleep 0.05; done
      if kill -0 "$tpid" 2>/dev/null; then
        # Give the servers time to store the last updates first: the reference writes to
        # LevelDB asynchronously and, restarted 0.2 s after the clients left, once came back
        # without the last ~3,000 characters; 3 s later it still lost or duplicated text in
        # 3 runs of 3. Weft flushes on SIGTERM either way.
        sleep 8
        t0=$(date +%s%N)
        restart_server "$kind" >/dev/null
        t1=$(date +%s%N)
        printf '{"restartMs":%s}\n' "$(((t1 - t0) / 1000000))" >"$base.restart.json"
      fi
      wait "$tpid" || rc=$?
      TOOL_PID=""
      tail -n 1 "$base.out" >"$base.json"
      node -e 'JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))' "$base.json" 2>/dev/null \
        || printf '{"tool":"trace","ok":false,"error":"no JSON summary (exit %s)","failures":[]}\n' "$rc" >"$base.json"
      note "cold / $server: exit $rc, restart $(cat "$base.restart.json" 2>/dev/null || echo '{}')" ;;
    conns) tool conns "$server" conns --server-pid "$pid" "${CONNS[@]}" ;;
    join-storm)
      # One document of STORM_EDIT x 1,000 characters (one writer, 1,000 edits), then
      # STORM_CLIENTS clients join it at once: first raw protocol clients from the Rust load
      # generator (the measurement), then stock providers from conns.mjs (whose single Node
      # thread decoding every copy of the document is the bottleneck; kept for comparison).
      local room i
      room=yh-storm-$(date +%s)-$RANDOM
      tool join-storm-fill "$server" fanout --room "$room" --docs 1 --clients 2 --writers 1 --rate 200 \
        --edit-size "$STORM_EDIT" --duration 5 --warmup 0 --no-awareness --drain-timeout 60
      loadgen join-storm "$server" join-storm --url "$SRV_URL" --doc "$room-0" --clients "$STORM_CLIENTS" \
        --server-pid "$pid"
      tool join-storm-harness "$server" conns --server-pid "$pid" --room "$room" --docs 1 --conns "$STORM_CLIENTS" \
        --concurrency "$STORM_CLIENTS" --hold 1 --connect-timeout 60 ;;
  esac
  stop_server "$kind" "$SRV_PORT"
}

note "results in $RAW"
for name in $ALL; do
  want "$name" || continue
  for server in $SERVERS; do
    measure "$name" "$server"
  done
  # The floor: a bare relay serving the same clients (it cannot serve the others: 1,001
  # providers syncing each other through it, or a document it does not keep).
  case "$name" in fanout | fanout-docs | fanout-docs-r20) measure "$name" relay ;; esac
done

# ---- report ----
MACHINE_CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MACHINE_RAM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
export BENCH_DATE=$STAMP BENCH_COMMIT=$COMMIT BENCH_DIRTY=$DIRTY BENCH_QUICK=$QUICK BENCH_PG_NOTE=$PG_NOTE \
  BENCH_MACHINE="$(nproc) cores, $MACHINE_CPU, $MACHINE_RAM RAM, load $(cut -d' ' -f1-3 /proc/loadavg) at the end" \
  BENCH_NODE=$(node --version) BENCH_SERVERS="$SERVERS relay"
OUT=$RESULTS/$STAMP-$COMMIT
[ "$QUICK" = 1 ] && OUT=$OUT-quick
node "$ROOT/bench/report.mjs" "$RAW" "$OUT"
note "wrote $OUT.md and $OUT.json"
