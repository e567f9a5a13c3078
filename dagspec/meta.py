"""`dagspec meta`: look at and fix the meta-log of manifest runs, without Airflow.

    dagspec meta list [--process P] [--open] [--format text|json]
    dagspec meta requeue --process P UNIT... [--by WHO] [--reason TEXT]
    dagspec meta skip --process P UNIT... [--by WHO] [--reason TEXT]

The database is `--db URL`, else `$DAGSPEC_META_URL`, else the project's embedded SQLite file
(`meta.sqlite_path` of dagspec.yaml), the one manifest runs use when the Airflow connection
`meta.conn_id` is not defined. Runs against a PostgreSQL meta-log need `--db`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
from pathlib import Path

from compiler.project import load_project
from dagspec.exit_codes import ExitCode


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    meta = commands.add_parser("meta", help="list, re-queue or skip units of manifest processes")
    meta.add_argument("--db", help="SQLAlchemy URL of the meta-log (default: see `meta --help`)")
    actions = meta.add_subparsers(dest="action", required=True)
    show = actions.add_parser("list", help="units and their state in each step, per process")
    show.add_argument("--process", help="only this process")
    show.add_argument("--open", action="store_true", help="only units not yet committed")
    show.add_argument("--format", choices=["text", "json"], default="text")
    for name, text in (
        ("requeue", "give failed units another go on the next run"),
        ("skip", "never load these units (they stop failing runs)"),
    ):
        act = actions.add_parser(name, help=text)
        act.add_argument("--process", required=True, help="the process the units belong to")
        act.add_argument("units", nargs="+", type=int, help="unit ids (from `dagspec meta list`)")
        act.add_argument("--by", default=None, help="who does this (default: user@host)")
        act.add_argument("--reason", help="why (kept in the meta-log)")
    return meta


def meta_url(args: argparse.Namespace, root: Path) -> str:
    if args.db:
        return str(args.db)
    if os.environ.get("DAGSPEC_META_URL"):
        return os.environ["DAGSPEC_META_URL"]
    project = load_project(root, use_cache=False)
    path = Path(project.config["meta"]["sqlite_path"])
    return f"sqlite:///{path if path.is_absolute() else root / path}"


def run(args: argparse.Namespace, root: Path) -> int:
    from dagspec_runtime.metalog import engine_for, ops

    url = meta_url(args, root)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        print(
            f"dagspec meta: no meta-log at {url.removeprefix('sqlite:///')} "
            "(no manifest has run here yet, or pass --db)",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    engine = engine_for(url)
    if args.action == "list":
        units = ops.list_units(engine, args.process, only_open=args.open)
        if args.format == "json":
            print(json.dumps([u.to_dict() for u in units], indent=2, default=str))
        else:
            print(_table(units))
        return ExitCode.OK
    actor = args.by or f"{getpass.getuser()}@{socket.gethostname()}"
    act = ops.requeue if args.action == "requeue" else ops.skip
    try:
        for line in act(engine, args.process, args.units, actor=actor, reason=args.reason):
            print(line)
    except ops.UnitActionError as exc:
        print(f"dagspec meta {args.action}: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK


def _table(units: list) -> str:
    if not units:
        return "no units"
    head = (
        "process",
        "unit",
        "state",
        "validation",
        "stage",
        "transform",
        "retries",
        "claimed_by",
        "path",
        "message",
    )
    rows = [
        (
            u.process,
            str(u.unit_id),
            "FAILED" if u.failed else u.state,
            u.validation or "-",
            u.stage or "-",
            u.transform or "-",
            str(u.transform_retries),
            u.claimed_by or "-",
            u.path,
            (u.message or "")[:80],
        )
        for u in units
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in [head, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)
