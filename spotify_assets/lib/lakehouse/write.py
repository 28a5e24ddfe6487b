"""A query's result committed as an Iceberg table's next snapshot.

The data files are written here, streaming (one batch in memory at a time), with the table's
Iceberg field ids, then added to the table with the rows they replace deleted, in one commit.
pyiceberg's own writer is not used: it buffers a whole file's Arrow data (1.4-2.2 GB for a
10-million-row table) and writes a null ``list<struct>`` as an empty list
(apache/iceberg-python#3833).

The commit goes through the ``Table`` object loaded when the step started: Iceberg then
refuses it if anyone committed the table since (serializable isolation) instead of overwriting
their update; :class:`~spotify_assets.lib.lakehouse.tables.CommitConflict` says so and the step
computes again from fresh inputs. A commit that fails deletes the files it wrote.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.lakehouse.arrow_types import arrow_schema_of, conform, file_type
from spotify_assets.lib.lakehouse.catalog import TABLE_PROPERTIES, ensure_namespace
from spotify_assets.lib.lakehouse.tables import (
    DUCKDB_TYPES_PROPERTY,
    RUN_ID_PROPERTY,
    CommitConflict,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

#: A data file holds about this much Arrow data (zstd makes it a fifth to a tenth on disk).
TARGET_FILE_BYTES = 512 * 2**20
_NAME_MAPPING = "schema.name-mapping.default"


def _same_columns(metadata: Any, schema: pa.Schema) -> bool:
    current = arrow_schema_of(metadata.schema())
    return [(f.name, file_type(f.type)) for f in current] == [
        (f.name, file_type(f.type)) for f in schema
    ]


def _replace_schema(transaction: Any, schema: pa.Schema) -> None:
    """Make the table's columns exactly ``schema``'s, in its order: columns gone or of another
    type are deleted (a new column of the new type takes the name), new ones added. The
    table keeps its history, so earlier snapshots still read with their own schema."""
    metadata = transaction.table_metadata
    current = {f.name: file_type(f.type) for f in arrow_schema_of(metadata.schema())}
    wanted = {f.name: file_type(f.type) for f in schema}
    dropped = [n for n, t in current.items() if n not in wanted or wanted[n] != t]
    if dropped:
        with transaction.update_schema(allow_incompatible_changes=True) as update:
            for column in dropped:
                update.delete_column(column)
    with transaction.update_schema() as update:
        update.union_by_name(schema)
    names = schema.names
    kept = [n for n in current if n not in dropped]
    if kept + [n for n in names if n not in kept] != names:
        with transaction.update_schema() as update:
            update.move_first(names[0])
            for before, column in zip(names, names[1:], strict=False):
                update.move_after(column, before)


def _with_ids(t: pa.DataType) -> pa.DataType:
    """``t`` with small strings, binaries and lists, keeping nested fields' metadata (ids)."""
    import pyarrow as pa

    def field(f: pa.Field) -> pa.Field:
        return pa.field(f.name, _with_ids(f.type), f.nullable, f.metadata)

    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(field(t.value_field))
    if pa.types.is_struct(t):
        return pa.struct([field(f) for f in t])
    if pa.types.is_map(t):
        return pa.map_(field(t.key_field), field(t.item_field))
    return file_type(t)


def file_schema(iceberg_schema: Any) -> pa.Schema:
    """The Arrow schema of a data file of the table: its columns with their Iceberg field ids
    (engines match columns by id), in the types the files hold."""
    import pyarrow as pa
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    converted = schema_to_pyarrow(iceberg_schema, include_field_ids=True)
    return pa.schema(
        [pa.field(f.name, _with_ids(f.type), f.nullable, f.metadata) for f in converted]
    )


def _batches(payload: Any) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    yield from payload.to_batches() if isinstance(payload, pa.Table) else payload


def write_data_files(table_location: str, io: Any, schema: pa.Schema, payload: Any) -> list[str]:
    """Write ``payload`` as Parquet data files under ``<table_location>/data/``, each about
    :data:`TARGET_FILE_BYTES` of Arrow data, streaming (none for an empty result: its snapshot
    has no file). Returns their paths; deletes them if writing fails."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths: list[str] = []
    writer = stream = None
    written = 0
    try:
        for batch in _batches(payload):
            if not batch.num_rows:
                continue
            if writer is None:
                paths.append(f"{table_location.rstrip('/')}/data/{uuid.uuid4().hex}.parquet")
                stream = io.new_output(paths[-1]).create()
                writer = pq.ParquetWriter(stream, schema, compression="zstd")
            writer.write_table(pa.Table.from_batches([batch]).cast(schema))
            written += batch.nbytes
            if written >= TARGET_FILE_BYTES:
                writer.close()
                stream.close()
                writer, written = None, 0
        if writer is not None:
            writer.close()
            stream.close()
        return paths
    except BaseException:
        delete_files(io, paths)
        raise


def delete_files(io: Any, paths: list[str]) -> None:
    for path in paths:
        try:
            io.delete(path)
        except (FileNotFoundError, OSError):
            continue


def commit(
    catalog: Catalog,
    name: str,
    base: Table | None,
    data: Callable[[], Any],
    *,
    run_id: str,
    overwrite_filter: Any = None,
    column_types: list[tuple[str, str]] | None = None,
) -> Table:
    """Commit ``data()`` (a ``pa.Table`` or ``RecordBatchReader``) as ``name``'s next snapshot
    through ``base``, the table as the step loaded it (``None``: it did not exist then). It
    replaces the rows matching ``overwrite_filter`` (a pyiceberg expression; default: all);
    a changed column list changes the table's schema in the same commit. ``column_types`` are
    the columns' DuckDB types, kept in the snapshot's summary (``attach`` casts back).
    Returns the table after the commit; raises :class:`CommitConflict` when another writer
    got there first."""
    from pyiceberg.exceptions import (
        CommitFailedException,
        NoSuchTableError,
        TableAlreadyExistsError,
        ValidationException,
    )
    from pyiceberg.io import load_file_io

    properties = {RUN_ID_PROPERTY: run_id}
    if column_types:
        properties[DUCKDB_TYPES_PROPERTY] = json.dumps(column_types)
    payload = conform(data())
    io = base.io if base is not None else load_file_io(catalog.properties)
    written: list[str] = []
    try:
        with warnings.catch_warnings():
            # deleting from an empty table or partition says "did not match any records"
            warnings.simplefilter("ignore", UserWarning)
            if base is None:
                return _create(catalog, name, payload, properties, written, io)
            _replace(base, payload, properties, overwrite_filter, written)
            return base
    except (
        CommitFailedException,
        ValidationException,
        TableAlreadyExistsError,
        NoSuchTableError,
    ) as exc:
        delete_files(io, written)
        raise CommitConflict(f"{name}: {exc}") from exc
    except BaseException:
        delete_files(io, written)
        raise


def _add(transaction: Any, payload: Any, properties: dict, written: list[str], io: Any) -> None:
    """Write the data files and add them to ``transaction`` (``written`` lists them, so a
    failed commit can delete them)."""
    metadata = transaction.table_metadata
    if not _same_columns(metadata, payload.schema):
        _replace_schema(transaction, payload.schema)
        metadata = transaction.table_metadata
    mapping = metadata.schema().name_mapping.model_dump_json()
    if metadata.properties.get(_NAME_MAPPING) != mapping:
        transaction.set_properties(**{_NAME_MAPPING: mapping})
    written += write_data_files(metadata.location, io, file_schema(metadata.schema()), payload)
    transaction.add_files(written, snapshot_properties=properties, check_duplicate_files=False)


def _replace(
    base: Table, payload: Any, properties: dict, overwrite_filter: Any, written: list[str]
) -> None:
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.table.snapshots import Operation

    where = AlwaysTrue() if overwrite_filter is None else overwrite_filter
    with base.transaction() as transaction:
        # as Table.overwrite deletes: serializable, so rows another writer added matching the
        # filter since ``base`` make the commit fail rather than vanish
        transaction.delete(
            where, snapshot_properties=properties, _isolation_operation=Operation.OVERWRITE
        )
        _add(transaction, payload, properties, written, base.io)


def _create(
    catalog: Catalog, name: str, payload: Any, properties: dict, written: list[str], io: Any
) -> Table:
    """Create ``name`` with its first snapshot in one commit (a table that exists by then was
    created by another writer: a conflict)."""
    ensure_namespace(catalog, name)
    with catalog.create_table_transaction(
        name, schema=payload.schema, properties=TABLE_PROPERTIES
    ) as transaction:
        _add(transaction, payload, properties, written, io)
    return catalog.load_table(name)
