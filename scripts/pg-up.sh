#!/usr/bin/env bash
# Start a throwaway PostgreSQL in DIR: 127.0.0.1 only, random free port, socket inside DIR.
# Prints the SQLAlchemy URL and writes it to DIR/url. Stop it with scripts/pg-down.sh DIR.
set -euo pipefail

DIR=${1:?usage: pg-up.sh DIR}
DB_NAME=${PG_DB_NAME:-dagspec}

find_pgbin() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
    return 1
}

PGBIN=$(find_pgbin || true)
if [ -z "$PGBIN" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "pg-up: initdb not found and not root; install the Debian 'postgresql' package" >&2
        exit 1
    fi
    echo "pg-up: installing postgresql (apt-get)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    PGBIN=$(find_pgbin) || { echo "pg-up: initdb still missing after install" >&2; exit 1; }
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ -e "$DIR/data" ]; then
    echo "pg-up: $DIR/data already exists; use a fresh folder" >&2
    exit 1
fi

# The server refuses to run as root: run it as an unprivileged user owning DIR.
run_as() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
    PGUSER_OS=postgres
    id "$PGUSER_OS" >/dev/null 2>&1 || PGUSER_OS=nobody
    chown "$PGUSER_OS" "$DIR"
    chmod 700 "$DIR"
    run_as() { runuser -u "$PGUSER_OS" -- "$@"; }
    if ! run_as test -w "$DIR"; then
        echo "pg-up: $PGUSER_OS cannot write $DIR (a parent folder is not traversable)" >&2
        exit 1
    fi
fi

PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$PASSWORD" > "$DIR/.pwfile"
[ "$(id -u)" -eq 0 ] && chown "$PGUSER_OS" "$DIR/.pwfile"
chmod 600 "$DIR/.pwfile"

run_as "$PGBIN/initdb" -D "$DIR/data" -U postgres --pwfile="$DIR/.pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale --no-sync >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
rm -f "$DIR/.pwfile"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

started=""
for _ in 1 2 3; do
    PORT=$(free_port)
    if run_as "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 -c shared_buffers=32MB" \
        start >/dev/null; then
        started=1
        break
    fi
done
if [ -z "$started" ]; then
    echo "pg-up: server did not start" >&2
    cat "$DIR/server.log" >&2 || true
    exit 1
fi

for _ in $(seq 1 60); do
    if run_as "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then break; fi
    sleep 0.5
done
run_as "$PGBIN/createdb" -h "$DIR" -p "$PORT" -U postgres "$DB_NAME"

URL="postgresql+psycopg2://postgres:${PASSWORD}@127.0.0.1:${PORT}/${DB_NAME}"
printf '%s\n' "$URL" > "$DIR/url"
chmod 600 "$DIR/url"
echo "$URL"
