#!/usr/bin/env bash
# A throwaway PostgreSQL for tests, from the server binaries Debian's postgresql package installs.
#   scripts/pg-test-server.sh start DIR   initdb + start on a free port; prints the DATABASE_URL
#   scripts/pg-test-server.sh start DIR --ssl CERTS
#                                         the same with ssl=on (CERTS/server.crt, CERTS/server.key)
#                                         and a pg_hba.conf that takes TCP connections only over TLS
#   scripts/pg-test-server.sh stop DIR    stop it (the caller removes DIR)
#   scripts/pg-test-server.sh restart DIR pg_ctl restart -m fast (same port)
#   scripts/pg-test-server.sh resume DIR  start a stopped server again (same port)
# Runs the server as the `postgres` user when invoked as root (PostgreSQL refuses root).
set -euo pipefail
cmd=${1:?usage: pg-test-server.sh start|stop|restart|resume DIR [--ssl CERTS]}
DIR=${2:?data directory required}
SSL_CERTS=
if [ "${3:-}" = --ssl ]; then
  SSL_CERTS=${4:?--ssl needs a folder with server.crt and server.key}
fi

find_bin() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null || true)
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  fi
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  echo "PostgreSQL server binaries (initdb, postgres) not found. Install Debian's postgresql package (apt-get install -y postgresql), or set DATABASE_URL to a server you run." >&2
  exit 1
}
BIN=$(find_bin)

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
  start)
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_owner "$BIN/initdb" -D "$DIR/data" -U weft --auth=trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
      || { cat "$DIR/initdb.log" >&2; exit 1; }
    if [ -n "$SSL_CERTS" ]; then
      # The key must belong to the server's user and be private, or PostgreSQL refuses it.
      install -m 600 "$SSL_CERTS/server.key" "$DIR/data/server.key"
      install -m 644 "$SSL_CERTS/server.crt" "$DIR/data/server.crt"
      [ "$(id -u)" = 0 ] && chown postgres "$DIR/data/server.key" "$DIR/data/server.crt"
      printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" >>"$DIR/data/postgresql.conf"
      # hostssl only: a plain TCP connection finds no pg_hba.conf entry ("no encryption").
      printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n' >"$DIR/data/pg_hba.conf"
    fi
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    echo "$PORT" >"$DIR/port"
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
      -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on" start >/dev/null \
      || { cat "$DIR/server.log" >&2; exit 1; }
    echo "postgres://weft@127.0.0.1:$PORT/postgres"
    ;;
  stop)
    [ -d "$DIR/data" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  restart)
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 60 restart >/dev/null
    ;;
  resume)
    PORT=$(cat "$DIR/port")
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
      -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on" start >/dev/null
    ;;
  *) echo "usage: pg-test-server.sh start|stop|restart|resume DIR" >&2; exit 2 ;;
esac
