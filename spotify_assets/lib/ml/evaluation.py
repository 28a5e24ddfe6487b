"""What the popularity model's training reports (Dagster-free): the forward evaluation run
against the warehouse and the lake's snapshot windows, the rows of ``ml.model_evaluation`` and
``ml.popularity_predictions``, and the Markdown tables and charts of the model's metadata.
The ``ml`` assets wire these to config, IO and metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES
from spotify_assets.lib.catalog.snapshots import completed_snapshots, window_start, window_tables
from spotify_assets.lib.lake import LakeStore
from spotify_assets.lib.marts.spec import PlotSpec
from spotify_assets.lib.ml.candidate_hits import HIT_MARGIN
from spotify_assets.lib.ml.features import AUDIO_FAMILY, feature_family, genre_column
from spotify_assets.lib.ml.forward import (
    RISE_POINTS,
    ForwardResult,
    forward_as_of,
    forward_evaluate,
    latest_stream_time,
    load_forward_data,
)
from spotify_assets.lib.ml.model import (
    ModelParams,
    TrainingResult,
    fit_and_evaluate,
    regression_scores,
)
from spotify_assets.lib.reports.plots import markdown_image, render

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

#: ``ml.model_evaluation``'s columns, in order, with their descriptions.
EVALUATION_COLUMNS = {
    "evaluation": "grouped_cv, grouped_cv_without_listening, forward (T1 features, T2 "
    "target), forward_audio_family (the forward scores with and without the audio family, "
    "which the model keeps only if it helps), family_importance, or candidate_hits_forward",
    "name": "model or baseline (mean, followers_linear); the feature family; with or without "
    "(forward_audio_family); or the list (model, playlist_risers, all_tracks)",
    "r2": "Held-out R² (family_importance: drop in held-out R² when the family is shuffled)",
    "mae": "Held-out mean absolute error, target points",
    "rmse": "Held-out root mean squared error, target points",
    "tracks": "Tracks scored (or listed)",
    "rose_share": "candidate_hits_forward: share of listed tracks that rose by at least "
    f"{RISE_POINTS:g} points from T1 to T2",
    "mean_change": "candidate_hits_forward: mean change of the listed tracks from T1 to T2",
    "detail": "The features of a family, T1 -> T2 of the forward evaluation, or whether the "
    "audio family was kept and why",
    "target": "The target (spotify_popularity or stream_popularity)",
    "model_version": "The model evaluated",
}
#: The forward evaluation's columns of ``ml.popularity_predictions`` (null where it did not run).
FORWARD_PREDICTION_COLUMNS = (
    "earlier_target",
    "forward_target",
    "forward_prediction",
    "forward_fold",
)


def _families_of(columns: list[str]) -> list[str]:
    """The genre families that have a one-hot column among ``columns``."""
    return [f for f in GENRE_FAMILIES if f != "other" and genre_column(f) in columns]


def _naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None) if at.tzinfo else at


def train_and_evaluate(
    data: pd.DataFrame,
    conn: Any,
    open_lake: Callable[[], LakeStore],
    *,
    target: str,
    params: ModelParams,
    horizon_days: float,
    half_life_days: float,
) -> TrainingResult:
    """The grouped cross-validation and final fit (:func:`.model.fit_and_evaluate`), then the
    forward evaluation. With audio features, the forward evaluation also scores the model
    without them on the same folds, and the audio family is kept only if the forward R² is
    higher with it: else (or when no forward evaluation can run) the model is trained and
    evaluated again without it. ``result.audio_family`` records the choice."""
    forward_args = {
        "horizon_days": horizon_days,
        "params": params,
        "half_life_days": half_life_days,
    }
    result = fit_and_evaluate(data, target=target, params=params)
    audio = [f for f in result.features if feature_family(f) == AUDIO_FAMILY]
    result.forward = forward_evaluation(result, conn, open_lake, without=audio, **forward_args)
    if not audio:
        return result
    fwd = result.forward
    if fwd.metrics_without:
        kept = fwd.metrics["r2"] > fwd.metrics_without["r2"]
        why = (
            f"forward R² {fwd.metrics['r2']:.4f} with the audio family, "
            f"{fwd.metrics_without['r2']:.4f} without: {'kept' if kept else 'dropped'}"
        )
        choice = {"kept": kept, "with": fwd.metrics, "without": fwd.metrics_without, "why": why}
    else:
        reason = fwd.skipped or "too few features to compare"
        why = f"dropped: its value could not be measured ({reason})"
        choice = {"kept": False, "with": {}, "without": {}, "why": why}
    if not choice["kept"]:
        reduced = [f for f in result.features if f not in audio]
        excluded = dict.fromkeys(audio, f"audio family {why}")
        result = fit_and_evaluate(
            data, target=target, params=params, features=reduced, excluded_features=excluded
        )
        result.forward = forward_evaluation(result, conn, open_lake, **forward_args)
    result.audio_family = choice
    return result


def forward_evaluation(
    result: TrainingResult,
    conn: Any,
    open_lake: Callable[[], LakeStore],
    *,
    horizon_days: float,
    params: ModelParams,
    half_life_days: float,
    without: list[str] | None = None,
) -> ForwardResult:
    """T1/T2 for the target (module docstring of :mod:`.forward`), then the evaluation.
    ``spotify_popularity`` takes the values at T1 from the latest snapshot window at least
    ``horizon_days`` before the latest one (its parsed tracks table in the lake, which
    ``open_lake`` opens: the stream target never needs it)."""
    families = _families_of(result.features)
    earlier = None
    if result.target == "stream_popularity":
        until = latest_stream_time(conn)
        as_of = forward_as_of(until, horizon_days)
    else:
        store = open_lake()
        windows = completed_snapshots(store)
        if not windows:
            return ForwardResult(None, None, skipped="no completed snapshot window in the lake")
        until = _naive(window_start(windows[-1][0]))
        cut = forward_as_of(until, horizon_days)
        early = [(k, m) for k, m in windows if _naive(window_start(k)) <= cut]
        if not early:
            span = until - _naive(window_start(windows[0][0]))
            return ForwardResult(
                None,
                until,
                skipped=f"the snapshot windows span {span}; the forward evaluation needs one "
                f"at least {horizon_days:g} days before the latest (snapshot an earlier window)",
            )
        key, manifest = early[-1]
        as_of = _naive(window_start(key))
        earlier = window_tables(store, key, manifest)["tracks"]
    data = load_forward_data(
        conn,
        result.target,
        as_of=as_of,
        families=families,
        earlier=earlier,
        half_life_days=half_life_days,
    )
    return forward_evaluate(
        data,
        result.features,
        params,
        as_of=as_of,
        until=until,
        hit_margin=HIT_MARGIN,
        without=without or (),
    )


def evaluation_table(result: TrainingResult) -> pd.DataFrame:
    """Every figure of the evaluation as rows of ``ml.model_evaluation`` (EVALUATION_COLUMNS)."""
    rows: list[dict] = []

    def scores(evaluation: str, name: str, m: dict[str, float], tracks: int, detail=None):
        rows.append(
            {"evaluation": evaluation, "name": name, "r2": m["r2"], "mae": m["mae"]}
            | {"rmse": m["rmse"], "tracks": tracks, "detail": detail}
        )

    for name, m in [("model", result.metrics), *result.baseline_metrics.items()]:
        scores("grouped_cv", name, m, result.n_labelled)
    if result.metrics_without_listening:
        scores(
            "grouped_cv_without_listening",
            "model",
            result.metrics_without_listening,
            result.n_labelled,
        )
    for r in result.family_importances.itertuples():
        rows.append(
            {"evaluation": "family_importance", "name": r.family, "r2": r.importance_mean}
            | {"tracks": result.n_labelled, "detail": r.features}
        )
    fwd = result.forward
    if fwd is not None and fwd.metrics:
        span = f"{fwd.as_of:%Y-%m-%d %H:%M} -> {fwd.until:%Y-%m-%d %H:%M}"
        for name, m in [("model", fwd.metrics), *fwd.baseline_metrics.items()]:
            scores("forward", name, m, fwd.n_tracks, span)
        for r in fwd.hits.itertuples():
            rows.append(
                {"evaluation": "candidate_hits_forward", "name": r.list, "tracks": r.tracks}
                | {"rose_share": r.rose_share, "mean_change": r.mean_change, "detail": span}
            )
    choice = getattr(result, "audio_family", None)  # models pickled before it lack it
    if choice and choice["with"]:
        tracks = fwd.n_tracks if fwd is not None else 0
        scores("forward_audio_family", "with", choice["with"], tracks, choice["why"])
        scores("forward_audio_family", "without", choice["without"], tracks, choice["why"])
    frame = pd.DataFrame(rows, columns=[c for c in EVALUATION_COLUMNS if c not in ("target",)])
    frame["target"] = result.target
    frame["model_version"] = result.model_version
    for col in ("r2", "mae", "rmse", "rose_share", "mean_change"):
        frame[col] = frame[col].astype("float64")
    frame["tracks"] = frame["tracks"].astype("int64")
    return frame[list(EVALUATION_COLUMNS)]


def prediction_table(result: TrainingResult) -> tuple[pd.DataFrame, int, dict[str, float]]:
    """The rows of ``ml.popularity_predictions`` (every track's prediction with the forward
    evaluation's columns, null where it did not run), how many predictions are missing or
    outside 0-100, and the held-out scores recomputed from the table's own columns (what
    anyone can recompute in SQL; empty with fewer than two labelled tracks)."""
    frame = result.predictions.copy()
    forward = getattr(result, "forward", None)  # models pickled before it existed lack it
    if forward is not None and not forward.predictions.empty:
        frame = frame.merge(forward.predictions, on="track_id", how="left")
    else:
        for col in FORWARD_PREDICTION_COLUMNS:
            frame[col] = float("nan")
    frame["forward_fold"] = frame["forward_fold"].astype("Int64")
    frame["model_version"] = result.model_version
    prediction = frame["prediction"]
    bad = int((prediction.isna() | (prediction < 0) | (prediction > 100)).sum())
    labelled = frame.dropna(subset=["target", "oof_prediction"])
    scores = (
        regression_scores(labelled["target"].to_numpy(), labelled["oof_prediction"].to_numpy())
        if len(labelled) > 1
        else {}
    )
    return frame, bad, scores


def importance_markdown(importances: pd.DataFrame, top: int = 20) -> str:
    """The ``top`` features by permutation importance, as a Markdown table."""
    rows = [
        f"| {r.feature} | {r.importance_mean:.4f} | {r.importance_std:.4f} |"
        for r in importances.head(top).itertuples()
    ]
    return "\n".join(["| feature | R² drop (mean) | std |", "| --- | ---: | ---: |", *rows])


def family_markdown(result: TrainingResult) -> str:
    """Permutation importance by feature family, as a Markdown table."""
    rows = [
        f"| {r.family} | {r.importance_mean:.3f} | {r.importance_std:.3f} | {r.features} |"
        for r in result.family_importances.itertuples()
    ]
    return "\n".join(
        ["| family | R² drop (mean) | std | features |", "| --- | ---: | ---: | --- |", *rows]
    )


def hits_markdown(forward: ForwardResult) -> str:
    """The candidate-hits backtest (one row per list), as a Markdown table."""
    rows = [
        f"| {r.list} | {r.tracks} | {r.rose} | {r.rose_share:.1%} | {r.mean_change:+.2f} |"
        for r in forward.hits.itertuples()
    ]
    return "\n".join(
        [
            f"| list (as of T1) | tracks | rose >= {RISE_POINTS:g} | share | mean change |",
            "| --- | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    )


def evaluation_charts(result: TrainingResult) -> str:
    """The importance bars and the held-out predicted-against-actual scatter (5,000 labelled
    tracks at most), as Markdown with embedded PNGs."""
    top = result.importances.head(15)
    importance_png = render(
        PlotSpec(
            "Permutation importance on held-out folds (drop in R²)",
            "barh",
            x="feature",
            y=("importance_mean",),
        ),
        top,
    )
    labelled = result.predictions.dropna(subset=["target", "oof_prediction"])
    sample = labelled.sample(n=min(5000, len(labelled)), random_state=0)
    scatter_png = render(
        PlotSpec(
            "Out-of-fold prediction against actual",
            "scatter",
            x="target",
            y=("oof_prediction",),
            x_label="actual",
            y_label="predicted (held out)",
        ),
        sample,
    )
    return (
        "**Feature importance**\n\n"
        + markdown_image(importance_png, "feature importance")
        + "\n\n**Predicted against actual (held-out folds)**\n\n"
        + markdown_image(scatter_png, "predicted against actual")
    )


__all__ = [
    "EVALUATION_COLUMNS",
    "FORWARD_PREDICTION_COLUMNS",
    "evaluation_charts",
    "evaluation_table",
    "family_markdown",
    "forward_evaluation",
    "hits_markdown",
    "importance_markdown",
    "prediction_table",
]
