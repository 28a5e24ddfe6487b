"""Catalog marts: what the playlists are made of (artists, genre families, release dates,
durations, albums) and how they move between snapshots (Dagster-free SQL).

They read the ``core`` catalog tables and the snapshot history ``core.playlist_tracks``
(``genre_families`` also counts streams in ``core.streams``: on Spotify, as the engagement
marts do). Rules that hold in every mart:

- the **current playlists** are the ``core.playlist_tracks`` rows at the latest
  ``snapshot_time``; that time is also the "now" of release recency;
- a track's **popularity** is ``core.tracks.popularity``: its latest known value (the catalog
  keeps no popularity history), so ``playlist_movement`` scores old snapshots with today's
  values. Popularity and followers are null for development-mode apps: averages and shares
  are then null, never an error; shares are over tracks whose popularity is known;
- **genre families** come from :data:`~spotify_assets.lib.marts.spec.ARTIST_FAMILY_SQL`
  (``other`` for an artist without genres); a track takes its primary artist's family, and a
  track or artist missing from ``core.artists`` / a streamed track missing from ``core.tracks``
  is ``unknown``;
- a **release date** of precision ``year`` or ``month`` is taken as the first day of that
  year or month (``'2021'`` is 2021-01-01, ``'2021-05'`` 2021-05-01); Spotify's ``'0000'``
  (``release_year`` null) or an unparsable date is unknown;
- a track that appears several times in one playlist snapshot is told apart by its
  **occurrence number** (1 for its first position, 2 for the next...): snapshots are compared
  on ``(track_id, occurrence)``, so a second copy arriving is an entry and its position
  change a move, which comparing first positions only would not see.
"""

from __future__ import annotations

from spotify_assets.lib.marts.spec import (
    ARTIST_FAMILY_SQL,
    IS_STREAM,
    MAINSTREAM_MIN_POPULARITY,
    MUSIC_PLAYS,
    NICHE_MAX_POPULARITY,
    STREAM_MIN_MS,
    Mart,
    PlotSpec,
    popularity_shares,
    share_of,
)

#: A release is ``recent`` when its date is at most this many days before the latest
#: snapshot's UTC date (exactly 365 days is still recent; a date after the snapshot too).
RECENT_RELEASE_DAYS = 365

#: Duration bins: 30 seconds wide, from 0; tracks of 10 minutes or more share the last bin
#: (``10:00+``) so one 40-minute mix does not stretch the chart over 60 empty bins.
DURATION_BIN_S = 30
DURATION_CAP_S = 600

#: Rows in the top-N charts.
CHART_TOP_N = 20

LATEST_SNAPSHOT_SQL = "(select max(snapshot_time) from core.playlist_tracks)"

#: The rows of the current playlists (the latest snapshot).
CURRENT_ROWS_SQL = f"select * from core.playlist_tracks where snapshot_time = {LATEST_SNAPSHOT_SQL}"

#: An album's release date as a DATE (first day of the year/month for coarser precisions);
#: null when unknown. Precision missing: guessed from the text's length. Over ``core.albums a``.
RELEASE_DAY_SQL = """
case when a.release_year is not null then
    case coalesce(a.release_date_precision,
                  case length(a.release_date) when 4 then 'year' when 7 then 'month'
                                              when 10 then 'day' end)
         when 'day' then try_cast(a.release_date as date)
         when 'month' then try_cast(a.release_date || '-01' as date)
         when 'year' then try_cast(a.release_date || '-01-01' as date)
    end
end"""


_SHARE_DESCRIPTIONS = {
    "mainstream_share": (
        f"Share of tracks with popularity >= {MAINSTREAM_MIN_POPULARITY}, over tracks with a "
        "known popularity (null if none)"
    ),
    "niche_share": (
        f"Share of tracks with popularity <= {NICHE_MAX_POPULARITY}, over tracks with a known "
        "popularity (null if none)"
    ),
}

_TRACK_POPULARITY = (("core.tracks", "popularity"),)
_CURRENT_ROWS = (("core.playlist_tracks", "snapshot_time"), ("core.playlist_tracks", "track_id"))

# --------------------------------------------------------------------------- top_artists

TOP_ARTISTS = Mart(
    name="top_artists",
    description=(
        "One row per artist credited (at any position) on a track of the current playlists "
        "(the latest snapshot): how much of the playlists is theirs, most appearances first."
    ),
    sql=f"""
with current_rows as ({CURRENT_ROWS_SQL}),
credits as (select distinct track_id, artist_id from core.track_artists),
artist_family as ({ARTIST_FAMILY_SQL}),
appearances as (
    select c.artist_id, r.playlist_id, r.track_id
      from current_rows r
      join credits c using (track_id)
),
per_artist as (
    select artist_id,
           count(distinct track_id) as tracks_in_playlists,
           count(*) as playlist_appearances,
           count(distinct playlist_id) as playlists
      from appearances
     group by artist_id
),
per_track as (
    select a.artist_id,
           avg(t.popularity) as avg_popularity,
           avg(t.duration_ms) / 1000 as avg_duration_s
      from (select distinct artist_id, track_id from appearances) a
      left join core.tracks t using (track_id)
     group by a.artist_id
)
select p.artist_id,
       ar.artist_name,
       p.tracks_in_playlists,
       p.playlist_appearances,
       p.playlists,
       t.avg_popularity,
       t.avg_duration_s,
       ar.followers,
       coalesce(f.genre_family, 'unknown') as genre_family
  from per_artist p
  join per_track t using (artist_id)
  left join core.artists ar using (artist_id)
  left join artist_family f using (artist_id)
 order by p.playlist_appearances desc, p.artist_id
""",
    columns={
        "artist_id": "Spotify artist id",
        "artist_name": "Artist name (null if the artist is missing from core.artists)",
        "tracks_in_playlists": "Distinct tracks crediting the artist in the current playlists",
        "playlist_appearances": (
            "Rows of the current playlists crediting the artist (a track in two playlists, "
            "or twice in one, counts twice)"
        ),
        "playlists": "Distinct current playlists with a track crediting the artist",
        "avg_popularity": "Mean popularity of those distinct tracks (null if unknown)",
        "avg_duration_s": "Mean duration of those distinct tracks, in seconds",
        "followers": "Artist followers (null for development-mode apps)",
        "genre_family": "The artist's genre family ('unknown' if not in core.artists)",
    },
    reads=(
        "core.playlist_tracks",
        "core.track_artists",
        "core.tracks",
        "core.artists",
        "core.artist_genres",
    ),
    lineage={
        "artist_id": (("core.track_artists", "artist_id"),),
        "artist_name": (("core.artists", "artist_name"),),
        "tracks_in_playlists": (*_CURRENT_ROWS, ("core.track_artists", "artist_id")),
        "playlist_appearances": (*_CURRENT_ROWS, ("core.track_artists", "artist_id")),
        "playlists": (
            ("core.playlist_tracks", "playlist_id"),
            *_CURRENT_ROWS,
            ("core.track_artists", "artist_id"),
        ),
        "avg_popularity": _TRACK_POPULARITY,
        "avg_duration_s": (("core.tracks", "duration_ms"),),
        "followers": (("core.artists", "followers"),),
        "genre_family": (("core.artist_genres", "genre_family"),),
    },
    plots=(
        PlotSpec(
            title=f"Top {CHART_TOP_N} artists in the current playlists",
            kind="barh",
            x="artist",
            y=("playlist_appearances",),
            query=(
                "select coalesce(artist_name, artist_id) as artist, playlist_appearances "
                "from marts.top_artists order by playlist_appearances desc, artist_id "
                f"limit {CHART_TOP_N}"
            ),
            y_label="playlist rows crediting the artist",
        ),
    ),
    headline=(
        'select count(*) as "artists in current playlists", '
        'max(playlist_appearances) as "most appearances of one artist" '
        "from marts.top_artists"
    ),
    key=("artist_id",),
)

# --------------------------------------------------------------------------- genre_families

GENRE_FAMILIES = Mart(
    name="genre_families",
    description=(
        "One row per genre family: its artists, catalog tracks (by primary artist), streams "
        "and popularity. 'unknown' holds tracks and streams whose artist or track is not in "
        "the catalog (only when there are any)."
    ),
    sql=f"""
with artist_family as ({ARTIST_FAMILY_SQL}),
track_family as (
    select t.track_id, t.popularity, coalesce(f.genre_family, 'unknown') as genre_family
      from core.tracks t
      left join artist_family f on f.artist_id = t.primary_artist_id
),
by_artist as (
    select f.genre_family,
           count(*) as artists,
           avg(a.popularity) as avg_artist_popularity,
           quantile_cont(a.followers, 0.25) as followers_p25,
           quantile_cont(a.followers, 0.5) as followers_median,
           quantile_cont(a.followers, 0.75) as followers_p75,
           max(a.followers) as followers_max
      from artist_family f
      join core.artists a using (artist_id)
     group by f.genre_family
),
by_track as (
    select genre_family, count(*) as tracks, avg(popularity) as avg_popularity
      from track_family
     group by genre_family
),
streams_per_track as (
    select track_id, count(*) as streams
      from {MUSIC_PLAYS} and {IS_STREAM}
     group by track_id
),
by_stream as (
    select coalesce(f.genre_family, 'unknown') as genre_family, sum(s.streams) as streams
      from streams_per_track s
      left join track_family f using (track_id)
     group by 1
)
select genre_family,
       coalesce(a.artists, 0) as artists,
       coalesce(t.tracks, 0) as tracks,
       coalesce(s.streams, 0)::bigint as streams,
       t.avg_popularity,
       a.avg_artist_popularity,
       a.followers_p25,
       a.followers_median,
       a.followers_p75,
       a.followers_max
  from by_artist a
  full join by_track t using (genre_family)
  full join by_stream s using (genre_family)
 order by tracks desc, genre_family
""",
    columns={
        "genre_family": "Genre family (ARTIST_FAMILY_SQL; 'unknown': not in the catalog)",
        "artists": "Artists of core.artists in the family",
        "tracks": "Catalog tracks whose primary artist is in the family",
        "streams": (
            f"Music plays of >= {STREAM_MIN_MS} ms on Spotify of the family's tracks (0 without "
            "history)"
        ),
        "avg_popularity": "Mean popularity of the family's tracks (null if unknown)",
        "avg_artist_popularity": "Mean popularity of the family's artists (null if unknown)",
        "followers_p25": "25th percentile of the artists' followers (linear interpolation)",
        "followers_median": "Median of the artists' followers (linear interpolation)",
        "followers_p75": "75th percentile of the artists' followers (linear interpolation)",
        "followers_max": "Most followers of one artist of the family",
    },
    reads=("core.artists", "core.artist_genres", "core.tracks", "core.streams"),
    lineage={
        "genre_family": (("core.artist_genres", "genre_family"),),
        "artists": (("core.artists", "artist_id"), ("core.artist_genres", "genre_family")),
        "tracks": (("core.tracks", "primary_artist_id"), ("core.artist_genres", "genre_family")),
        "streams": (
            ("core.streams", "content_type"),
            ("core.streams", "ms_played"),
            ("core.streams", "track_id"),
            ("core.tracks", "primary_artist_id"),
        ),
        "avg_popularity": _TRACK_POPULARITY,
        "avg_artist_popularity": (("core.artists", "popularity"),),
        "followers_p25": (("core.artists", "followers"),),
        "followers_median": (("core.artists", "followers"),),
        "followers_p75": (("core.artists", "followers"),),
        "followers_max": (("core.artists", "followers"),),
    },
    plots=(
        PlotSpec(
            title="Catalog tracks by genre family",
            kind="barh",
            x="genre_family",
            y=("tracks",),
            query=(
                "select genre_family, tracks from marts.genre_families where tracks > 0 "
                "order by tracks desc, genre_family"
            ),
        ),
        PlotSpec(
            title="Streams by genre family",
            kind="barh",
            x="genre_family",
            y=("streams",),
            query=(
                "select genre_family, streams from marts.genre_families where streams > 0 "
                "order by streams desc, genre_family"
            ),
        ),
    ),
    headline=(
        "select count(*) filter (where genre_family <> 'unknown') as \"genre families\", "
        'sum(streams)::bigint as "streams" from marts.genre_families'
    ),
    key=("genre_family",),
)

# ------------------------------------------------------------------- popularity_vs_followers

_FIT_X = "log10_followers"

POPULARITY_VS_FOLLOWERS = Mart(
    name="popularity_vs_followers",
    description=(
        "One row per artist with both followers and popularity: the least-squares line of "
        "popularity on log10(followers + 1) over these artists, and how far each one is from "
        "it (above the line: more popular than their following predicts)."
    ),
    sql=f"""
with points as (
    select artist_id, artist_name, followers, log10(followers + 1) as {_FIT_X}, popularity
      from core.artists
     where followers is not null and popularity is not null
),
fit as (
    select regr_slope(popularity, {_FIT_X}) as slope,
           regr_intercept(popularity, {_FIT_X}) as intercept
      from points
)
select p.artist_id,
       p.artist_name,
       p.followers,
       p.{_FIT_X},
       p.popularity,
       f.intercept + f.slope * p.{_FIT_X} as fitted_popularity,
       p.popularity - (f.intercept + f.slope * p.{_FIT_X}) as residual
  from points p
 cross join fit f
 order by p.followers desc, p.artist_id
""",
    columns={
        "artist_id": "Spotify artist id",
        "artist_name": "Artist name",
        "followers": "Artist followers",
        "log10_followers": "log10(followers + 1), the fit's x",
        "popularity": "Artist popularity 0-100, the fit's y",
        "fitted_popularity": "Popularity the fitted line predicts from the followers",
        "residual": "popularity - fitted_popularity",
    },
    reads=("core.artists",),
    lineage={
        "artist_id": (("core.artists", "artist_id"),),
        "artist_name": (("core.artists", "artist_name"),),
        "followers": (("core.artists", "followers"),),
        "log10_followers": (("core.artists", "followers"),),
        "popularity": (("core.artists", "popularity"),),
        "fitted_popularity": (("core.artists", "followers"), ("core.artists", "popularity")),
        "residual": (("core.artists", "followers"), ("core.artists", "popularity")),
    },
    plots=(
        PlotSpec(
            title="Artist popularity vs followers",
            kind="scatter",
            x="followers",
            y=("popularity",),
            fit="log10x",
            x_label="followers",
            y_label="artist popularity",
        ),
    ),
    headline=(
        f"select regr_slope(popularity, {_FIT_X}) as slope, "
        f"regr_intercept(popularity, {_FIT_X}) as intercept, "
        f"regr_r2(popularity, {_FIT_X}) as r2, count(*) as artists "
        "from marts.popularity_vs_followers"
    ),
    key=("artist_id",),
)

# --------------------------------------------------------------------------- release dates

RELEASE_YEARS = Mart(
    name="release_years",
    description=(
        "One row per release year with catalog tracks (by their album's release_year; "
        "tracks with an unknown year are left out): how old the playlists' music is."
    ),
    sql=f"""
with dated as (
    select t.popularity, a.release_year
      from core.tracks t
      join core.albums a using (album_id)
     where a.release_year is not null
)
select release_year,
       (release_year // 10) * 10 as decade,
       count(*) as tracks,
       {share_of("count(*)")} as share,
       avg(popularity) as avg_popularity
  from dated
 group by release_year
 order by release_year
""",
    columns={
        "release_year": "Year the track's album was released",
        "decade": "First year of the decade (1990 for 1990-1999)",
        "tracks": "Catalog tracks released that year",
        "share": "tracks over all catalog tracks with a known release year",
        "avg_popularity": "Mean track popularity (null if unknown)",
    },
    reads=("core.tracks", "core.albums"),
    lineage={
        "release_year": (("core.albums", "release_year"),),
        "decade": (("core.albums", "release_year"),),
        "tracks": (("core.tracks", "album_id"), ("core.albums", "release_year")),
        "share": (("core.tracks", "album_id"), ("core.albums", "release_year")),
        "avg_popularity": _TRACK_POPULARITY,
    },
    plots=(
        PlotSpec(
            title="Catalog tracks by release year",
            kind="bar",
            x="release_year",
            y=("tracks",),
        ),
        PlotSpec(
            title="Catalog tracks by decade",
            kind="bar",
            x="decade",
            y=("tracks",),
            query=(
                "select decade, sum(tracks)::bigint as tracks from marts.release_years "
                "group by decade order by decade"
            ),
        ),
    ),
    key=("release_year",),
)

RELEASE_RECENCY = Mart(
    name="release_recency",
    description=(
        "Three rows, one per release cohort of the catalog tracks: 'recent' (album released "
        f"at most {RECENT_RELEASE_DAYS} days before the latest snapshot's UTC date, boundary "
        "and later dates included), 'older', and 'unknown' (no usable release date, or no "
        "snapshot yet). Year/month precision dates count as the first day of the year/month."
    ),
    sql=f"""
with snapshot as (
    select {LATEST_SNAPSHOT_SQL}::date as snapshot_day
),
released as (
    select t.popularity, {RELEASE_DAY_SQL} as release_day
      from core.tracks t
      left join core.albums a using (album_id)
),
cohorts as (
    select r.popularity,
           case when r.release_day is null or s.snapshot_day is null then 'unknown'
                when date_diff('day', r.release_day, s.snapshot_day) <= {RECENT_RELEASE_DAYS}
                     then 'recent'
                else 'older'
           end as cohort
      from released r
     cross join snapshot s
)
select k.cohort,
       count(c.cohort) as tracks,
       avg(c.popularity) as avg_popularity,
       median(c.popularity) as median_popularity,
       {popularity_shares("c.popularity")}
  from (values ('recent', 0), ('older', 1), ('unknown', 2)) k(cohort, ord)
  left join cohorts c using (cohort)
 group by k.cohort, k.ord
 order by k.ord
""",
    columns={
        "cohort": (
            f"'recent' (released <= {RECENT_RELEASE_DAYS} days before the latest snapshot), "
            "'older' or 'unknown'"
        ),
        "tracks": "Catalog tracks in the cohort",
        "avg_popularity": "Mean track popularity (null if unknown)",
        "median_popularity": "Median track popularity (null if unknown)",
        **_SHARE_DESCRIPTIONS,
    },
    reads=("core.tracks", "core.albums", "core.playlist_tracks"),
    lineage={
        "cohort": (
            ("core.albums", "release_date"),
            ("core.albums", "release_date_precision"),
            ("core.playlist_tracks", "snapshot_time"),
        ),
        "tracks": (("core.tracks", "album_id"), ("core.albums", "release_date")),
        "avg_popularity": _TRACK_POPULARITY,
        "median_popularity": _TRACK_POPULARITY,
        "mainstream_share": _TRACK_POPULARITY,
        "niche_share": _TRACK_POPULARITY,
    },
    plots=(
        PlotSpec(
            title="Mainstream and niche share by release cohort",
            kind="bar",
            x="cohort",
            y=("mainstream_share", "niche_share"),
            y_label="share of tracks with known popularity",
        ),
        PlotSpec(
            title="Catalog tracks by release cohort",
            kind="bar",
            x="cohort",
            y=("tracks",),
        ),
    ),
    headline=(
        "select sum(tracks) filter (where cohort = 'recent') "
        "/ nullif(sum(tracks) filter (where cohort <> 'unknown'), 0) "
        'as "recent release share" from marts.release_recency'
    ),
    key=("cohort",),
)

# --------------------------------------------------------------------------- durations, albums

_LAST_BIN = DURATION_CAP_S // DURATION_BIN_S

DURATION_POPULARITY = Mart(
    name="duration_popularity",
    description=(
        f"One row per {DURATION_BIN_S}-second duration bin from 0:00 to the "
        f"{DURATION_CAP_S // 60}:00+ bin (every bin, empty ones included): how many catalog "
        "tracks last that long and how popular they are."
    ),
    sql=f"""
with binned as (
    select least(duration_ms // {DURATION_BIN_S * 1000}, {_LAST_BIN}) * {DURATION_BIN_S}
               as duration_bin_s,
           popularity
      from core.tracks
     where duration_ms >= 0
),
bins as (
    select range as duration_bin_s
      from range(0, {DURATION_CAP_S + DURATION_BIN_S}, {DURATION_BIN_S})
)
select b.duration_bin_s,
       case when b.duration_bin_s >= {DURATION_CAP_S}
            then printf('%d:%02d+', b.duration_bin_s // 60, b.duration_bin_s % 60)
            else printf('%d:%02d-%d:%02d', b.duration_bin_s // 60, b.duration_bin_s % 60,
                        (b.duration_bin_s + {DURATION_BIN_S}) // 60,
                        (b.duration_bin_s + {DURATION_BIN_S}) % 60)
       end as bin_label,
       count(t.duration_bin_s) as tracks,
       avg(t.popularity) as avg_popularity,
       median(t.popularity) as median_popularity
  from bins b
  left join binned t using (duration_bin_s)
 group by b.duration_bin_s
 order by b.duration_bin_s
""",
    columns={
        "duration_bin_s": (
            f"Bin's lower bound in seconds ({DURATION_BIN_S}-second bins; the last bin "
            f"holds every track of {DURATION_CAP_S} s or more)"
        ),
        "bin_label": "The bin as m:ss-m:ss ('10:00+' for the last)",
        "tracks": "Catalog tracks in the bin",
        "avg_popularity": "Mean track popularity (null if none known)",
        "median_popularity": "Median track popularity (null if none known)",
    },
    reads=("core.tracks",),
    lineage={
        "duration_bin_s": (("core.tracks", "duration_ms"),),
        "bin_label": (("core.tracks", "duration_ms"),),
        "tracks": (("core.tracks", "duration_ms"),),
        "avg_popularity": _TRACK_POPULARITY,
        "median_popularity": _TRACK_POPULARITY,
    },
    plots=(
        PlotSpec(
            title="Catalog tracks by duration",
            kind="bar",
            x="bin_label",
            y=("tracks",),
            x_label="duration (m:ss)",
        ),
        PlotSpec(
            title="Track popularity by duration",
            kind="line",
            x="bin_label",
            y=("avg_popularity", "median_popularity"),
            x_label="duration (m:ss)",
            y_label="popularity",
        ),
    ),
    key=("duration_bin_s",),
)

ALBUM_ROLLUPS = Mart(
    name="album_rollups",
    description=(
        "One row per album of the catalog: its tracks seen in playlists, their popularity and "
        "length, and its rows in the current playlists, most appearances first."
    ),
    sql=f"""
with current_rows as ({CURRENT_ROWS_SQL}),
per_album as (
    select album_id,
           count(*) as tracks_in_catalog,
           avg(popularity) as avg_popularity,
           max(popularity) as max_popularity,
           sum(duration_ms)::double / 60000 as total_duration_min
      from core.tracks
     group by album_id
),
appearances as (
    select t.album_id, count(*) as playlist_appearances
      from current_rows r
      join core.tracks t using (track_id)
     group by t.album_id
)
select a.album_id,
       a.album_name,
       a.album_type,
       a.release_year,
       a.primary_artist_id,
       ar.artist_name,
       coalesce(p.tracks_in_catalog, 0) as tracks_in_catalog,
       a.total_tracks,
       p.avg_popularity,
       p.max_popularity,
       p.total_duration_min,
       coalesce(x.playlist_appearances, 0) as playlist_appearances
  from core.albums a
  left join per_album p using (album_id)
  left join appearances x using (album_id)
  left join core.artists ar on ar.artist_id = a.primary_artist_id
 order by playlist_appearances desc, a.album_id
""",
    columns={
        "album_id": "Spotify album id",
        "album_name": "Album title",
        "album_type": "album, single or compilation",
        "release_year": "Release year (null if unknown)",
        "primary_artist_id": "First album artist",
        "artist_name": "Name of the first album artist (null if not in core.artists)",
        "tracks_in_catalog": "The album's tracks in core.tracks (seen in a playlist)",
        "total_tracks": "Tracks on the album, as Spotify says",
        "avg_popularity": "Mean popularity of its catalog tracks (null if unknown)",
        "max_popularity": "Highest popularity of its catalog tracks (null if unknown)",
        "total_duration_min": "Total duration of its catalog tracks, in minutes",
        "playlist_appearances": "Rows of the current playlists holding one of its tracks",
    },
    reads=("core.albums", "core.tracks", "core.artists", "core.playlist_tracks"),
    lineage={
        "album_id": (("core.albums", "album_id"),),
        "album_name": (("core.albums", "album_name"),),
        "album_type": (("core.albums", "album_type"),),
        "release_year": (("core.albums", "release_year"),),
        "primary_artist_id": (("core.albums", "primary_artist_id"),),
        "artist_name": (("core.artists", "artist_name"),),
        "tracks_in_catalog": (("core.tracks", "album_id"),),
        "total_tracks": (("core.albums", "total_tracks"),),
        "avg_popularity": _TRACK_POPULARITY,
        "max_popularity": _TRACK_POPULARITY,
        "total_duration_min": (("core.tracks", "duration_ms"),),
        "playlist_appearances": (*_CURRENT_ROWS, ("core.tracks", "album_id")),
    },
    plots=(
        PlotSpec(
            title=f"Top {CHART_TOP_N} albums in the current playlists",
            kind="barh",
            x="album",
            y=("playlist_appearances",),
            query=(
                "select coalesce(album_name, album_id) || coalesce(' - ' || artist_name, '') "
                "as album, playlist_appearances from marts.album_rollups "
                "where playlist_appearances > 0 "
                f"order by playlist_appearances desc, album_id limit {CHART_TOP_N}"
            ),
            y_label="playlist rows",
        ),
    ),
    key=("album_id",),
)

# --------------------------------------------------------------------------- playlist_movement

PLAYLIST_MOVEMENT = Mart(
    name="playlist_movement",
    description=(
        "One row per playlist and snapshot it has tracks in: its size, what changed since "
        "the playlist's previous snapshot (tracks compared by (track_id, occurrence number) "
        "so duplicates count), and the popularity mix. The first snapshot of a playlist has "
        "null entries, exits, moved and mean_abs_rank_change."
    ),
    sql=f"""
with per_snapshot as (
    select p.snapshot_time, p.playlist_id,
           count(*) as tracks,
           avg(t.popularity) as mean_popularity,
           {popularity_shares("t.popularity")}
      from core.playlist_tracks p
      left join core.tracks t using (track_id)
     group by p.snapshot_time, p.playlist_id
),
with_previous as (
    select *,
           lag(snapshot_time) over w as previous_time,
           lag(tracks) over w as previous_tracks
      from per_snapshot
    window w as (partition by playlist_id order by snapshot_time)
),
-- Each row keyed by (track_id, occurrence) and carrying its playlist's previous snapshot
-- time, so matching a row with the previous snapshot is one equi-join on the full key.
-- Materialized: inlined, the optimizer may join the two sides on a partial key first
-- (every snapshot of the playlist), which blows up on a year of snapshots.
keyed as materialized (
    select r.snapshot_time, r.playlist_id, r.track_id, r.position, r.occurrence,
           s.previous_time
      from (select snapshot_time, playlist_id, track_id, position,
                   row_number() over (partition by snapshot_time, playlist_id, track_id
                                      order by position) as occurrence
              from core.playlist_tracks) r
      join with_previous s using (snapshot_time, playlist_id)
),
kept as (
    select c.snapshot_time, c.playlist_id,
           count(*) as kept,
           count(*) filter (where c.position <> p.position) as moved,
           avg(abs(c.position - p.position)) as mean_abs_rank_change
      from keyed c
      join keyed p
        on p.playlist_id = c.playlist_id
       and p.snapshot_time = c.previous_time
       and p.track_id = c.track_id
       and p.occurrence = c.occurrence
     group by c.snapshot_time, c.playlist_id
)
select s.snapshot_time,
       s.playlist_id,
       pl.playlist_name,
       s.tracks,
       case when s.previous_time is not null then s.tracks - coalesce(k.kept, 0) end
           as entries,
       case when s.previous_time is not null then s.previous_tracks - coalesce(k.kept, 0) end
           as exits,
       case when s.previous_time is not null then coalesce(k.moved, 0) end as moved,
       k.mean_abs_rank_change,
       s.mean_popularity,
       s.mainstream_share,
       s.niche_share
  from with_previous s
  left join kept k using (snapshot_time, playlist_id)
  left join core.playlists pl using (playlist_id)
 order by s.snapshot_time, s.playlist_id
""",
    columns={
        "snapshot_time": "Start of the 8-hour snapshot window (UTC)",
        "playlist_id": "Spotify playlist id",
        "playlist_name": "Playlist name (latest)",
        "tracks": "Track rows in the playlist at this snapshot (a duplicate counts twice)",
        "entries": (
            "Tracks (track_id, occurrence) here and not in the playlist's previous snapshot"
        ),
        "exits": "Tracks (track_id, occurrence) in the previous snapshot and not here",
        "moved": "Tracks in both snapshots whose position changed",
        "mean_abs_rank_change": (
            "Mean |position change| over tracks in both snapshots (null if none)"
        ),
        "mean_popularity": "Mean popularity of the rows (latest popularity; null if unknown)",
        **_SHARE_DESCRIPTIONS,
    },
    reads=("core.playlist_tracks", "core.tracks", "core.playlists"),
    lineage={
        "snapshot_time": (("core.playlist_tracks", "snapshot_time"),),
        "playlist_id": (("core.playlist_tracks", "playlist_id"),),
        "playlist_name": (("core.playlists", "playlist_name"),),
        "tracks": (("core.playlist_tracks", "position"),),
        "entries": (("core.playlist_tracks", "track_id"), ("core.playlist_tracks", "position")),
        "exits": (("core.playlist_tracks", "track_id"), ("core.playlist_tracks", "position")),
        "moved": (("core.playlist_tracks", "track_id"), ("core.playlist_tracks", "position")),
        "mean_abs_rank_change": (
            ("core.playlist_tracks", "track_id"),
            ("core.playlist_tracks", "position"),
        ),
        "mean_popularity": _TRACK_POPULARITY,
        "mainstream_share": _TRACK_POPULARITY,
        "niche_share": _TRACK_POPULARITY,
    },
    plots=(
        PlotSpec(
            title="Playlist churn per snapshot (all playlists)",
            kind="line",
            x="snapshot_time",
            y=("entries", "exits", "moved"),
            query=(
                "select snapshot_time, sum(entries)::bigint as entries, "
                "sum(exits)::bigint as exits, sum(moved)::bigint as moved "
                "from marts.playlist_movement group by snapshot_time "
                # A snapshot where every playlist is new has nothing to compare: no point.
                "having count(entries) > 0 order by snapshot_time"
            ),
            y_label="tracks",
        ),
        PlotSpec(
            title="Mainstream and niche share of playlist tracks per snapshot",
            kind="line",
            x="snapshot_time",
            y=("mainstream_share", "niche_share"),
            # Pooled over all playlists' rows (not a mean of per-playlist shares), from the
            # rows themselves: the mart's shares cannot be re-weighted without their counts.
            query=(
                "select p.snapshot_time, "
                f"{popularity_shares('t.popularity')} "
                "from core.playlist_tracks p left join core.tracks t using (track_id) "
                "group by p.snapshot_time order by p.snapshot_time"
            ),
            y_label="share of tracks with known popularity",
        ),
    ),
    headline=(
        'select count(distinct playlist_id) as "playlists", '
        'count(distinct snapshot_time) as "snapshots", '
        "(sum(entries) filter (where snapshot_time = (select max(snapshot_time) "
        'from marts.playlist_movement)))::bigint as "entries in the latest snapshot", '
        "(sum(exits) filter (where snapshot_time = (select max(snapshot_time) "
        'from marts.playlist_movement)))::bigint as "exits in the latest snapshot" '
        "from marts.playlist_movement"
    ),
    key=("snapshot_time", "playlist_id"),
)

MARTS: tuple[Mart, ...] = (
    TOP_ARTISTS,
    GENRE_FAMILIES,
    POPULARITY_VS_FOLLOWERS,
    RELEASE_YEARS,
    RELEASE_RECENCY,
    DURATION_POPULARITY,
    ALBUM_ROLLUPS,
    PLAYLIST_MOVEMENT,
)
