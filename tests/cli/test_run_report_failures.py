"""A failed Slurm job explains itself in every report format: job id, state, exit code, run
time, CPU time and output tail; the Markdown table survives a `|` in a sub-group key."""

from __future__ import annotations

import json

from dagspec_runtime import run_report

FAILURE = {
    "task_id": "calibrate",
    "map_index": 0,
    "sub_group_key": "NGC253|CO43",
    "job_id": "4242",
    "state": "FAILED",
    "exit_code": 3,
    "signal": 0,
    "runtime_s": 1.5,
    "cpu_time_s": 0.25,
    "output_path": "/p/calibrate.4242.out",
    "output_tail": ["reading", "bad calibration table"],
}


def report() -> dict:
    return run_report.build(
        dag_id="chai",
        kind="ReductionPipeline",
        run_id="r1",
        state="failed",
        tasks=[
            {
                "task_id": "calibrate",
                "state": "failed",
                "attempts": 1,
                "max_attempts": 1,
                "error": "Slurm job 4242 ended FAILED (exit code 3, signal 0); last 2 lines of "
                "/p/calibrate.4242.out:\nreading\nbad calibration table",
                "map_index": 0,
            }
        ],
        values={},
        duration_s=2.0,
        slurm_failures=[FAILURE],
    )


def test_every_format_names_job_state_exit_code_times_and_tail() -> None:
    data = report()
    summary = "Slurm job 4242 FAILED, exit code 3, run time 1.5 s, CPU time 0.25 s"
    assert data["result"]["errors"] == [f"task calibrate[0]: {summary}"]
    text = run_report.text(data)
    assert summary in text and "bad calibration table" in text
    assert summary in json.loads(run_report.as_json(data))["result"]["errors"][0]
    markdown = run_report.markdown(data)
    header = next(line for line in markdown.splitlines() if line.startswith("| failed task"))
    row = next(line for line in markdown.splitlines() if line.startswith("| calibrate[0]"))
    cells = lambda line: len(line.replace("\\|", "").split("|"))  # noqa: E731
    assert cells(row) == cells(header), (header, row)
    assert "| 1.5 | 0.25 |" in row and "NGC253\\|CO43" in row and "bad calibration table" in row
