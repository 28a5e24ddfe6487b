"""A synthetic warehouse of many plays for the benches (``bench/bench_marts.py``,
``bench/bench_dashboard.py``)."""

from __future__ import annotations

import duckdb

COUNTRIES = ["US", "GB", "DE", "FR", "BR", "MX", "ES", "IT", "SE", "NL", "JP", "IN", "AU", "CA",
             "AR", "PL", "TR", "ID", "PH", "ZA"]  # fmt: skip


def synthetic_streams(conn: duckdb.DuckDBPyConnection, users: int, plays: int) -> None:
    countries = ", ".join(f"'{c}'" for c in COUNTRIES)
    conn.execute("create schema if not exists core")
    conn.execute(
        f"""
create or replace table core.streams as
with p as (
    select i, hash(i) as h, hash(i * 7 + 3) as h2, hash(i * 13 + 5) as h3 from range({plays}) r(i)
)
select 'user_' || lpad((h % {users})::varchar, 5, '0') as user_id,
       timestamp '2024-01-01' + to_seconds((h2 % (730 * 86400))::bigint) as ts,
       case when h3 % 50 = 0 then 'podcast' else 'music' end as content_type,
       case when h3 % 50 = 0 then null
            else 't' || (pow((h3 % 1000000) / 1000000.0, 3) * 50000)::int end as track_id,
       null::varchar as episode_id,
       case when h3 % 50 = 0 then null
            else 'Track ' || (pow((h3 % 1000000) / 1000000.0, 3) * 50000)::int end as track_name,
       case when h3 % 50 = 0 then null
            else 'Artist ' || ((pow((h3 % 1000000) / 1000000.0, 3) * 50000)::int % 5000) end
           as artist_name,
       case when h3 % 50 = 0 then null
            else 'Album ' || ((pow((h3 % 1000000) / 1000000.0, 3) * 50000)::int % 12000) end
           as album_name,
       null::varchar as episode_name,
       case when h3 % 50 = 0 then 'Show ' || (h % 40) end as show_name,
       (h2 % 300000)::bigint as ms_played,
       [{countries}][((h % {len(COUNTRIES)}) + 1)::bigint] as conn_country,
       'android' as platform,
       'trackdone' as reason_start,
       'trackdone' as reason_end,
       (h3 % 3 = 0) as skipped,
       'extended' as source_format
  from p
"""
    )
    conn.execute(
        "create or replace table core.listeners as select distinct user_id, "
        "user_id as display_name from core.streams"
    )
    for ddl in (
        "create or replace table core.tracks (track_id varchar, album_id varchar, "
        "primary_artist_id varchar, popularity bigint)",
        "create or replace table core.albums (album_id varchar, release_year bigint)",
        "create or replace table core.artists (artist_id varchar, artist_name varchar)",
        "create or replace table core.artist_genres (artist_id varchar, genre varchar, "
        "genre_family varchar)",
    ):
        conn.execute(ddl)
