"""`dagspec run`: a run request → its run plan → one of two paths → the run report.

Two ways to run, one runtime logic (plugins/dagspec_runtime):

- fast (the default): the spec's run plan (compiler.run_plan) runs in this process
  (dagspec_runtime.fast_run, its scheduler dagspec_runtime.local_scheduler): no Airflow import,
  no scheduler, no metadata database; independent tasks run in parallel up to their pool's
  slots. A ReductionPipeline's steps submit their Slurm jobs and wait for them in place (no
  trigger, no deferral), one task per sub-group.
- `--airflow`: the generated DAG file runs with `dag.test()` in a child process
  (dagspec.airflow_run). It proves the DAG file itself; the e2e tests use it.

Both return the same report (dagspec_runtime.run_report); its exit code is mapped once, here
(`ExitCode.of_report`): 0 passed, 1 failed, 2 configuration error before anything ran,
130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP. A dry run writes nothing into
generated_dags/: the fast path only analyses, the Airflow path compiles into a temporary folder.

A run owns what it starts (dagspec_runtime.ownership). Every module process runs in its own
session, dies with the run (PR_SET_PDEATHSIG) and is recorded in the run's ledger; every Slurm
job carries the run's tag in its `--comment` and is recorded as intended before `sbatch` runs.
On SIGINT, SIGTERM or SIGHUP, sent to this process or to its whole process group, both paths
cancel the run the same way (dagspec_runtime.cancel): the fast path stops starting tasks, the
Airflow path kills its `dag.test()` child; then module process groups are killed, submissions
in flight waited for and every live job with the tag cancelled (`ownership.end_run`). Both
print what was ended and list it in the report's `cancelled`. Should this process be killed
with SIGKILL, a guard process (dagspec_runtime.slurm.run_guard) ends the run instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler import api
from compiler.reporters import REPORTERS
from dagspec.exit_codes import ExitCode


@dataclass
class RunRequest:
    """What to run and how (the `dagspec run` options, and `dagspec.run(...)`'s arguments)."""

    spec: str
    entity: str | None = None
    selector: str | None = None
    conf: dict[str, Any] = field(default_factory=dict)
    retries: int | None = None
    retry_delay: float | None = None
    airflow: bool = False
    run_id: str | None = None


def run_spec(root: Path, request: RunRequest, fmt: str = "text") -> int:
    """Run, print the report on stdout in `fmt` (text, json, markdown); the exit code."""
    report = execute(root, request)
    print_report(report, fmt)
    return int(report["exit_code"])


def print_report(report: dict[str, Any], fmt: str) -> None:
    """The report on stdout (text, json or markdown)."""
    from dagspec_runtime import run_report

    sys.stdout.write(run_report.FORMATS[fmt](report) + "\n")
    sys.stdout.flush()


def execute(root: Path, request: RunRequest) -> dict[str, Any]:
    """Compile and run; the report, with its `exit_code`. Never raises for a failed or
    interrupted run, nor for a spec or conf error (those are reports with exit code 2)."""
    report = _run(root, request)
    report["exit_code"] = int(ExitCode.of_report(report))
    return report


def _run(root: Path, request: RunRequest) -> dict[str, Any]:
    from dagspec_runtime.fast_run import ConfError, run, stderr_logger

    dry_run = bool(request.conf.get("dry_run"))
    spec_name = _spec_name(request.spec)
    with _output_dir(root, dry_run and request.airflow) as out:
        result = api.compile_project(root, out=out, check=dry_run and not request.airflow)
        if not result.ok:
            sys.stderr.write(REPORTERS["text"](result.findings, root))
            return config_error(
                spec_name or request.spec,
                [
                    f"{f.file}:{f.line}:{f.col}: {f.message}"
                    for f in result.findings
                    if f.severity.name == "ERROR"
                ],
            )
        targets = result.analysis.targets
        choices = sorted(t.name for t in targets if t.sources[0].name == spec_name)
        if request.entity is not None:
            name = request.entity
        elif request.selector is not None:
            name = f"{spec_name}.{request.selector}"
        elif len(choices) == 1:
            name = choices[0]
        else:
            name = spec_name or request.spec
        target = next((t for t in targets if t.name == name), None)
        if target is None:
            known = ", ".join(choices or sorted(t.name for t in targets)) or "none"
            message = f"`{name}` compiles to no DAG; choose one of: {known}"
            print(f"dagspec run: {message}", file=sys.stderr)
            return config_error(name, [message])
        from compiler.run_plan import build_plan

        plan = build_plan(target, result.analysis)
        if request.airflow or plan is None:
            from compiler.pack import layout
            from dagspec.airflow_run import run_dag_file

            files = layout(targets, result.analysis.project.config)
            dag_file = (out or result.analysis.project.output_dir) / files[name]
            return run_dag_file(
                root,
                dag_file,
                name,
                target.sources[0].kind,
                request.conf,
                retries=request.retries,
                retry_delay=request.retry_delay,
            )
    try:
        with _in_folder(root):
            report = run(
                plan,
                request.conf,
                run_id=request.run_id,
                retries=request.retries,
                retry_delay=request.retry_delay,
                log=stderr_logger(),
            )
    except ConfError as exc:
        print(f"dagspec run: {exc}", file=sys.stderr)
        return config_error(name, [str(exc)])
    if report["interrupted"]:
        from dagspec_runtime import cancel

        print(
            f"dagspec run: {cancel.summary(report['interrupted'], report['cancelled'])}",
            file=sys.stderr,
            flush=True,
        )
    return report


def config_error(name: str, errors: list[str]) -> dict[str, Any]:
    """The report of a run that could not start: the spec or the conf is wrong (exit 2)."""
    from dagspec_runtime import run_report

    report = run_report.config_error(name, errors)
    report["exit_code"] = int(ExitCode.of_report(report))
    return report


def interrupted_outside(name: str) -> dict[str, Any]:
    """The report of a run Ctrl-C stopped before or after the run itself (which reports its
    own interrupts): nothing of it was running."""
    from dagspec_runtime import run_report

    report = run_report.interrupted(name, "", "SIGINT", [])
    report["exit_code"] = int(ExitCode.of_report(report))
    return report


@contextlib.contextmanager
def _output_dir(root: Path, temporary: bool) -> Iterator[Path | None]:
    """A temporary output folder (a dry run through Airflow), else the project's own."""
    if not temporary:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="dagspec-dry-run-") as folder:
        yield Path(folder)


@contextlib.contextmanager
def _in_folder(folder: Path) -> Iterator[None]:
    """Run in the project root (the fast path; the Airflow path's child starts elsewhere)."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _spec_name(spec: str) -> str | None:
    path = Path(spec)
    return api._spec_name(path) if path.is_file() else spec
