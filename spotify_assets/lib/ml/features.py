"""Features of the popularity model: one row per track of ``core.tracks``, computed in DuckDB.

Every feature is something observable about a track *without* knowing how popular it is
(:data:`FEATURE_DESCRIPTIONS` has one line per column), and why each group is allowed:

- track metadata (``duration_ms``, ``explicit``, ``track_number``, ``disc_number``) and album
  metadata (``album_type_*``, ``album_total_tracks``, ``release_precision_*``,
  ``release_age_days``): fixed by the label at release, before anyone listens;
- the primary artist's reach and place in the catalog (``artist_log_followers``,
  ``artist_catalog_tracks``): followers are people who chose to follow, a count Spotify does
  not compute from popularity; catalog size counts rows of ``core.tracks``;
- genre (``genre_<family>``, ``genre_other``): the primary artist's family, metadata;
- playlist exposure (``playlist_appearances``, ``playlist_best_position``,
  ``playlist_count``): curators' choices as observed in the snapshots, a cause of plays rather
  than a function of the score;
- listening (``track_streams``, ``track_listeners``, ``track_skip_rate``, when
  ``core.streams`` has music): what this history's listeners did, not Spotify's score;
- audio (``audio_danceability``, ``audio_energy``, ..., when catalog datasets landed them):
  how the recording sounds, fixed before anyone listens. Kept only where the forward
  evaluation finds the model better with them (:mod:`.evaluation`).

Two things are never features, because they are the target or are derived from it (a model
using them would only learn to copy the label):

- ``core.artists.popularity``: Spotify computes an artist's popularity from its tracks'
  popularity, so it carries the target of the very track being predicted;
- any popularity history of the track (``core.tracks.popularity`` at any time).

When the target is the stream popularity (computed from ``core.streams``), the listening
features (streams, listeners, skip rate) are built from the same plays as the target and are
left out too (see :func:`load_features`, ``stream_features``).

Nulls: counts are 0 when there is nothing to count (a track in no playlist has 0 appearances,
a track nobody streamed has 0 streams); values that are unknown rather than zero (an album that
was never fetched, an artist without followers, a best position when a track was in no
playlist, a skip rate without a single play whose skip flag is known) stay null and are
imputed with the training median by the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES
from spotify_assets.lib.marts.spec import ARTIST_FAMILY_SQL, STREAM_MIN_MS

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

#: Identifier columns of the feature frame: kept beside the features, never inside the matrix.
#: ``primary_artist_id`` is the cross-validation group.
ID_COLUMNS: tuple[str, ...] = ("track_id", "primary_artist_id")

#: Default number of genre families that get their own one-hot column.
DEFAULT_TOP_FAMILIES = 8

#: Listening features: built from ``core.streams``, so excluded when the target is too.
STREAM_FEATURES: tuple[str, ...] = ("track_streams", "track_listeners", "track_skip_rate")

#: Audio features (``core.track_audio_features``, from landed catalog datasets): what the
#: track sounds like, fixed when it is recorded. Null where no dataset has the track.
AUDIO_FEATURES: tuple[str, ...] = tuple(
    f"audio_{name}"
    for name in (
        "danceability", "energy", "valence", "acousticness", "instrumentalness",
        "speechiness", "liveness", "loudness", "tempo",
    )
)  # fmt: skip
#: The audio-feature family's name (the forward evaluation scores the model with and without).
AUDIO_FAMILY = "audio"

#: Features that may be null (unknown, not zero); the model imputes them with the median.
NULLABLE_FEATURES: frozenset[str] = frozenset(
    {
        *AUDIO_FEATURES,
        "duration_ms",
        "explicit",
        "track_number",
        "disc_number",
        "album_total_tracks",
        "release_age_days",
        "artist_log_followers",
        "playlist_best_position",
        "track_skip_rate",
    }
)


#: Feature families for grouped permutation importance: what a reader asks ("does the model
#: rest on playlists or on what our listeners played?"). Genre is artist metadata. Chart
#: features do not exist yet, so there is no ``charts`` family.
FEATURE_FAMILIES: tuple[str, ...] = (
    "track", "album", "artist", "playlists", "listening", AUDIO_FAMILY,
)  # fmt: skip
_FAMILY_OF: dict[str, str] = {
    "duration_ms": "track",
    "explicit": "track",
    "track_number": "track",
    "disc_number": "track",
    "album_type_album": "album",
    "album_type_single": "album",
    "album_type_compilation": "album",
    "album_total_tracks": "album",
    "release_age_days": "album",
    "release_precision_day": "album",
    "release_precision_month": "album",
    "release_precision_year": "album",
    "artist_log_followers": "artist",
    "artist_catalog_tracks": "artist",
    "playlist_appearances": "playlists",
    "playlist_best_position": "playlists",
    "playlist_count": "playlists",
    **dict.fromkeys(STREAM_FEATURES, "listening"),
    **dict.fromkeys(AUDIO_FEATURES, AUDIO_FAMILY),
}


def feature_family(feature: str) -> str:
    """The family of a feature column (:data:`FEATURE_FAMILIES`); genre columns are ``artist``."""
    if feature.startswith("genre_"):
        return "artist"
    try:
        return _FAMILY_OF[feature]
    except KeyError:
        raise ValueError(f"feature {feature!r} has no family; add it to _FAMILY_OF") from None


def genre_column(family: str) -> str:
    """Column name of a genre family's one-hot feature: ``hip hop/r&b`` -> ``genre_hip_hop_r_b``."""
    return "genre_" + re.sub(r"[^a-z0-9]+", "_", family.lower()).strip("_")


_BASE_DESCRIPTIONS: dict[str, str] = {
    "duration_ms": "Track length in ms (core.tracks). Static metadata, known before any play.",
    "explicit": "1 if the track is explicit (core.tracks). Static metadata.",
    "track_number": "Position on its disc (core.tracks): lead tracks come first. Metadata.",
    "disc_number": "Disc of the album the track is on (core.tracks). Metadata.",
    "album_type_album": "1 if the track's album is an album (core.albums). Release metadata.",
    "album_type_single": "1 if the track's album is a single or EP (core.albums). Metadata.",
    "album_type_compilation": "1 if the track's album is a compilation (core.albums). Metadata.",
    "album_total_tracks": "Number of tracks on the album (core.albums). Release metadata.",
    "release_age_days": (
        "Days from the album's release date (year/month precision: the first day) to the latest "
        "playlist snapshot. Known from the release date alone, not from popularity."
    ),
    "release_precision_day": "1 if the release date is known to the day (core.albums).",
    "release_precision_month": "1 if the release date is known to the month only.",
    "release_precision_year": "1 if the release date is known to the year only (older releases).",
    "artist_log_followers": (
        "log10(followers + 1) of the primary artist (core.artists). Followers count people who "
        "chose to follow the artist; unlike artist popularity they are not computed from the "
        "tracks' popularity."
    ),
    "artist_catalog_tracks": (
        "Tracks of the primary artist in core.tracks: the artist's presence in the observed "
        "catalog, a count of rows, not of plays."
    ),
    "playlist_appearances": (
        "Rows of the track in core.playlist_tracks over all snapshots (0 if none): playlist "
        "exposure, chosen by curators, not derived from popularity."
    ),
    "playlist_best_position": (
        "Best (lowest) position of the track in any playlist snapshot (null if in none)."
    ),
    "playlist_count": "Distinct playlists the track was ever in (0 if none). Exposure.",
    "track_streams": (
        "Streams (music plays >= 30 s) of the track in core.streams (0 if none). Listening "
        "behaviour; excluded when the target is the stream popularity (same source)."
    ),
    "track_listeners": (
        "Distinct users with a stream of the track (0 if none). Excluded with the stream target."
    ),
    "track_skip_rate": (
        "Skipped plays over plays with a known skip flag (null if none). Excluded with the "
        "stream target: whether it is null tells whether the track was played at all."
    ),
    "genre_other": (
        "1 if the primary artist's genre family (ARTIST_FAMILY_SQL) is not one of the top "
        "families, or is 'other'. Genre is artist metadata."
    ),
    **{
        feature: f"The track's {feature.removeprefix('audio_')} (core.track_audio_features, "
        "from a catalog dataset; null where none has the track). How the recording sounds: "
        "fixed before anyone listens."
        for feature in AUDIO_FEATURES
    },
}

#: What each feature is and why it may be used (no feature is derived from popularity).
#: Genre columns exist for every family; a run uses the top-k of them and ``genre_other``.
FEATURE_DESCRIPTIONS: dict[str, str] = {
    **_BASE_DESCRIPTIONS,
    **{
        genre_column(f): f"1 if the primary artist's genre family is '{f}'. Artist metadata."
        for f in GENRE_FAMILIES
        if f != "other"
    },
}


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def top_families_sql(k: int = DEFAULT_TOP_FAMILIES) -> str:
    """SELECT of the ``k`` genre families with most tracks (by primary artist), most first,
    ties by name. ``other`` is never one of them: it always falls into ``genre_other``."""
    return f"""
with artist_family as ({ARTIST_FAMILY_SQL})
select coalesce(f.genre_family, 'other') as genre_family, count(*) as tracks
  from core.tracks t
  left join artist_family f on f.artist_id = t.primary_artist_id
 where coalesce(f.genre_family, 'other') <> 'other'
 group by 1
 order by tracks desc, genre_family
 limit {int(k)}
"""


def top_families(conn: Any, k: int = DEFAULT_TOP_FAMILIES) -> list[str]:
    """The ``k`` genre families with most tracks in ``core.tracks`` (:func:`top_families_sql`)."""
    return [row[0] for row in conn.execute(top_families_sql(k)).fetchall()]


def features_sql(
    families: Sequence[str],
    *,
    stream_features: bool = True,
    audio_features: bool = False,
    as_of: datetime | None = None,
) -> str:
    """SELECT of the feature frame: ``track_id``, ``primary_artist_id``, then one DOUBLE column
    per feature (see :data:`FEATURE_DESCRIPTIONS`), one row per track, ordered by ``track_id``.

    ``families`` get a one-hot column each (every other family is ``genre_other``);
    ``stream_features`` adds the listening features (needs ``core.streams``),
    ``audio_features`` the audio family (needs ``core.track_audio_features``). The reference time
    of ``release_age_days`` is the latest ``core.playlist_tracks.snapshot_time`` (the latest
    ``core.tracks.last_seen`` when there is no snapshot).

    ``as_of`` (UTC, naive) computes the features as they were known then, for the forward
    evaluation: only tracks released by then, streams played by then, the playlist snapshots
    taken by then (when none was, the rows of later snapshots added by then: a track removed
    before the first snapshot is not seen), and the release age at that time. The artist's
    followers are the latest (``core.artists`` keeps no history): they grow slowly.
    """
    fam_cols = [f for f in families if f != "other"]
    family = "coalesce(f.genre_family, 'other')"
    genre_select = [f"({family} = {_literal(f)})::double as {genre_column(f)}" for f in fam_cols]
    listed = ", ".join(_literal(f) for f in fam_cols) or "''"
    genre_select.append(f"({family} not in ({listed}))::double as genre_other")
    stream_cte, stream_join, stream_select = "", "", []
    cut = f"timestamp '{as_of:%Y-%m-%d %H:%M:%S}'" if as_of is not None else None
    stream_cut = f"and ts <= {cut}" if cut else ""
    playlist_cut = (
        f"""where snapshot_time <= {cut}
        or (added_at <= {cut}
            and not exists (select 1 from core.playlist_tracks where snapshot_time <= {cut}))"""
        if cut
        else ""
    )
    if stream_features:
        stream_cte = f""",
plays as (
    select track_id,
           count(*) filter (where ms_played >= {STREAM_MIN_MS}) as streams,
           count(distinct user_id) filter (where ms_played >= {STREAM_MIN_MS}) as listeners,
           count(*) filter (where skipped) / nullif(count(skipped), 0) as skip_rate
      from core.streams
     where content_type = 'music' and track_id is not null {stream_cut}
     group by track_id
)"""
        stream_join = "left join plays s on s.track_id = t.track_id"
        stream_select = [
            "coalesce(s.streams, 0)::double as track_streams",
            "coalesce(s.listeners, 0)::double as track_listeners",
            "s.skip_rate::double as track_skip_rate",
        ]
    audio_join, audio_select = "", []
    if audio_features:
        audio_join = "left join core.track_audio_features af on af.track_id = t.track_id"
        audio_select = [f"af.{f.removeprefix('audio_')}::double as {f}" for f in AUDIO_FEATURES]
    release_day = """try_cast(case length(al.release_date)
                         when 4 then al.release_date || '-01-01'
                         when 7 then al.release_date || '-01'
                         else al.release_date end as date)"""
    select = [
        "t.track_id",
        "coalesce(t.primary_artist_id, 'track:' || t.track_id) as primary_artist_id",
        "t.duration_ms::double as duration_ms",
        "t.explicit::double as explicit",
        "t.track_number::double as track_number",
        "t.disc_number::double as disc_number",
        "coalesce(al.album_type = 'album', false)::double as album_type_album",
        "coalesce(al.album_type = 'single', false)::double as album_type_single",
        "coalesce(al.album_type = 'compilation', false)::double as album_type_compilation",
        "al.total_tracks::double as album_total_tracks",
        f"date_diff('second', ({release_day})::timestamp, snap.at) / 86400.0 as release_age_days",
        "coalesce(al.release_date_precision = 'day', false)::double as release_precision_day",
        "coalesce(al.release_date_precision = 'month', false)::double as release_precision_month",
        "coalesce(al.release_date_precision = 'year', false)::double as release_precision_year",
        "log10(ar.followers + 1)::double as artist_log_followers",
        "coalesce(c.tracks, 0)::double as artist_catalog_tracks",
        "coalesce(p.appearances, 0)::double as playlist_appearances",
        "p.best_position::double as playlist_best_position",
        "coalesce(p.playlists, 0)::double as playlist_count",
        *stream_select,
        *audio_select,
        *genre_select,
    ]
    columns = ",\n       ".join(select)
    snap_at = (
        f"select {cut} as at"
        if cut
        else """select coalesce((select max(snapshot_time) from core.playlist_tracks),
                    (select max(last_seen) from core.tracks)) as at"""
    )
    released = f"where ({release_day})::timestamp <= {cut}" if cut else ""
    return f"""
with snap as ({snap_at}),
artist_family as ({ARTIST_FAMILY_SQL}),
catalog as (
    select primary_artist_id, count(*) as tracks from core.tracks group by primary_artist_id
),
playlist as (
    select track_id, count(*) as appearances, min(position) as best_position,
           count(distinct playlist_id) as playlists
      from core.playlist_tracks
     {playlist_cut}
     group by track_id
){stream_cte}
select {columns}
  from core.tracks t
 cross join snap
  left join core.albums al on al.album_id = t.album_id
  left join core.artists ar on ar.artist_id = t.primary_artist_id
  left join artist_family f on f.artist_id = t.primary_artist_id
  left join catalog c on c.primary_artist_id = t.primary_artist_id
  left join playlist p on p.track_id = t.track_id
  {stream_join}
  {audio_join}
 {released}
 order by t.track_id
"""


def table_exists(conn: Any, table: str) -> bool:
    """Whether ``schema.table`` exists on the connection."""
    schema, name = table.split(".", 1)
    row = conn.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def has_music_streams(conn: Any) -> bool:
    """Whether ``core.streams`` exists and holds at least one music stream of a known track."""
    if not table_exists(conn, "core.streams"):
        return False
    row = conn.execute(
        "select count(*) from (select 1 from core.streams where content_type = 'music' "
        f"and track_id is not null and ms_played >= {STREAM_MIN_MS} limit 1)"
    ).fetchone()
    return bool(row and row[0])


def has_audio_features(conn: Any) -> bool:
    """Whether ``core.track_audio_features`` exists and has a row."""
    if not table_exists(conn, "core.track_audio_features"):
        return False
    row = conn.execute("select count(*) from core.track_audio_features").fetchone()
    return bool(row and row[0])


def load_features(
    conn: Any,
    *,
    top_k_families: int = DEFAULT_TOP_FAMILIES,
    stream_features: bool | None = None,
    audio_features: bool | None = None,
    families: Sequence[str] | None = None,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """The feature frame (see :func:`features_sql`) as a DataFrame, one row per track.

    ``stream_features``: ``None`` adds the listening features when ``core.streams`` has music
    streams; pass ``False`` when the target comes from ``core.streams`` (they would leak it).
    ``families`` overrides the top-``top_k_families`` choice (e.g. to predict with the family
    columns a model was trained on); ``audio_features``: ``None`` adds the audio family when
    ``core.track_audio_features`` has rows; ``as_of``: see :func:`features_sql`.
    """
    if families is None:
        families = top_families(conn, top_k_families)
    if stream_features is None:
        stream_features = has_music_streams(conn)
    elif stream_features and not table_exists(conn, "core.streams"):
        raise ValueError("stream_features=True needs core.streams, which does not exist")
    if audio_features is None:
        audio_features = has_audio_features(conn)
    sql = features_sql(
        families, stream_features=stream_features, audio_features=audio_features, as_of=as_of
    )
    return conn.execute(sql).df()
