"""Listener pages built in bulk (one query per chart over all listeners, a template per
layout) hold what the chart definition draws from each listener's own frame, and only that
listener's data; the bulk shaping (``vega.values_sql``) agrees with ``vega_spec`` on every
layout it decides (points on short lines, a top list's height, the picker's periods, no data).
"""

from __future__ import annotations

import json
import math
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


def _own_frame(conn: Any, key: str, user_id: str) -> Any:
    """One listener's frame of a chart, queried for them alone (the per-page way)."""
    frame = lp._FRAMES[key]
    return conn.execute(
        f"""
select {", ".join(f"f.{c}" for c in frame.columns)}
  from ({frame.sql}) f
  join (select period, row_number() over (order by year desc nulls first) as _rank
          from marts.listener_wrapped where user_id = $user and {lp.OFFERED}) p using (period)
 where f.user_id = $user
 order by _rank nulls last, {frame.order}
""",
        {"user": user_id},
    ).df()


def test_every_chart_of_every_page_is_what_its_definition_draws_from_that_listener(warehouse):
    pages = list(lp.listener_pages(warehouse))
    users = [
        u for (u,) in warehouse.execute("select distinct user_id from core.streams").fetchall()
    ]
    covered = coverage(warehouse)
    partial, labels = partial_months(covered), lp.period_subtitles(covered)
    assert sorted(p.user_id for p in pages) == sorted(users) and len(pages) >= 3
    for page in pages:
        (section,) = page.sections
        assert [c.title for c in section.plots] == [s.title for s in lp.LISTENER_PLOTS.values()]
        for chart, (key, spec) in zip(section.plots, lp.LISTENER_PLOTS.items(), strict=True):
            expected = vega_spec(spec, _own_frame(warehouse, key, page.user_id))
            # the page's period names, brush, partial months and the charts following it
            expected = lp.on_page(key, expected, partial, labels)
            assert _same(json.loads(chart.vega_json), expected), (page.user_id, key)


def test_the_monthly_chart_brushes_and_the_taste_chart_follows(warehouse):
    pages = [
        {k: json.loads(c.vega_json) for k, c in zip(lp.LISTENER_PLOTS, p.sections[0].plots,
                                                      strict=True)}
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
