"""Listener pages built in bulk (one query per chart over all listeners, a template per
layout) hold what the chart definition draws from each listener's own frame, and only that
listener's data; the bulk shaping (``vega.values_sql``) agrees with ``vega_spec`` on every
layout it decides (points on short lines, a top list's height, the picker's periods, no data).
A listener who scrobbled reads where their plays come from, for every period; the others
read nothing of it.
"""

from __future__ import annotations

import html
import json
import math
import re
from typing import Any

import duckdb
import pytest

from spotify_assets.lib.marts import engagement_marts, listener_marts
from spotify_assets.lib.marts.run import build_marts
from spotify_assets.lib.marts.spec import PlotSpec
from spotify_assets.lib.reports import listener_pages as lp
from spotify_assets.lib.reports.dashboard import build_dashboard
from spotify_assets.lib.reports.listener_pages import _same  # the equality it checks with
from spotify_assets.lib.reports.periods import coverage, partial_months
from spotify_assets.lib.reports.vega import (
    BRUSH,
    VALUES_SLOT,
    layout_key,
    template,
    values_sql,
    vega_spec,
)
from spotify_assets_tests.support.listening import scrobbler_history
from spotify_assets_tests.support.warehouse import create_core_tables, world_streams


@pytest.fixture(scope="module")
def warehouse(tiny_world, tmp_path_factory) -> duckdb.DuckDBPyConnection:
    tmp = tmp_path_factory.mktemp("listener_pages")
    conn = duckdb.connect()
    create_core_tables(conn)
    world_streams(conn, tiny_world, tmp)
    build_marts(conn, [*engagement_marts.MARTS, *listener_marts.MARTS])
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def scrobbler(tiny_world, tmp_path_factory) -> tuple[duckdb.DuckDBPyConnection, str, str]:
    """The tiny world's scrobbler (their export and their Last.fm and ListenBrainz files) and
    a listener who never scrobbled, by the pipeline's own code; their listener marts."""
    tmp = tmp_path_factory.mktemp("scrobbler_pages")
    conn = duckdb.connect()
    other = "user_0002"
    user = scrobbler_history(conn, tiny_world, tmp, other)
    build_marts(conn, [*engagement_marts.MARTS, *listener_marts.MARTS])
    yield conn, user, other
    conn.close()


def _own_frame(conn: Any, key: str, user_id: str) -> Any:
    """One listener's frame of a chart, queried for them alone (the per-page way)."""
    frame = lp._FRAMES[key]
    return conn.execute(
        f"""
select {", ".join(f'f."{c}"' for c in frame.columns)}
  from ({frame.sql}) f
  join (select period, row_number() over (order by year desc nulls first) as _rank
          from marts.listener_wrapped where user_id = $user and {lp.OFFERED}) p using (period)
 where f.user_id = $user
 order by _rank nulls last, {frame.order}
""",
        {"user": user_id},
    ).df()


def _charts(conn: Any, user_id: str) -> list[str]:
    """The charts a listener's page has: every one, but an optional one only with rows."""
    return [
        key
        for key in lp.LISTENER_PLOTS
        if not lp._FRAMES[key].optional or len(_own_frame(conn, key, user_id))
    ]


@pytest.mark.parametrize("conn", ["warehouse", "scrobbler"])
def test_every_chart_of_every_page_is_what_its_definition_draws_from_that_listener(conn, request):
    conn = request.getfixturevalue(conn)
    conn = conn[0] if isinstance(conn, tuple) else conn
    pages = list(lp.listener_pages(conn))
    users = [u for (u,) in conn.execute("select distinct user_id from core.streams").fetchall()]
    covered = coverage(conn)
    partial, labels = partial_months(covered), lp.period_subtitles(covered)
    assert sorted(p.user_id for p in pages) == sorted(users) and len(pages) >= 2
    for page in pages:
        (section,) = page.sections
        keys = _charts(conn, page.user_id)
        assert [c.title for c in section.plots] == [lp.LISTENER_PLOTS[k].title for k in keys]
        for chart, key in zip(section.plots, keys, strict=True):
            expected = vega_spec(lp.LISTENER_PLOTS[key], _own_frame(conn, key, page.user_id))
            # the page's period names, brush, partial months and the charts following it
            expected = lp.on_page(key, expected, partial, labels)
            assert _same(json.loads(chart.vega_json), expected), (page.user_id, key)


def test_the_monthly_chart_brushes_and_the_taste_chart_follows(warehouse):
    pages = [
        {k: json.loads(c.vega_json) for k, c in zip(_charts(warehouse, p.user_id),
                                                      p.sections[0].plots, strict=True)}
        for p in lp.listener_pages(warehouse)
    ]  # fmt: skip
    specs = next(p for p in pages if "brush" in p["monthly"]["usermeta"])
    brushes = [p for p in specs["monthly"]["params"] if p["name"] == BRUSH]
    assert brushes == [{"name": BRUSH, "select": {"type": "interval", "encodings": ["x"]}}]
    assert specs["monthly"]["usermeta"]["brush"] is True
    assert specs["taste"]["usermeta"]["range"] == "month"
    assert "zoom" not in {p["name"] for p in specs["monthly"]["params"]}
    assert any("range" in t.get("filter", "") for t in specs["taste"]["transform"])


def test_a_page_holds_only_its_listeners_data(warehouse):
    pages = list(lp.listener_pages(warehouse))
    for page in pages:
        text = build_dashboard(
            page.display_name, "d", page.sections, generated_at="g", script_src="v.js"
        )
        assert not any(o.user_id in text for o in pages if o is not page), page.user_id
        monthly = json.loads(page.sections[0].plots[0].vega_json)["data"]["values"]
        (minutes,) = warehouse.execute(
            "select sum(ms_played) / 60000.0 from core.streams "
            "where user_id = ? and content_type = 'music'",
            [page.user_id],
        ).fetchone()
        shown = sum(v["value"] for v in monthly if v["period"] == "all")
        assert math.isclose(shown, minutes, rel_tol=1e-9), page.user_id


def _blocks(page: lp.ListenerPage) -> dict[str, str]:
    """The page's Wrapped blocks, by period."""
    text = page.sections[0].html
    starts = list(re.finditer(r'<div class="wrapped" data-pick-column="period" '
                              r'data-pick-value="([^"]+)"', text))  # fmt: skip
    ends = [m.start() for m in starts[1:]] + [len(text)]
    return {m.group(1): text[m.start() : end] for m, end in zip(starts, ends, strict=True)}


def test_a_scrobblers_page_says_where_their_plays_come_from_in_every_period(scrobbler):
    """In each period's Wrapped, a sentence of the plays by source; a chart of them by year
    (all time: every year; a year: its bar) and a footnote: listener_wrapped's figures."""
    conn, user, _ = scrobbler
    assert user == "user_0001"  # the tiny world's scrobbler (lib/sample/world/scrobbles.py)
    wrapped = {
        period: dict(zip(("plays", "spotify", "lastfm", "listenbrainz", "year"), rest,
                         strict=True))
        for period, *rest in conn.execute(
            "select period, plays, spotify_plays, lastfm_plays, listenbrainz_plays, year "
            f"from marts.listener_wrapped where user_id = ? and {lp.OFFERED}", [user]
        ).fetchall()
    }  # fmt: skip
    assert wrapped["all"]["lastfm"] > 0 and wrapped["all"]["listenbrainz"] > 0
    page = next(p for p in lp.listener_pages(conn) if p.user_id == user)
    (section,) = page.sections
    blocks = _blocks(page)
    assert set(blocks) == set(wrapped)
    for period, w in wrapped.items():
        assert w["spotify"] + w["lastfm"] + w["listenbrainz"] == w["plays"]
        if not w["plays"]:  # a year of podcasts only says nothing of sources
            assert 'class="sources"' not in blocks[period]
            continue
        sentence = (
            f'<p class="sources">{w["plays"]:,} plays: {w["spotify"]:,} on Spotify, '
            f"{w['lastfm']:,} scrobbled to Last.fm, {w['listenbrainz']:,} to ListenBrainz "
            "(a play both streamed and scrobbled counts once, as Spotify&#x27;s).</p>"
        )
        assert sentence in blocks[period], (period, blocks[period][:600])
    (chart,) = [c for c in section.plots if c.title == lp.LISTENER_PLOTS["sources"].title]
    values = json.loads(chart.vega_json)["data"]["values"]
    shown: dict[tuple[str, str], dict[str, int]] = {}
    for v in values:
        shown.setdefault((v["period"], v["year"]), {})[v["series"]] = v["value"]
    years = {str(w["year"]) for w in wrapped.values() if w["year"] is not None and w["plays"]}
    assert {y for p, y in shown if p == "all"} == years
    assert {(p, y) for p, y in shown if p != "all"} == {(y, y) for y in years}
    for (_, year), got in shown.items():
        w = wrapped[year]
        assert got == {"Spotify": w["spotify"], "Last.fm": w["lastfm"],
                       "ListenBrainz": w["listenbrainz"]}  # fmt: skip
    assert sum(v["value"] for v in values if v["period"] == "all") == wrapped["all"]["plays"]
    assert section.notes == [lp.SCROBBLED_NOTE]
    text = build_dashboard(page.display_name, "d", page.sections, generated_at="g",
                           script_src="v.js")  # fmt: skip
    assert f'<ul class="notes"><li>{html.escape(lp.SCROBBLED_NOTE)}</li></ul>' in text


def test_a_listener_who_never_scrobbled_reads_nothing_of_sources(scrobbler, warehouse):
    conn, _, other = scrobbler
    pages = [
        *(p for p in lp.listener_pages(conn) if p.user_id == other),
        *lp.listener_pages(warehouse),
    ]
    assert pages[0].user_id == other
    for page in pages:
        (section,) = page.sections
        assert 'class="sources"' not in section.html
        assert lp.LISTENER_PLOTS["sources"].title not in [c.title for c in section.plots]
        assert list(section.notes) == []


def test_the_sentence_names_only_the_services_the_listener_scrobbled_to():
    row = {"plays": 1, "spotify_plays": 0, "lastfm_plays": 0, "listenbrainz_plays": 1}
    assert lp.sources_sentence(row, ("listenbrainz_plays",)).startswith(
        "1 play: 0 on Spotify, 1 scrobbled to ListenBrainz ("
    )
    row = {"plays": 12_345, "spotify_plays": 12_000, "lastfm_plays": 345, "listenbrainz_plays": 0}
    assert lp.sources_sentence(row, ("lastfm_plays",)).startswith(
        "12,345 plays: 12,000 on Spotify, 345 scrobbled to Last.fm ("
    )


def _bulk(conn: Any, spec: PlotSpec, order: str) -> dict[str, dict[str, Any]]:
    """Each group's spec the bulk way: its values from SQL spliced into the template of its
    layout, drawn from the first group (by name) of that layout, as listener_pages does."""
    columns = {n: t for n, t, *_ in conn.execute("describe frames").fetchall() if n != "g"}
    templates: dict[tuple[Any, ...], dict[str, Any]] = {}
    out = {}
    sql = f"select * from ({values_sql(spec, 'frames', columns, by='g', order=order)}) order by g"
    for g, values, rows, present, options, per_pick in conn.execute(sql).fetchall():
        key = layout_key(spec, rows=rows, values=present, options=options,
                         rows_per_pick=per_pick or 0)  # fmt: skip
        if key not in templates:
            frame = conn.execute(
                f"select * exclude (g) from frames where g = ? order by {order}", [g]
            ).df()
            vl, expected_values = template(spec, frame)
            assert (expected_values is None) == (key == ("no data",))
            if expected_values is not None:
                assert _same(json.loads(values), expected_values), g
            templates[key] = vl
        vl = templates[key]
        if key == ("no data",):
            out[g] = vl
        else:
            assert json.dumps(vl).count(json.dumps(VALUES_SLOT)) == 1
            out[g] = {**vl, "data": {"values": json.loads(values)}}
    return out


def test_bulk_values_and_layouts_agree_with_the_chart_definition():
    conn = duckdb.connect()
    # g1: 70 days (a line without points), two periods; g2: 3 days; g3: only null values;
    # g4: 2 days in g1's two periods (same picker, but points: a layout of its own); g5: 40
    # days alternating between them (a top list of 20 per period, where g1's has 30 and more)
    conn.execute(
        """
create table frames as
select 'g1' as g, (date '2024-01-01' + i::int)::date as day, (2024 + i // 40)::varchar as period,
       i / 3.0 as a, i * 2.0 as b from range(70) r(i)
union all select 'g2', (date '2025-05-01' + i::int)::date, '2025', 1.0 / (i + 3), null from range(3) r(i)
union all select 'g3', date '2025-01-01', '2025', null, null
union all select 'g4', date '2024-12-31' + i::int, (2024 + i)::varchar, i, i from range(2) r(i)
union all select 'g5', date '2023-01-01' + i::int, (2024 + i % 2)::varchar, i, i from range(40) r(i)
"""  # noqa: E501
    )
    line = PlotSpec("Line", "line", "day", ("a", "b"), picker="period", picker_all=False)
    bulk = _bulk(conn, line, "day")
    for g, got in bulk.items():
        frame = conn.execute(f"select * exclude (g) from frames where g = '{g}' order by day").df()
        assert _same(got, vega_spec(line, frame)), g
    assert bulk["g1"]["mark"]["point"] is False and bulk["g4"]["mark"]["point"] is True
    assert bulk["g1"]["usermeta"]["picker"]["options"] == ["2024", "2025"]
    assert bulk["g3"]["usermeta"] == {"no_data": True}

    conn.execute("create or replace table frames as select g, period, day::varchar as label, "
                 "a from frames where a is not null")  # fmt: skip
    barh = PlotSpec("Top", "barh", "label", ("a",), picker="period", picker_all=False)
    bulk = _bulk(conn, barh, "a desc, label")
    for g, got in bulk.items():
        frame = conn.execute(
            f"select * exclude (g) from frames where g = '{g}' order by a desc, label"
        ).df()
        assert _same(got, vega_spec(barh, frame)), g
    assert bulk["g1"]["height"] == 22 * 30 and bulk["g2"]["height"] == 120
    assert bulk["g5"]["height"] == 22 * 20


def test_bulk_refuses_charts_it_cannot_shape():
    with pytest.raises(ValueError, match="not drawn in bulk"):
        values_sql(PlotSpec("S", "scatter", "x", ("y",)), "t", {"x": "DOUBLE"}, by="g", order="x")
