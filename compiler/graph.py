"""Pictures of DAGs: one DAG's tasks (phases as clusters), or the project's DAGs and the
artifacts that link them. Mermaid and Graphviz DOT are text; PNG comes from Graphviz `dot`."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from compiler.model import Analysis, Target


@dataclass
class Graph:
    """Nodes (id → label, cluster), clusters (id → label) and labelled edges."""

    title: str
    nodes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    clusters: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)


def dag_graph(targets: list[Target]) -> Graph:
    """The tasks of one or more DAGs; each DAG's groups (phases, task groups) are clusters."""
    graph = Graph(", ".join(t.name for t in targets))
    for target in targets:
        prefix = f"{target.name}/" if len(targets) > 1 else ""
        for task, group in target.tasks.items():
            cluster = f"{prefix}{group}" if group else (target.name if prefix else None)
            if cluster:
                graph.clusters[cluster] = group or target.name
            label = task.split(".", 1)[1] if group and "." in task else task
            graph.nodes[prefix + task] = (label, cluster)
        graph.edges += [(prefix + a, prefix + b, "") for a, b in target.dag.edges()]
    return graph


def project_graph(analysis: Analysis) -> Graph:
    """Every DAG of the project, grouped by spec kind, with an edge per artifact dependency."""
    graph = Graph(analysis.project.config.get("name", "project"))
    for target in sorted(analysis.targets, key=lambda t: t.name):
        kind = target.kind
        graph.clusters[kind] = kind
        graph.nodes[target.name] = (target.name, kind)
        for producer, paths in sorted(target.needs.items()):
            graph.edges.append((producer, target.name, "<br/>".join(sorted(paths))))
    return graph


def _id(name: str) -> str:
    return "n_" + re.sub(r"\W", "_", name)


def _by_cluster(graph: Graph) -> dict[str | None, list[str]]:
    groups: dict[str | None, list[str]] = {}
    for node, (_, cluster) in graph.nodes.items():
        groups.setdefault(cluster, []).append(node)
    return groups


def mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    for cluster, nodes in _by_cluster(graph).items():
        indent = "    "
        if cluster is not None:
            lines.append(f'    subgraph {_id(cluster)}["{_label(graph.clusters[cluster])}"]')
            indent = "        "
        lines += [f'{indent}{_id(n)}["{_label(graph.nodes[n][0])}"]' for n in nodes]
        if cluster is not None:
            lines.append("    end")
    for a, b, label in graph.edges:
        arrow = f' -->|"{_label(label)}"| ' if label else " --> "
        lines.append(f"    {_id(a)}{arrow}{_id(b)}")
    return "\n".join(lines) + "\n"


def dot(graph: Graph) -> str:
    lines = [
        f'digraph "{_label(graph.title)}" {{',
        "    rankdir=LR;",
        '    node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for cluster, nodes in _by_cluster(graph).items():
        indent = "    "
        if cluster is not None:
            lines += [
                f"    subgraph cluster_{_id(cluster)} {{",
                f'        label="{_label(graph.clusters[cluster])}"; style=rounded;',
            ]
            indent = "        "
        lines += [f'{indent}{_id(n)} [label="{_label(graph.nodes[n][0])}"];' for n in nodes]
        if cluster is not None:
            lines.append("    }")
    for a, b, label in graph.edges:
        text = label.replace("<br/>", "\\n")
        lines.append(
            f"    {_id(a)} -> {_id(b)}" + (f' [label="{_label(text)}"];' if label else ";")
        )
    return "\n".join(lines) + "\n}\n"


def png(graph: Graph) -> bytes:
    """PNG through Graphviz (`make test` installs Debian's graphviz when it is missing)."""
    if shutil.which("dot") is None:
        raise OSError("Graphviz `dot` is not installed (Debian: apt-get install graphviz)")
    done = subprocess.run(
        ["dot", "-Tpng"], input=dot(graph).encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise OSError(f"dot failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "'")


FORMATS = {"mermaid": mermaid, "dot": dot}
