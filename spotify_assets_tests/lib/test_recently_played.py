"""Recently-played polling: normalization, cursors and gaps, per-user token failures, and the
one-to-one merge with export rows (lib.listening.recently_played) against the fake API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from spotify_assets.lib.lake import LocalLakeStore
from spotify_assets.lib.listening.export_files import STREAMS_SCHEMA, process_file, write_parquet
from spotify_assets.lib.listening.recently_played import (
    MATCH_SLACK_S,
    PAGE_LIMIT,
    drop_polled_duplicates,
    normalize,
    poll_users,
    polled_files,
    read_cursor,
    read_polled,
    refresh_token_variable,
    summarize,
)
from spotify_assets.lib.listening.streams import ProcessedFile, build_streams
from spotify_assets.lib.sample.fake_api import PREMIUM_REQUIRED, FakeSpotifyServer
from spotify_assets.lib.sample.world import APP_USER_ID
from spotify_assets.lib.sample.world.history import write_streaming_history
from spotify_assets.lib.sample.world.recent import recent_plays
from spotify_assets.resources.spotify import SpotifyResource

AFTER_ALL = datetime(2024, 6, 1, tzinfo=UTC)  # after every tiny user's recent plays
TRACK = "4uLU6hMCjMI75M1A2tKUQC"
OTHER = "7qiZfU4dY1lWllzX7mPBI3"


def resource(server: FakeSpotifyServer, **kwargs) -> SpotifyResource:
    return SpotifyResource(
        source="sample", sample_scale="tiny", sample_server_url=server.url, max_retries=0, **kwargs
    )


def poll(store, res, at, users=None):
    with res.user_clients(users, as_of=at) as clients:
        return poll_users(store, clients, at=at)


# ------------------------------------------------------------------------ normalize


def body(*plays: tuple[str, str, int]) -> dict:
    return {
        "items": [
            {
                "played_at": at,
                "track": {
                    "type": "track",
                    "id": tid,
                    "name": f"name {tid[:3]}",
                    "duration_ms": dur,
                    "artists": [{"name": "Artist"}],
                    "album": {"name": "Album"},
                },
            }
            for tid, at, dur in plays
        ]
    }


def test_normalize_gives_streams_rows_with_ms_played_capped_by_the_previous_play():
    t = normalize(
        body(
            (OTHER, "2026-01-01T10:05:00.000Z", 200_000),  # newest first, as Spotify answers
            (TRACK, "2026-01-01T10:01:00Z", 240_000),
        ),
        user_id="alice",
        source_file="recently_played/alice/x.parquet",
        previous_ms=int(datetime(2026, 1, 1, 10, 0, 20, tzinfo=UTC).timestamp() * 1000),
    )
    assert t.schema == STREAMS_SCHEMA
    rows = t.to_pylist()
    assert [r["track_id"] for r in rows] == [TRACK, OTHER]  # sorted by ts
    assert rows[0]["ts"] == datetime(2026, 1, 1, 10, 1, tzinfo=UTC)
    # 40 s since the previous play ended: it cannot have lasted the track's 240 s.
    assert rows[0]["ms_played"] == 40_000
    assert rows[1]["ms_played"] == 200_000  # 4 min since the previous: the whole track
    assert {r["source_format"] for r in rows} == {"recently_played"}
    assert {r["content_type"] for r in rows} == {"music"}
    assert rows[0]["conn_country"] is None and rows[0]["platform"] is None
    assert [r["record_index"] for r in rows] == [1, 0]  # position in the body


def test_normalize_never_goes_below_thirty_seconds_and_skips_broken_items():
    t = normalize(
        {"items": [*body((TRACK, "2026-01-01T10:00:10Z", 180_000))["items"], {"played_at": None}]},
        user_id="bob",
        source_file="f",
        previous_ms=int(datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC).timestamp() * 1000),
    )
    assert t.num_rows == 1
    assert t.column("ms_played").to_pylist() == [30_000]


def test_refresh_token_variable():
    assert refresh_token_variable("alice") == "SPOTIFY_REFRESH_TOKEN_ALICE"
    assert refresh_token_variable("john doe") == "SPOTIFY_REFRESH_TOKEN_JOHN_DOE"


# ------------------------------------------------------------------------ polling


def test_poll_keeps_raw_bodies_rows_and_cursor_and_a_second_poll_finds_nothing(
    fake_api, tiny_world, tmp_path
):
    store = LocalLakeStore(tmp_path)
    res = resource(fake_api)
    results = poll(store, res, AFTER_ALL)
    users = tiny_world.users["user_id"].tolist()
    assert [r.user_id for r in results] == users
    for r in results:
        truth = recent_plays(tiny_world, r.user_id)
        assert r.status == "new plays" and r.plays_new == len(truth)
        assert store.exists(r.raw_key) and r.raw_key.startswith(f"raw/recently_played/{r.user_id}/")
        assert read_cursor(store, r.user_id) == int(truth["played_at"].max().value // 10**6)
        assert not r.possible_gap
    files = polled_files(store, tmp_path / "work")
    rows = read_polled([f.path for f in files])
    assert rows.num_rows == sum(len(recent_plays(tiny_world, u)) for u in users)
    assert {f.source_file for f in files} == set(rows.column("source_file").to_pylist())

    again = poll(store, res, AFTER_ALL + timedelta(minutes=30))
    assert {r.status for r in again} == {"no new plays"}
    assert len(polled_files(store, tmp_path / "work")) == len(files)  # nothing stored


def test_polling_in_steps_misses_nothing_and_repeats_nothing(fake_api, tiny_world, tmp_path):
    store = LocalLakeStore(tmp_path)
    res = resource(fake_api)
    truth = recent_plays(tiny_world, APP_USER_ID)
    start = truth["played_at"].min().to_pydatetime() - timedelta(hours=1)
    at = start
    while at < truth["played_at"].max().to_pydatetime() + timedelta(hours=1):
        poll(store, res, at, [APP_USER_ID])
        at += timedelta(minutes=30)
    rows = read_polled([f.path for f in polled_files(store, tmp_path)])
    got = sorted(rows.column("ts").cast(pa.int64()).to_pylist())
    assert got == sorted((truth["played_at"].astype("int64") // 1000).tolist())


def test_a_gap_longer_than_fifty_plays_is_flagged(fake_api, tiny_world, tmp_path, monkeypatch):
    from spotify_assets.lib.sample.world import recent

    monkeypatch.setattr(recent, "VISIBLE_PLAYS", 20)  # a smaller window: fewer plays needed
    monkeypatch.setattr("spotify_assets.lib.listening.recently_played.PAGE_LIMIT", 20)
    store = LocalLakeStore(tmp_path)
    res = resource(fake_api)
    truth = recent_plays(tiny_world, APP_USER_ID)
    first = truth["played_at"].iloc[2].to_pydatetime() + timedelta(seconds=1)
    [r1] = poll(store, res, first, [APP_USER_ID])
    assert r1.plays_new == 3 and not r1.possible_gap
    [r2] = poll(store, res, AFTER_ALL, [APP_USER_ID])  # one poll after all the rest
    assert r2.plays_new == 20 and r2.possible_gap
    assert len(truth) - 3 > 20  # some plays were lost, as on Spotify
    assert summarize([r1, r2])["users_possible_gap"] == [APP_USER_ID]
    assert PAGE_LIMIT == 50  # the real module constant is untouched outside this test


def test_an_expired_token_fails_its_user_only_and_names_what_to_do(fake_api, tiny_world, tmp_path):
    store = LocalLakeStore(tmp_path)
    users = [APP_USER_ID, "user_0001"]
    fake_api.expire_refresh_token(FakeSpotifyServer.refresh_token_for("user_0001"))
    results = poll(store, resource(fake_api), AFTER_ALL, users)
    ok, dead = results
    assert ok.status == "new plays" and ok.plays_new > 0 and not ok.failed
    assert dead.status == "token expired" and dead.failed
    assert "user_0001" in dead.error
    assert "python -m spotify_assets.auth user_0001" in dead.error
    assert "SPOTIFY_REFRESH_TOKEN_USER_0001" in dead.error
    assert "SPOTIFY_REFRESH_TOKEN " not in dead.error  # the playlist owner's variable
    assert read_cursor(store, "user_0001") is None
    meta = summarize(results)
    assert meta["users_failed"] == ["user_0001"]
    assert meta["per_user"]["user_0001"]["status"] == "token expired"


def test_premium_required_is_reported_per_user(fake_api, tmp_path):
    fake_api.set_owner_premium(False)
    results = poll(LocalLakeStore(tmp_path), resource(fake_api), AFTER_ALL, [APP_USER_ID])
    assert results[0].status == "premium required"
    assert PREMIUM_REQUIRED in results[0].error and APP_USER_ID in results[0].error


# ------------------------------------------------------------------------ dedup


def _export_rows(user: str, plays: list[tuple[str, datetime, int]]) -> pa.Table:
    """Extended-format rows as the export parser gives them: (track, end ts, ms_played)."""
    import orjson

    records = [
        {
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ms_played": ms,
            "master_metadata_track_name": "x",
            "spotify_track_uri": f"spotify:track:{tid}",
            "reason_end": "trackdone",
        }
        for tid, ts, ms in plays
    ]
    return process_file(
        orjson.dumps(records), source_file=f"{user}/export.json", user_id=user
    ).table


def _polled_rows(user: str, plays: list[tuple[str, datetime]]) -> pa.Table:
    items = [(tid, at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), 200_000) for tid, at in reversed(plays)]
    return normalize(body(*items), user_id=user, source_file=f"recently_played/{user}/p.parquet")


def _streams(tmp_path: Path, export: pa.Table, polled: pa.Table):
    files = []
    for name, table in (("export", export), ("polled", polled)):
        path = tmp_path / f"{name}.parquet"
        write_parquet(table, path)
        files.append(ProcessedFile(table.column("source_file")[0].as_py(), str(path), name))
    conn = duckdb.connect()
    build_streams(conn, files)
    return conn


T0 = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)


def test_overlapping_windows_keep_the_export_row_and_the_new_polled_plays(tmp_path):
    # The export covers 20:00-20:10; polling covers 20:06-20:20.
    export = _export_rows(
        "alice",
        [(TRACK, T0 + timedelta(minutes=m), 180_000) for m in (3, 6, 10)],
    )
    polled = _polled_rows(
        "alice",
        [
            (TRACK, T0 + timedelta(minutes=6, seconds=2)),  # the 20:06 play, 2 s later
            (TRACK, T0 + timedelta(minutes=7)),  # the 20:10 play, reported at its start
            (TRACK, T0 + timedelta(minutes=14)),  # new
            (OTHER, T0 + timedelta(minutes=18)),  # new
        ],
    )
    conn = _streams(tmp_path, export, polled)
    assert drop_polled_duplicates(conn) == 2
    left = conn.execute("select source_format, ts from core.streams order by ts").fetchall()
    assert [f for f, _ in left] == ["extended"] * 3 + ["recently_played"] * 2
    assert conn.execute("select count(*) from core.streams").fetchone()[0] == 5
    assert drop_polled_duplicates(conn) == 0  # idempotent


def test_the_same_track_twice_in_a_row_matches_one_to_one(tmp_path):
    d = 200  # seconds; back to back: the first play's end is the second's start
    export = _export_rows(
        "alice",
        [
            (TRACK, T0 + timedelta(seconds=d), d * 1000),
            (TRACK, T0 + timedelta(seconds=2 * d), d * 1000),
        ],
    )
    both = _polled_rows(
        "alice",
        [(TRACK, T0 + timedelta(seconds=d + 1)), (TRACK, T0 + timedelta(seconds=2 * d + 1))],
    )
    conn = _streams(tmp_path, export, both)
    assert drop_polled_duplicates(conn) == 2
    assert conn.execute("select count(*) from core.streams").fetchone()[0] == 2

    # Only the second play was polled: it takes the second export row, nothing else goes.
    second = _polled_rows("alice", [(TRACK, T0 + timedelta(seconds=2 * d + 1))])
    conn = _streams(tmp_path, export, second)
    assert drop_polled_duplicates(conn) == 1
    assert conn.execute("select count(*) from core.streams").fetchone()[0] == 2

    # Three polled plays for two export rows: one polled play is a play the export lacks.
    three = _polled_rows(
        "alice",
        [(TRACK, T0 + timedelta(seconds=d * k + 1)) for k in (1, 2, 3)],
    )
    conn = _streams(tmp_path, export, three)
    assert drop_polled_duplicates(conn) == 2
    assert (
        conn.execute(
            "select count(*) from core.streams where source_format = 'recently_played'"
        ).fetchone()[0]
        == 1
    )


def test_no_match_across_users_tracks_or_beyond_the_tolerance(tmp_path):
    export = _export_rows("alice", [(TRACK, T0, 120_000)])
    polled = pa.concat_tables(
        [
            _polled_rows("bob", [(TRACK, T0)]),  # another user
            _polled_rows("alice", [(OTHER, T0)]),  # another track
            _polled_rows("alice", [(TRACK, T0 + timedelta(seconds=MATCH_SLACK_S + 5))]),
            _polled_rows("alice", [(TRACK, T0 - timedelta(seconds=120 + MATCH_SLACK_S + 5))]),
        ]
    )
    conn = duckdb.connect()
    conn.execute("create schema core")
    conn.register("_e", export)
    conn.register("_p", polled)
    conn.execute(
        "create table core.streams as select * replace (timezone('UTC', ts) as ts, "
        "timezone('UTC', offline_timestamp) as offline_timestamp) from "
        "(select * from _e union all by name select * from _p)"
    )
    assert drop_polled_duplicates(conn) == 0
    assert conn.execute("select count(*) from core.streams").fetchone()[0] == 5


def test_sample_world_poll_after_the_export_merges_without_double_counting(
    fake_api, tiny_world, tmp_path
):
    """The whole path: the sample export lands, a poll finds the export's last plays and new
    ones; after the merge each play is counted once."""
    exports = write_streaming_history(tiny_world, tmp_path / "landing")
    files = []
    for path in exports:
        user = path.parent.name
        table = process_file(
            path.read_bytes(), source_file=f"{user}/{path.name}", user_id=user
        ).table
        out = tmp_path / "processed" / user / f"{path.name}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(table, out)
        files.append(ProcessedFile(f"{user}/{path.name}", str(out), "1"))
    store = LocalLakeStore(tmp_path / "lake")
    poll(store, resource(fake_api), AFTER_ALL)
    polled = polled_files(store, tmp_path)
    conn = duckdb.connect()
    build_streams(conn, files + polled)
    before = conn.execute("select count(*) from core.streams").fetchone()[0]
    dropped = drop_polled_duplicates(conn)
    users = tiny_world.users["user_id"].tolist()
    overlap = sum(int(recent_plays(tiny_world, u)["in_export"].sum()) for u in users)
    new = sum(int((~recent_plays(tiny_world, u)["in_export"]).sum()) for u in users)
    assert overlap > 0 and new > 0
    assert dropped == overlap
    assert conn.execute("select count(*) from core.streams").fetchone()[0] == before - overlap
    assert (
        conn.execute(
            "select count(*) from core.streams where source_format = 'recently_played'"
        ).fetchone()[0]
        == new
    )


@pytest.mark.parametrize("user", ["user_0002"])
def test_sample_tokens_are_per_user(fake_api, user):
    import requests

    reply = requests.post(
        fake_api.token_url,
        data={"grant_type": "refresh_token", "refresh_token": f"sample-refresh-{user}"},
        auth=("id", "secret"),
        timeout=5,
    ).json()
    me = requests.get(
        fake_api.api_prefix + "me",
        headers={"Authorization": f"Bearer {reply['access_token']}"},
        timeout=5,
    ).json()
    assert me["id"] == user
