"""Group ``ml``: a Random Forest that predicts track popularity.

    core tables -> ml/popularity_features (ml.popularity_features: features + target per track)
                -> ml/popularity_model (pickled in the lake's models/ zone; grouped CV scores)
                -> ml/popularity_predictions (ml.popularity_predictions)
                -> marts/candidate_hits (tracks predicted well above their popularity)

The features, target, cross-validation and baselines are in ``spotify_assets.lib.ml``
(Dagster-free). Policy (docs/ARCHITECTURE.md, section 8): Spotify's developer terms forbid
training models on Spotify content, so the model trains on the sample world by default and on
live API content only when ``SPOTIFY_ML_ALLOW_LIVE_TRAINING=true``.
"""

import dataclasses
import time
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.automation import (
    MODEL_CRON,
    MODEL_FRESHNESS,
    on_cron,
    on_upstream_change,
)
from spotify_assets.defs.marts.factory import mart_assets
from spotify_assets.lib.catalog.genres import GENRE_FAMILIES
from spotify_assets.lib.catalog.snapshots import completed_snapshots, window_start, window_tables
from spotify_assets.lib.lazy import DataFrameHint
from spotify_assets.lib.marts.candidate_hits import CANDIDATE_HITS, HIT_MARGIN
from spotify_assets.lib.marts.spec import ChartSpec
from spotify_assets.lib.ml import (
    FEATURE_DESCRIPTIONS,
    ID_COLUMNS,
    ModelError,
    ModelParams,
    TrainingResult,
    beats_baselines,
    fit_and_evaluate,
    load_training_data,
)
from spotify_assets.lib.ml.features import NULLABLE_FEATURES, genre_column
from spotify_assets.lib.ml.forward import (
    DEFAULT_HORIZON_DAYS,
    RISE_POINTS,
    ForwardResult,
    forward_as_of,
    forward_evaluate,
    latest_stream_time,
    load_forward_data,
)
from spotify_assets.lib.ml.model import DEFAULT_MIN_MARGIN, regression_scores
from spotify_assets.lib.reports.charts import markdown_image, render
from spotify_assets.resources import LakeResource, SpotifyResource

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

OWNERS = ["team:data-science"]
FEATURES_KEY = dg.AssetKey(["ml", "popularity_features"])
MODEL_KEY = dg.AssetKey(["ml", "popularity_model"])
PREDICTIONS_KEY = dg.AssetKey(["ml", "popularity_predictions"])
EVALUATION_KEY = dg.AssetKey(["ml", "model_evaluation"])
TARGET_NAME_COLUMN = "target_name"
CATALOG_INPUTS = [
    dg.AssetKey(["core", name])
    for name in ("tracks", "albums", "artists", "artist_genres", "playlist_tracks", "streams")
]

FEATURE_TABLE_COLUMNS = {
    "track_id": "The track (Spotify id)",
    "primary_artist_id": "Its primary artist: the cross-validation group, not a feature",
    "target": "The value the model learns (see target_name)",
    TARGET_NAME_COLUMN: "spotify_popularity or stream_popularity",
    **FEATURE_DESCRIPTIONS,
}
PREDICTION_COLUMNS = {
    "track_id": "The track",
    "target": "The value the model learned (null: the track had none and was not trained on)",
    "prediction": "The final model's prediction, 0-100",
    "oof_prediction": "Its out-of-fold prediction: from the fold whose model never saw the "
    "track's artist (null for unlabelled tracks)",
    "fold": "The grouped cross-validation fold the track was held out in",
    "earlier_target": "Forward evaluation: the target at T1 (null: not in the forward run)",
    "forward_target": "Forward evaluation: the target at T2 (the latest)",
    "forward_prediction": "Forward evaluation: out-of-fold T2 prediction from T1 features",
    "forward_fold": "Forward evaluation: its artist-grouped fold",
    "model_version": "Hash of features, hyperparameters and training data",
}
EVALUATION_COLUMNS = {
    "evaluation": "grouped_cv, grouped_cv_without_listening, forward (T1 features, T2 "
    "target), family_importance, or candidate_hits_forward",
    "name": "model or baseline (mean, followers_linear); the feature family; or the list "
    "(model, playlist_risers, all_tracks)",
    "r2": "Held-out R² (family_importance: drop in held-out R² when the family is shuffled)",
    "mae": "Held-out mean absolute error, target points",
    "rmse": "Held-out root mean squared error, target points",
    "tracks": "Tracks scored (or listed)",
    "rose_share": "candidate_hits_forward: share of listed tracks that rose by at least "
    f"{RISE_POINTS:g} points from T1 to T2",
    "mean_change": "candidate_hits_forward: mean change of the listed tracks from T1 to T2",
    "detail": "The features of a family, or T1 -> T2 of the forward evaluation",
    "target": "The target (spotify_popularity or stream_popularity)",
    "model_version": "The model evaluated",
}


class FeaturesConfig(dg.Config):
    target: Literal["auto", "spotify_popularity", "stream_popularity"] = "auto"
    """auto: Spotify's popularity where at least 90% of tracks have it (extended-quota apps,
    the sample world), else the stream popularity computed from the listening history."""
    half_life_days: float = 30.0
    """Half-life of a play's weight in the stream popularity target."""
    top_k_families: int = 8
    """Genre families that get their own one-hot column (the rest: genre_other)."""


class ModelConfig(dg.Config):
    n_estimators: int = ModelParams.n_estimators
    max_depth: int | None = ModelParams.max_depth
    min_samples_leaf: int = ModelParams.min_samples_leaf
    max_features: float = 0.5
    max_samples: float | None = ModelParams.max_samples
    n_folds: int = ModelParams.n_folds
    random_state: int = ModelParams.random_state
    n_jobs: int = ModelParams.n_jobs
    min_margin: float = DEFAULT_MIN_MARGIN
    """How much better than each baseline the held-out R² (points) and MAE (share) must be,
    in the grouped CV and the forward evaluation (blocking check)."""
    horizon_days: float = DEFAULT_HORIZON_DAYS
    """Forward evaluation: T1 is this many days before the latest observation (T2)."""

    def params(self) -> ModelParams:
        """The hyperparameters this config sets, by name; the rest keep ModelParams' defaults."""
        names = {f.name for f in dataclasses.fields(ModelParams)} & set(type(self).model_fields)
        return ModelParams(**{name: getattr(self, name) for name in names})


def _feature_columns(frame: "pd.DataFrame") -> list[str]:
    return [c for c in frame.columns if c not in (*ID_COLUMNS, "target", TARGET_NAME_COLUMN)]


def _features_half_life(context: dg.AssetExecutionContext) -> float:
    """The half-life the features table was built with (its materialization's metadata), so
    the forward evaluation's stream target matches it; the default when none is recorded."""
    event = context.instance.get_latest_materialization_event(FEATURES_KEY)
    value = (
        event.asset_materialization.metadata.get("half_life_days")
        if event and event.asset_materialization
        else None
    )
    return float(value.value) if value is not None else FeaturesConfig().half_life_days


@dg.asset(
    key=FEATURES_KEY,
    group_name="ml",
    deps=CATALOG_INPUTS,
    io_manager_key="warehouse_io_manager",
    kinds={"duckdb", "pandas"},
    owners=OWNERS,
    pool="duckdb",
    automation_condition=on_cron(MODEL_CRON),
    freshness_policy=MODEL_FRESHNESS,
    metadata={"column_descriptions": FEATURE_TABLE_COLUMNS},
    description="One row per track: the model's features (no feature leaks the target: see "
    "lib/ml/features.py) and its target.",
    check_specs=[
        dg.AssetCheckSpec(
            "no_nulls_where_not_allowed",
            asset=FEATURES_KEY,
            blocking=True,
            description="Only features the pipeline imputes may be null",
        ),
        dg.AssetCheckSpec(
            "no_constant_features",
            asset=FEATURES_KEY,
            description="No feature has a single value (WARN: it is harmless to the forest "
            "but says an input is missing, e.g. followers in development mode)",
        ),
    ],
)
def popularity_features(
    context: dg.AssetExecutionContext, config: FeaturesConfig, warehouse: DuckDBResource
):
    with warehouse.get_connection() as conn:
        try:
            data, target, excluded, timings = load_training_data(
                conn,
                config.target,
                top_k_families=config.top_k_families,
                half_life_days=config.half_life_days,
            )
        except ModelError as exc:
            raise dg.Failure(str(exc)) from exc
    data[TARGET_NAME_COLUMN] = target
    features = _feature_columns(data)
    labelled = int(data["target"].notna().sum())
    context.log.info(
        f"{len(data):,} tracks, {len(features)} features, target {target} ({labelled:,} labelled)"
    )
    yield dg.Output(
        data,
        metadata={
            "target": target,
            # The model's forward evaluation recomputes the stream target with the same one.
            "half_life_days": config.half_life_days,
            "tracks": len(data),
            "labelled_tracks": labelled,
            "features": len(features),
            "excluded_features": dg.MetadataValue.json(excluded),
            "seconds": round(sum(timings.values()), 2),
        },
    )
    nulls = {
        c: int(n)
        for c, n in data[features].isna().sum().items()
        if n and c not in NULLABLE_FEATURES
    }
    yield dg.AssetCheckResult(
        check_name="no_nulls_where_not_allowed",
        passed=not nulls,
        metadata={"columns_with_nulls": dg.MetadataValue.json(nulls)},
    )
    constant = [c for c in features if data[c].nunique(dropna=False) <= 1]
    yield dg.AssetCheckResult(
        check_name="no_constant_features",
        passed=not constant,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"constant_columns": dg.MetadataValue.json(constant)},
    )


def _metric_metadata(result: TrainingResult) -> dict[str, float]:
    out = {}
    for name, metrics in [("model", result.metrics), *result.baseline_metrics.items()]:
        for metric in ("r2", "mae", "rmse"):
            out[f"{name} {metric}"] = round(float(metrics[metric]), 4)
    return out


def _forward_metadata(result: TrainingResult) -> dict:
    out: dict = {}
    if result.metrics_without_listening:
        for metric in ("r2", "mae", "rmse"):
            value = result.metrics_without_listening[metric]
            out[f"without_listening {metric}"] = round(float(value), 4)
    fwd = result.forward
    if fwd is None:
        return out
    if fwd.skipped:
        out["forward"] = f"not run: {fwd.skipped}"
        return out
    out["forward"] = f"features as of {fwd.as_of}, target as of {fwd.until}"
    out["forward tracks"] = fwd.n_tracks
    for name, metrics in [("model", fwd.metrics), *fwd.baseline_metrics.items()]:
        for metric in ("r2", "mae", "rmse"):
            out[f"forward {name} {metric}"] = round(float(metrics[metric]), 4)
    out["candidate_hits_forward"] = dg.MetadataValue.md(_hits_table(fwd))
    return out


def _importance_table(importances: "pd.DataFrame") -> str:
    rows = [
        f"| {r.feature} | {r.importance_mean:.4f} | {r.importance_std:.4f} |"
        for r in importances.head(20).itertuples()
    ]
    return "\n".join(["| feature | R² drop (mean) | std |", "| --- | ---: | ---: |", *rows])


def _family_table(result: TrainingResult) -> str:
    rows = [
        f"| {r.family} | {r.importance_mean:.3f} | {r.importance_std:.3f} | {r.features} |"
        for r in result.family_importances.itertuples()
    ]
    return "\n".join(
        ["| family | R² drop (mean) | std | features |", "| --- | ---: | ---: | --- |", *rows]
    )


def _hits_table(forward: ForwardResult) -> str:
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


def _families_of(columns: list[str]) -> list[str]:
    """The genre families that have a one-hot column among ``columns``."""
    return [f for f in GENRE_FAMILIES if f != "other" and genre_column(f) in columns]


def _naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None) if at.tzinfo else at


def forward_evaluation(
    result: TrainingResult,
    conn,
    lake: LakeResource,
    *,
    horizon_days: float,
    params: ModelParams,
    half_life_days: float,
) -> ForwardResult:
    """T1/T2 for the target (module docstring of lib/ml/forward.py), then the evaluation.
    ``spotify_popularity`` takes the values at T1 from the latest snapshot window at least
    ``horizon_days`` before the latest one (its parsed tracks table in the lake)."""
    families = _families_of(result.features)
    earlier = None
    if result.target == "stream_popularity":
        until = latest_stream_time(conn)
        as_of = forward_as_of(until, horizon_days)
    else:
        store = lake.store()
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
        data, result.features, params, as_of=as_of, until=until, hit_margin=HIT_MARGIN
    )


def evaluation_table(result: TrainingResult) -> "pd.DataFrame":
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
    frame = pd.DataFrame(rows, columns=[c for c in EVALUATION_COLUMNS if c not in ("target",)])
    frame["target"] = result.target
    frame["model_version"] = result.model_version
    for col in ("r2", "mae", "rmse", "rose_share", "mean_change"):
        frame[col] = frame[col].astype("float64")
    frame["tracks"] = frame["tracks"].astype("int64")
    return frame[list(EVALUATION_COLUMNS)]


def _charts(result: TrainingResult) -> str:
    top = result.importances.head(15)
    importance_png = render(
        ChartSpec(
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
        ChartSpec(
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


@dg.asset(
    key=MODEL_KEY,
    group_name="ml",
    ins={"features": dg.AssetIn(FEATURES_KEY)},
    io_manager_key="model_io_manager",
    kinds={"scikitlearn", "s3"},
    owners=OWNERS,
    # It reads its input from the warehouse: in the pool, so no run writes DuckDB meanwhile.
    pool="duckdb",
    automation_condition=on_cron(MODEL_CRON),
    freshness_policy=MODEL_FRESHNESS,
    description="A scikit-learn pipeline (median imputation + RandomForestRegressor), evaluated "
    "with cross-validation grouped by artist against two baselines on the same folds.",
    check_specs=[
        dg.AssetCheckSpec(
            "beats_baselines",
            asset=MODEL_KEY,
            blocking=True,
            description="Held-out R² and MAE beat both the training mean and a linear fit on "
            "the artist's log followers (predictions are not refreshed from a worse model)",
        )
    ],
)
def popularity_model(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    features: DataFrameHint,
    spotify: SpotifyResource,
    warehouse: DuckDBResource,
    lake: LakeResource,
):
    if not spotify.training_allowed():
        raise dg.Failure(
            "Not training on live Spotify content: Spotify's developer terms forbid using it "
            "to train machine-learning models. Set SPOTIFY_ML_ALLOW_LIVE_TRAINING=true if your "
            "use is allowed (for example under your own agreement with Spotify), or run on the "
            "sample world (SPOTIFY_SOURCE=sample)."
        )
    targets = features[TARGET_NAME_COLUMN].unique()
    if len(targets) != 1:
        raise dg.Failure(f"ml.popularity_features mixes targets {list(targets)}: rebuild it")
    data = features.drop(columns=[TARGET_NAME_COLUMN])
    started = time.perf_counter()
    context.log.info(
        f"Training on {int(data['target'].notna().sum()):,} tracks with {config.n_folds}-fold "
        f"cross-validation grouped by artist, {config.n_estimators} trees"
    )
    params = config.params()
    result = fit_and_evaluate(data, target=str(targets[0]), params=params)
    started_forward = time.perf_counter()
    with warehouse.get_connection() as conn:
        result.forward = forward_evaluation(
            result,
            conn,
            lake,
            horizon_days=config.horizon_days,
            params=params,
            half_life_days=_features_half_life(context),
        )
    result.timings["forward_s"] = time.perf_counter() - started_forward
    if result.forward.skipped:
        context.log.warning(f"Forward evaluation not run: {result.forward.skipped}")
    ok, message = beats_baselines(result, config.min_margin)
    context.log.info(message)
    importances = result.importances
    yield dg.Output(
        result,
        metadata={
            "target": result.target,
            "model_version": result.model_version,
            **_metric_metadata(result),
            **_forward_metadata(result),
            "beats_baselines": message,
            "min_margin": config.min_margin,
            "tracks": result.n_tracks,
            "labelled_tracks": result.n_labelled,
            "artists": result.n_artists,
            "features": dg.MetadataValue.json(result.features),
            "excluded_features": dg.MetadataValue.json(result.excluded_features),
            "hyperparameters": dg.MetadataValue.json(config.model_dump()),
            "importances": dg.MetadataValue.md(_importance_table(importances)),
            "family_importances": dg.MetadataValue.md(_family_table(result)),
            "charts": dg.MetadataValue.md(_charts(result)),
            "seconds": round(time.perf_counter() - started, 1),
            **{f"seconds: {k}": round(v, 2) for k, v in result.timings.items()},
        },
    )
    yield dg.AssetCheckResult(
        check_name="beats_baselines", passed=ok, description=message, metadata={"value": message}
    )


@dg.asset(
    key=PREDICTIONS_KEY,
    group_name="ml",
    ins={"model": dg.AssetIn(MODEL_KEY)},
    io_manager_key="warehouse_io_manager",
    kinds={"duckdb", "pandas"},
    owners=OWNERS,
    pool="duckdb",
    automation_condition=on_upstream_change(),
    freshness_policy=MODEL_FRESHNESS,
    metadata={"column_descriptions": PREDICTION_COLUMNS},
    description="Every track's prediction, with its out-of-fold prediction and fold so the "
    "held-out scores can be recomputed in SQL.",
    check_specs=[
        dg.AssetCheckSpec(
            "predictions_within_0_100",
            asset=PREDICTIONS_KEY,
            blocking=True,
            description="Every prediction lies within 0-100 and none is missing",
        )
    ],
)
def popularity_predictions(context: dg.AssetExecutionContext, model: TrainingResult):
    frame = model.predictions.copy()
    forward = getattr(model, "forward", None)
    forward_cols = ["earlier_target", "forward_target", "forward_prediction", "forward_fold"]
    if forward is not None and not forward.predictions.empty:
        frame = frame.merge(forward.predictions, on="track_id", how="left")
    else:
        for col in forward_cols:
            frame[col] = float("nan")
    frame["forward_fold"] = frame["forward_fold"].astype("Int64")
    frame["model_version"] = model.model_version
    bad = int(
        (frame["prediction"].isna() | (frame["prediction"] < 0) | (frame["prediction"] > 100)).sum()
    )
    # The held-out scores again, from the table itself (what anyone can recompute in SQL).
    labelled = frame.dropna(subset=["target", "oof_prediction"])
    scores = (
        regression_scores(labelled["target"].to_numpy(), labelled["oof_prediction"].to_numpy())
        if len(labelled) > 1
        else {}
    )
    yield dg.Output(
        frame,
        metadata={
            "model_version": model.model_version,
            "target": model.target,
            **{f"held-out {k}": round(v, 4) for k, v in scores.items()},
        },
    )
    yield dg.AssetCheckResult(
        check_name="predictions_within_0_100", passed=bad == 0, metadata={"violations": bad}
    )


@dg.asset(
    key=EVALUATION_KEY,
    group_name="ml",
    ins={"model": dg.AssetIn(MODEL_KEY)},
    io_manager_key="warehouse_io_manager",
    kinds={"duckdb", "pandas"},
    owners=OWNERS,
    pool="duckdb",
    automation_condition=on_upstream_change(),
    freshness_policy=MODEL_FRESHNESS,
    metadata={"column_descriptions": EVALUATION_COLUMNS},
    description="Every figure of the model's evaluation, for the dashboard and SQL: grouped CV "
    "scores against the baselines, the score without the listening features, permutation "
    "importance by feature family, the forward-in-time scores and the candidate-hits backtest.",
)
def model_evaluation(context: dg.AssetExecutionContext, model: TrainingResult) -> DataFrameHint:
    frame = evaluation_table(model)
    context.add_output_metadata(
        {"model_version": model.model_version, "target": model.target, "rows": len(frame)}
    )
    return frame


candidate_hits = mart_assets(
    "candidate_hits_mart",
    [CANDIDATE_HITS],
    group="ml",
    description="Tracks predicted well above their current popularity: candidates for "
    "playlist curation.",
    automation_condition=on_upstream_change(),
    freshness_policy=MODEL_FRESHNESS,
)
