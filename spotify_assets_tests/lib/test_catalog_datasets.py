"""Catalog dataset CSVs (lib/catalog/datasets.py): the artists and tracks formats and their
variants, bad rows with their lines, what is not a dataset, the observation time, reading the
processed files back as catalog rows and merging them with the API's observations."""

from __future__ import annotations

import codecs
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from spotify_assets.lib.catalog.datasets import (
    CATALOG_DATASETS_ZONE,
    dataset_artists,
    dataset_tracks,
    parse_dataset_file,
)
from spotify_assets.lib.catalog.parse import (
    frame,
    merge_dataset_artists,
    merge_dataset_tracks,
)
from spotify_assets.lib.lake import LocalLakeStore
from spotify_assets.lib.landing import BadFile, NotIngested, ingest
from spotify_assets.lib.sample.world.datasets import sample_dataset_files

A1, A2, A3 = "0DheY5irMjBUeLybbCUEZ2", "0DlhY15l3wsrnlfGio2bjU", "0DmRESX2JknGPQyO15yxxU"
T1, T2, T3 = "35iwgR4jXetI318WEWsa1Q", "021ht4sdgPcrDgSk7JTbKY", "07A5yehtSnoedViJAZkNnc"
LANDED = datetime(2026, 5, 1, 12, 0)


def parse(text: str | bytes, name: str = "data.csv", landed_at: datetime | None = LANDED):
    data = text.encode() if isinstance(text, str) else text
    return parse_dataset_file(data, name=name, source_file=name, landed_at=landed_at)


def test_kaggle_artists_file_reads_floats_lists_and_missing_followers():
    parsed = parse(
        "id,followers,genres,name,popularity\n"
        f"{A1},44.0,[],Armid,0\n"
        f'{A2},1234567.0,"[\'carnaval cadiz\', ""children\'s music""]",ynnock,61\n'
        f"{A3},,['rock'],Guns N' Roses,80\n"
    )
    rows = parsed.table.to_pylist()
    assert parsed.info["kind"] == "artists" and not parsed.rejected
    assert [(r["artist_id"], r["followers"], r["popularity"]) for r in rows] == [
        (A1, 44, 0),
        (A2, 1_234_567, 61),
        (A3, None, 80),
    ]
    assert rows[1]["genres"] == ["carnaval cadiz", "children's music"]
    assert rows[2]["artist_name"] == "Guns N' Roses" and rows[2]["genres"] == ["rock"]
    assert {r["observed_at"] for r in rows} == {LANDED}
    assert parsed.info["observed_from"] == "landed time"


def test_variants_column_order_extra_columns_bom_crlf_aliases_and_uris():
    text = (
        "Name,Popularity,Genres,Artist_ID,Followers,image_url\r\n"
        f'"Quoted, Name",7,"[\'a\\\'b\', ""x""]",spotify:artist:{A1},"12",http://x\r\n'
    )
    parsed = parse(codecs.BOM_UTF8 + text.encode())
    (row,) = parsed.table.to_pylist()
    assert (row["artist_id"], row["artist_name"], row["followers"]) == (A1, "Quoted, Name", 12)
    assert row["genres"] == ["a'b", "x"]
    assert parsed.info["extra_columns"] == ["image_url"]
    assert parsed.info["encoding"] == "utf-8-sig"


@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_file_re_saved_with_a_semicolon_or_tab_separator_reads_the_same(sep):
    comma = (
        "id,followers,genres,name,popularity\n"
        f"{A1},44,\"['pop', 'dance pop']\",\"Name; with, both\",10\n{A2},,[],Other,20\n"
    )
    other = (
        sep.join(["id", "followers", "genres", "name", "popularity"]) + "\n"
        + sep.join([A1, "44", "\"['pop', 'dance pop']\"", "\"Name; with, both\"", "10"]) + "\n"
        + sep.join([A2, "", "[]", "Other", "20"]) + "\n"
    )  # fmt: skip
    want, got = parse(comma), parse(other)
    assert got.table.to_pylist() == want.table.to_pylist() and not got.rejected
    assert got.info["delimiter"] == sep and "delimiter" not in want.info


def test_tracks_file_lists_dates_of_every_precision_flags_and_features():
    parsed = parse(
        "id,name,popularity,duration_ms,explicit,artists,id_artists,release_date,"
        "danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,"
        "liveness,valence,tempo,time_signature\n"
        f"{T1},Carve,6,126903,0,['Uli'],['{A1}'],1922-02-22,0.645,0.445,0,-13.338,1,0.451,"
        "0.674,0.744,0.151,0.127,104.851,3\n"
        f'{T2},Capitulo,0,98200.0,True,"[\'A\', ""B\'c""]","[\'{A2}\', \'{A3}\']",1922,'
        ",,,,,,,,,,,\n"
        f"{T3},Late,55,181640,maybe,[],[],2021-05,0.1,x,,,,,,,,,,\n"
    )
    rows = {r["track_id"]: r for r in parsed.table.to_pylist()}
    assert parsed.info["kind"] == "tracks" and not parsed.rejected
    assert rows[T1]["artist_ids"] == [A1] and rows[T1]["explicit"] is False
    assert (rows[T1]["release_date_precision"], rows[T1]["tempo"]) == ("day", 104.851)
    assert rows[T2]["artist_names"] == ["A", "B'c"] and rows[T2]["artist_ids"] == [A2, A3]
    assert (rows[T2]["duration_ms"], rows[T2]["explicit"]) == (98200, True)
    assert (rows[T2]["release_date"], rows[T2]["release_date_precision"]) == ("1922", "year")
    assert rows[T2]["danceability"] is None
    assert (rows[T3]["release_date_precision"], rows[T3]["release_year"]) == ("month", 2021)
    assert rows[T3]["explicit"] is None and rows[T3]["energy"] is None
    assert parsed.info["nulled"] == {"explicit": 1, "energy": 1}


def test_bad_rows_are_rejected_with_their_line_and_reason_and_good_rows_kept():
    parsed = parse(
        "id,followers,genres,name,popularity\n"  # line 1
        f'{A1},1,[],"two\nlines",5\n'  # lines 2-3
        "not-an-id,1,[],X,1\n"  # 4
        f"{A1},2,[],again,1\n"  # 5
        f"{A2},1,pop rock,Y,1\n"  # 6
        f"{A2},1.5,[],Y,1\n"  # 7
        f"{A2},1,[],Y,101\n"  # 8
        f"{A2},1,[]\n"  # 9
        f"{A3},3,['ok'],Z,9\n"  # 10
    )
    got = [(r.record_index, r.reason) for r in parsed.rejected]
    assert got == [
        (4, "id 'not-an-id' is not a Spotify id"),
        (5, "the id repeats line 2 (the first row is kept)"),
        (6, "genres 'pop rock' is not a list"),
        (7, "followers '1.5' is not a count"),
        (8, "popularity '101' is not 0-100"),
        (9, "3 fields where the header has 5"),
    ]
    assert parsed.rejected[0].raw_excerpt == "not-an-id,1,[],X,1"
    assert [r["artist_id"] for r in parsed.table.to_pylist()] == [A1, A3]
    assert parsed.table.to_pylist()[0]["artist_name"] == "two\nlines"
    assert parsed.info["records"] == 8


def test_a_track_with_an_id_artists_entry_that_is_no_id_is_rejected():
    parsed = parse(
        "id,name,popularity,artists,id_artists\n"
        f"{T1},ok,1,['A'],['{A1}']\n"
        f"{T2},bad,1,['A'],['nope']\n"
    )
    assert [(r.record_index, r.reason[:30]) for r in parsed.rejected] == [
        (3, "id_artists holds a value that ")
    ]
    assert parsed.table.num_rows == 1


def test_a_csv_that_is_no_dataset_is_not_ingested_and_binary_is_a_bad_file():
    with pytest.raises(NotIngested, match="not a catalog dataset"):
        parse("rank,uri,artist_names,track_name\n1,spotify:track:x,A,B\n", name="chart.csv")
    with pytest.raises(NotIngested):
        parse("id,name,popularity\nx,y,1\n")  # neither artists nor tracks columns
    with pytest.raises(NotIngested):
        parse("")
    with pytest.raises(BadFile, match="zip archive.*unzip it"):
        parse(b"PK\x03\x04\x00\x00binary")


def test_the_observation_time_comes_from_a_date_in_the_name_else_the_landed_time():
    text = f"id,followers,genres,name,popularity\n{A1},1,[],A,1\n"
    for name, expected in [
        ("artists-2021-04-20.csv", datetime(2021, 4, 20)),
        ("exports/artists_20210420.csv", datetime(2021, 4, 20)),
        ("artists.csv", LANDED),
    ]:
        parsed = parse(text, name=name)
        assert parsed.table.to_pylist()[0]["observed_at"] == expected, name
    assert parse(text, name="a-2021-04-20.csv").info["observed_from"] == "file name"


def _land(store: LocalLakeStore, name: str, text: str) -> dict:
    store.put_bytes(f"landing/catalog_datasets/{name}", text.encode())
    return ingest(store, CATALOG_DATASETS_ZONE, name)


def test_processed_files_read_back_newest_observation_wins_and_a_changed_file_replaces(
    tmp_path: Path,
):
    store = LocalLakeStore(tmp_path / "lake")
    header = "id,name,popularity,duration_ms,explicit,artists,id_artists,release_date\n"
    _land(store, "tracks-2021-01-01.csv", header + f"{T1},Old,10,1000,0,['A'],['{A1}'],2020\n")
    _land(
        store,
        "tracks-2022-01-01.csv",
        header + f"{T1},New,20,1000,0,\"['A', 'B']\",\"['{A1}', '{A2}']\",2020\n",
    )
    tracks, credits, files = dataset_tracks(store, tmp_path / "work")
    assert files == 2
    assert tracks[["track_name", "popularity"]].values.tolist() == [["New", 20]]
    assert tracks["source"].tolist() == ["dataset"]
    assert credits[["artist_id", "artist_position"]].values.tolist() == [[A1, 0], [A2, 1]]
    # The newer file re-landed with other bytes: its rows are replaced.
    info = _land(store, "tracks-2022-01-01.csv", header + f"{T1},Newer,30,1000,0,[],[],2020\n")
    assert info["status"] == "accepted"
    tracks, credits, _ = dataset_tracks(store, tmp_path / "work")
    assert tracks["popularity"].tolist() == [30] and credits.empty
    _land(store, "artists.csv", f"id,followers,genres,name,popularity\n{A1},5.0,['pop'],A,7\n")
    artists, genres, _ = dataset_artists(store, tmp_path / "work")
    assert artists[["artist_id", "followers", "popularity"]].values.tolist() == [[A1, 5, 7]]
    assert genres[["genre", "genre_family"]].values.tolist() == [["pop", "pop"]]


def _api_tracks(popularity, last_seen) -> dict[str, pd.DataFrame]:
    tracks = frame(
        "tracks",
        [
            {"track_id": T1, "track_name": "API", "album_id": "al", "popularity": popularity,
             "first_seen": last_seen, "last_seen": last_seen, "source": "playlist",
             "popularity_source": "playlist" if popularity is not None else None},
        ],
    )  # fmt: skip
    credits = frame("track_artists", [{"track_id": T1, "artist_id": A1, "artist_position": 0}])
    return {"tracks": tracks, "albums": frame("albums", []), "track_artists": credits}


def _dataset_tracks(observed: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    tracks = frame(
        "tracks",
        [
            {"track_id": tid, "track_name": "DS", "popularity": pop, "duration_ms": 1000,
             "primary_artist_id": A2, "first_seen": observed, "last_seen": observed,
             "source": "dataset"}
            for tid, pop in ((T1, 50), (T2, 60))
        ],
    )  # fmt: skip
    credits = frame(
        "track_artists",
        [{"track_id": t, "artist_id": A2, "artist_position": 0} for t in (T1, T2)],
    )
    return tracks, credits


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
    api_popularity, api_seen, observed, popularity, source
):
    merged = merge_dataset_tracks(_api_tracks(api_popularity, api_seen), *_dataset_tracks(observed))
    tracks = merged["tracks"].set_index("track_id")
    assert (tracks.loc[T1, "popularity"], tracks.loc[T1, "popularity_source"]) == (
        popularity,
        source,
    )
    # The API's row keeps its album, name and credits; the dataset-only track is added.
    assert (tracks.loc[T1, "album_id"], tracks.loc[T1, "track_name"]) == ("al", "API")
    assert tracks.loc[T1, "source"] == "playlist"
    assert (tracks.loc[T2, "source"], tracks.loc[T2, "popularity"]) == ("dataset", 60)
    assert pd.isna(tracks.loc[T2, "album_id"])
    credits = merged["track_artists"]
    assert credits.loc[credits["track_id"] == T1, "artist_id"].tolist() == [A1]
    assert credits.loc[credits["track_id"] == T2, "artist_id"].tolist() == [A2]


def test_artist_followers_popularity_and_genres_from_the_newest_observation_that_has_them():
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
    ds = frame(
        "artists",
        [
            {"artist_id": a, "artist_name": n, "followers": f, "popularity": p,
             "fetched_at": "2021-01-01", "source": "dataset"}
            for a, n, f, p in ((A1, "Uno", 10, 5), (A2, "Dos", 20, 6), (A3, "Tres", None, 7))
        ],
    )  # fmt: skip
    ds_genres = frame(
        "artist_genres",
        [
            {"artist_id": A2, "genre": "dance pop", "genre_family": "pop"},
            {"artist_id": A3, "genre": "metal", "genre_family": "metal"},
        ],
    )
    artists, genres = merge_dataset_artists(api, api_genres, ds, ds_genres)
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
    assert got.loc[A3, ["source", "popularity", "popularity_source"]].tolist() == [
        "dataset",
        7,
        "dataset",
    ]
    assert pd.isna(got.loc[A3, "followers"]) and pd.isna(got.loc[A3, "followers_source"])
    assert sorted(map(tuple, genres[["artist_id", "genre"]].values.tolist())) == sorted(
        [(A1, "rock"), (A2, "pop"), (A3, "metal")]
    )


def test_sample_world_dataset_is_deterministic_and_reads_clean(tiny_world):
    files = sample_dataset_files(tiny_world)
    assert files == sample_dataset_files(tiny_world)
    day = tiny_world.history_end.date().isoformat()
    assert sorted(files) == [f"artists-{day}.csv", f"tracks-{day}.csv"]
    artists = parse(files[f"artists-{day}.csv"], name=f"artists-{day}.csv")
    tracks = parse(files[f"tracks-{day}.csv"], name=f"tracks-{day}.csv")
    assert not artists.rejected and not tracks.rejected and "nulled" not in tracks.info
    assert artists.table.num_rows == len(tiny_world.artists)
    released = tiny_world.tracks["release_ts"] <= tiny_world.history_end
    assert tracks.table.num_rows == int(released.sum())
    row = artists.table.to_pylist()[0]
    at = tiny_world.history_end.to_pydatetime()
    assert row["followers"] == int(tiny_world.artist_followers_at([row["artist_id"]], at)[0])
    assert row["genres"] == list(tiny_world.artists["genres"].iloc[0])


def test_the_hugging_face_tracks_dataset_names_joined_by_semicolons_and_rows_per_genre():
    # maharshipandya/spotify-tracks-dataset (114,000 rows, one per track and genre): an
    # unnamed index column, `artists` as names joined by ';', no id_artists, `track_genre`.
    header = (
        ",track_id,artists,album_name,track_name,popularity,duration_ms,explicit,danceability,"
        "energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,"
        "tempo,time_signature,track_genre\n"
    )
    rows = (
        f"0,{T1},Gen Hoshino,Comedy,Comedy,73,230666,False,0.676,0.461,1,-6.746,0,0.143,"
        "0.0322,1.01e-06,0.358,0.715,87.917,4,acoustic\n"
        f"1,{T2},Ingrid Michaelson;ZAYN,To Begin Again,To Begin Again,57,210826,False,0.438,"
        "0.359,0,-9.734,1,0.0557,0.21,0.0,0.117,0.12,76.332,4,acoustic\n"
        # the same track again under another genre: a duplicate, not a bad row
        f"2,{T1},Gen Hoshino,Comedy,Comedy,73,230666,False,0.676,0.461,1,-6.746,0,0.143,"
        "0.0322,1.01e-06,0.358,0.715,87.917,4,j-pop\n"
        # the same id with other values: a repeat that is rejected
        f"3,{T2},Ingrid Michaelson;ZAYN,To Begin Again,To Begin Again,12,210826,False,0.438,"
        "0.359,0,-9.734,1,0.0557,0.21,0.0,0.117,0.12,76.332,4,pop\n"
        f'4,{T3},"[\'Broken list",X,Y,5,1000,False,,,,,,,,,,,,4,pop\n'
    )
    parsed = parse(header + rows)
    got = {r["track_id"]: r for r in parsed.table.to_pylist()}
    assert parsed.info["kind"] == "tracks" and parsed.info["duplicate_rows"] == 1
    assert got[T1]["artist_names"] == ["Gen Hoshino"] and got[T1]["artist_ids"] == []
    assert got[T2]["artist_names"] == ["Ingrid Michaelson", "ZAYN"]
    assert (got[T1]["popularity"], got[T1]["duration_ms"], got[T1]["explicit"]) == (
        73,
        230666,
        False,
    )
    assert [(r.record_index, r.reason.split(" (")[0]) for r in parsed.rejected] == [
        (5, "the id repeats line 3"),
        (6, "artists '['Broken list' is not a list"),
    ]
    assert parsed.info["records"] == 4  # five rows, one of them an exact duplicate
