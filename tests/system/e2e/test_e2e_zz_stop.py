"""The stack stops cleanly (runs last: file names sort after the other e2e modules).

Why: a leaked scheduler or worker keeps using the shared 2 cores and the port after the tests.
"""

from __future__ import annotations

import pytest

from .conftest import Stack

pytestmark = pytest.mark.e2e


def test_stack_stops_cleanly(airflow_stack: Stack) -> None:
    """airflow-down.sh leaves none of the recorded PIDs (nor their children) alive."""
    pids = [p["pid"] for p in airflow_stack.record["processes"]]
    assert len(pids) == 4
    assert airflow_stack.alive() >= set(pids)
    airflow_stack.stop()
    assert airflow_stack.alive() == set(), airflow_stack.stop_output
    assert not (airflow_stack.home / "dagspec-stack.json").exists()
