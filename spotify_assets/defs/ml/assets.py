"""Group ``ml``: a Random Forest that predicts track popularity.

    core tables -> ml/popularity_features (ml.popularity_features: features + target per track)
                -> ml/popularity_model (pickled in the lake's models/ area; grouped CV scores)
                -> ml/popularity_predictions (ml.popularity_predictions)
                -> marts/candidate_hits (tracks predicted well above their popularity)

The features, target, cross-validation and baselines are in ``spotify_assets.lib.ml``
(Dagster-free); the forward evaluation, the rows of the predictions and evaluation tables and
the model's Markdown tables and charts in ``spotify_assets.lib.ml.evaluation``.

Policy (docs/USER_GUIDE.md, "The popularity model"): Spotify's developer terms forbid training
models on Spotify content, so the model trains on the sample world by default and on live API
content only when ``SPOTIFY_ML_ALLOW_LIVE_TRAINING=true``.
"""

import dataclasses
import time
from typing import TYPE_CHECKING, Literal

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.automation import (
    MODEL_CRON,
    on_cron,
    on_upstream_change,
)
from spotify_assets.defs.marts.factory import mart_assets
from spotify_assets.defs.warehouse_tables import WAREHOUSE_POOL
from spotify_assets.lib.lazy import DataFrameHint
from spotify_assets.lib.ml import (
    FEATURE_DESCRIPTIONS,
    ModelError,
    ModelParams,
    TrainingResult,
    beats_baselines,
    feature_columns,
    load_training_data,
)
from spotify_assets.lib.ml.candidate_hits import CANDIDATE_HITS
from spotify_assets.lib.ml.evaluation import (
    EVALUATION_COLUMNS,
    evaluation_charts,
    evaluation_table,
    family_markdown,
    hits_markdown,
    importance_markdown,
    prediction_table,
    train_and_evaluate,
)
from spotify_assets.lib.ml.features import NULLABLE_FEATURES
from spotify_assets.lib.ml.forward import DEFAULT_HORIZON_DAYS
from spotify_assets.lib.ml.model import DEFAULT_MIN_MARGIN
from spotify_assets.resources import LakeResource, SpotifyResource
from spotify_assets.resources.event_log import latest_metadata_value

if TYPE_CHECKING:
    import pandas as pd

FEATURES_KEY = dg.AssetKey(["ml", "popularity_features"])
MODEL_KEY = dg.AssetKey(["ml", "popularity_model"])
PREDICTIONS_KEY = dg.AssetKey(["ml", "popularity_predictions"])
EVALUATION_KEY = dg.AssetKey(["ml", "model_evaluation"])
TARGET_NAME_COLUMN = "target_name"
CATALOG_INPUTS = [
    dg.AssetKey(["core", name])
    for name in (
        "tracks",
        "albums",
        "artists",
        "artist_genres",
        "playlist_tracks",
        "streams",
        "track_audio_features",
    )
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
    return [c for c in feature_columns(frame) if c != TARGET_NAME_COLUMN]


def _features_half_life(context: dg.AssetExecutionContext) -> float:
    """The half-life the features table was built with (its materialization's metadata), so
    the forward evaluation's stream target matches it; the default when none is recorded."""
    value = latest_metadata_value(context.instance, FEATURES_KEY, "half_life_days")
    return float(value) if value is not None else FeaturesConfig().half_life_days


@dg.asset(
    key=FEATURES_KEY,
    group_name="ml",
    deps=CATALOG_INPUTS,
    io_manager_key="warehouse_io_manager",
    kinds={"duckdb", "pandas"},
    pool=WAREHOUSE_POOL,
    automation_condition=on_cron(MODEL_CRON),
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
    out["candidate_hits_forward"] = dg.MetadataValue.md(hits_markdown(fwd))
    return out


@dg.asset(
    key=MODEL_KEY,
    group_name="ml",
    ins={"features": dg.AssetIn(FEATURES_KEY)},
    io_manager_key="model_io_manager",
    kinds={"scikitlearn", "s3"},
    # It reads its input from the warehouse: in the pool, so no run writes DuckDB meanwhile.
    pool=WAREHOUSE_POOL,
    automation_condition=on_cron(MODEL_CRON),
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
    started_forward = time.perf_counter()
    with warehouse.get_connection() as conn:
        result = train_and_evaluate(
            data,
            conn,
            lake.store,
            target=str(targets[0]),
            params=params,
            horizon_days=config.horizon_days,
            half_life_days=_features_half_life(context),
        )
    result.timings["train_and_forward_s"] = time.perf_counter() - started_forward
    if result.forward.skipped:
        context.log.warning(f"Forward evaluation not run: {result.forward.skipped}")
    if result.audio_family:
        context.log.info(f"Audio features: {result.audio_family['why']}")
    ok, message = beats_baselines(result, config.min_margin)
    context.log.info(message)
    yield dg.Output(
        result,
        metadata={
            "target": result.target,
            "model_version": result.model_version,
            **_metric_metadata(result),
            **_forward_metadata(result),
            "beats_baselines": message,
            "audio_family": (result.audio_family or {}).get("why", "no audio features"),
            "min_margin": config.min_margin,
            "tracks": result.n_tracks,
            "labelled_tracks": result.n_labelled,
            "artists": result.n_artists,
            "features": dg.MetadataValue.json(result.features),
            "excluded_features": dg.MetadataValue.json(result.excluded_features),
            "hyperparameters": dg.MetadataValue.json(config.model_dump()),
            "importances": dg.MetadataValue.md(importance_markdown(result.importances)),
            "family_importances": dg.MetadataValue.md(family_markdown(result)),
            "charts": dg.MetadataValue.md(evaluation_charts(result)),
            "seconds": round(time.perf_counter() - started, 1),
            **{f"seconds: {k}": round(v, 2) for k, v in result.timings.items()},
        },
    )
    yield dg.AssetCheckResult(
        check_name="beats_baselines", passed=ok, description=message, metadata={"value": message}
    )


def _model_table(**kwargs):
    """``@dg.asset`` for a warehouse table made from the trained model (predictions,
    evaluation): read from the model's pickle, refreshed whenever the model is."""
    return dg.asset(
        group_name="ml",
        ins={"model": dg.AssetIn(MODEL_KEY)},
        io_manager_key="warehouse_io_manager",
        kinds={"duckdb", "pandas"},
        pool=WAREHOUSE_POOL,
        automation_condition=on_upstream_change(),
        **kwargs,
    )


@_model_table(
    key=PREDICTIONS_KEY,
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
    frame, bad, scores = prediction_table(model)
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


@_model_table(
    key=EVALUATION_KEY,
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
)
