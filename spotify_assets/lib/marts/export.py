"""Marts as files a BI tool opens (Dagster-free): Parquet and CSV per table, and one DuckDB file.

Tableau, Power BI and QuickSight read Parquet or CSV from a folder or S3; a DuckDB file with
copies of the marts can be opened read-only by DBeaver, Superset, Evidence, or DuckDB's ODBC
driver, and because it is a separate file it never holds a lock on the warehouse while runs
write it (DuckDB allows one writer per file). Everything is written by DuckDB itself (``COPY``
and ``ATTACH``), so no table passes through pandas.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spotify_assets.lib.marts.run import existing_tables

# Not "marts.duckdb": DuckDB names the catalog after the file, and "marts.x" would be ambiguous.
BI_DATABASE = "spotify_marts.duckdb"


@dataclass(frozen=True)
class ExportedFile:
    """One file written for BI tools; ``name`` is its path relative to the export folder."""

    name: str
    path: Path
    table: str | None
    rows: int | None
    bytes: int


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


#: The first characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert_csv_select(conn: Any, table: str) -> str:
    """A SELECT of ``table`` whose text cells that would start a formula get a leading ``'``
    (other columns as they are)."""
    schema, name = table.split(".")
    columns = conn.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    starts = "[" + ", ".join(f"chr({ord(c)})" for c in FORMULA_STARTS) + "]"
    parts = []
    for column, dtype in columns:
        quoted = '"' + column.replace('"', '""') + '"'
        if dtype == "VARCHAR":
            parts.append(
                f"case when list_contains({starts}, left({quoted}, 1)) "
                f"then chr(39) || {quoted} else {quoted} end as {quoted}"
            )
        else:
            parts.append(quoted)
    return f"select {', '.join(parts)} from {table}"


def export_tables(conn: Any, tables: list[str], folder: Path) -> list[ExportedFile]:
    """Write each ``schema.table`` as ``<schema>/<table>.parquet`` and ``.csv`` under ``folder``,
    and all of them into ``folder/spotify_marts.duckdb`` (schema and table names kept).

    Tables that do not exist raise a ``ValueError`` naming them: an export that silently
    leaves a table out would be read as "no data" by whoever opens it.
    """
    existing = existing_tables(conn)
    missing = [t for t in tables if t not in existing]
    if missing:
        raise ValueError(
            f"cannot export {', '.join(missing)}: not in the warehouse (materialize them first)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    out: list[ExportedFile] = []
    for table in tables:
        schema, name = table.split(".")
        (folder / schema).mkdir(exist_ok=True)
        rows = int(conn.execute(f"select count(*) from {table}").fetchall()[0][0])
        for ext, query, options in (
            ("parquet", f"select * from {table}", "format parquet, compression zstd"),
            (
                "csv",
                inert_csv_select(conn, table),
                "format csv, header true, dateformat '%Y-%m-%d', "
                "timestampformat '%Y-%m-%d %H:%M:%S'",
            ),
        ):
            path = folder / schema / f"{name}.{ext}"
            conn.execute(f"copy ({query}) to {_quote(path)} ({options})")
            out.append(
                ExportedFile(f"{schema}/{name}.{ext}", path, table, rows, path.stat().st_size)
            )
    database = folder / BI_DATABASE
    database.unlink(missing_ok=True)
    conn.execute(f"attach {_quote(database)} as bi_export")
    try:
        for schema in sorted({t.split(".")[0] for t in tables}):
            conn.execute(f"create schema if not exists bi_export.{schema}")
        for table in tables:
            conn.execute(f"create table bi_export.{table} as select * from {table}")
    finally:
        conn.execute("detach bi_export")
    out.append(ExportedFile(BI_DATABASE, database, None, None, os.path.getsize(database)))
    return out
