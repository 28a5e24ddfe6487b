"""The Kaggle all-in-one ``charts.csv`` (dhruvildave): recognised by its header under any name
(the whole file, a per-year split, a pandas re-save with its index column), read as it streams
into chart entries equal to an independent pandas reading, bad rows rejected with line and
reason, rows' lines right whatever the blocks, repeated ranks found, region names mapped."""

from __future__ import annotations

import codecs
import io
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from spotify_assets.lib.landing import BadFile, LandedContext
from spotify_assets.lib.spotify_charts import kaggle_charts
from spotify_assets.lib.spotify_charts.chart_files import CHART_ENTRIES_SCHEMA
from spotify_assets.lib.spotify_charts.kaggle_charts import (
    KAGGLE_FORMAT,
    kaggle_stream,
    parse_kaggle_charts,
)
from spotify_assets.lib.spotify_charts.regions import CHART_REGIONS, region_code
from spotify_assets_tests.support.charts import independent

FIXTURES = Path(__file__).parent / "fixtures" / "charts"
KAGGLE = FIXTURES / "kaggle"
HEADER = "title,rank,date,artist,url,region,chart,trend,streams"
TRACK = "https://open.spotify.com/track/6mICuAdrwEjh6Y6lroV2Kg"

COLUMNS = [
    "region", "chart", "period_start", "period_end", "rank", "track_id", "track_name",
    "artist_names", "streams", "line",
]  # fmt: skip


def parse(data: bytes, tmp_path: Path, name: str = "charts.csv", **kw):
    work = tmp_path / f"work-{len(list(tmp_path.glob('work-*')))}"
    work.mkdir()
    return parse_kaggle_charts(io.BytesIO(data), work, source_file=name, **kw)


def entries(parsed) -> list[tuple]:
    table = pq.read_table(parsed.rows)
    return sorted(tuple(r[c] for c in COLUMNS) for r in table.to_pylist())


def rejected(parsed) -> list[tuple[int, str]]:
    if parsed.rejected is None:
        return []
    return [(r["record_index"], r["reason"]) for r in pq.read_table(parsed.rejected).to_pylist()]


def context(name: str) -> LandedContext:
    return LandedContext(name, name, None, None, None)


# ----------------------------------------------------------------------------- recognition


@pytest.mark.parametrize("fixture", ["charts.csv", "charts_2017.csv"])
@pytest.mark.parametrize(
    "name", ["charts.csv", "spotify/charts_2017.csv", "export.txt", "regional-gb-daily-x.csv"]
)
def test_recognised_by_its_header_whatever_its_name(fixture, name):
    head = (KAGGLE / fixture).read_bytes()[:1000]
    assert kaggle_stream(head, context(name)) is not None
    assert kaggle_stream(codecs.BOM_UTF8 + head, context(name)) is not None


@pytest.mark.parametrize(
    "fixture",
    [
        "regional-global-daily-2023-06-01.csv",  # charts.spotify.com
        "regional-global-daily-2019-12-20.csv",  # spotifycharts.com
        "viral-global-daily-2024-10-31.csv",
    ],
)
def test_the_sites_own_chart_files_are_not_this_format(fixture):
    assert kaggle_stream((FIXTURES / fixture).read_bytes(), context(fixture)) is None


def test_a_header_missing_a_column_is_not_this_format():
    head = HEADER.replace(",trend", "").encode() + b"\n"
    assert kaggle_stream(head, context("charts.csv")) is None


# -------------------------------------------------------------------------------------- rows


@pytest.mark.parametrize("fixture", ["charts.csv", "charts_2017.csv"])
def test_rows_are_an_independent_pandas_reading(fixture, tmp_path):
    path = KAGGLE / fixture
    parsed = parse(path.read_bytes(), tmp_path, f"landing/charts/{fixture}")
    want_rows, want_bad = independent(path)
    assert entries(parsed) == want_rows
    assert [line for line, _ in rejected(parsed)] == want_bad
    table = pq.read_table(parsed.rows)
    assert table.schema.equals(CHART_ENTRIES_SCHEMA)
    assert set(table.column("source_file").to_pylist()) == {f"landing/charts/{fixture}"}
    assert set(table.column("source_format").to_pylist()) == {KAGGLE_FORMAT}
    info = parsed.info
    assert (info["accepted"], info["rejected"]) == (len(want_rows), len(want_bad))
    assert info["records"] == len(want_rows) + len(want_bad)
    assert info["streams"] == sum(r[8] or 0 for r in want_rows)
    assert info["period_start"] == min(r[2] for r in want_rows).isoformat()


def test_the_fixture_covers_what_it_should(tmp_path):
    """The real-shaped fixture has what the format brings: regions by name (United Kingdom,
    Global...), both charts, quoted artists, empty streams, and bad rows of each kind."""
    parsed = parse((KAGGLE / "charts.csv").read_bytes(), tmp_path)
    got = entries(parsed)
    assert {r[0] for r in got} == {"ar", "global", "gb", "cz", "hk", "us"}
    assert {r[1] for r in got} == {"regional-daily", "viral-daily"}
    assert ("J Balvin, Pharrell Williams, BIA, Sky") in {r[7] for r in got}
    viral = [r for r in got if r[1] == "viral-daily"]
    assert viral and all(r[8] is None for r in viral)
    assert rejected(parsed) == [
        (45, "no streams"),
        (50, "no track id in url 'https://open.spotify.com/album/2ODvWsOgouMbaA5xf0RkJe'"),
        (53, "region 'Atlantis' is not a chart region (spotifycharts.com's, spelled out)"),
        (54, "rank 2 of cz regional-daily 2017-01-01 repeats line 49"),
    ]
    excerpts = pq.read_table(parsed.rejected).column("raw_excerpt").to_pylist()
    assert excerpts[0].startswith("Human,4,2017-01-01,Rag'n'Bone Man,")
    assert parsed.info["charts"] == {"regional-daily": 27, "viral-daily": 22}


def test_a_pandas_resave_has_an_index_column_and_float_streams(tmp_path):
    data = (KAGGLE / "charts_2017.csv").read_bytes()
    assert data.startswith(b",title,rank,") and b",238771.0\n" in data
    parsed = parse(data, tmp_path)
    got = {(r[0], r[1], r[4]): r[8] for r in entries(parsed)}
    assert got[("ar", "regional-daily", 1)] == 238771
    assert got[("gb", "regional-daily", 2)] == 1002417
    assert got[("ar", "viral-daily", 1)] is None
    assert parsed.info["extra_columns"] == ["(unnamed index column)"]


def test_lines_are_the_same_whatever_the_blocks(tmp_path):
    data = (KAGGLE / "charts.csv").read_bytes()
    whole = parse(data, tmp_path)
    tiny = parse(data, tmp_path, block_bytes=300)  # a block of about two lines
    assert entries(tiny) == entries(whole)
    assert rejected(tiny) == rejected(whole)
    assert tiny.info == whole.info


def test_odd_lines_are_read_line_by_line_with_their_numbers(tmp_path):
    rows = [
        HEADER,
        f"A,1,2017-01-01,X,{TRACK},Global,top200,SAME_POSITION,10",
        "",  # a blank line: skipped, counted
        f"B,2,2017-01-01,X,{TRACK},Global,top200,MOVE_UP",  # a field short
        f'"C\nD",3,2017-01-01,X,{TRACK},Global,top200,MOVE_UP,8',  # a line break in a name
        f"E,4,2017-01-01,X,{TRACK},Global,top200,MOVE_UP,7",
    ]
    data = "\r\n".join(rows).encode() + b"\r\n"
    data += f"Se\xf1orita,5,2017-01-01,X,{TRACK},Global,top200,NEW_ENTRY,6\n".encode("cp1252")
    parsed = parse(data, tmp_path)
    got = [(r[4], r[6], r[8], r[9]) for r in entries(parsed)]
    assert got == [(1, "A", 10, 2), (4, "E", 7, 7), (5, "Señorita", 6, 8)]
    assert rejected(parsed) == [
        (4, "8 fields where the header has 9"),
        (5, "a line break inside a quoted field (lines 5-6)"),
    ]
    assert parsed.info["blank_lines"] == 1 and parsed.info["cp1252_lines"] == 1


def test_blank_lines_alone_keep_the_fast_read_and_the_line_numbers(tmp_path):
    data = (
        (KAGGLE / "charts.csv")
        .read_bytes()
        .replace(b"\nStarboy,1,2017-01-02", b"\n\n\r\nStarboy,1,2017-01-02")
    )
    parsed = parse(data + b"\n\n", tmp_path)
    lines = {r[6]: r[9] for r in entries(parsed) if r[2] == date(2017, 1, 2)}
    assert lines["Starboy"] == 29  # two lines later than in the fixture
    assert parsed.info["blank_lines"] == 4
    assert "blocks_read_line_by_line" not in parsed.info


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (f"A,0,2017-01-01,X,{TRACK},Global,top200,SAME_POSITION,10", "rank '0' is not"),
        (f"A,x,2017-01-01,X,{TRACK},Global,top200,SAME_POSITION,10", "rank 'x' is not"),
        (f"A,,2017-01-01,X,{TRACK},Global,top200,SAME_POSITION,10", "no rank"),
        (f"A,1,2017-02-30,X,{TRACK},Global,top200,SAME_POSITION,10", "date '2017-02-30'"),
        (f"A,1,1.1.2017,X,{TRACK},Global,top200,SAME_POSITION,10", "date '1.1.2017'"),
        (f"A,1,2017-01-01,X,{TRACK},,top200,SAME_POSITION,10", "no region"),
        (f"A,1,2017-01-01,X,{TRACK},Global,top50,SAME_POSITION,10", "chart 'top50' is"),
        (f"A,1,2017-01-01,X,{TRACK[:-1]},Global,top200,SAME_POSITION,10", "no track id"),
        (f"A,1,2017-01-01,X,{TRACK},Global,top200,SAME_POSITION,-3", "streams '-3' is not"),
        (f"A,1,2017-01-01,X,{TRACK},Global,top200,SAME_POSITION,1.5", "streams '1.5' is not"),
    ],
)
def test_a_bad_row_is_rejected_with_its_line_and_reason(row, reason, tmp_path):
    good = f"B,2,2017-01-01,X,{TRACK},Global,top200,SAME_POSITION,10"
    parsed = parse(f"{HEADER}\n{good}\n{row}\n".encode(), tmp_path)
    [(line, why)] = rejected(parsed)
    assert line == 3 and why.startswith(reason)
    assert [r[4] for r in entries(parsed)] == [2]


def test_other_track_link_spellings_and_viral_streams(tmp_path):
    rows = [
        HEADER,
        f"A,1,2017-01-01,X,{TRACK}?si=abc,Global,top200,SAME_POSITION,10",
        "B,2,2017-01-01,X,spotify:track:7DM4BPaS7uofFul3ywMe46,Global,top200,MOVE_UP,9",
        f"C,1,2017-01-01,X,{TRACK},Global,viral50,MOVE_UP,12",  # viral: no streams kept
        f"D,1,2017-01-01,X,{TRACK},UNITED KINGDOM ,top200,MOVE_UP,1",  # any case, spaces
        f"E,2,2017-01-01,X,{TRACK},gb,top200,MOVE_UP,1",  # the code itself
    ]
    parsed = parse("\n".join(rows).encode(), tmp_path)
    got = [(r[0], r[1], r[4], r[5], r[8]) for r in entries(parsed)]
    assert got == [
        ("gb", "regional-daily", 1, TRACK[-22:], 1),
        ("gb", "regional-daily", 2, TRACK[-22:], 1),
        ("global", "regional-daily", 1, TRACK[-22:], 10),
        ("global", "regional-daily", 2, "7DM4BPaS7uofFul3ywMe46", 9),
        ("global", "viral-daily", 1, TRACK[-22:], None),
    ]
    assert parsed.info["nulled"] == {"streams (viral50 rows have none)": 1}


# ----------------------------------------------------------------------------- repeated ranks


def chart_days(days: int, ranks: int, regions=("Global", "Argentina")) -> bytes:
    lines = [HEADER]
    for region in regions:
        for d in range(1, days + 1):
            for rank in range(1, ranks + 1):
                lines.append(
                    f"T{rank},{rank},2017-01-{d:02d},X,{TRACK},{region},top200,SAME_POSITION,{rank}"
                )
    return ("\n".join(lines) + "\n").encode()


def test_rows_in_chart_order_need_no_second_look(tmp_path, monkeypatch):
    def fail(*_):
        raise AssertionError("looked for repeats in a file whose runs rule them out")

    monkeypatch.setattr(kaggle_charts, "_repeated_lines", fail)
    parsed = parse(chart_days(3, 20), tmp_path, block_bytes=1000)
    assert parsed.info["accepted"] == 2 * 3 * 20 and parsed.rejected is None


def test_a_repeated_rank_anywhere_in_the_file_is_rejected(tmp_path):
    data = chart_days(3, 20)
    repeat = f"Again,7,2017-01-02,X,{TRACK},Argentina,top200,SAME_POSITION,1\n".encode()
    parsed = parse(data + repeat, tmp_path, block_bytes=1000)
    first = 2 + 60 + 20 + 6  # Global's 60 rows, then Argentina's first day, then rank 7
    assert rejected(parsed) == [
        (122, f"rank 7 of ar regional-daily 2017-01-02 repeats line {first}")
    ]
    assert parsed.info["accepted"] == 120
    assert [r for r in entries(parsed) if r[9] == 122] == []


def test_repeats_are_ruled_out_by_disjoint_runs_only():
    repeats = kaggle_charts._Repeats()
    key = np.full(4, 5 << 24)
    repeats.add(key, np.array([1, 2, 3, 4]))
    repeats.add(key, np.array([5, 6, 7, 8]))  # the same chart-day goes on
    repeats.add(key + 1, np.array([1, 2, 3, 4]))  # another chart-day
    assert not repeats.possible
    repeats.add(key, np.array([8, 9, 10, 11]))  # overlaps ranks 5-8
    assert repeats.possible
    unsorted = kaggle_charts._Repeats()
    unsorted.add(key, np.array([1, 3, 2, 4]))  # ranks not rising: cannot tell
    assert unsorted.possible


# ------------------------------------------------------------------------------------ files


def test_a_header_only_file_has_no_rows(tmp_path):
    parsed = parse(HEADER.encode(), tmp_path)
    assert parsed.info["records"] == 0 and pq.read_table(parsed.rows).num_rows == 0


def test_utf16_and_old_mac_line_ends_are_bad_files_saying_what_to_do(tmp_path):
    data = (KAGGLE / "charts.csv").read_bytes()
    utf16 = codecs.BOM_UTF16_LE + data.decode().encode("utf-16-le")
    parser = kaggle_stream(utf16[:2000], context("charts.csv"))
    with pytest.raises(BadFile, match="UTF-16.*save it as UTF-8"):
        parser(io.BytesIO(utf16), tmp_path)
    with pytest.raises(BadFile, match="carriage returns only"):
        parse(data.replace(b"\n", b"\r"), tmp_path)


# ----------------------------------------------------------------------------------- regions


def test_every_spotifycharts_region_has_its_code():
    assert len(CHART_REGIONS) == 70
    codes = set(CHART_REGIONS.values())
    assert len(codes) == 70 and "global" in codes
    assert all(c == "global" or (len(c) == 2 and c.isalpha() and c.islower()) for c in codes)
    traps = {
        "United Kingdom": "gb", "Czech Republic": "cz", "Hong Kong": "hk", "Taiwan": "tw",
        "South Korea": "kr", "Dominican Republic": "do", "United Arab Emirates": "ae",
        "Saudi Arabia": "sa", "South Africa": "za", "Global": "global", "El Salvador": "sv",
        "Switzerland": "ch", "Austria": "at", "Iceland": "is",
    }  # fmt: skip
    assert {name: region_code(name) for name in traps} == traps
    assert region_code("Atlantis") is None and region_code("UK") == "gb"  # never "uk"
    assert region_code(" united  kingdom ") == "gb" and region_code("GB") == "gb"
