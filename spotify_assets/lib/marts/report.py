"""The dashboard's content from the warehouse (Dagster-free): one section per group of marts,
with their headline numbers and charts, and the date of the data.

The charts are drawn again from the marts (small queries) rather than passed along from the
mart assets, so the dashboard is always the marts as they are in the warehouse now.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from spotify_assets.lib.marts.run import chart_frame, headline
from spotify_assets.lib.marts.spec import Mart
from spotify_assets.lib.reports.charts import render
from spotify_assets.lib.reports.dashboard import Chart, Headline, Section, format_number


@dataclass(frozen=True)
class MartGroup:
    """A dashboard section: a title, a sentence on what it answers, and its marts."""

    title: str
    description: str
    marts: Sequence[Mart]


def existing_tables(conn: Any) -> set[str]:
    return {
        f"{schema}.{name}"
        for schema, name in conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database()"
        ).fetchall()
    }


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


def mart_section(
    conn: Any,
    group: MartGroup,
    drawn: Mapping[str, Sequence[bytes]] | None = None,
    extra_charts: Sequence[Chart] = (),
) -> Section:
    """Headlines and charts of the group's marts that exist; missing ones are listed as notes.

    ``drawn`` maps a mart's name to the PNGs already drawn for its charts when it was built
    (taken from its materialization): they are used as they are instead of drawn again, which
    is most of a dashboard's cost. ``extra_charts`` are appended (e.g. the model's charts)."""
    tables = existing_tables(conn)
    headlines: list[Headline] = []
    charts: list[Chart] = []
    notes: list[str] = []
    for mart in group.marts:
        if mart.table not in tables:
            notes.append(f"{mart.table} is not materialized yet.")
            continue
        for name, value in headline(conn, mart).items():
            headlines.append(Headline(name, _headline_value(name, value), hint=mart.table))
        pngs = list((drawn or {}).get(mart.name, ()))
        if len(pngs) != len(mart.charts):
            pngs = [render(chart, chart_frame(conn, mart, chart)) for chart in mart.charts]
        for chart, png in zip(mart.charts, pngs, strict=True):
            charts.append(Chart(chart.title, png, caption=mart.description))
    charts.extend(extra_charts)
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
        "select zone, owner, key, member, status, reason from core.landing_files "
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
