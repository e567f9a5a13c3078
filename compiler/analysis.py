"""Analysis of a whole project: load every spec, validate it, check meaning across specs.

Every finding of every file is collected; nothing stops at the first error. Specs whose
structure is broken are left out of the cross-spec checks, so one typo does not cascade.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from compiler import cache, command_fields, gcpause, ignores
from compiler.artifacts import wire
from compiler.findings import Finding, Severity, format_path
from compiler.kinds import KINDS
from compiler.lifeline import die_with_parent
from compiler.loader import Document, load_file
from compiler.model import Analysis, Project, Spec, Target
from compiler.validate import kind_of, validate


@gcpause.paused()
def analyse(
    project: Project, extra_files: Iterable[Path] = (), *, use_cache: bool = True, save: bool = True
) -> Analysis:
    """Load and check the project's specs (plus `extra_files`), then plan the DAG files.

    With the cache (compiler.cache) unchanged specs are neither parsed nor planned again;
    the checks across specs run over all of them either way. `save=False`: the caller saves
    the cache (`result.cache.save()`) once it has added what it learnt.
    """
    result = Analysis(project)
    store = cache.Cache(project) if use_cache and cache.enabled() else None
    result.cache = store
    result.add(project.findings)
    unchecked: set[str] = set()  # files whose spec was not checked through
    files = list(dict.fromkeys([*project.spec_files(), *(p.resolve() for p in extra_files)]))
    kinds = list(KINDS)
    loaded = (
        store.load(project, files, kinds, _load_all) if store else _load_all(project, files, kinds)
    )
    for spec, findings, name, source in loaded:
        result.add(findings)
        if source is not None:
            result.texts[source[0]] = source[1]  # the cache gives "" to a file without ignores
        if spec is None:
            result.broken.add(name)
            if source is not None:
                unchecked.add(source[0])
            continue
        if spec.name in result.specs:
            result.add(_duplicate_name(result.specs[spec.name], spec))
            unchecked.add(spec.doc.file)
            continue
        result.specs[spec.name] = spec
    try:
        for kind in KINDS.values():
            kind.check_project(result)
        for spec in result.specs.values():
            plan = KINDS[spec.kind].plan
            planned = store.plan(spec, result, plan) if store else plan(spec, result)
            for target, findings in planned:
                result.add(findings)
                if target is not None:
                    result.targets.append(target)
        before = len(result.findings)
        wire(result)
        result.across = {f for f in result.findings[before:] if f.severity is Severity.ERROR}
        result.add(long_ids(result.targets))
    except cache.SourceChanged as exc:  # a file the cache vouched for was edited meanwhile
        result.targets = []
        result.add([changed_meanwhile(exc.file)])
    result.findings = sorted(_merged(ignores.apply(result.findings, result.texts, unchecked)))
    if store and save:
        store.save()
    return result


#: Airflow's limit on a DAG id, task id or task group id (airflow.sdk ... validate_key)
ID_LIMIT = 250


def long_ids(targets: Iterable[Target]) -> list[Finding]:
    """DS106 for a final DAG or task id (task group prefix included) longer than Airflow takes,
    at the spec value that makes it longest."""
    findings = []
    for target in targets:
        spec = target.sources[0]
        for made in [target.name, *target.tasks]:
            if len(made) <= ID_LIMIT:
                continue
            what = "DAG id" if made == target.name else "task id"
            path = _longest_part(spec.doc.data, made) or ("metadata", "name")
            findings.append(
                spec.finding(
                    path,
                    "DS106",
                    f"the {what} `{made[:60]}...` is {len(made)} characters long; "
                    f"Airflow takes at most {ID_LIMIT}",
                    "shorten the names that make up the id (group_by fields, step, phase and "
                    "module names)",
                )
            )
            break  # one finding per DAG: the first id too long names the value to shorten
    return findings


def _longest_part(data: object, made: str, path: tuple = ()) -> tuple | None:
    """The path of the longest string value of the spec that the id is made from."""
    best: tuple[int, tuple] | None = None
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        if (
            isinstance(value, str)
            and len(value) > 3
            and value.replace("-", "_") in made.replace("-", "_")
        ):
            found: tuple | None = (*path, key)
        else:
            found = (
                _longest_part(value, made, (*path, key))
                if isinstance(value, (dict, list))
                else None
            )
        if found is not None:
            length = len(str(_get(data, found[len(path) :])))
            if best is None or length > best[0]:
                best = (length, found)
    return best[1] if best else None


def _get(data: object, path: tuple) -> object:
    for part in path:
        data = data[part]  # type: ignore[index]
    return data


def _command_templates(doc: Document) -> list[Finding]:
    """DS105 for a `command_template` the runtime could not render (compiler.command_fields)."""
    findings = []
    for i, step in enumerate(doc.data["spec"].get("steps") or []):
        config = step.get("config") or {}
        why = command_fields.problem(
            config["command_template"], config.get("parameters") or {}, step.get("group_by") or []
        )
        if why is not None:
            path = ("spec", "steps", i, "config", "command_template")
            line, col = doc.marks.locate(path)
            findings.append(
                Finding(
                    doc.file,
                    line,
                    col,
                    "DS105",
                    f"the command template cannot be rendered: {why}",
                    format_path(path),
                    "use the fields listed in the schema; write a literal brace twice",
                )
            )
    return findings


def changed_meanwhile(file: str) -> Finding:
    """DS009: the output would not match the spec as it is now."""
    return Finding(
        file,
        1,
        1,
        "DS009",
        "the spec changed while it was being compiled",
        suggestion="run the compile again",
    )


def _duplicate_name(first: Spec, again: Spec) -> list[Finding]:
    """DS201 on both specs, each naming the other: either file alone shows the clash."""
    at = ("metadata", "name")
    return [
        spec.finding(
            at,
            "DS201",
            f"the name `{spec.name}` (the DAG id) is also defined at {other.where(at)}",
            "give each spec its own `metadata.name`",
        ).with_related(other.place(at))
        for spec, other in ((again, first), (first, again))
    ]


def _merged(findings: list[Finding]) -> list[Finding]:
    """Each finding once (an abstract spec's error is found again for every entity extending
    it), with the related places of all its copies."""
    places: dict[Finding, list[tuple[str, int, int]]] = {}
    for finding in findings:
        places.setdefault(finding, []).extend(finding.related)
    return [f if not extra else f.with_related(*extra) for f, extra in places.items()]


#: (spec if structurally valid, findings, the name it means to have, (file, text) if readable)
Loaded = tuple[Spec | None, list[Finding], str, tuple[str, str] | None]
PARALLEL_FROM = 200  # files; below this, starting worker processes costs more than it saves


def _load_all(project: Project, files: list[Path], kinds: list[str]) -> list[Loaded]:
    """Load and validate every file, on every core when there are many (results in order)."""
    workers = min(os.cpu_count() or 1, 8)
    if len(files) < PARALLEL_FROM or workers < 2:
        return [_load_spec(project, path, kinds) for path in files]
    chunks = [files[i::workers] for i in range(workers)]
    context = multiprocessing.get_context("fork")
    # Workers end with the compiler, also when it is killed with SIGKILL (see compiler/lifeline).
    # This process loads the first share itself meanwhile: one worker fewer to start, and one
    # share fewer to send back through a pipe.
    with ProcessPoolExecutor(
        workers - 1, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        others = [pool.submit(_load_chunk, (project, chunk, kinds)) for chunk in chunks[1:]]
        parts = [_load_chunk((project, chunks[0], kinds)), *(f.result() for f in others)]
    by_path = {
        path: loaded
        for chunk, part in zip(chunks, parts, strict=True)
        for path, loaded in zip(chunk, part, strict=True)
    }
    return [by_path[path] for path in files]


def _load_chunk(job: tuple[Project, list[Path], list[str]]) -> list[Loaded]:
    project, paths, kinds = job
    return [_load_spec(project, path, kinds) for path in paths]


def _load_spec(project: Project, path: Path, kinds: list[str]) -> Loaded:
    """Load and validate one file (see `Loaded`; the text serves the inline ignores)."""
    doc, findings = load_file(path, project.display(path))
    if doc is None:
        return None, findings, "", None
    source = (doc.file, doc.raw.decode("utf-8"))
    meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
    name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
    kind, kind_findings = kind_of(doc, kinds)
    findings += kind_findings
    if kind is not None:
        findings += validate(doc, kind)
    if kind == "ReductionPipeline" and not findings:
        findings += _command_templates(doc)
    if kind is None or findings:
        return None, findings, name, source
    return Spec.of(doc, kind), findings, name, source
