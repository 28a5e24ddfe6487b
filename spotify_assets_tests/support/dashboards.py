"""Dashboards for tests: the demo world (``make demo``'s listening history and catalog), plus
a listener whose old export starts in 2014, a year of podcasts only and a quality table as
long as the code location's, written by :func:`write_dashboard` with the real groups."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from spotify_assets_tests.support.warehouse import (
    create_core_tables,
    tiny_core_tables,
    world_streams,
)

#: The listener whose history starts in 2014 (an old export), with plays again in 2025.
OLD_LISTENER = "since_2014"
#: How many checks the quality table lists (as many as the code location declares).
QUALITY_ROWS = 176


def old_listener_streams(conn: Any, user_id: str = OLD_LISTENER) -> int:
    """Plays of a listener whose export starts in March 2014: music until June 2014, three
    podcast plays in 2019 (a year of podcasts only), music again in the 80 days before the
    last play of ``core.streams`` (spring 2025 in the demo world)."""
    ((last,),) = conn.execute("select max(ts) from core.streams").fetchall()
    rows = []

    def play(ts: datetime, i: int, content: str = "music") -> dict[str, Any]:
        row: dict[str, Any] = {
            "user_id": user_id, "ts": ts, "content_type": content, "ms_played": 200_000,
            "conn_country": "SE", "platform": "android", "reason_start": "clickrow",
            "reason_end": "trackdone", "shuffle": False, "skipped": False, "offline": False,
            "source_file": f"{user_id}/endsong_0.json", "record_index": i,
        }  # fmt: skip
        if content == "music":
            row |= {"track_name": f"Old Song {i % 7}", "artist_name": f"Old Band {i % 3}",
                    "album_name": f"Old Album {i % 3}"}  # fmt: skip
        else:
            row |= {"episode_name": f"Episode {i}", "show_name": "Old Talk"}
        return row

    start = datetime(2014, 3, 5, 18)
    for i in range(60):
        rows.append(play(start + timedelta(days=int(i * 1.8), minutes=i), i))
    for i in range(3):
        rows.append(play(datetime(2019, 5, 10 + i, 8), 100 + i, "podcast"))
    for i in range(40):
        rows.append(play(last - timedelta(days=80 - i * 2, hours=2), 200 + i))
    import pandas as pd

    frame = pd.DataFrame(rows)  # by name: core.streams as built has more columns than listed
    conn.register("_old_listener", frame)
    conn.execute("insert into core.streams by name select * from _old_listener")
    conn.unregister("_old_listener")
    return len(frame)


def quality_table(conn: Any, rows: int = QUALITY_ROWS) -> None:
    """``reports.data_quality`` of ``rows`` checks: one failed ERROR check, one failed WARN
    check, one that never ran, one pending (it runs after the table), the rest passed (long
    descriptions included)."""
    conn.execute("create schema if not exists reports")
    conn.execute(
        f"""
create or replace table reports.data_quality as
select 'core/' || ['streams', 'tracks', 'artists', 'albums'][i % 4 + 1] as asset_key,
       'check_' || lpad(i::varchar, 3, '0') as check_name,
       case when i = 2 then 'WARN' else 'ERROR' end as severity,
       i % 2 = 0 as blocking,
       case i when 1 then 'failed' when 2 then 'failed' when 3 then 'never run'
              when 4 then 'pending' else 'passed' end as status,
       case when i in (1, 2) then false when i in (3, 4) then null else true end as passed,
       case when i in (3, 4) then null
            else timestamp '2025-06-24 09:00:00' + to_minutes(i::bigint) end as evaluated_at,
       'run-' || i as run_id,
       null::varchar as partition,
       'A description long enough to wrap on a phone: ' || repeat('every row checked ', 6)
           || i as description,
       null::varchar as details
  from range({rows}) r(i)
"""
    )


def chart_entries(conn: Any) -> None:
    """Two days of a 3-song global chart: enough for every chart mart to draw."""
    from datetime import date

    conn.execute(
        "create table if not exists core.chart_entries (region varchar, chart varchar, "
        "period_start date, period_end date, rank bigint, track_id varchar, track_name varchar, "
        "artist_names varchar, streams bigint, peak_rank bigint, previous_rank bigint, "
        "days_on_chart bigint, weeks_on_chart bigint, source_file varchar)"
    )
    day = date(2025, 6, 1)
    for d in range(2):
        for rank, track in enumerate(("a", "b", "c"), 1):
            conn.execute(
                "insert into core.chart_entries values (?, 'regional-daily', ?, ?, ?, ?, ?, "
                "?, ?, null, null, null, null, 'f.csv')",
                ["global", day + timedelta(d), day + timedelta(d), rank if d == 0 else 4 - rank,
                 track, f"Song {track} <b>", "X, Y", 1000 * (4 - rank)],
            )  # fmt: skip


def demo_dashboard(
    folder: Path, world: Any, *, catalog: bool = True, old_listener: bool = True, put: Any = None
) -> tuple[Path, Path]:
    """The dashboard of ``world`` (the demo world for the browser; with the 2014 listener)
    written to ``folder / 'dashboard'`` (or through ``put``), with the groups the dashboard
    asset draws; its catalog from the fake API's bodies with ``catalog`` (else empty catalog
    tables: seconds saved). Returns the folder and the warehouse."""
    from spotify_assets.defs.reports.assets import DASHBOARD_GROUPS
    from spotify_assets.lib.marts import (
        catalog_marts,
        chart_marts,
        engagement_marts,
        listener_marts,
    )
    from spotify_assets.lib.marts.run import build_marts
    from spotify_assets.lib.reports.overview import (
        data_quality_section,
        landed_files_section,
        write_dashboard,
    )

    warehouse = folder / "warehouse.duckdb"
    out = folder / "dashboard"
    with duckdb.connect(str(warehouse)) as conn:
        if catalog:
            tiny_core_tables(conn, world, folder)
        else:
            create_core_tables(conn)
            world_streams(conn, world, folder)
        if old_listener:
            old_listener_streams(conn)
        chart_entries(conn)
        quality_table(conn)
        build_marts(
            conn,
            [*catalog_marts.MARTS, *engagement_marts.MARTS, *listener_marts.MARTS,
             *chart_marts.MARTS],
        )  # fmt: skip

        def write(path: str, data: bytes) -> None:
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (out / path).write_bytes(data)

        def quality(c: Any) -> Any:
            return data_quality_section(c, ui_url="http://127.0.0.1:3000")

        write_dashboard(
            conn,
            put or write,
            DASHBOARD_GROUPS,
            generated_at="2025-06-24 10:00 UTC",
            tail_sections=(quality, landed_files_section),
        )
    return out, warehouse
