"""`dagspec run`: compile, then run one DAG locally and report.

Two ways to run, one runtime logic (plugins/dagspec_runtime):

- fast (the default): the spec's run plan (compiler.run_plan) runs in this process through
  dagspec_runtime.executor: no Airflow import, no scheduler, no metadata database; independent
  tasks run in parallel up to their pool's slots. A ReductionPipeline's steps submit their
  Slurm jobs and wait for them in place (no trigger, no deferral), one task per sub-group.
- `--airflow`: the generated DAG file runs with `dag.test()` in a separate Airflow process
  (`python -m dagspec_runtime.local_run`) on the embedded SQLite metadata database in the
  project's `.airflow/` folder. It proves the DAG file itself; the e2e tests use it.

Both return the same report (dagspec_runtime.run_report) and exit codes: 0 passed, 1 failed,
2 configuration error before anything ran, 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP.
A dry run writes nothing into generated_dags/: the fast path only analyses, the Airflow path
compiles into a temporary folder.

A run owns what it starts (dagspec_runtime.ownership). Every module process runs in its own
session, dies with the run (PR_SET_PDEATHSIG) and is recorded in the run's ledger; every Slurm
job carries the run's tag in its `--comment` and is recorded as intended before `sbatch` runs.
On SIGINT, SIGTERM or SIGHUP, sent to this process or to its whole process group, the fast path
stops starting tasks and ends the run (`ownership.end_run`: module process groups killed,
submissions in flight waited for, every live job with the tag cancelled); the Airflow path kills
its `dag.test()` child (its own session, so only this process decides) and ends the run the same
way. Both print what was ended and list it in the report's `cancelled`. Should this process be
killed with SIGKILL, a guard process (dagspec_runtime.slurm.run_guard) ends the run instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler import api
from compiler.lifeline import die_with_parent
from compiler.reporters import REPORTERS

EXIT_CONFIG = 2
RUN_LOCK = "dagspec-run.lock"
DB_READY = "dagspec-db.ready"


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
    from dagspec_runtime import run_report

    report = execute(root, request)
    sys.stdout.write(run_report.FORMATS[fmt](report) + "\n")
    sys.stdout.flush()
    return int(report["exit_code"])


def execute(root: Path, request: RunRequest) -> dict[str, Any]:
    """Compile and run; the report (with `exit_code`). Never raises for a failed or
    interrupted run, nor for a spec or conf error (those are reports with exit code 2)."""
    from dagspec_runtime.fast_run import ConfError, run, stderr_logger

    dry_run = bool(request.conf.get("dry_run"))
    spec_name = _spec_name(request.spec)
    with _output_dir(root, dry_run and request.airflow) as out:
        result = api.compile_project(root, out=out, check=dry_run and not request.airflow)
        if not result.ok or result.analysis is None:
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

            files = layout(targets, result.analysis.project.config)
            dag_file = (out or result.analysis.project.output_dir) / files[name]
            return _airflow_run(root, dag_file, name, target.sources[0].kind, request)
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
    if report["status"] == "interrupted":
        say_interrupted(
            report["result"]["errors"][-1].removeprefix("interrupted by "), report["cancelled"]
        )
    return report


def say_interrupted(signame: str, cancelled: list[str]) -> None:
    """One line on stderr: which signal, and what of the run was cancelled."""
    jobs = [c.removeprefix("Slurm job ") for c in cancelled if c.startswith("Slurm job ")]
    other = [c for c in cancelled if not c.startswith("Slurm job ")]
    what = [f"cancelled Slurm job(s) {', '.join(jobs)}"] if jobs else []
    what += [f"stopped {', '.join(other)}"] if other else []
    print(
        f"dagspec run: interrupted by {signame}; "
        f"{'; '.join(what) or 'no Slurm job of this run was running'}",
        file=sys.stderr,
        flush=True,
    )


def config_error(name: str, errors: list[str]) -> dict[str, Any]:
    """The report of a run that could not start: the spec or the conf is wrong (exit 2)."""
    from dagspec_runtime import run_report

    report = run_report.build(
        dag_id=name, kind="", run_id="", state="failed", tasks=[], values={}, duration_s=0.0
    )
    report["status"] = report["result"]["status"] = "config_error"
    report["result"]["errors"] = errors
    report["exit_code"] = EXIT_CONFIG
    return report


def interrupted(name: str, kind: str, signum: int, cancelled: list[str]) -> dict[str, Any]:
    from dagspec_runtime import run_report
    from dagspec_runtime.executor import Interrupted

    stop = Interrupted(signum)
    report = run_report.build(
        dag_id=name,
        kind=kind,
        run_id="",
        state="failed",
        tasks=[],
        values={},
        duration_s=0.0,
        path="airflow",
        interrupted=stop.args[0],
        cancelled=cancelled,
    )
    report["exit_code"] = stop.exit_code
    return report


def _airflow_run(
    root: Path, dag_file: Path, name: str, kind: str, request: RunRequest
) -> dict[str, Any]:
    """`dag.test()` in a child process; its JSON report, whatever happens."""
    from dagspec.extras import require

    require("airflow", why=f"{name} runs through Airflow's dag.test()")
    from dagspec_runtime.executor import Interrupted, signals_ignored, signals_raise

    env = airflow_env(root)
    command = [
        sys.executable,
        "-m",
        "dagspec_runtime.local_run",
        str(dag_file),
        "--dag-id",
        name,
        "--conf",
        json.dumps(request.conf),
        "--format",
        "json",
        "--kind",
        kind,
    ]
    if request.retries is not None:
        command += ["--retries", str(request.retries)]
    if request.retry_delay is not None:
        command += ["--retry-delay", str(request.retry_delay)]
    from dagspec_runtime import ownership  # Airflow-free; imported only when running
    from dagspec_runtime.slurm import run_guard

    run_tag = env[ownership.RUN_TAG_ENV] = ownership.new_tag()
    parent = os.getpid()
    proc: subprocess.Popen[str] | None = None
    guard = run_guard.start(run_tag)  # ends what the run started should this process be killed
    try:
        # An Airflow worker does not start in the project folder: neither does the child, so
        # a DAG file that leans on the current folder fails here as it would in Airflow.
        with signals_raise(True), airflow_lock(env):
            cwd = ownership.workdir(run_tag)  # removed with the ledger, after the run ended
            ensure_airflow_db(env)
            # The child has its own session (a signal to this group reaches this process only,
            # which decides) and dies with this process, even by SIGKILL; the guard then ends
            # the modules and Slurm jobs it started.
            proc = subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
                preexec_fn=lambda: die_with_parent(parent, signal.SIGKILL),
            )
            out, _ = proc.communicate()
    except (Interrupted, KeyboardInterrupt) as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        with signals_ignored():
            if proc is not None and proc.poll() is None:
                proc.kill()  # dag.test() starts no further task; what it started is ended below
                proc.wait()
            ended = _end(run_tag)
        say_interrupted(signal.Signals(signum).name, ended)
        return interrupted(name, kind, signum, ended)
    finally:
        run_guard.stop(guard)
        ownership.discard(run_tag)
    if proc.returncode == EXIT_CONFIG or not out.strip():
        return config_error(
            name,
            [
                f"the Airflow run of {name} could not start "
                f"(exit {proc.returncode}); see the messages above"
            ],
        )
    report = json.loads(out)
    report["exit_code"] = proc.returncode
    return report


@contextlib.contextmanager
def airflow_lock(env: dict[str, str]) -> Iterator[None]:
    """One `--airflow` run at a time per local Airflow home: `airflow db migrate` and
    `dag.test()` (which registers the DAGs) both write the one SQLite metadata database, and
    two first runs racing there fail (`table ... already exists`, duplicate DAG rows). The
    lock goes with the process, so a killed run never leaves it held."""
    import fcntl

    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    with (home / RUN_LOCK).open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"dagspec run: waiting for another --airflow run using {home} ...", file=sys.stderr
            )
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _end(run_tag: str) -> list[str]:
    """End what is still running of the run: its module processes and Slurm jobs (see
    dagspec_runtime.ownership); what was ended. Without Slurm there are no jobs to cancel."""
    from dagspec_runtime import ownership
    from dagspec_runtime.slurm import run_jobs

    try:
        return ownership.end_run(run_tag)
    except (OSError, run_jobs.slurm_cli.SlurmCommandError) as exc:
        print(f"dagspec run: could not cancel Slurm jobs: {exc}", file=sys.stderr)
        return []


def ensure_airflow_db(env: dict[str, str]) -> None:
    """Create the local Airflow database once (called under `airflow_lock`); a marker file
    says it is complete, so a migrate cut short is redone, not trusted."""
    home = Path(env["AIRFLOW_HOME"])
    ready = home / DB_READY
    if ready.exists():
        return
    print("dagspec run: creating the local Airflow database (once) ...", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ready.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")


def airflow_env(root: Path) -> dict[str, str]:
    """The environment for a local Airflow process: project folders, no examples."""
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(root / ".airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(root / "generated_dags"))
    env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(root / "plugins"))
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


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
