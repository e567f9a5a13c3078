"""WaitForNewDataOperator: the first task of a CONTINUOUS pipeline's run.

A CONTINUOUS pipeline is scheduled `@continuous` (one run after another, `max_active_runs=1`);
each run starts by waiting here, deferred and holding no worker slot, until the packages that
match the data grouping differ from those the previous run saw. The fingerprint of what was seen
is kept in `<products_root>/<pipeline>/catalogue.fingerprint`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseOperator

from dagspec_runtime.reduction.discover import catalogue_fingerprint, new_data
from dagspec_runtime.reduction.step_spec import PipelineSpec

__all__ = ["WaitForNewDataOperator", "catalogue_fingerprint"]


class WaitForNewDataOperator(BaseOperator):
    """Succeed once the grouping's matching data changed since the last run looked."""

    ui_color = "#e3f2fd"

    def __init__(
        self,
        *,
        pipeline: dict[str, Any],
        poll_seconds: int = 60,
        products_root: str = "var/reduction",
        project_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("meta_conn_id", None)
        kwargs.pop("meta_sqlite_path", None)
        super().__init__(**kwargs)
        PipelineSpec.parse(pipeline)
        self.pipeline = pipeline
        self.poll_seconds = int(poll_seconds)
        self.products_root = products_root
        self.project_root = project_root

    def execute(self, context: Any) -> str:
        return self._check()

    def execute_complete(self, context: Any, event: Any = None) -> str:
        return self._check()

    def _check(self) -> str:
        found = new_data(self.pipeline, self.products_root, self.project_root, self.log)
        if found is not None:
            return found
        wake = datetime.now(UTC) + timedelta(seconds=self.poll_seconds)
        self.log.info("Looking again at %s", wake.isoformat())
        self.defer(trigger=DateTimeTrigger(moment=wake), method_name="execute_complete")
        raise AssertionError("defer() does not return")
