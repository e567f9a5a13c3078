"""Where a step's Slurm job files go, and what a worker that cannot see them is told.

Why: on a Celery cluster the worker that submits a job, the Slurm node that writes its output
and the worker that resumes the task may be three machines; the job folder must be one they
all mount, and a worker that lacks it must fail at once instead of recording a step with no
products. Pure functions, no Airflow, no Slurm.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagspec_runtime import storage
from dagspec_runtime.reduction.job_files import jobs_root, require_visible


def test_job_files_go_to_declared_shared_storage(tmp_path: Path) -> None:
    shared, products = tmp_path / "shared", tmp_path / "products"
    shared.mkdir()
    with pytest.raises(storage.StorageUnavailable, match="spec.storage.url"):
        jobs_root(str(shared), products)  # no marker: this worker lacks the mount
    storage.init(str(shared))
    assert jobs_root(str(shared), products) == shared / "slurm-jobs"


def test_without_a_shared_folder_job_files_stay_beside_the_products(tmp_path: Path) -> None:
    assert jobs_root(None, tmp_path) == tmp_path / "_jobs"
    # Slurm cannot write to an object store: the products root is what the nodes see.
    assert jobs_root("s3://conn@bucket/state", tmp_path) == tmp_path / "_jobs"


def test_a_job_file_this_worker_cannot_see_fails_with_the_fix(tmp_path: Path) -> None:
    assert require_visible(tmp_path, "the folder") == tmp_path
    missing = tmp_path / "elsewhere" / "job.42.out"
    with pytest.raises(storage.StorageUnavailable) as caught:
        require_visible(missing, "the Slurm job's output file")
    message = str(caught.value)
    assert f"cannot see the Slurm job's output file {missing}" in message
    assert storage.worker_name() in message and "spec.storage.url" in message
    assert "products_root" in message
