"""ddl-check: deploy the bronze DDL to a scratch SQLite database and load the records into it.

Proves the DDL parses and, when a ``records`` input is given, that the pulled records fit it
(types, NOT NULL, primary key). The scratch
database lives in the workspace (deploy/bronze.sqlite), so even a real run has no side effect
outside it; a dry run keeps it in memory.
"""

from __future__ import annotations

import sqlite3
import sys

from _common import ModuleError, Run, log, main, table_name

NAME = "ddl-check"


def deploy(run: Run) -> None:
    sql = run.input_path("ddl").read_text(encoding="utf-8")
    has_records = "records" in run.manifest.get("inputs", {})
    records = run.read_json_input("records") if has_records else []  # optional: DDL-only check
    table = table_name(run.entity)
    target = ":memory:" if run.dry_run else str(run.workspace / run.output_dir / "bronze.sqlite")
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("ATTACH DATABASE ? AS bronze", (target,))
        connection.execute(f"DROP TABLE IF EXISTS bronze.{table}")
        try:
            connection.executescript(sql)
        except sqlite3.Error as exc:
            raise ModuleError(f"bronze DDL does not run: {exc}") from exc
        columns = [row[1] for row in connection.execute(f"PRAGMA bronze.table_info({table})")]
        loaded = 0
        for record in records:
            names = [n for n in record if n in columns]
            marks = ", ".join("?" for _ in names)
            try:
                connection.execute(
                    f"INSERT INTO bronze.{table} ({', '.join(names)}) VALUES ({marks})",
                    [record[n] for n in names],
                )
            except sqlite3.IntegrityError as exc:
                raise ModuleError(f"record {loaded + 1} does not fit the table: {exc}") from exc
            loaded += 1
        connection.commit()
    finally:
        connection.close()
    run.write_json(
        "deploy.json",
        {
            "entity": run.entity,
            "table": f"bronze.{table}",
            "columns": columns,
            "rows_loaded": loaded,
            "database": "memory" if run.dry_run else "deploy/bronze.sqlite",
        },
    )
    if not run.dry_run:
        run.outputs[f"{run.output_dir}/bronze.sqlite"] = "wrote"
    log(f"{NAME}: bronze.{table} created, {loaded} rows loaded")


if __name__ == "__main__":
    sys.exit(main(NAME, deploy))
