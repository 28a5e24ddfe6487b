"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``; CI installs it,
this test installs nothing and is skipped where it is absent) opens the overview and every
listener page from ``file://`` with the network blocked, through the DevTools protocol, and
checks that every chart drew (an SVG with marks, no script error in the console, no request
leaving the folder), that hovering a mark shows its tooltip, and that the period picker
changes what a listener's charts show.

The warehouse is the tiny sample world's listening history through the pipeline's own code,
with the engagement, listener and chart marts built on it.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from spotify_assets.lib.marts import chart_marts, engagement_marts, listener_marts
from spotify_assets.lib.marts.run import build_marts
from spotify_assets.lib.reports.overview import LISTENER_DIR, MartGroup, write_dashboard
from spotify_assets_tests.support.browser import CHROMIUM, Browser
from spotify_assets_tests.support.warehouse import create_core_tables, world_streams

pytestmark = [
    pytest.mark.slow,  # headless Chromium
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is not installed (Debian: apt-get install -y chromium; .ci/run does it)",
    ),
]


# ------------------------------------------------------------------------------------------
# the dashboard
# ------------------------------------------------------------------------------------------


def _chart_entries(conn: Any) -> None:
    """Two days of a 3-song global chart: enough for every chart mart to draw."""
    conn.execute(
        "create table core.chart_entries (region varchar, chart varchar, period_start date, "
        "period_end date, rank bigint, track_id varchar, track_name varchar, "
        "artist_names varchar, streams bigint, peak_rank bigint, previous_rank bigint, "
        "days_on_chart bigint, weeks_on_chart bigint, source_file varchar)"
    )
    day = date(2024, 4, 1)
    for d, (rank, track) in itertools.product(range(2), enumerate(("a", "b", "c"), 1)):
        conn.execute(
            "insert into core.chart_entries values (?, 'regional-daily', ?, ?, ?, ?, ?, ?, ?, "
            "null, null, null, null, 'f.csv')",
            ["global", day + timedelta(d), day + timedelta(d), rank if d == 0 else 4 - rank,
             track, f"Song {track} <b>", "X, Y", 1000 * (4 - rank)],
        )  # fmt: skip


@pytest.fixture(scope="module")
def dashboard(tiny_world, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("dashboard_browser")
    conn = duckdb.connect()
    create_core_tables(conn)
    world_streams(conn, tiny_world, tmp)
    _chart_entries(conn)
    build_marts(conn, [*engagement_marts.MARTS, *listener_marts.MARTS, *chart_marts.MARTS])
    out = tmp / "dashboard"

    def put(path: str, data: bytes) -> None:
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_bytes(data)

    groups = [
        MartGroup("Listening engagement", "Engagement.", engagement_marts.MARTS),
        MartGroup("Charts", "Charts.", chart_marts.MARTS),
        MartGroup("Listener Wrapped", "Wrapped.", listener_marts.MARTS),
    ]
    write_dashboard(conn, put, groups, generated_at="2026-01-01 00:00 UTC")
    conn.close()
    return out


def test_the_dashboard_has_an_index_and_a_page_per_listener(dashboard):
    pages = sorted(p.stem for p in (dashboard / LISTENER_DIR).glob("*.html"))
    assert len(pages) >= 3
    index = (dashboard / "index.html").read_text()
    for user in pages:
        assert f'href="{LISTENER_DIR}/{user}.html"' in index
        page = (dashboard / LISTENER_DIR / f"{user}.html").read_text()
        others = [u for u in pages if u != user]
        # only that listener's data: no other listener's id anywhere on the page
        assert not any(other in page for other in others), user
    assert "http://" not in index.replace("http://www.w3.org", "") and "https://cdn" not in index


# ------------------------------------------------------------------------------------------
# a minimal DevTools-protocol client
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Any:
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


CHART_STATE = """
(() => {
  const charts = [...document.querySelectorAll('div.vega')];
  return {
    total: charts.length,
    rendered: window.dashboard.rendered,
    failed: window.dashboard.failed,
    drawn: charts.filter(c => c.querySelector('svg') &&
                         c.querySelectorAll('svg path, svg text').length > 3).length,
  };
})()
"""


def _pages(dashboard: Path) -> list[Path]:
    return [dashboard / "index.html", *sorted((dashboard / LISTENER_DIR).glob("*.html"))]


def test_every_chart_of_every_page_draws_offline_without_errors(dashboard, browser):
    for page in _pages(dashboard):
        browser.open(page.as_uri())
        state = browser.evaluate(CHART_STATE)
        assert state["total"] > 0, page.name
        assert state["failed"] == [], (page.name, state["failed"])
        assert state["rendered"] == state["drawn"] == state["total"], (page.name, state)
        assert browser.errors() == [], (page.name, browser.errors())
        outside = [u for u in browser.requests() if not u.startswith(("file://", "data:"))]
        assert outside == [], (page.name, outside)


def test_hovering_a_bar_shows_its_value(dashboard, browser):
    browser.open(next((dashboard / LISTENER_DIR).glob("*.html")).as_uri())
    box = browser.evaluate(
        """(() => { const mark = document.querySelector(
                     'div.vega svg g.mark-rect:not([class*=brush]) path');
                   const r = mark.getBoundingClientRect(); mark.scrollIntoView();
                   const s = mark.getBoundingClientRect();
                   return {x: s.x + s.width / 2, y: s.y + Math.max(1, s.height / 2)}; })()"""
    )
    for _ in range(2):
        browser.call("Input.dispatchMouseEvent", session=True, type="mouseMoved", **box)
        time.sleep(0.2)
    tooltip = browser.evaluate(
        "(() => { const t = document.getElementById('vg-tooltip-element'); "
        "return t && t.classList.contains('visible') ? t.textContent : null; })()"
    )
    assert tooltip and "minutes" in tooltip and "2024-01-01" in tooltip


def test_the_period_picker_changes_what_the_charts_show(dashboard, browser):
    page = max(
        (dashboard / LISTENER_DIR).glob("*.html"), key=lambda p: p.read_text().count("<option")
    )
    browser.open(page.as_uri())
    options = browser.evaluate(
        "[...document.querySelector('select.picker').options].map(o => o.value)"
    )
    assert options[0] == "all" and len(options) >= 2, options
    snapshot = (
        "[...document.querySelectorAll('div.vega svg')].map(s => s.innerHTML.length + ':' + "
        "s.querySelectorAll('.mark-rect path, .mark-symbol path, .mark-line path').length)"
    )
    before = browser.evaluate(snapshot)
    visible = (
        "[...document.querySelectorAll('.wrapped')].filter(w => !w.hidden)"
        ".map(w => w.dataset.pickValue)"
    )
    assert browser.evaluate(visible) == ["all"]
    browser.evaluate(
        f"""(() => {{ const s = document.querySelector('select.picker');
                     s.value = {json.dumps(options[1])};
                     s.dispatchEvent(new Event('change'));
                     return window.dashboard.ready.then(() => new Promise(r => setTimeout(r, 300)));
                  }})()"""
    )
    after = browser.evaluate(snapshot)
    assert after != before and len(after) == len(before)
    assert browser.evaluate(visible) == [options[1]]
    # the monthly chart keeps only that year's months
    assert after[0] != before[0]
    assert browser.errors() == []


def test_brushing_months_narrows_the_taste_chart_to_them(dashboard, browser):
    """Dragging across bars of the monthly-minutes chart (its interval brush) narrows the
    taste-over-time chart of the page to the brushed months; a click elsewhere clears it."""
    page = max(
        (dashboard / LISTENER_DIR).glob("*.html"), key=lambda p: p.read_text().count('"month"')
    )
    browser.open(page.as_uri())
    meta = "window.dashboard.views.map(v => v.brush ? 'brush' : v.range ? 'range' : '')"
    views = browser.evaluate(meta)
    source, follower = views.index("brush"), views.index("range")
    domain = (
        f"window.dashboard.views[{follower}].view.scale('x').domain()"
        ".map(d => new Date(d).toISOString().slice(0, 10))"
    )
    whole = browser.evaluate(domain)
    bars = browser.evaluate(
        f"""(() => {{ const el = window.dashboard.views[{source}].el; el.scrollIntoView();
            const bars = [...el.querySelectorAll('svg g.mark-rect:not([class*=brush]) path')]
              .map(p => p.getBoundingClientRect()).filter(r => r.width > 0)
              .sort((a, b) => a.x - b.x);
            return bars.map(r => ({{x: r.x, right: r.x + r.width, bottom: r.bottom}})); }})()"""
    )
    assert len(bars) >= 3, len(bars)
    first, last = 1, min(4, len(bars) - 1)  # from the 2nd bar to the 5th (or the last)
    y = bars[first]["bottom"] - 2
    x0, x1 = bars[first]["x"] + 1, bars[last]["right"] - 1
    mouse = {"button": "left", "clickCount": 1, "y": y}
    browser.call("Input.dispatchMouseEvent", session=True, type="mouseMoved", x=x0, buttons=0,
                 **mouse)  # fmt: skip
    browser.call("Input.dispatchMouseEvent", session=True, type="mousePressed", x=x0, buttons=1,
                 **mouse)  # fmt: skip
    for i in range(1, 6):
        browser.call("Input.dispatchMouseEvent", session=True, type="mouseMoved",
                     x=x0 + (x1 - x0) * i / 5, buttons=1, **mouse)  # fmt: skip
    browser.call("Input.dispatchMouseEvent", session=True, type="mouseReleased", x=x1, buttons=0,
                 **mouse)  # fmt: skip
    time.sleep(0.5)
    brushed = browser.evaluate(
        f"window.dashboard.views[{source}].view.signal('brush').yearmonthdate_month"
        ".map(d => new Date(d).toISOString().slice(0, 10))"
    )
    assert len(brushed) == last - first + 1, brushed
    narrowed = browser.evaluate(domain)
    assert narrowed != whole
    assert narrowed == [min(brushed), max(brushed)], (narrowed, brushed)
    # Another period in the picker: the old range no longer narrows the taste chart.
    options = browser.evaluate(
        "[...document.querySelector('select.picker').options].map(o => o.value)"
    )
    browser.evaluate(
        f"""(() => {{ const s = document.querySelector('select.picker');
                     s.value = {json.dumps(options[-1])};
                     s.dispatchEvent(new Event('change'));
                     return window.dashboard.ready.then(() => new Promise(r => setTimeout(r, 300)));
                  }})()"""
    )
    assert browser.evaluate(f"window.dashboard.views[{follower}].view.signal('range')") is None
    assert not browser.evaluate(
        f"Object.keys(window.dashboard.views[{source}].view.signal('brush') || {{}}).length"
    )
    assert browser.evaluate(domain) != narrowed
    assert browser.errors() == []
