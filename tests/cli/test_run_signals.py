"""`dagspec run` on Slurm: interrupts cancel the jobs it started; failed jobs explain themselves.

Real parts: `dagspec run` of a ReductionPipeline whose step sleeps on the project's Slurm, and
real SIGINT / SIGTERM / SIGHUP sent to its PID or to its whole process group (as Ctrl-C in a
terminal does). Promise: exit 128 + signal, the job cancelled (squeue lists nothing live for the
run), and the cancelled job ids printed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.airflow, pytest.mark.slurm]

SPEC = """\
apiVersion: dagspec/v1
kind: ReductionPipeline
metadata: {name: NAME, owner: team-reduction, description: A step that holds its job.}
spec:
  trigger: {type: MANUAL}
  priority: 3
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
CASES = [
    (sig, whom)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for whom in ("pid", "group")
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, slurm_up: object) -> Path:
    root = tmp_path_factory.mktemp("signals")
    config = (ROOT / "dagspec.yaml").read_text()
    start = config.index("  entities:")
    end = config.index("  targets:")
    (root / "dagspec.yaml").write_text(config[:start] + config[end:])  # no entity specs here
    shutil.copytree(ROOT / "examples", root / "examples")
    (root / "specs").mkdir()
    for sig, whom in CASES:
        name = f"hold-{sig.name.lower()}-{whom}"
        (root / "specs" / f"{name}.yaml").write_text(SPEC.replace("NAME", name))
    failing = SPEC.replace("NAME", "fails-with-3").replace(
        "echo holding {sub_group_key}; sleep 300",
        "echo reading {sub_group_key}; echo bad calibration table >&2; exit 3",
    )
    (root / "specs" / "fails-with-3.yaml").write_text(failing)
    timed = SPEC.replace("NAME", "times-out").replace(
        "      max_concurrent_runs: 2",
        "      max_concurrent_runs: 2\n      execution_timeout_seconds: 3",
    )
    (root / "specs" / "times-out.yaml").write_text(timed)
    (root / "specs" / "hold-sigkill.yaml").write_text(SPEC.replace("NAME", "hold-sigkill"))
    return root


def _squeue() -> list[tuple[str, str, str]]:
    done = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%T|%k"], capture_output=True, text=True, check=True
    )
    return [tuple(line.split("|", 2)) for line in done.stdout.splitlines()]  # type: ignore[misc]


@pytest.mark.parametrize(("sig", "whom"), CASES, ids=[f"{s.name}-{w}" for s, w in CASES])
def test_interrupt_cancels_the_runs_jobs(project: Path, sig: signal.Signals, whom: str) -> None:
    name = f"hold-{sig.name.lower()}-{whom}"
    env = {**os.environ, "AIRFLOW_HOME": str(project / ".airflow")}
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    run = subprocess.Popen(
        [sys.executable, "-m", "dagspec.cli", "--project", str(project), "run", name],
        env=env,
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell job would be
    )
    prefix = f"dagspec:{name}/"
    before = {j for j, _, _ in _squeue()}
    try:
        deadline = time.monotonic() + 240
        running: list[str] = []
        while not running:
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "no job of the run started in 240 s"
            running = [
                j
                for j, state, comment in _squeue()
                if comment.startswith(prefix) and state == "RUNNING" and j not in before
            ]
            time.sleep(0.2)
        if whom == "pid":
            os.kill(run.pid, sig)
        else:
            os.killpg(run.pid, sig)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            leftover = [
                j
                for j, state, c in _squeue()
                if c.startswith(prefix) and state in {"PENDING", "RUNNING"}
            ]
            subprocess.run(["scancel", *leftover], check=False)
    assert run.returncode == 128 + sig, err
    jobs = {
        j: state
        for j, state, comment in _squeue()
        if comment.startswith(prefix) and j not in before
    }
    assert all(state == "CANCELLED" for state in jobs.values()), jobs
    assert set(running) <= set(jobs)
    assert f"dagspec run: interrupted by {sig.name}; cancelled Slurm job(s) " in err, err
    assert all(job_id in err for job_id in running), err
    # every job carries the run's tag, so none can be missed
    assert all("@" in comment for _, _, comment in _squeue() if comment.startswith(prefix))


def test_a_step_exiting_3_shows_job_id_state_exit_code_and_output_tail(project: Path) -> None:
    """Also: while a retry waits out its delay, dag.test()'s "No tasks to run" line is printed
    once per change, not once a second."""
    env = {**os.environ, "AIRFLOW_HOME": str(project / ".airflow")}
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    base = [
        sys.executable,
        "-m",
        "dagspec.cli",
        "--project",
        str(project),
        "run",
        "fails-with-3",
        "--retry-attempts",
        "1",
        "--retry-backoff-seconds",
        "8",
    ]
    done = subprocess.run(base, env=env, cwd=project, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Failed Slurm jobs:" in done.stdout, done.stdout
    lines = done.stdout.splitlines()
    failed = [line for line in lines if line.startswith("per_executed_obs_unit.hold[")]
    assert len(failed) == 2, done.stdout  # two sub-groups, each failed its last try
    for line, scan in zip(sorted(failed), ("scan1", "scan2"), strict=True):
        assert re.search(
            rf"hold\[\d\] sub-group executed_obs_unit={scan}: "
            r"Slurm job \d+ FAILED, exit code 3",
            line,
        ), line
    assert "  | reading executed_obs_unit=scan1" in done.stdout
    assert "  | bad calibration table" in done.stdout
    jobs = re.findall(r"Slurm job (\d+) FAILED", "\n".join(failed))
    states = {j: s for j, s, c in _squeue() if j in jobs}
    assert states == dict.fromkeys(jobs, "FAILED")
    assert done.stderr.count("No tasks to run") <= 4, done.stderr.count("No tasks to run")


def test_a_step_past_its_execution_timeout_cancels_its_job_and_fails(project: Path) -> None:
    """The fast path bounds the whole try, Slurm wait included: the job is cancelled and the
    task fails as a timeout (the run's other tasks and jobs are not touched)."""
    env = {**os.environ, "AIRFLOW_HOME": str(project / ".airflow")}
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    before = {j for j, _, _ in _squeue()}
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagspec.cli",
            "--project",
            str(project),
            "run",
            "times-out",
            "--format",
            "json",
        ],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    took = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    steps = [t for t in report["tasks"] if t["task_id"] == "per_executed_obs_unit.hold"]
    assert [t["state"] for t in steps] == ["failed", "failed"], report["tasks"]
    assert all("AirflowTaskTimeout" in (t["error"] or "") for t in steps), steps
    assert took < 120, took  # not the job's 300 s
    prefix = "dagspec:times-out/"
    jobs = {
        j: state
        for j, state, comment in _squeue()
        if comment.startswith(prefix) and j not in before
    }
    assert len(jobs) == 2 and set(jobs.values()) == {"CANCELLED"}, jobs


def test_kill_9_of_the_run_still_cancels_its_jobs(project: Path) -> None:
    """SIGKILL cannot be handled: the run's guard process notices and cancels the jobs."""
    name = "hold-sigkill"
    env = {**os.environ, "AIRFLOW_HOME": str(project / ".airflow")}
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    run = subprocess.Popen(
        [sys.executable, "-m", "dagspec.cli", "--project", str(project), "run", name],
        env=env,
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    prefix = f"dagspec:{name}/"
    before = {j for j, _, _ in _squeue()}
    try:
        deadline = time.monotonic() + 120
        running: list[str] = []
        while len(running) < 2:
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the run's jobs did not start in 120 s"
            running = [
                j
                for j, state, c in _squeue()
                if c.startswith(prefix) and state == "RUNNING" and j not in before
            ]
            time.sleep(0.2)
        os.kill(run.pid, signal.SIGKILL)
        run.communicate(timeout=30)
        deadline = time.monotonic() + 30
        while True:
            states = {j: s for j, s, c in _squeue() if j in running}
            if set(states.values()) == {"CANCELLED"} or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        leftover = [
            j
            for j, state, c in _squeue()
            if c.startswith(prefix) and state in {"PENDING", "RUNNING"}
        ]
        subprocess.run(["scancel", *leftover], check=False)
    assert run.returncode == -signal.SIGKILL
    assert states == dict.fromkeys(running, "CANCELLED"), states
