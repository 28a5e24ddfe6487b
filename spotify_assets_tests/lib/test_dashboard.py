"""The dashboard page: parsed back with ``html.parser`` to prove it is self-contained (no
external reference anywhere), its images decode, its text is escaped, its table of contents
resolves; plus the number formatting people read on the cards."""

from __future__ import annotations

import base64
import io
import re
from decimal import Decimal
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from spotify_assets.lib.marts.spec import PlotSpec
from spotify_assets.lib.reports.dashboard import (
    Headline,
    Plot,
    Section,
    build_dashboard,
    format_number,
    headlines_from_row,
    render_table,
)
from spotify_assets.lib.reports.plots import png_size, render

EXTERNAL = re.compile(r"^\s*(https?:|//)", re.IGNORECASE)


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "#4C72B0").save(out, format="PNG")
    return out.getvalue()


class Page(HTMLParser):
    """Collects what the assertions need: tags, attributes, ids, text and style sheets."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.append(attributes["id"])
        self._in_style = tag == "style"

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        (self.styles if self._in_style else self.text).append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def joined_text(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture(scope="module")
def chart_png() -> bytes:
    frame = pd.DataFrame({"artist": ["A", "B", "C"], "hours": [3.0, 2.0, 1.0]})
    return render(PlotSpec("Top artists", "barh", "artist", ("hours",)), frame)


@pytest.fixture(scope="module")
def sections(chart_png) -> list[Section]:
    quality = pd.DataFrame(
        {
            "asset_key": ["core/streams", "core/tracks", "core/artists"],
            "check_name": ["streams_key_unique", "popularity_in_range", "followers_in_range"],
            "severity": ["ERROR", "WARN", "WARN"],
            "status": ["passed", "failed", "never run"],
            "passed": [True, False, None],
            "evaluated_at": pd.to_datetime(["2025-06-24 06:00", "2025-06-24 06:01", None]),
            "description": ["(user_id, ts) unique", "3 rows > 100 <b>bold</b>", "followers >= 0"],
            "violations": [0, 3, None],
        }
    )
    return [
        Section(
            "Listening overview",
            "One row per UTC day.",
            [Headline("Plays", "1.23M", "music only"), Headline("Skip rate", "25%")],
            [Plot("Top artists", chart_png, "Hours by artist"), Plot("Square", _png(40, 40))],
            notes=["Podcasts are left out."],
        ),
        Section(
            "<script>alert('x')</script>",
            'Quotes " and & ampersands <i>stay</i> text.',
            [Headline("Rock & roll <3", "12", 'hint "quoted"')],
            [Plot('Chart "one" <b>', _png(20, 10))],
        ),
        Section("Listening overview", "Same title twice: its own anchor.", [], []),
        Section("Data quality", "Latest check results.", [], [], table=quality),
    ]


@pytest.fixture(scope="module")
def page_html(sections) -> str:
    return build_dashboard(
        "Spotify <dashboard>", "2025-06-23", sections, generated_at="2025-06-24 06:05 UTC"
    )


@pytest.fixture(scope="module")
def page(page_html) -> Page:
    return Page(page_html)


def test_page_references_nothing_outside_itself(page, page_html):
    for _tag, attrs in page.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            value = attrs.get(name)
            assert value is None or not EXTERNAL.match(value), (name, value)
        assert "url(" not in (attrs.get("style") or "")
    css = "".join(page.styles)
    assert css.strip()  # the style sheet is inline
    assert "@import" not in css and "url(" not in css
    # no chart is interactive here: only the inline runtime (pickers, sortable tables)
    assert [a.get("src") for a in page.all("script")] == [None]
    assert page.all("link") == []  # no external style sheets or icons
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:|//)", page_html, re.IGNORECASE)


def test_every_image_is_a_decodable_png_data_uri_with_its_size(page, chart_png):
    images = page.all("img")
    assert len(images) == 3  # two charts in the first section, one in the second
    decoded = []
    for img in images:
        src = img["src"]
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        Image.open(io.BytesIO(png)).verify()
        assert (int(img["width"]), int(img["height"])) == png_size(png)
        decoded.append(png)
    assert decoded[0] == chart_png
    assert [img["alt"] for img in images] == ["Top artists", "Square", 'Chart "one" <b>']


def test_every_section_and_headline_appears(page, sections):
    text = page.joined_text
    for section in sections:
        assert section.title in text
        assert section.description in text
        for headline in section.headlines:
            assert headline.label in text and headline.value in text
            assert headline.hint is None or headline.hint in text
    assert "Hours by artist" in text and "Podcasts are left out." in text
    assert "2025-06-23" in text and "2025-06-24 06:05 UTC" in text  # data date, generated
    assert page.all("title") and "Spotify <dashboard>" in text


def test_text_is_escaped_not_markup(page, page_html):
    tags = {name for name, _ in page.tags}
    assert "i" not in tags and "b" not in tags
    assert len(page.all("script")) == 1  # the runtime, none from the data
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page_html
    assert "<script>alert('x')</script>" in page.joined_text  # shown as text
    assert "3 rows > 100 <b>bold</b>" in page.joined_text


def test_table_of_contents_links_resolve_to_unique_section_ids(page, sections):
    assert len(page.ids) == len(set(page.ids))
    nav_links = [a["href"] for a in page.all("a") if a["href"] != "#top"]
    assert len(nav_links) == len(sections)
    for href in nav_links:
        assert href.startswith("#") and href[1:] in page.ids
    assert nav_links[0] == "#listening-overview" and nav_links[2] == "#listening-overview-2"
    section_ids = [a["id"] for a in page.all("section")]
    assert section_ids == [h[1:] for h in nav_links]  # in order
    assert "top" in page.ids  # the "top" links land too


def test_quality_table_marks_failures(page_html):
    table = render_table(
        pd.DataFrame(
            {
                "check": ["a", "b"],
                "severity": ["ERROR", "WARN"],
                "passed": [True, False],
                "rows": [1234, 5],
            }
        )
    )
    rows = re.findall(r"<tr[^>]*>.*?</tr>", table, re.DOTALL)
    assert len(rows) == 3  # header and two checks
    assert 'class="failed"' not in rows[1] and 'class="failed"' in rows[2]
    assert '<span class="badge pass">passed</span>' in rows[1]
    assert '<span class="badge fail">failed</span>' in rows[2]
    assert '<span class="sev sev-error">ERROR</span>' in rows[1]
    assert '<td class="num">1,234</td>' in rows[1]
    # the page's table: the failed check's row is tinted, the never-run one is neutral
    assert page_html.count('<tr class="failed">') == 1
    assert '<span class="badge neutral">never run</span>' in page_html


def test_table_shows_the_first_rows_only_and_says_so():
    table = render_table(pd.DataFrame({"n": np.arange(10)}), max_rows=3)
    assert table.count("<tr>") == 4  # header + 3
    assert "Showing 3 of 10 rows." in table
    assert render_table(pd.DataFrame({"n": []})) == '<p class="empty">No rows.</p>'


@pytest.mark.parametrize(
    "value, kwargs, expected",
    [
        (1_234_567, {}, "1.23M"),
        (-2_500_000, {}, "-2.5M"),
        (12_345, {}, "12.3k"),
        (999_999, {}, "1M"),  # 999.999k rounds to 1000k: said as 1M
        (1_234, {}, "1,234"),  # below 10,000 the exact figure is kept
        (12.0, {}, "12"),
        (0.1234, {}, "0.123"),
        (0.1234, {"percent": True}, "12.3%"),
        (1.0, {"percent": True}, "100%"),
        (3_000_000_000, {}, "3B"),
        (Decimal("1234567.0"), {}, "1.23M"),
        (np.int64(42), {}, "42"),
        (None, {}, "–"),
        (float("nan"), {}, "–"),
        (0, {}, "0"),
    ],
)
def test_format_number(value, kwargs, expected):
    assert format_number(value, **kwargs) == expected


def test_headlines_from_a_headline_query_row():
    cards = headlines_from_row(
        {"plays": 150_000, "skip_rate": 0.25, "listening_hours": 1234.5}, {"plays": "music"}
    )
    assert cards == [
        Headline("plays", "150k", "music"),
        Headline("Skip rate", "25%"),
        Headline("Listening hours", "1,234"),  # 1234.5 rounds half to even: 1,234
    ]
