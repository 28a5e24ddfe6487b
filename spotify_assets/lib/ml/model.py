"""Training and evaluation of the popularity model (Dagster-free).

A random forest on the features of :mod:`.features`, evaluated with grouped cross-validation:
folds are split by primary artist, so no artist has tracks on both sides. Tracks of one artist
share followers, genre and much of their popularity; a random split would let the model
recognise the artist instead of learning what makes a track popular, and overstate its score.

Two baselines are evaluated on the very same folds, so the model is worth keeping only if it
beats them (:func:`beats_baselines`): the training folds' mean, and a straight line of the
target on the artist's log followers (the one number a person would look at first).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from spotify_assets.lib.ml.features import (
    DEFAULT_TOP_FAMILIES,
    ID_COLUMNS,
    NULLABLE_FEATURES,
    STREAM_FEATURES,
    feature_family,
    load_features,
)
from spotify_assets.lib.ml.target import (
    DEFAULT_HALF_LIFE_DAYS,
    MIN_POPULARITY_SHARE,
    MIN_STREAM_COVERAGE,
    ModelError,
    TargetChoice,
    choose_target,
    load_target,
)

# scikit-learn is imported by the functions that use it: loading the code location must not
# pay for it (spotify_assets/lib/lazy.py).
if TYPE_CHECKING:
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import Pipeline
else:
    from spotify_assets.lib.lazy import pandas as pd

TARGET_COLUMN = "target"
FOLLOWERS_FEATURE = "artist_log_followers"
BASELINES: tuple[str, ...] = ("mean", "followers_linear")
_METRICS = ("r2", "mae", "rmse")
#: Bump when the pipeline changes (steps, imputation, estimator): it is part of model_version.
_ALGORITHM = "median-impute+random-forest/1"
#: What ``beats_baselines`` asks by default: held-out R² at least this much higher than each
#: baseline's (R² points) and MAE at least this share lower. 0.05 R² is about a tenth of what
#: the followers line leaves unexplained on the demo world; smaller gaps are within the spread
#: between folds (per-fold R² varies by about 0.03-0.05 there).
DEFAULT_MIN_MARGIN = 0.05


@dataclass(frozen=True)
class ModelParams:
    """Hyperparameters of the forest and of its evaluation.

    Defaults come from sizing on the bench world (184k tracks, 10M plays; ``bench/bench_model.py
    --sweep``): held-out R² stayed within 0.952-0.955 from 25 to 200 trees, bootstrap samples
    of 20% to 100% of the rows, leaves of 1 to 20 tracks and 33% to 100% of the features per
    split, while fit time went from 17 s to 417 s. 50 trees on 30% samples, leaves of at least
    5 tracks and half the features per split score like the full-depth, all-rows forest of 100
    trees (0.954) and fit about 13x faster. Permutation importance costs one prediction per
    feature and repeat: ``importance_rows`` held-out rows (split evenly over the folds) and
    ``importance_repeats`` shuffles bound it. ``n_jobs`` (-1: all cores) changes only speed.
    """

    n_estimators: int = 50
    max_depth: int | None = None
    min_samples_leaf: int = 5
    max_features: float | int | str | None = 0.5
    max_samples: float | None = 0.3
    n_folds: int = 5
    random_state: int = 42
    n_jobs: int = -1
    importance_rows: int = 20_000
    importance_repeats: int = 2


@dataclass
class TrainingResult:
    """Everything a training run produced, as plain data an asset can store or show.

    ``metrics``: the model's held-out scores: ``r2``, ``mae``, ``rmse`` pooled over all
    out-of-fold predictions, and ``*_fold_mean`` the mean of the per-fold scores.
    ``baseline_metrics``: the same keys for each baseline (``mean``, ``followers_linear``).
    ``fold_metrics``: one row per (fold, model). ``importances``: permutation importance
    (drop in held-out R² when a feature is shuffled), ``feature``, ``importance_mean``,
    ``importance_std``, most important first. ``predictions``: one row per track,
    ``track_id``, ``target`` (null when unknown), ``prediction`` (final model, 0-100),
    ``oof_prediction`` (from the fold where the track was held out), ``fold`` (null when
    unlabelled). ``timings``: seconds per step.
    """

    pipeline: Pipeline
    target: str
    features: list[str]
    excluded_features: dict[str, str]
    params: ModelParams
    model_version: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, dict[str, float]]
    fold_metrics: pd.DataFrame
    importances: pd.DataFrame
    predictions: pd.DataFrame
    n_tracks: int
    n_labelled: int
    n_dropped_unlabelled: int
    n_artists: int
    timings: dict[str, float] = field(default_factory=dict)
    #: Grouped permutation importance by feature family (every column of a family shuffled
    #: together with one permutation): ``family``, ``features``, ``importance_mean``,
    #: ``importance_std`` (drop in held-out R²), most important first.
    family_importances: pd.DataFrame = field(default_factory=lambda: pd.DataFrame())
    #: Held-out scores of the same forest without the listening family, on the same folds
    #: (None when the model had no listening feature).
    metrics_without_listening: dict[str, float] | None = None
    #: The forward-in-time evaluation (:mod:`.forward`), when the data allows one.
    forward: Any = None
    #: Whether the audio family is used: ``kept``, the forward scores ``with`` and
    #: ``without`` it, and ``why`` (None when the data had no audio feature).
    audio_family: dict[str, Any] | None = None


def build_pipeline(features: list[str], params: ModelParams) -> Pipeline:
    """Median imputation of the features that may be null (the rest passed through), then the
    forest. Imputation maps each column to one column (no indicator columns) so that permutation
    importance can shuffle the imputed matrix (see :func:`held_out_importance`)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    nullable = [f for f in features if f in NULLABLE_FEATURES]
    complete = [f for f in features if f not in NULLABLE_FEATURES]
    prep = ColumnTransformer(
        [
            (
                "impute",
                SimpleImputer(strategy="median", keep_empty_features=True),
                nullable,
            ),
            ("keep", "passthrough", complete),
        ],
        verbose_feature_names_out=False,
    )
    forest = RandomForestRegressor(
        n_estimators=params.n_estimators,
        max_depth=params.max_depth,
        min_samples_leaf=params.min_samples_leaf,
        max_features=params.max_features,
        max_samples=params.max_samples,
        bootstrap=True,
        random_state=params.random_state,
        n_jobs=params.n_jobs,
    )
    return Pipeline([("prep", prep), ("forest", forest)])


def model_version(
    features: list[str], params: ModelParams, data: pd.DataFrame, target: str = ""
) -> str:
    """Short hash of the feature list, the hyperparameters that change the model (not
    ``n_jobs`` nor the importance settings) and a fingerprint of the training rows (ids, target
    and feature values), so the same inputs always give the same version. The pipeline's
    design (``_ALGORITHM``, bumped when this module changes what it fits) and the scikit-learn
    version are part of it too: either can change the fitted model."""
    import sklearn

    settings = asdict(params)
    for key in ("n_jobs", "importance_rows", "importance_repeats"):
        settings.pop(key)
    h = hashlib.blake2b(digest_size=6)
    key = [_ALGORITHM, sklearn.__version__, target, list(features), settings]
    h.update(json.dumps(key, sort_keys=True, default=str).encode())
    cols = [c for c in (*ID_COLUMNS, TARGET_COLUMN, *features) if c in data.columns]
    h.update(pd.util.hash_pandas_object(data[cols], index=False).to_numpy().tobytes())
    return h.hexdigest()


_ROW_BLOCK = 2_048


def _tree_sum(trees: list[Any], z: np.ndarray) -> np.ndarray:
    out = np.zeros(len(z))
    for tree in trees:
        out += tree.tree_.predict(z)[:, 0]
    return out


def _workers(n_jobs: int | None) -> int:
    """Threads for ``n_jobs`` as scikit-learn counts them (-1: all cores, -2: all but one)."""
    cores = os.cpu_count() or 1
    if not n_jobs:
        return 1
    return max(1, n_jobs if n_jobs > 0 else cores + 1 + n_jobs)


def forest_predict(forest: RandomForestRegressor, z: np.ndarray, n_jobs: int = 1) -> np.ndarray:
    """The forest's prediction on an already transformed matrix, bit-for-bit reproducible.

    ``RandomForestRegressor.predict`` adds the trees' outputs in whatever order its threads
    finish (last-bit differences between runs) and spends about 1 ms per tree in joblib
    bookkeeping whatever the number of rows. Here each block of rows sums its trees in tree
    order (threads split rows, not trees: the result does not depend on ``n_jobs``), using the
    trees' own ``tree_.predict``, which releases the GIL.
    """
    z = np.ascontiguousarray(z, dtype=np.float32)
    trees = list(forest.estimators_)
    blocks = [z[i : i + _ROW_BLOCK] for i in range(0, len(z), _ROW_BLOCK)] or [z]
    workers = min(len(blocks), _workers(n_jobs))
    if workers <= 1:
        parts = [_tree_sum(trees, b) for b in blocks]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(lambda b: _tree_sum(trees, b), blocks))
    return np.concatenate(parts) / len(trees)


def predict_popularity(pipeline: Pipeline, features: pd.DataFrame, n_jobs: int = -1) -> np.ndarray:
    """Predictions of a fitted pipeline (from :class:`TrainingResult`) clipped to 0-100,
    reproducible to the bit (see :func:`forest_predict`). ``features`` needs the columns the
    pipeline was trained on (``result.features``); extra columns are ignored."""
    z = pipeline[:-1].transform(features[list(pipeline.feature_names_in_)])
    return np.clip(forest_predict(pipeline[-1], z, n_jobs), 0.0, 100.0)


@functools.cache
def _tree_average() -> type:
    """The class of :class:`_TreeAverage` estimators, made on first use (its bases are
    scikit-learn's, which loading the code location does not import)."""
    from sklearn.base import BaseEstimator, RegressorMixin

    class _TreeAverage(RegressorMixin, BaseEstimator):
        """A fitted forest predicting through :func:`forest_predict`, for
        ``permutation_importance``, which predicts once per feature and repeat on a few
        thousand rows: the forest's own per-tree dispatch would dominate the cost."""

        def __init__(self, forest: RandomForestRegressor, n_jobs: int = 1):
            self.forest = forest
            self.n_jobs = n_jobs

        def fit(self, x: Any, y: Any = None) -> _TreeAverage:
            return self  # already fitted: only predict is used

        def predict(self, x: np.ndarray) -> np.ndarray:
            return forest_predict(self.forest, x, self.n_jobs)

    return _TreeAverage


def __getattr__(name: str) -> Any:
    # ``from spotify_assets.lib.ml.model import _TreeAverage`` still works (tests use it)
    if name == "_TreeAverage":
        return _tree_average()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def held_out_importance(
    pipeline: Pipeline,
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    n_repeats: int,
    random_state: int,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Permutation importance of a fitted pipeline on rows it was not trained on: the drop in
    R² when one feature's values are shuffled, one column per repeat (``feature`` x repeats).

    The rows go through the imputation step once and the forest is permuted on the result:
    imputation maps each input column to one output column row by row, so shuffling an input
    column then imputing equals imputing then shuffling its output column (same permutations:
    ``permutation_importance`` draws them per column from one seed). That, and
    :class:`_TreeAverage`, keep the cost to the trees' own work.
    """
    from sklearn.inspection import permutation_importance

    z = np.asarray(pipeline[:-1].transform(x), dtype=np.float32)
    names = list(pipeline[:-1].get_feature_names_out())
    perm = permutation_importance(
        _tree_average()(pipeline[-1], n_jobs),
        z,
        y,
        scoring="r2",
        n_repeats=n_repeats,
        random_state=random_state,
        n_jobs=1,
    )
    return pd.DataFrame(perm.importances, index=names).loc[list(x.columns)]


def family_importance(
    pipeline: Pipeline,
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    n_repeats: int,
    random_state: int,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Grouped permutation importance on held-out rows: the drop in R² when every column of a
    feature family is shuffled with one row permutation (so features that carry the same
    signal, such as streams and listeners, cannot stand in for each other). One row per
    family, one column per repeat. Imputation is row-wise, so it is done once (as in
    :func:`held_out_importance`)."""
    from sklearn.metrics import r2_score

    z = np.asarray(pipeline[:-1].transform(x), dtype=np.float32)
    names = list(pipeline[:-1].get_feature_names_out())
    forest = pipeline[-1]
    base = r2_score(y, forest_predict(forest, z, n_jobs))
    families = sorted({feature_family(f) for f in x.columns})
    rng = np.random.default_rng(random_state)
    out = np.zeros((len(families), n_repeats))
    for i, family in enumerate(families):
        cols = [names.index(f) for f in x.columns if feature_family(f) == family]
        for r in range(n_repeats):
            zp = z.copy()
            zp[:, cols] = z[rng.permutation(len(z))][:, cols]
            out[i, r] = base - r2_score(y, forest_predict(forest, zp, n_jobs))
    return pd.DataFrame(out, index=families)


def regression_scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """R², MAE and RMSE of predictions against the truth."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "r2": float(r2_score(y, pred)),
        "mae": float(mean_absolute_error(y, pred)),
        "rmse": float(np.sqrt(mean_squared_error(y, pred))),
    }


def _followers_baseline(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Linear fit of the target on log followers; null followers take the training median
    (0 when no artist has followers: the fit is then the mean)."""
    from sklearn.linear_model import LinearRegression

    med = float(np.nanmedian(x_train)) if np.isfinite(x_train).any() else 0.0
    fill_train = np.where(np.isnan(x_train), med, x_train).reshape(-1, 1)
    fill_test = np.where(np.isnan(x_test), med, x_test).reshape(-1, 1)
    return LinearRegression().fit(fill_train, y_train).predict(fill_test)


def feature_columns(data: pd.DataFrame) -> list[str]:
    """The feature columns of a frame: everything but the ids and the target."""
    return [c for c in data.columns if c not in (*ID_COLUMNS, TARGET_COLUMN)]


def fit_and_evaluate(
    data: pd.DataFrame,
    *,
    target: str,
    params: ModelParams | None = None,
    features: list[str] | None = None,
    excluded_features: dict[str, str] | None = None,
) -> TrainingResult:
    """Cross-validate the model and both baselines on the same artist-grouped folds, compute
    permutation importance on held-out rows, then fit on every labelled track and predict all.

    ``data``: ``track_id``, ``primary_artist_id``, ``target`` (null: unlabelled, dropped from
    training and still predicted) and the features (default: every other column). Raises
    :class:`ModelError` when a feature would leak the target or there is too little data.
    """
    params = params or ModelParams()
    features = list(features) if features is not None else feature_columns(data)
    _check_features(features, target, params)
    labelled_mask = data[TARGET_COLUMN].notna().to_numpy()
    train = data.loc[labelled_mask].reset_index(drop=True)
    groups = train["primary_artist_id"].to_numpy()
    n_artists = len(pd.unique(groups))
    if n_artists < params.n_folds:
        raise ModelError(
            f"{len(train):,} labelled tracks by {n_artists} artists: grouped CV with "
            f"{params.n_folds} folds needs at least {params.n_folds} artists"
        )
    x = train[features]
    y = train[TARGET_COLUMN].to_numpy(dtype=np.float64)
    followers = (
        train[FOLLOWERS_FEATURE].to_numpy(dtype=np.float64)
        if FOLLOWERS_FEATURE in train.columns
        else np.full(len(train), np.nan)
    )
    cv = _cross_validate(x, y, groups, followers, features, params)
    timings: dict[str, float] = {"cv_s": cv.cv_s, "importance_s": cv.importance_s}
    fold_metrics = pd.DataFrame(cv.fold_rows)
    summary = _summaries(y, cv.oof, fold_metrics)
    without_metrics = (
        regression_scores(y, cv.oof["without_listening"]) | {"features": float(len(cv.without))}
        if cv.compare
        else None
    )

    # Final model on every labelled track; predictions for all tracks.
    started = time.perf_counter()
    pipeline = build_pipeline(features, params).fit(x, y)
    timings["final_fit_s"] = time.perf_counter() - started
    started = time.perf_counter()
    prediction = predict_popularity(pipeline, data, params.n_jobs)
    timings["predict_s"] = time.perf_counter() - started

    return TrainingResult(
        pipeline=pipeline,
        target=target,
        features=features,
        excluded_features=dict(excluded_features or {}),
        params=params,
        model_version=model_version(features, params, train, target),
        metrics=summary["model"],
        baseline_metrics={name: summary[name] for name in BASELINES},
        fold_metrics=fold_metrics,
        importances=_importance_table(cv.perm_runs, features),
        predictions=_predictions_frame(data, prediction, labelled_mask, cv),
        n_tracks=len(data),
        n_labelled=len(train),
        n_dropped_unlabelled=int((~labelled_mask).sum()),
        n_artists=n_artists,
        timings=timings,
        family_importances=_family_importance_table(cv.family_runs, features),
        metrics_without_listening=without_metrics,
    )


def _check_features(features: list[str], target: str, params: ModelParams) -> None:
    """Refuse features that would leak the target, and fewer than two folds."""
    leaked = [f for f in features if "popularity" in f or f in (*ID_COLUMNS, TARGET_COLUMN)]
    if target == "stream_popularity":
        leaked += [f for f in features if f in STREAM_FEATURES]
    if leaked:
        raise ModelError(f"features {leaked} would leak the target {target!r}; drop them")
    if params.n_folds < 2:
        raise ModelError(f"n_folds must be >= 2, got {params.n_folds}")


@dataclass
class _CrossValidation:
    """What the folds produced: out-of-fold predictions of the model, the baselines and (when
    ``compare``) the model ``without`` the listening features; each labelled row's fold; one
    score row per (fold, model); the permutation importances of each fold; seconds spent."""

    oof: dict[str, np.ndarray]
    fold_of: np.ndarray
    fold_rows: list[dict[str, Any]]
    perm_runs: list[np.ndarray]
    family_runs: list[pd.DataFrame]
    compare: bool
    without: list[str]
    cv_s: float
    importance_s: float


def _cross_validate(
    x: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    followers: np.ndarray,
    features: list[str],
    params: ModelParams,
) -> _CrossValidation:
    """The model and the baselines on the same artist-grouped folds."""
    started = time.perf_counter()
    importance_s = 0.0
    listening = [f for f in features if feature_family(f) == "listening"]
    without = [f for f in features if f not in listening]
    compare = bool(listening) and bool(without)
    oof = {
        name: np.full(len(x), np.nan)
        for name in ("model", *BASELINES, *(["without_listening"] if compare else []))
    }
    fold_of = np.full(len(x), -1, dtype=np.int64)
    fold_rows: list[dict[str, Any]] = []
    perm_runs: list[np.ndarray] = []
    family_runs: list[pd.DataFrame] = []
    from sklearn.model_selection import GroupKFold

    splitter = GroupKFold(n_splits=params.n_folds)
    for fold, (tr, te) in enumerate(splitter.split(x, y, groups)):
        if np.intersect1d(groups[tr], groups[te]).size:
            raise AssertionError(f"fold {fold}: an artist is in both training and test rows")
        fold_of[te] = fold
        pipe = build_pipeline(features, params).fit(x.iloc[tr], y[tr])
        oof["model"][te] = predict_popularity(pipe, x.iloc[te], params.n_jobs)
        oof["mean"][te] = y[tr].mean()
        oof["followers_linear"][te] = _followers_baseline(followers[tr], y[tr], followers[te])
        if compare:
            alt = build_pipeline(without, params).fit(x[without].iloc[tr], y[tr])
            oof["without_listening"][te] = predict_popularity(alt, x.iloc[te], params.n_jobs)
            del alt
        for name in ("model", *BASELINES):
            fold_rows.append(
                {"fold": fold, "model": name, "n_train": len(tr), "n_test": len(te)}
                | regression_scores(y[te], oof[name][te])
            )
        t_imp = time.perf_counter()
        perm, family = _fold_importances(pipe, x, y, te, fold, params)
        perm_runs.append(perm)
        family_runs.append(family)
        importance_s += time.perf_counter() - t_imp
        del pipe
    cv_s = time.perf_counter() - started - importance_s
    if (fold_of < 0).any():
        raise AssertionError("a labelled track was in no test fold")
    return _CrossValidation(
        oof=oof,
        fold_of=fold_of,
        fold_rows=fold_rows,
        perm_runs=perm_runs,
        family_runs=family_runs,
        compare=compare,
        without=without,
        cv_s=cv_s,
        importance_s=importance_s,
    )


def _fold_importances(
    pipe: Pipeline,
    x: pd.DataFrame,
    y: np.ndarray,
    te: np.ndarray,
    fold: int,
    params: ModelParams,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Permutation importance (per feature, per family) on held-out rows ``te`` of a fold (a
    subsample: each feature and repeat costs one prediction)."""
    per_fold_rows = -(-params.importance_rows // params.n_folds)
    rng = np.random.default_rng([params.random_state, fold])
    sample = np.sort(rng.choice(te, size=min(per_fold_rows, len(te)), replace=False))
    perm = held_out_importance(
        pipe,
        x.iloc[sample],
        y[sample],
        n_repeats=params.importance_repeats,
        random_state=params.random_state,
        n_jobs=params.n_jobs,
    ).to_numpy()
    family = family_importance(
        pipe,
        x.iloc[sample],
        y[sample],
        n_repeats=params.importance_repeats,
        random_state=params.random_state + fold,
        n_jobs=params.n_jobs,
    )
    return perm, family


def _summaries(
    y: np.ndarray, oof: dict[str, np.ndarray], fold_metrics: pd.DataFrame
) -> dict[str, dict[str, float]]:
    """Per model and baseline: scores pooled over all out-of-fold predictions, and the mean
    of the per-fold scores (``*_fold_mean``)."""
    summary: dict[str, dict[str, float]] = {}
    for name in ("model", *BASELINES):
        pooled = regression_scores(y, oof[name])
        per_fold = fold_metrics.loc[fold_metrics["model"] == name, list(_METRICS)].mean()
        summary[name] = pooled | {f"{m}_fold_mean": float(per_fold[m]) for m in _METRICS}
    return summary


def _family_importance_table(family_runs: list[pd.DataFrame], features: list[str]) -> pd.DataFrame:
    fam = pd.concat(family_runs, axis=1)
    return (
        pd.DataFrame(
            {
                "family": fam.index,
                "features": [
                    ", ".join(f for f in features if feature_family(f) == name)
                    for name in fam.index
                ],
                "importance_mean": fam.mean(axis=1).to_numpy(),
                "importance_std": fam.std(axis=1, ddof=0).to_numpy(),
            }
        )
        .sort_values(["importance_mean", "family"], ascending=[False, True])
        .reset_index(drop=True)
    )


def _importance_table(perm_runs: list[np.ndarray], features: list[str]) -> pd.DataFrame:
    all_perm = np.concatenate(perm_runs, axis=1)
    return (
        pd.DataFrame(
            {
                "feature": features,
                "importance_mean": all_perm.mean(axis=1),
                "importance_std": all_perm.std(axis=1),
            }
        )
        .sort_values(["importance_mean", "feature"], ascending=[False, True])
        .reset_index(drop=True)
    )


def _predictions_frame(
    data: pd.DataFrame, prediction: np.ndarray, labelled_mask: np.ndarray, cv: _CrossValidation
) -> pd.DataFrame:
    """One row per track: target, final prediction, out-of-fold prediction and fold."""
    predictions = pd.DataFrame(
        {
            "track_id": data["track_id"].to_numpy(),
            "target": data[TARGET_COLUMN].to_numpy(dtype=np.float64),
            "prediction": prediction,
            "oof_prediction": np.nan,
            "fold": pd.array([pd.NA] * len(data), dtype="Int64"),
        }
    )
    labelled_idx = np.flatnonzero(labelled_mask)
    predictions.loc[labelled_idx, "oof_prediction"] = cv.oof["model"]
    predictions.loc[labelled_idx, "fold"] = cv.fold_of
    return predictions


def load_training_data(
    conn: Any,
    target: TargetChoice = "auto",
    *,
    top_k_families: int = DEFAULT_TOP_FAMILIES,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    min_popularity_share: float = MIN_POPULARITY_SHARE,
    min_stream_coverage: float = MIN_STREAM_COVERAGE,
) -> tuple[pd.DataFrame, str, dict[str, str], dict[str, float]]:
    """Features and target of every track from the warehouse: ``(data, target name, excluded
    features with the reason, timings)``. With the stream target, the listening features are
    not built at all (they are computed from the same plays as the target)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    name = choose_target(
        conn,
        target,
        min_popularity_share=min_popularity_share,
        min_stream_coverage=min_stream_coverage,
    )
    labels = load_target(conn, name, half_life_days=half_life_days)
    timings["target_s"] = time.perf_counter() - started
    excluded: dict[str, str] = {}
    stream_features: bool | None = None
    if name == "stream_popularity":
        stream_features = False
        reason = "computed from core.streams, the source of the stream_popularity target"
        excluded = dict.fromkeys(STREAM_FEATURES, reason)
    started = time.perf_counter()
    data = load_features(conn, top_k_families=top_k_families, stream_features=stream_features)
    timings["features_s"] = time.perf_counter() - started
    if not data["track_id"].equals(labels["track_id"]):  # both ordered by track_id
        raise AssertionError("features and target rows are not aligned by track_id")
    data.insert(2, TARGET_COLUMN, labels[TARGET_COLUMN].to_numpy(dtype=np.float64))
    return data, name, excluded, timings


def train_popularity_model(
    conn: Any,
    target: TargetChoice = "auto",
    *,
    params: ModelParams | None = None,
    top_k_families: int = DEFAULT_TOP_FAMILIES,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    min_popularity_share: float = MIN_POPULARITY_SHARE,
    min_stream_coverage: float = MIN_STREAM_COVERAGE,
) -> TrainingResult:
    """Load features and target from the warehouse (DuckDB connection, read only), then
    :func:`fit_and_evaluate`. ``result.target`` says which target ``auto`` chose."""
    data, name, excluded, timings = load_training_data(
        conn,
        target,
        top_k_families=top_k_families,
        half_life_days=half_life_days,
        min_popularity_share=min_popularity_share,
        min_stream_coverage=min_stream_coverage,
    )
    result = fit_and_evaluate(data, target=name, params=params, excluded_features=excluded)
    result.timings = timings | result.timings
    return result


def beats_baselines(
    result: TrainingResult, min_margin: float = DEFAULT_MIN_MARGIN
) -> tuple[bool, str]:
    """Whether the model's held-out (pooled out-of-fold) R² and MAE beat both baselines:
    R² higher by at least ``min_margin`` (R² points) and MAE lower by at least ``min_margin``
    of the baseline's MAE, in the grouped cross-validation and, when there is one, in the
    forward-in-time evaluation too. The message gives every difference."""
    ok, message = _beats(result.metrics, result.baseline_metrics, min_margin)
    parts = [f"grouped CV: {message}"]
    forward = result.forward
    if forward is not None and forward.metrics:
        f_ok, f_message = _beats(forward.metrics, forward.baseline_metrics, min_margin)
        ok &= f_ok
        parts.append(f"forward in time: {f_message}")
    verdict = "beats" if ok else "does not beat"
    return ok, f"model {verdict} the baselines (margin {min_margin:g}): " + " | ".join(parts)


def _beats(
    metrics: dict[str, float], baselines: dict[str, dict[str, float]], min_margin: float
) -> tuple[bool, str]:
    ok = True
    parts = []
    r2, mae = metrics["r2"], metrics["mae"]
    for name, base in baselines.items():
        d_r2 = r2 - base["r2"]
        d_mae = (base["mae"] - mae) / base["mae"] if base["mae"] > 0 else 0.0
        good = d_r2 >= min_margin and d_mae >= min_margin
        ok &= good
        parts.append(
            f"{'beats' if good else 'does not beat'} {name}: R² {r2:.3f} vs {base['r2']:.3f} "
            f"({d_r2:+.3f}), MAE {mae:.2f} vs {base['mae']:.2f} ({-d_mae:+.1%})"
        )
    return ok, "; ".join(parts)
