"""RegisterSoftwareOperator: put the pipeline's software and versions into the meta database.

Runs first in every reduction DAG, so the version policy of each step resolves against what
the spec says now (a new `latest` in the spec is the latest from this run on).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from dagspec_runtime.metalog.engine import DEFAULT_CONN_ID
from dagspec_runtime.reduction.discover import register_software
from dagspec_runtime.reduction.meta_db import open_store
from dagspec_runtime.reduction.step_spec import PipelineSpec


class RegisterSoftwareOperator(BaseOperator):
    """Upsert `pipeline["software"]` (image, versions, latest); returns {software: latest}."""

    ui_color = "#e0d4f5"

    def __init__(
        self,
        *,
        pipeline: dict[str, Any],
        project_root: str | None = None,
        meta_conn_id: str | None = DEFAULT_CONN_ID,
        meta_sqlite_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        PipelineSpec.parse(pipeline)
        self.pipeline = pipeline
        self.project_root = project_root
        self.meta_conn_id = meta_conn_id
        self.meta_sqlite_path = meta_sqlite_path

    def execute(self, context: Any) -> dict[str, str]:
        store = open_store(self.meta_conn_id, self.meta_sqlite_path, self.project_root)
        return register_software(self.pipeline, store, self.log)
