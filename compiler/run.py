"""`dagspec run`: compile, then run one DAG locally in a separate Airflow process.

The compiler never imports Airflow; the run happens in `python -m dagspec_runtime.local_run`
(plugins/), on the embedded SQLite metadata database in the project's `.airflow/` folder.

A run owns what it starts: every Slurm job of the run carries the run's tag (DAGSPEC_RUN_TAG,
see dagspec_runtime.slurm.run_jobs). On SIGINT, SIGTERM or SIGHUP, sent to this process or to
its whole process group, the child is stopped, every live job with the tag is cancelled, the
cancelled job ids are printed and the exit code is 128 + the signal (130, 143, 129). The child
gets SIGHUP if this process dies, even by SIGKILL, and cancels the run's jobs itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from compiler import api
from compiler.lifeline import die_with_parent
from compiler.reporters import REPORTERS

EXIT_CONFIG = 2
INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_GRACE_S = 5.0


def run_spec(root: Path, spec: str, *, entity: str | None = None, selector: str | None = None,
             conf: dict[str, Any], extra: list[str] = ()) -> int:
    """Run the DAG of `spec` (a file or a spec name), its `entity` or its process `selector`."""
    result = api.compile_project(root)
    if not result.ok:
        sys.stderr.write(REPORTERS["text"](result.findings, root))
        return EXIT_CONFIG
    spec_name = _spec_name(spec)
    choices = sorted(t.name for t in result.analysis.targets if t.sources[0].name == spec_name)
    if entity is not None:
        name = entity
    elif selector is not None:
        name = f"{spec_name}.{selector}"
    elif len(choices) == 1:
        name = choices[0]
    else:
        name = spec_name or spec
    dag_file = result.analysis.project.output_dir / f"{name}.py"
    if not dag_file.is_file():
        known = ", ".join(choices or sorted(t.name for t in result.analysis.targets)) or "none"
        print(f"dagspec run: `{name}` compiles to no DAG; choose one of: {known}",
              file=sys.stderr)
        return EXIT_CONFIG
    env = airflow_env(root)
    if not (Path(env["AIRFLOW_HOME"]) / "airflow.db").exists():
        print("dagspec run: creating the local Airflow database (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    command = [sys.executable, "-m", "dagspec_runtime.local_run", str(dag_file),
               "--dag-id", name, "--conf", json.dumps(conf), *extra]
    from dagspec_runtime.slurm import run_jobs  # Airflow-free; imported only when running

    env[run_jobs.RUN_TAG_ENV] = run_jobs.new_run_tag()
    return supervise(command, env, root, env[run_jobs.RUN_TAG_ENV])


def supervise(command: list[str], env: dict[str, str], cwd: Path, run_tag: str) -> int:
    """Run `command`; on an interrupt stop it, cancel the run's Slurm jobs, return 128 + signal."""
    received: list[int] = []

    def interrupted(signum: int, frame: FrameType | None) -> None:
        if not received:
            received.append(signum)
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    parent = os.getpid()
    previous = {sig: signal.getsignal(sig) for sig in INTERRUPTS}
    child = subprocess.Popen(command, env=env, cwd=cwd,
                             preexec_fn=lambda: die_with_parent(parent, signal.SIGHUP))
    for sig in INTERRUPTS:
        signal.signal(sig, interrupted)
    try:
        code = _wait(child, received)
        if not received:
            return code
        cancelled = _cancel(run_tag)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    name = signal.Signals(received[0]).name
    if cancelled:
        what = f"cancelled Slurm job(s) {', '.join(cancelled)}"
    else:
        what = "no Slurm job of this run was running"
    print(f"dagspec run: interrupted by {name}; {what}", file=sys.stderr, flush=True)
    return 128 + received[0]


def _wait(child: subprocess.Popen[bytes], received: list[int]) -> int:
    """The child's exit code; after an interrupt, SIGKILL it if it outlives STOP_GRACE_S.

    Short waits: a signal handler returning does not end a blocking wait (PEP 475)."""
    deadline: float | None = None
    while True:
        try:
            return child.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            if received and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_S
            if deadline is not None and time.monotonic() > deadline:
                child.kill()


def _cancel(run_tag: str) -> list[str]:
    """Cancel what is still live; also list jobs the child cancelled itself (the group signal
    reached it too). Without Slurm on this machine there is nothing to cancel."""
    from dagspec_runtime.slurm import run_jobs

    try:
        mine = run_jobs.cancel_run(run_tag=run_tag)
        done = [row.job_id for row in run_jobs.jobs_of_run(run_tag=run_tag)
                if row.state == "CANCELLED"]
    except (OSError, run_jobs.slurm_cli.SlurmCommandError) as exc:
        print(f"dagspec run: could not cancel Slurm jobs: {exc}", file=sys.stderr)
        return []
    return sorted(set(mine) | set(done), key=int)


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


def _spec_name(spec: str) -> str | None:
    path = Path(spec)
    return api._spec_name(path) if path.is_file() else spec
