"""Partition a grouping's raw packages into sub-groups by the step's `group_by` fields.

A sub-group travels through XCom as a plain dict (see `SubGroup.as_dict`): its key
(`executed_obs_unit=scan1`, `source=NGC253|line=CO43`, or `all` for an empty group_by), the
values it was grouped on, and its raw packages (meta-DB id, name, path, files, checksum).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagspec_runtime.reduction.catalogue import RawPackage

ALL = "all"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


@dataclass(frozen=True)
class SubGroup:
    key: str
    values: dict[str, Any]
    packages: tuple[RawPackage, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "values": self.values,
            "packages": [
                {
                    "id": p.id,
                    "name": p.name,
                    "path": str(p.path),
                    "files": [str(f) for f in p.files],
                    "checksum": p.checksum,
                    "metadata": p.metadata,
                }
                for p in self.packages
            ],
        }


def sub_group_key(values: Mapping[str, Any]) -> str:
    """`field=value|field=value` in group_by order; `all` when nothing is grouped on."""
    return "|".join(f"{k}={v}" for k, v in values.items()) or ALL


def path_safe(key: str) -> str:
    """A sub-group key as one folder name (`|` and other shell-hostile characters → `+`/`_`)."""
    return _UNSAFE.sub("_", key.replace("|", "+")).strip("._") or "_"


def partition(packages: Sequence[RawPackage], group_by: Sequence[str]) -> list[SubGroup]:
    """Sub-groups in order of their values; a package missing a group_by field is an error."""
    buckets: dict[tuple[Any, ...], list[RawPackage]] = {}
    for package in packages:
        missing = [f for f in group_by if f not in package.metadata]
        if missing:
            raise ValueError(f"raw package {package.name} has no metadata field(s) {missing}")
        values = tuple(package.metadata[f] for f in group_by)
        buckets.setdefault(values, []).append(package)
    groups = []
    for values in sorted(buckets, key=lambda vs: tuple(str(v) for v in vs)):
        named = dict(zip(group_by, values, strict=True))
        groups.append(SubGroup(sub_group_key(named), named, tuple(buckets[values])))
    return groups
