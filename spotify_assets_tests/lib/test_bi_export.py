"""The BI exports: a CSV cell a spreadsheet would run as a formula is inert (a leading ``'``),
numbers are untouched, and the Parquet and DuckDB exports keep the value as it is."""

from __future__ import annotations

import csv

import duckdb

from spotify_assets.lib.marts.export import BI_DATABASE, export_tables

NAMES = [
    '=HYPERLINK("http://example.com","Click me")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\tindented",
    "\rreturn",
    "Fine name",
    None,
]


def test_formula_cells_are_inert_in_csv_and_kept_in_parquet_and_duckdb(tmp_path):
    conn = duckdb.connect()
    conn.execute("create schema marts")
    conn.execute("create table marts.tracks (track_name varchar, plays bigint, delta double)")
    conn.executemany(
        "insert into marts.tracks values (?, ?, ?)",
        [(name, i, -1.5 * i) for i, name in enumerate(NAMES)],
    )
    export_tables(conn, ["marts.tracks"], tmp_path)
    with (tmp_path / "marts" / "tracks.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row, name in zip(rows, NAMES, strict=True):
        if name and name[0] in "=+-@\t\r":
            assert row["track_name"] == "'" + name
        else:
            assert row["track_name"] == (name or "")
    assert [r["delta"] for r in rows][1:3] == ["-1.5", "-3.0"]  # numbers stay numbers
    parquet = duckdb.sql(f"select track_name from '{tmp_path}/marts/tracks.parquet'").fetchall()
    assert [r[0] for r in parquet] == NAMES
    with duckdb.connect(str(tmp_path / BI_DATABASE), read_only=True) as bi:
        kept = bi.execute("select track_name from marts.tracks").fetchall()
    assert [r[0] for r in kept] == NAMES
