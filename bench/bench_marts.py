"""Engagement marts on the bench world (10 million plays): the platform's Dagster step against
the same KPIs as plain DuckDB SQL, with peak memory, and whether the two agree.

    .venv/bin/python bench/bench_marts.py --warehouse /tmp/bench_wh/warehouse.duckdb [--repeat 2]

The requirement: computing every engagement mart from ``core.streams`` takes at most 1.5 times
what the same KPIs take as plain DuckDB SQL over the same data in one process.

- platform: ``dg.materialize`` of the ``engagement_marts`` multi-asset (every mart of
  ``spotify_assets.lib.marts.engagement_marts.MARTS``) on an ephemeral instance, with the warehouse
  as a ``DuckDBResource`` (``memory_limit`` 2GB). Timed: the whole ``materialize`` call
  (metadata, headlines and charts included); also the sum of the marts' own ``seconds``
  metadata (their SQL only).
- plain: the same KPIs written here as straightforward, independent ``CREATE TABLE ... AS``
  statements from the KPI definitions (docs/ARCHITECTURE.md, section 7), on one connection (same
  ``memory_limit``, ``TimeZone`` UTC); none of the marts' SQL is imported. Timed: connect to
  close. Local time converts every play with ``timezone()``, as a script would.

Each side runs in its own process (so each peak RSS, ``ru_maxrss``, is its own; DuckDB's memory
is in-process) on its own copy of the warehouse (the original is never opened for writing).
The sides alternate which goes first on each repeat, so both see the same machine load; the
ratio is best against best. Then the contract marts of the last run of each side are compared
(daily totals and active users per day, monthly active and churned users, streams per local
weekday and hour, the number of sessions); a disagreement prints the first differing rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEMORY_LIMIT = "2GB"


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------------------
# plain: the KPIs as a data engineer would script them
# ------------------------------------------------------------------------------------------


def plain_statements() -> dict[str, str]:
    """Name -> ``CREATE TABLE`` statement, in order (helpers first). Written from the KPI
    definitions only: music plays, streams >= 30 s, hours from all music plays, active = a
    stream, local time in the country's zone, sessions broken by gaps over 30 minutes."""
    from spotify_assets.lib.catalog.genres import GENRE_FAMILIES
    from spotify_assets.lib.timezones import COUNTRY_TIMEZONES

    zones = ", ".join(f"('{c}', '{z}')" for c, z in COUNTRY_TIMEZONES.items())
    families = ", ".join(f"('{f}', {i})" for i, f in enumerate(GENRE_FAMILIES))
    local = "timezone(coalesce(z.time_zone, 'UTC'), s.ts::timestamptz)"
    return {
        "country_zone": f"""
create table plain.country_zone as
select * from (values {zones}) v(conn_country, time_zone)""",
        # An artist's family: the family most of its genres map to (ties: GENRE_FAMILIES
        # order), 'other' without genres; a track takes its primary artist's, 'unknown' when
        # the track (or its artist) is not in the catalog.
        "track_family": f"""
create table plain.track_family as
with counted as (
    select g.artist_id, g.genre_family, count(*) as n, min(o.ord) as ord
      from core.artist_genres g
      join (values {families}) o(genre_family, ord) on o.genre_family = g.genre_family
     group by g.artist_id, g.genre_family
),
artist_family as (
    select artist_id, arg_min(genre_family, (-n, ord)) as genre_family
      from counted group by artist_id
)
select t.track_id,
       case when a.artist_id is null then 'unknown'
            else coalesce(af.genre_family, 'other') end as genre_family
  from core.tracks t
  left join core.artists a on a.artist_id = t.primary_artist_id
  left join artist_family af on af.artist_id = t.primary_artist_id""",
        "daily_engagement": """
create table plain.daily_engagement as
with per_day as (
    select cast(ts as date) as date,
           count(*) as plays,
           count(*) filter (where ms_played >= 30000) as streams,
           sum(ms_played) / 3.6e6 as listening_hours,
           count(distinct user_id) filter (where ms_played >= 30000) as active_users
      from core.streams
     where content_type = 'music'
     group by 1
),
calendar as (
    select cast(unnest(generate_series(min(date)::timestamp, max(date)::timestamp,
                                       interval 1 day)) as date) as date
      from per_day
)
select c.date,
       coalesce(p.plays, 0) as plays,
       coalesce(p.streams, 0) as streams,
       coalesce(p.listening_hours, 0) as listening_hours,
       coalesce(p.active_users, 0) as active_users,
       p.listening_hours / nullif(p.active_users, 0) as listening_hours_per_active_user
  from calendar c
  left join per_day p using (date)
 order by c.date""",
        "monthly_engagement": """
create table plain.monthly_engagement as
with music as (
    select user_id, cast(date_trunc('month', ts) as date) as month, ms_played
      from core.streams
     where content_type = 'music'
),
per_month as (
    select month,
           count(*) as plays,
           count(*) filter (where ms_played >= 30000) as streams,
           sum(ms_played) / 3.6e6 as listening_hours,
           count(distinct user_id) filter (where ms_played >= 30000) as active_users
      from music
     group by month
),
calendar as (
    select cast(unnest(generate_series(min(month)::timestamp, max(month)::timestamp,
                                       interval 1 month)) as date) as month
      from per_month
),
active as (select distinct month, user_id from music where ms_played >= 30000),
churned as (
    select a.month, count(*) as churned_users
      from active a
     where not exists (select 1 from active b
                        where b.user_id = a.user_id and b.month = a.month + interval 1 month)
     group by a.month
),
filled as (
    select c.month,
           coalesce(p.active_users, 0) as active_users,
           case when c.month < (select max(month) from calendar)
                then coalesce(ch.churned_users, 0) end as churned_users,
           coalesce(p.plays, 0) as plays,
           coalesce(p.streams, 0) as streams,
           coalesce(p.listening_hours, 0) as listening_hours
      from calendar c
      left join per_month p using (month)
      left join churned ch using (month)
)
select *,
       churned_users / nullif(active_users, 0) as churn_rate,
       listening_hours / nullif(active_users, 0) as listening_hours_per_active_user,
       streams / nullif(lag(streams, 12) over (order by month), 0) - 1 as streams_yoy_growth,
       listening_hours / nullif(lag(listening_hours, 12) over (order by month), 0) - 1
           as listening_hours_yoy_growth
  from filled
 order by month""",
        "hourly_engagement": f"""
create table plain.hourly_engagement as
with local as (
    select {local} as local_ts, s.ms_played
      from core.streams s
      left join plain.country_zone z on z.conn_country = s.conn_country
     where s.content_type = 'music'
),
cells as (
    select isodow(local_ts) - 1 as weekday, hour(local_ts) as local_hour,
           count(*) filter (where ms_played >= 30000) as streams,
           sum(ms_played) / 3.6e6 as listening_hours
      from local
     group by all
)
select w.weekday, h.local_hour,
       coalesce(c.streams, 0) as streams,
       coalesce(c.listening_hours, 0) as listening_hours,
       coalesce(c.streams, 0) / nullif(sum(coalesce(c.streams, 0)) over (), 0)
           as share_of_streams
  from range(7) w(weekday)
 cross join range(24) h(local_hour)
  left join cells c on c.weekday = w.weekday and c.local_hour = h.local_hour
 order by w.weekday, h.local_hour""",
        "content_daily": """
create table plain.content_daily as
with music as (
    select cast(ts as date) as date, user_id, track_id, track_name, artist_name, album_name,
           ms_played
      from core.streams
     where content_type = 'music'
),
items as (
    select date, 'track' as kind, track_id as content_id, track_name as content_name,
           artist_name, user_id, ms_played
      from music where track_id is not null
    union all
    select date, 'artist', lower(artist_name), artist_name, artist_name, user_id, ms_played
      from music where artist_name is not null
    union all
    select date, 'album', lower(artist_name) || ' - ' || lower(album_name), album_name,
           artist_name, user_id, ms_played
      from music where artist_name is not null and album_name is not null
),
daily as (
    select date, kind, content_id,
           count(*) as plays,
           count(*) filter (where ms_played >= 30000) as streams,
           sum(ms_played) / 3.6e6 as listening_hours,
           count(distinct user_id) filter (where ms_played >= 30000) as listeners
      from items
     group by date, kind, content_id
),
names as (
    select kind, content_id, content_name, artist_name
      from (select kind, content_id, content_name, artist_name, count(*) as plays
              from items group by all)
   qualify row_number() over (partition by kind, content_id
                              order by plays desc, content_name, artist_name) = 1
)
select d.date, d.kind, d.content_id, n.content_name, n.artist_name,
       d.plays, d.streams, d.listening_hours, d.listeners
  from daily d
  join names n using (kind, content_id)
 order by d.date, d.kind, d.content_id""",
        "sessions": """
create table plain.sessions as
with plays as (
    select user_id, ts - to_milliseconds(ms_played) as start_ts, ts, ms_played,
           reason_start, conn_country
      from core.streams
     where content_type = 'music'
),
marked as (
    select *,
           case when start_ts - lag(ts) over (partition by user_id order by start_ts, ts)
                     <= interval 30 minute
                then 0 else 1 end as new_session
      from plays
),
numbered as (
    select *,
           sum(new_session) over (partition by user_id order by start_ts, ts
                                  rows unbounded preceding) as session_no
      from marked
),
grouped as (
    select user_id, session_no,
           min(start_ts) as session_start,
           max(ts) as session_end,
           count(*) as plays,
           sum(ms_played) as ms_played,
           arg_min(reason_start, start_ts) as start_reason,
           arg_min(conn_country, start_ts) as conn_country
      from numbered
     group by user_id, session_no
)
select s.user_id, s.session_start, s.session_end, s.plays,
       epoch_ms(s.session_end) - epoch_ms(s.session_start) as duration_ms,
       (epoch_ms(s.session_end) - epoch_ms(s.session_start)) / 60000.0 as duration_minutes,
       s.ms_played / 60000.0 as listening_minutes,
       s.start_reason,
       hour(timezone(coalesce(z.time_zone, 'UTC'), s.session_start::timestamptz))
           as first_local_hour
  from grouped s
  left join plain.country_zone z on z.conn_country = s.conn_country
 order by s.user_id, s.session_start""",
        "session_summary": """
create table plain.session_summary as
with labels as (
    select * from (values ('<5 min', 0), ('5-15 min', 1), ('15-30 min', 2),
                          ('30-60 min', 3), ('1-2 h', 4), ('2-4 h', 5), ('4 h+', 6))
                  v(bucket, bucket_order)
),
bucketed as (
    select case when duration_minutes < 5 then '<5 min'
                when duration_minutes < 15 then '5-15 min'
                when duration_minutes < 30 then '15-30 min'
                when duration_minutes < 60 then '30-60 min'
                when duration_minutes < 120 then '1-2 h'
                when duration_minutes < 240 then '2-4 h'
                else '4 h+' end as bucket,
           plays
      from plain.sessions
)
select l.bucket, l.bucket_order,
       count(b.plays) as sessions,
       count(b.plays) / sum(count(b.plays)) over () as share,
       avg(b.plays) as avg_plays_per_session,
       median(b.plays) as median_plays_per_session
  from labels l
  left join bucketed b using (bucket)
 group by l.bucket, l.bucket_order
 order by l.bucket_order""",
        "session_starts": """
create table plain.session_starts as
select coalesce(start_reason, 'unknown') as start_reason,
       count(*) as sessions,
       count(*) / sum(count(*)) over () as share
  from plain.sessions
 group by 1
 order by sessions desc, start_reason""",
        "skip_rates": f"""
create table plain.skip_rates as
with music as (
    select s.artist_name, coalesce(s.platform, 'unknown') as platform, s.skipped,
           s.reason_end, coalesce(f.genre_family, 'unknown') as genre_family,
           lpad(hour({local})::varchar, 2, '0') as local_hour
      from core.streams s
      left join plain.track_family f on f.track_id = s.track_id
      left join plain.country_zone z on z.conn_country = s.conn_country
     where s.content_type = 'music'
),
measures as (
    select 'artist' as dimension, artist_name as value, count(*) as plays,
           count(skipped) as flagged, count(*) filter (where skipped) as skips,
           count(*) filter (where reason_end = 'trackdone') as done
      from music where artist_name is not null
     group by artist_name having count(*) >= 20
    union all
    select 'genre_family', genre_family, count(*), count(skipped),
           count(*) filter (where skipped), count(*) filter (where reason_end = 'trackdone')
      from music group by genre_family
    union all
    select 'platform', platform, count(*), count(skipped),
           count(*) filter (where skipped), count(*) filter (where reason_end = 'trackdone')
      from music group by platform
    union all
    select 'local_hour', local_hour, count(*), count(skipped),
           count(*) filter (where skipped), count(*) filter (where reason_end = 'trackdone')
      from music group by local_hour
)
select dimension, value, plays, flagged as plays_with_skip_flag, skips,
       skips / nullif(flagged, 0) as skip_rate,
       done / plays as completion_rate
  from measures
 order by dimension, value""",
        "play_funnel": """
create table plain.play_funnel as
select coalesce(reason_start, 'unknown') as reason_start,
       coalesce(reason_end, 'unknown') as reason_end,
       count(*) as plays,
       count(*) / sum(count(*)) over () as share_of_plays,
       count(*) / sum(count(*)) over (partition by coalesce(reason_start, 'unknown'))
           as share_of_start
  from core.streams
 where content_type = 'music'
 group by 1, 2
 order by 1, 2""",
        "genre_share": """
create table plain.genre_share as
with per_family as (
    select coalesce(f.genre_family, 'unknown') as genre_family,
           count(*) as plays,
           count(*) filter (where s.ms_played >= 30000) as streams,
           sum(s.ms_played) / 3.6e6 as listening_hours
      from core.streams s
      left join plain.track_family f on f.track_id = s.track_id
     where s.content_type = 'music'
     group by 1
)
select *,
       streams / nullif(sum(streams) over (), 0) as stream_share,
       listening_hours / nullif(sum(listening_hours) over (), 0) as hours_share
  from per_family
 order by streams desc, genre_family""",
        "country_share": """
create table plain.country_share as
with per_country as (
    select coalesce(conn_country, 'unknown') as conn_country,
           count(*) as plays,
           count(*) filter (where ms_played >= 30000) as streams,
           sum(ms_played) / 3.6e6 as listening_hours,
           count(distinct user_id) filter (where ms_played >= 30000) as listeners
      from core.streams
     where content_type = 'music'
     group by 1
)
select *,
       streams / nullif(sum(streams) over (), 0) as stream_share,
       listening_hours / nullif(sum(listening_hours) over (), 0) as hours_share
  from per_country
 order by streams desc, conn_country""",
        "taste_monthly": """
create table plain.taste_monthly as
with streams as (
    select s.user_id, cast(date_trunc('month', s.ts) as date) as month,
           lower(s.artist_name) as artist, t.popularity
      from core.streams s
      left join core.tracks t on t.track_id = s.track_id
     where s.content_type = 'music' and s.ms_played >= 30000
),
first_heard as (
    select user_id, artist, min(month) as month
      from streams where artist is not null
     group by user_id, artist
),
new_artists as (
    select user_id, month, count(*) as new_artists from first_heard group by user_id, month
),
per_month as (
    select user_id, month,
           count(*) as streams,
           avg(popularity) as mean_popularity,
           count(distinct artist) as distinct_artists,
           count(*) filter (where popularity >= 70) / nullif(count(popularity), 0)
               as mainstream_share,
           count(*) filter (where popularity <= 30) / nullif(count(popularity), 0)
               as niche_share
      from streams
     group by user_id, month
)
select p.user_id, p.month, p.streams, p.mean_popularity, p.distinct_artists,
       coalesce(n.new_artists, 0) as new_artists,
       coalesce(n.new_artists, 0) / nullif(p.distinct_artists, 0) as discovery_share,
       p.mainstream_share, p.niche_share
  from per_month p
  left join new_artists n using (user_id, month)
 order by p.user_id, p.month""",
    }


def run_plain(db: Path) -> dict:
    import duckdb

    statements = plain_statements()
    seconds: dict[str, float] = {}
    t0, c0 = time.perf_counter(), cpu_seconds()
    conn = duckdb.connect(str(db), config={"memory_limit": MEMORY_LIMIT})
    conn.execute("set TimeZone = 'UTC'")
    conn.execute("create schema plain")
    for name, sql in statements.items():
        t = time.perf_counter()
        conn.execute(sql)
        seconds[name] = time.perf_counter() - t
    conn.close()
    return {
        "wall": time.perf_counter() - t0,
        "cpu": cpu_seconds() - c0,
        "seconds": seconds,
    }


# ------------------------------------------------------------------------------------------
# platform: the engagement_marts asset through Dagster
# ------------------------------------------------------------------------------------------


def run_platform(db: Path) -> dict:
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from spotify_assets.defs.marts.assets import ENGAGEMENT_MART_KEYS, engagement_marts
    from spotify_assets.lib.marts.engagement_marts import MARTS

    # Which version of the marts' SQL ran (engagement.py may change between runs).
    version = hashlib.sha1("".join(m.sql for m in MARTS).encode()).hexdigest()[:10]

    warehouse = DuckDBResource(database=str(db), connection_config={"memory_limit": MEMORY_LIMIT})
    instance = dg.DagsterInstance.ephemeral()
    t0, c0 = time.perf_counter(), cpu_seconds()
    result = dg.materialize(
        [engagement_marts],
        resources={"warehouse": warehouse},
        instance=instance,
        selection=ENGAGEMENT_MART_KEYS,
    )
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    if not result.success:
        raise SystemExit("materialize failed")
    seconds = {
        m.asset_key.path[-1]: float(m.metadata["seconds"].value)
        for m in result.asset_materializations_for_node("engagement_marts")
    }
    return {
        "wall": wall,
        "cpu": cpu,
        "seconds": seconds,
        "sql": sum(seconds.values()),
        "version": version,
    }


# ------------------------------------------------------------------------------------------
# the parent: copies, alternation, figures, agreement
# ------------------------------------------------------------------------------------------


def run_side(side: str, warehouse: Path, tmp: Path, run: int) -> dict:
    """Copy the warehouse and run one side on the copy in a fresh process."""
    folder = tmp / f"{side}-{run}"
    folder.mkdir()
    db = folder / "warehouse.duckdb"
    shutil.copyfile(warehouse, db)
    out, log = folder / "result.json", folder / "side.log"
    cmd = [sys.executable, __file__, "--side", side, "--db", str(db), "--result", str(out)]
    with log.open("w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False)
    if proc.returncode or not out.exists():
        sys.stderr.write(log.read_text()[-5000:])
        sys.exit(f"{side} failed (exit code {proc.returncode}); log: {log}")
    return {**json.loads(out.read_text()), "db": str(db)}


# (name, SQL over p = platform marts, q = plain marts) -> rows that differ (none: agree).
COMPARISONS: tuple[tuple[str, str], ...] = (
    (
        "daily_engagement: plays, streams, listening_hours, active_users per day",
        """
select date, p.plays, q.plays, p.streams, q.streams, round(p.listening_hours, 6),
       round(q.listening_hours, 6), p.active_users, q.active_users
  from p.marts.daily_engagement p
  full join q.plain.daily_engagement q using (date)
 where p.plays is distinct from q.plays or p.streams is distinct from q.streams
    or p.active_users is distinct from q.active_users
    or abs(p.listening_hours - q.listening_hours) > 1e-6
    or (p.listening_hours is null) <> (q.listening_hours is null)
 order by date""",
    ),
    (
        "monthly_engagement: active and churned users per month",
        """
select month, p.active_users, q.active_users, p.churned_users, q.churned_users
  from p.marts.monthly_engagement p
  full join q.plain.monthly_engagement q using (month)
 where p.active_users is distinct from q.active_users
    or p.churned_users is distinct from q.churned_users
 order by month""",
    ),
    (
        "hourly_engagement: streams per local weekday and hour",
        """
select weekday, local_hour, p.streams, q.streams
  from p.marts.hourly_engagement p
  full join q.plain.hourly_engagement q using (weekday, local_hour)
 where p.streams is distinct from q.streams
 order by weekday, local_hour""",
    ),
    (
        "sessions: number of sessions (and plays in them)",
        """
select p.n, q.n, p.plays, q.plays
  from (select count(*) as n, sum(plays) as plays from p.marts.sessions) p,
       (select count(*) as n, sum(plays) as plays from q.plain.sessions) q
 where p.n <> q.n or p.plays <> q.plays""",
    ),
)

TOTALS = """
select 'daily_engagement' as mart, sum(plays), sum(streams), round(sum(listening_hours), 3),
       sum(active_users) from {s}.daily_engagement
union all
select 'monthly_engagement', sum(active_users), sum(churned_users), null, null
  from {s}.monthly_engagement
union all
select 'hourly_engagement', sum(streams), null, round(sum(listening_hours), 3), null
  from {s}.hourly_engagement
union all
select 'sessions', count(*), sum(plays), null, null from {s}.sessions"""


def compare(platform_db: str, plain_db: str) -> bool:
    import duckdb

    conn = duckdb.connect()
    conn.execute(f"attach '{platform_db}' as p (read_only)")
    conn.execute(f"attach '{plain_db}' as q (read_only)")
    print("\nagreement (last run of each side):")
    agree = True
    for label, sql in COMPARISONS:
        rows = conn.execute(sql).fetchall()
        agree = agree and not rows
        print(f"  {'agree   ' if not rows else 'DISAGREE'} {label}", end="")
        print("" if not rows else f": {len(rows)} rows differ (platform, plain):")
        for row in rows[:8]:
            print(f"      {row}")
    print("  totals (platform / plain):")
    p = conn.execute(TOTALS.format(s="p.marts")).fetchall()
    q = conn.execute(TOTALS.format(s="q.plain")).fetchall()
    for a, b in zip(p, q, strict=True):
        print(f"    {a[0]:<20} {a[1:]} / {b[1:]}")
    conn.close()
    return agree


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warehouse", type=Path, default=Path("/tmp/bench_wh/warehouse.duckdb"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the copies (to investigate)")
    parser.add_argument("--side", choices=["platform", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:  # a child: one side on its copy, figures to --result
        result = (run_platform if args.side == "platform" else run_plain)(args.db)
        result["peak_rss_mb"] = peak_rss_mb()
        args.result.write_text(json.dumps(result))
        return 0

    if not args.warehouse.exists():
        sys.exit(f"no warehouse at {args.warehouse}: see bench/bench_warehouse.py")
    tmp = Path(tempfile.mkdtemp(prefix="bench-marts-"))
    runs: dict[str, list[dict]] = {"platform": [], "plain": []}
    try:
        for r in range(args.repeat):
            order = ["platform", "plain"] if r % 2 == 0 else ["plain", "platform"]
            for side in order:
                out = run_side(side, args.warehouse, tmp, r)
                print(
                    f"run {r + 1} {side:<8} {out['wall']:7.1f} s wall, {out['cpu']:7.1f} s CPU, "
                    f"peak RSS {out['peak_rss_mb']:,.0f} MB"
                    + (f", marts SQL {out['version']}" if "version" in out else ""),
                    flush=True,
                )
                previous = runs[side][-1]["db"] if runs[side] else None
                runs[side].append(out)
                if previous and not args.keep:
                    shutil.rmtree(Path(previous).parent)
        report(runs)
        agree = compare(runs["platform"][-1]["db"], runs["plain"][-1]["db"])
    finally:
        if args.keep:
            print(f"\ncopies kept under {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if agree else 1


def report(runs: dict[str, list[dict]]) -> None:
    print(f"\n{'side':<22} {'wall s (each run)':<24} {'best s':>8} {'CPU s':>8} {'peak MB':>8}")
    best, best_cpu = {}, {}
    for side, label in (("platform", "platform (materialize)"), ("plain", "plain SQL")):
        walls = [r["wall"] for r in runs[side]]
        best[side] = min(walls)
        cpu = best_cpu[side] = min(r["cpu"] for r in runs[side])
        peak = max(r["peak_rss_mb"] for r in runs[side])
        each = ", ".join(f"{w:.1f}" for w in walls)
        print(f"{label:<22} {each:<24} {best[side]:8.1f} {cpu:8.1f} {peak:8,.0f}")
    if len({r["version"] for r in runs["platform"]}) > 1:
        print("WARNING: engagement.py changed between platform runs (see marts SQL above)")
    sql = min(r["sql"] for r in runs["platform"])
    print(f"{'platform (marts SQL)':<22} {'':<24} {sql:8.1f}")
    ratio = best["platform"] / best["plain"]
    cpu_ratio = best_cpu["platform"] / best_cpu["plain"]
    print(
        f"\nratio platform / plain (best vs best): {ratio:.2f} "
        f"({'within' if ratio <= 1.5 else 'OVER'} the 1.5 limit)\n"
        f"  marts SQL alone / plain: {sql / best['plain']:.2f}; "
        f"CPU seconds, platform / plain (steadier on a shared machine): {cpu_ratio:.2f}"
    )
    print("\nseconds per mart (best run of each side; plain helpers: country_zone, track_family):")
    p = min(runs["platform"], key=lambda r: r["wall"])["seconds"]
    q = min(runs["plain"], key=lambda r: r["wall"])["seconds"]
    for name in sorted(set(p) | set(q), key=lambda n: -max(p.get(n, 0), q.get(n, 0))):
        mine = f"{p[name]:6.2f} s ({p[name] / sum(p.values()):4.0%})" if name in p else "-"
        theirs = f"{q[name]:6.2f} s" if name in q else "-"
        print(f"  {name:<20} platform {mine:<16} plain {theirs}")


if __name__ == "__main__":
    sys.exit(main())
