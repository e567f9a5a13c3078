#!/usr/bin/env bash
# Soak: run the suites that race with the machine (running Airflow, Slurm, reductions) several
# times in a row while CPU-bound processes load the machine, and say how each run went.
#
# Why: a test that passes on an idle machine can still race with a scheduler, a triggerer, an
# api-server or slurmd that is slow to answer; only a loaded machine shows it.
#
# Env:
#   SOAK_RUNS   runs in a row (default 5)
#   SOAK_LOAD   CPU-bound load processes, `python3 -c 'while True: pass'` (default 2)
#   SOAK_TESTS  what pytest runs (default "tests/system/e2e tests/runtime/slurm tests/runtime/reduction"; add
#               "tests/cli/test_run_signals.py" for the signal cases, about 6 min a run more)
#   SOAK_WRAP   command each run is started under, e.g. a lock shared with others who use the
#               same Slurm ("flock LOCKFILE"); its wait counts in the wall time, not in pytest's
#   SOAK_LOG    folder for each run's pytest output (default: a new temporary folder)
# Exit status: 0 when every run passed, 1 otherwise (130/143 when interrupted).
# The load processes (and the load sampler) are stopped by PID on exit. Ctrl-C reaches pytest
# too (same process group), which tears its stack and jobs down; then the load stops and the
# script exits 130. SIGTERM/SIGHUP to this script alone take effect when the current run ends.
# Slurm is left running (scripts/slurm-up.sh is idempotent; `make slurm-down` stops it).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${SOAK_RUNS:-5}
LOAD=${SOAK_LOAD:-2}
TESTS=${SOAK_TESTS:-tests/system/e2e tests/runtime/slurm tests/runtime/reduction}
WRAP=${SOAK_WRAP:-}
LOG=${SOAK_LOG:-$(mktemp -d "${TMPDIR:-/tmp}/dagspec-soak-XXXXXX")}
PYTEST="$REPO/.venv/bin/pytest"
[[ -x "$PYTEST" ]] || { echo "soak: $PYTEST not found; run 'make venv' first" >&2; exit 2; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ && "$LOAD" =~ ^[0-9]+$ ]] \
    || { echo "soak: SOAK_RUNS must be >= 1 and SOAK_LOAD >= 0" >&2; exit 2; }
mkdir -p "$LOG"

load_pids=()
sampler_pid=""
stop_helpers() {
    local pid
    for pid in "${load_pids[@]}" $sampler_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in "${load_pids[@]}" $sampler_pid; do wait "$pid" 2>/dev/null || true; done
    load_pids=()
    sampler_pid=""
}
trap stop_helpers EXIT
trap 'echo "soak: interrupted" >&2; stop_helpers; exit 130' INT
trap 'stop_helpers; exit 143' TERM
trap 'stop_helpers; exit 129' HUP

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

for _ in $(seq "$LOAD"); do
    python3 -c 'while True: pass' &
    load_pids+=("$!")
done
echo "soak: $RUNS run(s) of: pytest $TESTS"
echo "soak: load processes (PIDs): ${load_pids[*]:-none}; load average now $(loadavg)"
echo "soak: logs in $LOG"

export PATH="$REPO/.venv/bin:$PATH"
cd "$REPO" || exit 2
failed_runs=0
summary=()
for run in $(seq "$RUNS"); do
    out="$LOG/run-$run.log"
    peak="$LOG/run-$run.peak"
    # Highest 1-minute load average seen during the run, sampled every 5 s.
    (
        top=0
        while :; do
            now=$(cut -d' ' -f1 /proc/loadavg)
            top=$(awk -v a="$top" -v b="$now" 'BEGIN { print (b > a) ? b : a }')
            echo "$top" >"$peak"
            sleep 5
        done
    ) &
    sampler_pid=$!
    start_load=$(loadavg)
    t0=$(date +%s)
    # shellcheck disable=SC2086 # SOAK_WRAP and SOAK_TESTS are word lists on purpose
    $WRAP "$PYTEST" $TESTS -q -p no:cacheprovider >"$out" 2>&1
    status=$?
    wall=$(($(date +%s) - t0))
    kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null
    sampler_pid=""
    last=$(grep -E '[0-9]+ (passed|failed|errors?|skipped|deselected).* in [0-9.]+s' "$out" \
        | tail -n1 | sed -E 's/^=+ //; s/ =+$//')
    count() { grep -oE "[0-9]+ $1" <<<"$last" | grep -oE '^[0-9]+' || echo 0; }
    passed=$(count passed)
    failures=$(( $(count failed) + $(count errors?) ))
    pytest_s=$(grep -oE ' in [0-9.]+s' <<<"$last" | grep -oE '[0-9.]+' || echo "?")
    verdict=pass
    if ((status != 0)); then verdict=FAIL; failed_runs=$((failed_runs + 1)); fi
    line=$(printf 'run %d/%d %s: %s passed, %s failed; wall %d s (pytest %s s); load %s at start, peak %s, %s at end' \
        "$run" "$RUNS" "$verdict" "$passed" "$failures" "$wall" "$pytest_s" \
        "$start_load" "$(cat "$peak" 2>/dev/null || echo '?')" "$(loadavg)")
    echo "soak: $line"
    if ((status != 0)); then
        grep -E '^(FAILED|ERROR) ' "$out" | sed 's/^/soak:   /'
        [[ -n "$last" ]] || tail -n 20 "$out" | sed 's/^/soak:   /'
    fi
    summary+=("$line")
done

stop_helpers
echo "soak: ---- $((RUNS - failed_runs)) of $RUNS run(s) passed (load processes: $LOAD) ----"
printf 'soak: %s\n' "${summary[@]}"
((failed_runs == 0))
