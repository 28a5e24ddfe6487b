"""The lakehouse across processes, as runs on several machines use it: four processes
committing at once (to their own tables and to one shared table) lose no update; a writer
killed in the middle of a commit leaves the previous snapshot readable, and the next writer
proceeds. The catalog is PostgreSQL (a throwaway cluster from the machine's packages, as
``make e2e`` starts it) when installed, else SQLite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from spotify_assets.lib.lakehouse import (
    CatalogConfig,
    attach_published,
    open_catalog,
    open_session,
    publish,
)
from spotify_assets_tests.support.postgres import throwaway_postgres

pytestmark = pytest.mark.slow  # subprocesses (and PostgreSQL when installed)

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
COMMITS = 6


@pytest.fixture(scope="module")
def catalog_uri(tmp_path_factory):
    with throwaway_postgres(("iceberg",)) as postgres:
        if postgres is None:
            yield f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'catalog.db'}"
        else:
            yield postgres.uri("iceberg")


def config(uri: str, root: Path) -> CatalogConfig:
    return CatalogConfig(name=f"test_{root.name}", uri=uri, warehouse=(root / "wh").as_uri())


#: One worker: COMMITS steps, each writing its own table, then appending its (worker, i) row
#: to core.shared by read-modify-write; a conflict computes the step again from fresh state.
WORKER = """
import json, sys, time
from pathlib import Path
from spotify_assets.lib.lakehouse import CatalogConfig, CommitConflict, open_catalog, open_session

config, worker, commits, start = json.loads(sys.argv[1])
catalog = open_catalog(CatalogConfig(**config))
while time.time() < start:
    time.sleep(0.001)
conflicts = 0
for i in range(commits):
    with open_session(catalog, outputs=[f"marts.own_{worker}"]) as s:
        s.conn.execute(f"create or replace table marts.own_{worker} as select {i} as last")
        s.commit(f"w{worker}")
    while True:
        try:
            with open_session(catalog, outputs=["core.shared"]) as s:
                s.conn.execute(f"insert into core.shared values ({worker}, {i})")
                s.commit(f"w{worker}")
            break
        except CommitConflict:
            conflicts += 1
print(json.dumps({"conflicts": conflicts}))
"""


def test_four_processes_committing_at_once_lose_no_update(catalog_uri, tmp_path):
    cfg = config(catalog_uri, tmp_path)
    catalog = open_catalog(cfg)
    with open_session(catalog, outputs=["core.shared"]) as session:
        session.conn.execute("create table core.shared as select -1 as worker, -1 as i")
        session.commit("setup")
    start = time.time() + 3  # every worker imported and connected by then
    args = [json.dumps([cfg.__dict__, w, COMMITS, start]) for w in range(WORKERS)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, a], env=env, stdout=subprocess.PIPE)
        for a in args
    ]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers)
    conflicts = sum(json.loads(o)["conflicts"] for o in outputs)
    with open_session(catalog) as session:
        rows = session.conn.execute(
            "select worker, i, count(*) from core.shared group by all order by 1, 2"
        ).fetchall()
        own = session.conn.execute(
            " union all ".join(f"select last from marts.own_{w}" for w in range(WORKERS))
        ).fetchall()
    expected = [(-1, -1, 1)] + [(w, i, 1) for w in range(WORKERS) for i in range(COMMITS)]
    assert rows == expected  # every commit present, exactly once
    assert own == [(COMMITS - 1,)] * WORKERS
    assert conflicts > 0  # they did collide: the retries, not luck, kept every update


#: A writer that replaces core.streams with many rows; with argv[2] == "metadata" it stops
#: for good after writing the new metadata file, before the catalog points at it.
KILLED_WRITER = """
import json, sys, time
from spotify_assets.lib.lakehouse import CatalogConfig, open_catalog, open_session

config, where = json.loads(sys.argv[1]), sys.argv[2]
catalog = open_catalog(CatalogConfig(**config))
if where == "metadata":
    from pyiceberg.catalog import MetastoreCatalog
    write = MetastoreCatalog._write_metadata
    def write_then_wait(metadata, io, metadata_path):
        write(metadata, io, metadata_path)
        if "/core/streams/" in metadata_path:
            print("metadata written", flush=True)
            time.sleep(600)
    MetastoreCatalog._write_metadata = staticmethod(write_then_wait)
with open_session(catalog, outputs=["core.streams"]) as s:
    s.conn.execute("create or replace table core.streams as "
                   "select range as play, md5(range::varchar) as h from range(3000000)")
    print("committing", flush=True)
    s.commit("killed")
"""


@pytest.mark.parametrize("where", ["data", "metadata"])
def test_a_writer_killed_mid_commit_leaves_the_previous_snapshot_and_the_next_proceeds(
    catalog_uri, tmp_path, where
):
    cfg = config(catalog_uri, tmp_path)
    catalog = open_catalog(cfg)
    with open_session(catalog, outputs=["core.streams"]) as session:
        session.conn.execute("create table core.streams as select range as play from range(10)")
        before = session.commit("previous")
    publish(catalog, "previous", before)
    data = tmp_path / "wh" / "core" / "streams" / "data"
    files_before = set(data.iterdir())
    errors = tmp_path / "writer.err"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, json.dumps(cfg.__dict__), where],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=errors.open("w"),
        text=True,
    )
    try:
        said = writer.stdout.readline().strip()
        assert said == "committing", errors.read_text()[-2000:]
        if where == "metadata":
            said = writer.stdout.readline().strip()
            assert said == "metadata written", errors.read_text()[-2000:]
        else:  # killed while its data files are being written
            deadline = time.monotonic() + 120
            while not set(data.iterdir()) - files_before and time.monotonic() < deadline:
                time.sleep(0.01)
            assert set(data.iterdir()) - files_before, "the writer wrote no data file"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    table = catalog.load_table("core.streams")
    assert table.current_snapshot().snapshot_id == before[0].snapshot_id
    with open_session(catalog) as session:  # the current snapshot reads whole
        assert session.conn.execute("select count(*), sum(play) from core.streams").fetchall() == [
            (10, 45)
        ]
    conn = duckdb.connect()
    attach_published(conn, catalog)  # and so does the published one
    assert conn.execute("select count(*) from core.streams").fetchall() == [(10,)]
    with open_session(catalog, outputs=["core.streams"]) as session:  # the next run proceeds
        session.conn.execute("insert into core.streams values (10)")
        after = session.commit("next")
    assert after[0].snapshot_id != before[0].snapshot_id
    with open_session(catalog) as session:
        assert session.conn.execute("select count(*) from core.streams").fetchall() == [(11,)]


def test_a_step_creating_many_tables_at_once_in_a_new_namespace(catalog_uri, tmp_path):
    """A step's commits run side by side: the first tables of a namespace create it at the
    same moment (PostgreSQL: a unique-key race the commit survives)."""
    catalog = open_catalog(config(catalog_uri, tmp_path))
    names = [f"marts.m{i}" for i in range(8)]
    with open_session(catalog, outputs=names) as session:
        for i, name in enumerate(names):
            session.conn.execute(f"create table {name} as select {i} as x")
        done = session.commit("r1")
    assert sorted(c.table for c in done) == names
    with open_session(catalog) as session:
        total = session.conn.execute(
            " union all ".join(f"select x from {n}" for n in names)
        ).fetchall()
    assert sorted(x for (x,) in total) == list(range(8))
