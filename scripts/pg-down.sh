#!/usr/bin/env bash
# Stop exactly the server started by scripts/pg-up.sh DIR (its postmaster PID), then wait for it.
set -euo pipefail

DIR=${1:?usage: pg-down.sh DIR}
DATA="$DIR/data"
PIDFILE="$DATA/postmaster.pid"
if [ ! -f "$PIDFILE" ]; then
    echo "pg-down: no server running in $DIR" >&2
    exit 0
fi
PID=$(head -1 "$PIDFILE")

PGBIN=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/pg_ctl" ]; then PGBIN=$d; break; fi
done
[ -n "$PGBIN" ] || PGBIN=$(dirname "$(command -v pg_ctl)")

OWNER=$(stat -c %U "$DATA")
if [ "$(id -u)" -eq 0 ] && [ "$OWNER" != root ]; then
    runuser -u "$OWNER" -- "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null || true
else
    "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null || true
fi

for _ in $(seq 1 60); do
    kill -0 "$PID" 2>/dev/null || exit 0
    sleep 0.5
done
echo "pg-down: postmaster $PID still alive; sending SIGTERM" >&2
kill -TERM "$PID" 2>/dev/null || true
