"""Group ``catalog``: Spotify Web API snapshots every 8 hours -> the catalog tables.

Lineage::

    raw/playlist_snapshots (8-hourly) -> raw/catalog_entities (8-hourly)
    raw/playlist_snapshots -> core/playlist_tracks (8-hourly), core/tracks, core/albums,
                              core/track_artists, core/playlists
    raw/catalog_entities   -> core/artists, core/artist_genres

The mechanics (lake layout, fetch loops, batching, the learned API mode) are Dagster-free in
``spotify_assets.lib.catalog`` (``snapshots``, ``entities``, ``api_mode``); this module wires
them into assets, metadata and check results.
"""

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.automation import on_upstream_change
from spotify_assets.defs.catalog.datasets import CATALOG_DATASET_FILES_KEY
from spotify_assets.defs.landing import log_held_files
from spotify_assets.defs.quality.rule_checks import rule_check_result, rule_check_spec
from spotify_assets.defs.warehouse_tables import WAREHOUSE_POOL
from spotify_assets.lib.catalog.api_mode import ApiModeState
from spotify_assets.lib.catalog.dataset_merge import (
    catalog_artist_ids,
    dataset_artist_ids,
    dataset_artists,
    dataset_tracks,
    merge_dataset_artists,
    merge_dataset_tracks,
)
from spotify_assets.lib.catalog.datasets import CATALOG_DATASETS_ZONE
from spotify_assets.lib.catalog.entities import (
    artist_bodies,
    fetch_artists,
    plan_artists,
    referenced_artists,
)
from spotify_assets.lib.catalog.lookups import (
    LookupBudget,
    load_name_matches,
    lookup_artist_bodies,
    lookup_tables,
    plan_lookups,
    run_lookups,
)
from spotify_assets.lib.catalog.parse import (
    TABLE_COLUMNS,
    combine_windows,
    empty_frame,
    frame,
    merge_sources,
    parse_artist_bodies,
)
from spotify_assets.lib.catalog.snapshots import (
    SNAPSHOT_PARTITION_FORMAT,
    SNAPSHOTS_PREFIX,
    completed_snapshots,
    fetch_snapshot,
    window_start,
    window_tables,
)
from spotify_assets.lib.quality.rules import Rule, evaluate, unique_key
from spotify_assets.lib.spotify_client import RetryAfterTooLong
from spotify_assets.resources import LakeResource, SpotifyResource

SNAPSHOT_PARTITIONS = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 */8 * * *",
    start="2026-01-01-00:00",
    fmt=SNAPSHOT_PARTITION_FORMAT,
    timezone="UTC",
    # The current window is a partition: a live snapshot is taken while its window is open.
    end_offset=1,
)

SNAPSHOTS_KEY = dg.AssetKey(["raw", "playlist_snapshots"])
ENTITIES_KEY = dg.AssetKey(["raw", "catalog_entities"])
LOOKUPS_KEY = dg.AssetKey(["raw", "catalog_lookups"])
STREAMS_KEY = dg.AssetKey(["core", "streams"])
CHART_ENTRIES_KEY = dg.AssetKey(["core", "chart_entries"])
PLAYLIST_TRACKS_KEY = dg.AssetKey(["core", "playlist_tracks"])
PLAYLIST_TRACKS_KEY_RULE = unique_key(
    "core.playlist_tracks", ["snapshot_time", "playlist_id", "position"]
)


def window_item_rules(snapshot_time: datetime) -> list[Rule]:
    """Partition-level rules: the items of one window. The same item twice (track and
    ``added_at`` both repeated in one playlist) is what a page fetched twice or a broken
    export looks like: ERROR, blocking. A track repeated with different ``added_at`` is a
    real duplicate in the playlist (Spotify allows them): WARN."""
    window = f"timestamp '{snapshot_time.replace(tzinfo=None):%Y-%m-%d %H:%M:%S}'"
    table = "core.playlist_tracks"
    return [
        Rule(
            name="no_repeated_items_in_window",
            table=table,
            description="No playlist of the window holds the same item (track and added_at) twice",
            violations_sql=f"select playlist_id, track_id, added_at, count(*) as n from {table} "
            f"where snapshot_time = {window} group by all having count(*) > 1",
        ),
        Rule(
            name="no_repeated_tracks_in_window",
            table=table,
            description="No playlist of the window lists a track more than once (WARN: "
            "Spotify allows it, curators rarely mean it)",
            violations_sql=f"select playlist_id, track_id, count(*) as n from {table} "
            f"where snapshot_time = {window} group by all having count(*) > 1",
            blocking=False,
        ),
    ]


def column_descriptions(table: str) -> dict[str, str]:
    return {name: desc for name, (_dtype, desc) in TABLE_COLUMNS[table].items()}


def table_metadata(table: str, **extra: Any) -> dict[str, Any]:
    """Static metadata of a warehouse table: its declared schema, shown before the first
    materialization; the IO manager records the real one at each write."""
    return {
        "column_descriptions": column_descriptions(table),
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(name=name, type=dtype, description=desc)
                for name, (dtype, desc) in TABLE_COLUMNS[table].items()
            ]
        ),
        **extra,
    }


class SnapshotConfig(dg.Config):
    refetch: bool = False
    """Fetch every playlist again even if this window already holds its body."""


@dg.asset(
    key=SNAPSHOTS_KEY,
    group_name="catalog",
    partitions_def=SNAPSHOT_PARTITIONS,
    io_manager_key="lake_io_manager",
    kinds={"spotify", "json", "s3"},
    description=(
        "Every configured playlist with all its items, as the Spotify Web API answers at the "
        "start of the 8-hour window: raw JSON bodies in the lake under "
        "raw/playlist_snapshots/<window>/<playlist_id>.json; the value is the window's manifest."
    ),
)
def playlist_snapshots(
    context: dg.AssetExecutionContext,
    config: SnapshotConfig,
    spotify: SpotifyResource,
    lake: LakeResource,
) -> dg.Output[dict[str, Any]]:
    window = context.partition_time_window
    partition_key = context.partition_key
    snapshot_time = window.start.astimezone(UTC)
    spotify.check_window(window.start, window.end)
    playlist_ids = spotify.snapshot_playlist_ids()
    context.log.info(
        f"Snapshot {partition_key}: {len(playlist_ids)} playlists from the "
        f"{spotify.source} API ({spotify.api_mode} mode) into {lake.uri(SNAPSHOTS_PREFIX)}"
    )
    with spotify.client(as_of=snapshot_time, log=context.log) as client:
        run = fetch_snapshot(
            lake.store(),
            client,
            playlist_ids,
            partition_key=partition_key,
            snapshot_time=snapshot_time,
            source=spotify.source,
            concurrency=spotify.concurrency,
            refetch=config.refetch,
            log=context.log,
        )
    metadata = {
        "playlists": len(run.manifest["playlists"]),
        "items": run.items,
        "api_calls": run.stats.total_calls,
        "api_calls_by_endpoint": dg.MetadataValue.json(run.manifest["api_calls"]),
        "retries": sum(run.stats.retries.values()),
        "retry_wait_s": round(run.stats.waited_s, 2),
        "lake_prefix": dg.MetadataValue.path(lake.uri(f"{SNAPSHOTS_PREFIX}/{partition_key}/")),
        # Playlist items that are not tracks are left out of core.playlist_tracks.
        "skipped_episodes": run.parse_stats.episodes,
        "skipped_local_files": run.parse_stats.local_files,
        "skipped_unavailable": run.parse_stats.unavailable,
        "source": spotify.source,
    }
    message = run.failure_message()
    if message is not None:
        raise dg.Failure(
            description=message,
            metadata={**metadata, "failed_playlists": dg.MetadataValue.json(run.failures)},
        )
    return dg.Output(run.manifest, metadata=metadata)


@dg.asset(
    key=ENTITIES_KEY,
    group_name="catalog",
    partitions_def=SNAPSHOT_PARTITIONS,
    io_manager_key="lake_io_manager",
    ins={"manifest": dg.AssetIn(key=SNAPSHOTS_KEY)},
    kinds={"spotify", "json", "s3"},
    description=(
        "The artists that the window's playlists reference and that were not fetched within "
        "the refresh window: raw /artists bodies (50 per call; one per call for "
        "development-mode apps) under raw/catalog_entities/<window>/."
    ),
)
def catalog_entities(
    context: dg.AssetExecutionContext,
    manifest: dict[str, Any],
    spotify: SpotifyResource,
    lake: LakeResource,
) -> dg.Output[dict[str, Any]]:
    partition_key = context.partition_key
    store = lake.store()
    tables = window_tables(store, partition_key, manifest)
    plan = plan_artists(
        store, partition_key, referenced_artists(tables), spotify.entity_refresh_hours
    )
    context.log.info(
        f"{len(plan.referenced)} artists referenced; "
        f"{len(plan.referenced) - len(plan.missing)} fetched within "
        f"{spotify.entity_refresh_hours} h; fetching {len(plan.missing)}"
    )
    api_mode = ApiModeState(store, log=context.log)
    known = api_mode.known(spotify.api_mode)
    as_of = window_start(partition_key)
    with spotify.client(as_of=as_of, log=context.log, batch_ok=known) as client:
        run = fetch_artists(store, client, plan, log=context.log)
    api_mode.record(
        spotify.api_mode,
        known=known,
        batch_mode=run.batch_mode,
        confirmed=run.mode_confirmed,
        batch_refused=run.batch_refused,
    )
    calls = dict(sorted(run.stats.calls.items()))
    metadata = {
        "artists_referenced": len(plan.referenced),
        "artists_from_cache": len(plan.referenced) - len(plan.missing),
        "artists_fetched": run.fetched,
        "api_calls": run.stats.total_calls,
        "api_calls_by_endpoint": dg.MetadataValue.json(calls),
        "batch_mode": str(run.batch_mode),
    }
    message = run.failure_message()
    if message is not None:
        raise dg.Failure(description=message, metadata=metadata)
    return dg.Output(
        {
            "window": partition_key,
            "artists_referenced": sorted(plan.referenced),
            "artists_fetched": run.fetched,
            "api_calls": calls,
        },
        metadata=metadata,
    )


@dg.asset(
    key=LOOKUPS_KEY,
    group_name="catalog",
    deps=[STREAMS_KEY, CHART_ENTRIES_KEY],
    kinds={"spotify", "json", "s3"},
    pool=WAREHOUSE_POOL,
    automation_condition=on_upstream_change(),
    description=(
        "The tracks that core.streams and core.chart_entries reference and the catalog does "
        "not know (or knew longer ago than the refresh window), with their artists; account-"
        "data name pairs resolved by search, each once. Within a per-run call and time budget: "
        "the next run continues. Raw bodies under raw/catalog_lookups/<run>/, state under "
        "state/catalog_lookups/."
    ),
)
def catalog_lookups(
    context: dg.AssetExecutionContext,
    spotify: SpotifyResource,
    lake: LakeResource,
    warehouse: DuckDBResource,
) -> dg.MaterializeResult:
    store = lake.store()
    with warehouse.get_connection() as conn:
        plan = plan_lookups(conn, store, refresh_hours=spotify.lookup_refresh_hours)
    context.log.info(
        f"{plan.referenced_tracks} tracks referenced, {plan.known_tracks} known, "
        f"{plan.not_found_tracks} unknown to Spotify; {len(plan.tracks)} to fetch, "
        f"{len(plan.names)} name pairs to search; {len(plan.unresolved_artists)} artists "
        "that catalog datasets credit are unresolved"
    )
    budget = LookupBudget(spotify.lookup_max_calls, spotify.lookup_max_seconds)
    api_mode = ApiModeState(store, log=context.log)
    known = api_mode.known(spotify.api_mode)
    with spotify.client(log=context.log, batch_ok=known) as client:
        run = run_lookups(plan, store, client, budget=budget, log=context.log)
        batch = bool(client.batch_mode)
    progress = run.progress(budget, batch)
    metadata = {
        "tracks_referenced": progress["tracks_referenced"],
        "tracks_known": progress["tracks_known"],
        "tracks_to_fetch": progress["tracks_to_fetch"],
        "tracks_not_found": progress["tracks_not_found"],
        "artists_fetched": run.artists_fetched,
        "artists_to_fetch": progress["artists_to_fetch"],
        "names_searched": run.searched,
        "names_matched": run.names_matched,
        "names_ambiguous": run.names_ambiguous,
        "names_not_found": run.names_not_found,
        "names_to_search": progress["names_to_search"],
        "estimated_runs_left": progress["estimated_runs_left"],
        "finished": run.finished,
        "stopped": run.stopped or "",
        "continue_after": progress["continue_after"] or "",
        "api_calls": run.total_calls,
        "api_calls_by_endpoint": dg.MetadataValue.json(run.calls),
        "seconds": round(run.seconds, 2),
        "lake_prefix": dg.MetadataValue.path(lake.uri(f"raw/catalog_lookups/{run.run_key}/")),
    }
    if run.failure is not None and not isinstance(run.failure, RetryAfterTooLong):
        # A dead token or no Premium: nothing will work until someone acts.
        raise dg.Failure(description=str(run.failure), metadata=metadata)
    if run.continue_after is not None:
        when = f"{run.continue_after:%Y-%m-%d %H:%M} UTC"
        context.log.warning(
            f"Spotify asked to wait longer than allowed ({run.stopped}): this run ends with its "
            f"progress kept; catalog_lookups_sensor continues after {when}"
        )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=PLAYLIST_TRACKS_KEY,
    group_name="catalog",
    partitions_def=SNAPSHOT_PARTITIONS,
    io_manager_key="warehouse_io_manager",
    ins={"manifest": dg.AssetIn(key=SNAPSHOTS_KEY)},
    kinds={"duckdb", "pandas"},
    pool=WAREHOUSE_POOL,
    metadata=table_metadata("playlist_tracks", partition_expr="snapshot_time"),
    description="One row per snapshot window, playlist and position: what each playlist held.",
    check_specs=[
        rule_check_spec(PLAYLIST_TRACKS_KEY, rule)
        for rule in [PLAYLIST_TRACKS_KEY_RULE, *window_item_rules(datetime(2026, 1, 1))]
    ],
)
def playlist_tracks(
    context: dg.AssetExecutionContext,
    manifest: dict[str, Any],
    lake: LakeResource,
    warehouse: DuckDBResource,
):
    """The key check runs inline, right after the window's rows are written: a separate
    check step would cost more orchestration than the query."""
    tables = window_tables(lake.store(), context.partition_key, manifest)
    yield dg.Output(tables["playlist_tracks"])
    with warehouse.get_connection() as conn:
        yield rule_check_result(PLAYLIST_TRACKS_KEY, evaluate(conn, PLAYLIST_TRACKS_KEY_RULE))
        for rule in window_item_rules(window_start(context.partition_key)):
            yield rule_check_result(PLAYLIST_TRACKS_KEY, evaluate(conn, rule))


@dg.multi_asset(
    outs={
        name: dg.AssetOut(
            key=["core", name],
            io_manager_key="warehouse_io_manager",
            group_name="catalog",
            kinds={"duckdb", "pandas"},
            automation_condition=on_upstream_change(),
            metadata=table_metadata(name),
            description=description,
        )
        for name, description in {
            "tracks": "Every track seen in a snapshot, with its latest observed values.",
            "albums": "Albums of the tracks (from the albums embedded in track bodies).",
            "track_artists": "Credited artists of each track, primary first.",
            "playlists": "Playlist metadata as of its latest snapshot.",
            "track_name_matches": "Every account-data (artist, track) name pair searched: "
            "matched (track_id), not_found or ambiguous, with the reason.",
            "unresolved_track_artists": "Artists a catalog dataset credits that no artists "
            "file or API answer has yet: the lookups fetch them, the next merge resolves them.",
            "track_audio_features": "Audio features of tracks (danceability, energy, valence, "
            "tempo, ...) from landed catalog datasets, with the observation they come from.",
        }.items()
    },
    deps=[SNAPSHOTS_KEY, LOOKUPS_KEY, CATALOG_DATASET_FILES_KEY],
    pool=WAREHOUSE_POOL,
    name="catalog_dimensions",
)
def catalog_dimensions(context: dg.AssetExecutionContext, lake: LakeResource):
    """Every entity seen, from every source: the completed snapshot windows (oldest first)
    and the lookups; the newest observation of each entity wins, ``first_seen`` is the
    earliest and ``source`` says where the row's values come from. Landed catalog datasets
    add their tracks and the newest popularity (``popularity_source``)."""
    started = time.perf_counter()
    store = lake.store()
    snapshots = completed_snapshots(store)
    lookups = lookup_tables(store)
    with tempfile.TemporaryDirectory(prefix="catalog-datasets-") as tmp:
        log_held_files(context, store, CATALOG_DATASETS_ZONE, out_of="the catalog")
        ds_tracks, ds_files = dataset_tracks(store, Path(tmp))
        ds_artist_ids = dataset_artist_ids(store, Path(tmp)) if ds_files else set()
    if not snapshots and not len(lookups["tracks"]) and not ds_tracks.num_rows:
        raise dg.Failure(
            "No completed raw/playlist_snapshots window in the lake "
            f"({lake.uri(SNAPSHOTS_PREFIX)}) and no catalog lookup: materialize at least one "
            "window first."
        )
    windows = []
    for i, (partition_key, manifest) in enumerate(snapshots, start=1):
        windows.append(window_tables(store, partition_key, manifest))
        if i % 50 == 0 or i == len(snapshots):
            context.log.info(
                f"{i}/{len(snapshots)} windows read, {time.perf_counter() - started:.1f} s"
            )
    frames = (
        combine_windows(windows)
        if windows
        else {t: empty_frame(t) for t in ("tracks", "albums", "track_artists", "playlists")}
    )
    for table in ("tracks", "albums"):  # windows parsed before `source` existed
        frames[table]["source"] = frames[table]["source"].fillna("playlist")
    frames = merge_sources(frames, lookups)
    known: set[str] = set()
    if ds_files:  # the artists core.artists will have: every credit of a dataset resolves
        known = catalog_artist_ids(store, frames) | ds_artist_ids
    frames = merge_dataset_tracks(frames, ds_tracks, known)
    if unresolved := len(frames["unresolved_track_artists"]):
        context.log.info(
            f"{unresolved} dataset credits name artists the catalog does not know yet: "
            "core.unresolved_track_artists lists them, the lookups fetch them"
        )
    frames["track_name_matches"] = frame("track_name_matches", load_name_matches(store))
    sources = frames["tracks"]["source"].value_counts().to_dict()
    for name, df in frames.items():
        yield dg.Output(
            df,
            output_name=name,
            metadata={
                "snapshot_windows": len(snapshots),
                "latest_window": snapshots[-1][0] if snapshots else "",
                "dataset_files": ds_files,
                "unresolved_credits": len(frames["unresolved_track_artists"]),
                "tracks_by_source": dg.MetadataValue.json({k: int(v) for k, v in sources.items()}),
            },
        )


@dg.multi_asset(
    outs={
        "artists": dg.AssetOut(
            key=["core", "artists"],
            io_manager_key="warehouse_io_manager",
            group_name="catalog",
            kinds={"duckdb", "pandas"},
            automation_condition=on_upstream_change(),
            metadata=table_metadata("artists"),
            description="Artists with followers and popularity (null for development-mode apps).",
        ),
        "artist_genres": dg.AssetOut(
            key=["core", "artist_genres"],
            io_manager_key="warehouse_io_manager",
            group_name="catalog",
            kinds={"duckdb", "pandas"},
            automation_condition=on_upstream_change(),
            metadata=table_metadata("artist_genres"),
            description="Artists' micro-genres with their genre family "
            "(rules in lib/catalog/genres.py).",
        ),
    },
    deps=[ENTITIES_KEY, LOOKUPS_KEY, CATALOG_DATASET_FILES_KEY],
    pool=WAREHOUSE_POOL,
    name="catalog_artists",
)
def catalog_artists(context: dg.AssetExecutionContext, lake: LakeResource):
    """The latest fetched body of every artist, from the snapshots' artist fetches and the
    lookups alike (``source`` says which); landed catalog datasets add their artists, and
    followers, popularity and genres where theirs are the newest known
    (``followers_source``, ``popularity_source``)."""
    store = lake.store()
    bodies = [(b, t, "playlist") for b, t in artist_bodies(store)]
    bodies += [(b, t, "lookup") for b, t in lookup_artist_bodies(store)]
    bodies.sort(key=lambda e: e[1] or datetime.min)  # stable: oldest first, latest wins
    artists, genres = parse_artist_bodies(bodies)
    with tempfile.TemporaryDirectory(prefix="catalog-datasets-") as tmp:
        log_held_files(context, store, CATALOG_DATASETS_ZONE, out_of="the catalog")
        ds_artists, ds_files = dataset_artists(store, Path(tmp))
    artists, genres = merge_dataset_artists(artists, genres, ds_artists)
    if ds_files:
        context.log.info(f"{ds_artists.num_rows} artists in {ds_files} catalog dataset files")
    context.log.info(f"{len(artists)} artists, {len(genres)} artist genres")
    yield dg.Output(artists, output_name="artists")
    yield dg.Output(genres, output_name="artist_genres")
