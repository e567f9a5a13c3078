"""`dagspec run` owns every process and Slurm job it starts, on every exit path.

The process-tree matrix: {fast, --airflow} x {SIGINT, SIGTERM, SIGHUP to the PID and to the
process group, SIGKILL of the PID} x {entity modules running (each with a child of its own that
keeps stdout open), reduction jobs being submitted (a slowed `sbatch` wrapper on PATH), jobs
running}. Afterwards no process of the run is alive (every process started under the run carries
a marker in its environment, Slurm jobs too), no job of the run is live in `squeue`, the exit code
is 128 + signal (-9 for SIGKILL), the report's `cancelled` names the modules and the jobs, and
the run's workspace is gone.

`make test` runs a slice of 4 cases; DAGSPEC_OWNERSHIP_MATRIX=full runs all 42
(`make soak-ownership`: 5 times beside 2 CPU-bound processes).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.airflow, pytest.mark.slurm]

HOLD = """\
import os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # keeps stdout open
open(os.path.join(os.environ["HOLD_DIR"], f"{os.environ['DAGSPEC_MODULE']}-{os.getpid()}"), "w")
time.sleep(300)
"""
ENTITY = """\
apiVersion: dagspec/v1
kind: Entity
metadata: {name: holder, owner: team, description: Modules that hold.}
spec:
  phases:
    - name: work
      modules:
        - {name: hold-a, command: python modules/hold.py, outputs: [work/a.json]}
        - {name: hold-b, command: python modules/hold.py, outputs: [work/b.json]}
  promote: []
"""
REDUCTION = """\
apiVersion: dagspec/v1
kind: ReductionPipeline
metadata: {name: hold, owner: team-reduction, description: A step that holds its jobs.}
spec:
  trigger: {type: MANUAL}
  data_grouping:
    name: ngc253-co43
    catalogue: examples/reduction/raw
    filter_rules: {source: NGC253, line: [CO43]}
  products_root: var/reduction
  software:
    holder: {image: ghcr.io/example/holder, versions: ["1.0.0"]}
  steps:
    - name: hold
      software: holder
      group_by: [executed_obs_unit]
      config:
        command_template: echo holding {sub_group_key}; sleep 300
        resources: {cpu: 1, memory_gb: 0.25, time_hours: 0.1}
      max_concurrent_runs: 2
"""
SLOW_SBATCH = """\
#!/bin/sh
touch "$SBATCH_MARK_DIR/sbatch.$$"
sleep 2
exec REAL "$@"
"""
SIGNALS = [
    (sig, whom)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for whom in ("pid", "group")
] + [(signal.SIGKILL, "pid")]
FULL = [
    (path, sig, whom, state)
    for path in ("fast", "airflow")
    for sig, whom in SIGNALS
    for state in ("modules", "submitting", "jobs")
]
SLICE = [
    ("fast", signal.SIGINT, "group", "submitting"),
    ("fast", signal.SIGKILL, "pid", "modules"),
    ("fast", signal.SIGTERM, "pid", "jobs"),
    ("airflow", signal.SIGHUP, "pid", "modules"),
]
CASES = FULL if os.environ.get("DAGSPEC_OWNERSHIP_MATRIX") == "full" else SLICE


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, slurm_up: object) -> Path:
    root = tmp_path_factory.mktemp("ownership")
    config = (ROOT / "dagspec.yaml").read_text()
    start, end = config.index("  entities:"), config.index("  targets:")
    (root / "dagspec.yaml").write_text(
        config[:start] + "  entities:\n    - holder\n" + config[end:]
    )
    shutil.copytree(ROOT / "examples", root / "examples")
    (root / "specs").mkdir()
    (root / "specs" / "holder.yaml").write_text(ENTITY)
    (root / "specs" / "hold.yaml").write_text(REDUCTION)
    (root / "modules").mkdir()
    (root / "modules" / "hold.py").write_text(HOLD)
    (root / "slow-bin").mkdir()
    wrapper = root / "slow-bin" / "sbatch"
    wrapper.write_text(SLOW_SBATCH.replace("REAL", shutil.which("sbatch") or "sbatch"))
    wrapper.chmod(0o755)
    return root


def _squeue() -> list[tuple[str, str, str]]:
    done = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%T|%k"], capture_output=True, text=True, check=True
    )
    return [tuple(line.split("|", 2)) for line in done.stdout.splitlines()]  # type: ignore[misc]


def _marked(marker: str) -> list[int]:
    """Live processes whose environment carries `marker` (every process of one case's run)."""
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            marked = needle in (entry / "environ").read_bytes().split(b"\0")
            zombie = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            continue
        if marked and not zombie:
            found.append(int(entry.name))
    return found


def _wait_for(what: str, check, within: float = 240.0, proc: subprocess.Popen | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.communicate()}")
        assert time.monotonic() < deadline, f"not {what} in {within:g} s"
        time.sleep(0.1)


def _kill_all(marker: str) -> None:
    for pid in _marked(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("path", "sig", "whom", "state"),
    CASES,
    ids=[f"{p}-{s.name}-{w}-{st}" for p, s, w, st in CASES],
)
def test_every_exit_path_ends_the_whole_run(
    project: Path, tmp_path: Path, path: str, sig: signal.Signals, whom: str, state: str
) -> None:
    marker = f"DAGSPEC_OWNERSHIP_CASE={uuid.uuid4().hex}"
    hold_dir, mark_dir = tmp_path / "held", tmp_path / "sbatch"
    hold_dir.mkdir()
    mark_dir.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(project / ".airflow"),
        "RDT_WORKSPACE_DIR": str(tmp_path / "ws"),
        "HOLD_DIR": str(hold_dir),
        "SBATCH_MARK_DIR": str(mark_dir),
        marker.split("=")[0]: marker.split("=")[1],
    }
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    if state == "submitting":
        env["PATH"] = f"{project / 'slow-bin'}{os.pathsep}{env['PATH']}"
    name = "holder" if state == "modules" else "hold"
    argv = [sys.executable, "-m", "dagspec.cli", "--project", str(project), "run", name]
    argv += ["--format", "json"] + (["--airflow"] if path == "airflow" else [])
    before = {j for j, _, _ in _squeue()}
    prefix = f"dagspec:{name}/"

    def ours() -> dict[str, str]:
        return {j: st for j, st, c in _squeue() if c.startswith(prefix) and j not in before}

    run = subprocess.Popen(
        argv,
        env=env,
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell job would be
    )
    try:
        if state == "modules":
            _wait_for("a module ran", lambda: list(hold_dir.iterdir()), proc=run)
            if path == "fast":
                _wait_for("both modules ran", lambda: len(list(hold_dir.iterdir())) == 2, proc=run)
        elif state == "submitting":
            _wait_for("sbatch was called", lambda: list(mark_dir.iterdir()), proc=run)
        else:
            _wait_for(
                "a job ran", lambda: [j for j, st in ours().items() if st == "RUNNING"], proc=run
            )
        if whom == "pid":
            os.kill(run.pid, sig)
        else:
            os.killpg(run.pid, sig)
        out, err = run.communicate(timeout=180)
        # every process of the run ends (after SIGKILL the guard ends the rest, then itself)
        left = _wait_for("every process ended", lambda: not _marked(marker) or None, 120)
        assert left
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        leftover = [j for j, st in ours().items() if st in {"PENDING", "RUNNING"}]
        subprocess.run(["scancel", *leftover], check=False, capture_output=True)
        _kill_all(marker)
    expected = -signal.SIGKILL if sig == signal.SIGKILL else 128 + sig
    assert run.returncode == expected, err
    jobs = ours()
    assert all(st not in {"PENDING", "RUNNING", "COMPLETING"} for st in jobs.values()), jobs
    if state == "submitting":
        assert jobs, f"the submission in flight made no job; stderr:\n{err[-3000:]}"
    started = {int(p.name.rsplit("-", 1)[1]) for p in hold_dir.iterdir()}
    workspaces = list((tmp_path / "ws").glob("*/workspace.json"))
    assert not workspaces, f"the interrupted run left its workspace: {workspaces}"
    if sig == signal.SIGKILL:
        assert "dagspec run guard: run " in err, err
        return
    report = json.loads(out)
    cancelled = report["cancelled"]
    processes = {int(c.split()[1]) for c in cancelled if c.startswith("process ")}
    assert started <= processes, (started, cancelled)
    cancelled_jobs = {c.split()[2] for c in cancelled if c.startswith("Slurm job ")}
    assert set(jobs) == cancelled_jobs, (jobs, cancelled)
    assert all(st == "CANCELLED" for st in jobs.values()), jobs
    assert f"dagspec run: interrupted by {sig.name}" in err, err
