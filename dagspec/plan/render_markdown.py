"""The plan as a pull-request comment: a summary line and table, the warnings, then one
collapsible `<details>` block per DAG. GitHub refuses comments over 65,536 characters, so the
text stays within `limit`: what does not fit is counted in a last line instead."""

from __future__ import annotations

from dagspec.plan.diff import (
    ADDED,
    CHANGED,
    REMOVED,
    RENAMED,
    Change,
    DagPlan,
    Link,
    Plan,
    TaskPlan,
)
from dagspec.plan.values import UNSET, show
from dagspec.plan.words import SAME_VERSION_NOTE, areas, plural, summary, version

MARKER = "<!-- dagspec-plan -->"  # how a workflow finds its earlier comment to update it
LIMIT = 60_000  # characters
ROWS = 150  # at most this many DAG rows, and as many warnings, so that all kinds get room
LONGEST_VALUE = 200


def render(plan: Plan, limit: int = LIMIT) -> str:
    commit = f" (`{plan.base.commit[:10]}`)" if plan.base.commit else ""
    line = summary(plan)
    head = [
        MARKER,
        "### dagspec plan",
        "",
        f"**{line[0].upper()}{line[1:]}.**",
        "",
        f"Compared: {plan.base.label}{commit} → {plan.head.label}.",
    ]
    out = _Budget(limit - 400)  # room for the line that counts what was left out
    out.add("\n".join(head) + "\n")
    if plan.dags:
        rows = ["", "| DAG | change | Airflow | warnings |", "|---|---|---|---|"]
        out.add("\n".join(rows) + "\n")
        for i, dag in enumerate(plan.dags):
            out.add(_row(dag), what="DAG", room=i < ROWS)
    if plan.pools:
        out.add("\n**Pools:** " + "; ".join(_inline(c) for c in plan.pools) + "\n")
    if plan.risks:
        out.add("\n**Warnings**\n\n")
        for i, (dag_id, risk) in enumerate(plan.risks):
            line = f"- ⚠ `{dag_id}`: {_escape(risk.message)}\n"
            out.add(line, what="warning", room=i < ROWS)
    for dag in plan.dags:
        out.add(_details(dag), what="DAG detail")
    return out.text()


class _Budget:
    """Text that grows while it fits; whatever does not is counted per kind."""

    def __init__(self, limit: int) -> None:
        self.limit, self.parts, self.size, self.left = limit, [], 0, {}

    def add(self, text: str, what: str | None = None, room: bool = True) -> None:
        if not room or self.size + len(text) > self.limit or (what and what in self.left):
            if what is not None:
                self.left[what] = self.left.get(what, 0) + 1
            return
        self.parts.append(text)
        self.size += len(text)

    def text(self) -> str:
        body = "".join(self.parts)
        if self.left:
            counts = ", ".join(plural(n, what) for what, n in self.left.items())
            body += (
                f"\n_Not shown, to keep this comment within GitHub's size limit: {counts}. "
                "Run `dagspec plan` for the whole plan._\n"
            )
        return body


def _row(dag: DagPlan) -> str:
    warnings = f"⚠ {len(dag.risks)}" if dag.risks else ""
    change = f"**{dag.status}**: {_escape(areas(dag))}"
    return f"| {_name(dag)} | {change} | {version(dag)} | {warnings} |\n"


def _name(dag: DagPlan) -> str:
    if dag.status == RENAMED:
        return f"`{dag.renamed_from}` → `{dag.dag_id}`"
    return f"`{dag.dag_id}`"


def _details(dag: DagPlan) -> str:
    title = f"<code>{_html(dag.dag_id)}</code>"
    if dag.status == RENAMED:
        title = f"<code>{_html(dag.renamed_from or '')}</code> → {title}"
    lines = [
        "",
        "<details>",
        f"<summary>{title} · {dag.status} · {_html(areas(dag))}</summary>",
        "",
        f"{dag.kind} from `{dag.spec}` · {version(dag)}",
        "",
    ]
    rows = [(c.path, c) for c in dag.arguments]
    rows += [(f"params.{c.path}", c) for c in dag.params]
    rows += [(c.path, c) for c in dag.config]
    if rows and dag.status == ADDED:
        lines += ["| value | |", "|---|---|"]
        lines += [f"| `{_cell(path)}` | {_value(c.new)} |" for path, c in rows]
        lines.append("")
    elif rows:
        lines += ["| value | before | after |", "|---|---|---|"]
        lines += [f"| `{_cell(path)}` | {_value(c.old)} | {_value(c.new)} |" for path, c in rows]
        lines.append("")
    if dag.tasks and dag.status == ADDED:
        lines += ["| task | operator |", "|---|---|"]
        lines += [f"| `{t.task_id}` | {t.operator} |" for t in dag.tasks]
        lines.append("")
    elif dag.tasks and dag.status != REMOVED:
        lines += ["| task | | change |", "|---|---|---|"]
        lines += [_task(task) for task in dag.tasks]
        lines.append("")
    edges = [f"+ `{a}` → `{b}`" for a, b in dag.edges_added]
    edges += [f"− `{a}` → `{b}`" for a, b in dag.edges_removed]
    if edges:
        lines += ["**Edges:** " + " · ".join(edges), ""]
    assets = [f"- waits on {_from(k)}" for k in dag.inlets_added]
    assets += [f"- no longer waits on {_from(k)}" for k in dag.inlets_removed]
    assets += [f"- new outlet of `{t}`: `{p}`" for t, p in dag.outlets_added]
    assets += [f"- outlet removed from `{t}`: `{p}`" for t, p in dag.outlets_removed]
    assets += [f"- now triggers `{k.consumer}` (via `{k.path}`)" for k in dag.triggers_added]
    assets += [
        f"- no longer triggers `{k.consumer}` (via `{k.path}`)" for k in dag.triggers_removed
    ]
    if assets:
        lines += ["**Assets**", "", *assets, ""]
    if dag.downstream:
        reached = [
            f"`{k.consumer}` (waits on `{k.path}` of `{k.producer}`)" for k in dag.downstream
        ]
        lines += ["**Reaches downstream:** " + ", ".join(reached), ""]
    if version(dag) == "same version":
        lines += [f"_{SAME_VERSION_NOTE}_", ""]
    if dag.version_from_docs and dag.status == CHANGED:
        lines += ["The DAG's documentation (`doc_md`) changes: Airflow stores a new version.", ""]
    lines += [f"> ⚠ {_escape(risk.message)}\n" for risk in dag.risks]
    lines.append("</details>")
    return "\n".join(lines) + "\n"


def _task(task: TaskPlan) -> str:
    if task.status == RENAMED:
        details = [f"from `{task.renamed_from}`"]
    elif task.status in (ADDED, REMOVED):
        details = [task.operator]
    else:
        details = []
    details += [_inline(c) for c in task.changes]
    return f"| `{task.task_id}` | {task.status} | {'<br>'.join(details)} |"


def _inline(change: Change) -> str:
    return f"`{_cell(change.path)}`: {_value(change.old)} → {_value(change.new)}"


def _from(link: Link) -> str:
    return f"`{link.path}` (from `{link.producer}`:`{link.task}`)"


def _value(value: object) -> str:
    if value is UNSET:
        return "_unset_"
    text = show(value)
    if len(text) > LONGEST_VALUE:
        text = text[: LONGEST_VALUE - 1] + "…"
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{_cell(text)}{pad}{fence}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _escape(text: str) -> str:
    return _cell(text).replace("<", "&lt;")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
