"""The popularity model, Dagster-free: features from the warehouse (:mod:`.features`), the
target (:mod:`.target`), grouped cross-validation against baselines and the final fit
(:mod:`.model`). The Dagster assets only wire these functions to config, IO and metadata.

Typical use::

    result = train_popularity_model(conn, "auto", params=ModelParams())
    ok, message = beats_baselines(result)
"""

from spotify_assets.lib.ml.features import (
    DEFAULT_TOP_FAMILIES,
    FEATURE_DESCRIPTIONS,
    ID_COLUMNS,
    STREAM_FEATURES,
    features_sql,
    genre_column,
    load_features,
    top_families,
)
from spotify_assets.lib.ml.model import (
    ModelParams,
    TrainingResult,
    beats_baselines,
    build_pipeline,
    feature_columns,
    fit_and_evaluate,
    load_training_data,
    model_version,
    predict_popularity,
    regression_scores,
    train_popularity_model,
)
from spotify_assets.lib.ml.target import (
    DEFAULT_HALF_LIFE_DAYS,
    TARGETS,
    ModelError,
    TargetChoice,
    TargetName,
    choose_target,
    load_target,
    stream_popularity_sql,
    target_coverage,
)

__all__ = [
    "DEFAULT_HALF_LIFE_DAYS",
    "DEFAULT_TOP_FAMILIES",
    "FEATURE_DESCRIPTIONS",
    "ID_COLUMNS",
    "STREAM_FEATURES",
    "TARGETS",
    "ModelError",
    "ModelParams",
    "TargetChoice",
    "TargetName",
    "TrainingResult",
    "beats_baselines",
    "build_pipeline",
    "choose_target",
    "feature_columns",
    "features_sql",
    "fit_and_evaluate",
    "genre_column",
    "load_features",
    "load_target",
    "load_training_data",
    "model_version",
    "predict_popularity",
    "regression_scores",
    "stream_popularity_sql",
    "target_coverage",
    "top_families",
    "train_popularity_model",
]
