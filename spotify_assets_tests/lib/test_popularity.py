"""The popularity model's contract: features without leaks, the stream popularity by hand,
the ``auto`` target, artist-grouped folds, baselines, predictions and determinism.

Training data is either hand-written core rows or the tiny sample world written into DuckDB
with the exact core schemas (600 tracks by 100 artists, 5,000 plays)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance

from spotify_assets.lib.catalog.genres import genre_families
from spotify_assets.lib.ml import (
    FEATURE_DESCRIPTIONS,
    STREAM_FEATURES,
    ModelError,
    ModelParams,
    beats_baselines,
    build_pipeline,
    choose_target,
    feature_columns,
    fit_and_evaluate,
    load_features,
    load_target,
    load_training_data,
    model_version,
    predict_popularity,
    train_popularity_model,
)
from spotify_assets.lib.ml.model import _TreeAverage, held_out_importance
from spotify_assets.lib.sample.world.plays import CONTENT_TYPES
from spotify_assets_tests.warehouse_fixtures import create_core_tables, insert

# Small and fast: the contract does not depend on the forest's size.
FAST = ModelParams(n_estimators=10, n_folds=5, importance_rows=500, importance_repeats=1, n_jobs=1)


# ----------------------------------------------------------------------------- data


def _insert_frame(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    conn.register("_frame", frame)
    conn.execute(f"insert into {table} by name select * from _frame")
    conn.unregister("_frame")


def write_world(conn: duckdb.DuckDBPyConnection, world, *, popularity: bool = True) -> datetime:
    """The world's catalog, three 8-hourly playlist snapshots and every play as core tables
    (exact schemas), as of the end of its listening history. Returns the latest snapshot."""
    create_core_tables(conn)
    at = world.history_end
    at_naive = at.tz_convert(None).to_pydatetime()
    tracks, albums, artists = world.tracks, world.albums, world.artists
    _insert_frame(
        conn,
        "core.tracks",
        pd.DataFrame(
            {
                "track_id": tracks["track_id"],
                "track_name": tracks["track_name"],
                "album_id": tracks["album_id"],
                "primary_artist_id": tracks["primary_artist_id"],
                "duration_ms": tracks["duration_ms"],
                "explicit": tracks["explicit"],
                "popularity": world.track_popularity_at(tracks["track_id"], at)
                if popularity
                else None,
                "track_number": tracks["track_number"],
                "disc_number": tracks["disc_number"],
                "isrc": tracks["isrc"],
                "first_seen": at_naive,
                "last_seen": at_naive,
            }
        ),
    )
    _insert_frame(
        conn,
        "core.albums",
        pd.DataFrame(
            {
                "album_id": albums["album_id"],
                "album_name": albums["album_name"],
                "album_type": albums["album_type"],
                "release_date": albums["release_date"],
                "release_date_precision": albums["release_date_precision"],
                "release_year": albums["release_date"].str[:4].astype(int),
                "total_tracks": albums["total_tracks"],
                "primary_artist_id": albums["artist_ids"].str[0],
                "last_seen": at_naive,
            }
        ),
    )
    _insert_frame(
        conn,
        "core.artists",
        pd.DataFrame(
            {
                "artist_id": artists["artist_id"],
                "artist_name": artists["artist_name"],
                "followers": world.artist_followers_at(artists["artist_id"], at),
                "popularity": world.artist_popularity_at(artists["artist_id"], at)
                if popularity
                else None,
                "fetched_at": at_naive,
            }
        ),
    )
    genres = artists[["artist_id", "genres"]].explode("genres").dropna()
    genres = genres.rename(columns={"genres": "genre"})
    genres["genre_family"] = genre_families(genres["genre"])
    _insert_frame(conn, "core.artist_genres", genres)
    credits = tracks[["track_id", "artist_ids"]].explode("artist_ids")
    credits["artist_position"] = credits.groupby("track_id").cumcount()
    _insert_frame(conn, "core.track_artists", credits.rename(columns={"artist_ids": "artist_id"}))
    snapshots = []
    for hours in (16, 8, 0):
        when = at - timedelta(hours=hours)
        for playlist_id in world.playlists["playlist_id"]:
            items = world.playlist_items_at(playlist_id, when)
            snapshots.append(
                pd.DataFrame(
                    {
                        "snapshot_time": when.tz_convert(None),
                        "playlist_id": playlist_id,
                        "position": np.arange(len(items)),
                        "track_id": items["track_id"],
                        "added_at": items["added_at"].dt.tz_convert(None),
                    }
                )
            )
    _insert_frame(conn, "core.playlist_tracks", pd.concat(snapshots, ignore_index=True))
    track_ids = tracks["track_id"].to_numpy()
    for user_id in world.users["user_id"]:  # one user at a time: bounded memory at any scale
        p = world.user_plays(user_id)
        music = p["content"] == 0
        _insert_frame(
            conn,
            "core.streams",
            pd.DataFrame(
                {
                    "user_id": user_id,
                    "ts": pd.to_datetime(p["ts"], unit="s"),
                    "content_type": np.array(CONTENT_TYPES, dtype=object)[p["content"]],
                    "track_id": np.where(music, track_ids[np.where(music, p["item"], 0)], None),
                    "ms_played": p["ms_played"],
                    "skipped": pd.array(np.where(p["skipped"] < 0, None, p["skipped"] == 1)),
                    "source_format": "extended",
                }
            ),
        )
    return at_naive


@pytest.fixture(scope="module")
def world_conn():
    from spotify_assets.lib.sample.world import build_world

    conn = duckdb.connect()
    write_world(conn, build_world("tiny", seed=42))
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def trained(world_conn):
    return train_popularity_model(world_conn, "spotify_popularity", params=FAST)


@pytest.fixture(scope="module")
def world_data(world_conn):
    data, _, _, _ = load_training_data(world_conn, "spotify_popularity")
    return data


@pytest.fixture
def conn():
    c = duckdb.connect()
    create_core_tables(c)
    yield c
    c.close()


# ----------------------------------------------------------------------------- features


SNAP = datetime(2024, 6, 1, 16, 0)


def test_features_by_hand(conn):
    insert(
        conn,
        "core.tracks",
        [
            dict(track_id="t1", album_id="al1", primary_artist_id="a1", duration_ms=200_000,
                 explicit=True, popularity=80, track_number=1, disc_number=1),
            dict(track_id="t2", album_id="al2", primary_artist_id="a1", duration_ms=100_000,
                 explicit=False, popularity=20, track_number=3, disc_number=1),
            dict(track_id="t3", album_id="missing", primary_artist_id="a2", popularity=50),
        ],
    )  # fmt: skip
    insert(
        conn,
        "core.albums",
        [
            dict(album_id="al1", album_type="single", release_date="2024-05-02",
                 release_date_precision="day", total_tracks=1),
            dict(album_id="al2", album_type="album", release_date="2023",
                 release_date_precision="year", total_tracks=12),
        ],
    )  # fmt: skip
    insert(
        conn,
        "core.artists",
        [dict(artist_id="a1", followers=999, popularity=90), dict(artist_id="a2")],
    )
    insert(
        conn,
        "core.artist_genres",
        [
            dict(artist_id="a1", genre="pop rap", genre_family="hip hop/r&b"),
            dict(artist_id="a2", genre="indie rock", genre_family="rock"),
        ],
    )
    insert(
        conn,
        "core.playlist_tracks",
        [
            dict(snapshot_time=SNAP - timedelta(hours=8), playlist_id="p1", position=4,
                 track_id="t1"),
            dict(snapshot_time=SNAP, playlist_id="p1", position=2, track_id="t1"),
            dict(snapshot_time=SNAP, playlist_id="p2", position=7, track_id="t1"),
        ],
    )  # fmt: skip
    t = datetime(2024, 5, 1)
    insert(
        conn,
        "core.streams",
        [
            dict(user_id="u1", ts=t, content_type="music", track_id="t1", ms_played=60_000,
                 skipped=False),
            dict(user_id="u2", ts=t, content_type="music", track_id="t1", ms_played=40_000),
            dict(user_id="u2", ts=t, content_type="music", track_id="t1", ms_played=5_000,
                 skipped=True),
            dict(user_id="u3", ts=t, content_type="music", track_id="t1", ms_played=29_999,
                 skipped=True),
            dict(user_id="u1", ts=t, content_type="podcast", ms_played=600_000),
        ],
    )  # fmt: skip
    f = load_features(conn, top_k_families=1).set_index("track_id")
    assert f.index.tolist() == ["t1", "t2", "t3"]
    assert f.loc["t1", "primary_artist_id"] == "a1"
    # release 2024-05-02 00:00 to the latest snapshot 2024-06-01 16:00: 30 days + 16 h.
    assert f.loc["t1", "release_age_days"] == pytest.approx(30 + 16 / 24)
    # "2023" (year precision) is 2023-01-01: 365 days to 2024-01-01, then 31+29+31+30+31 = 152
    # (2024 is a leap year) to 2024-06-01, then 16 h.
    assert f.loc["t2", "release_age_days"] == pytest.approx(365 + 152 + 16 / 24)
    assert f.loc["t2", "release_precision_year"] == 1 and f.loc["t2", "album_type_album"] == 1
    assert math.isnan(f.loc["t3", "release_age_days"])  # album never fetched: unknown
    assert f.loc["t3", "album_type_single"] == 0
    assert f.loc["t1", "artist_log_followers"] == pytest.approx(3.0)  # log10(999 + 1)
    assert math.isnan(f.loc["t3", "artist_log_followers"])
    assert f.loc["t1", "artist_catalog_tracks"] == 2 and f.loc["t3", "artist_catalog_tracks"] == 1
    # t1: 3 playlist rows over 2 snapshots, best position 2, in 2 playlists; t2: none.
    assert f.loc["t1", ["playlist_appearances", "playlist_best_position", "playlist_count"]].tolist(
    ) == [3, 2, 2]  # fmt: skip
    assert f.loc["t2", "playlist_appearances"] == 0
    assert math.isnan(f.loc["t2", "playlist_best_position"])
    # Streams: plays >= 30 s (60 s and 40 s; 29.999 s is not one) by u1 and u2.
    assert f.loc["t1", "track_streams"] == 2 and f.loc["t1", "track_listeners"] == 2
    # Skip rate over plays with a known flag: 2 skipped of 3 known (the 40 s play is null).
    assert f.loc["t1", "track_skip_rate"] == pytest.approx(2 / 3)
    assert f.loc["t2", "track_streams"] == 0 and math.isnan(f.loc["t2", "track_skip_rate"])
    # Top-1 family by tracks is hip hop/r&b (2 tracks); rock falls into genre_other.
    assert f.loc["t1", "genre_hip_hop_r_b"] == 1 and f.loc["t1", "genre_other"] == 0
    assert f.loc["t3", "genre_hip_hop_r_b"] == 0 and f.loc["t3", "genre_other"] == 1
    assert "genre_rock" not in f.columns
    features = feature_columns(f.reset_index())
    assert not [c for c in features if "popularity" in c]
    assert set(features) <= set(FEATURE_DESCRIPTIONS)
    # Without listening features (the stream target) they are not even computed.
    assert not set(STREAM_FEATURES) & set(load_features(conn, stream_features=False).columns)


# ----------------------------------------------------------------------------- target


def test_stream_popularity_by_hand(conn):
    insert(conn, "core.tracks", [dict(track_id=t) for t in ("A", "B", "C")])
    t0 = datetime(2024, 3, 1)  # the latest music play: ages count from it
    day = timedelta(days=1)

    def play(track, ts, ms=60_000, content="music"):
        return dict(user_id="u", ts=ts, content_type=content, track_id=track, ms_played=ms)

    insert(
        conn,
        "core.streams",
        [
            play("A", t0),  # weight 0.5 ** 0 = 1
            play("A", t0 - 30 * day),  # one half-life: 0.5
            play("B", t0 - 60 * day, ms=40_000),  # two half-lives: 0.25
            play("B", t0 - day, ms=10_000),  # under 30 s: not a stream
            play("D", t0),  # D is not in the catalog: 3 streams, weight 3
            play("D", t0),
            play("D", t0),
            play(None, t0 + 5 * day, ms=900_000, content="podcast"),  # not the reference
        ],
    )
    got = load_target(conn, "stream_popularity", half_life_days=30).set_index("track_id")
    # Scores A 1.5, B 0.25, C none; the max is D's 3 (every streamed track counts).
    # A: 100 ln(2.5) / ln(4) = 100 * 0.916291 / 1.386294 = 66.096
    # B: 100 ln(1.25) / ln(4) = 100 * 0.223144 / 1.386294 = 16.096
    assert got.loc["A", "target"] == pytest.approx(66.096, abs=1e-3)
    assert got.loc["B", "target"] == pytest.approx(16.096, abs=1e-3)
    assert got.loc["C", "target"] == 0.0  # in the catalog, never streamed: 0, not null
    assert "D" not in got.index
    # Half-life 60 days: A = 1 + 0.5 ** 0.5 = 1.707107, B = 0.5, D = 3.
    # A: 100 ln(2.707107) / ln(4) = 71.849; B: 100 ln(1.5) / ln(4) = 29.248
    got = load_target(conn, "stream_popularity", half_life_days=60).set_index("track_id")
    assert got.loc["A", "target"] == pytest.approx(71.838, abs=1e-3)
    assert got.loc["B", "target"] == pytest.approx(29.248, abs=1e-3)


def _catalog(conn, n: int, with_popularity: int, streamed: int) -> None:
    insert(
        conn,
        "core.tracks",
        [dict(track_id=f"t{i}", popularity=50 if i < with_popularity else None) for i in range(n)],
    )
    insert(
        conn,
        "core.streams",
        [
            dict(user_id="u", ts=datetime(2024, 1, 1), content_type="music", track_id=f"t{i}",
                 ms_played=60_000)
            for i in range(streamed)
        ],
    )  # fmt: skip


def test_auto_takes_spotify_popularity_when_90_percent_have_it(conn):
    _catalog(conn, 10, with_popularity=9, streamed=10)
    assert choose_target(conn, "auto") == "spotify_popularity"


def test_auto_falls_back_to_stream_popularity(conn):
    _catalog(conn, 10, with_popularity=8, streamed=2)  # 80% < 90%; 20% streamed >= 20%
    assert choose_target(conn, "auto") == "stream_popularity"
    assert choose_target(conn, "spotify_popularity") == "spotify_popularity"  # explicit


def test_auto_without_any_target_says_what_to_do(conn):
    _catalog(conn, 10, with_popularity=0, streamed=1)
    with pytest.raises(ModelError) as err:
        choose_target(conn, "auto")
    message = str(err.value)
    assert "0% of the 10 tracks have a Spotify popularity" in message
    assert "10% have a stream" in message and "target=" in message
    with pytest.raises(ModelError, match="development-mode"):
        choose_target(conn, "spotify_popularity")
    with pytest.raises(ModelError, match="unknown target"):
        choose_target(conn, "likes")


def test_stream_target_needs_history(conn):
    _catalog(conn, 3, with_popularity=3, streamed=0)
    with pytest.raises(ModelError, match="listening history"):
        choose_target(conn, "stream_popularity")


# ----------------------------------------------------------------------------- training


def test_grouped_folds_and_predictions(trained, world_data):
    assert trained.target == "spotify_popularity"
    assert not [f for f in trained.features if "popularity" in f]
    assert "primary_artist_id" not in trained.features and "track_id" not in trained.features
    assert set(STREAM_FEATURES) <= set(trained.features)  # allowed with Spotify's target
    p = trained.predictions.merge(world_data[["track_id", "primary_artist_id"]], on="track_id")
    assert len(p) == trained.n_tracks == 600 and p["track_id"].is_unique
    # Every labelled track is held out exactly once, and an artist in one fold only.
    assert p["fold"].notna().all() and set(p["fold"]) == set(range(FAST.n_folds))
    assert (p.groupby("primary_artist_id")["fold"].nunique() == 1).all()
    assert p["prediction"].between(0, 100).all() and p["oof_prediction"].between(0, 100).all()
    assert trained.n_labelled == 600 and trained.n_dropped_unlabelled == 0
    assert set(trained.importances["feature"]) == set(trained.features)
    assert trained.importances["importance_mean"].is_monotonic_decreasing
    assert set(trained.fold_metrics["model"]) == {"model", "mean", "followers_linear"}
    assert set(trained.timings) >= {"features_s", "target_s", "cv_s", "final_fit_s", "predict_s"}
    ok, message = beats_baselines(trained)
    assert ok, message
    assert trained.metrics["r2"] > trained.baseline_metrics["followers_linear"]["r2"] > 0


def test_stream_target_leaves_out_listening_features(world_conn):
    result = train_popularity_model(world_conn, "stream_popularity", params=FAST)
    assert result.target == "stream_popularity"
    assert not set(STREAM_FEATURES) & set(result.features)
    assert set(result.excluded_features) == set(STREAM_FEATURES)
    assert result.predictions["target"].notna().all()  # unstreamed catalog tracks are 0


def test_leaking_features_are_refused(world_data):
    with pytest.raises(ModelError, match="leak"):
        fit_and_evaluate(world_data, target="stream_popularity", params=FAST)
    leaky = world_data.assign(artist_popularity=world_data["target"])
    with pytest.raises(ModelError, match="artist_popularity"):
        fit_and_evaluate(leaky, target="spotify_popularity", params=FAST)


def test_unlabelled_tracks_are_dropped_from_training_and_still_predicted(world_data):
    data = world_data.copy()
    data.loc[data.index[:50], "target"] = np.nan
    result = fit_and_evaluate(data, target="spotify_popularity", params=FAST)
    assert result.n_labelled == 550 and result.n_dropped_unlabelled == 50
    head = result.predictions.iloc[:50]
    assert head["fold"].isna().all() and head["oof_prediction"].isna().all()
    assert head["prediction"].notna().all()


def test_noise_target_does_not_beat_the_baselines(world_data):
    rng = np.random.default_rng(0)
    noise = world_data.assign(target=rng.uniform(0, 100, len(world_data)))
    result = fit_and_evaluate(noise, target="spotify_popularity", params=FAST)
    ok, message = beats_baselines(result)
    assert not ok
    assert message.startswith("model does not beat the baselines")
    assert "does not beat mean: R²" in message


def test_same_inputs_same_version_and_predictions(world_data, trained):
    a = fit_and_evaluate(world_data, target="spotify_popularity", params=FAST)
    # Two threads: same model (seeds are drawn up front), same sums (rows split, not trees).
    two = ModelParams(**{**vars(FAST), "n_jobs": 2})
    b = fit_and_evaluate(world_data, target="spotify_popularity", params=two)
    assert a.model_version == b.model_version
    pd.testing.assert_frame_equal(a.predictions, b.predictions, check_exact=True)
    assert a.metrics == b.metrics and a.baseline_metrics == b.baseline_metrics
    pd.testing.assert_frame_equal(a.importances, b.importances, check_exact=True)
    # The warehouse path gives the same data, hence the same version and predictions.
    assert trained.model_version == a.model_version
    pd.testing.assert_frame_equal(trained.predictions, a.predictions, check_exact=True)
    again = predict_popularity(a.pipeline, world_data)
    assert np.array_equal(again, a.predictions["prediction"].to_numpy())
    features = feature_columns(world_data)
    v = model_version(features, FAST, world_data, "spotify_popularity")
    leaf = ModelParams(**{**vars(FAST), "min_samples_leaf": 1})
    assert v != model_version(features, leaf, world_data, "spotify_popularity")
    changed = world_data.assign(target=world_data["target"].where(world_data.index > 0, 1.0))
    assert v != model_version(features, FAST, changed, "spotify_popularity")


def test_fast_importance_equals_sklearn(world_data):
    features = feature_columns(world_data)
    train, test = world_data.iloc[:400], world_data.iloc[400:]
    pipe = build_pipeline(features, FAST).fit(train[features], train["target"])
    forest = pipe[-1]
    z = pipe[:-1].transform(test[features])
    assert np.allclose(_TreeAverage(forest).predict(z), forest.predict(z))
    ours = held_out_importance(
        pipe, test[features], test["target"].to_numpy(), n_repeats=2, random_state=7
    )
    theirs = permutation_importance(
        pipe, test[features], test["target"], scoring="r2", n_repeats=2, random_state=7
    )
    assert ours.index.tolist() == features
    assert np.allclose(ours.to_numpy(), theirs.importances)


def test_too_few_artists_for_the_folds(world_data):
    one_artist = world_data.assign(primary_artist_id="a")
    with pytest.raises(ModelError, match="at least 5 artists"):
        fit_and_evaluate(one_artist, target="spotify_popularity", params=FAST)


# ----------------------------------------------------------------------------- what drives it


def test_family_importance_and_the_score_without_listening(trained):
    fam = trained.family_importances
    assert set(fam["family"]) == {"track", "album", "artist", "playlists", "listening"}
    listening = fam.set_index("family").loc["listening", "features"]
    assert set(listening.split(", ")) == set(STREAM_FEATURES)
    assert fam["importance_mean"].is_monotonic_decreasing
    # the artist family (followers, genre) carries signal on held-out artists
    assert fam.set_index("family").loc["artist", "importance_mean"] > 0.05
    without = trained.metrics_without_listening
    assert without is not None and without["features"] == len(trained.features) - 3
    assert without["r2"] != trained.metrics["r2"]
    assert {"r2", "mae", "rmse"} <= set(without)


def test_stream_target_has_no_listening_family(world_conn):
    result = train_popularity_model(world_conn, "stream_popularity", params=FAST)
    assert "listening" not in set(result.family_importances["family"])
    assert result.metrics_without_listening is None


def test_default_margin_is_meaningful_and_covers_the_forward_scores(trained):
    from dataclasses import replace

    from spotify_assets.lib.ml.forward import ForwardResult
    from spotify_assets.lib.ml.model import DEFAULT_MIN_MARGIN

    assert DEFAULT_MIN_MARGIN >= 0.05
    ok, message = beats_baselines(trained)
    assert "grouped CV" in message and "forward" not in message
    base = trained.baseline_metrics
    bad = ForwardResult(
        as_of=datetime(2024, 1, 1),
        until=datetime(2024, 4, 1),
        metrics=dict(base["followers_linear"]),  # no better than the followers line
        baseline_metrics=base,
    )
    ok_bad, message_bad = beats_baselines(replace(trained, forward=bad))
    assert ok and not ok_bad
    forward_part = message_bad.split("forward in time: ")[1]
    assert "does not beat followers_linear" in forward_part


# ----------------------------------------------------------------------------- forward in time


def world_at_two_times(world: Any, days_before: float) -> tuple[Any, Any, Any, pd.DataFrame]:
    """(connection, T1, T2, popularity at T1): ``world`` written as core tables (T2: its
    latest snapshot) with one more playlist snapshot ``days_before`` earlier (T1), and the
    popularity the API served at T1. The bench (bench/bench_model.py) uses it too."""
    conn = duckdb.connect()
    latest = write_world(conn, world)
    as_of = latest - timedelta(days=days_before)
    at = pd.Timestamp(as_of, tz="UTC")
    frames = []
    for playlist_id in world.playlists["playlist_id"]:
        items = world.playlist_items_at(playlist_id, at)
        frames.append(
            pd.DataFrame(
                {
                    "snapshot_time": as_of,
                    "playlist_id": playlist_id,
                    "position": np.arange(len(items)),
                    "track_id": items["track_id"],
                    "added_at": items["added_at"].dt.tz_convert(None),
                }
            )
        )
    _insert_frame(conn, "core.playlist_tracks", pd.concat(frames, ignore_index=True))
    ids = world.tracks["track_id"]
    earlier = pd.DataFrame({"track_id": ids, "popularity": world.track_popularity_at(ids, at)})
    return conn, as_of, latest, earlier


@pytest.fixture(scope="module")
def forward_world():
    """The tiny world with one more snapshot 60 days before the latest (T1), and the
    popularity the API served then."""
    from spotify_assets.lib.sample.world import build_world

    world = build_world("tiny", seed=42)
    conn, as_of, latest, earlier = world_at_two_times(world, 60)
    yield conn, world, as_of, latest, earlier
    conn.close()


def test_features_as_of_an_earlier_time(forward_world):
    from spotify_assets.lib.ml.features import top_families

    conn, world, as_of, _, _ = forward_world
    families = top_families(conn)
    now = load_features(conn, families=families).set_index("track_id")
    then = load_features(conn, families=families, as_of=as_of).set_index("track_id")
    released = world.tracks.set_index("track_id")["release_ts"].dt.tz_convert(None)
    # only tracks released by then (the album's release day)
    assert set(then.index) <= set(released[released <= pd.Timestamp(as_of)].index)
    assert len(then) < len(now) or (released <= pd.Timestamp(as_of)).all()
    # streams played by then, by hand
    (streams,) = conn.execute(
        "select count(*) from core.streams where content_type = 'music' and ms_played >= 30000 "
        "and ts <= ?",
        [as_of],
    ).fetchone()
    assert then["track_streams"].sum() == streams < now["track_streams"].sum()
    # playlist rows of the snapshots taken by then only (the one at T1)
    (rows,) = conn.execute(
        "select count(*) from core.playlist_tracks where snapshot_time <= ?", [as_of]
    ).fetchone()
    assert then["playlist_appearances"].sum() == rows
    # release age measured at T1: 60 days younger
    both = then.index.intersection(now.index)
    age = (now.loc[both, "release_age_days"] - then.loc[both, "release_age_days"]).dropna()
    assert np.allclose(age, 60.0)


def test_forward_evaluation_scores_and_candidate_hits_backtest(forward_world):
    from spotify_assets.lib.ml.features import top_families
    from spotify_assets.lib.ml.forward import forward_evaluate, load_forward_data

    conn, _, as_of, latest, earlier = forward_world
    data = load_forward_data(
        conn, "spotify_popularity", as_of=as_of, families=top_families(conn), earlier=earlier
    )
    assert data["earlier_target"].notna().all() and data["target"].notna().all()
    features = feature_columns(data.drop(columns=["earlier_target", "playlist_additions"]))
    result = forward_evaluate(data, features, FAST, as_of=as_of, until=latest, hit_margin=15)
    assert result.skipped is None and result.n_tracks == len(data)
    assert set(result.baseline_metrics) == {"mean", "followers_linear"}
    assert result.metrics["r2"] > result.baseline_metrics["mean"]["r2"]
    pred = result.predictions
    assert pred["forward_prediction"].notna().all()
    # the held-out forward score is recomputable from the predictions
    r2 = (
        1
        - ((pred["forward_target"] - pred["forward_prediction"]) ** 2).sum()
        / ((pred["forward_target"] - pred["forward_target"].mean()) ** 2).sum()
    )
    assert r2 == pytest.approx(result.metrics["r2"])
    hits = result.hits.set_index("list")
    assert list(hits.index) == ["model", "playlist_risers", "all_tracks"]
    listed = (pred["forward_prediction"] - pred["earlier_target"] >= 15).sum()
    assert hits.loc["model", "tracks"] == listed == hits.loc["playlist_risers", "tracks"]
    change = pred["forward_target"] - pred["earlier_target"]
    assert hits.loc["all_tracks", "rose"] == (change >= 5).sum()


def test_forward_evaluation_of_the_stream_target(forward_world):
    from spotify_assets.lib.ml.features import top_families
    from spotify_assets.lib.ml.forward import (
        forward_as_of,
        forward_evaluate,
        latest_stream_time,
        load_forward_data,
    )
    from spotify_assets.lib.ml.target import stream_popularity_sql

    conn, *_ = forward_world
    until = latest_stream_time(conn)
    as_of = forward_as_of(until, 60)
    data = load_forward_data(conn, "stream_popularity", as_of=as_of, families=top_families(conn))
    assert not set(STREAM_FEATURES) & set(data.columns)  # same source as the target
    then = conn.execute(stream_popularity_sql(as_of=as_of)).df().set_index("track_id")["target"]
    now = conn.execute(stream_popularity_sql()).df().set_index("track_id")["target"]
    rows = data.set_index("track_id")
    assert np.allclose(rows["earlier_target"], then.loc[rows.index])
    assert np.allclose(rows["target"], now.loc[rows.index])
    assert (then != now).any()
    features = feature_columns(data.drop(columns=["earlier_target", "playlist_additions"]))
    result = forward_evaluate(data, features, FAST, as_of=as_of)
    assert result.skipped is None and len(result.hits) == 3
