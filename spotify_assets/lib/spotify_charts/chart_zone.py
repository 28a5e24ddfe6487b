"""The landing zone of public chart CSVs: ``landing/charts/<any folders>/<file>.csv`` as
charts.spotify.com and spotifycharts.com name them (region, chart and period come from the
file name; see :func:`spotify_assets.lib.spotify_charts.chart_files.chart_from_name`).

Chart files are many and small (a year of daily charts for 70 regions is 25,000 files of 200
rows), so a chunk of them is parsed together and its rows written as one Parquet."""

from __future__ import annotations

from collections.abc import Sequence

from spotify_assets.lib.landing import LandedContext, LandingZone, ParsedFile


def parse_chart_object(data: bytes, context: LandedContext) -> ParsedFile:
    from spotify_assets.lib.spotify_charts.chart_files import parse_chart_file

    return parse_chart_file(data, name=context.name, source_file=context.path)


def parse_chart_objects(
    items: Sequence[tuple[bytes, LandedContext]],
) -> list[ParsedFile | Exception]:
    from spotify_assets.lib.spotify_charts.chart_files import parse_chart_files

    return parse_chart_files([(data, c.name, c.path) for data, c in items])


CHARTS_ZONE = LandingZone(
    name="charts",
    parse=parse_chart_object,
    parse_many=parse_chart_objects,
    rows_per_chunk=True,
    files_per_chunk=2000,  # 400,000 rows of 200-row daily charts: about 100 MB
    description="Chart CSVs of charts.spotify.com (2022-) and spotifycharts.com (2017-2021)",
)
