"""Arrow types between DuckDB and Iceberg.

DuckDB hands out types Iceberg (format version 2) refuses or pyiceberg cannot write: unsigned
and 8/16-bit integers, nanosecond timestamps, the ``null`` type of an all-NULL column or an
empty result, dictionaries (ENUM), string views. :func:`conform` maps each to the Iceberg type
that DuckDB reads back as the same values; what has no such type (INTERVAL, decimals over 38
digits) raises, naming the column, so the SQL casts it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


def iceberg_type(t: pa.DataType, column: str = "?") -> pa.DataType:
    """The Arrow type Iceberg accepts for values of type ``t``."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return iceberg_type(t.value_type, column)
    if pa.types.is_null(t):
        return pa.string()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if pa.types.is_time(t):
        return pa.time64("us")
    if t in (pa.uint8(), pa.uint16(), pa.int8(), pa.int16()):
        return pa.int32()
    if t == pa.uint32():
        return pa.int64()
    if t == pa.uint64():
        return pa.decimal128(20, 0)
    if pa.types.is_decimal(t) and t.precision > 38:
        raise TypeError(f"column {column}: {t} has more than 38 digits: cast it in SQL")
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
    ):
        return pa.list_(iceberg_type(t.value_type, column))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, iceberg_type(f.type, column)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(iceberg_type(t.key_type, column), iceberg_type(t.item_type, column))
    if pa.types.is_interval(t) or pa.types.is_duration(t):
        raise TypeError(f"column {column}: Iceberg has no {t}: cast it to BIGINT or VARCHAR in SQL")
    return t


def iceberg_schema(schema: pa.Schema) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(f.name, iceberg_type(f.type, f.name)) for f in schema])


def conform(source: Any) -> Any:
    """A ``pa.Table`` or ``pa.RecordBatchReader`` with every column cast to
    :func:`iceberg_type` (the same kind of object back; a reader stays streaming)."""
    import pyarrow as pa

    target = iceberg_schema(source.schema)
    if target.equals(source.schema):
        return source

    def cast(batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = [
            # ns -> us truncates on purpose; every other cast must keep the value
            column.cast(field.type, safe=not pa.types.is_timestamp(field.type))
            for field, column in zip(target, batch.columns, strict=True)
        ]
        return pa.RecordBatch.from_arrays(columns, schema=target)

    if isinstance(source, pa.Table):
        return pa.Table.from_batches([cast(b) for b in source.to_batches()], schema=target)
    return pa.RecordBatchReader.from_batches(target, (cast(b) for b in source))


def file_type(t: pa.DataType) -> pa.DataType:
    """pyiceberg's Iceberg -> Arrow mapping gives large strings, binaries and lists; the files
    hold (and DuckDB hands back) the small ones: the type to compare and read with."""
    import pyarrow as pa

    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(file_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, file_type(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(file_type(t.key_type), file_type(t.item_type))
    if pa.types.is_timestamp(t) and t.tz:
        return pa.timestamp(t.unit, tz="UTC")
    return t


def arrow_schema_of(iceberg: Any) -> pa.Schema:
    """An Iceberg schema as the Arrow schema of its files (small types, no field ids)."""
    import pyarrow as pa
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    converted = schema_to_pyarrow(iceberg, include_field_ids=False)
    return pa.schema([pa.field(f.name, file_type(f.type)) for f in converted])
