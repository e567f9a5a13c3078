"""The first steps of a reduction run, without Airflow: register the software, find the
sub-groups (after the cooldown), and, for a CONTINUOUS pipeline, notice new data.

The operators (software_operator, discover_operator, wait_operator) call these and defer while
a function says "not yet"; the fast local runner calls the same functions and sleeps instead.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from dagspec_runtime.reduction.catalogue import scan_catalogue
from dagspec_runtime.reduction.grouping import partition
from dagspec_runtime.reduction.meta_db import project_path
from dagspec_runtime.reduction.step_spec import PipelineSpec
from dagspec_runtime.reduction.store import ReductionStore


def filter_rules(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Extra filter rules given when the run was triggered (the `filter_rules` param)."""
    rules = (params or {}).get("filter_rules") or {}
    if not isinstance(rules, dict):
        raise ValueError(f"param filter_rules must be an object, got {rules!r}")
    return dict(rules)


def register_software(
    pipeline: Mapping[str, Any], store: ReductionStore, log: Any
) -> dict[str, str]:
    """Upsert the pipeline's software and versions; {software: latest}."""
    spec = PipelineSpec.parse(pipeline)
    for software in spec.software.values():
        store.register_software(software)
        log.info(
            "software %s (%s): versions %s, latest %s",
            software.name,
            software.image,
            list(software.versions),
            software.latest,
        )
    return {name: sw.latest for name, sw in spec.software.items()}


def cooldown_left(
    pipeline: Mapping[str, Any],
    cooldown_seconds: int,
    project_root: str | None,
    extra_rules: Mapping[str, Any],
    log: Any,
) -> float:
    """Seconds until no matching input changed for `cooldown_seconds` (0: discover now)."""
    spec = PipelineSpec.parse(pipeline)
    root = project_path(spec.catalogue, project_root)
    packages = scan_catalogue(root, {**spec.filter_rules, **extra_rules})
    if not packages or cooldown_seconds <= 0:
        return 0.0
    newest = max(p.newest_mtime for p in packages)
    remaining = newest + cooldown_seconds - time.time()
    if remaining > 0:
        log.info(
            "Newest input changed %.1f s ago; cooldown %d s: waiting %.1f s",
            time.time() - newest,
            cooldown_seconds,
            remaining,
        )
    return max(0.0, remaining)


def discover_sub_groups(
    pipeline: Mapping[str, Any],
    group_by: Sequence[str],
    project_root: str | None,
    store: ReductionStore,
    extra_rules: Mapping[str, Any],
    log: Any,
) -> list[dict[str, Any]]:
    """Register the matching raw packages and partition them by `group_by` (plain dicts)."""
    spec = PipelineSpec.parse(pipeline)
    root = project_path(spec.catalogue, project_root)
    packages = scan_catalogue(root, {**spec.filter_rules, **extra_rules})
    ids = store.record_raw_packages(spec.grouping_name, packages)
    packages = [replace(p, id=i) for p, i in zip(packages, ids, strict=True)]
    groups = [g.as_dict() for g in partition(packages, list(group_by))]
    log.info(
        "%d raw package(s) match %s in %s: %d sub-group(s) by %s: %s",
        len(packages),
        spec.filter_rules,
        root,
        len(groups),
        list(group_by),
        [g["key"] for g in groups],
    )
    return groups


def catalogue_fingerprint(packages: list[Any]) -> str:
    """One hash over every matching package's name and content checksum."""
    digest = hashlib.sha256()
    for package in sorted(packages, key=lambda p: p.name):
        digest.update(f"{package.name}\0{package.checksum}\n".encode())
    return digest.hexdigest()


def fingerprint_file(
    pipeline: Mapping[str, Any], products_root: str, project_root: str | None
) -> Path:
    spec = PipelineSpec.parse(pipeline)
    return project_path(products_root, project_root) / spec.name / "catalogue.fingerprint"


def new_data(
    pipeline: Mapping[str, Any], products_root: str, project_root: str | None, log: Any
) -> str | None:
    """The fingerprint of the matching data when it changed since the last run looked (and
    remember it), else None: nothing new yet."""
    spec = PipelineSpec.parse(pipeline)
    packages = scan_catalogue(project_path(spec.catalogue, project_root), spec.filter_rules)
    current = catalogue_fingerprint(packages)
    state = fingerprint_file(pipeline, products_root, project_root)
    seen = state.read_text().strip() if state.is_file() else None
    if packages and current != seen:
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(current + "\n")
        log.info("%d matching package(s) changed since the last run: reducing", len(packages))
        return current
    log.info("No new data for %s", spec.grouping_name)
    return None
