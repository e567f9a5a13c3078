"""A project whose entity DAGs cover what an entity file can hold, for the packed-output tests.

Each entity takes one combination of the features the entity template writes differently:
`extends`, notifications (shared and own channels), a cron schedule, a schedule that waits for
another entity's promoted file (Assets, also two paths that make the same variable name),
`@continuous`, own pools per module, task settings that need `timedelta`, env, timeouts,
optional modules, declared params, and texts full of quotes and backslashes. Non-entity specs
(the example Manifest and ReductionPipeline) stay in their own files beside the packs.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRICKY = 'ends in a quote" and \'\'\' and """ and a backslash \\ and {{ braces }}"'

FEATURES = ("notify", "cron", "assets", "pools", "settings", "params", "tricky")


def write_project(root: Path, pack: int | None, count: int = 24) -> list[str]:
    """The example project's specs plus `count` generated entities; `pack`: `output.pack`."""
    shutil.copytree(ROOT / "specs", root / "specs")
    config = (ROOT / "dagspec.yaml").read_text(encoding="utf-8")
    names = [f"ent-{i:03d}" for i in range(count)]
    listed = "".join(f"    - {name}\n" for name in names)
    config = config.replace("  entities:\n", "  entities:\n" + listed, 1)
    config = config.replace(
        "  pools:\n",
        "  pools:\n    heavy: {slots: 2, description: big modules}\n",
        1,
    )
    config = config.replace(
        "  defaults:\n",
        "  defaults:\n"
        "    notify:\n"
        "      channels:\n"
        "        ops-mail: {type: email, conn_id: smtp_default, to: [ops@example.org]}\n"
        "        team-slack: {type: slack, conn_id: slack_team}\n",
        1,
    )
    if pack is not None:
        config = config.replace("spec:\n", f"spec:\n  output: {{pack: {pack}}}\n", 1)
    (root / "dagspec.yaml").write_text(config, encoding="utf-8")
    combos = list(itertools.product(*([False, True] for _ in FEATURES)))
    for i, name in enumerate(names):
        flags = dict(zip(FEATURES, combos[(i * 37) % len(combos)], strict=True))  # a spread
        (root / "specs" / f"{name}.yaml").write_text(entity(name, i, flags), encoding="utf-8")
    return names


def entity(name: str, i: int, on: dict[str, bool]) -> str:
    description = TRICKY if on["tricky"] else f"Generated entity {i}."
    lines = [
        "apiVersion: dagspec/v1",
        "kind: Entity",
        "metadata:",
        f"  name: {name}",
        f"  description: {_quoted(description)}",
        f"  tags: [gen, g{i % 3}]",
        "spec:",
    ]
    if i % 5 == 4:  # the example's shared pipeline
        lines.append("  extends: entity-pipeline")
        if on["notify"]:
            lines += ["  notify: {on_failure: [ops-mail]}"]
        return "\n".join(lines) + "\n"
    if on["notify"]:
        channels = "[ops-mail]" if i % 2 else "[ops-mail, team-slack]"
        lines += [
            "  notify:",
            f"    on_failure: {channels}",
            "    on_retry: [team-slack]",
            "    on_deadline: [ops-mail]",
            "    deadline_minutes: 45",
        ]
    if on["cron"]:
        continuous = i % 3 == 0 and not on["assets"]  # DS213: Assets never trigger @continuous
        lines += ["  schedule: '@continuous'" if continuous else "  schedule: '0 5 * * *'"]
        lines += ["  catchup: false"]
    if on["settings"]:
        lines += ["  retries: 2", "  retry_delay_seconds: 90", "  execution_timeout_seconds: 600"]
        lines += ["  env: {STAGE: gen, QUOTE: " + _quoted(TRICKY) + "}"]
    if on["params"]:
        lines += [
            "  params:",
            "    reason: {type: string, title: Reason, default: " + _quoted(TRICKY) + "}",
            "    limit: {type: integer, default: 5, minimum: 1}",
        ]
    lines += ["  phases:", "    - name: pull", f"      description: {_quoted(description)}"]
    if on["settings"]:
        lines += ["      retries: 4"]
    lines += ["      modules:", "        - name: fetch", "          command: [python, fetch.py]"]
    lines += ["          outputs: [pull/data.json]"]
    if on["pools"]:
        lines += ["          pool: heavy", "          priority_weight: 3"]
    if i < 2:  # two paths whose Asset variables have the same name
        lines += [
            "          outs: [shared/x-y.txt]" if i == 0 else "          outs: [shared/x_y.txt]"
        ]
    elif on["assets"]:
        shared = "shared/x-y.txt" if i % 2 else "shared/x_y.txt"
        upstream = i - 1 if i % 5 else i - 2  # i - 1 extends the example pipeline
        lines += [f"          deps: [shared/ent-{upstream:03d}/out.sql, {shared}]"]
    lines += [
        "    - name: build",
        "      modules:",
        "        - name: stats",
        "          command: python stats.py --say " + _quoted("it's"),
        "          required: false",
        "          timeout_seconds: 120",
        "          inputs: {data: pull/data.json}",
        "          env: {ONLY: stats}",
        "        - name: make",
        "          command: [python, make.py]",
        "          inputs: {data: pull/data.json}",
        "          outputs: [build/out.sql]",
    ]
    if on["settings"]:
        lines += ["          retry_delay_seconds: 30", "          queue: big"]
    lines += ["  promote:", '    - {from: build/out.sql, to: "shared/{entity}/out.sql"}']
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
