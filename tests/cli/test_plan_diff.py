"""The comparison rules of `dagspec plan` on small descriptions: which removed and added DAGs
and tasks are one renamed, and which changes draw a warning."""

from __future__ import annotations

from dataclasses import replace

from dagspec.plan.description import DagDescription, ProjectDescription, TaskDescription
from dagspec.plan.diff import Plan, Side, compare
from dagspec.plan.risks import add_risks


def dag(dag_id: str, spec: str, tasks: tuple[str, ...] = ("a", "b"), **arguments) -> DagDescription:
    chain = {
        t: TaskDescription(t, "Op", upstream=(tasks[i - 1],) if i else ())
        for i, t in enumerate(tasks)
    }
    return DagDescription(
        dag_id=dag_id,
        kind="Entity",
        spec=spec,
        sources=(spec,),
        arguments={"schedule": None, "catchup": False, "start_date": "2024-01-01", **arguments},
        settings={},
        params={"region": {"default": "eu", "type": ["string", "null"]}},
        tasks=chain,
    )


def plan(before: list[DagDescription], after: list[DagDescription]) -> Plan:
    old = ProjectDescription({d.dag_id: d for d in before})
    new = ProjectDescription({d.dag_id: d for d in after})
    found = compare(old, new, (Side("base", None, len(before)), Side("head", None, len(after))))
    add_risks(found, old, new)
    return found


def statuses(found: Plan) -> dict[str, tuple[str, str | None]]:
    return {d.dag_id: (d.status, d.renamed_from) for d in found.dags}


def test_a_dag_from_the_same_spec_file_is_renamed_whatever_its_tasks() -> None:
    found = plan([dag("old", "specs/x.yaml")], [dag("new", "specs/x.yaml", ("a", "b", "c"))])
    assert statuses(found) == {"new": ("renamed", "old")}
    assert [r.code for r in found.dags[0].risks] == ["renamed-dag"]


def test_a_dag_with_the_same_shape_from_another_file_is_renamed() -> None:
    found = plan([dag("old", "specs/x.yaml")], [dag("new", "specs/y.yaml")])
    assert statuses(found) == {"new": ("renamed", "old")}


def test_ambiguous_shapes_are_added_and_removed_not_guessed() -> None:
    found = plan(
        [dag("one", "specs/1.yaml"), dag("two", "specs/2.yaml")],
        [dag("three", "specs/3.yaml"), dag("four", "specs/4.yaml")],
    )
    assert statuses(found) == {
        "four": ("added", None),
        "one": ("removed", None),
        "three": ("added", None),
        "two": ("removed", None),
    }


def test_a_removed_task_warns_and_its_edges_go_with_it() -> None:
    found = plan([dag("d", "s.yaml", ("a", "b", "c"))], [dag("d", "s.yaml", ("a", "b"))])
    (changed,) = found.dags
    assert [(t.task_id, t.status) for t in changed.tasks] == [("c", "removed")]
    assert changed.edges_removed == [("b", "c")]
    assert [r.code for r in changed.risks] == ["removed-task"]


def test_a_task_alike_but_for_its_id_is_renamed_and_keeps_its_edges() -> None:
    found = plan([dag("d", "s.yaml", ("a", "b", "c"))], [dag("d", "s.yaml", ("a", "x", "c"))])
    (changed,) = found.dags
    assert [(t.task_id, t.status, t.renamed_from) for t in changed.tasks] == [("x", "renamed", "b")]
    assert (changed.edges_added, changed.edges_removed) == ([], [])
    assert [r.code for r in changed.risks] == ["renamed-task"]


def test_turning_catchup_on_for_a_scheduled_dag_warns() -> None:
    found = plan(
        [dag("d", "s.yaml", schedule="@daily")],
        [dag("d", "s.yaml", schedule="@daily", catchup=True)],
    )
    assert [r.code for r in found.dags[0].risks] == ["catchup-on"]


def test_a_param_default_warns_only_on_a_scheduled_dag() -> None:
    manual = dag("m", "m.yaml")
    daily = dag("d", "d.yaml", schedule="@daily")
    us = {"region": {"default": "us", "type": ["string", "null"]}}
    found = plan([manual, daily], [replace(manual, params=us), replace(daily, params=us)])
    assert {d.dag_id: [r.code for r in d.risks] for d in found.dags} == {
        "d": ["param-default-scheduled"],
        "m": [],
    }


def test_a_shared_setting_change_is_shown_once_at_the_dag() -> None:
    before = dag("d", "s.yaml")
    tasks = {k: replace(t, settings={"retries": 2}) for k, t in before.tasks.items()}
    after = replace(before, settings={"retries": 2}, tasks=tasks)
    (changed,) = plan([before], [after]).dags
    assert [(c.path, c.new) for c in changed.arguments] == [("default_args.retries", 2)]
    assert changed.tasks == [] and changed.new_version


def test_an_unchanged_project_has_an_empty_plan() -> None:
    found = plan([dag("d", "s.yaml")], [dag("d", "s.yaml")])
    assert (found.dags, found.unchanged, found.changed) == ((), ("d",), False)
