"""Group ``charts``: ``core/chart_entries`` from the landed chart CSVs (the zone is declared in
``zone.py``), and the chart marts.

Lineage::

    landing/charts/**/*.csv  (the charts sensor watches it; Kaggle's charts.csv streams)
      -> raw/chart_files     (a batch of files per partition; Parquet in processed/charts/)
      -> core/chart_entries  (DuckDB over the Parquet; the same chart landed twice: the newest
                              file's rows)
      -> marts/chart_tracks, chart_movement, chart_reach, chart_artists
"""

import tempfile
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.automation import on_upstream_change
from spotify_assets.defs.charts.zone import CHART_FILES_KEY, REJECTED_CHART_ROWS_KEY
from spotify_assets.defs.landing import log_held_files
from spotify_assets.defs.marts.factory import mart_assets
from spotify_assets.defs.warehouse_tables import warehouse_asset
from spotify_assets.lib.landing import processed_files
from spotify_assets.lib.marts import chart_marts as chart_sql
from spotify_assets.lib.spotify_charts.chart_entries import build_chart_entries
from spotify_assets.lib.spotify_charts.chart_zone import CHARTS_ZONE
from spotify_assets.resources import LakeResource
from spotify_assets.resources.table_metadata import table_metadata

CHART_ENTRIES_KEY = dg.AssetKey(["core", "chart_entries"])


@warehouse_asset(
    key=CHART_ENTRIES_KEY,
    deps=[CHART_FILES_KEY],
    group_name="charts",
    description="Every row of every landed chart: region, chart, period, rank, track, "
    "streams, source file. A chart landed twice (same region, chart and period) keeps the "
    "newest file's rows.",
)
def chart_tables(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    store = lake.store()
    with tempfile.TemporaryDirectory(prefix="charts-") as tmp:
        # A file failing a blocking check stays out until fixed or removed (as for streams).
        held = log_held_files(context, store, CHARTS_ZONE, out_of="core.chart_entries")
        files = processed_files(store, CHARTS_ZONE, Path(tmp))
        landed = {o.key: o.last_modified for o in store.list(CHARTS_ZONE.landing_prefix)}
        order = {
            f.source_file: (
                str(landed.get(CHARTS_ZONE.landing_prefix + f.source_file)),
                f.source_file,
            )
            for f in files
        }
        with warehouse.get_connection() as conn:
            # Oldest first: of two files of the same chart, the newest one's rows are kept.
            files.sort(key=lambda f: order[f.source_file])
            rows = build_chart_entries(conn, files)
            metadata = table_metadata(conn, CHART_ENTRIES_KEY)
            regions, periods, streams = conn.execute(
                "select count(distinct region), count(distinct (chart, period_start)), "
                "coalesce(sum(streams), 0) from core.chart_entries"
            ).fetchone()
    context.log.info(f"core.chart_entries: {rows:,} rows from {len(files)} files")
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "files": len(files),
            "files_held_out": dg.MetadataValue.json(held),
            "regions": int(regions),
            "charts_and_periods": int(periods),
            "streams": int(streams),
        },
    )


chart_marts = mart_assets(
    "chart_marts",
    list(chart_sql.MARTS),
    group="charts",
    description="Chart marts: tracks on chart (debut, peak, days and weeks on chart, "
    "streams; marts.top_chart_tracks for any region and period), movement between periods, "
    "regional reach, artists by chart streams.",
    automation_condition=on_upstream_change(),
)

charts_tables_job = dg.define_asset_job(
    "charts_tables_job",
    selection=dg.AssetSelection.assets(chart_tables, REJECTED_CHART_ROWS_KEY, chart_marts),
    description="Build core/chart_entries, core/rejected_chart_rows and the chart marts.",
)
