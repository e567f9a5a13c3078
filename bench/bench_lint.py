"""`dagspec lint` on a project of 1,000 specs (goal: under 3 s on this machine).

Writes a temporary project with a mix of the three kinds, then times the CLI end to end
(interpreter start included) and the lint call alone, several times; prints the medians.
Run: .venv/bin/python bench/bench_lint.py [N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 3


def make_project(root: Path, count: int) -> None:
    (root / "specs").mkdir(parents=True)
    for name in ("entity-pipeline.yaml", "orders-etl.yaml", "chai-ngc253.yaml"):
        (root / "specs" / name).write_text((ROOT / "specs" / name).read_text())
    entities = []
    for i in range(count - 3):
        kind = ("Entity", "Manifest", "ReductionPipeline")[i % 3]
        name = f"{kind.lower()}-{i:05d}"
        if kind == "Entity":
            entities.append(name)
            doc = {
                "apiVersion": "dagspec/v1",
                "kind": kind,
                "metadata": {"name": name},
                "spec": {"extends": "entity-pipeline"},
            }
        else:
            source = "orders-etl.yaml" if kind == "Manifest" else "chai-ngc253.yaml"
            doc = yaml.safe_load((ROOT / "specs" / source).read_text())
            doc["metadata"]["name"] = name
        (root / "specs" / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    config = yaml.safe_load((ROOT / "dagspec.yaml").read_text())
    config["spec"]["entities"] = entities
    (root / "dagspec.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    from compiler import api

    with tempfile.TemporaryDirectory(prefix="dagspec-lint-bench-") as tmp:
        root = Path(tmp)
        make_project(root, count)
        cli, inproc = [], []
        for _ in range(REPEAT):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "dagspec.cli", "--project", str(root), "lint"],
                capture_output=True,
                text=True,
                env={**os.environ},
            )
            cli.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"lint found problems:\n{done.stdout[-2000:]}")
            started = time.perf_counter()
            assert api.lint(root) == []
            inproc.append(time.perf_counter() - started)
    print(f"| specs | `dagspec lint` (CLI, median of {REPEAT}) | lint call alone | goal |")
    print("|---:|---:|---:|---|")
    print(
        f"| {count} | {statistics.median(cli):.2f} s | {statistics.median(inproc):.2f} s "
        f"| < 3 s ({os.cpu_count()} cores) |"
    )


if __name__ == "__main__":
    main()
