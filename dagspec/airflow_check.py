"""Airflow as the oracle: every changed DAG file is parsed by Airflow itself before it is written.

`dagspec compile` and `dagspec lint` (when Airflow is importable; `--no-airflow` or
`DAGSPEC_AIRFLOW_CHECK=0` turn it off) hand the DAG files a compile would change to
`dagspec.airflow_probe` in one child process: Airflow's DagBag imports them, each DAG is
serialized as the dag processor does and its first run computed as the scheduler does. Import
errors, dropped DAGs, warnings and schedules that never run become DS230 findings on the spec
value that caused them (the rendered argument named in Airflow's message, mapped back to the
spec key of that name; else the spec's name).

Results are kept by the file's text and the Airflow version in `.dagspec/airflow-check.json`
(or the file `DAGSPEC_AIRFLOW_RECORD` names), so an unchanged file is never parsed twice.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from compiler.findings import Finding, format_path
from compiler.model import Analysis, Spec, Target
from compiler.output import Plan
from compiler.project import CONFIG_NAME

RECORD_ENV = "DAGSPEC_AIRFLOW_RECORD"
SWITCH_ENV = "DAGSPEC_AIRFLOW_CHECK"
RECORD = Path(".dagspec") / "airflow-check.json"
TIMEOUT_S = 900


def wanted(flag: bool | None) -> bool:
    """Whether to run the check: the flag if given, else on when Airflow is importable."""
    if flag is not None:
        return flag
    if os.environ.get(SWITCH_ENV, "1") in ("0", "off", "no", "false"):
        return False
    return available()


def available() -> bool:
    return importlib.util.find_spec("airflow") is not None


def gate(analysis: Analysis, plan: Plan) -> list[Finding]:
    """DS230 findings for the changed files of `plan` that Airflow refuses or never runs."""
    if not plan.files:
        return []
    reports = probe(plan.files, analysis.project.root)
    by_file = {f"{t.name}.py": t for t in analysis.targets}
    findings: list[Finding] = []
    for name, report in sorted(reports.items()):
        target = by_file.get(name)
        if target is not None:
            findings += _findings(analysis, target, report)
    return findings


def probe(texts: dict[str, str], root: Path) -> dict[str, dict[str, Any]]:
    """Airflow's report on each file (name → text); files known by their text are not parsed."""
    record_path = Path(os.environ.get(RECORD_ENV) or root / RECORD)
    version = _airflow_version()
    keys = {name: _key(version, name, text) for name, text in texts.items()}
    record = _load(record_path)
    missing = {name: text for name, text in texts.items() if keys[name] not in record}
    if missing:
        parsed = _run_probe(missing, root)
        fresh = {keys[name]: parsed.get(name, _not_parsed()) for name in missing}
        record = {**_load(record_path), **fresh}  # another process may have added entries
        _save(record_path, record)
    return {name: record[keys[name]] for name in texts}


def _run_probe(texts: dict[str, str], root: Path) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="dagspec-airflow-check-") as tmp:
        folder = Path(tmp) / "dags"
        folder.mkdir()
        for name, text in texts.items():
            (folder / name).write_text(text, encoding="utf-8")
        env = {
            **os.environ,
            "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", str(Path(tmp) / "home")),
            "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        }
        done = subprocess.run(
            [sys.executable, "-m", "dagspec.airflow_probe", str(folder)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the Airflow check could not run: {tail[0]}")
    return json.loads(lines[-1])


def _findings(analysis: Analysis, target: Target, report: dict[str, Any]) -> list[Finding]:
    problems = [f"Airflow cannot import the DAG file: {_last_line(e)}" for e in report["errors"]]
    problems += [f"Airflow warns: {_last_line(w)}" for w in report["warnings"]]
    if not report["errors"] and target.name not in report["dags"]:
        problems.append(f"Airflow finds no DAG `{target.name}` in the file")
    for dag_id, problem in sorted(report["dags"].items()):
        if problem:
            problems.append(f"DAG `{dag_id}`: {problem}")
    return [_located(analysis, target, problem) for problem in problems]


def _located(analysis: Analysis, target: Target, problem: str) -> Finding:
    """The finding at the spec value Airflow's message names (a rendered argument's key)."""
    hint = f"`dagspec render` shows the DAG file of `{target.sources[0].name}`"
    lowered = problem.lower()
    if "start_date" in lowered or "day is out of range" in lowered:
        doc = analysis.project.doc
        if doc is not None:
            path = ("spec", "defaults", "start_date")
            line, col = doc.marks.locate(path)
            return Finding(CONFIG_NAME, line, col, "DS230", problem, format_path(path), hint)
    for spec in target.sources:
        path = _path_named_in(spec, problem)
        if path is not None:
            return spec.finding(path, "DS230", problem, hint)
    if any(word in lowered for word in ("timetable", "schedule", "cron", "next run")):
        spec = next((s for s in target.sources if "schedule" in s.body), target.sources[0])
        return spec.finding(("spec", "schedule"), "DS230", problem, hint)
    return target.sources[0].finding(("metadata", "name"), "DS230", problem, hint)


def _path_named_in(spec: Spec, problem: str) -> tuple | None:
    """The first spec path whose key Airflow's message names as an argument (`priority_weight`)."""
    for path in spec.doc.marks.values:
        key = path[-1] if path else None
        if isinstance(key, str) and len(key) > 3 and "_" in key and key in problem:
            return path
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def _not_parsed() -> dict[str, Any]:
    return {"errors": ["Airflow did not parse the file"], "warnings": [], "dags": {}}


def _key(version: str, name: str, text: str) -> str:
    return hashlib.sha256(f"{version}\0{name}\0{text}".encode()).hexdigest()


def _airflow_version() -> str:
    try:
        return metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:
        return "?"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    os.replace(tmp, path)
