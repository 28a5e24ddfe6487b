"""The catalog marts on a hand-written catalog (every value checked by hand, the arithmetic in
the comments), with all popularity and followers null, on empty tables, and on the tiny sample
world (core tables made by the real parsers from the fake API's bodies) against invariants and
an independent computation of playlist movement."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from spotify_assets.lib.marts.catalog_marts import MARTS
from spotify_assets.lib.marts.run import build_marts
from spotify_assets_tests.support.warehouse import (
    TINY_WINDOWS as WINDOWS,
)
from spotify_assets_tests.support.warehouse import (
    create_core_tables,
    insert,
    tiny_core_tables,
)

S1 = datetime(2026, 11, 21, 16)
S2 = datetime(2026, 11, 22, 0)  # the latest snapshot: "now" is 2026-11-22

MART_BY_NAME = {m.name: m for m in MARTS}

# Artists: a5 is credited on t6 but missing from core.artists (its fetch failed).
ARTISTS = [
    # name, followers, popularity, [(genre, family)]
    ("a1", "Alpha", 999, 80, [("dance pop", "pop"), ("uk pop", "pop"), ("modern rock", "rock")]),
    ("a2", "Beta", 9, 20, [("trap", "hip hop/r&b")]),
    ("a3", "Gamma", 99, 50, []),  # no genres: family 'other'
    # A tie (one rock, one pop): the family listed first in GENRE_FAMILIES wins, rock.
    ("a4", "Delta", None, None, [("indie rock", "rock"), ("indie pop", "pop")]),
    ("a6", "Zeta", 0, 40, [("pop", "pop")]),
    ("a7", "Eta", 9, 60, [("europop", "pop")]),
]
ALBUMS = [
    # id, name, type, release_date, precision, release_year, total_tracks, artist
    ("al1", "First Light", "album", "2025-11-22", "day", 2025, 10, "a1"),  # 365 days before S2
    ("al2", "Old Tape", "single", "1999", "year", 1999, 2, "a2"),  # 1999-01-01
    ("al3", "March", "album", "2026-03", "month", 2026, 5, "a3"),  # 2026-03-01
    ("al4", "Lost", "compilation", "0000", "year", None, 3, "a4"),  # unknown date
    ("al5", "Eve", "single", "2025-11-21", "day", 2025, 1, "a1"),  # 366 days before S2
]
TRACKS = [
    # id, album, duration_ms, popularity, credited artists in order
    ("t1", "al1", 180_000, 90, ["a1"]),
    ("t2", "al1", 209_999, 70, ["a1", "a2"]),
    ("t3", "al2", 210_000, 30, ["a2"]),
    ("t4", "al3", 29_999, 50, ["a3", "a1"]),
    ("t5", "al4", 700_000, None, ["a4"]),
    ("t6", "al5", 240_000, 10, ["a1", "a5"]),
    ("t7", "al2", 200_000, 60, ["a2"]),
]
SNAPSHOTS = {
    # p1: t1 and t2 swap, t3 stays, t7 leaves, t6 arrives.
    # p2: t4 twice at S1 (positions 0, 1); at S2 at 0 and 2 (its 2nd copy moved by 1),
    #     t5 and t1 arrive.
    S1: {"p1": ["t1", "t2", "t3", "t7"], "p2": ["t4", "t4"]},
    S2: {"p1": ["t2", "t1", "t3", "t6"], "p2": ["t4", "t5", "t4", "t1"]},
}
STREAMS = [
    # content_type, track_id, ms_played
    ("music", "t1", 30_000),  # a stream (pop)
    ("music", "t1", 29_999),  # not a stream
    ("music", "t3", 60_000),  # a stream (hip hop/r&b)
    ("music", "tX", 45_000),  # a stream of a track not in the catalog: unknown
    ("music", None, 40_000),  # a music play without a track id: unknown
    ("podcast", None, 100_000),  # not music
]


def make_catalog(conn: Any, *, popularity: bool = True, streams: bool = True) -> None:
    """The hand-written catalog; ``popularity=False`` nulls every popularity and follower
    count (a development-mode app)."""
    create_core_tables(conn)

    def pop(value: int | None) -> int | None:
        return value if popularity else None

    insert(
        conn,
        "core.artists",
        [
            {"artist_id": a, "artist_name": n, "followers": pop(f), "popularity": pop(p)}
            for a, n, f, p, _ in ARTISTS
        ],
    )
    insert(
        conn,
        "core.artist_genres",
        [
            {"artist_id": a, "genre": g, "genre_family": fam}
            for a, _, _, _, genres in ARTISTS
            for g, fam in genres
        ],
    )
    insert(
        conn,
        "core.albums",
        [
            {
                "album_id": i,
                "album_name": n,
                "album_type": t,
                "release_date": d,
                "release_date_precision": p,
                "release_year": y,
                "total_tracks": k,
                "primary_artist_id": a,
            }
            for i, n, t, d, p, y, k, a in ALBUMS
        ],
    )
    insert(
        conn,
        "core.tracks",
        [
            {
                "track_id": t,
                "track_name": t.upper(),
                "album_id": al,
                "primary_artist_id": artists[0],
                "duration_ms": ms,
                "popularity": pop(p),
            }
            for t, al, ms, p, artists in TRACKS
        ],
    )
    insert(
        conn,
        "core.track_artists",
        [
            {"track_id": t, "artist_id": a, "artist_position": i}
            for t, _, _, _, artists in TRACKS
            for i, a in enumerate(artists)
        ],
    )
    insert(
        conn,
        "core.playlists",
        [
            {"playlist_id": "p1", "playlist_name": "Morning"},
            {"playlist_id": "p2", "playlist_name": "Night"},
        ],
    )
    insert(
        conn,
        "core.playlist_tracks",
        [
            {"snapshot_time": at, "playlist_id": p, "position": i, "track_id": t}
            for at, playlists in SNAPSHOTS.items()
            for p, tracks in playlists.items()
            for i, t in enumerate(tracks)
        ],
    )
    if streams:
        insert(
            conn,
            "core.streams",
            [
                {
                    "user_id": "u1",
                    "ts": datetime(2026, 1, 1, 12, i),
                    "content_type": c,
                    "track_id": t,
                    "ms_played": ms,
                }
                for i, (c, t, ms) in enumerate(STREAMS)
            ],
        )


def rows(conn: Any, sql: str) -> list[dict[str, Any]]:
    cur = conn.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def mart(conn: Any, name: str) -> list[dict[str, Any]]:
    return rows(conn, f"select * from marts.{name}")


def headline(conn: Any, name: str) -> dict[str, Any]:
    (row,) = rows(conn, MART_BY_NAME[name].headline)
    return row


def approx(value: Any) -> Any:
    return pytest.approx(value, abs=1e-9)


@pytest.fixture(scope="module")
def catalog() -> Any:
    with duckdb.connect() as conn:
        make_catalog(conn)
        build_marts(conn, MARTS)
        yield conn


@pytest.fixture(scope="module")
def null_catalog() -> Any:
    with duckdb.connect() as conn:
        make_catalog(conn, popularity=False)
        build_marts(conn, MARTS)
        yield conn


# --------------------------------------------------------------------------- declarations


def referenced_tables(sql: str) -> set[str]:
    return set(re.findall(r"\b((?:core|marts)\.[a-z_]+)\b", sql))


def test_declarations_match_the_tables(catalog):
    assert len({m.name for m in MARTS}) == len(MARTS)
    for m in MARTS:
        table_columns = [r[0] for r in catalog.execute(f"describe {m.table}").fetchall()]
        assert table_columns == list(m.columns), m.name
        assert all(m.columns.values()), m.name
        assert set(m.lineage) <= set(m.columns), m.name
        lineage_tables = {t for sources in m.lineage.values() for t, _ in sources}
        assert lineage_tables <= set(m.reads), m.name
        for table, column in {s for sources in m.lineage.values() for s in sources}:
            schema = catalog.execute(f"describe {table}").fetchall()
            assert column in {r[0] for r in schema}, (m.name, table, column)
        # reads names exactly the tables the SQL reads (the headline and charts read the mart).
        assert referenced_tables(m.sql) == set(m.reads), m.name
        assert m.plots, m.name
        for chart in m.plots:
            frame = catalog.execute(chart.query or f"select * from {m.table}").df()
            for column in (chart.x, *chart.y, chart.series, chart.value):
                assert column is None or column in frame.columns, (m.name, chart.title, column)
        if m.headline:
            assert len(catalog.execute(m.headline).fetchall()) == 1


def test_marts_are_deterministic(catalog):
    # Each mart's SQL orders by a full key: building again gives the same rows in order.
    for m in MARTS:
        first = catalog.execute(m.sql).fetchall()
        assert catalog.execute(m.sql).fetchall() == first, m.name


# --------------------------------------------------------------------------- hand-checked


def test_top_artists(catalog):
    # Current rows (S2): p1 t2 t1 t3 t6, p2 t4 t5 t4 t1.
    # a1 credited on t1, t2, t4 (featured), t6: rows p1:t2, p1:t1, p1:t6, p2:t4 x2, p2:t1 = 6;
    #    tracks t1 t2 t4 t6: popularity (90+70+50+10)/4 = 55,
    #    duration (180000+209999+29999+240000)/4/1000 = 164.9995 s.
    # a2 on t2 (featured), t3: 2 rows in p1; (70+30)/2 = 50; (209999+210000)/2/1000 s.
    # a3 on t4: twice in p2 (duplicate); a4 on t5 (popularity null); a5 (not in core.artists)
    # on t6. Ties on appearances ordered by artist_id.
    assert mart(catalog, "top_artists") == [
        {
            "artist_id": "a1",
            "artist_name": "Alpha",
            "tracks_in_playlists": 4,
            "playlist_appearances": 6,
            "playlists": 2,
            "avg_popularity": approx(55.0),
            "avg_duration_s": approx(164.9995),
            "followers": 999,
            "genre_family": "pop",
        },
        {
            "artist_id": "a2",
            "artist_name": "Beta",
            "tracks_in_playlists": 2,
            "playlist_appearances": 2,
            "playlists": 1,
            "avg_popularity": approx(50.0),
            "avg_duration_s": approx(209.9995),
            "followers": 9,
            "genre_family": "hip hop/r&b",
        },
        {
            "artist_id": "a3",
            "artist_name": "Gamma",
            "tracks_in_playlists": 1,
            "playlist_appearances": 2,
            "playlists": 1,
            "avg_popularity": approx(50.0),
            "avg_duration_s": approx(29.999),
            "followers": 99,
            "genre_family": "other",
        },
        {
            "artist_id": "a4",
            "artist_name": "Delta",
            "tracks_in_playlists": 1,
            "playlist_appearances": 1,
            "playlists": 1,
            "avg_popularity": None,
            "avg_duration_s": approx(700.0),
            "followers": None,
            "genre_family": "rock",
        },
        {
            "artist_id": "a5",
            "artist_name": None,
            "tracks_in_playlists": 1,
            "playlist_appearances": 1,
            "playlists": 1,
            "avg_popularity": approx(10.0),
            "avg_duration_s": approx(240.0),
            "followers": None,
            "genre_family": "unknown",
        },
    ]
    assert headline(catalog, "top_artists") == {
        "artists in current playlists": 5,
        "most appearances of one artist": 6,
    }


def test_genre_families(catalog):
    # pop: a1 (2 pop + 1 rock genre), a6, a7; tracks by primary artist t1 t2 t6:
    #   popularity (90+70+10)/3; artists (80+40+60)/3 = 60; followers sorted 0, 9, 999:
    #   p25 = 0 + 0.5*(9-0) = 4.5, median 9, p75 = 9 + 0.5*(999-9) = 504; streams: t1 once
    #   (the 29 999 ms play is not a stream).
    # hip hop/r&b: a2; t3, t7: (30+60)/2 = 45; one stream (t3).
    # other: a3 (no genres), t4. rock: a4 (tie rock/pop -> rock), t5, nothing known.
    # unknown: no artist or track, but 2 streams (tX not in the catalog, a null track id);
    # the podcast is not counted.
    assert mart(catalog, "genre_families") == [
        {
            "genre_family": "pop",
            "artists": 3,
            "tracks": 3,
            "streams": 1,
            "avg_popularity": approx(170 / 3),
            "avg_artist_popularity": approx(60.0),
            "followers_p25": approx(4.5),
            "followers_median": approx(9.0),
            "followers_p75": approx(504.0),
            "followers_max": 999,
        },
        {
            "genre_family": "hip hop/r&b",
            "artists": 1,
            "tracks": 2,
            "streams": 1,
            "avg_popularity": approx(45.0),
            "avg_artist_popularity": approx(20.0),
            "followers_p25": approx(9.0),
            "followers_median": approx(9.0),
            "followers_p75": approx(9.0),
            "followers_max": 9,
        },
        {
            "genre_family": "other",
            "artists": 1,
            "tracks": 1,
            "streams": 0,
            "avg_popularity": approx(50.0),
            "avg_artist_popularity": approx(50.0),
            "followers_p25": approx(99.0),
            "followers_median": approx(99.0),
            "followers_p75": approx(99.0),
            "followers_max": 99,
        },
        {
            "genre_family": "rock",
            "artists": 1,
            "tracks": 1,
            "streams": 0,
            "avg_popularity": None,
            "avg_artist_popularity": None,
            "followers_p25": None,
            "followers_median": None,
            "followers_p75": None,
            "followers_max": None,
        },
        {
            "genre_family": "unknown",
            "artists": 0,
            "tracks": 0,
            "streams": 2,
            "avg_popularity": None,
            "avg_artist_popularity": None,
            "followers_p25": None,
            "followers_median": None,
            "followers_p75": None,
            "followers_max": None,
        },
    ]
    assert headline(catalog, "genre_families") == {"genre families": 4, "streams": 4}


def test_genre_families_without_listening_history():
    with duckdb.connect() as conn:
        make_catalog(conn, streams=False)
        build_marts(conn, [MART_BY_NAME["genre_families"]])
        got = {r["genre_family"]: (r["tracks"], r["streams"]) for r in mart(conn, "genre_families")}
    # No 'unknown' row: every track's artist is in the catalog and nothing was streamed.
    assert got == {"pop": (3, 0), "hip hop/r&b": (2, 0), "other": (1, 0), "rock": (1, 0)}


def test_popularity_vs_followers(catalog):
    # Artists with both values, x = log10(followers + 1), y = popularity:
    #   a1 (999 -> 3, 80), a3 (99 -> 2, 50), a2 (9 -> 1, 20), a7 (9 -> 1, 60), a6 (0 -> 0, 40).
    # mean x = 7/5 = 1.4, mean y = 250/5 = 50; dx = 1.6, .6, -.4, -.4, -1.4;
    # dy = 30, 0, -30, 10, -10. Sxy = 48 + 0 + 12 - 4 + 14 = 70; Sxx = 5.2; Syy = 2000.
    # slope = 70/5.2 = 175/13; intercept = 50 - 1.4*175/13 = 405/13; r2 = 70^2/(5.2*2000)
    # = 49/104.
    slope, intercept = 175 / 13, 405 / 13
    expected = [("a1", 999, 3, 80), ("a3", 99, 2, 50), ("a2", 9, 1, 20), ("a7", 9, 1, 60)]
    expected.append(("a6", 0, 0, 40))
    got = mart(catalog, "popularity_vs_followers")
    assert [r["artist_id"] for r in got] == [e[0] for e in expected]  # followers desc, id
    for row, (_, followers, x, y) in zip(got, expected, strict=True):
        assert row["followers"] == followers and row["popularity"] == y
        assert row["log10_followers"] == approx(x)
        assert row["fitted_popularity"] == approx(intercept + slope * x)
        assert row["residual"] == approx(y - intercept - slope * x)
    assert got[0]["residual"] == approx(110 / 13)  # 80 - (405 + 3*175)/13
    assert headline(catalog, "popularity_vs_followers") == {
        "slope": approx(slope),
        "intercept": approx(intercept),
        "r2": approx(49 / 104),
        "artists": 5,
    }


def test_release_years(catalog):
    # Known years (t5's album is '0000'): 1999 t3 t7, 2025 t1 t2 t6, 2026 t4; 6 tracks.
    assert mart(catalog, "release_years") == [
        {
            "release_year": 1999,
            "decade": 1990,
            "tracks": 2,
            "share": approx(2 / 6),
            "avg_popularity": approx(45.0),  # (30+60)/2
        },
        {
            "release_year": 2025,
            "decade": 2020,
            "tracks": 3,
            "share": approx(3 / 6),
            "avg_popularity": approx(170 / 3),  # (90+70+10)/3
        },
        {
            "release_year": 2026,
            "decade": 2020,
            "tracks": 1,
            "share": approx(1 / 6),
            "avg_popularity": approx(50.0),
        },
    ]


def test_release_recency(catalog):
    # Latest snapshot 2026-11-22. recent: t1, t2 (2025-11-22, exactly 365 days before: the
    # bound is included) and t4 ('2026-03', month precision -> 2026-03-01).
    # older: t6 (2025-11-21, 366 days), t3 and t7 ('1999' -> 1999-01-01). unknown: t5 ('0000').
    # recent popularity 90, 70, 50: mean 70, median 70, mainstream (>= 70) 2/3, niche 0.
    # older 10, 30, 60: mean 100/3, median 30, mainstream 0, niche (<= 30) 2/3.
    assert mart(catalog, "release_recency") == [
        {
            "cohort": "recent",
            "tracks": 3,
            "avg_popularity": approx(70.0),
            "median_popularity": approx(70.0),
            "mainstream_share": approx(2 / 3),
            "niche_share": approx(0.0),
        },
        {
            "cohort": "older",
            "tracks": 3,
            "avg_popularity": approx(100 / 3),
            "median_popularity": approx(30.0),
            "mainstream_share": approx(0.0),
            "niche_share": approx(2 / 3),
        },
        {
            "cohort": "unknown",
            "tracks": 1,
            "avg_popularity": None,
            "median_popularity": None,
            "mainstream_share": None,
            "niche_share": None,
        },
    ]
    assert headline(catalog, "release_recency") == {"recent release share": approx(0.5)}


def test_duration_popularity(catalog):
    got = mart(catalog, "duration_popularity")
    # Every bin 0, 30, ..., 600 s: 21 rows, the last one open-ended.
    assert [r["duration_bin_s"] for r in got] == list(range(0, 630, 30))
    assert got[0]["bin_label"] == "0:00-0:30" and got[7]["bin_label"] == "3:30-4:00"
    assert got[-1]["bin_label"] == "10:00+"
    filled = {r["duration_bin_s"]: r for r in got if r["tracks"]}
    # t4 29 999 ms -> 0; t1 180 000, t2 209 999, t7 200 000 -> 180; t3 210 000 -> 210;
    # t6 240 000 -> 240; t5 700 000 -> 600 (10:00+).
    assert {b: r["tracks"] for b, r in filled.items()} == {0: 1, 180: 3, 210: 1, 240: 1, 600: 1}
    assert filled[180]["avg_popularity"] == approx(220 / 3)  # (90+70+60)/3
    assert filled[180]["median_popularity"] == approx(70.0)
    assert filled[0]["avg_popularity"] == approx(50.0)
    assert filled[600]["avg_popularity"] is None  # t5 has no popularity
    empty = [r for r in got if not r["tracks"]]
    assert len(empty) == 16 and all(r["avg_popularity"] is None for r in empty)


def test_album_rollups(catalog):
    # Appearances in S2 rows: al1 (t1, t2): p1:t2, p1:t1, p2:t1 = 3; al3 (t4): 2; al2 (t3),
    # al4 (t5), al5 (t6): 1 each, ordered by album_id.
    got = mart(catalog, "album_rollups")
    assert [(r["album_id"], r["playlist_appearances"]) for r in got] == [
        ("al1", 3),
        ("al3", 2),
        ("al2", 1),
        ("al4", 1),
        ("al5", 1),
    ]
    assert got[0] == {
        "album_id": "al1",
        "album_name": "First Light",
        "album_type": "album",
        "release_year": 2025,
        "primary_artist_id": "a1",
        "artist_name": "Alpha",
        "tracks_in_catalog": 2,
        "total_tracks": 10,
        "avg_popularity": approx(80.0),  # (90+70)/2
        "max_popularity": 90,
        "total_duration_min": approx(389_999 / 60_000),  # 180000 + 209999 ms
        "playlist_appearances": 3,
    }
    by_id = {r["album_id"]: r for r in got}
    # al2: t3 (30) and t7 (60, no longer in a playlist) -> 2 tracks, 410 000 ms.
    assert (by_id["al2"]["tracks_in_catalog"], by_id["al2"]["max_popularity"]) == (2, 60)
    assert by_id["al2"]["avg_popularity"] == approx(45.0)
    assert by_id["al2"]["total_duration_min"] == approx(410_000 / 60_000)
    assert by_id["al4"]["release_year"] is None and by_id["al4"]["avg_popularity"] is None
    assert by_id["al5"]["artist_name"] == "Alpha"


def test_playlist_movement(catalog):
    got = mart(catalog, "playlist_movement")
    key = ("snapshot_time", "playlist_id", "tracks", "entries", "exits", "moved")
    assert [tuple(r[k] for k in key) for r in got] == [
        # First snapshots: nothing to compare with.
        (S1, "p1", 4, None, None, None),
        (S1, "p2", 2, None, None, None),
        # p1: t6 in, t7 out, t1 (0 -> 1) and t2 (1 -> 0) moved, t3 stayed.
        (S2, "p1", 4, 1, 1, 2),
        # p2 by (track, occurrence): (t4,1) 0 -> 0, (t4,2) 1 -> 2 moved; (t5,1), (t1,1) in.
        (S2, "p2", 4, 2, 0, 1),
    ]
    assert [r["playlist_name"] for r in got] == ["Morning", "Night", "Morning", "Night"]
    assert got[0]["mean_abs_rank_change"] is None
    assert got[2]["mean_abs_rank_change"] == approx(2 / 3)  # (1 + 1 + 0)/3
    assert got[3]["mean_abs_rank_change"] == approx(0.5)  # (0 + 1)/2
    # Popularity over the rows (a duplicate counts twice); shares over known popularity.
    # S1 p1: 90 70 30 60 -> 62.5, mainstream 2/4, niche 1/4. S1 p2: 50 50.
    # S2 p1: 70 90 30 10 -> 50, 2/4, 2/4. S2 p2: 50, null, 50, 90 -> 190/3, 1/3, 0/3.
    shares = [(r["mean_popularity"], r["mainstream_share"], r["niche_share"]) for r in got]
    assert shares == [
        (approx(62.5), approx(0.5), approx(0.25)),
        (approx(50.0), approx(0.0), approx(0.0)),
        (approx(50.0), approx(0.5), approx(0.5)),
        (approx(190 / 3), approx(1 / 3), approx(0.0)),
    ]
    assert headline(catalog, "playlist_movement") == {
        "playlists": 2,
        "snapshots": 2,
        "entries in the latest snapshot": 3,
        "exits in the latest snapshot": 1,
    }
    churn, mix = (rows(catalog, c.query) for c in MART_BY_NAME["playlist_movement"].plots)
    # S1 has nothing to compare with and is left out of the churn chart.
    assert churn == [{"snapshot_time": S2, "entries": 3, "exits": 1, "moved": 3}]
    # Pooled over all rows: S1 90 70 30 60 50 50 -> 2/6 mainstream, 1/6 niche;
    # S2 70 90 30 10 50 (null) 50 90 -> 3/7, 2/7.
    assert mix == [
        {"snapshot_time": S1, "mainstream_share": approx(2 / 6), "niche_share": approx(1 / 6)},
        {"snapshot_time": S2, "mainstream_share": approx(3 / 7), "niche_share": approx(2 / 7)},
    ]


def test_a_playlist_missing_from_a_snapshot_compares_with_its_previous_one():
    # p1 is in S0 and S2 but not S1 (its fetch failed): S2 compares with S0.
    s0 = datetime(2026, 11, 21, 8)
    with duckdb.connect() as conn:
        create_core_tables(conn)
        layout = {s0: {"p1": ["t1", "t2"], "p2": ["t1"]}, S1: {"p2": ["t1"]}}
        layout[S2] = {"p1": ["t2", "t3"], "p2": ["t1"]}
        insert(
            conn,
            "core.playlist_tracks",
            [
                {"snapshot_time": at, "playlist_id": p, "position": i, "track_id": t}
                for at, playlists in layout.items()
                for p, tracks in playlists.items()
                for i, t in enumerate(tracks)
            ],
        )
        build_marts(conn, [MART_BY_NAME["playlist_movement"]])
        got = rows(
            conn,
            "select snapshot_time, playlist_id, entries, exits, moved, mean_abs_rank_change "
            "from marts.playlist_movement where playlist_id = 'p1'",
        )
    # S0 -> S2: t3 in, t1 out, t2 moved 1 -> 0.
    assert got == [
        {
            "snapshot_time": s0,
            "playlist_id": "p1",
            "entries": None,
            "exits": None,
            "moved": None,
            "mean_abs_rank_change": None,
        },
        {
            "snapshot_time": S2,
            "playlist_id": "p1",
            "entries": 1,
            "exits": 1,
            "moved": 1,
            "mean_abs_rank_change": approx(1.0),
        },
    ]


# --------------------------------------------------------------------------- no popularity


def test_all_null_popularity_and_followers(null_catalog):
    conn = null_catalog
    artists = mart(conn, "top_artists")
    # Counts do not depend on popularity; every popularity figure is null.
    assert [(r["artist_id"], r["playlist_appearances"]) for r in artists] == [
        ("a1", 6),
        ("a2", 2),
        ("a3", 2),
        ("a4", 1),
        ("a5", 1),
    ]
    assert all(r["avg_popularity"] is None and r["followers"] is None for r in artists)
    families = mart(conn, "genre_families")
    assert [(r["genre_family"], r["artists"], r["tracks"]) for r in families][:2] == [
        ("pop", 3, 3),
        ("hip hop/r&b", 1, 2),
    ]
    nullable = ("avg_popularity", "avg_artist_popularity", "followers_median", "followers_max")
    assert all(r[c] is None for r in families for c in nullable)
    assert mart(conn, "popularity_vs_followers") == []
    assert headline(conn, "popularity_vs_followers") == {
        "slope": None,
        "intercept": None,
        "r2": None,
        "artists": 0,
    }
    years = mart(conn, "release_years")
    assert sum(r["share"] for r in years) == approx(1.0)
    assert all(r["avg_popularity"] is None for r in years)
    recency = mart(conn, "release_recency")
    assert [r["tracks"] for r in recency] == [3, 3, 1]
    for column in ("avg_popularity", "median_popularity", "mainstream_share", "niche_share"):
        assert all(r[column] is None for r in recency), column
    durations = mart(conn, "duration_popularity")
    assert sum(r["tracks"] for r in durations) == 7
    assert all(r["avg_popularity"] is None for r in durations)
    albums = mart(conn, "album_rollups")
    assert all(r["avg_popularity"] is None and r["max_popularity"] is None for r in albums)
    movement = mart(conn, "playlist_movement")
    assert [(r["entries"], r["exits"], r["moved"]) for r in movement][2:] == [(1, 1, 2), (2, 0, 1)]
    for column in ("mean_popularity", "mainstream_share", "niche_share"):
        assert all(r[column] is None for r in movement), column
    for m in MARTS:  # every chart query and headline still runs
        for chart in m.plots:
            if chart.query:
                conn.execute(chart.query).fetchall()
        if m.headline:
            assert len(conn.execute(m.headline).fetchall()) == 1


def test_every_mart_builds_on_empty_core_tables():
    with duckdb.connect() as conn:
        create_core_tables(conn)
        build_marts(conn, MARTS)
        counts = {
            m.name: conn.execute(f"select count(*) from {m.table}").fetchall()[0][0] for m in MARTS
        }
        recency = mart(conn, "release_recency")
    # Fixed-shape marts keep their rows (zeros); the others are empty.
    assert counts == {m.name: 0 for m in MARTS} | {"release_recency": 3, "duration_popularity": 21}
    assert [(r["cohort"], r["tracks"]) for r in recency] == [
        ("recent", 0),
        ("older", 0),
        ("unknown", 0),
    ]


# --------------------------------------------------------------------------- tiny sample world


def expected_movement(playlist_tracks: pd.DataFrame) -> dict[tuple, tuple]:
    """Entries, exits, moved per (snapshot, playlist), straight from the definition: a
    playlist snapshot is a multiset of tracks; the n-th copy of a track is matched with the
    n-th copy in the previous snapshot."""

    def keyed(frame: pd.DataFrame) -> dict[tuple[str, int], int]:
        seen: Counter[str] = Counter()
        out = {}
        for track, position in sorted(
            zip(frame["track_id"], frame["position"], strict=True), key=lambda tp: tp[1]
        ):
            seen[track] += 1
            out[(track, seen[track])] = position
        return out

    result = {}
    for playlist_id, frame in playlist_tracks.groupby("playlist_id"):
        previous = None
        for at, snap in sorted(frame.groupby("snapshot_time"), key=lambda kv: kv[0]):
            now = keyed(snap)
            if previous is None:
                result[(at, playlist_id)] = (len(now), None, None, None)
            else:
                both = now.keys() & previous.keys()
                moved = sum(now[k] != previous[k] for k in both)
                result[(at, playlist_id)] = (
                    len(now),
                    len(now.keys() - previous.keys()),
                    len(previous.keys() - now.keys()),
                    moved,
                )
            previous = now
    return result


def scalar(conn: Any, sql: str) -> Any:
    return conn.execute(sql).fetchall()[0][0]


def test_tiny_world_invariants(tiny_world, tmp_path):
    with duckdb.connect() as conn:
        tiny_core_tables(conn, tiny_world, tmp_path)
        build_marts(conn, MARTS)
        latest = WINDOWS[-1].replace(tzinfo=None)
        current = f"(select * from core.playlist_tracks where snapshot_time = '{latest}')"
        n_tracks = scalar(conn, "select count(*) from core.tracks")
        assert n_tracks > 100 and scalar(conn, f"select count(*) from {current}") > 100

        # top_artists: appearances add up to the current rows' credits.
        credits = scalar(
            conn,
            f"select count(*) from {current} p join core.track_artists using (track_id)",
        )
        assert scalar(conn, "select sum(playlist_appearances) from marts.top_artists") == credits
        assert (
            scalar(
                conn,
                "select count(*) from marts.top_artists where tracks_in_playlists > "
                "playlist_appearances or playlists > playlist_appearances",
            )
            == 0
        )

        # genre_families: every artist, track and stream lands in exactly one family.
        totals = conn.execute(
            "select sum(artists), sum(tracks), sum(streams) from marts.genre_families"
        ).fetchall()[0]
        assert totals == (
            scalar(conn, "select count(*) from core.artists"),
            n_tracks,
            scalar(
                conn,
                "select count(*) from core.streams "
                "where content_type = 'music' and ms_played >= 30000",
            ),
        )
        assert totals[2] > 0

        # popularity_vs_followers: the fit is least squares (numpy agrees; residuals sum to 0).
        fit = conn.execute(
            "select log10_followers, popularity, residual from marts.popularity_vs_followers"
        ).df()
        assert (
            len(fit)
            == scalar(
                conn,
                "select count(*) from core.artists where followers is not null "
                "and popularity is not null",
            )
            and len(fit) > 10
        )
        slope, intercept = np.polyfit(fit["log10_followers"], fit["popularity"], 1)
        (row,) = rows(conn, MART_BY_NAME["popularity_vs_followers"].headline)
        assert row["slope"] == pytest.approx(slope) and row["intercept"] == pytest.approx(intercept)
        assert 0 <= row["r2"] <= 1 and abs(fit["residual"].sum()) < 1e-6

        # release_years / release_recency / duration_popularity partition the tracks.
        assert scalar(conn, "select sum(share) from marts.release_years") == pytest.approx(1.0)
        assert scalar(conn, "select sum(tracks) from marts.release_years") == scalar(
            conn,
            "select count(*) from core.tracks join core.albums using (album_id) "
            "where release_year is not null",
        )
        assert scalar(conn, "select sum(tracks) from marts.release_recency") == n_tracks
        assert scalar(conn, "select sum(tracks) from marts.duration_popularity") == n_tracks
        for name in ("release_recency", "playlist_movement"):
            bad = scalar(
                conn,
                f"select count(*) from marts.{name} where mainstream_share < 0 or niche_share < 0 "
                "or mainstream_share + niche_share > 1",
            )
            assert bad == 0, name

        # album_rollups: every catalog track and current row belongs to one album.
        assert conn.execute(
            "select sum(tracks_in_catalog), sum(playlist_appearances) from marts.album_rollups"
        ).fetchall()[0] == (n_tracks, scalar(conn, f"select count(*) from {current}"))

        # playlist_movement against the definition, computed independently.
        got = {
            (r[0], r[1]): r[2:]
            for r in conn.execute(
                "select snapshot_time, playlist_id, tracks, entries, exits, moved "
                "from marts.playlist_movement"
            ).fetchall()
        }
        expected = expected_movement(conn.execute("select * from core.playlist_tracks").df())
        assert {(k[0].to_pydatetime(), k[1]): v for k, v in expected.items()} == got
        assert sum(v[1] or 0 for v in got.values()) > 0  # the windows do see changes
        pairs = "select count(distinct (snapshot_time, playlist_id)) from core.playlist_tracks"
        assert len(got) == scalar(conn, pairs) == len(WINDOWS) * len(tiny_world.playlists)
