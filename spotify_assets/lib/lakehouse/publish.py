"""Whole runs for readers: the snapshots each successful run committed, published together in
one small Iceberg table, ``lakehouse.published_snapshots``; reading every table as of the
last published run (or an earlier one); and expiring the snapshots nobody can ask for.

A run's steps commit their tables one by one while the run goes on. A reader that took each
table's current snapshot would see some of a run's tables new and others old; a reader of the
published snapshots sees every table as of the last successful run (each table at the
snapshot of the last run that wrote it), because a run's snapshots are published in one commit
once it has succeeded. Rows are ordered by ``publish_seq``, not by clocks.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.lakehouse.catalog import OWN_NAMESPACE, TABLE_PROPERTIES
from spotify_assets.lib.lakehouse.session import Committed, run_definitions
from spotify_assets.lib.lakehouse.tables import RUN_ID_PROPERTY, attach

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

PUBLISHED_TABLE = f"{OWN_NAMESPACE}.published_snapshots"
#: Published rows (and the snapshots they name) are kept this long, and the latest of each
#: table always: time travel reaches back this far.
KEEP_PUBLISHED = timedelta(days=7)
#: Snapshots younger than this are never expired, published or not: a run still going may
#: publish them, a reader may be scanning them.
KEEP_RECENT = timedelta(hours=6)
#: The published table's own snapshots: readers read only its current one, briefly.
KEEP_RECENT_PUBLISHED = timedelta(minutes=10)


@dataclass(frozen=True)
class Published:
    """A table's snapshot as published by a run."""

    table: str
    snapshot_id: int
    metadata_location: str
    run_id: str
    publish_seq: int
    published_at: datetime


def _schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("run_id", pa.string()),
            ("publish_seq", pa.int64()),
            ("published_at", pa.timestamp("us", tz="UTC")),
            ("table_name", pa.string()),
            ("snapshot_id", pa.int64()),
            ("metadata_location", pa.string()),
        ]
    )


def _published_table(catalog: Catalog) -> Table:
    from pyiceberg.exceptions import NoSuchTableError

    try:
        return catalog.load_table(PUBLISHED_TABLE)
    except NoSuchTableError:
        catalog.create_namespace_if_not_exists(OWN_NAMESPACE)
        return catalog.create_table_if_not_exists(
            PUBLISHED_TABLE, schema=_schema(), properties=TABLE_PROPERTIES
        )


def _rows(table: Table) -> list[Published]:
    if table.current_snapshot() is None:
        return []
    return [
        Published(
            r["table_name"],
            r["snapshot_id"],
            r["metadata_location"],
            r["run_id"],
            r["publish_seq"],
            r["published_at"],
        )
        for r in table.scan().to_arrow().to_pylist()
    ]


def _latest(rows: Iterable[Published]) -> dict[str, Published]:
    latest: dict[str, Published] = {}
    for row in sorted(rows, key=lambda r: r.publish_seq):
        latest[row.table] = row
    return latest


def _sequence_number(catalog: Catalog, table: str, snapshot_id: int) -> int:
    snapshot = catalog.load_table(table).snapshot_by_id(snapshot_id)
    return -1 if snapshot is None else snapshot.sequence_number


def _newer(catalog: Catalog, committed: Committed, published: Published | None) -> bool:
    """Whether ``committed`` is later in its table's history than what is published (a retry
    chain's earlier run must not take a table back behind a later run's snapshot)."""
    if published is None:
        return True
    if published.snapshot_id == committed.snapshot_id:
        return False
    return _sequence_number(catalog, committed.table, committed.snapshot_id) > _sequence_number(
        catalog, published.table, published.snapshot_id
    )


def publish(
    catalog: Catalog,
    run_id: str,
    committed: Iterable[Committed],
    *,
    now: datetime | None = None,
    attempts: int = 20,
) -> list[Published]:
    """Publish ``committed`` (in commit order: of a table committed twice the last counts) as
    run ``run_id``'s, in one commit; rows older than :data:`KEEP_PUBLISHED` go, but the latest
    of each table. Returns the rows published (none when nothing is newer than published)."""
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    now = now or datetime.now(UTC)
    last = {c.table: c for c in committed}
    for _ in range(attempts):
        table = _published_table(catalog)
        rows = _rows(table)
        latest = _latest(rows)
        seq = max((r.publish_seq for r in rows), default=0) + 1
        new = [
            Published(c.table, c.snapshot_id, c.metadata_location, run_id, seq, now)
            for c in last.values()
            if _newer(catalog, c, latest.get(c.table))
        ]
        if not new:
            return []
        kept = _prune([*rows, *new], now)
        try:
            with warnings.catch_warnings():  # the first overwrite "did not match any records"
                warnings.simplefilter("ignore", UserWarning)
                table.overwrite(_arrow(kept), snapshot_properties={RUN_ID_PROPERTY: run_id})
            return new
        except (CommitFailedException, ValidationException):
            continue  # another publisher got there first: read again, number again
    raise RuntimeError(f"could not publish run {run_id} after {attempts} attempts")


def _prune(rows: list[Published], now: datetime) -> list[Published]:
    latest = set(_latest(rows).values())
    return [r for r in rows if r in latest or now - r.published_at <= KEEP_PUBLISHED]


def _arrow(rows: list[Published]) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_pylist(
        [
            {
                "run_id": r.run_id,
                "publish_seq": r.publish_seq,
                "published_at": r.published_at,
                "table_name": r.table,
                "snapshot_id": r.snapshot_id,
                "metadata_location": r.metadata_location,
            }
            for r in rows
        ],
        schema=_schema(),
    )


def published(catalog: Catalog, run_id: str | None = None) -> dict[str, Published]:
    """Every table's published snapshot as of run ``run_id``'s publication (default: the
    latest): each table at the last run up to then that wrote it. Empty when nothing was
    published; ``KeyError`` for a run never published (or older than :data:`KEEP_PUBLISHED`)."""
    from pyiceberg.exceptions import NoSuchTableError

    try:
        rows = _rows(catalog.load_table(PUBLISHED_TABLE))
    except NoSuchTableError:
        return {}
    if run_id is not None:
        seqs = [r.publish_seq for r in rows if r.run_id == run_id]
        if not seqs:
            raise KeyError(f"run {run_id} is not in {PUBLISHED_TABLE}")
        rows = [r for r in rows if r.publish_seq <= max(seqs)]
    return _latest(rows)


def attach_published(
    conn: Any,
    catalog: Catalog,
    run_id: str | None = None,
    *,
    properties: dict[str, str] | None = None,
    definitions: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Published]:
    """Every published table on the DuckDB connection ``conn`` as a view at its snapshot as of
    run ``run_id`` (default: the last published run), and ``lakehouse.published_snapshots``
    itself; then ``definitions`` (statements by the table they read: the marts' views and
    macros, ``lib.marts.definitions.mart_definitions()``). Returns what it attached."""
    found = published(catalog, run_id)
    for name, row in found.items():
        table = catalog.load_table(name)
        attach(conn, table, name, snapshot_id=row.snapshot_id, properties=properties)
    if found:
        attach(conn, catalog.load_table(PUBLISHED_TABLE), PUBLISHED_TABLE, properties=properties)
    run_definitions(conn, found, definitions or {})
    return found
