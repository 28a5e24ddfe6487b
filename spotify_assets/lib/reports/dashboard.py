"""The offline HTML dashboard (Dagster-free): pages built from sections.

A page must open from a file or an S3 object with no network: CSS is inline, an interactive
chart is its Vega-Lite spec inlined as JSON and drawn by the Vega bundle, either vendored
beside the pages (``script_src``, a relative path; :func:`spotify_assets.lib.reports.vega.
javascript_bundle`) or carried inside the page (``inline_bundle``: a listener's page is one
file that opens alone), a still chart is a ``data:`` PNG, and nothing is fetched from
``http(s)://``. A select per picker column (a year, a region) filters every chart of its
section that declares that picker and shows the blocks marked with the chosen value; the
page's period picker (the overview's) does so for the whole page; tables sort by a click on
their header. Charts take the width of their box (a phone's 390 px too). Every piece of text
comes from data (artist names, playlist titles, check descriptions), so all of it is escaped.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from numbers import Number
from typing import TYPE_CHECKING, Any

import numpy as np

from spotify_assets.lib.reports.plots import png_size

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

MAX_TABLE_ROWS = 200
PASS_COLUMNS = ("passed", "success", "ok")


@dataclass(frozen=True)
class Headline:
    """A number on a card: ``value`` is already formatted (see :func:`format_number`)."""

    label: str
    value: str
    hint: str | None = None


@dataclass(frozen=True)
class Plot:
    """A chart: its Vega-Lite spec (interactive, :func:`spotify_assets.lib.reports.vega.
    vega_spec`) or, for charts only drawn elsewhere (the model's), PNG bytes."""

    title: str
    png: bytes | None = None
    caption: str | None = None
    vega: Mapping[str, Any] | None = None
    #: The spec already as script-safe JSON (:func:`json_script`), for pages built in bulk:
    #: one template per chart with each page's data values spliced in. ``vega`` is then the
    #: template (read for its picker), ``vega_json`` what the page embeds.
    vega_json: str | None = None


@dataclass(frozen=True)
class Section:
    """One part of the page, usually one mart: what it is, its numbers, charts, notes, table."""

    title: str
    description: str
    headlines: Sequence[Headline]
    plots: Sequence[Plot]
    notes: Sequence[str] = ()
    table: pd.DataFrame | None = None
    #: Raw HTML placed after the cards (already escaped by its builder: the Wrapped blocks).
    html: str = ""
    #: Table columns shown as links: column -> the column holding the (relative) href.
    links: Mapping[str, str] | None = None
    #: What the section's picker says of each value ('2025' -> '2025 (partial: to 23 Jun)').
    picker_labels: Mapping[str, str] | None = None
    #: The table folded away under this summary line (a long table a person opens on demand).
    fold_table: str | None = None


@dataclass(frozen=True)
class PagePeriods:
    """The page's period picker (the overview's): ``options`` are ``(value, label, [first,
    last] as ISO text)``, ``default`` a value. It sets every chart over time of the page that
    declares a period (:func:`spotify_assets.lib.reports.vega.with_period`) and shows the
    blocks marked ``data-pick-column="period"`` with the chosen value."""

    options: Sequence[tuple[str, str, Sequence[str]]]
    default: str


# ---------------------------------------------------------------------------- numbers


def format_number(x: Any, *, percent: bool = False, digits: int = 3) -> str:
    """A number as a person reads it on a card: 1234567 -> '1.23M', 12345 -> '12.3k',
    1234 -> '1,234', 0.1234 -> '0.123' (or '12.3%' with ``percent``); missing -> '–'.

    Below 10,000 the exact figure stays readable, so it is kept (with a thousands separator).
    ``digits`` is the number of significant digits of the rounded forms.
    """
    kind = type(x)
    if kind is int and not percent and -10_000 < x < 10_000:  # the common case, fast
        return f"{x:,}"
    if kind is not float and kind is not int:  # (isinstance on the ABCs costs µs a call)
        if x is None or x is pd.NA or x is pd.NaT:
            return "–"
        if isinstance(x, bool | np.bool_):
            return "yes" if x else "no"
        if not isinstance(x, Number | Decimal | np.number):
            return str(x)
    value = float(x)
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if percent:
        return _significant(value * 100, digits) + "%"
    magnitude = abs(value)
    units = (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3))
    for i, (unit, scale) in enumerate(units):
        if magnitude >= scale and (scale > 1e3 or magnitude >= 1e4):
            text = _significant(value / scale, digits)
            if abs(float(text)) >= 1000 and i > 0:  # 999,999 rounds to 1000k: say 1M
                unit, scale = units[i - 1]
                text = _significant(value / scale, digits)
            return text + unit
    if magnitude >= 1000 or value.is_integer():
        return f"{value:,.0f}"
    return _significant(value, digits)


def _significant(value: float, digits: int) -> str:
    """``digits`` significant digits, no exponent, no trailing zeros: 12.30 -> '12.3'."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def headlines_from_row(
    row: Mapping[str, Any], hints: Mapping[str, str] | None = None
) -> list[Headline]:
    """Cards from the one-row result of a mart's ``headline`` query (column name = label).

    Columns named like rates or shares (``churn_rate``, ``mainstream_share``) in [0, 1] are
    shown as percentages. Labels are the column names (``as "Active users"`` reads best);
    bare snake_case names are turned into words.
    """
    hints = hints or {}
    cards = []
    for label, value in row.items():
        share = bool(re.search(r"(rate|share|ratio|fraction)$", str(label).lower()))
        percent = share and _is_number(value) and 0 <= float(value) <= 1
        text = str(label)
        if "_" in text and " " not in text:  # a bare column name: make it read like a label
            text = text.replace("_", " ").capitalize()
        cards.append(Headline(text, format_number(value, percent=percent), hints.get(label)))
    return cards


# ---------------------------------------------------------------------------- tables


def render_table(
    frame: pd.DataFrame,
    *,
    max_rows: int = MAX_TABLE_ROWS,
    links: Mapping[str, str] | None = None,
) -> str:
    """A small DataFrame as an escaped, sortable HTML table (the first ``max_rows`` rows);
    ``links`` shows a column as links to the hrefs of another (which is not shown).

    Check results stand out: a boolean ``passed`` column and a ``status`` column become
    passed/failed badges, failed rows are tinted, ``severity`` is coloured (ERROR, WARN).
    """
    if frame is None or frame.empty:
        return '<p class="empty">No rows.</p>'
    links = dict(links or {})
    hrefs = {c: frame[h].iloc[:max_rows].tolist() for c, h in links.items()}
    shown = frame.iloc[:max_rows].drop(columns=list(links.values()))
    columns = [str(c) for c in shown.columns]
    numeric = [
        pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
        for c in shown.columns
    ]
    head = "".join(
        f'<th scope="col"{_num_class(n)}>{_e(c)}</th>'
        for c, n in zip(columns, numeric, strict=True)
    )
    body = []
    for i, record in enumerate(shown.itertuples(index=False, name=None)):  # <= max_rows rows
        cells, failed = [], False
        for column, value, is_num in zip(columns, record, numeric, strict=True):
            if column in hrefs:
                href = _e(hrefs[column][i])
                cells.append(f'<td><a href="{href}">{_e(_cell(value))}</a></td>')
                continue
            cell, bad = _table_cell(column.lower(), value, is_num)
            cells.append(cell)
            failed = failed or bad
        row_class = ' class="failed"' if failed else ""
        body.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    more = ""
    if len(frame) > max_rows:
        more = f'<p class="more">Showing {max_rows:,} of {len(frame):,} rows.</p>'
    return (
        '<div class="table-wrap"><table class="sortable">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>{more}"
    )


def _table_cell(column: str, value: Any, numeric: bool) -> tuple[str, bool]:
    """One ``<td>`` and whether it marks its row as failed."""
    if column in PASS_COLUMNS and _is_bool(value):
        return _badge("passed" if value else "failed"), not value
    if column == "status" and isinstance(value, str):
        return _badge(value), value.lower() in ("failed", "error")
    if column == "severity" and isinstance(value, str):
        level = re.sub(r"[^a-z]", "", value.lower())
        return f'<td><span class="sev sev-{level}">{_e(value)}</span></td>', False
    return f"<td{_num_class(numeric)}>{_e(_cell(value))}</td>", False


def _badge(status: str) -> str:
    kind = {"passed": "pass", "failed": "fail", "error": "fail"}.get(status.lower(), "neutral")
    return f'<td><span class="badge {kind}">{_e(status)}</span></td>'


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, Number | Decimal | np.number)
        and not _is_bool(value)
        and math.isfinite(float(value))
    )


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _num_class(numeric: bool) -> str:
    return ' class="num"' if numeric else ""


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float | np.floating) and math.isnan(value):
        return ""
    if _is_bool(value):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp | datetime):
        ts = pd.Timestamp(value)
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating | Decimal):
        v = float(value)
        return f"{v:,.0f}" if v.is_integer() else _significant(v, 4)
    return str(value)


# ---------------------------------------------------------------------------- page


def build_dashboard(
    title: str,
    data_as_of: str,
    sections: Sequence[Section],
    *,
    generated_at: str,
    script_src: str | None = None,
    inline_bundle: str | None = None,
    back_link: tuple[str, str] | None = None,
    periods: PagePeriods | None = None,
) -> str:
    """The whole page as one HTML string: a header with the data date and generation time, a
    table of contents, then each section (cards, a responsive grid of charts, notes, table).

    ``generated_at`` is passed in, not read from the clock, so the page is reproducible.
    An interactive chart needs the Vega bundle: ``script_src``, the relative path of the
    vendored one, or ``inline_bundle``, the bundle itself (:func:`packed_bundle`), which makes
    the page one file that opens anywhere offline. ``back_link`` is ``(href, text)`` of a link
    in the header (to the index); ``periods`` the page's period picker.
    """
    interactive = any(c.vega is not None for s in sections for c in s.plots)
    if interactive and not (script_src or inline_bundle):
        raise ValueError(
            "interactive charts need script_src or inline_bundle (the vendored Vega bundle)"
        )
    if inline_bundle:
        scripts = (
            f'<script type="text/plain" id="vega-bundle" data-encoding="gzip+base64">'
            f"{inline_bundle}</script>\n<script>{_RUNTIME}</script>"
        )
    elif interactive:
        scripts = f'<script src="{_e(script_src)}"></script>\n<script>{_RUNTIME}</script>'
    else:
        scripts = f"<script>{_RUNTIME}</script>"
    back = (
        f'<p class="meta"><a href="{_e(back_link[0])}">{_e(back_link[1])}</a></p>'
        if back_link
        else ""
    )
    anchors = _anchors([s.title for s in sections])
    toc = "".join(
        f'<li><a href="#{a}">{_e(s.title)}</a></li>' for s, a in zip(sections, anchors, strict=True)
    )
    body = "".join(_section(s, a) for s, a in zip(sections, anchors, strict=True))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body id="top">
<header class="page">
{back}<h1>{_e(title)}</h1>
<p class="meta">Data as of <strong>{_e(data_as_of)}</strong> · generated {_e(generated_at)}</p>
</header>
{_page_picker(periods)}
<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>{toc}</ol></nav>
<main>
{body}
</main>
<footer class="page"><p>Built offline from the warehouse marts; every chart is embedded in this
file or beside it. <a href="#top">Back to top</a></p></footer>
{scripts}
</body>
</html>
"""


def _section(section: Section, anchor: str) -> str:
    parts = [f'<section id="{anchor}">', f"<h2>{_e(section.title)}</h2>"]
    if section.description:
        parts.append(f'<p class="description">{_e(section.description)}</p>')
    parts.extend(_pickers(section))
    if section.headlines:
        cards = "".join(_card(h) for h in section.headlines)
        parts.append(f'<div class="cards">{cards}</div>')
    if section.html:
        parts.append(section.html)
    if section.plots:
        parts.append(f'<div class="charts">{"".join(_figure(c) for c in section.plots)}</div>')
    if section.notes:
        notes = "".join(f"<li>{_e(n)}</li>" for n in section.notes)
        parts.append(f'<ul class="notes">{notes}</ul>')
    if section.table is not None:
        table = render_table(section.table, links=section.links)
        if section.fold_table:
            table = (
                f'<details class="table"><summary>{_e(section.fold_table)}</summary>'
                f"{table}</details>"
            )
        parts.append(table)
    parts.append('<p class="top"><a href="#top">↑ top</a></p></section>')
    return "\n".join(parts)


def _card(headline: Headline) -> str:
    hint = f'<div class="hint">{_e(headline.hint)}</div>' if headline.hint else ""
    # Words (a month, a date range) in a smaller type than figures, so they keep to a line.
    kind = "card text" if re.search(r"[A-Za-z]{3}|\s", headline.value) else "card"
    return (
        f'<div class="{kind}"><div class="value">{_e(headline.value)}</div>'
        f'<div class="label">{_e(headline.label)}</div>{hint}</div>'
    )


def card_html(headlines: Sequence[Headline]) -> str:
    """A row of cards (for blocks a builder assembles itself, like the period tiles)."""
    return f'<div class="cards">{"".join(_card(h) for h in headlines)}</div>'


def _page_picker(periods: PagePeriods | None) -> str:
    if periods is None:
        return ""
    options = "".join(
        f'<option value="{_e(value)}" data-start="{_e(bounds[0])}" data-end="{_e(bounds[1])}"'
        f"{' selected' if value == periods.default else ''}>{_e(label)}</option>"
        for value, label, bounds in periods.options
    )
    return (
        '<div class="period-bar"><p class="picker"><label>Period <select class="picker" '
        f'data-column="period" data-scope="page">{options}</select></label></p></div>\n'
    )


def _pickers(section: Section) -> list[str]:
    """One select per picker column of the section's charts (options in chart order)."""
    pickers: dict[str, dict[str, Any]] = {}
    for chart in section.plots:
        meta = ((chart.vega or {}).get("usermeta") or {}).get("picker")
        if meta:
            known = pickers.setdefault(meta["column"], {**meta, "options": []})
            known["options"] += [o for o in meta["options"] if o not in known["options"]]
    out = []
    labels = section.picker_labels or {}
    for column, meta in pickers.items():
        options = "".join(
            f'<option value="{_e(o)}"{" selected" if o == meta["default"] else ""}>'
            f"{_e(labels.get(o, o))}</option>"
            for o in meta["options"]
        )
        out.append(
            f'<p class="picker"><label>{_e(meta["label"])} <select class="picker" '
            f'data-column="{_e(column)}">{options}</select></label></p>'
        )
    return out


def json_script(value: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` or ``<!--`` can close it)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return script_safe(text)


def script_safe(json_text: str) -> str:
    """JSON text made safe inside a ``<script>`` element (``<``, ``>``, ``&`` as escapes)."""
    return json_text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _figure(plot: Plot) -> str:
    caption = f"<figcaption>{_e(plot.caption)}</figcaption>" if plot.caption else ""
    if plot.vega is not None:
        return (
            f'<figure class="vchart"><div class="vega" role="img" aria-label="{_e(plot.title)}">'
            f'</div><script type="application/json" class="vega-spec">'
            f"{plot.vega_json or json_script(plot.vega)}</script>{caption}</figure>"
        )
    if plot.png is None:
        raise ValueError(f"plot {plot.title!r} has neither a spec nor a PNG")
    try:
        width, height = png_size(plot.png)
        size = f' width="{width}" height="{height}"'
    except ValueError:
        size = ""
    uri = "data:image/png;base64," + base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure><img src="{uri}" alt="{_e(plot.title)}"{size} loading="lazy">{caption}</figure>'
    )


def _anchors(titles: Sequence[str]) -> list[str]:
    """Unique, readable ids: "Top artists" -> "top-artists", repeats get "-2", "-3"."""
    seen: dict[str, int] = {"top": 1}
    out = []
    for i, title in enumerate(titles, start=1):
        base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or f"section-{i}"
        anchor = base
        while anchor in seen:
            seen[base] += 1
            anchor = f"{base}-{seen[base]}"
        seen.setdefault(anchor, 1)
        out.append(anchor)
    return out


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


_CSS = """
:root { --text: #222; --muted: #666; --line: #e3e3e3; --bg: #fafafa; --card: #fff;
        --accent: #4c72b0; --ok: #2e7d4f; --bad: #b3261e; --warn: #a15c00; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; }
header.page, nav.toc, main, footer.page, .period-bar > p {
  max-width: 1280px; margin: 0 auto; padding: 0 24px; }
header.page { padding-top: 28px; }
h1 { margin: 0 0 4px; font-size: 28px; }
h2 { margin: 0 0 6px; font-size: 21px; }
.meta, .description, .hint, figcaption, .more, .top, footer.page { color: var(--muted); }
nav.toc h2 { font-size: 14px; text-transform: uppercase; letter-spacing: .06em;
             color: var(--muted); margin-top: 16px; }
nav.toc ol { margin: 0; padding-left: 22px; columns: 3 240px; }
nav.toc a, .top a, footer.page a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
          padding: 20px 24px; margin: 20px 0; }
.description { margin: 0 0 14px; max-width: 80ch; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 0 0 16px; }
.card { flex: 1 1 160px; max-width: 260px; border: 1px solid var(--line); border-radius: 6px;
        padding: 10px 14px; background: #fff; }
.card .value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card.text .value { font-size: 17px; line-height: 1.35; padding: 4px 0; }
.card .label { font-size: 13px; }
.card .hint { font-size: 12px; }
.charts { display: grid; gap: 16px;
          grid-template-columns: repeat(auto-fit, minmax(min(100%, 520px), 1fr)); }
figure { margin: 0; }
figure img { display: block; width: 100%; height: auto; border: 1px solid var(--line);
             border-radius: 4px; background: #fff; }
figcaption { font-size: 13px; margin-top: 4px; }
.notes { margin: 14px 0 0; padding-left: 20px; color: var(--muted); font-size: 14px; }
.table-wrap { overflow-x: auto; margin-top: 14px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fdf0ef; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
         font-weight: 600; color: #fff; }
.badge.pass { background: var(--ok); }
.badge.fail { background: var(--bad); }
.badge.neutral { background: #8a8a8a; }
.badge.warn { background: var(--warn); }
.sev { font-weight: 600; font-size: 12px; }
/* Severity is coloured on failed rows only: a passed ERROR check is never red. */
tr.failed .sev-error { color: var(--bad); }
tr.failed .sev-warn, tr.failed .sev-warning { color: var(--warn); }
.empty { color: var(--muted); font-style: italic; }
.top { text-align: right; margin: 8px 0 0; font-size: 13px; }
footer.page { padding-bottom: 32px; font-size: 13px; }
.charts:has(.vchart) { grid-template-columns: repeat(auto-fit, minmax(min(100%, 540px), 1fr)); }
.vega { min-height: 120px; width: 100%; overflow-x: auto; background: #fff;
        border: 1px solid var(--line); border-radius: 4px; padding: 4px 0; }
.vega-tooltip { font-size: 12px; }
p.picker { margin: 0 0 12px; }
p.picker select { font: inherit; padding: 2px 6px; max-width: 100%; }
.period-bar { position: sticky; top: 0; z-index: 10; background: var(--bg);
              border-bottom: 1px solid var(--line); padding: 8px 0; margin-top: 8px; }
.period-bar p.picker { margin: 0 auto; font-weight: 600; }
details.table { margin-top: 14px; }
details.table > summary { cursor: pointer; color: var(--accent); font-weight: 600; }
td { overflow-wrap: anywhere; }
td.num, th { overflow-wrap: normal; }
.attention { margin: 0 0 8px; padding-left: 20px; }
.attention li { margin: 3px 0; }
.attention .badge { margin-right: 6px; }
.all-clear { color: var(--ok); font-weight: 600; }
@media (max-width: 600px) {
  body { font-size: 14px; }
  header.page, nav.toc, main, footer.page, .period-bar > p { padding: 0 10px; }
  header.page { padding-top: 16px; }
  h1 { font-size: 22px; }
  h2 { font-size: 18px; }
  section { padding: 14px 10px; margin: 14px 0; }
  .card { flex: 1 1 120px; padding: 8px 10px; }
  .card .value { font-size: 21px; }
  .card.text .value { font-size: 15px; }
  table { font-size: 12px; }
  th, td { padding: 4px 5px; }
  .wrapped .lists { grid-template-columns: 1fr; }
}
table.sortable th { cursor: pointer; }
table.sortable th[aria-sort]::after { content: " ▾"; }
table.sortable th[aria-sort="ascending"]::after { content: " ▴"; }
.wrapped h3 { margin: 14px 0 6px; font-size: 16px; }
.wrapped ol { margin: 0; padding-left: 22px; }
.wrapped .lists { display: grid; gap: 12px;
                  grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); }
@media print {
  body { background: #fff; font-size: 11pt; }
  section { border: none; padding: 0; margin: 0 0 18px; break-before: auto; }
  .charts { grid-template-columns: 1fr 1fr; }
  figure, .card, tr { break-inside: avoid; }
  .top, footer.page a { display: none; }
  nav.toc a { color: var(--text); }
}
"""

#: Draws every chart (Vega-Embed, SVG) at the width of its box, wires the pickers and sortable
#: tables. Progress goes to ``window.dashboard`` (``rendered``, ``failed``, ``ready``): what a
#: browser test reads. A page carrying its chart library (``#vega-bundle``, gzip and base64)
#: unpacks it first (DecompressionStream: browsers since 2023).
_RUNTIME = r"""
(function () {
  "use strict";
  var state = { rendered: 0, failed: [], views: [] };
  window.dashboard = state;
  var NARROW = 560;
  function library() {
    if (window.vegaEmbed) { return Promise.resolve(); }
    var node = document.getElementById("vega-bundle");
    if (!node) { return Promise.reject(new Error("the chart library (Vega) is missing")); }
    if (typeof DecompressionStream === "undefined") {
      return Promise.reject(new Error("this browser cannot unpack the charts: use one from " +
                                      "2023 or later"));
    }
    var text = atob(node.textContent.trim());
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) { bytes[i] = text.charCodeAt(i); }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(function (code) {
      var script = document.createElement("script");
      script.textContent = code;
      document.head.appendChild(script);
    });
  }
  // Words of a title on lines that fit the box (Vega does not wrap titles).
  function wrap(text, width, font) {
    var ctx = document.createElement("canvas").getContext("2d");
    ctx.font = font;
    var lines = [], line = "";
    String(text).split(" ").forEach(function (word) {
      var next = line ? line + " " + word : word;
      if (line && ctx.measureText(next).width > width) { lines.push(line); line = word; }
      else { line = next; }
    });
    lines.push(line);
    return lines.length > 1 ? lines : text;
  }
  function clampLabels(node, limit) {
    if (!node || typeof node !== "object") { return; }
    Object.keys(node).forEach(function (key) {
      if (key === "labelLimit" && typeof node[key] === "number") {
        node[key] = Math.min(node[key], limit);
      } else if (key !== "data") { clampLabels(node[key], limit); }
    });
  }
  // The spec drawn at the width of its box: a phone gets narrower charts, wrapped titles,
  // shorter category labels and legends below the chart.
  function fit(spec, el) {
    var width = Math.max(200, el.clientWidth - 12);
    spec.width = "container";
    spec.autosize = { type: "fit-x", contains: "padding" };
    var labelled = (spec.layer || []).some(function (l) {
      return (l.mark || {}).type === "text" && l.encoding && l.encoding.text &&
             l.encoding.text.field;
    });
    if (labelled) {  // room for the value labels past the longest bar (fit-x ignores marks)
      spec.padding = { top: 5, bottom: 5, left: 5, right: 44 };
    }
    if (spec.title && spec.title.text) {
      spec.title.text = wrap(spec.title.text, width - 24, "bold 14px " +
                             ((spec.config || {}).font || "sans-serif"));
    }
    if (width < NARROW) {
      var limit = Math.round(width * 0.35);
      clampLabels(spec.encoding, limit);
      (spec.layer || []).forEach(function (l) { clampLabels(l.encoding, limit); });
      spec.config = spec.config || {};
      var columns = Math.max(1, Math.floor(width / 170));
      spec.config.legend = Object.assign({}, spec.config.legend, {
        orient: "bottom", direction: "horizontal", columns: columns,
        labelLimit: Math.floor(width / columns) - 40 });
    }
    return spec;
  }
  var jobs = [];
  var loaded = library();
  document.querySelectorAll("script.vega-spec").forEach(function (node) {
    var target = node.previousElementSibling;
    var spec = JSON.parse(node.textContent);
    var meta = spec.usermeta || {};
    var picker = meta.picker ? meta.picker.column : null;
    jobs.push(loaded.then(function () {
      return vegaEmbed(target, fit(spec, target), { renderer: "svg", actions: false });
    }).then(function (result) {
      state.views.push({ el: target, view: result.view, picker: picker, period: meta.period,
                         brush: !!meta.brush, range: !!meta.range });
      state.rendered += 1;
      target.setAttribute("data-rendered", "1");
    }).catch(function (error) {
      state.failed.push(String(error));
      target.textContent = "This chart could not be drawn: " + error.message;
      console.error("chart failed: " + (spec.title && spec.title.text) + ": " + error);
    }));
  });
  state.ready = Promise.all(jobs).then(function () {
    state.views.forEach(function (v) { if (v.brush) { follow(v); } });
  });
  // A brushed range of dates: [first, last] in ms (a band scale gives every value in it).
  function range(value) {
    var key = value ? Object.keys(value)[0] : null;
    if (!key || !value[key] || !value[key].length) { return null; }
    var ms = value[key].map(function (d) { return +new Date(d); });
    return [Math.min.apply(null, ms), Math.max.apply(null, ms)];
  }
  function follow(source) {
    var scope = source.el.closest("section") || document;
    source.view.addSignalListener("brush", function (name, value) {
      var selected = range(value);
      state.views.forEach(function (v) {
        if (v.range && scope.contains(v.el)) { v.view.signal("range", selected).runAsync(); }
      });
    });
  }
  // An interval brush cleared as a click outside it clears it (its pixel extent emptied);
  // the charts following it then show every row again.
  function clearBrush(view) {
    try { view.signal("brush_x", []); } catch (e) { return; }
    state.views.forEach(function (v) { if (v.range) { v.view.signal("range", null); } });
  }
  function hideTooltip() {
    var tip = document.getElementById("vg-tooltip-element");
    if (tip) { tip.classList.remove("visible"); }
  }
  function pick(select) {
    var scope = select.getAttribute("data-scope") === "page"
      ? document : (select.closest("section") || document);
    var column = select.getAttribute("data-column");
    var option = select.options[select.selectedIndex];
    var start = option.getAttribute("data-start"), end = option.getAttribute("data-end");
    hideTooltip();  // it spoke of a mark the new period may not have
    var runs = [];
    state.views.forEach(function (v) {
      if (!scope.contains(v.el)) { return; }
      if (v.brush) { clearBrush(v.view); }  // a range of another period's months
      if (v.picker === column) { runs.push(v.view.signal("pick", select.value).runAsync()); }
      if (v.period && start) {
        runs.push(v.view.signal("period_range", [start, end]).runAsync());
      }
    });
    scope.querySelectorAll("[data-pick-column='" + column + "']").forEach(function (el) {
      el.hidden = el.getAttribute("data-pick-value") !== select.value;
    });
    return Promise.all(runs);
  }
  state.pick = pick;
  document.querySelectorAll("select.picker").forEach(function (select) {
    select.addEventListener("change", function () {
      state.ready.then(function () { return pick(select); });
    });
  });
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, index) {
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(function (o) {
          o.removeAttribute("aria-sort");
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        function key(row) {
          var text = row.cells[index] ? row.cells[index].textContent.trim() : "";
          var number = parseFloat(text.replace(/,/g, ""));
          return /^-?[\d,.]+%?$/.test(text) && !isNaN(number) ? number : text.toLowerCase();
        }
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var order = x < y ? -1 : x > y ? 1 : 0;
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""
