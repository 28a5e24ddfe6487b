"""Engagement marts (Dagster-free): how much, when, what and how people listen, from
``core.streams`` (and the catalog where a genre or popularity is needed).

Every figure follows the KPI definitions of docs/USER_GUIDE.md, "KPI definitions" (see
:mod:`spotify_assets.lib.marts.spec`): music plays on Spotify only (its exports and polling:
other services' scrobbles record no platform, country, skip or reason, and a listener active on
Last.fm alone is no active Spotify user; the listener marts count them), a stream is >= 30 s,
listening hours add ``ms_played`` of all music plays, an active user has a stream in the
period, local time is ``ts`` (the end of the play) in the zone of ``conn_country``
(:mod:`spotify_assets.lib.timezones`, ``UTC`` when the country is null or unknown).

Local time without converting every play: plays are first counted per country and 15-minute
UTC bucket, and only the buckets are converted (one ICU call per country and quarter hour with
plays rather than one per play: 1.3 s instead of 6 s on 10M synthetic plays). That is exact
when a time zone's offsets and changes fall on quarter hours, which holds for every zone of
:data:`~spotify_assets.lib.timezones.COUNTRY_TIMEZONES` from 2000 to 2030 (checked against
tzdata 2025b) but one minute: Asia/Hebron moved to summer time at 22:01 UTC on 2011-03-31.

The plays are read from ``core.streams`` once per step, into scratch tables of integer codes
(users, spellings, play contexts; see "The music plays, read once" below) that every mart here
reads; the strings are joined back into the results only.

Tables that grow with the plays (``content_daily``, ``sessions``, ``taste_monthly``) are stored
without an ORDER BY: sorting millions of rows cost more than building some of them, and a
reader orders what it reads. Small marts keep theirs: it is the order a person reads them in.
"""

from __future__ import annotations

from spotify_assets.lib.marts.spec import (
    ALBUM_KEY,
    ARTIST_KEY,
    COUNTRY_TIME_ZONES_SQL,
    IS_STREAM,
    MAINSTREAM_MIN_POPULARITY,
    MUSIC_PLAYS,
    NICHE_MAX_POPULARITY,
    TRACK_FAMILY_SQL,
    Mart,
    Part,
    PlotSpec,
    Scratch,
    local_ts,
    popularity_shares,
    quarter_hour,
    share_of,
    spotify_play,
)

#: A new session starts when a play starts more than this long after every earlier play ended.
SESSION_GAP_MINUTES = 30

#: ``skip_rates`` lists an artist only from this many plays on: fewer make a noisy rate.
MIN_ARTIST_PLAYS = 20

#: Session length buckets: (label, lower bound in minutes, inclusive); each runs to the next.
SESSION_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<5 min", 0),
    ("5-15 min", 5),
    ("15-30 min", 15),
    ("30-60 min", 30),
    ("1-2 h", 60),
    ("2-4 h", 120),
    ("4 h+", 240),
)

_MS_PER_HOUR = 3_600_000

# --------------------------------------------------------------------------------------------
# The music plays, read once: scratch tables every engagement mart reads instead of scanning
# core.streams again. Users, spellings (track id and the three names as written) and play
# contexts (reason_start, country, reason_end, platform, skipped) become integer codes; a play
# is (u, ts, ms_played, sp, ctx), 24 bytes instead of a dozen strings, and the names are joined
# back only into the (much smaller) results. Codes keep their strings' order where a mart
# breaks ties with them: users by user_id, contexts by (reason_start, conn_country), NULL last
# as in a struct comparison.
#
# The plays find their spelling and context by a hash of the strings, one 64-bit key instead
# of four or five strings to compare: exact, because each code table also says whether its hash
# is unique among its rows (``h_unique``), and a play compares the strings themselves only
# where it is not (two spellings whose hashes collide: never seen, but then still right).
#
# The plays are stored in (u, start, ts, ctx) order, start = ts - ms_played: ``sessions`` reads
# them in that order with windows over () (one pass, no sort of its own); ``prepare`` keeps
# DuckDB's insertion order, which those windows follow.
# --------------------------------------------------------------------------------------------

USER_CODES = Scratch(
    "engagement_users",
    f"""
select row_number() over (order by user_id)::integer as u, user_id
  from (select distinct user_id from {MUSIC_PLAYS})
""",
)

_SPELLING = ("track_id", "track_name", "artist_name", "album_name")
_CONTEXT = ("reason_start", "conn_country", "reason_end", "platform", "skipped")


def _hash(columns: tuple[str, ...], alias: str = "") -> str:
    return f"hash({', '.join(f'{alias}{c}' for c in columns)})"


SPELLINGS = Scratch(
    "engagement_spellings",
    f"""
select row_number() over ()::integer as sp, *,
       count(*) over (partition by h) = 1 as h_unique
  from (select {", ".join(_SPELLING)}, count(*) as plays, {_hash(_SPELLING)} as h
          from {MUSIC_PLAYS}
         group by all)
""",
)

CONTEXTS = Scratch(
    "engagement_contexts",
    f"""
select row_number() over (order by reason_start nulls last, conn_country nulls last,
                                   reason_end, platform, skipped)::integer as ctx, *,
       count(*) over (partition by h) = 1 as h_unique
  from (select distinct {", ".join(_CONTEXT)}, {_hash(_CONTEXT)} as h
          from {MUSIC_PLAYS})
""",
)


def _same(columns: tuple[str, ...], a: str, b: str) -> str:
    return " and ".join(f"{a}.{c} is not distinct from {b}.{c}" for c in columns)


PLAYS = Scratch(
    "engagement_plays",
    f"""
select u.u, s.ts, s.ms_played, sp.sp, c.ctx
  from core.streams s
  join engagement_users u on u.user_id = s.user_id
  join engagement_spellings sp
    on sp.h = {_hash(_SPELLING, "s.")} and (sp.h_unique or ({_same(_SPELLING, "sp", "s")}))
  join engagement_contexts c
    on c.h = {_hash(_CONTEXT, "s.")} and (c.h_unique or ({_same(_CONTEXT, "c", "s")}))
 where s.content_type = 'music' and {spotify_play("s")}
 order by u.u, s.ts - to_milliseconds(s.ms_played), s.ts, c.ctx
""",
)

_PLAYS_SCRATCH = (USER_CODES, SPELLINGS, CONTEXTS, PLAYS)

#: Music plays counted per country and 15-minute UTC bucket, with the bucket in local time
#: (see the module docstring): hourly_engagement and skip_rates' local hours read it.
QUARTERS = Scratch(
    "engagement_quarters",
    f"""
with buckets as (
    select c.conn_country, {quarter_hour("p.ts")} as bucket,
           count(*) as plays,
           count(*) filter (where p.{IS_STREAM}) as streams,
           sum(p.ms_played) as ms_played,
           count(c.skipped) as flagged,
           count(*) filter (where c.skipped) as skips,
           count(*) filter (where c.reason_end = 'trackdone') as done
      from engagement_plays p
      join engagement_contexts c using (ctx)
     group by all
)
select b.*, {local_ts("b.bucket")} as local_ts
  from buckets b
  left join {COUNTRY_TIME_ZONES_SQL} on tz.conn_country = b.conn_country
""",
)

_GENRE_READS = ("core.tracks", "core.artists", "core.artist_genres")
_GENRE_LINEAGE = (
    ("core.streams", "track_id"),
    ("core.tracks", "primary_artist_id"),
    ("core.artist_genres", "genre_family"),
)
_TS = (("core.streams", "ts"),)
_PLAYS = (("core.streams", "content_type"),)
_STREAMS = (("core.streams", "content_type"), ("core.streams", "ms_played"))
_HOURS = (("core.streams", "ms_played"),)
_USERS = (("core.streams", "user_id"), ("core.streams", "ms_played"))
_LOCAL = (("core.streams", "ts"), ("core.streams", "conn_country"))


# --------------------------------------------------------------------------------------------
# 1. daily_engagement
# --------------------------------------------------------------------------------------------

DAILY_ENGAGEMENT = Mart(
    name="daily_engagement",
    description=(
        "One row per UTC day from the first to the last day with a music play (days without "
        "one included, with zeros): plays, streams, listening hours and active users."
    ),
    sql=f"""
with music as (
    select cast(ts as date) as date, u, ms_played, {IS_STREAM} as is_stream
      from engagement_plays
),
by_day as (
    select date,
           count(*) as plays,
           count(*) filter (where is_stream) as streams,
           sum(ms_played)::double / {_MS_PER_HOUR} as listening_hours,
           count(distinct u) filter (where is_stream) as active_users
      from music
     group by date
),
days as (
    select cast(unnest(generate_series(min(date)::timestamp, max(date)::timestamp,
                                       interval 1 day)) as date) as date
      from by_day
)
select d.date,
       coalesce(b.plays, 0) as plays,
       coalesce(b.streams, 0) as streams,
       coalesce(b.listening_hours, 0)::double as listening_hours,
       coalesce(b.active_users, 0) as active_users,
       b.listening_hours / nullif(b.active_users, 0) as listening_hours_per_active_user
  from days d
  left join by_day b using (date)
 order by d.date
""",
    columns={
        "date": "UTC calendar day (of ts, the end of the play).",
        "plays": "Music plays that ended that day.",
        "streams": "Music plays of at least 30 s.",
        "listening_hours": "Sum of ms_played of all music plays, in hours.",
        "active_users": "Users with at least one stream that day.",
        "listening_hours_per_active_user": "listening_hours / active_users; null without any.",
    },
    reads=("core.streams",),
    lineage={
        "date": _TS,
        "plays": _PLAYS,
        "streams": _STREAMS,
        "listening_hours": _HOURS,
        "active_users": _USERS,
        "listening_hours_per_active_user": (*_HOURS, *_USERS),
    },
    plots=(
        PlotSpec(
            title="Listening hours per day",
            kind="line",
            x="date",
            y=("listening_hours",),
            y_label="hours",
        ),
        PlotSpec(
            title="Daily active users",
            kind="line",
            x="date",
            y=("active_users",),
            y_label="users with a stream",
        ),
    ),
    # Totals over the whole history, which the cards name (never a partial period unsaid).
    headline="""
select strftime(min(date), '%Y-%m-%d') || ' to ' || strftime(max(date), '%Y-%m-%d')
           as "period",
       sum(listening_hours) as "listening hours",
       sum(streams) as "streams",
       count(*) filter (where active_users > 0) as "active days"
  from marts.daily_engagement
""",
    key=("date",),
    scratch=_PLAYS_SCRATCH,
)


# --------------------------------------------------------------------------------------------
# 2. monthly_engagement
# --------------------------------------------------------------------------------------------

MONTHLY_ENGAGEMENT = Mart(
    name="monthly_engagement",
    description=(
        "One row per calendar month (UTC) from the first to the last month with a music play "
        "(empty months included, with zeros): active users, churn to the next month, volume and "
        "year-over-year growth."
    ),
    sql=f"""
with music as (
    select u, cast(date_trunc('month', ts) as date) as month, ms_played,
           {IS_STREAM} as is_stream
      from engagement_plays
),
by_month as (
    select month,
           count(*) as plays,
           count(*) filter (where is_stream) as streams,
           sum(ms_played)::double / {_MS_PER_HOUR} as listening_hours,
           count(distinct u) filter (where is_stream) as active_users
      from music
     group by month
),
months as (
    select cast(unnest(generate_series(min(month)::timestamp, max(month)::timestamp,
                                       interval 1 month)) as date) as month
      from by_month
),
active as (select distinct u, month from music where is_stream),
churned as (
    select a.month, count(*) as churned_users
      from active a
      left join active nxt
        on nxt.u = a.u and nxt.month = cast(a.month + interval 1 month as date)
     where nxt.u is null
     group by a.month
),
filled as (
    select m.month,
           coalesce(b.active_users, 0) as active_users,
           -- churn needs the whole next month: none against a month the data covers in
           -- part (data ending on 24 June made May's churn count June's absent as churned)
           case when m.month + interval 2 month - interval 1 day
                     <= (select max(ts)::date from engagement_plays)
                then coalesce(c.churned_users, 0) end as churned_users,
           coalesce(b.plays, 0) as plays,
           coalesce(b.streams, 0) as streams,
           coalesce(b.listening_hours, 0)::double as listening_hours
      from months m
      left join by_month b using (month)
      left join churned c using (month)
)
select month,
       active_users,
       churned_users,
       churned_users / nullif(active_users, 0) as churn_rate,
       plays,
       streams,
       listening_hours,
       listening_hours / nullif(active_users, 0) as listening_hours_per_active_user,
       (streams - lag(streams, 12) over w) / nullif(lag(streams, 12) over w, 0)
           as streams_yoy_growth,
       (listening_hours - lag(listening_hours, 12) over w)
           / nullif(lag(listening_hours, 12) over w, 0) as listening_hours_yoy_growth
  from filled
window w as (order by month)
 order by month
""",
    columns={
        "month": "First day of the calendar month (UTC).",
        "active_users": "Users with at least one stream in the month.",
        "churned_users": (
            "Users active this month and not the next; null unless the data covers the whole "
            "next month (the last month, and the one before a partial last month)."
        ),
        "churn_rate": (
            "churned_users / active_users; null when churned_users is, and when nobody was active."
        ),
        "plays": "Music plays that ended in the month.",
        "streams": "Music plays of at least 30 s.",
        "listening_hours": "Sum of ms_played of all music plays, in hours.",
        "listening_hours_per_active_user": "listening_hours / active_users; null without any.",
        "streams_yoy_growth": (
            "(streams - streams 12 months earlier) / streams 12 months earlier; null when that "
            "month is before the data or had none."
        ),
        "listening_hours_yoy_growth": "Like streams_yoy_growth, for listening_hours.",
    },
    reads=("core.streams",),
    lineage={
        "month": _TS,
        "active_users": _USERS,
        "churned_users": (*_USERS, *_TS),
        "churn_rate": (*_USERS, *_TS),
        "plays": _PLAYS,
        "streams": _STREAMS,
        "listening_hours": _HOURS,
        "listening_hours_per_active_user": (*_HOURS, *_USERS),
        "streams_yoy_growth": (*_STREAMS, *_TS),
        "listening_hours_yoy_growth": (*_HOURS, *_TS),
    },
    plots=(
        PlotSpec(
            title="Monthly active users",
            kind="bar",
            x="month",
            y=("active_users",),
            y_label="users with a stream",
        ),
        PlotSpec(
            title="Monthly churn rate (active this month, not the next)",
            kind="line",
            x="month",
            y=("churn_rate",),
            y_label="share of active users",
        ),
    ),
    # The last month the data covers whole (the newest one is usually still in progress or
    # cut by the end of the data), and the churn of the month before it, which is final.
    headline="""
with complete as (
    select max(month) as m from marts.monthly_engagement
     where month + interval 1 month - interval 1 day
           <= (select max(date) from marts.daily_engagement)
)
select strftime(m, '%Y-%m') as "last complete month",
       (select active_users from marts.monthly_engagement where month = m)
           as "active users, last complete month",
       (select churn_rate from marts.monthly_engagement
         where month = m - interval 1 month) as "churn rate, the month before"
  from complete
""",
    key=("month",),
    scratch=_PLAYS_SCRATCH,
)


# --------------------------------------------------------------------------------------------
# 3. hourly_engagement
# --------------------------------------------------------------------------------------------

HOURLY_ENGAGEMENT = Mart(
    name="hourly_engagement",
    description=(
        "One row per local weekday and hour (all 168, zeros included): when people listen, "
        "in the local time of the country they played from."
    ),
    sql=f"""
with cells as (
    select isodow(local_ts) - 1 as weekday, hour(local_ts) as local_hour,
           sum(streams) as streams, sum(ms_played) as ms_played
      from engagement_quarters
     group by all
),
grid as (
    select w.weekday, h.local_hour from range(7) w(weekday), range(24) h(local_hour)
)
select g.weekday,
       g.local_hour,
       coalesce(c.streams, 0)::bigint as streams,
       coalesce(c.ms_played, 0)::double / {_MS_PER_HOUR} as listening_hours,
       {share_of("coalesce(c.streams, 0)")} as share_of_streams
  from grid g
  left join cells c using (weekday, local_hour)
 order by g.weekday, g.local_hour
""",
    columns={
        "weekday": "Local day of the week, Monday = 0 ... Sunday = 6.",
        "local_hour": "Local hour of the day (0-23) when the play ended.",
        "streams": "Music plays of at least 30 s that ended in that local weekday and hour.",
        "listening_hours": "Sum of ms_played of all music plays ending then, in hours.",
        "share_of_streams": "streams / all streams; null when there are none.",
    },
    reads=("core.streams",),
    lineage={
        "weekday": _LOCAL,
        "local_hour": _LOCAL,
        "streams": _STREAMS,
        "listening_hours": _HOURS,
        "share_of_streams": _STREAMS,
    },
    plots=(
        PlotSpec(
            title="Streams by local weekday and hour",
            kind="heatmap",
            x="local_hour",
            y=("weekday",),
            value="streams",
            x_label="local hour",
            y_label="local weekday",
        ),
    ),
    key=("weekday", "local_hour"),
    scratch=(*_PLAYS_SCRATCH, QUARTERS),
)


# --------------------------------------------------------------------------------------------
# 4. content_daily (+ the marts.top_content macro)
# --------------------------------------------------------------------------------------------

_TOP_CONTENT_MACRO = f"""
create or replace macro marts.top_content(start_date, end_date, top_n) as table
with per_item as (
    -- whole milliseconds again: a sum of doubles depends on the order DuckDB adds them in,
    -- and ranks must not
    select item, sum(streams)::bigint as streams,
           round(sum(listening_hours) * {_MS_PER_HOUR}) as ms_played
      from marts.content_daily_counts
     where date between cast(start_date as date) and cast(end_date as date)
     group by item
),
totals as (
    select i.kind, i.content_id, i.content_name, i.artist_name, p.streams, p.ms_played
      from per_item p
      join marts.content_items i using (item)
),
ranked as (
    select 'streams' as rank_by,
           row_number() over (partition by kind
                              order by streams desc, ms_played desc, content_id) as rank,
           *
      from totals
    union all
    select 'listening_hours' as rank_by,
           row_number() over (partition by kind
                              order by ms_played desc, streams desc, content_id) as rank,
           *
      from totals
),
top as (select * from ranked where rank <= top_n),
artist_keys as (
    -- an album's artist_name is one spelling of its artist, so lower() gives the artist key
    select content_id as artist_key from top where kind = 'artist'
    union
    select lower(artist_name) from top where kind = 'album'
),
range_streams as (
    -- only the streams of the range that can count for a top item (one scan)
    select user_id, track_id, {ARTIST_KEY} as artist_key, lower(album_name) as album_key
      from {MUSIC_PLAYS}
       and {IS_STREAM}
       and ts >= cast(start_date as date)
       and ts < cast(end_date as date) + interval 1 day
       and (track_id in (select content_id from top where kind = 'track')
            or {ARTIST_KEY} in (select artist_key from artist_keys))
),
listeners as (
    select 'track' as kind, track_id as content_id, count(distinct user_id) as listeners
      from range_streams
     where track_id in (select content_id from top where kind = 'track')
     group by track_id
    union all
    select 'artist', artist_key, count(distinct user_id)
      from range_streams
     where artist_key in (select content_id from top where kind = 'artist')
     group by artist_key
    union all
    select 'album', artist_key || ' - ' || album_key, count(distinct user_id)
      from range_streams
     where artist_key || ' - ' || album_key in (select content_id from top where kind = 'album')
     group by artist_key || ' - ' || album_key
)
select t.kind, t.rank_by, t.rank, t.content_id, t.content_name, t.artist_name,
       t.streams, t.ms_played / {_MS_PER_HOUR} as listening_hours,
       coalesce(l.listeners, 0) as listeners
  from top t
  left join listeners l using (kind, content_id)
 order by t.kind, t.rank_by, t.rank
"""

# Each spelling (track id and the three names as written) maps to its track, artist and album.
_KEYED_SPELLINGS = f"""
keyed as (
    select *, {ARTIST_KEY} as artist_key, {ALBUM_KEY} as album_key
      from engagement_spellings
)"""

CONTENT_ITEMS = Part(
    "content_items",
    f"""
with {_KEYED_SPELLINGS},
spellings as (
    select 'track' as kind, track_id as content_id, track_name as content_name, artist_name,
           sum(plays) as plays
      from keyed where track_id is not null
     group by all
    union all
    select 'artist', artist_key, artist_name, artist_name, sum(plays)
      from keyed where artist_key is not null
     group by all
    union all
    select 'album', album_key, album_name, artist_name, sum(plays)
      from keyed where album_key is not null
     group by all
),
named as (
    -- one display name per item over all days: its most played spelling (ties: smallest)
    select kind, content_id,
           first(content_name order by plays desc, content_name, artist_name) as content_name,
           first(artist_name order by plays desc, content_name, artist_name) as artist_name
      from spellings
     group by kind, content_id
)
select row_number() over (order by kind, content_id)::integer as item, *
  from named
""",
    "One row per played track, artist or album (item: its number in content_daily_counts).",
)

CONTENT_DAILY_COUNTS = Part(
    "content_daily_counts",
    f"""
with {_KEYED_SPELLINGS},
spelling_items as (
    select 'track' as kind, track_id as content_id, sp from keyed where track_id is not null
    union all
    select 'artist', artist_key, sp from keyed where artist_key is not null
    union all
    select 'album', album_key, sp from keyed where album_key is not null
),
item_of as (
    select s.sp, i.item from spelling_items s join marts.content_items i using (kind, content_id)
)
select cast(p.ts as date) as date, m.item,
       count(*)::bigint as plays, count(*) filter (where p.{IS_STREAM})::bigint as streams,
       sum(p.ms_played)::double / {_MS_PER_HOUR} as listening_hours
  from engagement_plays p
  join item_of m using (sp)
 group by all
""",
    "One row per UTC day and item of content_items: plays, streams and hours.",
)

CONTENT_DAILY = Mart(
    name="content_daily",
    description=(
        "One row per UTC day and played track, artist or album: plays, streams and hours, the "
        "grain for top content over any date range (use the macro "
        "marts.top_content(start_date, end_date, top_n), which also counts distinct listeners "
        "over the range)."
    ),
    # A view over two parts: the items with their names (marts.content_items) and the counts
    # per day and item number (marts.content_daily_counts). The plays are grouped once by day
    # and item on integers; writing the four strings into each of 15.5M rows (10 million
    # plays) cost more than the grouping: 9.3 instead of 15.4 CPU s. No listeners per day: they
    # are not additive over days, top_content counts them over its range from core.streams,
    # and the per-user grain they needed made this mart most of the engagement step's cost
    # (issue 17).
    sql="""
select c.date, i.kind, i.content_id, i.content_name, i.artist_name,
       c.plays, c.streams, c.listening_hours
  from marts.content_daily_counts c
  join marts.content_items i using (item)
""",
    parts=(CONTENT_ITEMS, CONTENT_DAILY_COUNTS),
    columns={
        "date": "UTC calendar day (of ts, the end of the play).",
        "kind": "'track', 'artist' or 'album'.",
        "content_id": (
            "track_id for tracks; lower(artist_name) for artists; "
            "lower(artist_name) || ' - ' || lower(album_name) for albums (the export has no "
            "artist or album ids)."
        ),
        "content_name": "Track, artist or album name: its most played spelling overall.",
        "artist_name": "The artist's name (most played spelling); for artists, content_name.",
        "plays": "Music plays of the item that day.",
        "streams": "Plays of at least 30 s.",
        "listening_hours": "Sum of ms_played, in hours.",
    },
    reads=("core.streams",),
    lineage={
        "date": _TS,
        "kind": (("core.streams", "track_id"), ("core.streams", "artist_name")),
        "content_id": (
            ("core.streams", "track_id"),
            ("core.streams", "artist_name"),
            ("core.streams", "album_name"),
        ),
        "content_name": (
            ("core.streams", "track_name"),
            ("core.streams", "artist_name"),
            ("core.streams", "album_name"),
        ),
        "artist_name": (("core.streams", "artist_name"),),
        "plays": _PLAYS,
        "streams": _STREAMS,
        "listening_hours": _HOURS,
    },
    plots=(
        PlotSpec(
            title="Top 10 tracks by streams, last 365 days of data",
            kind="barh",
            x="track",
            y=("streams",),
            # marts.top_content's ranking by streams (the same totals and tie-breaks), without
            # its distinct listeners, which the chart does not show: the macro scans
            # core.streams for them (3 CPU s of the step at 10 million plays)
            query=f"""
with last_day as (select max(date) as day from marts.content_daily_counts),
totals as (
    select item, sum(streams)::bigint as streams,
           round(sum(listening_hours) * {_MS_PER_HOUR}) as ms_played
      from marts.content_daily_counts
     where date between (select day - 364 from last_day) and (select day from last_day)
       and item in (select item from marts.content_items where kind = 'track')
     group by item
)
select i.content_name || ' - ' || i.artist_name as track, t.streams
  from totals t
  join marts.content_items i using (item)
 order by t.streams desc, t.ms_played desc, i.content_id
 limit 10
""",
            x_label="track",
            y_label="streams",
        ),
    ),
    after_sql=(_TOP_CONTENT_MACRO,),
    key=("date", "kind", "content_id"),
    scratch=_PLAYS_SCRATCH,
    # grouped by (date, item), each item one (kind, content_id) of content_items, whose
    # branches keep non-null ids only
    key_by_construction=True,
)


# --------------------------------------------------------------------------------------------
# 5. sessions, session_summary, session_starts
# --------------------------------------------------------------------------------------------

#: 30 minutes in microseconds, the unit of the sessions' sort keys.
_GAP_US = SESSION_GAP_MINUTES * 60 * 1_000_000

SESSIONS = Mart(
    name="sessions",
    description=(
        "One row per listening session: a run of one user's music plays in which each play "
        f"starts (ts - ms_played) at most {SESSION_GAP_MINUTES} minutes after the latest end "
        "(ts) of the plays before it, plays ordered by start, then ts; a user's sessions never "
        "overlap."
    ),
    # One pass over the plays in their stored (u, start, ts, ctx) order (see "The music plays,
    # read once"): windows over () run along it without sorting again. A play's key is
    # (u, time) as one 128-bit integer, u in the high 64 bits, so the running maximum of the
    # end keys is the latest end of the same user's earlier plays (a user's keys are above every
    # earlier user's), and a user's first play is always more than 30 minutes after it. The
    # latest end of *all* earlier plays, not only the previous one's: a long play that overlaps
    # shorter ones (two devices) keeps them in its session, so sessions never overlap. Plays
    # that tie on (start, ts) cannot change where sessions break (the second of them starts
    # before the first ends); the session's first play is the smallest (start, ts, ctx), whose
    # context codes follow (reason_start, conn_country). All on integers (user and context
    # codes); the strings are joined to the sessions.
    sql=f"""
with keyed as (
    select u, ts, ts - to_milliseconds(ms_played) as start_ts, ms_played, ctx,
           (u::hugeint << 64) + epoch_us(ts) as end_key,
           (u::hugeint << 64) + epoch_us(ts - to_milliseconds(ms_played)) as start_key
      from engagement_plays
),
latest as (
    -- the latest end key up to and including each play, in the stored order
    select *, max(end_key) over (rows between unbounded preceding and current row) as upto
      from keyed
),
flagged as (
    select *,
           case when lag(upto) over () is null
                  or start_key > lag(upto) over () + {_GAP_US}
                then 1 else 0 end as is_first
      from latest
),
numbered as (
    select *, sum(is_first) over (rows between unbounded preceding and current row) as session_no
      from flagged
),
grouped as (
    select u, session_no,
           min(start_ts) as session_start,
           max(ts) as session_end,
           count(*) as plays,
           sum(ms_played) as ms_played,
           min(ctx) filter (where is_first = 1) as ctx
      from numbered
     group by u, session_no
)
select us.user_id,
       g.session_start,
       g.session_end,
       g.plays,
       date_diff('millisecond', g.session_start, g.session_end) / 60000.0 as duration_minutes,
       g.ms_played / 60000.0 as listening_minutes,
       c.reason_start as start_reason,
       hour({local_ts(quarter_hour("g.session_start"))}) as first_local_hour
  from grouped g
  join engagement_users us using (u)
  join engagement_contexts c using (ctx)
  left join {COUNTRY_TIME_ZONES_SQL} on tz.conn_country = c.conn_country
""",
    columns={
        "user_id": "The listener.",
        "session_start": "Start (ts - ms_played) of the session's first play, UTC.",
        "session_end": "Latest end (ts) of the session's plays, UTC.",
        "plays": "Music plays in the session.",
        "duration_minutes": "session_end - session_start, in minutes.",
        "listening_minutes": "Sum of ms_played of the session's plays, in minutes.",
        "start_reason": "reason_start of the session's first play (null when unknown).",
        "first_local_hour": (
            "Local hour (0-23) of session_start, in the time zone of the first play's country."
        ),
    },
    reads=("core.streams",),
    lineage={
        "user_id": (("core.streams", "user_id"),),
        "session_start": (("core.streams", "ts"), ("core.streams", "ms_played")),
        "session_end": _TS,
        "plays": (("core.streams", "ts"), ("core.streams", "ms_played")),
        "duration_minutes": (("core.streams", "ts"), ("core.streams", "ms_played")),
        "listening_minutes": _HOURS,
        "start_reason": (("core.streams", "reason_start"),),
        "first_local_hour": (*_LOCAL, ("core.streams", "ms_played")),
    },
    plots=(
        PlotSpec(
            title="Sessions by local hour of their start",
            kind="bar",
            x="first_local_hour",
            y=("sessions",),
            query="""
select first_local_hour, count(*) as sessions
  from marts.sessions group by first_local_hour order by first_local_hour
""",
            x_label="local hour",
            y_label="sessions",
        ),
    ),
    key=("user_id", "session_start"),
    # A session starts more than 30 minutes after the previous play, which started no earlier
    # than the session before (ms_played >= 0 and user_id, ts not null in core.streams): each
    # user's session starts are strictly increasing, so the key is unique by construction.
    key_by_construction=True,
    scratch=_PLAYS_SCRATCH,
)

_BUCKET_VALUES = ", ".join(
    f"('{label}', {order}, {low}, {high})"
    for order, ((label, low), (_, high)) in enumerate(
        zip(SESSION_BUCKETS, (*SESSION_BUCKETS[1:], ("", "null")), strict=True)
    )
)

#: SQL: the number of ``duration_minutes``'s bucket (null below the first bucket's bound).
_BUCKET_OF = (
    "case "
    + " ".join(
        f"when s.duration_minutes >= {low} then {order}"
        for order, (_, low) in reversed(list(enumerate(SESSION_BUCKETS)))
    )
    + " end"
)

SESSION_SUMMARY = Mart(
    name="session_summary",
    description=(
        "One row per session length bucket (all seven, zeros included): how long sessions "
        "last and how many plays they hold."
    ),
    sql=f"""
with buckets as (
    select * from (values {_BUCKET_VALUES}) b(bucket, bucket_order, low, high)
),
bucketed as (
    -- an equality join on the bucket's number: a range join of millions of sessions with
    -- the buckets cost more than building them
    select b.bucket, s.plays
      from marts.sessions s
      join buckets b on b.bucket_order = {_BUCKET_OF}
)
select b.bucket,
       b.bucket_order,
       count(x.plays) as sessions,
       {share_of("count(x.plays)")} as share,
       avg(x.plays) as avg_plays_per_session,
       median(x.plays)::double as median_plays_per_session
  from buckets b
  left join bucketed x using (bucket)
 group by b.bucket, b.bucket_order
 order by b.bucket_order
""",
    columns={
        "bucket": "Session length (duration_minutes) range: '<5 min' ... '4 h+'.",
        "bucket_order": "0 for the shortest bucket up to 6 for the longest.",
        "sessions": "Sessions in the bucket.",
        "share": "sessions / all sessions; null when there are none.",
        "avg_plays_per_session": "Mean plays per session in the bucket; null when empty.",
        "median_plays_per_session": "Median plays per session in the bucket; null when empty.",
    },
    reads=("marts.sessions",),
    lineage={
        "bucket": (("marts.sessions", "duration_minutes"),),
        "sessions": (("marts.sessions", "duration_minutes"),),
        "share": (("marts.sessions", "duration_minutes"),),
        "avg_plays_per_session": (("marts.sessions", "plays"),),
        "median_plays_per_session": (("marts.sessions", "plays"),),
    },
    plots=(
        PlotSpec(
            title="Sessions by length",
            kind="bar",
            x="bucket",
            y=("sessions",),
            x_label="session length",
            y_label="sessions",
        ),
    ),
    key=("bucket",),
)

SESSION_STARTS = Mart(
    name="session_starts",
    description="One row per reason_start of sessions' first plays: how sessions begin.",
    sql=f"""
select coalesce(start_reason, 'unknown') as start_reason,
       count(*) as sessions,
       {share_of("count(*)")} as share
  from marts.sessions
 group by all
 order by sessions desc, start_reason
""",
    columns={
        "start_reason": "reason_start of the session's first play ('unknown' when null).",
        "sessions": "Sessions that began so.",
        "share": "sessions / all sessions.",
    },
    reads=("marts.sessions",),
    lineage={
        "start_reason": (("marts.sessions", "start_reason"),),
        "sessions": (("marts.sessions", "start_reason"),),
        "share": (("marts.sessions", "start_reason"),),
    },
    plots=(
        PlotSpec(
            title="How sessions start",
            kind="barh",
            x="start_reason",
            y=("sessions",),
            x_label="reason_start of the first play",
            y_label="sessions",
        ),
    ),
    key=("start_reason",),
)


# --------------------------------------------------------------------------------------------
# 6. skip_rates
# --------------------------------------------------------------------------------------------

_SKIP_MEASURES = """
           count(*) as plays,
           count(skipped) as flagged,
           count(*) filter (where skipped) as skips,
           count(*) filter (where reason_end = 'trackdone') as done"""

SKIP_RATES = Mart(
    name="skip_rates",
    description=(
        "One row per dimension value: skip and completion rates of music plays by artist "
        f"(artists with >= {MIN_ARTIST_PLAYS} plays), genre family, platform and local hour."
    ),
    sql=f"""
with track_family as ({TRACK_FAMILY_SQL}),
by_spelling as (
    select p.sp, {_SKIP_MEASURES}
      from engagement_plays p
      join engagement_contexts using (ctx)
     group by p.sp
),
spelled as (
    select s.artist_name, coalesce(f.genre_family, 'unknown') as genre_family, b.*
      from by_spelling b
      join engagement_spellings s using (sp)
      left join track_family f on f.track_id = s.track_id
),
by_context as (
    select ctx, count(*) as plays from engagement_plays group by ctx
),
by_platform as (
    select coalesce(c.platform, 'unknown') as value,
           sum(b.plays) as plays,
           coalesce(sum(b.plays) filter (where c.skipped is not null), 0) as flagged,
           coalesce(sum(b.plays) filter (where c.skipped), 0) as skips,
           coalesce(sum(b.plays) filter (where c.reason_end = 'trackdone'), 0) as done
      from by_context b
      join engagement_contexts c using (ctx)
     group by all
),
by_hour as (
    select lpad(cast(hour(local_ts) as varchar), 2, '0') as value,
           sum(plays) as plays, sum(flagged) as flagged, sum(skips) as skips,
           sum(done) as done
      from engagement_quarters
     group by all
),
all_dims as (
    select 1 as dim_order, 'artist' as dimension, artist_name as value,
           sum(plays) as plays, sum(flagged) as flagged, sum(skips) as skips, sum(done) as done
      from spelled
     where artist_name is not null
     group by artist_name
    having sum(plays) >= {MIN_ARTIST_PLAYS}
    union all
    select 2, 'genre_family', genre_family, sum(plays), sum(flagged), sum(skips), sum(done)
      from spelled group by genre_family
    union all
    select 3, 'platform', value, plays, flagged, skips, done from by_platform
    union all
    select 4, 'local_hour', value, plays, flagged, skips, done from by_hour
)
select dimension,
       value,
       plays::bigint as plays,
       flagged::bigint as plays_with_skip_flag,
       skips::bigint as skips,
       skips / nullif(flagged, 0) as skip_rate,
       done / plays as completion_rate
  from all_dims
 order by dim_order, value
""",
    columns={
        "dimension": "'artist', 'genre_family', 'platform' or 'local_hour'.",
        "value": (
            "The artist name, genre family ('unknown' when the track is not in the catalog), "
            "platform ('unknown' when null) or local hour ('00'-'23', of ts)."
        ),
        "plays": "Music plays.",
        "plays_with_skip_flag": "Plays whose skipped flag is not null.",
        "skips": "Plays with skipped = true.",
        "skip_rate": "skips / plays_with_skip_flag; null when no play has the flag.",
        "completion_rate": "Share of plays with reason_end = 'trackdone'.",
    },
    reads=("core.streams", *_GENRE_READS),
    lineage={
        "value": (
            ("core.streams", "artist_name"),
            ("core.streams", "platform"),
            *_LOCAL,
            *_GENRE_LINEAGE,
        ),
        "plays": _PLAYS,
        "plays_with_skip_flag": (("core.streams", "skipped"),),
        "skips": (("core.streams", "skipped"),),
        "skip_rate": (("core.streams", "skipped"),),
        "completion_rate": (("core.streams", "reason_end"),),
    },
    plots=(
        PlotSpec(
            title="Skip rate by genre family",
            kind="barh",
            x="value",
            y=("skip_rate",),
            query="""
select value, skip_rate from marts.skip_rates
 where dimension = 'genre_family' order by skip_rate desc nulls last, value
""",
            x_label="genre family",
            y_label="skip rate",
        ),
        PlotSpec(
            title="Skip and completion rates by local hour",
            kind="line",
            x="local_hour",
            y=("skip_rate", "completion_rate"),
            query="""
select cast(value as integer) as local_hour, skip_rate, completion_rate
  from marts.skip_rates where dimension = 'local_hour' order by local_hour
""",
            x_label="local hour",
            y_label="share of plays",
        ),
    ),
    key=("dimension", "value"),
    scratch=(*_PLAYS_SCRATCH, QUARTERS),
)


# --------------------------------------------------------------------------------------------
# 7. play_funnel
# --------------------------------------------------------------------------------------------

PLAY_FUNNEL = Mart(
    name="play_funnel",
    description="One row per (reason_start, reason_end) pair: how music plays start and end.",
    sql=f"""
with by_context as (
    select ctx, count(*) as plays from engagement_plays group by ctx
),
pairs as (
    select coalesce(reason_start, 'unknown') as reason_start,
           coalesce(reason_end, 'unknown') as reason_end,
           sum(plays)::bigint as plays
      from by_context
      join engagement_contexts using (ctx)
     group by all
)
select reason_start,
       reason_end,
       plays,
       {share_of("plays")} as share_of_plays,
       {share_of("plays", within="reason_start")} as share_of_start
  from pairs
 order by reason_start, reason_end
""",
    columns={
        "reason_start": "Why the play started ('unknown' when null).",
        "reason_end": "Why it ended ('unknown' when null).",
        "plays": "Music plays.",
        "share_of_plays": "plays / all music plays.",
        "share_of_start": "plays / music plays with this reason_start.",
    },
    reads=("core.streams",),
    lineage={
        "reason_start": (("core.streams", "reason_start"),),
        "reason_end": (("core.streams", "reason_end"),),
        "plays": _PLAYS,
        "share_of_plays": _PLAYS,
        "share_of_start": (*_PLAYS, ("core.streams", "reason_start")),
    },
    plots=(
        PlotSpec(
            title="How plays end, by how they started",
            kind="stacked_bar",
            x="reason_start",
            y=("plays",),
            series="reason_end",
            x_label="reason_start",
            y_label="plays",
        ),
    ),
    key=("reason_start", "reason_end"),
    scratch=_PLAYS_SCRATCH,
)


# --------------------------------------------------------------------------------------------
# 8. genre_share, 9. country_share
# --------------------------------------------------------------------------------------------

GENRE_SHARE = Mart(
    name="genre_share",
    description=(
        "One row per genre family: its share of music streams and listening hours (a track "
        "takes its primary artist's family; 'unknown' when the track is not in the catalog)."
    ),
    sql=f"""
with track_family as ({TRACK_FAMILY_SQL}),
by_spelling as (
    select sp, count(*) as plays, count(*) filter (where {IS_STREAM}) as streams,
           sum(ms_played) as ms_played
      from engagement_plays
     group by sp
),
by_family as (
    select coalesce(f.genre_family, 'unknown') as genre_family,
           sum(b.plays)::bigint as plays,
           sum(b.streams)::bigint as streams,
           sum(b.ms_played)::double / {_MS_PER_HOUR} as listening_hours
      from by_spelling b
      join engagement_spellings s using (sp)
      left join track_family f on f.track_id = s.track_id
     group by all
)
select genre_family, plays, streams, listening_hours,
       {share_of("streams")} as stream_share,
       {share_of("listening_hours")} as hours_share
  from by_family
 order by streams desc, genre_family
""",
    columns={
        "genre_family": "Genre family of the track's primary artist ('unknown': not in catalog).",
        "plays": "Music plays.",
        "streams": "Plays of at least 30 s.",
        "listening_hours": "Sum of ms_played, in hours.",
        "stream_share": "streams / all streams; null when there are none.",
        "hours_share": "listening_hours / all listening hours; null when zero.",
    },
    reads=("core.streams", *_GENRE_READS),
    lineage={
        "genre_family": _GENRE_LINEAGE,
        "plays": _PLAYS,
        "streams": _STREAMS,
        "listening_hours": _HOURS,
        "stream_share": _STREAMS,
        "hours_share": _HOURS,
    },
    plots=(
        PlotSpec(
            title="Share of streams by genre family",
            kind="barh",
            x="genre_family",
            y=("stream_share",),
            x_label="genre family",
            y_label="share of streams",
        ),
    ),
    key=("genre_family",),
    scratch=_PLAYS_SCRATCH,
)

COUNTRY_SHARE = Mart(
    name="country_share",
    description="One row per country played from: its share of music streams and hours.",
    sql=f"""
with by_country as (
    select coalesce(c.conn_country, 'unknown') as conn_country,
           count(*) as plays,
           count(*) filter (where p.{IS_STREAM}) as streams,
           sum(p.ms_played)::double / {_MS_PER_HOUR} as listening_hours,
           count(distinct p.u) filter (where p.{IS_STREAM}) as listeners
      from engagement_plays p
      join engagement_contexts c using (ctx)
     group by all
)
select conn_country, plays, streams, listening_hours, listeners,
       {share_of("streams")} as stream_share,
       {share_of("listening_hours")} as hours_share
  from by_country
 order by streams desc, conn_country
""",
    columns={
        "conn_country": "ISO 3166-1 alpha-2 country of the connection ('unknown' when null).",
        "plays": "Music plays.",
        "streams": "Plays of at least 30 s.",
        "listening_hours": "Sum of ms_played, in hours.",
        "listeners": "Distinct users with a stream from the country.",
        "stream_share": "streams / all streams; null when there are none.",
        "hours_share": "listening_hours / all listening hours; null when zero.",
    },
    reads=("core.streams",),
    lineage={
        "conn_country": (("core.streams", "conn_country"),),
        "plays": _PLAYS,
        "streams": _STREAMS,
        "listening_hours": _HOURS,
        "listeners": _USERS,
        "stream_share": _STREAMS,
        "hours_share": _HOURS,
    },
    plots=(
        PlotSpec(
            title="Streams by country",
            kind="barh",
            x="conn_country",
            y=("streams",),
            query="""
select conn_country, streams from marts.country_share order by streams desc, conn_country limit 20
""",
            x_label="country",
            y_label="streams",
        ),
    ),
    key=("conn_country",),
    scratch=_PLAYS_SCRATCH,
)


# --------------------------------------------------------------------------------------------
# 10. taste_monthly
# --------------------------------------------------------------------------------------------

#: Every month from the first to the last of marts.taste_monthly (column ``month``).
_ALL_TASTE_MONTHS = """
select unnest(generate_series(min(month), max(month), interval 1 month))::date as month
  from marts.taste_monthly
"""

TASTE_MONTHLY = Mart(
    name="taste_monthly",
    description=(
        "One row per user and month with a stream: how mainstream and how exploratory the "
        "user's streams were, and the listening age (median release year) of what was "
        "streamed (streams only, >= 30 s)."
    ),
    sql=f"""
with spelling_taste as (
    -- per spelling, not per play: the artist (an integer per lower(artist_name)), and the
    -- track's popularity and album's release year from the catalog
    select s.sp,
           case when s.artist_name is not null
                then dense_rank() over (order by lower(s.artist_name)) end as artist,
           t.popularity, a.release_year
      from engagement_spellings s
      left join core.tracks t on t.track_id = s.track_id
      left join core.albums a on a.album_id = t.album_id
),
streams as not materialized (
    -- read twice (first months, months): scanning the integer plays again costs less than
    -- storing millions of rows for the second read
    select p.u, cast(date_trunc('month', p.ts) as date) as month,
           t.artist, t.popularity, t.release_year
      from engagement_plays p
      join spelling_taste t using (sp)
     where p.{IS_STREAM}
),
first_month as (
    select u, artist, min(month) as month
      from streams
     where artist is not null
     group by u, artist
),
new_artists as (
    select u, month, count(*) as new_artists from first_month group by u, month
),
years as (
    -- the median from streams counted per listener, month and release year (a few dozen
    -- rows per listener and month instead of every stream): a holistic median over the
    -- streams themselves spilled at 30 million plays under the step's memory share
    select u, month, release_year, count(*) as n
      from streams
     where release_year is not null
     group by all
),
ranked as (
    select *, sum(n) over (partition by u, month order by release_year
                           rows between unbounded preceding and current row) as upto,
           sum(n) over (partition by u, month) as total
      from years
),
medians as (
    -- median() is quantile_cont(0.5): the value at position (total - 1) / 2 of the sorted
    -- streams, the mean of the two around it when that falls between two (lo + (hi - lo) / 2,
    -- as DuckDB interpolates); the value at position k is the first year whose running count
    -- passes k
    select u, month,
           min(release_year) filter (where upto > (total - 1) // 2) as lo,
           min(release_year) filter (where upto > total // 2) as hi
      from ranked
     group by u, month
),
per_month as (
    select u, month,
           count(*) as streams,
           avg(popularity) as mean_popularity,
           count(distinct artist) as distinct_artists,
           {popularity_shares("popularity")}
      from streams
     group by u, month
)
select us.user_id,
       p.month,
       p.streams,
       p.mean_popularity,
       p.distinct_artists,
       coalesce(n.new_artists, 0) as new_artists,
       coalesce(n.new_artists, 0) / nullif(p.distinct_artists, 0) as discovery_share,
       p.mainstream_share,
       p.niche_share,
       m.lo::double + (m.hi - m.lo)::double * 0.5 as listening_age
  from per_month p
  join engagement_users us using (u)
  left join new_artists n using (u, month)
  left join medians m using (u, month)
""",
    columns={
        "user_id": "The listener.",
        "month": "First day of the calendar month (UTC).",
        "streams": "The user's music streams (>= 30 s) in the month.",
        "mean_popularity": (
            "Mean core.tracks.popularity over the month's streams whose track has one; null "
            "if none."
        ),
        "distinct_artists": "Distinct artists (lower(artist_name)) streamed in the month.",
        "new_artists": "Of those, artists the user never streamed in an earlier month.",
        "discovery_share": (
            "new_artists / distinct_artists (1 in the user's first month); null without artists."
        ),
        "mainstream_share": (
            f"Share of the month's streams with known popularity that have popularity >= "
            f"{MAINSTREAM_MIN_POPULARITY}; null when none is known."
        ),
        "niche_share": (f"Same, popularity <= {NICHE_MAX_POPULARITY}; null when none is known."),
        "listening_age": (
            "Median release year (core.albums.release_year of the track's album) over the "
            "month's streams whose track has one, as in marts.listener_wrapped (the median of "
            "an even count is the mean of the middle two); null when none is known."
        ),
    },
    reads=("core.streams", "core.tracks", "core.albums"),
    lineage={
        "user_id": (("core.streams", "user_id"),),
        "month": _TS,
        "streams": _STREAMS,
        "mean_popularity": (("core.streams", "track_id"), ("core.tracks", "popularity")),
        "distinct_artists": (("core.streams", "artist_name"),),
        "new_artists": (("core.streams", "artist_name"), *_TS),
        "discovery_share": (("core.streams", "artist_name"), *_TS),
        "mainstream_share": (("core.streams", "track_id"), ("core.tracks", "popularity")),
        "niche_share": (("core.streams", "track_id"), ("core.tracks", "popularity")),
        "listening_age": (
            ("core.streams", "track_id"),
            ("core.tracks", "album_id"),
            ("core.albums", "release_year"),
        ),
    },
    plots=(
        PlotSpec(
            title="Taste: mainstream, niche and new-artist shares",
            kind="line",
            x="month",
            y=("mainstream_share", "niche_share", "discovery_share"),
            # A user's first month is all discovery by definition: left out of that average.
            # Every month from the first to the last (a month nobody streamed in is a gap in
            # the lines, never a month missing from the axis).
            query=f"""
with t as (
    select month, avg(mainstream_share) as mainstream_share, avg(niche_share) as niche_share,
           avg(discovery_share) filter (where not first_month) as discovery_share
      from (select *, month = min(month) over (partition by user_id) as first_month
              from marts.taste_monthly)
     group by month
)
select month, t.mainstream_share, t.niche_share, t.discovery_share
  from ({_ALL_TASTE_MONTHS}) left join t using (month)
 order by month
""",
            y_label="mean over users (discovery: not in their first month)",
        ),
        PlotSpec(
            title="Mean popularity of what users stream (mean over users)",
            kind="line",
            x="month",
            y=("mean_popularity",),
            query=f"""
with t as (
    select month, avg(mean_popularity) as mean_popularity from marts.taste_monthly group by month
)
select month, t.mean_popularity from ({_ALL_TASTE_MONTHS}) left join t using (month)
 order by month
""",
            y_label="popularity (0-100)",
        ),
    ),
    key=("user_id", "month"),
    scratch=_PLAYS_SCRATCH,
)


# --------------------------------------------------------------------------------------------
# 11. mood_monthly
# --------------------------------------------------------------------------------------------

#: The valence and energy (0-1) that split streams into the four moods of
#: :data:`MOOD_MONTHLY` (the two axes of Russell's circumplex of affect: pleasant-unpleasant,
#: activated-calm).
MOOD_SPLIT = 0.5
_MOODS = {
    "upbeat": f"valence >= {MOOD_SPLIT} and energy >= {MOOD_SPLIT}",
    "relaxed": f"valence >= {MOOD_SPLIT} and energy < {MOOD_SPLIT}",
    "tense": f"valence < {MOOD_SPLIT} and energy >= {MOOD_SPLIT}",
    "melancholic": f"valence < {MOOD_SPLIT} and energy < {MOOD_SPLIT}",
}
_AUDIO = (("core.streams", "track_id"), ("core.track_audio_features", "valence"),
          ("core.track_audio_features", "energy"))  # fmt: skip


def _weighted_by_month(*columns: str) -> str:
    """Each month's value over every listener's streams with features (a listener's monthly
    value weighted by their streams_with_features), for the plots."""
    weighted = ",\n       ".join(
        f"sum({c} * streams_with_features) / nullif(sum(streams_with_features), 0) as {c}"
        for c in columns
    )
    return (
        f"select month,\n       {weighted}\n  from marts.mood_monthly group by month order by month"
    )


MOOD_MONTHLY = Mart(
    name="mood_monthly",
    description=(
        "One row per user and month with a stream: what the user's streams sounded like, from "
        "the audio features catalog datasets carry (core.track_audio_features): mean valence, "
        "energy, danceability, acousticness and tempo, and the share of streams in each mood "
        "(valence x energy). Streams of tracks without features count in streams only."
    ),
    sql=f"""
with spelling_features as (
    select s.sp, f.valence, f.energy, f.danceability, f.acousticness, f.tempo
      from engagement_spellings s
      join core.track_audio_features f on f.track_id = s.track_id
),
streams as (
    select p.u, cast(date_trunc('month', p.ts) as date) as month,
           f.valence, f.energy, f.danceability, f.acousticness, f.tempo
      from engagement_plays p
      left join spelling_features f using (sp)
     where p.{IS_STREAM}
),
per_month as (
    select u, month,
           count(*) as streams,
           count(*) filter (where valence is not null and energy is not null) as with_mood,
           avg(valence) as mean_valence,
           avg(energy) as mean_energy,
           avg(danceability) as mean_danceability,
           avg(acousticness) as mean_acousticness,
           avg(tempo) as mean_tempo,
           {", ".join(f"count(*) filter (where {cond}) as n_{m}" for m, cond in _MOODS.items())}
      from streams
     group by u, month
)
select us.user_id, p.month, p.streams,
       p.with_mood as streams_with_features,
       p.with_mood / p.streams as feature_coverage,
       p.mean_valence, p.mean_energy, p.mean_danceability, p.mean_acousticness, p.mean_tempo,
       {", ".join(f"p.n_{m} / nullif(p.with_mood, 0) as {m}_share" for m in _MOODS)}
  from per_month p
  join engagement_users us using (u)
""",
    columns={
        "user_id": "The listener.",
        "month": "First day of the calendar month (UTC).",
        "streams": "The user's music streams (>= 30 s) in the month.",
        "streams_with_features": "Of those, streams of tracks with a valence and an energy.",
        "feature_coverage": "streams_with_features / streams.",
        "mean_valence": (
            "Mean valence (0-1: musical positiveness) over the month's streams whose track has "
            "one; null if none."
        ),
        "mean_energy": "Mean energy (0-1: intensity and activity), the same way.",
        "mean_danceability": "Mean danceability (0-1), the same way.",
        "mean_acousticness": "Mean acousticness (0-1), the same way.",
        "mean_tempo": "Mean tempo (beats per minute), the same way.",
        "upbeat_share": (
            f"Share of streams_with_features with valence >= {MOOD_SPLIT} and energy >= "
            f"{MOOD_SPLIT} (happy, energetic); null when none has features."
        ),
        "relaxed_share": f"Same, valence >= {MOOD_SPLIT}, energy < {MOOD_SPLIT} (calm, content).",
        "tense_share": f"Same, valence < {MOOD_SPLIT}, energy >= {MOOD_SPLIT} (angry, tense).",
        "melancholic_share": f"Same, valence < {MOOD_SPLIT}, energy < {MOOD_SPLIT} (sad, low).",
    },
    reads=("core.streams", "core.track_audio_features"),
    lineage={
        "user_id": (("core.streams", "user_id"),),
        "month": _TS,
        "streams": _STREAMS,
        "streams_with_features": (*_STREAMS, *_AUDIO),
        "feature_coverage": (*_STREAMS, *_AUDIO),
        "mean_valence": (("core.streams", "track_id"), ("core.track_audio_features", "valence")),
        "mean_energy": (("core.streams", "track_id"), ("core.track_audio_features", "energy")),
        "mean_danceability": (
            ("core.streams", "track_id"),
            ("core.track_audio_features", "danceability"),
        ),
        "mean_acousticness": (
            ("core.streams", "track_id"),
            ("core.track_audio_features", "acousticness"),
        ),
        "mean_tempo": (("core.streams", "track_id"), ("core.track_audio_features", "tempo")),
        **{f"{m}_share": _AUDIO for m in _MOODS},
    },
    plots=(
        PlotSpec(
            title="What listening sounded like: valence, energy and danceability by month",
            kind="line",
            x="month",
            y=("mean_valence", "mean_energy", "mean_danceability"),
            query=_weighted_by_month("mean_valence", "mean_energy", "mean_danceability"),
            y_label="mean over streams with features (0-1)",
        ),
        PlotSpec(
            title="Moods of the streams by month (valence x energy)",
            kind="stacked_bar",
            x="month",
            y=tuple(f"{m}_share" for m in _MOODS),
            query=_weighted_by_month(*(f"{m}_share" for m in _MOODS)),
            y_label="share of streams with features",
        ),
    ),
    key=("user_id", "month"),
    key_by_construction=True,
    scratch=_PLAYS_SCRATCH,
)


MARTS: tuple[Mart, ...] = (
    DAILY_ENGAGEMENT,
    MONTHLY_ENGAGEMENT,
    HOURLY_ENGAGEMENT,
    CONTENT_DAILY,
    SESSIONS,
    SESSION_SUMMARY,
    SESSION_STARTS,
    SKIP_RATES,
    PLAY_FUNNEL,
    GENRE_SHARE,
    COUNTRY_SHARE,
    TASTE_MONTHLY,
    MOOD_MONTHLY,
)
