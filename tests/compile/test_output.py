"""Writing generated_dags/: deterministic, incremental, atomic, and checkable in CI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from compiler import api
from compiler.cache import files
from dagspec.cli import main

CASES = Path(__file__).resolve().parents[1] / "specs"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.py"))}


def test_compile_writes_one_file_per_listed_entity(project: Path) -> None:
    result = api.compile_project(project)
    assert result.ok, result.findings
    assert sorted(_snapshot(project / "out")) == ["alpha.py", "beta.py", "reduce.py"]


def test_compiling_twice_is_byte_identical(project: Path, tmp_path: Path) -> None:
    api.compile_project(project)
    first = _snapshot(project / "out")
    shutil.rmtree(project / "out")
    api.compile_project(project)
    assert _snapshot(project / "out") == first
    again = tmp_path / "again"
    shutil.copytree(project, again, ignore=shutil.ignore_patterns("out"))
    api.compile_project(again)
    assert _snapshot(again / "out") == first


def test_unchanged_specs_are_not_rendered_again(project: Path) -> None:
    api.compile_project(project)
    before = {p.name: p.stat().st_ino for p in (project / "out").glob("*.py")}
    spec = project / "valid" / "alpha.yaml"
    spec.write_text(spec.read_text().replace("The smallest", "The very smallest"))
    result = api.compile_project(project)
    assert result.plan is not None
    assert sorted(result.plan.files) == ["alpha.py"]
    assert result.plan.unchanged == ["beta.py", "reduce.py"]
    after = {p.name: p.stat().st_ino for p in (project / "out").glob("*.py")}
    assert after["beta.py"] == before["beta.py"]  # carried over as a hard link, not rewritten
    assert "The very smallest" in (project / "out" / "alpha.py").read_text()


def test_one_changed_file_is_renamed_into_place_and_a_failed_rename_changes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edit of one spec replaces that file in the folder itself (no new folder), and a
    failure on the way leaves every file as it was and no temporary file behind."""
    api.compile_project(project)
    out = project / "out"
    folder = out.stat().st_ino
    spec = project / "valid" / "alpha.yaml"
    spec.write_text(spec.read_text().replace("The smallest", "The very smallest"))
    before = _snapshot(out)

    def refuse(*args: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr("compiler.output.os.replace", refuse)
        with pytest.raises(OSError):
            api.compile_project(project)
    assert _snapshot(out) == before
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".out")) == []

    result = api.compile_project(project)
    assert result.ok and sorted(result.plan.files) == ["alpha.py"]
    assert out.stat().st_ino == folder  # written in place, not swapped
    assert "The very smallest" in (out / "alpha.py").read_text()
    assert not api.compile_project(project, check=True).plan.changed


def test_a_broken_spec_among_good_ones_changes_nothing(project: Path) -> None:
    api.compile_project(project)
    before = _snapshot(project / "out")
    (project / "valid" / "alpha.yaml").write_text(
        (project / "valid" / "alpha.yaml").read_text().replace("team-a", "team-b")
    )
    shutil.copy(CASES / "invalid" / "misspelt-key.yaml", project / "valid" / "zz.yaml")
    result = api.compile_project(project)
    assert not result.ok
    assert any(f.file == "valid/zz.yaml" and f.code == "DS101" for f in result.findings)
    assert _snapshot(project / "out") == before


def test_check_detects_a_stale_file_and_changes_nothing(project: Path) -> None:
    assert main(["--project", str(project), "compile"]) == 0
    assert main(["--project", str(project), "compile", "--check"]) == 0
    stale = project / "out" / "alpha.py"
    stale.write_text(
        stale.read_text().replace("# dagspec-fingerprint: ", "# dagspec-fingerprint: 0")
    )
    edited = stale.read_bytes()
    assert main(["--project", str(project), "compile", "--check"]) == 1
    assert stale.read_bytes() == edited


def test_check_detects_a_spec_edited_after_compiling(project: Path) -> None:
    api.compile_project(project)
    spec = project / "valid" / "beta.yaml"
    spec.write_text(spec.read_text().replace("0 3 * * *", "0 4 * * *"))
    assert main(["--project", str(project), "compile", "--check"]) == 1


def test_deleted_spec_removes_its_dag_file_but_not_hand_written_ones(project: Path) -> None:
    api.compile_project(project)
    (project / "out" / "hand_written.py").write_text("# mine\n")
    (project / "valid" / "beta.yaml").unlink()
    config = project / "dagspec.yaml"
    config.write_text(config.read_text().replace("[alpha, beta]", "[alpha]"))
    result = api.compile_project(project)
    assert result.plan is not None and result.plan.removed == ["beta.py"]
    assert sorted(_snapshot(project / "out")) == ["alpha.py", "hand_written.py", "reduce.py"]


def test_generated_file_names_its_source_and_hash(project: Path) -> None:
    api.compile_project(project)
    head = (project / "out" / "beta.py").read_text().splitlines()[:4]
    assert head[0] == '# Generated by dagspec from "valid/beta.yaml", "valid/base.yaml".'
    assert head[2].startswith("# spec-sha256: ") and len(head[2].split()[-1]) == 64


def test_a_no_op_compile_reads_nothing_again_until_an_input_or_output_changes(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the cache, an unchanged project is served from its entries and writes nothing; an
    edited spec or a hand-edited output is compiled again, alone."""
    monkeypatch.setattr(files, "RACY_SECONDS", 0.0)  # trust the states just written at once
    assert api.compile_project(project).plan is not None
    same = api.compile_project(project)
    assert same.analysis.cache.misses == 0
    assert same.plan is not None and not same.plan.changed
    spec = project / "valid" / "alpha.yaml"
    spec.write_text(spec.read_text() + "# a comment changes the header's spec hash\n")
    again = api.compile_project(project)
    assert again.plan is not None and list(again.plan.files) == ["alpha.py"]
    generated = project / "out" / "beta.py"
    generated.write_text(generated.read_text() + "# hand edit\n")
    repaired = api.compile_project(project)
    assert repaired.plan is not None and list(repaired.plan.files) == ["beta.py"]


def test_many_specs_load_in_parallel_with_the_same_findings_and_output(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from compiler import analysis

    config = project / "dagspec.yaml"
    names = [f"e{i:03d}" for i in range(60)]
    data = yaml.safe_load(config.read_text())
    data["spec"]["entities"] = ["alpha", "beta", *names]
    config.write_text(yaml.safe_dump(data))
    for name in names:
        (project / "valid" / f"{name}.yaml").write_text(
            f"apiVersion: dagspec/v1\nkind: Entity\nmetadata: {{name: {name}}}\n"
            "spec: {extends: base}\n"
        )
    shutil.copy(CASES / "invalid" / "wrong-type.yaml", project / "valid" / "zz.yaml")
    monkeypatch.setattr(analysis, "PARALLEL_FROM", 10**9)
    sequential = api.lint(project)
    monkeypatch.setattr(analysis, "PARALLEL_FROM", 10)
    assert api.lint(project) == sequential
    assert any(f.file == "valid/zz.yaml" and (f.line, f.col) == (11, 28) for f in sequential)
