"""Group ``listening``: Spotify privacy exports dropped into the landing zone -> one
Parquet file per export file -> ``core.streams`` (deduplicated plays) and ``core.listeners``.

Lineage::

    landing/streaming_history/<user_id>/*.json  (the sensor watches it)
      -> raw/streaming_history_files  (one dynamic partition per file; Parquet in the lake's
                                       processed zone, rejected records beside it)
      -> core/streams, core/listeners, core/rejected_stream_records  (DuckDB over the Parquet)

A file that cannot be read at all is moved to ``landing/_rejected/`` with a reason file and
does not stop the other files of its run; bad records are kept aside with their reason.
"""

import io
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.listening.partitions import STREAMING_FILES_KEY, STREAMING_HISTORY_FILES
from spotify_assets.lib.lake import LakeError, LocalLakeStore
from spotify_assets.lib.landing import (
    LANDING_PREFIX,
    PROCESSED_PREFIX,
    content_id,
    processed_keys,
    rejected_keys,
)
from spotify_assets.lib.streaming_history import BadExportFile, process_file, write_parquet
from spotify_assets.lib.streams import (
    ProcessedFile,
    build_streams,
    play_key_sql,
    resolve_account_data_tracks,
)
from spotify_assets.resources import LakeResource

OWNERS = ["team:data-platform"]
# A file with fewer usable records than this is suspect: downstream waits for a person.
MIN_PARSE_RATE = 0.9
# Spotify launched in October 2008; nothing can have been played before.
EARLIEST_PLAY = "2008-10-01"

STREAMS_KEY = dg.AssetKey(["core", "streams"])
LISTENERS_KEY = dg.AssetKey(["core", "listeners"])
REJECTED_RECORDS_KEY = dg.AssetKey(["core", "rejected_stream_records"])


def _reject_file(lake: LakeResource, partition_key: str, data: bytes, reason: str) -> str:
    """Move a whole unreadable file aside (copy, then remove) with a reason file beside it."""
    store = lake.store()
    target, reason_key = rejected_keys(partition_key)
    store.put_bytes(target, data)
    store.put_bytes(reason_key, (reason.strip() + "\n").encode())
    store.delete(LANDING_PREFIX + partition_key)
    for key in processed_keys(partition_key):
        store.delete(key)  # an earlier, readable version of this file no longer counts
    return lake.uri(target)


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


def ingest_file(
    lake: LakeResource, partition_key: str, *, reprocess: bool = False
) -> dict[str, Any]:
    """Parse one landed file into the processed zone; returns its per-file metadata. A file
    whose bytes were processed already is not parsed again unless ``reprocess``."""
    store = lake.store()
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
    if not reprocess and store.exists(manifest_key) and store.exists(parquet_key):
        previous = orjson.loads(store.get_bytes(manifest_key))
        if previous.get("version") == version:
            if previous.get("landed_etag") != landed_etag:  # touched or re-uploaded as is
                previous["landed_etag"] = landed_etag
                store.put_bytes(manifest_key, orjson.dumps(previous, default=str))
            return {**previous, "unchanged": True}
    try:
        parsed = process_file(data, source_file=partition_key, user_id=user_id)
    except BadExportFile as exc:
        uri = _reject_file(lake, partition_key, data, str(exc))
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


class IngestConfig(dg.Config):
    reprocess: bool = False
    """Parse files again even when their bytes were processed already (after a parser fix)."""


@dg.asset(
    key=STREAMING_FILES_KEY,
    group_name="listening",
    partitions_def=STREAMING_HISTORY_FILES,
    # A run takes a whole batch of files (the sensor asks for ranges): less orchestration.
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"json", "parquet", "s3"},
    owners=OWNERS,
    description=(
        "One landed export file per partition, parsed, validated and normalized to one schema "
        "(personal data dropped), as Parquet in the lake's processed zone."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "files_readable",
            asset=STREAMING_FILES_KEY,
            description="Every file of the run could be read as an export (unreadable files are "
            "moved to landing/_rejected/ with the reason; WARN: a person should look)",
        ),
        dg.AssetCheckSpec(
            "parse_rate",
            asset=STREAMING_FILES_KEY,
            blocking=True,
            description=f"At least {MIN_PARSE_RATE:.0%} of the records of every readable file "
            "of the run are usable",
        ),
        dg.AssetCheckSpec(
            "timestamps_plausible",
            asset=STREAMING_FILES_KEY,
            blocking=True,
            description=f"Every play ends between {EARLIEST_PLAY} and now",
        ),
        dg.AssetCheckSpec(
            "ms_played_non_negative",
            asset=STREAMING_FILES_KEY,
            blocking=True,
            description="No record of the run's files has a negative ms_played",
        ),
    ],
)
def streaming_history_files(
    context: dg.AssetExecutionContext, config: IngestConfig, lake: LakeResource
):
    keys = context.partition_keys
    started = time.perf_counter()
    per_file: dict[str, dict[str, Any]] = {}
    for n, partition_key in enumerate(keys, start=1):
        info = ingest_file(lake, partition_key, reprocess=config.reprocess)
        per_file[partition_key] = info
        if info["status"] != "accepted":
            context.log.warning(f"{partition_key}: {info['status']}: {info['reason']}")
        if n % 20 == 0 or n == len(keys):
            context.log.info(f"{n}/{len(keys)} files, {time.perf_counter() - started:.1f} s")
    accepted = [i for i in per_file.values() if i["status"] == "accepted"]
    summary = {
        "files": len(keys),
        "files_accepted": len(accepted),
        "files_rejected": sum(i["status"] == "rejected" for i in per_file.values()),
        "files_missing": sum(i["status"] == "missing" for i in per_file.values()),
        "records_accepted": sum(i["accepted"] for i in accepted),
        "records_rejected": sum(i["rejected"] for i in accepted),
        "duplicates_in_files": sum(i["duplicates_in_file"] for i in accepted),
        "files_unchanged": sum(bool(i.get("unchanged")) for i in accepted),
        "seconds": round(time.perf_counter() - started, 2),
    }
    yield dg.MaterializeResult(metadata=summary)

    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 86400))
    unreadable = {k: i["reason"] for k, i in per_file.items() if i["status"] == "rejected"}
    yield dg.AssetCheckResult(
        check_name="files_readable",
        passed=not unreadable,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected_files": dg.MetadataValue.json(unreadable)},
        description=f"{len(unreadable)} of {len(keys)} files moved to landing/_rejected/"
        if unreadable
        else None,
    )
    low_rate = {
        k: i["parse_rate"]
        for k, i in per_file.items()
        if i["status"] == "accepted" and i["parse_rate"] < MIN_PARSE_RATE
    }
    yield dg.AssetCheckResult(
        check_name="parse_rate",
        passed=not low_rate,
        metadata={"files_below": dg.MetadataValue.json(low_rate)},
        description=f"{len(low_rate)} of {len(keys)} files below {MIN_PARSE_RATE:.0%}"
        if low_rate
        else None,
    )
    implausible = {
        k: {"min_ts": i["min_ts"], "max_ts": i["max_ts"]}
        for k, i in per_file.items()
        if i["status"] == "accepted"
        and i["min_ts"] is not None
        and (str(i["min_ts"]) < EARLIEST_PLAY or str(i["max_ts"]) > now)
    }
    yield dg.AssetCheckResult(
        check_name="timestamps_plausible",
        passed=not implausible,
        metadata={"files_failing": dg.MetadataValue.json(implausible)},
    )
    negative = {
        k: i["negative_ms_played"]
        for k, i in per_file.items()
        if i["status"] == "accepted" and i["negative_ms_played"]
    }
    yield dg.AssetCheckResult(
        check_name="ms_played_non_negative",
        passed=not negative,
        metadata={"records_with_negative_ms_played": dg.MetadataValue.json(negative)},
    )
    # Per-file figures as each partition's latest materialization.
    for partition_key, info in per_file.items():
        yield dg.AssetMaterialization(
            asset_key=STREAMING_FILES_KEY,
            partition=partition_key,
            metadata={k: v for k, v in info.items() if v is not None},
        )


def processed_files(lake: LakeResource, workdir: Path) -> list[ProcessedFile]:
    """Every processed file with its version; S3 objects are copied to ``workdir`` first
    (DuckDB reads local files; the lake may be a bucket)."""
    store = lake.store()
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


STREAMS_COLUMNS = {
    "user_id": "The landing folder the export came from",
    "ts": "End of the play (UTC)",
    "content_type": "music, podcast, audiobook or unknown",
    "track_id": "Spotify track id (null for podcasts and account-data rows)",
    "ms_played": "Milliseconds played",
    "conn_country": "Country of the connection (ISO 3166-1 alpha-2)",
    "platform": "Device platform as Spotify writes it",
    "reason_start": "Why the play started",
    "reason_end": "Why the play ended",
    "shuffle": "Shuffle on",
    "skipped": "Skipped (null: not recorded)",
    "offline": "Played offline",
    "incognito_mode": "Private session",
    "source_file": "The landed file (partition key) the kept copy of the play came from",
}

LISTENERS_SQL = """
create or replace table core.listeners as
select
    user_id,
    min(ts) as first_play,
    max(ts) as last_play,
    count(*) filter (where content_type = 'music') as plays,
    count(*) filter (where content_type = 'music' and ms_played >= 30000) as streams,
    round(sum(ms_played) filter (where content_type = 'music') / 3600000.0, 3) as listening_hours,
    count(*) filter (where content_type = 'podcast') as podcast_plays,
    count(distinct cast(ts as date)) as active_days,
    mode(conn_country) as main_country,
    mode(platform) as main_platform,
    count(distinct source_file) as source_files
from core.streams
group by user_id
order by user_id
"""

REJECTED_SQL_EMPTY = """
create or replace table core.rejected_stream_records (
    source_file varchar, record_index bigint, reason varchar, raw_excerpt varchar
)
"""


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            STREAMS_KEY,
            deps=[STREAMING_FILES_KEY],
            group_name="listening",
            kinds={"duckdb", "sql"},
            owners=OWNERS,
            description="Every play of every processed export file, duplicates across "
            "overlapping exports removed (same user, ts, content and ms_played).",
            metadata={"column_descriptions": STREAMS_COLUMNS},
            automation_condition=dg.AutomationCondition.eager(),
        ),
        dg.AssetSpec(
            LISTENERS_KEY,
            deps=[STREAMS_KEY],
            group_name="listening",
            kinds={"duckdb", "sql"},
            owners=OWNERS,
            description="One row per user: first and last play, plays, streams, listening "
            "hours, active days, main country and platform.",
            automation_condition=dg.AutomationCondition.eager(),
        ),
        dg.AssetSpec(
            REJECTED_RECORDS_KEY,
            deps=[STREAMING_FILES_KEY],
            group_name="listening",
            kinds={"duckdb", "sql"},
            owners=OWNERS,
            description="Records of processed files that could not be used: file, index in "
            "the file, reason and an excerpt.",
            automation_condition=dg.AutomationCondition.eager(),
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "no_duplicate_plays",
            asset=STREAMS_KEY,
            blocking=True,
            description="No two rows are the same play",
        ),
        dg.AssetCheckSpec(
            "source_files_known",
            asset=STREAMS_KEY,
            blocking=True,
            description="Every source_file is a processed landed file",
        ),
        dg.AssetCheckSpec(
            "row_count_matches_files",
            asset=STREAMS_KEY,
            blocking=True,
            description="Rows = records accepted from the files - duplicates",
        ),
    ],
    can_subset=False,
    pool="duckdb",
    name="streams_tables",
)
def streams_tables(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: DuckDBResource
):
    """Built with DuckDB over the Parquet files, never as a DataFrame in Python: 10 million
    plays are 4 s and 3 GB as pandas, a few hundred MB inside DuckDB."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="streams-") as tmp:
        files = processed_files(lake, Path(tmp))
        context.log.info(f"{len(files)} processed files in {lake.uri(PROCESSED_PREFIX)}")
        with warehouse.get_connection() as conn:
            stats = build_streams(conn, files)
            resolved = resolve_account_data_tracks(conn)
            context.log.info(
                f"core.streams: {stats.mode} build, {stats.rows_inserted:,} rows added, "
                f"{stats.total_rows:,} in all, {time.perf_counter() - started:.1f} s"
            )
            if files:
                conn.execute(LISTENERS_SQL)
            else:
                conn.execute(
                    "create or replace table core.listeners as "
                    "select null::varchar as user_id where false"
                )
            rejects = [f.rejects_path for f in files if f.rejects_path]
            if rejects:
                paths = ", ".join("'" + p.replace("'", "''") + "'" for p in rejects)
                conn.execute(
                    "create or replace table core.rejected_stream_records as "
                    f"select * from read_parquet([{paths}], union_by_name = true) "
                    "order by source_file, record_index"
                )
            else:
                conn.execute(REJECTED_SQL_EMPTY)
            results = _streams_checks(conn, files, stats)
            metadata = {
                key: _table_metadata(conn, key, STREAMS_COLUMNS if key == STREAMS_KEY else {})
                for key in (STREAMS_KEY, LISTENERS_KEY, REJECTED_RECORDS_KEY)
            }
    yield dg.MaterializeResult(
        asset_key=STREAMS_KEY,
        metadata={
            **metadata[STREAMS_KEY],
            "build": stats.mode,
            "files": stats.files,
            "files_added": stats.files_added,
            "rows_read": stats.rows_read,
            "rows_added": stats.rows_inserted,
            "duplicates_dropped": stats.duplicates,
            "account_data_rows_resolved_by_name": resolved,
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    yield dg.MaterializeResult(asset_key=LISTENERS_KEY, metadata=metadata[LISTENERS_KEY])
    yield dg.MaterializeResult(
        asset_key=REJECTED_RECORDS_KEY, metadata=metadata[REJECTED_RECORDS_KEY]
    )
    yield from results


def _table_metadata(conn, key: dg.AssetKey, descriptions: dict[str, str]) -> dict[str, Any]:
    from spotify_assets.resources.warehouse import table_schema

    schema, table = key.path
    rows = conn.execute(f"select count(*) from {schema}.{table}").fetchone()[0]
    return {
        "dagster/row_count": int(rows),
        "dagster/column_schema": table_schema(conn, schema, table, descriptions),
        "dagster/table_name": f"warehouse.{schema}.{table}",
    }


def _streams_checks(conn, files: list[ProcessedFile], stats) -> list[dg.AssetCheckResult]:
    dupes = (
        conn.execute(
            f"select count(*) from (select {', '.join(play_key_sql())} from core.streams "
            "group by all having count(*) > 1)"
        ).fetchone()[0]
        if files
        else 0
    )
    unknown = (
        conn.execute(
            "select count(distinct source_file) from core.streams "
            "where source_file not in (select source_file from core.stream_sources)"
        ).fetchone()[0]
        if files
        else 0
    )
    # Independent of the build: accepted records in the files minus duplicate plays among them.
    if files:
        paths = ", ".join("'" + f.path.replace("'", "''") + "'" for f in files)
        accepted, distinct = conn.execute(
            f"select count(*), count(distinct ({', '.join(play_key_sql())})) "
            f"from read_parquet([{paths}], union_by_name = true)"
        ).fetchone()
        total = conn.execute("select count(*) from core.streams").fetchone()[0]
    else:
        accepted = distinct = total = 0
    return [
        dg.AssetCheckResult(
            asset_key=STREAMS_KEY,
            check_name="no_duplicate_plays",
            passed=dupes == 0,
            metadata={"duplicate_plays": int(dupes)},
        ),
        dg.AssetCheckResult(
            asset_key=STREAMS_KEY,
            check_name="source_files_known",
            passed=unknown == 0,
            metadata={"unknown_source_files": int(unknown)},
        ),
        dg.AssetCheckResult(
            asset_key=STREAMS_KEY,
            check_name="row_count_matches_files",
            passed=total == distinct,
            metadata={
                "rows": int(total),
                "accepted_records": int(accepted),
                "duplicates": int(accepted - distinct),
                "expected_rows": int(distinct),
            },
        ),
    ]
