"""Forward-in-time evaluation of the popularity model (Dagster-free).

The model is used to find tracks that will grow (playlist curation), so besides the grouped
cross-validation it is judged the way it is used: features as they were known at an earlier
time ``as_of`` (T1), target as it was later (T2, the latest observation), with the folds still
grouped by artist. Two things are scored:

- the forecast: held-out R², MAE and RMSE of the model's T2 prediction from T1 features,
  against the same baselines as the cross-validation (training mean, followers line);
- the candidate-hits list as the mart would have made it at T1 (tracks predicted at least
  ``hit_margin`` points above their value at T1), judged by what happened next: the share of
  listed tracks that rose by at least ``rise_points`` from T1 to T2, against a baseline list of
  as many tracks that were rising fastest in playlists (most playlists added them in the
  ``riser_days`` before T1) and against all tracks (the base rate).

T1 and the values at T1: for ``stream_popularity`` the score computed from the streams played
by T1 (``horizon_days`` before the latest stream); for ``spotify_popularity`` the popularity
observed in the playlist snapshot window taken at T1 (the caller passes it: snapshot windows
live in the lake). Features at T1: :func:`.features.features_sql` with ``as_of``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from spotify_assets.lib.ml.features import load_features
from spotify_assets.lib.ml.model import (
    BASELINES,
    FOLLOWERS_FEATURE,
    TARGET_COLUMN,
    ModelParams,
    _followers_baseline,
    build_pipeline,
    predict_popularity,
    regression_scores,
)
from spotify_assets.lib.ml.target import DEFAULT_HALF_LIFE_DAYS, load_target, stream_popularity_sql

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

DEFAULT_HORIZON_DAYS = 90.0
#: A track "rose" when its value gained at least this many points from T1 to T2 (popularity
#: moves a few points between snapshot windows by noise alone).
RISE_POINTS = 5.0
#: Playlist risers: playlists that added the track in this many days before T1.
RISER_DAYS = 30
EARLIER_COLUMN = "earlier_target"
ADDITIONS_COLUMN = "playlist_additions"


@dataclass
class ForwardResult:
    """The forward evaluation. ``metrics``/``baseline_metrics``: pooled held-out scores of the
    T2 forecast (empty when it could not run: ``skipped`` says why). ``predictions``: one row
    per evaluated track, ``track_id``, ``earlier_target`` (T1), ``forward_target`` (T2),
    ``forward_prediction`` (out-of-fold, from T1 features), ``forward_fold``. ``hits``: one row
    per list (``model``, ``playlist_risers``, ``all_tracks``) with ``tracks``, ``rose``,
    ``rose_share`` and ``mean_change``."""

    as_of: datetime | None
    until: datetime | None
    metrics: dict[str, float] = field(default_factory=dict)
    baseline_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    predictions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame())
    hits: pd.DataFrame = field(default_factory=lambda: pd.DataFrame())
    n_tracks: int = 0
    skipped: str | None = None
    #: The model's forecast scores without these features (one family), on the same folds.
    without: tuple[str, ...] = ()
    metrics_without: dict[str, float] = field(default_factory=dict)


def _ts(at: datetime) -> str:
    return f"timestamp '{at:%Y-%m-%d %H:%M:%S}'"


def playlist_additions_sql(as_of: datetime, days: int = RISER_DAYS) -> str:
    """SELECT ``track_id``, ``playlist_additions``: distinct playlists that added the track in
    the ``days`` before ``as_of``, as seen in the snapshots taken by then (or, when none was,
    in later snapshots)."""
    cut = _ts(as_of)
    return f"""
select track_id, count(distinct playlist_id)::double as {ADDITIONS_COLUMN}
  from core.playlist_tracks
 where added_at > {cut} - interval {int(days)} day and added_at <= {cut}
   and (snapshot_time <= {cut}
        or not exists (select 1 from core.playlist_tracks where snapshot_time <= {cut}))
 group by track_id
"""


def latest_stream_time(conn: Any) -> datetime | None:
    """The latest music play of ``core.streams`` (T2 of the stream target)."""
    (at,) = conn.execute("select max(ts) from core.streams where content_type = 'music'").fetchone()
    return at


def load_forward_data(
    conn: Any,
    target: str,
    *,
    as_of: datetime,
    families: list[str],
    earlier: pd.DataFrame | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> pd.DataFrame:
    """Features as of ``as_of`` (tracks released by then), ``target`` (the value now),
    ``earlier_target`` (the value at ``as_of``) and ``playlist_additions``, one row per track.

    ``earlier``: ``track_id``, ``popularity`` at ``as_of`` (needed for ``spotify_popularity``;
    tracks missing from it get a null earlier value and are not evaluated). The stream target
    is computed at ``as_of`` from the streams played by then, and leaves out the listening
    features (same source)."""
    stream = target == "stream_popularity"
    data = load_features(
        conn, families=families, stream_features=False if stream else None, as_of=as_of
    )
    later = load_target(conn, target, half_life_days=half_life_days)
    data = data.merge(later, on="track_id", how="left")
    if stream:
        before = conn.execute(stream_popularity_sql(half_life_days, as_of=as_of)).df()
        before = before.rename(columns={TARGET_COLUMN: EARLIER_COLUMN})
    else:
        if earlier is None:
            raise ValueError("spotify_popularity needs the popularity observed at as_of")
        before = earlier[["track_id", "popularity"]].rename(columns={"popularity": EARLIER_COLUMN})
        before[EARLIER_COLUMN] = before[EARLIER_COLUMN].astype("float64")
    data = data.merge(before, on="track_id", how="left")
    adds = conn.execute(playlist_additions_sql(as_of)).df()
    data = data.merge(adds, on="track_id", how="left")
    data[ADDITIONS_COLUMN] = data[ADDITIONS_COLUMN].fillna(0.0)
    return data.sort_values("track_id", kind="stable").reset_index(drop=True)


def forward_evaluate(
    data: pd.DataFrame,
    features: list[str],
    params: ModelParams,
    *,
    as_of: datetime,
    until: datetime | None = None,
    hit_margin: float = 15.0,
    rise_points: float = RISE_POINTS,
    without: Sequence[str] = (),
) -> ForwardResult:
    """Grouped cross-validation of the T2 forecast from T1 features (model and baselines on the
    same artist folds), then the candidate-hits backtest (see the module docstring).
    ``without``: features (a family) the model is also scored without, on the same folds, to
    measure what they add to the forecast."""
    from sklearn.model_selection import GroupKFold

    keep = data[TARGET_COLUMN].notna() & data[EARLIER_COLUMN].notna()
    rows = data.loc[keep].reset_index(drop=True)
    groups = rows["primary_artist_id"].to_numpy()
    if len(pd.unique(groups)) < params.n_folds:
        return ForwardResult(
            as_of,
            until,
            skipped=f"{len(rows):,} tracks with a value at T1 and T2 by "
            f"{len(pd.unique(groups))} artists: too few for {params.n_folds} grouped folds",
        )
    present = [f for f in features if f in rows.columns]
    x, y = rows[present], rows[TARGET_COLUMN].to_numpy(dtype=np.float64)
    followers = (
        rows[FOLLOWERS_FEATURE].to_numpy(dtype=np.float64)
        if FOLLOWERS_FEATURE in rows.columns
        else np.full(len(rows), np.nan)
    )
    dropped = [f for f in without if f in present]
    reduced = [f for f in present if f not in dropped]
    compare = bool(dropped) and bool(reduced)
    names = ("model", *BASELINES, *(["without"] if compare else []))
    oof = {name: np.full(len(rows), np.nan) for name in names}
    fold_of = np.full(len(rows), -1, dtype=np.int64)
    for fold, (tr, te) in enumerate(GroupKFold(n_splits=params.n_folds).split(x, y, groups)):
        fold_of[te] = fold
        pipe = build_pipeline(present, params).fit(x.iloc[tr], y[tr])
        oof["model"][te] = predict_popularity(pipe, x.iloc[te], params.n_jobs)
        oof["mean"][te] = y[tr].mean()
        oof["followers_linear"][te] = _followers_baseline(followers[tr], y[tr], followers[te])
        del pipe
        if compare:
            alt = build_pipeline(reduced, params).fit(x[reduced].iloc[tr], y[tr])
            oof["without"][te] = predict_popularity(alt, x.iloc[te], params.n_jobs)
            del alt
    earlier = rows[EARLIER_COLUMN].to_numpy(dtype=np.float64)
    predictions = pd.DataFrame(
        {
            "track_id": rows["track_id"].to_numpy(),
            "earlier_target": earlier,
            "forward_target": y,
            "forward_prediction": oof["model"],
            "forward_fold": fold_of,
        }
    )
    change = y - earlier
    listed = np.flatnonzero(oof["model"] - earlier >= hit_margin)
    n = len(listed)
    risers = np.lexsort((rows["track_id"].to_numpy(), -rows[ADDITIONS_COLUMN].to_numpy()))[:n]

    def judged(name: str, idx: np.ndarray) -> dict[str, Any]:
        rose = int((change[idx] >= rise_points).sum())
        return {
            "list": name,
            "tracks": len(idx),
            "rose": rose,
            "rose_share": rose / len(idx) if len(idx) else float("nan"),
            "mean_change": float(change[idx].mean()) if len(idx) else float("nan"),
        }

    hits = pd.DataFrame(
        [
            judged("model", listed),
            judged("playlist_risers", risers),
            judged("all_tracks", np.arange(len(rows))),
        ]
    )
    return ForwardResult(
        as_of=as_of,
        until=until,
        metrics=regression_scores(y, oof["model"]),
        baseline_metrics={name: regression_scores(y, oof[name]) for name in BASELINES},
        predictions=predictions,
        hits=hits,
        n_tracks=len(rows),
        without=tuple(dropped) if compare else (),
        metrics_without=regression_scores(y, oof["without"]) if compare else {},
    )


def forward_as_of(latest: datetime, horizon_days: float = DEFAULT_HORIZON_DAYS) -> datetime:
    """T1 for a T2: ``horizon_days`` earlier."""
    return latest - timedelta(days=horizon_days)


__all__ = [
    "ADDITIONS_COLUMN",
    "DEFAULT_HORIZON_DAYS",
    "EARLIER_COLUMN",
    "RISER_DAYS",
    "RISE_POINTS",
    "ForwardResult",
    "forward_as_of",
    "forward_evaluate",
    "latest_stream_time",
    "load_forward_data",
    "playlist_additions_sql",
]
