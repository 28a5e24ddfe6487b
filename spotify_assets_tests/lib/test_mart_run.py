"""How marts are built (lib/marts/run.py): scratch tables built once and dropped, the step's
share of DuckDB's memory limit, a mart stored in parts as a view over them."""

from __future__ import annotations

import duckdb
import pytest

from spotify_assets.lib.marts.definitions import mart_definitions
from spotify_assets.lib.marts.run import (
    build_mart,
    build_marts,
    memory_share,
    scratch_tables,
    size_bytes,
)
from spotify_assets.lib.marts.spec import Mart, Part, Scratch

COUNTS = Scratch("test_counts", "select n, n * 2 as twice from range(5) r(n)")
SUMS = Scratch("test_sums", "select sum(twice) as total from test_counts")


def mart(name: str, sql: str, *scratch: Scratch) -> Mart:
    return Mart(
        name=name,
        description=name,
        sql=sql,
        columns={"total": "a sum"},
        reads=(),
        key=("total",),
        scratch=scratch,
    )


A = mart("test_a", "select total from test_sums", COUNTS, SUMS)
B = mart("test_b", "select sum(n) as total from test_counts", COUNTS)


def temp_tables(conn) -> list[str]:
    query = "select table_name from duckdb_tables() where temporary"
    return [r[0] for r in conn.execute(query).fetchall()]


def test_scratch_tables_are_built_once_in_order_and_dropped():
    with duckdb.connect() as conn:
        built = build_marts(conn, [A, B])
        assert set(built) == {"test_a", "test_b", "scratch:test_counts", "scratch:test_sums"}
        assert conn.execute("select * from marts.test_a").fetchall() == [(20,)]
        assert conn.execute("select * from marts.test_b").fetchall() == [(10,)]
        assert temp_tables(conn) == []


def test_a_mart_built_inside_a_step_reuses_its_scratch_tables():
    with duckdb.connect() as conn:
        with scratch_tables(conn, [A]) as seconds:
            assert list(seconds) == ["test_counts", "test_sums"]
            conn.execute("insert into test_counts values (100, 200)")  # seen by the mart
            build_mart(conn, B)
            assert sorted(temp_tables(conn)) == ["test_counts", "test_sums"]
        assert conn.execute("select * from marts.test_b").fetchall() == [(110,)]
        assert temp_tables(conn) == []


def test_scratch_tables_are_dropped_after_an_error():
    broken = mart("test_broken", "select no_such_column as total from test_counts", COUNTS)
    with duckdb.connect() as conn:
        with pytest.raises(duckdb.BinderException):
            build_marts(conn, [broken])
        assert temp_tables(conn) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2GB", 2 * 10**9), ("1.5 GiB", 3 * 2**29), ("500MB", 5 * 10**8), ("lots", None)],
)
def test_size_bytes(text, expected):
    assert size_bytes(text) == expected


def test_memory_share_lowers_the_limit_and_restores_it():
    with duckdb.connect(config={"memory_limit": "2GB"}) as conn:
        limit = "select current_setting('memory_limit')"
        before = conn.execute(limit).fetchone()
        with memory_share(conn, "2GB", 0.5):
            assert conn.execute(limit).fetchone() == ("953.0 MiB",)
        assert conn.execute(limit).fetchone() == before
        with memory_share(conn, None):
            assert conn.execute(limit).fetchone() == before


NAMES = Part("test_names", "select n as item, 'name ' || n as name from range(3) r(n)", "names")
COUNTED = Part(
    "test_counted",
    "select item, count(*) as total from test_counts join marts.test_names on item = n % 3 "
    "group by item",
    "counts by item",
)
VIEWED = Mart(
    name="test_viewed",
    description="a view over its parts",
    sql="select name, total from marts.test_counted join marts.test_names using (item)",
    columns={"name": "a name", "total": "a count"},
    reads=(),
    key=("name",),
    scratch=(COUNTS,),
    parts=(NAMES, COUNTED),
)


def table_types(conn) -> dict[str, str]:
    query = (
        "select table_name, table_type from information_schema.tables where table_schema = 'marts'"
    )
    return dict(conn.execute(query).fetchall())


def test_a_mart_stored_in_parts_is_a_view_over_them_and_replaces_a_table_of_its_name():
    with duckdb.connect() as conn:
        # a warehouse from before the mart became a view holds a table under its name
        conn.execute("create schema marts")
        conn.execute("create table marts.test_viewed as select 'old' as name, 0 as total")
        build_mart(conn, VIEWED)
        assert table_types(conn) == {
            "test_names": "BASE TABLE",
            "test_counted": "BASE TABLE",
            "test_viewed": "VIEW",
        }
        got = conn.execute("select * from marts.test_viewed order by name").fetchall()
        assert got == [("name 0", 2), ("name 1", 2), ("name 2", 1)]
        # and back: a mart stored as a table replaces the view of its name
        build_mart(conn, mart("test_viewed", "select 7 as total"))
        assert table_types(conn)["test_viewed"] == "BASE TABLE"


def test_the_views_of_marts_are_defined_with_their_last_part():
    definitions = mart_definitions()
    view = definitions["marts.content_daily_counts"]
    assert view[0].startswith("create or replace view marts.content_daily as")
    assert any("macro marts.top_content" in statement for statement in view[1:])
    assert "marts.content_daily" not in definitions  # a view, not a table of the catalog
