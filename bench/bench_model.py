"""Benchmark of the popularity model on a warehouse: features, grouped CV (with permutation
importance), final fit and predictions, with wall time per step, peak RSS and the scores
against the baselines.

    .venv/bin/python bench/bench_model.py --warehouse data/warehouse.duckdb
    .venv/bin/python bench/bench_model.py --warehouse /tmp/bench_wh/warehouse.duckdb --sweep
    .venv/bin/python bench/bench_model.py --world demo

``--world SCALE`` writes the sample world of that scale straight into an in-memory warehouse
(the core tables as of the end of its listening history, three 8-hourly snapshots, and one
more snapshot ``--horizon-days`` earlier with the popularity the API served then), so the
forward-in-time evaluation runs too: the figures of docs/USER_GUIDE.md, "The popularity model".

The warehouse is opened read-only. ``--sweep`` also sizes the forest: each setting is fitted
on the training side of one artist-grouped split (the first of the CV's folds) and scored on
its held-out side, printing R², MAE, fit and predict seconds, so the defaults of
``ModelParams`` can be chosen by what more trees or rows actually buy.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from spotify_assets.lib.ml import ModelParams


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


# (n_estimators, max_samples, min_samples_leaf, max_features): one factor at a time around the
# defaults, plus the full-depth, all-rows forest as the reference.
SWEEP: tuple[tuple[int, float | None, int, float | None], ...] = (
    (100, None, 1, 1.0),
    (100, 0.3, 5, 0.5),
    (25, 0.3, 5, 0.5),
    (50, 0.3, 5, 0.5),
    (200, 0.3, 5, 0.5),
    (100, 0.2, 5, 0.5),
    (100, 0.5, 5, 0.5),
    (100, 1.0, 5, 0.5),
    (100, 0.3, 1, 0.5),
    (100, 0.3, 20, 0.5),
    (100, 0.3, 5, 1.0),
    (100, 0.3, 5, 0.33),
    (50, 0.2, 20, 0.5),
    (50, 0.3, 10, 0.5),
    (50, 0.3, 5, 0.33),
)


def sweep(data: pd.DataFrame, params: ModelParams) -> None:
    """Fit each setting of SWEEP on one grouped split and print its scores and times."""
    from sklearn.model_selection import GroupKFold

    from spotify_assets.lib.ml import build_pipeline, feature_columns, predict_popularity
    from spotify_assets.lib.ml.model import regression_scores

    labelled = data[data["target"].notna()].reset_index(drop=True)
    features = feature_columns(labelled)
    x, y = labelled[features], labelled["target"].to_numpy()
    groups = labelled["primary_artist_id"].to_numpy()
    tr, te = next(GroupKFold(n_splits=params.n_folds).split(x, y, groups))
    print(f"\nsizing on one grouped split: {len(tr):,} training rows, {len(te):,} held out")
    print(
        f"{'trees':>5} {'max_samples':>11} {'leaf':>4} {'max_feat':>8} {'R²':>6} {'MAE':>6} "
        f"{'fit s':>6} {'pred s':>6} {'peak MB':>7}"
    )
    for n, ms, leaf, mf in SWEEP:
        p = replace(params, n_estimators=n, max_samples=ms, min_samples_leaf=leaf, max_features=mf)
        t = time.perf_counter()
        pipe = build_pipeline(features, p).fit(x.iloc[tr], y[tr])
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        pred = predict_popularity(pipe, x.iloc[te], p.n_jobs)
        pred_s = time.perf_counter() - t
        s = regression_scores(y[te], pred)
        print(
            f"{n:>5} {ms if ms is not None else 1.0:>11} {leaf:>4} {mf:>8} {s['r2']:>6.3f} "
            f"{s['mae']:>6.2f} {fit_s:>6.1f} {pred_s:>6.1f} {peak_rss_mb():>7.0f}",
            flush=True,
        )
        del pipe


def world_warehouse(scale: str, horizon_days: float):
    """(connection, T1, T2, popularity at T1) of the sample world written as core tables."""
    from spotify_assets.lib.sample.world import build_world
    from spotify_assets_tests.support.worlds import world_at_two_times

    return world_at_two_times(build_world(scale, seed=42), horizon_days)


def report_forward(conn, result, params, as_of, until, earlier) -> None:
    """Run and print the forward evaluation (lib/ml/forward.py) of a trained result."""
    from spotify_assets.lib.ml.candidate_hits import HIT_MARGIN
    from spotify_assets.lib.ml.features import top_families
    from spotify_assets.lib.ml.forward import (
        forward_as_of,
        forward_evaluate,
        latest_stream_time,
        load_forward_data,
    )

    if result.target == "stream_popularity":
        until = latest_stream_time(conn)
        as_of = forward_as_of(until, (until - as_of).total_seconds() / 86400 if as_of else 90)
        earlier = None
    t = time.perf_counter()
    data = load_forward_data(
        conn, result.target, as_of=as_of, families=top_families(conn), earlier=earlier
    )
    fwd = forward_evaluate(
        data, result.features, params, as_of=as_of, until=until, hit_margin=HIT_MARGIN
    )
    result.forward = fwd
    print(
        f"\nforward in time: features as of {as_of}, target as of {until} "
        f"({fwd.n_tracks:,} tracks, {time.perf_counter() - t:.1f} s)"
    )
    for name, m in {"model": fwd.metrics, **fwd.baseline_metrics}.items():
        print(f"{name:<18} {m['r2']:7.3f} {m['mae']:7.2f} {m['rmse']:7.2f}")
    print("\ncandidate hits as of T1, judged at T2 (rose: +5 points or more):")
    for r in fwd.hits.itertuples():
        print(
            f"  {r.list:<16} {r.tracks:>6} listed {r.rose:>5} rose ({r.rose_share:6.1%}), "
            f"mean change {r.mean_change:+.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--warehouse", help="DuckDB file (opened read-only)")
    where.add_argument("--world", help="sample world scale written into memory (tiny, demo)")
    parser.add_argument("--horizon-days", type=float, default=90.0)
    parser.add_argument(
        "--target", default="auto", choices=["auto", "spotify_popularity", "stream_popularity"]
    )
    parser.add_argument("--n-estimators", type=int)
    parser.add_argument("--max-samples", type=float)
    parser.add_argument("--min-samples-leaf", type=int)
    parser.add_argument("--max-features", type=float)
    parser.add_argument("--sweep", action="store_true", help="also size the forest (slow)")
    parser.add_argument("--no-train", action="store_true", help="with --sweep: only the sweep")
    args = parser.parse_args()

    t = time.perf_counter()
    import duckdb

    from spotify_assets.lib.ml import (
        ModelParams,
        beats_baselines,
        fit_and_evaluate,
        load_training_data,
    )

    print(f"{'import':<22} {time.perf_counter() - t:8.1f} s")
    overrides = {
        k: v
        for k, v in {
            "n_estimators": args.n_estimators,
            "max_samples": args.max_samples,
            "min_samples_leaf": args.min_samples_leaf,
            "max_features": args.max_features,
        }.items()
        if v is not None
    }
    params = replace(ModelParams(), **overrides)
    print(f"params: {params}")

    started = time.perf_counter()
    as_of = until = earlier = None
    if args.world:
        conn, as_of, until, earlier = world_warehouse(args.world, args.horizon_days)
        print(f"{'world warehouse':<22} {time.perf_counter() - started:8.1f} s")
        started = time.perf_counter()
    else:
        conn = duckdb.connect(args.warehouse, read_only=True)
    data, target, excluded, timings = load_training_data(conn, args.target)
    rss_features = peak_rss_mb()
    print(
        f"{len(data):,} tracks, {data['primary_artist_id'].nunique():,} artists, target "
        f"{target} ({int(data['target'].notna().sum()):,} labelled), "
        f"{len(data.columns) - 3} features; excluded: {sorted(excluded) or 'none'}"
    )
    print(f"{'target':<22} {timings['target_s']:8.1f} s")
    print(f"{'features':<22} {timings['features_s']:8.1f} s   peak RSS {rss_features:7.0f} MB")

    if not args.no_train:
        result = fit_and_evaluate(data, target=target, params=params, excluded_features=excluded)
        total = time.perf_counter() - started
        for step in ("cv_s", "importance_s", "final_fit_s", "predict_s"):
            print(f"{step[:-2]:<22} {result.timings[step]:8.1f} s")
        print(f"{'total':<22} {total:8.1f} s   peak RSS {peak_rss_mb():7.0f} MB")
        print(f"model_version {result.model_version}")
        print(f"\n{'held out':<18} {'R²':>7} {'MAE':>7} {'RMSE':>7} {'R² folds':>9}")
        rows = {"model": result.metrics, **result.baseline_metrics}
        for name, m in rows.items():
            print(
                f"{name:<18} {m['r2']:7.3f} {m['mae']:7.2f} {m['rmse']:7.2f} "
                f"{m['r2_fold_mean']:9.3f}"
            )
        if result.metrics_without_listening:
            m = result.metrics_without_listening
            print(f"{'without listening':<18} {m['r2']:7.3f} {m['mae']:7.2f} {m['rmse']:7.2f}")
        if args.world or target == "stream_popularity":
            report_forward(conn, result, params, as_of, until, earlier)
        ok, message = beats_baselines(result)
        print(f"\n{message}")
        print("\npermutation importance by feature family (drop in held-out R²):")
        for row in result.family_importances.itertuples():
            print(f"  {row.family:<12} {row.importance_mean:7.4f} ± {row.importance_std:.4f}")
        print("\ntop permutation importances (drop in held-out R²):")
        for row in result.importances.head(10).itertuples():
            print(f"  {row.feature:<26} {row.importance_mean:7.4f} ± {row.importance_std:.4f}")

    if args.sweep:
        sweep(data, params)
    conn.close()


if __name__ == "__main__":
    main()
