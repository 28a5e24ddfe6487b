"""Snapshot expiry: every overwrite adds snapshots, and a commit's cost grows with their
number (pyiceberg rewrites the whole metadata file: 19 ms after 10 commits, 370 ms after 300).
So the snapshots nobody can ask for are expired: neither published (``publish``), nor current,
nor recent (a run still going may publish it, a reader may be scanning it). The files only
they referenced (data files, manifests, manifest lists) are deleted with them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.lakehouse.publish import (
    KEEP_RECENT,
    KEEP_RECENT_PUBLISHED,
    PUBLISHED_TABLE,
    _rows,
)

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table


@dataclass(frozen=True)
class Expired:
    table: str
    snapshots: int
    files_deleted: int
    conflict: bool = False  # another commit came first: the next expiry does it


def _files(table: Table, snapshot_ids: Iterable[int], cache: dict[str, list[str]]) -> set[str]:
    """Every file the snapshots reference: manifest lists, manifests, data files."""
    files: set[str] = set()
    for snapshot_id in snapshot_ids:
        snapshot = table.snapshot_by_id(snapshot_id)
        if snapshot is None:
            continue
        files.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            files.add(manifest.manifest_path)
            if manifest.manifest_path not in cache:
                cache[manifest.manifest_path] = [
                    e.data_file.file_path
                    for e in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
                ]
            files.update(cache[manifest.manifest_path])
    return files


def expire_table(
    catalog: Catalog,
    name: str,
    keep_ids: set[int],
    *,
    now: datetime | None = None,
    keep_recent: timedelta = KEEP_RECENT,
) -> Expired:
    """Expire ``name``'s snapshots but ``keep_ids``, the current one and those younger than
    ``keep_recent``; delete the files only expired snapshots referenced."""
    from pyiceberg.exceptions import CommitFailedException

    now = now or datetime.now(UTC)
    table = catalog.load_table(name)
    current = table.current_snapshot()
    recent_ms = (now - keep_recent).timestamp() * 1000
    keep = set(keep_ids) | ({current.snapshot_id} if current else set())
    keep |= {s.snapshot_id for s in table.snapshots() if s.timestamp_ms >= recent_ms}
    expire = [s.snapshot_id for s in table.snapshots() if s.snapshot_id not in keep]
    if not expire:
        return Expired(name, 0, 0)
    cache: dict[str, list[str]] = {}
    gone = _files(table, expire, cache) - _files(table, keep, cache)
    try:
        table.maintenance.expire_snapshots().by_ids(expire).commit()
    except CommitFailedException:
        return Expired(name, 0, 0, conflict=True)
    for path in gone:
        _delete(table.io, path)
    return Expired(name, len(expire), len(gone))


def _delete(io: Any, path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        io.delete(path)


def expire(catalog: Catalog, names: Iterable[str], *, now: datetime | None = None) -> list[Expired]:
    """:func:`expire_table` for each of ``names``, keeping every snapshot the published table
    names, then the published table's own old snapshots."""
    published = _rows(catalog.load_table(PUBLISHED_TABLE))
    done = []
    for name in names:
        keep = {r.snapshot_id for r in published if r.table == name}
        done.append(expire_table(catalog, name, keep, now=now))
    done.append(
        expire_table(catalog, PUBLISHED_TABLE, set(), now=now, keep_recent=KEEP_RECENT_PUBLISHED)
    )
    return done
