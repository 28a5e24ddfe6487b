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

import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.automation import LISTENING_FRESHNESS, on_upstream_change
from spotify_assets.defs.listening.partitions import STREAMING_FILES_KEY, STREAMING_HISTORY_FILES
from spotify_assets.defs.rule_checks import rule_check_result, rule_check_spec
from spotify_assets.lib.ingest import ingest_file, processed_files
from spotify_assets.lib.landing import PROCESSED_PREFIX
from spotify_assets.lib.listening.streams import (
    ProcessedFile,
    build_listeners,
    build_rejected_records,
    build_streams,
    play_key_sql,
    resolve_account_data_tracks,
)
from spotify_assets.lib.quality.rules import accepted_values, evaluate
from spotify_assets.resources import LakeResource

OWNERS = ["team:data-platform"]
# A file with fewer usable records than this is suspect: downstream waits for a person.
MIN_PARSE_RATE = 0.9
# Spotify launched in October 2008; nothing can have been played before.
EARLIEST_PLAY = "2008-10-01"

STREAMS_KEY = dg.AssetKey(["core", "streams"])

# Values Spotify's exports use. content_type is ours (ERROR); the reasons are Spotify's, and a
# new one appears now and then: WARN, so a person adds it here and to the KPI docs.
CONTENT_TYPES = ["music", "podcast", "audiobook", "unknown"]
REASONS_START = [
    "appload", "backbtn", "clickrow", "clickside", "endplay", "fwdbtn", "persisted",
    "playbtn", "popup", "remote", "switched-to-audio", "switched-to-video", "trackdone",
    "trackerror", "unknown", "uriopen",
]  # fmt: skip
REASONS_END = [
    "backbtn", "clickrow", "endplay", "fwdbtn", "logout", "popup", "remote",
    "trackdone", "trackerror", "unexpected-exit", "unexpected-exit-while-paused", "unknown",
    "uriopen",
]  # fmt: skip
STREAMS_VALUE_RULES = [
    accepted_values("core.streams", "content_type", CONTENT_TYPES, key="source_file, record_index"),
    accepted_values(
        "core.streams",
        "reason_start",
        REASONS_START,
        key="source_file, record_index",
        blocking=False,
    ),
    accepted_values(
        "core.streams",
        "reason_end",
        REASONS_END,
        key="source_file, record_index",
        blocking=False,
    ),
]
LISTENERS_KEY = dg.AssetKey(["core", "listeners"])
REJECTED_RECORDS_KEY = dg.AssetKey(["core", "rejected_stream_records"])


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
        info = ingest_file(lake.store(), partition_key, reprocess=config.reprocess)
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


def _warehouse_table(
    key: dg.AssetKey, deps: list[dg.AssetKey], description: str, **kwargs: Any
) -> dg.AssetSpec:
    """A listening table built in SQL, updating itself when what it reads changes."""
    return dg.AssetSpec(
        key,
        deps=deps,
        group_name="listening",
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        description=description,
        automation_condition=on_upstream_change(),
        freshness_policy=LISTENING_FRESHNESS,
        **kwargs,
    )


@dg.multi_asset(
    specs=[
        _warehouse_table(
            STREAMS_KEY,
            [STREAMING_FILES_KEY],
            "Every play of every processed export file, duplicates across overlapping exports "
            "removed (same user, ts, content and ms_played).",
            metadata={"column_descriptions": STREAMS_COLUMNS},
        ),
        _warehouse_table(
            LISTENERS_KEY,
            [STREAMS_KEY],
            "One row per user: first and last play, plays, streams, listening hours, active "
            "days, main country and platform.",
        ),
        _warehouse_table(
            REJECTED_RECORDS_KEY,
            [STREAMING_FILES_KEY],
            "Records of processed files that could not be used: file, index in the file, "
            "reason and an excerpt.",
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
        *[rule_check_spec(STREAMS_KEY, rule) for rule in STREAMS_VALUE_RULES],
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
        files = processed_files(lake.store(), Path(tmp))
        context.log.info(f"{len(files)} processed files in {lake.uri(PROCESSED_PREFIX)}")
        with warehouse.get_connection() as conn:
            stats = build_streams(conn, files)
            resolved = resolve_account_data_tracks(conn)
            context.log.info(
                f"core.streams: {stats.mode} build, {stats.rows_inserted:,} rows added, "
                f"{stats.total_rows:,} in all, {time.perf_counter() - started:.1f} s"
            )
            build_listeners(conn)
            build_rejected_records(conn, files)
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
        *[rule_check_result(STREAMS_KEY, evaluate(conn, rule)) for rule in STREAMS_VALUE_RULES],
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
