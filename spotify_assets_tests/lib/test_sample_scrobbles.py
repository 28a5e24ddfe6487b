"""The sample world's scrobbler: their Last.fm and ListenBrainz files are deterministic and
leave every other file alone, their scrobbles overlap their Spotify plays as real scrobblers'
do, and their Wrapped, built by the pipeline from all their files, has the plays the world
knows they made: every Spotify play once, and every play on another service once, in the
year it ended and with the service it came from."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from spotify_assets.lib.marts import engagement_marts, listener_marts
from spotify_assets.lib.marts.run import build_marts
from spotify_assets.lib.sample.world import build_world
from spotify_assets.lib.sample.world.history import write_streaming_history, write_user_history
from spotify_assets.lib.sample.world.scrobbles import (
    LISTENBRAINZ_SINCE,
    WORLD_START,
    scrobbled_plays,
    scrobbling_listener,
    write_scrobbles,
)
from spotify_assets.lib.sample.world.vintages import write_export_vintages
from spotify_assets_tests.support.listening import land_and_build, world_catalog

SESSIONS = next(m for m in engagement_marts.MARTS if m.name == "sessions")


def digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_and_no_other_file_changes(tiny_world, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        write_streaming_history(tiny_world, out)
        write_export_vintages(tiny_world, out)
    before = digests(a)
    written = write_scrobbles(tiny_world, a)
    write_scrobbles(tiny_world, b)
    after = digests(a)
    assert after == digests(b)
    user = scrobbling_listener(tiny_world)
    added = {p.relative_to(a).as_posix() for p in written}
    assert {k: v for k, v in after.items() if k not in added} == before
    assert all(k.startswith(f"{user}/") for k in added)
    other = tmp_path / "other"
    write_scrobbles(build_world("tiny", seed=7), other)
    assert set(digests(other).values()).isdisjoint(after.values())


def test_the_scrobbles_overlap_spotify_as_real_ones_do(tiny_world):
    user = scrobbling_listener(tiny_world)
    s = scrobbled_plays(tiny_world, user)
    p = tiny_world.user_plays(user)
    music = p["content"] == 0
    dur = tiny_world._duration_ms[p["item"]]
    rule = music & (dur > 30_000) & (p["ms_played"] >= np.minimum(dur / 2, 240_000))
    lastfm = s[(s["service"] == "lastfm") & ~s["again"]]
    of_spotify = set(lastfm.loc[lastfm["spotify_play"] >= 0, "spotify_play"])
    assert of_spotify <= set(np.flatnonzero(rule))  # none for a skip
    assert 0.85 < len(of_spotify) / rule.sum() < 0.98  # most, not all: the scrobbler was off
    assert s["again"].sum() > 0  # a few sent twice
    other = lastfm[lastfm["spotify_play"] < 0]
    assert (other["start"] < WORLD_START.value // 10**9).sum() > 100  # years before Spotify
    assert (other["start"] >= p["ts"].min()).sum() > 0  # and beside it
    lb = s[s["service"] == "listenbrainz"]
    assert lb["start"].min() >= LISTENBRAINZ_SINCE.value // 10**9
    assert set(lb["play"]) <= set(lastfm["play"])  # sent to both by one client


def expected_wrapped(world, user: str) -> pd.DataFrame:
    """From the world's own record of what was played: Spotify's plays by the year they
    ended; each play on another service once, by the year it ended, from ListenBrainz once
    the listener scrobbled there too (its listens carry the duration and seconds)."""
    p = world.user_plays(user)
    music = p["content"] == 0
    spotify = pd.DataFrame({"year": pd.to_datetime(p["ts"][music], unit="s").year, "n": 1})
    s = scrobbled_plays(world, user)
    other = s[(s["spotify_play"] < 0) & (s["service"] == "lastfm")]
    end = other["start"] + world._duration_ms[other["track"].to_numpy()] // 1000
    lb = other["start"] >= LISTENBRAINZ_SINCE.value // 10**9
    rows = []
    for year in sorted({*spotify["year"], *pd.to_datetime(end, unit="s").dt.year}):
        in_year = pd.to_datetime(end, unit="s").dt.year == year
        rows.append({"period": str(year), "spotify_plays": int((spotify["year"] == year).sum()),
                     "lastfm_plays": int((in_year & ~lb).sum()),
                     "listenbrainz_plays": int((in_year & lb).sum())})  # fmt: skip
    frame = pd.DataFrame(rows)
    total = frame.drop(columns="period").sum().to_dict()
    frame = pd.concat([frame, pd.DataFrame([{"period": "all", **total}])], ignore_index=True)
    frame["plays"] = frame[["spotify_plays", "lastfm_plays", "listenbrainz_plays"]].sum(axis=1)
    return frame.set_index("period").sort_index()


@pytest.mark.parametrize("scale", ["tiny", pytest.param("demo", marks=pytest.mark.slow)])
def test_the_scrobblers_wrapped_has_every_play_once(scale, tmp_path):
    """Their Spotify export and their scrobbles, through the pipeline's code: the Wrapped of
    every year and of all time against :func:`expected_wrapped`."""
    world = build_world(scale, seed=42)
    user = scrobbling_listener(world)
    landing = tmp_path / "landing"
    write_user_history(world, user, landing)
    write_scrobbles(world, landing)
    conn = duckdb.connect()
    world_catalog(conn, world)
    landed = {p.relative_to(landing).as_posix(): p.read_bytes() for p in landing.rglob("*.*")}
    land_and_build(conn, landed, tmp_path)
    build_marts(conn, [SESSIONS, *listener_marts.MARTS])
    got = (
        conn.execute(
            "select period, plays, spotify_plays, lastfm_plays, listenbrainz_plays "
            "from marts.listener_wrapped where user_id = ?",
            [user],
        )
        .df()
        .set_index("period")
        .sort_index()
    )
    want = expected_wrapped(world, user)[got.columns]
    assert got.astype(int).to_dict("index") == want.astype(int).to_dict("index")
    assert want.loc["all", "lastfm_plays"] > 0 and want.loc["all", "listenbrainz_plays"] > 0
    # every scrobble is a row of core.streams or merged into one
    scrobbles, kept, merged = conn.execute(
        "select (select count(*) from core.scrobbles), "
        "(select count(*) from core.streams where source_format in ('lastfm', 'listenbrainz')), "
        "(select count(*) from core.scrobble_matches)"
    ).fetchone()
    assert scrobbles == kept + merged
    conn.close()


@pytest.mark.slow  # builds the demo world
def test_the_demo_scrobbler_is_a_long_active_listener():
    world = build_world("demo", seed=42)
    user = scrobbling_listener(world)
    usr = world.users.set_index("user_id").loc[user]
    assert usr["active_from"] == WORLD_START and usr["active_until"] == world.history_end
