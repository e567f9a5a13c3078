#!/usr/bin/env bash
# Start a local Airflow 3.3 (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1 with
# dags_folder=generated_dags/ and plugins_folder=plugins/, wait until healthy, print URL + login.
# Env: DAGSPEC_AIRFLOW_PORT (8080), DAGSPEC_AIRFLOW_HOME (else AIRFLOW_HOME, else <repo>/.airflow),
# DAGSPEC_AIRFLOW_DB=postgres (throwaway PostgreSQL via scripts/pg-up.sh). Stop: airflow-down.sh
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${DAGSPEC_PYTHON:-$REPO/.venv/bin/python}
if [ ! -x "$PY" ]; then
    echo "airflow-up: $PY not found; run 'make venv' first (or set DAGSPEC_PYTHON)" >&2
    exit 1
fi
exec "$PY" "$REPO/scripts/airflow_stack.py" up
