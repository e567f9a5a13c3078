#!/usr/bin/env bash
# Stop exactly the processes scripts/airflow-up.sh started (by PID and process group: SIGTERM,
# then SIGKILL after DAGSPEC_AIRFLOW_STOP_TIMEOUT seconds, default 30), children included.
# Uses the same DAGSPEC_AIRFLOW_HOME / AIRFLOW_HOME as airflow-up.sh to find the pid file.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${DAGSPEC_PYTHON:-$REPO/.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" "$REPO/scripts/airflow_stack.py" down
