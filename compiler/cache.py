"""Incremental analysis: each spec's load, schema check and plan, kept under `.dagspec/cache/`.

An entry is found by a digest of everything its result depends on, never by time stamps:
- a file's load and schema check: the compiler (its sources, schemas, templates), the file's
  path as findings show it, and its bytes;
- a spec's plan: the compiler, the project config, and the bytes of the spec and of every spec
  it `extends` (so editing an abstract parent plans each child again).
The project-wide checks (duplicate names, the entity list, artifact wiring, cycles) still run
over every spec on every analysis, fed from the entries. A DAG's full model is stored in a file
of its own and read only when the DAG file must be rendered again; whether it must is known
from the fingerprint recorded for the same plan and the same wiring.

Safe to delete. Every write is a temporary file renamed into place, so concurrent compiles see
whole entries; an entry that cannot be read is a miss. Only plain data and the compiler's own
value types unpickle, so no code runs from the cache. `DAGSPEC_CACHE=0` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from compiler import dag as dag_types
from compiler import project as project_module
from compiler import stamp
from compiler.dag import Dag
from compiler.findings import Finding
from compiler.loader import Document, load_bytes
from compiler.model import Analysis, Artifact, Spec, Target
from compiler.output import existing_fingerprint
from compiler.project import CONFIG_NAME, Project

VERSION = "3"
RACY_SECONDS = 2.0  # a file state this young may still change within the same clock tick
SHARD = 2  # hex digits of a key that name its index shard: 256 shards, one edit rewrites one
FOLDER = Path(".dagspec") / "cache"
_ALLOWED = {
    ("compiler.findings", "Finding"),
    ("compiler.findings", "Severity"),
    ("compiler.render", "Code"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    *(("compiler.dag", name) for name in dag_types.__all__),
}

Loaded = tuple[Spec | None, list[Finding], str, tuple[str, str] | None]
LoadAll = Callable[[Project, list[Path], list[str]], list[Loaded]]
Kinds = dict[str, Any]


def enabled() -> bool:
    return os.environ.get("DAGSPEC_CACHE", "1") not in ("0", "off", "no", "false")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in the cache")
        return super().find_class(module, name)


def _read(path: Path) -> Any:
    """The object stored at `path`, or None when it is missing or unreadable in any way."""
    try:
        with path.open("rb") as handle:
            return _Unpickler(io.BufferedReader(handle)).load()
    except Exception:  # a damaged entry is a miss
        return None


def _write(path: Path, value: Any) -> None:
    """Write atomically: a reader sees the old file or the new one, never part of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


class SourceChanged(Exception):
    """A spec file whose bytes are no longer those the cache knew it by: it changed while the
    compile ran (see `_LazyDocument.raw`)."""

    def __init__(self, file: str) -> None:
        super().__init__(file)
        self.file = file


class _LazyDocument(Document):
    """A document whose data and source map are parsed from its bytes only when asked for; the
    bytes themselves are read only when asked for when the file's state vouched for them."""

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(
        self,
        file: str,
        raw: bytes | None,
        path: str = "",
        digest: str = "",
    ) -> None:
        self.file, self._raw, self._doc, self._path, self._digest = file, raw, None, path, digest

    @property
    def raw(self) -> bytes:  # type: ignore[override]
        if self._raw is None:
            try:
                raw = Path(self._path).read_bytes()
            except OSError:
                raise SourceChanged(self.file) from None
            if hashlib.sha256(raw).hexdigest() != self._digest:
                raise SourceChanged(self.file)
            self._raw = raw
        return self._raw

    def _load(self) -> Document:
        if self._doc is None:
            doc, _ = load_bytes(self.raw, self.file)
            if doc is None:  # the entry said these bytes load; they always do
                raise RuntimeError(f"{self.file} no longer loads")
            self._doc = doc
        return self._doc

    @property
    def data(self) -> Any:  # type: ignore[override]
        return self._load().data

    @property
    def marks(self) -> Any:  # type: ignore[override]
        return self._load().marks


class CachedSpec(Spec):
    """A valid spec known from the cache: name, kind and `extends` without parsing the file."""

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(
        self, doc: Document, kind: str, name: str, extends: tuple[bool, Any], digest: str
    ) -> None:
        self.doc, self.kind, self._name, self.extends, self.digest = (
            doc,
            kind,
            name,
            extends,
            digest,
        )

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._name


def _extends(spec: Spec) -> tuple[bool, Any]:
    if isinstance(spec, CachedSpec):
        return spec.extends
    if spec.kind != "Entity" or "extends" not in spec.body:
        return (False, None)
    return (True, spec.body["extends"])


def _digest(spec: Spec) -> str:
    return spec.digest if isinstance(spec, CachedSpec) else hashlib.sha256(spec.doc.raw).hexdigest()


class Cache:
    """One project's cache: the index (file and plan entries) and the DAG models beside it."""

    def __init__(self, project: Project) -> None:
        self.folder = project.root / FOLDER
        self.tool = _sha(VERSION, stamp.tool_digest())
        self.config = _sha(self.tool, json.dumps(project.config, sort_keys=True, default=str))
        self.files: dict[str, tuple] = {}
        self.plans: dict[str, dict[str, Any]] = {}
        self.foreign: list[Path] = []  # shards of another compiler version
        for path in sorted((self.folder / "index").glob("*.pickle")):
            shard = _read(path)
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
        self.models: dict[str, list[tuple]] = {}  # plan key → models to store
        self.root = str(project.root) + os.sep
        stats = _read(self.folder / "states.pickle")
        self.stats: dict[str, tuple] = (
            stats[1]
            if isinstance(stats, tuple)
            and len(stats) == 2
            and stats[0] == self.tool
            and isinstance(stats[1], dict)
            else {}
        )
        self.stats_dirty = False
        self.seen_paths: set[str] = set()
        outputs = _read(self.folder / "outputs.pickle")
        self.outputs: dict[str, tuple] = outputs if isinstance(outputs, dict) else {}
        self.outputs_dirty = False
        self.hits = self.misses = 0

    # -- loading and schema checks ------------------------------------------------------------

    def load(
        self, project: Project, files: list[Path], kinds: list[str], load_all: LoadAll
    ) -> list[Loaded]:
        """Like `load_all`, from the cache where a file's bytes are known.

        A file is read and hashed only when its state (inode, size, modification and change
        time) differs from the one recorded with its digest. The change time moves on every
        write, even one that keeps the size and puts the modification time back; a state is
        recorded only once its change time is `RACY_SECONDS` old, so a write within the same
        clock tick as the recorded read cannot hide either (git's "racy clean" rule)."""
        out: list[Loaded | None] = [None] * len(files)
        missing: list[int] = []
        keys: dict[int, tuple[str, bytes, str]] = {}
        prefix, sha256 = _sha(self.tool, *kinds), hashlib.sha256
        stats, settled = self.stats, time.time_ns() - int(RACY_SECONDS * 1e9)
        for i, path in enumerate(files):
            text = str(path)
            display = (
                text[len(self.root) :] if text.startswith(self.root) else project.display(path)
            )
            try:
                info = os.stat(text)
            except OSError:
                missing.append(i)
                continue
            state = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
            known = stats.get(text)
            raw: bytes | None = None
            trusted = known is not None and known[:4] == state
            if trusted:
                digest = known[4]
                key = sha256(f"{prefix}\0{display}\0{digest}".encode()).hexdigest()
                entry = self.files.get(key)
                trusted = entry is not None and not entry[5]  # its text is needed: read it
            if not trusted:
                try:
                    raw = path.read_bytes()
                except OSError:
                    missing.append(i)
                    continue
                digest = sha256(raw).hexdigest()
                if info.st_ctime_ns < settled:
                    stats[text] = (*state, digest)
                    self.stats_dirty = True
                elif known is not None:
                    del stats[text]
                    self.stats_dirty = True
                key = sha256(f"{prefix}\0{display}\0{digest}".encode()).hexdigest()
                entry = self.files.get(key)
            self.seen_paths.add(text)
            if entry is None:
                missing.append(i)
                if raw is not None:
                    keys[i] = (key, raw, digest)
                continue
            self.used_files.add(key)
            out[i] = self._loaded(entry, display, text, raw, digest)
        self.hits += len(files) - len(missing)
        self.misses += len(missing)
        for i, loaded in zip(
            missing, load_all(project, [files[i] for i in missing], kinds), strict=True
        ):
            out[i] = loaded
            if i in keys:
                self._remember_file(keys[i], loaded)
        return out  # type: ignore[return-value]

    def _loaded(
        self, entry: tuple, display: str, path: str, raw: bytes | None, digest: str
    ) -> Loaded:
        name, kind, findings, has_source, extends, ignores = entry
        doc = _LazyDocument(display, raw, path, digest)
        # the text serves only the inline ignores: read it for files that have any
        source = (display, doc.raw.decode("utf-8") if ignores else "") if has_source else None
        if kind is None:
            return None, list(findings), name, source
        return CachedSpec(doc, kind, name, extends, digest), [], name, source

    def _remember_file(self, key: tuple[str, bytes, str], loaded: Loaded) -> None:
        spec, findings, name, source = loaded
        file_key, raw, _ = key
        if source is None or source[1].encode("utf-8") != raw:
            return  # unreadable, or changed since it was hashed: nothing to reuse
        ignores = "ignore[" in source[1]  # as compiler.ignores looks for them
        if spec is None:
            entry = (name, None, tuple(findings), True, (False, None), ignores)
        else:
            entry = (name, spec.kind, (), True, _extends(spec), ignores)
        self.files[file_key] = entry
        self.used_files.add(file_key)
        self.changed.add(file_key[:SHARD])

    # -- plans ----------------------------------------------------------------------------------

    def plan(
        self, spec: Spec, analysis: Analysis, kinds: Kinds
    ) -> list[tuple[Target | None, list[Finding]]]:
        """The kind's plan of `spec`, from the cache when the spec and its parents are known."""
        chain = _chain(spec, analysis)
        if chain is None:  # a broken `extends`: its findings name other specs, plan afresh
            return kinds[spec.kind].plan(spec, analysis)
        key = hashlib.sha256(
            "\0".join([self.config, *(f"{s.doc.file}\0{_digest(s)}" for s in chain)]).encode()
        ).hexdigest()
        entry = self.plans.get(key)
        if entry is not None:
            self.used_plans.add(key)
            self.hits += 1
            return [
                (
                    None
                    if lite is None
                    else self._target(key, lite, chain, entry, spec, analysis, kinds),
                    list(findings),
                )
                for lite, findings in entry["results"]
            ]
        self.misses += 1
        results = kinds[spec.kind].plan(spec, analysis)
        self._remember_plan(key, chain, results)
        return results

    def _target(
        self,
        key: str,
        lite: tuple,
        chain: list[Spec],
        entry: dict[str, Any],
        spec: Spec,
        analysis: Analysis,
        kinds: Kinds,
    ) -> Target:
        """A planned DAG rebuilt from its entry; its model is read when first needed."""
        name, template, sources, order, produces, consumes, schedule, tasks, index = lite
        return Target(
            name,
            template,
            [chain[i] for i in sources],
            self._model_loader(key, index, spec, name, analysis, kinds),
            schedule,
            tasks,
            order=order,
            produces=[Artifact(p, t, chain[s], at) for p, t, s, at in produces],
            consumes=[Artifact(p, t, chain[s], at) for p, t, s, at in consumes],
            cache_key=key,
            recorded=entry["fingerprints"],
        )

    def _model_loader(
        self, key: str, index: int, spec: Spec, name: str, analysis: Analysis, kinds: Kinds
    ) -> Callable[[], Dag]:
        def load() -> Dag:
            models = _read(self._model_path(key))
            if isinstance(models, list) and index < len(models):
                model = _loads(models[index])
                if isinstance(model, Dag):
                    return model
            for target, _ in kinds[spec.kind].plan(spec, analysis):  # lost: plan it again
                if target is not None and target.name == name:
                    return target.dag
            raise RuntimeError(f"spec {spec.name} no longer plans DAG {name}")

        return load

    def _remember_plan(
        self, key: str, chain: list[Spec], results: list[tuple[Target | None, list[Finding]]]
    ) -> None:
        places = {id(s): i for i, s in enumerate(chain)}
        stored, models = [], []
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
            lite = (
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
            models.append(pickle.dumps(target.dag, protocol=pickle.HIGHEST_PROTOCOL))
            target.cache_key = key
        fingerprints: dict[str, str] = {}
        for target, _ in results:
            if target is not None:
                target.recorded = fingerprints
        self.plans[key] = {"results": stored, "fingerprints": fingerprints}
        self.models[key] = models
        self.used_plans.add(key)
        self.changed.add(key[:SHARD])

    def _model_path(self, key: str) -> Path:
        return self.folder / "models" / key[:2] / f"{key}.pickle"

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
        """`output.existing_fingerprint`, skipped when the file has not changed since it was
        last read or written (same inode, size and modification time)."""
        try:
            info = path.stat()
        except OSError:
            return None
        state = (info.st_ino, info.st_size, info.st_mtime_ns)
        known = self.outputs.get(str(path))
        if known is not None and known[0] == state:
            return known[1]
        found = existing_fingerprint(path)
        if found is not None:
            self.outputs[str(path)] = (state, found)
            self.outputs_dirty = True
        return found

    def written(
        self, out: Path, fingerprints: dict[str, str], names: Iterable[str] | None = None
    ) -> None:
        """After a write: the state of every DAG file now in `out` (and none of those gone);
        with `names`, only those files were written or removed."""
        folder = str(out) + os.sep
        if names is None:
            self.outputs = {k: v for k, v in self.outputs.items() if not k.startswith(folder)}
        else:
            names = list(names)
            for name in names:
                self.outputs.pop(str(out / name), None)
            fingerprints = {n: fingerprints[n] for n in names if n in fingerprints}
        for name, fp in fingerprints.items():
            path = out / name
            try:
                info = path.stat()
            except OSError:
                continue
            self.outputs[str(path)] = ((info.st_ino, info.st_size, info.st_mtime_ns), fp)
        self.outputs_dirty = True

    # -- saving ---------------------------------------------------------------------------------

    def save(self) -> None:
        """Store new entries and drop those no longer used, rewriting only the index shards
        that changed; a read-only project stores nothing."""
        stale_files = self.files.keys() - self.used_files
        stale_plans = self.plans.keys() - self.used_plans
        shards = self.changed | {k[:SHARD] for k in stale_files} | {k[:SHARD] for k in stale_plans}
        try:
            for key, models in self.models.items():
                _write(self._model_path(key), models)
            self.models = {}
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
                _write(
                    self.folder / "index" / f"{shard}.pickle",
                    {"tool": self.tool, "files": files, "plans": plans},
                )
            for key in stale_plans:
                self._model_path(key).unlink(missing_ok=True)
            for key in stale_files:
                del self.files[key]
            for key in stale_plans:
                del self.plans[key]
            self.changed = set()
            if self.outputs_dirty:
                _write(self.folder / "outputs.pickle", self.outputs)
                self.outputs_dirty = False
            gone = self.stats.keys() - self.seen_paths
            if gone and self.seen_paths:  # files deleted or renamed since: forget them
                for path in gone:
                    del self.stats[path]
                self.stats_dirty = True
            if self.stats_dirty:
                _write(self.folder / "states.pickle", (self.tool, self.stats))
                self.stats_dirty = False
        except OSError:
            pass  # the cache only saves time; without it the next compile is a cold one


def load_project(root: Path) -> Project:
    """`project.load_project`, from the cache when `dagspec.yaml` is known and clean (a large
    entity list makes loading and checking it cost as much as a few hundred specs)."""
    root = root.resolve()
    path = root / CONFIG_NAME
    if not enabled():
        return project_module.load_project(root)
    try:
        raw = path.read_bytes()
    except OSError:
        return project_module.load_project(root)
    tool = _sha(VERSION, stamp.tool_digest())
    key = _sha(tool, "project", raw)
    store = root / FOLDER / "project.pickle"
    known = _read(store)
    if (
        isinstance(known, tuple)
        and len(known) == 2
        and known[0] == key
        and isinstance(known[1], dict)
    ):
        return Project(root, known[1], _LazyDocument(CONFIG_NAME, raw), [])
    project = project_module.load_project(root)
    if not project.findings and project.doc is not None and project.doc.raw == raw:
        with contextlib.suppress(OSError):  # read-only: load it in full next time
            _write(store, (key, project.config))
    return project


def _chain(spec: Spec, analysis: Analysis) -> list[Spec] | None:
    """The spec and the specs it extends, or None when `extends` does not resolve cleanly
    (the kind then reports it, naming other specs of the project)."""
    chain = [spec]
    has, parent_name = _extends(spec)
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
        has, parent_name = _extends(parent)
    return chain


def _loads(data: Any) -> Any:
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except Exception:
        return None
