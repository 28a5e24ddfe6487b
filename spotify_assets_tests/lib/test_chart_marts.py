"""core.chart_entries (deduplication of a chart landed twice) and the chart marts, on a small
hand-checked set of charts parsed from CSV text."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pyarrow.parquet as pq
import pytest

from spotify_assets.lib.landing import ProcessedFile
from spotify_assets.lib.marts.chart_marts import MARTS, REACH_BITS
from spotify_assets.lib.marts.run import build_marts
from spotify_assets.lib.spotify_charts import parse_chart_file
from spotify_assets.lib.spotify_charts.chart_entries import build_chart_entries

HEADER = "rank,uri,artist_names,track_name,source,peak_rank,previous_rank,days_on_chart,streams"
IDS = {k: k * 22 for k in "ABCDE"}


def written(tmp_path, name: str, parsed) -> ProcessedFile:
    """The parsed file as the processed area holds it: its own Parquet."""
    path = tmp_path / f"{name}.parquet"
    pq.write_table(parsed.table, path)
    return ProcessedFile(parsed.table["source_file"][0].as_py(), str(path), "v")


def chart_csv(rows: list[tuple[int, str, int]], artists: dict[str, str] | None = None) -> bytes:
    artists = artists or {}
    lines = [HEADER] + [
        f'{rank},spotify:track:{IDS[t]},"{artists.get(t, "Artist " + t)}",Song {t},L,1,1,1,{s}'
        for rank, t, s in rows
    ]
    return ("\ufeff" + "\n".join(lines) + "\n").encode()


# name -> rows (rank, track, streams); listed oldest landed first
FILES = {
    "regional-global-daily-2024-01-01.csv": [(1, "A", 100), (2, "B", 80), (3, "C", 50)],
    "regional-global-daily-2024-01-02.csv": [(1, "B", 120), (2, "A", 90), (3, "D", 40)],
    # 2024-01-03 never landed
    "regional-global-daily-2024-01-04.csv": [(1, "C", 70), (2, "A", 60)],
    "regional-us-daily-2024-01-01.csv": [(1, "A", 30), (2, "D", 20)],
    # the 2024-01-02 chart landed again later, its rank 3 changed: the newer row wins
    "regional-global-daily-2024-01-02 (1).csv": [(1, "B", 120), (2, "A", 90), (3, "E", 45)],
}


@pytest.fixture
def conn(tmp_path):
    paths = []
    for name, rows in FILES.items():
        artists = {"A": "X, Y"} if "-us-" in name else None
        parsed = parse_chart_file(
            chart_csv(rows, artists), name=name, source_file=f"landing/charts/{name}"
        )
        paths.append(written(tmp_path, name, parsed))
    con = duckdb.connect()
    assert build_chart_entries(con, paths) == 3 + 3 + 2 + 2
    build_marts(con, MARTS)
    yield con
    con.close()


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_the_same_chart_landed_twice_counts_once_newest_file_wins(conn):
    got = rows(
        conn,
        "select rank, track_id, source_file from core.chart_entries "
        "where region = 'global' and period_start = date '2024-01-02' order by rank",
    )
    newer = "landing/charts/regional-global-daily-2024-01-02 (1).csv"
    assert [(r, t[0]) for r, t, _ in got] == [(1, "B"), (2, "A"), (3, "E")]
    assert {s for *_, s in got} == {newer}
    # keys are unique
    assert rows(
        conn,
        "select count(*) - count(distinct (region, chart, period_start, rank)) "
        "from core.chart_entries",
    ) == [(0,)]


def test_landed_at_decides_which_file_is_newest(tmp_path):
    old = "regional-global-daily-2024-01-02.csv"
    new = "regional-global-daily-2024-01-02 (1).csv"
    paths = []
    for name in (old, new):
        parsed = parse_chart_file(
            chart_csv(FILES[name]), name=name, source_file=f"landing/charts/{name}"
        )
        paths.append(written(tmp_path, name, parsed))
    con = duckdb.connect()
    # the file listed last landed first: its rank 3 (E) loses to D
    build_chart_entries(
        con,
        paths,
        landed_at={
            f"landing/charts/{old}": datetime(2024, 2, 1),
            f"landing/charts/{new}": datetime(2024, 1, 5),
        },
    )
    assert rows(con, "select track_id from core.chart_entries where rank = 3") == [(IDS["D"],)]


def test_no_files_give_an_empty_table_with_the_schema():
    con = duckdb.connect()
    assert build_chart_entries(con, []) == 0
    cols = [r[0] for r in rows(con, "describe core.chart_entries")]
    assert cols[:10] == [
        "region",
        "chart",
        "period_start",
        "period_end",
        "rank",
        "track_id",
        "track_name",
        "artist_names",
        "streams",
        "source_file",
    ]
    build_marts(con, MARTS)  # marts build on no charts
    assert rows(con, "select count(*) from marts.chart_tracks") == [(0,)]


def test_chart_tracks_debut_peak_periods_and_streams(conn):
    got = {
        r[0][0]: r[1:]
        for r in rows(
            conn,
            "select track_id, debut_period_start, debut_rank, peak_rank, peak_period_start, "
            "periods_on_chart, last_period_start, last_rank, total_streams "
            "from marts.chart_tracks where region = 'global' and chart = 'regional-daily'",
        )
    }
    d1, d2, d4 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 4)
    assert got["A"] == (d1, 1, 1, d1, 3, d4, 2, 100 + 90 + 60)
    assert got["B"] == (d1, 2, 1, d2, 2, d2, 1, 80 + 120)
    assert got["C"] == (d1, 3, 1, d4, 2, d4, 1, 50 + 70)
    assert got["E"] == (d2, 3, 3, d2, 1, d2, 3, 45)
    assert "D" not in got  # D's global rank 3 was replaced by the newer file


def test_top_chart_tracks_macro_ranks_a_range_by_streams(conn):
    got = rows(
        conn,
        "select rank, track_id, streams, periods_on_chart, best_rank from "
        "marts.top_chart_tracks('global', 'regional-daily', '2024-01-01', '2024-01-04', 2)",
    )
    assert got == [(1, IDS["A"], 250, 3, 1), (2, IDS["B"], 200, 2, 1)]
    one_day = rows(
        conn,
        "select track_id, streams from "
        "marts.top_chart_tracks('global', 'regional-daily', '2024-01-02', '2024-01-02', 100)",
    )
    assert one_day == [(IDS["B"], 120), (IDS["A"], 90), (IDS["E"], 45)]


def test_chart_movement_against_the_previous_period_when_it_landed(conn):
    got = rows(
        conn,
        "select period_start, track_id, previous_rank, rank_change, streams_change, movement "
        "from marts.chart_movement where region = 'global' order by period_start, rank",
    )
    d1, d2, d4 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 4)
    assert got == [
        # the first landed day: no previous chart, movement unknown
        (d1, IDS["A"], None, None, None, None),
        (d1, IDS["B"], None, None, None, None),
        (d1, IDS["C"], None, None, None, None),
        (d2, IDS["B"], 2, 1, 40, "up"),
        (d2, IDS["A"], 1, -1, -10, "down"),
        (d2, IDS["E"], None, None, None, "new"),
        # 2024-01-03 never landed: unknown again, not "new"
        (d4, IDS["C"], None, None, None, None),
        (d4, IDS["A"], None, None, None, None),
    ]


def test_chart_reach_counts_country_charts_not_global(conn):
    got = {
        r[0][0]: r[1:]
        for r in rows(
            conn,
            "select track_id, regions, region_list, best_regional_rank, global_rank, "
            "regional_streams from marts.chart_reach where period_start = date '2024-01-01'",
        )
    }
    assert got["A"] == (1, "us", 1, 1, 30)
    assert got["D"] == (1, "us", 2, None, 20)
    assert got["B"] == (0, None, None, 2, None)


def test_chart_reach_names_a_track_as_the_global_chart_else_its_best_entry(conn):
    # A is "X, Y" on the US chart and "Artist A" on the global one: the global's name.
    assert rows(
        conn,
        "select artist_names from marts.chart_reach "
        "where track_id = 'AAAAAAAAAAAAAAAAAAAAAA' and period_start = date '2024-01-01'",
    ) == [("Artist A",)]
    # Without a global row, the best rank; two country charts at one rank: the first region.
    conn.execute("delete from core.chart_entries where region = 'global'")
    template = "select * replace ('{r}' as region, '{a}' as artist_names) from core.chart_entries"
    for region, artist in (("fr", "F"), ("de", "D")):
        conn.execute(
            "insert into core.chart_entries "
            + template.format(r=region, a=artist)
            + " where region = 'us' and period_start = date '2024-01-01'"
        )
    build_marts(conn, MARTS)
    got = rows(
        conn,
        "select artist_names, regions, region_list from marts.chart_reach "
        "where track_id = 'AAAAAAAAAAAAAAAAAAAAAA' and period_start = date '2024-01-01'",
    )
    assert got == [("D", 3, "de,fr,us")]


@pytest.mark.parametrize("n", [2, REACH_BITS, REACH_BITS + 1, 300])
def test_chart_reach_lists_the_countries_of_any_number_of_country_charts(conn, n):
    # Up to REACH_BITS codes they are bits of one integer, beyond that a list: the same rows.
    codes = [a + b for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijklmnopqrstuvwxyz"]
    codes = sorted(codes[::-1][:n])
    conn.execute(
        "create or replace temp table one as select * from core.chart_entries "
        "where region = 'us' and track_id = 'AAAAAAAAAAAAAAAAAAAAAA'"
    )
    conn.execute("delete from core.chart_entries")
    on_chart = [("A", c) for c in codes] + [("B", c) for c in codes[1::2]] + [("C", "global")]
    conn.executemany(
        "insert into core.chart_entries select * replace (? as region, ? as track_id, "
        "? as rank) from one",
        [(region, IDS[t], i % 50 + 1) for i, (t, region) in enumerate(on_chart)],
    )
    build_marts(conn, [m for m in MARTS if m.name == "chart_reach"])
    got = {
        r[0][0]: r[1:]
        for r in rows(conn, "select track_id, regions, region_list from marts.chart_reach")
    }
    assert got == {
        "A": (n, ",".join(codes)),
        "B": (len(codes[1::2]), ",".join(codes[1::2]) or None),
        "C": (0, None),
    }


def test_chart_artists_split_names_and_credit_full_streams(conn):
    us = rows(
        conn,
        "select artist_rank, artist_name, chart_streams, entries, tracks, best_rank "
        "from marts.chart_artists where region = 'us' order by artist_rank",
    )
    assert us == [(1, "X", 30, 1, 1, 1), (2, "Y", 30, 1, 1, 1), (3, "Artist D", 20, 1, 1, 2)]
    top = rows(
        conn,
        "select artist_name, chart_streams from marts.chart_artists "
        "where region = 'global' and artist_rank = 1",
    )
    assert top == [("Artist A", 250)]


def test_every_mart_key_is_unique_and_charts_and_headline_query(conn):
    from spotify_assets.lib.marts.run import headline, plot_frame

    for mart in MARTS:
        key = ", ".join(mart.key)
        dupes = rows(conn, f"select count(*) - count(distinct ({key})) from {mart.table}")
        assert dupes == [(0,)], mart.name
        cols = [r[0] for r in rows(conn, f"describe {mart.table}")]
        assert cols == list(mart.columns), mart.name
        for chart in mart.plots:
            assert len(plot_frame(conn, mart, chart)) > 0, (mart.name, chart.title)
    assert headline(conn, MARTS[0])["charted tracks"] == 5


# ------------------------------------------------------------------------- the sample world


def test_sample_charts_are_deterministic_parse_cleanly_and_feed_every_mart(tmp_path):
    from spotify_assets.lib.sample.world import build_world
    from spotify_assets.lib.sample.world.charts import write_sample_charts

    world = build_world("tiny", 7)
    first = write_sample_charts(tmp_path / "a", world, regions=("global", "us"), days=10)
    again = write_sample_charts(tmp_path / "b", 7, scale="tiny", regions=("global", "us"), days=10)
    assert [p.name for p in first] == [p.name for p in again]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(first, again, strict=True))
    names = [p.name for p in first]
    assert len(names) == 2 * 10 + 2
    old = [n for n in names if "weekly" in n]
    assert len(old) == 1 and "--" in old[0]

    paths, formats = [], set()
    for p in first:
        parsed = parse_chart_file(p.read_bytes(), name=p.name, source_file=p.name)
        assert not parsed.rejected, p.name
        formats.add(parsed.info["format"])
        paths.append(written(tmp_path, p.name, parsed))
    assert formats == {"charts.spotify.com", "spotifycharts.com"}
    con = duckdb.connect()
    build_chart_entries(con, paths)
    build_marts(con, MARTS)
    ids = set(world.tracks["track_id"])
    charted = {r[0] for r in rows(con, "select distinct track_id from core.chart_entries")}
    assert charted <= ids
    # consistent with the world: its chart-toppers are its most streamed tracks
    top = rows(
        con,
        "select track_id from marts.chart_tracks where region = 'global' "
        "and chart = 'regional-daily' order by total_streams desc limit 1",
    )[0][0]
    heaviest = set(world.tracks.nlargest(20, "stream_weight")["track_id"])
    assert top in heaviest
    movement = {r[0] for r in rows(con, "select distinct movement from marts.chart_movement")}
    assert {"up", "down"} <= movement
    assert rows(con, "select max(regions) from marts.chart_reach") == [(1,)]
