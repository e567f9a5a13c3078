"""Packed output: many entity DAGs in one file, built by one function over a table of rows.

With `output: {pack: N}` in dagspec.yaml the entity DAGs, sorted by DAG id, go N to a file
(`_entities-001.py`, `_entities-002.py`, ...; a spec name cannot start with `_`, so no spec's own
file can take the name). Each file imports once, defines the shared Assets and notification
channels once, and then calls one readable `build` function per row of `ENTITIES`: the
per-entity constants (ids, docs, params, phases and modules). The DAG each row builds is the one
the entity's own file would build, task for task. Other kinds keep one file per DAG.

A pack's fingerprint is made of its members' fingerprints, so editing one spec rewrites exactly
its pack; membership depends only on the sorted DAG ids (adding or removing an entity moves the
later ones along).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from compiler.artifacts import sdk_import_list
from compiler.model import Spec, Target
from compiler.output import COMPILER_VERSION, fingerprint
from compiler.render import Code, identifier, literal, python_name, template_digest

TEMPLATE = "entity_pack.py.j2"
PACKED = "entity.py.j2"  # the template of the DAGs that packs take
PREFIX = "_entities-"
WIDTH = 96
_WORD = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def pack_size(config: Mapping[str, Any]) -> int | None:
    """`output.pack` of the project config: DAGs per file, or None for one file per DAG."""
    output = config.get("output") or {}
    return output.get("pack")


class Pack:
    """One packed file: its DAGs (`members`), and what `compiler.output` needs of a target."""

    template = TEMPLATE

    def __init__(self, name: str, members: list[Target]) -> None:
        self.name = name
        self.members = members
        sources: dict[int, Spec] = {}
        for member in members:
            for spec in member.sources:
                sources.setdefault(id(spec), spec)
        self.sources = list(sources.values())
        self.member_fingerprints: dict[str, str] = {}
        self._model: dict[str, Any] | None = None

    @property
    def model(self) -> dict[str, Any]:
        if self._model is None:
            self._model = pack_model(self.members)
        return self._model

    def known_fingerprint(self) -> str:
        """The members' fingerprints (model, template, sources) and the pack template."""
        digest = hashlib.sha256(f"{TEMPLATE}\0{template_digest(TEMPLATE)}\0".encode())
        digest.update(COMPILER_VERSION.encode())
        for member in self.members:
            found = fingerprint(member)
            self.member_fingerprints[f"{member.name}.py"] = found
            digest.update(f"\0{member.name}\0{found}".encode())
        return digest.hexdigest()


def layout(targets: Iterable[Target], config: Mapping[str, Any]) -> dict[str, str]:
    """DAG id → the file (name in the output folder) that defines it."""
    size = pack_size(config)
    files = {t.name: f"{t.name}.py" for t in targets}
    if size is None:
        return files
    packed = sorted(t.name for t in targets if t.template == PACKED)
    width = max(3, len(str(-(-len(packed) // size))))
    for i, name in enumerate(packed):
        files[name] = f"{PREFIX}{i // size + 1:0{width}d}.py"
    return files


def files(
    targets: list[Target], config: Mapping[str, Any], every: list[Target] | None = None
) -> list[Target | Pack]:
    """The files to write for `targets`: entity DAGs in packs (a pack is written whole, so a
    selected DAG brings its pack-mates from `every`), every other DAG alone."""
    if pack_size(config) is None:
        return list(targets)
    every = targets if every is None else every
    where = layout(every, config)
    wanted = {where[t.name] for t in targets}
    members: dict[str, list[Target]] = {}
    for target in sorted(every, key=lambda t: t.name):
        if target.template == PACKED and where[target.name] in wanted:
            members.setdefault(where[target.name].removesuffix(".py"), []).append(target)
    alone: list[Target | Pack] = [t for t in targets if t.template != PACKED]
    return alone + [Pack(name, group) for name, group in members.items()]


def dags(written: Iterable[Target | Pack]) -> list[Target]:
    """Every DAG of the files to write."""
    return [m for t in written for m in (t.members if isinstance(t, Pack) else [t])]


def member_fingerprints(written: Iterable[Target | Pack]) -> dict[str, str]:
    """`{dag_id}.py` → fingerprint of each packed DAG (known once the plan is made)."""
    found: dict[str, str] = {}
    for target in written:
        if isinstance(target, Pack):
            found.update(target.member_fingerprints)
    return found


# -- the model the pack template renders ------------------------------------------------------


def pack_model(members: list[Target]) -> dict[str, Any]:
    """Shared definitions once, then one row of constants per DAG."""
    first = members[0].model
    shared = _Shared()
    rows = [_row(member.model, shared) for member in members]
    sdk = {"DAG", "Param", "TaskGroup"}
    for member in members:
        sdk.update(_names(_get(member.model, "sdk_imports")))
    if shared.assets:
        sdk.add("Asset")
    year, month, day = _get(first, "start_date")
    workspace = _get(first, "workspace")
    settings = {"base_dir": _get(workspace, "base_dir"), "prefix": _get(workspace, "prefix")}
    if _get(first, "storage"):
        settings["storage"] = _get(first, "storage")
    ids = [member.name for member in members]
    return {
        "docstring": f"Entity DAGs packed in one file ({len(ids)}): {', '.join(ids)}.",
        "project_root": _get(first, "project_root"),
        "timedelta": any(_get(m.model, "timedelta") for m in members),
        "sdk_imports": sdk_import_list(sdk),
        "notify": bool(shared.notifies),
        "start_date": Code(f"datetime({year!r}, {month!r}, {day!r}, tzinfo=UTC)"),
        "workspace": code(settings),
        "asset_defs": [Code(f"{name} = {expr}") for expr, name in shared.assets.items()],
        "notify_defs": [Code(f"{name} = {expr}") for expr, name in shared.notifies.items()],
        "rows": [code(row, 4) for row in rows],
    }


class _Shared:
    """Definitions a pack makes once: Assets and notification channels, by their code."""

    def __init__(self) -> None:
        self.assets: dict[str, str] = {}  # `Asset(...)` code → variable
        self.notifies: dict[str, str] = {}  # `Notify(...)` code → variable
        self.taken: set[str] = set()

    def asset(self, line: str) -> tuple[str, str]:
        """(the member's variable, the pack's variable) of one `NAME = Asset(...)` line."""
        name, expr = line.split(" = ", 1)
        if expr not in self.assets:
            self.assets[expr] = python_name(name, self.taken)
        return name, self.assets[expr]

    def notify(self, expr: str) -> str:
        if expr not in self.notifies:
            self.notifies[expr] = python_name("NOTIFY", self.taken)
        return self.notifies[expr]


def _row(model: Any, shared: _Shared) -> dict[str, Any]:
    """The constants of one DAG, as `build` takes them (the entity template's values)."""
    renames = dict(shared.asset(line) for line in _get(model, "asset_defs"))

    def wired(text: str) -> Code:  # asset variables as the pack names them
        return Code(_WORD.sub(lambda m: renames.get(m.group(0), m.group(0)), text))

    outlets = _get(model, "outlets")
    notify = _get(model, "notify")
    default_args = str(_get(model, "default_args"))
    dag_args: dict[str, Any] = {}
    if notify:
        variable = shared.notify(str(_get(notify, "define")))
        for name, text in _get(notify, "dag_args"):
            dag_args[str(identifier(name))] = _notify_code(text, variable)
        retry = _get(notify, "retry")
        if retry is not None:
            default_args = default_args.replace(str(retry), _notify_code(retry, variable))
    phases = []
    for phase in _get(model, "phases"):
        modules = {}
        for module in _get(phase, "modules"):
            kwargs: dict[str, Any] = {
                "command": _get(module, "command"),
                "doc_md": _get(module, "doc"),
            }
            if not _get(module, "required"):
                kwargs["required"] = False
            if _get(module, "inputs"):
                kwargs["inputs"] = _get(module, "inputs")
            if _get(module, "env"):
                kwargs["env"] = _get(module, "env")
            if _get(module, "timeout_seconds") is not None:
                kwargs["timeout_seconds"] = _get(module, "timeout_seconds")
            for name, text in _get(module, "args"):
                kwargs[str(identifier(name))] = text
            task = f"{_get(phase, 'name')}.{_get(module, 'name')}"
            if task in outlets:
                kwargs["outlets"] = wired(outlets[task])
            modules[_get(module, "name")] = kwargs
        phases.append(
            {
                "name": _get(phase, "name"),
                "tooltip": _get(phase, "description"),
                "modules": modules,
            }
        )
    promote: dict[str, Any] = {"mapping": _get(model, "promote")}
    if "promote" in outlets:
        promote["outlets"] = wired(outlets["promote"])
    row = {
        "entity": _get(model, "entity"),
        "dag_id": _get(model, "dag_id"),
        "description": _get(model, "description"),
        "doc_md": _get(model, "doc_md"),
        "schedule": wired(str(_get(model, "schedule_code"))),
        "catchup": _get(model, "catchup"),
        "max_active_runs": _get(model, "max_active_runs"),
        "tags": _get(model, "tags"),
        "default_args": Code(default_args),
        "params": _params(_get(model, "params")),
        "pool": _get(model, "pool"),
        "phases": phases,
        "promote": promote,
        "result_path": _get(model, "result_path"),
    }
    if dag_args:
        row["dag_args"] = dag_args
    return row


def _notify_code(text: str, variable: str) -> Code:
    """`NOTIFY.on(...)` of a DAG's own file, calling the pack's variable for its channels."""
    text = str(text)
    if not text.startswith("NOTIFY."):
        raise ValueError(f"unexpected notification code {text!r}")
    return Code(variable + text[len("NOTIFY") :])


def _params(params: Iterable[Any]) -> Code:
    """The `params` dict as templates/_params.j2 writes it."""
    items = []
    for param in params:
        options = "".join(
            f", {identifier(key)}={literal(value)}" for key, value in _get(param, "options")
        )
        items.append(
            f"{literal(_get(param, 'name'))}: Param({literal(_get(param, 'default'))}{options})"
        )
    if not items:
        return Code("{}")
    return Code("{\n" + "".join(f"    {item},\n" for item in items) + "}")


def _names(imports: Any) -> list[str]:
    if isinstance(imports, str):
        return [n.strip(" \n()") for n in imports.split(",") if n.strip(" \n()")]
    return list(imports)


def _get(value: Any, key: str) -> Any:
    """A field of a model: a mapping's item or an object's attribute."""
    if isinstance(value, Mapping):
        return value[key]
    return getattr(value, key)


def code(value: Any, indent: int = 0) -> Code:
    """Python source for plain data that may hold `Code` (taken as it is): one line when it
    fits, else one item per line."""
    flat = _flat(value)
    if "\n" not in flat and len(flat) + indent <= WIDTH:
        return Code(flat)
    pad = " " * (indent + 4)
    if isinstance(value, Code):
        return Code(value.replace("\n", "\n" + " " * indent))
    if isinstance(value, dict) and value:
        rows = [f"{pad}{literal(k)}: {code(v, indent + 4)}," for k, v in value.items()]
        return Code("{\n" + "\n".join(rows) + "\n" + " " * indent + "}")
    if isinstance(value, list) and value:
        rows = [f"{pad}{code(v, indent + 4)}," for v in value]
        return Code("[\n" + "\n".join(rows) + "\n" + " " * indent + "]")
    return Code(flat)


def _flat(value: Any) -> str:
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    return literal(value)
