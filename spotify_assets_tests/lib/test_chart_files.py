"""The chart CSV parser: every format variant of charts.spotify.com and spotifycharts.com, the
period read from the file name, encodings, double-encoded names, bad rows and bad files."""

from __future__ import annotations

import codecs
from datetime import date
from pathlib import Path

import pytest

from spotify_assets.lib.landing import BadFile, NotIngested
from spotify_assets.lib.spotify_charts import (
    CHART_ENTRIES_SCHEMA,
    chart_from_name,
    parse_chart_file,
    repair_mojibake,
)

FIXTURES = Path(__file__).parent / "fixtures" / "charts"
NEW_HEADER = "rank,uri,artist_names,track_name,source,peak_rank,previous_rank,days_on_chart,streams"
TRACK = "spotify:track:3rUGC1vUpkDG9CZFHMur1t"


def parse(name: str, data: bytes | None = None):
    if data is None:
        data = (FIXTURES / name).read_bytes()
    return parse_chart_file(data, name=name, source_file=f"landing/charts/{name}")


# --------------------------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "regional-global-daily-2019-12-20.csv",
            ("global", "regional-daily", "2019-12-20", "2019-12-20"),
        ),
        # spotifycharts.com: Friday to the next Friday, the second date exclusive
        (
            "regional-us-weekly-2019-01-04--2019-01-11.csv",
            ("us", "regional-weekly", "2019-01-04", "2019-01-10"),
        ),
        # charts.spotify.com: the Thursday that ends the Friday-to-Thursday week
        (
            "regional-ar-weekly-2026-03-05.csv",
            ("ar", "regional-weekly", "2026-02-27", "2026-03-05"),
        ),
        ("viral-GB-daily-2024-10-31.csv", ("gb", "viral-daily", "2024-10-31", "2024-10-31")),
        (
            "some/folder/regional-global-daily-2023-06-01 (1).csv",
            ("global", "regional-daily", "2023-06-01", "2023-06-01"),
        ),
    ],
)
def test_region_chart_and_period_come_from_the_name(name, expected):
    region, chart, start, end = chart_from_name(name)
    assert (region, chart, start.isoformat(), end.isoformat()) == expected


def test_both_sites_give_the_same_week_the_same_period():
    old = chart_from_name("regional-global-weekly-2016-12-30--2017-01-06.csv")
    new = chart_from_name("regional-global-weekly-2017-01-05.csv")
    assert old == new == ("global", "regional-weekly", date(2016, 12, 30), date(2017, 1, 5))


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("regional-global-daily-latest.csv", ["'latest' is not a date", "rename it"]),
        ("regional-global-daily-2019-02-30.csv", ["not a valid date"]),
        ("regional-us-weekly-2019-01-04--2019-01-25.csv", ["covers 7 days"]),
        ("regional-global-daily-2019-01-04--2019-01-11.csv", ["cannot read a daily chart's date"]),
        ("top-songs.csv", ["not a chart file name", "regional-<region>-daily-<YYYY-MM-DD>.csv"]),
    ],
)
def test_a_chart_whose_name_has_no_usable_date_is_a_bad_file_saying_how_to_name_it(name, words):
    data = (FIXTURES / "regional-global-daily-latest.csv").read_bytes()
    with pytest.raises(BadFile) as err:
        parse(name, data)
    for word in words:
        assert word in err.value.reason
    assert name.rsplit("/", 1)[-1] in err.value.reason


def test_latest_fixture_is_set_aside():
    with pytest.raises(BadFile, match="how|rename"):
        parse("regional-global-daily-latest.csv")


# ------------------------------------------------------------------------------------ formats


def test_new_format_daily_bom_crlf_quoted_numbers_and_multi_artist_names():
    parsed = parse("regional-global-daily-2023-06-01.csv")
    t = parsed.table
    assert t.schema == CHART_ENTRIES_SCHEMA
    assert t.num_rows == 4 and not parsed.rejected
    # independent reading: 7706254 + 6579442 + 5000000 + 4100000
    assert sum(t["streams"].to_pylist()) == 23_385_696 == parsed.info["streams"]
    assert t["rank"].to_pylist() == [1, 2, 3, 4]
    assert t["artist_names"][0].as_py() == "Jung Kook, Latto"
    assert t["artist_names"][2].as_py() == "Ryan Castro, Kapo, Gangsta"
    assert t["track_id"][0].as_py() == "3rUGC1vUpkDG9CZFHMur1t"
    assert t["label"][1].as_py() == "Kemosabe Records/RCA Records"
    assert t["previous_rank"].to_pylist() == [1, 2, None, 3]  # -1: a new entry
    assert t["days_on_chart"].to_pylist() == [52, 31, 1, 120]
    assert t["weeks_on_chart"].null_count == 4
    assert set(t["region"].to_pylist()) == {"global"}
    assert set(t["chart"].to_pylist()) == {"regional-daily"}
    assert set(t["source_file"].to_pylist()) == {
        "landing/charts/regional-global-daily-2023-06-01.csv"
    }
    assert t["line"].to_pylist() == [2, 3, 4, 5]
    assert parsed.info["format"] == "charts.spotify.com"
    assert parsed.info["encoding"] == "utf-8-sig"


def test_new_format_weekly_has_weeks_on_chart_and_the_thursday_week():
    parsed = parse("regional-ar-weekly-2026-03-05.csv")
    t = parsed.table
    assert t.num_rows == 3
    assert sum(t["streams"].to_pylist()) == 1989059 + 1649272 + 1204832
    assert t["weeks_on_chart"].to_pylist() == [9, 61, 15]
    assert t["days_on_chart"].null_count == 3
    assert t["period_start"][0].as_py() == date(2026, 2, 27)
    assert t["period_end"][0].as_py() == date(2026, 3, 5)
    assert t["chart"][0].as_py() == "regional-weekly"


def test_old_format_with_note_line_url_and_double_encoded_name():
    parsed = parse("regional-global-daily-2019-12-20.csv")
    t = parsed.table
    assert t.num_rows == 3 and not parsed.rejected
    assert sum(t["streams"].to_pylist()) == 9876543 + 8765432 + 7654321
    assert t["track_name"].to_pylist() == ["Señorita", "Dance Monkey", "Don’t Start Now"]
    assert t["track_id"].to_pylist()[1] == "1rgnBhdG2JDFTbYkYRZAku"
    assert t["line"].to_pylist() == [3, 4, 5]  # the note is line 1, the header line 2
    assert parsed.info["format"] == "spotifycharts.com"
    assert parsed.info["lines_before_header"] == 1
    assert parsed.info["repaired_values"] == 1
    assert t["peak_rank"].null_count == 3 and t["label"].null_count == 3


def test_old_format_resaved_in_a_legacy_encoding_with_grouped_numbers():
    data = (FIXTURES / "regional-us-weekly-2019-01-04--2019-01-11.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the fixture really is cp1252
    parsed = parse("regional-us-weekly-2019-01-04--2019-01-11.csv")
    t = parsed.table
    assert parsed.info["encoding"] == "cp1252"
    assert t["track_name"].to_pylist() == ["Sweet but Psycho", "Beyoncé Medley"]
    assert t["artist_names"].to_pylist() == ["Ava Max", "Zoé"]
    assert t["streams"].to_pylist() == [1_234_567, 987_654]
    assert (t["period_start"][0].as_py(), t["period_end"][0].as_py()) == (
        date(2019, 1, 4),
        date(2019, 1, 10),
    )


def test_viral_chart_has_no_streams():
    parsed = parse("viral-global-daily-2024-10-31.csv")
    t = parsed.table
    assert t.num_rows == 2
    assert t["streams"].null_count == 2 and parsed.info["streams"] is None
    assert t["chart"][0].as_py() == "viral-daily"


def test_bad_rows_are_rejected_with_line_and_reason_and_good_rows_kept():
    parsed = parse("regional-de-daily-2023-06-01.csv")
    t = parsed.table
    assert t["rank"].to_pylist() == [1, 6]
    assert sum(t["streams"].to_pylist()) == 700_000
    assert t["line"].to_pylist() == [2, 8]
    got = {r.record_index: r.reason for r in parsed.rejected}
    assert got == {
        3: "no rank",
        4: "streams 'n/a' is not a count (a whole number >= 0)",
        5: "no track id in uri 'spotify:local:abc'",
        6: "8 fields where the header has 10",
        7: "rank 1 repeats the rank of line 2",
    }
    assert "Doja Cat" in next(r.raw_excerpt for r in parsed.rejected if r.record_index == 3)
    assert parsed.info["extra_columns"] == ["extra_note"]
    assert parsed.info["records"] == 7 == parsed.info["accepted"] + parsed.info["rejected"]


def test_unknown_extra_columns_and_semicolons_are_accepted():
    data = (
        "Position;Track Name;Artist;Streams;URL;Country\n"
        "1;Canción;Él;1.234.567;https://open.spotify.com/track/2ZyrAym0sRLwt4PhGotHuI;es\n"
    ).encode("cp1252")
    parsed = parse("regional-es-daily-2018-05-01.csv", data)
    assert parsed.table.to_pylist()[0]["track_name"] == "Canción"
    assert parsed.table["streams"].to_pylist() == [1_234_567]
    assert parsed.info["delimiter"] == ";" and parsed.info["extra_columns"] == ["Country"]


def test_utf16_and_a_header_only_file():
    data = f"{NEW_HEADER}\n1,{TRACK},Ёлка,Прованс,X,1,1,3,10\n".encode("utf-16")
    parsed = parse("regional-ru-daily-2021-05-01.csv", data)
    assert parsed.table["artist_names"].to_pylist() == ["Ёлка"]
    empty = parse("regional-ru-daily-2021-05-02.csv", codecs.BOM_UTF8 + NEW_HEADER.encode())
    assert empty.table.num_rows == 0 and empty.info["records"] == 0 and empty.info["streams"] == 0


def test_a_file_mixing_utf8_and_cp1252_lines_reads_both():
    data = (
        f"{NEW_HEADER}\n".encode()
        + f"1,{TRACK},Zoé,Ça va,X,1,1,3,10\n".encode()
        + "2,spotify:track:2ZyrAym0sRLwt4PhGotHuI,Zoé,Déjà,X,1,1,3,5\n".encode("cp1252")
    )
    parsed = parse("regional-fr-daily-2021-05-01.csv", data)
    assert parsed.table["track_name"].to_pylist() == ["Ça va", "Déjà"]
    assert parsed.info["encoding"] == "utf-8+cp1252"


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("SeÃ±orita", "Señorita"),
        ("BeyoncÃ©", "Beyoncé"),
        ("SeÃƒÂ±orita", "Señorita"),  # encoded twice over
        ("Donâ€™t", "Don’t"),
        ("Ã\x81lvaro", "Álvaro"),  # 0x81: undefined in cp1252, kept as Latin-1
        ("NÃO", "NÃO"),  # real Portuguese: not a UTF-8 sequence, untouched
        ("Ça va", "Ça va"),
    ],
)
def test_double_encoded_text_is_repaired_and_real_text_is_not(text, fixed):
    assert repair_mojibake(text) == fixed


def test_a_csv_that_is_not_a_chart_is_not_ingested():
    with pytest.raises(NotIngested, match="not a chart CSV"):
        parse("tracks.csv", b"id,name,popularity\n1,a,3\n")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"<!DOCTYPE html><html><body>Log in</body></html>", "HTML page"),
        (b"\x00\x01binary\x00", "binary"),
        (b"something else entirely\n", "no chart header"),
        (b"\xff\xfe" + "rank".encode("utf-16-le")[:-1], "UTF-16"),
    ],
)
def test_a_file_named_as_a_chart_that_is_not_one_is_a_bad_file(data, words):
    with pytest.raises(BadFile, match=words):
        parse("regional-global-daily-2020-01-01.csv", data)


def test_undecodable_bytes_are_a_bad_file_naming_the_line():
    data = f"{NEW_HEADER}\n1,{TRACK},A,B,X,1,1,3,10\n".encode() + b"2,\x81\x8d\x90,x\n"
    with pytest.raises(BadFile, match="line 3 is neither UTF-8 nor Windows-1252"):
        parse("regional-global-daily-2020-01-01.csv", data)


def test_the_fast_and_the_checked_path_give_the_same_rows():
    clean = (FIXTURES / "regional-global-daily-2023-06-01.csv").read_bytes()
    fast = parse("regional-global-daily-2023-06-01.csv", clean).table
    # one extra bad line sends the file down the checked path; the good rows must not change
    checked = parse("regional-global-daily-2023-06-01.csv", clean + b"x,y\r\n")
    assert len(checked.rejected) == 1 and checked.rejected[0].record_index == 6
    assert checked.table.equals(fast)


def test_old_mac_line_ends_and_tsv_names_are_read():
    from spotify_assets.lib.spotify_charts.chart_files import parse_chart_file

    body = (
        b"rank,uri,artist_names,track_name,source,peak_rank,previous_rank,days_on_chart,streams\r"
        b'1,spotify:track:3rUGC1vUpkDG9CZFHMur1t,"A & B",Seven,L,1,1,5,"100"\r'
        b"2,spotify:track:2IGMVunIBsBLtEQyoI1Mu7,C,Red,L,2,2,3,90\r"
    )
    for name in ("regional-global-daily-2023-06-01.csv", "regional-global-daily-2023-06-01.tsv"):
        data = body if name.endswith(".csv") else body.replace(b",", b"\t").replace(b'"', b"")
        parsed = parse_chart_file(data, name=name, source_file=name)
        assert parsed.table.column("streams").to_pylist() == [100, 90], name
