"""The catalog group materialized in memory with real resources: the fake Spotify API over
the tiny sample world, DuckDB in tmp_path, the lake in a folder or in S3 (moto)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.catalog.assets import (
    SNAPSHOT_PARTITIONS,
    catalog_artists,
    catalog_dimensions,
    catalog_entities,
    playlist_snapshots,
    playlist_tracks,
)
from spotify_assets.defs.catalog.checks import defs as catalog_checks_defs
from spotify_assets.lib.catalog.parse import TABLE_COLUMNS
from spotify_assets.lib.sample.fake_api import FakeSpotifyServer, FaultConfig
from spotify_assets.lib.sample.world import APP_USER_ID
from spotify_assets.resources import (
    LakeIOManager,
    LakeResource,
    SpotifyResource,
    WarehouseIOManager,
)

pytestmark = pytest.mark.slow  # materializes assets with real resources

WINDOWS = ["2026-06-01-00:00", "2026-06-01-08:00"]
PARTITIONED = [playlist_snapshots, catalog_entities, playlist_tracks]
UNPARTITIONED = [catalog_dimensions, catalog_artists]
ALL_ASSETS = [*PARTITIONED, *UNPARTITIONED, *catalog_checks_defs.asset_checks]


def window_start(key: str) -> datetime:
    return SNAPSHOT_PARTITIONS.time_window_for_partition_key(key).start.astimezone(UTC)


def make_resources(tmp_path, *, lake_url=None, s3_endpoint=None, **spotify):
    lake = LakeResource(url=lake_url or str(tmp_path / "lake"), s3_endpoint_url=s3_endpoint)
    database = str(tmp_path / "warehouse.duckdb")
    return {
        "spotify": SpotifyResource(
            **{"source": "sample", "sample_scale": "tiny", "backoff_s": 0.01, **spotify}
        ),
        "lake": lake,
        "lake_io_manager": LakeIOManager(lake=lake),
        "warehouse_io_manager": WarehouseIOManager(database=database),
        "warehouse": DuckDBResource(database=database),
    }


def run_window(resources, key, *, raise_on_error=True, config=None):
    return dg.materialize(
        ALL_ASSETS,
        selection=PARTITIONED,
        partition_key=key,
        resources=resources,
        raise_on_error=raise_on_error,
        run_config=config,
    )


def run_tables(resources):
    return dg.materialize(ALL_ASSETS, selection=UNPARTITIONED, resources=resources)


def query(tmp_path, sql):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def owned(world):
    pl = world.playlists
    return pl.loc[pl["owner_id"] == APP_USER_ID, "playlist_id"].tolist()


def failure_text(result) -> str:
    """The step failure's whole message, causes included (what the UI shows)."""
    event = next(e for e in result.all_events if e.is_step_failure)
    return event.event_specific_data.error.to_string()


def failed_checks(*results):
    return [
        (e.asset_key.to_user_string(), e.check_name)
        for r in results
        for e in r.get_asset_check_evaluations()
        if not e.passed
    ]


@pytest.fixture
def server(tiny_world):
    with FakeSpotifyServer(tiny_world) as srv:
        yield srv


def test_two_windows_build_every_table_with_design_columns(tmp_path, tiny_world, server):
    res = make_resources(tmp_path, sample_server_url=server.url)
    results = [run_window(res, key) for key in WINDOWS]
    results.append(run_tables(res))
    assert failed_checks(*results) == []

    for table, columns in TABLE_COLUMNS.items():
        got = [
            r[0]
            for r in query(
                tmp_path,
                f"select column_name from information_schema.columns "
                f"where table_schema='core' and table_name='{table}' "
                "order by ordinal_position",
            )
        ]
        assert got == list(columns), table

    # playlist_tracks: exactly what the world's playlists held at each window start.
    for key in WINDOWS:
        expected = sum(
            len(tiny_world.playlist_items_at(p, window_start(key))) for p in owned(tiny_world)
        )
        got = query(
            tmp_path,
            "select count(*) from core.playlist_tracks where snapshot_time = "
            f"'{window_start(key).replace(tzinfo=None)}'",
        )[0][0]
        assert got == expected
    distinct = {
        t
        for key in WINDOWS
        for p in owned(tiny_world)
        for t in tiny_world.playlist_items_at(p, window_start(key))["track_id"]
    }
    assert query(tmp_path, "select count(*) from core.tracks")[0][0] == len(distinct)
    # Extended mode: popularity and followers are there.
    assert query(tmp_path, "select count(*) from core.tracks where popularity is null")[0][0] == 0
    assert query(tmp_path, "select count(*) from core.artists where followers is null")[0][0] == 0
    # Genre families are assigned to every genre row.
    assert (
        query(tmp_path, "select count(*) from core.artist_genres where genre_family is null")[0][0]
        == 0
    )
    # The latest window's popularity wins in core.tracks.
    track_id, popularity = query(
        tmp_path, "select track_id, popularity from core.tracks order by track_id limit 1"
    )[0]
    last_seen = query(tmp_path, f"select last_seen from core.tracks where track_id = '{track_id}'")[
        0
    ][0]
    expected_pop = tiny_world.track_popularity_at([track_id], last_seen.replace(tzinfo=UTC))[0]
    assert popularity == expected_pop


def test_api_calls_are_the_minimum_and_entities_are_not_refetched(tmp_path, tiny_world, server):
    res = make_resources(tmp_path, sample_server_url=server.url, api_mode="extended")
    for i, key in enumerate(WINDOWS):
        server.reset_counts()
        result = run_window(res, key)
        at = window_start(key)
        pages = sum(
            max(1, math.ceil(len(tiny_world.playlist_items_at(p, at)) / 50))
            for p in owned(tiny_world)
        )
        counts = server.request_counts
        # Item pages (the first one embedded in the playlist body) ...
        assert counts["GET /v1/playlists/{id}"] + counts["GET /v1/playlists/{id}/items"] == pages
        meta = result.asset_materializations_for_node("raw__catalog_entities")[0].metadata
        referenced = meta["artists_referenced"].value
        cached = meta["artists_from_cache"].value
        fetched = meta["artists_fetched"].value
        # ... plus one call per 50 new artists, and nothing else.
        assert counts["GET /v1/artists"] == math.ceil(fetched / 50)
        assert sum(counts.values()) - counts["POST /api/token"] == pages + math.ceil(fetched / 50)
        assert fetched == referenced - cached
        if i == 0:
            assert cached == 0
        else:
            assert cached > 0  # fetched for the first window, within the refresh window
    # A re-run of a window reuses its bodies and fetches no artist again.
    server.reset_counts()
    run_window(res, WINDOWS[0])
    assert server.request_counts["GET /v1/playlists/{id}"] == 0
    assert server.request_counts["GET /v1/artists"] == 0


def test_development_mode_app_gives_nulls_not_errors(tmp_path, tiny_world):
    with FakeSpotifyServer(tiny_world, mode="development") as server:
        res = make_resources(tmp_path, sample_server_url=server.url, api_mode="auto")
        results = [run_window(res, WINDOWS[0]), run_tables(res)]
        n_artists = query(tmp_path, "select count(*) from core.artists")[0][0]
        assert server.request_counts["GET /v1/artists/{id}"] == n_artists
        assert server.request_counts["GET /v1/artists"] == 1  # auto tried a batch once
        # ... and remembers it in the lake: the next run makes no refused batch call, and
        # leaves the learned state as it was (its weekly re-check keeps its date).
        state = (tmp_path / "lake/state/spotify_api_mode.json").read_bytes()
        server.reset_counts()
        run_window(res, WINDOWS[1])
        assert server.request_counts["GET /v1/artists"] == 0
        assert (tmp_path / "lake/state/spotify_api_mode.json").read_bytes() == state
    assert failed_checks(*results) == []
    assert (
        query(tmp_path, "select count(*) from core.tracks where popularity is not null")[0][0] == 0
    )
    assert query(
        tmp_path, "select count(*), count(followers), count(popularity) from core.artists"
    )[0] == (n_artists, 0, 0)
    assert query(tmp_path, "select count(*) from core.artist_genres")[0][0] > 0


def test_injected_429_and_5xx_lose_and_duplicate_nothing(tmp_path, tiny_world):
    clean_dir, faulty_dir = tmp_path / "clean", tmp_path / "faulty"
    clean_dir.mkdir(), faulty_dir.mkdir()
    with FakeSpotifyServer(tiny_world) as server:
        res = make_resources(clean_dir, sample_server_url=server.url)
        run_window(res, WINDOWS[0]), run_tables(res)
    faults = FaultConfig(rate_429=0.2, retry_after_s=0, rate_5xx=0.2, rate_truncated=0.1, seed=7)
    with FakeSpotifyServer(tiny_world, faults=faults) as server:
        res = make_resources(faulty_dir, sample_server_url=server.url, max_retries=8)
        run_window(res, WINDOWS[0]), run_tables(res)
        assert sum(server.fault_counts.values()) > 5
    for table, keys in {
        "playlist_tracks": "snapshot_time, playlist_id, position",
        "tracks": "track_id",
        "artists": "artist_id",
        "artist_genres": "artist_id, genre",
    }.items():
        sql = (
            f"select * exclude (fetched_at) from core.{table} order by {keys}"
            if table == "artists"
            else f"select * from core.{table} order by {keys}"
        )
        assert query(clean_dir, sql) == query(faulty_dir, sql), table


def test_retry_after_too_long_keeps_what_was_fetched_and_rerun_fetches_the_rest(
    tmp_path, tiny_world
):
    playlists = owned(tiny_world)
    # Seed 5: the first two playlist calls succeed, the third gets a 2-hour Retry-After
    # (one call at a time, so which playlist meets it is deterministic).
    faults = FaultConfig(
        rate_429=0.5, retry_after_s=7200, seed=5, endpoints=frozenset({"GET /v1/playlists/{id}"})
    )
    with FakeSpotifyServer(tiny_world, faults=faults) as server:
        res = make_resources(tmp_path, sample_server_url=server.url, concurrency=1)
        result = run_window(res, WINDOWS[0], raise_on_error=False)
        assert not result.success
        message = failure_text(result)
        assert playlists[2] in message and "Retry-After 7200" in message
        assert "a re-run fetches only the rest" in message
        kept = {
            p.stem for p in (tmp_path / "lake/raw/playlist_snapshots" / WINDOWS[0]).glob("*.json")
        }
        assert kept == set(playlists[:2])
        # It stopped at the long Retry-After instead of hammering the API.
        assert server.request_counts["GET /v1/playlists/{id}"] == 3
        server.set_faults(None)
        server.reset_counts()
        run_window(res, WINDOWS[0])
        # Only the playlists that were not kept are fetched again.
        assert server.request_counts["GET /v1/playlists/{id}"] == len(playlists) - 2


def test_an_api_answering_only_5xx_stops_the_snapshot_soon_with_a_clear_message(
    tmp_path, tiny_world
):
    """Every call a 5xx: the client stops after 10 failures in a row, the run ends saying so,
    instead of 6 attempts per playlist (240 calls over minutes before the breaker)."""
    with FakeSpotifyServer(tiny_world, faults=FaultConfig(rate_5xx=1.0)) as server:
        res = make_resources(tmp_path, sample_server_url=server.url)
        result = run_window(res, WINDOWS[0], raise_on_error=False)
        assert not result.success
        message = failure_text(result)
        assert "failed 10 times in a row" in message and "run again later" in message
        assert sum(server.request_counts.values()) <= 10 + 4  # + calls already in flight


def test_missing_playlist_and_forbidden_items_are_named(tmp_path, tiny_world, server):
    foreign = tiny_world.playlists.loc[
        tiny_world.playlists["owner_id"] != APP_USER_ID, "playlist_id"
    ].iloc[0]
    good = owned(tiny_world)[:2]
    res = make_resources(
        tmp_path,
        sample_server_url=server.url,
        playlist_ids=[*good, "0000000000000000000000", foreign],
    )
    result = run_window(res, WINDOWS[0], raise_on_error=False)
    assert not result.success
    message = failure_text(result)
    assert "0000000000000000000000" in message and "404" in message
    assert foreign in message and "owns or collaborates" in message
    kept = {p.stem for p in (tmp_path / "lake/raw/playlist_snapshots" / WINDOWS[0]).glob("*.json")}
    assert kept == set(good)


def test_a_dead_refresh_token_fails_the_window_once_saying_what_to_do(tmp_path, tiny_world, server):
    playlists = owned(tiny_world)
    res = make_resources(tmp_path, sample_server_url=server.url, refresh_token="revoked-token")
    result = run_window(res, WINDOWS[0], raise_on_error=False)
    assert not result.success
    message = failure_text(result)
    assert "invalid_grant" in message and "python -m spotify_assets.auth" in message
    assert f"{len(playlists) - 1} playlists not attempted" in message
    assert message.count("invalid_grant") == 1  # one error, not one per playlist
    assert server.request_counts["POST /api/token"] == 1
    assert sum(server.request_counts.values()) == 1


def test_persistently_malformed_json_names_the_endpoint(tmp_path, tiny_world):
    faults = FaultConfig(
        rate_truncated=1.0, truncate_style="malformed", endpoints=frozenset({"GET /v1/artists"})
    )
    with FakeSpotifyServer(tiny_world, faults=faults) as server:
        res = make_resources(
            tmp_path, sample_server_url=server.url, max_retries=1, api_mode="extended"
        )
        result = run_window(res, WINDOWS[0], raise_on_error=False)
    message = failure_text(result)
    assert "GET /artists" in message and "malformed" in message


def test_live_mode_refuses_a_window_that_is_over(tmp_path):
    res = make_resources(
        tmp_path,
        source="live",
        client_id="id",
        client_secret="secret",
        playlist_ids=["37i9dQZF1DXcBWIGoYBM5M"],
    )
    result = run_window(res, WINDOWS[0], raise_on_error=False)
    message = failure_text(result)
    assert "is over" in message and "live Spotify API only answers for the present" in message


def test_s3_lake_through_moto_gives_the_same_tables(
    tmp_path, tiny_world, server, moto_endpoint, s3_bucket, s3_client
):
    res = make_resources(
        tmp_path,
        sample_server_url=server.url,
        lake_url=f"s3://{s3_bucket}/lake",
        s3_endpoint=moto_endpoint,
    )
    run_window(res, WINDOWS[0])
    run_tables(res)
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert f"lake/raw/playlist_snapshots/{WINDOWS[0]}.json" in keys
    assert any(k.startswith(f"lake/raw/playlist_snapshots/{WINDOWS[0]}/") for k in keys)
    assert any(k.startswith(f"lake/raw/catalog_entities/{WINDOWS[0]}/artists-") for k in keys)
    at = window_start(WINDOWS[0])
    expected = sum(len(tiny_world.playlist_items_at(p, at)) for p in owned(tiny_world))
    assert query(tmp_path, "select count(*) from core.playlist_tracks")[0][0] == expected


def test_in_process_sample_server_answers_as_of_each_window(tmp_path, tiny_world):
    res = make_resources(tmp_path)  # the resource starts its own fake API
    for key in WINDOWS:
        run_window(res, key)
    rows = dict(
        query(tmp_path, "select snapshot_time, count(*) from core.playlist_tracks group by 1")
    )
    assert len(rows) == 2
    for key in WINDOWS:
        at = window_start(key)
        assert rows[at.replace(tzinfo=None)] == sum(
            len(tiny_world.playlist_items_at(p, at)) for p in owned(tiny_world)
        )


def test_a_window_with_a_repeated_item_fails_its_blocking_check(tmp_path, tiny_world, server):
    resources = make_resources(tmp_path, sample_server_url=server.url)
    key = WINDOWS[0]
    assert run_window(resources, key).success
    # Break the window's parsed items the way a page fetched twice would: one item repeated.
    lake = resources["lake"]
    object_key = f"processed/playlist_snapshots/{key}/playlist_tracks.parquet"
    items = lake.get_frame(object_key)
    doubled = items.iloc[[0]].assign(position=items["position"].max() + 1)
    lake.put_frame(object_key, pd.concat([items, doubled], ignore_index=True))
    result = dg.materialize(
        ALL_ASSETS,
        selection=[playlist_tracks],
        partition_key=key,
        resources=resources,
        raise_on_error=False,
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["no_repeated_items_in_window"].passed
    assert checks["no_repeated_items_in_window"].severity == dg.AssetCheckSeverity.ERROR
    assert checks["no_repeated_items_in_window"].metadata["violations"].value == 1
    assert not checks["no_repeated_tracks_in_window"].passed  # the WARN one sees it too
    assert checks["playlist_tracks_key_unique_not_null"].passed  # positions are still unique
    assert not result.success  # blocking: the run fails, automation stops downstream
