"""Landed catalog datasets read back and merged with the API's tables, field by field
(lib/catalog/dataset_merge.py): the newest observation that has a value wins, ties by the
file's name and line, credits of unknown artists listed as unresolved, audio features kept."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from spotify_assets.lib.catalog.dataset_merge import (
    dataset_artist_ids,
    dataset_artists,
    dataset_tracks,
    merge_dataset_artists,
    merge_dataset_tracks,
)
from spotify_assets.lib.catalog.datasets import CATALOG_DATASETS_ZONE
from spotify_assets.lib.catalog.parse import frame
from spotify_assets.lib.lake import LocalLakeStore
from spotify_assets.lib.landing import ingest

A1, A2, A3 = "0DheY5irMjBUeLybbCUEZ2", "0DlhY15l3wsrnlfGio2bjU", "0DmRESX2JknGPQyO15yxxU"
T1, T2 = "35iwgR4jXetI318WEWsa1Q", "021ht4sdgPcrDgSk7JTbKY"
LEVITATING, DUA_LIPA, DABABY = (
    "463CkQjx2Zk1yXoBuierM9",
    "6M2wZ9GZgrQXHCFfjv46we",
    "4r63FhuTkUYltbVAg5TQnk",
)
TRACKS = "id,name,popularity,duration_ms,explicit,artists,id_artists,release_date\n"
HF = ",track_id,artists,album_name,track_name,popularity,duration_ms,explicit,energy,track_genre\n"


@pytest.fixture
def store(tmp_path: Path) -> LocalLakeStore:
    return LocalLakeStore(tmp_path / "lake")


def land(store: LocalLakeStore, name: str, text: str) -> dict:
    store.put_bytes(f"landing/catalog_datasets/{name}", text.encode())
    return ingest(store, CATALOG_DATASETS_ZONE, name)


def read_tracks(store: LocalLakeStore, tmp_path: Path) -> pd.DataFrame:
    table, _ = dataset_tracks(store, tmp_path / "work")
    return table.to_pandas().set_index("track_id")


def api_tables(popularity=None, last_seen="2026-06-01") -> dict[str, pd.DataFrame]:
    tracks = frame(
        "tracks",
        [
            {"track_id": T1, "track_name": "API", "album_id": "al", "primary_artist_id": A1,
             "popularity": popularity, "first_seen": last_seen, "last_seen": last_seen,
             "source": "playlist",
             "popularity_source": "playlist" if popularity is not None else None},
        ],
    )  # fmt: skip
    albums = frame("albums", [{"album_id": "al", "album_name": "API album", "source": "playlist"}])
    credits = frame("track_artists", [{"track_id": T1, "artist_id": A1, "artist_position": 0}])
    return {"tracks": tracks, "albums": albums, "track_artists": credits}


def test_each_field_comes_from_the_newest_observation_that_has_it(store, tmp_path):
    land(store, "tracks-2021-01-01.csv", TRACKS + f"{T1},Old,10,1000,0,['A'],['{A1}'],2020\n")
    land(store, "tracks-2022-01-01.csv", TRACKS + f"{T1},New,,,,[],[],\n")
    got = read_tracks(store, tmp_path).loc[T1]
    assert got["track_name"] == "New" and got["track_name__file"] == "tracks-2022-01-01.csv"
    # The newer file has no popularity, duration, credits or date: the older one's stay.
    assert (got["popularity"], got["duration_ms"], list(got["artist_ids"])) == (10, 1000, [A1])
    assert got["credits__file"] == "tracks-2021-01-01.csv"
    assert got["release_date"] == "2020"
    # The newer file re-landed with other values replaces its own rows.
    assert land(store, "tracks-2022-01-01.csv", TRACKS + f"{T1},Newer,30,,,[],[],\n")["status"] == (
        "accepted"
    )
    got = read_tracks(store, tmp_path).loc[T1]
    assert (got["track_name"], got["popularity"]) == ("Newer", 30)


@pytest.mark.parametrize("order", ["ids_first", "names_first"])
def test_levitating_keeps_dua_lipa_whichever_dataset_lands_last(store, tmp_path, order):
    """A Kaggle tracks file credits Dua Lipa and DaBaby by id; the 114k-track dataset (one
    day newer, names only) has no ids: its row must not take the credits away."""
    kaggle = (
        "tracks-2021-04-01.csv",
        TRACKS + f"{LEVITATING},Levitating (feat. DaBaby),87,203064,0,\"['Dua Lipa', "
        f"'DaBaby']\",\"['{DUA_LIPA}', '{DABABY}']\",2020-10-01\n",
    )
    hf = (
        "dataset-2021-04-02.csv",
        HF + f"0,{LEVITATING},Dua Lipa;DaBaby,Future Nostalgia,Levitating (feat. DaBaby),88,"
        "203064,False,0.825,dance\n",
    )
    for name, text in (kaggle, hf) if order == "ids_first" else (hf, kaggle):
        land(store, name, text)
    ds, _ = dataset_tracks(store, tmp_path / "work")
    empty = {t: frame(t, []) for t in ("tracks", "albums", "track_artists")}
    merged = merge_dataset_tracks(empty, ds, {DUA_LIPA, DABABY})
    track = merged["tracks"].set_index("track_id").loc[LEVITATING]
    assert track["primary_artist_id"] == DUA_LIPA
    assert track["popularity"] == 88  # the newer file's
    credits = merged["track_artists"]
    assert credits[["artist_id", "artist_position"]].values.tolist() == [[DUA_LIPA, 0], [DABABY, 1]]
    sources = json.loads(track["field_sources"])
    assert sources["primary_artist_id"] == "dataset:tracks-2021-04-01.csv"
    assert sources["popularity"] == "dataset:dataset-2021-04-02.csv"
    assert merged["track_audio_features"]["energy"].tolist() == [0.825]


def test_a_tie_is_broken_by_the_file_name_then_the_line_never_the_landing_order(store, tmp_path):
    for name, value in (("b-2021-01-01.csv", "B"), ("a-2021-01-01.csv", "A")):
        land(store, name, TRACKS + f"{T1},{value},1,1000,0,[],[],\n")
    assert read_tracks(store, tmp_path).loc[T1, "track_name"] == "B"


@pytest.mark.parametrize(
    ("api_popularity", "api_seen", "observed", "popularity", "source"),
    [
        (None, "2026-06-01", "2021-01-01", 50, "dataset"),  # development mode: the only one
        (30, "2026-06-01", "2021-01-01", 30, "playlist"),  # the API's is newer
        (30, "2020-06-01", "2021-01-01", 50, "dataset"),  # the dataset's is newer
        (30, "2021-01-01", "2021-01-01", 30, "playlist"),  # a tie: the API's
    ],
)
def test_track_popularity_is_the_newest_known_and_says_where_from(
    store, tmp_path, api_popularity, api_seen, observed, popularity, source
):
    land(
        store,
        f"tracks-{observed}.csv",
        TRACKS + f"{T1},DS,50,1000,0,['B'],['{A2}'],2020\n{T2},Two,60,900,1,['B'],['{A2}'],2020\n",
    )
    ds, _ = dataset_tracks(store, tmp_path / "work")
    merged = merge_dataset_tracks(api_tables(api_popularity, api_seen), ds, {A1, A2})
    tracks = merged["tracks"].set_index("track_id")
    assert (tracks.loc[T1, "popularity"], tracks.loc[T1, "popularity_source"]) == (
        popularity,
        source,
    )
    assert tracks.loc[T1, "source"] == "playlist" and tracks.loc[T1, "album_id"] == "al"
    # The dataset-only track is added with its credits; the API track's name is the newest.
    assert (tracks.loc[T2, "source"], tracks.loc[T2, "popularity"]) == ("dataset", 60)
    assert tracks.loc[T1, "track_name"] == ("DS" if observed > api_seen else "API")
    credits = merged["track_artists"].set_index("track_id")
    assert credits.loc[T2, "artist_id"] == A2
    sources = json.loads(tracks.loc[T1, "field_sources"])
    assert sources["album_id"] == "playlist"
    assert sources["duration_ms"] == f"dataset:tracks-{observed}.csv"  # the API had none


def test_credits_of_unknown_artists_are_unresolved_never_dangling(store, tmp_path):
    land(
        store,
        "tracks.csv",
        TRACKS + f"{T2},Two,60,900,1,\"['X', 'Y']\",\"['{A3}', '{A2}']\",2020\n",
    )
    ds, _ = dataset_tracks(store, tmp_path / "work")
    empty = {t: frame(t, []) for t in ("tracks", "albums", "track_artists")}
    merged = merge_dataset_tracks(empty, ds, {A2})
    track = merged["tracks"].set_index("track_id").loc[T2]
    assert pd.isna(track["primary_artist_id"])  # its first artist is not known yet
    assert merged["track_artists"][["artist_id", "artist_position"]].values.tolist() == [[A2, 1]]
    unresolved = merged["unresolved_track_artists"]
    assert unresolved[
        ["track_id", "artist_id", "artist_position", "source_file"]
    ].values.tolist() == [[T2, A3, 0, "tracks.csv"]]
    # Once the artist is known (an artists file, a lookup), the credit resolves.
    merged = merge_dataset_tracks(empty, ds, {A2, A3})
    assert merged["tracks"]["primary_artist_id"].tolist() == [A3]
    assert merged["unresolved_track_artists"].empty


def test_a_dataset_album_becomes_an_album_row_the_track_references(store, tmp_path):
    land(
        store,
        "tracks_features.csv",
        "id,name,album,album_id,artists,artist_ids,track_number,disc_number,explicit,"
        "duration_ms,release_date\n"
        f"{T2},Testify,The Battle Of Los Angeles,2eia0myWFgoHuttJytCxgX,['R'],['{A2}'],3,1,"
        "False,210133,1999-11-02\n",
    )
    ds, _ = dataset_tracks(store, tmp_path / "work")
    merged = merge_dataset_tracks(api_tables(), ds, {A1, A2})
    album = merged["albums"].set_index("album_id").loc["2eia0myWFgoHuttJytCxgX"]
    assert (album["album_name"], album["release_date"], album["release_year"]) == (
        "The Battle Of Los Angeles",
        "1999-11-02",
        1999,
    )
    assert (album["source"], album["primary_artist_id"]) == ("dataset", A2)
    track = merged["tracks"].set_index("track_id").loc[T2]
    assert (track["album_id"], track["track_number"], track["disc_number"]) == (
        "2eia0myWFgoHuttJytCxgX",
        3,
        1,
    )
    assert "al" in merged["albums"]["album_id"].tolist()  # the API's album stays


def test_artist_fields_each_from_the_newest_observation_that_has_them(store, tmp_path):
    api = frame(
        "artists",
        [
            # development mode: no followers or popularity, genres given
            {"artist_id": A1, "artist_name": "One", "fetched_at": "2026-06-01",
             "source": "playlist"},
            # extended mode, newer than the dataset
            {"artist_id": A2, "artist_name": "Two", "followers": 900, "popularity": 70,
             "followers_source": "lookup", "popularity_source": "lookup",
             "fetched_at": "2026-06-01", "source": "lookup"},
        ],
    )  # fmt: skip
    api_genres = frame(
        "artist_genres",
        [
            {"artist_id": A1, "genre": "rock", "genre_family": "rock"},
            {"artist_id": A2, "genre": "pop", "genre_family": "pop"},
        ],
    )
    header = "id,followers,genres,name,popularity\n"
    land(
        store,
        "artists-2021-01-01.csv",
        header + f"{A1},10.0,[],Uno,5\n{A2},20.0,['dance pop'],Dos,6\n{A3},,['metal'],Tres,7\n",
    )
    land(store, "artists-2021-02-01.csv", header + f"{A3},,[],,\n")  # newer, says nothing
    ds, files = dataset_artists(store, tmp_path / "work")
    assert files == 2
    artists, genres = merge_dataset_artists(api, api_genres, ds)
    got = artists.set_index("artist_id")
    assert got.loc[A1, ["artist_name", "followers", "popularity"]].tolist() == ["One", 10, 5]
    assert got.loc[A1, ["followers_source", "popularity_source", "source"]].tolist() == [
        "dataset",
        "dataset",
        "playlist",
    ]
    assert got.loc[A2, ["followers", "popularity", "followers_source"]].tolist() == [
        900,
        70,
        "lookup",
    ]
    assert got.loc[A3, ["artist_name", "source", "popularity"]].tolist() == ["Tres", "dataset", 7]
    assert pd.isna(got.loc[A3, "followers"]) and pd.isna(got.loc[A3, "followers_source"])
    assert sorted(map(tuple, genres[["artist_id", "genre"]].values.tolist())) == sorted(
        [(A1, "rock"), (A2, "pop"), (A3, "metal")]
    )
    assert json.loads(got.loc[A3, "field_sources"]) == {
        "artist_name": "dataset:artists-2021-01-01.csv",
        "popularity": "dataset:artists-2021-01-01.csv",
        "genres": "dataset:artists-2021-01-01.csv",
    }
    assert json.loads(got.loc[A2, "field_sources"])["genres"] == "lookup"
    assert dataset_artist_ids(store, tmp_path / "work") == {A1, A2, A3}
