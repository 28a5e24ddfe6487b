"""The warehouse in lakehouse mode (``SPOTIFY_WAREHOUSE_MODE=lakehouse``): Apache Iceberg
tables in the lake, an Iceberg catalog (pyiceberg's SQL catalog in PostgreSQL, or REST, or
Glue), so that runs on any machine share one warehouse.

The assets do not change: they ask for ``warehouse`` (a ``DuckDBResource``) and
``warehouse_io_manager`` as in file mode, and get these instead:

- :class:`LakehouseWarehouseResource`: each ``get_connection()`` is the step's own in-process
  DuckDB over every table (pinned to the snapshot current when it opened); the step's outputs
  (its selected assets that are tables built in SQL, or for a view the tables its
  ``STORED_IN`` metadata names, and the tables their ``ALSO_WRITES`` names) are real tables
  loaded from their current snapshot, committed when the block succeeds. A commit that finds
  another writer came first raises ``RetryRequested``: the step computes again from fresh
  inputs, never overwriting the other's update.
- :class:`LakehouseIOManager`: a DataFrame is committed as its table's snapshot (a partition
  replaces its rows only), and read back as a DataFrame.

Each committed snapshot id is in the materialization's metadata (``lakehouse/snapshot_id``);
the run's snapshots are published together when it succeeds (:func:`publish_run`, called by
``defs/lakehouse.py``'s sensor), which is what readers read.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from spotify_assets.lib.lakehouse import (
    NAMESPACES,
    CatalogConfig,
    CommitConflict,
    Committed,
    open_catalog,
    open_session,
)
from spotify_assets.lib.marts.definitions import mart_definitions
from spotify_assets.resources.process_title import name_the_run_worker

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

#: Asset metadata of a table built in SQL: other tables its step writes beside it (a list of
#: ``schema.table``), committed with it in lakehouse mode (``core.stream_sources``).
ALSO_WRITES = "spotify_assets/also_writes"
#: Asset metadata of a table that is a view over tables its step writes (a list of
#: ``schema.table``: ``marts.content_daily`` over its parts): those are committed in lakehouse
#: mode, not the view, which every session defines again (``lib/marts/definitions.py``).
STORED_IN = "spotify_assets/stored_in"
#: The kinds of a table built in SQL by its own step (``defs/warehouse_tables.py``).
SQL_TABLE_KINDS = frozenset({"duckdb", "sql"})
WAREHOUSE_IO_MANAGER_KEY = "warehouse_io_manager"
#: A step whose commit met another writer's is computed again this many times.
CONFLICT_RETRIES = 5
SNAPSHOT_ID = "lakehouse/snapshot_id"
METADATA_LOCATION = "lakehouse/metadata_location"
#: Metadata of an asset whose step wrote another table beside it: ``lakehouse/also/<table>``.
ALSO_COMMITTED = "lakehouse/also/"


def _value(value: Any) -> Any:
    """A field's value outside a run too (a ``dg.EnvVar`` read from the environment)."""
    return value.get_value() if isinstance(value, dg.EnvVar) else value


class LakehouseCatalog(dg.ConfigurableResource):
    """The Iceberg catalog and warehouse of the lakehouse. A URI holding a password and a
    REST token come as ``dg.EnvVar`` and are never logged (:meth:`describe` leaves them out)."""

    iceberg_catalog_name: str = Field(
        default="spotify_assets", description="SPOTIFY_ICEBERG_CATALOG_NAME"
    )
    iceberg_catalog_type: str = Field(default="sql", description="SPOTIFY_ICEBERG_CATALOG_TYPE")
    iceberg_catalog_uri: str | None = Field(default=None, description="SPOTIFY_ICEBERG_CATALOG_URI")
    iceberg_warehouse: str = Field(description="SPOTIFY_ICEBERG_WAREHOUSE: file:// or s3://")
    s3_endpoint_url: str | None = None
    aws_region: str | None = None
    iceberg_rest_token: str | None = None
    _catalog: Any = PrivateAttr(default=None)

    def config(self) -> CatalogConfig:
        return CatalogConfig(
            name=self.iceberg_catalog_name,
            type=self.iceberg_catalog_type,
            uri=_value(self.iceberg_catalog_uri),
            warehouse=self.iceberg_warehouse,
            s3_endpoint=self.s3_endpoint_url,
            s3_region=self.aws_region,
            token=_value(self.iceberg_rest_token),
        )

    def catalog(self) -> Catalog:
        """The catalog, opened once per process (its connection pool is reused)."""
        if self._catalog is None:
            self._catalog = open_catalog(self.config())
        return self._catalog

    def properties(self) -> dict[str, str]:
        return self.config().properties()

    def describe(self) -> str:
        return self.config().describe()


def _table_name(key: dg.AssetKey) -> str:
    return ".".join(key.path)


def _metadata_list(spec: dg.AssetSpec, name: str) -> list[str]:
    value = (spec.metadata or {}).get(name) or []
    return list(getattr(value, "value", value))


def step_outputs() -> dict[str, dg.AssetKey]:
    """The tables the current step builds in SQL (``schema.table``), each with the asset it
    belongs to: its selected assets with the kinds of a SQL table in a warehouse schema and no
    IO manager of the warehouse (or, for a view, the tables its ``STORED_IN`` metadata names),
    and the tables their ``ALSO_WRITES`` metadata names. None
    outside an asset step (a check only reads)."""
    try:
        context = dg.AssetExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        return {}
    if not context.has_assets_def:
        return {}
    assets_def = context.assets_def
    outputs: dict[str, dg.AssetKey] = {}
    for key in sorted(context.selected_asset_keys, key=lambda k: k.path):
        spec = assets_def.specs_by_key[key]
        if (
            len(key.path) == 2
            and key.path[0] in NAMESPACES
            and set(spec.kinds) >= SQL_TABLE_KINDS
            and assets_def.get_io_manager_key_for_asset_key(key) != WAREHOUSE_IO_MANAGER_KEY
        ):
            stored = _metadata_list(spec, STORED_IN) or [_table_name(key)]
            for name in [*stored, *_metadata_list(spec, ALSO_WRITES)]:
                outputs[name] = key
    return outputs


def _record(committed: list[Committed], owners: dict[str, dg.AssetKey]) -> None:
    """Each committed snapshot in its asset's materialization metadata (a table written beside
    an asset, under ``lakehouse/also/<table>`` of that asset's)."""
    context = dg.AssetExecutionContext.get()
    for done in committed:
        key = owners[done.table]
        if _table_name(key) == done.table:
            metadata: dict[str, Any] = {
                SNAPSHOT_ID: done.snapshot_id,
                METADATA_LOCATION: done.metadata_location,
            }
        else:
            metadata = {
                f"{ALSO_COMMITTED}{done.table}": dg.MetadataValue.json(
                    {"snapshot_id": done.snapshot_id, "metadata_location": done.metadata_location}
                )
            }
        context.add_asset_metadata(metadata, asset_key=key)


def conflict_retry(exc: CommitConflict, log: Any) -> dg.RetryRequested:
    log.warning(f"{exc}; computing the step again from the tables as they are now")
    return dg.RetryRequested(
        max_retries=CONFLICT_RETRIES, seconds_to_wait=round(random.uniform(1.0, 5.0), 1)
    )


class LakehouseWarehouseResource(DuckDBResource):
    """``DuckDBResource`` (assets ask for it by that type) over the lakehouse: see the module."""

    database: str = ":memory:"
    lakehouse: LakehouseCatalog
    _log: Any = PrivateAttr(default=None)
    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._log = context.log
        name_the_run_worker(context.run)
        self._run_id = context.run.run_id if context.run else None

    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        log = self._log or dg.get_dagster_logger()
        outputs = step_outputs()
        catalog = self.lakehouse.catalog()
        with open_session(
            catalog,
            outputs=list(outputs),
            config={"custom_user_agent": "dagster", **self.connection_config},
            properties=self.lakehouse.properties(),
            definitions=mart_definitions(),
        ) as session:
            yield session.conn
            if not outputs:
                return
            try:
                committed = session.commit(self._run_id or "no-run")
            except CommitConflict as exc:
                raise conflict_retry(exc, log) from exc
        _record(committed, outputs)
        log.info(
            f"Committed {', '.join(f'{c.table} ({c.snapshot_id})' for c in committed) or 'nothing'}"
            f" to the {self.lakehouse.describe()}"
        )


def _run_chain(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """``run`` and the runs it retries (Dagster's re-executions share a root run id), oldest
    first: a retry runs only the failed steps, its parent committed the others."""
    root = run.tags.get("dagster/root_run_id")
    if not root:
        return [run.run_id]
    records = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/root_run_id": root}))
    earlier = [
        r.dagster_run.run_id
        for r in sorted(records, key=lambda r: r.create_timestamp)
        if r.dagster_run.run_id not in (root, run.run_id)
    ]
    return [root, *earlier, run.run_id]


def committed_by_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[Committed]:
    """The snapshots ``run`` (and the runs it retries) committed, in commit order, from the
    ``lakehouse/snapshot_id`` of their materializations."""
    committed = []
    for run_id in _run_chain(instance, run):
        records = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        for record in records:
            materialization = record.event_log_entry.asset_materialization
            if materialization is not None:
                committed += _committed_in(materialization)
    return committed


def _committed_in(materialization: dg.AssetMaterialization) -> list[Committed]:
    metadata = materialization.metadata
    found = []
    if SNAPSHOT_ID in metadata:
        found.append(
            Committed(
                _table_name(materialization.asset_key),
                int(metadata[SNAPSHOT_ID].value),
                str(metadata[METADATA_LOCATION].value),
            )
        )
    for label, entry in metadata.items():
        if label.startswith(ALSO_COMMITTED):
            value = entry.value
            found.append(
                Committed(
                    label.removeprefix(ALSO_COMMITTED),
                    int(value["snapshot_id"]),
                    str(value["metadata_location"]),
                )
            )
    return found


def publish_run(
    instance: dg.DagsterInstance, run: dg.DagsterRun, lakehouse: LakehouseCatalog
) -> tuple[list[Any], list[Any]]:
    """Publish what a successful run committed (readers then see its tables together) and
    expire the snapshots of those tables that nobody can ask for any more. Returns (rows
    published, tables expired); nothing for a run that did not succeed."""
    from spotify_assets.lib.lakehouse import publish
    from spotify_assets.lib.lakehouse.maintenance import expire

    if run.status != dg.DagsterRunStatus.SUCCESS:
        return [], []
    committed = committed_by_run(instance, run)
    if not committed:
        return [], []
    catalog = lakehouse.catalog()
    rows = publish(catalog, run.run_id, committed)
    expired = expire(catalog, sorted({c.table for c in committed}))
    return rows, expired
