"""Public Spotify chart CSVs (charts.spotify.com, spotifycharts.com): the parser of the
``landing/charts/`` zone, Dagster-free."""

from spotify_assets.lib.spotify_charts.chart_files import (
    CHART_ENTRIES_SCHEMA,
    chart_from_name,
    parse_chart_file,
    repair_mojibake,
)

__all__ = ["CHART_ENTRIES_SCHEMA", "chart_from_name", "parse_chart_file", "repair_mojibake"]
