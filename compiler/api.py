"""What the CLI does, as functions: lint, compile, render one spec."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from compiler import cache, gcpause, pack
from compiler.analysis import analyse, changed_meanwhile
from compiler.findings import Finding, has_errors
from compiler.graph import Graph, dag_graph, project_graph
from compiler.loader import load_file
from compiler.model import Analysis, Target
from compiler.output import Plan, plan, remove_dead_staging, render_file, write
from compiler.project import CONFIG_NAME, load_project
from compiler.render import UnsafeValue

#: more findings on the files a compile would change (name → text), before they are written
Gate = Callable[[Analysis, Plan], list[Finding]]


@dataclass
class CompileResult:
    analysis: Analysis
    plan: Plan | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)


def lint(root: Path, paths: Iterable[Path] = ()) -> list[Finding]:
    """Findings for `paths` (files or folders), or for the whole project when none are given
    or one of them is dagspec.yaml or a schema (`*.json`), which every spec depends on."""
    project = load_project(root)
    requested = [f.resolve() for p in paths for f in spec_files(p)]
    config = project.root / CONFIG_NAME
    shared = [f for f in requested if f == config or f.suffix == ".json"]
    files = [f for f in requested if f not in shared]  # the config is checked as the project's
    analysis = analyse(project, files)
    if not requested or shared:  # the config or a schema changes what every spec means
        return analysis.findings
    shown = {project.display(f) for f in requested}
    # what the artifact wiring finds can be caused by any spec (a promotion removed from an
    # abstract spec leaves another spec's dep dangling), so a subset lint reports it all
    return [f for f in analysis.findings if f.involves(shown) or f in analysis.across]


@gcpause.paused()
def compile_project(
    root: Path,
    *,
    out: Path | None = None,
    specs: Path | None = None,
    check: bool = False,
    only: str | None = None,
    gate: Gate | None = None,
) -> CompileResult:
    """Compile every spec; write nothing unless every spec is clean (and not in check mode).

    With the cache (compiler.cache) an unchanged project is neither parsed nor rendered again.
    `only`: just this spec's DAGs and the DAGs they read artifacts from; nothing is removed.
    `gate`: more findings on the files the compile would change, before anything is written
    (dagspec passes Airflow's own parser, see dagspec.airflow_check).
    """
    project = load_project(root)
    if specs is not None:
        project.config["specs_dir"] = (
            str(specs.resolve().relative_to(project.root))
            if specs.resolve().is_relative_to(project.root)
            else str(specs.resolve())
        )
    target_dir = out.resolve() if out is not None else project.output_dir
    if not check and target_dir.parent.is_dir():
        remove_dead_staging(target_dir)  # left by compiles that were killed
    result = CompileResult(analyse(project, save=False))
    try:
        _compile_analysed(result, target_dir, check=check, only=only, gate=gate)
    finally:
        if result.analysis.cache is not None:
            result.analysis.cache.save()
    return result


def _compile_analysed(
    result: CompileResult,
    target_dir: Path,
    *,
    check: bool,
    only: str | None,
    gate: Gate | None = None,
) -> None:
    project, store = result.analysis.project, result.analysis.cache
    result.findings = list(result.analysis.findings)
    if not result.ok:
        return
    targets = result.analysis.targets
    if only is not None:
        targets = _with_producers(result.analysis, only)
        if not targets:
            known = ", ".join(sorted({t.sources[0].name for t in result.analysis.targets}))
            result.findings.append(
                Finding(
                    "(--only)",
                    1,
                    1,
                    "DS202",
                    f"no spec named `{only}` compiles to a DAG",
                    suggestion=f"specs with DAGs: {known}",
                )
            )
            return
    project_root = _relative(project.root, target_dir)
    files = pack.files(targets, project.config, result.analysis.targets)
    for target in pack.dags(files):
        _finish(target, project_root)
    try:
        if store is not None:
            result.plan = plan(files, target_dir, prune=only is None, existing=store.existing)
            fingerprints = {**result.plan.fingerprints, **pack.member_fingerprints(files)}
            store.remember_fingerprints(pack.dags(files), fingerprints)
        else:
            result.plan = plan(files, target_dir, prune=only is None)
    except UnsafeValue as exc:
        result.findings.append(_unsafe(exc))
        return
    except cache.SourceChanged as exc:
        result.findings.append(changed_meanwhile(exc.file))
        return
    if gate is not None:
        result.findings += gate(result.analysis, result.plan)
        if not result.ok:
            return
    if check:
        return
    if result.plan.changed:
        try:
            _refuse_changed_sources(result, files)
        except cache.SourceChanged as exc:
            result.findings.append(changed_meanwhile(exc.file))
        if not result.ok:
            return
        had_folder = target_dir.is_dir()
        write(result.plan)
        if store is not None:  # a compile into an existing folder changed only what it names
            store.written(
                target_dir,
                result.plan.fingerprints,
                [*result.plan.files, *result.plan.removed] if had_folder else None,
            )


def select(analysis: Analysis, name: str) -> list[Target]:
    """The DAGs of the spec `name` (or the DAG with that id)."""
    return [t for t in analysis.targets if name in (t.name, t.sources[0].name)]


def _with_producers(analysis: Analysis, name: str) -> list[Target]:
    """The DAGs of spec `name` and, transitively, every DAG they read artifacts from."""
    by_name = {t.name: t for t in analysis.targets}
    chosen: dict[str, Target] = {}
    pending = select(analysis, name)
    while pending:
        target = pending.pop()
        if target.name not in chosen:
            chosen[target.name] = target
            pending += [by_name[n] for n in target.needs]
    return list(chosen.values())


def graph(root: Path, spec: str | None) -> tuple[Graph | None, list[Finding]]:
    """The picture of one spec's DAGs, or of the whole project's DAGs and artifacts."""
    analysis = analyse(load_project(root))
    if has_errors(analysis.findings):
        return None, analysis.findings
    if spec is None:
        return project_graph(analysis), analysis.findings
    name = _spec_name(Path(spec)) if Path(spec).is_file() else spec
    targets = select(analysis, name or spec)
    if not targets:
        message = f"no spec named `{spec}` compiles to a DAG"
        return None, [Finding("(graph)", 1, 1, "DS202", message)]
    return dag_graph(targets), analysis.findings


def render_spec(root: Path, spec_file: Path) -> tuple[str | None, list[Finding]]:
    """The text one spec compiles to, without writing anything."""
    project = load_project(root)
    analysis = analyse(project, [spec_file])
    shown = project.display(spec_file.resolve())
    if has_errors(analysis.findings):
        return None, analysis.findings
    for target in analysis.targets:
        if target.sources[0].doc.file == shown:
            _finish(target, _relative(project.root, project.output_dir))
            try:
                return render_file(target), analysis.findings
            except UnsafeValue as exc:
                return None, [*analysis.findings, _unsafe(exc, target)]
            except cache.SourceChanged as exc:
                return None, [*analysis.findings, changed_meanwhile(exc.file)]
    return None, analysis.findings


def _unsafe(exc: UnsafeValue, target: Target | None = None) -> Finding:
    """A value lint let through but no literal can hold: a dagspec bug, still reported at the
    spec rather than as a traceback (lint refuses NaN and infinity at their place)."""
    spec = target.sources[0].doc.file if target is not None else getattr(exc, "file", "(render)")
    return Finding(
        spec,
        1,
        1,
        "DS206",
        f"cannot write this spec as a DAG file: {exc}",
        suggestion="please report it; the value above has no Python literal",
    )


def _finish(target: Target, project_root: str) -> None:
    """What the DAG file needs once the whole project is known: the way back to the project
    root (its documentation is made when the file is rendered)."""
    target.project_root = project_root


def _relative(root: Path, out: Path) -> str:
    import os

    return Path(os.path.relpath(root, out)).as_posix()


def _refuse_changed_sources(result: CompileResult, targets: list[Target | pack.Pack]) -> None:
    """A spec edited while we compiled would make the output lie about its source."""
    assert result.plan is not None
    for target in targets:
        if f"{target.name}.py" not in result.plan.files:
            continue  # an unchanged file still matches the sources it was made from
        current = [_read(result.analysis.project.root / s.doc.file) for s in target.sources]
        if [s.doc.raw for s in target.sources] != current:
            result.findings.append(changed_meanwhile(target.sources[0].doc.file))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def spec_files(path: Path) -> list[Path]:
    """The spec files a path names: itself, or the YAML files in the folder and below."""
    if path.is_dir():
        return sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
    return [path]


def _spec_name(path: Path) -> str | None:
    doc, _ = load_file(path)
    meta = doc.data.get("metadata") if doc is not None and isinstance(doc.data, dict) else None
    return meta.get("name") if isinstance(meta, dict) else None
