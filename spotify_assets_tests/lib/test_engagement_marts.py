"""The engagement marts, two ways.

1. Hand-written plays (below, fourteen music plays of three users plus a podcast and an
   audiobook) with every expected value worked out by hand, the arithmetic in the comments:
   an empty month between active months, a user with one play, a play across midnight UTC,
   local time across the US (2025-03-09) and EU (2025-10-26) daylight-saving changes, null
   ``skipped``, a play of exactly 30000 ms and one of 29999, churn of the last month, session
   gaps of exactly 30 minutes and of 30 minutes + 1 s.
2. The tiny sample world's export files (plus an account-data file), read with pandas straight
   from the JSON and aggregated by an independent pandas implementation of the KPI definitions,
   against the marts built by the real ingestion code (``process_file`` -> ``build_streams``).
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from spotify_assets.lib.listening.export_files import process_file, write_parquet
from spotify_assets.lib.listening.streams import ProcessedFile, build_streams
from spotify_assets.lib.marts.engagement_marts import MARTS, MIN_ARTIST_PLAYS
from spotify_assets.lib.marts.run import build_marts, headline, plot_frame
from spotify_assets.lib.timezones import COUNTRY_TIMEZONES
from spotify_assets_tests.support.warehouse import CORE_SCHEMAS, create_core_tables, insert

MART = {m.name: m for m in MARTS}
H = 3_600_000  # ms per hour
MIN = 60_000  # ms per minute

# ------------------------------------------------------------------------------------------
# 1. Hand-written data
# ------------------------------------------------------------------------------------------

TRACKS = {
    "t1": ("Song One", "ar1", 80),
    "t2": ("Song Two", "ar1", 20),
    "t3": ("Song Three", "ar2", 50),
}
ARTISTS = {"ar1": "Artist A", "ar2": "Artist B"}
# Albums (for taste_monthly's listening age): t1's from 1999, t2's from 2010, t3's with no
# known release year.
ALBUMS = {"t1": ("alx", 1999), "t2": ("alw", 2010), "t3": ("aly", None)}
# ar1: two pop genres, one electronic -> pop; ar2 -> rock. t4 is not in the catalog.
GENRES = [("ar1", "dance pop", "pop"), ("ar1", "pop", "pop"), ("ar1", "edm", "electronic"),
          ("ar2", "rock", "rock")]  # fmt: skip

# Audio features (for mood_monthly): t1 upbeat (valence and energy >= 0.5), t2 relaxed
# (valence exactly 0.5: the split counts as high; energy 0.2); t3 and t4 have none.
AUDIO = {
    "t1": dict(valence=0.8, energy=0.9, danceability=0.6, acousticness=0.1, tempo=120.0),
    "t2": dict(valence=0.5, energy=0.2, danceability=0.4, acousticness=0.7, tempo=90.0),
}

SONG = {
    "t1": ("Song One", "Artist A", "Album X"),
    "t2": ("Song Two", "Artist A", "Album W"),
    "t3": ("Song Three", "Artist B", "Album Y"),
    "t4": ("Song Four", "Artist C", "Album Z"),
}

T, F = True, False
# (n, user, ts (UTC, end of play), ms_played, track, country, platform, reason_start,
#  reason_end, skipped). Local times: US = New York (EST -5, EDT -4 from 2025-03-09 07:00
# UTC), DE = Berlin (CET +1; CEST +2 until 2025-10-26 01:00 UTC), null and 'ZZ' = UTC.
PLAYS = [
    # ana (US, ios). Session 1: plays 1-3; 2 starts 10:19:30, 19.5 min after 1 ended; 3 starts
    # 10:50:00, exactly 30 min after 2 ended (same session). 4 starts 11:21:01.000, 30 min 1 s
    # after 3 ended: a new session. 4 is 29999 ms (not a stream), 2 is 30000 ms (a stream).
    (1, "ana", "2024-01-15 10:00:00", 240_000, "t1", "US", "ios", "clickrow", "trackdone", F),
    (2, "ana", "2024-01-15 10:20:00", 30_000, "t2", "US", "ios", "trackdone", "fwdbtn", T),
    (3, "ana", "2024-01-15 10:51:00", 60_000, "t1", "US", "ios", "trackdone", "trackdone", None),
    (4, "ana", "2024-01-15 11:21:30.999", 29_999, "t3", "US", "ios", "fwdbtn", "fwdbtn", T),
    # US DST day (a Sunday): 06:30 UTC = 01:30 EST; 07:30 UTC = 03:30 EDT.
    (5, "ana", "2025-03-09 06:30:00", 120_000, "t1", "US", "ios", "clickrow", "trackdone", F),
    (6, "ana", "2025-03-09 07:30:00", 120_000, "t2", "US", "ios", "clickrow", "endplay", F),
    # Crosses midnight UTC: starts 2024-03-01 23:58, counts on 2024-03-02 (a Saturday UTC;
    # locally Friday 2024-03-01 19:02 EST).
    (7, "ana", "2024-03-02 00:02:00", 240_000, "t1", "US", "ios", "playbtn", "trackdone", F),
    # ben (DE, android), 2024-01-15 is a Monday: 12:00 UTC = 13:00 CET.
    (8, "ben", "2024-01-15 12:00:00", 180_000, "t1", "DE", "android", "clickrow", "trackdone", F),
    # Null country and platform: UTC, 'unknown'. 2024-03-10 is a Sunday.
    (9, "ben", "2024-03-10 12:00:00", 180_000, "t3", None, None, "appload", "trackdone", None),
    # EU DST end (a Sunday): 00:30 UTC = 02:30 CEST and 01:30 UTC = 02:30 CET.
    (10, "ben", "2025-10-26 00:30:00", 60_000, "t4", "DE", "android", "clickrow", "trackdone", F),
    (11, "ben", "2025-10-26 01:30:00", 60_000, "t4", "DE", "android", None, None, None),
    # 2025-09-15 is a Monday: 18:00 UTC = 20:00 CEST. 13 starts 18:29:20, 29:20 after 12 ended.
    (12, "ben", "2025-09-15 18:00:00", 30_000, "t4", "DE", "android", "clickrow", "trackdone", F),
    # An account-data play: no track id (no track row), no album, no country or reasons.
    (13, "ben", "2025-09-15 18:30:00", 40_000, None, None, None, None, None, None),
    # cy: a single play, country 'ZZ' (unknown: UTC); 2024-03-05 is a Tuesday.
    (14, "cy", "2024-03-05 08:00:00", 45_000, "t2", "ZZ", "web_player", "clickrow", "logout", T),
]  # fmt: skip
# Music plays 14; streams 13 (all but 4); ms: ana 240000+30000+60000+29999+120000+120000
# +240000 = 839999, ben 180000+180000+60000+60000+30000+40000 = 550000, cy 45000; total 1434999.
TOTAL_MS = 1_434_999


def stream_rows() -> list[dict[str, Any]]:
    out = []
    for n, user, ts, ms, track, country, platform, r_start, r_end, skipped in PLAYS:
        name, artist, album = SONG[track] if track else ("Song Three", "Artist B", None)
        if n == 2:  # another spelling of ana's artist and album: keys are lower-cased
            artist, album = "artist a", "album w"
        out.append(
            dict(
                user_id=user,
                ts=ts,
                content_type="music",
                track_id=track,
                track_name=name,
                artist_name=artist,
                album_name=album,
                ms_played=ms,
                conn_country=country,
                platform=platform,
                reason_start=r_start,
                reason_end=r_end,
                skipped=skipped,
                source_format="account_data" if n == 13 else "extended",
                source_file=f"{user}/f.json",
                record_index=n,
            )
        )
    # Not music: left out of every mart (they would also join ana's and ben's sessions).
    out.append(
        dict(
            user_id="ben",
            ts="2024-01-15 12:30:00",
            content_type="podcast",
            ms_played=3_600_000,
            conn_country="DE",
            episode_name="E",
            show_name="S",
        )
    )
    out.append(dict(user_id="ana", ts="2024-01-15 10:30:00", content_type="audiobook",
                     ms_played=600_000, conn_country="US", audiobook_title="B"))  # fmt: skip
    return out


def make_warehouse(conn: Any) -> None:
    create_core_tables(conn)
    insert(conn, "core.streams", stream_rows())
    insert(
        conn,
        "core.tracks",
        [
            dict(track_id=t, track_name=n, primary_artist_id=a, popularity=p,
                 album_id=ALBUMS[t][0])
            for t, (n, a, p) in TRACKS.items()
        ],
    )  # fmt: skip
    insert(conn, "core.albums", [dict(album_id=a, release_year=y) for a, y in ALBUMS.values()])
    insert(conn, "core.artists", [dict(artist_id=a, artist_name=n) for a, n in ARTISTS.items()])
    insert(conn, "core.track_audio_features", [dict(track_id=t, **f) for t, f in AUDIO.items()])
    insert(conn, "core.artist_genres", [dict(artist_id=a, genre=g, genre_family=f)
                                        for a, g, f in GENRES])  # fmt: skip


@pytest.fixture(scope="module")
def hand() -> Any:
    with duckdb.connect() as conn:
        make_warehouse(conn)
        build_marts(conn, MARTS)
        yield conn


def rows(conn: Any, sql: str) -> list[tuple]:
    return conn.execute(sql).fetchall()


def approx_rows(got: list[tuple], expected: list[tuple]) -> None:
    """Rows equal, floats to 1e-12 (relative) and nulls and text exactly."""
    assert len(got) == len(expected), got
    for g, e in zip(got, expected, strict=True):
        assert len(g) == len(e), (g, e)
        for a, b in zip(g, e, strict=True):
            if isinstance(b, float) and not isinstance(a, bool) and a is not None:
                assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12), (g, e)
            else:
                assert a == b and type(a) is not bool or a is b, (g, e)


def test_every_mart_declares_its_table(hand):
    for mart in MARTS:
        columns = [r[0] for r in rows(hand, f"describe {mart.table}")]
        assert columns == list(mart.columns), mart.name
        assert set(mart.lineage) <= set(mart.columns), mart.name
        assert mart.plots and mart.description and mart.reads, mart.name
        for chart in mart.plots:
            frame = plot_frame(hand, mart, chart)
            used = {chart.x, *chart.y, chart.series, chart.value} - {None}
            assert used <= set(frame.columns), (mart.name, chart.title)
            assert len(frame) > 0, (mart.name, chart.title)


def test_daily_engagement(hand):
    got = rows(hand, "select * from marts.daily_engagement")
    # 2024-01-15 .. 2025-10-26, every day: 366 (leap 2024) + 273 + 11 = 650 days later.
    assert len(got) == 651 == (date(2025, 10, 26) - date(2024, 1, 15)).days + 1
    assert [r[0] for r in got] == [date(2024, 1, 15) + timedelta(days=i) for i in range(651)]
    by_day = {r[0]: r[1:] for r in got}
    # 2024-01-15: plays 1-4 (ana) and 8 (ben); 4 is not a stream; ms 240000+30000+60000+29999
    # +180000 = 539999; active: ana, ben.
    approx_rows([by_day[date(2024, 1, 15)]], [(5, 4, 539_999 / H, 2, 539_999 / H / 2)])
    # Play 7 started on 2024-03-01 and ended on 03-02: it counts on 03-02.
    assert by_day[date(2024, 3, 1)] == (0, 0, 0.0, 0, None)
    approx_rows([by_day[date(2024, 3, 2)]], [(1, 1, 240_000 / H, 1, 240_000 / H)])
    approx_rows([by_day[date(2024, 3, 5)]], [(1, 1, 45_000 / H, 1, 45_000 / H)])
    approx_rows([by_day[date(2025, 9, 15)]], [(2, 2, 70_000 / H, 1, 70_000 / H)])
    approx_rows([by_day[date(2025, 10, 26)]], [(2, 2, 120_000 / H, 1, 120_000 / H)])
    assert sum(r[1] for r in got) == 14 and sum(r[2] for r in got) == 13
    assert sum(r[3] for r in got) == pytest.approx(TOTAL_MS / H)
    assert headline(hand, MART["daily_engagement"]) == {
        "period": "2024-01-15 to 2025-10-26",  # totals name their span
        "listening hours": round(TOTAL_MS / H, 4),
        "streams": 13,
        "active days": 7,  # 01-15, 03-02, 03-05, 03-10, 2025-03-09, 09-15, 10-26
    }


def test_monthly_engagement(hand):
    got = rows(hand, "select * from marts.monthly_engagement")
    months = [r[0] for r in got]
    assert months == [date(2024 + (i // 12), i % 12 + 1, 1) for i in range(22)]  # to 2025-10
    m = {r[0]: r[1:] for r in got}
    # (active, churned, churn_rate, plays, streams, hours, hours/active, streams yoy, hours yoy)
    # 2024-01: ana and ben active, neither in February: churn 2/2.
    approx_rows([m[date(2024, 1, 1)]],
                [(2, 2, 1.0, 5, 4, 539_999 / H, 539_999 / H / 2, None, None)])  # fmt: skip
    # 2024-02: the empty month between two active months: zeros, churn rate null (nobody).
    assert m[date(2024, 2, 1)] == (0, 0, None, 0, 0, 0.0, None, None, None)
    # 2024-03: plays 7 (ana), 9 (ben), 14 (cy): 240000+180000+45000 = 465000 ms.
    approx_rows([m[date(2024, 3, 1)]],
                [(3, 3, 1.0, 3, 3, 465_000 / H, 465_000 / H / 3, None, None)])  # fmt: skip
    # 2025-01: nothing; 2024-01 had 4 streams: (0 - 4) / 4 = -1.
    assert m[date(2025, 1, 1)] == (0, 0, None, 0, 0, 0.0, None, -1.0, -1.0)
    # 2025-02: 12 months earlier had 0 streams: growth null.
    assert m[date(2025, 2, 1)][7:] == (None, None)
    # 2025-03: 2 streams vs 3: (2 - 3) / 3; hours (240000 - 465000) / 465000.
    yoy = (-1 / 3, -225_000 / 465_000)
    approx_rows([m[date(2025, 3, 1)]], [(1, 1, 1.0, 2, 2, 240_000 / H, 240_000 / H, *yoy)])
    # 2025-09: ben, active again in October, but the data ends on 2025-10-26: October is
    # partial, so September's churn is not known yet (issue 26: a churn point against a
    # partial month).
    approx_rows([m[date(2025, 9, 1)]],
                [(1, None, None, 2, 2, 70_000 / H, 70_000 / H, None, None)])  # fmt: skip
    # 2025-08: nobody active, and September is whole: 0 churned, rate null (nobody).
    assert m[date(2025, 8, 1)][:3] == (0, 0, None)
    # The last month: churn null.
    approx_rows([m[date(2025, 10, 1)]],
                [(1, None, None, 2, 2, 120_000 / H, 120_000 / H, None, None)])  # fmt: skip
    # The data ends on 2025-10-26: October is partial, so the cards are about September (ben)
    # and the churn of August (nobody active: null), never a month still in progress.
    assert headline(hand, MART["monthly_engagement"]) == {
        "last complete month": "2025-09",
        "active users, last complete month": 1,
        "churn rate, the month before": None,
    }


def test_hourly_engagement_in_local_time(hand):
    got = rows(hand, "select * from marts.hourly_engagement")
    assert [(r[0], r[1]) for r in got] == [(d, h) for d in range(7) for h in range(24)]
    cells = {(r[0], r[1]): r[2:] for r in got if r[2] or r[3]}
    # (weekday, hour): (streams, hours, share of 13 streams)
    expected = {
        (0, 5): (3, 330_000 / H, 3 / 13),  # plays 1-3: 10:00-10:51 UTC Monday = 05:xx EST
        (0, 6): (0, 29_999 / H, 0.0),  # play 4, not a stream, still listening time
        (0, 13): (1, 180_000 / H, 1 / 13),  # play 8: 12:00 UTC = 13:00 CET
        (0, 18): (1, 40_000 / H, 1 / 13),  # play 13: null country, UTC
        (0, 20): (1, 30_000 / H, 1 / 13),  # play 12: 18:00 UTC = 20:00 CEST
        (1, 8): (1, 45_000 / H, 1 / 13),  # play 14: 'ZZ', UTC
        (4, 19): (1, 240_000 / H, 1 / 13),  # play 7: Sat 00:02 UTC = Fri 19:02 EST
        (6, 1): (1, 120_000 / H, 1 / 13),  # play 5: 06:30 UTC = 01:30 EST
        (6, 2): (2, 120_000 / H, 2 / 13),  # plays 10, 11: 02:30 CEST and 02:30 CET
        (6, 3): (1, 120_000 / H, 1 / 13),  # play 6: 07:30 UTC = 03:30 EDT
        (6, 12): (1, 180_000 / H, 1 / 13),  # play 9: null country, UTC
    }
    assert set(cells) == set(expected)
    for cell, values in expected.items():
        assert cells[cell] == pytest.approx(values, rel=1e-12), cell
    assert sum(r[2] for r in got) == 13 and sum(r[4] for r in got) == pytest.approx(1.0)


def test_content_daily(hand):
    got = rows(
        hand,
        "select kind, content_id, content_name, artist_name, plays, streams, listening_hours "
        "from marts.content_daily where date = '2024-01-15' order by kind, content_id",
    )
    # Plays 1 (t1), 2 (t2, spelled 'artist a' / 'album w'), 3 (t1), 4 (t3, 29999 ms), 8 (t1,
    # ben). Display names: the most played spelling over all days ('Artist A' 7 plays against
    # 'artist a' 1; 'Album W' 2 against 'album w' 1).
    approx_rows(got, [
        ("album", "artist a - album w", "Album W", "Artist A", 1, 1, 30_000 / H),
        ("album", "artist a - album x", "Album X", "Artist A", 3, 3, 480_000 / H),
        ("album", "artist b - album y", "Album Y", "Artist B", 1, 0, 29_999 / H),
        ("artist", "artist a", "Artist A", "Artist A", 4, 4, 510_000 / H),
        ("artist", "artist b", "Artist B", "Artist B", 1, 0, 29_999 / H),
        ("track", "t1", "Song One", "Artist A", 3, 3, 480_000 / H),  # 240000+60000+180000
        ("track", "t2", "Song Two", "Artist A", 1, 1, 30_000 / H),
        ("track", "t3", "Song Three", "Artist B", 1, 0, 29_999 / H),
    ])  # fmt: skip
    # Play 13 has no track id and no album: an artist row only.
    assert rows(
        hand,
        "select kind, content_id, plays from marts.content_daily where date = '2025-09-15' "
        "order by kind, content_id",
    ) == [("album", "artist c - album z", 1), ("artist", "artist b", 1),
          ("artist", "artist c", 1), ("track", "t4", 1)]  # fmt: skip
    assert rows(hand, "select sum(plays) from marts.content_daily where kind = 'artist'") == [(14,)]


def test_top_content_macro(hand):
    got = rows(hand, "select * from marts.top_content('2024-01-01', '2024-03-31', 2)")
    # In range: plays 1, 2, 3, 4, 7, 8, 9, 14.
    # t1: 1, 3, 7, 8: 4 streams, 240000+60000+240000+180000 = 720000 ms, listeners ana, ben.
    # t2: 2, 14: 2 streams, 75000 ms, ana, cy. t3: 4 (no stream), 9: 1 stream, 209999 ms, ben.
    # Artist A: 6 streams, 795000 ms, listeners ana, ben, cy = 3 (ana streamed it on 01-15
    # and on 03-02: counted once). Artist B: 1 stream, 209999 ms, ben.
    approx_rows(got, [
        ("album", "listening_hours", 1, "artist a - album x", "Album X", "Artist A", 4, 0.2, 2),
        ("album", "listening_hours", 2, "artist b - album y", "Album Y", "Artist B", 1,
         209_999 / H, 1),
        ("album", "streams", 1, "artist a - album x", "Album X", "Artist A", 4, 0.2, 2),
        ("album", "streams", 2, "artist a - album w", "Album W", "Artist A", 2, 75_000 / H, 2),
        ("artist", "listening_hours", 1, "artist a", "Artist A", "Artist A", 6, 795_000 / H, 3),
        ("artist", "listening_hours", 2, "artist b", "Artist B", "Artist B", 1, 209_999 / H, 1),
        ("artist", "streams", 1, "artist a", "Artist A", "Artist A", 6, 795_000 / H, 3),
        ("artist", "streams", 2, "artist b", "Artist B", "Artist B", 1, 209_999 / H, 1),
        ("track", "listening_hours", 1, "t1", "Song One", "Artist A", 4, 0.2, 2),
        ("track", "listening_hours", 2, "t3", "Song Three", "Artist B", 1, 209_999 / H, 1),
        ("track", "streams", 1, "t1", "Song One", "Artist A", 4, 0.2, 2),
        ("track", "streams", 2, "t2", "Song Two", "Artist A", 2, 75_000 / H, 2),
    ])  # fmt: skip
    assert rows(
        hand, "select sum(streams), sum(listening_hours) from marts.content_daily "
        "where content_id = 'artist a' and date <= '2024-03-31'") == [(6, 795_000 / H)]  # fmt: skip
    types = rows(hand, "select column_name, column_type from (describe select * from "
                       "marts.top_content('2024-01-01', '2024-03-31', 2))")  # fmt: skip
    assert [t for _, t in types] == ["VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR",
                                     "VARCHAR", "BIGINT", "DOUBLE", "BIGINT"]  # fmt: skip
    # Both ends inclusive, by the day of ts: play 7 ended on 03-02.
    assert rows(hand, "select count(*) from marts.top_content('2024-03-01', '2024-03-01', 5)") == [
        (0,)
    ]
    assert rows(
        hand,
        "select content_id, streams, listeners from marts.top_content('2024-03-01', "
        "'2024-03-02', 5) where kind = 'track' and rank_by = 'streams'",
    ) == [("t1", 1, 1)]
    # The chart: the last 365 days of data (2024-10-27 .. 2025-10-26): t4 3 streams (10, 11,
    # 12), t1 and t2 one each, 120000 ms each: the tie goes to the smaller id.
    chart = MART["content_daily"].plots[0]
    assert plot_frame(hand, MART["content_daily"], chart).values.tolist() == [
        ["Song Four - Artist C", 3],
        ["Song One - Artist A", 1],
        ["Song Two - Artist A", 1],
    ]


def test_plays_that_overlap_stay_in_one_session_and_sessions_never_overlap():
    """Two devices at once: a two-hour play holds shorter plays that start inside it; the
    session ends 30 minutes after the latest end, not after the previous play's."""
    t = datetime.fromisoformat

    def play(start: str, end: str) -> dict:
        ms = int((t(end) - t(start)).total_seconds() * 1000)
        return dict(user_id="cy", ts=t(end), ms_played=ms, content_type="music",
                    conn_country="GB", reason_start="clickrow")  # fmt: skip

    with duckdb.connect() as conn:
        create_core_tables(conn)
        insert(conn, "core.streams", [
            play("2024-05-01 10:00", "2024-05-01 12:00"),  # the long play
            play("2024-05-01 10:05", "2024-05-01 10:06"),
            play("2024-05-01 11:00", "2024-05-01 11:03"),  # 54 min after 10:06, inside 10-12
            play("2024-05-01 12:20", "2024-05-01 12:25"),  # 20 min after 12:00
            play("2024-05-01 13:00", "2024-05-01 13:05"),  # 35 min after 12:25: a new session
        ])  # fmt: skip
        build_marts(conn, [MART["sessions"]])
        got = rows(conn, "select session_start, session_end, plays from marts.sessions "
                         "order by session_start")  # fmt: skip
    assert got == [
        (t("2024-05-01 10:00"), t("2024-05-01 12:25"), 4),
        (t("2024-05-01 13:00"), t("2024-05-01 13:05"), 1),
    ]


def test_sessions(hand):
    got = rows(hand, "select * from marts.sessions order by user_id, session_start")
    t = datetime.fromisoformat
    approx_rows(got, [
        # Plays 1-3 (gaps 19.5 min and exactly 30 min): 09:56:00 .. 10:51:00 = 55 min, 330000
        # ms = 5.5 min; first play's reason; 09:56 UTC = 04:56 EST.
        ("ana", t("2024-01-15 09:56:00"), t("2024-01-15 10:51:00"), 3, 55.0, 5.5, "clickrow", 4),
        # Play 4, 30 min + 1 s after play 3: its own session of 29.999 s; 11:21 UTC = 06:21.
        ("ana", t("2024-01-15 11:21:01"), t("2024-01-15 11:21:30.999"), 1, 29_999 / MIN,
         29_999 / MIN, "fwdbtn", 6),
        # Play 7 across midnight UTC; 23:58 UTC = 18:58 EST.
        ("ana", t("2024-03-01 23:58:00"), t("2024-03-02 00:02:00"), 1, 4.0, 4.0, "playbtn", 18),
        # Plays 5 and 6, 58 min apart, either side of the US DST change.
        ("ana", t("2025-03-09 06:28:00"), t("2025-03-09 06:30:00"), 1, 2.0, 2.0, "clickrow", 1),
        ("ana", t("2025-03-09 07:28:00"), t("2025-03-09 07:30:00"), 1, 2.0, 2.0, "clickrow", 3),
        # 11:57 UTC = 12:57 CET.
        ("ben", t("2024-01-15 11:57:00"), t("2024-01-15 12:00:00"), 1, 3.0, 3.0, "clickrow", 12),
        # Null country: UTC.
        ("ben", t("2024-03-10 11:57:00"), t("2024-03-10 12:00:00"), 1, 3.0, 3.0, "appload", 11),
        # Plays 12 and 13 (29:20 apart): 17:59:30 .. 18:30:00 = 30.5 min, 70000 ms; 19:59 CEST.
        ("ben", t("2025-09-15 17:59:30"), t("2025-09-15 18:30:00"), 2, 30.5, 70_000 / MIN,
         "clickrow", 19),
        # Plays 10 and 11 (59 min apart): 00:29 UTC = 02:29 CEST, 01:29 UTC = 02:29 CET.
        ("ben", t("2025-10-26 00:29:00"), t("2025-10-26 00:30:00"), 1, 1.0, 1.0, "clickrow", 2),
        ("ben", t("2025-10-26 01:29:00"), t("2025-10-26 01:30:00"), 1, 1.0, 1.0, None, 2),
        # cy's single play, 'ZZ': UTC.
        ("cy", t("2024-03-05 07:59:15"), t("2024-03-05 08:00:00"), 1, 0.75, 0.75, "clickrow", 7),
    ])  # fmt: skip


def test_session_summary_and_starts(hand):
    got = rows(hand, "select * from marts.session_summary")
    # 11 sessions: 9 under 5 minutes (one play each), 55 min (3 plays) and 30.5 min (2 plays).
    approx_rows(got, [
        ("<5 min", 0, 9, 9 / 11, 1.0, 1.0),
        ("5-15 min", 1, 0, 0.0, None, None),
        ("15-30 min", 2, 0, 0.0, None, None),
        ("30-60 min", 3, 2, 2 / 11, 2.5, 2.5),
        ("1-2 h", 4, 0, 0.0, None, None),
        ("2-4 h", 5, 0, 0.0, None, None),
        ("4 h+", 6, 0, 0.0, None, None),
    ])  # fmt: skip
    approx_rows(rows(hand, "select * from marts.session_starts"), [
        ("clickrow", 7, 7 / 11),
        ("appload", 1, 1 / 11),
        ("fwdbtn", 1, 1 / 11),
        ("playbtn", 1, 1 / 11),
        ("unknown", 1, 1 / 11),  # play 11 has no reason_start
    ])  # fmt: skip


def test_skip_rates(hand):
    got = rows(hand, "select * from marts.skip_rates")
    # No artist reaches 20 plays: no artist rows.
    # (dimension, value, plays, with flag, skips, skip rate, completion rate)
    approx_rows(got, [
        # pop (t1, t2): plays 1, 2, 3, 5, 6, 7, 8, 14; flags F T null F F F F T; trackdone:
        # 1, 3, 5, 7, 8.
        ("genre_family", "pop", 8, 7, 2, 2 / 7, 5 / 8),
        # rock (t3): 4 (T, fwdbtn), 9 (null, trackdone).
        ("genre_family", "rock", 2, 1, 1, 1.0, 1 / 2),
        # unknown (t4 not in catalog; play 13 no track): 10 F td, 11 null, 12 F td, 13 null.
        ("genre_family", "unknown", 4, 2, 0, 0.0, 2 / 4),
        ("platform", "android", 4, 3, 0, 0.0, 3 / 4),  # 8, 10, 11, 12
        ("platform", "ios", 7, 6, 2, 2 / 6, 4 / 7),  # ana: 1-7
        ("platform", "unknown", 2, 0, 0, None, 1 / 2),  # 9, 13: no flag at all
        ("platform", "web_player", 1, 1, 1, 1.0, 0.0),  # 14
        ("local_hour", "01", 1, 1, 0, 0.0, 1.0),  # 5
        ("local_hour", "02", 2, 1, 0, 0.0, 1 / 2),  # 10, 11
        ("local_hour", "03", 1, 1, 0, 0.0, 0.0),  # 6
        ("local_hour", "05", 3, 2, 1, 1 / 2, 2 / 3),  # 1, 2, 3
        ("local_hour", "06", 1, 1, 1, 1.0, 0.0),  # 4
        ("local_hour", "08", 1, 1, 1, 1.0, 0.0),  # 14
        ("local_hour", "12", 1, 0, 0, None, 1.0),  # 9
        ("local_hour", "13", 1, 1, 0, 0.0, 1.0),  # 8
        ("local_hour", "18", 1, 0, 0, None, 0.0),  # 13
        ("local_hour", "19", 1, 1, 0, 0.0, 1.0),  # 7
        ("local_hour", "20", 1, 1, 0, 0.0, 1.0),  # 12
    ])  # fmt: skip


def test_skip_rates_lists_artists_from_the_threshold():
    assert MIN_ARTIST_PLAYS == 20
    base = dict(content_type="music", ms_played=60_000, user_id="u", platform="ios")
    plays = []
    for i in range(20):  # Loud: 20 plays; skipped T T ... (8), F (8), null (4); 5 trackdone
        flag = True if i < 8 else False if i < 16 else None
        plays.append(
            dict(
                base,
                ts=datetime(2024, 5, 1, 0, i),
                artist_name="Loud",
                skipped=flag,
                reason_end="trackdone" if i % 4 == 0 else "fwdbtn",
            )
        )
    for i in range(19):  # Quiet: 19 plays, one short of the threshold
        plays.append(dict(base, ts=datetime(2024, 5, 2, 0, i), artist_name="Quiet"))
    with duckdb.connect() as conn:
        create_core_tables(conn)
        insert(conn, "core.streams", plays)
        build_marts(conn, [MART["skip_rates"]])
        got = rows(conn, "select * from marts.skip_rates where dimension = 'artist'")
    # 8 skips of 16 flagged plays; 5 of 20 ended with trackdone (i = 0, 4, 8, 12, 16).
    assert got == [("artist", "Loud", 20, 16, 8, 0.5, 0.25)]


def test_play_funnel(hand):
    approx_rows(rows(hand, "select * from marts.play_funnel"), [
        ("appload", "trackdone", 1, 1 / 14, 1.0),  # 9
        ("clickrow", "endplay", 1, 1 / 14, 1 / 7),  # 6 (clickrow starts: 1 5 6 8 10 12 14)
        ("clickrow", "logout", 1, 1 / 14, 1 / 7),  # 14
        ("clickrow", "trackdone", 5, 5 / 14, 5 / 7),  # 1, 5, 8, 10, 12
        ("fwdbtn", "fwdbtn", 1, 1 / 14, 1.0),  # 4
        ("playbtn", "trackdone", 1, 1 / 14, 1.0),  # 7
        ("trackdone", "fwdbtn", 1, 1 / 14, 1 / 2),  # 2
        ("trackdone", "trackdone", 1, 1 / 14, 1 / 2),  # 3
        ("unknown", "unknown", 2, 2 / 14, 1.0),  # 11, 13
    ])  # fmt: skip


def test_genre_and_country_share(hand):
    # pop: 8 streams, 240000+30000+60000+120000+120000+240000+180000+45000 = 1035000 ms;
    # unknown: 10, 11, 12, 13 = 190000 ms; rock: 4 (not a stream) and 9 = 209999 ms.
    approx_rows(rows(hand, "select * from marts.genre_share"), [
        ("pop", 8, 8, 1_035_000 / H, 8 / 13, 1_035_000 / TOTAL_MS),
        ("unknown", 4, 4, 190_000 / H, 4 / 13, 190_000 / TOTAL_MS),
        ("rock", 2, 1, 209_999 / H, 1 / 13, 209_999 / TOTAL_MS),
    ])  # fmt: skip
    approx_rows(rows(hand, "select * from marts.country_share"), [
        ("US", 7, 6, 839_999 / H, 1, 6 / 13, 839_999 / TOTAL_MS),
        ("DE", 4, 4, 330_000 / H, 1, 4 / 13, 330_000 / TOTAL_MS),  # 8, 10, 11, 12
        ("unknown", 2, 2, 220_000 / H, 1, 2 / 13, 220_000 / TOTAL_MS),  # 9, 13 (null)
        ("ZZ", 1, 1, 45_000 / H, 1, 1 / 13, 45_000 / TOTAL_MS),  # kept as given
    ])  # fmt: skip


def test_taste_monthly(hand):
    d = date
    # (user, month, streams, mean popularity, artists, new, discovery, mainstream, niche,
    # listening age); popularity t1 80 (mainstream), t2 20 (niche), t3 50; t4 and play 13:
    # unknown. Release years t1 1999, t2 2010; t3's album has none, t4 no album at all.
    approx_rows(rows(hand, "select * from marts.taste_monthly order by user_id, month"), [
        # 1 (t1), 2 (t2), 3 (t1); play 4 is not a stream. (80 + 20 + 80) / 3 = 60.
        # Years 1999, 2010, 1999: median 1999.
        ("ana", d(2024, 1, 1), 3, 60.0, 1, 1, 1.0, 2 / 3, 1 / 3, 1999.0),
        ("ana", d(2024, 3, 1), 1, 80.0, 1, 0, 0.0, 1.0, 0.0, 1999.0),  # Artist A again
        # 5 (t1, 1999) and 6 (t2, 2010): an even count, (1999 + 2010) / 2 = 2004.5.
        ("ana", d(2025, 3, 1), 2, 50.0, 1, 0, 0.0, 1 / 2, 1 / 2, 2004.5),
        ("ben", d(2024, 1, 1), 1, 80.0, 1, 1, 1.0, 1.0, 0.0, 1999.0),
        # Artist B, popularity 50; t3's album has no release year: no listening age.
        ("ben", d(2024, 3, 1), 1, 50.0, 1, 1, 1.0, 0.0, 0.0, None),
        # 12 (Artist C, new) and 13 (Artist B, streamed in 2024-03): no popularity known.
        ("ben", d(2025, 9, 1), 2, None, 2, 1, 1 / 2, None, None, None),
        ("ben", d(2025, 10, 1), 2, None, 1, 0, 0.0, None, None, None),
        ("cy", d(2024, 3, 1), 1, 20.0, 1, 1, 1.0, 0.0, 1.0, 2010.0),
    ])  # fmt: skip


def test_mood_monthly(hand):
    d = date
    # (user, month, streams, with features, coverage, valence, energy, danceability,
    # acousticness, tempo, upbeat, relaxed, tense, melancholic). t1: 0.8/0.9/0.6/0.1/120
    # (upbeat), t2: 0.5/0.2/0.4/0.7/90 (relaxed); t3, t4 and play 13 have no features.
    t1 = (0.8, 0.9, 0.6, 0.1, 120.0)
    none = (None,) * 9
    approx_rows(rows(hand, "select * from marts.mood_monthly order by user_id, month"), [
        # 1 (t1), 2 (t2), 3 (t1): valence (0.8 + 0.5 + 0.8) / 3 = 0.7, energy 2.0 / 3,
        # danceability 1.6 / 3, acousticness 0.9 / 3, tempo 330 / 3.
        ("ana", d(2024, 1, 1), 3, 3, 1.0, 0.7, 2.0 / 3, 1.6 / 3, 0.9 / 3, 110.0,
         2 / 3, 1 / 3, 0.0, 0.0),
        ("ana", d(2024, 3, 1), 1, 1, 1.0, *t1, 1.0, 0.0, 0.0, 0.0),
        # 5 (t1) and 6 (t2).
        ("ana", d(2025, 3, 1), 2, 2, 1.0, 0.65, 0.55, 0.5, 0.4, 105.0, 0.5, 0.5, 0.0, 0.0),
        ("ben", d(2024, 1, 1), 1, 1, 1.0, *t1, 1.0, 0.0, 0.0, 0.0),
        ("ben", d(2024, 3, 1), 1, 0, 0.0, *none),  # t3: no features
        ("ben", d(2025, 9, 1), 2, 0, 0.0, *none),  # t4 and an account-data play
        ("ben", d(2025, 10, 1), 2, 0, 0.0, *none),
        ("cy", d(2024, 3, 1), 1, 1, 1.0, 0.5, 0.2, 0.4, 0.7, 90.0, 0.0, 1.0, 0.0, 0.0),
    ])  # fmt: skip


def test_local_hour_in_zones_off_the_hour():
    # India is +5:30 and Nepal +5:45 (no DST); 2024-06-03 is a Monday. The marts convert
    # 15-minute UTC buckets, which must give each play its exact local hour.
    plays = [
        ("u1", "IN", datetime(2024, 6, 3, 8, 45)),  # 14:15 IST; starts 08:44 = 14:14
        ("u2", "NP", datetime(2024, 6, 3, 8, 20)),  # 14:05 NPT; starts 08:19 = 14:04
        ("u3", "NP", datetime(2024, 6, 3, 8, 10)),  # 13:55 NPT; starts 08:09 = 13:54
    ]
    with duckdb.connect() as conn:
        create_core_tables(conn)
        insert(
            conn,
            "core.streams",
            [
                dict(user_id=u, conn_country=c, ts=ts, ms_played=MIN, content_type="music")
                for u, c, ts in plays
            ],
        )
        marts = [MART["hourly_engagement"], MART["sessions"], MART["skip_rates"]]
        build_marts(conn, marts)
        hourly = rows(
            conn,
            "select weekday, local_hour, streams from marts.hourly_engagement where streams > 0",
        )
        sessions = rows(
            conn, "select user_id, first_local_hour from marts.sessions order by user_id"
        )
        skips = rows(
            conn, "select value, plays from marts.skip_rates where dimension = 'local_hour'"
        )
    assert hourly == [(0, 13, 1), (0, 14, 2)]
    assert sessions == [("u1", 14), ("u2", 14), ("u3", 13)]
    assert skips == [("13", 1), ("14", 2)]


def test_empty_history_builds_every_mart():
    with duckdb.connect() as conn:
        create_core_tables(conn)
        build_marts(conn, MARTS)
        counts = {m.name: rows(conn, f"select count(*) from {m.table}")[0][0] for m in MARTS}
        assert rows(conn, "select count(*) from marts.top_content('2024-01-01', '2025-01-01', 3)")
    assert counts.pop("hourly_engagement") == 168  # the grid, all zeros
    assert counts.pop("session_summary") == 7  # the buckets, all empty
    assert set(counts.values()) == {0}


# ------------------------------------------------------------------------------------------
# 2. The tiny world's export files against an independent pandas computation
# ------------------------------------------------------------------------------------------


def write_account_data_file(source: Path, folder: Path) -> Path:
    """An account-data export (``StreamingHistory_music_0.json``: end minute, names, ms) for a
    user ``acct``, from the music records of one extended file, so the comparison also covers
    rows with no country, platform, reasons or skip flag, and times cut to the minute."""
    records = [r for r in json.loads(source.read_bytes()) if r["spotify_track_uri"]]
    out = [
        {
            "endTime": r["ts"][:16].replace("T", " "),
            "artistName": r["master_metadata_album_artist_name"],
            "trackName": r["master_metadata_track_name"],
            "msPlayed": r["ms_played"],
        }
        for r in records
    ]
    path = folder / "acct" / "StreamingHistory_music_0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(out, indent=2))
    return path


def load_export(folder: Path) -> pd.DataFrame:
    """Every music play of the export files under ``folder/<user>/``, read with pandas."""
    frames = []
    for path in sorted(folder.glob("*/Streaming_History_Audio_*.json")):
        raw = pd.read_json(path, convert_dates=False, dtype=False)
        raw = raw[raw["spotify_track_uri"].notna()]
        frames.append(
            pd.DataFrame(
                {
                    "user_id": path.parent.name,
                    "format": "extended",
                    "ts": pd.to_datetime(raw["ts"], utc=True).dt.tz_localize(None),
                    "ms_played": raw["ms_played"].astype("int64"),
                    "item": raw["spotify_track_uri"],
                    "artist_name": raw["master_metadata_album_artist_name"],
                    "conn_country": raw["conn_country"],
                    "platform": raw["platform"],
                    "reason_start": raw["reason_start"],
                    "reason_end": raw["reason_end"],
                    "skipped": pd.array(raw["skipped"].tolist(), dtype="boolean"),
                }
            )
        )
    for path in sorted(folder.glob("*/StreamingHistory_music_*.json")):
        raw = pd.read_json(path, convert_dates=False, dtype=False)
        frames.append(
            pd.DataFrame(
                {
                    "user_id": path.parent.name,
                    "format": "account_data",
                    "ts": pd.to_datetime(raw["endTime"], format="%Y-%m-%d %H:%M"),
                    "ms_played": raw["msPlayed"].astype("int64"),
                    "item": raw["trackName"] + "\n" + raw["artistName"],
                    "artist_name": raw["artistName"],
                    "conn_country": None,
                    "platform": None,
                    "reason_start": None,
                    "reason_end": None,
                    "skipped": pd.array([None] * len(raw), dtype="boolean"),
                }
            )
        )
    plays = pd.concat(frames, ignore_index=True)
    plays["ts"] = plays["ts"].astype("datetime64[ns]")
    # The same play in two export files is one play.
    plays = plays.drop_duplicates(["user_id", "format", "ts", "ms_played", "item"])
    return plays.assign(is_stream=plays["ms_played"] >= 30_000).reset_index(drop=True)


def local_time(ts: pd.Series, country: pd.Series) -> pd.Series:
    """``ts`` (naive UTC) in the zone of each row's country (UTC when null or unknown)."""
    zone = country.map(COUNTRY_TIMEZONES).fillna("UTC")
    out = pd.Series(pd.NaT, index=ts.index, dtype="datetime64[ns]")
    for name, index in zone.groupby(zone).groups.items():
        local = ts.loc[index].dt.tz_localize("UTC").dt.tz_convert(name).dt.tz_localize(None)
        out.loc[index] = local.astype("datetime64[ns]")
    return out


def pandas_daily(p: pd.DataFrame) -> pd.DataFrame:
    day = p["ts"].dt.floor("D")
    streams = p[p["is_stream"]]
    out = pd.DataFrame(
        {
            "plays": p.groupby(day).size(),
            "streams": p.groupby(day)["is_stream"].sum(),
            "listening_hours": p.groupby(day)["ms_played"].sum() / H,
            "active_users": streams.groupby(day[p["is_stream"]])["user_id"].nunique(),
        }
    )
    out = out.reindex(pd.date_range(day.min(), day.max(), freq="D")).fillna(0)
    out["listening_hours_per_active_user"] = out["listening_hours"] / out["active_users"].where(
        out["active_users"] > 0
    )
    return out.rename_axis("date").reset_index()


def pandas_monthly(p: pd.DataFrame) -> pd.DataFrame:
    month = p["ts"].dt.to_period("M")
    months = pd.period_range(month.min(), month.max(), freq="M")
    g = p.groupby(month)
    out = pd.DataFrame(
        {
            "plays": g.size(),
            "streams": g["is_stream"].sum(),
            "listening_hours": g["ms_played"].sum() / H,
        }
    ).reindex(months, fill_value=0)
    active = p[p["is_stream"]].groupby(month[p["is_stream"]])["user_id"].agg(set)
    active = {m: active.get(m, set()) for m in months}
    out["active_users"] = [len(active[m]) for m in months]
    # Churn against a next month the data covers whole (its last day has data): the
    # churn of the month before a partial last month is not known yet.
    last_day = p["ts"].max().normalize()
    out["churned_users"] = [
        len(active[m] - active[m + 1]) if (m + 1).end_time.normalize() <= last_day else None
        for m in months
    ]
    out["churn_rate"] = out["churned_users"] / out["active_users"].where(out["active_users"] > 0)
    out["listening_hours_per_active_user"] = out["listening_hours"] / out["active_users"].where(
        out["active_users"] > 0
    )
    for col in ("streams", "listening_hours"):
        before = out[col].shift(12)
        out[f"{col}_yoy_growth"] = (out[col] - before) / before.where(before > 0)
    out.index = out.index.to_timestamp()
    return out.rename_axis("month").reset_index()


def pandas_hourly(p: pd.DataFrame) -> pd.DataFrame:
    local = local_time(p["ts"], p["conn_country"])
    keys = [local.dt.weekday.rename("weekday"), local.dt.hour.rename("local_hour")]
    out = pd.DataFrame(
        {
            "streams": p.groupby(keys)["is_stream"].sum(),
            "listening_hours": p.groupby(keys)["ms_played"].sum() / H,
        }
    )
    grid = pd.MultiIndex.from_product([range(7), range(24)], names=["weekday", "local_hour"])
    out = out.reindex(grid, fill_value=0)
    out["share_of_streams"] = out["streams"] / out["streams"].sum()
    return out.reset_index()


def pandas_sessions(p: pd.DataFrame) -> pd.DataFrame:
    s = p.assign(start=p["ts"] - pd.to_timedelta(p["ms_played"], unit="ms"))
    s = s.sort_values(
        ["user_id", "start", "ts", "reason_start", "conn_country"], na_position="last"
    )
    # the latest end of the user's earlier plays
    previous_end = s.groupby("user_id")["ts"].cummax().groupby(s["user_id"]).shift()
    first = previous_end.isna() | (s["start"] - previous_end > pd.Timedelta(minutes=30))
    s["session"] = first.cumsum()
    g = s.groupby("session")
    heads = s[first].set_index("session")
    out = pd.DataFrame(
        {
            "user_id": heads["user_id"],
            "session_start": g["start"].min(),
            "session_end": g["ts"].max(),
            "plays": g.size(),
            "listening_minutes": g["ms_played"].sum() / MIN,
            "start_reason": heads["reason_start"],
        }
    )
    out["duration_minutes"] = (out["session_end"] - out["session_start"]).dt.total_seconds() / 60
    out["first_local_hour"] = local_time(out["session_start"], heads["conn_country"]).dt.hour
    return out.reset_index(drop=True)


def pandas_skip_rates(p: pd.DataFrame) -> pd.DataFrame:
    p = p.assign(
        flagged=p["skipped"].notna(),
        skip=p["skipped"].fillna(False).astype(bool),
        done=p["reason_end"] == "trackdone",
        genre_family="unknown",  # the catalog is empty here
        platform=p["platform"].fillna("unknown"),
        local_hour=local_time(p["ts"], p["conn_country"]).dt.strftime("%H"),
    )
    parts = []
    for dimension, column in [
        ("artist", "artist_name"),
        ("genre_family", "genre_family"),
        ("platform", "platform"),
        ("local_hour", "local_hour"),
    ]:
        g = p.groupby(column)
        part = pd.DataFrame(
            {
                "plays": g.size(),
                "plays_with_skip_flag": g["flagged"].sum(),
                "skips": g["skip"].sum(),
                "completion_rate": g["done"].mean(),
            }
        )
        if dimension == "artist":
            part = part[part["plays"] >= 20]
        part["skip_rate"] = part["skips"] / part["plays_with_skip_flag"].where(
            part["plays_with_skip_flag"] > 0
        )
        parts.append(part.rename_axis("value").reset_index().assign(dimension=dimension))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def world_warehouse(tiny_world, tmp_path_factory) -> Any:
    from spotify_assets.lib.sample.world.history import write_streaming_history

    root = tmp_path_factory.mktemp("engagement_world")
    export = root / "export"
    paths = write_streaming_history(tiny_world, export)
    write_account_data_file(paths[0], export)
    files = []
    for path in sorted(export.glob("*/*.json")):
        key = f"{path.parent.name}/{path.name}"
        parsed = process_file(path.read_bytes(), source_file=key, user_id=path.parent.name)
        out = root / (key.replace("/", "__") + ".parquet")
        write_parquet(parsed.table, out)
        files.append(ProcessedFile(source_file=key, path=str(out), version="1"))
    with duckdb.connect() as conn:
        create_core_tables(conn, [t for t in CORE_SCHEMAS if t != "core.streams"])
        build_streams(conn, files)
        build_marts(conn, MARTS)
        yield conn, load_export(export)


def mart_frame(conn: Any, name: str) -> pd.DataFrame:
    frame = conn.execute(f"select * from marts.{name}").df()
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].astype("datetime64[ns]")
    return frame


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as float64 with NaN for null, text with None, so DuckDB's and pandas' dtypes
    (Int64, boolean, object with None) compare by value."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            continue
        if pd.api.types.infer_dtype(values, skipna=True) == "string":
            out[column] = values.astype(object).where(values.notna(), None)
        else:
            out[column] = values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    return out


def assert_same(mart: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    expected = expected[list(mart.columns)].sort_values(keys).reset_index(drop=True)
    mart = mart.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        comparable(mart), comparable(expected), check_dtype=False, rtol=1e-9, atol=1e-12
    )


def test_world_has_what_the_comparison_needs(world_warehouse):
    conn, plays = world_warehouse
    # The same plays on both sides (the marts count the music rows of core.streams).
    assert rows(conn, "select count(*) from core.streams where content_type = 'music'") == [
        (len(plays),)
    ]
    account = rows(conn, "select count(*) from core.streams where source_format = 'account_data'")
    assert account == [((plays["format"] == "account_data").sum(),)] and account[0][0] > 200
    # The data crosses the US DST change and holds null skip flags and several countries.
    assert plays["ts"].min() < pd.Timestamp("2024-03-10") < plays["ts"].max()
    assert plays["skipped"].isna().sum() > 300 and plays["conn_country"].nunique() >= 3


def test_world_daily_and_monthly(world_warehouse):
    conn, plays = world_warehouse
    daily = mart_frame(conn, "daily_engagement")
    daily["date"] = daily["date"].astype("datetime64[ns]")
    assert_same(daily, pandas_daily(plays), ["date"])
    monthly = mart_frame(conn, "monthly_engagement")
    monthly["month"] = monthly["month"].astype("datetime64[ns]")
    expected = pandas_monthly(plays)
    assert len(expected) >= 4 and expected["churned_users"].iloc[:-2].notna().all()
    assert_same(monthly, expected, ["month"])


def test_world_hourly(world_warehouse):
    conn, plays = world_warehouse
    assert_same(
        mart_frame(conn, "hourly_engagement"), pandas_hourly(plays), ["weekday", "local_hour"]
    )


def test_world_sessions(world_warehouse):
    conn, plays = world_warehouse
    expected = pandas_sessions(plays)
    assert len(expected) > 200 and (expected["plays"] > 1).any()
    assert_same(mart_frame(conn, "sessions"), expected, ["user_id", "session_start"])


def test_world_skip_rates(world_warehouse):
    conn, plays = world_warehouse
    expected = pandas_skip_rates(plays)
    assert (expected["dimension"] == "artist").sum() > 5
    assert_same(mart_frame(conn, "skip_rates"), expected, ["dimension", "value"])
