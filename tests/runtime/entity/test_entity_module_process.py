"""Module subprocess handling: envelope parsing, exit codes, timeouts, stderr streaming."""

from __future__ import annotations

import json
import os
import sys

import pytest
from dagspec_runtime.entity.module import judge, parse_envelope, resolve_command, run_process

ENVELOPE = {
    "module": "m",
    "version": "1",
    "status": "ok",
    "entity_id": "e",
    "timestamp": "2026-01-01T00:00:00Z",
    "duration_ms": 3,
    "outputs": {},
    "errors": [],
}


def run(code: str, timeout: float = 10):
    lines: list[str] = []
    done = run_process(
        [sys.executable, "-c", code],
        cwd=os.getcwd(),
        env=os.environ,
        timeout=timeout,
        on_stderr=lines.append,
    )
    return done, lines


def test_ok_envelope_and_stderr_lines_in_order():
    code = (
        "import json, sys\n"
        "print('one', file=sys.stderr); print('two', file=sys.stderr)\n"
        f"print(json.dumps({ENVELOPE!r}))\n"
    )
    done, lines = run(code)
    envelope, failure = judge("m", "e", done, 10)
    assert failure == "" and envelope == ENVELOPE
    assert lines == ["one", "two"]


def test_chatter_before_the_envelope_is_tolerated():
    assert parse_envelope("starting...\n" + json.dumps(ENVELOPE))["status"] == "ok"


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        ("", "nothing was printed"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({**ENVELOPE, "status": "fine"}), "status"),
        (json.dumps({k: v for k, v in ENVELOPE.items() if k != "errors"}), "errors"),
    ],
)
def test_malformed_envelopes(stdout, message):
    with pytest.raises(ValueError, match=message):
        parse_envelope(stdout)


def test_nonzero_exit_without_envelope_names_module_and_keeps_stderr_tail():
    done, _ = run("import sys; print('bad thing', file=sys.stderr); sys.exit(4)")
    envelope, failure = judge("loader", "e", done, 10)
    assert failure.startswith("module 'loader' exited with code 4")
    assert "bad thing" in failure
    assert envelope["status"] == "error" and envelope["errors"] == [failure]


def test_nonzero_exit_with_error_envelope_is_the_modules_own_verdict():
    code = f"import json, sys; print(json.dumps({ {**ENVELOPE, 'status': 'error'}!r})); sys.exit(1)"
    envelope, failure = judge("m", "e", run(code)[0], 10)
    assert failure == "" and envelope["status"] == "error"


def test_nonzero_exit_with_ok_envelope_is_an_error():
    code = f"import json, sys; print(json.dumps({ENVELOPE!r})); sys.exit(2)"
    _, failure = judge("m", "e", run(code)[0], 10)
    assert "exited with code 2 but reported status 'ok'" in failure


def test_wrong_entity_is_an_error():
    _, failure = judge("m", "other", run(f"import json; print(json.dumps({ENVELOPE!r}))")[0], 10)
    assert "reported entity 'e', expected 'other'" in failure


def test_timeout_kills_the_process_group():
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "time.sleep(60)\n"
    )
    done, _ = run(code, timeout=1)
    assert done.timed_out and done.duration_ms < 4_000  # grandchild killed too: pipes closed
    _, failure = judge("slow", "e", done, 1)
    assert failure.startswith("module 'slow' timed out after 1 s")


def test_python_means_the_workers_interpreter():
    assert resolve_command(["python", "x.py"]) == [sys.executable, "x.py"]
    assert resolve_command(["./tool", "run"]) == ["./tool", "run"]
