"""The dashboard's content from the warehouse (Dagster-free): one section per group of marts,
with their headline numbers and interactive charts, the date of the data, and a page per
listener (:func:`listener_pages`).

Each chart is the mart's own :class:`ChartSpec` turned into a Vega-Lite spec from a small query
(:func:`spotify_assets.lib.reports.vega.vega_spec`): the same definition the mart asset draws
as a PNG, so the dashboard is always the marts as they are in the warehouse now.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from spotify_assets.lib.marts.run import chart_frame, headline
from spotify_assets.lib.marts.spec import ChartSpec, Mart
from spotify_assets.lib.reports.dashboard import Chart, Headline, Section, format_number
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


def mart_section(conn: Any, group: MartGroup, extra_charts: Sequence[Chart] = ()) -> Section:
    """Headlines and interactive charts of the group's marts that exist; missing ones are
    listed as notes. ``extra_charts`` are appended (e.g. the model's PNG charts)."""
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
        for chart in mart.charts:
            spec = vega_spec(chart, chart_frame(conn, mart, chart))
            charts.append(Chart(chart.title, caption=mart.description, vega=spec))
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


# ---------------------------------------------------------------------------- listeners

#: Rows of a listener's top lists on their page (per year and all time).
LISTENER_TOP_N = 10
#: The page of a listener, relative to the dashboard's folder.
LISTENER_DIR = "listeners"
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

#: The listener page's charts: one definition each, filtered by the page's period picker
#: ("all" is the all-time rows, every frame carries them).
LISTENER_CHARTS = {
    "monthly": ChartSpec(
        "Listening minutes per month", "bar", "month", ("minutes",), y_label="minutes",
        picker="period", picker_all=False,
    ),
    "clock": ChartSpec(
        "Listening clock: share of listening time by local hour", "bar", "local_hour",
        ("share",), x_label="local hour", y_label="share of listening time",
        picker="period", picker_all=False,
    ),
    "artists": ChartSpec(
        f"Top {LISTENER_TOP_N} artists by streams", "barh", "artist", ("streams",),
        x_label="artist", y_label="streams", picker="period", picker_all=False,
    ),
    "taste": ChartSpec(
        "Taste over time: discovery, mainstream and niche shares of streams", "line", "month",
        ("discovery_share", "mainstream_share", "niche_share"), y_label="share",
        picker="period", picker_all=False,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class ListenerPage:
    """One listener's page: the file name (below the dashboard folder) and its sections."""

    user_id: str
    display_name: str
    path: str
    sections: list[Section]


def listener_path(user_id: str) -> str:
    return f"{LISTENER_DIR}/{quote(user_id, safe='')}.html"


def listeners_section(conn: Any) -> Section:
    """The index of listeners: one row per listener with a link to their page."""
    title = "Listeners"
    description = (
        "Every listener of the listening history, with their own page: their Wrapped for every "
        "year and all time, top content, rhythm and taste over time. A page holds only that "
        "listener's data, so it can be shared with them alone."
    )
    if "marts.listener_wrapped" not in existing_tables(conn):
        return Section(title, description, [], [], notes=["marts.listener_wrapped is not built."])
    frame = conn.execute(
        f"""
select coalesce(l.display_name, w.user_id) as listener, w.user_id,
       w.plays, round(w.minutes_played / 60, 1) as hours, w.podcast_plays,
       (select count(*) from marts.listener_wrapped y
         where y.user_id = w.user_id and y.year is not null) as years,
       w.first_play_ts::date as first_play
  from marts.listener_wrapped w
  left join ({_listener_names(conn)}) l using (user_id)
 where w.year is null
 order by w.minutes_played desc, w.user_id
"""
    ).df()
    frame["page"] = [listener_path(u) for u in frame["user_id"]]
    headlines = [Headline("listeners", format_number(len(frame)))]
    return Section(title, description, headlines, [], table=frame, links={"listener": "page"})


def _listener_names(conn: Any) -> str:
    """SQL: ``(user_id, display_name)``: the landing folder's name where core.listeners has
    it (read by column name; older warehouses lack the column)."""
    columns = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'core' and table_name = 'listeners'"
        ).fetchall()
    }
    if {"user_id", "display_name"} <= columns:
        return "select user_id, display_name from core.listeners"
    return "select null::varchar as user_id, null::varchar as display_name where false"


def listener_pages(conn: Any) -> Iterator[ListenerPage]:
    """Every listener's page, from a few queries over all listeners (split in memory), so
    thousands of pages cost a few scans, not thousands."""
    tables = existing_tables(conn)
    if "marts.listener_wrapped" not in tables:
        return
    wrapped = conn.execute(
        f"""
select w.*, coalesce(l.display_name, w.user_id) as display_name
  from marts.listener_wrapped w left join ({_listener_names(conn)}) l using (user_id)
 order by w.user_id, w.year desc nulls first
"""
    ).df()
    monthly = conn.execute(
        """
select user_id, year(ts)::varchar as period, date_trunc('month', ts)::date as month,
       sum(ms_played) / 60000.0 as minutes
  from core.streams where content_type = 'music' group by all
"""
    ).df()
    monthly = pd.concat([monthly.assign(period="all"), monthly]).sort_values(["month"])
    clock = wrapped[["user_id", "period", "clock_share"]].dropna(subset=["clock_share"])
    clock = clock.explode("clock_share").rename(columns={"clock_share": "share"})
    clock["local_hour"] = clock.groupby(["user_id", "period"]).cumcount()
    clock["share"] = clock["share"].astype(float)
    top = conn.execute(
        f"""
with per_year as (
    select user_id, year::varchar as period, content_name as artist, streams, rank
      from marts.listener_content where kind = 'artist' and rank <= {LISTENER_TOP_N}
),
all_time as (
    select user_id, 'all' as period, min(content_name) as artist,
           sum(streams) as streams, sum(ms_played) as ms_played
      from marts.listener_content where kind = 'artist' group by user_id, content_id
    having sum(streams) > 0
    qualify row_number() over (partition by user_id
                               order by sum(streams) desc, sum(ms_played) desc,
                                        min(content_id)) <= {LISTENER_TOP_N}
)
select user_id, period, artist, streams from all_time
union all
select user_id, period, artist, streams from per_year
order by user_id, period, streams desc, artist
"""
    ).df()
    taste = (
        conn.execute(
            "select user_id, year(month)::varchar as period, month, discovery_share, "
            "mainstream_share, niche_share from marts.taste_monthly"
        ).df()
        if "marts.taste_monthly" in tables
        else pd.DataFrame(columns=["user_id", "period", "month"])
    )
    taste = pd.concat([taste.assign(period="all"), taste]).sort_values("month")
    frames = {
        "monthly": _by_user(monthly),
        "clock": _by_user(clock),
        "artists": _by_user(top),
        "taste": _by_user(taste),
    }
    for user_id, rows in wrapped.groupby("user_id", sort=True):
        name = str(rows["display_name"].iloc[0])
        charts = []
        for key, spec in LISTENER_CHARTS.items():
            frame = frames[key].get(user_id)
            if frame is None:
                frame = pd.DataFrame(columns=[spec.x, *spec.y, "period"])
            frame = frame.drop(columns="user_id", errors="ignore")
            order = {p: i for i, p in enumerate(rows["period"])}
            frame = frame.sort_values("period", key=lambda p: p.map(order), kind="stable")
            charts.append(Chart(spec.title, vega=vega_spec(spec, frame)))
        section = Section(
            f"{name}: Wrapped",
            "Music plays only unless it says podcasts; years are UTC calendar years, hours "
            "and weekdays are local time. Pick a year or all time.",
            [],
            charts,
            html=_wrapped_blocks(rows),
        )
        yield ListenerPage(str(user_id), name, listener_path(str(user_id)), [section])


def _by_user(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {str(k): g for k, g in frame.groupby("user_id", sort=False)}


def _wrapped_blocks(rows: pd.DataFrame) -> str:
    """One block per period (all time first, then years, newest first); the picker shows one."""
    blocks = []
    for i, row in enumerate(rows.to_dict("records")):
        blocks.append(
            f'<div class="wrapped" data-pick-column="period" '
            f'data-pick-value="{html.escape(str(row["period"]))}"{"" if i == 0 else " hidden"}>'
            f"{_wrapped_html(row)}</div>"
        )
    return "".join(blocks)


def _wrapped_html(row: dict[str, Any]) -> str:
    e = html.escape
    title = "All time" if row["period"] == "all" else f"{row['period']}"
    month = row.get("top_month")
    weekday = row.get("top_weekday")
    cards = [
        ("minutes listened", format_number(row["minutes_played"])),
        ("plays", format_number(row["plays"])),
        ("distinct tracks", format_number(row["distinct_tracks"])),
        ("distinct artists", format_number(row["distinct_artists"])),
        ("top month", f"{pd.Timestamp(month):%B %Y}" if _present(month) else "–"),
        ("top weekday", WEEKDAY_NAMES[int(weekday)] if _present(weekday) else "–"),
        ("longest streak", _days(row.get("longest_streak_days"))),
        ("longest session", _minutes(row.get("longest_session_minutes"))),
        ("discovery", format_number(row.get("discovery_share"), percent=True)),
        ("listening age", format_number(row.get("listening_age"))),
        ("skip rate", format_number(row.get("skip_rate"), percent=True)),
        ("podcast minutes", format_number(row["podcast_minutes"])),
    ]
    card_html = "".join(
        f'<div class="card"><div class="value">{e(v)}</div><div class="label">{e(k)}</div></div>'
        for k, v in cards
    )
    first = ""
    if _present(row.get("first_play_ts")):
        first = (
            f"<p>First play: <strong>{e(str(row['first_play_track']))}</strong> by "
            f"{e(str(row['first_play_artist']))}, "
            f"{pd.Timestamp(row['first_play_ts']):%Y-%m-%d %H:%M} UTC.</p>"
        )
    skipped = ""
    if _present(row.get("most_skipped_track")):
        skipped = (
            f"<p>Most skipped: <strong>{e(str(row['most_skipped_track']))}</strong> by "
            f"{e(str(row['most_skipped_artist']))} ({int(row['most_skipped_count'])} skips).</p>"
        )
    lists = "".join(
        _top_list_html(label, row.get(column))
        for label, column in (
            ("Top tracks", "top_tracks"),
            ("Top artists", "top_artists"),
            ("Top albums", "top_albums"),
            ("Top genre families", "top_genre_families"),
            ("Top podcast shows", "top_podcast_shows"),
        )
    )
    return (
        f'<h3>{e(title)}</h3><div class="cards">{card_html}</div>{first}{skipped}'
        f'<div class="lists">{lists}</div>'
    )


def _top_list_html(label: str, items: Any) -> str:
    e = html.escape
    if items is None or (isinstance(items, float) and pd.isna(items)) or len(items) == 0:
        return f'<div><h3>{e(label)}</h3><p class="empty">None.</p></div>'
    lines = []
    for item in items:
        by = item.get("artist")
        artist = f" – {e(str(by))}" if by and by != item["name"] else ""
        lines.append(
            f"<li>{e(str(item['name']))}{artist} "
            f'<span class="hint">{format_number(item["streams"])} streams, '
            f"{format_number(item['minutes'])} min</span></li>"
        )
    return f"<div><h3>{e(label)}</h3><ol>{''.join(lines)}</ol></div>"


def _present(value: Any) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and pd.isna(value))
        and value is not pd.NaT
    )


def _days(value: Any) -> str:
    return f"{int(value)} days" if _present(value) else "–"


def _minutes(value: Any) -> str:
    return f"{format_number(float(value))} min" if _present(value) else "–"


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
    extra_charts: Mapping[str, Sequence[Chart]] | None = None,
    tail_sections: Sequence[Callable[[Any], Section]] = (),
) -> DashboardSummary:
    """Write the dashboard through ``put(relative_path, bytes)``: the vendored Vega bundle,
    ``index.html`` (a section per group of marts, the listeners' index, ``tail_sections``)
    and ``listeners/<user>.html`` per listener. ``extra_charts`` maps a group title to charts
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
    sections = [mart_section(conn, g, (extra_charts or {}).get(g.title, ())) for g in groups]
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
        charts=sum(len(s.charts) for s in sections),
        sections=len(sections),
        notes=[n for s in sections for n in s.notes],
        as_of=as_of,
    )
