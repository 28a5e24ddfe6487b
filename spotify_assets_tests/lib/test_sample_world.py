import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES, genre_family
from spotify_assets.lib.sample.world import (
    APP_USER_ID,
    SAMPLE_COUNTRIES,
    SCALES,
    WORLD_START,
    SampleWorld,
    build_world,
    get_scale,
)
from spotify_assets.lib.sample.world.history import EXPORT_FIELDS, write_streaming_history
from spotify_assets.lib.sample.world.plays import REASONS
from spotify_assets.lib.timezones import COUNTRY_TIMEZONES

ID_RE = re.compile(r"^[0-9A-Za-z]{22}$")
FILE_RE = re.compile(r"^Streaming_History_Audio_(\d{4})(?:-(\d{4}))?_(\d+)\.json$")
H = pd.Timedelta(hours=8)
T0 = WORLD_START + pd.Timedelta(days=40)


@pytest.fixture(scope="module")
def tiny() -> SampleWorld:
    return build_world("tiny", seed=42)


@pytest.fixture(scope="module")
def demo() -> SampleWorld:
    return build_world("demo", seed=42)


@pytest.fixture(scope="module")
def demo_plays(demo) -> pd.DataFrame:
    frames = []
    for user_id in demo.users["user_id"]:
        df = pd.DataFrame(demo.user_plays(user_id))
        df["user_id"] = user_id
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def tiny_export(tiny, tmp_path_factory) -> list[Path]:
    return write_streaming_history(tiny, tmp_path_factory.mktemp("landing"))


# ------------------------------------------------------------------ scales and determinism


def test_get_scale_names_valid_scales_on_unknown():
    assert get_scale("tiny") is SCALES["tiny"]
    with pytest.raises(ValueError, match="tiny.*demo.*bench"):
        get_scale("huge")


def test_tiny_builds_fast_and_build_world_caches():
    t = time.perf_counter()
    SampleWorld(get_scale("tiny"), seed=3)
    assert time.perf_counter() - t < 2.0
    assert build_world("tiny", 42) is build_world(get_scale("tiny"), 42)


def test_same_seed_same_world_and_different_seed_differs(tiny):
    again = SampleWorld(get_scale("tiny"), seed=42)
    for name in ("artists", "albums", "tracks", "playlists", "playlist_entries", "users"):
        pd.testing.assert_frame_equal(getattr(tiny, name), getattr(again, name))
    for key, col in tiny.user_plays(APP_USER_ID).items():
        np.testing.assert_array_equal(col, again.user_plays(APP_USER_ID)[key])
    other = SampleWorld(get_scale("tiny"), seed=43)
    assert not set(other.tracks["track_id"]) & set(tiny.tracks["track_id"])
    assert not np.array_equal(other.tracks["duration_ms"], tiny.tracks["duration_ms"])


# ------------------------------------------------------------------ catalog shape


def test_catalog_columns_and_ids(demo):
    assert {"artist_id", "artist_name", "genres", "followers_base", "popularity_base"} <= set(
        demo.artists.columns
    )
    assert {
        "album_id",
        "album_name",
        "album_type",
        "release_date",
        "release_date_precision",
        "total_tracks",
        "artist_ids",
        "label",
        "upc",
    } <= set(demo.albums.columns)
    assert {
        "track_id",
        "track_name",
        "album_id",
        "artist_ids",
        "duration_ms",
        "explicit",
        "disc_number",
        "track_number",
        "isrc",
        "stream_weight",
        "popularity_base",
    } <= set(demo.tracks.columns)
    for frame, col in (
        (demo.artists, "artist_id"),
        (demo.albums, "album_id"),
        (demo.tracks, "track_id"),
        (demo.playlists, "playlist_id"),
    ):
        assert frame[col].is_unique
        assert frame[col].str.match(ID_RE).all()
    assert len(demo.tracks) == demo.scale.n_tracks
    assert len(demo.artists) == demo.scale.n_artists


def test_artists_genres_and_followers(demo):
    n_genres = demo.artists["genres"].map(len)
    assert n_genres.between(0, 3).all()
    assert 0.07 <= (n_genres == 0).mean() <= 0.13
    fams = demo.artists["genres"].map(lambda gs: {genre_family(g) for g in gs})
    assert (fams[n_genres > 0].map(len) == 1).all()  # an artist's genres share a family
    assert demo.artists["popularity_base"].between(0, 100).all()
    followers = demo.artists["followers_base"]
    assert followers.min() >= 0
    assert followers.quantile(0.99) > 50 * followers.median()  # heavy-tailed
    corr = np.corrcoef(np.log1p(followers), demo.artists["popularity_base"])[0, 1]
    assert 0.6 < corr < 0.98  # correlated, with noise


def test_albums_and_tracks_are_consistent(demo):
    albums = demo.albums.set_index("album_id")
    assert set(albums["album_type"]) <= {"album", "single", "compilation"}
    lengths = albums["release_date"].str.len()
    expected = albums["release_date_precision"].map({"day": 10, "month": 7, "year": 4})
    assert (lengths == expected).all()
    assert (albums["release_date_precision"] != "day").any()
    counts = demo.tracks.groupby("album_id").size()
    assert (counts == albums.loc[counts.index, "total_tracks"]).all()
    primary = demo.tracks["artist_ids"].str[0]
    assert (primary == demo.tracks["primary_artist_id"]).all()
    album_artist = albums.loc[demo.tracks["album_id"], "artist_ids"].str[0].to_numpy()
    assert (primary.to_numpy() == album_artist).all()
    featured = demo.tracks["artist_ids"].map(len) > 1
    assert 0.10 <= featured.mean() <= 0.20
    assert demo.tracks["isrc"].str.match(r"^[A-Z]{2}[0-9A-Z]{3}\d{7}$").all()
    assert demo.tracks["stream_weight"].sum() == pytest.approx(1.0)
    # lookups for a fake server
    row = demo.track_index.get_loc(demo.tracks["track_id"].iat[123])
    assert row == 123
    album_id = demo.tracks["album_id"].iat[123]
    assert 123 in demo.album_track_rows(album_id)


def test_listeners_zones_are_the_platforms(demo):
    """One table of zones: a listener's is its country's in lib.timezones, as the marts'."""
    assert len(set(SAMPLE_COUNTRIES)) == len(SAMPLE_COUNTRIES) == 24
    users = demo.users
    assert set(users["country"]) <= set(SAMPLE_COUNTRIES)
    assert (users["timezone"] == users["country"].map(COUNTRY_TIMEZONES)).all()


def test_users_and_playlists(demo):
    users = demo.users
    assert users["user_id"].iat[0] == APP_USER_ID
    assert users["user_id"].str.match(r"^[a-z0-9_]+$").all()
    assert len(users) == demo.scale.n_users
    assert users["country"].value_counts(normalize=True).iat[0] > 0.15  # a few big markets
    pl = demo.playlists
    assert len(pl) == demo.scale.n_playlists + 2
    foreign = pl[~pl["owned_by_app_user"]]
    assert len(foreign) == 2 and (foreign["owner_id"] != APP_USER_ID).all()
    assert (pl.loc[pl["owned_by_app_user"], "owner_id"] == APP_USER_ID).all()
    assert not (pl["collaborative"] & pl["public"]).any()


# ------------------------------------------------------------------ calibration (demo)


def test_durations_calibrated(demo):
    s = demo.tracks["duration_ms"] / 1000
    assert 200 <= s.median() <= 226
    assert 165 <= s.quantile(0.25) <= 185
    assert 250 <= s.quantile(0.75) <= 278
    assert s.quantile(0.99) > 1.8 * s.median()  # long right tail


def _streams(demo, plays):
    return plays[(plays["content"] == 0) & (plays["ms_played"] >= 30_000)]


def test_streams_concentrate_on_a_few_tracks(demo, demo_plays):
    counts = _streams(demo, demo_plays)["item"].value_counts()
    top = max(1, len(demo.tracks) // 100)
    assert counts.iloc[:top].sum() / counts.sum() >= 0.45
    assert (counts.cumsum() < counts.sum() / 2).sum() + 1 <= top


def test_genre_and_decade_shares_of_streams(demo, demo_plays):
    items = _streams(demo, demo_plays)["item"].to_numpy()
    fam = demo.artists["genre_family"].to_numpy()[demo._trk_artist[items]]
    share = pd.Series(fam).value_counts(normalize=True)
    assert share["hip hop/r&b"] == pytest.approx(0.25, abs=0.04)
    assert share["rock"] == pytest.approx(0.20, abs=0.04)
    assert share["pop"] == pytest.approx(0.19, abs=0.04)
    assert set(share.index[:3]) == {"hip hop/r&b", "rock", "pop"}
    assert {"latin", "country", "electronic"} <= set(share.index[3:7])
    assert set(share.index) <= set(GENRE_FAMILIES)
    year = demo.tracks["release_ts"].dt.year.to_numpy()[items]
    decade = pd.Series(np.where(year < 2000, 0, year // 10 * 10)).value_counts(normalize=True)
    assert decade[2020] == pytest.approx(0.50, abs=0.06)
    assert decade[2010] == pytest.approx(0.30, abs=0.05)
    assert decade[2000] == pytest.approx(0.10, abs=0.04)
    assert decade[0] == pytest.approx(0.10, abs=0.04)


def test_skips_short_plays_and_content_mix(demo_plays):
    music = demo_plays[demo_plays["content"] == 0]
    assert (music["ms_played"] < 5000).mean() == pytest.approx(0.25, abs=0.03)
    known = music[music["skipped"] >= 0]
    assert (known["skipped"] == 1).mean() == pytest.approx(1 / 3, abs=0.04)
    assert 0.03 <= (demo_plays["skipped"] < 0).mean() <= 0.25  # nulls: a minority
    podcasts = (demo_plays["content"] == 1).mean()
    assert 0.015 <= podcasts <= 0.05
    assert (demo_plays["content"] == 2).any()


def test_daily_and_weekly_rhythm_in_local_time(demo, demo_plays):
    tz = demo.users.set_index("user_id")["timezone"]
    hours, weekdays, minutes = [], [], []
    for user_id, g in demo_plays.groupby("user_id"):
        local = pd.to_datetime(g["ts"] * 10**9, utc=True).dt.tz_convert(tz[user_id])
        hours.append(local.dt.hour)
        weekdays.append(local.dt.dayofweek)
        music = g["content"] == 0
        day = local[music].dt.tz_localize(None).dt.floor("D")
        minutes.append(g.loc[music, "ms_played"].groupby(day).sum() / 60_000)
    h = pd.concat(hours).value_counts(normalize=True)
    assert h[[2, 3, 4]].mean() < 0.3 * h[[18, 19, 20]].mean()
    assert h[[9, 10]].mean() > h[[13, 14]].mean()  # a morning peak
    assert h.idxmax() in (18, 19, 20, 21)
    wd = pd.concat(weekdays).value_counts()
    assert wd.idxmax() == 4  # Friday
    assert 0.75 <= wd[6] / wd[4] <= 0.95
    per_day = pd.concat(minutes)
    assert 35 <= per_day.median() <= 90
    assert per_day.quantile(0.9) > 2.5 * per_day.median()  # heavy-tailed


# ------------------------------------------------------------------ time-varying values


def test_popularity_range_drift_and_release(demo):
    ids = demo.tracks["track_id"]
    t1, t2 = WORLD_START + pd.Timedelta(days=100), WORLD_START + pd.Timedelta(days=300)
    p1 = demo.track_popularity_at(ids, t1)
    p2 = demo.track_popularity_at(ids, t2)
    assert p1.dtype.kind == "i" and p1.min() >= 0 and p1.max() <= 100
    assert np.median(p1) <= 10  # most tracks near 0
    assert p1.max() >= 85
    assert (p1 != p2).mean() > 0.2
    np.testing.assert_array_equal(p1, demo.track_popularity_at(ids, t1.to_pydatetime()))
    # small noise between adjacent 8-hour windows, no jumps
    p1b = demo.track_popularity_at(ids, t1 + H)
    assert np.abs(p1b - p1).max() <= 6
    # unreleased tracks are at 0; new releases rise after release
    release = demo.tracks["release_ts"]
    new = demo.tracks[(release > t1 + pd.Timedelta(days=1)) & (release < t2)].index
    assert len(new) > 10
    assert (p1[new] == 0).all()
    before = demo.track_popularity_at(ids[new], WORLD_START)
    peak = np.array(
        [demo.track_popularity_at([ids[i]], release[i] + pd.Timedelta(days=18))[0] for i in new]
    )
    late = np.array(
        [demo.track_popularity_at([ids[i]], release[i] + pd.Timedelta(days=700))[0] for i in new]
    )
    assert (peak >= before).all() and np.mean(peak > late) > 0.5
    with pytest.raises(KeyError):
        demo.track_popularity_at(["nope"], t1)


def test_artist_album_popularity_and_followers(demo):
    t1, t2 = WORLD_START + pd.Timedelta(days=30), WORLD_START + pd.Timedelta(days=400)
    artists = demo.artists["artist_id"].iloc[:200]
    ap = demo.artist_popularity_at(artists, t1)
    assert ap.shape == (200,) and ap.min() >= 0 and ap.max() <= 100
    # an artist is at least as popular as its tracks' mean, at most its best track
    i = 5
    rows = demo.tracks.index[demo.tracks["primary_artist_id"] == artists.iat[i]]
    tp = demo.track_popularity_at(demo.tracks["track_id"][rows], t1)
    assert tp.mean() - 1 <= ap[i] <= tp.max() + 1
    f1, f2 = demo.artist_followers_at(artists, t1), demo.artist_followers_at(artists, t2)
    assert (f2 >= f1).all() and (f2 > f1).mean() > 0.5
    assert (f2 <= f1 * 1.6 + 1).all()  # slowly
    al = demo.album_popularity_at(demo.albums["album_id"].iloc[:50], t1)
    assert al.min() >= 0 and al.max() <= 100


# ------------------------------------------------------------------ playlists


def test_playlist_items_evolve_and_snapshot_ids_follow(tiny):
    changed_any = 0
    for pid in tiny.playlists["playlist_id"]:
        prev_items, prev_sid = None, None
        for k in range(30):
            at = T0 + k * H
            items = tiny.playlist_items_at(pid, at)
            sid = tiny.playlist_snapshot_id(pid, at)
            assert list(items.columns) == ["track_id", "added_at"]
            assert items["added_at"].is_monotonic_increasing
            assert (items["added_at"] <= at).all()
            assert items["track_id"].is_unique
            key = list(zip(items["track_id"], items["added_at"], strict=True))
            if prev_items is not None:
                assert (key != prev_items) == (sid != prev_sid)
                changed_any += key != prev_items
            prev_items, prev_sid = key, sid
    assert changed_any >= 10
    assert tiny.playlist_snapshot_id(pid, T0) == tiny.playlist_snapshot_id(pid, T0)
    with pytest.raises(KeyError):
        tiny.playlist_items_at("unknown", T0)
    with pytest.raises(KeyError):
        tiny.playlist_snapshot_id("unknown", T0)


def test_playlist_entries_history_is_consistent(demo):
    e = demo.playlist_entries
    assert str(e["added_at"].dt.tz) == "UTC"
    ended = e["removed_at"].notna()
    assert (e.loc[ended, "removed_at"] > e.loc[ended, "added_at"]).all()
    release = demo.tracks.set_index("track_id")["release_ts"]
    assert (e["added_at"].values >= release.loc[e["track_id"]].values).all()
    # never twice at once in one playlist
    s = e.sort_values(["playlist_id", "track_id", "added_at"])
    same = (s["playlist_id"] == s["playlist_id"].shift()) & (s["track_id"] == s["track_id"].shift())
    assert (s.loc[same, "added_at"].values >= s["removed_at"].shift()[same].values).all()
    # some tracks sit in several playlists at the same time; playlists cover much of the catalog
    at = WORLD_START + pd.Timedelta(days=200)
    members = pd.concat([demo.playlist_items_at(p, at) for p in demo.playlists["playlist_id"]])
    assert members["track_id"].duplicated().any()
    assert e["track_id"].nunique() > 0.5 * len(demo.tracks)
    sizes = members.shape[0] / len(demo.playlists)
    assert 0.5 * demo.scale.mean_playlist_size <= sizes <= 1.5 * demo.scale.mean_playlist_size


# ------------------------------------------------------------------ plays and export


def test_recently_played(tiny):
    plays = tiny.user_plays(APP_USER_ID)
    music_ts = plays["ts"][plays["content"] == 0]
    latest = tiny.recently_played(APP_USER_ID, after=None, before=None, limit=50)
    assert len(latest) == 50
    assert latest["played_at"].is_monotonic_decreasing
    assert latest["played_at"].iat[0].value // 10**9 == music_ts[-1]
    cut = pd.Timestamp(int(music_ts[len(music_ts) // 2]) * 10**9, tz="UTC")
    before = tiny.recently_played(APP_USER_ID, after=None, before=cut, limit=20)
    assert (before["played_at"] < cut).all() and len(before) == 20
    after = tiny.recently_played(APP_USER_ID, after=cut, before=None, limit=20)
    assert (after["played_at"] > cut).all() and len(after) == 20
    # after: the plays right after the cursor, so a forward walk misses nothing
    assert (
        after["played_at"].min().value // 10**9
        == music_ts[music_ts > music_ts[len(music_ts) // 2]][0]
    )
    assert set(latest["track_id"]) <= set(tiny.tracks["track_id"])


def test_export_files_are_spotify_shaped(tiny, tiny_export):
    assert tiny_export
    users = {p.parent.name for p in tiny_export}
    assert users == set(tiny.users["user_id"])
    total, podcasts, books, null_skips = 0, 0, 0, 0
    for user_id in users:
        files = sorted(
            (p for p in tiny_export if p.parent.name == user_id),
            key=lambda p: int(FILE_RE.match(p.name).group(3)),
        )
        assert [int(FILE_RE.match(p.name).group(3)) for p in files] == list(range(len(files)))
        last = ""
        counts = []
        for path in files:
            records = json.loads(path.read_text(encoding="utf-8"))
            assert isinstance(records, list) and records
            counts.append(len(records))
            y0, y1 = FILE_RE.match(path.name).group(1, 2)
            assert records[0]["ts"][:4] == y0 and records[-1]["ts"][:4] == (y1 or y0)
            for r in records:
                assert tuple(r) == EXPORT_FIELDS
                assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r["ts"])
                assert r["ts"] >= last
                last = r["ts"]
                assert r["reason_start"] in REASONS and r["reason_end"] in REASONS
                assert r["skipped"] in (True, False, None)
                null_skips += r["skipped"] is None
                if r["spotify_track_uri"]:
                    assert r["spotify_track_uri"].startswith("spotify:track:")
                    assert r["episode_name"] is None and r["audiobook_uri"] is None
                elif r["spotify_episode_uri"]:
                    podcasts += 1
                    assert r["master_metadata_track_name"] is None and r["episode_show_name"]
                else:
                    books += 1
                    assert r["audiobook_uri"].startswith("spotify:audiobook:")
        assert max(counts) - min(counts) <= 1  # roughly equal splits
        assert max(counts) <= tiny.scale.records_per_file
        total += sum(counts)
    assert total == sum(len(tiny.user_plays(u)["ts"]) for u in users)
    assert 0.01 <= podcasts / total <= 0.08 and books > 0 and null_skips > 0


def test_export_is_byte_identical_for_a_seed_and_cut_by_until(tiny, tiny_export, tmp_path):
    again = write_streaming_history(SampleWorld(get_scale("tiny"), seed=42), tmp_path / "a")
    assert [p.relative_to(tmp_path / "a") for p in again] == [
        p.relative_to(tiny_export[0].parent.parent) for p in tiny_export
    ]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(again, tiny_export, strict=True))
    other = write_streaming_history(SampleWorld(get_scale("tiny"), seed=7), tmp_path / "b")
    assert other[0].read_bytes() != again[0].read_bytes()
    until = WORLD_START + pd.Timedelta(days=30)
    cut = write_streaming_history(tiny, tmp_path / "c", until=until.to_pydatetime())
    records = [r for p in cut for r in json.loads(p.read_text())]
    assert records and max(r["ts"] for r in records) < "2024-01-31"
    assert len(records) < sum(len(json.loads(p.read_text())) for p in tiny_export)
    assert not list((tmp_path / "c").rglob("*.tmp"))


def test_recently_played_matches_the_export(tiny, tiny_export):
    exported = {
        (r["ts"], r["spotify_track_uri"])
        for p in tiny_export
        if p.parent.name == APP_USER_ID
        for r in json.loads(p.read_text())
    }
    recent = tiny.recently_played(APP_USER_ID, after=None, before=None, limit=50)
    for track_id, played_at in zip(recent["track_id"], recent["played_at"], strict=True):
        assert (played_at.strftime("%Y-%m-%dT%H:%M:%SZ"), f"spotify:track:{track_id}") in exported


# ------------------------------------------------------------------ listeners are a sample


def test_listeners_are_a_sample_with_their_own_taste(demo, demo_plays):
    """Popularity comes from the population's streams; the listeners' streams are a sample
    with correlated, not equal, taste: their counts rank tracks far from popularity's order."""
    from scipy.stats import spearmanr

    assert demo.population_size == demo.scale.n_users * demo.scale.population_per_listener
    assert demo.scale.population_per_listener >= 100
    streams = np.bincount(_streams(demo, demo_plays)["item"], minlength=len(demo.tracks))
    pop = demo.track_popularity_at(demo.tracks["track_id"], demo.history_end)
    released = (demo.tracks["release_ts"] < WORLD_START).to_numpy()
    population = spearmanr(demo.tracks["stream_weight"][released], pop[released])[0]
    listeners = spearmanr(streams[released], pop[released])[0]
    assert population > 0.9  # popularity follows the population's streams
    assert 0.3 < listeners < 0.7  # the listeners' streams: correlated, not a copy
    # taste differs within a genre and decade, not only in aggregate
    taste = demo._l_w / demo._t_w
    assert np.std(np.log(taste)) > 1.5
