"""One Iceberg table read into DuckDB at a snapshot: a view that DuckDB scans with projection
and filters pushed down, or a real table, with the DuckDB types it was committed with.

Reads: on a local warehouse a view over ``read_parquet([...])`` of the snapshot's data files
(DuckDB then has row counts to plan joins with); on S3 a ``pyarrow.dataset`` over the same
files registered in DuckDB (DuckDB cannot open ``s3://`` without its httpfs extension, which
does not exist for DuckDB 2.0). Tables are copy-on-write (no delete files), so the data files
of a snapshot are all of it.

Writing is :mod:`.write`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.lakehouse.arrow_types import arrow_schema_of
from spotify_assets.lib.lakehouse.catalog import split_name

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Table

#: The snapshot summary property naming the run that committed it.
RUN_ID_PROPERTY = "spotify.run-id"
#: The snapshot summary property holding each column's DuckDB type (JSON pairs).
DUCKDB_TYPES_PROPERTY = "spotify.duckdb-types"


class CommitConflict(RuntimeError):
    """Another writer committed a table this step writes after the step read it: nothing was
    overwritten; compute again from the new state."""


def snapshot_of(table: Table, snapshot_id: int | None = None) -> Any:
    return table.snapshot_by_id(snapshot_id) if snapshot_id else table.current_snapshot()


def data_files(table: Table, snapshot_id: int | None = None) -> list[str]:
    """The data files of a snapshot (the current one by default); none for an empty table."""
    if snapshot_of(table, snapshot_id) is None:
        return []
    tasks = list(table.scan(snapshot_id=snapshot_id).plan_files())
    if any(task.delete_files for task in tasks):
        raise RuntimeError(f"{table.name()} has delete files: the lakehouse writes none")
    return [task.file.file_path for task in tasks]


def snapshot_schema(table: Table, snapshot_id: int | None = None) -> pa.Schema:
    """The Arrow schema of a snapshot's data (the table's schema as it was then)."""
    snapshot = snapshot_of(table, snapshot_id)
    schema = table.schema()
    if snapshot is not None and snapshot.schema_id is not None:
        schema = table.schemas()[snapshot.schema_id]
    return arrow_schema_of(schema)


def s3_filesystem(properties: dict[str, str]) -> Any:
    """pyarrow's S3 client with the catalog's endpoint and region; credentials from the
    environment, the AWS config or the machine's role (never from settings)."""
    from pyarrow import fs

    kwargs: dict[str, Any] = {}
    if properties.get("s3.endpoint"):
        kwargs["endpoint_override"] = properties["s3.endpoint"]
    if properties.get("s3.region"):
        kwargs["region"] = properties["s3.region"]
    if properties.get("s3.access-key-id"):
        kwargs["access_key"] = properties["s3.access-key-id"]
        kwargs["secret_key"] = properties.get("s3.secret-access-key")
    return fs.S3FileSystem(**kwargs)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def recorded_types(table: Table, snapshot_id: int | None = None) -> dict[str, str]:
    """The DuckDB type of each column when the snapshot was committed (``HUGEINT``,
    ``TIMESTAMP_NS``, ``SMALLINT``... are stored as the nearest Iceberg type), from its
    summary."""
    snapshot = snapshot_of(table, snapshot_id)
    text = snapshot.summary[DUCKDB_TYPES_PROPERTY] if snapshot is not None else None
    return dict(json.loads(text)) if text else {}


def _typed_select(conn: Any, source: str, names: list[str], types: dict[str, str]) -> str:
    """``select`` of ``names`` from ``source``, each column cast back to the DuckDB type it was
    committed with where reading the file gives another (a column that was all NULL of type
    "NULL" stays VARCHAR)."""
    columns = ", ".join(_quoted(n) for n in names)
    read = {
        row[0]: row[1]
        for row in conn.execute(f"describe select {columns} from {source}").fetchall()
    }
    parts = []
    for n in names:
        wanted = types.get(n)
        if wanted and wanted != read.get(n) and wanted != '"NULL"':
            parts.append(f"cast({_quoted(n)} as {wanted}) as {_quoted(n)}")
        else:
            parts.append(_quoted(n))
    return f"select {', '.join(parts)} from {source}"


@dataclass(frozen=True)
class SnapshotView:
    """What reading one table at one snapshot takes: its data files, the Arrow schema of its
    data and its columns' DuckDB types. A snapshot never changes, so this can be kept."""

    name: str
    snapshot_id: int | None
    files: tuple[str, ...]
    schema: pa.Schema
    types: dict[str, str] = field(default_factory=dict)


def snapshot_view(table: Table, name: str, snapshot_id: int | None = None) -> SnapshotView:
    snapshot = snapshot_of(table, snapshot_id)
    return SnapshotView(
        name,
        snapshot.snapshot_id if snapshot is not None else None,
        tuple(data_files(table, snapshot_id)),
        snapshot_schema(table, snapshot_id),
        recorded_types(table, snapshot_id),
    )


def attach(
    conn: Any,
    table: Table,
    name: str,
    *,
    snapshot_id: int | None = None,
    materialize: bool = False,
    properties: dict[str, str] | None = None,
) -> None:
    """``name`` (``schema.table``) on ``conn`` as of ``snapshot_id`` (default: the snapshot
    ``table`` was loaded at), with the DuckDB types it was committed with: a view, or with
    ``materialize`` (and for an empty table) a real table the step may update."""
    view = snapshot_view(table, name, snapshot_id)
    attach_view(conn, view, materialize=materialize, properties=properties)


def attach_view(
    conn: Any,
    view: SnapshotView,
    *,
    materialize: bool = False,
    properties: dict[str, str] | None = None,
) -> None:
    """:func:`attach` of a :class:`SnapshotView`."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    schema_name, table_name = split_name(view.name)
    conn.execute(f"create schema if not exists {_quoted(schema_name)}")
    target = f"{_quoted(schema_name)}.{_quoted(table_name)}"
    files, arrow_schema, types = view.files, view.schema, view.types
    kind = "table" if materialize or not files else "view"
    registered = None
    if files and all(f.startswith(("file:", "/")) for f in files):
        paths = ", ".join(_sql_text(f.removeprefix("file://")) for f in files)
        source = f"read_parquet([{paths}], union_by_name = true)"
    else:
        if files:
            data: Any = ds.dataset(
                [f.split("://", 1)[1] for f in files],
                schema=arrow_schema,
                format="parquet",
                filesystem=s3_filesystem(properties or {}),
            )
        else:
            data = pa.Table.from_batches([], schema=arrow_schema)
        # Never the view's own name: a view over a registration named alike recurses.
        source = registered = f"_lakehouse__{schema_name}__{table_name}"
        conn.register(registered, data)
    select = _typed_select(conn, source, arrow_schema.names, types)
    conn.execute(f"create or replace {kind} {target} as {select}")
    if registered and kind == "table":
        conn.unregister(registered)
