"""The invariant behind "lint is the gate": every spec `dagspec lint` passes compiles to a file
that a real Airflow DagBag imports. No exceptions, no sampling of the compiled files: all of
them are imported (in one DagBag at the end).

The specs: most are valid by construction (schema-made, then repaired to meet the rules across
fields), some get a schedule Airflow refuses or never runs, some get a random structural
mutation. So lint sees valid specs, nearly valid ones and broken ones; whatever it lets through
must import.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import specgen
import yaml
from hypothesis import given, note
from hypothesis import strategies as st
from specgen import dagbag

from compiler import api
from compiler.findings import has_errors

pytestmark = pytest.mark.airflow


def _project(base: Path, data: Any, raw: bytes) -> Path:
    root = Path(tempfile.mkdtemp(dir=base))
    (root / "specs").mkdir()
    entity = (
        isinstance(data, dict)
        and data.get("kind") == "Entity"
        and isinstance(data.get("metadata"), dict)
    )
    config = {
        "apiVersion": "dagspec/v1",
        "kind": "Project",
        "metadata": {"name": "gate"},
        "spec": {
            "entities": [data["metadata"].get("name")] if entity else [],
            "targets": ["dev", "prod"],
            "pools": {"dagspec_entities": {"slots": 2}},
        },
    }
    (root / "dagspec.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    (root / "specs" / "spec.yaml").write_bytes(raw)
    return root


def _schedule_of(data: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The mapping and key holding the spec's schedule string, if it has one."""
    body = data.get("spec", {})
    if data.get("kind") == "ReductionPipeline":
        trigger = body.get("trigger")
        return (trigger, "cron") if isinstance(trigger, dict) and "cron" in trigger else None
    return (body, "schedule") if isinstance(body.get("schedule"), str) else None


@st.composite
def gate_specs(draw: st.DrawFn, number: int) -> tuple[str, Any, bytes]:
    kind = draw(st.sampled_from(specgen.KINDS))
    data = draw(specgen.valid_spec(kind))
    data["metadata"]["name"] = f"s{number:05d}"  # DAG ids unique across the one DagBag
    how = draw(st.sampled_from(["valid"] * 6 + ["bad-schedule", "mutated", "mutated"]))
    if how == "bad-schedule":
        place = _schedule_of(data)
        if place is None:
            how = "valid"
        else:
            place[0][place[1]] = draw(st.sampled_from(specgen.BAD_SCHEDULES))
    elif how == "mutated":
        data = draw(specgen.mutated(data))
    return how, data, specgen.dump(data, draw(st.booleans())).encode("utf-8", "surrogatepass")


def test_every_lint_clean_spec_imports_in_a_real_dagbag(tmp_path: Path) -> None:
    base, out = tmp_path / "projects", tmp_path / "dags"
    base.mkdir()
    out.mkdir()
    counts = {"generated": 0, "lint-clean": 0, "compiled": 0, "files": 0}
    made: dict[str, int] = {}
    clean_by_how: dict[str, int] = {}
    sources: dict[str, str] = {}

    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        how, spec, raw = data.draw(gate_specs(counts["generated"]))
        counts["generated"] += 1
        made[how] = made.get(how, 0) + 1
        note(raw.decode("utf-8", "replace")[:3000])
        root = _project(base, spec, raw)
        try:
            findings = api.lint(root)
            if has_errors(findings):
                assert how != "valid", [(f.code, f.message) for f in findings]  # as generated
                return
            counts["lint-clean"] += 1
            clean_by_how[how] = clean_by_how.get(how, 0) + 1
            result = api.compile_project(root)
            assert result.ok, [f.as_dict() for f in result.findings]  # lint-clean ⇒ compiles
            counts["compiled"] += 1
            for path in (root / "generated_dags").glob("*.py"):
                assert path.name not in sources, f"two specs made {path.name}"
                shutil.copy(path, out / path.name)
                sources[path.name] = raw.decode("utf-8", "replace")
                counts["files"] += 1
        finally:
            shutil.rmtree(root, ignore_errors=True)

    run()
    report = dagbag(out, tmp_path / "airflow-home")
    print(
        f"lint gate: {counts['generated']} specs generated {made}; {counts['lint-clean']} "
        f"lint-clean {clean_by_how}; {counts['compiled']} compiled to {counts['files']} DAG "
        f"files; DagBag imported {len(report['dags'])} DAGs, {len(report['errors'])} errors"
    )
    failures = {
        name: (err, sources.get(Path(name).name, "")[:2000])
        for name, err in report["errors"].items()
    }
    assert failures == {}, "lint-clean specs that Airflow refuses"
    assert len(report["dags"]) == counts["files"]
    assert counts["lint-clean"] >= counts["generated"] // 2, "the generator makes few valid specs"
    assert clean_by_how.get("bad-schedule", 0) == 0, "lint passed a schedule Airflow refuses"
