"""The `dagspec` command line. Exit codes: 0 ok (warnings only included), 1 stale output or a
failed run, 2 a spec error (an error finding), usage or I/O error, 130 interrupted."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from compiler import api
from compiler.findings import has_errors
from compiler.project import CONFIG_NAME, find_root
from compiler.reporters import REPORTERS
from compiler.schemas import KIND_FILES, SCHEMA_DIR, SHARED_FILES, schema_text
from dagspec.exit_codes import ExitCode
from dagspec.extras import MissingExtra, require


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, MissingExtra) as exc:
        print(f"dagspec {args.command}: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # reader went away
        return ExitCode.USAGE
    except OSError as exc:
        print(f"dagspec: {exc}", file=sys.stderr)
        return ExitCode.USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dagspec", description=__doc__)
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        help="project root (default: the nearest folder with dagspec.yaml)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    lint = commands.add_parser("lint", help="check specs and report every finding")
    lint.add_argument("paths", nargs="*", type=Path, help="spec files or folders (default: all)")
    lint.add_argument("--format", choices=sorted(REPORTERS), default="text")
    _airflow_flag(lint)
    lint.set_defaults(handler=_lint)

    compile_ = commands.add_parser("compile", help="compile specs into generated_dags/")
    compile_.add_argument("--specs", type=Path, help="spec folder (default: from dagspec.yaml)")
    compile_.add_argument("--out", type=Path, help="output folder (default: from dagspec.yaml)")
    compile_.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 when the output is stale (2 on a spec error)",
    )
    compile_.add_argument(
        "--only", metavar="NAME", help="compile one spec and the specs whose artifacts it reads"
    )
    _airflow_flag(compile_)
    compile_.set_defaults(handler=_compile)

    render = commands.add_parser("render", help="print the DAG file one spec compiles to")
    render.add_argument("spec", type=Path)
    render.set_defaults(handler=_render)

    run = commands.add_parser(
        "run", help="run one DAG locally and report (fast; --airflow: through dag.test)"
    )
    run.add_argument("spec", help="spec file or spec name")
    run.add_argument("--entity", help="the entity whose DAG to run (default: the spec's name)")
    run.add_argument("--selector", help="the manifest process to run (default: the only one)")
    run.add_argument("--retry-attempts", type=int, help="retries of each failed task")
    run.add_argument("--retry-backoff-seconds", type=float, help="wait before each retry")
    run.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        default="text",
        help="how to print the run report",
    )
    run.add_argument("--target", help="trigger param `target` (default: the project's first)")
    run.add_argument("--dry-run", action="store_true", help="modules skip side effects")
    run.add_argument("--keep-workspace", action="store_true", help="leave the workspace on disk")
    run.add_argument("--conf", default="{}", help="more trigger params as a JSON object")
    run.add_argument("--run-id", help="the run's id (default: manual__<time>)")
    run.add_argument(
        "--airflow",
        action="store_true",
        help="run the generated DAG file with Airflow's dag.test() (slower; "
        "proves the DAG file itself)",
    )
    run.set_defaults(handler=_run)

    plan = commands.add_parser(
        "plan", help="what the specs' changes since a base revision change in Airflow, per DAG"
    )
    plan.add_argument(
        "--base",
        metavar="REV",
        help="the git revision to compare with (default: the merge base of HEAD and the "
        "default branch)",
    )
    plan.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    plan.set_defaults(handler=_plan)

    graph = commands.add_parser("graph", help="draw one spec's DAG, or the project's DAGs")
    graph.add_argument("spec", nargs="?", help="spec file or name (default: the whole project)")
    graph.add_argument("--format", choices=["mermaid", "dot", "png"], default="mermaid")
    graph.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    graph.set_defaults(handler=_graph)

    from dagspec import meta

    meta.add_parser(commands).set_defaults(handler=_meta)

    init = commands.add_parser("init", help="start a new project (like dbt init)")
    init.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("."),
        help="folder of the new project (default: here)",
    )
    init.set_defaults(handler=_init)

    schema = commands.add_parser("schema", help="print or export the JSON Schemas")
    schema.add_argument("kind", nargs="?", choices=sorted(KIND_FILES))
    schema.add_argument("--out", type=Path, help="write every schema file into this folder")
    schema.set_defaults(handler=_schema)
    return parser


def _airflow_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--airflow",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="parse the DAG files a compile would change with Airflow itself (default: on "
        "when Airflow is importable; DAGSPEC_AIRFLOW_CHECK=0 turns it off)",
    )


def _airflow_gate(args: argparse.Namespace) -> api.Gate | None:
    """Airflow's own parser as the compile's last gate, when wanted; says once when skipped."""
    from dagspec import airflow_check

    if not airflow_check.wanted(args.airflow):
        if args.airflow is None and os.environ.get(airflow_check.SWITCH_ENV, "1") == "1":
            print(
                f"dagspec {args.command}: Airflow is not importable here; "
                "the Airflow import check was skipped",
                file=sys.stderr,
            )
        return None
    if not airflow_check.available():
        raise UsageError("--airflow: Airflow is not importable in this environment")

    def gate(analysis: api.Analysis, plan: api.Plan) -> list[api.Finding]:
        try:
            return airflow_check.gate(analysis, plan)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            raise UsageError(str(exc)) from None

    return gate


class UsageError(Exception):
    """A wrong argument or a missing project: one line on stderr, exit code 2."""


def _root(args: argparse.Namespace, hint: Path | None = None) -> Path:
    """The project root: --project, or the nearest folder at or above `hint` (or the current
    folder) that holds dagspec.yaml."""
    if args.project is not None:
        root = args.project.resolve()
        if not (root / CONFIG_NAME).is_file():
            raise UsageError(
                f"no {CONFIG_NAME} in {root}; start a project there with "
                "`dagspec init`, or point --project at the folder that holds it"
            )
        return root
    start = (hint if hint is not None else Path.cwd()).resolve()
    root = find_root(start)
    if not (root / CONFIG_NAME).is_file():
        folder = start if start.is_dir() else start.parent
        raise UsageError(
            f"no {CONFIG_NAME} in {folder} or any folder above it; start a "
            "project with `dagspec init`, or pass --project DIR"
        )
    return root


def _lint(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        print(f"dagspec lint: no such file or folder: {missing[0]}", file=sys.stderr)
        return ExitCode.USAGE
    root = _root(args, args.paths[0] if args.paths else None)
    empty = next((p for p in args.paths if p.is_dir() and not api.spec_files(p)), None)
    if empty is not None:
        raise UsageError(f"no specs in {empty} (no *.yaml or *.yml files)")
    findings = api.lint(root, args.paths)
    gate = _airflow_gate(args)
    if gate is not None and not has_errors(findings):
        checked = api.compile_project(root, check=True, gate=gate)
        findings = sorted([*findings, *(f for f in checked.findings if f.code == "DS230")])
    sys.stdout.write(REPORTERS[args.format](findings, root))
    return ExitCode.SPEC if has_errors(findings) else ExitCode.OK


def _compile(args: argparse.Namespace) -> int:
    if args.specs is not None and not args.specs.is_dir():
        what = "a file" if args.specs.exists() else "missing"
        raise UsageError(f"--specs must be a folder of specs; {args.specs} is {what}")
    root = _root(args)
    if args.specs is not None and not api.spec_files(args.specs):
        raise UsageError(f"no specs in {args.specs} (no *.yaml or *.yml files)")
    result = api.compile_project(
        root,
        out=args.out,
        specs=args.specs,
        check=args.check,
        only=args.only,
        gate=None if args.check else _airflow_gate(args),
    )
    if result.findings:
        sys.stderr.write(REPORTERS["text"](result.findings, root))
    if not result.ok or result.plan is None:
        print("dagspec compile: nothing was written", file=sys.stderr)
        return ExitCode.SPEC
    plan = result.plan
    rows = [
        ("written", sorted(plan.files)),
        ("unchanged", plan.unchanged),
        ("removed", plan.removed),
    ]
    if args.check:
        if plan.changed:
            for label, names in rows[::2]:
                for name in names:
                    print(f"stale: {plan.out.name}/{name} would be {label}")
            print("dagspec compile --check: generated DAGs are stale; run `make compile-dags`")
            return ExitCode.FAILED
        print(f"dagspec compile --check: {len(plan.unchanged)} DAG file(s) up to date")
        return ExitCode.OK
    summary = ", ".join(f"{len(names)} {label}" for label, names in rows)
    print(f"dagspec compile: {summary} in {plan.out.name}/")
    for name in sorted(plan.files):
        print(f"  wrote   {plan.out.name}/{name}")
    for name in plan.removed:
        print(f"  removed {plan.out.name}/{name}")
    return ExitCode.OK


def _render(args: argparse.Namespace) -> int:
    if not args.spec.is_file():
        print(f"dagspec render: no such file: {args.spec}", file=sys.stderr)
        return ExitCode.USAGE
    root = _root(args, args.spec)
    text, findings = api.render_spec(root, args.spec)
    if findings:
        sys.stderr.write(REPORTERS["text"](findings, root))
    if text is None:
        if not has_errors(findings):
            print("dagspec render: this spec compiles to no DAG", file=sys.stderr)
        return ExitCode.SPEC
    sys.stdout.write(text)
    return ExitCode.OK


def _run(args: argparse.Namespace) -> int:
    require("dagspec_runtime", "uuid6", "sqlalchemy")
    if args.airflow:
        require("airflow", why="--airflow runs the DAG file with dag.test()")
    from dagspec.run import RunRequest, config_error, run_spec

    try:
        conf = json.loads(args.conf)
        if not isinstance(conf, dict):
            raise ValueError("it must be a JSON object")
    except ValueError as exc:
        message = f"--conf is not a JSON object: {exc}"
        print(f"dagspec run: {message}", file=sys.stderr)
        return _print_report(config_error(args.spec, [message]), args.format)
    if args.target is not None:
        conf["target"] = args.target
    if args.dry_run:
        conf["dry_run"] = True
    if args.keep_workspace:
        conf["keep_workspace"] = True
    spec = Path(args.spec)
    root = _root(args, spec if spec.exists() else None)
    request = RunRequest(
        args.spec,
        entity=args.entity,
        selector=args.selector,
        conf=conf,
        retries=args.retry_attempts,
        retry_delay=args.retry_backoff_seconds,
        airflow=args.airflow,
        run_id=args.run_id,
    )
    try:
        return run_spec(root, request, args.format)
    except KeyboardInterrupt:  # before or after the run itself (that reports on its own)
        print("dagspec run: interrupted", file=sys.stderr)
        from dagspec.run import interrupted_outside

        return _print_report(interrupted_outside(args.spec), args.format)


def _print_report(report: dict, fmt: str) -> int:
    from dagspec.run import print_report

    print_report(report, fmt)
    return int(report["exit_code"])


def _plan(args: argparse.Namespace) -> int:
    """Exit 0 whatever the plan says; 2 when a side does not compile or git cannot answer."""
    from dagspec.plan import RENDERERS, CompileFailed, GitError, make_plan

    root = _root(args)
    try:
        plan = make_plan(root, args.base)
    except GitError as exc:
        raise UsageError(str(exc)) from None
    except CompileFailed as exc:
        sys.stderr.write(exc.report)
        print(f"dagspec plan: {exc.side} does not compile; no plan", file=sys.stderr)
        return ExitCode.USAGE
    sys.stdout.write(RENDERERS[args.format](plan))
    return ExitCode.OK


def _graph(args: argparse.Namespace) -> int:
    from compiler.graph import FORMATS, png

    spec = Path(args.spec) if args.spec else None
    root = _root(args, spec if spec is not None and spec.exists() else None)
    picture, findings = api.graph(root, args.spec)
    if picture is None:
        sys.stderr.write(REPORTERS["text"](findings, root))
        return ExitCode.SPEC
    data = png(picture) if args.format == "png" else FORMATS[args.format](picture).encode()
    if args.output is None:
        if args.format == "png":
            print("dagspec graph: PNG needs -o FILE", file=sys.stderr)
            return ExitCode.USAGE
        sys.stdout.write(data.decode())
    else:
        args.output.write_bytes(data)
        print(f"wrote {args.output}")
    return ExitCode.OK


def _meta(args: argparse.Namespace) -> int:
    from dagspec import meta

    require("dagspec_runtime", "sqlalchemy")
    return meta.run(args, _root(args))


def _init(args: argparse.Namespace) -> int:
    from compiler.init import enclosing_project, init

    outer = enclosing_project(args.dir)
    if outer is not None:
        raise UsageError(
            f"{args.dir} is inside the project {outer} ({outer / CONFIG_NAME}); nothing "
            f"written. Put new specs into that project's specs folder, or run `dagspec init` "
            "in a folder outside it"
        )
    written, existing = init(args.dir)
    if existing:
        for path in existing:
            print(f"dagspec init: {path} already exists", file=sys.stderr)
        print("dagspec init: nothing written; choose an empty folder", file=sys.stderr)
        return ExitCode.USAGE
    for path in written:
        print(f"wrote {path}")
    where = "" if args.dir == Path(".") else f"cd {args.dir} && "
    print(f"next: {where}dagspec lint && dagspec compile")
    return ExitCode.OK


def _schema(args: argparse.Namespace) -> int:
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for file in [*SHARED_FILES, *KIND_FILES.values()]:
            (args.out / file).write_text(schema_text(file), encoding="utf-8")
            print(f"wrote {args.out / file}")
        return ExitCode.OK
    if args.kind is not None:
        sys.stdout.write(schema_text(KIND_FILES[args.kind]))
        return ExitCode.OK
    listing = {kind: str(SCHEMA_DIR.name + "/" + file) for kind, file in KIND_FILES.items()}
    print(json.dumps(listing, indent=2))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
