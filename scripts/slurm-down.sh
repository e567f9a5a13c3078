#!/usr/bin/env bash
# Stop exactly the daemons scripts/slurm-up.sh started, by the PIDs in its pid files.
#
# Why by PID: other Slurm or munge processes on the machine are none of our business, so no
# pkill/killall. A zombie (state Z) counts as stopped: PID 1 here reaps lazily.
# Usage: slurm-down.sh [--quiet]
set -euo pipefail

STATE="${DAGSPEC_SLURM_STATE:-/var/lib/dagspec-slurm}"
QUIET=0
[[ "${1:-}" == --quiet ]] && QUIET=1

say() { ((QUIET)) || printf 'slurm-down: %s\n' "$*"; }

alive() {
    local pid="$1" st
    [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
    st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

# The pid file names a process we started only if that process still runs the expected binary
# (after a reboot the number may belong to something else).
ours() {
    local pid="$1" name="$2" comm
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    [[ "$comm" == "$name" ]]
}

stop() {
    local name="$1" file="$STATE/run/$1.pid" pid
    [[ -r "$file" ]] || return 0
    pid=$(tr -dc '0-9' <"$file")
    if [[ -z "$pid" ]] || ! alive "$pid" || ! ours "$pid" "$name"; then
        rm -f "$file"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f "$file"
    say "stopped $name (pid $pid)"
}

if [[ ! -d "$STATE/run" ]]; then
    say "nothing to stop ($STATE/run does not exist)"
    exit 0
fi
stop slurmd
stop slurmctld
stop munged
say "done"
