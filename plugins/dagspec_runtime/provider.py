"""The provider entry point: what `airflow providers list` shows for the dagspec runtime.

Installed as the ``dagspec-runtime`` distribution (``runtime/pyproject.toml``), Airflow finds
this through the ``apache_airflow_provider`` entry point; nothing here imports Airflow.
"""

from __future__ import annotations

from typing import Any

PACKAGE_NAME = "dagspec-runtime"
VERSION = "0.1.0"
INTEGRATION = "dagspec"

OPERATOR_MODULES = [
    "dagspec_runtime.entity.operators",
    "dagspec_runtime.etl.gate_operator",
    "dagspec_runtime.slurm.submit_operator",
    "dagspec_runtime.reduction.discover_operator",
    "dagspec_runtime.reduction.software_operator",
    "dagspec_runtime.reduction.step_operator",
    "dagspec_runtime.reduction.wait_operator",
]
TRIGGER_MODULES = ["dagspec_runtime.slurm.job_trigger"]
NOTIFICATIONS = ["dagspec_runtime.notify.Callback"]


def get_provider_info() -> dict[str, Any]:
    """The provider info dict (Airflow's ``provider_info.schema.json``)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "dagspec runtime",
        "description": "Operators, triggers and notifications that DAGs compiled by dagspec "
        "import (entity pipelines, manifest ETL, Slurm reduction pipelines).",
        "versions": [VERSION],
        "integrations": [{"integration-name": INTEGRATION, "tags": ["software"]}],
        "operators": [{"integration-name": INTEGRATION, "python-modules": OPERATOR_MODULES}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": TRIGGER_MODULES}],
        "notifications": NOTIFICATIONS,
    }
