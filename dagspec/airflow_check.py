"""Airflow as the oracle: every changed DAG file is parsed by Airflow itself before it is written.

`dagspec compile` and `dagspec lint` (when Airflow is importable; `--no-airflow` or
`DAGSPEC_AIRFLOW_CHECK=0` turn it off) hand the DAG files a compile would change to
`dagspec.airflow_probe` in one child process: Airflow's DagBag imports them, each DAG is
serialized as the dag processor does and its first run computed as the scheduler does. Import
errors, dropped DAGs, warnings and schedules that never run become DS230 findings on the spec
value that caused them: the task setting Airflow's message names, at the spec path of the level
that states it for that task (found in the loader's marks), the schedule, else the spec's name.

Results are kept by the file's text and the Airflow version in `.dagspec/airflow-check.json`
(or the file `DAGSPEC_AIRFLOW_RECORD` names), so an unchanged file is never parsed twice.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import re
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
from compiler.settings import KEYS

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
            findings += _findings(analysis, target, report, plan.files.get(name, ""))
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
            # the whole traceback, so it names the DAG file's line (the task it was building)
            "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACK_DEPTH": "100",
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


def _findings(
    analysis: Analysis, target: Target, report: dict[str, Any], text: str = ""
) -> list[Finding]:
    problems = [f"Airflow cannot import the DAG file: {_last_line(e)}" for e in report["errors"]]
    places = [_traceback_line(e, f"{target.name}.py") for e in report["errors"]]
    problems += [f"Airflow warns: {_last_line(w)}" for w in report["warnings"]]
    places += [None] * len(report["warnings"])
    if not report["errors"] and target.name not in report["dags"]:
        problems.append(f"Airflow finds no DAG `{target.name}` in the file")
        places.append(None)
    for dag_id, problem in sorted(report["dags"].items()):
        if problem:
            problems.append(f"DAG `{dag_id}`: {problem}")
            places.append(None)
    return [
        _located(analysis, target, problem, _task_named(problem, text, line))
        for problem, line in zip(problems, places, strict=True)
    ]


#: task arguments the templates render from a task setting (compiler.settings) → that setting
SETTING_ARGUMENTS = {
    **{key: key for key in KEYS},
    "retry_delay": "retry_delay_seconds",
    "execution_timeout": "execution_timeout_seconds",
}
#: older keys a level may state a setting with (compiler.kinds: a step's `max_retries`, ...)
SETTING_ALIASES = {
    "retries": ("max_retries",),
    "priority_weight": ("priority",),
    "retry_delay_seconds": ("retry_backoff_seconds",),
}


def _located(analysis: Analysis, target: Target, problem: str, task: list[str]) -> Finding:
    """The finding at the spec value behind the argument Airflow's message names: the task
    setting's nearest level that states it (the task's module, phase, step or process, the
    spec, then `defaults` in dagspec.yaml), found by spec path in the loader's marks."""
    hint = f"`dagspec render` shows the DAG file of `{target.sources[0].name}`"
    lowered = problem.lower()
    argument = _argument_named(problem)
    if argument in SETTING_ARGUMENTS:
        found = _setting_place(analysis, target, SETTING_ARGUMENTS[argument], task)
        if found is not None:
            spec, path = found
            if spec is None:
                return _config_finding(analysis, path, problem, hint)
            return spec.finding(path, "DS230", problem, hint)
    if analysis.project.doc is not None and (
        argument == "start_date" or "day is out of range" in lowered
    ):
        return _config_finding(analysis, ("spec", "defaults", "start_date"), problem, hint)
    if any(word in lowered for word in ("timetable", "schedule", "cron", "next run")):
        key = "trigger" if target.sources[0].kind == "ReductionPipeline" else "schedule"
        spec = next((s for s in target.sources if key in s.body), target.sources[0])
        return spec.finding(("spec", key), "DS230", problem, hint)
    return target.sources[0].finding(("metadata", "name"), "DS230", problem, hint)


def _config_finding(analysis: Analysis, path: tuple, problem: str, hint: str) -> Finding:
    doc = analysis.project.doc
    line, col = doc.marks.locate(path) if doc is not None else (1, 1)
    return Finding(CONFIG_NAME, line, col, "DS230", problem, format_path(path), hint)


def _argument_named(problem: str) -> str | None:
    """The rendered argument Airflow's message names: a quoted one first (`'priority_weight'
    for task ...`), else the first argument name that appears as a whole word."""
    known = [*SETTING_ARGUMENTS, "start_date"]
    for quoted in re.findall(r"""['"`]([A-Za-z_][A-Za-z0-9_]*)['"`]""", problem):
        if quoted in known:
            return quoted
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", problem)
    return next((word for word in words if word in known), None)


def _traceback_line(error: str, file_name: str) -> int | None:
    """The line of the DAG file where Airflow's traceback last passed through it."""
    lines = re.findall(rf'File "[^"]*{re.escape(file_name)}", line (\d+)', error)
    return int(lines[-1]) if lines else None


def _task_named(problem: str, text: str, line: int | None) -> list[str]:
    """The ids of the task Airflow's message is about, outermost first (task group, task):
    the node id the message names (`for task 'pull.fetch'`), else the task group and task at
    the traceback's line of the DAG file, else the bare task id (`(task_id: fetch)`)."""
    node_id = re.search(r"for task(?: group)? '([^']+)'", problem)
    if node_id:
        return node_id.group(1).split(".")
    at_line = _ids_at_line(text, line) if line is not None and text else []
    if at_line:
        return at_line
    bare = re.search(r"\(task_id: ([^)\s]+)\)", problem)
    return [bare.group(1)] if bare else []


def _ids_at_line(text: str, line: int) -> list[str]:
    """The group and task ids of the calls (and `with TaskGroup(...)` blocks) that hold `line`
    of a DAG file, outermost first."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    ids: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        end = getattr(node, "end_lineno", None)
        if end is None or not getattr(node, "lineno", 0) <= line <= end:
            continue
        calls = [item.context_expr for item in node.items] if isinstance(node, ast.With) else []
        calls += [node] if isinstance(node, ast.Call) else []
        for call in calls:
            if not isinstance(call, ast.Call):
                continue
            for keyword in call.keywords:
                if keyword.arg in ("task_id", "group_id") and isinstance(
                    keyword.value, ast.Constant
                ):
                    ids.append((call.lineno, str(keyword.value.value)))
            group = isinstance(call.func, ast.Name) and call.func.id == "TaskGroup"
            if group and call.args and isinstance(call.args[0], ast.Constant):
                ids.append((call.lineno, str(call.args[0].value)))
    return [name for _, name in sorted(set(ids))]


def _setting_place(
    analysis: Analysis, target: Target, setting: str, task: list[str]
) -> tuple[Spec | None, tuple] | None:
    """(spec, path) of the nearest level that states `setting` for the task named `task`;
    spec None for dagspec.yaml's `defaults`. None when no level states it."""
    keys = (setting, *SETTING_ALIASES.get(setting, ()))
    names = {*task, target.name.rpartition(".")[2]}  # a manifest's DAG is its process's
    for spec in target.sources:  # the task's own levels, deepest (module, step) first
        levels = [
            path
            for path in spec.doc.marks.values
            if path and isinstance(path[-1], int) and _named_along(spec.doc.data, path, names)
        ]
        for path in sorted(levels, key=len, reverse=True):
            for key in keys:
                if (*path, key) in spec.doc.marks.values:
                    return spec, (*path, key)
    for spec in target.sources:  # the spec level (its extends chain, nearest first)
        for key in keys:
            if ("spec", key) in spec.doc.marks.values:
                return spec, ("spec", key)
        if setting == "owner" and ("metadata", "owner") in spec.doc.marks.values:
            return spec, ("metadata", "owner")
    doc = analysis.project.doc
    if doc is not None and ("spec", "defaults", setting) in doc.marks.values:
        return None, ("spec", "defaults", setting)
    return None


def _named_along(data: Any, path: tuple, names: set[str]) -> bool:
    """Whether the list item at `path` is a named level (a phase, module, step, process) and
    every named list item on the way to it is named as one of the task's ids."""
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
        if isinstance(part, int) and isinstance(node, dict) and node.get("name") not in names:
            return False
    return isinstance(node, dict) and "name" in node


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def _not_parsed() -> dict[str, Any]:
    return {"errors": ["Airflow did not parse the file"], "warnings": [], "dags": {}}


#: bumped when the probe reports differently (2: whole tracebacks), so older records are not used
PROBE_FORMAT = 2


def _key(version: str, name: str, text: str) -> str:
    return hashlib.sha256(f"{PROBE_FORMAT}\0{version}\0{name}\0{text}".encode()).hexdigest()


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
