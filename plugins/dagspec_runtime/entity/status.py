"""Status rules of an entity run, in one place so gate, promote and result agree.

Module statuses: ok | warning | partial | error (+ not_run when a module never started).
Phase rules (from the systems our users come from):

- every required module ok/warning            -> ok   (warning if an optional module failed)
- some required modules failed                -> partial (later phases still run)
- every required module failed                -> error   (later phases never run)
- no module of the phase ran                  -> not_run

A module "failed" when its status is partial or error, or it left no result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

OK = "ok"
WARNING = "warning"
PARTIAL = "partial"
ERROR = "error"
NOT_RUN = "not_run"

MODULE_STATUSES = (OK, WARNING, PARTIAL, ERROR)
SUCCEEDED = frozenset({OK, WARNING})
PROMOTABLE = frozenset({OK, WARNING})

_SEVERITY = {OK: 0, WARNING: 1, PARTIAL: 2, ERROR: 3}


def module_failed(status: str) -> bool:
    """A module counts as failed unless it reported ok or warning."""
    return status not in SUCCEEDED


def phase_status(modules: Mapping[str, tuple[bool, str]]) -> str:
    """Decide a phase's status from ``{module: (required, status)}``.

    ``status`` is ``not_run`` for modules that left no result; when *no* module ran the phase
    itself is ``not_run`` (an earlier phase stopped the run).
    """
    if not modules or all(status == NOT_RUN for _, status in modules.values()):
        return NOT_RUN
    required = [status for req, status in modules.values() if req]
    optional = [status for req, status in modules.values() if not req]
    failed_required = [s for s in required if module_failed(s)]
    if required and len(failed_required) == len(required):
        return ERROR
    if failed_required:
        return PARTIAL
    if any(module_failed(s) for s in optional):
        return WARNING
    return OK


def pipeline_status(phase_statuses: Iterable[str]) -> str:
    """Worst phase status wins; a phase that never ran counts as error.

    ``not_run`` only happens after an earlier phase stopped the run (already ``error``) or when
    the run broke outside any module (a crashed worker): either way the run is an error.
    """
    worst = OK
    for status in phase_statuses:
        severity = _SEVERITY.get(status, _SEVERITY[ERROR])
        if severity > _SEVERITY[worst]:
            worst = status if status in _SEVERITY else ERROR
    return worst


def promotable(run_status: str, dry_run: bool) -> bool:
    """Promotion happens only for a clean (ok/warning) run that is not a dry run."""
    return run_status in PROMOTABLE and not dry_run
