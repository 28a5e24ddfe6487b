"""A development-mode app (no popularity, no followers from the API) lands the sample world's
catalog dataset: the zone's sensor and ingest asset take the files, core.artists and
core.tracks get followers and popularity from it (saying so), and the catalog marts
(popularity against followers, genre families, release years) show them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.catalog.assets import (
    catalog_artists,
    catalog_dimensions,
    catalog_entities,
    playlist_snapshots,
    playlist_tracks,
)
from spotify_assets.defs.catalog.datasets import CATALOG_DATASETS
from spotify_assets.lib.marts import catalog_marts
from spotify_assets.lib.marts.run import build_marts, prepare
from spotify_assets.lib.sample.fake_api import FakeSpotifyServer
from spotify_assets.lib.sample.world.datasets import sample_dataset_files
from spotify_assets.resources import (
    LakeIOManager,
    LakeResource,
    SpotifyResource,
    WarehouseIOManager,
)
from spotify_assets_tests.support.landing import Landing

pytestmark = pytest.mark.slow  # materializes assets with real resources

WINDOW = "2026-06-01-00:00"
PARTITIONED = [playlist_snapshots, catalog_entities, playlist_tracks]
TABLES = [catalog_dimensions, catalog_artists, *CATALOG_DATASETS.tables]


def catalog_resources(lake: LakeResource, database: str, server_url: str) -> dict:
    return {
        "spotify": SpotifyResource(
            source="sample", sample_scale="tiny", backoff_s=0.01,
            sample_server_url=server_url, api_mode="auto",
        ),
        "lake": lake,
        "lake_io_manager": LakeIOManager(lake=lake),
        "warehouse_io_manager": WarehouseIOManager(database=database),
        "warehouse": DuckDBResource(database=database),
    }  # fmt: skip


def test_a_dataset_fills_followers_and_popularity_of_a_development_mode_world(tmp_path, tiny_world):
    lake = LakeResource(url=str(tmp_path / "lake"))
    database = str(tmp_path / "warehouse.duckdb")
    files = sample_dataset_files(tiny_world)
    store = lake.store()
    for name, data in files.items():
        store.put_bytes(f"landing/catalog_datasets/{name}", data)
    bad = (
        "id,followers,genres,name,popularity\nnot-an-id,1,[],X,1\n"
        + files[next(n for n in files if n.startswith("artists"))].decode().split("\n", 1)[1]
    )
    store.put_bytes("landing/catalog_datasets/old/artists-2020-01-01.csv", bad.encode())
    store.put_bytes("landing/catalog_datasets/README.csv", b"what,is,this\n1,2,3\n")
    instance = dg.DagsterInstance.ephemeral()
    with FakeSpotifyServer(tiny_world, mode="development") as server:
        resources = catalog_resources(lake, database, server.url)
        # What the sensor and the daemon do: a batch of the files, then its run.
        runs = Landing(CATALOG_DATASETS, resources, instance).land()
        assert runs and all(run.success for run in runs)
        assert dg.materialize(
            [*PARTITIONED, *TABLES], selection=PARTITIONED, partition_key=WINDOW,
            resources=resources, instance=instance,
        ).success  # fmt: skip
        assert dg.materialize(
            [*PARTITIONED, *TABLES], selection=TABLES, resources=resources, instance=instance
        ).success

    day = tiny_world.history_end.to_pydatetime()
    with duckdb.connect(database) as conn:
        artists = conn.execute(
            "select artist_id, followers, popularity, followers_source, popularity_source, "
            "source from core.artists order by artist_id"
        ).df()
        # The API (development mode) gave none: every value is the dataset's of its day.
        assert len(artists) == len(tiny_world.artists)
        assert set(artists["followers_source"]) == {"dataset"}
        assert set(artists["popularity_source"]) == {"dataset"}
        ids = artists["artist_id"].tolist()
        assert artists["followers"].tolist() == tiny_world.artist_followers_at(ids, day).tolist()
        assert artists["popularity"].tolist() == tiny_world.artist_popularity_at(ids, day).tolist()
        tracks = conn.execute(
            "select track_id, popularity, popularity_source, source, album_id from core.tracks"
        ).df()
        from_playlists = tracks[tracks["source"] == "playlist"]
        assert len(from_playlists) > 0 and from_playlists["album_id"].notna().all()
        with_pop = from_playlists[from_playlists["popularity"].notna()]
        assert set(with_pop["popularity_source"]) == {"dataset"}
        expected = tiny_world.track_popularity_at(with_pop["track_id"].tolist(), day)
        assert with_pop["popularity"].tolist() == expected.tolist()
        # Tracks the playlists never held come from the dataset alone.
        assert (tracks["source"] == "dataset").sum() > 0
        # The bad row of the old file is kept with its line; the README is not ingested.
        assert conn.execute(
            "select source_file, record_index, reason from core.rejected_catalog_dataset_rows"
        ).fetchall() == [("old/artists-2020-01-01.csv", 2, "id 'not-an-id' is not a Spotify id")]

        # The catalog marts now show followers and popularity.
        prepare(conn)
        conn.execute(
            "create table core.streams as select null::varchar as track_id, "
            "null::varchar as content_type, null::bigint as ms_played, "
            "null::varchar as source_format where false"
        )
        marts = {m.name: m for m in catalog_marts.MARTS}
        build_marts(
            conn, [marts[n] for n in ("popularity_vs_followers", "genre_families", "release_years")]
        )
        points, r2 = conn.execute(
            "select count(*), regr_r2(popularity, log10_followers) "
            "from marts.popularity_vs_followers"
        ).fetchone()
        assert points == len(tiny_world.artists) and r2 > 0.2
        families = conn.execute(
            "select count(*), count(avg_popularity), count(followers_median) "
            "from marts.genre_families where artists > 0"
        ).fetchone()
        assert families[0] > 3 and families[0] == families[1] == families[2]
        # Every year has a popularity but those after the dataset's day: the playlists of
        # 2026 hold newer tracks than a dataset of that day knows.
        years = dict(
            conn.execute("select release_year, avg_popularity from marts.release_years").fetchall()
        )
        assert len(years) > 3
        assert {y for y, p in years.items() if p is None} <= set(range(day.year + 1, 2100))
        assert all(p is not None for y, p in years.items() if y <= day.year)


def test_a_dataset_file_failing_a_blocking_check_is_held_out_of_the_catalog(tmp_path):
    from spotify_assets.lib.catalog.dataset_merge import dataset_artists
    from spotify_assets.lib.landing import held_files

    lake = LakeResource(url=str(tmp_path / "lake"))
    store = lake.store()
    header = "id,followers,genres,name,popularity\n"
    good = "".join(f"{c * 22},{i * 10},['pop'],Good {c},{i}\n" for i, c in enumerate("ABCD"))
    # 1 usable row in 4: under the 90% parse rate, a blocking check.
    mostly_bad = f"{'E' * 22},5,[],Bad E,50\nx,1,[],X,1\ny,1,[],Y,1\nz,1,[],Z,1\n"
    store.put_bytes("landing/catalog_datasets/artists-2024-01-01.csv", (header + good).encode())
    store.put_bytes(
        "landing/catalog_datasets/artists-2024-02-01.csv", (header + mostly_bad).encode()
    )
    zone = Landing(CATALOG_DATASETS, {"lake": lake})
    [run] = zone.land()
    assert run.success  # a held file stops only itself
    checks = {c.check_name: c.passed for c in run.get_asset_check_evaluations()}
    assert checks["parse_rate"] is False
    held = held_files(store, CATALOG_DATASETS.zone)
    assert list(held) == ["artists-2024-02-01.csv"]
    artists, files = dataset_artists(store, tmp_path / "work")
    assert files == 1 and sorted(artists["artist_id"].to_pylist()) == [c * 22 for c in "ABCD"]
    # Fixed (landed again with good rows): no longer held, its artist joins.
    store.put_bytes(
        "landing/catalog_datasets/artists-2024-02-01.csv",
        (header + f"{'E' * 22},5,[],Fixed E,50\n").encode(),
    )
    zone.land()
    assert not held_files(store, CATALOG_DATASETS.zone)
    artists, files = dataset_artists(store, tmp_path / "work2")
    assert files == 2 and "E" * 22 in set(artists["artist_id"].to_pylist())


FIXTURES = Path(__file__).parents[1] / "lib" / "fixtures" / "catalog_datasets"


def test_real_dataset_files_never_fail_a_blocking_check_and_every_row_is_accounted_for(
    tmp_path, tiny_world
):
    """Kaggle's and Hugging Face's files, with credits of artists no artists file has, the
    114k-track dataset's empty row and spreadsheet re-saves, dropped beside the sample world:
    every catalog check passes, every row is a track (or a duplicate, or not ingested with
    the file), and the unknown artists are listed, not dangling."""
    from spotify_assets.defs.catalog.checks import catalog_table_checks
    from spotify_assets.lib.landing import zone_manifests

    lake = LakeResource(url=str(tmp_path / "lake"))
    database = str(tmp_path / "warehouse.duckdb")
    store = lake.store()
    for path in sorted(FIXTURES.iterdir()):
        store.put_bytes(f"landing/catalog_datasets/{path.name}", path.read_bytes())
    instance = dg.DagsterInstance.ephemeral()
    with FakeSpotifyServer(tiny_world, mode="development") as server:
        resources = catalog_resources(lake, database, server.url)
        runs = Landing(CATALOG_DATASETS, resources, instance).land()
        assert runs and all(run.success for run in runs)
        assert dg.materialize(
            [*PARTITIONED, *TABLES], selection=PARTITIONED, partition_key=WINDOW,
            resources=resources, instance=instance,
        ).success  # fmt: skip
        result = dg.materialize(
            [*PARTITIONED, *TABLES, catalog_table_checks],
            selection=[*TABLES, catalog_table_checks],
            resources=resources,
            instance=instance,
        )
    assert result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    manifests = zone_manifests(store, CATALOG_DATASETS.zone)
    files = {name: manifest["status"] for name, manifest in manifests.items()}
    assert files.pop("spotify-2023.csv") == "not_ingested"  # another dataset's columns
    assert set(files.values()) == {"accepted"} and len(files) == 7
    with duckdb.connect(database) as conn:
        assert conn.execute(
            "select count(*) from core.rejected_catalog_dataset_rows"
        ).fetchone() == (0,)
        tracks = (
            conn.execute(
                "select track_id, track_name, primary_artist_id, duration_ms, field_sources "
                "from core.tracks where source = 'dataset'"
            )
            .df()
            .set_index("track_id")
        )
        # Every track of every file is in core.tracks.
        for name in ("tracks.csv", "dataset.csv", "tracks_features.csv"):
            header = (FIXTURES / name).read_text().split("\n", 1)[0].split(",")
            column = "track_id" if "track_id" in header else "id"
            ids = set(pd.read_csv(FIXTURES / name, dtype=str)[column])
            assert ids <= set(tracks.index), name
        # Uli is in no artists file: his credit waits for a lookup, his track has no primary.
        unresolved = conn.execute(
            "select artist_id, artist_position from core.unresolved_track_artists "
            "where track_id = '35iwgR4jXetI318WEWsa1Q'"
        ).fetchall()
        assert unresolved == [("45tIt06XoI0Iio4LBEVpls", 0)]
        assert pd.isna(tracks.loc["35iwgR4jXetI318WEWsa1Q", "primary_artist_id"])
        # Guns N' Roses is in artists.csv: resolved.
        assert tracks.loc["7o2CTH4ctstm8TNelqjb51", "primary_artist_id"] == "3qm84nBOXUEQ2vnTfUTTFC"
        assert pd.isna(tracks.loc["1kR4gIb7nGxHPI3D2ifs59", "duration_ms"])
        features = conn.execute(
            "select count(*), count(distinct track_id) from core.track_audio_features"
        ).fetchone()
        assert features[0] == features[1] == len(tracks)  # every fixture track has them
        album = conn.execute(
            "select album_name, release_year, source from core.albums "
            "where album_id = '2eia0myWFgoHuttJytCxgX'"
        ).fetchone()
        assert album == ("The Battle Of Los Angeles", 1999, "dataset")
