"""The warehouse IO manager in lakehouse mode: a DataFrame becomes its table's next Iceberg
snapshot, and a table is read back as a DataFrame. The frame goes through DuckDB on the way
in, as in file mode, so a column gets the same type in both modes.

Imported only by ``defs/environment.py`` in lakehouse mode; pandas and pyiceberg only when a
step writes or reads a frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg
import duckdb

from spotify_assets.lib.lakehouse import CommitConflict, attach, commit
from spotify_assets.lib.lakehouse.session import column_types
from spotify_assets.resources.lakehouse import (
    CONFLICT_RETRIES,
    METADATA_LOCATION,
    SNAPSHOT_ID,
    LakehouseCatalog,
)
from spotify_assets.resources.process_title import name_the_run_worker
from spotify_assets.resources.table_metadata import table_schema

if TYPE_CHECKING:
    import pandas as pd


def _partition_bounds(context: Any) -> tuple[str, Any, Any] | None:
    """(column, start, end) of the partition being written or read, ``end`` None for a
    partition that is one value; None when unpartitioned."""
    if not context.has_asset_partitions:
        return None
    column = (context.definition_metadata or {}).get("partition_expr")
    if not column:
        raise dg.Failure(
            f"{context.asset_key.to_user_string()} is partitioned: it needs a "
            "partition_expr in its metadata"
        )
    try:
        window = context.asset_partitions_time_window
    except Exception:  # not time-partitioned: a partition is one value
        return str(column), context.asset_partition_key, None
    start = window.start.replace(tzinfo=None).isoformat()
    end = window.end.replace(tzinfo=None).isoformat()
    return str(column), start, end


def _iceberg_filter(bounds: tuple[str, Any, Any] | None) -> Any:
    if bounds is None:
        return None
    from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual, LessThan

    column, start, end = bounds
    if end is None:
        return EqualTo(column, start)
    return And(GreaterThanOrEqual(column, start), LessThan(column, end))


def _sql_filter(bounds: tuple[str, Any, Any] | None) -> str:
    if bounds is None:
        return ""
    column, start, end = bounds
    if end is None:
        return f" where \"{column}\" = '{start}'"
    return f" where \"{column}\" >= '{start}' and \"{column}\" < '{end}'"


class LakehouseIOManager(dg.ConfigurableIOManager):
    """Frames as Iceberg tables; the first part of an asset key is the namespace
    (``core/tracks`` -> ``core.tracks``)."""

    lakehouse: LakehouseCatalog
    connection_config: dict[str, Any] = {}

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        name_the_run_worker(context.run)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        if obj is None:
            return
        name = ".".join(context.asset_key.path)
        schema, table = context.asset_key.path
        bounds = _partition_bounds(context)
        catalog = self.lakehouse.catalog()
        with duckdb.connect(config=self.connection_config) as conn:
            conn.register("_dagster_output", obj)
            conn.execute(f'create schema "{schema}"')
            conn.execute(f'create view "{schema}"."{table}" as select * from _dagster_output')
            after = self._commit(context, catalog, name, conn, bounds)
            descriptions = dict(
                (context.definition_metadata or {}).get("column_descriptions") or {}
            )
            columns = table_schema(conn, schema, table, descriptions)
        total = int(after.current_snapshot().summary["total-records"] or 0)
        metadata: dict[str, Any] = {
            "dagster/column_schema": columns,
            "dagster/table_name": f"warehouse.{name}",
            SNAPSHOT_ID: after.current_snapshot().snapshot_id,
            METADATA_LOCATION: after.metadata_location,
        }
        if bounds is not None:
            metadata["dagster/partition_row_count"] = int(len(obj))
            metadata["table_row_count"] = total
        else:
            metadata["dagster/row_count"] = total
        context.add_output_metadata(metadata)

    def _commit(self, context: Any, catalog: Any, name: str, conn: Any, bounds: Any) -> Any:
        """The frame replaces the table (or its partition's rows). It does not depend on the
        table, so a conflict only means committing again on top of the other writer's."""
        from pyiceberg.exceptions import NoSuchTableError

        query = f"select * from {name}"
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                base = catalog.load_table(name)
            except NoSuchTableError:
                base = None
            try:
                return commit(
                    catalog,
                    name,
                    base,
                    lambda: conn.sql(query).to_arrow_reader(),
                    run_id=context.run_id,
                    overwrite_filter=_iceberg_filter(bounds),
                    column_types=column_types(conn, name),
                )
            except CommitConflict as exc:
                if attempt == CONFLICT_RETRIES:
                    raise
                context.log.warning(f"{exc}; committing again")
        raise AssertionError("unreachable")

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        key = context.upstream_output.asset_key if context.upstream_output else context.asset_key
        name = ".".join(key.path)
        table = self.lakehouse.catalog().load_table(name)
        bounds = _partition_bounds(context) if context.has_asset_partitions else None
        with duckdb.connect(config=self.connection_config) as conn:
            attach(conn, table, name, properties=self.lakehouse.properties())
            return conn.sql(f"select * from {name}{_sql_filter(bounds)}").df()
