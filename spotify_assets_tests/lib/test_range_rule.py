"""A range rule's description is a whole sentence (issue 26: 'lies within [0, ] when present'
for core.artists.followers, '[1, ]' for core.tracks.duration_ms and core.albums.total_tracks
on the dashboard's quality table), and the rule still finds what is out of range."""

import duckdb
import pytest

from spotify_assets.lib.quality.rules import evaluate, in_range


@pytest.mark.parametrize(
    "low, high, text",
    [
        (0, 100, "core.t.x lies within [0, 100] when present"),
        (0, None, "core.t.x is at least 0 when present"),
        (1, None, "core.t.x is at least 1 when present"),
        (None, 100, "core.t.x is at most 100 when present"),
        (0.5, 2.5, "core.t.x lies within [0.5, 2.5] when present"),
    ],
)
def test_the_description_says_the_bounds_it_has(low, high, text):
    rule = in_range("core.t", "x", low, high, key="id")
    assert rule.description == text
    assert "[" not in text or ", ]" not in text and "[," not in text


def test_a_rule_without_bounds_is_refused():
    with pytest.raises(ValueError, match="a lower or an upper bound"):
        in_range("core.t", "x", None, None, key="id")


def test_one_sided_rules_still_find_the_rows_out_of_range():
    conn = duckdb.connect()
    conn.execute("create schema core")
    conn.execute("create table core.t as select * from (values (1, 0), (2, 5), (3, null)) v(id, x)")
    assert evaluate(conn, in_range("core.t", "x", 1, None, key="id")).violations == 1
    assert evaluate(conn, in_range("core.t", "x", None, 4, key="id")).violations == 1
