"""What `dagspec plan` says against what Airflow does, over a matrix of one-place spec edits.

For every edit (each a member of a class of change: a DAG argument, a param, a task setting, an
operator argument, a shared constant, documentation, structure, Assets, the project config):
- the plan lists a DAG exactly when its generated DAG file changes, and
- the plan says "new version" exactly when Airflow's serialized DAG hash changes (the hash
  `SerializedDagModel.write_dag` compares to decide whether to store a new DAG version),
- and the plan names the changed value.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace as replace_field
from pathlib import Path

import pytest
from plan_history import ROOT, replace

from compiler import api
from dagspec.plan import RENDERERS
from dagspec.plan.description import ProjectDescription
from dagspec.plan.diff import Plan, Side, compare
from dagspec.plan.make import describe_project
from dagspec.plan.risks import add_risks

pytestmark = pytest.mark.airflow

Edit = Callable[[Path], None]


def _spec(name: str, old: str, new: str) -> Edit:
    return lambda root: replace(root / "specs" / f"{name}.yaml", old, new)


def _config(old: str, new: str) -> Edit:
    return lambda root: replace(root / "dagspec.yaml", old, new)


PIPELINE = "entity-pipeline"
#: name → (edit, text the plan must show). The base adds a param, notifications and a
#: second pool to the example project, so that edits of those have something to change.
EDITS: dict[str, tuple[Edit, str]] = {
    "comment": (
        _spec("orders-etl", "spec:\n", "spec:\n  # loads at night\n"),
        "no change to any DAG",
    ),
    "schedule": (_spec("orders-etl", '"@daily"', '"@hourly"'), 'schedule: "@daily" → "@hourly"'),
    "catchup": (_spec("orders-etl", "catchup: false", "catchup: true"), "catchup: false → true"),
    "param default": (
        _spec("orders-etl", "default: eu", "default: us"),
        'params.region.default: "eu" → "us"',
    ),
    "param enum": (_spec("orders-etl", "enum: [eu, us]", "enum: [eu, us, ap]"), "region.enum"),
    "owner": (_spec("orders-etl", "owner: team-sales-data", "owner: team-sales"), '"team-sales"'),
    "tags": (_spec("orders-etl", "tags: [sales]", "tags: [sales, daily]"), "tags:"),
    "description": (
        _spec("orders-etl", "non-null decimal(18,2) amount", "non-null decimal amount"),
        "description:",
    ),
    "spec description": (
        _spec("chai-ngc253", "then a daily map of all data.", "then a map of all data."),
        "description:",
    ),
    "process retries": (_spec("orders-etl", "retries: 2", "retries: 3"), "retries: 2 → 3"),
    "contract column": (
        _spec("orders-etl", "precision: 18", "precision: 20"),
        "process.contract.columns[amount].precision: 18 → 20",
    ),
    "notify channel": (
        _spec("orders-etl", "conn_id: smtp_sales", "conn_id: smtp_orders"),
        'notify.channels.sales-mail.conn_id: "smtp_sales" → "smtp_orders"',
    ),
    "notify event": (
        _spec(
            "orders-etl",
            "on_failure: [sales-mail]",
            "on_failure: [sales-mail]\n    on_success: [sales-mail]",
        ),
        'callbacks: ["failure"] → ["failure", "success"]',
    ),
    "module command": (
        _spec(PIPELINE, "examples/modules/govern.py]", "examples/modules/govern.py, --strict]"),
        "command:",
    ),
    "module env": (
        _spec(
            PIPELINE,
            "command: [python, examples/modules/deploy.py]",
            "command: [python, examples/modules/deploy.py]\n          env: {DDL_DIALECT: sqlite}",
        ),
        'env.DDL_DIALECT: unset → "sqlite"',
    ),
    "module timeout": (
        _spec(
            PIPELINE,
            "command: [python, examples/modules/register.py]",
            "command: [python, examples/modules/register.py]\n          timeout_seconds: 600",
        ),
        "timeout_seconds: unset → 600",
    ),
    "module retries": (
        _spec(
            PIPELINE,
            "command: [python, examples/modules/docs.py]",
            "command: [python, examples/modules/docs.py]\n          retries: 2",
        ),
        "retries: unset → 2",
    ),
    "module pool": (
        _spec(
            PIPELINE,
            "command: [python, examples/modules/pull.py]",
            "command: [python, examples/modules/pull.py]\n          pool: dagspec_heavy",
        ),
        'pool: "dagspec_entities" → "dagspec_heavy"',
    ),
    "phase description": (
        _spec(
            PIPELINE,
            "description: Record the data product in the registry.",
            "description: Record it in the registry.",
        ),
        "groups.register.tooltip",
    ),
    "module description": (
        _spec(PIPELINE, "description: Register the data product.", "description: Register it."),
        'description: "Register the data product." → "Register it."',
    ),
    "spec queue": (
        _spec(
            "waste-tracking",
            "  extends: entity-pipeline\n",
            "  extends: entity-pipeline\n  queue: heavy\n",
        ),
        'default_args.queue: unset → "heavy"',
    ),
    "builtin param": (
        _spec(
            "waste-tracking",
            "  extends: entity-pipeline\n",
            "  extends: entity-pipeline\n  keep_workspace: true\n",
        ),
        "params.keep_workspace.default: false → true",
    ),
    "step resources": (
        _spec(
            "chai-ngc253",
            "resources: {cpu: 1, memory_gb: 0.5, time_hours: 0.25}",
            "resources: {cpu: 2, memory_gb: 0.5, time_hours: 0.25}",
        ),
        "step.config.resources.cpu: 1 → 2",
    ),
    "step concurrency": (
        _spec("chai-ngc253", "max_concurrent_runs: 1", "max_concurrent_runs: 3"),
        "max_active_tis_per_dagrun: 1 → 3",
    ),
    "priority": (_spec("chai-ngc253", "priority: 10", "priority: 20"), "priority_weight: 10 → 20"),
    "cron trigger": (
        _spec("chai-ngc253", "trigger: {type: MANUAL}", 'trigger: {type: CRON, cron: "0 3 * * *"}'),
        'schedule: null → "0 3 * * *"',
    ),
    "continuous trigger": (
        _spec(
            "chai-ngc253",
            "trigger: {type: MANUAL}",
            "trigger: {type: CONTINUOUS, poll_seconds: 30}",
        ),
        "+ task wait_for_new_data",
    ),
    "notify deadline": (
        _spec(
            "orders-etl",
            "on_failure: [sales-mail]",
            "on_failure: [sales-mail]\n    on_deadline: [sales-mail]\n    deadline_minutes: 90",
        ),
        "deadline_minutes: unset → 90",
    ),
    "data grouping": (
        _spec("chai-ngc253", "line: [CO43]", "line: [CO43, CO65]"),
        "pipeline.data_grouping.filter_rules.line",
    ),
    "disabled": (
        _spec("chai-ngc253", "  priority: 10\n", "  priority: 10\n  enabled: false\n"),
        "is_paused_upon_creation: false → true",
    ),
    "pool slots": (_config("slots: 5", "slots: 8"), "dagspec_entities.slots: 5 → 8"),
    "workspace prefix": (_config("prefix: rdt", "prefix: dgs"), 'workspace.prefix: "rdt" → "dgs"'),
    "project retries": (
        _config(
            "    owner: data-platform\n    start_date",
            "    owner: data-platform\n    retries: 1\n    start_date",
        ),
        "default_args.retries: unset → 1",
    ),
    "module added": (
        _spec(
            PIPELINE,
            "          outputs: [register/registry.json]\n",
            "          outputs: [register/registry.json]\n"
            "        - name: catalogue\n"
            "          command: [python, examples/modules/register.py]\n"
            "          outputs: [register/catalogue.json]\n",
        ),
        "+ task register.catalogue",
    ),
    "module removed": (
        _spec(
            PIPELINE,
            "        - name: profile\n"
            "          description: Profile the records; optional, so a failure only warns.\n"
            "          command: [python, examples/modules/profile.py]\n"
            "          required: false\n"
            "          inputs: {model: pull/model.json, records: pull/records.json}\n"
            "          outputs: [govern/profile.json]\n",
            "",
        ),
        "- task govern.profile",
    ),
}


def _base(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copy(ROOT / "dagspec.yaml", root / "dagspec.yaml")
    shutil.copytree(ROOT / "specs", root / "specs")
    replace(
        root / "dagspec.yaml",
        "      description: Module tasks of every entity DAG (the seed's max-parallel 5)\n",
        "      description: Module tasks of every entity DAG (the seed's max-parallel 5)\n"
        "    dagspec_heavy: {slots: 1}\n",
    )
    replace(
        root / "specs" / "orders-etl.yaml",
        "  catchup: false\n",
        "  catchup: false\n"
        "  params:\n"
        "    region: {type: string, enum: [eu, us], default: eu}\n"
        "  notify:\n"
        "    channels:\n"
        "      sales-mail: {type: email, conn_id: smtp_sales, to: [sales@example.org]}\n"
        "    on_failure: [sales-mail]\n",
    )
    return root


def _dag_files(root: Path) -> dict[str, str]:
    """DAG file name → body (the header lines, which name hashes of the inputs, left out)."""
    result = api.compile_project(root, out=root / "compiled", check=True)
    assert result.ok, result.findings
    assert result.plan is not None
    return {name: text.split("\n", 4)[4] for name, text in result.plan.files.items()}


class Serializer:
    """Airflow's serialized-DAG hash of each DAG a file defines, with and without the DAG's
    doc_md. The file is parsed from one fixed folder, so `PROJECT_ROOT` (an operator argument)
    is the same for every state."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.known = folder, {}
        folder.mkdir()

    def hashes(self, files: dict[str, str]) -> dict[str, tuple[str, str]]:
        found = {}
        for name, body in files.items():
            key = hashlib.sha256(body.encode()).hexdigest()
            if key not in self.known:
                self.known[key] = self._parse(name, body)
            found.update(self.known[key])
        return found

    def _parse(self, name: str, body: str) -> dict[str, tuple[str, str]]:
        from airflow.dag_processing.dagbag import DagBag
        from airflow.models.serialized_dag import SerializedDagModel
        from airflow.serialization.serialized_objects import LazyDeserializedDAG

        path = self.folder / name
        path.write_text(body, encoding="utf-8")
        bag = DagBag(dag_folder=str(path))
        assert bag.import_errors == {}, bag.import_errors
        found = {}
        for dag_id, dag in bag.dags.items():
            data = LazyDeserializedDAG.from_dag(dag).data
            full = SerializedDagModel.hash(data)
            data["dag"].pop("doc_md", None)
            found[dag_id] = (full, SerializedDagModel.hash(data))
        return found


@dataclass(frozen=True)
class State:
    """One edit: the plan (and the plan as if DAG docs never changed), the DAG files and
    Airflow's hashes before and after."""

    plan: Plan
    plan_without_docs: Plan
    files: tuple[dict[str, str], dict[str, str]]
    hashes: tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]

    def differs(self, which: int) -> set[str]:
        before, after = self.hashes
        return {d for d in after if d in before and after[d][which] != before[d][which]}


def _plan(before: ProjectDescription, after: ProjectDescription) -> Plan:
    plan = compare(before, after, (Side("base", None, 0), Side("edit", None, 0)))
    add_risks(plan, before, after)
    return plan


def _without_docs(project: ProjectDescription) -> ProjectDescription:
    return ProjectDescription({k: replace_field(d, doc="") for k, d in project.dags.items()})


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> dict[str, State]:
    folder = tmp_path_factory.mktemp("plan-versions")
    base = _base(folder / "base")
    serializer = Serializer(folder / "parse")
    before = describe_project(base)
    base_files = _dag_files(base)
    base_hashes = serializer.hashes(base_files)
    found = {}
    for i, (name, (edit, _)) in enumerate(EDITS.items()):
        root = folder / f"edit-{i}"
        shutil.copytree(base, root)
        edit(root)
        after = describe_project(root)
        files = _dag_files(root)
        found[name] = State(
            _plan(before, after),
            _plan(_without_docs(before), _without_docs(after)),
            (base_files, files),
            (base_hashes, serializer.hashes(files)),
        )
    return found


@pytest.mark.parametrize("name", list(EDITS))
def test_the_plan_lists_a_dag_exactly_when_its_dag_file_changes(states, name: str) -> None:
    state = states[name]
    before, after = state.files
    changed_files = {n.removesuffix(".py") for n in after if after[n] != before.get(n)}
    assert {d.dag_id for d in state.plan.dags} == changed_files


@pytest.mark.parametrize("name", list(EDITS))
def test_new_version_exactly_when_airflow_serializes_the_dag_differently(states, name) -> None:
    state = states[name]
    assert set(state.plan.new_versions) == state.differs(0)
    # The same holds with the DAG docs left out on both sides, where an edit of an operator
    # argument that Airflow does not store must keep the version.
    assert set(state.plan_without_docs.new_versions) == state.differs(1)


@pytest.mark.parametrize("name", list(EDITS))
def test_the_plan_names_what_changed(states, name: str) -> None:
    plan = states[name].plan
    text = RENDERERS["text"](plan)
    assert EDITS[name][1] in text, text


def test_a_comment_only_edit_keeps_the_dag_file_and_its_version(states) -> None:
    """The DAG docs say what the spec means, not its bytes: a comment changes no DAG file
    (below its header) and no serialized hash, so Airflow keeps the DAG's version."""
    state = states["comment"]
    assert state.files[0] == state.files[1]
    assert state.differs(0) == set()
    assert not state.plan.dags and not state.plan.new_versions


def test_the_edits_cover_both_kinds_of_change(states) -> None:
    """Some edits change what Airflow stores, others only what the DAG file passes its
    operators (the next run uses them, under the same version)."""
    same = {n for n, s in states.items() if s.plan.dags and not s.differs(1)}
    assert {"module env", "module timeout", "contract column", "step resources"} <= same
    stored = {n for n, s in states.items() if s.differs(1)}
    assert {"schedule", "param default", "module retries", "module added"} <= stored
