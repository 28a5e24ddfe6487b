"""The dashboard's content from the warehouse (Dagster-free): one section per group of marts,
with their headline numbers and interactive charts, the date of the data, and a page per
listener (:func:`spotify_assets.lib.reports.listener_pages.listener_pages`).

Each chart is the mart's own :class:`PlotSpec` turned into a Vega-Lite spec from a small query
(:func:`spotify_assets.lib.reports.vega.vega_spec`): the same definition the mart asset draws
as a PNG, so the dashboard is always the marts as they are in the warehouse now.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.marts.run import existing_tables, headline, plot_frame
from spotify_assets.lib.marts.spec import Mart
from spotify_assets.lib.reports.dashboard import Headline, Plot, Section, format_number
from spotify_assets.lib.reports.listener_pages import (  # noqa: F401 (LISTENER_DIR: assets)
    LISTENER_DIR,
    listener_pages,
    listeners_section,
)
from spotify_assets.lib.reports.vega import vega_spec

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd


@dataclass(frozen=True)
class MartGroup:
    """A dashboard section: a title, a sentence on what it answers, and its marts."""

    title: str
    description: str
    marts: Sequence[Mart]


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
    return out


def _headline_value(name: str, value: Any) -> str:
    if isinstance(value, float) and ("rate" in name or "share" in name):
        return f"{value:.1%}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(value)
    return "n/a" if value is None else str(value)


def mart_section(conn: Any, group: MartGroup, extra_plots: Sequence[Plot] = ()) -> Section:
    """Headlines and interactive charts of the group's marts that exist; missing ones are
    listed as notes. ``extra_plots`` are appended (e.g. the model's PNG charts)."""
    tables = existing_tables(conn)
    headlines: list[Headline] = []
    charts: list[Plot] = []
    notes: list[str] = []
    for mart in group.marts:
        if mart.table not in tables:
            notes.append(f"{mart.table} is not materialized yet.")
            continue
        for name, value in headline(conn, mart).items():
            headlines.append(Headline(name, _headline_value(name, value), hint=mart.table))
        for chart in mart.plots:
            spec = vega_spec(chart, plot_frame(conn, mart, chart))
            charts.append(Plot(chart.title, caption=mart.description, vega=spec))
    charts.extend(extra_plots)
    return Section(group.title, group.description, headlines, charts, notes=notes)


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
    return table_section(title, description, frame, headlines)


def data_quality_section(conn: Any) -> Section:
    """The latest result of every check (``reports.data_quality``), failures first."""
    title = "Data quality"
    description = (
        "The latest result of every asset check. ERROR checks are blocking: what is downstream "
        "of a failed one keeps its previous version until the data is fixed."
    )
    if "reports.data_quality" not in existing_tables(conn):
        return Section(title, description, [], [], notes=["reports.data_quality is not built yet."])
    frame = conn.execute(
        "select asset_key, check_name, severity, status, passed, evaluated_at, description "
        "from reports.data_quality order by case status when 'failed' then 0 "
        "when 'not run' then 1 when 'never run' then 2 else 3 end, severity, asset_key, "
        "check_name"
    ).df()
    counts = frame["status"].value_counts()
    headlines = [
        Headline("checks", format_number(len(frame))),
        Headline("passed", format_number(int(counts.get("passed", 0)))),
        Headline("failed", format_number(int(counts.get("failed", 0)))),
        Headline(
            "not run", format_number(int(counts.get("not run", 0) + counts.get("never run", 0)))
        ),
    ]
    return table_section(title, description, frame, headlines)


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
    ``index.html`` (a section per group of marts, the listeners' index, ``tail_sections``)
    and ``listeners/<user>.html`` per listener. ``extra_plots`` maps a group title to charts
    appended to its section (the model's PNGs)."""
    from spotify_assets.lib.reports.dashboard import build_dashboard
    from spotify_assets.lib.reports.vega import javascript_bundle

    files: dict[str, int] = {}

    def write(path: str, data: bytes) -> None:
        put(path, data)
        files[path] = len(data)

    write(VEGA_SCRIPT, javascript_bundle().encode("utf-8"))
    as_of = data_as_of(conn)
    data_line = "; ".join(f"{k}: {v}" for k, v in as_of.items()) or "no data yet"
    sections = [mart_section(conn, g, (extra_plots or {}).get(g.title, ())) for g in groups]
    sections.append(listeners_section(conn))
    sections.extend(make(conn) for make in tail_sections)
    for page in listener_pages(conn):
        html_text = build_dashboard(
            f"{page.display_name}: listening story",
            data_line,
            page.sections,
            generated_at=generated_at,
            script_src=f"../{VEGA_SCRIPT}",
            back_link=("../index.html", "← All listeners and the overview"),
        )
        write(page.path, html_text.encode("utf-8"))
    index = build_dashboard(
        "Spotify analytics", data_line, sections, generated_at=generated_at, script_src=VEGA_SCRIPT
    )
    write("index.html", index.encode("utf-8"))
    return DashboardSummary(
        files=files,
        charts=sum(len(s.plots) for s in sections),
        sections=len(sections),
        notes=[n for s in sections for n in s.notes],
        as_of=as_of,
    )
