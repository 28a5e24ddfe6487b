"""The listening group materialized in memory: the sample world's exports (and bad files)
landed in a tmp lake, ingested per file partition, core.streams built by DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.listening.assets import streams_tables
from spotify_assets.defs.listening.history_files import STREAMING_HISTORY
from spotify_assets.lib.landing import inventory
from spotify_assets.lib.sample.world.history import write_streaming_history
from spotify_assets.resources import LakeResource
from spotify_assets_tests.support.landing import Landing

pytestmark = pytest.mark.slow  # materializes assets with real resources

LANDING = "landing/streaming_history"


@pytest.fixture
def env(tmp_path):
    lake = LakeResource(url=str(tmp_path / "lake"))
    database = str(tmp_path / "warehouse.duckdb")
    instance = dg.DagsterInstance.ephemeral()
    resources = {"lake": lake, "warehouse": DuckDBResource(database=database)}
    return lake, database, instance, resources


def land_world(lake, tiny_world, tmp_path) -> list[Path]:
    out = tmp_path / "export"
    paths = write_streaming_history(tiny_world, out)
    for p in paths:
        lake.store().put_bytes(f"{LANDING}/{p.relative_to(out).as_posix()}", p.read_bytes())
    return paths


def ingest(instance, resources, cursor=None):
    """One sensor tick, then its runs, as the daemon would; returns (cursor, results)."""
    zone = Landing(STREAMING_HISTORY, resources, instance, assets=[streams_tables])
    zone.cursor = cursor
    results = zone.land()
    return zone.cursor, results


def build_streams(instance, resources):
    return dg.materialize(
        [STREAMING_HISTORY.asset, streams_tables],
        selection=[streams_tables],
        instance=instance,
        resources=resources,
    )


def independent_distinct_plays(paths: list[Path]) -> int:
    """Straight from the JSON, without the platform's code: distinct (user, ts, uri,
    ms_played) over every file."""
    plays = set()
    for p in paths:
        user = p.parent.name
        for r in json.loads(p.read_text()):
            uri = (
                r.get("spotify_track_uri")
                or r.get("spotify_episode_uri")
                or r.get("audiobook_chapter_uri")
                or r.get("audiobook_uri")
            )
            names = (
                r.get("master_metadata_track_name"),
                r.get("master_metadata_album_artist_name"),
            )
            plays.add((user, r["ts"], uri or names, int(r["ms_played"])))
    return len(plays)


def query(database, sql):
    with duckdb.connect(database, read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_sample_exports_land_in_core_streams_with_independent_counts(env, tiny_world, tmp_path):
    lake, database, instance, resources = env
    paths = land_world(lake, tiny_world, tmp_path)
    _, results = ingest(instance, resources)
    assert results and all(r.success for r in results)
    assert all(e.passed for r in results for e in r.get_asset_check_evaluations())
    streams = build_streams(instance, resources)
    assert all(e.passed for e in streams.get_asset_check_evaluations())
    assert query(database, "select count(*) from core.streams")[0][0] == independent_distinct_plays(
        paths
    )
    users = {p.parent.name for p in paths}
    assert {r[0] for r in query(database, "select user_id from core.listeners")} == users
    # Personal data never reaches the warehouse.
    columns = {
        r[0]
        for r in query(
            database,
            "select column_name from information_schema.columns where table_name = 'streams'",
        )
    }
    assert not columns & {"ip_addr", "ip_addr_decrypted", "user_agent_decrypted", "username"}
    # Each file's figures in the zone's inventory (core.landing_files), one event per batch.
    rows = {r["key"]: r for r in inventory(lake.store(), STREAMING_HISTORY.zone)}
    first = f"{LANDING}/{paths[0].relative_to(tmp_path / 'export').as_posix()}"
    assert rows[first]["status"] == "accepted" and rows[first]["accepted"] > 0
    assert sum(len(r.get_asset_materialization_events()) for r in results) == len(results)


def test_overlapping_and_reuploaded_files_are_deduplicated(env, tiny_world, tmp_path):
    lake, database, instance, resources = env
    paths = land_world(lake, tiny_world, tmp_path)
    cursor, _ = ingest(instance, resources)
    build_streams(instance, resources)
    before = query(database, "select count(*) from core.streams")[0][0]
    # A second export of the same user overlapping the first: a copy under another name.
    first = paths[0]
    user = first.parent.name
    lake.store().put_bytes(
        f"{LANDING}/{user}/Streaming_History_Audio_copy_0.json", first.read_bytes()
    )
    cursor, results = ingest(instance, resources, cursor)
    assert len(results) == 1 and results[0].success
    result = build_streams(instance, resources)
    assert query(database, "select count(*) from core.streams")[0][0] == before
    meta = result.asset_materializations_for_node("streams_tables")[0].metadata
    assert meta["build"].value == "incremental" and meta["rows_added"].value == 0
    # The same file uploaded again unchanged: nothing is requested.
    lake.store().put_bytes(f"{LANDING}/{user}/{first.name}", first.read_bytes())
    _, results = ingest(instance, resources, cursor)
    assert results == []


def test_bad_files_are_listed_and_stop_nothing_else(env, tiny_world, tmp_path):
    lake, database, instance, resources = env
    paths = land_world(lake, tiny_world, tmp_path)
    store = lake.store()
    store.put_bytes(f"{LANDING}/zoe/Streaming_History_Audio_2024_0.json", b"this is not json")
    store.put_bytes(f"{LANDING}/zoe/Streaming_History_Audio_2024_1.json", b'[{"ts": "2024-01-0')
    store.put_bytes(f"{LANDING}/zoe/endsong_0.json", b'{"ts": "2024-01-01T00:00:00Z"}')
    _, results = ingest(instance, resources)
    assert all(r.success for r in results)
    readable = [
        e
        for r in results
        for e in r.get_asset_check_evaluations()
        if e.check_name == "files_readable"
    ]
    assert any(not e.passed and e.severity == dg.AssetCheckSeverity.WARN for e in readable)
    rows = {r["key"]: r for r in inventory(store, STREAMING_HISTORY.zone)}
    for name in (
        "Streaming_History_Audio_2024_0.json",
        "Streaming_History_Audio_2024_1.json",
        "endsong_0.json",
    ):
        assert store.exists(f"{LANDING}/zoe/{name}")  # never moved out of the folder
        assert rows[f"{LANDING}/zoe/{name}"]["status"] == "rejected"
        assert rows[f"{LANDING}/zoe/{name}"]["reason"].strip()
    build_streams(instance, resources)
    assert query(database, "select count(*) from core.streams")[0][0] == independent_distinct_plays(
        paths
    )


def test_negative_ms_played_fails_the_files_checks_and_holds_it_out(env, tmp_path):
    lake, database, instance, resources = env
    records = [
        {
            "ts": f"2024-02-01T10:0{i}:00Z",
            "ms_played": -1000 if i % 2 else 5000,
            "spotify_track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
        }
        for i in range(6)
    ]
    lake.store().put_bytes(
        f"{LANDING}/neg/Streaming_History_Audio_2024_0.json", json.dumps(records).encode()
    )
    _, results = ingest(instance, resources)
    assert results[0].success  # the file is held out alone: nothing else stops
    checks = {e.check_name: e for r in results for e in r.get_asset_check_evaluations()}
    assert not checks["ms_played_non_negative"].passed
    assert checks["ms_played_non_negative"].severity == dg.AssetCheckSeverity.ERROR
    assert not checks["parse_rate"].passed
    build_streams(instance, resources)
    rows = query(database, "select reason from core.rejected_stream_records")
    assert len(rows) == 3 and all("negative" in r[0] for r in rows)
    # The file failed a blocking check: its 3 usable plays are held out until it is fixed.
    assert query(database, "select count(*) from core.streams")[0][0] == 0


def test_account_data_format_lands_with_names_and_no_ids(env):
    lake, database, instance, resources = env
    records = [
        {
            "endTime": "2019-05-01 21:03",
            "artistName": "Artist A",
            "trackName": "Song A",
            "msPlayed": 201000,
        },
        {
            "endTime": "2019-05-01 21:03",
            "artistName": "Artist A",
            "trackName": "Song A",
            "msPlayed": 201000,
        },  # the same play twice in the file: one play
        {
            "endTime": "2019-05-01 21:07",
            "artistName": "Artist B",
            "trackName": "Song B",
            "msPlayed": 4000,
        },
    ]
    lake.store().put_bytes(
        f"{LANDING}/dave/StreamingHistory_music_0.json", json.dumps(records).encode()
    )
    _, results = ingest(instance, resources)
    assert results[0].success
    build_streams(instance, resources)
    rows = query(
        database,
        "select track_id, track_name, artist_name, content_type, source_format, "
        "ts from core.streams order by ts",
    )
    assert [r[:5] for r in rows] == [
        (None, "Song A", "Artist A", "music", "account_data"),
        (None, "Song B", "Artist B", "music", "account_data"),
    ]
    assert str(rows[0][5]) == "2019-05-01 21:03:00"  # UTC, stored without a zone


def test_a_sensor_without_a_cursor_skips_files_already_processed(env, tiny_world, tmp_path):
    """After `make demo` (which ingests outside the daemon) the daemon's first tick has no
    cursor: files the processed area already holds, unchanged, are not requested again."""
    lake, database, instance, resources = env
    land_world(lake, tiny_world, tmp_path)
    ingest(instance, resources)
    _, results = ingest(instance, resources, cursor=None)
    assert results == []
    # ... but a file changed since is.
    key = next(o.key for o in lake.store().list(f"{LANDING}/"))
    lake.store().put_bytes(key, b"[]")
    _, results = ingest(instance, resources, cursor=None)
    assert len(results) == 1
