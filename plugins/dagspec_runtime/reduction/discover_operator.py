"""DiscoverSubGroupsOperator: find a grouping's raw packages, wait out the cooldown, partition.

Its return value (a list of sub-group dicts) is what a mapped task group expands over; an empty
list maps to zero instances, so the steps of that group are skipped rather than failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseOperator

from dagspec_runtime.metalog.engine import DEFAULT_CONN_ID
from dagspec_runtime.reduction.discover import cooldown_left, discover_sub_groups, filter_rules
from dagspec_runtime.reduction.meta_db import open_store
from dagspec_runtime.reduction.step_spec import PipelineSpec


def run_filter(context: Any) -> dict[str, Any]:
    """Extra filter rules given when the run was triggered (the `filter_rules` param)."""
    return filter_rules(context.get("params"))


class DiscoverSubGroupsOperator(BaseOperator):
    """Sub-groups of the pipeline's data grouping by `group_by`, once no input changed for
    `cooldown_seconds` (the task defers, holding no worker slot, until then)."""

    ui_color = "#f2e8c9"

    def __init__(
        self,
        *,
        pipeline: dict[str, Any],
        group_by: Sequence[str],
        cooldown_seconds: int = 0,
        project_root: str | None = None,
        meta_conn_id: str | None = DEFAULT_CONN_ID,
        meta_sqlite_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        PipelineSpec.parse(pipeline)  # a bad literal fails at parse time
        self.pipeline = pipeline
        self.group_by = list(group_by)
        self.cooldown_seconds = int(cooldown_seconds)
        self.project_root = project_root
        self.meta_conn_id = meta_conn_id
        self.meta_sqlite_path = meta_sqlite_path

    def execute(self, context: Any) -> list[dict[str, Any]]:
        return self._discover_or_wait(run_filter(context))

    def execute_complete(self, context: Any, event: Any = None) -> list[dict[str, Any]]:
        """Woken after the cooldown: look again, inputs may have changed meanwhile."""
        return self._discover_or_wait(run_filter(context))

    def _discover_or_wait(self, extra_rules: dict[str, Any]) -> list[dict[str, Any]]:
        remaining = cooldown_left(
            self.pipeline, self.cooldown_seconds, self.project_root, extra_rules, self.log
        )
        if remaining > 0:
            wake = datetime.now(UTC) + timedelta(seconds=remaining)
            self.defer(trigger=DateTimeTrigger(moment=wake), method_name="execute_complete")
        store = open_store(self.meta_conn_id, self.meta_sqlite_path, self.project_root)
        return discover_sub_groups(
            self.pipeline, self.group_by, self.project_root, store, extra_rules, self.log
        )
