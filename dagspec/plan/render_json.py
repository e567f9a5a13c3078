"""The plan for tools: one JSON document (`format: dagspec-plan/1`). A change lists `old` and
`new`; a key a side does not have is left out of that side."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from dagspec.plan.diff import DagPlan, Plan, TaskPlan
from dagspec.plan.words import version

FORMAT = "dagspec-plan/1"


def render(plan: Plan) -> str:
    data = {
        "format": FORMAT,
        "base": asdict(plan.base),
        "head": asdict(plan.head),
        "changed": plan.changed,
        "summary": {
            "added": plan.count("added"),
            "changed": plan.count("changed"),
            "renamed": plan.count("renamed"),
            "removed": plan.count("removed"),
            "documentation_only": plan.doc_only,
            "new_versions": plan.new_versions,
            "warnings": len(plan.risks),
            "unchanged": list(plan.unchanged),
        },
        "dags": [_dag(dag) for dag in plan.dags],
        "pools": [c.as_json() for c in plan.pools],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _dag(dag: DagPlan) -> dict[str, Any]:
    return {
        "dag_id": dag.dag_id,
        "status": dag.status,
        "renamed_from": dag.renamed_from,
        "kind": dag.kind,
        "spec": dag.spec,
        "airflow": version(dag),
        "new_version": dag.new_version,
        "version_from_documentation": dag.version_from_docs,
        "documentation_only": dag.doc_only,
        "task_count": dag.task_count,
        "arguments": [c.as_json() for c in dag.arguments],
        "params": [c.as_json() for c in dag.params],
        "config": [c.as_json() for c in dag.config],
        "tasks": [_task(t) for t in dag.tasks],
        "edges": {
            "added": [list(e) for e in dag.edges_added],
            "removed": [list(e) for e in dag.edges_removed],
        },
        "assets": {
            "inlets_added": [asdict(k) for k in dag.inlets_added],
            "inlets_removed": [asdict(k) for k in dag.inlets_removed],
            "outlets_added": [{"task": t, "path": p} for t, p in dag.outlets_added],
            "outlets_removed": [{"task": t, "path": p} for t, p in dag.outlets_removed],
            "triggers_added": [asdict(k) for k in dag.triggers_added],
            "triggers_removed": [asdict(k) for k in dag.triggers_removed],
            "downstream": [asdict(k) for k in dag.downstream],
        },
        "warnings": [asdict(r) for r in dag.risks],
    }


def _task(task: TaskPlan) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "status": task.status,
        "renamed_from": task.renamed_from,
        "operator": task.operator,
        "group": task.group,
        "changes": [c.as_json() for c in task.changes],
    }
