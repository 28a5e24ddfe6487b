"""The dashboard in a real browser, as a listener and an analyst open it: headless Chromium
(Debian's ``chromium``; CI installs it, this test installs nothing and is skipped where it is
absent) opens the overview and every listener page from ``file://`` with the network blocked,
through the DevTools protocol.

The warehouse is the demo world (``make demo``'s sample world: listening history and catalog
by the pipeline's own code) plus a listener whose old export starts in 2014 and a quality table
as long as the code location's (``spotify_assets_tests/support/dashboards.py``), drawn with the
dashboard asset's own groups. Every chart draws with a quiet console (no warning, no error),
tooltips, the period pickers, the brush and the zoom work, rankings stay sorted, months never
go missing, partial periods are named, pages fit a phone (390 px) and a desktop (1280 px) with
screenshots kept as artefacts, and a listener page copied alone opens offline. The tiny world's
scrobbler's page shows where their plays come from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from spotify_assets.lib.reports.overview import LISTENER_DIR
from spotify_assets_tests.support.browser import CHROMIUM, Browser
from spotify_assets_tests.support.dashboards import OLD_LISTENER, demo_dashboard

pytestmark = [
    pytest.mark.slow,  # headless Chromium
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is not installed (Debian: apt-get install -y chromium; .ci/run does it)",
    ),
]

UI = "http://127.0.0.1:3000/assets/"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Path:
    from spotify_assets.lib.sample.world import build_world

    out, _ = demo_dashboard(tmp_path_factory.mktemp("dashboard_browser"), build_world("demo"))
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Any:
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


@pytest.fixture(autouse=True)
def desktop(browser) -> None:
    """Every test starts at a desktop's width (one test narrows it to a phone's)."""
    browser.viewport(1280, 900)


def _pages(dashboard: Path) -> list[Path]:
    return [dashboard / "index.html", *sorted((dashboard / LISTENER_DIR).glob("*.html"))]


def listener(dashboard: Path, user: str = OLD_LISTENER) -> Path:
    return dashboard / LISTENER_DIR / f"{user}.html"


def pick(browser: Browser, value: str, select: str = "select.picker") -> None:
    """Choose ``value`` in the page's picker as a person does, and wait for the charts."""
    browser.evaluate(
        f"""(() => {{ const s = document.querySelector({json.dumps(select)});
                     s.value = {json.dumps(value)};
                     s.dispatchEvent(new Event('change'));
                     return window.dashboard.ready.then(() => window.dashboard.pick(s))
                       .then(() => new Promise(r => setTimeout(r, 200)));
                  }})()"""
    )


def view(title: str) -> str:
    """JS: the Vega view of the chart titled ``title`` (its first words will do)."""
    return (
        "window.dashboard.views.find(v => JSON.parse(v.el.nextElementSibling.textContent)"
        f".title.text.startsWith({json.dumps(title)})).view"
    )


def x_domain(browser: Browser, title: str) -> list[str]:
    return browser.evaluate(
        f"{view(title)}.scale('x').domain().map(d => new Date(d).toISOString().slice(0, 10))"
    )


def hover(browser: Browser, selector: str) -> str | None:
    """Move the mouse over the middle of the first element ``selector`` finds; the tooltip's
    text, or None when no tooltip shows."""
    box = browser.evaluate(
        f"""(() => {{ const mark = document.querySelector({json.dumps(selector)});
                   mark.scrollIntoView({{block: 'center'}});
                   const s = mark.getBoundingClientRect();
                   return {{x: s.x + s.width / 2, y: s.y + Math.max(1, s.height / 2)}}; }})()"""
    )
    for _ in range(2):
        browser.call("Input.dispatchMouseEvent", session=True, type="mouseMoved", **box)
        time.sleep(0.2)
    return tooltip(browser)


def tooltip(browser: Browser) -> str | None:
    return browser.evaluate(
        "(() => { const t = document.getElementById('vg-tooltip-element'); "
        "return t && t.classList.contains('visible') ? t.textContent : null; })()"
    )


# ------------------------------------------------------------------------------------------
# every page draws, offline, with a quiet console
# ------------------------------------------------------------------------------------------


def test_the_dashboard_has_an_index_and_a_page_per_listener(dashboard):
    pages = sorted(p.stem for p in (dashboard / LISTENER_DIR).glob("*.html"))
    assert len(pages) == 61 and OLD_LISTENER in pages  # the 60 of the world, the 2014 one
    index = (dashboard / "index.html").read_text()
    for user in pages:
        assert f'href="{LISTENER_DIR}/{user}.html"' in index
    # Nothing is loaded from the network; the only links out are to the Dagster UI's assets.
    assert not re.search(r"src=\"https?:", index)
    outside = set(re.findall(r'href="(https?://[^"]+)"', index))
    assert outside and all(u.startswith(UI) for u in outside), outside


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


def test_every_chart_of_every_page_draws_offline_with_a_quiet_console(dashboard, browser):
    """Issue 8: every chart logged 'input spec uses Vega-Lite v5, but the current version is
    v6.4.1'. Now the console of the overview and of every listener page stays empty."""
    for page in _pages(dashboard):
        browser.open(page.as_uri())
        state = browser.evaluate(CHART_STATE)
        assert state["total"] > 0, page.name
        assert state["failed"] == [], (page.name, state["failed"])
        assert state["rendered"] == state["drawn"] == state["total"], (page.name, state)
        assert browser.console("warning", "error") == [], page.name
        assert browser.errors() == [], (page.name, browser.errors())
        outside = [u for u in browser.requests() if not u.startswith(("file://", "data:"))]
        assert outside == [], (page.name, outside)


# ------------------------------------------------------------------------------------------
# tooltips, pickers, brush and zoom
# ------------------------------------------------------------------------------------------


def test_hovering_a_bar_shows_its_value(dashboard, browser):
    browser.open(listener(dashboard, "user_0001").as_uri())
    text = hover(browser, "div.vega svg g.mark-rect:not([class*=brush]) path")
    assert text and "minutes" in text and re.search(r"Jan 2024", text), text


def test_the_period_picker_changes_what_the_charts_show(dashboard, browser):
    page = max(
        (dashboard / LISTENER_DIR).glob("*.html"), key=lambda p: p.read_text().count("<option")
    )
    browser.open(page.as_uri())
    options = browser.evaluate(
        "[...document.querySelector('select.picker').options].map(o => o.value)"
    )
    assert options[0] == "all" and len(options) >= 3, options
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
    pick(browser, options[1])
    after = browser.evaluate(snapshot)
    assert after != before and len(after) == len(before)
    assert browser.evaluate(visible) == [options[1]]
    assert after[0] != before[0]  # the monthly chart keeps only that year's months
    assert browser.errors() == []


def test_top_artists_stay_sorted_whatever_the_picker_went_through(dashboard, browser):
    """Issue 3: switching 2025 -> 2024 -> all left 'Top 10 artists' unsorted (47 above 54
    and 53): Vega does not keep a filtered ranking's data order."""
    read = (
        f"(() => {{ const el = {view('Top 10 artists')}.container(); "
        "return [...el.querySelectorAll('g.mark-text.role-mark text')]"
        ".map(t => [t.getBoundingClientRect().y, t.textContent])"
        ".sort((a, b) => a[0] - b[0]).map(t => +t[1].replace(/,/g, '')); })()"
    )
    checked = 0
    for page in sorted((dashboard / LISTENER_DIR).glob("user_00[0-2]*.html")):
        browser.open(page.as_uri())
        options = browser.evaluate(
            "[...document.querySelector('select.picker').options].map(o => o.value)"
        )
        for value in [*sorted(options[1:], reverse=True), "all", *sorted(options[1:]), "all"]:
            pick(browser, value)
            values = browser.evaluate(read)
            assert values == sorted(values, reverse=True), (page.name, value, values)
            checked += 1
    assert checked > 20


def test_brushing_months_narrows_the_taste_chart_to_them(dashboard, browser):
    """Dragging across bars of the monthly-minutes chart (its interval brush, on a continuous
    time axis) narrows the taste chart to the months it touches; another period clears it."""
    browser.open(listener(dashboard, "user_0001").as_uri())
    source, follower = view("Listening minutes"), view("Taste over time")
    whole = x_domain(browser, "Taste over time")
    bars = browser.evaluate(
        f"""(() => {{ const el = {source}.container(); el.scrollIntoView();
            const bars = [...el.querySelectorAll('svg g.mark-rect:not([class*=brush]) path')]
              .map(p => p.getBoundingClientRect()).filter(r => r.width > 0)
              .sort((a, b) => a.x - b.x);
            return bars.map(r => ({{x: r.x, right: r.x + r.width, bottom: r.bottom}})); }})()"""
    )
    assert len(bars) >= 6, len(bars)
    first, last = 1, 4  # from the 2nd bar to the 5th
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
    brushed = browser.evaluate(f"Object.values({source}.signal('brush'))[0].length")
    assert brushed == 2  # a continuous range of time
    narrowed = x_domain(browser, "Taste over time")
    assert narrowed == ["2024-02-01", "2024-05-01"] != whole, (narrowed, whole)
    pick(browser, "2025")  # another period: the old range no longer narrows it
    assert browser.evaluate(f"{follower}.signal('range')") is None
    assert not browser.evaluate(f"Object.keys({source}.signal('brush') || {{}}).length")
    assert x_domain(browser, "Taste over time") != narrowed
    assert browser.errors() == []


def test_zooming_a_time_axis_and_double_clicking_back(dashboard, browser):
    browser.open((dashboard / "index.html").as_uri())
    before = x_domain(browser, "Listening hours per day")
    box = browser.evaluate(
        f"""(() => {{ const el = {view("Listening hours per day")}.container();
            el.scrollIntoView({{block: 'center'}});
            const r = el.querySelector('svg').getBoundingClientRect();
            return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()"""
    )
    browser.call("Input.dispatchMouseEvent", session=True, type="mouseMoved", **box)
    browser.call("Input.dispatchMouseEvent", session=True, type="mouseWheel", deltaX=0,
                 deltaY=-400, **box)  # fmt: skip
    time.sleep(0.4)
    zoomed = x_domain(browser, "Listening hours per day")
    assert zoomed[0] > before[0] and zoomed[1] < before[1], (before, zoomed)
    for clicks in (1, 2):
        for kind in ("mousePressed", "mouseReleased"):
            browser.call("Input.dispatchMouseEvent", session=True, type=kind, button="left",
                         clickCount=clicks, **box)  # fmt: skip
    time.sleep(0.4)
    assert x_domain(browser, "Listening hours per day") == before


# ------------------------------------------------------------------------------------------
# periods a person understands
# ------------------------------------------------------------------------------------------


def test_the_overview_opens_on_the_recent_span_with_a_picker_that_moves_every_chart_over_time(
    dashboard, browser
):
    """Issue 6: one listener's export from 2014 turned the daily charts into a decade of
    zeros. The overview opens on the span where the listening is; all time is one pick away;
    June 2025 (data to 23 June) is named partial."""
    browser.open((dashboard / "index.html").as_uri())
    chosen = browser.evaluate(
        "(() => { const s = document.querySelector('select.picker[data-scope=page]'); "
        "return [s.value, s.options[s.selectedIndex].text]; })()"
    )
    assert chosen == ["recent", "Recent: Jan 2024 – 23 Jun 2025"]
    assert x_domain(browser, "Listening hours per day")[0] == "2024-01-01"
    tiles = "[...document.querySelectorAll('.period-tiles')].filter(t => !t.hidden).map(t => t.dataset.pickValue)"  # noqa: E501
    assert browser.evaluate(tiles) == ["recent"]
    # June 2025 is a lighter bar whose tooltip says it is partial.
    text = hover(browser, "#listening-engagement div.vega svg g.mark-rect path:last-of-type")
    assert text and "Jun 2025" in text and "partial month: to 23 Jun" in text, text
    assert "June 2025 (to 23 Jun)" in browser.evaluate("document.body.innerText")
    pick(browser, "all", "select.picker[data-scope=page]")
    assert x_domain(browser, "Listening hours per day")[0] == "2014-03-05"
    assert browser.evaluate(tiles) == ["all"]
    pick(browser, "2024", "select.picker[data-scope=page]")
    first, last = x_domain(browser, "Listening hours per day")
    assert first.startswith("2024-01") and last.startswith("2024-12"), (first, last)
    assert browser.evaluate(f"{view('Monthly active users')}.data('data_0').length") == 12
    assert browser.errors() == [] and browser.console("warning", "error") == []


def test_no_month_goes_missing_from_a_monthly_chart(dashboard, browser):
    """Issue 4: the monthly-minutes axis was ordinal, so months without plays vanished (a
    listener went from 2022-01 straight to 2022-09). The 2014 listener's all-time chart draws
    a bar for every month from March 2014 to June 2025, zeros included."""
    browser.open(listener(dashboard).as_uri())
    count = browser.evaluate(
        f"{view('Listening minutes')}.container()"
        ".querySelectorAll('g.mark-rect:not([class*=brush]) path').length"
    )
    assert count == (2025 - 2014) * 12 + 6 - 3 + 1  # 2014-03 .. 2025-06
    scale = browser.evaluate(f"{view('Listening minutes')}.scale('x').type")
    assert scale in ("time", "utc")  # continuous
    browser.open((dashboard / "index.html").as_uri())
    pick(browser, "all", "select.picker[data-scope=page]")
    for title in ("Monthly active users", "Taste: mainstream"):
        months = browser.evaluate(
            f"(() => {{ const d = {view(title)}.data('data_0'); "
            "return [...new Set(d.map(r => new Date(r.month).toISOString().slice(0, 7)))]"
            ".sort(); })()"
        )
        assert months[0] == "2014-03" and months[-1] == "2025-06" and len(months) == 136, title


def test_a_tooltip_goes_when_the_period_changes(dashboard, browser):
    """Issue 7: a tooltip stayed on screen after the period changed, about a bar gone."""
    browser.open(listener(dashboard, "user_0001").as_uri())
    assert hover(browser, "div.vega svg g.mark-rect:not([class*=brush]) path")
    pick(browser, "2025")
    assert tooltip(browser) is None


def test_the_quality_summary_comes_first_and_the_table_is_folded(dashboard, browser):
    browser.open((dashboard / "index.html").as_uri())
    state = browser.evaluate(
        """(() => { const s = document.getElementById('data-quality');
           const d = s.querySelector('details');
           return {open: d.open, folded: d.getBoundingClientRect().height,
                   summary: s.getBoundingClientRect().height,
                   first: s.querySelector('.attention li').textContent}; })()"""
    )
    assert not state["open"] and state["folded"] < 60  # its summary line only
    assert state["summary"] < 900  # one screen, not five
    assert state["first"].startswith("failed")
    browser.evaluate("document.querySelector('#data-quality details').open = true")
    wrapped = browser.evaluate(
        "(() => { const td = [...document.querySelectorAll('#data-quality td')]"
        ".find(c => c.textContent.startsWith('A description long')); "
        "return td.scrollWidth <= td.clientWidth + 1 && td.getBoundingClientRect().height > 20; "
        "})()"
    )
    assert wrapped  # the descriptions wrap, never clipped


# ------------------------------------------------------------------------------------------
# where a scrobbler's plays come from
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scrobbler_page(tmp_path_factory) -> Path:
    """The page of the tiny world's scrobbler (their export, Last.fm and ListenBrainz files,
    by the pipeline's own code), as the dashboard writes it: one file."""
    import duckdb

    from spotify_assets.lib.marts import engagement_marts, listener_marts
    from spotify_assets.lib.marts.run import build_marts
    from spotify_assets.lib.reports.dashboard import build_dashboard
    from spotify_assets.lib.reports.listener_pages import listener_pages
    from spotify_assets.lib.reports.vega import packed_bundle
    from spotify_assets.lib.sample.world import build_world
    from spotify_assets_tests.support.listening import scrobbler_history

    tmp = tmp_path_factory.mktemp("scrobbler_page")
    with duckdb.connect() as conn:
        user = scrobbler_history(conn, build_world("tiny", seed=42), tmp)
        build_marts(conn, [*engagement_marts.MARTS, *listener_marts.MARTS])
        (page,) = [p for p in listener_pages(conn) if p.user_id == user]
    path = tmp / f"{user}.html"
    path.write_text(
        build_dashboard(
            page.display_name, "d", page.sections, generated_at="g", inline_bundle=packed_bundle()
        )
    )
    return path


def test_a_scrobblers_page_shows_where_their_plays_come_from(scrobbler_page, browser):
    """The sentence of the period shown, the chart of plays by source (every year for all
    time, the year picked), the footnote; every chart drawn, the console quiet."""
    browser.open(scrobbler_page.as_uri())
    state = browser.evaluate(CHART_STATE)
    assert state["failed"] == [] and state["rendered"] == state["drawn"] == state["total"] == 5
    sentence = (
        "[...document.querySelectorAll('.wrapped')].filter(w => !w.hidden).map(w => {"
        " const p = w.querySelector('p.sources');"
        " return p && p.getBoundingClientRect().height > 0 ? p.textContent : null; })"
    )
    (text,) = browser.evaluate(sentence)
    assert re.match(r"[\d,]+ plays: [\d,]+ on Spotify, [\d,]+ scrobbled to Last\.fm, "
                    r"[\d,]+ to ListenBrainz \(", text), text  # fmt: skip
    years = browser.evaluate(f"{view('Plays by source')}.scale('x').domain()")
    assert len(years) >= 3 and years == sorted(years), years
    assert "UTC" in browser.evaluate("document.querySelector('ul.notes').innerText")
    assert browser.console("warning", "error") == []
    # The newest year (Spotify's and scrobbles): a year of scrobbles only leaves the taste
    # chart empty (marts.taste_monthly is Spotify's streams), which Vega warns of.
    pick(browser, years[-1])
    (picked,) = browser.evaluate(sentence)
    assert picked != text and picked.endswith("counts once, as Spotify's).")
    assert browser.evaluate(f"{view('Plays by source')}.scale('x').domain()") == [years[-1]]
    assert browser.errors() == [] and browser.console("warning", "error") == []


# ------------------------------------------------------------------------------------------
# a phone and a desktop; one file per listener
# ------------------------------------------------------------------------------------------


def artefacts(tmp_path: Path) -> list[Path]:
    """Where screenshots go: the test's folder, and $SPOTIFY_TEST_ARTIFACTS when set."""
    folders = [tmp_path / "screenshots"]
    if os.environ.get("SPOTIFY_TEST_ARTIFACTS"):
        folders.append(Path(os.environ["SPOTIFY_TEST_ARTIFACTS"]) / "dashboard")
    return folders


FIT = """
(() => {
  const width = document.documentElement.clientWidth;
  const charts = [...document.querySelectorAll('div.vega')].map(d => {
    const svg = d.querySelector('svg');
    return svg ? Math.round(svg.getBoundingClientRect().right - d.getBoundingClientRect().right)
               : 999;
  });
  return {width, scroll: document.documentElement.scrollWidth, over: charts.filter(c => c > 1),
          charts: charts.length};
})()
"""


@pytest.mark.parametrize("width", [390, 1280])
def test_pages_fit_a_phone_and_a_desktop_with_screenshots(dashboard, browser, tmp_path, width):
    """Readable at 390 px (a phone) with no horizontal scroll and every chart inside its box
    (charts take their box's width), and at 1280 px; a screenshot of each page kept."""
    browser.viewport(width, 900, mobile=width < 600)
    shots = []
    for page in (dashboard / "index.html", listener(dashboard), listener(dashboard, "user_0001")):
        browser.open(page.as_uri())
        fit = browser.evaluate(FIT)
        assert width - 20 <= fit["width"] <= width  # (less a scroll bar on a desktop)
        assert fit["scroll"] <= fit["width"], (page.name, fit)
        assert fit["charts"] > 0 and fit["over"] == [], (page.name, fit)
        name = f"{'overview' if page.name == 'index.html' else page.stem}-{width}px.png"
        for folder in artefacts(tmp_path):
            shots.append(browser.screenshot(folder / name))
    print(f"\nscreenshots at {width} px: {sorted({str(s.parent) for s in shots})}")
    assert all(s.stat().st_size > 10_000 for s in shots)


def test_a_listener_page_copied_alone_opens_offline_and_draws_every_chart(
    dashboard, browser, tmp_path
):
    """A listener page is one file: sent alone (no vendor folder beside it), it opens offline
    and draws every chart; it holds that listener's data only."""
    alone = tmp_path / "elsewhere" / "my-wrapped.html"
    alone.parent.mkdir()
    shutil.copyfile(listener(dashboard), alone)
    assert [p.name for p in alone.parent.iterdir()] == ["my-wrapped.html"]
    browser.open(alone.as_uri())
    state = browser.evaluate(CHART_STATE)
    assert state["total"] == 4 and state["rendered"] == state["drawn"] == 4, state
    assert browser.errors() == [] and browser.console("warning", "error") == []
    outside = [u for u in browser.requests() if not u.startswith(("file://", "data:"))]
    assert outside == []
    assert [u for u in browser.requests() if u.startswith("file://")] == [alone.as_uri()]
    text = alone.read_text()
    assert "user_0001" not in text and OLD_LISTENER in text
