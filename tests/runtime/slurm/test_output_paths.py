"""Paths Slurm would rewrite: a `%` in the products folder reaches the job's output file as is
(Slurm expands `%j`, `%x`, ... in `--output`; dagspec writes a literal `%` as `%%`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dagspec_runtime.slurm.submit import (
    JobRequest,
    finished_event,
    job_result,
    submit_try,
    wait_for_job,
)
from dagspec_runtime.slurm.try_identity import TryKey


def test_a_percent_in_the_output_folder_is_not_expanded(tmp_path: Path, slurm_cluster: Any) -> None:
    folder = tmp_path / "products%j%x%%"
    request = JobRequest(job_name="pct", command="echo wrote here", output_dir=str(folder))
    key = TryKey("pct-dag", "run-1", "step", -1, 1)
    log = logging.getLogger("test")
    job_id, extra = submit_try(request, key, None, None, log)
    status = wait_for_job(job_id, poll_interval=0.25)
    assert status is not None
    result, _ = job_result(finished_event(job_id, status, extra), log)
    assert result["state"] == "COMPLETED", result
    output = Path(result["output_path"])
    assert output.is_relative_to(folder) and output.read_text().strip() == "wrote here"
