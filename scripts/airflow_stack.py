"""Start and stop a real local Airflow 3.3 stack for dagspec, on 127.0.0.1 only.

Used by scripts/airflow-up.sh and scripts/airflow-down.sh (and through them by the e2e tests).
The parts run separately (api-server, scheduler, dag-processor, triggerer) because
``airflow standalone`` binds its log servers to all interfaces and orphans its children on
SIGTERM. Every part starts in its own process group and carries a per-stack marker in its
environment, so ``down`` stops exactly what ``up`` started, by PID, and nothing else.

Environment:
  DAGSPEC_AIRFLOW_HOME (else AIRFLOW_HOME, else <repo>/.airflow)  state, logs, pid file
  DAGSPEC_AIRFLOW_PORT (default 8080)                              api-server port
  DAGSPEC_AIRFLOW_DB=postgres                                      PostgreSQL via scripts/pg-up.sh
  DAGSPEC_AIRFLOW_START_TIMEOUT / DAGSPEC_AIRFLOW_STOP_TIMEOUT    seconds (180 / 30)
  DAGSPEC_AIRFLOW_DAGS_FOLDER (default <repo>/generated_dags)      DAG files to serve
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PID_FILE_NAME = "dagspec-stack.json"
MARKER_VAR = "DAGSPEC_STACK_ID"
ADMIN_USER = "admin"
PARTS: dict[str, list[str]] = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def log(message: str) -> None:
    """Progress goes to stderr so stdout stays the short summary."""
    print(f"airflow-stack: {message}", file=sys.stderr, flush=True)


def airflow_home() -> Path:
    """The stack's home; a dedicated variable first so a user's own AIRFLOW_HOME is not reused."""
    value = os.environ.get("DAGSPEC_AIRFLOW_HOME") or os.environ.get("AIRFLOW_HOME")
    return Path(value).resolve() if value else REPO / ".airflow"


def pid_file(home: Path) -> Path:
    return home / PID_FILE_NAME


def venv_bin() -> Path:
    """The bin folder of the Python running this script (the project venv)."""
    return Path(sys.executable).parent


# --- processes ---------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgid, start time in clock ticks) of a live process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie is dead for our purposes
        return None
    return int(fields[1]), int(fields[2]), int(fields[19])


def start_time(pid: int) -> int | None:
    """Kernel start time of ``pid``: with the PID it identifies one process for good."""
    info = _stat(pid)
    return info[2] if info else None


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _has_marker(pid: int, marker: str) -> bool:
    """True if the process's environment carries this stack's id (inherited by all children)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{MARKER_VAR}={marker}".encode() in environ.split(b"\0")


def stack_processes(record: dict[str, Any]) -> set[int]:
    """Live PIDs that belong to the recorded stack.

    A recorded part counts if its start time still matches; any other process counts if it is
    a descendant of one, sits in one's process group, or carries the stack's marker (which
    also finds a task's module subprocess that started its own session and lost its parent).
    """
    marker = record["stack_id"]
    table: dict[int, tuple[int, int, int]] = {}
    for pid in _all_pids():
        info = _stat(pid)
        if info:
            table[pid] = info
    roots = {
        p["pid"]
        for p in record["processes"]
        if p["pid"] in table and table[p["pid"]][2] == p["start_time"]
    }
    groups = {p["pid"] for p in record["processes"]}
    found = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, (ppid, pgid, _) in table.items():
            if pid in found:
                continue
            if ppid in found or (pgid in groups and pgid not in table) or pgid in roots:
                found.add(pid)
                changed = True
    found |= {pid for pid in table if pid != os.getpid() and _has_marker(pid, marker)}
    found.discard(os.getpid())
    return found


def _signal_all(pids: Iterable[int], record: dict[str, Any], sig: signal.Signals) -> None:
    """Signal the recorded process groups (leader ours or gone) and every other stack PID."""
    recorded = {p["pid"]: p["start_time"] for p in record["processes"]}
    for pgid, started in recorded.items():
        now = start_time(pgid)
        if now is None or now == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_processes(record: dict[str, Any], timeout: float) -> list[int]:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; return PIDs that are still alive."""
    alive = stack_processes(record)
    if not alive:
        return []
    log(f"stopping {len(alive)} processes: {sorted(alive)}")
    _signal_all(alive, record, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        alive = stack_processes(record)
        if not alive:
            return []
    log(f"still alive after {timeout:.0f}s, sending SIGKILL: {sorted(alive)}")
    _signal_all(alive, record, signal.SIGKILL)
    for _ in range(20):
        time.sleep(0.25)
        alive = stack_processes(record)
        if not alive:
            return []
    return sorted(alive)


# --- configuration -----------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stack_env(home: Path, port: int, db_url: str, stack_id: str) -> dict[str, str]:
    """Environment for every part; explicit values win over a user's airflow.cfg."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            MARKER_VAR: stack_id,
            "PATH": f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}",
            "DO_NOT_TRACK": "1",
            "SCARF_ANALYTICS": "false",
            "AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": os.environ.get("DAGSPEC_AIRFLOW_DAGS_FOLDER")
            or str(REPO / "generated_dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__TRIGGERER__CAPACITY": "50",
        }
    )
    # One secret shared by every part, so tokens the scheduler signs verify in the api-server.
    for name in ("jwt_secret", "secret_key"):
        path = home / f".{name}"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
    env["AIRFLOW__API_AUTH__JWT_SECRET"] = (home / ".jwt_secret").read_text().strip()
    env["AIRFLOW__API__SECRET_KEY"] = (home / ".secret_key").read_text().strip()
    return env


def project_pools() -> dict[str, dict[str, Any]]:
    """Pools declared in dagspec.yaml (``spec.pools``) in `airflow pools import` format."""
    import yaml

    project = yaml.safe_load((REPO / "dagspec.yaml").read_text()) or {}
    pools = (project.get("spec") or {}).get("pools") or {}
    return {
        name: {
            "slots": int(value.get("slots", 1)),
            "description": str(value.get("description", "")),
            "include_deferred": False,
        }
        for name, value in pools.items()
    }


def start_postgres(home: Path) -> tuple[str, Path]:
    """A throwaway PostgreSQL from scripts/pg-up.sh in <home>/postgres; reused if running."""
    pg_dir = home / "postgres"
    pg_up = REPO / "scripts" / "pg-up.sh"
    if not pg_up.exists():
        raise SystemExit("DAGSPEC_AIRFLOW_DB=postgres needs scripts/pg-up.sh, which is missing")
    url_file = pg_dir / "url"
    if url_file.exists() and (pg_dir / "data" / "postmaster.pid").exists():
        return url_file.read_text().strip(), pg_dir
    if (pg_dir / "data").exists():
        shutil.rmtree(pg_dir)
    log(f"starting PostgreSQL in {pg_dir}")
    subprocess.run(["bash", str(pg_up), str(pg_dir)], check=True, stdout=subprocess.DEVNULL)
    return url_file.read_text().strip(), pg_dir


def run_cli(args: list[str], env: dict[str, str], logfile: Path) -> None:
    """One `airflow ...` command, output appended to ``logfile``; fail with its tail."""
    with logfile.open("a") as out:
        out.write(f"\n$ airflow {' '.join(args)}\n")
        out.flush()
        done = subprocess.run(
            [str(venv_bin() / "airflow"), *args],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    if done.returncode != 0:
        raise SystemExit(f"`airflow {' '.join(args)}` failed:\n{tail(logfile)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path} missing)"
    return "\n".join(text[-lines:])


def health(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as response:
            return json.load(response)
    except (OSError, ValueError, urllib.error.URLError):
        return None


def is_healthy(report: dict[str, Any] | None) -> bool:
    if not report:
        return False
    return all((report.get(key) or {}).get("status") == "healthy" for key in HEALTH_KEYS)


def admin_password(home: Path) -> str | None:
    """The admin password SimpleAuthManager generated into its passwords file."""
    path = home / "simple_auth_manager_passwords.json.generated"
    try:
        return json.loads(path.read_text()).get(ADMIN_USER)
    except (OSError, ValueError):
        return None


def write_record(home: Path, record: dict[str, Any]) -> None:
    path = pid_file(home)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)


def read_record(home: Path) -> dict[str, Any] | None:
    try:
        return json.loads(pid_file(home).read_text())
    except (OSError, ValueError):
        return None


# --- commands ----------------------------------------------------------------------------


def up() -> int:
    home = airflow_home()
    port = int(os.environ.get("DAGSPEC_AIRFLOW_PORT", "8080"))
    timeout = float(os.environ.get("DAGSPEC_AIRFLOW_START_TIMEOUT", "180"))
    home.mkdir(parents=True, exist_ok=True)
    previous = read_record(home)
    if previous and stack_processes(previous):
        log(f"a stack from {pid_file(home)} is still running; run scripts/airflow-down.sh first")
        return 1
    if not port_is_free(port):
        log(f"port 127.0.0.1:{port} is in use; set DAGSPEC_AIRFLOW_PORT")
        return 1
    stack_logs = home / "logs" / "stack"
    stack_logs.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    record: dict[str, Any] = {
        "stack_id": secrets.token_hex(8),
        "url": url,
        "port": port,
        "airflow_home": str(home),
        "processes": [],
        "postgres_dir": None,
    }
    write_record(home, record)
    started = time.monotonic()
    try:
        if os.environ.get("DAGSPEC_AIRFLOW_DB", "sqlite") == "postgres":
            db_url, pg_dir = start_postgres(home)
            record["postgres_dir"] = str(pg_dir)
            write_record(home, record)
        else:
            db_url = f"sqlite:///{home / 'airflow.db'}"
        env = stack_env(home, port, db_url, record["stack_id"])
        log(f"migrating the metadata database ({db_url.split(':', 1)[0]})")
        run_cli(["db", "migrate"], env, stack_logs / "setup.log")
        pools = project_pools()
        if pools:
            pools_json = home / "pools.json"
            pools_json.write_text(json.dumps(pools, indent=2))
            run_cli(["pools", "import", str(pools_json)], env, stack_logs / "setup.log")
        for name, args in PARTS.items():
            logfile = (stack_logs / f"{name}.log").open("a")
            proc = subprocess.Popen(
                [str(venv_bin() / "airflow"), *args],
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            logfile.close()
            record["processes"].append(
                {"name": name, "pid": proc.pid, "start_time": start_time(proc.pid) or 0}
            )
            write_record(home, record)
        parts = ", ".join(f"{p['name']}={p['pid']}" for p in record["processes"])
        log(f"started {parts}")
        deadline = time.monotonic() + timeout
        report: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            report = health(url)
            if is_healthy(report) and admin_password(home):
                break
            dead = [p for p in record["processes"] if start_time(p["pid"]) != p["start_time"]]
            if dead:
                raise SystemExit(f"{dead[0]['name']} exited early")
            time.sleep(1)
        else:
            raise SystemExit(f"not healthy after {timeout:.0f}s; last health: {report}")
    except (SystemExit, KeyboardInterrupt, Exception) as error:
        log(f"start failed: {error}")
        for name in ["setup", *PARTS]:
            path = stack_logs / f"{name}.log"
            print(f"----- {path} (tail) -----\n{tail(path)}", file=sys.stderr)
        down()
        return 1
    log(f"healthy after {time.monotonic() - started:.0f}s")
    print(f"Airflow UI:   {url}")
    print(f"Login:        {ADMIN_USER} / {admin_password(home)}")
    print(f"AIRFLOW_HOME: {home}")
    print(f"Logs:         {stack_logs}")
    print("Stop with:    scripts/airflow-down.sh")
    return 0


def down() -> int:
    home = airflow_home()
    timeout = float(os.environ.get("DAGSPEC_AIRFLOW_STOP_TIMEOUT", "30"))
    record = read_record(home)
    if record is None:
        log(f"nothing to stop ({pid_file(home)} not found)")
        return 0
    left = stop_processes(record, timeout)
    if record.get("postgres_dir"):
        pg_down = REPO / "scripts" / "pg-down.sh"
        subprocess.run(["bash", str(pg_down), record["postgres_dir"]], check=False)
    if left:
        log(f"could not stop: {left}")
        return 1
    pid_file(home).unlink(missing_ok=True)
    log("stopped")
    return 0


def status() -> int:
    home = airflow_home()
    record = read_record(home)
    alive = stack_processes(record) if record else set()
    if not record or not alive:
        print("not running")
        return 1
    print(f"{record['url']} pids={sorted(alive)} health={health(record['url'])}")
    return 0


def main(argv: list[str]) -> int:
    commands = {"up": up, "down": down, "status": status}
    if len(argv) != 2 or argv[1] not in commands:
        print(f"usage: {argv[0]} up|down|status", file=sys.stderr)
        return 2
    return commands[argv[1]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
