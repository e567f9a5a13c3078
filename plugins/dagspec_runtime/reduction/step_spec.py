"""The literal dicts a generated DAG passes in (PIPELINE, STEPS[name]) as checked dataclasses.

Parsing happens in the operators' constructors, so a malformed literal fails when the DAG file
is parsed, not an hour into a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

POLICIES = ("compatible", "exact")
CONTAINERS = ("none", "apptainer")


@dataclass(frozen=True)
class SoftwareSpec:
    """A reduction software (a container image) and its known versions, newest last."""

    name: str
    image: str | None
    versions: tuple[str, ...]
    latest: str

    @classmethod
    def parse(cls, name: str, raw: Mapping[str, Any]) -> SoftwareSpec:
        versions = tuple(str(v) for v in raw.get("versions") or ())
        if not versions:
            raise ValueError(f"software {name!r}: `versions` must list at least one version")
        latest = str(raw.get("latest") or versions[-1])
        if latest not in versions:
            raise ValueError(f"software {name!r}: latest {latest!r} is not in versions {versions}")
        return cls(name, raw.get("image") or None, versions, latest)


@dataclass(frozen=True)
class PipelineSpec:
    """Pipeline name, priority, data grouping (catalogue + filter_rules) and software."""

    name: str
    priority: int
    grouping_name: str
    catalogue: str
    filter_rules: dict[str, Any]
    software: dict[str, SoftwareSpec]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> PipelineSpec:
        grouping = dict(raw.get("data_grouping") or {})
        if not raw.get("name"):
            raise ValueError("pipeline needs a `name`")
        if not grouping.get("catalogue"):
            raise ValueError(f"pipeline {raw['name']!r}: data_grouping.catalogue is required")
        software = {
            str(name): SoftwareSpec.parse(str(name), spec or {})
            for name, spec in (raw.get("software") or {}).items()
        }
        return cls(
            name=str(raw["name"]),
            priority=int(raw.get("priority") or 0),
            grouping_name=str(grouping.get("name") or raw["name"]),
            catalogue=str(grouping["catalogue"]),
            filter_rules=dict(grouping.get("filter_rules") or {}),
            software=software,
        )


@dataclass(frozen=True)
class StepSpec:
    """One reduction step: software + version policy, group_by, config, retry/concurrency."""

    name: str
    software: str
    version_policy: str
    pinned_version: str | None
    group_by: tuple[str, ...]
    cooldown_seconds: int
    command_template: str
    parameters: dict[str, Any]
    environment: dict[str, str]
    resources: dict[str, Any]
    max_retries: int
    max_concurrent_runs: int
    depends_on: tuple[str, ...]
    container: str = "none"
    image_template: str = "{image}:{version}"

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> StepSpec:
        name = str(raw.get("name") or "")
        if not name:
            raise ValueError("reduction step needs a `name`")
        config = dict(raw.get("config") or {})
        policy = str(raw.get("version_policy") or "compatible")
        if policy not in POLICIES:
            raise ValueError(f"step {name!r}: version_policy must be one of {POLICIES}")
        pinned = raw.get("pinned_version")
        if policy == "exact" and not pinned:
            raise ValueError(f"step {name!r}: version_policy exact needs pinned_version")
        container = str(raw.get("container") or config.get("container") or "none")
        if container not in CONTAINERS:
            raise ValueError(f"step {name!r}: container must be one of {CONTAINERS}")
        if not config.get("command_template"):
            raise ValueError(f"step {name!r}: config.command_template is required")
        return cls(
            name=name,
            software=str(raw.get("software") or ""),
            version_policy=policy,
            pinned_version=str(pinned) if pinned else None,
            group_by=tuple(str(g) for g in raw.get("group_by") or ()),
            cooldown_seconds=int(raw.get("cooldown_seconds") or 0),
            command_template=str(config["command_template"]),
            parameters=dict(config.get("parameters") or {}),
            environment={str(k): str(v) for k, v in (config.get("environment") or {}).items()},
            resources=dict(config.get("resources") or {}),
            max_retries=int(raw.get("max_retries") or 0),
            max_concurrent_runs=int(raw.get("max_concurrent_runs") or 1),
            depends_on=tuple(str(d) for d in raw.get("depends_on") or ()),
            container=container,
            image_template=str(raw.get("image_template") or "{image}:{version}"),
        )

    def config_fingerprint_source(self, image: str | None) -> dict[str, Any]:
        """What, besides the inputs, decides a result: a change here invalidates old results."""
        return {
            "command_template": self.command_template,
            "parameters": self.parameters,
            "environment": self.environment,
            "container": self.container,
            "image": image if self.container == "apptainer" else None,
        }
