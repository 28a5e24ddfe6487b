"""Group ``listening``: Spotify privacy exports dropped into the landing zone (declared in
``history_files.py``) -> one Parquet file per export file -> ``core.streams`` (deduplicated
plays) and ``core.listeners``.

Lineage::

    landing/streaming_history/<user_id>/*.json  (the sensor watches it)
      -> raw/streaming_history_files  (a batch of files per partition; Parquet in the lake's
                                       processed area, rejected records beside it)
      -> core/streams, core/listeners, core/rejected_stream_records  (DuckDB over the Parquet)

A file that cannot be read at all stays where it is, listed as rejected with the reason, and
does not stop the other files of its batch; bad records are kept aside with their reason; a
file failing a blocking check is held out of core.streams alone until fixed or removed.
"""

import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.automation import on_upstream_change
from spotify_assets.defs.landing import log_held_files
from spotify_assets.defs.listening.history_files import STREAMING_HISTORY
from spotify_assets.defs.listening.recently_played import RECENTLY_PLAYED_KEY
from spotify_assets.defs.quality.rule_checks import rule_check_result, rule_check_spec
from spotify_assets.defs.warehouse_tables import ROW_COUNT_MAY_DROP, warehouse_multi_asset
from spotify_assets.lib.landing import ProcessedFile, processed_files
from spotify_assets.lib.listening.history_zone import STREAMING_HISTORY_ZONE
from spotify_assets.lib.listening.recently_played import drop_polled_duplicates, polled_files
from spotify_assets.lib.listening.scrobbles import MATCHES_TABLE, merge_scrobbles
from spotify_assets.lib.listening.sources import SCROBBLE_FORMATS, sql_list
from spotify_assets.lib.listening.streams import (
    SCROBBLES,
    STREAMS,
    build_listeners,
    build_rejected_records,
    build_scrobbles,
    build_streams,
    classify_mixed_history,
    play_key_sql,
    resolve_account_data_tracks,
)
from spotify_assets.lib.quality.rules import accepted_values, evaluate
from spotify_assets.resources import LakeResource
from spotify_assets.resources.lakehouse import ALSO_WRITES
from spotify_assets.resources.table_metadata import table_metadata

STREAMS_KEY = dg.AssetKey(["core", "streams"])
STREAMING_FILES_KEY = STREAMING_HISTORY.key

# Values Spotify's exports use. content_type is ours (ERROR); the reasons are Spotify's, and a
# new one appears now and then: WARN, so a person adds it here and to the KPI docs. Collected
# from published exports, importers and the client's enums ("reconnect" since 2025; blanks
# are read as null).
CONTENT_TYPES = ["music", "podcast", "audiobook", "unknown"]
_BOTH_ENDS = [
    "backbtn", "clickrow", "clickside", "endplay", "fwdbtn", "playbtn", "popup", "remote",
    "switched-to-audio", "switched-to-video", "trackdone", "trackerror", "unknown", "uriopen",
]  # fmt: skip
REASONS_START = sorted({*_BOTH_ENDS, "appload", "persisted", "reconnect", "splitdelivery"})
REASONS_END = sorted(
    {*_BOTH_ENDS, "logout", "reconnect", "unexpected-exit", "unexpected-exit-while-paused"}
)
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


STREAMS_COLUMNS = {
    "user_id": "The landing folder the export came from",
    "ts": "End of the play (UTC; a scrobble's time plus ms_played)",
    "content_type": "music, podcast, audiobook or unknown",
    "track_id": "Spotify track id (null for podcasts, and for account-data rows and scrobbles "
    "whose names did not resolve)",
    "ms_played": "Milliseconds played (a scrobble: its track's duration)",
    "conn_country": "Country of the connection (ISO 3166-1 alpha-2)",
    "platform": "Device platform as Spotify writes it",
    "reason_start": "Why the play started",
    "reason_end": "Why the play ended",
    "shuffle": "Shuffle on",
    "skipped": "Skipped (null: not recorded)",
    "offline": "Played offline",
    "incognito_mode": "Private session",
    "source_format": "extended, account_data, recently_played (Spotify); lastfm, "
    "listenbrainz (scrobbles that no Spotify play holds)",
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
        description=description,
        automation_condition=on_upstream_change(),
        **kwargs,
    )


@warehouse_multi_asset(
    specs=[
        _warehouse_table(
            STREAMS_KEY,
            [STREAMING_FILES_KEY, RECENTLY_PLAYED_KEY],
            "Every play of every processed export file, duplicates across overlapping exports "
            "removed (same user, ts, content and ms_played), and the Last.fm and ListenBrainz "
            "scrobbles of plays Spotify's history does not hold.",
            # Written beside it: which file versions the build took in, and the scrobbles
            # (core.scrobbles, their sources, core.scrobble_matches) it merges.
            metadata={
                "column_descriptions": STREAMS_COLUMNS,
                ALSO_WRITES: [STREAMS.sources, SCROBBLES.table, SCROBBLES.sources, MATCHES_TABLE],
            },
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
            metadata={ROW_COUNT_MAY_DROP: "rejected records empty when a bad file is fixed"},
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "no_duplicate_plays",
            asset=STREAMS_KEY,
            blocking=True,
            description="No two rows are the same play (nor a scrobble merged into another row)",
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
            description="Rows = records accepted from the files - duplicates - polled plays "
            "that an export also holds - scrobbles merged into another row, whose row is there",
        ),
        *[rule_check_spec(STREAMS_KEY, rule) for rule in STREAMS_VALUE_RULES],
    ],
    can_subset=False,
    name="streams_tables",
)
def streams_tables(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: DuckDBResource
):
    """Built with DuckDB over the Parquet files, never as a DataFrame in Python: 10 million
    plays are 4 s and 3 GB as pandas, a few hundred MB inside DuckDB."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="streams-") as tmp:
        store = lake.store()
        # A file failing a blocking check stays out until it is fixed or removed, whatever
        # later batches do (reports/data_quality lists it as failed meanwhile).
        held = log_held_files(context, store, STREAMING_HISTORY_ZONE, out_of="core.streams")
        # The held files' rejected records stay visible.
        landed = processed_files(store, STREAMING_HISTORY_ZONE, Path(tmp), include_held=True)
        files = [f for f in landed if f.source_file not in held]
        polled = polled_files(store, Path(tmp))
        landed, files = landed + polled, files + polled
        context.log.info(
            f"{len(files)} processed files in {lake.uri(STREAMING_HISTORY_ZONE.processed_prefix)}"
        )
        with warehouse.get_connection() as conn:
            stats = build_streams(conn, files)
            scrobbles = build_scrobbles(conn, files)
            # A polled play that an export also holds is one play: the export's row stays.
            polled_dropped = drop_polled_duplicates(conn)
            resolved = resolve_account_data_tracks(conn)
            podcasts = classify_mixed_history(conn)
            # Scrobbles: one per play, none of a play Spotify's history holds (again at every
            # build: a Spotify export landing later takes over the plays it holds).
            merged = merge_scrobbles(conn)
            context.log.info(
                f"core.streams: {stats.mode} build, {stats.rows_inserted:,} rows added, "
                f"{merged.added:,} scrobbled plays of their own, {merged.matched:,} scrobbles "
                f"of Spotify plays, {time.perf_counter() - started:.1f} s"
            )
            build_listeners(conn)
            build_rejected_records(conn, landed)
            results = _streams_checks(conn, files, stats)
            metadata = {
                key: table_metadata(conn, key, STREAMS_COLUMNS if key == STREAMS_KEY else {})
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
            "mixed_history_rows_found_podcasts": podcasts,
            "polled_plays_also_in_exports": polled_dropped,
            "scrobbles": merged.scrobbles,
            "scrobbles_build": scrobbles.mode,
            "scrobbles_again": merged.duplicates,
            "scrobbles_of_spotify_plays": merged.matched,
            "scrobbled_plays_added": merged.added,
            "files_held_out": dg.MetadataValue.json(held),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    yield dg.MaterializeResult(asset_key=LISTENERS_KEY, metadata=metadata[LISTENERS_KEY])
    yield dg.MaterializeResult(
        asset_key=REJECTED_RECORDS_KEY, metadata=metadata[REJECTED_RECORDS_KEY]
    )
    yield from results


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
            "where not exists (select 1 from core.stream_sources s where "
            "streams.source_file = s.source_file "
            "or starts_with(streams.source_file, s.source_file || '/'))"
        ).fetchone()[0]
        if files
        else 0
    )
    # Independent of the build: accepted records in the files minus duplicate plays among them.
    if files:
        paths = ", ".join("'" + f.path.replace("'", "''") + "'" for f in files)
        key = ", ".join(play_key_sql())
        accepted, distinct, polled = conn.execute(
            f"select count(*), count(distinct ({key})), "
            f"count(distinct ({key})) filter (where source_format = 'recently_played') "
            f"from read_parquet([{paths}], union_by_name = true)"
        ).fetchone()
        total, polled_kept = conn.execute(
            "select count(*), count(*) filter (where source_format = 'recently_played') "
            "from core.streams"
        ).fetchone()
    else:
        accepted = distinct = total = polled = polled_kept = 0
    # Polled plays that an export also holds were dropped (the export's row stays).
    polled_in_exports = polled - polled_kept
    merged = _merged_scrobbles(conn)
    expected = distinct - polled_in_exports - merged["merged_into_another_row"]
    return [
        dg.AssetCheckResult(
            asset_key=STREAMS_KEY,
            check_name="no_duplicate_plays",
            passed=dupes == 0 and merged["counted_twice"] == 0,
            metadata={
                "duplicate_plays": int(dupes),
                "scrobbles_counted_twice": int(merged["counted_twice"]),
            },
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
            passed=total == expected and merged["merged_into_a_missing_row"] == 0,
            metadata={
                "rows": int(total),
                "accepted_records": int(accepted),
                "duplicates": int(accepted - distinct),
                "polled_plays_also_in_exports": int(polled_in_exports),
                "scrobbles_merged_into_another_row": int(merged["merged_into_another_row"]),
                "scrobbles_merged_into_a_missing_row": int(merged["merged_into_a_missing_row"]),
                "expected_rows": int(expected),
            },
        ),
    ]


def _merged_scrobbles(conn) -> dict[str, int]:
    """What ``core.scrobble_matches`` says, checked against ``core.streams``: scrobbles merged
    into another row; those still in core.streams too (a play counted twice: also two
    scrobbles of one service matched to one Spotify play); those whose row is not there (a
    play lost)."""
    (exists,) = conn.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'core' and table_name = 'scrobble_matches'"
    ).fetchall()[0]
    if not exists:
        return dict.fromkeys(
            ("merged_into_another_row", "counted_twice", "merged_into_a_missing_row"), 0
        )
    scrobbles = sql_list(SCROBBLE_FORMATS)
    merged, twice, missing = conn.execute(
        f"""
        with kept as (select source_file, record_index from core.streams),
        m as (select * from {MATCHES_TABLE})
        select
          (select count(*) from m),
          (select count(*) from m join core.streams s
             on s.source_file = m.source_file and s.record_index = m.record_index
            and s.source_format in {scrobbles})
          + (select count(*) - count(distinct (source_format, match_source_file,
                                               match_record_index))
               from m where matched_to = 'spotify'),
          (select count(*) from m
            where not exists (select 1 from kept k where k.source_file = m.match_source_file
                                and k.record_index = m.match_record_index)
              and not exists (select 1 from m m2 where m2.matched_to = 'spotify'
                                and m2.source_file = m.match_source_file
                                and m2.record_index = m.match_record_index))
        """
    ).fetchall()[0]
    return {
        "merged_into_another_row": merged,
        "counted_twice": twice,
        "merged_into_a_missing_row": missing,
    }
