"""Schedules checked the way Airflow checks them, so a schedule that passes lint imports.

Airflow 3.3 turns a `schedule` string into a timetable: `@once` and `@continuous` are their own
timetables; `@hourly` … `@yearly` are presets for cron expressions; anything else is a cron
expression handed to croniter (the same library and version Airflow pins), and a croniter error
is an `AirflowTimetableInvalid` import error. We call croniter the same way, without Airflow,
and also refuse expressions that can never fire (`0 0 30 2 *`), which Airflow imports but never
schedules.
"""

from __future__ import annotations

import datetime

from croniter import croniter

#: the same table as Airflow's `cron_presets`
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
TIMETABLES = {"@once", "@continuous"}
_FIELDS = ["minute", "hour", "day of month", "month", "day of week"]
_START = datetime.datetime(2026, 1, 1)


def cron_problem(expression: str) -> str | None:
    """Why Airflow would refuse (or never run) this schedule string; None when it is fine."""
    if expression != expression.strip() or any(c.isspace() and c != " " for c in expression):
        return (
            "it holds a newline, a tab or surrounding spaces, which Airflow's timetable "
            "refuses (a block scalar `schedule: |` adds a newline)"
        )
    if expression in TIMETABLES:
        return None
    cron = CRON_PRESETS.get(expression, expression)
    fields = cron.split()
    if len(fields) != 5:
        return None  # the schema's pattern says so, with its own hint
    try:
        parsed = croniter(cron, _START)
    except Exception as exc:  # Airflow treats every croniter error as an invalid timetable
        return _field_hint(fields) or str(exc)
    try:
        parsed.get_next(datetime.datetime)
    except Exception:
        return "it never fires: no date matches its day and month fields"
    return None


_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def _field_hint(fields: list[str]) -> str | None:
    """Which field is out of range, for the usual mistake of a number too large."""
    for name, text, (low, high) in zip(_FIELDS, fields, _RANGES, strict=True):
        for part in text.replace("/", ",").replace("-", ",").split(","):
            if part.isdigit() and not low <= int(part) <= high and "/" + part not in text:
                return f"{name} {part} is out of range ({low}-{high})"
    try:
        croniter(" ".join(fields))
    except Exception as exc:
        return str(exc)
    return None
