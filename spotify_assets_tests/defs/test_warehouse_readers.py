"""Readers never break runs, runs never break readers: every successful write publishes the
warehouse to a copy readers connect to (swapped atomically, so an open reader keeps a
consistent state), and a writer that finds the warehouse locked says who holds it, waits
within a bound and then fails naming the holder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from spotify_assets.resources.warehouse import (
    WarehouseIOManager,
    WarehouseLockTimeout,
    WarehouseResource,
    connect_writer,
    published_path_for,
    warehouse_writer,
)

pytestmark = pytest.mark.slow  # materializes assets with real resources

VERSION = {"n": 1}


@dg.asset(key=["core", "toy"], io_manager_key="warehouse_io_manager")
def toy() -> pd.DataFrame:
    return pd.DataFrame({"version": [VERSION["n"]] * (100 * VERSION["n"])})


@dg.asset(key=["marts", "toy_sql"], deps=[toy])
def toy_sql(warehouse: WarehouseResource) -> None:
    with warehouse.get_connection() as conn:
        conn.execute("create schema if not exists marts")
        conn.execute("create or replace table marts.toy_sql as select max(version) v from core.toy")


def _resources(database: Path, wait_s: float = 5.0) -> dict:
    fields = dict(
        database=str(database),
        warehouse_lock_wait_s=wait_s,
        published_warehouse_path=str(published_path_for(database)),
    )
    return {
        "warehouse_io_manager": WarehouseIOManager(**fields),
        "warehouse": WarehouseResource(**fields),
    }


def _read(path: Path, sql: str):
    """A fresh reader in another process (DuckDB shares one instance per file in a process)."""
    conn = f"duckdb.connect({str(path)!r}, read_only=True)"
    code = f"import duckdb; print({conn}.sql({sql!r}).fetchall())"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_reader_of_the_published_copy_never_blocks_a_run_and_sees_consistent_state(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    published = published_path_for(database)
    instance = dg.DagsterInstance.ephemeral()
    VERSION["n"] = 1
    assert dg.materialize([toy, toy_sql], resources=_resources(database), instance=instance).success
    assert published == tmp_path / "published" / "warehouse.duckdb"

    # A reader holds the published copy open across the next runs.
    reader = duckdb.connect(str(published), read_only=True)
    before = reader.sql("select count(*), max(version) from core.toy").fetchall()
    assert before == [(100, 1)]
    for n in (2, 3):
        VERSION["n"] = n
        result = dg.materialize([toy, toy_sql], resources=_resources(database), instance=instance)
        assert result.success  # the reader broke no run
        # ... and its own view did not change under it (no torn reads).
        assert reader.sql("select count(*), max(version) from core.toy").fetchall() == before
        assert reader.sql("from marts.toy_sql").fetchall() == [(1,)]
    # A new reader sees the last successful write: both tables, consistent with each other.
    assert _read(published, "select count(*), max(version) from core.toy") == "[(300, 3)]"
    assert _read(published, "from marts.toy_sql") == "[(3,)]"
    logs = [e.message for e in instance.all_logs(result.run_id)]
    assert any(f"Published the warehouse to {published}" in m for m in logs)
    reader.close()


def test_a_failed_write_is_not_published(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    published = published_path_for(database)
    logs: list[str] = []

    class Log:
        info = warning = logs.append

    kwargs = dict(wait_s=1, published=str(published), log=Log, run_id="r", what="core/toy")
    with warehouse_writer(str(database), {}, **kwargs) as conn:
        conn.execute("create table t as select 1 v")
    with (
        pytest.raises(RuntimeError, match="boom"),
        warehouse_writer(str(database), {}, **kwargs) as conn,
    ):
        conn.execute("insert into t values (2)")
        raise RuntimeError("boom")
    assert _read(published, "select count(*) from t") == "[(1,)]"
    # The main file has the insert (autocommit), the next successful write publishes it.
    with warehouse_writer(str(database), {}, **kwargs):
        pass
    assert _read(published, "select count(*) from t") == "[(2,)]"


HOLD = """
import sys, time
sys.path.insert(0, {root!r})
{body}
print("holding", flush=True)
time.sleep({seconds})
"""


def _hold(tmp_path: Path, body: str, seconds: float) -> subprocess.Popen:
    script = tmp_path / "hold.py"
    root = str(Path(__file__).resolve().parents[2])
    script.write_text(HOLD.format(root=root, body=textwrap.dedent(body), seconds=seconds))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_writer_blocked_by_a_reader_of_the_live_file_says_so_and_fails_naming_it(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(database)).close()
    # A notebook that opened the live file instead of the published copy.
    holder = _hold(
        tmp_path,
        f"import duckdb; c = duckdb.connect({str(database)!r}, read_only=True)",
        seconds=60,
    )
    try:
        said: list[str] = []
        started = time.monotonic()
        with pytest.raises(WarehouseLockTimeout) as raised:
            connect_writer(str(database), {}, wait_s=1.5, log=said.append, published="P")
        assert time.monotonic() - started < 10
        message = str(raised.value)
        assert f"PID {holder.pid}" in message and "hold.py" in message
        assert "within 2 s" in message and "published copy P" in message
        assert said and "waiting up to 2 s" in said[0] and f"PID {holder.pid}" in said[0]
    finally:
        holder.kill()
        holder.wait()


def test_a_writer_waits_for_a_run_that_holds_the_lock_and_names_the_run(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    body = f"""
    from spotify_assets.resources.warehouse import warehouse_writer
    class Log:
        info = warning = print
    cm = warehouse_writer({str(database)!r}, {{}}, wait_s=1, published=None, log=Log,
                          run_id="run-1234", what="core/streams")
    conn = cm.__enter__()
    """
    holder = _hold(tmp_path, body, seconds=3)
    try:
        said: list[str] = []
        conn = connect_writer(str(database), {}, wait_s=60, log=said.append)
        conn.close()  # got it once the holder finished, within the bound
        assert said and "run run-1234 writing core/streams" in said[0]
        assert f"PID {holder.pid}" in said[0]
    finally:
        holder.kill()
        holder.wait()


def test_a_step_that_finds_the_warehouse_locked_too_long_is_tried_again(tmp_path, monkeypatch):
    """The lock outlives the wait (connect_writer's timeout, tested above): the step is
    retried, not failed for good leaving the marts stale, and succeeds once it is free."""
    import dagster as dg

    from spotify_assets.resources import warehouse as warehouse_module
    from spotify_assets.resources.warehouse import WarehouseResource

    monkeypatch.setattr(warehouse_module, "LOCK_RETRY_WAIT_S", 0.1)
    real_connect = warehouse_module.connect_writer
    attempts = []

    def locked_once(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise WarehouseLockTimeout("locked by PID 1 (a notebook)")
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(warehouse_module, "connect_writer", locked_once)
    database = tmp_path / "warehouse.duckdb"

    @dg.asset
    def written(warehouse: WarehouseResource) -> None:
        with warehouse.get_connection() as conn:
            conn.execute("create or replace table t as select 42 as v")

    resource = WarehouseResource(database=str(database), warehouse_lock_wait_s=1.0)
    result = dg.materialize([written], resources={"warehouse": resource})
    assert result.success and len(attempts) == 2
    assert any(e.event_type_value == "STEP_RESTARTED" for e in result.all_events)
    assert _read(str(database), "select v from t") == "[(42,)]"
