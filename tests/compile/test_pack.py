"""Packed output (`output: {pack: N}`): stable membership, incremental rewrites, checked bounds.

The DAGs a pack builds are compared with one file per DAG in tests/system/dagbag/
test_packed_dags.py (that needs Airflow); here only the compiler is run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pack_project import write_project

from compiler import api
from compiler.analysis import analyse
from compiler.pack import layout
from compiler.project import load_project

PACK = 5


def _state(out: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_ino, p.read_bytes()) for p in sorted(out.glob("*.py"))}


def _sources(root: Path) -> dict[str, set[str]]:
    """File written → the spec files its DAGs come from."""
    project = load_project(root)
    analysis = analyse(project, use_cache=False)
    where = layout(analysis.targets, project.config)
    found: dict[str, set[str]] = {}
    for target in analysis.targets:
        found.setdefault(where[target.name], set()).update(s.doc.file for s in target.sources)
    return found


@pytest.fixture
def packed(tmp_path: Path) -> Path:
    root = tmp_path / "packed"
    root.mkdir()
    write_project(root, PACK)
    assert api.compile_project(root).ok
    return root


def test_entity_dags_are_sorted_and_chunked_other_kinds_keep_their_file(packed: Path) -> None:
    names = sorted(p.name for p in (packed / "generated_dags").glob("*.py"))
    assert names == [
        *(f"_entities-00{i}.py" for i in range(1, 7)),
        "chai-ngc253.py",
        "orders-etl.orders.py",
        "waste-etl.waste-records.py",
    ]
    text = (packed / "generated_dags" / "_entities-002.py").read_text()
    for i in range(5, 10):
        assert f'"dag_id": "ent-{i:03d}",' in text
    assert text.count("\ndef build(") == 1 and text.count("import os\n") == 1
    assert '"dag_id": "ent-010"' not in text
    assert "import yaml" not in text and "open(" not in text  # static: no spec read at parse


@pytest.mark.parametrize("cache", ["1", "0"])
def test_an_edit_rewrites_exactly_the_packs_of_its_dags(
    packed: Path, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every spec in turn, the example's abstract parent too: its edit rewrites the files of
    the DAGs made from it and leaves every other file (same inode) alone."""
    monkeypatch.setenv("DAGSPEC_CACHE", cache)
    out = packed / "generated_dags"
    sources = _sources(packed)
    specs = sorted(p.relative_to(packed).as_posix() for p in (packed / "specs").glob("*.yaml"))
    assert len(specs) == 30
    for spec in specs[::3] + ["specs/entity-pipeline.yaml"]:
        before = _state(out)
        path = packed / spec
        path.write_text(path.read_text() + f"# edited {spec}\n")
        result = api.compile_project(packed)
        assert result.ok
        expected = sorted(name for name, files in sources.items() if spec in files)
        assert sorted(result.plan.files) == expected, spec
        after = _state(out)
        assert sorted(n for n in after if after[n] != before[n]) == expected, spec
        if spec.startswith("specs/ent-"):
            assert len(expected) == 1 and expected[0].startswith("_entities-"), spec
        if spec == "specs/entity-pipeline.yaml":  # its children are spread over every pack
            assert len(expected) == 6
    again = api.compile_project(packed)
    assert again.plan is not None and again.plan.files == {}


def test_incremental_output_is_what_a_cold_compile_writes(
    packed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (packed / "specs" / "ent-009.yaml").unlink()  # no other DAG reads from it
    config = packed / "dagspec.yaml"
    config.write_text(config.read_text().replace("    - ent-009\n", ""))
    spec = packed / "specs" / "ent-003.yaml"
    spec.write_text(spec.read_text().replace("make.py", "remake.py"))
    assert api.compile_project(packed).ok
    cold = tmp_path / "cold"
    cold.mkdir()
    shutil.copy2(config, cold / "dagspec.yaml")
    shutil.copytree(packed / "specs", cold / "specs")
    monkeypatch.setenv("DAGSPEC_CACHE", "0")
    assert api.compile_project(cold).ok
    warm = {n: b for n, (_, b) in _state(packed / "generated_dags").items()}
    assert warm == {n: b for n, (_, b) in _state(cold / "generated_dags").items()}
    assert b"remake.py" in warm["_entities-001.py"]
    assert b'"dag_id": "ent-010"' in warm["_entities-002.py"]  # the later DAGs moved along


def test_only_one_dag_writes_its_pack_whole(tmp_path: Path) -> None:
    write_project(tmp_path, PACK)
    result = api.compile_project(tmp_path, only="ent-007")
    assert result.ok
    producers = {"ent-006"}  # ent-007 waits for the file ent-006 promotes
    assert sorted(result.plan.files) == ["_entities-002.py"] and producers <= set(
        f"ent-{i:03d}" for i in range(5, 10)
    )
    text = (tmp_path / "generated_dags" / "_entities-002.py").read_text()
    assert all(f'"dag_id": "ent-{i:03d}"' in text for i in range(5, 10))


def test_turning_packing_off_writes_one_file_per_dag_again(packed: Path) -> None:
    config = packed / "dagspec.yaml"
    config.write_text(config.read_text().replace(f"  output: {{pack: {PACK}}}\n", ""))
    assert api.compile_project(packed).ok
    names = {p.name for p in (packed / "generated_dags").glob("*.py")}
    assert not any(n.startswith("_entities-") for n in names) and "ent-023.py" in names


@pytest.mark.parametrize(
    ("value", "fine"), [("1", True), ("1000", True), ("0", False), ("1001", False), ("x", False)]
)
def test_the_pack_size_is_checked_where_it_is_written(
    tmp_path: Path, value: str, fine: bool
) -> None:
    write_project(tmp_path, None, count=3)
    config = tmp_path / "dagspec.yaml"
    config.write_text(
        config.read_text().replace("spec:\n", f"spec:\n  output:\n    pack: {value}\n", 1)
    )
    findings = [f for f in api.lint(tmp_path) if f.severity.name == "ERROR"]
    if fine:
        assert findings == []
        return
    [finding] = [f for f in findings if f.file == "dagspec.yaml"]
    line = config.read_text().splitlines().index(f"    pack: {value}") + 1
    assert (finding.file, finding.line, finding.col) == ("dagspec.yaml", line, 11)
    assert finding.path == "spec.output.pack"


@pytest.mark.parametrize("pack", [PACK, None], ids=["packed", "one-per-file"])
def test_generated_files_are_ruff_clean(tmp_path: Path, pack: int | None) -> None:
    """Packs and single files of every entity feature (notify, Assets, pools, long imports) as
    `ruff format` writes them and clean under the project's `ruff check` rules."""
    write_project(tmp_path, pack)
    assert api.compile_project(tmp_path).ok
    shutil.copy(Path(__file__).resolve().parents[2] / "pyproject.toml", tmp_path)
    for command in (["format", "--check", "--diff"], ["check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "generated_dags"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
