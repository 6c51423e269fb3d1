#!/bin/sh
# Start/stop a release Weft beside the harness, like ../shared/bench/reference-server.sh.
#   bench/weft-server.sh start PORT [DATA_DIR]    start on 127.0.0.1:PORT, print the PID
#   bench/weft-server.sh stop PORT                SIGTERM (graceful flush), wait
#   bench/weft-server.sh kill PORT                SIGKILL (crash)
#   bench/weft-server.sh restart PORT [DATA_DIR]  stop, then start (for converge.mjs --restart-cmd)
# Env: WEFT_BIN (default target/release/weft), extra flags in WEFT_ARGS.
set -eu
cd "$(dirname "$0")/.."
BIN=${WEFT_BIN:-target/release/weft}
cmd=${1:?usage: weft-server.sh start|stop|kill|restart PORT [DATA_DIR]}
PORT=${2:?port required}
DATA=${3:-/tmp/weft-bench-$PORT}
RUN=/tmp/weft-bench-run
mkdir -p "$RUN"
start() {
  [ -x "$BIN" ] || cargo build --release --quiet --bin weft
  # shellcheck disable=SC2086
  nohup "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" ${WEFT_ARGS:-} >>"$RUN/weft-$PORT.log" 2>&1 </dev/null &
  echo $! >"$RUN/weft-$PORT.pid"
  i=0
  while [ $i -lt 100 ]; do
    if curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz"; then cat "$RUN/weft-$PORT.pid"; return 0; fi
    i=$((i + 1)); sleep 0.1
  done
  echo "weft on $PORT did not come up; see $RUN/weft-$PORT.log" >&2
  return 1
}
stop() {
  sig=$1
  pidf="$RUN/weft-$PORT.pid"
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf")
  kill "-$sig" "$pid" 2>/dev/null || true
  i=0
  while [ $i -lt 150 ] && kill -0 "$pid" 2>/dev/null; do i=$((i + 1)); sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidf"
}
case "$cmd" in
  start) start ;;
  stop) stop TERM ;;
  kill) stop KILL ;;
  restart) stop TERM; start ;;
  *) echo "usage: weft-server.sh start|stop|kill|restart PORT [DATA_DIR]" >&2; exit 2 ;;
esac
