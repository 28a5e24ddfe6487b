"""A step's own DuckDB over the lakehouse: every table of the warehouse schemas as of now, the
step's outputs as real tables it may update, and a commit of those outputs at the end.

The SQL of the platform runs unchanged: it names ``core.streams`` or ``marts.sessions`` and
finds them on the connection. Inputs are views pinned to the snapshot current when the session
opened (scanned in place, never copied); outputs are loaded from their current snapshot (a
table built incrementally, such as ``core.streams``, starts from what is there). On success
:meth:`Session.commit` writes each output that exists on the connection as its table's next
snapshot, through the ``Table`` object loaded at the start (so a concurrent writer's commit is
never overwritten: :class:`~spotify_assets.lib.lakehouse.tables.CommitConflict`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from spotify_assets.lib.lakehouse.catalog import metadata_locations, split_name
from spotify_assets.lib.lakehouse.tables import (
    CommitConflict,
    SnapshotView,
    attach,
    attach_view,
    snapshot_view,
)
from spotify_assets.lib.lakehouse.view_cache import cached_view
from spotify_assets.lib.lakehouse.write import commit

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table


#: Commits of one step's outputs made at once, each reading its table in batches of this many
#: rows (the batches in flight are what a commit holds in memory beyond DuckDB's own).
COMMIT_THREADS = 4
COMMIT_BATCH_ROWS = 256 * 1024


@dataclass(frozen=True)
class Committed:
    """A table's snapshot committed by a step: what readers and publishing name it by."""

    table: str
    snapshot_id: int
    metadata_location: str


class Session:
    """A DuckDB connection over the lakehouse with the step's outputs (``conn``)."""

    def __init__(
        self,
        catalog: Catalog,
        conn: duckdb.DuckDBPyConnection,
        bases: dict[str, Table | None],
        inputs: dict[str, SnapshotView],
    ) -> None:
        self.catalog = catalog
        self.conn = conn
        self.bases = bases
        self.inputs = inputs

    def written(self) -> list[str]:
        """The outputs that exist on the connection as tables (a step may skip some)."""
        rows = self.conn.execute(
            "select schema_name || '.' || table_name from duckdb_tables() "
            "where not temporary and database_name = current_database()"
        ).fetchall()
        present = {name for (name,) in rows}
        return [name for name in self.bases if name in present]

    def check_unchanged(self, names: Iterable[str]) -> None:
        """Raise :class:`CommitConflict` before writing anything if another writer committed
        one of ``names`` since the session opened (the commit itself checks again, per table).
        Snapshots are compared, not metadata files: expiry writes a new one, no new data."""
        from pyiceberg.exceptions import NoSuchTableError

        locations = metadata_locations(self.catalog)
        for name in names:
            base = self.bases[name]
            if base is not None and locations.get(name) == base.metadata_location:
                continue  # not even a new metadata file
            try:
                now = _current_id(self.catalog.load_table(name))
            except NoSuchTableError:
                now = None
            if base is None and now is None:
                continue
            if base is None or now != _current_id(base):
                raise CommitConflict(f"{name} was committed by another writer meanwhile")

    def commit(self, run_id: str) -> list[Committed]:
        """Commit every written output (see :meth:`written`) as its table's next snapshot,
        several at once (each commit is a dozen round trips to the object store), one at a
        time on a SQLite catalog (one writer)."""
        names = self.written()
        self.check_unchanged(names)
        types = {name: column_types(self.conn, name) for name in names}
        sqlite = str(getattr(self.catalog, "engine", "")).startswith("Engine(sqlite")
        workers = 1 if sqlite else min(COMMIT_THREADS, max(1, len(names)))

        def one(name: str) -> Committed:
            schema, table = split_name(name)
            cursor = self.conn.cursor()  # a connection of its own, to the same database
            try:
                after = commit(
                    self.catalog,
                    name,
                    self.bases[name],
                    lambda: cursor.sql(f'select * from "{schema}"."{table}"').to_arrow_reader(
                        batch_size=COMMIT_BATCH_ROWS
                    ),
                    run_id=run_id,
                    column_types=types[name],
                )
            finally:
                cursor.close()
            return Committed(name, after.current_snapshot().snapshot_id, after.metadata_location)

        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, names))


def column_types(conn: Any, name: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of table or view ``name`` on ``conn``, in order."""
    schema, table = split_name(name)
    rows = conn.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? and table_catalog = current_database() "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [(column, kind) for column, kind in rows]


def _current_id(table: Table) -> int | None:
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot is not None else None


def _input_view(catalog: Catalog, name: str, location: str | None) -> SnapshotView:
    def load() -> tuple[str, SnapshotView]:
        table = catalog.load_table(name)
        return table.metadata_location, snapshot_view(table, name)

    return cached_view(location, load)


def run_definitions(
    conn: Any, tables: Iterable[str], definitions: Mapping[str, Sequence[str]]
) -> None:
    """Run the statements of ``definitions`` whose table is among ``tables``."""
    present = set(tables)
    for table, statements in definitions.items():
        if table in present:
            for statement in statements:
                conn.execute(statement)


@contextmanager
def open_session(
    catalog: Catalog,
    *,
    outputs: Iterable[str] = (),
    config: dict[str, Any] | None = None,
    properties: dict[str, str] | None = None,
    definitions: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[Session]:
    """A session over every table of the warehouse schemas, ``outputs`` (``schema.table``)
    loaded as real tables, with ``definitions`` (views and macros, which a catalog cannot hold:
    statements by the table they read, run when it is there).
    ``config`` is DuckDB's (``memory_limit``...); its spill files go to a temporary folder
    removed at the end. ``properties`` are the catalog's (S3 endpoint)."""
    outputs = list(dict.fromkeys(outputs))
    locations = metadata_locations(catalog)
    # Outputs are loaded afresh: the commit goes through that very object.
    bases = {name: catalog.load_table(name) if name in locations else None for name in outputs}
    inputs = {
        name: _input_view(catalog, name, location)
        for name, location in locations.items()
        if name not in bases
    }
    with tempfile.TemporaryDirectory(prefix="lakehouse-duckdb-") as spill:
        conn = duckdb.connect(":memory:", config={**(config or {}), "temp_directory": spill})
        conn.execute("set enable_progress_bar = false")  # it would print to the run's stdout
        try:
            for view in inputs.values():
                attach_view(conn, view, properties=properties)
            for name, table in bases.items():
                if table is not None:
                    attach(conn, table, name, materialize=True, properties=properties)
                conn.execute(f'create schema if not exists "{split_name(name)[0]}"')
            run_definitions(conn, locations, definitions or {})
            yield Session(catalog, conn, bases, inputs)
        finally:
            conn.close()
