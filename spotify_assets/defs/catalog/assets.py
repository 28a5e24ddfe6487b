"""Group ``catalog``: Spotify Web API snapshots every 8 hours -> the catalog tables.

Lineage::

    raw/playlist_snapshots (8-hourly) -> raw/catalog_entities (8-hourly)
    raw/playlist_snapshots -> core/playlist_tracks (8-hourly), core/tracks, core/albums,
                              core/track_artists, core/playlists
    raw/catalog_entities   -> core/artists, core/artist_genres

Raw bodies are kept in the lake exactly as the API gave them, written as soon as they are
fetched, so a run that fails half-way keeps what it got and its re-run fetches only the rest.
"""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.automation import CATALOG_FRESHNESS, on_upstream_change
from spotify_assets.defs.rule_checks import rule_check_result, rule_check_spec
from spotify_assets.lib.catalog.parse import (
    TABLE_COLUMNS,
    WINDOW_TABLES,
    CatalogAccumulator,
    SnapshotDocument,
    combine_windows,
    embedded_items_page,
    frame,
    parse_artist_bodies,
    parse_snapshot,
    utc_naive,
)
from spotify_assets.lib.quality.rules import Rule, evaluate, unique_key
from spotify_assets.lib.spotify_client import RetryAfterTooLong, SpotifyApiError
from spotify_assets.resources import LakeResource, SpotifyResource

SNAPSHOT_PARTITION_FORMAT = "%Y-%m-%d-%H:%M"
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


SNAPSHOTS_PREFIX = "raw/playlist_snapshots"
PROCESSED_SNAPSHOTS_PREFIX = "processed/playlist_snapshots"
ENTITIES_PREFIX = "raw/catalog_entities"
OWNERS = ["team:data-platform"]


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


def _doc_key(partition_key: str, playlist_id: str) -> str:
    return f"{SNAPSHOTS_PREFIX}/{partition_key}/{playlist_id}.json"


@dg.asset(
    key=SNAPSHOTS_KEY,
    group_name="catalog",
    partitions_def=SNAPSHOT_PARTITIONS,
    io_manager_key="lake_io_manager",
    kinds={"spotify", "json", "s3"},
    owners=OWNERS,
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
    store = lake.store()
    started = time.perf_counter()
    manifest: dict[str, Any] = {
        "snapshot_time": snapshot_time.isoformat(),
        "source": spotify.source,
        "playlists": {},
    }
    failures: dict[str, str] = {}
    items_total = 0
    context.log.info(
        f"Snapshot {partition_key}: {len(playlist_ids)} playlists from the "
        f"{spotify.source} API ({spotify.api_mode} mode) into {lake.uri(SNAPSHOTS_PREFIX)}"
    )
    stop = threading.Event()
    entries: dict[str, dict[str, Any]] = {}
    window = CatalogAccumulator()  # the window's tables, parsed once, as fetched
    with spotify.client(as_of=snapshot_time, log=context.log) as client:

        def fetch(playlist_id: str) -> dict[str, Any] | None:
            """Fetch one playlist and write its document; None when skipped after a stop."""
            key = _doc_key(partition_key, playlist_id)
            if not config.refetch and store.exists(key):
                doc = SnapshotDocument.from_json(lake.get_json(key))
                items = sum(len(p.get("items") or []) for p in doc.pages())
                entry = {"key": key, "items": items, "pages": 1 + len(doc.item_pages)}
                return {**entry, "reused": True, "parsed": parse_snapshot(doc)}
            if stop.is_set():
                return None
            try:
                body = client.playlist(playlist_id)
                first = embedded_items_page(body)
                pages = list(client.playlist_item_pages(playlist_id, first))
            except RetryAfterTooLong:
                stop.set()  # set here, in the worker, so no further call starts
                raise
            # Without an embedded first page (a metadata-only body) every page was fetched.
            doc = SnapshotDocument(
                playlist_id=playlist_id,
                snapshot_time=snapshot_time,
                fetched_at=datetime.now(UTC),
                playlist=body,
                item_pages=pages[1:] if first is not None else pages,
            )
            lake.put_json(key, doc.to_json())
            items = sum(len(p.get("items") or []) for p in doc.pages())
            entry = {"key": key, "items": items, "pages": len(pages), "reused": False}
            return {**entry, "parsed": parse_snapshot(doc)}

        # Playlists are fetched concurrently (SPOTIFY_CONCURRENCY): the live API is
        # latency-bound. A Retry-After beyond the maximum wait stops everything.
        with ThreadPoolExecutor(max_workers=max(1, spotify.concurrency)) as pool:
            futures = {pool.submit(fetch, pid): pid for pid in playlist_ids}
            for n, future in enumerate(as_completed(futures), start=1):
                playlist_id = futures[future]
                try:
                    entry = future.result()
                except RetryAfterTooLong as exc:
                    failures[playlist_id] = str(exc)
                    context.log.error(f"Stopping, every further call would be refused: {exc}")
                    continue
                except SpotifyApiError as exc:
                    failures[playlist_id] = str(exc)
                    context.log.error(f"playlist {playlist_id}: {exc}")
                    continue
                if entry is None:
                    continue
                window.add(entry.pop("parsed"))
                entries[playlist_id] = entry
                items_total += entry["items"]
                if n % 50 == 0 or n == len(playlist_ids):
                    context.log.info(
                        f"{n}/{len(playlist_ids)} playlists, {items_total} items, "
                        f"{client.stats.total_calls} API calls, "
                        f"{time.perf_counter() - started:.1f} s"
                    )
        stats = client.stats
    # The manifest lists playlists in the configured order, whatever order they finished in.
    manifest["playlists"] = {pid: entries[pid] for pid in playlist_ids if pid in entries}
    # The window's tables, for the core assets: the raw bodies are read and parsed once.
    for table, df in window.frames().items():
        lake.put_frame(_window_table_key(partition_key, table), df)
    calls = dict(sorted(stats.calls.items()))
    manifest["api_calls"] = calls
    metadata = {
        "playlists": len(manifest["playlists"]),
        "items": items_total,
        "api_calls": stats.total_calls,
        "api_calls_by_endpoint": dg.MetadataValue.json(calls),
        "retries": sum(stats.retries.values()),
        "retry_wait_s": round(stats.waited_s, 2),
        "lake_prefix": dg.MetadataValue.path(lake.uri(f"{SNAPSHOTS_PREFIX}/{partition_key}/")),
        # Playlist items that are not tracks are left out of core.playlist_tracks.
        "skipped_episodes": window.stats.episodes,
        "skipped_local_files": window.stats.local_files,
        "skipped_unavailable": window.stats.unavailable,
        "source": spotify.source,
    }
    if failures:
        raise dg.Failure(
            description=(
                f"{len(failures)} of {len(playlist_ids)} playlists could not be snapshotted "
                f"for window {partition_key}; the {len(manifest['playlists'])} fetched are kept "
                "in the lake and a re-run fetches only the rest:\n"
                + "\n".join(f"- {pid}: {why}" for pid, why in failures.items())
            ),
            metadata={**metadata, "failed_playlists": dg.MetadataValue.json(failures)},
        )
    return dg.Output(manifest, metadata=metadata)


def _window_table_key(partition_key: str, table: str) -> str:
    return f"{PROCESSED_SNAPSHOTS_PREFIX}/{partition_key}/{table}.parquet"


def window_tables(
    lake: LakeResource, partition_key: str, manifest: dict[str, Any]
) -> dict[str, Any]:
    """A window's parsed tables from the processed zone; parsed again from the raw bodies
    (and stored) when missing, so the raw zone stays the source of truth."""
    keys = {t: _window_table_key(partition_key, t) for t in WINDOW_TABLES}
    store = lake.store()
    if all(store.exists(k) for k in keys.values()):
        return {t: frame(t, lake.get_frame(k)) for t, k in keys.items()}
    acc = CatalogAccumulator()
    for doc in _snapshot_documents(lake, manifest):
        acc.add(parse_snapshot(doc))
    tables = acc.frames()
    for table, df in tables.items():
        lake.put_frame(keys[table], df)
    return tables


def _snapshot_documents(lake: LakeResource, manifest: dict[str, Any]) -> Iterator[SnapshotDocument]:
    for entry in manifest["playlists"].values():
        yield SnapshotDocument.from_json(lake.get_json(entry["key"]))


def _window_start(partition_key: str) -> datetime:
    return datetime.strptime(partition_key, SNAPSHOT_PARTITION_FORMAT).replace(tzinfo=UTC)


def _artist_batches(
    lake: LakeResource, since: datetime | None = None, until: datetime | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Stored artist batches (key, doc) of the windows in [since, until], oldest first."""
    for obj in lake.store().list(f"{ENTITIES_PREFIX}/"):
        parts = obj.key[len(ENTITIES_PREFIX) + 1 :].split("/")
        if len(parts) != 2 or not parts[1].startswith("artists-"):
            continue
        try:
            start = _window_start(parts[0])
        except ValueError:
            continue
        if (since is None or start >= since) and (until is None or start <= until):
            yield obj.key, lake.get_json(obj.key)


API_MODE_STATE_KEY = "state/spotify_api_mode.json"
# What `auto` learned about the app is trusted this long, then probed again (an app can be
# granted extended quota, or lose it).
API_MODE_STATE_TTL = timedelta(days=7)


def _learned_batch_mode(lake: LakeResource, spotify: SpotifyResource) -> bool | None:
    """Whether multi-id endpoints worked for this app in an earlier run (api_mode=auto), so
    that a development-mode app does not pay a refused batch call every run."""
    if spotify.api_mode != "auto" or not lake.store().exists(API_MODE_STATE_KEY):
        return None
    state = lake.get_json(API_MODE_STATE_KEY)
    learned_at = datetime.fromisoformat(state["learned_at"])
    if datetime.now(UTC) - learned_at > API_MODE_STATE_TTL:
        return None
    return bool(state["batch_ok"])


@dg.asset(
    key=ENTITIES_KEY,
    group_name="catalog",
    partitions_def=SNAPSHOT_PARTITIONS,
    io_manager_key="lake_io_manager",
    ins={"manifest": dg.AssetIn(key=SNAPSHOTS_KEY)},
    kinds={"spotify", "json", "s3"},
    owners=OWNERS,
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
    window_start = _window_start(partition_key)
    tables = window_tables(lake, partition_key, manifest)
    needed = set(tables["track_artists"]["artist_id"].dropna()) | set(
        tables["albums"]["primary_artist_id"].dropna()
    )
    since = window_start - timedelta(hours=spotify.entity_refresh_hours)
    cached: set[str] = set()
    existing_batches = 0
    for key, batch in _artist_batches(lake, since=since + timedelta(seconds=1), until=window_start):
        cached.update(a["id"] for a in batch.get("artists") or [] if a and a.get("id"))
        if key.startswith(f"{ENTITIES_PREFIX}/{partition_key}/"):
            existing_batches += 1
    missing = sorted(needed - cached)
    context.log.info(
        f"{len(needed)} artists referenced; {len(needed) - len(missing)} fetched within "
        f"{spotify.entity_refresh_hours} h; fetching {len(missing)}"
    )
    fetched = 0
    batch_no = existing_batches
    failure: SpotifyApiError | None = None
    started = time.perf_counter()
    learned = _learned_batch_mode(lake, spotify)
    with spotify.client(as_of=window_start, log=context.log, batch_ok=learned) as client:
        pending: list[dict[str, Any]] = []

        def flush() -> None:
            nonlocal pending, batch_no
            if not pending:
                return
            batch_no += 1
            lake.put_json(
                f"{ENTITIES_PREFIX}/{partition_key}/artists-{batch_no:05d}.json",
                {
                    "fetched_at": datetime.now(UTC).isoformat(),
                    "endpoint": "GET /artists" if client.batch_mode else "GET /artists/{id}",
                    "artists": pending,
                },
            )
            pending = []

        try:
            for got in client.artists(missing):
                pending.extend(got)
                fetched += len(got)
                if len(pending) >= 500:
                    flush()
                    context.log.info(
                        f"{fetched}/{len(missing)} artists, {client.stats.total_calls} calls, "
                        f"{time.perf_counter() - started:.1f} s"
                    )
        except SpotifyApiError as exc:
            failure = exc
        finally:
            flush()  # keep what was fetched
        stats = client.stats
        if spotify.api_mode == "auto" and client.batch_mode is not None:
            lake.put_json(
                API_MODE_STATE_KEY,
                {"batch_ok": client.batch_mode, "learned_at": datetime.now(UTC).isoformat()},
            )
    calls = dict(sorted(stats.calls.items()))
    metadata = {
        "artists_referenced": len(needed),
        "artists_from_cache": len(needed) - len(missing),
        "artists_fetched": fetched,
        "api_calls": stats.total_calls,
        "api_calls_by_endpoint": dg.MetadataValue.json(calls),
        "batch_mode": str(client.batch_mode),
    }
    if failure is not None:
        raise dg.Failure(
            description=(
                f"Fetching artists for window {partition_key} stopped after {fetched} of "
                f"{len(missing)}; those are kept and a re-run fetches only the rest: {failure}"
            ),
            metadata=metadata,
        )
    return dg.Output(
        {
            "window": partition_key,
            "artists_referenced": sorted(needed),
            "artists_fetched": fetched,
            "api_calls": calls,
        },
        metadata=metadata,
    )


@dg.asset(
    key=PLAYLIST_TRACKS_KEY,
    group_name="catalog",
    partitions_def=SNAPSHOT_PARTITIONS,
    io_manager_key="warehouse_io_manager",
    ins={"manifest": dg.AssetIn(key=SNAPSHOTS_KEY)},
    kinds={"duckdb", "pandas"},
    owners=OWNERS,
    pool="duckdb",
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
    yield dg.Output(window_tables(lake, context.partition_key, manifest)["playlist_tracks"])
    with warehouse.get_connection() as conn:
        yield rule_check_result(PLAYLIST_TRACKS_KEY, evaluate(conn, PLAYLIST_TRACKS_KEY_RULE))
        for rule in window_item_rules(_window_start(context.partition_key)):
            yield rule_check_result(PLAYLIST_TRACKS_KEY, evaluate(conn, rule))


def _completed_snapshots(lake: LakeResource) -> list[tuple[str, dict[str, Any]]]:
    """Manifests of the windows whose snapshot completed, oldest first."""
    out = []
    for obj in lake.store().list(f"{SNAPSHOTS_PREFIX}/"):
        rest = obj.key[len(SNAPSHOTS_PREFIX) + 1 :]
        if "/" in rest or not rest.endswith(".json"):
            continue
        partition_key = rest[: -len(".json")]
        try:
            _window_start(partition_key)
        except ValueError:
            continue
        out.append((partition_key, lake.get_json(obj.key)))
    out.sort(key=lambda kv: kv[0])
    return out


@dg.multi_asset(
    outs={
        name: dg.AssetOut(
            key=["core", name],
            io_manager_key="warehouse_io_manager",
            group_name="catalog",
            kinds={"duckdb", "pandas"},
            owners=OWNERS,
            automation_condition=on_upstream_change(),
            freshness_policy=CATALOG_FRESHNESS,
            metadata=table_metadata(name),
            description=description,
        )
        for name, description in {
            "tracks": "Every track seen in a snapshot, with its latest observed values.",
            "albums": "Albums of the tracks (from the albums embedded in track bodies).",
            "track_artists": "Credited artists of each track, primary first.",
            "playlists": "Playlist metadata as of its latest snapshot.",
        }.items()
    },
    deps=[SNAPSHOTS_KEY],
    pool="duckdb",
    name="catalog_dimensions",
)
def catalog_dimensions(context: dg.AssetExecutionContext, lake: LakeResource):
    """Built from every completed snapshot window, oldest first, so the latest observation
    of each entity wins and ``first_seen`` is the earliest."""
    started = time.perf_counter()
    snapshots = _completed_snapshots(lake)
    if not snapshots:
        raise dg.Failure(
            "No completed raw/playlist_snapshots window in the lake "
            f"({lake.uri(SNAPSHOTS_PREFIX)}): materialize at least one window first."
        )
    windows = []
    for i, (partition_key, manifest) in enumerate(snapshots, start=1):
        windows.append(window_tables(lake, partition_key, manifest))
        if i % 50 == 0 or i == len(snapshots):
            context.log.info(
                f"{i}/{len(snapshots)} windows read, {time.perf_counter() - started:.1f} s"
            )
    frames = combine_windows(windows)
    for name, df in frames.items():
        yield dg.Output(
            df,
            output_name=name,
            metadata={"snapshot_windows": len(snapshots), "latest_window": snapshots[-1][0]},
        )


@dg.multi_asset(
    outs={
        "artists": dg.AssetOut(
            key=["core", "artists"],
            io_manager_key="warehouse_io_manager",
            group_name="catalog",
            kinds={"duckdb", "pandas"},
            owners=OWNERS,
            automation_condition=on_upstream_change(),
            freshness_policy=CATALOG_FRESHNESS,
            metadata=table_metadata("artists"),
            description="Artists with followers and popularity (null for development-mode apps).",
        ),
        "artist_genres": dg.AssetOut(
            key=["core", "artist_genres"],
            io_manager_key="warehouse_io_manager",
            group_name="catalog",
            kinds={"duckdb", "pandas"},
            owners=OWNERS,
            automation_condition=on_upstream_change(),
            freshness_policy=CATALOG_FRESHNESS,
            metadata=table_metadata("artist_genres"),
            description="Artists' micro-genres with their genre family "
            "(rules in lib/catalog/genres.py).",
        ),
    },
    deps=[ENTITIES_KEY],
    pool="duckdb",
    name="catalog_artists",
)
def catalog_artists(context: dg.AssetExecutionContext, lake: LakeResource):
    """The latest fetched body of every artist."""

    def bodies() -> Iterator[tuple[dict[str, Any], datetime]]:
        for _key, batch in _artist_batches(lake):
            fetched_at = utc_naive(batch.get("fetched_at"))
            for body in batch.get("artists") or []:
                yield body, fetched_at

    artists, genres = parse_artist_bodies(bodies())
    context.log.info(f"{len(artists)} artists, {len(genres)} artist genres")
    yield dg.Output(artists, output_name="artists")
    yield dg.Output(genres, output_name="artist_genres")
