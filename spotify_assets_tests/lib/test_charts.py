"""Charts: every kind renders a real PNG of the expected size, empty and all-null data give the
"no data" picture instead of an error, bytes are deterministic (also across threads), and the
data shaping (series limit, weekday axis, dates, fits) does what the charts claim."""

from __future__ import annotations

import base64
import io
import math
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from spotify_assets.lib.marts.spec import ChartSpec
from spotify_assets.lib.reports import charts
from spotify_assets.lib.reports.charts import fit_log10x, markdown_image, png_size, render

DAYS = pd.date_range("2024-01-01", periods=10, freq="D")


def _frames() -> dict[str, tuple[ChartSpec, pd.DataFrame]]:
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
            ChartSpec("Daily plays and streams", "line", "day", ("plays", "streams")),
            pd.DataFrame({"day": DAYS, "plays": range(10, 20), "streams": range(5, 15)}),
        ),
        "line_long_series": (
            ChartSpec("Hours by family", "line", "month", series="genre_family", value="hours"),
            long,
        ),
        "bar": (
            ChartSpec("Active users", "bar", "month", ("active_users",)),
            pd.DataFrame({"month": ["2024-01", "2024-02", "2024-03"], "active_users": [3, 5, 4]}),
        ),
        "barh": (
            ChartSpec("Top artists", "barh", "artist_name", ("hours",)),
            pd.DataFrame(
                {
                    "artist_name": ["A very long artist name that goes on and on", "B", "C"],
                    "hours": [30.5, 20.0, 10.25],
                }
            ),
        ),
        "stacked_bar": (
            ChartSpec(
                "Plays by type", "stacked_bar", "month", series="content_type", value="plays"
            ),
            pd.DataFrame(
                {
                    "month": ["Jan", "Jan", "Feb", "Feb"],
                    "content_type": ["music", "podcast", "music", "podcast"],
                    "plays": [100, 10, 120, 5],
                }
            ),
        ),
        "area": (
            ChartSpec("Hours by family", "area", "month", ("hours",), series="genre_family"),
            long,
        ),
        "heatmap": (
            ChartSpec("When", "heatmap", "local_hour", ("weekday",), value="plays"),
            hours,
        ),
        "scatter": (
            ChartSpec(
                "Popularity vs followers", "scatter", "followers", ("popularity",), fit="log10x"
            ),
            pd.DataFrame({"followers": [0, 9, 99, 999, 9999], "popularity": [1, 20, 41, 62, 80]}),
        ),
        "scatter_series": (
            ChartSpec(
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
            ChartSpec("Track popularity", "hist", "popularity"),
            pd.DataFrame({"popularity": [0, 0, 5, 10, 10, 10, 50, 70, 71, 100]}),
        ),
        "hist_binned": (
            ChartSpec("Play length", "hist", "minutes", ("plays",)),
            pd.DataFrame({"minutes": [0, 1, 2, 3], "plays": [40, 9, 28, 30]}),
        ),
    }


FRAMES = _frames()


def _is_png(data: bytes) -> bool:
    return data[:8] == b"\x89PNG\r\n\x1a\n"


def _ink(png: bytes) -> int:
    """How many pixels are not (near) white: a blank image has none."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return int((pixels < 200).sum())


@pytest.fixture(scope="module")
def rendered() -> dict[str, bytes]:
    return {name: render(spec, frame) for name, (spec, frame) in FRAMES.items()}


@pytest.fixture(scope="module")
def placeholder() -> bytes:
    """The "no data" picture of a chart titled "t"."""
    return render(ChartSpec("t", "line", "x", ("y",)), pd.DataFrame())


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_every_kind_renders_a_png_of_the_panel_size(rendered, name):
    png = rendered[name]
    assert _is_png(png)
    Image.open(io.BytesIO(png)).verify()  # a decodable PNG, not just a signature
    assert png_size(png) == (800, 400)
    assert 2_000 < len(png) < 80_000  # small enough to inline, big enough to hold a chart
    assert _ink(png) > 2_000  # something is drawn


def test_every_kind_is_covered():
    assert {spec.kind for spec, _ in FRAMES.values()} == set(charts._DRAWERS)


def test_different_data_gives_a_different_picture(rendered):
    spec, frame = FRAMES["bar"]
    other = render(spec, frame.assign(active_users=[5, 3, 4]))
    assert other != rendered["bar"]


@pytest.mark.parametrize("kind", sorted(charts._DRAWERS))
def test_empty_frame_renders_no_data_instead_of_raising(kind, placeholder):
    spec = ChartSpec("t", kind, "x", ("y",), value="y" if kind == "heatmap" else None)
    # the placeholder depends only on the title, whatever the kind or the columns
    assert render(spec, pd.DataFrame({"x": [], "y": []})) == placeholder


def test_the_placeholder_is_a_mostly_blank_png(placeholder, rendered):
    assert _is_png(placeholder) and png_size(placeholder) == (800, 400)
    assert 50 < _ink(placeholder) < 2_000  # the title and "no data", nothing else
    assert placeholder not in rendered.values()


@pytest.mark.parametrize(
    "spec, frame",
    [
        (
            ChartSpec("t", "line", "day", ("plays",)),
            pd.DataFrame({"day": DAYS[:2], "plays": [None, None]}),
        ),
        (
            ChartSpec("t", "barh", "name", ("hours",)),
            pd.DataFrame({"name": ["a", "b"], "hours": [np.nan] * 2}),
        ),
        (
            ChartSpec("t", "scatter", "f", ("p",), fit="log10x"),
            pd.DataFrame({"f": [1, 2], "p": [pd.NA, pd.NA]}, dtype="Int64"),
        ),
        (ChartSpec("t", "hist", "p"), pd.DataFrame({"p": [None, None]})),
        (
            ChartSpec("t", "heatmap", "h", ("d",), value="v"),
            pd.DataFrame({"h": [1], "d": [0], "v": [None]}),
        ),
        (
            ChartSpec("t", "stacked_bar", "m", series="s", value="v"),
            pd.DataFrame({"m": ["a"], "s": ["x"], "v": [None]}),
        ),
    ],
    ids=["line", "barh", "scatter", "hist", "heatmap", "stacked_bar"],
)
def test_all_null_values_render_the_no_data_placeholder(spec, frame, placeholder):
    assert render(spec, frame) == placeholder


def test_bytes_are_deterministic_also_across_threads(rendered):
    names = ["heatmap", "scatter"]  # drawn at the same time in two threads, then compared
    with ThreadPoolExecutor(max_workers=2) as pool:
        again = list(pool.map(lambda name: render(*FRAMES[name]), names))
    assert again == [rendered[name] for name in names]
    chunks = re.findall(rb"(tEXt|iTXt|zTXt|tIME)", rendered["heatmap"])
    assert chunks == []  # no software version or timestamp to drift between machines


def test_long_barh_lists_grow_taller_and_stop_at_thirty_rows():
    frame = pd.DataFrame({"name": [f"artist {i}" for i in range(40)], "hours": range(40, 0, -1)})
    png = render(ChartSpec("Top 40", "barh", "name", ("hours",)), frame)
    # 30 rows shown: min(1.2 + 0.2 * 30, 7.5) = 7.2 inches at 100 dpi
    assert png_size(png) == (800, 720)


def test_missing_column_or_unknown_kind_is_a_spec_bug():
    frame = pd.DataFrame({"day": DAYS[:2], "plays": [1, 2]})
    with pytest.raises(ValueError, match="streams"):
        render(ChartSpec("t", "line", "day", ("streams",)), frame)
    with pytest.raises(ValueError, match="kind"):
        render(ChartSpec("t", "pie", "day", ("plays",)), frame)  # type: ignore[arg-type]


def test_markdown_image_round_trips():
    png = render(ChartSpec("t", "hist", "p"), pd.DataFrame())
    md = markdown_image(png, "Top [10] artists\n by hours")
    match = re.fullmatch(r"!\[(.*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", md)
    assert match is not None
    assert match.group(1) == r"Top \[10\] artists by hours"
    assert base64.b64decode(match.group(2)) == png


def test_png_size_reads_the_ihdr_without_decoding():
    ihdr = struct.pack(">IIBBBBB", 123, 45, 8, 2, 0, 0, 0)
    fake = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
    fake += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    assert png_size(fake) == (123, 45)
    with pytest.raises(ValueError):
        png_size(b"GIF89a" + bytes(30))


def test_fit_log10x_hand_checked():
    # log10(x + 1) = 0, 1, 2; y = 1, 4, 5: means 1 and 10/3; slope = (7/3 + 5/3) / 2 = 2,
    # intercept = 10/3 - 2 = 4/3; residuals -1/3, 2/3, -1/3 -> SSres = 6/9; SStot = 78/9;
    # R2 = 1 - 6/78 = 12/13
    a, b, r2 = fit_log10x([0, 9, 99], [1, 4, 5])
    assert (a, b) == (pytest.approx(4 / 3), pytest.approx(2.0))
    assert r2 == pytest.approx(12 / 13)
    a, b, r2 = fit_log10x([0, 9, 99, np.nan], [1, 3, 5, 7])  # exact line, NaN row ignored
    assert (a, b, r2) == (pytest.approx(1.0), pytest.approx(2.0), pytest.approx(1.0))
    assert fit_log10x([5, 5, 5], [1, 2, 3]) is None  # no spread in x: no line
    assert math.isnan(fit_log10x([0, 9], [2, 2])[2])  # constant y: R2 undefined


def test_many_series_keep_the_top_eight_and_sum_the_rest_into_other():
    # series s0..s11 with totals 1..12 (s_i = i + 1); the top 8 are s11..s4, other = 1+2+3+4 = 10
    wide = pd.DataFrame({f"s{i}": [float(i + 1)] for i in range(12)})
    limited = charts._limit_series(wide)
    assert list(limited.columns) == [f"s{i}" for i in range(11, 3, -1)] + ["other"]
    assert limited["other"].iloc[0] == 10.0


def test_long_format_pivots_in_order_of_first_appearance_and_ranks_series():
    spec = ChartSpec("t", "stacked_bar", "m", series="s", value="v")
    frame = pd.DataFrame(
        {"m": ["b", "b", "a", "a", "b"], "s": ["x", "y", "x", "y", "y"], "v": [1, 2, 3, 10, 4]}
    )
    wide, kind = charts._table(spec, frame, sort_numbers=False)
    assert kind == "category"
    assert list(wide.index) == ["b", "a"]  # the frame's order, not sorted
    assert list(wide.columns) == ["y", "x"]  # y totals 2 + 10 + 4 = 16 > x's 1 + 3 = 4
    assert wide.loc["b", "y"] == 6.0  # duplicates (b, y) summed: 2 + 4


def test_barh_keeps_duplicate_names_and_frame_order():
    spec = ChartSpec("t", "barh", "track_name", ("plays",))
    frame = pd.DataFrame({"track_name": ["Intro", "Zeta", "Intro"], "plays": [9, 5, 1]})
    wide, _ = charts._table(spec, frame, sort_numbers=False)
    assert list(wide.index) == ["Intro", "Zeta", "Intro"]
    assert list(wide["plays"]) == [9.0, 5.0, 1.0]


def test_heatmap_axes_name_weekdays_and_fill_missing_hours():
    keys, labels = charts._axis_order(pd.Series([6, 0, 3]), "weekday")
    assert keys == list(range(7))
    assert labels == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]  # 0 = Monday
    keys, labels = charts._axis_order(pd.Series([23, 0, 5]), "local_hour")
    assert keys == list(range(24)) and labels[23] == "23"
    _, labels = charts._axis_order(pd.Series(["rock", "pop", "rock"]), "family")
    assert labels == ["rock", "pop"]


def test_dates_are_recognised_and_labelled_readably():
    months = charts._as_time(pd.Series(["2024-01", "2024-02", None]))
    assert months is not None and months.iloc[1] == pd.Timestamp("2024-02-01")
    assert charts._as_time(pd.Series(["pop", "rock"])) is None
    assert charts._as_time(pd.Series([2021, 2022])) is None  # years stay numbers
    assert charts._time_labels(pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"]))) == [
        "Jan 2024",
        "Feb 2024",
    ]
    assert charts._time_labels(pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"]))) == [
        "2024-01-01",
        "2024-01-02",
    ]


def test_tick_labels_are_compact_with_one_unit_per_axis():
    assert charts._compact(1_234_567) == "1.23M"
    assert charts._compact(0) == "0"
    assert charts._compact(8_000, 10_000) == "8k"  # the axis goes to 10k: no "8,000" next to it
    assert charts._compact(8_000, 9_000) == "8,000"
    assert charts._compact(0.25) == "0.25"
    assert charts._truncate("x" * 30) == "x" * 23 + "…"
