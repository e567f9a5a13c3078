"""Incremental compile: with the cache under `.dagspec/`, a compile writes exactly the bytes a cold
compile (no cache, fresh output folder) writes, and reports the same findings, after any
sequence of edits, renames and deletions; and it re-analyses only what changed."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from compiler import api
from compiler.analysis import analyse
from compiler.project import load_project

REPO = Path(__file__).resolve().parents[2]
ABSTRACT = "entity-pipeline.yaml"


def _copy_inputs(src: Path, dst: Path) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    shutil.copy2(src / "dagspec.yaml", dst / "dagspec.yaml")
    shutil.copytree(src / "specs", dst / "specs")
    shutil.copytree(src / "examples", dst / "examples", symlinks=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "inc"
    _copy_inputs(REPO, root)
    return root


def _files(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _findings(result: api.CompileResult) -> list[tuple]:
    return [
        (f.file, f.line, f.col, f.code, f.message, f.path, f.suggestion, f.severity)
        for f in result.findings
    ]


def _cold(root: Path, work: Path, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """Compile a copy of the project's inputs with no cache and no earlier output."""
    _copy_inputs(root, work)
    monkeypatch.setenv("DAGSPEC_CACHE", "0")
    try:
        result = api.compile_project(work)
        lint = api.lint(work)
    finally:
        monkeypatch.delenv("DAGSPEC_CACHE")
    assert not (work / ".dagspec" / "cache").exists()
    return result.ok, _findings(result), _files(work / "generated_dags"), lint


def _assert_same_as_cold(
    root: Path, work: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    result = api.compile_project(root)
    lint = api.lint(root)
    ok, findings, files, cold_lint = _cold(root, work, monkeypatch)
    assert (result.ok, _findings(result)) == (ok, findings), what
    assert lint == cold_lint, what
    if ok:  # a failed compile writes nothing; what is there stays as it was
        assert _files(root / "generated_dags") == files, what
        assert not api.compile_project(root, check=True).plan.changed, what


# -- the edits ------------------------------------------------------------------------------


def _yaml_edit(path: Path, change: Callable[[dict], None]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _specs(root: Path) -> list[Path]:
    return sorted((root / "specs").rglob("*.yaml"))


def _edit_description(root: Path, rng: random.Random) -> str:
    path = rng.choice(_specs(root))
    text = path.read_text()
    word = rng.choice(["again", "now", "daily", "(edited)"])
    path.write_text(text.replace("description: ", f"description: {word} ", 1))
    return f"edit the description of {path.name}"


def _edit_abstract(root: Path, rng: random.Random) -> str:
    path = root / "specs" / ABSTRACT
    if not path.exists():
        return "abstract spec absent"
    command = rng.choice(["pull.py", "pull2.py", "pull3.py"])

    def change(data: dict) -> None:
        data["spec"]["phases"][0]["modules"][0]["command"] = [
            "python",
            f"examples/modules/{command}",
        ]
        if rng.random() < 0.5:
            data["spec"]["phases"][-1]["description"] = f"Last phase, {rng.randint(0, 99)}."

    _yaml_edit(path, change)
    return f"edit the abstract {ABSTRACT}: first command {command}"


def _edit_config(root: Path, rng: random.Random) -> str:
    config = root / "dagspec.yaml"
    choice = rng.choice(["owner", "slots", "drop-entity", "add-entity", "start"])

    def change(data: dict) -> None:
        spec = data["spec"]
        if choice == "owner":
            spec["defaults"]["owner"] = rng.choice(["data-platform", "ops", "someone-else"])
        elif choice == "slots":
            spec["pools"]["dagspec_entities"]["slots"] = rng.randint(1, 9)
        elif choice == "drop-entity" and len(spec["entities"]) > 1:
            spec["entities"].pop(rng.randrange(len(spec["entities"])))
        elif choice == "add-entity":
            for name in ("waste-tracking", "organization-site"):
                if name not in spec["entities"]:
                    spec["entities"].append(name)
        else:
            spec["defaults"]["start_date"] = rng.choice(["2024-01-01", "2025-06-30"])

    _yaml_edit(config, change)
    return f"edit dagspec.yaml: {choice}"


def _rename(root: Path, rng: random.Random) -> str:
    path = rng.choice(_specs(root))
    folder = root / "specs" / rng.choice(["", "moved", "deep/er"])
    folder.mkdir(parents=True, exist_ok=True)
    new = folder / f"{path.stem.split('--')[0]}--{rng.randint(0, 999)}.yaml"
    path.rename(new)
    return f"rename {path.relative_to(root)} to {new.relative_to(root)}"


def _delete(root: Path, rng: random.Random, trash: list[tuple[Path, bytes]]) -> str:
    path = rng.choice(_specs(root))
    trash.append((path, path.read_bytes()))
    path.unlink()
    return f"delete {path.relative_to(root)}"


def _restore(root: Path, rng: random.Random, trash: list[tuple[Path, bytes]]) -> str:
    if not trash:
        return "nothing to restore"
    path, data = trash.pop(rng.randrange(len(trash)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"restore {path.relative_to(root)}"


def _break_and_fix(root: Path, rng: random.Random) -> str:
    path = rng.choice(_specs(root))
    text = path.read_text()
    if "  colour: red\n" in text:
        path.write_text(text.replace("  colour: red\n", ""))
        return f"fix {path.name}"
    path.write_text(text.replace("\nspec:\n", "\nspec:\n  colour: red\n", 1))
    return f"break {path.name} (unknown key)"


def _rename_spec(root: Path, rng: random.Random) -> str:
    manifests = [p for p in _specs(root) if "kind: Manifest" in p.read_text()]
    if not manifests:
        return "no manifest"
    path = rng.choice(manifests)
    new = f"orders-etl-{rng.randint(0, 9)}"
    _yaml_edit(path, lambda data: data["metadata"].update(name=new))
    return f"rename the spec in {path.name} to {new}"


def _ignore(root: Path, rng: random.Random) -> str:
    path = rng.choice(_specs(root))
    text = path.read_text()
    if "# dagspec: ignore[DS220]" in text:
        path.write_text(text.replace("# dagspec: ignore[DS220]\n", ""))
        return f"remove an ignore from {path.name}"
    path.write_text(text.replace("\nspec:\n", "\nspec:\n  # dagspec: ignore[DS220]\n", 1))
    return f"add an ignore to {path.name}"


def _hand_edit_output(root: Path, rng: random.Random) -> str:
    outputs = sorted((root / "generated_dags").glob("*.py"))
    if not outputs:
        return "no output"
    path = rng.choice(outputs)
    path.write_text(path.read_text().replace("dag_id=", "dag_id =", 1))
    return f"hand-edit {path.name}"


def _touch(root: Path, rng: random.Random) -> str:
    path = rng.choice(_specs(root))
    os.utime(path)
    return f"touch {path.name}"


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_compile_equals_cold_compile_after_random_changes(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = random.Random(seed)
    trash: list[tuple[Path, bytes]] = []
    steps: list[Callable[[Path, random.Random], str]] = [
        _edit_description,
        _edit_abstract,
        _edit_abstract,
        _edit_config,
        _edit_config,
        _rename,
        lambda r, g: _delete(r, g, trash),
        lambda r, g: _restore(r, g, trash),
        lambda r, g: _restore(r, g, trash),
        _break_and_fix,
        _rename_spec,
        _ignore,
        _hand_edit_output,
        _touch,
    ]
    done: list[str] = []
    _assert_same_as_cold(project, tmp_path / "cold", monkeypatch, "first compile")
    for _ in range(14):
        done.append(rng.choice(steps)(project, rng))
        _assert_same_as_cold(
            project, tmp_path / "cold", monkeypatch, f"seed {seed}, after: " + "; ".join(done)
        )
    assert list((project / ".dagspec" / "cache" / "index").glob("*.pickle"))


def test_only_the_changed_spec_and_its_children_are_analysed_again(project: Path) -> None:
    api.compile_project(project)
    leaf = project / "specs" / "orders-etl.yaml"
    leaf.write_text(leaf.read_text().replace("description: ", "description: new ", 1))
    analysis = analyse(load_project(project))
    assert (analysis.cache.misses, analysis.cache.hits) == (2, 2 * 6 - 2)  # one file, one plan

    parent = project / "specs" / ABSTRACT
    parent.write_text(
        parent.read_text().replace("examples/modules/pull.py", "examples/modules/pull2.py")
    )
    analysis = analyse(load_project(project))
    # the parent's file and plan, and the plans of its two children
    assert analysis.cache.misses == 4, (analysis.cache.misses, analysis.cache.hits)


def test_an_edit_that_keeps_size_and_modification_time_is_seen(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec is read again only when its state (inode, size, mtime, ctime) changed; an edit
    of the same length with the old mtime put back still moves the ctime, so it is compiled.
    (RACY_SECONDS 0: the states of these just-written files are trusted at once.)"""
    from compiler.cache import files

    monkeypatch.setattr(files, "RACY_SECONDS", 0.0)
    spec = project / "specs" / "orders-etl.yaml"
    _ignore(project, random.Random(3))  # a file whose text the inline ignores need
    api.compile_project(project)
    analysis = analyse(load_project(project))
    assert len(analysis.cache.states.states) == len(_specs(project))  # every state recorded
    _assert_same_as_cold(project, tmp_path / "cold", monkeypatch, "states trusted")
    text = spec.read_text()
    old = spec.stat()
    before = _files(project / "generated_dags")
    at = text.index("description: ") + len("description: ")
    spec.write_text(text[:at] + ("Z" if text[at] != "Z" else "Y") + text[at + 1 :])  # same size
    os.utime(spec, ns=(old.st_atime_ns, old.st_mtime_ns))
    new = spec.stat()
    assert (new.st_size, new.st_mtime_ns, new.st_ino) == (old.st_size, old.st_mtime_ns, old.st_ino)
    _assert_same_as_cold(project, tmp_path / "cold", monkeypatch, "same size and mtime")
    assert _files(project / "generated_dags") != before


def test_a_spec_edited_while_compiling_is_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parent the cache vouched for by its state, edited after the files were looked at
    and before its bytes were needed (to plan an edited child): DS009, nothing written."""
    from compiler import cache
    from compiler.cache import files

    monkeypatch.setattr(files, "RACY_SECONDS", 0.0)  # trust the states at once
    api.compile_project(project)
    before = _files(project / "generated_dags")
    children = [p for p in _specs(project) if "extends: " in p.read_text()]
    child = children[0]
    child.write_text(child.read_text().replace("description: ", "description: new ", 1))
    parent = project / "specs" / ABSTRACT
    load = cache.Cache.load

    def load_then_edit(self: cache.Cache, *args: object, **kwargs: object) -> list:
        loaded = load(self, *args, **kwargs)
        parent.write_text(parent.read_text().replace("description: ", "description: x ", 1))
        return loaded

    monkeypatch.setattr(cache.Cache, "load", load_then_edit)
    result = api.compile_project(project)
    assert [(f.file, f.code) for f in result.findings if f.code == "DS009"] == [
        (f"specs/{ABSTRACT}", "DS009")
    ]
    assert not result.ok
    assert _files(project / "generated_dags") == before


def test_an_unchanged_dag_reuses_its_fingerprint_and_a_changed_link_wires_again(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output fingerprints are kept per plan and per set of links, so an unchanged DAG needs
    neither its model nor its documentation; a link moved to another path changes the wiring
    of its producer and consumer, as cold does."""
    api.compile_project(project)
    api.compile_project(project)
    analysis = analyse(load_project(project))
    linked = [t for t in analysis.targets if t.assets_in or t.outlets]
    assert linked, "the example project has DAGs linked by artifacts"
    assert all(t.recorded for t in analysis.targets)  # a fingerprint for their links
    assert all(t._dag is None for t in analysis.targets)  # no model was read
    consumer = next(t for t in linked if t.assets_in)
    dep = next(iter(consumer.assets_in))
    folder, name = dep.rsplit("/", 1)
    spec = project / consumer.sources[0].doc.file
    spec.write_text(spec.read_text().replace(dep, f"{folder}/moved-{name}"))
    producer = next(t for t in analysis.targets if any(a.path == dep for a in t.produces))
    for source in producer.sources:  # the promoted path may be written as a pattern
        path = project / source.doc.file
        path.write_text(path.read_text().replace(f'/{name}"', f'/moved-{name}"'))
    _assert_same_as_cold(project, tmp_path / "cold", monkeypatch, "a link moved")
    again = analyse(load_project(project))
    assert {t.name: sorted(t.assets_in) for t in again.targets} != {
        t.name: sorted(t.assets_in) for t in analysis.targets
    }


def test_damaged_models_or_a_deleted_cache_are_misses(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _assert_same_as_cold(project, tmp_path / "cold", monkeypatch, "first")
    cache = project / ".dagspec" / "cache"
    models = sorted(cache.glob("model-shards/*.pickle"))
    models[0].write_bytes(b"not a pickle")
    models[1].write_bytes(models[1].read_bytes()[:20])
    (cache / "outputs.pickle").write_bytes(b"")
    (cache / "states.pickle").write_bytes(b"\x80")
    spec = project / "specs" / ABSTRACT
    spec.write_text(spec.read_text().replace("description: ", "description: x ", 1))
    _assert_same_as_cold(project, tmp_path / "cold", monkeypatch, "damaged models")

    shutil.rmtree(project / ".dagspec")
    spec.write_text(spec.read_text().replace("description: x ", "description: ", 1))
    _assert_same_as_cold(project, tmp_path / "cold", monkeypatch, "deleted cache")


class _RunsCode:
    """A pickle that would run a command when loaded, if the cache let it."""

    marker: Path

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_model_shards_that_cannot_be_trusted_are_planned_again(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every DAG file gone, each model is read from its shard: a damaged shard, and shards
    whose models (or the shard itself) are pickles that would run code, are planned again, and
    nothing runs."""
    import pickle

    api.compile_project(project)
    marker = tmp_path / "ran"
    _RunsCode.marker = marker
    shards = sorted((project / ".dagspec" / "cache" / "model-shards").glob("*.pickle"))
    assert len(shards) >= 3
    shards[0].write_bytes(b"not a pickle")
    stored = pickle.loads(shards[1].read_bytes())
    shards[1].write_bytes(pickle.dumps({k: [pickle.dumps(_RunsCode())] for k in stored}))
    shards[2].write_bytes(pickle.dumps(_RunsCode()))
    shutil.rmtree(project / "generated_dags")
    _assert_same_as_cold(project, tmp_path / "cold", monkeypatch, "untrusted model shards")
    assert not marker.exists()


@pytest.mark.parametrize("content", ["garbage", "code"])
def test_an_index_that_cannot_be_trusted_is_a_miss(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    """Damaged index shards and project entry, or ones holding a pickle that would run code:
    either is a miss (nothing runs), and the compile equals a cold one."""
    import pickle

    api.compile_project(project)
    marker = tmp_path / "ran"
    _RunsCode.marker = marker
    bad = b"\x80\x05garbage" if content == "garbage" else pickle.dumps(_RunsCode())
    cache = project / ".dagspec" / "cache"
    for shard in (cache / "index").glob("*.pickle"):
        shard.write_bytes(bad)
    (cache / "project.pickle").write_bytes(bad)
    (cache / "states.pickle").write_bytes(bad)
    spec = project / "specs" / ABSTRACT
    spec.write_text(spec.read_text().replace("description: ", "description: y ", 1))
    _assert_same_as_cold(project, tmp_path / "cold", monkeypatch, f"{content} index")
    assert not marker.exists()


def test_concurrent_writers_leave_a_usable_cache(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three lints (each analyses the project and saves the cache) at once, then a compile."""
    api.compile_project(project)
    spec = project / "specs" / ABSTRACT
    spec.write_text(spec.read_text().replace("description: ", "description: both ", 1))
    cmd = [sys.executable, "-m", "dagspec.cli", "--project", str(project), "lint"]
    running = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in running]
    assert [p.returncode for p in running] == [0, 0, 0], outputs
    assert not list((project / ".dagspec" / "cache").rglob(".*.pickle.*")), "temporary files"
    analysis = analyse(load_project(project))
    assert analysis.cache.misses == 0
    _assert_same_as_cold(project, tmp_path / "cold", monkeypatch, "after concurrent lints")


def test_an_up_to_date_compile_imports_neither_jsonschema_nor_jinja(project: Path) -> None:
    """Both cost a tenth of a second to import; an unchanged project needs neither."""
    api.compile_project(project)
    api.compile_project(project)
    code = (
        "import sys; from pathlib import Path; from compiler import api; "
        f"r = api.compile_project(Path({str(project)!r}), check=True); "
        "assert r.ok and not r.plan.changed, r.findings; "
        "print(sorted(m for m in ('jsonschema', 'jinja2', 'referencing') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
