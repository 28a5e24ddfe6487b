"""Listener marts (Dagster-free): every listener's own story, a Wrapped per user and UTC year.

Definitions (docs/USER_GUIDE.md, "Wrapped", says the same for readers):

- a **listener-year** is a user and a UTC calendar year of ``ts`` (the end of the play); the
  **all-time** row of a user has ``year`` null (``period = 'all'``, so the row key has no null);
- music figures follow the KPI definitions (docs/USER_GUIDE.md, "KPI definitions"): ``plays`` and
  ``minutes_played`` count music plays of any length, a **stream** is a play of >= 30 s;
- every play of the listener counts, on Spotify or scrobbled to Last.fm or ListenBrainz and not
  a Spotify play (docs/USER_GUIDE.md, "KPI definitions"); ``spotify_plays``, ``lastfm_plays``
  and ``listenbrainz_plays`` say where the plays came from. A scrobbled play's minutes are its
  track's duration, and it has no country (its local time is UTC) and no skip flag;
- an **item** is a track (``track_id``; by name and artist where the export had no id), an
  artist (``lower(artist_name)``), an album (``lower(artist) - lower(album)``), a genre family
  (of the track's primary artist; tracks outside the catalog are ``unknown`` and never ranked)
  or a podcast show (``show_name``);
- **top items** rank by streams, ties by listening time, then by id: only items with at least
  one stream are ranked; podcast shows rank by listening time, ties by plays;
- **top month** (first day, UTC) and **top weekday** (local time, Monday = 0) by streams, ties
  by listening time, then the earlier one;
- the **listening clock** is the share of music listening time (``ms_played``) ending in each
  local hour, 24 values summing to 1 (null without music time);
- the **longest streak** is the longest run of consecutive UTC days with a stream (within the
  year for a year row);
- the **longest session** is the longest ``marts.sessions`` row (by duration) starting in the
  year (sessions are Spotify's, as every engagement mart);
- the **first play** is the year's earliest music play;
- **discovery** is the share of the year's music listening time spent on artists whose first
  music play by that user falls in that year (1.0 in a user's first year of data; null for
  all-time, where every artist is new);
- **listening age** is the median release year (of ``core.albums``) over the streams whose
  track has one;
- **skip rate** as everywhere (``skipped = true`` over non-null ``skipped``); the **most
  skipped track** has the most skipped plays (ties: more plays, then the name).

``marts.listener_content`` holds every (user, year, item) with its rank, the grain for the
Wrapped top lists, the listener pages' tables and the table macro ``marts.affinity``.
"""

from __future__ import annotations

from spotify_assets.lib.listening.sources import SCROBBLE_FORMATS, sql_list
from spotify_assets.lib.marts.spec import (
    ALBUM_KEY,
    ARTIST_KEY,
    COUNTRY_TIME_ZONES_SQL,
    IS_STREAM,
    TRACK_FAMILY_SQL,
    Mart,
    PlotSpec,
    local_ts,
    quarter_hour,
)

#: Length of every Wrapped top list.
WRAPPED_TOP_N = 5

_TRACK_KEY = (
    "coalesce(track_id, 'name:' || lower(track_name) || ' - ' || lower(coalesce(artist_name, '')))"
)
_S = "core.streams"
_SCROBBLES = sql_list(SCROBBLE_FORMATS)


# --------------------------------------------------------------------------------------------
# 1. listener_content (+ the marts.affinity macro)
# --------------------------------------------------------------------------------------------

_AFFINITY_MACRO = """
create or replace macro marts.affinity(user_ids, in_year, top_n) as table
with members as (select distinct unnest(user_ids) as user_id),
per_user as (
    select c.user_id, c.kind, c.content_id,
           min(c.content_name) as content_name, min(c.artist_name) as artist_name,
           sum(c.streams)::bigint as streams, sum(c.ms_played)::bigint as ms_played
      from marts.listener_content c
      join members m using (user_id)
     where c.kind in ('artist', 'track') and (in_year is null or c.year = in_year)
     group by all
    having sum(c.streams) > 0
),
ranked as (
    select *, row_number() over (partition by user_id, kind
                                 order by streams desc, ms_played desc, content_id) as user_rank
      from per_user
),
shared as (
    select kind, content_id, min(content_name) as content_name,
           min(artist_name) as artist_name, sum(streams)::bigint as streams,
           max(user_rank) as worst_rank,
           list({'user_id': user_id, 'rank': user_rank, 'streams': streams}
                order by user_id) as listener_ranks
      from ranked
     group by kind, content_id
    having count(*) = (select count(*) from members)
)
select kind,
       row_number() over (partition by kind order by worst_rank, streams desc, content_id)
           as rank,
       content_id, content_name, artist_name, streams, worst_rank, listener_ranks
  from shared
qualify rank <= top_n
 order by kind, rank
"""

LISTENER_CONTENT = Mart(
    name="listener_content",
    description=(
        "One row per user, UTC year and played item (track, artist, album, genre family, "
        "podcast show): plays, streams, listening time and the item's rank in the user's year. "
        "The table macro marts.affinity(user_ids, year, top_n) gives what a set of listeners "
        "all play (year null: all time), with each one's rank."
    ),
    sql=f"""
with plays as (
    select s.user_id, year(s.ts) as year, s.content_type, s.ms_played,
           (s.{IS_STREAM}) as is_stream, s.track_id, s.track_name, s.artist_name,
           s.album_name, s.show_name
      from {_S} s
     where s.content_type in ('music', 'podcast')
),
track_family as ({TRACK_FAMILY_SQL}),
music as (
    select p.*, coalesce(f.genre_family, 'unknown') as genre_family
      from plays p
      left join track_family f using (track_id)
     where p.content_type = 'music'
),
items as (
    select user_id, year, 'track' as kind, {_TRACK_KEY} as content_id,
           min(track_name) as content_name, min(artist_name) as artist_name,
           count(*) as plays, count(*) filter (where is_stream) as streams,
           sum(ms_played) as ms_played
      from music where track_name is not null or track_id is not null
     group by all
    union all
    select user_id, year, 'artist', {ARTIST_KEY}, min(artist_name), min(artist_name),
           count(*), count(*) filter (where is_stream), sum(ms_played)
      from music where artist_name is not null
     group by all
    union all
    select user_id, year, 'album', {ALBUM_KEY}, min(album_name), min(artist_name),
           count(*), count(*) filter (where is_stream), sum(ms_played)
      from music where artist_name is not null and album_name is not null
     group by all
    union all
    select user_id, year, 'genre_family', genre_family, genre_family, null,
           count(*), count(*) filter (where is_stream), sum(ms_played)
      from music where genre_family <> 'unknown'
     group by all
    union all
    select user_id, year, 'show', show_name, show_name, null,
           count(*), count(*) filter (where is_stream), sum(ms_played)
      from plays where content_type = 'podcast' and show_name is not null
     group by all
)
select user_id, year, kind, content_id, content_name, artist_name, plays, streams,
       ms_played::bigint as ms_played, ms_played / 60000.0 as minutes_played,
       case when kind = 'show'
            then row_number() over (partition by user_id, year, kind
                                    order by ms_played desc, plays desc, content_id)
            when streams > 0
            then row_number() over (partition by user_id, year, kind, streams > 0
                                    order by streams desc, ms_played desc, content_id)
       end as rank
  from items
 order by user_id, year, kind, rank nulls last, content_id
""",
    columns={
        "user_id": "The listener.",
        "year": "UTC calendar year of the plays.",
        "kind": "'track', 'artist', 'album', 'genre_family' or 'show' (podcast).",
        "content_id": (
            "track_id (or 'name:' + track - artist where the export had no id); "
            "lower(artist_name); lower(artist) - lower(album); the family; the show name."
        ),
        "content_name": "Track, artist, album, family or show name.",
        "artist_name": "The artist (tracks, artists, albums); null for families and shows.",
        "plays": "Plays of the item in the year (any length).",
        "streams": "Plays of at least 30 s.",
        "ms_played": "Listening time, in milliseconds.",
        "minutes_played": "Listening time, in minutes.",
        "rank": (
            "Rank in the user's year: by streams, then listening time, then content_id; null "
            "without a stream. Shows: by listening time, then plays."
        ),
    },
    reads=(_S, "core.tracks", "core.artists", "core.artist_genres"),
    key=("user_id", "year", "kind", "content_id"),
    lineage={
        "year": ((_S, "ts"),),
        "content_id": ((_S, "track_id"), (_S, "artist_name"), (_S, "album_name")),
        "plays": ((_S, "content_type"),),
        "streams": ((_S, "ms_played"),),
        "ms_played": ((_S, "ms_played"),),
        "minutes_played": ((_S, "ms_played"),),
        "rank": ((_S, "ms_played"),),
    },
    after_sql=(_AFFINITY_MACRO,),
    headline="""
select count(distinct user_id) as "listeners",
       count(distinct (user_id, year)) as "listener-years"
  from marts.listener_content
""",
)


# --------------------------------------------------------------------------------------------
# 2. listener_wrapped
# --------------------------------------------------------------------------------------------


def _top_list(kind: str) -> str:
    """SQL: the top ``WRAPPED_TOP_N`` items of ``kind`` for (user, year) and all time."""
    order = (
        "ms_played desc, plays desc, content_id"
        if kind == "show"
        else "streams desc, ms_played desc, content_id"
    )
    having = "" if kind == "show" else "having sum(streams) > 0"
    # A podcast show also says its plays: it ranks by listening time, and 'streams' of a
    # podcast read as music.
    plays = ", 'plays': plays" if kind == "show" else ""
    return f"""
    select user_id, year, list({{'name': content_name, 'artist': artist_name,
                                'streams': streams, 'minutes': round(minutes_played, 1){plays}}}
                               order by rank) as items
      from marts.listener_content where kind = '{kind}' and rank <= {WRAPPED_TOP_N}
     group by user_id, year
    union all
    select user_id, null, list({{'name': content_name, 'artist': artist_name,
                                 'streams': streams, 'minutes': round(minutes_played, 1){plays}}}
                                order by {order})[1:{WRAPPED_TOP_N}]
      from (select user_id, content_id, min(content_name) as content_name,
                   min(artist_name) as artist_name, sum(plays) as plays,
                   sum(streams) as streams, sum(ms_played) as ms_played,
                   sum(ms_played) / 60000.0 as minutes_played
              from marts.listener_content where kind = '{kind}'
             group by user_id, content_id {having})
     group by user_id"""


LISTENER_WRAPPED = Mart(
    name="listener_wrapped",
    description=(
        "One row per listener and UTC calendar year with any play, plus an all-time row per "
        "listener (year null, period 'all'): volume (plays by source: Spotify, Last.fm, "
        "ListenBrainz), variety, top 5 tracks, artists, albums, "
        "genre families and podcast shows, top month and weekday, listening clock, longest "
        "streak and session, first play, discovery, listening age, skips."
    ),
    sql=f"""
with plays as (
    select user_id, year(ts) as year, ts, content_type, ms_played, ({IS_STREAM}) as is_stream,
           track_id, track_name, artist_name, album_name, skipped, conn_country,
           case when source_format in {_SCROBBLES} then source_format else 'spotify' end
               as source
      from {_S}
),
music as (select * from plays where content_type = 'music'),
periods as (
    select user_id, year,
           count(*) filter (where content_type = 'music') as plays,
           count(*) filter (where content_type = 'music' and is_stream) as streams,
           coalesce(sum(ms_played) filter (where content_type = 'music'), 0) / 60000.0
               as minutes_played,
           count(*) filter (where content_type = 'music' and source = 'spotify')
               as spotify_plays,
           count(*) filter (where content_type = 'music' and source = 'lastfm') as lastfm_plays,
           count(*) filter (where content_type = 'music' and source = 'listenbrainz')
               as listenbrainz_plays,
           count(*) filter (where content_type = 'podcast') as podcast_plays,
           coalesce(sum(ms_played) filter (where content_type = 'podcast'), 0) / 60000.0
               as podcast_minutes,
           count(distinct {_TRACK_KEY}) filter (where content_type = 'music')
               as distinct_tracks,
           count(distinct {ARTIST_KEY}) filter (where content_type = 'music')
               as distinct_artists,
           count(distinct {ALBUM_KEY}) filter (where content_type = 'music')
               as distinct_albums,
           count(*) filter (where content_type = 'music' and skipped)
               / nullif(count(skipped) filter (where content_type = 'music'), 0) as skip_rate,
           min({{'ts': ts, 'track': track_name, 'artist': artist_name}})
               filter (where content_type = 'music') as first_play
      from plays
     group by grouping sets ((user_id, year), (user_id))
),
months as (
    select user_id, year, date_trunc('month', ts)::date as month,
           count(*) filter (where is_stream) as streams, sum(ms_played) as ms_played
      from music group by all
),
top_month as (
    select user_id, year, month as top_month, streams as top_month_streams
      from months where streams > 0
    qualify row_number() over (partition by user_id, year
                               order by streams desc, ms_played desc, month) = 1
    union all
    select user_id, null, month, streams
      from months where streams > 0
    qualify row_number() over (partition by user_id
                               order by streams desc, ms_played desc, month) = 1
),
buckets as (
    select user_id, year, conn_country, {quarter_hour("ts")} as bucket,
           count(*) filter (where is_stream) as streams, sum(ms_played) as ms_played
      from music group by all
),
local as (
    select b.user_id, b.year,
           {local_ts("b.bucket")} as local_ts,
           b.streams, b.ms_played
      from buckets b
      left join {COUNTRY_TIME_ZONES_SQL} on tz.conn_country = b.conn_country
),
hours as (
    select user_id, year, hour(local_ts) as local_hour, sum(ms_played) as ms_played
      from local group by grouping sets ((user_id, year, local_hour), (user_id, local_hour))
),
clock_grid as (
    select u.user_id, u.year, g.local_hour, coalesce(h.ms_played, 0) as ms_played
      from (select distinct user_id, year from hours) u
     cross join range(24) g(local_hour)
      left join hours h
        on h.user_id = u.user_id and h.year is not distinct from u.year
       and h.local_hour = g.local_hour
),
clock as (
    select user_id, year,
           case when sum(ms_played) > 0
                then list(ms_played / total order by local_hour) end as clock_share
      from (select *, sum(ms_played) over (partition by user_id, year)::double as total
              from clock_grid)
     group by user_id, year
),
weekdays as (
    select user_id, year, isodow(local_ts) - 1 as weekday,
           sum(streams) as streams, sum(ms_played) as ms_played
      from local group by grouping sets ((user_id, year, weekday), (user_id, weekday))
),
top_weekday as (
    select user_id, year, weekday as top_weekday
      from weekdays where streams > 0
    qualify row_number() over (partition by user_id, year
                               order by streams desc, ms_played desc, weekday) = 1
),
days as (select distinct user_id, year, ts::date as day from music where is_stream),
islands as (
    select user_id, year, day,
           day - to_days(row_number() over (partition by user_id, year order by day)::int)
               as year_island,
           day - to_days(row_number() over (partition by user_id order by day)::int)
               as all_island
      from days
),
streaks as (
    select user_id, year, count(*) as days, min(day) as start
      from islands group by user_id, year, year_island
    union all
    select user_id, null, count(*), min(day) from islands group by user_id, all_island
),
longest_streak as (
    select user_id, year, days as longest_streak_days, start as longest_streak_start
      from streaks
    qualify row_number() over (partition by user_id, year order by days desc, start) = 1
),
sessions as (
    select user_id, year(session_start) as year, session_start, duration_minutes
      from marts.sessions
),
longest_session as (
    select user_id, year, duration_minutes as longest_session_minutes,
           session_start as longest_session_start
      from sessions
    qualify row_number() over (partition by user_id, year
                               order by duration_minutes desc, session_start) = 1
    union all
    select user_id, null, duration_minutes, session_start
      from sessions
    qualify row_number() over (partition by user_id
                               order by duration_minutes desc, session_start) = 1
),
artist_first as (
    select user_id, {ARTIST_KEY} as artist, min(year) as first_year
      from music where artist_name is not null group by all
),
discovery as (
    select m.user_id, m.year,
           coalesce(sum(m.ms_played) filter (where f.first_year = m.year), 0)
               / nullif(sum(m.ms_played), 0) as discovery_share
      from music m
      left join artist_first f on f.user_id = m.user_id and f.artist = {ARTIST_KEY}
     group by m.user_id, m.year
),
release as (
    select m.user_id, m.year, a.release_year
      from music m
      join core.tracks t on t.track_id = m.track_id
      join core.albums a on a.album_id = t.album_id
     where m.is_stream and a.release_year is not null
),
listening_age as (
    select user_id, year, median(release_year)::double as listening_age
      from release group by grouping sets ((user_id, year), (user_id))
),
skips as (
    select user_id, year, {_TRACK_KEY} as track_key, min(track_name) as track_name,
           min(artist_name) as artist_name,
           count(*) filter (where skipped) as skips, count(*) as plays
      from music group by grouping sets ((user_id, year, track_key), (user_id, track_key))
),
most_skipped as (
    select user_id, year, track_name as most_skipped_track,
           artist_name as most_skipped_artist, skips as most_skipped_count
      from skips where skips > 0
    qualify row_number() over (partition by user_id, year
                               order by skips desc, plays desc, track_name, track_key) = 1
),
top_tracks as ({_top_list("track")}),
top_artists as ({_top_list("artist")}),
top_albums as ({_top_list("album")}),
top_families as ({_top_list("genre_family")}),
top_shows as ({_top_list("show")})
select p.user_id,
       p.year,
       coalesce(p.year::varchar, 'all') as period,
       p.plays,
       p.streams,
       p.minutes_played,
       p.spotify_plays,
       p.lastfm_plays,
       p.listenbrainz_plays,
       p.podcast_plays,
       p.podcast_minutes,
       p.distinct_tracks,
       p.distinct_artists,
       p.distinct_albums,
       tt.items as top_tracks,
       ta.items as top_artists,
       tb.items as top_albums,
       tf.items as top_genre_families,
       ts.items as top_podcast_shows,
       tm.top_month,
       tm.top_month_streams,
       tw.top_weekday,
       c.clock_share,
       ls.longest_streak_days,
       ls.longest_streak_start,
       se.longest_session_minutes,
       se.longest_session_start,
       p.first_play.ts as first_play_ts,
       p.first_play.track as first_play_track,
       p.first_play.artist as first_play_artist,
       case when p.year is not null then d.discovery_share end as discovery_share,
       la.listening_age,
       p.skip_rate,
       ms.most_skipped_track,
       ms.most_skipped_artist,
       ms.most_skipped_count
  from periods p
  left join top_tracks tt on tt.user_id = p.user_id and tt.year is not distinct from p.year
  left join top_artists ta on ta.user_id = p.user_id and ta.year is not distinct from p.year
  left join top_albums tb on tb.user_id = p.user_id and tb.year is not distinct from p.year
  left join top_families tf on tf.user_id = p.user_id and tf.year is not distinct from p.year
  left join top_shows ts on ts.user_id = p.user_id and ts.year is not distinct from p.year
  left join top_month tm on tm.user_id = p.user_id and tm.year is not distinct from p.year
  left join top_weekday tw on tw.user_id = p.user_id and tw.year is not distinct from p.year
  left join clock c on c.user_id = p.user_id and c.year is not distinct from p.year
  left join longest_streak ls on ls.user_id = p.user_id and ls.year is not distinct from p.year
  left join longest_session se
    on se.user_id = p.user_id and se.year is not distinct from p.year
  left join discovery d on d.user_id = p.user_id and d.year = p.year
  left join listening_age la on la.user_id = p.user_id and la.year is not distinct from p.year
  left join most_skipped ms on ms.user_id = p.user_id and ms.year is not distinct from p.year
 order by p.user_id, p.year nulls last
""",
    columns={
        "user_id": "The listener.",
        "year": "UTC calendar year; null for the all-time row.",
        "period": "The year as text, or 'all' for the all-time row (with user_id, the key).",
        "plays": "Music plays (any length).",
        "streams": "Music plays of at least 30 s.",
        "minutes_played": "Sum of ms_played of the music plays, in minutes.",
        "spotify_plays": "Music plays on Spotify (its exports and polling).",
        "lastfm_plays": "Music plays scrobbled to Last.fm that no Spotify play holds.",
        "listenbrainz_plays": (
            "Music plays scrobbled to ListenBrainz that no Spotify play (nor Last.fm "
            "scrobble) holds."
        ),
        "podcast_plays": "Podcast plays.",
        "podcast_minutes": "Sum of ms_played of the podcast plays, in minutes.",
        "distinct_tracks": "Distinct tracks played (music).",
        "distinct_artists": "Distinct artists played (lower(artist_name)).",
        "distinct_albums": "Distinct albums played (artist and album name).",
        "top_tracks": (
            "Top 5 tracks by streams (ties: listening time), items with a stream: "
            "[{name, artist, streams, minutes}]."
        ),
        "top_artists": "Top 5 artists, likewise.",
        "top_albums": "Top 5 albums, likewise.",
        "top_genre_families": "Top 5 genre families, likewise (tracks outside the catalog: none).",
        "top_podcast_shows": (
            "Top 5 podcast shows by listening time (ties: plays): "
            "[{name, artist, streams, minutes, plays}]."
        ),
        "top_month": "Month (first day, UTC) with the most streams (ties: listening time).",
        "top_month_streams": "Streams in that month.",
        "top_weekday": "Local weekday (Monday = 0) with the most streams (ties: listening time).",
        "clock_share": (
            "24 shares of music listening time by local hour of the end of the play (0-23); "
            "null without music time."
        ),
        "longest_streak_days": "Longest run of consecutive UTC days with a stream.",
        "longest_streak_start": "Its first day (the earliest such run on ties).",
        "longest_session_minutes": "Duration of the longest session (marts.sessions) started.",
        "longest_session_start": "When it started, UTC.",
        "first_play_ts": "End (ts) of the first music play, UTC.",
        "first_play_track": "Its track.",
        "first_play_artist": "Its artist.",
        "discovery_share": (
            "Share of music listening time on artists first played that year; null all-time."
        ),
        "listening_age": "Median release year of the streamed tracks with a known one.",
        "skip_rate": "Music plays with skipped = true over those with skipped not null.",
        "most_skipped_track": "Track with the most skipped plays (ties: more plays, name).",
        "most_skipped_artist": "Its artist.",
        "most_skipped_count": "Its skipped plays.",
    },
    reads=(_S, "core.tracks", "core.albums", "marts.sessions", "marts.listener_content"),
    key=("user_id", "period"),
    lineage={
        "year": ((_S, "ts"),),
        "plays": ((_S, "content_type"),),
        "streams": ((_S, "content_type"), (_S, "ms_played")),
        "minutes_played": ((_S, "ms_played"),),
        "spotify_plays": ((_S, "source_format"),),
        "lastfm_plays": ((_S, "source_format"),),
        "listenbrainz_plays": ((_S, "source_format"),),
        "top_tracks": (("marts.listener_content", "rank"),),
        "clock_share": ((_S, "ts"), (_S, "conn_country"), (_S, "ms_played")),
        "longest_session_minutes": (("marts.sessions", "duration_minutes"),),
        "listening_age": (("core.albums", "release_year"),),
        "skip_rate": ((_S, "skipped"),),
    },
    plots=(
        PlotSpec(
            title="Listening minutes per listener and year",
            kind="bar",
            x="year",
            y=("minutes_played",),
            query="""
select year::varchar as year, sum(minutes_played) as minutes_played
  from marts.listener_wrapped where year is not null group by year order by year
""",
            x_label="year",
            y_label="minutes (all listeners)",
        ),
    ),
    headline="""
select count(*) filter (where year is null) as "listeners",
       count(*) filter (where year is not null) as "listener-years",
       median(minutes_played) filter (where year is not null) as "median minutes per year"
  from marts.listener_wrapped
""",
)


MARTS: tuple[Mart, ...] = (LISTENER_CONTENT, LISTENER_WRAPPED)
