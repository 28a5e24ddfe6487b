"""The landing zone of public chart CSVs: ``landing/charts/<any folders>/<file>.csv`` as
charts.spotify.com and spotifycharts.com name them (region, chart and period come from the
file name; see :func:`spotify_assets.lib.spotify_charts.chart_files.chart_from_name`)."""

from __future__ import annotations

from spotify_assets.lib.landing import LandedContext, LandingZone, ParsedFile


def parse_chart_object(data: bytes, context: LandedContext) -> ParsedFile:
    from spotify_assets.lib.spotify_charts.chart_files import parse_chart_file

    return parse_chart_file(data, name=context.name, source_file=context.partition_key)


CHARTS_ZONE = LandingZone(
    name="charts",
    parse=parse_chart_object,
    description="Chart CSVs of charts.spotify.com (2022-) and spotifycharts.com (2017-2021)",
)
