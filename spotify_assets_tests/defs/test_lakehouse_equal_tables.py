"""The same landed files give the same tables in both modes: the whole demo (the tiny sample
world: the demo scale takes about 5 minutes a mode) once with the DuckDB file and once with the
lakehouse, each in its own process; then every table readers see (the file's published copy,
the lakehouse as of its last published run) compared: columns, types, row counts and a checksum
of the sorted rows.

Both processes answer for one instant (the fake API's clock and the demo's snapshot windows
frozen alike), so that what the sample world serves does not depend on when each ran. Left out
are only the values that are the wall-clock time of the run itself:

- ``core.albums.last_seen``, ``core.tracks.first_seen``/``last_seen``, ``core.artists.fetched_at``,
  ``core.track_name_matches.searched_at``: when the catalog lookups fetched or searched (the
  lake's state of the lookups records the real time of each call);
- ``core.stream_sources`` and ``core.scrobble_sources``, ``built_at`` and ``version``: when the
  streams step ran, and each processed file's version (its modification time);
- ``reports.data_quality.evaluated_at`` and ``run_id``: when and in which Dagster run each check
  ran;
- in ``source_file`` values, the poll time in a recently-played file's name
  (``recently_played/<user>/<poll time>.parquet``), replaced by ``<poll time>``.

Doubles are compared to 12 significant digits: DuckDB sums them in parallel, in an order that
differs from run to run, in either mode.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from spotify_assets.lib.lakehouse import CatalogConfig, attach_published, open_catalog
from spotify_assets.lib.marts.definitions import mart_definitions

pytestmark = pytest.mark.slow  # two whole demos, in two processes

ROOT = Path(__file__).resolve().parents[2]
WALL_CLOCK = {
    "core.albums": {"last_seen"},
    "core.tracks": {"first_seen", "last_seen"},
    "core.artists": {"fetched_at"},
    "core.track_name_matches": {"searched_at"},
    "core.stream_sources": {"built_at", "version"},
    "core.scrobble_sources": {"built_at", "version"},
    "reports.data_quality": {"evaluated_at", "run_id"},
}
POLL_TIME = r"\d{8}T\d{6}Z"

#: The demo with the fake API's clock and the demo's own "now" frozen at argv[1].
FROZEN_DEMO = """
import sys
from datetime import datetime
import spotify_assets.demo as demo
from spotify_assets.lib.sample.fake_api import server

at = datetime.fromisoformat(sys.argv[1])
server.FakeSpotifyServer.as_of = property(lambda self: self._as_of or at)

class Frozen(datetime):
    @classmethod
    def now(cls, tz=None):
        return at.astimezone(tz) if tz else at.replace(tzinfo=None)

demo.datetime = Frozen
sys.exit(demo.main())
"""


def run_demo(root: Path, mode: str, at: datetime) -> subprocess.CompletedProcess:
    home = root / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DAGSTER_"))},
        "SPOTIFY_WAREHOUSE_MODE": mode,
        "SPOTIFY_SAMPLE_SCALE": "tiny",
        "SPOTIFY_DATA_DIR": str(root / "data"),
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-c", FROZEN_DEMO, at.isoformat()],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def column_sql(name: str, kind: str) -> str:
    quoted = f'"{name}"'
    if kind in ("DOUBLE", "FLOAT"):
        return f"printf('%.12g', {quoted})"
    if name == "source_file":
        return f"regexp_replace({quoted}, '{POLL_TIME}', '<poll time>')"
    return f"{quoted}::varchar"


def fingerprint(conn: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    """Per table of the warehouse schemas: its columns and types, row count and a checksum of
    its sorted rows (the columns of WALL_CLOCK left out)."""
    tables = conn.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_catalog = current_database() "
        "and table_schema in ('core', 'marts', 'ml', 'reports') order by 1"
    ).fetchall()
    found = {}
    for (table,) in tables:
        schema, name = table.split(".")
        columns = conn.execute(
            "select column_name, data_type from information_schema.columns where "
            "table_catalog = current_database() and table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, name],
        ).fetchall()
        kept = [(c, k) for c, k in columns if c not in WALL_CLOCK.get(table, set())]
        row = " || '|' || ".join(f"coalesce({column_sql(c, k)}, '∅')" for c, k in kept)
        count, digest = conn.execute(
            f"select count(*), md5(coalesce(string_agg(r, '\n' order by r), '')) "
            f"from (select {row} as r from {table})"
        ).fetchall()[0]
        found[table] = (tuple(columns), count, digest)
    return found


def test_every_table_is_the_same_in_file_and_lakehouse_mode(tmp_path):
    at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with ThreadPoolExecutor(2) as pool:
        runs = dict(
            zip(
                ("file", "lakehouse"),
                pool.map(lambda m: run_demo(tmp_path / m, m, at), ("file", "lakehouse")),
                strict=True,
            )
        )
    for mode, done in runs.items():
        assert done.returncode == 0, f"{mode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    file_conn = duckdb.connect(
        str(tmp_path / "file" / "data" / "published" / "warehouse.duckdb"), read_only=True
    )
    data = tmp_path / "lakehouse" / "data"
    catalog = open_catalog(
        CatalogConfig(
            name="spotify_assets",
            uri=f"sqlite:///{data / 'lakehouse' / 'catalog.db'}",
            warehouse=(data / "lake" / "lakehouse").as_uri(),
        )
    )
    lake_conn = duckdb.connect()
    attach_published(lake_conn, catalog, definitions=mart_definitions())
    in_file, in_lake = fingerprint(file_conn), fingerprint(lake_conn)
    assert len(in_file) > 40 and in_file["core.streams"][1] > 1000  # the whole demo ran
    assert sorted(in_file) == sorted(in_lake)
    different = {
        table: (in_file[table], in_lake[table])
        for table in in_file
        if in_file[table] != in_lake[table]
        # DuckDB's NULL type (a column null in every row) has no Iceberg type: VARCHAR
        and not _only_null_typed_differ(in_file[table], in_lake[table])
    }
    assert not different, different
    # The macros readers use come with the tables.
    top = "select count(*) from marts.top_content(date '2000-01-01', date '2100-01-01', 5)"
    assert lake_conn.execute(top).fetchall() == file_conn.execute(top).fetchall()


def _only_null_typed_differ(file_side: tuple, lake_side: tuple) -> bool:
    (file_columns, *rest_file), (lake_columns, *rest_lake) = file_side, lake_side
    if rest_file != rest_lake or len(file_columns) != len(lake_columns):
        return False
    return all(
        f == k or (f[0] == k[0] and f[1] == '"NULL"' and k[1] == "VARCHAR")
        for f, k in zip(file_columns, lake_columns, strict=True)
    )
