"""How marts are built (lib/marts/run.py): scratch tables built once and dropped, the step's
share of DuckDB's memory limit."""

from __future__ import annotations

import duckdb
import pytest

from spotify_assets.lib.marts.run import (
    build_mart,
    build_marts,
    memory_share,
    scratch_tables,
    size_bytes,
)
from spotify_assets.lib.marts.spec import Mart, Scratch

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
