"""The landing zone of public chart CSVs: ``landing/charts/<any folders>/<file>.csv`` as
charts.spotify.com and spotifycharts.com name them (region, chart and period come from the
file name; see :func:`spotify_assets.lib.spotify_charts.chart_files.chart_from_name`), and
the Kaggle all-in-one ``charts.csv`` under any name (region, chart and day in its rows; see
:mod:`spotify_assets.lib.spotify_charts.kaggle_charts`).

Chart files are many and small (a year of daily charts for 70 regions is 25,000 files of 200
rows), so a chunk of them is parsed together and its rows written as one Parquet. The Kaggle
file is one of 3.5 GB: it is told by its first bytes and read as it streams, whatever its
size (the zone's ``max_bytes`` holds for the others)."""

from __future__ import annotations

from collections.abc import Sequence

from spotify_assets.lib.landing import LandedContext, LandingZone, ParsedFile, StreamParser


def parse_chart_object(data: bytes, context: LandedContext) -> ParsedFile:
    from spotify_assets.lib.spotify_charts.chart_files import parse_chart_file

    return parse_chart_file(data, name=context.name, source_file=context.path)


def parse_chart_objects(
    items: Sequence[tuple[bytes, LandedContext]],
) -> list[ParsedFile | Exception]:
    from spotify_assets.lib.spotify_charts.chart_files import parse_chart_files

    return parse_chart_files([(data, c.name, c.path) for data, c in items])


def stream_chart_object(head: bytes, context: LandedContext) -> StreamParser | None:
    from spotify_assets.lib.spotify_charts.kaggle_charts import kaggle_stream

    return kaggle_stream(head, context)


CHARTS_ZONE = LandingZone(
    name="charts",
    parse=parse_chart_object,
    parse_many=parse_chart_objects,
    rows_per_chunk=True,
    files_per_chunk=2000,  # 400,000 rows of 200-row daily charts: about 100 MB
    stream=stream_chart_object,
    description="Chart CSVs of charts.spotify.com (2022-) and spotifycharts.com (2017-2021), "
    "and Kaggle's all-in-one charts.csv (2017-2021)",
)
