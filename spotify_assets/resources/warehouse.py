"""The DuckDB warehouse IO manager (dagster-duckdb-pandas), with three changes that a
warehouse people query needs:

- an unpartitioned table is replaced whole (``CREATE OR REPLACE``), so a new column in the
  code reaches the table instead of failing the insert;
- partitioned tables insert ``BY NAME`` after Dagster deletes the partition's rows;
- an empty result still creates (or empties) its table, and every write records
  ``dagster/row_count`` and ``dagster/column_schema`` read back from DuckDB, with the column
  descriptions the asset declares in its ``column_descriptions`` metadata.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import pandas as pd
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler


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


class WarehousePandasTypeHandler(DuckDBPandasTypeHandler):
    # ``table_slice`` is Dagster's ``TableSlice``, which only a private module exports.
    def handle_output(
        self, context: dg.OutputContext, table_slice, obj: pd.DataFrame, connection
    ) -> None:
        target = f"{table_slice.schema}.{table_slice.table}"
        connection.register("_dagster_output", obj)
        try:
            if table_slice.partition_dimensions:
                connection.execute(
                    f"create table if not exists {target} as select * from _dagster_output limit 0"
                )
                connection.execute(f"insert into {target} by name select * from _dagster_output")
            else:
                connection.execute(
                    f"create or replace table {target} as select * from _dagster_output"
                )
        finally:
            connection.unregister("_dagster_output")
        descriptions = dict((context.definition_metadata or {}).get("column_descriptions") or {})
        total = connection.execute(f"select count(*) from {target}").fetchone()[0]
        metadata: dict[str, object] = {
            "dagster/column_schema": table_schema(
                connection, table_slice.schema, table_slice.table, descriptions
            ),
            "dagster/table_name": f"warehouse.{target}",
        }
        if context.has_partition_key:
            metadata["dagster/partition_row_count"] = int(len(obj))
            metadata["table_row_count"] = int(total)
        else:
            metadata["dagster/row_count"] = int(total)
        context.add_output_metadata(metadata)


class WarehouseIOManager(DuckDBPandasIOManager):
    """DuckDB file at ``database``; the first part of an asset key is the schema
    (``core/tracks`` -> ``core.tracks``)."""

    @staticmethod
    def type_handlers() -> Sequence[DuckDBPandasTypeHandler]:
        return [WarehousePandasTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pd.DataFrame
