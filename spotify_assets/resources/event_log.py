"""What an asset's latest materializations recorded, read back from Dagster's event log.

Several steps read what an earlier materialization wrote in its metadata: the model's forward
evaluation (the features' half-life), a mart's row-count check (the previous row count), the
table-wide checks (the last two row counts and column schemas), the lookups check (its
counts), the dashboard (the model's charts) and the model's IO manager (the hash recorded at
training). They all read it here, as plain values (``MetadataValue.value``).
"""

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg


def plain_values(metadata: Mapping[str, Any], names: Iterable[str] | None = None) -> dict[str, Any]:
    """``metadata`` (of a materialization or a check result) as plain values: each
    ``MetadataValue``'s ``.value`` (a ``TableSchema``, a number, a Markdown text...), only
    ``names`` (those present) when given."""
    keys = metadata if names is None else [n for n in names if n in metadata]
    return {k: getattr(metadata[k], "value", metadata[k]) for k in keys}


def recent_materializations(
    instance: dg.DagsterInstance,
    key: dg.AssetKey,
    *,
    limit: int = 1,
    partition: str | None = None,
) -> list[dg.EventLogRecord]:
    """The asset's ``limit`` latest materializations (of ``partition`` when given, else of any
    partition), newest first."""
    records_filter = dg.AssetRecordsFilter(
        asset_key=key, asset_partitions=[partition] if partition is not None else None
    )
    return list(instance.fetch_materializations(records_filter, limit=limit).records)


def materialization_metadata(record: dg.EventLogRecord) -> dict[str, Any]:
    """A materialization record's metadata as plain values (empty when it has none)."""
    materialization = record.asset_materialization
    return plain_values(materialization.metadata) if materialization else {}


def latest_metadata(
    instance: dg.DagsterInstance, key: dg.AssetKey, *, partition: str | None = None
) -> dict[str, Any] | None:
    """The metadata of the asset's latest materialization as plain values; None when it was
    never materialized."""
    records = recent_materializations(instance, key, partition=partition)
    return materialization_metadata(records[0]) if records else None


def latest_metadata_value(
    instance: dg.DagsterInstance, key: dg.AssetKey, name: str, *, partition: str | None = None
) -> Any | None:
    """The plain value of ``name`` in the asset's latest materialization; None when it was
    never materialized or did not record ``name``."""
    return (latest_metadata(instance, key, partition=partition) or {}).get(name)


def latest_partition(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    """The partition the asset materialized last (None: never, or unpartitioned)."""
    records = recent_materializations(instance, key)
    return records[0].partition_key if records else None
