"""Draws bench/results.png from bench/out/results.json. Runs in the bench venv (bench/out/venv),
which has matplotlib; the project venv does not need it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> int:
    data = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    variants = [
        ("handwritten", "hand-written, BashOperator"),
        ("same_operators", "hand-written, dagspec operators"),
        ("dagspec", "dagspec generated"),
        ("dagfactory", "dag-factory YAML"),
    ]
    sizes = sorted(data["parse"], key=int)
    width = 0.2
    for k, (key, label) in enumerate(variants):
        xs = [i + (k - 1.5) * width for i in range(len(sizes))]
        ys = [data["parse"][n][key]["median"] for n in sizes]
        bars = left.bar(xs, ys, width, label=label)
        left.bar_label(bars, fmt="%.2f s", fontsize=8)
    left.set_xticks(range(len(sizes)), [f"N = {n} DAGs" for n in sizes])
    left.set_ylabel("DagBag parse, median CPU seconds")
    left.set_title("Airflow 3.3 DagBag parse (fresh process each)")
    left.legend(fontsize=8)
    compile_rows = data["compile"]
    labels = list(compile_rows)
    values = [compile_rows[k]["median"] for k in labels]
    bars = right.bar(range(len(labels)), values, color="#4c72b0")
    right.bar_label(bars, fmt="%.2f s", fontsize=8)
    right.set_xticks(range(len(labels)), labels, fontsize=8)
    right.set_ylabel("seconds (median, interpreter start excluded)")
    right.set_title("dagspec compile")
    fig.suptitle(f"{data['date']} · {data['cores']} cores · {data['cpu']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
