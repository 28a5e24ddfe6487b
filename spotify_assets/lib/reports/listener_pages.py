"""Every listener's page, built in bulk (Dagster-free): the listeners' index and one page per
listener with their Wrapped for every year and all time, top artists, monthly minutes,
listening clock and taste over time behind one period picker; an interval brush across the
monthly minutes narrows the taste chart to the brushed months. A listener who scrobbled to
Last.fm or ListenBrainz also reads where their plays come from (a sentence in each period's
Wrapped, plays by source per year, a footnote on what a scrobbled play lacks).

A page costs string assembly only, so thousands of pages build in seconds: each chart's data
is one DuckDB query over all listeners (:func:`spotify_assets.lib.reports.vega.values_sql`:
every listener's data values already shaped, as JSON text), and the rest of a chart's spec is a
template drawn by the chart's one definition (:func:`~spotify_assets.lib.reports.vega.
vega_spec`) from a real listener's frame, once per layout (:func:`~spotify_assets.lib.reports.
vega.layout_key`: the picker's periods, the bars of a top list). Each template is checked
against its listener's values from SQL, so the two shapings cannot drift apart unnoticed. A
page holds only its listener's values.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from spotify_assets.lib.marts.spec import PlotSpec
from spotify_assets.lib.reports.dashboard import (
    Headline,
    Plot,
    Section,
    format_number,
    json_script,
    script_safe,
)
from spotify_assets.lib.reports.periods import (
    Coverage,
    coverage,
    partial_months,
    partial_note,
    year_period,
)
from spotify_assets.lib.reports.vega import (
    VALUES_SLOT,
    follows_brush,
    layout_key,
    mark_partial,
    template,
    values_sql,
    with_brush,
)

#: Rows of a listener's top lists on their page (per year and all time).
LISTENER_TOP_N = 10
#: The page of a listener, relative to the dashboard's folder.
LISTENER_DIR = "listeners"
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

#: The listener page's charts: one definition each, filtered by the page's period picker
#: ("all" is the all-time rows, every frame carries them).
LISTENER_PLOTS = {
    "monthly": PlotSpec(
        "Listening minutes per month", "bar", "month", ("minutes",), y_label="minutes",
        picker="period", picker_all=False,
    ),
    "clock": PlotSpec(
        "Listening clock: share of listening time by local hour", "bar", "local_hour",
        ("share",), x_label="local hour", y_label="share of listening time",
        picker="period", picker_all=False,
    ),
    "artists": PlotSpec(
        f"Top {LISTENER_TOP_N} artists by streams", "barh", "artist", ("streams",),
        x_label="artist", y_label="streams", picker="period", picker_all=False,
    ),
    "taste": PlotSpec(
        "Taste over time: discovery, mainstream and niche shares of streams", "line", "month",
        ("discovery_share", "mainstream_share", "niche_share"), y_label="share",
        picker="period", picker_all=False,
    ),
    # the services are the frame's columns, so the legend names them as a person does
    "sources": PlotSpec(
        "Plays by source per year", "stacked_bar", "year", ("Spotify", "Last.fm", "ListenBrainz"),
        x_label="year", y_label="plays", picker="period", picker_all=False,
    ),
}  # fmt: skip

#: Where a play comes from: ``marts.listener_wrapped``'s column and the service's name.
SOURCES = (
    ("spotify_plays", "Spotify"),
    ("lastfm_plays", "Last.fm"),
    ("listenbrainz_plays", "ListenBrainz"),
)
#: The footnote of a page whose listener scrobbled.
SCROBBLED_NOTE = (
    "Scrobbled plays (Last.fm, ListenBrainz) count their track's duration as minutes "
    "listened, and their local time is UTC: a scrobble records neither how long the track "
    "played nor where."
)


#: The periods a listener's page offers: all time and every year with music or podcast
#: plays (a year of audiobooks alone had a Wrapped of 0 plays).
OFFERED = "(year is null or plays > 0 or podcast_plays > 0)"

#: The page's main time chart carries an interval brush; the charts over time that follow it
#: show only the months it selects.
BRUSHED = "monthly"
FOLLOWERS = ("taste",)


@dataclass(frozen=True)
class _Frame:
    """Every listener's frame of a chart: ``sql`` gives ``user_id`` and ``columns`` (the
    frame's, in order); rows are ordered by the period's place on the page, then ``order``."""

    sql: str
    columns: tuple[str, ...]
    order: str
    needs: str | None = None
    #: Only the listeners with rows have this chart (no "no data" chart for the others).
    optional: bool = False


_FRAMES = {
    # Every month from the listener's first play to their last, zeros included: a month
    # without music is a bar of 0, never a month missing from the axis.
    "monthly": _Frame(
        """
with m as (
    select user_id, date_trunc('month', ts)::date as month,
           coalesce(sum(ms_played) filter (where content_type = 'music'), 0) / 60000.0
               as minutes
      from core.streams group by all
),
months as (
    select user_id, unnest(generate_series(min(month), max(month), interval 1 month))::date
               as month
      from m group by user_id
),
filled as (
    select user_id, month, coalesce(m.minutes, 0)::double as minutes
      from months left join m using (user_id, month)
)
select user_id, 'all' as period, month, minutes from filled
union all
select user_id, year(month)::varchar, month, minutes from filled
""",
        ("period", "month", "minutes"),
        "month",
    ),
    "clock": _Frame(
        """
select user_id, period, unnest(clock_share)::double as share,
       generate_subscripts(clock_share, 1) - 1 as local_hour
  from marts.listener_wrapped where clock_share is not null
""",
        ("period", "share", "local_hour"),
        "local_hour",
    ),
    "artists": _Frame(
        f"""
with per_year as (
    select user_id, year::varchar as period, content_name as artist, streams, rank
      from marts.listener_content where kind = 'artist' and rank <= {LISTENER_TOP_N}
),
summed as (
    select user_id, content_id, min(content_name) as artist, sum(streams) as streams,
           sum(ms_played) as ms_played
      from marts.listener_content where kind = 'artist' group by user_id, content_id
    having sum(streams) > 0
),
-- the N-th most streams of each listener: only artists with at least that many are ranked
-- (the window over every listener's every artist was half of the dashboard's build time)
cut as (select user_id, list_min(max(streams, {LISTENER_TOP_N})) as cut from summed group by all),
all_time as (
    select user_id, 'all' as period, artist, streams
      from summed semi join cut on summed.user_id = cut.user_id and summed.streams >= cut.cut
    qualify row_number() over (partition by user_id
                               order by streams desc, ms_played desc, content_id)
            <= {LISTENER_TOP_N}
)
select user_id, period, artist, streams from all_time
union all
select user_id, period, artist, streams from per_year
""",
        ("period", "artist", "streams"),
        "streams desc, artist",
    ),
    # Every month from the listener's first stream to their last: a month without streams
    # has no shares (a gap in the lines), never a month missing from the axis.
    "taste": _Frame(
        """
with months as (
    select user_id, unnest(generate_series(min(month), max(month), interval 1 month))::date
               as month
      from marts.taste_monthly group by user_id
),
t as (
    select user_id, year(month)::varchar as period, month, discovery_share,
           mainstream_share, niche_share
      from months left join marts.taste_monthly using (user_id, month)
)
select user_id, 'all' as period, * exclude (user_id, period) from t
union all
select * from t
""",
        ("period", "month", "discovery_share", "mainstream_share", "niche_share"),
        "month",
        needs="marts.taste_monthly",
    ),
    # Every year with music of a listener who scrobbled (all time: every year, a year: its
    # own bar); the three sum to the year's plays.
    "sources": _Frame(
        """
with y as (
    select user_id, year::varchar as year, spotify_plays as "Spotify",
           lastfm_plays as "Last.fm", listenbrainz_plays as "ListenBrainz"
      from marts.listener_wrapped
     where year is not null and plays > 0
       and user_id in (select user_id from marts.listener_wrapped
                        where year is null and lastfm_plays + listenbrainz_plays > 0)
)
select user_id, 'all' as period, * exclude (user_id) from y
union all
select user_id, year as period, * exclude (user_id) from y
""",
        ("period", "year", "Spotify", "Last.fm", "ListenBrainz"),
        "year",
        optional=True,
    ),
}


@dataclass(frozen=True)
class ListenerPage:
    """One listener's page: the file name (below the dashboard folder) and its sections."""

    user_id: str
    display_name: str
    path: str
    sections: list[Section]


def listener_path(user_id: str) -> str:
    return f"{LISTENER_DIR}/{quote(user_id, safe='')}.html"


def _has_table(conn: Any, name: str) -> bool:
    schema, table = name.split(".")
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables where table_catalog = "
            "current_database() and table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def listeners_section(conn: Any) -> Section:
    """The index of listeners: one row per listener with a link to their page."""
    title = "Listeners"
    description = (
        "Every listener of the listening history, with their own page: their Wrapped for every "
        "year and all time, top content, rhythm and taste over time. A page is one file "
        "holding only that listener's data and its chart library: it can be sent to them "
        "alone and opens offline."
    )
    if not _has_table(conn, "marts.listener_wrapped"):
        return Section(title, description, [], [], notes=["marts.listener_wrapped is not built."])
    frame = conn.execute(
        f"""
select coalesce(l.display_name, w.user_id) as listener, w.user_id,
       w.plays, round(w.minutes_played / 60, 1) as hours, w.podcast_plays,
       (select count(*) from marts.listener_wrapped y
         where y.user_id = w.user_id and y.year is not null
           and (y.plays > 0 or y.podcast_plays > 0)) as years,
       w.first_play_ts::date as first_play
  from marts.listener_wrapped w
  left join ({_listener_names(conn)}) l using (user_id)
 where w.year is null
 order by w.minutes_played desc, w.user_id
"""
    ).df()
    frame["page"] = [listener_path(u) for u in frame["user_id"]]
    if (frame["listener"] == frame["user_id"]).all():  # no display names: one column says it
        frame = frame.drop(columns=["user_id"])
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


# ---------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class _Template:
    """A chart's spec for one layout: the JSON text before and after its data values (no
    ``after`` for a "no data" chart, whose text is whole), and the spec for its picker."""

    spec: dict[str, Any]
    before: str
    after: str | None


def listener_pages(conn: Any) -> Iterator[ListenerPage]:
    """Every listener's page, from one query per chart over all listeners; a page is then
    string assembly (no DataFrame per page). Temporary tables ``_listener_*`` hold the
    frames while the pages are built."""
    if not _has_table(conn, "marts.listener_wrapped"):
        return
    cursor = conn.execute(
        f"""
select w.*, coalesce(l.display_name, w.user_id) as display_name
  from marts.listener_wrapped w left join ({_listener_names(conn)}) l using (user_id)
 where {OFFERED}
 order by w.user_id, w.year desc nulls first
"""
    )
    names = [d[0] for d in cursor.description]
    wrapped = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    covered = coverage(conn)
    partial = partial_months(covered) if covered else {}
    subtitles = period_subtitles(covered)
    spans = {
        user: Coverage(first, last)
        for user, first, last in conn.execute(
            "select user_id, min(ts)::date, max(ts)::date from core.streams group by all"
        ).fetchall()
    }
    conn.execute(
        "create or replace temp table _listener_periods as select user_id, period, "
        "row_number() over (partition by user_id order by year desc nulls first) as _rank "
        f"from marts.listener_wrapped where {OFFERED}"
    )
    try:
        shaped = {key: _shaped(conn, key) for key in LISTENER_PLOTS}
        templates: dict[tuple[Any, ...], _Template] = {}
        for user_id, group in itertools.groupby(wrapped, key=lambda r: r["user_id"]):
            rows = list(group)
            name = str(rows[0]["display_name"])
            charts = []
            for key, spec in LISTENER_PLOTS.items():
                got = shaped[key].get(user_id)
                if got is None and _FRAMES[key].optional:
                    continue
                layout = _layout(spec, got)
                made = templates.get((key, layout))
                if made is None:
                    made = templates[(key, layout)] = _template(
                        conn, key, user_id, got, partial, subtitles
                    )
                text = made.before
                if made.after is not None:
                    text = made.before + script_safe(got["values"]) + made.after
                caption = None
                if key == BRUSHED and covered and user_id in spans:
                    caption = partial_note(covered, spans[user_id])
                charts.append(Plot(spec.title, caption=caption, vega=made.spec, vega_json=text))
            labels = {r["period"]: _period_label(r, covered) for r in rows}
            scrobbled = _scrobbled_services(rows)
            section = Section(
                f"{name}: Wrapped",
                "Music plays only unless it says podcasts; years are UTC calendar years, hours "
                "and weekdays are local time. Pick a year or all time.",
                [],
                charts,
                html=_wrapped_blocks(rows, labels, scrobbled),
                picker_labels=labels,
                notes=[SCROBBLED_NOTE] if scrobbled else [],
            )
            yield ListenerPage(str(user_id), name, listener_path(str(user_id)), [section])
    finally:
        for key in LISTENER_PLOTS:
            conn.execute(f"drop table if exists _listener_{key}")
        conn.execute("drop table if exists _listener_periods")


def _layout(spec: PlotSpec, got: dict[str, Any] | None) -> tuple[Any, ...]:
    if got is None:  # no rows at all for this listener
        return ("no data",)
    return layout_key(
        spec,
        rows=got["rows"],
        values=got["present"],
        options=got["options"],
        rows_per_pick=got["rows_per_pick"],
    )


def _shaped(conn: Any, key: str) -> dict[str, dict[str, Any]]:
    """Every listener's data values of chart ``key`` (JSON text) and its layout facts."""
    frame = _FRAMES[key]
    if frame.needs and not _has_table(conn, frame.needs):
        return {}
    conn.execute(
        f"create or replace temp table _listener_{key} as select f.user_id, p._rank, "
        f"{', '.join(f'f.{_q(c)}' for c in frame.columns)} from ({frame.sql}) f "
        "join _listener_periods p using (user_id, period)"
    )
    types = dict(
        (name, kind)
        for name, kind, *_ in conn.execute(f"describe _listener_{key}").fetchall()
        if name in frame.columns
    )
    columns = {c: types[c] for c in frame.columns}
    sql = values_sql(
        LISTENER_PLOTS[key],
        f"_listener_{key}",
        columns,
        by="user_id",
        order=f"_rank nulls last, {frame.order}",
    )
    out = {}
    for user_id, values, rows, present, options, per_pick in conn.execute(sql).fetchall():
        out[user_id] = {
            "values": values,
            "rows": rows,
            "present": present,
            "options": options,
            "rows_per_pick": per_pick or 0,
        }
    return out


def _period_label(row: dict[str, Any], covered: Coverage | None) -> str:
    """What the picker and the Wrapped header say of a period: 'All time', '2024', '2025
    (partial: to 23 Jun)' (a year the data does not cover whole), '2019 (podcasts only)'."""
    if row["year"] is None:
        return "All time"
    label = year_period(int(row["year"]), covered).label if covered else str(row["year"])
    return label + (" (podcasts only)" if not row["plays"] else "")


def on_page(
    key: str, vl: dict[str, Any], partial: dict[str, str], labels: dict[str, str]
) -> dict[str, Any]:
    """Chart ``key`` as its page shows it: the subtitle names the period as the picker does
    (``labels``), the monthly chart carries the brush and marks ``partial`` months, the
    charts over time follow the brushed months."""
    if labels and (vl.get("usermeta") or {}).get("picker"):
        names = json.dumps(labels, ensure_ascii=False)
        vl = {**vl, "title": {**vl["title"], "subtitle": {"signal": f"{names}[pick] || pick"}}}
    if key == BRUSHED:
        return mark_partial(with_brush(vl), partial)
    if key in FOLLOWERS:
        return follows_brush(vl, LISTENER_PLOTS[key].x, months=True)
    return vl


def period_subtitles(covered: Coverage | None) -> dict[str, str]:
    """What a chart's subtitle says of each period: 'All time', '2025 (partial: to 23 Jun)'
    (the same for every listener, so one template serves them all)."""
    out = {"all": "All time"}
    if covered:
        years = range(covered.first.year, covered.last.year + 1)
        out |= {str(y): year_period(y, covered).label for y in years}
    return out


def _template(
    conn: Any,
    key: str,
    user_id: str,
    got: dict[str, Any] | None,
    partial: dict[str, str],
    labels: dict[str, str] | None = None,
) -> _Template:
    """The spec of chart ``key`` drawn by its definition from ``user_id``'s frame, split
    around its data values, which must be the ones ``values_sql`` gave for that listener;
    ``partial`` are the months the data covers in part (lighter bars), ``labels`` what the
    subtitle says of each period (every listener's alike: years as the data covers them)."""
    spec, frame = LISTENER_PLOTS[key], _FRAMES[key]
    if got is None:
        from spotify_assets.lib.lazy import pandas as pd

        data = pd.DataFrame(columns=[spec.x, *spec.y, "period"])
    else:
        data = conn.execute(
            f"select {', '.join(map(_q, frame.columns))} from _listener_{key} where user_id = ? "
            f"order by _rank nulls last, {frame.order}",
            [user_id],
        ).df()
    vl, values = template(spec, data)
    vl = on_page(key, vl, partial, labels or {})
    text = json_script(vl)
    if values is None:
        return _Template(vl, text, None)
    if got is None or not _same(values, json.loads(got["values"])):
        raise ValueError(
            f"listener chart {key!r}: the values shaped in SQL for {user_id!r} differ from "
            "the chart's definition (vega.values_sql and vega_spec disagree)"
        )
    before, after = text.split(json.dumps(VALUES_SLOT), 1)
    return _Template(vl, before, after)


def _q(column: str) -> str:
    """A frame's column in SQL (the services' columns are named as a legend says them)."""
    return '"' + column.replace('"', '""') + '"'


def _same(a: Any, b: Any) -> bool:
    """Equal JSON values, numbers to 1e-9 (pandas writes doubles to 10 decimals)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


# ---------------------------------------------------------------------------- Wrapped blocks


def _wrapped_blocks(
    rows: list[dict[str, Any]], labels: dict[str, str], scrobbled: tuple[str, ...] = ()
) -> str:
    """One block per period (all time first, then years, newest first); the picker shows one.
    ``scrobbled``: the services the listener scrobbled to (:func:`_scrobbled_services`)."""
    blocks = []
    for i, row in enumerate(rows):
        blocks.append(
            f'<div class="wrapped" data-pick-column="period" '
            f'data-pick-value="{html.escape(str(row["period"]))}"{"" if i == 0 else " hidden"}>'
            f"{_wrapped_html(row, labels[row['period']], scrobbled)}</div>"
        )
    return "".join(blocks)


def _scrobbled_services(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """The columns of ``SOURCES`` other than Spotify's with plays in the listener's all-time
    row: empty for a listener who never scrobbled (whose page says nothing of sources)."""
    total = next((r for r in rows if r["year"] is None), None)
    if total is None:
        return ()
    return tuple(c for c, _ in SOURCES[1:] if total.get(c))


def sources_sentence(row: dict[str, Any], scrobbled: tuple[str, ...]) -> str:
    """Where a period's plays come from: '1,234 plays: 1,000 on Spotify, 200 scrobbled to
    Last.fm, 34 to ListenBrainz (…)', naming the services in ``scrobbled`` (escaped HTML).
    Exact figures, not a card's '12.3k': the parts add up to the whole."""
    names = dict(SOURCES)
    parts = [f"{int(row['spotify_plays']):,} on Spotify"]
    for i, column in enumerate(scrobbled):
        to = "scrobbled to" if i == 0 else "to"
        parts.append(f"{int(row[column]):,} {to} {names[column]}")
    plays = int(row["plays"])
    return html.escape(
        f"{plays:,} play{'' if plays == 1 else 's'}: {', '.join(parts)} (a play both streamed "
        "and scrobbled counts once, as Spotify's)."
    )


def _wrapped_html(row: dict[str, Any], title: str, scrobbled: tuple[str, ...] = ()) -> str:
    e = html.escape
    card_html = "".join(
        f'<div class="card"><div class="value">{e(v)}</div><div class="label">{e(k)}</div></div>'
        for k, v in _wrapped_cards(row)
    )
    first = ""
    if _present(row.get("first_play_ts")):
        first = (
            f"<p>First play: <strong>{e(str(row['first_play_track']))}</strong> by "
            f"{e(str(row['first_play_artist']))}, "
            f"{row['first_play_ts']:%Y-%m-%d %H:%M} UTC.</p>"
        )
    skipped = ""
    if _present(row.get("most_skipped_track")):
        skipped = (
            f"<p>Most skipped: <strong>{e(str(row['most_skipped_track']))}</strong> by "
            f"{e(str(row['most_skipped_artist']))} "
            f"({plural(int(row['most_skipped_count']), 'skip')}).</p>"
        )
    none = ""
    if not row["plays"]:
        none = '<p class="empty">No music this year: podcasts only.</p>'
    lists = "".join(
        _top_list_html(label, row.get(column), unit)
        for label, column, unit in (
            ("Top tracks", "top_tracks", "stream"),
            ("Top artists", "top_artists", "stream"),
            ("Top albums", "top_albums", "stream"),
            ("Top genre families", "top_genre_families", "stream"),
            ("Top podcast shows", "top_podcast_shows", "play"),
        )
    )
    sources = ""
    if scrobbled and row["plays"]:
        sources = f'<p class="sources">{sources_sentence(row, scrobbled)}</p>'
    return (
        f'<h3>{e(title)}</h3>{none}<div class="cards">{card_html}</div>{sources}{first}'
        f'{skipped}<div class="lists">{lists}</div>'
    )


def _wrapped_cards(row: dict[str, Any]) -> list[tuple[str, str]]:
    """The Wrapped's cards, ``(label, value)``: those without a value are left out (discovery
    has none for all time, a skip rate none without skip flags); a year of podcasts only
    shows its podcast figures."""
    month, weekday, age = row.get("top_month"), row.get("top_weekday"), row.get("listening_age")
    cards: list[tuple[str, str | None]] = []
    if row["plays"]:
        cards += [
            ("minutes listened", format_number(row["minutes_played"])),
            ("plays", format_number(row["plays"])),
            ("distinct tracks", format_number(row["distinct_tracks"])),
            ("distinct artists", format_number(row["distinct_artists"])),
            ("top month", f"{month:%B %Y}" if _present(month) else None),
            ("top weekday", WEEKDAY_NAMES[int(weekday)] if _present(weekday) else None),
            ("longest streak", _days(row.get("longest_streak_days"))),
            ("longest session", _minutes(row.get("longest_session_minutes"))),
            ("discovery", _percent(row.get("discovery_share"))),
            # a year, not a quantity: '2019', never '2,019'
            ("listening age", str(round(age)) if _present(age) else None),
            ("skip rate", _percent(row.get("skip_rate"))),
        ]
    if row.get("podcast_plays"):
        cards += [
            ("podcast plays", format_number(row["podcast_plays"])),
            ("podcast minutes", format_number(row["podcast_minutes"])),
        ]
    return [(label, value) for label, value in cards if value is not None]


def plural(n: int, word: str) -> str:
    """'1 stream', '2 streams', '1,234 plays'."""
    return f"{format_number(n)} {word}{'' if n == 1 else 's'}"


def _top_list_html(label: str, items: Any, unit: str) -> str:
    """A top list; ``unit`` is what its count counts ('stream' for music, 'play' for podcast
    shows, ranked by listening time)."""
    e = html.escape
    if not _present(items) or len(items) == 0:
        return f'<div><h3>{e(label)}</h3><p class="empty">None.</p></div>'
    lines = []
    for item in items:
        by = item.get("artist")
        artist = f" – {e(str(by))}" if by and by != item["name"] else ""
        count = item["streams"] if unit == "stream" else item.get("plays", item["streams"])
        lines.append(
            f"<li>{e(str(item['name']))}{artist} "
            f'<span class="hint">{plural(int(count), unit)}, '
            f"{format_number(item['minutes'])} min</span></li>"
        )
    return f"<div><h3>{e(label)}</h3><ol>{''.join(lines)}</ol></div>"


def _present(value: Any) -> bool:
    """Not null (DuckDB gives None; a double may still be NaN)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _days(value: Any) -> str | None:
    return plural(int(value), "day") if _present(value) else None


def _minutes(value: Any) -> str | None:
    return f"{format_number(float(value))} min" if _present(value) else None


def _percent(value: Any) -> str | None:
    return format_number(value, percent=True) if _present(value) else None
