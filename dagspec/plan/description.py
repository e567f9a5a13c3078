"""The neutral description of a compiled project: what each DAG is, as plain JSON-able data.

The diff, the warnings and the renderers read only these types; `adapter` makes them from the
compiler's model. Each DAG and task keeps apart what Airflow stores with a DAG version (its
serialized DAG: DAG arguments, params, task settings, documentation, structure, Assets) from
what only the DAG file holds (operator arguments and shared constants): a change to the first
gives the DAG a new version in Airflow, a change to the second reaches the next run without one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TaskDescription:
    """One task. `settings`: what Airflow stores for it (retries, pool, queue, priority,
    owner, ...: the spec's names, as dagspec states them; unset means the operator's or
    Airflow's default). `arguments`: the operator's own arguments, held by the DAG file only.
    `doc`: a digest of the task's documentation (None when it has none)."""

    task_id: str
    operator: str
    group: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    arguments: dict[str, Any] = field(default_factory=dict)
    upstream: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()
    doc: str | None = None


@dataclass(frozen=True)
class DagDescription:
    """One DAG. `arguments`: the DAG's own (schedule, catchup, tags, owner, ...); `settings`:
    its default task settings; `groups`: task groups and what Airflow shows of them;
    `inlets`: the Assets the DAG is scheduled on (project paths); `config`: the constants the
    DAG file shares between its tasks; `doc`: a digest of the DAG's documentation."""

    dag_id: str
    kind: str
    spec: str
    sources: tuple[str, ...]
    arguments: dict[str, Any]
    settings: dict[str, Any]
    params: dict[str, dict[str, Any]]
    tasks: dict[str, TaskDescription]
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    inlets: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    doc: str = ""

    @property
    def edges(self) -> set[tuple[str, str]]:
        return {(up, task.task_id) for task in self.tasks.values() for up in task.upstream}

    @property
    def scheduled(self) -> bool:
        """Whether runs start without anyone filling in the trigger form."""
        return self.arguments.get("schedule") is not None or bool(self.inlets)

    @property
    def shape(self) -> tuple[str, frozenset[str], frozenset[tuple[str, str]]]:
        """Kind, task ids and edges: what a DAG is, whatever it is called."""
        return self.kind, frozenset(self.tasks), frozenset(self.edges)

    def outlets(self) -> dict[str, str]:
        """Project path → the task whose outlet it is."""
        return {path: t.task_id for t in self.tasks.values() for path in t.outlets}

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = list(self.sources)
        data["inlets"] = list(self.inlets)
        for task in data["tasks"].values():
            task["upstream"], task["outlets"] = list(task["upstream"]), list(task["outlets"])
        return data


@dataclass(frozen=True)
class ProjectDescription:
    """Every DAG of a project, by id, and the project settings Airflow sees (its pools)."""

    dags: dict[str, DagDescription]
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)

    def links(self) -> set[tuple[str, str, str, str]]:
        """(path, producer DAG, producer task, consumer DAG) of every Asset between DAGs."""
        producers = {
            path: (dag.dag_id, task)
            for dag in self.dags.values()
            for path, task in dag.outlets().items()
        }
        return {
            (path, *producers[path], dag.dag_id)
            for dag in self.dags.values()
            for path in dag.inlets
            if path in producers
        }
