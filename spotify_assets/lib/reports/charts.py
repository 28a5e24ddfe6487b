"""PNG charts for marts (Dagster-free): one :class:`ChartSpec` and a small DataFrame in, bytes out.

The same PNG goes into an asset's metadata (as a Markdown ``data:`` image) and into the offline
dashboard, so charts are small (~800x400 px, palette PNG, a few tens of KB), share one
restrained style, and are byte-for-byte deterministic: re-materializing an unchanged mart must
not produce a "changed" chart.

Figures are built with :class:`matplotlib.figure.Figure` on the Agg canvas and every style is
passed explicitly, never through pyplot or ``rcParams``, so rendering is thread-safe (Dagster
may run assets in threads) and leaks no figures.

Column roles follow the spec literally: ``spec.x`` is the category/time column and ``spec.y``
the value column(s) wherever they are drawn (for ``barh`` the categories run down the vertical
axis, still labelled by ``x_label``; ``log_y`` scales the value axis there). Missing columns are
a bug in the spec and raise ``ValueError``; an empty or all-null frame is data and renders a
"no data" PNG.
"""

from __future__ import annotations

import base64
import io
import math
import re
import struct
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, MaxNLocator, NullFormatter, PercentFormatter
from PIL import Image

from spotify_assets.lib.marts.spec import ChartSpec

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.0, 100
#: One palette for every chart (muted, distinguishable, colour-blind tolerable); ``other`` grey.
PALETTE = (
    "#4C72B0",
    "#DD8452",
    "#55A868",
    "#C44E52",
    "#8172B3",
    "#937860",
    "#DA8BC3",
    "#64B5CD",
)
OTHER_COLOR = "#B8B8B8"
OTHER = "other"
MAX_SERIES = 8
MAX_LABEL_CHARS = 24
MAX_BARH_ROWS = 30
TEXT, MUTED, GRID, SPINE = "#222222", "#666666", "#E8E8E8", "#BBBBBB"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HEAT_CMAP = mcolors.LinearSegmentedColormap.from_list("heat", ["#E6EDF7", "#9DB8DA", "#1F3F73"])
_DATE_STR = re.compile(r"^\d{4}-\d{2}(-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?)?$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- public API


def render(spec: ChartSpec, frame: pd.DataFrame) -> bytes:
    """PNG bytes of ``spec`` drawn from ``frame`` (the mart or the result of ``spec.query``)."""
    drawer = _DRAWERS.get(spec.kind)
    if drawer is None:
        raise ValueError(f"unknown chart kind {spec.kind!r} (one of {sorted(_DRAWERS)})")
    fig = _figure()
    if frame is None or len(frame) == 0:
        _no_data(fig, spec.title)
        return _png(fig)
    _check_columns(spec, frame)
    ax = fig.add_subplot()
    _style_axes(ax)
    drawn = drawer(fig, ax, spec, frame)
    if drawn is False:
        fig.clear()
        _no_data(fig, spec.title)
    else:
        _title(ax, spec.title)
    return _png(fig)


def markdown_image(png: bytes, alt: str) -> str:
    """A Markdown image whose URI embeds the PNG, for ``MetadataValue.md`` (no file to serve)."""
    alt = " ".join(alt.split()).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels from the PNG's IHDR chunk (no image library needed)."""
    if len(png) < 24 or png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def fit_log10x(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float] | None:
    """Least squares ``y = a + b * log10(x + 1)``: ``(a, b, r2)``, or None if x has no spread.

    log10(x + 1) because follower-like counts span orders of magnitude and include 0.
    ``r2`` is NaN when y is constant (nothing to explain).
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    keep = np.isfinite(xs) & np.isfinite(ys) & (xs > -1)
    lx, ys = np.log10(xs[keep] + 1.0), ys[keep]
    if len(lx) < 2 or np.ptp(lx) == 0:
        return None
    dx = lx - lx.mean()
    slope = float((dx * (ys - ys.mean())).sum() / (dx * dx).sum())
    intercept = float(ys.mean() - slope * lx.mean())
    ss_tot = float(((ys - ys.mean()) ** 2).sum())
    ss_res = float(((ys - intercept - slope * lx) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan
    return intercept, slope, r2


# ---------------------------------------------------------------------------- figure plumbing


def _figure(height_in: float = HEIGHT_IN) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, facecolor="white", layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=0.08, h_pad=0.08)
    return fig


def _png(fig: Figure) -> bytes:
    """Rasterize and store as an adaptive-palette PNG: ~3x smaller than RGBA, same look."""
    canvas = fig.canvas
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    image = Image.fromarray(rgba[..., :3].copy(), "RGB")
    image = image.quantize(colors=128, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True, dpi=(DPI, DPI))
    fig.clear()
    return out.getvalue()


def _no_data(fig: Figure, title: str) -> None:
    ax = fig.add_subplot()
    ax.set_axis_off()
    _title(ax, title)
    ax.text(
        0.5,
        0.5,
        "no data",
        ha="center",
        va="center",
        fontsize=16,
        color=MUTED,
        transform=ax.transAxes,
    )


def _title(ax: Axes, title: str) -> None:
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold", color=TEXT, pad=10)


def _style_axes(ax: Axes) -> None:
    ax.set_facecolor("white")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(SPINE)
        ax.spines[side].set_linewidth(0.8)
    ax.tick_params(labelsize=9, colors=MUTED, length=3, width=0.6, color=SPINE)
    ax.set_axisbelow(True)


def _grid(ax: Axes, axis: str) -> None:
    ax.grid(True, axis=axis, color=GRID, linewidth=0.8)


def _labels(ax: Axes, x: str | None, y: str | None) -> None:
    if x:
        ax.set_xlabel(x, fontsize=10, color=MUTED)
    if y:
        ax.set_ylabel(y, fontsize=10, color=MUTED)


def _legend(ax: Axes, title: str | None, *, reverse: bool = False) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) < 2:  # one series: the title and axis label say it all
        return
    if reverse:  # stacked charts: legend top to bottom like the stack
        handles, labels = handles[::-1], labels[::-1]
    legend = ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize=8.5,
        title=title,
        title_fontsize=9,
        alignment="left",
        borderaxespad=0.0,
    )
    legend.get_title().set_color(MUTED)


# ---------------------------------------------------------------------------- data shaping


def _check_columns(spec: ChartSpec, frame: pd.DataFrame) -> None:
    wanted = [spec.x, *spec.y, spec.series, spec.value]
    missing = [c for c in wanted if c is not None and c not in frame.columns]
    if missing:
        raise ValueError(
            f"chart {spec.title!r}: columns {missing} not in the frame ({list(frame.columns)})"
        )


def _given(label: str | None, default: str | None) -> str | None:
    """The spec's axis label if set (``""`` hides the label), else the default."""
    return default if label is None else label


def _humanize(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _truncate(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _numeric(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        values = values.astype("float")
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    return numbers.where(np.isfinite(numbers))  # inf is as unplottable as null


def _as_time(values: pd.Series) -> pd.Series | None:
    """Datetime version of a date-like column (dates, timestamps, ISO strings), else None."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
    elif values.dtype == object or pd.api.types.is_string_dtype(values):
        present = values.dropna()
        if present.empty:
            return None
        sample = present.iloc[0]
        if isinstance(sample, str):
            if not present.astype(str).str.match(_DATE_STR).all():
                return None
        elif not hasattr(sample, "year") or not hasattr(sample, "month"):
            return None
        try:
            out = pd.to_datetime(values, errors="raise")
        except (ValueError, TypeError):
            return None
    else:
        return None
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def _x_values(frame: pd.DataFrame, x: str) -> tuple[pd.Series, str]:
    """The x column and its type: ``time``, ``number`` or ``category``."""
    values = frame[x]
    as_time = _as_time(values)
    if as_time is not None:
        return as_time, "time"
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values, "number"
    return values, "category"


def _category_label(value: Any, limit: int = MAX_LABEL_CHARS) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "(none)"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return _truncate(str(value), limit)


def _time_labels(values: pd.Series) -> list[str]:
    """Readable labels for dates used as categories (months as 'Jan 2024', days ISO)."""
    v = pd.DatetimeIndex(values)
    if (v.normalize() != v).any():
        return [t.strftime("%Y-%m-%d %H:%M") for t in v]
    if (v.day == 1).all() and len(v) > 1:
        if (v.month == 1).all():
            return [t.strftime("%Y") for t in v]
        return [t.strftime("%b %Y") for t in v]
    return [t.strftime("%Y-%m-%d") for t in v]


def _value_column(spec: ChartSpec, frame: pd.DataFrame) -> str:
    """The height/value column of long-format data: ``value``, the single y, or the only number."""
    if spec.value:
        return spec.value
    if len(spec.y) == 1:
        return spec.y[0]
    numbers = [
        c
        for c in frame.columns
        if c not in (spec.x, spec.series) and pd.api.types.is_numeric_dtype(frame[c])
    ]
    if len(numbers) == 1:
        return numbers[0]
    raise ValueError(f"chart {spec.title!r}: say which column is the value (value= or one y)")


def _y_columns(spec: ChartSpec, frame: pd.DataFrame) -> list[str]:
    if spec.y:
        return list(spec.y)
    numbers = [
        c
        for c in frame.columns
        if c != spec.x
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
    if not numbers:
        raise ValueError(f"chart {spec.title!r}: no numeric column to plot; set y")
    return numbers


def _table(spec: ChartSpec, frame: pd.DataFrame, *, sort_numbers: bool) -> tuple[pd.DataFrame, str]:
    """Wide table: one row per x (in drawing order), one float column per series, at most
    ``MAX_SERIES`` (+ ``other``), largest total first. Returns it and the x type.

    Long format (``series``) is pivoted (duplicates summed); wide rows are kept as they are,
    so duplicate category names (two tracks called "Intro") stay separate bars.
    """
    xs, x_kind = _x_values(frame, spec.x)
    data = frame.assign(**{spec.x: xs})
    data = data[data[spec.x].notna()]
    if spec.series:
        value = _value_column(spec, data)
        keys = data[spec.series].map(_category_label)
        long = pd.DataFrame({"x": data[spec.x], "s": keys, "v": _numeric(data[value])})
        summed = long.groupby(["x", "s"], sort=False)["v"].sum(min_count=1)
        wide = summed.unstack("s")
        wide = wide.reindex(index=pd.unique(long["x"]), columns=pd.unique(long["s"]))
    else:
        ys = _y_columns(spec, data)
        wide = pd.DataFrame({_humanize(c) if len(ys) > 1 else c: _numeric(data[c]) for c in ys})
        wide.index = pd.Index(data[spec.x].to_numpy())
    if (x_kind == "time") or (x_kind == "number" and sort_numbers):
        wide = wide.sort_index(kind="stable")
    wide = wide.dropna(how="all").dropna(axis=1, how="all")
    return _limit_series(wide, rank=spec.series is not None), x_kind


def _limit_series(wide: pd.DataFrame, *, rank: bool = True) -> pd.DataFrame:
    """Keep the ``MAX_SERIES`` largest series (by absolute total); sum the rest into ``other``.

    ``rank`` orders the kept series largest first (long format: the data decides); without it
    the declared order of a few y columns is kept.
    """
    if wide.shape[1] <= MAX_SERIES:
        if not rank:
            return wide
        order = wide.abs().sum().to_numpy()
        ranked = sorted(range(wide.shape[1]), key=lambda i: (-order[i], i))
        return wide.iloc[:, ranked]
    totals = wide.abs().sum()
    candidates = [c for c in wide.columns if c != OTHER]
    ranked = sorted(candidates, key=lambda c: (-totals[c], candidates.index(c)))
    keep = ranked[:MAX_SERIES]
    rest = [c for c in wide.columns if c not in keep]
    out = wide[keep].copy()
    out[OTHER] = wide[rest].sum(axis=1, min_count=1)
    return out


def _colors(columns: Sequence[str]) -> list[str]:
    palette = iter(PALETTE * (len(columns) // len(PALETTE) + 1))
    return [OTHER_COLOR if c == OTHER else next(palette) for c in columns]


# ---------------------------------------------------------------------------- axes formatting


def _compact(value: float, reference: float | None = None) -> str:
    """A short number: 1.2M, 350k, 8,000, 0.25. The unit follows ``reference`` (the largest
    value on the axis) so one axis never mixes "8,000" and "10k"; years never get here."""
    if not math.isfinite(value):
        return ""
    if value == 0:
        return "0"
    magnitude = abs(value if reference is None else reference)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if magnitude >= scale and (scale > 1e3 or magnitude >= 1e4):
            return f"{value / scale:.3g}{unit}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


class _CompactFormatter(Formatter):
    """Tick labels with :func:`_compact`, one unit per axis (per tick on log axes)."""

    def __init__(self, *, per_tick: bool = False) -> None:
        self.per_tick = per_tick

    def __call__(self, x: float, pos: int | None = None) -> str:
        if self.per_tick or self.axis is None:
            return _compact(x)
        lo, hi = self.axis.get_view_interval()
        return _compact(x, max(abs(lo), abs(hi)))


def _percent_formatter(values: np.ndarray) -> PercentFormatter:
    """Percent ticks with as many decimals as the spread needs (34.4%, not 34.40%)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    spread = float(np.ptp(finite)) * 100 if finite.size else 100.0
    decimals = 0 if spread >= 10 or spread == 0 else min(2, 1 - math.floor(math.log10(spread)))
    return PercentFormatter(1.0, decimals=decimals)


def _is_share(names: Sequence[str], values: pd.DataFrame | pd.Series) -> bool:
    """Rates and shares in [0, 1] are shown as percentages (``churn_rate``, ``skip_rate``)."""
    if not names or not all(re.search(r"(rate|share|ratio|fraction)$", n.lower()) for n in names):
        return False
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return arr.size > 0 and arr.min() >= 0 and arr.max() <= 1


def _value_axis(ax: Axes, which: str, *, share: bool, log: bool, values: np.ndarray) -> None:
    axis = ax.yaxis if which == "y" else ax.xaxis
    if log:
        finite = values[np.isfinite(values)]
        positive = finite.size > 0 and finite.min() > 0
        if which == "y":
            ax.set_yscale("log" if positive else "symlog", **({} if positive else {"linthresh": 1}))
        else:
            ax.set_xscale("log" if positive else "symlog", **({} if positive else {"linthresh": 1}))
    if share:
        axis.set_major_formatter(_percent_formatter(values))
    else:
        axis.set_major_formatter(_CompactFormatter(per_tick=log))
        if log:
            axis.set_minor_formatter(NullFormatter())


def _time_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=True))


def _number_x_axis(ax: Axes, xs: pd.Series) -> None:
    if pd.api.types.is_integer_dtype(xs) or bool(np.all(np.mod(xs.dropna(), 1) == 0)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=10))
    ax.xaxis.get_major_formatter().set_useOffset(False)


def _category_ticks(ax: Axes, labels: list[str], *, axis: str = "x", span_px: float = 700) -> None:
    """Category tick labels that fit: thin them out and tilt them when they would overlap."""
    n = len(labels)
    positions = np.arange(n)
    if axis == "y":  # rows: every label up to 30 (barh grows), else every k-th
        ticks = positions[:: max(1, math.ceil(n / 30))]
        ax.set_yticks(ticks, [labels[i] for i in ticks])
        return
    longest = max((len(s) for s in labels), default=1)
    step = max(1, math.ceil(n / 24))
    shown = math.ceil(n / step)
    rotate = longest * 6.0 > span_px / max(shown, 1)
    if rotate:
        step = max(step, math.ceil(n / 30))
    ticks = positions[::step]
    ax.set_xticks(ticks, [labels[i] for i in ticks])
    if rotate:
        for label in ax.get_xticklabels():
            label.set_rotation(35)
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def _x_category_labels(index: pd.Index, x_kind: str, limit: int = MAX_LABEL_CHARS) -> list[str]:
    if x_kind == "time":
        return _time_labels(pd.Series(index))
    return [_category_label(v, limit) for v in index]


def _finish_xy(ax: Axes, spec: ChartSpec, value_name: str | None, *, legend: str | None) -> None:
    _labels(ax, _given(spec.x_label, _humanize(spec.x)), _given(spec.y_label, value_name))
    _legend(ax, legend)


def _value_name(spec: ChartSpec, frame: pd.DataFrame) -> str | None:
    if spec.series:
        return _humanize(_value_column(spec, frame))
    ys = _y_columns(spec, frame)
    return _humanize(ys[0]) if len(ys) == 1 else None


def _value_names(spec: ChartSpec, frame: pd.DataFrame) -> list[str]:
    return [_value_column(spec, frame)] if spec.series else _y_columns(spec, frame)


# ---------------------------------------------------------------------------- chart kinds


def _draw_line(fig: Figure, ax: Axes, spec: ChartSpec, frame: pd.DataFrame) -> bool:
    wide, x_kind = _table(spec, frame, sort_numbers=True)
    if wide.empty:
        return False
    xs = wide.index.to_numpy() if x_kind != "category" else np.arange(len(wide))
    many = len(wide) > 60
    for column, color in zip(wide.columns, _colors(wide.columns), strict=True):
        ax.plot(
            xs,
            wide[column].to_numpy(),
            color=color,
            linewidth=1.4 if many else 1.8,
            marker=None if many else "o",
            markersize=3,
            label=_truncate(column),
            linestyle="--" if column == OTHER else "-",
        )
    if x_kind == "time":
        _time_axis(ax)
    elif x_kind == "number":
        _number_x_axis(ax, pd.Series(wide.index))
    else:
        _category_ticks(ax, _x_category_labels(wide.index, x_kind))
    _grid(ax, "y")
    names = _value_names(spec, frame)
    _value_axis(
        ax, "y", share=_is_share(names, wide), log=spec.log_y, values=wide.to_numpy().ravel()
    )
    if spec.log_x and x_kind == "number":
        _value_axis(ax, "x", share=False, log=True, values=np.asarray(xs, dtype=float))
    _finish_xy(ax, spec, _value_name(spec, frame), legend=_legend_title(spec))
    return True


def _legend_title(spec: ChartSpec) -> str | None:
    return _humanize(spec.series) if spec.series else None


def _draw_area(fig: Figure, ax: Axes, spec: ChartSpec, frame: pd.DataFrame) -> bool:
    wide, x_kind = _table(spec, frame, sort_numbers=True)
    if wide.empty:
        return False
    wide = wide.fillna(0.0)
    xs = wide.index.to_numpy() if x_kind != "category" else np.arange(len(wide))
    ax.stackplot(
        xs,
        *[wide[c].to_numpy() for c in wide.columns],
        labels=[_truncate(c) for c in wide.columns],
        colors=_colors(wide.columns),
        alpha=0.9,
        linewidth=0.4,
        edgecolor="white",
    )
    if x_kind == "time":
        _time_axis(ax)
    elif x_kind == "number":
        _number_x_axis(ax, pd.Series(wide.index))
    else:
        _category_ticks(ax, _x_category_labels(wide.index, x_kind))
    if len(xs) > 1:
        ax.set_xlim(xs[0], xs[-1])
    if (wide.to_numpy() >= 0).all():
        ax.set_ylim(bottom=0)
    _grid(ax, "y")
    totals = wide.sum(axis=1).to_numpy()
    _value_axis(
        ax, "y", share=_is_share(_value_names(spec, frame), totals), log=False, values=totals
    )
    _labels(
        ax, _given(spec.x_label, _humanize(spec.x)), _given(spec.y_label, _value_name(spec, frame))
    )
    _legend(ax, _legend_title(spec), reverse=True)
    return True


def _draw_bar(fig: Figure, ax: Axes, spec: ChartSpec, frame: pd.DataFrame) -> bool:
    wide, x_kind = _table(spec, frame, sort_numbers=False)
    if wide.empty:
        return False
    n, k = wide.shape
    positions = np.arange(n)
    width = 0.8 / k
    for i, (column, color) in enumerate(zip(wide.columns, _colors(wide.columns), strict=True)):
        offset = (i - (k - 1) / 2) * width
        ax.bar(
            positions + offset,
            wide[column].fillna(0).to_numpy(),
            width=width * 0.95,
            color=color,
            label=_truncate(column),
        )
    _category_ticks(ax, _x_category_labels(wide.index, x_kind))
    ax.set_xlim(-0.6, n - 0.4)
    _grid(ax, "y")
    values = wide.to_numpy().ravel()
    _value_axis(
        ax, "y", share=_is_share(_value_names(spec, frame), values), log=spec.log_y, values=values
    )
    _finish_xy(ax, spec, _value_name(spec, frame), legend=_legend_title(spec))
    return True


def _draw_stacked_bar(fig: Figure, ax: Axes, spec: ChartSpec, frame: pd.DataFrame) -> bool:
    wide, x_kind = _table(spec, frame, sort_numbers=False)
    if wide.empty:
        return False
    wide = wide.fillna(0.0)
    positions = np.arange(len(wide))
    bottom_pos = np.zeros(len(wide))
    bottom_neg = np.zeros(len(wide))
    for column, color in zip(wide.columns, _colors(wide.columns), strict=True):
        heights = wide[column].to_numpy()
        bottom = np.where(heights >= 0, bottom_pos, bottom_neg)
        ax.bar(
            positions,
            heights,
            bottom=bottom,
            width=0.8,
            color=color,
            label=_truncate(column),
            edgecolor="white",
            linewidth=0.4,
        )
        bottom_pos += np.clip(heights, 0, None)
        bottom_neg += np.clip(heights, None, 0)
    _category_ticks(ax, _x_category_labels(wide.index, x_kind))
    ax.set_xlim(-0.6, len(wide) - 0.4)
    _grid(ax, "y")
    totals = wide.sum(axis=1).to_numpy()
    _value_axis(
        ax, "y", share=_is_share(_value_names(spec, frame), totals), log=False, values=totals
    )
    _labels(
        ax, _given(spec.x_label, _humanize(spec.x)), _given(spec.y_label, _value_name(spec, frame))
    )
    _legend(ax, _legend_title(spec), reverse=True)
    return True


def _draw_barh(fig: Figure, ax: Axes, spec: ChartSpec, frame: pd.DataFrame) -> bool:
    wide, x_kind = _table(spec, frame, sort_numbers=False)
    if wide.empty:
        return False
    total_rows = len(wide)
    wide = wide.iloc[:MAX_BARH_ROWS]
    n, k = wide.shape
    if n > 16:  # grow downwards rather than squash labels: ~20 px per bar
        fig.set_size_inches(WIDTH_IN, min(1.2 + 0.2 * n, 7.5))
    positions = np.arange(n)
    height = 0.8 / k
    annotate = k == 1
    for i, (column, color) in enumerate(zip(wide.columns, _colors(wide.columns), strict=True)):
        offset = (i - (k - 1) / 2) * height
        values = wide[column].fillna(0).to_numpy()
        bars = ax.barh(
            positions + offset, values, height=height * 0.95, color=color, label=_truncate(column)
        )
        if annotate:
            share = _is_share(_value_names(spec, frame), values)
            texts = [f"{v:.1%}" if share else _compact(v) for v in values]
            ax.bar_label(bars, texts, padding=3, fontsize=8, color=MUTED)
    _category_ticks(ax, _x_category_labels(wide.index, x_kind, limit=32), axis="y")
    ax.set_ylim(n - 0.4, -0.6)  # first row on top: the frame's order is the ranking
    ax.margins(x=0.1)
    ax.tick_params(axis="y", length=0)
    _grid(ax, "x")
    values = wide.to_numpy().ravel()
    _value_axis(
        ax, "x", share=_is_share(_value_names(spec, frame), values), log=spec.log_y, values=values
    )
    category = spec.x_label if spec.x_label else None
    _labels(ax, _given(spec.y_label, _value_name(spec, frame)), category)
    if total_rows > n:
        ax.text(
            1.0,
            1.01,
            f"first {n} of {total_rows}",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color=MUTED,
        )
    _legend(ax, _legend_title(spec))
    return True


def _axis_order(values: pd.Series, name: str) -> tuple[list[Any], list[str]]:
    """Heatmap axis: integers as a full range (weekdays named), dates sorted, text as given."""
    present = values.dropna()
    if pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present):
        ints = bool(np.all(np.mod(present, 1) == 0))
        if ints and present.max() - present.min() <= 60:
            lo, hi = int(present.min()), int(present.max())
            keys: list[Any] = list(range(lo, hi + 1))
            weekday = re.search(r"weekday|dow|day_of_week", name.lower()) is not None
            if weekday and lo >= 0 and hi <= 6:
                return keys, [WEEKDAYS[i] for i in keys]
            if weekday and lo >= 1 and hi <= 7:  # ISO 1 = Mon .. 7 = Sun
                return keys, [WEEKDAYS[i - 1] for i in keys]
            return keys, [str(i) for i in keys]
        keys = sorted(pd.unique(present))
        return keys, [_category_label(v) for v in keys]
    if pd.api.types.is_datetime64_any_dtype(present):
        keys = sorted(pd.unique(present))
        return keys, _time_labels(pd.Series(keys))
    keys = list(pd.unique(present))
    return keys, [_category_label(v) for v in keys]


def _draw_heatmap(fig: Figure, ax: Axes, spec: ChartSpec, frame: pd.DataFrame) -> bool:
    if not spec.y:
        raise ValueError(f"chart {spec.title!r}: a heatmap needs y (the vertical axis column)")
    y = spec.y[0]
    value = spec.value or (spec.y[1] if len(spec.y) > 1 else None)
    if value is None:
        raise ValueError(f"chart {spec.title!r}: a heatmap needs value (the cell column)")
    data = pd.DataFrame({"x": frame[spec.x], "y": frame[y], "v": _numeric(frame[value])}).dropna(
        subset=["x", "y"]
    )
    if data["v"].notna().sum() == 0:
        return False
    x_keys, x_labels = _axis_order(data["x"], spec.x)
    y_keys, y_labels = _axis_order(data["y"], y)
    grid = data.groupby(["y", "x"])["v"].sum(min_count=1).unstack("x")
    grid = grid.reindex(index=y_keys, columns=x_keys)
    cells = np.ma.masked_invalid(grid.to_numpy(dtype=float))
    image = ax.imshow(cells, aspect="auto", cmap=_HEAT_CMAP, interpolation="nearest")
    for side in ax.spines.values():
        side.set_visible(False)
    ax.tick_params(length=0)
    x_labels = [_truncate(s, 12) for s in x_labels]
    _category_ticks(ax, x_labels)
    _category_ticks(ax, [_truncate(s, 16) for s in y_labels], axis="y")
    colorbar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    colorbar.outline.set_visible(False)
    colorbar.ax.tick_params(labelsize=8, colors=MUTED, length=2)
    share = _is_share([value], data["v"])
    colorbar.ax.yaxis.set_major_formatter(
        _percent_formatter(data["v"].to_numpy()) if share else _CompactFormatter()
    )
    colorbar.set_label(_humanize(value), fontsize=9, color=MUTED)
    if cells.size <= 120:  # small grids: the numbers themselves
        limit = float(cells.max()) if cells.count() else 0.0
        for (row, col), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if np.isfinite(v):
                ax.text(
                    col,
                    row,
                    f"{v:.0%}" if share else _compact(v),
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="white" if limit and v > 0.6 * limit else TEXT,
                )
    _labels(ax, _given(spec.x_label, _humanize(spec.x)), _given(spec.y_label, _humanize(y)))
    return True


def _draw_scatter(fig: Figure, ax: Axes, spec: ChartSpec, frame: pd.DataFrame) -> bool:
    if not spec.y:
        raise ValueError(f"chart {spec.title!r}: a scatter needs y")
    y = spec.y[0]
    xs, x_kind = _x_values(frame, spec.x)
    if x_kind == "category":
        raise ValueError(f"chart {spec.title!r}: scatter x {spec.x!r} is not numeric or a date")
    data = pd.DataFrame({"x": xs if x_kind == "time" else _numeric(xs), "y": _numeric(frame[y])})
    if spec.series:
        data["s"] = frame[spec.series].map(_category_label)
    data = data.dropna(subset=["x", "y"])
    if data.empty:
        return False
    size = float(np.clip(600 / math.sqrt(len(data)), 4, 30))
    alpha = float(np.clip(8 / math.sqrt(len(data)), 0.25, 0.85))
    if spec.series:
        counts = data.groupby("s", sort=False).size()
        wide = _limit_series(pd.DataFrame([counts.to_numpy()], columns=counts.index))
        keep = [c for c in wide.columns if c != OTHER]
        data["s"] = data["s"].where(data["s"].isin(keep), OTHER)
        for group, color in zip(wide.columns, _colors(wide.columns), strict=True):
            part = data[data["s"] == group]
            ax.scatter(
                part["x"].to_numpy(),
                part["y"].to_numpy(),
                s=size,
                alpha=alpha,
                color=color,
                linewidths=0,
                label=_truncate(group),
            )
    else:
        ax.scatter(
            data["x"].to_numpy(),
            data["y"].to_numpy(),
            s=size,
            alpha=alpha,
            color=PALETTE[0],
            linewidths=0,
        )
    x_values = data["x"].to_numpy(dtype=float) if x_kind == "number" else np.array([])
    if spec.fit == "log10x" and x_kind == "number":
        fitted = fit_log10x(data["x"], data["y"])
        if fitted is not None:
            a, b, r2 = fitted
            grid = np.geomspace(max(x_values.min(), 0) + 1, x_values.max() + 1, 200) - 1
            r2_text = "n/a" if math.isnan(r2) else f"{r2:.2f}"
            sign = "+" if b >= 0 else "−"
            ax.plot(
                grid,
                a + b * np.log10(grid + 1),
                color=PALETTE[3],
                linewidth=2,
                label=f"fit: y = {a:.3g} {sign} {abs(b):.3g}·log10(x+1), R² = {r2_text}",
            )
    elif spec.fit is not None:
        raise ValueError(f"chart {spec.title!r}: unknown fit {spec.fit!r} (only 'log10x')")
    if x_kind == "time":
        _time_axis(ax)
    else:
        log_x = spec.log_x or spec.fit == "log10x"
        _value_axis(ax, "x", share=_is_share([spec.x], data["x"]), log=log_x, values=x_values)
    _value_axis(
        ax, "y", share=_is_share([y], data["y"]), log=spec.log_y, values=data["y"].to_numpy()
    )
    _grid(ax, "both")
    _labels(ax, _given(spec.x_label, _humanize(spec.x)), _given(spec.y_label, _humanize(y)))
    handles, labels = ax.get_legend_handles_labels()
    fit = [(h, lab) for h, lab in zip(handles, labels, strict=True) if lab.startswith("fit:")]
    groups = [
        (h, lab) for h, lab in zip(handles, labels, strict=True) if not lab.startswith("fit:")
    ]
    if fit:  # the fit's equation inside, top left, where it is read with the line
        inside = ax.legend(
            *zip(*fit, strict=True), loc="upper left", fontsize=8.5, framealpha=0.9, edgecolor=GRID
        )
        inside.get_frame().set_linewidth(0.6)
        if len(groups) > 1:
            ax.add_artist(inside)  # keep it when the series legend below replaces ax.legend_
    if len(groups) > 1:  # series outside on the right, like the other charts
        outside = ax.legend(
            *zip(*groups, strict=True),
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize=8.5,
            title=_legend_title(spec),
            title_fontsize=9,
            alignment="left",
            borderaxespad=0.0,
        )
        outside.get_title().set_color(MUTED)
    return True


def _draw_hist(fig: Figure, ax: Axes, spec: ChartSpec, frame: pd.DataFrame) -> bool:
    if spec.y or spec.value:  # already binned: one bar per row, in the frame's order
        value = spec.value or spec.y[0]
        data = pd.DataFrame({"x": frame[spec.x], "v": _numeric(frame[value])}).dropna()
        if data.empty:
            return False
        xs, x_kind = _x_values(data, "x")
        labels = _time_labels(xs) if x_kind == "time" else [_category_label(v) for v in xs]
        ax.bar(
            np.arange(len(data)),
            data["v"].to_numpy(),
            width=1.0,
            color=PALETTE[0],
            edgecolor="white",
            linewidth=0.6,
        )
        _category_ticks(ax, labels)
        ax.set_xlim(-0.6, len(data) - 0.4)
        y_name = _humanize(value)
    else:
        raw = frame[spec.x]
        if not pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
            counts = raw.dropna().map(_category_label).value_counts(sort=True)
            counts = counts.iloc[:MAX_BARH_ROWS]
            if counts.empty:
                return False
            ax.bar(np.arange(len(counts)), counts.to_numpy(), width=0.8, color=PALETTE[0])
            _category_ticks(ax, list(counts.index))
        else:
            values = _numeric(raw).dropna().to_numpy()
            if values.size == 0:
                return False
            ax.hist(values, bins=_bins(values), color=PALETTE[0], edgecolor="white", linewidth=0.6)
            if spec.log_x:
                _value_axis(ax, "x", share=False, log=True, values=values)
        y_name = "Count"
    _grid(ax, "y")
    if spec.log_y:
        ax.set_yscale("log")
    else:
        ax.yaxis.set_major_formatter(_CompactFormatter())
    _labels(ax, _given(spec.x_label, _humanize(spec.x)), _given(spec.y_label, y_name))
    return True


def _bins(values: np.ndarray) -> np.ndarray:
    """One bin per integer for small integer ranges (popularity 0-100), else numpy's 'auto'
    kept between 10 and 60 bins."""
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return np.array([lo - 0.5, hi + 0.5])
    if np.all(np.mod(values, 1) == 0) and hi - lo <= 60:
        return np.arange(lo - 0.5, hi + 1.5)
    edges = np.histogram_bin_edges(values, bins="auto")
    count = int(np.clip(len(edges) - 1, 10, 60))
    return np.linspace(lo, hi, count + 1)


_DRAWERS: dict[str, Callable[[Figure, Axes, ChartSpec, pd.DataFrame], bool]] = {
    "line": _draw_line,
    "bar": _draw_bar,
    "barh": _draw_barh,
    "stacked_bar": _draw_stacked_bar,
    "area": _draw_area,
    "heatmap": _draw_heatmap,
    "scatter": _draw_scatter,
    "hist": _draw_hist,
}
