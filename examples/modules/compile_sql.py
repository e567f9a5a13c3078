"""bronze-sql: render the bronze-layer DDL and dbt model from the model.

Writes compile/artifacts/bronze.sql (CREATE TABLE) and compile/artifacts/dbt_bronze.sql (a dbt
model casting the raw source into the bronze types). Refuses a model that failed governance.
"""

from __future__ import annotations

import sys
from typing import Any

from _common import ModuleError, Run, log, main, table_name

NAME = "bronze-sql"
SQL_TYPES = {
    "string": "VARCHAR",
    "integer": "NUMBER(38,0)",
    "number": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP_NTZ",
}


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ddl(model: dict[str, Any]) -> str:
    table = table_name(model["entity"])
    keys = set(model.get("primary_key", []))
    lines = [
        f"-- Bronze table for entity {model['entity']} (generated, do not edit)",
        f"CREATE TABLE IF NOT EXISTS bronze.{table} (",
    ]
    columns = []
    for spec in model["fields"]:
        null = " NOT NULL" if spec["name"] in keys or not spec["nullable"] else ""
        columns.append(f"    {spec['name']} {SQL_TYPES[spec['type']]}{null}")
    columns.append("    _loaded_at TIMESTAMP_NTZ NOT NULL DEFAULT CURRENT_TIMESTAMP")
    if keys:
        columns.append(f"    PRIMARY KEY ({', '.join(model['primary_key'])})")
    lines.append(",\n".join(columns))
    lines.append(");")
    return "\n".join(lines) + "\n"


def dbt_model(model: dict[str, Any]) -> str:
    table = table_name(model["entity"])
    casts = [
        f"    cast({spec['name']} as {SQL_TYPES[spec['type']].lower()}) as {spec['name']}"
        for spec in model["fields"]
    ]
    return (
        "{{ config(materialized='table', schema='bronze') }}\n\n"
        "select\n" + ",\n".join(casts) + ",\n    current_timestamp() as _loaded_at\n"
        f"from {{{{ source('raw', {quote(table)}) }}}}\n"
    )


def compile_sql(run: Run) -> None:
    model = run.read_json_input("model")
    governance = run.read_json_input("governance")
    if not governance.get("passed"):
        raise ModuleError("the model did not pass governance; nothing compiled")
    run.write("artifacts/bronze.sql", ddl(model))
    run.write("artifacts/dbt_bronze.sql", dbt_model(model))
    log(f"{NAME}: bronze.{table_name(model['entity'])} with {len(model['fields'])} columns")


if __name__ == "__main__":
    sys.exit(main(NAME, compile_sql))
