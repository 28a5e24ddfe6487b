"""Chart marts (Dagster-free): what the public Spotify charts say, from ``core.chart_entries``.

``core.chart_entries`` holds one row per chart entry of every landed chart file (see
:mod:`spotify_assets.lib.spotify_charts.chart_files` for the formats and how region, chart and
period are read from the file name), built by
:func:`spotify_assets.lib.spotify_charts.chart_entries.build_chart_entries`. Rules that hold in
every mart:

- a **chart** is a region (``global`` or a lower-case country code, as the sites spell them)
  and a ``chart`` (``regional-daily``, ``regional-weekly``, ``viral-daily``,
  ``viral-weekly``); a **period** is its day or its Friday-to-Thursday week
  (``period_start``..``period_end``, both inclusive); ranks and streams never mix charts;
- **the same chart landed twice** (same region, chart, period and rank, e.g. a re-download
  ``... (1).csv`` or the same week from both sites) counts once: the row of the newest landed
  file wins;
- **periods on chart** count the periods of the data in which a track charted (days for daily
  charts, weeks for weekly ones); Spotify's own count, which also covers periods before the
  data, is ``reported_periods_on_chart``;
- **movement** compares a period with the chart's previous period (the one ending the day
  before it starts); when that chart has not landed, the movement is unknown (null), not
  "new";
- **streams** are the chart's own (chart-eligible streams); viral charts have none (null).
  Global streams include every country's, so regional and global streams are never added up;
- an entry's **artists** are its ``artist_names`` split at ``", "`` (each credited with the
  entry's full streams, as chart sites do); a name that itself contains ``", "`` (``Tyler, The
  Creator``) is split too: the chart files carry no artist ids.
"""

from __future__ import annotations

from spotify_assets.lib.marts.spec import Mart, PlotSpec

#: Rows in the top-N charts of the dashboard.
CHART_TOP_N = 10

_ENTRIES = "core.chart_entries"
_E = (("core.chart_entries", "region"), ("core.chart_entries", "chart"))
_PERIOD = (("core.chart_entries", "period_start"),)
_RANK = (("core.chart_entries", "rank"),)
_STREAMS = (("core.chart_entries", "streams"),)
_TRACK = (("core.chart_entries", "track_id"),)
_NAMES = (("core.chart_entries", "track_name"), ("core.chart_entries", "artist_names"))

#: The chart the dashboard shows: global if it landed, else the first region.
_SHOWN_REGION = (
    "(select coalesce(max(region) filter (where region = 'global'), min(region)) "
    "from core.chart_entries where chart = 'regional-daily')"
)


# --------------------------------------------------------------------------------------------
# 1. chart_tracks (+ the marts.top_chart_tracks macro)
# --------------------------------------------------------------------------------------------

_TOP_CHART_TRACKS_MACRO = f"""
create or replace macro marts.top_chart_tracks(region_name, chart_name, start_date, end_date,
                                               top_n) as table
with totals as (
    select track_id,
           first(track_name order by period_start desc) as track_name,
           first(artist_names order by period_start desc) as artist_names,
           sum(streams)::bigint as streams,
           count(distinct period_start) as periods_on_chart,
           min(rank) as best_rank
      from {_ENTRIES}
     where region = region_name and chart = chart_name
       and period_start >= cast(start_date as date) and period_end <= cast(end_date as date)
     group by track_id
),
ranked as (
    select row_number() over (order by streams desc nulls last, best_rank, track_id) as rank,
           *
      from totals
)
select * from ranked where rank <= top_n order by rank
"""

CHART_TRACKS = Mart(
    name="chart_tracks",
    description=(
        "One row per chart (region and chart) and charted track: debut, peak, periods on "
        "chart, total streams and latest rank. For the top N of any region and date range "
        "use the macro marts.top_chart_tracks(region, chart, start_date, end_date, top_n) "
        "(periods that lie within the range; ranked by streams, then best rank)."
    ),
    sql=f"""
select region,
       chart,
       track_id,
       first(track_name order by period_start desc) as track_name,
       first(artist_names order by period_start desc) as artist_names,
       min(period_start) as debut_period_start,
       first(rank order by period_start) as debut_rank,
       min(rank) as peak_rank,
       first(period_start order by rank, period_start) as peak_period_start,
       count(distinct period_start) as periods_on_chart,
       max(coalesce(days_on_chart, weeks_on_chart)) as reported_periods_on_chart,
       max(period_start) as last_period_start,
       first(rank order by period_start desc, rank) as last_rank,
       sum(streams)::bigint as total_streams
  from {_ENTRIES}
 group by region, chart, track_id
 order by region, chart, total_streams desc nulls last, peak_rank, track_id
""",
    columns={
        "region": "'global' or a lower-case two-letter country code.",
        "chart": "regional-daily, regional-weekly, viral-daily or viral-weekly.",
        "track_id": "Spotify track id.",
        "track_name": "The track's name in its latest chart entry.",
        "artist_names": "Its artists, as the latest chart entry lists them.",
        "debut_period_start": "First period (its start) in which the track charted.",
        "debut_rank": "Its rank in that first period.",
        "peak_rank": "Best (lowest) rank reached.",
        "peak_period_start": "First period in which it reached the peak rank.",
        "periods_on_chart": "Periods of the data it charted in: days (daily) or weeks (weekly).",
        "reported_periods_on_chart": (
            "Spotify's own days_on_chart/weeks_on_chart, the largest seen (counts periods "
            "before the data too); null for spotifycharts.com files."
        ),
        "last_period_start": "Latest period in which it charted.",
        "last_rank": "Its rank in that period.",
        "total_streams": "Chart streams over all its periods; null for viral charts.",
    },
    reads=(_ENTRIES,),
    key=("region", "chart", "track_id"),
    lineage={
        "track_name": _NAMES,
        "artist_names": _NAMES,
        "debut_period_start": _PERIOD,
        "debut_rank": (*_RANK, *_PERIOD),
        "peak_rank": _RANK,
        "peak_period_start": (*_RANK, *_PERIOD),
        "periods_on_chart": _PERIOD,
        "reported_periods_on_chart": (
            ("core.chart_entries", "days_on_chart"),
            ("core.chart_entries", "weeks_on_chart"),
        ),
        "last_period_start": _PERIOD,
        "last_rank": (*_RANK, *_PERIOD),
        "total_streams": _STREAMS,
    },
    plots=(
        PlotSpec(
            title=f"Top {CHART_TOP_N} songs by chart streams, last 30 days of daily charts",
            kind="barh",
            x="track",
            y=("streams",),
            query=f"""
select track_name || ' - ' || artist_names as track, streams
  from marts.top_chart_tracks({_SHOWN_REGION}, 'regional-daily',
                              (select max(period_start) - 29 from core.chart_entries),
                              (select max(period_end) from core.chart_entries), {CHART_TOP_N})
 order by rank
""",
            x_label="track",
            y_label="streams",
        ),
    ),
    after_sql=(_TOP_CHART_TRACKS_MACRO,),
    headline="""
select count(distinct track_id) as "charted tracks",
       count(distinct region) as "regions",
       max(last_period_start) as "latest chart"
  from marts.chart_tracks
""",
)


# --------------------------------------------------------------------------------------------
# 2. chart_movement
# --------------------------------------------------------------------------------------------

CHART_MOVEMENT = Mart(
    name="chart_movement",
    description=(
        "One row per chart entry with its movement against the chart's previous period "
        "(the one ending the day before): new, re-entry, up, down or same; null when the "
        "previous period's chart has not landed. As many rows as core.chart_entries, in no "
        "particular order (sort in the query)."
    ),
    # Not sorted: sorting its rows (as many as the chart entries: 5.1M for a year of 70 daily
    # charts) cost 1-2 of its 7-8 CPU s, for readers who sort anyway. A track of a chart is
    # joined by a 64-bit hash of (region, chart, track_id) rather than the three strings: 4.5
    # instead of 5.8 CPU s, the same rows (two of a year's 150,000 charted tracks sharing a
    # hash: a chance of about 1 in 10^9).
    sql=f"""
with periods as (
    select distinct region, chart, period_start, period_end from {_ENTRIES}
),
previous as (
    select p.region, p.chart, p.period_start, q.period_start as previous_period_start
      from periods p
      left join periods q
        on q.region = p.region and q.chart = p.chart
       and q.period_end = p.period_start - interval 1 day
),
keyed as (
    select *, hash(region, chart, track_id) as chart_track from {_ENTRIES}
),
by_track as (
    -- a track listed twice in one chart counts at its better rank
    select chart_track, period_start, min(rank) as rank, sum(streams) as streams
      from keyed
     group by all
),
debuts as (
    select chart_track, min(period_start) as debut_period_start
      from keyed
     group by all
)
select e.region,
       e.chart,
       e.period_start,
       e.period_end,
       e.rank,
       e.track_id,
       e.track_name,
       e.artist_names,
       e.streams,
       v.previous_period_start,
       b.rank as previous_rank,
       b.rank - e.rank as rank_change,
       e.streams - b.streams as streams_change,
       case when v.previous_period_start is null then null
            when b.rank is null and d.debut_period_start = e.period_start then 'new'
            when b.rank is null then 're-entry'
            when b.rank > e.rank then 'up'
            when b.rank < e.rank then 'down'
            else 'same' end as movement
  from keyed e
  join previous v using (region, chart, period_start)
  join debuts d using (chart_track)
  left join by_track b
    on b.chart_track = e.chart_track and b.period_start = v.previous_period_start
""",
    columns={
        "region": "'global' or a lower-case two-letter country code.",
        "chart": "regional-daily, regional-weekly, viral-daily or viral-weekly.",
        "period_start": "First day of the period.",
        "period_end": "Last day of the period.",
        "rank": "Rank in this period.",
        "track_id": "Spotify track id.",
        "track_name": "Track name as this chart lists it.",
        "artist_names": "Artists as this chart lists them.",
        "streams": "Chart streams in this period; null for viral charts.",
        "previous_period_start": (
            "Start of the previous period (ending the day before); null when it has not landed."
        ),
        "previous_rank": "Rank in the previous period; null when not on it.",
        "rank_change": "previous_rank - rank: positive moved up; null when not on both.",
        "streams_change": "streams - streams of the previous period; null when not on both.",
        "movement": (
            "'new' (first period on this chart in the data), 're-entry', 'up', 'down', "
            "'same'; null when the previous period's chart has not landed."
        ),
    },
    reads=(_ENTRIES,),
    key=("region", "chart", "period_start", "rank"),
    lineage={
        "previous_period_start": (*_E, *_PERIOD, ("core.chart_entries", "period_end")),
        "previous_rank": (*_RANK, *_PERIOD, *_TRACK),
        "rank_change": (*_RANK, *_PERIOD, *_TRACK),
        "streams_change": (*_STREAMS, *_PERIOD, *_TRACK),
        "movement": (*_RANK, *_PERIOD, *_TRACK),
    },
    plots=(
        PlotSpec(
            title="Chart entries by movement, daily charts of the shown region",
            kind="stacked_bar",
            x="period_start",
            y=("entries",),
            series="movement",
            query=f"""
select period_start, movement, count(*) as entries
  from marts.chart_movement
 where region = {_SHOWN_REGION} and chart = 'regional-daily' and movement is not null
 group by all
 order by period_start, movement
""",
            x_label="day",
            y_label="entries",
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# 3. chart_reach
# --------------------------------------------------------------------------------------------

#: Up to this many country codes, a track's countries in a period are collected as the bits of
#: one 128-bit integer (a bit per code present, in code order) and the distinct sets spelled out
#: once each: a year of 70 daily charts has 1.09M tracks and periods but 0.31M distinct sets.
#: A list of regions per group instead (the fallback, for more codes) is what outgrows the mart
#: step's memory there: 9-10 s against 5-7 s wall with DuckDB at 1000 MiB.
REACH_BITS = 128

# arg_min over (not global, rank, region): the global chart's name, else the best-ranked entry's,
# ties broken by region. Ordered aggregates (first(... order by), string_agg(distinct ... order
# by)) sort every group: 9 s against 7 s for a year of 70 daily charts.
_REACH_COLUMNS = """chart,
           period_start,
           period_end,
           track_id,
           arg_min(track_name, {g: region <> 'global', r: rank, c: region}) as track_name,
           arg_min(artist_names, {g: region <> 'global', r: rank, c: region}) as artist_names,
           min(rank) filter (where region <> 'global') as best_regional_rank,
           min(rank) filter (where region = 'global') as global_rank,
           sum(streams) filter (where region <> 'global')::bigint as regional_streams"""
_REACH_GROUP = "group by chart, period_start, period_end, track_id"
_REACH_OUT = """chart, period_start, period_end, track_id, track_name, artist_names,
       {regions} as regions, {region_list} as region_list,
       best_regional_rank, global_rank, regional_streams"""


CHART_REACH = Mart(
    name="chart_reach",
    description=(
        "One row per chart kind, period and track: in how many countries' charts it is "
        "(regional reach), its best rank among them and its global rank."
    ),
    sql=f"""
with codes as (
    select region, (row_number() over (order by region) - 1)::integer as bit
      from (select distinct region from {_ENTRIES} where region <> 'global')
),
few as (select count(*) <= {REACH_BITS} as yes from codes),
-- at most REACH_BITS codes: a bit per code
as_bits as (
    select {_REACH_COLUMNS},
           bit_or(1::uhugeint << bit::uhugeint) as bits
      from {_ENTRIES} left join codes using (region)
     where (select yes from few)
     {_REACH_GROUP}
),
code_names as (select list(region order by bit) as names from codes),
bit_sets as (
    select bits, list_filter(names, lambda code, i:
                   (bits >> (i - 1)::uhugeint) & 1::uhugeint = 1::uhugeint) as listed
      from (select distinct bits from as_bits), code_names
),
-- more codes: a list per group
as_lists as (
    select {_REACH_COLUMNS},
           list_sort(list_distinct(list(region) filter (where region <> 'global'))) as listed
      from {_ENTRIES}
     where not (select yes from few)
     {_REACH_GROUP}
)
select {
        _REACH_OUT.format(
            regions="coalesce(len(s.listed), 0)",
            region_list="nullif(array_to_string(s.listed, ','), '')",
        )
    }
  from as_bits left join bit_sets s on s.bits is not distinct from as_bits.bits
union all
select {
        _REACH_OUT.format(
            regions="coalesce(len(listed), 0)",
            region_list="nullif(array_to_string(listed, ','), '')",
        )
    }
  from as_lists
 order by chart, period_start, regions desc, track_id
""",
    columns={
        "chart": "regional-daily, regional-weekly, viral-daily or viral-weekly.",
        "period_start": "First day of the period.",
        "period_end": "Last day of the period.",
        "track_id": "Spotify track id.",
        "track_name": (
            "Track name (as the global chart lists it, else its best-ranked entry; of two at "
            "one rank, the first region code's)."
        ),
        "artist_names": "Artists, likewise.",
        "regions": "Country charts (not global) of the period that list the track.",
        "region_list": "Those countries' codes, comma-separated, sorted.",
        "best_regional_rank": "Its best rank on a country chart; null when on none.",
        "global_rank": "Its rank on the global chart; null when not on it (or not landed).",
        "regional_streams": "Streams over the country charts listing it; null for viral.",
    },
    reads=(_ENTRIES,),
    key=("chart", "period_start", "track_id"),
    lineage={
        "track_name": _NAMES,
        "artist_names": _NAMES,
        "regions": _E,
        "region_list": _E,
        "best_regional_rank": (*_E, *_RANK),
        "global_rank": (*_E, *_RANK),
        "regional_streams": (*_E, *_STREAMS),
    },
    plots=(
        PlotSpec(
            title=f"Top {CHART_TOP_N} songs by regional reach, latest daily chart",
            kind="barh",
            x="track",
            y=("regions",),
            query=f"""
select track_name || ' - ' || artist_names as track, regions
  from marts.chart_reach
 where chart = 'regional-daily'
   and period_start = (select max(period_start) from marts.chart_reach
                        where chart = 'regional-daily')
 order by regions desc, best_regional_rank, track_id
 limit {CHART_TOP_N}
""",
            x_label="track",
            y_label="country charts listing it",
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# 4. chart_artists
# --------------------------------------------------------------------------------------------

CHART_ARTISTS = Mart(
    name="chart_artists",
    description=(
        "One row per chart (region and chart) and artist: total chart streams of the entries "
        "crediting the artist, entries, tracks, best rank, and the artist's rank by streams."
    ),
    # Each distinct artist_names is split once (a few thousand strings, not one per entry):
    # 2.4 instead of 4.2 CPU s for a year of 70 daily charts.
    sql=f"""
with artists as (
    select artist_names, trim(unnest(string_split(artist_names, ', '))) as artist_name
      from (select distinct artist_names from {_ENTRIES} where artist_names is not null)
),
credits as (
    select e.region, e.chart, e.period_start, e.rank, e.track_id, e.streams, a.artist_name
      from {_ENTRIES} e
      join artists a using (artist_names)
     where a.artist_name <> ''
),
totals as (
    select region, chart, artist_name,
           sum(streams)::bigint as chart_streams,
           count(*) as entries,
           count(distinct track_id) as tracks,
           count(distinct period_start) as periods_charted,
           min(rank) as best_rank
      from credits
     group by all
)
select region, chart,
       row_number() over (partition by region, chart
                          order by chart_streams desc nulls last, entries desc, best_rank,
                                   artist_name) as artist_rank,
       artist_name, chart_streams, entries, tracks, periods_charted, best_rank
  from totals
 order by region, chart, artist_rank
""",
    columns={
        "region": "'global' or a lower-case two-letter country code.",
        "chart": "regional-daily, regional-weekly, viral-daily or viral-weekly.",
        "artist_rank": "1 for the artist with the most chart streams (then entries) here.",
        "artist_name": "One artist of artist_names (split at ', ').",
        "chart_streams": "Streams of every entry crediting the artist; null for viral charts.",
        "entries": "Chart entries crediting the artist.",
        "tracks": "Distinct tracks among them.",
        "periods_charted": "Periods with at least one such entry.",
        "best_rank": "Best rank of those entries.",
    },
    reads=(_ENTRIES,),
    key=("region", "chart", "artist_name"),
    lineage={
        "artist_rank": (*_STREAMS, ("core.chart_entries", "artist_names")),
        "artist_name": (("core.chart_entries", "artist_names"),),
        "chart_streams": _STREAMS,
        "entries": (("core.chart_entries", "artist_names"),),
        "tracks": _TRACK,
        "periods_charted": _PERIOD,
        "best_rank": _RANK,
    },
    plots=(
        PlotSpec(
            title=f"Top {CHART_TOP_N} artists by chart streams, daily charts",
            kind="barh",
            x="artist_name",
            y=("chart_streams",),
            query=f"""
select artist_name, chart_streams
  from marts.chart_artists
 where region = {_SHOWN_REGION} and chart = 'regional-daily'
 order by artist_rank
 limit {CHART_TOP_N}
""",
            x_label="artist",
            y_label="chart streams",
        ),
    ),
)


MARTS: tuple[Mart, ...] = (CHART_TRACKS, CHART_MOVEMENT, CHART_REACH, CHART_ARTISTS)
