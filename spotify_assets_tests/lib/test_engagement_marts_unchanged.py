"""The engagement marts give the same rows as before issue 17's speed work, on the demo world
(``make demo``'s sample world: scale ``demo``, seed 42; catalog and listening history made by
the pipeline's own code, ``tiny_core_tables``).

The SQL from before is frozen, fully expanded, in
``fixtures/engagement_marts_before_issue17.json``; both versions are built on the same
warehouse and compared as multisets of rows (the new tables are stored without ORDER BY).
``content_daily`` no longer has per-day ``listeners`` (issue 17 changed its grain): its other
columns must match, and ``marts.top_content``, which counts listeners over a range, must give
the same rows as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from spotify_assets.lib.marts.engagement_marts import MARTS
from spotify_assets.lib.marts.run import build_marts, prepare
from spotify_assets_tests.support.warehouse import tiny_core_tables

pytestmark = pytest.mark.slow  # materializes assets with real resources

BEFORE = json.loads(
    (Path(__file__).parent / "fixtures" / "engagement_marts_before_issue17.json").read_text()
)["marts"]
#: Columns the new marts dropped on purpose.
DROPPED = {"content_daily": {"listeners"}}
#: Values issue 26 changed on purpose: churn against a next month the data covers in part is
#: not known yet (null), not everyone "churned" from a month still in progress.
CHANGED = {
    "monthly_engagement": """
update before.monthly_engagement set churned_users = null, churn_rate = null
 where month + interval 2 month - interval 1 day
       > (select max(ts)::date from core.streams where content_type = 'music')
"""
}
#: (start, end, n) ranges of marts.top_content compared before and after.
TOP_RANGES = [("2000-01-01", "2100-01-01", 25), ("last-90", "last", 10), ("last", "last", 5)]


def build_before(conn: Any) -> dict[str, list[tuple]]:
    """The marts as the frozen SQL builds them, copied to schema ``before``; and the old
    top_content's rows for ``TOP_RANGES``."""
    prepare(conn)
    for mart in BEFORE:
        conn.execute(f"create or replace table marts.{mart['name']} as {mart['sql']}")
        for statement in mart["after_sql"]:
            conn.execute(statement)
    conn.execute("create schema before")
    for mart in BEFORE:
        conn.execute(f"create table before.{mart['name']} as select * from marts.{mart['name']}")
    for statement in CHANGED.values():
        conn.execute(statement)
    return top_content_rows(conn)


def top_content_rows(conn: Any) -> dict[str, list[tuple]]:
    last = conn.execute("select max(date) from marts.content_daily").fetchone()[0]
    out = {}
    for start, end, n in TOP_RANGES:
        bounds = [
            last if b == "last" else last.replace(day=1) if b == "last-90" else b
            for b in (start, end)
        ]
        out[f"{start}..{end} top {n}"] = conn.execute(
            "select * from marts.top_content(?, ?, ?) order by kind, rank_by, rank",
            [str(bounds[0]), str(bounds[1]), n],
        ).fetchall()
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Any:
    from spotify_assets.lib.sample.world import build_world

    world = build_world("demo", seed=42)
    with duckdb.connect() as conn:
        tiny_core_tables(conn, world, tmp_path_factory.mktemp("demo_world"))
        top_before = build_before(conn)
        build_marts(conn, MARTS)
        yield conn, top_before, top_content_rows(conn)


def comparable(conn: Any, table: str, columns: list[str], doubles: set[str]) -> str:
    """A SELECT of ``columns`` with doubles rounded to 9 significant digits (sums of doubles
    depend on the order DuckDB adds them in)."""
    exprs = [
        f"round({c}, 9 - cast(ceil(log10(abs({c}) + 1e-300)) as integer)) as {c}"
        if c in doubles
        else c
        for c in columns
    ]
    return f"select {', '.join(exprs)} from {table}"


def test_the_demo_world_has_what_the_marts_need(demo):
    conn, _, _ = demo
    plays, users, catalog = conn.execute(
        "select count(*), count(distinct user_id), count(*) filter (where track_id in "
        "(select track_id from core.tracks)) from core.streams where content_type = 'music'"
    ).fetchone()
    assert plays > 10_000 and users > 1 and catalog > plays / 2


@pytest.mark.parametrize("name", [m["name"] for m in BEFORE])
def test_every_mart_has_the_rows_it_had_before(demo, name):
    conn, _, _ = demo
    described = conn.execute(f"describe marts.{name}").fetchall()
    before = [r[0] for r in conn.execute(f"describe before.{name}").fetchall()]
    columns = [r[0] for r in described]
    assert [c for c in before if c not in DROPPED.get(name, set())] == columns
    types = {r[0]: r[1] for r in conn.execute(f"describe before.{name}").fetchall()}
    assert [(r[0], r[1]) for r in described] == [(c, types[c]) for c in columns]
    doubles = {r[0] for r in described if r[1] == "DOUBLE"}
    new = comparable(conn, f"marts.{name}", columns, doubles)
    old = comparable(conn, f"before.{name}", columns, doubles)
    count = conn.execute(f"select count(*) from marts.{name}").fetchone()[0]
    assert count == conn.execute(f"select count(*) from before.{name}").fetchone()[0]
    assert count > 0
    missing = conn.execute(f"select * from ({old} except all {new}) limit 5").fetchall()
    extra = conn.execute(f"select * from ({new} except all {old}) limit 5").fetchall()
    assert (missing, extra) == ([], []), f"marts.{name}: rows before, not now / now, not before"


def test_only_the_churn_against_the_partial_last_month_changed(demo):
    """The demo world's data ends on 2025-06-23: June is partial, so May's churn is null now
    (and June's, the last month's, as before); every other month's churn is as it was."""
    conn, _, _ = demo
    unknown = conn.execute(
        "select strftime(month, '%Y-%m') from marts.monthly_engagement "
        "where churned_users is null order by month"
    ).fetchall()
    assert unknown == [("2025-05",), ("2025-06",)]


def test_the_scratch_tables_are_gone_after_the_build(demo):
    conn, _, _ = demo
    assert conn.execute("select count(*) from duckdb_tables() where temporary").fetchone() == (0,)


def test_top_content_gives_what_it_gave_before(demo):
    _, before, after = demo
    assert all(before.values())
    assert after == before
