"""Build marts in DuckDB (Dagster-free): one ``CREATE OR REPLACE TABLE marts.<name> AS`` per
mart, on the caller's connection, so a test, a bench and the assets all run the same SQL."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.marts.spec import Mart, PlotSpec, Scratch

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

# A chart reads at most this many rows of its mart: a chart is for a person, not a dump.
CHART_ROW_LIMIT = 5_000


def prepare(conn: Any) -> None:
    """Session settings every mart relies on: UTC, so casts between ``TIMESTAMP`` (naive UTC,
    as stored) and ``TIMESTAMPTZ`` never follow the machine's time zone; and insertion order
    kept (DuckDB's default), which ``marts.sessions`` reads its plays in."""
    conn.execute("set TimeZone = 'UTC'")
    conn.execute("set preserve_insertion_order = true")
    conn.execute("set enable_progress_bar = false")
    conn.execute("create schema if not exists marts")


#: The share of the configured DuckDB ``memory_limit`` a mart step gives DuckDB: the limit
#: bounds DuckDB's buffers, not the process around them (Python, Dagster, the chart library:
#: about 300 MB), so with all of it a 2 GB limit made a 2.3 GB process, and with 0.75 of it a
#: 1.8 GB one at 10 million plays. Half keeps the step under 1.5 GB (issue 24) for no more CPU
#: at 10 million plays: DuckDB spills the largest aggregates (content_daily) a little sooner.
STEP_MEMORY_SHARE = 0.5

_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def size_bytes(text: str) -> int | None:
    """A DuckDB size setting (``2GB``, ``1.5 GiB``, ``500MB``) in bytes; None if unreadable."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in _UNITS:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


@contextmanager
def memory_share(conn: Any, configured: str | None, share: float = STEP_MEMORY_SHARE) -> Iterator:
    """Run with DuckDB's ``memory_limit`` at ``share`` of ``configured`` (the warehouse's
    setting), restored after; nothing changes when no limit is configured or it is unreadable."""
    limit = size_bytes(configured) if configured else None
    if limit is None:
        yield
        return
    conn.execute(f"set memory_limit = '{int(limit * share) // 2**20}MiB'")
    try:
        yield
    except BaseException:
        # A mart failed (its transaction may be aborted): its error is the one to see.
        with contextlib.suppress(Exception):
            conn.execute(f"set memory_limit = '{configured}'")
        raise
    conn.execute(f"set memory_limit = '{configured}'")


def scratch_of(marts: Iterable[Mart]) -> list[Scratch]:
    """The scratch tables ``marts`` read, each once, in build order."""
    return list(dict.fromkeys(s for mart in marts for s in mart.scratch))


@contextmanager
def scratch_tables(conn: Any, marts: Iterable[Mart]) -> Iterator[dict[str, float]]:
    """Build the scratch tables of ``marts`` that do not exist yet on this connection (temp
    tables: only this connection sees them) and drop them on exit, even after an error; yields
    the seconds each one took. Nested uses build nothing twice: a single mart built inside a
    step reuses the step's tables."""
    existing = {
        name
        for (name,) in conn.execute(
            "select table_name from duckdb_tables() where temporary"
        ).fetchall()
    }
    created: list[str] = []
    seconds: dict[str, float] = {}
    try:
        for scratch in scratch_of(marts):
            if scratch.name in existing:
                continue
            started = time.perf_counter()
            conn.execute(f"create or replace temp table {scratch.name} as {scratch.sql}")
            created.append(scratch.name)
            seconds[scratch.name] = time.perf_counter() - started
        yield seconds
    except BaseException:
        # A mart failed (its transaction may be aborted): its error is the one to see; the
        # temp tables go with the connection.
        with contextlib.suppress(Exception):
            for name in reversed(created):
                conn.execute(f"drop table if exists temp.main.{name}")
        raise
    for name in reversed(created):
        conn.execute(f"drop table if exists temp.main.{name}")


def view_statement(mart: Mart) -> str:
    """The statement that defines a mart stored in parts (:attr:`Mart.parts`) as a view."""
    return f"create or replace view {mart.table} as {mart.sql}"


def _drop_if(conn: Any, table: str, table_type: str) -> None:
    """Drop ``table`` if it is of ``table_type`` (``BASE TABLE`` or ``VIEW``): a warehouse
    built before a mart became a view (or a table again) holds the other kind under its name,
    which ``create or replace`` refuses to replace."""
    schema, name = table.split(".")
    found = conn.execute(
        "select table_type from information_schema.tables where table_catalog = "
        "current_database() and table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    if found and found[0][0] == table_type:
        conn.execute(f"drop {'view' if table_type == 'VIEW' else 'table'} {table}")


def build_mart(conn: Any, mart: Mart) -> float:
    """Create or replace ``marts.<name>`` (its parts, then the view over them, when it has
    parts) and run its ``after_sql``; returns seconds taken (with its scratch tables when
    they had to be built for it alone)."""
    started = time.perf_counter()
    prepare(conn)
    with scratch_tables(conn, [mart]):
        for part in mart.parts:
            conn.execute(f"create or replace table {part.table} as {part.sql}")
        if mart.parts:
            _drop_if(conn, mart.table, "BASE TABLE")
            conn.execute(view_statement(mart))
        else:
            _drop_if(conn, mart.table, "VIEW")
            conn.execute(f"create or replace table {mart.table} as {mart.sql}")
    for statement in mart.after_sql:
        conn.execute(statement)
    return time.perf_counter() - started


def build_marts(conn: Any, marts: Iterable[Mart]) -> dict[str, float]:
    """Build marts in the order given (a mart's inputs come before it), their scratch tables
    once for all; seconds per mart (the scratch tables under ``scratch:<name>``)."""
    marts = list(marts)
    prepare(conn)
    with scratch_tables(conn, marts) as scratch:
        built = {mart.name: build_mart(conn, mart) for mart in marts}
    return {**built, **{f"scratch:{name}": s for name, s in scratch.items()}}


def existing_tables(conn: Any) -> set[str]:
    """``schema.table`` of every table and view of the connection's database."""
    return {
        f"{schema}.{name}"
        for schema, name in conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database()"
        ).fetchall()
    }


def plot_frame(conn: Any, mart: Mart, chart: PlotSpec) -> pd.DataFrame:
    """The rows ``chart`` draws: its query's (or the mart's) first ``CHART_ROW_LIMIT``; over
    time (a date on x), the *last* ones, so a history longer than the limit (a daily chart
    from an export of 14 years ago) loses its oldest days, never its latest."""
    query = chart.query or f"select * from {mart.table}"
    frame = conn.execute(f"select * from ({query}) limit {CHART_ROW_LIMIT}").df()
    over_time = chart.x in frame.columns and pd.api.types.is_datetime64_any_dtype(frame[chart.x])
    if len(frame) < CHART_ROW_LIMIT or not over_time:
        return frame
    return conn.execute(
        f"select * exclude (_row) from (select *, row_number() over () as _row from ({query})) "
        f"qualify _row > count(*) over () - {CHART_ROW_LIMIT} order by _row"
    ).df()


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
