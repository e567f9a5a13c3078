"""Run a command as if on its own host: private /tmp, own hostname, only declared folders shared.

    unshare --mount --uts --propagation private PYTHON worker_host.py \
        --hostname NAME [--keep PATH]... -- COMMAND...

Run inside fresh mount and UTS namespaces (``unshare``, as root). It mounts an empty tmpfs on
/tmp, so nothing under the host's /tmp (other workers' workspaces, run folders, task logs) is
visible, then binds back only the ``--keep`` folders that lie under /tmp (the deployed code and
the declared shared storage: a bind mount standing in for NFS/EFS/GCS-FUSE), sets the hostname
and execs COMMAND. The folders are opened before /tmp is covered and bound from
/proc/self/fd, because their paths are hidden once the tmpfs is mounted.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path


def covered(path: Path) -> bool:
    """True if ``path`` disappears behind the private /tmp."""
    return path == Path("/tmp") or Path("/tmp") in path.parents


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hostname", required=True)
    parser.add_argument("--keep", action="append", default=[], type=Path)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    keep = sorted({p.resolve() for p in args.keep if covered(p.resolve())})
    opened = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in keep]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", "/tmp"], check=True)
    for path, fd in opened:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "--no-canonicalize", "--bind", f"/proc/self/fd/{fd}", str(path)],
            check=True,
            pass_fds=[fd],
        )
        os.close(fd)
    socket.sethostname(args.hostname)
    os.execvp(command[0], command)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
