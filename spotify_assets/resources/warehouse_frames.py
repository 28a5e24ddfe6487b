"""The pandas side of the warehouse IO manager (``WarehouseIOManager.type_handlers``):
imported by the steps that write or read a frame, so that loading the code location does not
import pandas (dagster-duckdb-pandas imports it)."""

from __future__ import annotations

import dagster as dg
import pandas as pd
from dagster_duckdb_pandas import DuckDBPandasTypeHandler

from spotify_assets.resources.table_metadata import table_schema


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
        # The asset's partitions, not the run's: a batch's run (partitioned) also builds
        # unpartitioned tables.
        if context.has_asset_partitions:
            metadata["dagster/partition_row_count"] = int(len(obj))
            metadata["table_row_count"] = int(total)
        else:
            metadata["dagster/row_count"] = int(total)
        context.add_output_metadata(metadata)
