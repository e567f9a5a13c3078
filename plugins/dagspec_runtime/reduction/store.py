"""ReductionStore: every meta-database read and write of the reduction runtime.

Each method is one short transaction. Inserts that two runs may race on (software, versions,
raw packages) are INSERT ... ON CONFLICT DO NOTHING followed by a read, so they are idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from dagspec_runtime.metalog.ledger import dialect_insert, utcnow
from dagspec_runtime.reduction import schema as s
from dagspec_runtime.reduction.catalogue import RawPackage
from dagspec_runtime.reduction.products import ProductFile
from dagspec_runtime.reduction.step_spec import SoftwareSpec
from dagspec_runtime.reduction.version_policy import RegisteredVersion


class ReductionStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def ensure(self) -> ReductionStore:
        """Create the tables; a racing creator on SQLite is retried once."""
        for attempt in range(3):
            try:
                s.create_all(self.engine)
                return self
            except DBAPIError:
                if attempt == 2:
                    raise
        return self

    # -- software ---------------------------------------------------------------------------
    def register_software(
        self, spec: SoftwareSpec, image_template: str = "{image}:{version}"
    ) -> None:
        """Upsert the software and its versions; exactly the spec's `latest` is marked latest."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                dialect_insert(conn, s.reduction_software)
                .values(name=spec.name, image=spec.image, registered_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            conn.execute(
                s.reduction_software.update()
                .where(s.reduction_software.c.name == spec.name)
                .values(image=spec.image)
            )
            software_id = conn.execute(
                sa.select(s.reduction_software.c.id).where(s.reduction_software.c.name == spec.name)
            ).scalar_one()
            table = s.reduction_software_version
            for version in spec.versions:
                ref = (
                    image_template.format(image=spec.image, version=version) if spec.image else None
                )
                conn.execute(
                    dialect_insert(conn, table)
                    .values(
                        software_id=software_id,
                        version=version,
                        image_ref=ref,
                        is_latest=False,
                        registered_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["software_id", "version"])
                )
            conn.execute(
                table.update()
                .where(table.c.software_id == software_id)
                .values(is_latest=table.c.version == spec.latest)
            )

    def versions(self, software: str) -> list[RegisteredVersion]:
        v, sw = s.reduction_software_version, s.reduction_software
        query = (
            sa.select(v.c.id, v.c.version, v.c.image_ref, v.c.is_latest)
            .join(sw, sw.c.id == v.c.software_id)
            .where(sw.c.name == software)
            .order_by(v.c.id)
        )
        with self.engine.connect() as conn:
            return [
                RegisteredVersion(r.id, r.version, r.image_ref, bool(r.is_latest))
                for r in conn.execute(query)
            ]

    # -- raw data ---------------------------------------------------------------------------
    def record_raw_packages(self, grouping: str, packages: Sequence[RawPackage]) -> list[int]:
        """Register each package content once; ids in the order given."""
        table = s.raw_data_package
        ids = []
        with self.engine.begin() as conn:
            for p in packages:
                conn.execute(
                    dialect_insert(conn, table)
                    .values(
                        data_grouping=grouping,
                        name=p.name,
                        path=str(p.path),
                        checksum=p.checksum,
                        size_bytes=p.size_bytes,
                        metadata_json=json.dumps(p.metadata, sort_keys=True),
                        first_seen_at=utcnow(),
                    )
                    .on_conflict_do_nothing(index_elements=["path", "checksum"])
                )
                ids.append(
                    conn.execute(
                        sa.select(table.c.id).where(
                            table.c.path == str(p.path), table.c.checksum == p.checksum
                        )
                    ).scalar_one()
                )
        return ids

    # -- executed steps ---------------------------------------------------------------------
    def find_reusable(
        self,
        *,
        pipeline: str,
        step: str,
        sub_group_key: str,
        fingerprint: str,
        versions: frozenset[str] | None,
        prefer_version: str | None = None,
    ) -> dict[str, Any] | None:
        """A COMPLETED result for the same inputs whose version counts and whose files are all
        still on disk with their recorded sizes; None when there is none. Results of
        `prefer_version` (the version that would run now) come first, then the newest."""
        e = s.executed_reduction_step
        query = (
            sa.select(e.c.id)
            .where(
                e.c.pipeline == pipeline,
                e.c.step == step,
                e.c.sub_group_key == sub_group_key,
                e.c.input_fingerprint == fingerprint,
                e.c.status == s.COMPLETED,
            )
            .order_by((e.c.software_version == (prefer_version or "")).desc(), e.c.id.desc())
        )
        if versions is not None:
            query = query.where(e.c.software_version.in_(sorted(versions)))
        with self.engine.connect() as conn:
            candidates = list(conn.execute(query).scalars())
        for step_id in candidates:
            result = self.step_result(step_id)
            if all(_intact(o) for o in result["outputs"]):
                return result
        return None

    def record_step(self, values: dict[str, Any]) -> int:
        with self.engine.begin() as conn:
            row = conn.execute(
                s.executed_reduction_step.insert()
                .values(finished_at=utcnow(), **values)
                .returning(s.executed_reduction_step.c.id)
            )
            return int(row.scalar_one())

    def record_products(
        self,
        step_id: int,
        files: Iterable[ProductFile],
        raw_package_ids: Sequence[int],
        parent_product_ids: Sequence[int],
    ) -> None:
        """Products of one executed step, each with lineage to every raw package and upstream
        product that went in (one transaction: a step's products appear all at once)."""
        now = utcnow()
        lineage = s.data_product_lineage
        with self.engine.begin() as conn:
            for f in files:
                product_id = conn.execute(
                    s.data_product.insert()
                    .values(
                        executed_reduction_step_id=step_id,
                        data_product_type=f.product_type,
                        file_path=str(f.path),
                        file_size=f.size,
                        checksum=f.checksum,
                        created_at=now,
                    )
                    .returning(s.data_product.c.id)
                ).scalar_one()
                rows = [
                    {
                        "data_product_id": product_id,
                        "raw_data_package_id": r,
                        "parent_data_product_id": None,
                    }
                    for r in raw_package_ids
                ]
                rows += [
                    {
                        "data_product_id": product_id,
                        "raw_data_package_id": None,
                        "parent_data_product_id": p,
                    }
                    for p in parent_product_ids
                ]
                if rows:
                    conn.execute(lineage.insert(), rows)

    def step_result(self, step_id: int) -> dict[str, Any]:
        """An executed step and its products as the plain dict a step task returns."""
        e, d = s.executed_reduction_step, s.data_product
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(e).where(e.c.id == step_id)).mappings().one()
            products = (
                conn.execute(
                    sa.select(d).where(d.c.executed_reduction_step_id == step_id).order_by(d.c.id)
                )
                .mappings()
                .all()
            )
        return {
            "executed_step_id": row["id"],
            "step": row["step"],
            "sub_group_key": row["sub_group_key"],
            "software_version": row["software_version"],
            "status": row["status"],
            "hpc_job_id": row["hpc_job_id"],
            "output_dir": row["output_dir"],
            "input_fingerprint": row["input_fingerprint"],
            "outputs": [
                {
                    "id": p["id"],
                    "path": p["file_path"],
                    "type": p["data_product_type"],
                    "size": p["file_size"],
                    "checksum": p["checksum"],
                }
                for p in products
            ],
        }


def _intact(output: dict[str, Any]) -> bool:
    path = Path(output["path"])
    return path.is_file() and path.stat().st_size == output["size"]
