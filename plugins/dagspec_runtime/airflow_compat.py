"""Airflow names whose home moved between 3.1 and 3.3, imported from wherever the installed
Airflow keeps them (the runtime supports Airflow 3.0 to 3.3; README "Airflow versions")."""

from __future__ import annotations

try:  # Airflow 3.2+: the task SDK's own exceptions
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
        ParamValidationError,
    )
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
        ParamValidationError,
    )

try:  # Airflow 3.1+
    from airflow.sdk import TriggerRule
except ImportError:  # Airflow 3.0
    from airflow.utils.trigger_rule import TriggerRule  # type: ignore[no-redef]

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "ParamValidationError",
    "TriggerRule",
    "dag_bag",
]


def dag_bag():
    """Airflow's DagBag class (airflow.dag_processing.dagbag from 3.2, airflow.models before)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag
