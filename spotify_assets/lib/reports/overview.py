"""The dashboard's content from the warehouse (Dagster-free): one section per group of marts,
with their headline numbers and interactive charts, the date of the data, and a page per
listener (:func:`spotify_assets.lib.reports.listener_pages.listener_pages`).

The overview has a period picker over the listening history (:mod:`spotify_assets.lib.
reports.periods`): the recent span where the listening is (the default), the last 12 months,
every year with music, all time, partial ones named. It moves the period cards and every
chart over time of the groups that follow it; their other charts say they cover all time.
The data-quality section puts what needs attention first, linked to each asset in the Dagster
UI, with the whole table folded away.

Each chart is the mart's own :class:`PlotSpec` turned into a Vega-Lite spec from a small query
(:func:`spotify_assets.lib.reports.vega.vega_spec`): the same definition the mart asset draws
as a PNG, so the dashboard is always the marts as they are in the warehouse now.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from spotify_assets.lib.marts.run import existing_tables, headline, plot_frame
from spotify_assets.lib.marts.spec import IS_STREAM, Mart
from spotify_assets.lib.reports.dashboard import (
    Headline,
    PagePeriods,
    Plot,
    Section,
    card_html,
    format_number,
)
from spotify_assets.lib.reports.listener_pages import (  # noqa: F401 (LISTENER_DIR: assets)
    LISTENER_DIR,
    listener_pages,
    listeners_section,
)
from spotify_assets.lib.reports.periods import (
    Coverage,
    Period,
    coverage,
    long_day,
    overview_periods,
    partial_months,
    partial_note,
)
from spotify_assets.lib.reports.vega import (
    mark_partial,
    packed_bundle,
    time_field,
    vega_spec,
    with_period,
)

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd


@dataclass(frozen=True)
class MartGroup:
    """A dashboard section: a title, a sentence on what it answers, and its marts.

    A group of the listening history ``follows_period``: its charts over time show the period
    picked on the page (the others say they cover all time), and with ``period_tiles`` it
    opens with that period's cards (listening hours, streams, listeners, active days) instead
    of the headlines of ``without_headlines`` (marts whose all-time cards they replace)."""

    title: str
    description: str
    marts: Sequence[Mart]
    follows_period: bool = False
    period_tiles: bool = False
    without_headlines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Periods:
    """The overview's periods over the data's coverage, and the one shown first."""

    covered: Coverage
    periods: list[Period]
    default: str

    @property
    def chosen(self) -> Period:
        return next(p for p in self.periods if p.value == self.default)

    def picker(self) -> PagePeriods:
        return PagePeriods([(p.value, p.label, p.iso_range()) for p in self.periods], self.default)


def listening_periods(conn: Any) -> Periods | None:
    """The periods of the listening history (``core.streams``): years with music plays, the
    last 12 months, the recent span, all time (:mod:`spotify_assets.lib.reports.periods`)."""
    if "core.streams" not in existing_tables(conn):
        return None
    covered = coverage(conn)
    if covered is None:
        return None
    years = [
        y
        for (y,) in conn.execute(
            "select distinct year(ts) from core.streams where content_type = 'music' order by 1"
        ).fetchall()
    ]
    monthly = conn.execute(
        """
with m as (
    select date_trunc('month', ts)::date as month, sum(ms_played) / 3600000.0 as hours
      from core.streams where content_type = 'music' group by all
),
months as (
    select unnest(generate_series(min(month), max(month), interval 1 month))::date as month
      from m
)
select month, coalesce(hours, 0) from months left join m using (month) order by month
"""
    ).fetchall()
    periods, default = overview_periods(covered, years, monthly)
    return Periods(covered, periods, default)


def data_as_of(conn: Any) -> dict[str, str]:
    """What the data covers: the last play in the listening history, the latest snapshot."""
    tables = existing_tables(conn)
    out: dict[str, str] = {}
    if "core.streams" in tables:
        first, last = conn.execute("select min(ts), max(ts) from core.streams").fetchall()[0]
        if last is not None:
            out["listening history"] = f"{first:%Y-%m-%d} to {last:%Y-%m-%d %H:%M} UTC"
    if "core.playlist_tracks" in tables:
        (snap,) = conn.execute("select max(snapshot_time) from core.playlist_tracks").fetchall()[0]
        if snap is not None:
            out["latest playlist snapshot"] = f"{snap:%Y-%m-%d %H:%M} UTC"
    if "reports.data_quality" in tables:
        (checked,) = conn.execute("select max(evaluated_at) from reports.data_quality").fetchone()
        if checked is not None:
            out["latest check result"] = f"{checked:%Y-%m-%d %H:%M} UTC"
    return out


def _headline_value(name: str, value: Any) -> str:
    if isinstance(value, float) and ("rate" in name or "share" in name):
        return f"{value:.1%}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(value)
    return "n/a" if value is None else str(value)


def mart_section(
    conn: Any,
    group: MartGroup,
    extra_plots: Sequence[Plot] = (),
    periods: Periods | None = None,
) -> Section:
    """Headlines and interactive charts of the group's marts that exist; missing ones are
    listed as notes. ``extra_plots`` are appended (e.g. the model's PNG charts). With
    ``periods``, a group that follows the period gets its period cards and its charts over
    time follow the picker (partial months lighter, named in the caption)."""
    tables = existing_tables(conn)
    headlines: list[Headline] = []
    charts: list[Plot] = []
    notes: list[str] = []
    follows = periods if group.follows_period else None
    for mart in group.marts:
        if mart.table not in tables:
            notes.append(f"{mart.table} is not materialized yet.")
            continue
        if mart.table not in group.without_headlines:
            for name, value in headline(conn, mart).items():
                headlines.append(Headline(name, _headline_value(name, value), hint=mart.table))
        for chart in mart.plots:
            spec = vega_spec(chart, plot_frame(conn, mart, chart))
            caption = mart.description
            if follows is not None:
                spec, note = _over_period(spec, follows)
                caption = f"{caption} {note}" if note else caption
            charts.append(Plot(chart.title, caption=caption, vega=spec))
    charts.extend(extra_plots)
    tiles = period_tiles(conn, follows) if follows is not None and group.period_tiles else ""
    return Section(
        group.title, group.description, _distinct(headlines), charts, notes=notes, html=tiles
    )


def _distinct(headlines: list[Headline]) -> list[Headline]:
    """Each card once: two marts with the same headline (listeners, from listener_content
    and listener_wrapped) showed it twice."""
    seen: set[tuple[str, str]] = set()
    out = []
    for h in headlines:
        if (h.label.lower(), h.value) not in seen:
            seen.add((h.label.lower(), h.value))
            out.append(h)
    return out


def _over_period(spec: dict[str, Any], periods: Periods) -> tuple[dict[str, Any], str | None]:
    """A chart of a group that follows the period: over time, it shows the picked period and
    marks partial months; otherwise it says it covers all time."""
    if time_field(spec) is None:
        if not (spec.get("usermeta") or {}).get("no_data"):
            covered = periods.covered
            subtitle = f"All time: {long_day(covered.first)} – {long_day(covered.last)}"
            if re.search(r"\b(last|latest)\b", spec["title"]["text"]):  # its own window
                subtitle = "Its own window (the period picker does not apply)"
            spec = {**spec, "title": {**spec["title"], "subtitle": subtitle}}
        return spec, None
    marked = mark_partial(spec, partial_months(periods.covered))
    note = partial_note(periods.covered) if marked is not spec else None
    return with_period(marked, periods.chosen.iso_range()), note


def period_tiles(conn: Any, periods: Periods) -> str:
    """One row of cards per period (the picked one shown): listening hours, streams,
    listeners with a stream and active days, from ``core.streams`` (music), as the KPI
    definitions count them."""
    bounds = ", ".join(
        f"('{p.value}', date '{p.start}', date '{p.end + timedelta(days=1)}')"
        for p in periods.periods
    )
    rows = conn.execute(
        f"""
select p.value,
       coalesce(sum(s.ms_played), 0) / 3600000.0 as hours,
       count(*) filter (where s.{IS_STREAM}) as streams,
       count(distinct s.user_id) filter (where s.{IS_STREAM}) as listeners,
       count(distinct s.ts::date) filter (where s.{IS_STREAM}) as active_days
  from (values {bounds}) p(value, start, stop)
  left join core.streams s
    on s.ts >= p.start and s.ts < p.stop and s.content_type = 'music'
 group by p.value
"""
    ).fetchall()
    figures = {r[0]: r[1:] for r in rows}
    blocks = []
    for period in periods.periods:
        hours, streams, listeners, active = figures[period.value]
        days = (period.end - period.start).days + 1
        cards = [
            Headline("listening hours", format_number(hours), "music"),
            Headline("streams", format_number(streams), "music plays of 30 s or more"),
            Headline("listeners", format_number(listeners), "with a stream"),
            Headline("active days", format_number(active), f"of {format_number(days)} days"),
        ]
        hidden = "" if period.value == periods.default else " hidden"
        blocks.append(
            f'<div class="period-tiles" data-pick-column="period" '
            f'data-pick-value="{html.escape(period.value)}"{hidden}>'
            f'<p class="meta">{html.escape(period.label)}</p>{card_html(cards)}</div>'
        )
    return "".join(blocks)


_DATA_URI = re.compile(r"!\[([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


def images_in_markdown(markdown: str) -> list[tuple[str, bytes]]:
    """The ``(alt, PNG bytes)`` of every embedded image of a Markdown text (chart metadata)."""
    return [(alt, base64.b64decode(data)) for alt, data in _DATA_URI.findall(markdown)]


def table_section(
    title: str, description: str, frame: pd.DataFrame, headlines: Sequence[Headline] = ()
) -> Section:
    """A section that is a table (the data-quality results, the candidate hits)."""
    return Section(title, description, list(headlines), [], table=frame)


def landed_files_section(conn: Any) -> Section:
    """Every landed object that was not ingested, and why (``core.landing_files``): not
    listening history, video history, a zip's other files, unreadable files moved aside."""
    title = "Landed files not ingested"
    description = (
        "Objects of the landing zones that did not become rows, with the reason; nothing "
        "landed is skipped silently. Accepted files are counted in the headlines."
    )
    if "core.landing_files" not in existing_tables(conn):
        return Section(title, description, [], [], notes=["core.landing_files is not built yet."])
    frame = conn.execute(
        "select zone, listener, key, member, status, reason from core.landing_files "
        "where status <> 'accepted' order by case status when 'rejected' then 0 "
        "when 'pending' then 1 else 2 end, zone, key, member"
    ).df()
    counts = dict(
        conn.execute("select status, count(*) from core.landing_files group by all").fetchall()
    )
    headlines = [
        Headline(status.replace("_", " "), format_number(int(counts.get(status, 0))))
        for status in ("accepted", "not_ingested", "rejected", "pending")
    ]
    section = table_section(title, description, frame, headlines)
    if len(frame) > FOLD_ROWS:
        section = replace(section, fold_table=f"All {len(frame):,} files not ingested")
    return section


#: A table longer than this is folded away under a summary line.
FOLD_ROWS = 20


def data_quality_section(conn: Any, ui_url: str | None = None) -> Section:
    """The latest result of every check (``reports.data_quality``): cards (passed, failed,
    warned, not run), then what needs attention (failed ERROR checks, then failed WARN ones,
    then checks that did not run), each linked to its asset in the Dagster UI at ``ui_url``;
    the whole table folded away, failures first."""
    title = "Data quality"
    description = (
        "The latest result of every asset check. ERROR checks are blocking: what is downstream "
        "of a failed one keeps its previous version until the data is fixed. WARN checks "
        "(warned) stop nothing."
    )
    if "reports.data_quality" not in existing_tables(conn):
        return Section(title, description, [], [], notes=["reports.data_quality is not built yet."])
    frame = conn.execute(
        "select asset_key, check_name, severity, status, passed, evaluated_at, description "
        "from reports.data_quality order by case when status = 'failed' and severity = 'ERROR' "
        "then 0 when status = 'failed' then 1 when status = 'not run' then 2 "
        "when status = 'never run' then 3 else 4 end, asset_key, check_name"
    ).df()
    failed = frame["status"] == "failed"
    error = failed & (frame["severity"] == "ERROR")
    idle = frame["status"].isin(["not run", "never run"])
    pending = int((frame["status"] == "pending").sum())
    latest = frame["evaluated_at"].max()
    if latest is not None and latest == latest:
        description += f" Latest result: {latest:%Y-%m-%d %H:%M} UTC."
    headlines = [
        Headline("checks", format_number(len(frame))),
        Headline("passed", format_number(int((frame["status"] == "passed").sum()))),
        Headline("failed", format_number(int(error.sum())), "ERROR: blocking"),
        Headline("warned", format_number(int((failed & ~error).sum())), "WARN: a failed check"),
        Headline("not run", format_number(int(idle.sum()))),
    ]
    if pending:  # a first run: checks of this very run (of this page, of the table) follow it
        headlines.append(Headline("pending", format_number(pending), "run after this page"))
    section = table_section(title, description, frame, headlines)
    return replace(
        section,
        html=_attention(frame[failed | idle], len(frame), ui_url),
        fold_table=f"All {len(frame):,} checks (failures first)",
    )


def _attention(rows: pd.DataFrame, checks: int, ui_url: str | None) -> str:
    """What a person acts on, one line per check, linked to its asset in the UI."""
    e = html.escape
    if rows.empty:
        return f'<p class="all-clear">All {checks:,} checks passed.</p>'
    items = []
    for row in rows.itertuples():
        label = "warned" if row.status == "failed" and row.severity != "ERROR" else row.status
        kind = {"failed": "fail", "warned": "warn"}.get(label, "neutral")
        asset = e(row.asset_key)
        if ui_url:
            href = f"{ui_url.rstrip('/')}/assets/{quote(str(row.asset_key), safe='/')}"
            asset = f'<a href="{e(href)}">{asset}</a>'
        items.append(
            f'<li><span class="badge {kind}">{e(label)}</span>{asset} · '
            f"<strong>{e(row.check_name)}</strong>: {e(str(row.description or ''))}</li>"
        )
    return f'<h3>Needs attention</h3><ul class="attention">{"".join(items)}</ul>'


# ---------------------------------------------------------------------------- the whole dashboard

#: The vendored Vega, Vega-Lite and Vega-Embed bundle, relative to the dashboard folder.
VEGA_SCRIPT = "vendor/vega-bundle.js"


@dataclass(frozen=True)
class DashboardSummary:
    """What :func:`write_dashboard` wrote: bytes per file (relative path), charts, notes."""

    files: dict[str, int]
    charts: int
    sections: int
    notes: list[str]
    as_of: dict[str, str]


def write_dashboard(
    conn: Any,
    put: Callable[[str, bytes], None],
    groups: Sequence[MartGroup],
    *,
    generated_at: str,
    extra_plots: Mapping[str, Sequence[Plot]] | None = None,
    tail_sections: Sequence[Callable[[Any], Section]] = (),
) -> DashboardSummary:
    """Write the dashboard through ``put(relative_path, bytes)``: the vendored Vega bundle,
    ``index.html`` (a section per group of marts, the listeners' index, ``tail_sections``,
    the period picker of the listening history) and ``listeners/<user>.html`` per listener,
    each one file with its chart library inside (it opens alone, offline, sent to its
    listener). ``extra_plots`` maps a group title to charts appended to its section (the
    model's PNGs)."""
    from spotify_assets.lib.reports.dashboard import build_dashboard
    from spotify_assets.lib.reports.vega import javascript_bundle

    files: dict[str, int] = {}

    def write(path: str, data: bytes) -> None:
        put(path, data)
        files[path] = len(data)

    write(VEGA_SCRIPT, javascript_bundle().encode("utf-8"))
    as_of = data_as_of(conn)
    data_line = "; ".join(f"{k}: {v}" for k, v in as_of.items()) or "no data yet"
    periods = listening_periods(conn)
    sections = [
        mart_section(conn, g, (extra_plots or {}).get(g.title, ()), periods) for g in groups
    ]
    sections.append(listeners_section(conn))
    sections.extend(make(conn) for make in tail_sections)
    for page in listener_pages(conn):
        html_text = build_dashboard(
            f"{page.display_name}: listening story",
            data_line,
            page.sections,
            generated_at=generated_at,
            inline_bundle=packed_bundle(),
            back_link=("../index.html", "← All listeners and the overview"),
        )
        write(page.path, html_text.encode("utf-8"))
    index = build_dashboard(
        "Spotify analytics",
        data_line,
        sections,
        generated_at=generated_at,
        script_src=VEGA_SCRIPT,
        periods=periods.picker() if periods else None,
    )
    write("index.html", index.encode("utf-8"))
    return DashboardSummary(
        files=files,
        charts=sum(len(s.plots) for s in sections),
        sections=len(sections),
        notes=[n for s in sections for n in s.notes],
        as_of=as_of,
    )
