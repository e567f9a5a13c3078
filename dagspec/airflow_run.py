"""The Airflow path of `dagspec run --airflow`: the generated DAG file runs with `dag.test()` in
a child process (`python -m dagspec_runtime.local_run`) on the embedded SQLite metadata database
in the project's `.airflow/` folder. It proves the DAG file itself; the e2e tests use it.

The child has its own session, so a signal to this process's group reaches this process only,
which decides: it kills the child (`dag.test()` starts no further task) and ends what the run
started the way the fast path does (`dagspec_runtime.cancel`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from compiler.lifeline import die_with_parent
from dagspec.exit_codes import ExitCode

RUN_LOCK = "dagspec-run.lock"
DB_READY = "dagspec-db.ready"


def run_dag_file(
    root: Path,
    dag_file: Path,
    name: str,
    kind: str,
    conf: dict[str, Any],
    retries: int | None = None,
    retry_delay: float | None = None,
) -> dict[str, Any]:
    """`dag.test()` of `name` in `dag_file` in a child process; its report, whatever happens
    (an interrupt: the report says which signal and what was cancelled)."""
    from dagspec.extras import require

    require("airflow", why=f"{name} runs through Airflow's dag.test()")
    from dagspec_runtime import cancel, ownership, run_report

    env = airflow_env(root)
    command = [
        sys.executable,
        "-m",
        "dagspec_runtime.local_run",
        str(dag_file),
        "--dag-id",
        name,
        "--conf",
        json.dumps(conf),
        "--format",
        "json",
        "--kind",
        kind,
    ]
    if retries is not None:
        command += ["--retries", str(retries)]
    if retry_delay is not None:
        command += ["--retry-delay", str(retry_delay)]
    parent = os.getpid()
    proc: subprocess.Popen[str] | None = None
    with cancel.owned_run() as run_tag:
        env[ownership.RUN_TAG_ENV] = run_tag
        try:
            # An Airflow worker does not start in the project folder: neither does the child,
            # so a DAG file that leans on the current folder fails here as it would in Airflow.
            with cancel.signals_raise(), airflow_lock(env):
                cwd = ownership.workdir(run_tag)  # removed with the ledger, after the run ended
                ensure_airflow_db(env)
                # The child dies with this process, even by SIGKILL; the guard then ends the
                # modules and Slurm jobs it started.
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
                status = proc.returncode
        except (cancel.Interrupted, KeyboardInterrupt) as exc:
            stop = cancel.Interrupted.of(exc)
            with cancel.signals_ignored():
                if proc is not None and proc.poll() is None:
                    proc.kill()  # dag.test() starts no further task; the rest is ended below
                    proc.wait()
                ended = cancel.end_run(run_tag, _warn)
            _warn(cancel.summary(stop.signame, ended))
            return run_report.interrupted(name, kind, stop.signame, ended)
    if status == ExitCode.USAGE or not out.strip():  # the child's "nothing ran"
        return run_report.config_error(
            name,
            [f"the Airflow run of {name} could not start (exit {status}); see the messages above"],
        )
    report: dict[str, Any] = json.loads(out)
    return report


def _warn(message: str) -> None:
    print(f"dagspec run: {message}", file=sys.stderr, flush=True)


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
