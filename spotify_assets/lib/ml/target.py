"""The target of the popularity model: Spotify's own popularity, or one computed from plays.

``spotify_popularity`` is ``core.tracks.popularity`` (0-100; null for development-mode apps).

``stream_popularity`` follows how Spotify describes its own score (recent plays count more),
computed from ``core.streams``:

- only streams count: music plays of at least 30 s of a known track (docs/ARCHITECTURE.md,
  section 7);
- each stream weighs ``0.5 ** (age_days / half_life_days)``, its age measured from the latest
  music play of the whole history (so the score does not depend on when it is computed);
- a track's score is the sum of its weights, scaled to 0-100 as
  ``100 * ln(1 + score) / ln(1 + max score)``. The log because plays are heavy-tailed (a few
  tracks take most of them): on a linear scale nearly every track would sit at 0. The maximum
  is over every streamed track, in the catalog or not, so a track's value does not depend on
  which tracks the playlist snapshots happened to see;
- a catalog track without a stream gets 0, not null: the history was observed and nobody
  streamed it, which is what popularity 0 means. Played tracks outside ``core.tracks`` have no
  features, so they are not rows of the model.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from spotify_assets.lib.marts.spec import STREAM_MIN_MS
from spotify_assets.lib.ml.features import has_music_streams, table_exists

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

TargetName = Literal["spotify_popularity", "stream_popularity"]
TargetChoice = Literal["auto", "spotify_popularity", "stream_popularity"]
TARGETS: tuple[str, ...] = ("spotify_popularity", "stream_popularity")

#: ``auto`` takes Spotify's popularity when at least this share of tracks has it.
MIN_POPULARITY_SHARE = 0.9
#: ``auto`` falls back to the stream popularity when at least this share of catalog tracks
#: has a stream (below it the target is 0 for nearly every track and says little).
MIN_STREAM_COVERAGE = 0.2
DEFAULT_HALF_LIFE_DAYS = 30.0


class ModelError(Exception):
    """The popularity model cannot be trained as configured; the message says what to change."""


def stream_popularity_sql(
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS, as_of: datetime | None = None
) -> str:
    """SELECT ``track_id``, ``target`` (the stream popularity, 0-100) for every track of
    ``core.tracks``, ordered by ``track_id`` (definition in the module docstring).
    ``as_of`` (UTC, naive): the score as it was then, from the streams played by then."""
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be > 0, got {half_life_days}")
    cut = f"and ts <= timestamp '{as_of:%Y-%m-%d %H:%M:%S}'" if as_of is not None else ""
    return f"""
with ref as (
    select max(ts) as at from core.streams where content_type = 'music' {cut}
),
score as (
    select s.track_id,
           sum(pow(0.5, date_diff('millisecond', s.ts, ref.at) / 86400000.0
                        / {float(half_life_days)!r})) as score
      from core.streams s
     cross join ref
     where s.content_type = 'music' and s.track_id is not null
       and s.ms_played >= {STREAM_MIN_MS} and s.ts <= ref.at
     group by s.track_id
),
top as (select max(score) as top from score)
select t.track_id,
       coalesce(100.0 * ln(1 + sc.score) / ln(1 + top.top), 0.0) as target
  from core.tracks t
 cross join top
  left join score sc on sc.track_id = t.track_id
 order by t.track_id
"""


def spotify_popularity_sql() -> str:
    """SELECT ``track_id``, ``target`` (``core.tracks.popularity``, null when unknown)."""
    return "select track_id, popularity::double as target from core.tracks order by track_id"


def target_coverage(conn: Any) -> dict[str, float]:
    """What the data offers for each target: ``tracks``, ``popularity_share`` (share of tracks
    with a Spotify popularity) and ``stream_coverage`` (share with at least one stream)."""
    tracks, with_pop = conn.execute(
        "select count(*), count(popularity) from core.tracks"
    ).fetchone()
    coverage = 0.0
    if tracks and has_music_streams(conn):
        (streamed,) = conn.execute(
            f"""select count(*) from core.tracks t
                 where exists (select 1 from core.streams s
                                where s.track_id = t.track_id and s.content_type = 'music'
                                  and s.ms_played >= {STREAM_MIN_MS})"""
        ).fetchone()
        coverage = streamed / tracks
    return {
        "tracks": float(tracks),
        "popularity_share": with_pop / tracks if tracks else 0.0,
        "stream_coverage": coverage,
    }


def choose_target(
    conn: Any,
    target: TargetChoice = "auto",
    *,
    min_popularity_share: float = MIN_POPULARITY_SHARE,
    min_stream_coverage: float = MIN_STREAM_COVERAGE,
) -> TargetName:
    """Resolve ``auto``: Spotify's popularity when at least ``min_popularity_share`` of the
    tracks have it (extended-mode app), else the stream popularity when at least
    ``min_stream_coverage`` of the tracks were streamed, else :class:`ModelError`.
    An explicit target is checked to be computable (some label exists)."""
    if target not in ("auto", *TARGETS):
        raise ModelError(f"unknown target {target!r}; use 'auto', {', '.join(map(repr, TARGETS))}")
    if not table_exists(conn, "core.tracks"):
        raise ModelError("core.tracks does not exist: materialize the catalog assets first")
    tracks, with_pop = conn.execute(
        "select count(*), count(popularity) from core.tracks"
    ).fetchone()
    if tracks == 0:
        raise ModelError("core.tracks is empty: materialize the catalog assets first")
    if target == "spotify_popularity":
        if with_pop == 0:
            raise ModelError(
                "target 'spotify_popularity' needs core.tracks.popularity, which is null for "
                "every track (development-mode app); use an extended-mode app or set "
                "target='stream_popularity'"
            )
        return "spotify_popularity"
    if target == "stream_popularity":
        if not has_music_streams(conn):
            raise ModelError(
                "target 'stream_popularity' needs listening history: core.streams has no music "
                "stream; land streaming-history exports or set target='spotify_popularity'"
            )
        return "stream_popularity"
    cov = target_coverage(conn)
    if cov["popularity_share"] >= min_popularity_share:
        return "spotify_popularity"
    if cov["stream_coverage"] >= min_stream_coverage:
        return "stream_popularity"
    raise ModelError(
        f"target 'auto' found no usable target: {cov['popularity_share']:.0%} of the "
        f"{int(cov['tracks']):,} tracks have a Spotify popularity (needs >= "
        f"{min_popularity_share:.0%}: an extended-mode app) and {cov['stream_coverage']:.0%} "
        f"have a stream in core.streams (needs >= {min_stream_coverage:.0%}). Land more "
        "streaming-history exports, use an extended-mode app, or set target="
        "'spotify_popularity' or 'stream_popularity' explicitly."
    )


def load_target(
    conn: Any, target: TargetName, *, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
) -> pd.DataFrame:
    """``track_id``, ``target`` (DOUBLE, 0-100, null when unknown) for every track, by track."""
    if target == "spotify_popularity":
        return conn.execute(spotify_popularity_sql()).df()
    if target == "stream_popularity":
        return conn.execute(stream_popularity_sql(half_life_days)).df()
    raise ModelError(f"unknown target {target!r}; use one of {', '.join(map(repr, TARGETS))}")
