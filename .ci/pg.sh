# Sourced by .ci scripts: a throwaway PostgreSQL cluster on a free loopback port, removed on exit.
# Uses the machine's server binaries (Debian's postgresql package), as the postgres user when run as root.

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ] && command -v initdb >/dev/null 2>&1; then dir=$(dirname "$(command -v initdb)"); fi
  [ -n "$dir" ] || { echo "PostgreSQL server binaries not found: apt-get install postgresql" >&2; return 1; }
  echo "$dir"
}

# The checkout may be unreadable to the postgres user (e.g. a 700 temp dir), so its tools run from / and read
# scripts from stdin.
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Below Linux's ephemeral range (32768-60999): a port there can be held by an outgoing connection (the tests' own), which a
# connect probe calls free but the server cannot bind; the test run's clusters take theirs from that range too.
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 12768))
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
  done
  return 1
}

# pg_start: sets PG_DIR, PG_PORT, PG_CONN (database cpsledger) and stops/removes the cluster on exit.
pg_start() {
  local bin
  bin=$(pg_bin)
  PG_DIR=$(mktemp -d /tmp/cpsledger-ci-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  as_pg "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust --encoding=UTF8 >/dev/null
  trap pg_stop EXIT
  # A port found free can be taken before the server binds it (other clusters start beside CI's): try another, and say why
  # a start failed, from the server's own log, before that log is removed with the cluster.
  local attempt
  for attempt in 1 2 3; do
    PG_PORT=$(free_port)
    if as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off" start >/dev/null; then
      break
    fi
    echo "PostgreSQL did not start on port $PG_PORT (attempt $attempt of 3); its log:" >&2
    tail -n 20 "$PG_DIR/server.log" >&2 || true
    [ "$attempt" = 3 ] && return 1
  done
  as_pg "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "create database cpsledger" >/dev/null
  PG_CONN="Host=127.0.0.1;Port=$PG_PORT;Database=cpsledger;Username=postgres"
  PG_PSQL=("$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d cpsledger -v ON_ERROR_STOP=1 -q)
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  as_pg "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=
}

# Applies every numbered script in eventstore-migrations/ in order (the .drop.sql rollbacks are skipped).
pg_apply_migrations() {
  local f
  for f in $(ls eventstore-migrations/[0-9]*.sql 2>/dev/null | grep -v '\.drop\.sql$' | sort || true); do
    as_pg "${PG_PSQL[@]}" <"$f" >/dev/null
  done
}
