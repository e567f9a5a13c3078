"""The gates, in fail-closed order. Each reads what the previous gate left in the run folder
and the meta-log, does one thing, and writes its report. Each is safe to re-run: the meta-log
says what is already done for every unit.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from dagspec_runtime.etl import identity, load, target
from dagspec_runtime.etl.coltypes import coerce, from_json, to_json
from dagspec_runtime.etl.context import GateContext
from dagspec_runtime.etl.contract import check_rows
from dagspec_runtime.etl.errors import GateRefused
from dagspec_runtime.etl.quarantine import write_rejects
from dagspec_runtime.etl.runfolder import (
    read_json,
    read_jsonl,
    safe_name,
    write_json,
    write_jsonl,
)
from dagspec_runtime.etl.sources import (
    FileUnreadable,
    SourceOutsideLanding,
    display_name,
    file_hash,
    landing_files,
    name_problem,
    read_file,
    read_table,
    rows_hash,
)
from dagspec_runtime.metalog.ledger import UnitRef
from dagspec_runtime.metalog.schema import FAIL, PASS, PENDING

Report = dict[str, Any]


def _units(ctx: GateContext) -> list[dict[str, Any]]:
    """Units this run still holds (claims renewed: a long run keeps its lease)."""
    units = read_json(ctx.path("extract", "units.json"))["units"]
    held = set(ctx.ledger.claim(ctx.run_id, [u["id"] for u in units], ctx.cfg.lease_seconds))
    return [u for u in units if u["id"] in held]


# -- extract ----------------------------------------------------------------------------------
def extract(ctx: GateContext) -> Report:
    """Register new units, claim open ones, and copy rows of units not yet staged."""
    ctx.ledger.ensure()
    if ctx.ledger.completed(ctx.run_id):
        raise GateRefused(
            "extract",
            f"run id {ctx.run_id!r} already committed a load of process {ctx.cfg.name!r} "
            "(see load_audit); its evidence is kept as it is. Start the run with a new run id",
        )
    try:  # before anything is registered or written
        identity.check(ctx.cfg, ctx.sink, ctx.meta)
    except identity.TableClash as exc:
        raise GateRefused("extract", str(exc)) from None
    raw = _extract_files(ctx) if ctx.cfg.source.kind == "files" else _extract_table(ctx)
    ids = [u["id"] for u in raw]
    limit = ctx.cfg.max_units_per_run or None
    held = set(ctx.ledger.claim(ctx.run_id, ids, ctx.cfg.lease_seconds, limit))
    staged = ctx.ledger.statuses("stage", sorted(held))
    units: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []

    def records() -> Iterator[dict[str, Any]]:
        """Streamed to rows.jsonl: memory does not grow with the files. Rows of a file that
        turns out unreadable half-way stay in the file but belong to no unit of the run, so
        the later gates never read them."""
        for u in raw:
            if u["id"] not in held:
                continue
            u["staged"] = staged.get(u["id"], ("", 0))[0] == PASS
            n = 0
            if not u["staged"]:
                try:
                    for n, row in enumerate(u.pop("rows")(), start=1):
                        yield {"unit": u["id"], "line": n, "row": row}
                except FileUnreadable as exc:
                    failed.append({"unit_id": u["id"], "path": u["path"], "message": str(exc)})
                    continue
            u.pop("rows", None)
            u["rows"] = n
            units.append(u)

    total = write_jsonl(ctx.path("extract", "rows.jsonl"), records())
    rows_read = sum(u["rows"] for u in units if not u["staged"])
    if failed:  # named in the meta-log (`dagspec meta list`) and the run report
        ctx.ledger.set_status_many(
            "validation",
            ctx.run_id,
            [{"unit_id": f["unit_id"], "status": FAIL, "message": f["message"]} for f in failed],
        )
    del total
    skipped = sorted(set(ids) - held)
    claimed = [h for h in ctx.ledger.holders(skipped) if h["holder_run_id"]]
    if limit is not None:  # over max_units_per_run: not claimed by anyone, just left for later
        skipped = [h["unit_id"] for h in claimed]
    report = {
        "units": units,
        "skipped_claimed_elsewhere": skipped,
        "skipped_claimed": claimed,
        "failed_files": failed,
    }
    write_json(ctx.path("extract", "units.json"), report)
    summary = {"units": len(units), "rows": rows_read}
    return {**summary, "failed_files": len(failed)} if failed else summary


def _extract_files(ctx: GateContext) -> list[dict[str, Any]]:
    cfg = ctx.cfg
    root = Path(cfg.source.landing_dir)
    on_disk: dict[str, tuple[Path, str]] = {}
    refs: list[UnitRef] = []
    try:
        matched = landing_files(cfg)
    except SourceOutsideLanding as exc:
        raise GateRefused("extract", str(exc)) from None
    for p in matched:
        rel = display_name(p, root)
        digest = file_hash(p)
        on_disk[rel] = (p, digest)
        refs.append(UnitRef(rel, digest, p.stat().st_size))
    ctx.ledger.register(refs)
    open_units = ctx.ledger.open_units()
    staged = ctx.ledger.statuses("stage", [u.id for u in open_units])
    gone = [
        u.id
        for u in open_units
        if on_disk.get(u.path, (None, ""))[1] != u.content_hash
        and staged.get(u.id, ("", 0))[0] != PASS
    ]
    ctx.ledger.supersede(gone)
    out = []
    for u in open_units:
        if u.id in gone:
            continue
        path = on_disk[u.path][0] if u.path in on_disk else root / u.path
        out.append(
            {
                "id": u.id,
                "path": u.path,
                "hash": u.content_hash,
                "rows": (lambda p=path: _file_rows(cfg, p)),
            }
        )
    return out


def _file_rows(cfg: Any, path: Path) -> Iterator[dict[str, Any]]:
    problem = name_problem(path)
    if problem:
        raise FileUnreadable(problem)
    yield from read_file(cfg, path)


def _extract_table(ctx: GateContext) -> list[dict[str, Any]]:
    """A SQL source yields one unit per batch above the committed watermark. An open unit that
    is already staged is resumed first; unstaged leftovers are replaced by a fresh read."""
    cfg = ctx.cfg
    open_units = ctx.ledger.open_units()
    staged = ctx.ledger.statuses("stage", [u.id for u in open_units])
    resumable = [u for u in open_units if staged.get(u.id, ("", 0))[0] == PASS]
    if resumable:
        return [
            {"id": u.id, "path": u.path, "hash": u.content_hash, "rows": list} for u in resumable
        ]
    ctx.ledger.supersede(u.id for u in open_units)
    wm_col = cfg.source.watermark_column
    state = ctx.ledger.state()
    after = None
    if wm_col and state is not None and state.watermark is not None:
        after = coerce(cfg.column(wm_col), state.watermark)
    rows = read_table(ctx.source(), cfg, after)
    if not rows:
        return []
    wm = None
    if wm_col:
        values = [coerce(cfg.column(wm_col), r[wm_col]) for r in rows if r.get(wm_col) is not None]
        wm = str(to_json(max(values))) if values else None
    digest = rows_hash(rows)
    path = f"table:{cfg.source.table}?after={to_json(after)}"
    ids = ctx.ledger.register([UnitRef(path, digest, len(rows), wm)])
    return [{"id": ids[(path, digest)], "path": path, "hash": digest, "rows": lambda: iter(rows)}]


# -- contract ---------------------------------------------------------------------------------
def contract(ctx: GateContext) -> Report:
    """Strict: any bad row stops the run before anything is staged. Quarantine: bad rows go to
    the quarantine folder with a reason each, good rows continue."""
    cfg = ctx.cfg
    held = _units(ctx)
    units = {u["id"]: u for u in held if not u["staged"]}
    resumed = {u["id"]: u for u in held if u["staged"]}
    per_unit: dict[int, dict[str, Any]] = {
        uid: {"path": u["path"], "rows_in": 0, "valid": 0, "rejected": 0, "quarantine_file": None}
        for uid, u in units.items()
    }
    bad_all: list[dict[str, Any]] = []

    def good_rows() -> Iterator[dict[str, Any]]:
        """Streamed from rows.jsonl to good.jsonl, row by row (memory independent of size)."""
        for rec in read_jsonl(ctx.path("extract", "rows.jsonl")):
            info = per_unit.get(rec["unit"])
            if info is None:
                continue
            info["rows_in"] += 1
            verdict = check_rows(cfg.columns, [rec["row"]])
            if verdict.bad:
                info["rejected"] += 1
                bad_all.append(
                    {
                        "unit": rec["unit"],
                        "path": info["path"],
                        "line": rec["line"],
                        "row": rec["row"],
                        "reason": verdict.bad[0]["reason"],
                    }
                )
                continue
            info["valid"] += 1
            vals = {k: to_json(v) for k, v in verdict.good[0].items()}
            yield {"unit": rec["unit"], "line": rec["line"], "values": vals}

    valid_rows = write_jsonl(ctx.path("contract", "good.jsonl"), good_rows())
    bad_by_unit: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for b in bad_all:
        bad_by_unit[b["unit"]].append(b)
    if cfg.enforcement == "strict" and bad_all:
        write_jsonl(ctx.path("contract", "rejected.jsonl"), bad_all)
        ctx.ledger.set_status_many(
            "validation",
            ctx.run_id,
            [
                {
                    "unit_id": uid,
                    "status": FAIL if info["rejected"] else PASS,
                    "rows_in": info["rows_in"],
                    "rows_out": info["valid"],
                    "message": bad_by_unit[uid][0]["reason"] if bad_by_unit.get(uid) else None,
                }
                for uid, info in per_unit.items()
            ],
        )
        ctx.ledger.release(ctx.run_id)
        sample = "; ".join(f"{b['path']}:{b['line']}: {b['reason']}" for b in bad_all[:5])
        raise GateRefused("contract", f"{len(bad_all)} row(s) break the strict contract: {sample}")
    if bad_all:
        qdir = Path(cfg.quarantine_dir or ctx.path("quarantine")) / safe_name(cfg.name)
        qdir = qdir / safe_name(ctx.run_id)
        for uid, info in per_unit.items():
            bad = bad_by_unit.get(uid)
            if bad:
                stem = f"{uid}_{safe_name(Path(info['path']).stem)}.rejected"
                written = write_rejects(qdir / stem, cfg.quarantine_format, info["path"], bad)
                info["quarantine_file"] = str(written)
    ctx.ledger.set_status_many(
        "validation",
        ctx.run_id,
        [
            {
                "unit_id": uid,
                "status": PASS,
                "rows_in": info["rows_in"],
                "rows_out": info["valid"],
                "message": f"{info['rejected']} row(s) quarantined" if info["rejected"] else None,
            }
            for uid, info in per_unit.items()
        ],
    )
    # Units staged by an earlier attempt keep the counts their validation recorded, so the
    # evidence of a resumed run still says what was quarantined.
    for uid, (rows_in, rows_out, _) in ctx.ledger.step_rows("validation", sorted(resumed)).items():
        per_unit[uid] = {
            "path": resumed[uid]["path"],
            "rows_in": rows_in or 0,
            "valid": rows_out or 0,
            "rejected": (rows_in or 0) - (rows_out or 0),
            "quarantine_file": None,
            "resumed": True,
        }
    write_json(
        ctx.path("contract", "report.json"),
        {"enforcement": cfg.enforcement, "units": {str(k): v for k, v in per_unit.items()}},
    )
    return {"valid": valid_rows, "rejected": len(bad_all)}


# -- schema evolution, type compatibility, DDL -----------------------------------------------
def evolution(ctx: GateContext) -> Report:
    plan = target.plan_evolution(ctx.cfg, target.reflect(ctx.sink, ctx.cfg.target))
    write_json(ctx.path("evolution", "plan.json"), plan)
    if plan["refusals"]:
        raise GateRefused("evolution", "; ".join(plan["refusals"]))
    return {"create": plan["create"], "add_columns": plan["add_columns"]}


def compatibility(ctx: GateContext) -> Report:
    """Narrowing is refused here, before any DDL and long before finalize."""
    report = target.plan_compatibility(
        ctx.cfg, target.reflect(ctx.sink, ctx.cfg.target), ctx.sink.dialect.name
    )
    write_json(ctx.path("compatibility", "report.json"), report)
    if report["narrowing"]:
        what = ", ".join(
            f"{c['column']}: {c['target']} -> {c['contract']}" for c in report["narrowing"]
        )
        raise GateRefused("compatibility", f"unsafe type narrowing refused: {what}")
    if report["widening"] and ctx.cfg.on_widening == "fail":
        what = ", ".join(
            f"{c['column']}: {c['target']} -> {c['contract']}" for c in report["widening"]
        )
        raise GateRefused("compatibility", f"type widening not allowed by policy: {what}")
    return {"changes": len(report["changes"])}


def ddl(ctx: GateContext) -> Report:
    plan = read_json(ctx.path("evolution", "plan.json"))
    compat = read_json(ctx.path("compatibility", "report.json"))
    changes = plan["create"] or plan["add_columns"] or compat["widening"]
    if changes and not ctx.cfg.ddl_apply:
        raise GateRefused("ddl", "the target needs DDL but ddl.apply is false")
    done = target.apply_ddl(ctx.sink, ctx.cfg, plan, compat)
    write_json(ctx.path("ddl", "applied.json"), {"statements": done})
    return {"statements": len(done)}


# -- stage, finalize --------------------------------------------------------------------------
def stage(ctx: GateContext) -> Report:
    """Load valid rows into the staging table, one unit at a time (each repeatable)."""
    cfg = ctx.cfg
    units = [u for u in _units(ctx) if not u["staged"]]
    status = ctx.ledger.statuses("stage", [u["id"] for u in units])
    todo = [u["id"] for u in units if status.get(u["id"], ("", 0))[0] != PASS]
    wanted = set(todo)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for rec in read_jsonl(ctx.path("contract", "good.jsonl")):
            if rec["unit"] in wanted:
                vals = {c.name: from_json(c, rec["values"].get(c.name)) for c in cfg.columns}
                vals[target.ROW_COL] = rec["line"]
                yield rec["unit"], vals

    counts = load.stage_units(ctx.sink, cfg, todo, rows()) if todo else {}
    ctx.ledger.set_status_many(
        "stage",
        ctx.run_id,
        [{"unit_id": u, "status": PASS, "rows_in": n, "rows_out": n} for u, n in counts.items()],
    )
    return {"units": len(units), "rows": sum(counts.values())}


def finalize(ctx: GateContext, attempt: Callable[..., Report] | None = None) -> Report:
    """Staged units without a transform PASS get PENDING rows, then move in one transaction.
    A failed move is logged FAIL and retried once (retry_count < transform_retries)."""
    cfg = ctx.cfg
    ids = [u["id"] for u in _units(ctx)]
    staged = ctx.ledger.statuses("stage", ids)
    ids = [i for i in ids if staged.get(i, ("", 0))[0] == PASS]
    done_before = load.loaded_units(ctx.sink, cfg, ids)
    tstat = ctx.ledger.statuses("transform", ids)
    ctx.ledger.set_status_many(  # finalized by a run that died before logging it
        "transform",
        ctx.run_id,
        [
            {"unit_id": uid, "status": PASS, "message": "recovered"}
            for uid in sorted(done_before)
            if tstat.get(uid, ("", 0))[0] != PASS
        ],
    )
    todo = [i for i in ids if i not in done_before and tstat.get(i, ("", 0))[0] != PASS]
    failed: dict[int, str] = {}
    fresh, again = [], []
    for uid in list(todo):
        st, retries = tstat.get(uid, (PENDING, 0))
        if st == FAIL and retries >= cfg.transform_retries:
            failed[uid] = "failed its transform and its retry"  # dealt with by `dagspec meta`
            todo.remove(uid)
        elif st == FAIL:
            again.append({"unit_id": uid, "status": PENDING})
        elif uid not in tstat:
            fresh.append({"unit_id": uid, "status": PENDING})
    ctx.ledger.set_status_many("transform", ctx.run_id, fresh)
    ctx.ledger.set_status_many("transform", ctx.run_id, again, bump_retry=True)
    move = attempt or load.finalize
    result: Report = {"won": [], "rows_loaded": 0}
    if todo:
        try:
            result = move(ctx.sink, cfg, ctx.run_id, todo)
        except Exception as exc:  # counted per unit, then retried one by one
            result = _finalize_one_by_one(ctx, move, todo, exc, failed)
    loaded = load.loaded_units(ctx.sink, cfg, ids)
    won, waiting = set(result["won"]), set(todo)
    ctx.ledger.set_status_many(
        "transform",
        ctx.run_id,
        [
            {
                "unit_id": uid,
                "status": PASS,
                "message": None if uid in won else "loaded by another run",
            }
            for uid in sorted(loaded)
            if uid in waiting
        ],
    )
    finalized = sorted(loaded)
    # What this run id loaded, across its attempts (a retry finds its own earlier moves).
    result = load.loaded_by(ctx.sink, cfg, ctx.run_id, finalized)
    paths = {u["id"]: u["path"] for u in _read_units(ctx)}
    messages = ctx.ledger.statuses_messages("transform", sorted(failed))
    report = {
        "units": finalized,
        "won": sorted(result["won"]),
        "rows_loaded": result["rows_loaded"],
        "strategy": cfg.strategy,
        "failed_units": [
            {
                "unit_id": uid,
                "path": paths.get(uid),
                "message": f"{why}: {messages.get(uid) or 'no message'}",
            }
            for uid, why in sorted(failed.items())
        ],
    }
    write_json(ctx.path("finalize", "report.json"), report)
    return {
        "units": len(finalized),
        "rows_loaded": result["rows_loaded"],
        "failed_units": len(failed),
    }


def _finalize_one_by_one(
    ctx: GateContext,
    move: Callable[..., Report],
    todo: list[int],
    first: Exception,
    failed: dict[int, str],
) -> Report:
    """The batch failed: that counts as one failed attempt of each unit; then each unit is
    moved on its own with the retries it has left, so one bad unit cannot hold back the rest."""
    cfg = ctx.cfg
    result: Report = {"won": [], "rows_loaded": 0}
    error: Exception = first
    for uid in todo:
        while True:
            _, retries = ctx.ledger.statuses("transform", [uid]).get(uid, (PENDING, 0))
            ctx.ledger.set_status("transform", uid, ctx.run_id, FAIL, message=str(error)[:500])
            if retries >= cfg.transform_retries:
                failed[uid] = "failed its transform and its retry"
                break
            ctx.ledger.set_status("transform", uid, ctx.run_id, PENDING, bump_retry=True)
            try:
                one = move(ctx.sink, cfg, ctx.run_id, [uid])
            except Exception as exc:  # next round records it
                error = exc
                continue
            result["won"] += one["won"]
            result["rows_loaded"] += one["rows_loaded"]
            error = first
            break
    return result


def _read_units(ctx: GateContext) -> list[dict[str, Any]]:
    return read_json(ctx.path("extract", "units.json"))["units"]


def _refuse_failed_units(ctx: GateContext) -> None:
    """Last gate: the run loaded what it could; it still fails, naming the failed units."""
    fin = _maybe(ctx.path("finalize", "report.json")) or {}
    unread = (_maybe(ctx.path("extract", "units.json")) or {}).get("failed_files") or []
    bad = fin.get("failed_units") or []
    parts = [f"file {f['path']!r} could not be read: {f['message']}" for f in unread]
    if bad:
        names = ", ".join(f"unit {u['unit_id']} ({u['path']})" for u in bad)
        parts.append(f"{names} failed its transform and its retry")
    if parts:
        raise GateRefused(
            "finalize" if bad else "extract",
            "; ".join(parts) + "; the other units were loaded. Fix and re-land a file, or "
            f"re-queue or skip it with `dagspec meta requeue|skip --process {ctx.cfg.name} UNIT`",
        )


# -- evidence, audit, state, publish ---------------------------------------------------------
def evidence(ctx: GateContext) -> Report:
    """Data-contract evidence, written (atomically) before anything is audited or committed."""
    cfg = ctx.cfg
    fin = read_json(ctx.path("finalize", "report.json"))
    contract_report = _maybe(ctx.path("contract", "report.json")) or {"units": {}}
    doc = {
        "process": cfg.name,
        "run_id": ctx.run_id,
        "target": cfg.target,
        "strategy": cfg.strategy,
        "contract": {"enforcement": cfg.enforcement, "columns": [c.__dict__ for c in cfg.columns]},
        "units": contract_report["units"],
        "finalized_units": fin["units"],
        "rows_loaded": fin["rows_loaded"],
        "rows_quarantined": sum(u["rejected"] for u in contract_report["units"].values()),
        "evolution": _maybe(ctx.path("evolution", "plan.json")),
        "compatibility": _maybe(ctx.path("compatibility", "report.json")),
        "ddl": _maybe(ctx.path("ddl", "applied.json")),
        "written_at": datetime.now().astimezone().isoformat(),
    }
    base = Path(cfg.evidence_dir) if cfg.evidence_dir else ctx.path("evidence")
    path = base / safe_name(cfg.name) / safe_name(ctx.run_id) / "data_contract_evidence.json"
    write_json(path, doc)
    write_json(ctx.path("evidence", "report.json"), {"path": str(path), "sha256": _sha(path)})
    return {"path": str(path)}


def audit(ctx: GateContext) -> Report:
    """Commit the load audit row; refuses when the evidence is missing or changed."""
    fin = read_json(ctx.path("finalize", "report.json"))
    ev = read_json(ctx.path("evidence", "report.json"))
    path = Path(ev["path"])
    if not path.exists() or _sha(path) != ev["sha256"]:
        raise GateRefused("audit", f"evidence {path} is missing or changed; not auditing")
    if not fin["units"]:
        return {"audited": False}
    evidence_doc = json.loads(path.read_text(encoding="utf-8"))
    ctx.ledger.audit(
        ctx.run_id,
        {
            "target": ctx.cfg.target,
            "strategy": ctx.cfg.strategy,
            "units": len(fin["units"]),
            "rows_loaded": fin["rows_loaded"],
            "rows_quarantined": evidence_doc["rows_quarantined"],
            "evidence_path": str(path),
            "evidence_sha256": ev["sha256"],
        },
    )
    return {"audited": True}


def state(ctx: GateContext) -> Report:
    """Advance source state last, and only for units whose load is committed and audited."""
    fin = read_json(ctx.path("finalize", "report.json"))
    units = fin["units"]
    if units and ctx.ledger.audited(ctx.run_id) is None:
        raise GateRefused("state", "no load audit for this run; state not advanced")
    marks = [u.watermark for u in ctx.ledger.units(units) if u.watermark is not None]
    watermark = None
    if marks and ctx.cfg.source.watermark_column:
        col = ctx.cfg.column(ctx.cfg.source.watermark_column)
        watermark = str(to_json(max(coerce(col, m) for m in marks)))
    done = ctx.ledger.commit_state(ctx.run_id, units, watermark) if units else 0
    ctx.ledger.release(ctx.run_id)
    if not ctx.cfg.keep_run_data:  # committed: the row copies are no longer needed
        for name in (("extract", "rows.jsonl"), ("contract", "good.jsonl")):
            ctx.path(*name).unlink(missing_ok=True)
    if ctx.cfg.publish is None:
        _refuse_failed_units(ctx)
    return {"committed_units": done, "watermark": watermark}


def publish(ctx: GateContext) -> Report:
    cfg = ctx.cfg
    fin = read_json(ctx.path("finalize", "report.json"))
    # The mart is derived state: rebuilt after new units, and by the next run after a failure.
    if cfg.publish is None or not (fin["units"] or ctx.ledger.publish_pending()):
        _refuse_failed_units(ctx)
        return {"published": False}
    try:
        rows = load.publish(ctx.sink, cfg)
    except Exception:
        ctx.ledger.publish(ctx.run_id, cfg.publish.table, FAIL, len(fin["units"]), 0)
        raise
    ctx.ledger.publish(ctx.run_id, cfg.publish.table, PASS, len(fin["units"]), rows)
    _refuse_failed_units(ctx)
    return {"published": True, "rows": rows}


def _maybe(path: Path) -> Any:
    return read_json(path) if path.exists() else None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


GATES: dict[str, Callable[[GateContext], Report]] = {
    "extract": extract,
    "contract": contract,
    "evolution": evolution,
    "compatibility": compatibility,
    "ddl": ddl,
    "stage": stage,
    "finalize": finalize,
    "evidence": evidence,
    "audit": audit,
    "state": state,
    "publish": publish,
}


def run_gate(name: str, ctx: GateContext) -> Report:
    """Run one gate; its failure message is kept in `<gate>/error.json` for the run report."""
    if name not in GATES:
        raise ValueError(f"unknown gate {name!r}; expected one of {list(GATES)}")
    error = ctx.path(name, "error.json")
    try:
        summary = GATES[name](ctx)
    except Exception as exc:
        kind = type(exc).__name__
        message = str(exc) if isinstance(exc, GateRefused) else f"{name}: {kind}: {exc}"
        write_json(error, {"gate": name, "message": message, "type": kind})
        raise
    error.unlink(missing_ok=True)
    return summary
