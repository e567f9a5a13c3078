"""Pure helpers: flag mapping, script rendering, state parsing, try identity. No cluster."""

from __future__ import annotations

import pytest
from dagspec_runtime.slurm.batch_script import render_batch_script
from dagspec_runtime.slurm.job_states import (
    normalize_state,
    parse_duration,
    parse_exit_code,
    parse_maxrss_gb,
    status_from_sacct,
    status_from_scontrol,
    status_from_squeue,
)
from dagspec_runtime.slurm.log_tail import tail_lines
from dagspec_runtime.slurm.sbatch_flags import format_memory, format_time_limit, resource_flags
from dagspec_runtime.slurm.try_identity import TryKey


def test_seed_example_maps_to_seed_flags() -> None:
    flags = resource_flags({"cpu": 4, "memory_gb": 16, "time_hours": 2, "gpu": 0})
    assert flags == ["--cpus-per-task=4", "--mem=16G", "--time=02:00:00"]


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (0.1, "00:06:00"),  # 360 s exactly, not 7 minutes from float noise
        (0.001, "00:01:00"),  # 3.6 s rounds up to a whole minute
        (1 / 60, "00:01:00"),
        (1.51, "01:31:00"),  # 90.6 minutes round up
        (24, "1-00:00:00"),
        (49.5, "2-01:30:00"),
    ],
)
def test_time_limit_rounds_up_to_whole_minutes(hours: float, expected: str) -> None:
    assert format_time_limit(hours) == expected


@pytest.mark.parametrize(
    ("gb", "expected"), [(1, "1G"), (16.0, "16G"), (0.5, "512M"), (1.5, "1536M")]
)
def test_memory(gb: float, expected: str) -> None:
    assert format_memory(gb) == expected


def test_gpu_only_when_asked_and_missing_keys_keep_defaults() -> None:
    assert resource_flags({"gpu": 2}) == ["--gres=gpu:2"]
    assert resource_flags({}) == []
    assert resource_flags(None) == []


@pytest.mark.parametrize(
    "bad",
    [{"cpu": 0}, {"cpu": 1.5}, {"memory_gb": 0}, {"time_hours": -1}, {"gpu": -1}, {"cores": 2}],
)
def test_bad_resources_are_rejected(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        resource_flags(bad)


def test_script_has_sbatch_lines_env_workdir_and_command() -> None:
    text = render_batch_script(
        job_name="reduction-calibrate",
        command="python calibrate.py --scan 7",
        flags=["--cpus-per-task=1", "--mem=1G"],
        partition="debug",
        account="astro",
        environment={"MODE": "hot cold", "Q": "it's"},
        workdir="/data/my project",
        output_path="/out/step.%j.out",
    )
    assert text.splitlines() == [
        "#!/bin/bash",
        "#SBATCH --job-name=reduction-calibrate",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --mem=1G",
        "#SBATCH --partition=debug",
        "#SBATCH --account=astro",
        "#SBATCH --output=/out/step.%j.out",
        "",
        "export MODE='hot cold'",
        "export Q='it'\"'\"'s'",
        "cd '/data/my project' || exit 1",
        "python calibrate.py --scan 7",
    ]


def test_script_quotes_directive_values_with_spaces() -> None:
    text = render_batch_script(job_name="a b", command="true", output_path="/my out/x.%j.out")
    assert '#SBATCH --job-name="a b"' in text
    assert '#SBATCH --output="/my out/x.%j.out"' in text
    with pytest.raises(ValueError):
        render_batch_script(job_name='a"b', command="true", output_path="/o")


def test_script_rejects_unsafe_env_names() -> None:
    with pytest.raises(ValueError):
        render_batch_script(
            job_name="j", command="true", environment={"A;rm": "x"}, output_path="/o"
        )


def test_state_parsing() -> None:
    assert normalize_state("CANCELLED by 0") == "CANCELLED"
    assert parse_exit_code("3:0") == (3, 0)
    assert parse_exit_code("0:15") == (0, 15)
    assert parse_duration("1-00:00:01") == 86401
    assert parse_duration("01:30") == 90
    assert status_from_squeue("") is None
    assert status_from_squeue("RUNNING\n").state == "RUNNING"
    line = "JobId=7 JobName=x JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15 RunTime=00:01:26"
    status = status_from_scontrol(line)
    assert status and (status.state, status.exit_code, status.signal) == ("TIMEOUT", 0, 15)
    assert status.runtime_s == 86 and status.final


def test_sacct_takes_the_newest_record_of_a_reused_id() -> None:
    text = "7|COMPLETED|0:0|1\n8|FAILED|1:0|2\n7|FAILED|3:0|5\n"
    status = status_from_sacct(text, "7")
    assert status and (status.state, status.exit_code, status.runtime_s) == ("FAILED", 3, 5.0)
    assert status_from_sacct(text, "9") is None


def test_maxrss() -> None:
    assert parse_maxrss_gb("\n1048576K\n2G\n") == 2.0
    assert parse_maxrss_gb("\n\n") is None


def test_try_key_comment_and_file_stem() -> None:
    key = TryKey("d", "manual__2026-01-01T00:00:00+00:00", "calibrate", 3, 2)
    assert key.comment() == "dagspec:d/manual__2026-01-01T00:00:00+00:00/calibrate/map3/try2"
    stem = key.stem("/out")
    assert str(stem) == "/out/d/manual__2026-01-01T00_00_00_00_00/calibrate.map3.try2"
    assert TryKey("d", "r", "t", 3, 3).comment() != key.comment()


def test_tail_lines(tmp_path) -> None:
    path = tmp_path / "log"
    path.write_text("".join(f"l{i}\n" for i in range(50)))
    assert tail_lines(path, 3) == ["l47", "l48", "l49"]
    assert tail_lines(tmp_path / "missing") == []
