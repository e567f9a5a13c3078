"""The same pipeline written four ways (dagspec spec, hand-written DAG file with dagspec's
operators, hand-written with BashOperator, dag-factory YAML), so the parse benchmark compares
like with like: 3 TaskGroups × 4 module tasks + a gate per
group, a workspace task before and promote/result tasks after (18 tasks per DAG)."""

from __future__ import annotations

from pathlib import Path

PHASES = ("pull", "build", "ship")
MODULES = 4


def entity_name(i: int) -> str:
    return f"entity-{i:05d}"


def write_project(root: Path, count: int, *, rich: bool = False) -> list[str]:
    """A dagspec project of `count` self-contained Entity specs (no `extends`); `rich`: the
    ~125-line form (every module described, with env, timeout and required)."""
    names = [entity_name(i) for i in range(count)]
    (root / "specs").mkdir(parents=True, exist_ok=True)
    config = [
        "apiVersion: dagspec/v1",
        "kind: Project",
        "metadata: {name: bench}",
        "spec:",
        "  specs_dir: specs",
        "  output_dir: generated_dags",
        "  targets: [dev, prod]",
        "  defaults: {owner: bench, start_date: '2024-01-01', pool: bench}",
        "  pools: {bench: {slots: 4}}",
        "  entities:",
        *(f"    - {name}" for name in names),
    ]
    (root / "dagspec.yaml").write_text("\n".join(config) + "\n")
    for name in names:
        (root / "specs" / f"{name}.yaml").write_text(entity_spec(name, rich=rich))
    return names


def entity_spec(name: str, *, rich: bool = False) -> str:
    lines = [
        "apiVersion: dagspec/v1",
        "kind: Entity",
        "metadata:",
        f"  name: {name}",
        "  owner: bench",
        "  tags: [bench]",
        f"  description: Benchmark pipeline {name}.",
        "spec:",
        "  phases:",
    ]
    for p, phase in enumerate(PHASES):
        lines += [f"    - name: {phase}", f"      description: Phase {phase}.", "      modules:"]
        for m in range(MODULES):
            lines += [
                f"        - name: {phase}-m{m}",
                f"          command: [python, modules/{phase}_{m}.py]",
                f"          outputs: [{phase}/out{m}.json]",
            ]
            if p > 0:
                lines.append(f"          inputs: {{prev: {PHASES[p - 1]}/out{m}.json}}")
            if rich:
                lines += [
                    f"          description: Module {m} of phase {phase}, run for {name}.",
                    f"          timeout_seconds: {600 + 60 * m}",
                    f"          required: {'true' if m else 'false'}",
                    "          env:",
                    f"            BENCH_PHASE: {phase}",
                ]
    lines += ["  promote:", "    - {from: ship/out0.json, to: 'out/{entity}/out0.json'}"]
    if rich:
        lines += [
            "    - {from: ship/out1.json, to: 'out/{entity}/out1.json'}",
            "  keep_workspace: false",
        ]
    return "\n".join(lines) + "\n"


_HEAD = '''"""Hand-written pipeline {name}: the same shape as the dagspec-generated one."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param, TaskGroup

with DAG(
    dag_id="{name}",
    description="Benchmark pipeline {name}.",
    schedule=None,
    catchup=False,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    max_active_runs=16,
    tags=["bench"],
    default_args={{"owner": "bench", "retries": 0}},
    params={{
        "target": Param("dev", type="string", enum=["dev", "prod"], title="Target"),
        "dry_run": Param(False, type="boolean", title="Dry run"),
        "keep_workspace": Param(False, type="boolean", title="Keep workspace"),
    }},
) as dag:
    workspace = BashOperator(task_id="prepare_workspace", bash_command="mkdir -p ws")
'''


def handwritten_dag(name: str) -> str:
    out = [_HEAD.format(name=name)]
    for phase in PHASES:
        out.append(f'    with TaskGroup("{phase}", tooltip="Phase {phase}.") as {phase}:')
        names = []
        for m in range(MODULES):
            var = f"{phase}_m{m}"
            names.append(var)
            out.append(
                f'        {var} = BashOperator(task_id="{phase}-m{m}", '
                f'bash_command="python modules/{phase}_{m}.py", pool="bench")'
            )
        out.append(f'        {phase}_gate = BashOperator(task_id="gate", bash_command="true")')
        out.append(f"        [{', '.join(names)}] >> {phase}_gate")
    out.append('    promote = BashOperator(task_id="promote", bash_command="true")')
    out.append('    result = BashOperator(task_id="pipeline_result", bash_command="true")')
    out.append("    workspace >> " + " >> ".join(PHASES) + " >> promote >> result")
    return "\n".join(out) + "\n"


def write_handwritten(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        name = entity_name(i)
        (folder / f"{name}.py").write_text(handwritten_dag(name))


_SAME = '''\
"""Hand-written pipeline {name}, with dagspec's operators: the DAG dagspec generates, as a
person would write it (loops, f-strings, no layout)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from airflow.sdk import DAG, Param, TaskGroup
from dagspec_runtime.entity import (
    ModuleOperator,
    PhaseGateOperator,
    PipelineResultOperator,
    PrepareWorkspaceOperator,
    PromoteOperator,
)

ENTITY = "{name}"
PROJECT_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PHASES = ["pull", "build", "ship"]
MODULES = {{p: [f"{{p}}-m{{m}}" for m in range(4)] for p in PHASES}}
FLOW = " → ".join(f"`{{s}}`" for s in ["prepare_workspace", *PHASES, "promote", "pipeline_result"])
MODULE_LIST = "".join(
    f"{{i}}. **{{p}}**: Phase {{p}}.\\n" + "".join(f"    - `{{m}}`\\n" for m in MODULES[p])
    for i, p in enumerate(PHASES, 1)
)
DOC_MD = f"""# {{ENTITY}}

Benchmark pipeline {{ENTITY}}.

| setting | value |
|---|---|
| kind | Entity |
| owner | bench |
| schedule | triggered by hand |
| spec | `specs/{{ENTITY}}.yaml` |
| task settings | pool=bench, owner=bench |

## Phases

Phases run in order; the modules of a phase run in parallel.

{{MODULE_LIST}}
Flow: {{FLOW}}

See the picture: `dagspec graph {{ENTITY}}` (or Airflow's Graph tab).

Regenerate, don't edit: change the spec and run `make compile-dags`.
"""

with DAG(
    dag_id=ENTITY,
    description=f"Benchmark pipeline {{ENTITY}}.",
    doc_md=DOC_MD,
    schedule=None,
    catchup=False,
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    max_active_runs=16,
    tags=["bench", "dagspec", "entity"],
    default_args={{"owner": "bench"}},
    params={{
        "target": Param("dev", type=["string", "null"], enum=["dev", "prod"], title="Target",
                        description="Environment the modules deploy to."),
        "dry_run": Param(False, type=["boolean", "null"], title="Dry run",
                         description="Modules skip side effects; nothing is promoted."),
        "keep_workspace": Param(False, type=["boolean", "null"], title="Keep workspace",
                                description="Leave the run's workspace on disk for debugging."),
    }},
) as dag:
    workspace = PrepareWorkspaceOperator(task_id="prepare_workspace", entity=ENTITY, phases=PHASES,
                                         base_dir=None, prefix="rdt", project_root=PROJECT_ROOT)
    groups = []
    for p, phase in enumerate(PHASES):
        with TaskGroup(phase, tooltip=f"Phase {{phase}}.") as group:
            tasks = []
            for m, module in enumerate(MODULES[phase]):
                command = ["python", f"modules/{{phase}}_{{m}}.py"]
                inputs = {{"prev": f"{{PHASES[p - 1]}}/out{{m}}.json"}} if p else None
                doc = f"**{{phase}}.{{module}}**\\n\\nCommand: `{{' '.join(command)}} "
                doc += "--manifest FILE --json`\\n\\n"
                if inputs:
                    doc += f"Inputs: prev=`{{inputs['prev']}}`\\n\\n"
                doc += f"Outputs: `{{phase}}/out{{m}}.json`\\n"
                extra = {{"inputs": inputs}} if inputs else {{}}
                tasks.append(ModuleOperator(task_id=module, phase=phase, command=command,
                                            doc_md=doc, entity=ENTITY, project_root=PROJECT_ROOT,
                                            pool="bench", **extra))
            tasks >> PhaseGateOperator(task_id="gate", phase=phase,
                                       modules=dict.fromkeys(MODULES[phase], True))
        groups.append(group)
    promote = PromoteOperator(task_id="promote", entity=ENTITY, project_root=PROJECT_ROOT,
                              mapping={{"ship/out0.json": "out/{{entity}}/out0.json"}})
    result = PipelineResultOperator(task_id="pipeline_result", entity=ENTITY, phases=MODULES,
                                    project_root=PROJECT_ROOT,
                                    result_path="models/{{entity}}/pipeline-result.json")
    workspace >> groups[0] >> groups[1] >> groups[2] >> promote >> result
'''


def write_handwritten_same(folder: Path, count: int) -> None:
    """Hand-written files that build exactly the DAGs dagspec generates for `write_project`'s
    specs, with the same operators and arguments (the bench checks the serialized forms)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        name = entity_name(i)
        (folder / f"{name}.py").write_text(_SAME.format(name=name))


_BASH = "airflow.providers.standard.operators.bash.BashOperator"


def dagfactory_yaml(count: int) -> str:
    """One dag-factory 1.x config holding `count` DAGs (tasks and task groups as lists)."""
    lines = [
        "default:",
        "  default_args:",
        "    owner: bench",
        "    retries: 0",
        "    start_date: 2024-01-01",
        "  schedule: null",
        "  catchup: false",
        "  max_active_runs: 16",
        "  tags: [bench]",
        "  params:",
        "    target: dev",
        "    dry_run: false",
        "    keep_workspace: false",
    ]
    for i in range(count):
        name = entity_name(i)
        lines += [
            f"{name}:",
            f"  description: Benchmark pipeline {name}.",
            "  task_groups:",
        ]
        for phase in PHASES:
            lines += [f"    - group_name: {phase}", f"      tooltip: Phase {phase}."]
            if phase != PHASES[0]:
                prev = PHASES[PHASES.index(phase) - 1]
                lines.append(f"      dependencies: [{prev}]")
            else:
                lines.append("      dependencies: [prepare_workspace]")
        lines += [
            "  tasks:",
            "    - task_id: prepare_workspace",
            f"      operator: {_BASH}",
            "      bash_command: mkdir -p ws",
        ]
        for phase in PHASES:
            mods = [f"{phase}-m{m}" for m in range(MODULES)]
            for m, mod in enumerate(mods):
                lines += [
                    f"    - task_id: {mod}",
                    f"      operator: {_BASH}",
                    f"      bash_command: python modules/{phase}_{m}.py",
                    "      pool: bench",
                    f"      task_group_name: {phase}",
                ]
            lines += [
                f"    - task_id: gate-{phase}",  # dag-factory wants task ids unique per file
                f"      operator: {_BASH}",
                "      bash_command: 'true'",
                f"      task_group_name: {phase}",
                f"      dependencies: [{', '.join(mods)}]",
            ]
        lines += [
            "    - task_id: promote",
            f"      operator: {_BASH}",
            "      bash_command: 'true'",
            f"      dependencies: [{PHASES[-1]}]",
            "    - task_id: pipeline_result",
            f"      operator: {_BASH}",
            "      bash_command: 'true'",
            "      dependencies: [promote]",
        ]
    return "\n".join(lines) + "\n"


LOADER = '''"""dag-factory loader: Airflow builds every DAG of pipelines.yml when it parses this."""

from pathlib import Path

from dagfactory import load_yaml_dags

CONFIG = Path(__file__).with_name("pipelines.yml")
load_yaml_dags(globals_dict=globals(), config_filepath=str(CONFIG))
'''


def write_dagfactory(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipelines.yml").write_text(dagfactory_yaml(count))
    (folder / "load_dags.py").write_text(LOADER)
