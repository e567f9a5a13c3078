"""The Celery stack recovers from its dependencies without a hand on it (`make test-faults`).

Mid-run (an entity run held in its governance module on a worker) Redis is stopped for 20 s,
or PostgreSQL (Airflow's metadata database) is restarted; the scheduler, dag-processor,
triggerer and workers are started again by their supervisors (scripts/supervise.py) when they
exit, queued task messages survive in Redis's append-only file, and the run finishes with every
task succeeded. Measured times are printed (docs/distributed.md quotes them).
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import ENTITY, HOLD, CeleryStack, stack_module

pytestmark = [pytest.mark.celery, pytest.mark.e2e, pytest.mark.postgres]
RUN_TIMEOUT = 600
OUTAGE = 20.0  # seconds Redis stays down (the fault itself, not a wait for the machine)
WORKERS = {"worker-a", "worker-b"}


def held_run(stack: CeleryStack) -> str:
    """Trigger the entity with the hold file present; return once governance runs on a worker."""
    (stack.project.root / HOLD).touch()
    run_id = stack.api.trigger(ENTITY, {"target": "dev"})
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        states = {t["task_id"]: t for t in stack.api.task_instances(ENTITY, run_id)}
        ti = states.get("govern.governance")
        if ti and ti["state"] == "running" and ti["hostname"] in WORKERS:
            return run_id
        assert time.monotonic() < deadline, f"governance never ran: {ti}"
        time.sleep(1)


def finish(stack: CeleryStack, run_id: str, fault: Callable[[], None], label: str) -> None:
    """Apply `fault` to the held run, release it, and wait for the run to succeed."""
    started = time.monotonic()
    try:
        fault()
    finally:
        (stack.project.root / HOLD).unlink(missing_ok=True)
    final = stack.api.wait_for_run(ENTITY, run_id, timeout=RUN_TIMEOUT)
    seconds = time.monotonic() - started
    states = stack.api.task_states(ENTITY, run_id)
    print(f"\n{label}: run finished {final['state']} {seconds:.0f} s after the fault began")
    assert final["state"] == "success", states
    assert set(states.values()) == {"success"}, states


def stack_env(stack: CeleryStack) -> dict[str, str]:
    return json.loads((stack.home / "stack-env.json").read_text())


def test_redis_stopped_for_20_seconds_mid_run(celery_stack: CeleryStack) -> None:
    stack = celery_stack
    stack.reload()
    run_id = held_run(stack)
    redis = [p for p in stack.record["processes"] if p["name"] == "redis"][-1]

    def outage() -> None:
        os.kill(redis["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 60
        while stack_module.start_time(redis["pid"]) == redis["start_time"]:
            assert time.monotonic() < deadline, "redis-server did not stop"
            time.sleep(0.2)
        time.sleep(OUTAGE)
        log = stack.home / "logs" / "stack" / "redis.log"
        with log.open("a") as out:
            proc = subprocess.Popen(
                stack.record["redis_argv"],
                env=stack_env(stack),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack.record["processes"].append(
            {"name": "redis", "pid": proc.pid, "start_time": stack_module.start_time(proc.pid)}
        )
        stack_module.write_record(stack.home, stack.record)  # airflow-down.sh stops it too

    finish(stack, run_id, outage, "redis stopped 20 s")


def test_postgres_restarted_mid_run(celery_stack: CeleryStack) -> None:
    stack = celery_stack
    stack.reload()
    run_id = held_run(stack)
    data = Path(stack.record["postgres_dir"]) / "data"
    pg_ctl = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]

    def restart() -> None:
        # -l: the new server logs to its file; on a pipe it would hold pg_ctl's output open.
        command = ["runuser", "-u", "postgres", "--", pg_ctl, "-D", str(data), "-w"]
        command += ["-t", "120", "-m", "fast", "-l", str(data.parent / "server.log"), "restart"]
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=180
        )
        assert done.returncode == 0, f"pg_ctl restart exited {done.returncode}"

    finish(stack, run_id, restart, "postgresql restarted")
