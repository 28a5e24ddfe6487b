"""The charts landing zone, declared: the chart CSVs people download from charts.spotify.com
(and spotifycharts.com before 2022), and Kaggle's all-in-one ``charts.csv``, dropped into
``landing/charts/`` (parser: ``spotify_assets.lib.spotify_charts.chart_zone``)."""

import dagster as dg

from spotify_assets.defs.landing import landing_zone_defs
from spotify_assets.lib.spotify_charts.chart_zone import CHARTS_ZONE

CHART_FILES_KEY = dg.AssetKey(["raw", "chart_files"])
REJECTED_CHART_ROWS_KEY = dg.AssetKey(["core", "rejected_chart_rows"])

CHARTS = landing_zone_defs(
    CHARTS_ZONE,
    key=CHART_FILES_KEY,
    group="charts",
    description=(
        "Landed chart CSVs, a batch per partition (charts.spotify.com or spotifycharts.com, "
        "daily or weekly, any region; region, chart and period from the file name; or Kaggle's "
        "all-in-one charts.csv, read as it streams, region, chart and day in its rows), as "
        "Parquet in the lake's processed area; bad rows kept aside with file, line and reason."
    ),
    kinds={"csv", "parquet", "s3"},
    rejected_records_table=REJECTED_CHART_ROWS_KEY,
)
defs = CHARTS.definitions
