"""What the dashboard's pages say, read from the page's data (issue 26; the same pages in
Chromium: test_dashboard_browser.py): the tiny world's listening history plus a listener whose
old export starts in 2014 (a year of podcasts only in 2019, music again lately), a quality
table of 176 checks, the real groups of the dashboard asset.

Periods a person understands (a default where the listening is, partial periods named, no
year without plays, every month on a time axis), the quality section a person reads, the
formatting on the cards and lists, one file per listener, files others can read.
"""

from __future__ import annotations

import json
import os
import re
import stat
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from spotify_assets.lib.reports import overview
from spotify_assets.lib.reports import vega as vega_module
from spotify_assets.lib.reports.listener_pages import LISTENER_DIR, _wrapped_cards
from spotify_assets.lib.reports.periods import (
    Coverage,
    overview_periods,
    partial_months,
    recent_start,
    year_period,
)
from spotify_assets_tests.support.dashboards import OLD_LISTENER, QUALITY_ROWS, demo_dashboard

#: A stand-in for the 0.9 MB Vega bundle (these tests read the pages, they do not draw them).
STUB_BUNDLE = "window.vegaEmbed = function () { return Promise.resolve({}); };"


@pytest.fixture(scope="module")
def pages(tiny_world, tmp_path_factory) -> Path:
    patch = pytest.MonkeyPatch()
    patch.setattr(vega_module, "javascript_bundle", lambda: STUB_BUNDLE)
    patch.setattr(overview, "packed_bundle", lambda: "c3R1Yg==")
    try:
        out, _ = demo_dashboard(tmp_path_factory.mktemp("pages"), tiny_world, catalog=False)
    finally:
        patch.undo()
    return out


class Page(HTMLParser):
    """The page's elements with their attributes and text, and its charts' specs."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = text
        self.elements: list[tuple[str, dict[str, Any]]] = []
        self.specs: list[dict[str, Any]] = []
        self._spec: list[str] | None = None
        self.texts: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "script" and "vega-spec" in (a.get("class") or ""):
            self._spec = []

    def handle_endtag(self, tag):
        if tag == "script" and self._spec is not None:
            self.specs.append(json.loads("".join(self._spec)))
            self._spec = None

    def handle_data(self, data):
        if self._spec is not None:
            self._spec.append(data)
        else:
            self.texts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def spec(self, title: str) -> dict[str, Any]:
        return next(s for s in self.specs if s["title"]["text"] == title)


def page(folder: Path, name: str = "index.html") -> Page:
    return Page((folder / name).read_text())


def options(html: str, column: str = "period") -> list[tuple[str, str, bool]]:
    """``(value, label, selected)`` of the page's select for ``column``."""
    select = re.search(rf'<select[^>]*data-column="{column}"[^>]*>(.*?)</select>', html, re.S)
    assert select, column
    return [
        (value, label, " selected" in attrs)
        for value, attrs, label in re.findall(
            r'<option value="([^"]*)"([^>]*)>([^<]*)</option>', select.group(1)
        )
    ]


# ---------------------------------------------------------------------------- periods


def test_periods_are_named_with_the_days_the_data_covers():
    covered = Coverage(date(2014, 3, 5), date(2025, 6, 23))
    assert year_period(2025, covered).label == "2025 (partial: to 23 Jun)"
    assert year_period(2014, covered).label == "2014 (partial: from 5 Mar)"
    assert year_period(2024, covered).label == "2024" and not year_period(2024, covered).partial
    assert year_period(2025, Coverage(date(2025, 2, 1), date(2025, 6, 23))).label == (
        "2025 (partial: 1 Feb – 23 Jun)"
    )
    assert partial_months(covered) == {
        "2014-03": "partial month: from 5 Mar",
        "2025-06": "partial month: to 23 Jun",
    }
    assert partial_months(Coverage(date(2024, 1, 1), date(2024, 3, 31))) == {}


def test_the_recent_span_leaves_out_an_old_quiet_stretch_only():
    months = [date(2013 + (m // 12), m % 12 + 1, 1) for m in range(150)]
    busy = [100.0] * 150
    assert recent_start(list(zip(months, busy, strict=True))) is None  # all busy: all time
    old_export = [2.0] * 4 + [0.0] * 100 + [100.0] * 46  # one listener's few plays, a gap
    assert recent_start(list(zip(months, old_export, strict=True))) == months[104]
    # A person's own long break with years of listening before it starts no span.
    own_break = [100.0] * 60 + [0.0] * 6 + [100.0] * 84
    assert recent_start(list(zip(months, own_break, strict=True))) is None
    # A holiday of two quiet months is no break.
    holiday = [100.0] * 70 + [0.0] * 2 + [100.0] * 78
    assert recent_start(list(zip(months, holiday, strict=True))) is None
    periods, default = overview_periods(
        Coverage(date(2013, 1, 9), date(2025, 6, 23)),
        [2013, 2021, 2022, 2023, 2024, 2025],
        list(zip(months, old_export, strict=True)),
    )
    assert default == "recent" and periods[0].start == months[104]


def test_the_overview_opens_on_the_recent_span_and_offers_only_years_with_music(pages):
    index = (pages / "index.html").read_text()
    got = options(index)
    values = [v for v, _, _ in got]
    # The 2014 listener's old export does not stretch the page: the default is the span
    # where the listening is; years without music (2015-2023; 2019 had podcasts only) are not
    # offered.
    assert values == ["recent", "last-12-months", "2024", "2014", "all"]
    assert [v for v, _, selected in got if selected] == ["recent"]
    labels = dict((v, label) for v, label, _ in got)
    assert labels["recent"] == "Recent: Jan 2024 – 29 Apr 2024"
    assert labels["2024"] == "2024 (partial: to 29 Apr)"  # a partial year says so
    assert labels["2014"] == "2014 (partial: from 5 Mar)"
    assert labels["last-12-months"].endswith("(April partial)")
    # Each period's cards, the default one shown, with its period named above them.
    tiles = re.findall(
        r'<div class="period-tiles" data-pick-column="period" '
        r'data-pick-value="([^"]+)"( hidden)?><p class="meta">([^<]+)</p>',
        index,
    )
    assert [(v, bool(h)) for v, h, _ in tiles] == [(v, v != "recent") for v in values]
    assert [t for _, _, t in tiles] == [labels[v] for v in values]


def test_charts_over_time_start_on_the_default_period_and_lose_no_month(pages):
    index = page(pages)
    timed = [s for s in index.specs if (s.get("usermeta") or {}).get("period")]
    titles = {s["title"]["text"] for s in timed}
    assert {
        "Listening hours per day",
        "Monthly active users",
        "Monthly churn rate (active this month, not the next)",
        "Taste: mainstream, niche and new-artist shares",
    } <= titles
    for spec in timed:
        (period,) = [p for p in spec["params"] if p["name"] == vega_module.PERIOD]
        assert period["value"] == ["2024-01-01T00:00:00", "2024-04-29T23:59:59"], spec["title"]
        x = spec["encoding"]["x"]
        assert x["type"] == "temporal", spec["title"]  # a continuous axis, never ordinal
        # Every month from the first to the last is in the data (zeros or nulls where none).
        months = sorted({v[x["field"]][:7] for v in spec["data"]["values"]})
        first, last = (int(m[:4]) * 12 + int(m[5:7]) for m in (months[0], months[-1]))
        assert len(months) == last - first + 1, spec["title"]["text"]
    # Charts that are not over time say they cover all time.
    heatmap = index.spec("Streams by local weekday and hour")
    assert heatmap["title"]["subtitle"] == "All time: 5 Mar 2014 – 29 Apr 2024"


def test_partial_months_are_lighter_and_named(pages):
    index = page(pages)
    monthly = index.spec("Monthly active users")
    (calc,) = [t for t in monthly["transform"] if "calculate" in t]
    assert '"2024-04": "partial month: to 29 Apr"' in calc["calculate"]
    assert monthly["encoding"]["opacity"]["condition"]["test"] == "datum._partial"
    assert "Partial months (lighter bars): March 2014 (from 5 Mar); April 2024 (to 29 Apr)." in (
        index.text
    )
    # No churn point against the partial month: March's (April is partial) and April's null.
    churn = index.spec("Monthly churn rate (active this month, not the next)")
    rates = {v["month"][:7]: v["value"] for v in churn["data"]["values"]}
    assert rates["2024-03"] is None and rates["2024-04"] is None and rates["2024-02"] is not None


def test_a_listener_has_a_wrapped_for_every_year_with_plays_each_named(pages):
    listener = (pages / LISTENER_DIR / f"{OLD_LISTENER}.html").read_text()
    assert options(listener) == [
        ("all", "All time", True),
        ("2024", "2024 (partial: to 29 Apr)", False),
        ("2019", "2019 (podcasts only)", False),  # not a Wrapped of '0 plays'
        ("2014", "2014 (partial: from 5 Mar)", False),
    ]
    headers = re.findall(r'data-pick-value="([^"]+)"[^>]*><h3>([^<]+)</h3>', listener)
    assert headers == [
        ("all", "All time"),
        ("2024", "2024 (partial: to 29 Apr)"),
        ("2019", "2019 (podcasts only)"),
        ("2014", "2014 (partial: from 5 Mar)"),
    ]
    podcasts = listener.split('data-pick-value="2019"')[1].split('data-pick-value="2014"')[0]
    assert "No music this year: podcasts only." in podcasts
    assert ">plays<" not in podcasts and ">podcast plays<" in podcasts  # no '0 plays' card
    # The monthly chart: every month from March 2014 to April 2024, zeros included.
    monthly = Page(listener).spec("Listening minutes per month")
    months = sorted({v["month"][:7] for v in monthly["data"]["values"] if v["period"] == "all"})
    assert months[0] == "2014-03" and months[-1] == "2024-04" and len(months) == 10 * 12 + 2
    # A chart's subtitle names the period as the picker does.
    assert "2024 (partial: to 29 Apr)" in monthly["title"]["subtitle"]["signal"]
    # Its caption names the partial months it shows: the 2014 listener's March 2014...
    note = "Partial months (lighter bars): March 2014 (from 5 Mar); April 2024 (to 29 Apr)."
    assert note in Page(listener).text
    # ... another listener's page, only its own (its history starts after March 2014).
    other = page(pages, f"{LISTENER_DIR}/user_0001.html").text
    assert "March 2014" not in other and "April 2024 (to 29 Apr)" in other


def test_cards_and_lists_read_as_a_person_says_them(pages):
    texts = [page(pages, f"{LISTENER_DIR}/{p.name}").text for p in (pages / LISTENER_DIR).iterdir()]
    joined = " ".join(texts)
    assert not re.search(r"\b1 (streams|plays|skips|days)\b", joined)  # '1 stream'
    assert re.search(r"\b1 stream\b|\b[2-9]\d* streams\b", joined)
    # The listening age is a year: '2019', never '2,019' (no catalog here: a row of its own).
    row = {"plays": 5, "minutes_played": 12.5, "distinct_tracks": 1, "distinct_artists": 1,
           "listening_age": 2019.0, "podcast_plays": 0, "longest_streak_days": 1}  # fmt: skip
    assert ("listening age", "2019") in _wrapped_cards(row)
    assert ("longest streak", "1 day") in _wrapped_cards(row)
    assert "discovery –" not in joined and " – discovery" not in joined
    old = page(pages, f"{LISTENER_DIR}/{OLD_LISTENER}.html").text
    # Podcast shows count plays (they rank by listening time), never 'streams'.
    assert "Top podcast shows Old Talk 3 plays, 10 min" in old
    all_time = old.split("All time")[1].split("2024 (partial")[0]
    assert "discovery" not in all_time  # no value all time: no card saying '–'


def test_no_card_twice_and_one_column_per_thing(pages):
    index = (pages / "index.html").read_text()
    for section in re.findall(r"<section.*?</section>", index, re.S):
        cards = re.findall(
            r'<div class="card[^"]*"><div class="value">([^<]*)</div>'
            r'<div class="label">([^<]*)</div>',
            section.split('class="period-tiles"')[0],
        )
        assert len(cards) == len(set(cards)), cards  # 'listeners 60' once
    engagement = index.split('id="listening-engagement"')[1].split("</section>")[0]
    assert ">period<" not in engagement  # the date range is the picker's, not a 4-line card
    listeners = index.split('id="listeners"')[1].split("</section>")[0]
    assert "<th" in listeners and ">user_id<" not in listeners  # it said what 'listener' said
    # Text cards (a month, a range) in a type that keeps to a line.
    assert '<div class="card text"><div class="value">2024-03</div>' not in index
    assert re.search(r'<div class="card"><div class="value">2024-03</div>', index)


def test_the_quality_section_puts_what_needs_attention_first_and_folds_the_table(pages):
    index = (pages / "index.html").read_text()
    section = index.split('id="data-quality"')[1].split("</section>")[0]
    cards = dict(
        (label, value)
        for value, label in re.findall(
            r'<div class="value">([^<]*)</div><div class="label">([^<]*)</div>', section
        )
    )
    assert cards == {"checks": str(QUALITY_ROWS), "passed": str(QUALITY_ROWS - 4), "failed": "1",
                     "warned": "1", "not run": "1", "pending": "1"}  # fmt: skip
    # (pending: it runs after this page, in the same run; nothing to act on, not listed below)
    attention = re.findall(r'<li><span class="badge \w+">([^<]+)</span><a href="([^"]+)">', section)
    assert [a for a, _ in attention] == ["failed", "warned", "never run"]
    assert attention[0][1] == "http://127.0.0.1:3000/assets/core/tracks"
    # The 176 rows folded away, failures first; the summary comes before them.
    assert section.index('class="attention"') < section.index("<details")
    assert f"<summary>All {QUALITY_ROWS} checks (failures first)</summary>" in section
    assert section.index("check_001") < section.index("check_002") < section.index("check_000")
    assert "Latest result: 2025-06-24 11:55 UTC" in section
    # And the page says what its checks are as of.
    assert "latest check result: 2025-06-24 11:55 UTC" in index


def test_a_listener_page_is_one_file_holding_its_chart_library(pages):
    listener = (pages / LISTENER_DIR / f"{OLD_LISTENER}.html").read_text()
    assert 'id="vega-bundle" data-encoding="gzip+base64">c3R1Yg==</script>' in listener
    assert not re.search(r"<script[^>]+src=", listener)  # nothing to fetch beside it
    others = [p.stem for p in (pages / LISTENER_DIR).iterdir() if p.stem != OLD_LISTENER]
    assert others and not any(o in listener for o in others)  # that listener alone
    index = (pages / "index.html").read_text()
    assert '<script src="vendor/vega-bundle.js">' in index


def test_dashboard_files_are_readable_by_group_and_world_under_umask_022(tiny_world, tmp_path):
    """Issue 26: everything written to the lake was 0600 (mkstemp), so a web server or BI
    service running as another user could not serve the dashboard. The lake writes with the
    umask's permissions: 0644 under 022."""
    from spotify_assets.lib.lake import LocalLakeStore

    store = LocalLakeStore(tmp_path / "lake")
    before = os.umask(0o022)
    patch = pytest.MonkeyPatch()
    patch.setattr(vega_module, "javascript_bundle", lambda: STUB_BUNDLE)
    patch.setattr(overview, "packed_bundle", lambda: "c3R1Yg==")
    try:
        demo_dashboard(
            tmp_path, tiny_world, catalog=False,
            put=lambda path, data: store.put_bytes(f"exports/dashboard/{path}", data),
        )  # fmt: skip
    finally:
        os.umask(before)
        patch.undo()
    files = [p for p in (tmp_path / "lake" / "exports" / "dashboard").rglob("*") if p.is_file()]
    assert len(files) >= 3
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o044 == 0o044 and not mode & 0o022, (path.name, oct(mode))


def test_a_daily_chart_longer_than_the_row_limit_keeps_its_latest_days(monkeypatch):
    """A history longer than a chart's row limit (an export from 14 years ago: 5,000 days)
    dropped its *latest* days from the daily charts; it drops the oldest now."""
    import duckdb

    from spotify_assets.lib.marts import run
    from spotify_assets.lib.marts.engagement_marts import DAILY_ENGAGEMENT
    from spotify_assets.lib.marts.spec import Mart, PlotSpec

    conn = duckdb.connect()
    conn.execute("create schema marts")
    conn.execute(
        "create table marts.daily_engagement as select (date '2010-01-01' + i::int)::date as date, "
        "i as listening_hours, i as active_users from range(30) r(i)"
    )
    monkeypatch.setattr(run, "CHART_ROW_LIMIT", 10)
    hours = DAILY_ENGAGEMENT.plots[0]
    days = run.plot_frame(conn, DAILY_ENGAGEMENT, hours)["date"].dt.day.tolist()
    assert days == list(range(21, 31))  # 2010-01-21 .. 2010-01-30, the last ten
    conn.execute("create table marts.ranked as select 'a' || i as name, i from range(30) r(i)")
    ranked = Mart("ranked", "", "select 1", {"name": "", "i": ""}, (), ("name",))
    top = run.plot_frame(conn, ranked, PlotSpec("Top", "barh", "name", ("i",)))
    assert top["i"].tolist() == list(range(10))  # a ranking keeps its first rows
