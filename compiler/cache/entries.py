"""The cache's entries: each spec file's load and schema check, each spec's plan, and the
fingerprints of the DAG files planned, kept in an index of 256 shards under `.dagspec/cache/`.

An entry is found by a digest of everything its result depends on, never by time stamps:
- a file's load and schema check: the compiler (`store.tool`), the file's path as findings
  show it, and its bytes;
- a spec's plan: the compiler, the project config, and the bytes of the spec and of every spec
  it `extends` (so editing an abstract parent plans each child again).
A plan's DAG models are stored beside the index, in a models file per index shard (few files
to create: on some file systems creating a file costs more than writing it), and read only when
a DAG file must be rendered again; whether it must is known from the fingerprint recorded for
the same plan and the same wiring. Entries no compile used are dropped when the cache is saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypedDict

from compiler.cache.documents import LazyDocument
from compiler.cache.files import OutputStates, SpecStates, state_of
from compiler.cache.store import FOLDER, dumps, key_of, loads, read, tool, write
from compiler.dag import Dag
from compiler.findings import Finding
from compiler.findings import Path as SpecPath
from compiler.model import Analysis, Artifact, Extends, Project, Spec, Target

SHARD = 2  # hex digits of a key that name its index shard: 256 shards, one edit rewrites one
MODELS = "model-shards"  # {plan key: [pickled DAG models]} per shard, beside `index`
LEGACY_MODELS = "models"  # one file per plan key, as earlier versions stored them: removed

#: (spec if structurally valid, findings, the name it means to have, (file, text) if readable)
Loaded = tuple[Spec | None, list[Finding], str, tuple[str, str] | None]
LoadAll = Callable[[Project, list[Path], list[str]], list[Loaded]]
Planned = list[tuple[Target | None, list[Finding]]]
#: a kind's `plan(spec, analysis)` (compiler.kinds)
Plan = Callable[[Spec, Analysis], Planned]
#: a file's entry: the spec's name, its kind (None: not a valid spec, then its findings), whether
#: its text was readable, its `extends`, and whether it holds inline ignores
FileEntry = tuple[str, str | None, tuple[Finding, ...], bool, Extends, bool]
#: an artifact in a plan entry: path, task, the spec of the chain that declares it, where
ArtifactEntry = tuple[str, str, int, SpecPath]
#: a planned DAG without its model: name, template, its sources (places in the chain), task
#: order, produces, consumes, schedule, tasks, and the place of its model in the models file
TargetEntry = tuple[
    str,
    str,
    list[int],
    dict[str, int],
    list[ArtifactEntry],
    list[ArtifactEntry],
    str | None,
    dict[str, str | None],
    int,
]


class PlanEntry(TypedDict):
    results: list[tuple[TargetEntry | None, tuple[Finding, ...]]]
    #: output fingerprints by the DAG's links (`Target.links`)
    fingerprints: dict[str, str]


class Cache:
    """One project's cache: the index (file and plan entries), the DAG models beside it, and
    the states of the spec and output files."""

    def __init__(self, project: Project) -> None:
        self.folder = project.root / FOLDER
        self.tool = tool()
        self.config = key_of(self.tool, json.dumps(project.config, sort_keys=True, default=str))
        self.files: dict[str, FileEntry] = {}
        self.plans: dict[str, PlanEntry] = {}
        self.foreign: list[Path] = []  # shards of another compiler version
        for path in sorted((self.folder / "index").glob("*.pickle")):
            shard = read(path)
            if (
                isinstance(shard, dict)
                and shard.get("tool") == self.tool
                and isinstance(shard.get("files"), dict)
                and isinstance(shard.get("plans"), dict)
            ):
                self.files.update(shard["files"])
                self.plans.update(shard["plans"])
            else:
                self.foreign.append(path)
        self.used_files: set[str] = set()
        self.used_plans: set[str] = set()
        self.changed: set[str] = set()  # shards (key prefixes) with new or changed entries
        self.models: dict[str, list[bytes]] = {}  # plan key → pickled models to store
        self.stored_models: dict[str, dict[str, list[bytes]]] = {}  # shards read, by shard
        self.root = str(project.root) + os.sep
        self.states = SpecStates(self.folder, self.tool)
        self.outputs = OutputStates(self.folder)
        self.hits = self.misses = 0

    # -- loading and schema checks ------------------------------------------------------------

    def load(
        self, project: Project, files: list[Path], kinds: list[str], load_all: LoadAll
    ) -> list[Loaded]:
        """Like `load_all`, from the cache where a file's bytes are known; a file is read and
        hashed only when its state differs from the one recorded with its digest (see
        compiler.cache.files)."""
        out: list[Loaded | None] = [None] * len(files)
        missing: list[int] = []
        keys: dict[int, tuple[str, bytes]] = {}
        prefix, sha256, states = key_of(self.tool, *kinds), hashlib.sha256, self.states
        for i, path in enumerate(files):
            text = str(path)
            display = (
                text[len(self.root) :] if text.startswith(self.root) else project.display(path)
            )
            try:
                state = state_of(os.stat(text))
            except OSError:
                missing.append(i)
                continue
            raw: bytes | None = None
            entry: FileEntry | None = None
            digest = states.digest(text, state)
            if digest is not None:
                key = sha256(f"{prefix}\0{display}\0{digest}".encode()).hexdigest()
                entry = self.files.get(key)
                if entry is not None and entry[5]:  # its text is needed: read it
                    entry = None
            if entry is None or digest is None:
                try:
                    raw = path.read_bytes()
                except OSError:
                    missing.append(i)
                    continue
                digest = sha256(raw).hexdigest()
                states.record(text, state, digest)
                key = sha256(f"{prefix}\0{display}\0{digest}".encode()).hexdigest()
                entry = self.files.get(key)
            states.seen.add(text)
            if entry is None:
                missing.append(i)
                if raw is not None:
                    keys[i] = (key, raw)
                continue
            self.used_files.add(key)
            out[i] = _loaded(entry, display, text, raw, digest)
        self.hits += len(files) - len(missing)
        self.misses += len(missing)
        for i, loaded in zip(
            missing, load_all(project, [files[i] for i in missing], kinds), strict=True
        ):
            out[i] = loaded
            if i in keys:
                self._remember_file(*keys[i], loaded)
        return [loaded for loaded in out if loaded is not None]

    def _remember_file(self, key: str, raw: bytes, loaded: Loaded) -> None:
        spec, findings, name, source = loaded
        if source is None or source[1].encode("utf-8") != raw:
            return  # unreadable, or changed since it was hashed: nothing to reuse
        ignores = "ignore[" in source[1]  # as compiler.ignores looks for them
        if spec is None:
            entry: FileEntry = (name, None, tuple(findings), True, (False, None), ignores)
        else:
            entry = (name, spec.kind, (), True, spec.extends, ignores)
        self.files[key] = entry
        self.used_files.add(key)
        self.changed.add(key[:SHARD])

    # -- plans ----------------------------------------------------------------------------------

    def plan(self, spec: Spec, analysis: Analysis, plan: Plan) -> Planned:
        """The kind's `plan` of `spec`, from the cache when the spec and its parents are known."""
        chain = _chain(spec, analysis)
        if chain is None:  # a broken `extends`: its findings name other specs, plan afresh
            return plan(spec, analysis)
        key = hashlib.sha256(
            "\0".join([self.config, *(f"{s.doc.file}\0{s.digest}" for s in chain)]).encode()
        ).hexdigest()
        entry = self.plans.get(key)
        if entry is not None:
            self.used_plans.add(key)
            self.hits += 1
            return [
                (
                    None
                    if lite is None
                    else self._target(key, lite, chain, entry, spec, analysis, plan),
                    list(findings),
                )
                for lite, findings in entry["results"]
            ]
        self.misses += 1
        results = plan(spec, analysis)
        self._remember_plan(key, chain, results)
        return results

    def _target(
        self,
        key: str,
        lite: TargetEntry,
        chain: list[Spec],
        entry: PlanEntry,
        spec: Spec,
        analysis: Analysis,
        plan: Plan,
    ) -> Target:
        """A planned DAG rebuilt from its entry; its model is read when first needed."""
        name, template, sources, order, produces, consumes, schedule, tasks, index = lite
        return Target(
            name,
            template,
            [chain[i] for i in sources],
            self._model_loader(key, index, spec, name, analysis, plan),
            schedule,
            tasks,
            order=order,
            produces=[Artifact(p, t, chain[s], at) for p, t, s, at in produces],
            consumes=[Artifact(p, t, chain[s], at) for p, t, s, at in consumes],
            cache_key=key,
            recorded=entry["fingerprints"],
        )

    def _model_loader(
        self,
        key: str,
        index: int,
        spec: Spec,
        name: str,
        analysis: Analysis,
        plan: Plan,
    ) -> Callable[[], Dag]:
        def load() -> Dag:
            models = self._stored_models(key[:SHARD]).get(key)
            if isinstance(models, list) and index < len(models):
                model = loads(models[index])
                if isinstance(model, Dag):
                    return model
            for target, _ in plan(spec, analysis):  # lost: plan it again
                if target is not None and target.name == name:
                    return target.dag
            raise RuntimeError(f"spec {spec.name} no longer plans DAG {name}")

        return load

    def _remember_plan(self, key: str, chain: list[Spec], results: Planned) -> None:
        places = {id(s): i for i, s in enumerate(chain)}
        stored: list[tuple[TargetEntry | None, tuple[Finding, ...]]] = []
        models: list[bytes] = []
        for target, findings in results:
            if target is None:
                stored.append((None, tuple(findings)))
                continue
            if (
                target.assets_in
                or target.outlets
                or target.needs
                or not all(id(a.spec) in places for a in [*target.produces, *target.consumes])
                or not all(id(s) in places for s in target.sources)
            ):
                return  # planned with more than the chain: not safe to reuse
            lite: TargetEntry = (
                target.name,
                target.template,
                [places[id(s)] for s in target.sources],
                dict(target.order),
                [(a.path, a.task, places[id(a.spec)], a.at) for a in target.produces],
                [(a.path, a.task, places[id(a.spec)], a.at) for a in target.consumes],
                target.schedule,
                dict(target.tasks),
                len(models),
            )
            stored.append((lite, tuple(findings)))
            models.append(dumps(target.dag))
            target.cache_key = key
        fingerprints: dict[str, str] = {}
        for target, _ in results:
            if target is not None:
                target.recorded = fingerprints
        self.plans[key] = {"results": stored, "fingerprints": fingerprints}
        self.models[key] = models
        self.used_plans.add(key)
        self.changed.add(key[:SHARD])

    def _stored_models(self, shard: str) -> dict[str, list[bytes]]:
        """The models stored in one shard's file (read once per compile; damaged: none)."""
        found = self.stored_models.get(shard)
        if found is None:
            data = read(self.folder / MODELS / f"{shard}.pickle")
            found = self.stored_models[shard] = data if isinstance(data, dict) else {}
        return found

    def remember_fingerprints(self, targets: list[Target], fingerprints: dict[str, str]) -> None:
        """Record each DAG file's fingerprint under its plan and its links."""
        for target in targets:
            key = target.cache_key
            fp = fingerprints.get(f"{target.name}.py")
            if key is None or fp is None or key not in self.plans:
                continue
            links = target.links()
            known = target.recorded
            if known.get(links) != fp:
                while len(known) >= 4:  # a DAG is wired a few ways at most; drop the oldest
                    known.pop(next(iter(known)))
                known[links] = fp
                self.changed.add(key[:SHARD])

    # -- output files ---------------------------------------------------------------------------

    def existing(self, path: Path) -> str | None:
        """The fingerprint in the DAG file at `path` (see `OutputStates.existing`)."""
        return self.outputs.existing(path)

    def written(
        self, out: Path, fingerprints: dict[str, str], names: Iterable[str] | None = None
    ) -> None:
        """After a write into `out` (see `OutputStates.written`)."""
        self.outputs.written(out, fingerprints, names)

    # -- saving ---------------------------------------------------------------------------------

    def save(self) -> None:
        """Store new entries and drop those no longer used, rewriting only the index shards
        that changed; a read-only project stores nothing."""
        stale_files = self.files.keys() - self.used_files
        stale_plans = self.plans.keys() - self.used_plans
        shards = self.changed | {k[:SHARD] for k in stale_files} | {k[:SHARD] for k in stale_plans}
        try:
            self._save_models(stale_plans)
            for path in self.foreign:
                path.unlink(missing_ok=True)
            self.foreign = []
            for shard in sorted(shards):
                files = {
                    k: self.files[k]
                    for k in self.used_files
                    if k.startswith(shard) and k in self.files
                }
                plans = {
                    k: self.plans[k]
                    for k in self.used_plans
                    if k.startswith(shard) and k in self.plans
                }
                write(
                    self.folder / "index" / f"{shard}.pickle",
                    {"tool": self.tool, "files": files, "plans": plans},
                )
            for key in stale_files:
                del self.files[key]
            for key in stale_plans:
                del self.plans[key]
            self.changed = set()
            self.outputs.save()
            self.states.save()
        except OSError:
            pass  # the cache only saves time; without it the next compile is a cold one

    def _save_models(self, stale_plans: set[str]) -> None:
        """Rewrite the models file of each shard with new models or dropped plans."""
        new: dict[str, dict[str, list[bytes]]] = {}
        for key, models in self.models.items():
            new.setdefault(key[:SHARD], {})[key] = models
        for shard in sorted(new.keys() | {k[:SHARD] for k in stale_plans}):
            kept = {k: v for k, v in self._stored_models(shard).items() if k in self.used_plans}
            kept.update(new.get(shard, {}))
            write(self.folder / MODELS / f"{shard}.pickle", kept)
            self.stored_models[shard] = kept
        self.models = {}
        legacy = self.folder / LEGACY_MODELS
        if legacy.is_dir():
            shutil.rmtree(legacy, ignore_errors=True)


def _loaded(entry: FileEntry, display: str, path: str, raw: bytes | None, digest: str) -> Loaded:
    """What loading a file gave, rebuilt from its entry (the file is parsed only if its data is
    asked for, and read only if its bytes are)."""
    name, kind, findings, has_source, extends, ignores = entry
    doc = LazyDocument(display, raw, path, digest)
    # the text serves only the inline ignores: read it for files that have any
    source = (display, doc.raw.decode("utf-8") if ignores else "") if has_source else None
    if kind is None:
        return None, list(findings), name, source
    return Spec(doc, kind, name, extends, digest), [], name, source


def _chain(spec: Spec, analysis: Analysis) -> list[Spec] | None:
    """The spec and the specs it extends, or None when `extends` does not resolve cleanly
    (the kind then reports it, naming other specs of the project)."""
    chain = [spec]
    has, parent_name = spec.extends
    while has:
        parent = analysis.specs.get(parent_name)
        if (
            parent_name in analysis.broken
            or parent is None
            or parent.kind != "Entity"
            or any(parent is s for s in chain)
        ):
            return None
        chain.append(parent)
        has, parent_name = parent.extends
    return chain


# -- the project config -------------------------------------------------------------------------


def _config_path(root: Path) -> Path:
    return root / FOLDER / "project.pickle"


def known_config(root: Path, raw: bytes) -> dict[str, object] | None:
    """The checked config (defaults applied) of the `dagspec.yaml` whose bytes are `raw`, when
    the cache holds it."""
    known = read(_config_path(root))
    if (
        isinstance(known, tuple)
        and len(known) == 2
        and known[0] == key_of(tool(), "project", raw)
        and isinstance(known[1], dict)
    ):
        return known[1]
    return None


def remember_config(root: Path, raw: bytes, config: dict[str, object]) -> None:
    """Keep the checked config of a clean `dagspec.yaml` (a read-only project keeps nothing)."""
    with contextlib.suppress(OSError):
        write(_config_path(root), (key_of(tool(), "project", raw), config))
