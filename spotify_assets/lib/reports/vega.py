"""One chart definition, two outputs (Dagster-free): a :class:`PlotSpec` and its frame become
one Vega-Lite spec, drawn as a PNG for the Dagster UI (vl-convert, no browser) and embedded as
it is in the dashboard, where Vega-Embed makes it interactive (tooltips, zoom on time axes,
legend highlighting, a picker that filters).

Why Vega-Lite: a chart is a declarative JSON document, the same shape as a ``PlotSpec``; the
``vl-convert-python`` wheel renders it to PNG without a browser and ships the Vega, Vega-Lite
and Vega-Embed JavaScript (:func:`javascript_bundle`), so the dashboard's script is vendored
from a package at build time and the pages open from ``file://`` with no network.

Column roles follow the spec literally: ``x`` is the category/time column, ``y`` the value
column(s); ``barh`` puts the categories down the vertical axis. Missing columns are a bug in
the spec and raise ``ValueError``; an empty frame is data and draws a "no data" chart.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from spotify_assets.lib.marts.spec import PlotSpec

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

#: The Vega-Lite version of every spec: the one the vendored bundle and vl-convert run (v6; a
#: v5 schema made the browser log "input spec uses Vega-Lite v5" for every chart).
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
WIDTH, HEIGHT = 640, 280
MAX_SERIES = 8
MAX_BARH_ROWS = 30
OTHER = "other"
#: The name of the parameter a picker sets (the dashboard's page-level select sets it).
PICK = "pick"
ALL = "all"
PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
           "#64B5CD", "#B8B8B8"]  # fmt: skip
WEEKDAY_LABELS = "['Mon','Tue','Wed','Thu','Fri','Sat','Sun'][datum.value]"
_SHARE = re.compile(r"(^share|_share$|_rate$|^share_of|churn_rate)")
#: A ranking's row order, carried in its data (1 = first row of the frame): categories sort by
#: it. ``sort: null`` (the data's order) is not kept by Vega once a picker filters the rows
#: again: after 2025 -> 2024 -> all, 'Top 10 artists' showed 47 above 54.
POSITION = "_pos"


def vega_spec(spec: PlotSpec, frame: pd.DataFrame) -> dict[str, Any]:
    """The Vega-Lite spec of ``spec`` drawn from ``frame``, with the data inlined."""
    if frame is None or len(frame) == 0:
        return _no_data(spec.title)
    wanted = [spec.x, *spec.y, spec.series, spec.value, spec.picker]
    missing = [c for c in wanted if c is not None and c not in frame.columns]
    if missing:
        raise ValueError(
            f"chart {spec.title!r}: columns {missing} not in the frame ({list(frame.columns)})"
        )
    build = _BUILDERS.get(spec.kind)
    if build is None:
        raise ValueError(f"unknown chart kind {spec.kind!r} (one of {sorted(_BUILDERS)})")
    body = build(spec, frame)
    if body is None:
        return _no_data(spec.title)
    out: dict[str, Any] = {
        "$schema": SCHEMA,
        "title": {"text": spec.title, "anchor": "start", "fontSize": 14},
        "width": WIDTH,
        "height": body.pop("_height", HEIGHT),
        "config": _CONFIG,
    }
    unit = body.pop("_unit", None)
    out.update(body)
    if unit:  # what a period's filter compares (a month is in a period if any of it is)
        out["usermeta"] = {"time_unit": unit}
    if spec.picker:
        _add_picker(out, spec, frame)
    return out


def to_png(vl: dict[str, Any], scale: float = 1.0) -> bytes:
    """PNG bytes of a Vega-Lite spec (deterministic: same spec, same bytes)."""
    import vl_convert

    return vl_convert.vegalite_to_png(vl, scale=scale)


def to_svg(vl: dict[str, Any]) -> str:
    """SVG text of a Vega-Lite spec (what a test reads: labels as text)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(vl)


@functools.cache
def javascript_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script (from the vl-convert wheel, no network)."""
    import vl_convert

    return vl_convert.javascript_bundle()


@functools.cache
def packed_bundle() -> str:
    """:func:`javascript_bundle` gzipped and in base64 (0.4 MB instead of 0.9 MB), for a page
    that carries its chart library inside (the dashboard's runtime unpacks it with the
    browser's DecompressionStream). Deterministic: no time stamp in the gzip header."""
    import base64
    import gzip

    packed = gzip.compress(javascript_bundle().encode("utf-8"), compresslevel=9, mtime=0)
    return base64.b64encode(packed).decode("ascii")


# ---------------------------------------------------------------------------- data


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: dates as ISO strings, NaN and NaT as null, numpy types as Python."""
    return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="s"))


def _is_time(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    present = values.dropna()
    if present.empty or values.dtype != object:
        return False
    sample = present.iloc[0]
    return hasattr(sample, "year") and hasattr(sample, "month") and not isinstance(sample, str)


def _x_type(values: pd.Series) -> str:
    if _is_time(values):
        return "temporal"
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return "quantitative"
    return "nominal"


def _is_share(column: str) -> bool:
    return bool(_SHARE.search(column))


def _value_axis(column: str, label: str | None, *, log: bool = False) -> dict[str, Any]:
    enc: dict[str, Any] = {"field": column, "type": "quantitative", "title": _label(label, column)}
    if _is_share(column):
        enc["axis"] = {"format": ".0%"}
    if log:
        enc["scale"] = {"type": "symlog"}
    return enc


def _label(given: str | None, column: str) -> str:
    if given is not None:
        return given
    text = column.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def time_unit(values: pd.Series) -> str:
    """``yearmonth`` when every date is the first of its month at midnight (a monthly series),
    else ``yearmonthdate``."""
    present = pd.to_datetime(values.dropna())
    if len(present) and bool(((present.dt.day == 1) & (present == present.dt.normalize())).all()):
        return "yearmonth"
    return "yearmonthdate"


#: Ticks of a monthly line: on months (every 3 past two years, on years past five), so the
#: labels say months and years, never the weeks of Vega's own ticks.
MONTH_TICKS = (
    "span(domain('x')) > 157766400000 ? {interval: 'year', step: 1} : "
    "span(domain('x')) > 63115200000 ? {interval: 'month', step: 3} : "
    "{interval: 'month', step: 1}"
)
#: How a time unit's values read on an axis and in a tooltip.
TIME_FORMATS = {"yearmonth": "%b %Y", "yearmonthdate": "%Y-%m-%d"}


def _x_enc(spec: PlotSpec, frame: pd.DataFrame, *, ordinal_numbers: bool = False) -> dict:
    kind = _x_type(frame[spec.x])
    enc: dict[str, Any] = {"field": spec.x, "title": _label(spec.x_label, spec.x)}
    if kind == "quantitative" and ordinal_numbers:
        kind = "ordinal"
    enc["type"] = kind
    if kind == "nominal":
        enc["sort"] = {"field": POSITION, "op": "min", "order": "ascending"}  # the frame's order
        enc["axis"] = {"labelLimit": 160}
    if re.search(r"weekday", spec.x) and kind in ("quantitative", "ordinal"):
        enc["axis"] = {"labelExpr": WEEKDAY_LABELS}
    return enc


def _long(spec: PlotSpec, frame: pd.DataFrame) -> tuple[pd.DataFrame, str, str]:
    """Long format (x, series, value): from ``series``/``value`` or by melting several y; at
    most ``MAX_SERIES`` series, the rest summed into ``other``."""
    if spec.series:
        value = spec.value or (spec.y[0] if spec.y else None)
        if value is None:
            raise ValueError(f"chart {spec.title!r}: say which column is the value")
        data = frame[[spec.x, spec.series, value, *([spec.picker] if spec.picker else [])]]
        data = data.rename(columns={spec.series: "series", value: "value"})
        data["series"] = data["series"].astype("string").fillna("(none)")
        totals = data.groupby("series")["value"].apply(lambda v: v.abs().sum())
        keep = list(totals.sort_values(ascending=False, kind="stable").index[:MAX_SERIES])
        if len(totals) > MAX_SERIES:
            data = data.assign(series=data["series"].where(data["series"].isin(keep), OTHER))
            keys = [spec.x, "series", *([spec.picker] if spec.picker else [])]
            data = data.groupby(keys, sort=False, dropna=False)["value"].sum().reset_index()
        return data, _label(spec.y_label, value), spec.series
    ys = list(spec.y) or [
        c
        for c in frame.columns
        if c != spec.x and pd.api.types.is_numeric_dtype(frame[c]) and c != spec.picker
    ]
    ids = [spec.x, *([spec.picker] if spec.picker else [])]
    if len(ys) == 1:  # one series: no melt (most charts; melt costs ms per small frame)
        data = frame[[*ids, ys[0]]].rename(columns={ys[0]: "value"})
        return data.assign(series=_label(None, ys[0])), _label(spec.y_label, ys[0]), "series"
    data = frame.melt(id_vars=ids, value_vars=ys, var_name="series", value_name="value")
    data["series"] = data["series"].map(lambda c: _label(None, c))
    title = _label(spec.y_label, ys[0]) if len(ys) == 1 else _label(spec.y_label, "value")
    return data, title, "series"


def _tooltip(*fields: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Tooltip fields from ``(field, type, title[, time format])``."""
    out = []
    for field, kind, title, *time_format in fields:
        item: dict[str, Any] = {"field": field, "type": kind}
        if title:
            item["title"] = title
        if kind == "temporal":
            item["format"] = (time_format and time_format[0]) or "%Y-%m-%d"
        elif kind == "quantitative":
            item["format"] = ".1%" if _is_share(field) or _is_share(title or "") else ",.4~r"
        out.append(item)
    return out


# ---------------------------------------------------------------------------- kinds


def _series_chart(spec: PlotSpec, frame: pd.DataFrame, mark: str) -> dict[str, Any] | None:
    data, value_title, series_title = _long(spec, frame)
    data = data[data[spec.x].notna()]
    if data["value"].notna().sum() == 0:
        return None
    x = _x_enc(spec, data, ordinal_numbers=mark == "bar")
    if x["type"] == "nominal":
        data = data.assign(**{POSITION: np.arange(1, len(data) + 1)})
    unit = None
    if x["type"] == "temporal":
        # A continuous time axis: a month or day without plays is a gap of its width (or a
        # zero the data fills in), never dropped as an ordinal axis dropped it. Bars span
        # their month or day; lines keep Vega's own labels (a fixed format repeats a month
        # on every tick of a week).
        unit = time_unit(data[spec.x])
        x["axis"] = {"labelOverlap": True}
        if mark != "line" and mark != "area":
            x["timeUnit"] = unit
            x["axis"]["format"] = TIME_FORMATS[unit]
        elif unit == "yearmonth":
            x["axis"]["tickCount"] = {"expr": MONTH_TICKS}
    several = (spec.series is not None or len(spec.y) > 1) and data["series"].nunique() > 1
    y = {**_value_axis("value", value_title, log=spec.log_y)}
    if _is_share(spec.value or (spec.y[0] if spec.y else "")):
        y["axis"] = {"format": ".0%"}
    enc: dict[str, Any] = {
        "x": x,
        "y": y,
        "tooltip": _tooltip(
            (spec.x, x["type"], x["title"], TIME_FORMATS.get(unit or "")),
            *((("series", "nominal", _label(None, series_title)),) if several else ()),
            ("value", "quantitative", value_title),
        ),
    }
    params: list[dict[str, Any]] = []
    if several:
        enc["color"] = {
            "field": "series",
            "type": "nominal",
            "title": _label(None, series_title),
            "sort": None,
            "scale": {"range": PALETTE},
        }
        params.append({"name": "legend", "select": {"type": "point", "fields": ["series"]},
                       "bind": "legend"})  # fmt: skip
        enc["opacity"] = {"condition": {"param": "legend", "value": 1}, "value": 0.2}
    if mark == "line":
        mark_def: dict[str, Any] = {"type": "line", "point": len(data) <= 60, "tooltip": True}
    elif mark == "area":
        mark_def = {"type": "area", "line": True}
        enc["y"]["stack"] = "zero"
    else:
        mark_def = {"type": "bar"}
        if mark == "bar" and several:
            enc["xOffset"] = {"field": "series", "sort": None}
    if x["type"] in ("temporal", "quantitative"):
        # zoom and pan the time axis (wheel, drag); double-click resets
        params.append({"name": "zoom", "select": {"type": "interval", "encodings": ["x"]},
                       "bind": "scales"})  # fmt: skip
    out: dict[str, Any] = {"data": {"values": records(data)}, "mark": mark_def, "encoding": enc}
    if params:
        out["params"] = params
    if unit:
        out["_unit"] = unit
    return out


def _line(spec: PlotSpec, frame: pd.DataFrame) -> dict[str, Any] | None:
    return _series_chart(spec, frame, "line")


def _area(spec: PlotSpec, frame: pd.DataFrame) -> dict[str, Any] | None:
    return _series_chart(spec, frame, "area")


def _bar(spec: PlotSpec, frame: pd.DataFrame) -> dict[str, Any] | None:
    return _series_chart(spec, frame, "bar")


def _stacked_bar(spec: PlotSpec, frame: pd.DataFrame) -> dict[str, Any] | None:
    return _series_chart(spec, frame, "stacked")


def _barh(spec: PlotSpec, frame: pd.DataFrame) -> dict[str, Any] | None:
    value = spec.value or (spec.y[0] if spec.y else None)
    if value is None:
        raise ValueError(f"chart {spec.title!r}: a barh needs y")
    data = frame.assign(**{POSITION: np.arange(1, len(frame) + 1)})
    data = data[data[spec.x].notna()]
    if spec.picker is None:
        data = data.iloc[:MAX_BARH_ROWS]
    if data[value].notna().sum() == 0:
        return None
    rows = min(data.groupby(spec.picker).size().max() if spec.picker else len(data), 30)
    category = _label(spec.x_label, spec.x)
    value_title = _label(spec.y_label, value)
    enc = {
        "y": {"field": spec.x, "type": "nominal", "title": category,
              "sort": {"field": POSITION, "op": "min", "order": "ascending"},
              "axis": {"labelLimit": 220}},
        "x": _value_axis(value, value_title, log=spec.log_y),
        "tooltip": _tooltip((spec.x, "nominal", category), (value, "quantitative", value_title)),
    }  # fmt: skip
    fmt = ".1%" if _is_share(value) else number_format(data[value])
    return {
        "_height": max(120, 22 * int(rows)),
        "data": {"values": records(data)},
        "layer": [
            {"mark": {"type": "bar", "color": PALETTE[0]}, "encoding": enc},
            {
                "mark": {"type": "text", "align": "left", "dx": 3, "color": "#666"},
                "encoding": {**enc, "text": {"field": value, "format": fmt}},
            },
        ],
    }


def number_format(values: pd.Series) -> str:
    """A d3 format for a bar's value label that reads as a number, not an SI unit (an
    importance of 0.512 was '512m', 0.000503 '503µ'): thousands separators up to 10,000,
    k/M/B above, three significant digits below 1."""
    present = pd.to_numeric(values, errors="coerce").dropna().abs()
    largest = float(present.max()) if len(present) else 0.0
    if largest >= 10_000:
        return ",.3~s"
    if largest >= 1 and bool((present == present.round()).all()):
        return ",d"
    if largest >= 1:
        return ",.4~r"
    return ".3~r"


def _heatmap(spec: PlotSpec, frame: pd.DataFrame) -> dict[str, Any] | None:
    if not spec.y:
        raise ValueError(f"chart {spec.title!r}: a heatmap needs y (the vertical axis column)")
    y = spec.y[0]
    value = spec.value or (spec.y[1] if len(spec.y) > 1 else None)
    if value is None:
        raise ValueError(f"chart {spec.title!r}: a heatmap needs value (the cell column)")
    if frame[value].notna().sum() == 0:
        return None
    x_enc = {"field": spec.x, "type": "ordinal", "title": _label(spec.x_label, spec.x)}
    y_enc: dict[str, Any] = {"field": y, "type": "ordinal", "title": _label(spec.y_label, y)}
    if "weekday" in y:
        y_enc["axis"] = {"labelExpr": WEEKDAY_LABELS}
    return {
        "data": {"values": records(frame[[spec.x, y, value]])},
        "mark": {"type": "rect", "tooltip": True},
        "encoding": {
            "x": x_enc,
            "y": y_enc,
            "color": {"field": value, "type": "quantitative", "title": _label(None, value),
                      "scale": {"scheme": "blues"}},
            "tooltip": _tooltip((spec.x, "ordinal", None), (y, "ordinal", None),
                                (value, "quantitative", None)),
        },
    }  # fmt: skip


def _scatter(spec: PlotSpec, frame: pd.DataFrame) -> dict[str, Any] | None:
    if not spec.y:
        raise ValueError(f"chart {spec.title!r}: a scatter needs y")
    y = spec.y[0]
    kind = _x_type(frame[spec.x])
    if kind == "nominal":
        raise ValueError(f"chart {spec.title!r}: scatter x {spec.x!r} is not numeric or a date")
    cols = [c for c in dict.fromkeys([spec.x, y, spec.series, spec.picker]) if c]
    data = frame[cols].dropna(subset=[spec.x, y])
    if data.empty:
        return None
    log_x = spec.log_x or spec.fit == "log10x"
    x_enc: dict[str, Any] = {"field": spec.x, "type": kind, "title": _label(spec.x_label, spec.x)}
    if log_x:
        x_enc["scale"] = {"type": "symlog"}
    if kind == "quantitative" and float(data[spec.x].abs().max()) >= 100_000:
        # '20M', not '20,000,000' (labels that long ran into each other on a phone)
        x_enc["axis"] = {"format": "~s", "labelOverlap": True, "labelFlush": True}
    enc: dict[str, Any] = {
        "x": x_enc,
        "y": _value_axis(y, spec.y_label, log=spec.log_y),
        "tooltip": _tooltip((spec.x, kind, None), (y, "quantitative", None)),
    }
    if spec.series:
        enc["color"] = {"field": spec.series, "type": "nominal", "scale": {"range": PALETTE}}
    opacity = float(np.clip(8 / math.sqrt(len(data)), 0.25, 0.85))
    layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "circle", "opacity": opacity},
            "encoding": enc,
            "params": [{"name": "zoom", "select": "interval", "bind": "scales"}],
        }
    ]
    if spec.fit == "log10x" and kind == "quantitative":
        fitted = fit_log10x(data[spec.x], data[y])
        if fitted is not None:
            a, b, r2 = fitted
            lo, hi = max(float(data[spec.x].min()), 0.0), float(data[spec.x].max())
            grid = np.geomspace(lo + 1, hi + 1, 60) - 1
            r2_text = "n/a" if math.isnan(r2) else f"{r2:.2f}"
            layers.append({
                "data": {"values": [{spec.x: float(g), y: float(a + b * math.log10(g + 1))}
                                    for g in grid]},
                "mark": {"type": "line", "color": PALETTE[3], "strokeWidth": 2},
                "encoding": {"x": {"field": spec.x, "type": "quantitative"},
                             "y": {"field": y, "type": "quantitative"}},
            })  # fmt: skip
            layers.append(
                {
                    "data": {"values": [{}]},
                    "mark": {"type": "text", "align": "left", "x": 8, "y": 8, "color": "#444"},
                    "encoding": {
                        "text": {"value": f"fit: y = {a:.3g} + {b:.3g}·log10(x+1), R² = {r2_text}"}
                    },
                }
            )
    elif spec.fit is not None:
        raise ValueError(f"chart {spec.title!r}: unknown fit {spec.fit!r} (only 'log10x')")
    return {"data": {"values": records(data)}, "layer": layers}


def _hist(spec: PlotSpec, frame: pd.DataFrame) -> dict[str, Any] | None:
    if spec.y or spec.value:  # already binned: one bar per row, in the frame's order
        value = spec.value or spec.y[0]
        data = frame[[spec.x, value]].dropna()
        if data.empty:
            return None
        x = {"field": spec.x, "type": "ordinal", "sort": None,
             "title": _label(spec.x_label, spec.x)}  # fmt: skip
        return {
            "data": {"values": records(data)},
            "mark": {"type": "bar", "color": PALETTE[0]},
            "encoding": {"x": x, "y": _value_axis(value, spec.y_label, log=spec.log_y),
                         "tooltip": _tooltip((spec.x, "ordinal", None),
                                             (value, "quantitative", None))},
        }  # fmt: skip
    raw = frame[[spec.x]].dropna()
    if raw.empty:
        return None
    numeric = pd.api.types.is_numeric_dtype(raw[spec.x]) and not pd.api.types.is_bool_dtype(
        raw[spec.x]
    )
    title = _label(spec.x_label, spec.x)
    x: dict[str, Any] = {"field": spec.x, "title": title}
    if numeric:
        x.update(type="quantitative", bin={"maxbins": 40})
        if spec.log_x:
            x["scale"] = {"type": "symlog"}
    else:
        x.update(type="nominal", sort="-y")
    y = {"aggregate": "count", "type": "quantitative", "title": _label(spec.y_label, "count")}
    if spec.log_y:
        y["scale"] = {"type": "symlog"}
    return {
        "data": {"values": records(raw)},
        "mark": {"type": "bar", "color": PALETTE[0], "tooltip": True},
        "encoding": {"x": x, "y": y},
    }


def fit_log10x(x: Any, y: Any) -> tuple[float, float, float] | None:
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


# ---------------------------------------------------------------------------- in bulk

#: Where :func:`template` leaves a chart's data values out of its spec.
VALUES_SLOT = "__vega_values__"
#: The chart kinds :func:`values_sql` shapes (one or several ``y``, no ``series``; ``barh``).
BULK_KINDS = ("line", "bar", "area", "stacked_bar", "barh")


def template(spec: PlotSpec, frame: pd.DataFrame) -> tuple[dict[str, Any], list[Any] | None]:
    """:func:`vega_spec` of ``frame`` with its data values taken out (``VALUES_SLOT`` in their
    place), and those values (None for a "no data" chart, whose text stays in the spec)."""
    out = vega_spec(spec, frame)
    if (out.get("usermeta") or {}).get("no_data"):
        return out, None
    values = out["data"]["values"]
    return {**out, "data": {"values": VALUES_SLOT}}, values


def layout_key(
    spec: PlotSpec, *, rows: int, values: int, options: Sequence[str], rows_per_pick: int
) -> tuple[Any, ...]:
    """All that :func:`vega_spec` takes from a chart's data besides the values, for the kinds
    of ``BULK_KINDS``: charts of one key differ only in their data values, so they share one
    :func:`template`. ``rows`` are the rows of the shaped data (:func:`values_sql`), ``values``
    those with a value, ``options`` the picker's values in order, ``rows_per_pick`` the most
    rows of one picker value."""
    if spec.kind not in BULK_KINDS or spec.series or not spec.y:
        raise ValueError(
            f"chart {spec.title!r}: {spec.kind} with series={spec.series!r} and y={spec.y!r} "
            f"is not drawn in bulk (kinds {BULK_KINDS}, with y, without series)"
        )
    if rows == 0 or values == 0:
        return ("no data",)
    point = spec.kind == "line" and rows <= 60  # _series_chart's points on short lines
    bars = min(rows_per_pick if spec.picker else rows, MAX_BARH_ROWS)  # _barh's height
    return (tuple(options), point, bars if spec.kind == "barh" else None)


def values_sql(
    spec: PlotSpec, relation: str, columns: Mapping[str, str], *, by: str, order: str
) -> str:
    """SQL over ``relation`` (every group's frame, ``by`` naming the group) giving per group
    what :func:`vega_spec` would draw from that group's frame alone: ``values`` (the data
    values as JSON text, shaped as ``_long`` and ``_barh`` shape them: one or several y melted
    to ``value``/``series``, rows without x dropped, dates as ISO text, doubles to 10 decimals
    as pandas writes them), and ``rows``, ``present``, ``options``, ``rows_per_pick`` for
    :func:`layout_key`. ``columns`` are the frame's columns in order with their DuckDB types;
    ``order`` is the frame's row order (SQL over ``relation``). A test compares both paths."""
    layout_key(spec, rows=0, values=0, options=(), rows_per_pick=0)  # the kind is supported

    def value(column: str) -> str:
        kind = columns[column].upper()
        if kind in ("DATE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
            return f"strftime({_q(column)}, '%Y-%m-%dT%H:%M:%S')"
        if kind in ("DOUBLE", "FLOAT", "REAL"):
            return f"round({_q(column)}, 10)"
        return _q(column)

    pick = _q(spec.picker) if spec.picker else "null"
    position = _q(POSITION)
    if spec.kind == "barh":  # the row's place in the whole frame (_barh numbers before it drops)
        y = spec.value or spec.y[0]
        fields = ", ".join([*(f"{_q(c)} := {value(c)}" for c in columns), f"{position} := _pos"])
        melted = [f"select *, 0 as _y, {_q(y)} as _v, struct_pack({fields}) as _r from framed"]
    else:
        # Categories on x carry their place among the rows drawn (_series_chart numbers them
        # after the melt): by y, then the frame's order.
        ranked = columns[spec.x].upper() in ("VARCHAR", "TEXT", "STRING")
        ids = [spec.x, *([spec.picker] if spec.picker else [])]
        melted = []
        for i, y in enumerate(spec.y):
            fields = [f"{_q(c)} := {value(c)}" for c in ids]
            label = _sql_text(_label(None, y))
            if len(spec.y) == 1:  # _long's column order: x, picker, value, series
                fields += [f"value := {value(y)}", f"series := {label}"]
            else:  # melted: x, picker, series, value
                fields += [f"series := {label}", f"value := {value(y)}"]
            if ranked:
                fields.append(
                    f"{position} := row_number() over (partition by {_q(by)} order by _pos) "
                    f"+ {i} * count(*) over (partition by {_q(by)})"
                )
            melted.append(
                f"select *, {i} as _y, {_q(y)} as _v, struct_pack({', '.join(fields)}) as _r "
                "from framed"
            )
    union = "\nunion all\n".join(melted)
    return f"""
with numbered as (
    select *, row_number() over (partition by {_q(by)} order by {order}) as _pos
      from {relation}
),
framed as (select * from numbered where {_q(spec.x)} is not null),
shaped as (
    select *, count(*) over (partition by {_q(by)}, {pick}) as _per_pick from ({union})
),
options as (
    select {_q(by)}, list(_pick order by _first) as options
      from (select {_q(by)}, {pick}::varchar as _pick, min(_pos) as _first from numbered
             where {pick} is not null group by all)
     group by all
)
select {_q(by)}, to_json(list(_r order by _y, _pos))::varchar as values, count(*) as rows,
       count(_v) as present, coalesce(any_value(o.options), []) as options,
       max(_per_pick) filter (where {pick} is not null) as rows_per_pick
  from shaped left join options o using ({_q(by)})
 group by {_q(by)}
"""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------------------- brush

#: The interval brush on a chart's x (:func:`with_brush`) and the range the dashboard's runtime
#: sends from it to the charts of the same section that follow it (:func:`follows_brush`).
BRUSH = "brush"
RANGE = "range"


def with_brush(vl: dict[str, Any]) -> dict[str, Any]:
    """``vl`` with an interval brush on its x axis (drag across the bars or points to select a
    time range, click outside it to clear), instead of zoom and pan (both would take the drag).
    ``usermeta.brush`` tells the dashboard to send the range to the section's other charts."""
    if (vl.get("usermeta") or {}).get("no_data"):
        return vl
    params = [p for p in vl.get("params", []) if p.get("name") != "zoom"]
    params.append({"name": BRUSH, "select": {"type": "interval", "encodings": ["x"]}})
    return {**vl, "params": params, "usermeta": {**vl.get("usermeta", {}), "brush": True}}


def follows_brush(vl: dict[str, Any], field: str, *, months: bool = False) -> dict[str, Any]:
    """``vl`` keeping only the rows whose date ``field`` is in the brushed range (parameter
    ``range``: ``[first, last]`` in epoch milliseconds, both included; null keeps every row).
    With ``months``, ``field`` is a month's first day and a month is kept when any of it is
    in the range (a brush on a continuous time axis starts and ends inside months)."""
    if (vl.get("usermeta") or {}).get("no_data"):
        return vl
    day = f"toDate(datum[{json.dumps(field)}])"
    if months:
        test = (
            f"{RANGE} == null || (time({day}) <= {RANGE}[1] && "
            f"time(datetime(year({day}), month({day}) + 1, 1)) > {RANGE}[0])"
        )
    else:
        test = f"{RANGE} == null || inrange(time({day}), {RANGE})"
    return {
        **vl,
        "params": [*vl.get("params", []), {"name": RANGE, "value": None}],
        "transform": [*vl.get("transform", []), {"filter": test}],
        "usermeta": {**vl.get("usermeta", {}), "range": field},
    }


# ---------------------------------------------------------------------------- periods

#: The parameter the overview's period picker sets: ``[first, last]`` as local ISO text.
PERIOD = "period_range"
#: A row's note when its month is partial (shown in the tooltip; the bar is lighter).
PARTIAL = "_partial"


def time_field(vl: dict[str, Any]) -> str | None:
    """The date field on a single view's x axis, or None (layers, categories, no data)."""
    x = (vl.get("encoding") or {}).get("x") or {}
    return x.get("field") if x.get("type") == "temporal" else None


def with_period(vl: dict[str, Any], iso_range: Sequence[str]) -> dict[str, Any]:
    """``vl`` keeping the rows whose x date is within the period the page's picker sets
    (parameter ``period_range``, starting at ``iso_range``); ``usermeta.period`` tells the
    page's runtime to set it. Unchanged when x is not a date."""
    field = time_field(vl)
    if field is None:
        return vl
    day = f"toDate(datum[{json.dumps(field)}])"
    first, last = f"time(toDate({PERIOD}[0]))", f"time(toDate({PERIOD}[1]))"
    if (vl.get("usermeta") or {}).get("time_unit") == "yearmonth":  # any of the month in it
        end = f"time(datetime(year({day}), month({day}) + 1, 1))"
        test = f"{PERIOD} == null || (time({day}) <= {last} && {end} > {first})"
    else:
        test = f"{PERIOD} == null || inrange(time({day}), [{first}, {last}])"
    return {
        **vl,
        "params": [*vl.get("params", []), {"name": PERIOD, "value": list(iso_range)}],
        "transform": [*vl.get("transform", []), {"filter": test}],
        "usermeta": {**vl.get("usermeta", {}), "period": field},
    }


def mark_partial(vl: dict[str, Any], months: Mapping[str, str]) -> dict[str, Any]:
    """``vl`` with the bars of partial months (``'YYYY-MM'`` -> note) lighter and their note
    in the tooltip: a monthly bar chart only (other charts unchanged)."""
    field = time_field(vl)
    x = (vl.get("encoding") or {}).get("x") or {}
    mark = vl.get("mark") or {}
    if not months or field is None or x.get("timeUnit") != "yearmonth" or mark.get("type") != "bar":
        return vl
    notes = json.dumps(dict(months), ensure_ascii=False)
    calc = f"{notes}[timeFormat(toDate(datum[{json.dumps(field)}]), '%Y-%m')] || null"
    encoding = dict(vl["encoding"])
    if "opacity" not in encoding:
        encoding["opacity"] = {"condition": {"test": f"datum.{PARTIAL}", "value": 0.4}, "value": 1}
    encoding["tooltip"] = [*encoding.get("tooltip", []), {"field": PARTIAL, "title": "note"}]
    return {
        **vl,
        "transform": [*vl.get("transform", []), {"calculate": calc, "as": PARTIAL}],
        "encoding": encoding,
    }


# ---------------------------------------------------------------------------- picker


def _add_picker(out: dict[str, Any], spec: PlotSpec, frame: pd.DataFrame) -> None:
    """A parameter ``pick`` that filters rows on ``spec.picker``; the dashboard's page-level
    select sets it (its options are in ``usermeta``). Its default is ``all`` (no filter) when
    ``spec.picker_all``, else the frame's first value (what the PNG shows)."""
    values = [v for v in pd.unique(frame[spec.picker].dropna())]
    options = [str(v) for v in values]
    default = ALL if spec.picker_all or not options else options[0]
    out["params"] = [*out.get("params", []), {"name": PICK, "value": default}]
    match = f"toString(datum['{spec.picker}']) == {PICK}"
    out["transform"] = [{"filter": f"{PICK} == '{ALL}' || {match}" if spec.picker_all else match}]
    out["usermeta"] = {
        **out.get("usermeta", {}),
        "picker": {
            "column": spec.picker,
            "label": _label(None, spec.picker),
            "options": ([ALL] if spec.picker_all else []) + options,
            "default": default,
        },
    }
    out["title"]["subtitle"] = {"signal": f"'{_label(None, spec.picker)}: ' + {PICK}"}


def _no_data(title: str) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "title": {"text": title, "anchor": "start", "fontSize": 14},
        "width": WIDTH,
        "height": 120,
        "config": _CONFIG,
        "data": {"values": [{"text": "no data"}]},
        "mark": {"type": "text", "fontSize": 16, "color": "#666"},
        "encoding": {"text": {"field": "text"}},
        "usermeta": {"no_data": True},
    }


_CONFIG = {
    "font": "DejaVu Sans, Helvetica, Arial, sans-serif",
    "view": {"stroke": None},
    "axis": {"labelColor": "#666", "titleColor": "#666", "gridColor": "#E8E8E8",
             "domainColor": "#BBB", "tickColor": "#BBB", "labelFontSize": 10},
    "legend": {"labelColor": "#444", "titleColor": "#666", "labelLimit": 180},
    "title": {"color": "#222", "subtitleColor": "#666"},
    "range": {"category": PALETTE},
    "background": "white",
}  # fmt: skip

_BUILDERS = {
    "line": _line,
    "bar": _bar,
    "barh": _barh,
    "stacked_bar": _stacked_bar,
    "area": _area,
    "heatmap": _heatmap,
    "scatter": _scatter,
    "hist": _hist,
}
