"""The gate, verified by Airflow: every spec lint passes compiles, and Airflow imports every DAG
file it makes, with its DAGs present and a first run it can compute (or none, for manual ones).

Specs come from the JSON Schemas themselves (specgen walks every keyword the schemas use), half
of them repaired to meet the rules JSON Schema cannot state, and then get values Airflow
interprets from targeted strategies: schedules (presets, edge cron, whitespace, block scalars),
start dates (impossible days, far years), ids (long, with newlines), numbers (10.0, huge ints)
and command templates (braces). Lint runs without Airflow; the compiled files are parsed at the
end by real Airflow 3.3 in batches (dagspec.airflow_check, one child process per batch).
`make test` runs a small derandomized sample; `make fuzz` runs 10,000 specs and prints
generated / lint-clean / imported / refused with the CPU time.
"""

from __future__ import annotations

import os
import resource
import tempfile
from pathlib import Path
from typing import Any

import pytest
import specgen
import yaml
from hypothesis import given, note, settings
from hypothesis import strategies as st

from compiler import api
from compiler.findings import has_errors
from dagspec import airflow_check

pytestmark = pytest.mark.airflow
BATCH = 400  # files per Airflow child process
#: `make test`: a small sample; `make fuzz` (DAGSPEC_FUZZ_EXAMPLES=5000): 10,000 specs
EXAMPLES = 2 * int(os.environ.get("DAGSPEC_FUZZ_EXAMPLES", "15"))

SCHEDULES = st.one_of(
    st.sampled_from(specgen.VALID_SCHEDULES),
    st.sampled_from(specgen.BAD_SCHEDULES),
    st.sampled_from(specgen.VALID_SCHEDULES).map(lambda s: s + "\n"),
    st.sampled_from(specgen.VALID_SCHEDULES).map(lambda s: " " + s),
    st.sampled_from(["0\t3 * * *", "0  3 * * *", "@DAILY", "@once ", "", None]),
)
DATES = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.from_regex(r"(19|20|99)\d\d-(0[1-9]|1[0-2])-(2[89]|3[01])", fullmatch=True),
    st.sampled_from(["2024-02-30", "2023-02-29", "0001-01-01", "9999-12-31", "2024-1-1"]),
)
NAMES = st.one_of(
    st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True).map(lambda s: s + "\n"),
)
NUMBERS = st.one_of(
    st.integers(-5, 100),
    st.integers(2**31 - 2, 2**63),
    st.sampled_from([10.0, 1e1, 2.5, -0.0, 3]),
)
TEMPLATES = st.sampled_from(
    [
        "cal {inputs} {output_dir}",
        "cal {input} {output_dir}",
        "awk '{print $1}' {inputs} > {output_dir}/x",
        "awk '{{print $1}}' {inputs} > {output_dir}/x",
        "run {parameters[n]} {inputs}",
        "run {sub_group_key} {version} {step} {pipeline} {image} {raw_inputs}",
        "run {} {inputs}",
    ]
)


@st.composite
def targeted(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A schema-made spec, with values Airflow interprets drawn from the targeted strategies."""
    data = draw(st.one_of(specgen.valid_spec(kind), specgen.spec_strategy(kind)))
    body = data.get("spec") if isinstance(data.get("spec"), dict) else None
    if body is None:
        return data
    if kind != "ReductionPipeline" and draw(st.booleans()):
        body["schedule"] = draw(SCHEDULES)
    if draw(st.booleans()) and isinstance(data.get("metadata"), dict):
        data["metadata"]["name"] = draw(NAMES)
    if draw(st.booleans()):
        body[draw(st.sampled_from(["priority_weight", "retries"]))] = draw(NUMBERS)
    for step in body.get("steps") or []:
        if isinstance(step, dict) and isinstance(step.get("config"), dict) and draw(st.booleans()):
            step["config"]["command_template"] = draw(TEMPLATES)
            step["config"].setdefault("parameters", {"n": 3})
    return data


def _project(base: Path, data: dict[str, Any], start_date: str) -> Path:
    root = Path(tempfile.mkdtemp(dir=base))
    (root / "specs").mkdir()
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    config = {
        "apiVersion": "dagspec/v1",
        "kind": "Project",
        "metadata": {"name": "gate"},
        "spec": {
            "entities": [name] if data.get("kind") == "Entity" and isinstance(name, str) else [],
            "targets": ["dev", "prod"],
            "pools": {"dagspec_entities": {"slots": 2}},
            "defaults": {"start_date": start_date},
        },
    }
    (root / "dagspec.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    (root / "specs" / "spec.yaml").write_text(specgen.dump(data, False), encoding="utf-8")
    return root


@settings(max_examples=EXAMPLES)
@given(kind=st.sampled_from(specgen.KINDS), data=st.data())
def _generate(kind: str, data: st.DataObject, state: dict[str, Any]) -> None:
    spec = data.draw(targeted(kind))
    start_date = data.draw(DATES)
    note(yaml.safe_dump(spec, allow_unicode=True)[:3000])
    state["generated"] += 1
    root = _project(state["base"], spec, start_date)
    if has_errors(api.lint(root)):
        return
    state["clean"] += 1
    result = api.compile_project(root, check=True)
    assert result.ok, [str(f) for f in result.findings]  # what lint passes compiles
    assert result.plan is not None
    for target in result.analysis.targets:
        manual = target.schedule is None and not target.assets_in
        n = len(state["files"])
        state["files"][f"f{n:05d}.py"] = (result.plan.files[f"{target.name}.py"], target.name)
        state["manual"] += manual


def test_what_lint_passes_airflow_imports(tmp_path: Path) -> None:
    started = _cpu()
    state: dict[str, Any] = {"base": tmp_path, "generated": 0, "clean": 0, "files": {}, "manual": 0}
    _generate(state=state)
    compiled = _cpu()
    names = sorted(state["files"])
    refused = []
    for batch in _batches(state["files"]):
        reports = airflow_check.probe(batch, tmp_path)
        for name, report in reports.items():
            dag_id = state["files"][name][1]
            problem = report["dags"].get(dag_id, "missing")
            if report["errors"] or report["warnings"] or problem is not None:
                refused.append((name, dag_id, report))
    done = _cpu()
    print(
        f"\nairflow gate: {state['generated']} specs generated, {state['clean']} lint-clean, "
        f"{len(names)} DAG files ({state['manual']} manual), "
        f"{len(names) - len(refused)} imported with a computable next run, {len(refused)} refused; "
        f"CPU {compiled - started:.0f} s lint+compile, {done - compiled:.0f} s Airflow"
    )
    assert state["clean"] > 0 and names
    assert not refused, refused[:3]


def _batches(files: dict[str, tuple[str, str]]) -> list[dict[str, str]]:
    """Up to BATCH files each, no DAG id twice in one (Airflow keeps one DAG per id)."""
    batches: list[tuple[dict[str, str], set[str]]] = []
    for name, (text, dag_id) in sorted(files.items()):
        home = next((b for b in batches if len(b[0]) < BATCH and dag_id not in b[1]), None)
        if home is None:
            home = ({}, set())
            batches.append(home)
        home[0][name] = text
        home[1].add(dag_id)
    return [files for files, _ in batches]


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
