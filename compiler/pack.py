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
from compiler.dag import EntityDag, Param
from compiler.docs import constant, dag_doc
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

    def context(self) -> dict[str, Any]:
        """The values the pack template renders."""
        return pack_model(self.members)

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
    dags = [_entity(member) for member in members]
    first = dags[0]
    shared = _Shared()
    rows = [_row(member, dag, shared) for member, dag in zip(members, dags, strict=True)]
    sdk = {"DAG", "Param", "TaskGroup"}
    for member, dag in zip(members, dags, strict=True):
        sdk.update(dag.sdk_imports, member.wiring.sdk_imports)
    if shared.assets:
        sdk.add("Asset")
    year, month, day = first.arguments.start_date
    prepare = first.prepare.arguments
    settings = {"base_dir": prepare["base_dir"], "prefix": prepare["prefix"]}
    if first.storage:
        settings["storage"] = first.storage
    ids = [member.name for member in members]
    return {
        "docstring": f"Entity DAGs packed in one file ({len(ids)}): {', '.join(ids)}.",
        "project_root": members[0].project_root,
        "timedelta": any(dag.timedelta for dag in dags),
        "sdk_imports": sdk_import_list(sdk),
        "notify": bool(shared.notifies),
        "start_date": Code(f"datetime({year!r}, {month!r}, {day!r}, tzinfo=UTC)"),
        "workspace": code(settings),
        "asset_defs": [Code(f"{name} = {expr}") for expr, name in shared.assets.items()],
        "notify_defs": [Code(f"{name} = {expr}") for expr, name in shared.notifies.items()],
        "rows": [code(row, 4) for row in rows],
    }


def _entity(target: Target) -> EntityDag:
    dag = target.dag
    if not isinstance(dag, EntityDag):
        raise TypeError(f"{target.name} is not an entity DAG")
    return dag


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


def _row(target: Target, dag: EntityDag, shared: _Shared) -> dict[str, Any]:
    """The constants of one DAG, as `build` takes them (what the entity template writes)."""
    renames = dict(shared.asset(line) for line in target.wiring.asset_defs)

    def wired(text: str) -> Code:  # asset variables as the pack names them
        return Code(_WORD.sub(lambda m: renames.get(m.group(0), m.group(0)), text))

    outlets = target.wiring.outlets
    notify = dag.notify
    default_args = str(dag.arguments.default_args)
    dag_args: dict[str, Any] = {}
    if notify is not None:
        variable = shared.notify(str(notify.define))
        for name, text in notify.dag_args:
            dag_args[str(identifier(name))] = _notify_code(text, variable)
        if notify.retry is not None:
            default_args = default_args.replace(
                str(notify.retry), _notify_code(notify.retry, variable)
            )
    phases = []
    for phase in dag.phases:
        modules = {}
        for module in phase.modules:
            task = module.task
            kwargs: dict[str, Any] = {"command": task.arguments["command"], "doc_md": module.doc}
            if not module.required:
                kwargs["required"] = False
            # the step's other arguments as the template states them (empty ones it leaves out);
            # the entity comes from the row, the module's name is its task id
            kwargs.update(
                (name, value)
                for name, value in task.arguments.items()
                if name not in ("entity", "phase", "module", "command") and value != {}
            )
            for name, text in task.airflow_args:
                kwargs[str(identifier(name))] = text
            if task.task_id in outlets:
                kwargs["outlets"] = wired(outlets[task.task_id])
            modules[task.arguments["module"]] = kwargs
        phases.append({"name": phase.name, "tooltip": phase.tooltip, "modules": modules})
    promote: dict[str, Any] = {"mapping": dag.promote.arguments["mapping"]}
    if "promote" in outlets:
        promote["outlets"] = wired(outlets["promote"])
    schedule = target.wiring.schedule
    if schedule is None:
        schedule = literal(dag.arguments.schedule)
    row = {
        "entity": dag.entity,
        "dag_id": dag.dag_id,
        "description": dag.arguments.description,
        "doc_md": constant(dag_doc(target)),
        "schedule": wired(schedule),
        "catchup": dag.arguments.catchup,
        "max_active_runs": dag.arguments.max_active_runs,
        "tags": list(dag.arguments.tags),
        "default_args": Code(default_args),
        "params": _params(dag.params),
        "pool": dag.pool,
        "phases": phases,
        "promote": promote,
        "result_path": dag.result.arguments["result_path"],
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


def _params(params: Iterable[Param]) -> Code:
    """The `params` dict as templates/_params.j2 writes it."""
    items = []
    for param in params:
        options = "".join(f", {identifier(key)}={literal(value)}" for key, value in param.options)
        items.append(f"{literal(param.name)}: Param({literal(param.default)}{options})")
    if not items:
        return Code("{}")
    return Code("{\n" + "".join(f"    {item},\n" for item in items) + "}")


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
