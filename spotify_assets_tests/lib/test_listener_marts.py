"""The listener marts, two ways.

1. Hand-written plays with every expected value worked out by hand (the arithmetic in the
   comments): a listener with one play, a listener whose year has a gap of months (January,
   then October) and goes on into the next year, a listener with podcasts only; and the
   affinity macro over two of them.
2. The tiny sample world through the pipeline's own code, against an independent pandas
   computation of the Wrapped definitions from ``core.streams``.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd
import pytest

from spotify_assets.lib.marts import engagement_marts
from spotify_assets.lib.marts.listener_marts import MARTS, WRAPPED_TOP_N
from spotify_assets.lib.marts.run import build_marts
from spotify_assets_tests.support.warehouse import create_core_tables, insert, world_streams

SESSIONS = next(m for m in engagement_marts.MARTS if m.name == "sessions")
S = 1000  # ms per second

SONG = {  # track: (name, artist, album)
    "t1": ("Song One", "Artist A", "Album X"),
    "t2": ("Song Two", "Artist A", "Album W"),
    "t3": ("Song Three", "Artist B", "Album Y"),
}
# Albums' release years: X 2019, W 2001, Y 2010. Artist A is pop, B rock.


def play(user, ts, ms, track=None, country=None, skipped=None, show=None) -> dict[str, Any]:
    row = {"user_id": user, "ts": datetime.fromisoformat(ts), "ms_played": ms,
           "conn_country": country, "skipped": skipped}  # fmt: skip
    if show:
        return {**row, "content_type": "podcast", "show_name": show, "episode_name": "ep"}
    name, artist, album = SONG[track]
    return {**row, "content_type": "music", "track_id": track, "track_name": name,
            "artist_name": artist, "album_name": album}  # fmt: skip


PLAYS = [
    # "one": a single play, Friday 2024-05-10 12:00 UTC (no country: UTC), 200 s.
    play("one", "2024-05-10 12:00:00", 200 * S, "t1", skipped=False),
    # "gap": January, then nothing until October 2023, then 2024.
    play("gap", "2023-01-10 09:00:00", 60 * S, "t1", skipped=False),  # Tue, a stream
    play("gap", "2023-01-11 09:30:00", 60 * S, "t2"),  # Wed, a stream, skipped unknown
    play("gap", "2023-01-12 20:00:00", 10 * S, "t1", skipped=True),  # not a stream
    play("gap", "2023-10-05 15:00:00", 120 * S, "t3", "US", False),  # 11:00 EDT, Thu
    play("gap", "2024-01-02 10:00:00", 45 * S, "t3"),  # Tue
    # "pod": podcasts only.
    play("pod", "2025-02-01 08:00:00", 600 * S, show="Talk"),
    play("pod", "2025-02-02 08:00:00", 300 * S, show="News"),
    play("pod", "2025-02-03 08:00:00", 100 * S, show="Talk"),
]


@pytest.fixture(scope="module")
def hand() -> Any:
    conn = duckdb.connect()
    create_core_tables(conn)
    insert(conn, "core.streams", PLAYS)
    insert(conn, "core.artists", [{"artist_id": "a", "artist_name": "Artist A"},
                                  {"artist_id": "b", "artist_name": "Artist B"}])  # fmt: skip
    insert(conn, "core.artist_genres", [{"artist_id": "a", "genre": "pop", "genre_family": "pop"},
                                        {"artist_id": "b", "genre": "rock",
                                         "genre_family": "rock"}])  # fmt: skip
    insert(conn, "core.albums", [{"album_id": "X", "release_year": 2019},
                                 {"album_id": "W", "release_year": 2001},
                                 {"album_id": "Y", "release_year": 2010}])  # fmt: skip
    insert(conn, "core.tracks", [
        {"track_id": t, "track_name": n, "album_id": al[-1], "primary_artist_id": ar[-1].lower()}
        for t, (n, ar, al) in SONG.items()])  # fmt: skip
    build_marts(conn, [SESSIONS, *MARTS])
    yield conn
    conn.close()


def wrapped(conn: Any, user: str, period: str) -> dict[str, Any]:
    cur = conn.execute(
        "select * from marts.listener_wrapped where user_id = ? and period = ?", [user, period]
    )
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, (user, period, rows)
    return dict(zip(names, rows[0], strict=True))


def names(items: list[dict] | None) -> list[str] | None:
    return None if items is None else [i["name"] for i in items]


def test_rows_are_listener_years_plus_all_time(hand):
    got = hand.execute(
        "select user_id, year, period from marts.listener_wrapped order by all"
    ).fetchall()
    assert got == [("gap", 2023, "2023"), ("gap", 2024, "2024"), ("gap", None, "all"),
                   ("one", 2024, "2024"), ("one", None, "all"),
                   ("pod", 2025, "2025"), ("pod", None, "all")]  # fmt: skip


def test_listener_with_one_play(hand):
    for period in ("2024", "all"):
        w = wrapped(hand, "one", period)
        assert (w["plays"], w["streams"]) == (1, 1)
        assert w["minutes_played"] == pytest.approx(200 / 60)
        assert (w["distinct_tracks"], w["distinct_artists"], w["distinct_albums"]) == (1, 1, 1)
        assert w["top_tracks"] == [
            {"name": "Song One", "artist": "Artist A", "streams": 1, "minutes": 3.3}
        ]
        assert names(w["top_artists"]) == ["Artist A"]
        assert names(w["top_albums"]) == ["Album X"]
        assert names(w["top_genre_families"]) == ["pop"]
        assert w["top_podcast_shows"] is None
        assert (w["top_month"], w["top_month_streams"]) == (date(2024, 5, 1), 1)
        assert w["top_weekday"] == 4  # a Friday
        assert w["clock_share"] == [1.0 if h == 12 else 0.0 for h in range(24)]
        assert (w["longest_streak_days"], w["longest_streak_start"]) == (1, date(2024, 5, 10))
        # the session starts at ts - ms_played = 11:56:40 and lasts 200 s
        assert w["longest_session_minutes"] == pytest.approx(200 / 60)
        assert w["longest_session_start"] == datetime(2024, 5, 10, 11, 56, 40)
        assert w["first_play_ts"] == datetime(2024, 5, 10, 12)
        assert (w["first_play_track"], w["first_play_artist"]) == ("Song One", "Artist A")
        assert w["listening_age"] == 2019
        assert w["skip_rate"] == 0.0
        assert w["most_skipped_track"] is None
    assert wrapped(hand, "one", "2024")["discovery_share"] == 1.0
    assert wrapped(hand, "one", "all")["discovery_share"] is None


def test_year_with_a_gap_of_months(hand):
    w = wrapped(hand, "gap", "2023")
    # 4 plays, the 10 s one is not a stream; 60 + 60 + 10 + 120 = 250 s
    assert (w["plays"], w["streams"]) == (4, 3)
    assert w["minutes_played"] == pytest.approx(250 / 60)
    assert (w["distinct_tracks"], w["distinct_artists"], w["distinct_albums"]) == (3, 2, 3)
    # one stream each; ties by listening time: t3 120 s, t1 60 + 10 = 70 s, t2 60 s
    assert names(w["top_tracks"]) == ["Song Three", "Song One", "Song Two"]
    assert [i["streams"] for i in w["top_tracks"]] == [1, 1, 1]
    # A: 2 streams (130 s), B: 1 stream
    assert names(w["top_artists"]) == ["Artist A", "Artist B"]
    assert names(w["top_genre_families"]) == ["pop", "rock"]
    # January: 2 streams; October: 1
    assert (w["top_month"], w["top_month_streams"]) == (date(2023, 1, 1), 2)
    # Tue, Wed, Thu (local, 11:00 EDT) one stream each; Thursday has the most time (120 s)
    assert w["top_weekday"] == 3
    # local hours: 9 (60 + 60 s), 20 (10 s), 11 (120 s, New York) of 250 s
    clock = w["clock_share"]
    assert len(clock) == 24 and sum(clock) == pytest.approx(1.0)
    assert (clock[9], clock[11], clock[20]) == pytest.approx((0.48, 0.48, 0.04))
    # stream days: Jan 10, Jan 11 (Jan 12's only play is 10 s), Oct 5
    assert (w["longest_streak_days"], w["longest_streak_start"]) == (2, date(2023, 1, 10))
    assert w["longest_session_minutes"] == pytest.approx(2.0)  # the October play
    assert w["longest_session_start"] == datetime(2023, 10, 5, 14, 58)
    assert w["first_play_ts"] == datetime(2023, 1, 10, 9)
    assert w["discovery_share"] == 1.0  # the first year of data: every artist is new
    assert w["listening_age"] == 2010  # streams of t1 (2019), t2 (2001), t3 (2010)
    assert w["skip_rate"] == pytest.approx(1 / 3)  # skipped known for 3 plays, 1 true
    assert (w["most_skipped_track"], w["most_skipped_count"]) == ("Song One", 1)

    nxt = wrapped(hand, "gap", "2024")
    assert (nxt["plays"], nxt["streams"], nxt["discovery_share"]) == (1, 1, 0.0)  # B is not new
    assert nxt["skip_rate"] is None  # skipped never known

    every = wrapped(hand, "gap", "all")
    assert (every["plays"], every["streams"]) == (5, 4)
    assert every["minutes_played"] == pytest.approx(295 / 60)
    # t3 now has 2 streams
    assert names(every["top_tracks"]) == ["Song Three", "Song One", "Song Two"]
    assert every["top_tracks"][0]["streams"] == 2
    # Tuesday: 2023-01-10 and 2024-01-02
    assert every["top_weekday"] == 1
    assert every["longest_streak_days"] == 2
    assert every["listening_age"] == 2010  # 2001, 2010, 2010, 2019
    assert every["first_play_ts"] == datetime(2023, 1, 10, 9)


def test_podcasts_only(hand):
    for period in ("2025", "all"):
        w = wrapped(hand, "pod", period)
        assert (w["plays"], w["streams"], w["minutes_played"]) == (0, 0, 0.0)
        assert w["podcast_plays"] == 3
        assert w["podcast_minutes"] == pytest.approx(1000 / 60)
        assert w["top_podcast_shows"] == [
            {"name": "Talk", "artist": None, "streams": 2, "minutes": 11.7, "plays": 2},
            {"name": "News", "artist": None, "streams": 1, "minutes": 5.0, "plays": 1},
        ]
        for column in ("top_tracks", "top_artists", "top_month", "top_weekday", "clock_share",
                       "longest_streak_days", "first_play_ts", "discovery_share",
                       "listening_age", "skip_rate", "most_skipped_track"):  # fmt: skip
            assert w[column] is None, column


def test_top_lists_stop_at_five():
    conn = duckdb.connect()
    create_core_tables(conn)
    songs = {f"x{i}": (f"S{i}", f"Artist {i}", f"Al{i}") for i in range(7)}
    SONG.update(songs)
    try:
        insert(conn, "core.streams", [
            play("u", f"2024-01-0{1 + i % 7} 10:00:00", (40 + i) * S, f"x{i}") for i in range(7)
        ])  # fmt: skip
    finally:
        for k in songs:
            SONG.pop(k)
    build_marts(conn, [SESSIONS, *MARTS])
    w = wrapped(conn, "u", "2024")
    assert len(w["top_tracks"]) == WRAPPED_TOP_N
    assert names(w["top_tracks"]) == ["S6", "S5", "S4", "S3", "S2"]  # by listening time
    assert w["longest_streak_days"] == 7


def test_affinity_macro(hand):
    got = hand.execute(
        "select kind, rank, content_name, worst_rank, listener_ranks "
        "from marts.affinity(['one', 'gap'], null, 10) order by kind, rank"
    ).fetchall()
    assert got == [
        # Artist A: one's 1st; gap's 2nd (2 streams, 140 s, behind B's 2 streams and 165 s)
        ("artist", 1, "Artist A", 2, [{"user_id": "gap", "rank": 2, "streams": 2},
                                      {"user_id": "one", "rank": 1, "streams": 1}]),
        # Song One: one's 1st, gap's 2nd of all time (behind Song Three's 2 streams)
        ("track", 1, "Song One", 2, [{"user_id": "gap", "rank": 2, "streams": 1},
                                     {"user_id": "one", "rank": 1, "streams": 1}]),
    ]  # fmt: skip
    # in 2023 only gap listened: nothing is shared
    assert (
        hand.execute("select count(*) from marts.affinity(['one', 'gap'], 2023, 10)").fetchone()[0]
        == 0
    )
    assert hand.execute("select count(*) from marts.affinity(['gap'], 2023, 1)").fetchone()[0] == 2


# ------------------------------------------------------------------------------------------
# 2. The sample world against an independent pandas computation
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tiny_world, tmp_path_factory) -> Any:
    """The tiny world's listening history through the pipeline's own parsing and
    deduplication (the catalog tables stay empty: the compared columns do not need them)."""
    tmp = tmp_path_factory.mktemp("listener_world")
    conn = duckdb.connect()
    create_core_tables(conn)
    world_streams(conn, tiny_world, tmp)
    build_marts(conn, [SESSIONS, *MARTS])
    yield conn
    conn.close()


def pandas_wrapped(p: pd.DataFrame) -> pd.DataFrame:
    """Plays, streams, minutes, distinct tracks, top 5 tracks, top month, longest streak,
    skip rate and first play per (user, year) and all time, from the definitions."""
    music = p[p["content_type"] == "music"].copy()
    music["stream"] = music["ms_played"] >= 30_000
    music["track_key"] = music["track_id"].fillna(
        "name:" + music["track_name"].str.lower() + " - " + music["artist_name"].str.lower()
    )
    out = []
    scopes = [(str(y), g) for (y,), g in music.groupby([music["ts"].dt.year])]
    for user, up in music.groupby("user_id"):
        for period, g in [(str(y), g) for y, g in up.groupby(up["ts"].dt.year)] + [("all", up)]:
            tracks = (
                g.groupby("track_key")
                .agg(name=("track_name", "min"), streams=("stream", "sum"), ms=("ms_played", "sum"))
                .reset_index()
            )
            tracks = tracks[tracks["streams"] > 0].sort_values(
                ["streams", "ms", "track_key"], ascending=[False, False, True]
            )
            months = g.groupby(g["ts"].dt.to_period("M")).agg(
                streams=("stream", "sum"), ms=("ms_played", "sum")
            )
            months = months[months["streams"] > 0].reset_index()
            months = months.sort_values(["streams", "ms", "ts"], ascending=[False, False, True])
            days = pd.Series(sorted(set(g.loc[g["stream"], "ts"].dt.date)))
            streak = 0
            if len(days):
                runs = (pd.to_datetime(days).diff().dt.days != 1).cumsum()
                streak = int(runs.value_counts().max())
            known = g["skipped"].notna()
            first = g.sort_values(["ts", "track_name"]).iloc[0]
            out.append({
                "user_id": user, "period": period, "plays": len(g),
                "streams": int(g["stream"].sum()), "minutes_played": g["ms_played"].sum() / 60000,
                "distinct_tracks": g["track_key"].nunique(),
                "top_tracks": list(tracks["name"].iloc[:WRAPPED_TOP_N]) or None,
                "top_month": months["ts"].iloc[0].start_time.date() if len(months) else None,
                "longest_streak_days": streak or None,
                "skip_rate": (g.loc[known, "skipped"].astype(bool).sum() / known.sum())
                if known.any() else None,
                "first_play_ts": first["ts"].to_pydatetime(),
            })  # fmt: skip
    assert scopes  # the world has music
    return pd.DataFrame(out)


def assert_wrapped_agrees(conn: Any) -> None:
    """marts.listener_wrapped against :func:`pandas_wrapped` over the same core.streams."""
    streams = conn.execute("select * from core.streams").df()
    expected = pandas_wrapped(streams).set_index(["user_id", "period"]).sort_index()
    got = (
        conn.execute("select * from marts.listener_wrapped where plays > 0").df()
        .set_index(["user_id", "period"]).sort_index()
    )  # fmt: skip
    assert list(got.index) == list(expected.index)
    for column in expected.columns:
        for key, want in expected[column].items():
            have = got.at[key, column]
            if column == "top_tracks":
                have = [i["name"] for i in have] if have is not None else None
            elif column == "top_month" and have is not None:
                have = pd.Timestamp(have).date()
            elif column == "first_play_ts":
                have = pd.Timestamp(have).to_pydatetime()
            if isinstance(want, float) and want is not None and not math.isnan(want):
                assert have == pytest.approx(want), (key, column)
            elif want is None or (isinstance(want, float) and math.isnan(want)):
                assert have is None or pd.isna(have), (key, column, have)
            else:
                assert have == want, (key, column, have, want)


def test_world_wrapped_agrees_with_pandas(world):
    n = world.execute("select count(distinct user_id) from core.streams").fetchall()[0][0]
    assert n >= 3  # (the tiny world spans one year)
    assert_wrapped_agrees(world)


def test_real_export_files_of_every_vintage_agree_with_pandas(tmp_path):
    """The export files of every vintage in the fixtures (account-data music and podcast,
    the 2019-2022 endsong, the extended history with video and podcasts), each a listener,
    through the pipeline's parsing and deduplication."""
    from pathlib import Path

    from spotify_assets.lib.landing import NotIngested
    from spotify_assets.lib.listening.export_files import process_file, write_parquet
    from spotify_assets.lib.listening.streams import ProcessedFile, build_streams

    fixtures = Path(__file__).parent / "fixtures" / "streaming_history"
    conn = duckdb.connect()
    create_core_tables(conn)
    files = []
    for i, path in enumerate(sorted(fixtures.glob("*.json"))):
        user = path.stem.lower().replace("-", "_")
        try:
            parsed = process_file(path.read_bytes(), source_file=path.name, user_id=user)
        except NotIngested:
            continue  # video history
        write_parquet(parsed.table, tmp_path / f"{i}.parquet")
        files.append(ProcessedFile(path.name, str(tmp_path / f"{i}.parquet"), "v1"))
    build_streams(conn, files)
    build_marts(conn, [SESSIONS, *MARTS])
    users = conn.execute("select count(distinct user_id) from marts.listener_wrapped").fetchall()
    assert users[0][0] >= 4
    assert_wrapped_agrees(conn)
