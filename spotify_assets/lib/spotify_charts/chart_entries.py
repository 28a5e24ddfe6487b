"""``core.chart_entries``: one row per chart entry of every landed chart file, built from the
charts landing zone's processed rows (Dagster-free). The same chart landed twice (same region,
chart, period and rank: a re-download ``... (1).csv``, or a week from both sites) counts once:
the row of the newest landed file wins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.landing import processed_rows
from spotify_assets.lib.spotify_charts.chart_files import CHART_ENTRIES_SCHEMA

if TYPE_CHECKING:
    from spotify_assets.lib.landing import ProcessedFile


def build_chart_entries(
    conn: Any,
    files: Sequence[ProcessedFile],
    *,
    landed_at: Mapping[str, datetime] | None = None,
) -> int:
    """Create or replace ``core.chart_entries`` from the parsed chart files (the processed
    files of the charts zone, rows of
    :func:`~spotify_assets.lib.spotify_charts.chart_files.parse_chart_file`); returns its row
    count.

    Deduplication: of the rows with the same (region, chart, period_start, period_end, rank),
    the one of the newest file is kept: newest by ``landed_at`` (landed key -> time, i.e. the
    rows' ``source_file``) where given, else by position in ``files`` (list them oldest
    first); ties go to the larger ``source_file``, so the result never depends on the order
    DuckDB reads files in. A file never holds a rank twice (its parser rejects the repeat),
    so only the charts that several files hold are ranked that way; the others' rows are
    taken as they are (the Kaggle file's 26 million rows would otherwise all be sorted). The
    table's rows are in no particular order: sort in the query.
    """
    import pyarrow as pa

    conn.execute("create schema if not exists core")
    order = pa.table(
        {
            "source_file": pa.array([f.source_file for f in files], pa.string()),
            "file_order": pa.array(range(len(files)), pa.int64()),
        }
    )
    landed = pa.table(
        {
            "source_file": pa.array(list((landed_at or {}).keys()), pa.string()),
            "landed_at": pa.array(list((landed_at or {}).values()), pa.timestamp("us")),
        }
    )
    columns = ", ".join(f'e."{f.name}"' for f in CHART_ENTRIES_SCHEMA)
    conn.register("_chart_files", order)
    conn.register("_chart_landed", landed)
    conn.register("_chart_empty", CHART_ENTRIES_SCHEMA.empty_table())
    try:
        with processed_rows(conn, files) as rows:
            conn.execute(
                f"create or replace temp view _chart_rows as from {rows or '_chart_empty'}"
            )
            conn.execute(
                f"""
create or replace table core.chart_entries as
with shared as not materialized (
    select region, chart, period_start, period_end
      from (select distinct region, chart, period_start, period_end, source_file
              from _chart_rows)
     group by all
    having count(*) > 1
)
select {columns}
  from _chart_rows e
  semi join _chart_files f using (source_file)
  anti join shared s using (region, chart, period_start, period_end)
union all
select {columns}
  from _chart_rows e
  semi join shared s using (region, chart, period_start, period_end)
  join _chart_files f using (source_file)
  left join _chart_landed l using (source_file)
qualify row_number() over (
            partition by e.region, e.chart, e.period_start, e.period_end, e.rank
            order by l.landed_at desc nulls last, f.file_order desc, e.source_file desc) = 1
"""
            )
            conn.execute("drop view _chart_rows")
    finally:
        for name in ("_chart_files", "_chart_landed", "_chart_empty"):
            conn.unregister(name)
    return conn.execute("select count(*) from core.chart_entries").fetchone()[0]
