"""Artifacts across specs: the DAG of DAGs emerges from the paths tasks read and write.

Every task may declare project paths it reads (`deps`) and writes (`outs`). Each dep is resolved
to the one task that outs it: inside a spec that is an ordering the spec must already respect;
across specs the producer task gets an Airflow Asset as outlet and the consumer DAG is scheduled
on it. Two producers for one path, dangling deps and cycles across specs are findings that name
both places.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from compiler.dag import Wiring
from compiler.findings import Severity
from compiler.model import Analysis, Artifact, Target
from compiler.render import Code, identifier, literal, python_name

URI_SCHEME = "dagspec://"


def asset_uri(path: str) -> str:
    return URI_SCHEME + quote(path, safe="/._-")


def wire(analysis: Analysis) -> None:
    """Check the artifact graph of every planned DAG and give each its `Wiring` (the Assets,
    outlets and schedule the links across specs add beside its model)."""
    producers: dict[str, tuple[Target, Artifact]] = {}
    for target in analysis.targets:
        for out in target.produces:
            if out.path in producers:
                first = producers[out.path][1]
                analysis.add(
                    [
                        out.finding(
                            "DS210",
                            f"`{out.path}` is also produced by {first.spec.name}:{first.task} "
                            f"({first.where()})",
                            "give the path one producer; others should `deps:` it",
                        ).with_related(first.spec.place(first.at))
                    ]
                )
                continue
            producers[out.path] = (target, out)
    edges: dict[str, dict[str, Artifact]] = {t.name: {} for t in analysis.targets}
    for target in analysis.targets:
        for dep in target.consumes:
            _resolve(analysis, target, dep, producers.get(dep.path), edges)
    _report_cycles(analysis, edges)
    for target in analysis.targets:
        _check_timetable(analysis, target)
    for target in analysis.targets:
        target.wiring = wiring(target)


def _resolve(
    analysis: Analysis,
    target: Target,
    dep: Artifact,
    found: tuple[Target, Artifact] | None,
    edges: dict[str, dict[str, Artifact]],
) -> None:
    if found is None:
        if (analysis.project.root / dep.path).exists():
            analysis.add(
                [
                    dep.finding(
                        "DS211",
                        f"`{dep.path}` is not produced by any spec; it is read as a source file",
                        "fine for hand-maintained inputs; otherwise add it to a task's `outs:`",
                        Severity.WARNING,
                    )
                ]
            )
        else:
            analysis.add(
                [
                    dep.finding(
                        "DS202",
                        f"nothing produces `{dep.path}` and it does not exist",
                        "add it to the `outs:` of the task that writes it, or fix the path",
                    )
                ]
            )
        return
    producer, out = found
    if producer is target:
        if not target.upstream(out.task, dep.task):
            analysis.add(
                [
                    dep.finding(
                        "DS203",
                        f"`{dep.path}` is written by {out.task} ({out.where()}), which does not "
                        f"run before {dep.task}",
                        "read it in a later phase or step",
                    )
                ]
            )
        return
    target.assets_in.setdefault(dep.path, dep)
    target.needs.setdefault(producer.name, set()).add(dep.path)
    producer.outlets.setdefault(out.task, set()).add(out.path)
    edges[producer.name].setdefault(target.name, dep)


def _report_cycles(analysis: Analysis, edges: dict[str, dict[str, Artifact]]) -> None:
    """Each cycle of DAGs once, as a chain of spec:task names, at every dep that closes it."""
    seen: set[frozenset[str]] = set()
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    _report(analysis, edges, cycle)
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])


def _report(analysis: Analysis, edges: dict[str, dict[str, Artifact]], cycle: list[str]) -> None:
    links = [edges[a][b] for a, b in zip(cycle, cycle[1:], strict=False)]
    chain = " → ".join(f"{dep.spec.name}:{dep.task} ({dep.where()})" for dep in links)
    places = [dep.spec.place(dep.at) for dep in links]
    for dep in links:
        analysis.add(
            [
                dep.finding(
                    "DS203",
                    f"artifacts form a cycle across specs: {chain}",
                    "break the cycle: one of these deps must go",
                ).with_related(*places)
            ]
        )


def _check_timetable(analysis: Analysis, target: Target) -> None:
    """DS213: `@once` and `@continuous` are timetables of their own; Airflow cannot also wait
    on Assets with them (the cron half of AssetOrTimeSchedule never fires)."""
    schedule = target.schedule
    if not target.assets_in or schedule not in ("@once", "@continuous"):
        return
    spec = next((s for s in target.sources if "schedule" in s.body), target.sources[0])
    first = sorted(target.assets_in)[0]
    analysis.add(
        [
            spec.finding(
                ("spec", "schedule"),
                "DS213",
                f"`{schedule}` cannot be combined with the Asset inputs of `{target.name}` "
                f"(it reads `{first}` from another DAG)",
                "use a cron schedule or a preset such as `@daily` (runs on time or when the "
                "inputs are updated), or `schedule: null` (runs when the inputs are updated)",
            ).with_related(*(a.spec.place(a.at) for a in target.consumes if a.path == first))
        ]
    )


def wiring(target: Target) -> Wiring:
    """Asset definitions, outlets per task, and the schedule: code built from checked pieces.
    It needs only the target's links and schedule, never its model."""
    paths = sorted({*target.assets_in, *(p for ps in target.outlets.values() for p in ps)})
    if not paths:
        return Wiring()  # most DAGs: no links across specs
    taken: set[str] = set()
    names = {path: python_name(("asset_" + path).upper(), taken) for path in paths}
    asset_defs = tuple(
        Code(
            f"{identifier(names[p])} = Asset(name={literal(p)}, uri={literal(asset_uri(p))}, "
            'group="dagspec")'
        )
        for p in paths
    )
    outlets = {
        task: _names(names[p] for p in sorted(ps)) for task, ps in sorted(target.outlets.items())
    }
    sdk = ["Asset"]
    inputs = [names[p] for p in sorted(target.assets_in)]
    schedule: Code | None = None
    if inputs and target.schedule is not None:
        sdk += ["AssetAll", "AssetOrTimeSchedule", "CronTriggerTimetable"]
        schedule = Code(
            f"AssetOrTimeSchedule(timetable=CronTriggerTimetable({literal(target.schedule)}, "
            f'timezone="UTC"), assets=AssetAll({", ".join(inputs)}))'
        )
    elif inputs:
        schedule = _names(inputs)
    return Wiring(asset_defs, outlets, tuple(sdk), schedule)


def sdk_import_list(names: Iterable[str]) -> Code:
    """What follows `from airflow.sdk import`: the names in isort's order, one per line in
    parentheses when the line would pass 100 columns (as `ruff format` writes it)."""
    ordered = [str(identifier(n)) for n in sorted(set(names), key=_import_order)]
    line = ", ".join(ordered)
    if len("from airflow.sdk import ") + len(line) <= 100:
        return Code(line)
    return Code("(\n" + "".join(f"    {name},\n" for name in ordered) + ")")


def _import_order(name: str) -> tuple[int, str]:
    """isort's order (as `ruff check` wants it): CONSTANTS, then Classes, then functions."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name.lower()


def _names(variables: Iterable[str]) -> Code:
    return Code("[" + ", ".join(identifier(v) for v in variables) + "]")
