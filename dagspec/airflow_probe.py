"""The child process of the Airflow check: parse DAG files as Airflow's dag processor does.

`python -m dagspec.airflow_probe FOLDER` fills a DagBag from FOLDER (Airflow's own parser),
serializes each DAG as the dag processor does, and computes its first scheduled run from the
serialized timetable, as the scheduler does. It prints one JSON document on its last line:
`{file name: {"errors": [...], "warnings": [...], "dags": {dag_id: problem or null}}}`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def probe(folder: Path) -> dict[str, dict[str, Any]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(folder))
    report: dict[str, dict[str, Any]] = {
        path.name: {"errors": [], "warnings": [], "dags": {}} for path in folder.glob("*.py")
    }
    for path, error in bag.import_errors.items():
        report.setdefault(Path(path).name, {"errors": [], "warnings": [], "dags": {}})
        report[Path(path).name]["errors"].append(str(error)[-2000:])
    for path, warnings in bag.captured_warnings.items():
        report.setdefault(Path(path).name, {"errors": [], "warnings": [], "dags": {}})
        report[Path(path).name]["warnings"] += [str(w)[-1000:] for w in warnings]
    for dag_id, dag in bag.dags.items():
        entry = report.setdefault(
            Path(dag.fileloc).name, {"errors": [], "warnings": [], "dags": {}}
        )
        entry["dags"][dag_id] = _schedule_problem(dag)
    return report


def _schedule_problem(dag: Any) -> str | None:
    """Why the dag processor would drop this DAG or the scheduler never run it; None if fine."""
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.timetables.base import TimeRestriction

    try:
        timetable = LazyDeserializedDAG.from_dag(dag).timetable
    except Exception as exc:  # the dag processor drops a DAG it cannot serialize
        return f"Airflow cannot serialize the DAG: {type(exc).__name__}: {exc}"
    if not timetable.can_be_scheduled or type(timetable).__name__ == "AssetTriggeredTimetable":
        return None  # manual, or run when its Assets are updated
    try:
        info = timetable.next_dagrun_info(
            last_automated_data_interval=None,
            restriction=TimeRestriction(earliest=dag.start_date, latest=dag.end_date, catchup=True),
        )
    except Exception as exc:
        return f"Airflow cannot compute the next run: {type(exc).__name__}: {exc}"
    if info is None:
        return f"Airflow computes no next run for the schedule {timetable.summary!r}"
    return None


if __name__ == "__main__":
    result = probe(Path(sys.argv[1]))
    sys.stdout.write("\n" + json.dumps(result) + "\n")
