"""The project as it was at a git revision, written into a temporary folder.

The files come straight from git's objects (`git ls-tree` and `git cat-file --batch`): the work
tree, the index and the refs are never touched, and no attribute or filter changes a byte.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from compiler.project import CONFIG_NAME

#: where the default branch may be, most telling first (GITHUB_BASE_REF comes before these)
DEFAULT_BRANCHES = (
    "refs/remotes/origin/HEAD",
    "refs/remotes/origin/main",
    "refs/remotes/origin/master",
    "refs/heads/main",
    "refs/heads/master",
)


class GitError(Exception):
    """Git cannot answer: no repository, an unknown revision, no default branch."""


@dataclass(frozen=True)
class Revision:
    """A commit to compare with, and how it was chosen (for people reading the plan)."""

    commit: str
    label: str

    @property
    def short(self) -> str:
        return self.commit[:10]


def _git(top: Path, *args: str, check: bool = True) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(top), *args],
            capture_output=True,
            text=True,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if done.returncode != 0:
        if check:
            raise GitError(done.stderr.strip() or f"git {args[0]} failed")
        return None
    return done.stdout.strip()


def toplevel(root: Path) -> Path:
    found = _git(root, "rev-parse", "--show-toplevel", check=False)
    if found is None:
        raise GitError(f"{root} is not inside a git repository")
    return Path(found).resolve()


def resolve(root: Path, rev: str | None) -> Revision:
    """`rev` as a commit, or by default the merge base of HEAD and the default branch."""
    top = toplevel(root)
    if rev is not None:
        commit = _git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        if not commit:
            raise GitError(f"`{rev}` is not a commit of this repository")
        return Revision(commit, "commit" if commit.startswith(rev.lower()) else rev)
    if _git(top, "rev-parse", "--verify", "--quiet", "HEAD", check=False) is None:
        raise GitError("HEAD has no commit yet; commit once, or pass --base REV")
    branch = default_branch(top)
    commit = _git(top, "merge-base", branch, "HEAD", check=False)
    if not commit:
        raise GitError(f"HEAD and {_short(branch)} have no common commit; pass --base REV")
    return Revision(commit, f"merge base of HEAD and {_short(branch)}")


def default_branch(top: Path) -> str:
    """The pull request's target (GITHUB_BASE_REF), else origin's HEAD, main or master."""
    wanted = os.environ.get("GITHUB_BASE_REF")
    candidates = [f"refs/remotes/origin/{wanted}", f"refs/heads/{wanted}"] if wanted else []
    for ref in [*candidates, *DEFAULT_BRANCHES]:
        if _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False):
            return ref
    raise GitError("no default branch (origin/HEAD, main or master) to compare with; pass --base")


def _short(ref: str) -> str:
    for prefix in ("refs/remotes/", "refs/heads/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :].removesuffix("/HEAD")
    return ref


@contextmanager
def project_at(root: Path, revision: Revision) -> Iterator[Path | None]:
    """The project folder `root` as it was at `revision`, in a temporary folder removed
    afterwards; None when the revision has no project there (no dagspec.yaml)."""
    top = toplevel(root)
    prefix = root.resolve().relative_to(top).as_posix()
    tree = f"{revision.commit}:{prefix}" if prefix != "." else f"{revision.commit}^{{tree}}"
    config = f"{revision.commit}:{'' if prefix == '.' else prefix + '/'}{CONFIG_NAME}"
    with tempfile.TemporaryDirectory(prefix="dagspec-plan-") as folder:
        if _git(top, "cat-file", "-e", config, check=False) is None:
            yield None
            return
        _write_tree(top, tree, Path(folder))
        yield Path(folder)


def _write_tree(top: Path, tree: str, into: Path) -> None:
    listing = subprocess.run(
        ["git", "-C", str(top), "ls-tree", "-r", "-z", tree],
        capture_output=True,
        check=False,
    )
    if listing.returncode != 0:
        raise GitError(listing.stderr.decode(errors="replace").strip())
    entries = []
    for record in listing.stdout.split(b"\0"):
        if record:
            meta, name = record.split(b"\t", 1)
            mode, kind, sha = meta.decode().split()
            if kind == "blob":  # submodules (commits) have no files here
                entries.append((mode, sha, os.fsdecode(name)))
    with subprocess.Popen(
        ["git", "-C", str(top), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as batch:
        assert batch.stdin is not None and batch.stdout is not None
        for mode, sha, name in entries:
            batch.stdin.write(sha.encode() + b"\n")
            batch.stdin.flush()
            size = int(batch.stdout.readline().split()[2])
            data = batch.stdout.read(size)
            batch.stdout.read(1)  # the newline after the contents
            path = into / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if mode == "120000":
                path.symlink_to(os.fsdecode(data))
            else:
                path.write_bytes(data)
                if mode == "100755":
                    path.chmod(0o755)
        batch.stdin.close()
