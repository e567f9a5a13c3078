"""The pure parts of the reduction runtime: catalogue, grouping, command templates, products,
version policy and the meta-database store (SQLite here; no Airflow, no Slurm)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagspec_runtime.metalog.engine import engine_for
from dagspec_runtime.reduction.catalogue import matches, scan_catalogue
from dagspec_runtime.reduction.command import render_command, wrap_in_container
from dagspec_runtime.reduction.fingerprint import input_fingerprint
from dagspec_runtime.reduction.grouping import partition, path_safe
from dagspec_runtime.reduction.products import ProductFile, classify, collect
from dagspec_runtime.reduction.step_spec import PipelineSpec, SoftwareSpec, StepSpec
from dagspec_runtime.reduction.store import ReductionStore
from dagspec_runtime.reduction.version_policy import (
    RegisteredVersion,
    choose_version,
    reusable_versions,
)

from .conftest import copy_catalogue
from .dag_source import PIPELINE, STEPS

RULES = {"source": "NGC253", "line": "CO43"}


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    return copy_catalogue(tmp_path / "raw")


def test_filter_rules_select_only_matching_packages(catalogue: Path) -> None:
    assert [p.name for p in scan_catalogue(catalogue, RULES)] == [
        "ngc253_co43_scan1",
        "ngc253_co43_scan2",
    ]
    assert len(scan_catalogue(catalogue, {"source": ["NGC253", "NGC1068"]})) == 3
    assert matches({"a": 1}, {}) and not matches({}, {"a": None, "b": 1})


def test_package_checksum_sees_any_change(catalogue: Path) -> None:
    before = {p.name: p.checksum for p in scan_catalogue(catalogue, RULES)}
    with open(catalogue / "ngc253_co43_scan1" / "spectra.csv", "a") as handle:
        handle.write("\n")
    after = {p.name: p.checksum for p in scan_catalogue(catalogue, RULES)}
    assert after["ngc253_co43_scan1"] != before["ngc253_co43_scan1"]
    assert after["ngc253_co43_scan2"] == before["ngc253_co43_scan2"]


def test_group_by_partitions_into_keyed_sub_groups(catalogue: Path) -> None:
    packages = scan_catalogue(catalogue, {})
    by_scan = partition(packages, ["executed_obs_unit"])
    assert [g.key for g in by_scan] == [f"executed_obs_unit=scan{i}" for i in (1, 2, 3)]
    by_source_line = partition(packages, ["source", "line"])
    assert [g.key for g in by_source_line] == [
        "source=NGC1068|line=CO43",
        "source=NGC253|line=CO43",
    ]
    assert [len(g.packages) for g in by_source_line] == [1, 2]
    (everything,) = partition(packages, [])
    assert everything.key == "all" and len(everything.packages) == 3
    assert path_safe("source=NGC253|line=CO 4-3") == "source=NGC253+line=CO_4-3"
    with pytest.raises(ValueError, match="no metadata field"):
        partition(packages, ["polarisation"])


def _render(template: str, **over: object) -> str:
    args: dict = dict(
        inputs=["a b.csv", "c.csv"],
        raw_inputs=["r.csv"],
        output_dir="/out dir",
        parameters={"mode": "hot cold", "n": 3},
        sub_group={"executed_obs_unit": "scan1"},
        sub_group_key="executed_obs_unit=scan1",
        version="1.1.0",
        image=None,
        step="calibrate",
        pipeline="p",
    )
    args.update(over)
    return render_command(template, **args)


def test_command_template_quotes_every_value() -> None:
    cmd = _render(
        "prog --in {inputs} --out {output_dir} --mode {parameters[mode]} -n {parameters[n]} "
        "--scan {sub_group[executed_obs_unit]} --v {version} {{literal}}"
    )
    assert shlex.split(cmd) == [
        "prog", "--in", "a b.csv", "c.csv", "--out", "/out dir", "--mode", "hot cold",
        "-n", "3", "--scan", "scan1", "--v", "1.1.0", "{literal}",
    ]  # fmt: skip
    assert "{{ ds }}" not in cmd  # Jinja is not involved


def test_command_template_refuses_unknown_fields_and_attribute_access() -> None:
    with pytest.raises(ValueError, match="unknown placeholder"):
        _render("prog {nope}")
    with pytest.raises(ValueError, match="attribute access"):
        _render("prog {parameters.__class__}")
    with pytest.raises(ValueError, match="unknown placeholder"):
        _render("prog {0}")


def test_container_is_an_explicit_choice() -> None:
    assert wrap_in_container("prog a && b", "none", None) == "prog a && b"
    wrapped = wrap_in_container("prog a && b", "apptainer", "ghcr.io/x/y:1.0")
    assert shlex.split(wrapped) == ["apptainer", "exec", "ghcr.io/x/y:1.0", "/bin/sh", "-c",
                                    "prog a && b"]  # fmt: skip


def test_output_folders_type_the_products(tmp_path: Path) -> None:
    for rel in ("science/cube.csv", "qa/q.json", "plots/p.svg", "statistics/s.json",
                "logs/l.log", "intermediate/i.csv", "stray.txt"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    types = {f.path.relative_to(tmp_path).as_posix(): f.product_type for f in collect(tmp_path)}
    assert types == {
        "science/cube.csv": "SCIENCE",
        "qa/q.json": "QA_METRIC",
        "plots/p.svg": "PLOT",
        "statistics/s.json": "STATISTICS",
        "logs/l.log": "LOG",
        "intermediate/i.csv": "INTERMEDIATE",
        "stray.txt": "INTERMEDIATE",
    }
    assert classify(Path("science")) == "INTERMEDIATE"  # a file named like a folder


def test_version_policy() -> None:
    registered = [
        RegisteredVersion(1, "1.0.0", None, False),
        RegisteredVersion(2, "1.1.0", None, True),
    ]
    assert choose_version("compatible", None, registered, "sw").version == "1.1.0"
    assert choose_version("exact", "1.0.0", registered, "sw").version == "1.0.0"
    with pytest.raises(LookupError, match="pinned version '2.0.0'"):
        choose_version("exact", "2.0.0", registered, "sw")
    with pytest.raises(LookupError, match="no registered versions"):
        choose_version("compatible", None, [], "sw")
    assert reusable_versions("compatible", None) is None
    assert reusable_versions("exact", "1.0.0") == frozenset({"1.0.0"})


def test_specs_reject_bad_literals() -> None:
    PipelineSpec.parse(PIPELINE)
    assert StepSpec.parse(STEPS["grid"]).group_by == ()
    with pytest.raises(ValueError, match="needs pinned_version"):
        StepSpec.parse({**STEPS["calibrate"], "version_policy": "exact"})
    with pytest.raises(ValueError, match="version_policy must be"):
        StepSpec.parse({**STEPS["calibrate"], "version_policy": "latest"})
    with pytest.raises(ValueError, match="container must be"):
        StepSpec.parse({**STEPS["calibrate"], "container": "docker"})
    with pytest.raises(ValueError, match="not in versions"):
        SoftwareSpec.parse("x", {"versions": ["1"], "latest": "2"})


def test_fingerprint_is_order_free_and_config_sensitive() -> None:
    a = input_fingerprint(["raw:a:1", "raw:b:2"], {"p": 1})
    assert a == input_fingerprint(["raw:b:2", "raw:a:1"], {"p": 1})
    assert a != input_fingerprint(["raw:a:1", "raw:b:3"], {"p": 1})
    assert a != input_fingerprint(["raw:a:1", "raw:b:2"], {"p": 2})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ReductionStore:
    """An empty store on SQLite, or in a fresh database of the throwaway PostgreSQL."""
    if request.param == "sqlite":
        return ReductionStore(engine_for(f"sqlite:///{tmp_path / 'meta.sqlite'}")).ensure()
    url = request.getfixturevalue("new_pg_database")()
    return ReductionStore(engine_for(url)).ensure()


def test_store_registers_versions_and_moves_latest(store: ReductionStore) -> None:
    store.register_software(SoftwareSpec.parse("sw", {"image": "img", "versions": ["1", "2"]}))
    store.register_software(SoftwareSpec.parse("sw", {"image": "img", "versions": ["1", "2"]}))
    assert [(v.version, v.is_latest, v.image_ref) for v in store.versions("sw")] == [
        ("1", False, "img:1"),
        ("2", True, "img:2"),
    ]
    store.register_software(SoftwareSpec.parse("sw", {"image": "img", "versions": ["1", "2", "3"]}))
    assert [v.version for v in store.versions("sw") if v.is_latest] == ["3"]


def test_store_reuse_respects_versions_and_missing_files(
    store: ReductionStore, tmp_path: Path, catalogue: Path
) -> None:
    store.register_software(SoftwareSpec.parse("sw", {"versions": ["1", "2"]}))
    (v1, _v2) = store.versions("sw")
    packages = scan_catalogue(catalogue, RULES)
    ids = store.record_raw_packages("g", packages)
    assert store.record_raw_packages("g", packages) == ids  # idempotent
    out = tmp_path / "out.csv"
    out.write_text("x\n")
    step_id = store.record_step(
        {
            "pipeline": "p",
            "step": "s",
            "sub_group_key": "all",
            "software_version_id": v1.id,
            "software_version": "1",
            "version_policy": "compatible",
            "status": "COMPLETED",
            "input_fingerprint": "f" * 64,
            "output_dir": str(tmp_path),
        }  # fmt: skip
    )
    store.record_products(step_id, [ProductFile(out, "SCIENCE", 2, "c" * 64)], ids, [])
    find = dict(pipeline="p", step="s", sub_group_key="all", fingerprint="f" * 64)
    assert store.find_reusable(**find, versions=None)["executed_step_id"] == step_id
    assert store.find_reusable(**find, versions=frozenset({"1"})) is not None
    assert store.find_reusable(**find, versions=frozenset({"2"})) is None
    newer = store.record_step(
        {
            "pipeline": "p",
            "step": "s",
            "sub_group_key": "all",
            "software_version_id": _v2.id,
            "software_version": "2",
            "version_policy": "compatible",
            "status": "COMPLETED",
            "input_fingerprint": "f" * 64,
            "output_dir": str(tmp_path),
        }  # fmt: skip
    )
    assert store.find_reusable(**find, versions=None)["executed_step_id"] == newer
    assert store.find_reusable(**find, versions=None, prefer_version="1")["executed_step_id"] == (
        step_id
    )
    assert store.find_reusable(**{**find, "fingerprint": "e" * 64}, versions=None) is None
    os.remove(out)
    # A result must still exist on disk (the product-less newer one still counts: nothing lost).
    assert store.find_reusable(**find, versions=frozenset({"1"})) is None
    with store.engine.connect() as conn:
        lineage = conn.execute(sa.text("SELECT count(*) FROM data_product_lineage")).scalar()
    assert lineage == 2
