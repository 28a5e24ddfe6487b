"""A reader elsewhere, for ``make e2e``: it knows only the Iceberg catalog's address
(``LAKEHOUSE_CATALOG_URI``, with its password) and the bucket's warehouse
(``LAKEHOUSE_WAREHOUSE``), plus S3's endpoint and credentials from the usual AWS variables.

Until ``<out>.stop`` exists it reads, again and again, every table as of the last published
run (``attach_published``) and checks what holds in any whole run:

- ``core.listeners`` has one row per user of ``core.streams`` (one step writes both);
- when ``core.streams`` and ``marts.daily_engagement`` were published by the same run, the
  mart's plays are the music plays of ``core.streams`` (two steps of that run).

It also checks the same on each table's newest snapshot, published or not (what a reader of
the current state would see while runs commit), and counts how often that is mixed. Each read
is a JSON line in ``<out>``. Usage: ``python deploy/e2e_reader.py <out>``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import duckdb

from spotify_assets.lib.lakehouse import CatalogConfig, attach_published, open_catalog
from spotify_assets.lib.lakehouse.session import open_session

LISTENERS = (
    "select (select count(*) from core.listeners), (select count(distinct user_id) "
    "from core.streams)"
)
PLAYS = (
    "select (select sum(plays) from marts.daily_engagement), (select count(*) from "
    "core.streams where content_type = 'music')"
)


def check(conn: duckdb.DuckDBPyConnection, same_run: bool) -> dict:
    """The invariants on what ``conn`` shows (tables missing yet: nothing to check)."""
    names = {
        r[0]
        for r in conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
        ).fetchall()
    }
    found: dict = {"streams": None}
    if {"core.listeners", "core.streams"} <= names:
        listeners, users = conn.execute(LISTENERS).fetchall()[0]
        found["listeners_ok"] = listeners == users
        found["streams"] = conn.execute("select count(*) from core.streams").fetchall()[0][0]
    if same_run and {"marts.daily_engagement", "core.streams"} <= names:
        plays, music = conn.execute(PLAYS).fetchall()[0]
        found["plays_ok"] = int(plays or 0) == int(music)
    return found


def read_published(catalog, properties: dict) -> dict:
    conn = duckdb.connect()
    found = attach_published(conn, catalog, properties=properties)
    runs = {name: row.run_id for name, row in found.items()}
    same = runs.get("core.streams") is not None and runs.get("core.streams") == runs.get(
        "marts.daily_engagement"
    )
    return {"runs": sorted(set(runs.values())), **check(conn, same)}


def read_current(catalog, properties: dict) -> dict:
    """The newest snapshot of each table, as if readers did not read published runs."""
    with open_session(catalog, properties=properties) as session:
        return check(session.conn, same_run=True)


def main(out: Path) -> None:
    config = CatalogConfig(
        name=os.environ.get("LAKEHOUSE_CATALOG_NAME", "spotify_assets"),
        uri=os.environ["LAKEHOUSE_CATALOG_URI"],
        warehouse=os.environ["LAKEHOUSE_WAREHOUSE"],
        s3_endpoint=os.environ.get("AWS_ENDPOINT_URL_S3"),
        s3_region=os.environ.get("AWS_REGION"),
    )
    catalog, properties = open_catalog(config), config.properties()
    stop = out.with_suffix(".stop")
    with out.open("a") as log:
        while not stop.exists():
            line: dict = {"t": time.time()}
            try:
                line["published"] = read_published(catalog, properties)
                line["current"] = read_current(catalog, properties)
            except Exception as exc:  # noqa: BLE001 - recorded: the driver asserts there is none
                line["error"] = f"{type(exc).__name__}: {exc}"
            log.write(json.dumps(line) + "\n")
            log.flush()
            time.sleep(2.0)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
