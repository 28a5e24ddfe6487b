"""Build marts in DuckDB (Dagster-free): one ``CREATE OR REPLACE TABLE marts.<name> AS`` per
mart, on the caller's connection, so a test, a bench and the assets all run the same SQL."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.marts.spec import ChartSpec, Mart

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

# A chart reads at most this many rows of its mart: a chart is for a person, not a dump.
CHART_ROW_LIMIT = 5_000


def prepare(conn: Any) -> None:
    """Session settings every mart relies on: UTC, so casts between ``TIMESTAMP`` (naive UTC,
    as stored) and ``TIMESTAMPTZ`` never follow the machine's time zone."""
    conn.execute("set TimeZone = 'UTC'")
    conn.execute("set enable_progress_bar = false")
    conn.execute("create schema if not exists marts")


def build_mart(conn: Any, mart: Mart) -> float:
    """Create or replace ``marts.<name>`` and run its ``after_sql``; returns seconds taken."""
    started = time.perf_counter()
    prepare(conn)
    conn.execute(f"create or replace table {mart.table} as {mart.sql}")
    for statement in mart.after_sql:
        conn.execute(statement)
    return time.perf_counter() - started


def build_marts(conn: Any, marts: Iterable[Mart]) -> dict[str, float]:
    """Build marts in the order given (a mart's inputs come before it); seconds per mart."""
    return {mart.name: build_mart(conn, mart) for mart in marts}


def chart_frame(conn: Any, mart: Mart, chart: ChartSpec) -> pd.DataFrame:
    query = chart.query or f"select * from {mart.table}"
    return conn.execute(f"select * from ({query}) limit {CHART_ROW_LIMIT}").df()


def headline(conn: Any, mart: Mart) -> dict[str, Any]:
    """The mart's headline numbers (one row of named values), JSON-ready."""
    if not mart.headline:
        return {}
    cur = conn.execute(mart.headline)
    row = cur.fetchall()
    if not row:
        return {}
    values = {}
    for (name, *_), value in zip(cur.description, row[0], strict=True):
        if value is None or isinstance(value, bool | int | str):
            values[name] = value
        elif isinstance(value, float):
            values[name] = round(value, 4)
        else:
            values[name] = str(value)
    return values
