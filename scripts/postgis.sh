#!/usr/bin/env bash
# A project-local PostGIS server for tests and for trying the team-server setup.
#
#   scripts/postgis.sh [start]   install if needed, init, start; print the database URL (only line on stdout)
#   scripts/postgis.sh env       the same, printed as `export VACUUM_TEST_DATABASE_URL=...` for eval
#   scripts/postgis.sh status    is it running? (exit 0 yes, 3 no)
#   scripts/postgis.sh stop      stop the server (the data stays in out/pg)
#
# Idempotent: a second `start` reuses the cluster, port and password. The cluster lives in
# $VACUUM_PG_DIR (default out/pg), listens on 127.0.0.1 only, on a port chosen free on the first
# run and kept in out/pg/port, with password (scram) authentication; the password is generated
# once and kept in out/pg/password (mode 600). Debian's postgresql-15-postgis-3 is installed with
# apt-get when missing (needs root). Messages go to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PGDIR="${VACUUM_PG_DIR:-$ROOT/out/pg}"
PGVER="${VACUUM_PG_VERSION:-15}"
BIN="/usr/lib/postgresql/$PGVER/bin"
DB=vacuum
ROLE=vacuum
CMD="${1:-start}"

say() { echo "postgis.sh: $*" >&2; }

as_owner() {  # run a server command as the cluster owner (postgres when we are root)
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install() {
    if [ -x "$BIN/initdb" ] && [ -f "/usr/share/postgresql/$PGVER/extension/postgis.control" ]; then
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        say "PostgreSQL $PGVER with PostGIS is not installed and we are not root: run as root, or"
        say "  apt-get install -y postgresql-$PGVER-postgis-3"
        exit 1
    fi
    say "installing postgresql-$PGVER-postgis-3 (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "postgresql-$PGVER-postgis-3" >&2
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() { [ -f "$PGDIR/data/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; }

init_cluster() {
    mkdir -p "$PGDIR/socket"
    [ -f "$PGDIR/password" ] || { python3 -c 'import secrets; print(secrets.token_hex(16))' > "$PGDIR/password"; }
    [ -f "$PGDIR/port" ] || free_port > "$PGDIR/port"
    if [ "$(id -u)" = 0 ]; then chown -R postgres: "$PGDIR"; fi
    chmod 700 "$PGDIR"
    chmod 600 "$PGDIR/password"
    if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
        say "initialising a cluster in $PGDIR/data"
        rm -rf "$PGDIR/data"
        local pwfile="$PGDIR/.superpw"
        cp "$PGDIR/password" "$pwfile"
        if [ "$(id -u)" = 0 ]; then chown postgres: "$pwfile"; fi
        as_owner "$BIN/initdb" -D "$PGDIR/data" -U postgres --auth=scram-sha-256 \
            --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 >&2
        rm -f "$pwfile"
    fi
}

start_server() {
    local port
    port="$(cat "$PGDIR/port")"
    for attempt in 1 2; do
        if as_owner "$BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
            -o "-p $port -k $PGDIR/socket -c listen_addresses=127.0.0.1" start >&2; then
            return
        fi
        if [ "$attempt" = 1 ]; then  # the kept port may have been taken meanwhile
            say "start failed on port $port (see $PGDIR/server.log); trying another port"
            port="$(free_port)"
            echo "$port" > "$PGDIR/port"
        fi
    done
    say "could not start PostgreSQL; last lines of $PGDIR/server.log:"
    tail -n 20 "$PGDIR/server.log" >&2 || true
    exit 1
}

psql_super() {  # psql as the superuser over loopback
    PGOPTIONS="--client-min-messages=warning" PGPASSWORD="$(cat "$PGDIR/password")" "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
        -p "$(cat "$PGDIR/port")" -U postgres "$@"
}

create_db() {
    local pw
    pw="$(cat "$PGDIR/password")"
    psql_super -d postgres -tA -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'" | grep -q 1 \
        || psql_super -d postgres -c "CREATE ROLE $ROLE LOGIN PASSWORD '$pw'"
    psql_super -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
        || psql_super -d postgres -c "CREATE DATABASE $DB OWNER $ROLE"
    psql_super -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS postgis"
}

url() { echo "postgresql://$ROLE:$(cat "$PGDIR/password")@127.0.0.1:$(cat "$PGDIR/port")/$DB"; }

case "$CMD" in
    start|env)
        install
        mkdir -p "$PGDIR"
        init_cluster
        running || start_server
        create_db
        if [ "$CMD" = env ]; then echo "export VACUUM_TEST_DATABASE_URL='$(url)'"; else url; fi
        ;;
    status)
        if running; then say "running on 127.0.0.1:$(cat "$PGDIR/port")"; else say "not running"; exit 3; fi
        ;;
    stop)
        if running; then as_owner "$BIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >&2; else say "not running"; fi
        ;;
    *)
        say "unknown command $CMD; use start, env, status or stop"
        exit 2
        ;;
esac
