"""Issue 12's "done when", through Dagster with real resources in tmp_path, as ``make demo``
runs it (on the tiny world: the demo world takes minutes; its figures are in docs/PERFORMANCE.md):
listening-history exports land and the zone's sensor tick ingests them, one playlist window is
snapshotted, the catalog and listening tables are built, ``catalog_lookups_job`` runs once,
``core.streams`` is built again with what it found, then the engagement marts.

- ``marts.genre_share`` has under 2% ``unknown`` music plays (a fifth before the lookups),
  and every played track the fake API knows is in ``core.tracks``, checked against the export
  files read without the platform's code;
- account-data rows (names, no id) get the ``track_id`` of the track the catalog has, whether
  the playlists brought it or a search found it; a name pair that two recordings share stays
  null, with ``ambiguous`` and the reason in ``core.track_name_matches``, as does a pair that
  Spotify does not know (``not_found``);
- the lookups sensor has nothing to continue after a run that finished.

One title of the tiny world is changed (in a copy served by the fake API) so that an artist
has two recordings with the same name that nobody plays by id and no playlist holds: that is
the ambiguous pair.
"""

from __future__ import annotations

import copy
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import numpy as np
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.catalog.assets import (
    SNAPSHOT_PARTITIONS,
    catalog_artists,
    catalog_dimensions,
    catalog_entities,
    catalog_lookups,
    playlist_snapshots,
    playlist_tracks,
)
from spotify_assets.defs.catalog.jobs import catalog_lookups_job
from spotify_assets.defs.catalog.schedules import catalog_lookups_sensor
from spotify_assets.defs.listening.assets import streams_tables
from spotify_assets.defs.listening.history_files import STREAMING_HISTORY
from spotify_assets.defs.marts.assets import engagement_marts
from spotify_assets.lib.sample.fake_api import FakeSpotifyServer
from spotify_assets.lib.sample.world import APP_USER_ID
from spotify_assets.lib.sample.world.history import write_streaming_history
from spotify_assets.lib.sample.world.vintages import write_export_vintages
from spotify_assets.resources import (
    LakeIOManager,
    LakeResource,
    SpotifyResource,
    WarehouseIOManager,
)
from spotify_assets_tests.support.landing import Landing

pytestmark = pytest.mark.slow  # materializes assets with real resources

LANDING = "landing/streaming_history"
# A fixed window (the sample world answers as of any): the same playlists whatever the date.
WINDOW = "2026-06-01-00:00"
# The catalog observed in that window stays "known" for the lookups whatever today is.
TEN_YEARS_H = 24 * 3650
ASSETS = [
    playlist_snapshots,
    catalog_entities,
    playlist_tracks,
    catalog_dimensions,
    catalog_artists,
    catalog_lookups,
    STREAMING_HISTORY.asset,
    streams_tables,
    engagement_marts,
]


def artist_names(world) -> dict[str, str]:
    return dict(zip(world.artists["artist_id"], world.artists["artist_name"], strict=True))


def playlist_track_ids(world) -> set[str]:
    at = SNAPSHOT_PARTITIONS.time_window_for_partition_key(WINDOW).start
    owned = world.playlists.loc[world.playlists["owner_id"] == APP_USER_ID, "playlist_id"]
    return {t for p in owned for t in world.playlist_items_at(p, at)["track_id"]}


def played_rows(world) -> set[int]:
    rows: set[int] = set()
    for user in world.users["user_id"]:
        plays = world.user_plays(user)
        rows |= set(plays["item"][plays["content"] == 0].tolist())
    return rows


def with_ambiguous_title(tiny_world):
    """A copy of the world in which two tracks of one artist, neither played nor in a
    playlist, share a title (two recordings: different ISRCs). Returns (world, artist name,
    title, the two ids); the cached world is left as it is."""
    world = copy.copy(tiny_world)
    tracks = tiny_world.tracks.copy()
    untouched = ~tracks.index.isin(sorted(played_rows(tiny_world))) & ~tracks["track_id"].isin(
        playlist_track_ids(tiny_world)
    )
    free = tracks[untouched]
    artist = free["primary_artist_id"].value_counts().index[0]
    first, second = free.index[free["primary_artist_id"] == artist][:2]
    title = tracks.at[first, "track_name"]
    tracks.at[second, "track_name"] = title
    world.tracks = tracks
    ids = (tracks.at[first, "track_id"], tracks.at[second, "track_id"])
    return world, artist_names(world)[artist], title, ids


def named_plays(world, avoid: tuple[str, ...]) -> tuple[list[dict], dict[str, str | None]]:
    """An old account-data file of listener ``dave``: a playlist track, and a track that no
    playlist holds and nobody plays by id (not one of ``avoid``). Returns the records and the
    track id each title must end with."""
    names = artist_names(world)
    in_playlists = playlist_track_ids(world)
    outside = world.tracks.loc[
        ~world.tracks.index.isin(sorted(played_rows(world)))
        & ~world.tracks["track_id"].isin(in_playlists)
        & ~world.tracks["track_id"].isin(avoid)
    ]
    tracks = world.tracks.set_index("track_id")
    records, expected = [], {}
    for day, track_id in enumerate([sorted(in_playlists)[0], outside["track_id"].iloc[-1]]):
        title = tracks.at[track_id, "track_name"]
        artist = names[tracks.at[track_id, "primary_artist_id"]]
        records.append(
            {"endTime": f"2019-05-0{day + 1} 21:03", "artistName": artist, "trackName": title,
             "msPlayed": 201000}
        )  # fmt: skip
        expected[title] = track_id
    return records, expected


@pytest.fixture(scope="module")
def demo_run(tiny_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("lookups_demo")
    world, amb_artist, amb_title, amb_ids = with_ambiguous_title(tiny_world)
    records, expected = named_plays(world, amb_ids)
    records += [
        {"endTime": "2019-05-03 21:03", "artistName": amb_artist, "trackName": amb_title,
         "msPlayed": 180000},
        {"endTime": "2019-05-04 21:03", "artistName": "Nobody Knows Me",
         "trackName": "No Such Song", "msPlayed": 180000},
    ]  # fmt: skip
    expected[amb_title] = None
    expected["No Such Song"] = None

    lake = LakeResource(url=str(root / "lake"))
    store = lake.store()
    out = root / "export"
    write_streaming_history(world, out)
    write_export_vintages(world, out)
    (out / "dave").mkdir()
    (out / "dave" / "StreamingHistory0.json").write_text(json.dumps(records))
    paths = sorted(p for p in out.rglob("*") if p.is_file())
    for p in paths:
        store.put_bytes(f"{LANDING}/{p.relative_to(out).as_posix()}", p.read_bytes())

    database = str(root / "warehouse.duckdb")
    instance = dg.DagsterInstance.ephemeral()
    with FakeSpotifyServer(world, mode="extended") as server:
        resources = {
            "spotify": SpotifyResource(
                source="sample",
                sample_scale="tiny",
                sample_server_url=server.url,
                lookup_refresh_hours=TEN_YEARS_H,
            ),
            "lake": lake,
            "lake_io_manager": LakeIOManager(lake=lake),
            "warehouse_io_manager": WarehouseIOManager(database=database),
            "warehouse": DuckDBResource(database=database),
        }
        defs = dg.Definitions(
            assets=ASSETS,
            jobs=[catalog_lookups_job],
            sensors=[catalog_lookups_sensor],
            resources=resources,
        )

        def run(selection, **kwargs):
            return dg.materialize(
                ASSETS, selection=selection, resources=resources, instance=instance, **kwargs
            )

        # 1. The landing zone's sensor tick and the ingest runs it asks for.
        landed = Landing(STREAMING_HISTORY, resources, instance, assets=ASSETS).land()
        assert landed and all(r.success for r in landed)
        # 2. One playlist window, the catalog tables, core.streams.
        run([playlist_snapshots, catalog_entities, playlist_tracks], partition_key=WINDOW)
        run([catalog_dimensions, catalog_artists])
        run([streams_tables])
        with duckdb.connect(database, read_only=True) as conn:
            unknown_before = conn.execute(
                "select avg((t.track_id is null)::int) from core.streams s "
                "left join core.tracks t using (track_id) where s.content_type = 'music'"
            ).fetchone()[0]
        # 3. The lookups (one run of the real job), core.streams again, the marts.
        lookups = defs.resolve_job_def(catalog_lookups_job.name).execute_in_process(
            instance=instance
        )
        run([streams_tables])
        run([engagement_marts])
        sensor = catalog_lookups_sensor(
            dg.build_sensor_context(instance=instance, resources={"lake": lake})
        )
    return {
        "database": database,
        "paths": paths,
        "world": world,
        "unknown_before": unknown_before,
        "lookups": lookups,
        "sensor": sensor,
        "expected_names": expected,
        "ambiguous": (amb_artist, amb_title, amb_ids),
    }


def query(run, sql: str) -> list[tuple]:
    with duckdb.connect(run["database"], read_only=True) as conn:
        return conn.execute(sql).fetchall()


def lookups_metadata(run) -> dict:
    (event,) = [
        e
        for e in run["lookups"].get_asset_materialization_events()
        if e.asset_key.path == ["raw", "catalog_lookups"]
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_genre_share_has_under_2_percent_unknown_music_plays(demo_run):
    assert demo_run["lookups"].success
    (unknown, total) = query(
        demo_run,
        "select sum(plays) filter (where genre_family = 'unknown'), sum(plays) "
        "from marts.genre_share",
    )[0]
    assert total > 4000
    assert (unknown or 0) / total < 0.02, (unknown, total)
    # Before the lookups a fifth of the music plays were of tracks outside the playlists.
    assert demo_run["unknown_before"] > 0.1


def export_records(paths: list[Path]) -> Iterator[Any]:
    """Every record of every JSON file, and of the JSON members of zips."""
    for path in paths:
        if path.suffix == ".json":
            yield from json.loads(path.read_text())
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    if member.endswith(".json"):
                        body = json.loads(zf.read(member))
                        yield from body if isinstance(body, list) else []


def test_every_played_track_the_api_knows_is_in_core_tracks(demo_run):
    """From the export files, without the platform's code: every track URI of an extended
    record, and the track of every account-data (artist, title) that names exactly one
    track of the world."""
    world = demo_run["world"]
    names = artist_names(world)
    by_name: dict[tuple[str, str], set[str]] = {}
    for tid, title, artist in zip(
        world.tracks["track_id"],
        world.tracks["track_name"],
        world.tracks["primary_artist_id"],
        strict=True,
    ):
        by_name.setdefault((names[artist].lower(), title.lower()), set()).add(tid)
    played: set[str] = set()
    for r in export_records(demo_run["paths"]):
        if isinstance(r, dict):
            if r.get("spotify_track_uri"):
                played.add(r["spotify_track_uri"].rsplit(":", 1)[-1])
            elif "artistName" in r:
                ids = by_name.get((r["artistName"].lower(), r["trackName"].lower()), set())
                played |= ids if len(ids) == 1 else set()
    # The files hold what the world says was played (and dave's two named tracks).
    dave = {i for i in demo_run["expected_names"].values() if i is not None}
    assert played == set(world.tracks["track_id"].iloc[sorted(played_rows(world))]) | dave
    in_catalog = {r[0] for r in query(demo_run, "select track_id from core.tracks")}
    assert played - in_catalog == set()
    md = lookups_metadata(demo_run)
    assert md["finished"] is True and md["tracks_to_fetch"] == 0 and md["api_calls"] > 0
    sources = dict(query(demo_run, "select source, count(*) from core.tracks group by all"))
    assert sources.get("lookup", 0) > 0 and sources.get("playlist", 0) > 0


def test_account_data_names_get_the_catalogs_track_id_and_ambiguous_ones_a_reason(demo_run):
    rows = dict(
        query(demo_run, "select track_name, track_id from core.streams where user_id = 'dave'")
    )
    assert rows == demo_run["expected_names"]
    artist, title, ids = demo_run["ambiguous"]
    matches = {
        (a, t): (status, track_id, reason)
        for a, t, status, track_id, reason in query(
            demo_run,
            "select artist_name, track_name, status, track_id, reason from core.track_name_matches",
        )
    }
    status, track_id, reason = matches[(artist, title)]
    assert (status, track_id) == ("ambiguous", None)
    assert "2 different recordings" in reason and all(i in reason for i in ids)
    assert matches[("Nobody Knows Me", "No Such Song")][:2] == ("not_found", None)
    # The pair outside the playlists was found by one search; the playlist's needed none.
    found = [t for t, i in demo_run["expected_names"].items() if i is not None]
    searched = {t for (_a, t), m in matches.items() if m[0] == "matched"}
    assert found[1] in searched and found[0] not in searched
    md = lookups_metadata(demo_run)
    assert md["names_ambiguous"] >= 1 and md["names_not_found"] >= 1


def test_the_sensor_has_nothing_to_continue_after_a_finished_run(demo_run):
    sensor = demo_run["sensor"]
    assert isinstance(sensor, dg.SkipReason)
    assert "finished" in (sensor.skip_message or "")


def test_the_ambiguous_world_copy_leaves_the_cached_world_alone(tiny_world, demo_run):
    _artist, title, (first, second) = demo_run["ambiguous"]
    names = tiny_world.tracks.set_index("track_id")["track_name"]
    assert names[first] == title and names[second] != title
    assert np.sum(demo_run["world"].tracks["track_name"] == title) >= 2
