"""What a local run started, recorded where every exit path of the run can find it.

A run (`dagspec run`, fast or `--airflow`) has a tag (``DAGSPEC_RUN_TAG``) and a ledger folder
named by it. Everything the run starts is written there *before* it can outlive the run:

- ``group-PGID``: a module process, started in its own session (its process group is its pid)
  with ``PR_SET_PDEATHSIG`` so it dies with the thread that started it; the record goes when the
  module ended and its group was killed.
- ``submit-ID``: an ``sbatch`` in flight (written before it starts, removed once it returned,
  when the job is in ``squeue`` with the run's tag in its comment); ``sbatch`` runs in its own
  session with ``DAGSPEC_SUBMISSION_OF=TAG`` in its environment, so a signal to the run's
  process group cannot cut a submission in half, and a dead run's submissions can be found.
- ``debris-*``: a temporary file (a promotion's staged copy) or folder (the run's local
  workspace, unless kept) to remove if the run ends before it does.
- ``slurm``: the run submitted at least one job (so ending it asks Slurm at all).
- ``closed``: the run is ending; a submission starting now is refused.

``end_run(tag)`` is the one way a run ends what it started, whoever calls it (the runner on a
signal, the Airflow path's parent, the guard after ``kill -9``): close the ledger, kill every
recorded process group, wait until no submission is in flight, cancel every live Slurm job
carrying the tag. It is safe to call twice and from two processes at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

RUN_TAG_ENV = "DAGSPEC_RUN_TAG"
SUBMISSION_ENV = "DAGSPEC_SUBMISSION_OF"
SUBMISSION_WAIT_S = 90.0  # sbatch's own timeout (slurm_cli.CLI_TIMEOUT_S) and a margin
_PR_SET_PDEATHSIG = 1
_LIBC = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class RunClosed(RuntimeError):
    """The run is ending: nothing new may be started for it."""


def current_tag() -> str | None:
    """The tag of the run this process belongs to (``DAGSPEC_RUN_TAG``), if any."""
    return os.environ.get(RUN_TAG_ENV) or None


def new_tag() -> str:
    """A fresh run tag: short, unique, safe in a file name and a Slurm comment."""
    return uuid.uuid4().hex[:16]


def ledger(tag: str) -> Path:
    """The run's ledger folder (created on first use)."""
    folder = Path(tempfile.gettempdir()) / f"dagspec-run-{os.getuid()}" / tag
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def workdir(tag: str) -> Path:
    """An empty working folder for the run's processes, inside its ledger: it exists until the
    ledger is discarded, which happens after ``end_run`` (an ``sbatch`` still in flight when a
    signal arrives needs its working folder to submit, and its job to be cancelled)."""
    folder = ledger(tag) / "cwd"
    folder.mkdir(exist_ok=True)
    return folder


def owned_child(parent_pid: int) -> None:
    """``preexec_fn`` of a module process: its own session, SIGKILL when its parent dies."""
    os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(137)  # the parent died before prctl took effect


def record_group(pgid: int, tag: str | None = None) -> None:
    """Remember a module's process group (a no-op outside a tagged run)."""
    tag = tag or current_tag()
    if tag:
        (ledger(tag) / f"group-{pgid}").write_text(f"{os.getpid()}\n")


def forget_group(pgid: int, tag: str | None = None) -> None:
    """The module ended and its group was killed: nothing of it is left to end."""
    tag = tag or current_tag()
    if tag:
        with contextlib.suppress(FileNotFoundError):
            (ledger(tag) / f"group-{pgid}").unlink()


def _debris_record(tag: str, path: Path) -> Path:
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:16]
    return ledger(tag) / f"debris-{digest}"


def record_debris(path: Path, tag: str | None = None) -> None:
    """A temporary file the run must remove should it be killed before it does (a promotion's
    staged copy, say); a no-op outside a tagged run."""
    tag = tag or current_tag()
    if tag:
        _debris_record(tag, path).write_text(str(path))


def forget_debris(path: Path, tag: str | None = None) -> None:
    """The temporary file was renamed into place or removed."""
    tag = tag or current_tag()
    if tag:
        with contextlib.suppress(FileNotFoundError):
            _debris_record(tag, path).unlink()


def kill_group(pgid: int) -> bool:
    """SIGKILL what is left of a process group; whether anything was."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@contextlib.contextmanager
def submission(tag: str | None) -> Iterator[dict[str, str]]:
    """Around one ``sbatch``: recorded as intended before it starts, forgotten once it
    returned. Yields the environment additions for ``sbatch`` (they mark it as the run's).
    ``RunClosed`` when the run is already ending."""
    if not tag:
        yield {}
        return
    folder = ledger(tag)
    (folder / "slurm").touch()
    record = folder / f"submit-{uuid.uuid4().hex[:12]}"
    record.write_text(f"{os.getpid()} {threading.get_native_id()}\n")
    try:
        if (folder / "closed").exists():
            raise RunClosed(f"run {tag} is ending; not submitting")
        yield {SUBMISSION_ENV: tag}
    finally:
        with contextlib.suppress(FileNotFoundError):
            record.unlink()


def _alive(pid: int, tid: int | None = None) -> bool:
    path = Path(f"/proc/{pid}") if tid is None else Path(f"/proc/{pid}/task/{tid}")
    if not path.exists():
        return False
    with contextlib.suppress(OSError):
        if " Z " in (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]):
            return False  # a zombie does nothing any more
    return True


def submitters(tag: str) -> list[int]:
    """Live processes of an ``sbatch`` of the run (found by their environment)."""
    marker = f"{SUBMISSION_ENV}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0") and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def in_flight(tag: str) -> bool:
    """Whether a submission of the run may still create a job: an ``sbatch`` of it is alive,
    or a submission record's writer thread is alive (and is not this very thread)."""
    if submitters(tag):
        return True
    me = (os.getpid(), threading.get_native_id())
    for record in ledger(tag).glob("submit-*"):
        with contextlib.suppress(OSError, ValueError):
            pid, tid = (int(part) for part in record.read_text().split())
            if (pid, tid) != me and _alive(pid, tid):
                return True
    return False


def end_run(
    tag: str, *, log: object | None = None, within_s: float = SUBMISSION_WAIT_S
) -> list[str]:
    """End everything the run ``tag`` started; what was ended (``process PID``, ``Slurm job
    ID``). See the module docstring."""
    folder = ledger(tag)
    (folder / "closed").touch()
    ended: list[str] = []
    for record in sorted(folder.glob("group-*")):
        pgid = int(record.name.removeprefix("group-"))
        kill_group(pgid)
        ended.append(f"process {pgid}")
        with contextlib.suppress(FileNotFoundError):
            record.unlink()
    for record in folder.glob("debris-*"):
        with contextlib.suppress(OSError):
            path = Path(record.read_text())
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            record.unlink()
    if not (folder / "slurm").exists():
        return ended
    from dagspec_runtime.slurm import run_jobs

    deadline = time.monotonic() + within_s
    jobs: list[str] = []
    waited = False
    while True:
        busy = in_flight(tag)  # looked at before squeue: a job submitted since is caught next
        jobs += run_jobs.cancel_run(run_tag=tag, wait=False)
        if not busy or time.monotonic() > deadline:
            break
        waited = True
        time.sleep(0.1)
    if waited:  # an sbatch killed mid-request: its job may reach squeue a moment later
        time.sleep(0.5)
        jobs += run_jobs.cancel_run(run_tag=tag, wait=False)
    jobs = sorted(set(jobs), key=int)
    run_jobs.wait_until_ended(jobs)
    return ended + [f"Slurm job {job}" for job in jobs]


def discard(tag: str) -> None:
    """Remove the ledger of a run that ended cleanly (what is left is only bookkeeping)."""
    shutil.rmtree(Path(tempfile.gettempdir()) / f"dagspec-run-{os.getuid()}" / tag, True)
