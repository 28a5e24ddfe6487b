"""Charts: one Vega-Lite spec per chart, drawn as a PNG (vl-convert) and embedded interactive in
the dashboard. Every kind renders a real PNG, empty and all-null data give the "no data" chart
instead of an error, bytes are deterministic (also across threads), and the data shaping
(series limit, frame order, weekday axis, dates, fits, pickers) does what the charts claim."""

from __future__ import annotations

import base64
import io
import json
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from spotify_assets.lib.marts.spec import PlotSpec
from spotify_assets.lib.reports import vega
from spotify_assets.lib.reports.plots import fit_log10x, markdown_image, png_size, render
from spotify_assets.lib.reports.vega import vega_spec

pytestmark = pytest.mark.slow  # vl-convert renders PNGs

DAYS = pd.date_range("2024-01-01", periods=10, freq="D")


def _frames() -> dict[str, tuple[PlotSpec, pd.DataFrame]]:
    """One small, realistic frame per chart kind (and the wide/long/date variants)."""
    hours = pd.DataFrame(
        {
            "weekday": np.repeat(np.arange(7), 24),
            "local_hour": np.tile(np.arange(24), 7),
            "plays": (np.arange(168) * 37) % 101,
        }
    )
    long = pd.DataFrame(
        {
            "month": np.repeat(pd.date_range("2024-01-01", periods=6, freq="MS"), 3),
            "genre_family": ["pop", "rock", "jazz"] * 6,
            "hours": np.arange(18, dtype=float) + 1,
        }
    )
    return {
        "line_wide_dates": (
            PlotSpec("Daily plays and streams", "line", "day", ("plays", "streams")),
            pd.DataFrame({"day": DAYS, "plays": range(10, 20), "streams": range(5, 15)}),
        ),
        "line_long_series": (
            PlotSpec("Hours by family", "line", "month", series="genre_family", value="hours"),
            long,
        ),
        "bar": (
            PlotSpec("Active users", "bar", "month", ("active_users",)),
            pd.DataFrame({"month": ["2024-01", "2024-02", "2024-03"], "active_users": [3, 5, 4]}),
        ),
        "barh": (
            PlotSpec("Top artists", "barh", "artist_name", ("hours",)),
            pd.DataFrame(
                {
                    "artist_name": ["A very long artist name that goes on and on", "B", "C"],
                    "hours": [30.5, 20.0, 10.25],
                }
            ),
        ),
        "stacked_bar": (
            PlotSpec("Plays by type", "stacked_bar", "month", series="content_type", value="plays"),
            pd.DataFrame(
                {
                    "month": ["Jan", "Jan", "Feb", "Feb"],
                    "content_type": ["music", "podcast", "music", "podcast"],
                    "plays": [100, 10, 120, 5],
                }
            ),
        ),
        "area": (
            PlotSpec("Hours by family", "area", "month", ("hours",), series="genre_family"),
            long,
        ),
        "heatmap": (
            PlotSpec("When", "heatmap", "local_hour", ("weekday",), value="plays"),
            hours,
        ),
        "scatter": (
            PlotSpec(
                "Popularity vs followers", "scatter", "followers", ("popularity",), fit="log10x"
            ),
            pd.DataFrame({"followers": [0, 9, 99, 999, 9999], "popularity": [1, 20, 41, 62, 80]}),
        ),
        "scatter_series": (
            PlotSpec(
                "By family",
                "scatter",
                "followers",
                ("popularity",),
                series="family",
                fit="log10x",
                log_y=True,
            ),
            pd.DataFrame(
                {
                    "followers": [0, 9, 99, 999, 9999, 5],
                    "popularity": [1, 20, 41, 62, 80, 3],
                    "family": ["pop", "rock", "pop", "jazz", "rock", None],
                }
            ),
        ),
        "hist": (
            PlotSpec("Track popularity", "hist", "popularity"),
            pd.DataFrame({"popularity": [0, 0, 5, 10, 10, 10, 50, 70, 71, 100]}),
        ),
        "hist_binned": (
            PlotSpec("Play length", "hist", "minutes", ("plays",)),
            pd.DataFrame({"minutes": [0, 1, 2, 3], "plays": [40, 9, 28, 30]}),
        ),
    }


FRAMES = _frames()


def _ink(png: bytes) -> int:
    """How many pixels are not (near) white: a blank image has none."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return int((pixels < 200).sum())


def _data(vl: dict) -> list[dict]:
    return vl["data"]["values"]


@pytest.fixture(scope="module")
def rendered() -> dict[str, bytes]:
    return {name: render(spec, frame) for name, (spec, frame) in FRAMES.items()}


@pytest.fixture(scope="module")
def placeholder() -> bytes:
    return render(PlotSpec("t", "line", "x", ("y",)), pd.DataFrame({"x": [], "y": []}))


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_every_kind_renders_a_png_with_content(rendered, name):
    png = rendered[name]
    width, height = png_size(png)
    assert 600 <= width <= 1100 and 150 <= height <= 900, (width, height)
    assert _ink(png) > 2000
    assert len(png) < 150_000


def test_every_kind_is_covered():
    assert {spec.kind for spec, _ in FRAMES.values()} == set(vega._BUILDERS)


def test_the_spec_is_json_with_its_data_inlined():
    for spec, frame in FRAMES.values():
        vl = vega_spec(spec, frame)
        assert json.loads(json.dumps(vl)) == vl  # no numpy or Timestamp left
        assert vl["title"]["text"] == spec.title
        assert "url" not in json.dumps(vl.get("data", {}))


def test_different_data_gives_a_different_picture(rendered):
    spec, frame = FRAMES["bar"]
    other = frame.assign(active_users=[9, 1, 4])
    assert render(spec, other) != rendered["bar"]


@pytest.mark.parametrize("kind", sorted(vega._BUILDERS))
def test_empty_frame_renders_no_data_instead_of_raising(kind, placeholder):
    spec = PlotSpec("t", kind, "x", ("y",), value="y" if kind == "heatmap" else None)
    png = render(spec, pd.DataFrame({"x": [], "y": []}))
    assert png == placeholder
    assert vega_spec(spec, pd.DataFrame({"x": [], "y": []}))["usermeta"] == {"no_data": True}


def test_all_null_values_render_the_no_data_chart(placeholder):
    spec = PlotSpec("t", "line", "x", ("y",))
    vl = vega_spec(spec, pd.DataFrame({"x": [1, 2], "y": [None, None]}))
    assert vl["usermeta"] == {"no_data": True}


def test_bytes_are_deterministic_also_across_threads(rendered):
    spec, frame = FRAMES["line_wide_dates"]
    with ThreadPoolExecutor(4) as pool:
        pngs = list(pool.map(lambda _: render(spec, frame), range(4)))
    assert set(pngs) == {rendered["line_wide_dates"]}


def test_long_barh_lists_grow_taller_and_stop_at_thirty_rows():
    frame = pd.DataFrame({"name": [f"n{i}" for i in range(50)], "v": range(50, 0, -1)})
    vl = vega_spec(PlotSpec("Top", "barh", "name", ("v",)), frame)
    assert len(_data(vl)) == 30 and vl["height"] == 30 * 22


def test_missing_column_or_unknown_kind_is_a_spec_bug():
    with pytest.raises(ValueError, match="nope"):
        vega_spec(PlotSpec("t", "line", "nope", ("y",)), pd.DataFrame({"y": [1]}))
    with pytest.raises(ValueError, match="unknown chart kind"):
        vega_spec(PlotSpec("t", "pie", "x", ("y",)), pd.DataFrame({"x": [1], "y": [1]}))


def test_markdown_image_round_trips():
    png = render(*FRAMES["bar"])
    md = markdown_image(png, "Active [users]")
    assert md.startswith("![Active \\[users\\]](data:image/png;base64,")
    assert base64.b64decode(md.split("base64,")[1][:-1]) == png


def test_png_size_reads_the_ihdr_without_decoding():
    png = render(*FRAMES["bar"])
    assert png_size(png) == Image.open(io.BytesIO(png)).size
    with pytest.raises(ValueError):
        png_size(b"not a png at all, really not")


def test_fit_log10x_hand_checked():
    # y = 10 + 20 * log10(x + 1) exactly
    x = [0, 9, 99, 999]
    a, b, r2 = fit_log10x(x, [10, 30, 50, 70])
    assert (a, b, r2) == pytest.approx((10, 20, 1.0))
    assert fit_log10x([5, 5], [1, 2]) is None
    assert math.isnan(fit_log10x([0, 9], [3, 3])[2])


def test_the_fit_line_and_its_equation_are_drawn():
    vl = vega_spec(*FRAMES["scatter"])
    assert len(vl["layer"]) == 3
    assert "R² = " in vl["layer"][2]["encoding"]["text"]["value"]


def test_many_series_keep_the_top_eight_and_sum_the_rest_into_other():
    frame = pd.DataFrame({"d": [1] * 12, "s": [f"s{i}" for i in range(12)], "v": range(1, 13)})
    vl = vega_spec(PlotSpec("t", "line", "d", series="s", value="v"), frame)
    series = {r["series"]: r["value"] for r in _data(vl)}
    assert len(series) == 9 and series["other"] == 1 + 2 + 3 + 4
    assert "s11" in series and "s3" not in series


def test_barh_keeps_duplicate_names_and_frame_order():
    frame = pd.DataFrame({"t": ["Intro", "B", "Intro"], "v": [1, 3, 2]})
    vl = vega_spec(PlotSpec("t", "barh", "t", ("v",)), frame)
    assert [r["t"] for r in _data(vl)] == ["Intro", "B", "Intro"]
    # Sorted by the frame's order carried in the data (issue 26: sort null is not kept by
    # Vega once a picker filters the rows again).
    assert [r[vega.POSITION] for r in _data(vl)] == [1, 2, 3]
    assert vl["layer"][0]["encoding"]["y"]["sort"] == {
        "field": vega.POSITION,
        "op": "min",
        "order": "ascending",
    }


@pytest.mark.parametrize(
    "values, expected, text",
    [
        ([0.512, 0.0503, 0.000503], ".3~r", "0.512"),  # not '512m' and '503µ'
        ([3, 12, 1], ",d", "12"),
        ([2.5, 1.25], ",.4~r", "2.5"),
        ([12_345, 10], ",.3~s", "12.3k"),
    ],
)
def test_bar_labels_read_as_numbers_not_si_units(values, expected, text):
    frame = pd.DataFrame({"feature": [f"f{i}" for i in range(len(values))], "importance": values})
    vl = vega_spec(PlotSpec("Importance", "barh", "feature", ("importance",)), frame)
    assert vl["layer"][1]["encoding"]["text"]["format"] == expected
    svg = vega.to_svg(vl)
    assert f">{text}<" in svg
    assert "µ" not in svg and ">512m<" not in svg


def test_monthly_bars_sit_on_a_continuous_time_axis():
    """Issue 26: the monthly-minutes axis was ordinal, so months without plays vanished (a
    listener went from 2022-01 straight to 2022-09). Now a month is a month of time."""
    frame = pd.DataFrame(
        {"month": pd.to_datetime(["2022-01-01", "2022-09-01"]), "minutes": [10.0, 20.0]}
    )
    vl = vega_spec(PlotSpec("Minutes", "bar", "month", ("minutes",)), frame)
    x = vl["encoding"]["x"]
    assert x["type"] == "temporal" and x["timeUnit"] == "yearmonth"
    assert x["axis"]["format"] == "%b %Y"
    days = pd.DataFrame({"day": DAYS, "n": range(10)})
    x = vega_spec(PlotSpec("Days", "bar", "day", ("n",)), days)["encoding"]["x"]
    assert x["type"] == "temporal" and x["timeUnit"] == "yearmonthdate"


def test_heatmap_names_weekdays():
    vl = vega_spec(*FRAMES["heatmap"])
    assert "Mon" in vl["encoding"]["y"]["axis"]["labelExpr"]


def test_dates_become_iso_strings_on_a_temporal_axis_that_zooms():
    vl = vega_spec(*FRAMES["line_wide_dates"])
    assert _data(vl)[0]["day"].startswith("2024-01-01")
    assert vl["encoding"]["x"]["type"] == "temporal"
    assert any(p.get("bind") == "scales" for p in vl["params"])


def test_a_picker_filters_rows_and_lists_its_options():
    frame = pd.DataFrame({"year": ["2023", "2023", "2024"], "m": [1, 2, 1], "v": [5, 6, 7]})
    vl = vega_spec(PlotSpec("t", "bar", "m", ("v",), picker="year"), frame)
    assert vl["usermeta"]["picker"]["options"] == ["all", "2023", "2024"]
    assert {"name": "pick", "value": "all"} in vl["params"]
    assert "datum['year']" in vl["transform"][0]["filter"]
    first = vega_spec(PlotSpec("t", "bar", "m", ("v",), picker="year", picker_all=False), frame)
    assert first["usermeta"]["picker"]["default"] == "2023"
    # the PNG shows the default's rows only
    assert render(PlotSpec("t", "bar", "m", ("v",), picker="year", picker_all=False), frame) != (
        render(PlotSpec("t", "bar", "m", ("v",), picker="year"), frame)
    )
