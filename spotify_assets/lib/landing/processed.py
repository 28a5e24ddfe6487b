"""Reading a zone's processed outputs back: which files count (accepted, still landed, and not
held by a failing blocking check), their rows and rejected records as SQL relations, and the
held files with the checks they fail.

An ingest run checks a batch of files, and its check results describe the batch: the next
batch's passing result would hide a failed file. So a file's state is its own: the zone's
blocking checks are evaluated on each file's manifest (what the ingest recorded for this
version of the file), and a file failing any of them is *held*: its rows stay out of the core
tables, whatever other files do, until it is fixed (landed again, passing) or removed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from spotify_assets.lib.lake import LakeStore, LocalLakeStore
from spotify_assets.lib.landing.zone import FileCheck, LandingZone

MANIFEST_SUFFIX = ".manifest.json"


def zone_manifests(store: LakeStore, zone: LandingZone) -> dict[str, dict[str, Any]]:
    """Every manifest of the zone's processed files, by path, of the files still landed."""
    landed = {o.key for o in store.list(zone.landing_prefix)}
    out: dict[str, dict[str, Any]] = {}
    for obj in store.list(zone.processed_prefix):
        if not obj.key.endswith(MANIFEST_SUFFIX):
            continue
        path = obj.key[len(zone.processed_prefix) : -len(MANIFEST_SUFFIX)]
        if zone.landing_prefix + path not in landed:
            continue  # removed from the landing zone: it no longer counts
        manifest = orjson.loads(store.get_bytes(obj.key))
        if isinstance(manifest, dict):
            out[path] = manifest
    return out


def failing_checks(manifest: Mapping[str, Any], checks: Iterable[FileCheck]) -> dict[str, Any]:
    """``{check: what fails}`` of ``checks`` on one accepted file's manifest."""
    if manifest.get("status", "accepted") != "accepted":
        return {}
    return {c.name: d for c in checks if (d := c.failing(dict(manifest)))}


def held_files(
    store: LakeStore,
    zone: LandingZone,
    manifests: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{path: {check: what fails}}``: the zone's files held out of its core tables."""
    if manifests is None:
        manifests = zone_manifests(store, zone)
    held = {}
    for path, manifest in sorted(manifests.items()):
        if failing := failing_checks(manifest, zone.blocking_checks):
            held[path] = failing
    return held


@dataclass(frozen=True)
class ProcessedFile:
    """One processed Parquet file: the landed object it came from and that version's id."""

    source_file: str  # the object's path below landing/<zone>/
    path: str  # a path DuckDB can read
    version: str  # content id of the landed object it was made from
    rejects_path: str | None = None
    listener: str | None = None
    shared: bool = False  # ``path`` is a chunk Parquet holding other objects' rows too


def processed_files(
    store: LakeStore, zone: LandingZone, workdir: Path, *, include_held: bool = False
) -> list[ProcessedFile]:
    """Every accepted, still landed object's Parquet with its version, but the held ones
    (``include_held``: those too, for the tables of rejected records). S3 objects are copied
    to ``workdir`` first (DuckDB reads local files; the lake may be a bucket), a chunk Parquet
    once. An object removed from the landing zone no longer counts: its rows leave the tables
    built from these files. Read the rows with :func:`processed_rows`."""
    local: dict[str, str | None] = {}

    def path_of(key: str | None, *, check: bool) -> str | None:
        if key is None:
            return None
        if key not in local:
            if isinstance(store, LocalLakeStore):
                path = store.path(key)
                local[key] = str(path) if not check or path.exists() else None
            elif not check or store.exists(key):
                target = workdir / key
                target.parent.mkdir(parents=True, exist_ok=True)
                store.get_file(key, target)  # a chunk at a time: a Parquet may be large
                local[key] = str(target)
            else:
                local[key] = None
        return local[key]

    blocking = zone.blocking_checks
    out = []
    for source, manifest in zone_manifests(store, zone).items():
        if manifest.get("status", "accepted") != "accepted":
            continue
        if not include_held and failing_checks(manifest, blocking):
            continue
        if "parquet" in manifest:  # the manifest names where its rows are
            path = path_of(manifest["parquet"], check=False)
            rejects = path_of(manifest.get("rejects_parquet"), check=False)
        else:  # written before manifests named them: the object's own files, if there
            parquet_key, _, rejects_key = zone.processed_keys(source)
            path = path_of(parquet_key, check=True)
            rejects = path_of(rejects_key, check=True)
        if path is None:
            continue
        out.append(
            ProcessedFile(
                source_file=source,
                path=path,
                version=manifest["version"],
                rejects_path=rejects,
                listener=manifest.get("listener", manifest.get("owner")),
                shared=str(manifest.get("parquet") or "").startswith(zone.batches_prefix),
            )
        )
    out.sort(key=lambda f: f.source_file)
    return out


def _sql_list(paths: Iterable[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


@contextmanager
def processed_rows(
    conn: Any, files: Sequence[ProcessedFile], *, rejects: bool = False
) -> Iterator[str | None]:
    """A SQL relation (a parenthesised query) of the current rows of ``files`` (their rejected
    records with ``rejects``), or None when there are none. An object's own Parquet is read
    whole; of a chunk Parquet only the rows of the objects whose manifest names it, so a
    re-landed object's older rows drop out. Use it inside the ``with``."""
    import pyarrow as pa

    chosen = [(f, f.rejects_path if rejects else f.path) for f in files]
    chosen = [(f, p) for f, p in chosen if p]
    own = sorted({p for f, p in chosen if not f.shared})
    shared = [(f.source_file, p) for f, p in chosen if f.shared]
    parts = []
    if own:
        parts.append(f"select * from read_parquet({_sql_list(own)}, union_by_name = true)")
    name = f"_landed_{uuid.uuid4().hex[:12]}"
    if shared:
        conn.register(
            name,
            pa.table({"source_file": [s for s, _ in shared], "filename": [p for _, p in shared]}),
        )
        parts.append(
            "select b.* exclude (filename) from read_parquet("
            f"{_sql_list(sorted({p for _, p in shared}))}, filename = true, union_by_name = true)"
            f" b semi join {name} k on b.filename = k.filename and b.source_file = k.source_file"
        )
    try:
        yield "(" + " union all by name ".join(parts) + ")" if parts else None
    finally:
        if shared:
            conn.unregister(name)


def build_rejected_records(conn: Any, table: str, files: Sequence[ProcessedFile]) -> None:
    """A warehouse table of every rejected record of a zone's files (file, record index or
    line, reason, excerpt), from their rejected-records Parquet."""
    schema = table.split(".", 1)[0]
    conn.execute(f"create schema if not exists {schema}")
    with processed_rows(conn, files, rejects=True) as rows:
        if rows is None:
            conn.execute(
                f"create or replace table {table} (source_file varchar, record_index bigint, "
                "reason varchar, raw_excerpt varchar)"
            )
            return
        conn.execute(
            f"create or replace table {table} as select source_file, record_index, reason, "
            f"raw_excerpt from {rows} r order by source_file, record_index"
        )
