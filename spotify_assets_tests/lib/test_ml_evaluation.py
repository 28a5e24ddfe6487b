"""lib/ml/evaluation.py: how the forward evaluation picks T1 and T2 (the snapshot windows in
the lake, or the streams), and the rows of ml.popularity_predictions and ml.model_evaluation
when the forward evaluation ran (the asset test's world has no earlier window, so it never
does there)."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from spotify_assets.lib.catalog.snapshots import SNAPSHOT_PARTITION_FORMAT, manifest_key
from spotify_assets.lib.lake import LocalLakeStore
from spotify_assets.lib.ml import feature_columns
from spotify_assets.lib.ml.candidate_hits import HIT_MARGIN
from spotify_assets.lib.ml.evaluation import (
    EVALUATION_COLUMNS,
    evaluation_table,
    forward_evaluation,
    hits_markdown,
    prediction_table,
)
from spotify_assets.lib.ml.features import top_families
from spotify_assets.lib.ml.forward import (
    ForwardResult,
    forward_as_of,
    forward_evaluate,
    latest_stream_time,
    load_forward_data,
)
from spotify_assets.lib.ml.model import regression_scores
from spotify_assets_tests.support.worlds import FAST

pytestmark = pytest.mark.slow  # trains forests


def _no_lake():
    raise AssertionError("the stream target must not open the lake")


def test_stream_target_takes_t1_from_the_streams(forward_world):
    conn, *_ = forward_world
    until = latest_stream_time(conn)
    as_of = forward_as_of(until, 60)
    data = load_forward_data(conn, "stream_popularity", as_of=as_of, families=top_families(conn))
    features = feature_columns(data.drop(columns=["earlier_target", "playlist_additions"]))
    model = SimpleNamespace(target="stream_popularity", features=features)

    result = forward_evaluation(
        model, conn, _no_lake, horizon_days=60, params=FAST, half_life_days=30.0
    )

    expected = forward_evaluate(
        data, features, FAST, as_of=as_of, until=until, hit_margin=HIT_MARGIN
    )
    assert result.skipped is None and (result.as_of, result.until) == (as_of, until)
    assert result.n_tracks == expected.n_tracks > 0
    assert result.metrics == pytest.approx(expected.metrics)
    pd.testing.assert_frame_equal(result.hits, expected.hits)


def _window(store: LocalLakeStore, start: datetime) -> None:
    store.put_bytes(manifest_key(start.strftime(SNAPSHOT_PARTITION_FORMAT)), b"{}")


def test_popularity_target_says_why_it_did_not_run(tmp_path):
    store = LocalLakeStore(tmp_path)
    model = SimpleNamespace(target="spotify_popularity", features=["artist_log_followers"])

    def run():
        return forward_evaluation(
            model, None, lambda: store, horizon_days=90, params=FAST, half_life_days=30.0
        )

    assert run().skipped == "no completed snapshot window in the lake"
    latest = datetime(2024, 6, 1, 12, 0)
    _window(store, latest - timedelta(days=30))
    _window(store, latest)
    result = run()
    assert result.as_of is None and result.until == latest
    assert result.skipped.startswith("the snapshot windows span 30 days")
    assert "at least 90 days before the latest" in result.skipped


def _predictions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "track_id": ["a", "b", "c", "d"],
            "target": [10.0, 50.0, np.nan, 80.0],
            "prediction": [12.0, 101.0, np.nan, 70.0],
            "oof_prediction": [15.0, 45.0, np.nan, 60.0],
            "fold": pd.array([0, 1, pd.NA, 2], dtype="Int64"),
        }
    )


def _forward() -> ForwardResult:
    scores = {"r2": 0.5, "mae": 4.0, "rmse": 5.0}
    return ForwardResult(
        as_of=datetime(2024, 3, 1),
        until=datetime(2024, 6, 1),
        metrics=scores,
        baseline_metrics={"mean": {**scores, "r2": 0.0}, "followers_linear": scores},
        predictions=pd.DataFrame(
            {
                "track_id": ["a", "d"],
                "earlier_target": [5.0, 60.0],
                "forward_target": [10.0, 80.0],
                "forward_prediction": [9.0, 75.0],
                "forward_fold": [0, 1],
            }
        ),
        hits=pd.DataFrame(
            {
                "list": ["model", "playlist_risers", "all_tracks"],
                "tracks": [1, 1, 2],
                "rose": [1, 0, 2],
                "rose_share": [1.0, 0.0, 1.0],
                "mean_change": [20.0, 5.0, 12.5],
            }
        ),
        n_tracks=2,
    )


def test_prediction_table_with_and_without_the_forward_evaluation():
    model = SimpleNamespace(predictions=_predictions(), model_version="v1", forward=None)
    frame, bad, scores = prediction_table(model)
    assert bad == 2  # one missing, one above 100
    assert frame["forward_prediction"].isna().all() and frame["forward_fold"].dtype == "Int64"
    assert (frame["model_version"] == "v1").all()
    labelled = _predictions().dropna(subset=["target", "oof_prediction"])
    assert scores == regression_scores(labelled["target"], labelled["oof_prediction"])

    model.forward = _forward()
    frame, _, _ = prediction_table(model)
    by_track = frame.set_index("track_id")
    assert list(by_track["forward_prediction"].fillna(-1)) == [9.0, -1, -1, 75.0]
    assert list(by_track["forward_fold"]) == [0, pd.NA, pd.NA, 1]
    assert len(frame) == 4  # every track kept, not only the forward ones


def test_evaluation_table_has_the_forward_rows():
    scores = {"r2": 0.6, "mae": 3.0, "rmse": 4.0}
    model = SimpleNamespace(
        metrics=scores,
        baseline_metrics={"mean": scores, "followers_linear": scores},
        metrics_without_listening=None,
        family_importances=pd.DataFrame(
            {"family": ["artist"], "importance_mean": [0.2], "features": ["a, b"]}
        ),
        forward=_forward(),
        n_labelled=3,
        target="spotify_popularity",
        model_version="v1",
    )
    frame = evaluation_table(model)
    assert list(frame.columns) == list(EVALUATION_COLUMNS)
    counts = frame["evaluation"].value_counts().to_dict()
    assert counts == {
        "grouped_cv": 3,
        "forward": 3,
        "candidate_hits_forward": 3,
        "family_importance": 1,
    }
    hits = frame[frame["evaluation"] == "candidate_hits_forward"].set_index("name")
    assert hits.loc["model", "rose_share"] == 1.0 and hits.loc["all_tracks", "tracks"] == 2
    assert set(frame.loc[frame["evaluation"] == "forward", "detail"]) == {
        "2024-03-01 00:00 -> 2024-06-01 00:00"
    }
    assert frame["tracks"].dtype == "int64" and frame["r2"].dtype == "float64"
    assert "| model | 1 | 1 | 100.0% | +20.00 |" in hits_markdown(model.forward)


def test_the_audio_family_is_reported_with_and_without_and_why():
    scores = {"r2": 0.6, "mae": 3.0, "rmse": 4.0}
    without = {"r2": 0.62, "mae": 2.9, "rmse": 3.9}
    model = SimpleNamespace(
        metrics=scores,
        baseline_metrics={"mean": scores, "followers_linear": scores},
        metrics_without_listening=None,
        family_importances=pd.DataFrame(),
        forward=_forward(),
        n_labelled=3,
        target="spotify_popularity",
        model_version="v1",
        audio_family={"kept": False, "with": scores, "without": without, "why": "dropped"},
    )
    frame = evaluation_table(model)
    audio = frame[frame["evaluation"] == "forward_audio_family"].set_index("name")
    assert audio.loc["with", "r2"] == 0.6 and audio.loc["without", "r2"] == 0.62
    assert set(audio["detail"]) == {"dropped"}
    assert (frame["evaluation"] == "candidate_hits_forward").sum() == 3


@pytest.mark.parametrize("informative", [True, False])
def test_the_audio_family_is_kept_only_when_the_forward_evaluation_finds_it_helps(
    forward_world, informative
):
    """Audio features that tell the stream popularity of a track (its energy follows it) make
    the forward forecast better and stay; random ones do not, and the model is trained again
    without them, saying so."""
    from spotify_assets.lib.ml.evaluation import train_and_evaluate
    from spotify_assets.lib.ml.features import AUDIO_FEATURES
    from spotify_assets.lib.ml.model import load_training_data
    from spotify_assets.lib.ml.target import stream_popularity_sql

    conn, *_ = forward_world
    now = conn.execute(stream_popularity_sql()).df()
    rng = np.random.default_rng(7)
    energy = now["target"] / 100 if informative else rng.random(len(now))
    conn.register("_audio", pd.DataFrame({"track_id": now["track_id"], "energy": energy}))
    conn.execute(
        "insert into core.track_audio_features by name select track_id, energy, "
        "random() as valence from _audio"
    )
    try:
        data, target, _, _ = load_training_data(conn, "stream_popularity")
        assert {"audio_energy", "audio_valence"} <= set(data.columns)
        result = train_and_evaluate(
            data, conn, _no_lake, target=target, params=FAST, horizon_days=60,
            half_life_days=30.0,
        )  # fmt: skip
    finally:
        conn.execute("delete from core.track_audio_features")
        conn.unregister("_audio")
    choice = result.audio_family
    assert choice["kept"] is informative
    with_r2, without_r2 = choice["with"]["r2"], choice["without"]["r2"]
    assert (with_r2 > without_r2) is informative
    assert any(f in result.features for f in AUDIO_FEATURES) is informative
    rows = evaluation_table(result).set_index(["evaluation", "name"])
    assert rows.loc[("forward_audio_family", "with"), "r2"] == pytest.approx(with_r2)
    assert ("kept" if informative else "dropped") in choice["why"]
