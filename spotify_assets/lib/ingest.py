"""A landed export file -> the lake's processed zone (Dagster-free).

For each file of ``landing/streaming_history/<user_id>/``: parse and validate it
(``spotify_assets.lib.listening.export_files``), write its plays and its rejected records as
Parquet and a manifest (counts, content version, the landed object's etag) beside them, or,
when the file cannot be read at all, move it to ``landing/_rejected/`` with the reason. The
``raw/streaming_history_files`` asset calls :func:`ingest_file` once per partition;
``core/streams`` reads what :func:`processed_files` lists.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from spotify_assets.lib.lake import LakeError, LakeStore, LocalLakeStore
from spotify_assets.lib.landing import (
    LANDING_PREFIX,
    PROCESSED_PREFIX,
    content_id,
    processed_keys,
    rejected_keys,
)
from spotify_assets.lib.listening.export_files import BadExportFile, process_file, write_parquet
from spotify_assets.lib.listening.streams import ProcessedFile, play_key_sql


def processed_manifest(store: LakeStore, partition_key: str) -> dict[str, Any]:
    """What the processed zone records of a landed file (content version, the landed
    object's etag, counts), or {} when it holds nothing for it."""
    _, manifest_key, _ = processed_keys(partition_key)
    try:
        manifest = orjson.loads(store.get_bytes(manifest_key))
    except (LakeError, orjson.JSONDecodeError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def reject_file(store: LakeStore, partition_key: str, data: bytes, reason: str) -> str:
    """Move a whole unreadable file aside (copy, then remove) with a reason file beside it."""
    target, reason_key = rejected_keys(partition_key)
    store.put_bytes(target, data)
    store.put_bytes(reason_key, (reason.strip() + "\n").encode())
    store.delete(LANDING_PREFIX + partition_key)
    for key in processed_keys(partition_key):
        store.delete(key)  # an earlier, readable version of this file no longer counts
    return store.uri(target)


def rejected_table(source_file: str, rejected: list) -> pa.Table:
    return pa.table(
        {
            "source_file": [source_file] * len(rejected),
            "record_index": pa.array([r.record_index for r in rejected], pa.int64()),
            "reason": [r.reason for r in rejected],
            "raw_excerpt": [r.raw_excerpt for r in rejected],
        }
    )


_local = threading.local()


def duplicates_in(table: pa.Table) -> int:
    """Plays that the file itself holds twice (the same play key). One in-memory DuckDB
    connection per thread: opening one per file cost more than the query."""
    if not table.num_rows:
        return 0
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = duckdb.connect()
    conn.register("_file_plays", table)
    try:
        return conn.execute(
            f"select count(*) - count(distinct ({', '.join(play_key_sql())})) from _file_plays"
        ).fetchall()[0][0]
    finally:
        conn.unregister("_file_plays")


def ingest_file(store: LakeStore, partition_key: str, *, reprocess: bool = False) -> dict[str, Any]:
    """Parse one landed file into the processed zone; returns its per-file metadata. A file
    whose bytes were processed already is not parsed again unless ``reprocess``."""
    user_id = partition_key.split("/", 1)[0]
    try:
        data = store.get_bytes(LANDING_PREFIX + partition_key)
    except LakeError:
        rejected, _ = rejected_keys(partition_key)
        where = "it was rejected earlier" if store.exists(rejected) else "it was removed"
        return {"status": "missing", "reason": f"not in the landing zone: {where}"}
    version = content_id(data)
    # The landed object's etag, so a sensor without a cursor can tell it was processed.
    landed = [
        o for o in store.list(LANDING_PREFIX + partition_key) if o.key.endswith(partition_key)
    ]
    landed_etag = landed[0].etag if landed else None
    parquet_key, manifest_key, rejects_key = processed_keys(partition_key)
    previous = processed_manifest(store, partition_key)
    unchanged = previous.get("version") == version and store.exists(parquet_key)
    if unchanged and not reprocess:
        if previous.get("landed_etag") != landed_etag:  # touched, or re-uploaded as it was
            previous["landed_etag"] = landed_etag
            store.put_bytes(manifest_key, orjson.dumps(previous, default=str))
        return {**previous, "unchanged": True}
    try:
        parsed = process_file(data, source_file=partition_key, user_id=user_id)
    except BadExportFile as exc:
        uri = reject_file(store, partition_key, data, str(exc))
        return {"status": "rejected", "reason": str(exc), "moved_to": uri, "version": version}
    buf = io.BytesIO()
    write_parquet(parsed.table, buf)
    store.put_bytes(parquet_key, buf.getvalue())
    if parsed.rejected:
        rbuf = io.BytesIO()
        write_parquet(rejected_table(partition_key, parsed.rejected), rbuf)
        store.put_bytes(rejects_key, rbuf.getvalue())
    else:
        store.delete(rejects_key)
    table = parsed.table
    ts_min, ts_max = (None, None)
    if table.num_rows:
        bounds = pc.min_max(table["ts"])
        ts_min, ts_max = (bounds["min"].as_py().isoformat(), bounds["max"].as_py().isoformat())
    info = {
        "status": "accepted",
        "format": parsed.format,
        "records": parsed.n_records,
        "accepted": parsed.n_accepted,
        "rejected": parsed.n_rejected,
        "duplicates_in_file": duplicates_in(table),
        "parse_rate": round(parsed.n_accepted / parsed.n_records, 4) if parsed.n_records else 1.0,
        "min_ts": ts_min,
        "max_ts": ts_max,
        "negative_ms_played": sum("negative" in r.reason for r in parsed.rejected),
        "normalized": dict(parsed.normalized),
        "version": version,
        "landed_etag": landed_etag,
    }
    store.put_bytes(manifest_key, orjson.dumps(info, default=str))
    return info


def processed_files(store: LakeStore, workdir: Path) -> list[ProcessedFile]:
    """Every processed file with its version; S3 objects are copied to ``workdir`` first
    (DuckDB reads local files; the lake may be a bucket)."""
    out = []
    for obj in store.list(PROCESSED_PREFIX):
        if not obj.key.endswith(".manifest.json"):
            continue
        source = obj.key[len(PROCESSED_PREFIX) : -len(".manifest.json")]
        manifest = orjson.loads(store.get_bytes(obj.key))
        parquet_key, _, rejects_key = processed_keys(source)
        paths = []
        for key in (parquet_key, rejects_key):
            if isinstance(store, LocalLakeStore):
                path = store.path(key)
                paths.append(str(path) if path.exists() else None)
            elif store.exists(key):
                local = workdir / key
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(store.get_bytes(key))
                paths.append(str(local))
            else:
                paths.append(None)
        if paths[0] is None:
            continue
        out.append(
            ProcessedFile(
                source_file=source,
                path=paths[0],
                version=manifest["version"],
                rejects_path=paths[1],
            )
        )
    out.sort(key=lambda f: f.source_file)
    return out
