"""WaitForNewDataOperator: the first task of a CONTINUOUS pipeline's run.

A CONTINUOUS pipeline is scheduled `@continuous` (one run after another, `max_active_runs=1`);
each run starts by waiting here, deferred and holding no worker slot, until the packages that
match the data grouping differ from those the previous run saw. The fingerprint of what was seen
is kept in `<products_root>/<pipeline>/catalogue.fingerprint`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseOperator

from dagspec_runtime.reduction.catalogue import scan_catalogue
from dagspec_runtime.reduction.meta_db import project_path
from dagspec_runtime.reduction.step_spec import PipelineSpec


def catalogue_fingerprint(packages: list[Any]) -> str:
    """One hash over every matching package's name and content checksum."""
    digest = hashlib.sha256()
    for package in sorted(packages, key=lambda p: p.name):
        digest.update(f"{package.name}\0{package.checksum}\n".encode())
    return digest.hexdigest()


class WaitForNewDataOperator(BaseOperator):
    """Succeed once the grouping's matching data changed since the last run looked."""

    ui_color = "#e3f2fd"

    def __init__(self, *, pipeline: dict[str, Any], poll_seconds: int = 60,
                 products_root: str = "var/reduction", project_root: str | None = None,
                 **kwargs: Any) -> None:
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

    def _state_file(self, spec: PipelineSpec) -> Path:
        return project_path(self.products_root, self.project_root) / spec.name / \
            "catalogue.fingerprint"

    def _check(self) -> str:
        spec = PipelineSpec.parse(self.pipeline)
        packages = scan_catalogue(project_path(spec.catalogue, self.project_root),
                                  spec.filter_rules)
        current = catalogue_fingerprint(packages)
        state = self._state_file(spec)
        seen = state.read_text().strip() if state.is_file() else None
        if packages and current != seen:
            state.parent.mkdir(parents=True, exist_ok=True)
            state.write_text(current + "\n")
            self.log.info("%d matching package(s) changed since the last run: reducing",
                          len(packages))
            return current
        wake = datetime.now(UTC) + timedelta(seconds=self.poll_seconds)
        self.log.info("No new data for %s; looking again at %s", spec.grouping_name,
                      wake.isoformat())
        self.defer(trigger=DateTimeTrigger(moment=wake), method_name="execute_complete")
        raise AssertionError("defer() does not return")
