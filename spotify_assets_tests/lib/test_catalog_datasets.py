"""Catalog dataset CSVs (lib/catalog/datasets.py): the artists and tracks formats and their
variants, bad rows with their lines, what is not a dataset, the observation time, reading the
real-shaped files people published (spreadsheet re-saves included)."""

from __future__ import annotations

import codecs
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from spotify_assets.lib.catalog.datasets import parse_dataset_file
from spotify_assets.lib.landing import BadFile, NotIngested
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


# -- real-shaped files ------------------------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "catalog_datasets"
#: file -> how an independent reader (pandas, told the format) reads it.
TRACK_FILES = {
    "tracks.csv": {"sep": ","},
    "tracks.tsv": {"sep": "\t"},
    "tracks_excel_de.csv": {
        "sep": ";",
        "decimal": ",",
        "encoding": "utf-8-sig",
        "dates": "%d.%m.%Y",
    },
    "tracks_excel_us.csv": {"sep": ",", "encoding": "cp1252", "dates": "%m/%d/%Y"},
    "dataset.csv": {"sep": ","},
    "tracks_features.csv": {"sep": ","},
}


def independent_tracks(name: str) -> pd.DataFrame:
    """The tracks of a fixture as pandas and ``ast`` read them, knowing the file's format:
    one row per id (the first), ids, popularity, duration (0 is none), credits, ISO date."""
    import ast

    how = TRACK_FILES[name]
    df = pd.read_csv(
        FIXTURES / name, sep=how["sep"], decimal=how.get("decimal", "."),
        encoding=how.get("encoding", "utf-8"), dtype=str, keep_default_na=False,
    )  # fmt: skip
    rows = len(df)
    df = df.rename(columns={"track_id": "id", "track_name": "name", "artist_ids": "id_artists"})
    df = df.drop_duplicates("id")
    out = pd.DataFrame({"track_id": df["id"], "track_name": df["name"].replace("", None)})
    if "popularity" in df:
        out["popularity"] = pd.to_numeric(df["popularity"]).astype("Int64")
    duration = pd.to_numeric(df["duration_ms"]).astype("Int64")
    out["duration_ms"] = duration.where(duration > 0)
    ids = df["id_artists"] if "id_artists" in df else pd.Series("[]", index=df.index)
    out["artist_ids"] = [ast.literal_eval(v) if v else [] for v in ids]
    if "release_date" in df:
        dates = df["release_date"]
        if "dates" in how:  # a year alone stays as it is
            full = pd.to_datetime(dates, format=how["dates"], errors="coerce")
            dates = full.dt.strftime("%Y-%m-%d").where(full.notna(), dates)
        out["release_date"] = dates  # Spotify's 0000 too (its release_year is null)
    out["energy"] = pd.to_numeric(df["energy"].str.replace(",", "."))
    out.attrs["rows"] = rows
    return out.reset_index(drop=True)


def plain(values: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in values]


@pytest.mark.parametrize("name", sorted(TRACK_FILES))
def test_real_shaped_tracks_files_read_as_an_independent_reading_finds_them(name):
    data = (FIXTURES / name).read_bytes()
    parsed = parse(data, name=name)
    got = parsed.table.to_pandas()
    want = independent_tracks(name)
    assert got["track_id"].tolist() == want["track_id"].tolist()
    assert not parsed.rejected, parsed.rejected
    # Every row is accounted for: read, or a duplicate of one read.
    assert parsed.info["records"] == len(want)
    assert parsed.info["records"] + parsed.info.get("duplicate_rows", 0) == want.attrs["rows"]
    for column in ("track_name", "popularity", "duration_ms", "release_date"):
        if column in want:
            assert plain(got[column]) == plain(want[column]), column
    assert [list(v) for v in got["artist_ids"]] == want["artist_ids"].tolist()
    assert got["energy"].tolist() == pytest.approx(want["energy"].tolist())


def test_spreadsheet_re_saves_say_what_they_were_read_as():
    de = parse((FIXTURES / "tracks_excel_de.csv").read_bytes(), name="de.csv").info
    assert (de["delimiter"], de["release_date_form"]) == (";", "D.M.YYYY")
    us = parse((FIXTURES / "tracks_excel_us.csv").read_bytes(), name="us.csv").info
    assert (us["encoding"], us["release_date_form"]) == ("cp1252", "M/D/YYYY")
    # A slash date whose first part exceeds 12 shows the file is day first.
    day_first = parse(
        "id,name,popularity,artists,release_date\n"
        f"{T1},A,1,['A'],22/02/1922\n{T2},B,1,['B'],01/06/1922\n"
    )
    assert day_first.table.column("release_date").to_pylist() == ["1922-02-22", "1922-06-01"]
    assert day_first.info["release_date_form"] == "D/M/YYYY"


def test_the_114k_track_datasets_empty_row_keeps_its_features_without_a_duration():
    parsed = parse((FIXTURES / "dataset.csv").read_bytes(), name="dataset.csv")
    row = next(r for r in parsed.table.to_pylist() if r["track_id"] == "1kR4gIb7nGxHPI3D2ifs59")
    assert row["duration_ms"] is None and row["artist_names"] == [] and row["energy"] == 0.583
    assert parsed.info["nulled"] == {"duration_ms": 1}
    assert parsed.info["duplicate_rows"] == 1  # I'm Yours, under acoustic and folk


def test_names_in_brackets_quotes_and_lists_are_names():
    parsed = parse(
        "id,name,popularity,artists\n"
        f"{T1},Wataridori,49,[Alexandros]\n"
        f'{T2},Helpless,52,"Crosby, Stills, Nash & Young"\n'
        f'{T3},Word Crimes,55,"[\'""Weird Al"" Yankovic\']"\n'
    )
    names = {r["track_id"]: r["artist_names"] for r in parsed.table.to_pylist()}
    assert names == {
        T1: ["[Alexandros]"],
        T2: ["Crosby, Stills, Nash & Young"],
        T3: ['"Weird Al" Yankovic'],
    }
    broken = parse(f'id,name,popularity,artists\n{T1},X,1,"[\'unclosed"\n')
    assert [r.reason.endswith("is not a list") for r in broken.rejected] == [True]


def test_an_unknown_separator_is_named_in_the_reason():
    text = "id_name_popularity_duration_ms_artists\n" + f"{T1}_A_1_1000_B\n"
    with pytest.raises(NotIngested, match="separated by '_'.*save it again"):
        parse(text)


def test_a_file_of_another_dataset_is_not_ingested_with_the_columns_it_lacks():
    with pytest.raises(NotIngested, match="not a catalog dataset"):
        parse((FIXTURES / "spotify-2023.csv").read_bytes(), name="spotify-2023.csv")
