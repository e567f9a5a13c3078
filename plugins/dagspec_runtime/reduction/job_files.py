"""Where a reduction step's Slurm job files live, and the check that this worker sees them.

A step's batch script is written by the worker that submits it, its output file by the Slurm
node that runs it, and both (with the step's output folder) are read again by whichever worker
resumes the task after the trigger fired. On one machine any folder does; on a cluster the
folder must be one that every worker and every Slurm node mounts. So:

- with a shared folder declared in dagspec.yaml (``spec.storage.url: /mnt/...``) the job files
  go to ``<storage>/slurm-jobs`` (its marker is checked first, so a worker without the mount
  fails at once);
- otherwise (no storage, or an object store, which Slurm cannot write to) they stay in
  ``<products_root>/_jobs``, beside the products, which the nodes must see anyway.

Whatever the resuming worker cannot see fails the task with :class:`StorageUnavailable` naming
the worker, the path and the fix, never a step recorded with no products. No Airflow import.
"""

from __future__ import annotations

from pathlib import Path

from dagspec_runtime import storage

JOBS = "slurm-jobs"


def jobs_root(storage_url: str | None, products: Path) -> Path:
    """The folder for batch scripts and Slurm output files (checks a shared folder's marker)."""
    if storage.kind_of(storage_url) == storage.SHARED:
        assert storage_url is not None
        storage.check(storage_url)
        return Path(storage_url) / JOBS
    return products / "_jobs"


def require_visible(path: Path, what: str) -> Path:
    """``path`` if this worker sees it; else the error that says which mount is missing."""
    if path.exists():
        return path
    raise storage.StorageUnavailable(
        f"worker {storage.worker_name()!r} cannot see {what} {path}: the Slurm job ran, but "
        "its files are not on a folder this worker mounts. Every worker and Slurm node must "
        "mount the job folder (a shared folder declared in dagspec.yaml, spec.storage.url) and "
        "the pipeline's products_root."
    )
