"""``marts.candidate_hits``: tracks the model rates well above their current popularity.

The gap uses the *out-of-fold* prediction: the one made by a model that never saw the track's
artist. The final model's in-sample prediction is pulled toward the popularity it was trained
on, so it would hide exactly the tracks a curator wants (under-rated for what they are).

Whether such a list finds tracks that then grow is measured, not assumed: the model's forward
evaluation (``spotify_assets/lib/ml/forward.py``) makes this list as of an earlier time and
counts how many listed tracks rose by the latest observation, against as many tracks rising in
playlists and against all tracks (``ml.model_evaluation``, ``candidate_hits_forward``).
"""

from __future__ import annotations

from spotify_assets.lib.marts.spec import Mart, PlotSpec

#: A candidate hit is predicted at least this many popularity points above its current value.
HIT_MARGIN = 15

CANDIDATE_HITS = Mart(
    name="candidate_hits",
    description=(
        "One row per track whose held-out (out-of-fold) predicted popularity is at least "
        f"{HIT_MARGIN} points above its current value, largest gap first."
    ),
    sql=f"""
select p.track_id,
       t.track_name,
       a.artist_name,
       p.target as current_value,
       round(p.oof_prediction, 1) as predicted,
       round(p.oof_prediction - p.target, 1) as gap,
       round(p.prediction, 1) as final_model_prediction,
       p.model_version
  from ml.popularity_predictions p
  join core.tracks t using (track_id)
  left join core.artists a on a.artist_id = t.primary_artist_id
 where p.target is not null
   and p.oof_prediction - p.target >= {HIT_MARGIN}
 order by gap desc, p.track_id
""",
    columns={
        "track_id": "The track",
        "track_name": "Its name",
        "artist_name": "Its primary artist",
        "current_value": "The target now (Spotify popularity or stream popularity)",
        "predicted": "Out-of-fold prediction (a model that never saw this artist)",
        "gap": "predicted - current_value",
        "final_model_prediction": "The final model's prediction (trained on this track too)",
        "model_version": "The model that predicted it",
    },
    reads=("ml.popularity_predictions", "core.tracks", "core.artists"),
    lineage={
        "current_value": (("ml.popularity_predictions", "target"),),
        "predicted": (("ml.popularity_predictions", "oof_prediction"),),
        "gap": (
            ("ml.popularity_predictions", "oof_prediction"),
            ("ml.popularity_predictions", "target"),
        ),
        "final_model_prediction": (("ml.popularity_predictions", "prediction"),),
    },
    plots=(
        PlotSpec(
            "Top 20 candidate hits: predicted popularity gap",
            "barh",
            x="track_name",
            y=("gap",),
            query="select track_name || ' - ' || coalesce(artist_name, '?') as track_name, gap "
            "from marts.candidate_hits order by gap desc, track_id limit 20",
        ),
    ),
    headline="select count(*) as candidate_hits, max(gap) as largest_gap from marts.candidate_hits",
    key=("track_id",),
)
