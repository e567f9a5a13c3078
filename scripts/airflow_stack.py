"""Start and stop a real local Airflow 3.3 stack for dagspec, on 127.0.0.1 only.

Used by scripts/airflow-up.sh and scripts/airflow-down.sh (and through them by the e2e tests).
The parts run separately (api-server, scheduler, dag-processor, triggerer) because
``airflow standalone`` binds its log servers to all interfaces and orphans its children on
SIGTERM. Every part starts in its own process group and carries a per-stack marker in its
environment, so ``down`` stops exactly what ``up`` started, by PID, and nothing else.

With ``DAGSPEC_AIRFLOW_EXECUTOR=celery`` (``make airflow-up EXECUTOR=celery``) the stack is
distributed: Redis as the Celery broker (Debian ``redis-server``, 127.0.0.1, a free port),
PostgreSQL as the metadata database, and Celery workers that each run as a separate host
(scripts/worker_host.py in their own mount and UTS namespaces: private /tmp, own hostname; only
the project and the storage dagspec.yaml declares are visible from the host's /tmp).

Environment:
  DAGSPEC_AIRFLOW_HOME (else AIRFLOW_HOME, else <repo>/.airflow)  state, logs, pid file
  DAGSPEC_AIRFLOW_PORT (default 8080)                              api-server port
  DAGSPEC_AIRFLOW_DB=postgres                                      PostgreSQL via scripts/pg-up.sh
  DAGSPEC_AIRFLOW_START_TIMEOUT / DAGSPEC_AIRFLOW_STOP_TIMEOUT    seconds (180 / 30)
  DAGSPEC_AIRFLOW_EXECUTOR=local|celery                           default local
  DAGSPEC_AIRFLOW_PAUSED=1                     new DAGs start paused (default: unpaused)
  DAGSPEC_AIRFLOW_DAGS_FOLDER (default: output_dir of the project)  DAG files to serve
  DAGSPEC_PROJECT_DIR (default: the repo)       dagspec.yaml, generated DAGs and pools read here
  DAGSPEC_CELERY_WORKERS (default 2)            Celery workers (hosts worker-a, worker-b, ...)
  DAGSPEC_CELERY_CONCURRENCY (default 1)        task slots per worker
  DAGSPEC_CELERY_QUEUES (default "default")     queues every worker listens on, comma-separated;
                                                each worker also listens on its own host name
  DAGSPEC_CELERY_WORKER_QUEUES (default "")     more queues for one worker each, comma-separated
                                                NAME=QUEUE pairs (e.g. "worker-b=bigmem")

Task logs of every worker go to the stack's own log folder (<home>/logs), which each worker
host mounts like a shared log volume, so the api-server serves them (REST, UI) wherever the
task ran.
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
WORKER_VAR = "DAGSPEC_WORKER"
WORKER_READY = " ready."
SUPERVISE = REPO / "scripts" / "supervise.py"
RESTART_SEC = os.environ.get("DAGSPEC_RESTART_SEC", "5")


def supervised(name: str, argv: list[str]) -> list[str]:
    """``argv`` under scripts/supervise.py: started again whenever it exits (systemd's
    Restart=always); stopping the stack stops the supervisor with its part."""
    return [
        sys.executable,
        str(SUPERVISE),
        "--name",
        name,
        "--restart-sec",
        RESTART_SEC,
        "--",
        *argv,
    ]


def project_dir() -> Path:
    """The dagspec project the stack serves (its dagspec.yaml, DAGs, pools)."""
    value = os.environ.get("DAGSPEC_PROJECT_DIR")
    return Path(value).resolve() if value else REPO


def project_config() -> dict[str, Any]:
    import yaml

    path = project_dir() / "dagspec.yaml"
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    return (data or {}).get("spec") or {}


def declared_storage() -> str | None:
    """``spec.storage.url`` of dagspec.yaml (None: local folders, one machine)."""
    return (project_config().get("storage") or {}).get("url") or None


def executor() -> str:
    value = os.environ.get("DAGSPEC_AIRFLOW_EXECUTOR", "local").lower()
    if value not in ("local", "celery"):
        raise SystemExit(f"DAGSPEC_AIRFLOW_EXECUTOR must be local or celery, got {value!r}")
    return value


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


def _has_marker(pid: int, marker: str, var: str = MARKER_VAR) -> bool:
    """True if the process's environment carries this stack's id (inherited by all children)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{var}={marker}".encode() in environ.split(b"\0")


def worker_processes(record: dict[str, Any], name: str) -> set[int]:
    """Every live process of one Celery worker host: the worker, its task supervisors, the
    tasks and their module subprocesses.

    They share the worker's mount namespace, which identifies the "host" exactly (the marker in
    the environment is a fallback: Celery's process titles overwrite what /proc shows of it).
    """
    tag = f"{record['stack_id']}:{name}"
    own = _mount_ns(os.getpid())
    spaces = {
        ns
        for p in record["processes"]
        if p["name"] == name
        and start_time(p["pid"]) == p["start_time"]
        and (ns := _mount_ns(p["pid"])) not in (None, own)
    }
    found = {
        pid
        for pid in _all_pids()
        if pid != os.getpid() and (_mount_ns(pid) in spaces or _has_marker(pid, tag, WORKER_VAR))
    }
    parents = {pid: info[0] for pid in _all_pids() if (info := _stat(pid))}
    changed = True
    while changed:  # descendants too, whatever environment they were given
        grown = {pid for pid, ppid in parents.items() if ppid in found} - found
        # The recorded part is the supervisor on the host; the worker's own namespace is
        # that of its descendants, and holds orphans that left the process tree.
        spaces |= {ns for pid in grown if (ns := _mount_ns(pid)) not in (None, own)}
        grown |= {pid for pid in parents if _mount_ns(pid) in spaces} - found
        found |= grown
        changed = bool(grown)
    found.discard(os.getpid())
    return found


def _mount_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def kill_worker(record: dict[str, Any], name: str) -> list[int]:
    """``kill -9`` a whole worker host at once, as a crashed machine would vanish."""
    killed: set[int] = set()
    for _ in range(20):  # again until none is left (a process may fork while we kill)
        pids = worker_processes(record, name)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed |= pids
        time.sleep(0.1)
    return sorted(killed)


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
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder()),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(
                os.environ.get("DAGSPEC_AIRFLOW_PAUSED") == "1"
            ),
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


def dags_folder() -> Path:
    explicit = os.environ.get("DAGSPEC_AIRFLOW_DAGS_FOLDER")
    if explicit:
        return Path(explicit)
    return project_dir() / str(project_config().get("output_dir") or "generated_dags")


def celery_env(env: dict[str, str], redis_port: int) -> dict[str, str]:
    """Settings of the distributed stack on top of ``stack_env``."""
    broker = f"redis://127.0.0.1:{redis_port}/0"
    env = dict(env)
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "socket.gethostname",
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"redis://127.0.0.1:{redis_port}/1",
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__CELERY__DEFAULT_QUEUE": "default",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
        }
    )
    return env


def worker_env(env: dict[str, str], stack_id: str, name: str) -> dict[str, str]:
    """A worker host keeps its home in its own private /tmp; its task logs go to the stack's
    log folder, which it mounts as a shared log volume (see ``worker_keeps``)."""
    env = dict(env)
    env.update(
        {
            WORKER_VAR: f"{stack_id}:{name}",
            "AIRFLOW_HOME": "/tmp/airflow",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(task_log_folder()),
            "TMPDIR": "/tmp",
        }
    )
    return env


def task_log_folder() -> Path:
    """``[logging] base_log_folder`` of every part: the api-server reads task logs here."""
    return airflow_home() / "logs"


def extra_queues(name: str) -> list[str]:
    """Queues only worker ``name`` listens on (``DAGSPEC_CELERY_WORKER_QUEUES``)."""
    found = []
    for pair in os.environ.get("DAGSPEC_CELERY_WORKER_QUEUES", "").split(","):
        worker, sep, queue = pair.strip().partition("=")
        if not pair.strip():
            continue
        if not sep or not worker or not queue:
            raise SystemExit(f"DAGSPEC_CELERY_WORKER_QUEUES: expected NAME=QUEUE, got {pair!r}")
        if worker == name:
            found.append(queue)
    return found


def ensure_package(binary: str, package: str) -> str:
    """Path of ``binary``; installed from Debian with apt-get (as root) when missing."""
    found = shutil.which(binary) or (Path("/usr/bin") / binary).exists() and f"/usr/bin/{binary}"
    if found:
        return str(found)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit(f"{binary} not found; install the Debian package {package!r}")
    log(f"installing {package} (apt-get)")
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=apt_env)
    found = shutil.which(binary)
    if not found:
        raise SystemExit(f"{binary} still missing after installing {package}")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(
    record: dict[str, Any],
    name: str,
    argv: list[str],
    env: dict[str, str],
    logfile: Path,
    home: Path,
) -> subprocess.Popen[bytes]:
    """Start one part in its own session, log to ``logfile``, and record it at once."""
    with logfile.open("a") as out:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    record["processes"].append(
        {"name": name, "pid": proc.pid, "start_time": start_time(proc.pid) or 0}
    )
    write_record(home, record)
    return proc


def start_redis(record: dict[str, Any], home: Path, env: dict[str, str]) -> int:
    """Redis for the Celery broker: 127.0.0.1, a free port, the append-only file on (fsync
    every second), so queued task messages survive a Redis restart."""
    server = ensure_package("redis-server", "redis-server")
    folder = home / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        server,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--daemonize",
        "no",
        "--dir",
        str(folder),
    ]
    record["redis_argv"] = argv  # the fault tests start it again with these
    _spawn(record, "redis", argv, env, home / "logs" / "stack" / "redis.log", home)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return port
        time.sleep(0.2)
    raise SystemExit(f"redis-server did not listen on 127.0.0.1:{port}")


def worker_keeps() -> list[str]:
    """What a worker host sees of the host's /tmp: the code, the project, the task log volume
    and the declared shared storage."""
    keep = [str(REPO), str(Path(sys.prefix)), str(project_dir()), str(task_log_folder())]
    storage = declared_storage()
    if storage and "://" not in storage:
        keep.append(storage)
    return keep


def start_worker(
    record: dict[str, Any],
    home: Path,
    env: dict[str, str],
    name: str,
    queues: list[str],
    keeps: list[str],
) -> None:
    """One Celery worker as a separate host (scripts/worker_host.py in new namespaces)."""
    unshare = ensure_package("unshare", "util-linux")
    concurrency = os.environ.get("DAGSPEC_CELERY_CONCURRENCY", "1")
    argv = supervised(
        name,
        [
            unshare,
            "--mount",
            "--uts",
            "--propagation",
            "private",
            sys.executable,
            str(REPO / "scripts" / "worker_host.py"),
            "--hostname",
            name,
            *[arg for path in keeps for arg in ("--keep", path)],
            "--",
            str(venv_bin() / "airflow"),
            "celery",
            "worker",
            "--queues",
            ",".join(queues),
            "--concurrency",
            concurrency,
            "--skip-serve-logs",
            "--celery-hostname",
            f"{name}@%h",
        ],
    )
    logfile = home / "logs" / "stack" / f"{name}.log"
    # A reused name appends to its old log: readiness is read only after this offset.
    offset = logfile.stat().st_size if logfile.exists() else 0
    _spawn(record, name, argv, worker_env(env, record["stack_id"], name), logfile, home)
    record.setdefault("workers", {})[name] = {
        "queues": queues,
        "log": str(logfile),
        "log_offset": offset,
    }
    write_record(home, record)


def wait_for_worker(record: dict[str, Any], name: str, timeout: float) -> None:
    """Until the worker's log says it is ready (after where this start's output begins);
    fail if it exits first."""
    logfile = Path(record["workers"][name]["log"])
    offset = int(record["workers"][name].get("log_offset", 0))
    part = [p for p in record["processes"] if p["name"] == name][-1]  # this start's
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with logfile.open("rb") as handle:
            handle.seek(offset)
            if WORKER_READY.encode() in handle.read():
                return
        if start_time(part["pid"]) != part["start_time"]:
            raise SystemExit(f"{name} exited early:\n{tail(logfile)}")
        time.sleep(0.5)
    raise SystemExit(f"{name} not ready after {timeout:.0f}s:\n{tail(logfile)}")


def worker_names(count: int) -> list[str]:
    return [f"worker-{chr(ord('a') + i)}" for i in range(count)]


def project_pools() -> dict[str, dict[str, Any]]:
    """Pools declared in dagspec.yaml (``spec.pools``) in `airflow pools import` format."""
    pools = project_config().get("pools") or {}
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
    mode = executor()
    record: dict[str, Any] = {
        "executor": mode,
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
        if mode == "celery" or os.environ.get("DAGSPEC_AIRFLOW_DB", "sqlite") == "postgres":
            db_url, pg_dir = start_postgres(home)
            record["postgres_dir"] = str(pg_dir)
            write_record(home, record)
        else:
            db_url = f"sqlite:///{home / 'airflow.db'}"
        env = stack_env(home, port, db_url, record["stack_id"])
        if mode == "celery":
            redis_port = start_redis(record, home, env)
            record["redis_port"] = redis_port
            env = celery_env(env, redis_port)
            storage = declared_storage()
            if storage:
                log(f"declared run storage: {storage}")
                run_cli_python(
                    ["-m", "dagspec_runtime.storage", "init", storage],
                    env,
                    stack_logs / "setup.log",
                )
        log(f"migrating the metadata database ({db_url.split(':', 1)[0]})")
        run_cli(["db", "migrate"], env, stack_logs / "setup.log")
        pools = project_pools()
        if pools:
            pools_json = home / "pools.json"
            pools_json.write_text(json.dumps(pools, indent=2))
            run_cli(["pools", "import", str(pools_json)], env, stack_logs / "setup.log")
        for name, args in PARTS.items():
            _spawn(
                record,
                name,
                supervised(name, [str(venv_bin() / "airflow"), *args]),
                env,
                stack_logs / f"{name}.log",
                home,
            )
        if mode == "celery":
            queues = [q for q in os.environ.get("DAGSPEC_CELERY_QUEUES", "default").split(",") if q]
            count = int(os.environ.get("DAGSPEC_CELERY_WORKERS", "2"))
            for name in worker_names(count):
                start_worker(
                    record, home, env, name, [*queues, *extra_queues(name), name], worker_keeps()
                )
            for name in worker_names(count):
                wait_for_worker(record, name, timeout)
            (home / "stack-env.json").write_text(json.dumps(env))
            (home / "stack-env.json").chmod(0o600)
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
        for name in ["setup", *PARTS, *record.get("workers", {})]:
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


def run_cli_python(args: list[str], env: dict[str, str], logfile: Path) -> None:
    """``python ARGS`` with the stack's environment; fail with the output's tail."""
    with logfile.open("a") as out:
        done = subprocess.run(
            [sys.executable, *args],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    if done.returncode != 0:
        raise SystemExit(f"`python {' '.join(args)}` failed:\n{tail(logfile)}")


def add_worker(argv: list[str]) -> int:
    """``add-worker NAME [--without-storage] [--queues Q1,Q2]``: one more worker host.

    ``--without-storage`` leaves the declared shared storage out of its view: a misconfigured
    host, to see that its tasks fail with a clear message.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="airflow_stack.py add-worker")
    parser.add_argument("name")
    parser.add_argument("--without-storage", action="store_true")
    parser.add_argument("--queues", default="default")
    args = parser.parse_args(argv)
    home = airflow_home()
    record = read_record(home)
    if not record or record.get("executor") != "celery":
        log("no Celery stack is running here")
        return 1
    env = json.loads((home / "stack-env.json").read_text())
    keeps = worker_keeps()
    storage = declared_storage()
    if args.without_storage and storage:
        keeps = [k for k in keeps if k != storage]
    queues = [q for q in args.queues.split(",") if q]
    start_worker(record, home, env, args.name, [*queues, args.name], keeps)
    timeout = float(os.environ.get("DAGSPEC_AIRFLOW_START_TIMEOUT", "180"))
    try:
        wait_for_worker(record, args.name, timeout)
    except SystemExit as error:
        log(str(error))
        return 1
    print(f"{args.name}: queues {','.join([*queues, args.name])}")
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
    if len(argv) >= 2 and argv[1] == "add-worker":
        return add_worker(argv[2:])
    if len(argv) != 2 or argv[1] not in commands:
        print(f"usage: {argv[0]} up|down|status|add-worker NAME", file=sys.stderr)
        return 2
    return commands[argv[1]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
