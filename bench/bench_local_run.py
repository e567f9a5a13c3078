"""`dagspec run` wall time: the fast local runner vs the modules' own time vs `--airflow`.

Two shapes, each in a temporary copy of a project, each run through the CLI as a user would:

- the example entity (`waste-tracking`, 9 modules in 6 phases): fast path wall vs the modules'
  critical path (per phase, the slowest module's wall time as the runner measured it, summed)
  and vs the same 9 programs run one after another directly; and `--airflow` (dag.test);
- the seed-000 shape: 19 modules in 6 phases (4+3+3+3+3+3), each sleeping 1 s; the phases
  run one after another, the modules of a phase in parallel: the floor is 6 s.

One run each (ratios within one run); writes bench/results-local-run.md.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLEEPER = """import json, sys, time
from pathlib import Path
manifest = json.loads(Path(sys.argv[sys.argv.index("--manifest") + 1]).read_text())
time.sleep(1.0)
print(json.dumps({"module": "m", "version": "1", "status": "ok",
                  "entity_id": manifest["entity_id"], "timestamp": "2026-01-01T00:00:00Z",
                  "duration_ms": 1000, "outputs": {}, "errors": []}))
"""
SEED_PHASES = [4, 3, 3, 3, 3, 3]


def copy_examples(root: Path) -> Path:
    root.mkdir(parents=True)
    for name in ("dagspec.yaml", "specs", "examples"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy(source, root / name)
    return root


def seed_project(root: Path) -> Path:
    """A project with one entity of 19 one-second modules (the seed-000 pipeline's shape)."""
    (root / "specs").mkdir(parents=True)
    (root / "modules").mkdir()
    (root / "modules" / "sleep.py").write_text(SLEEPER)
    config = (ROOT / "dagspec.yaml").read_text()
    config = config.replace("    - waste-tracking\n    - organization-site\n", "    - seed\n")
    (root / "dagspec.yaml").write_text(config)
    lines = [
        "apiVersion: dagspec/v1",
        "kind: Entity",
        "metadata:",
        "  name: seed",
        "  description: 19 modules of one second",
        "spec:",
        "  phases:",
    ]
    n = 0
    for p, count in enumerate(SEED_PHASES):
        lines += [f"    - name: phase{p}", "      modules:"]
        for _ in range(count):
            n += 1
            lines += [
                f"        - name: m{n:02d}",
                "          command: python modules/sleep.py",
                "          outputs: []",
            ]
    lines.append("  promote: []")
    (root / "specs" / "seed.yaml").write_text("\n".join(lines) + "\n")
    return root


def dagspec_run(project: Path, spec: str, *extra: str) -> tuple[float, dict]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(project / ".airflow"),
        "RDT_WORKSPACE_DIR": str(project / "ws"),
    }
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    command = [
        sys.executable,
        "-m",
        "dagspec.cli",
        "--project",
        str(project),
        "run",
        spec,
        "--format",
        "json",
        *extra,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=project, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{spec} {extra} failed:\n{done.stderr[-3000:]}")
    return wall, json.loads(done.stdout)


def critical_path(report: dict) -> float:
    """Per phase, the slowest module task's wall time; summed over the phases."""
    phases: dict[str, float] = {}
    for task in report["tasks"]:
        phase, _, name = task["task_id"].partition(".")
        if name and name != "gate":
            phases[phase] = max(phases.get(phase, 0.0), task["duration_s"])
    return sum(phases.values())


def modules_directly(project: Path) -> float:
    """The example modules run one after another, by hand, as their authors would."""
    from dagspec_runtime.entity.workspace import create_workspace

    ws = create_workspace(
        "waste-tracking",
        ["pull", "govern", "compile", "deploy", "register", "support"],
        project / "ws-direct",
    )
    scripts = [
        ("pull", "pull.py", {}),
        ("govern", "govern.py", {"model": "pull/model.json"}),
        ("govern", "profile.py", {"model": "pull/model.json", "records": "pull/records.json"}),
        (
            "compile",
            "compile_sql.py",
            {"model": "pull/model.json", "governance": "govern/governance.json"},
        ),
        (
            "compile",
            "contract.py",
            {"model": "pull/model.json", "governance": "govern/governance.json"},
        ),
        (
            "deploy",
            "deploy.py",
            {"ddl": "compile/artifacts/bronze.sql", "records": "pull/records.json"},
        ),
        (
            "register",
            "register.py",
            {"model": "pull/model.json", "contract": "compile/artifacts/datacontract.yaml"},
        ),
        (
            "support",
            "docs.py",
            {"model": "pull/model.json", "governance": "govern/governance.json"},
        ),
        (
            "support",
            "export_records.py",
            {"model": "pull/model.json", "records": "pull/records.json"},
        ),
    ]
    started = time.perf_counter()
    for phase, script, inputs in scripts:
        manifest = ws / phase / f"{script}.manifest.json"
        manifest.write_text(
            json.dumps(
                {
                    "entity_id": "waste-tracking",
                    "workspace": str(ws),
                    "target": "dev",
                    "run_id": "direct",
                    "dry_run": True,
                    "inputs": inputs,
                    "output_dir": phase,
                }
            )
        )
        subprocess.run(
            [sys.executable, f"examples/modules/{script}", "--manifest", str(manifest), "--json"],
            cwd=project,
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - started


def main() -> None:
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="dagspec-bench-run-") as tmp:
        example = copy_examples(Path(tmp) / "example")
        direct = modules_directly(example)
        fast_wall, fast = dagspec_run(example, "waste-tracking", "--dry-run")
        airflow_wall, _ = dagspec_run(example, "waste-tracking", "--dry-run", "--airflow")
        crit = critical_path(fast)
        rows += [
            (
                "example entity: 9 modules run directly, one after another (s)",
                f"{direct:.2f}",
                "",
                "",
            ),
            ("example entity: modules' critical path in the fast run (s)", f"{crit:.2f}", "", ""),
            (
                "example entity: `dagspec run` fast path, wall (s)",
                f"{fast_wall:.2f}",
                f"<= {crit + 2:.2f} (critical path + 2 s)",
                "yes" if fast_wall <= crit + 2 else "**NO**",
            ),
            (
                "example entity: `dagspec run --airflow` (dag.test; first run, creates its DB), "
                "wall (s)",
                f"{airflow_wall:.2f}",
                "",
                "",
            ),
            ("example entity: --airflow / fast", f"{airflow_wall / fast_wall:.1f}x", "", ""),
        ]
        seed = seed_project(Path(tmp) / "seed")
        seed_wall, _ = dagspec_run(seed, "seed", "--dry-run")
        seed_airflow, _ = dagspec_run(seed, "seed", "--dry-run", "--airflow")
        rows += [
            (
                "seed-000 shape, 19 modules x 1 s in 6 phases: fast path, wall (s)",
                f"{seed_wall:.2f}",
                "<= 8.0 (6 s + 2 s)",
                "yes" if seed_wall <= 8 else "**NO**",
            ),
            (
                "seed-000 shape: --airflow (dag.test; first run, creates its DB), wall (s)",
                f"{seed_airflow:.2f}",
                "",
                "",
            ),
        ]
    width = [
        max(len(r[i]) for r in [("measurement", "value", "goal", "met"), *rows]) for i in range(4)
    ]
    table = [("measurement", "value", "goal", "met"), tuple("-" * w for w in width), *rows]
    text = "\n".join(
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) + " |" for r in table
    )
    print(text)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    (ROOT / "bench" / "results-local-run.md").write_text(
        f"# `dagspec run`: fast local runner vs modules vs --airflow\n\n"
        f"Measured {when} on {os.cpu_count()} cores, Python {platform.python_version()}, by "
        f"`bench/bench_local_run.py` (one run; every figure includes process start-up, "
        f"compile and report). Dry runs, so nothing is promoted between the runs.\n\n"
        f"{text}\n"
    )


if __name__ == "__main__":
    main()
