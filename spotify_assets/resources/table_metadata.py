"""What every warehouse table records at each materialization, read from the database it was
written to: its row count, column schema and table name (``dagster/row_count``,
``dagster/column_schema``, ``dagster/table_name``). Used by the assets that build tables in SQL
and by the IO manager that writes DataFrames."""

from __future__ import annotations

from typing import Any

import dagster as dg


def table_metadata(
    connection, key: dg.AssetKey, descriptions: dict[str, str] | None = None
) -> dict[str, Any]:
    """What every warehouse table records at each materialization (its row count, column
    schema and table name), for a table built in SQL by an asset (``key`` = schema, table)."""
    schema, table = key.path
    (rows,) = connection.execute(f"select count(*) from {schema}.{table}").fetchone()
    return {
        "dagster/row_count": int(rows),
        "dagster/column_schema": table_schema(connection, schema, table, descriptions or {}),
        "dagster/table_name": f"warehouse.{schema}.{table}",
    }


def table_schema(
    connection, schema: str, table: str, descriptions: dict[str, str]
) -> dg.TableSchema:
    rows = connection.execute(
        "select column_name, data_type, is_nullable from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=dtype,
                description=descriptions.get(name),
                constraints=dg.TableColumnConstraints(nullable=nullable == "YES"),
            )
            for name, dtype, nullable in rows
        ]
    )
