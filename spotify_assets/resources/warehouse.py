"""The DuckDB warehouse: its IO manager (dagster-duckdb-pandas) and its SQL resource, with what
a warehouse that people query while runs write it needs.

DuckDB allows one process to open a database file for writing, and a reader's read-only
connection to that file blocks every writer. So people never open the file runs write:

- **the published copy.** Whenever a write succeeds, the writer (still holding the lock, so
  nothing changes under it) checkpoints and copies the file to ``published_warehouse_path``
  (default ``<data dir>/published/warehouse.duckdb``) through a temp file and an atomic rename.
  A reader connected to the published copy keeps the consistent state it opened (the old file
  stays alive for it) and never holds a writer's lock; a new connection sees the last
  successful write. Notebooks, BI tools and people connect there, read-only.
- **a bounded, visible wait.** A writer that finds the file locked says so in the run's log,
  naming the holder (the run and asset, from the note every writer leaves beside the file, or
  the process that DuckDB names), retries, and fails after ``warehouse_lock_wait_s`` with an
  error naming the holder, instead of dagster-duckdb's silent retries.

The IO manager also changes three things:

- an unpartitioned table is replaced whole (``CREATE OR REPLACE``), so a new column in the
  code reaches the table instead of failing the insert;
- partitioned tables insert ``BY NAME`` after Dagster deletes the partition's rows;
- an empty result still creates (or empties) its table, and every write records
  ``dagster/row_count`` and ``dagster/column_schema`` read back from DuckDB, with the column
  descriptions the asset declares in its ``column_descriptions`` metadata.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBIOManager, DuckDBResource
from dagster_duckdb.io_manager import DuckDbClient
from pydantic import Field, PrivateAttr

from spotify_assets.resources.process_title import name_the_run_worker

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

#: Default bound on waiting for the warehouse's write lock (SPOTIFY_WAREHOUSE_LOCK_WAIT_S).
DEFAULT_LOCK_WAIT_S = 120.0
_HOLDER_PID = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")


class WarehouseLockTimeout(RuntimeError):
    """The warehouse stayed locked by another process past the bound; names the holder."""


#: A step that found the warehouse locked past the bound is tried again this many times, this
#: long after (Dagster's step retries): a reader holding the file for minutes delays the
#: marts, it does not leave them stale until someone launches them by hand.
LOCK_RETRIES = 2
LOCK_RETRY_WAIT_S = 30.0


def published_path_for(database: str | os.PathLike[str]) -> Path:
    """Where readers connect by default: ``published/<file name>`` beside the warehouse (same
    file name, so DuckDB names the catalog alike and qualified names keep working)."""
    path = Path(database)
    return path.parent / "published" / path.name


def holder_note_path(database: str | os.PathLike[str]) -> Path:
    return Path(f"{database}.holder.json")


def _process_command(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    command = raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    return command[:200] + ("..." if len(command) > 200 else "")


def describe_holder(database: str | os.PathLike[str], error: str) -> str:
    """Who holds the lock, in words: the run and asset from the holder note when its PID is the
    one DuckDB names, else that process's command line (a notebook, a BI tool, a shell)."""
    match = _HOLDER_PID.search(error)
    if match is None:
        return "another process (DuckDB did not name it)"
    pid = int(match["pid"])
    with suppress(OSError, ValueError):
        note = json.loads(holder_note_path(database).read_text())
        if int(note.get("pid", -1)) == pid:
            return (
                f"run {note.get('run_id')} writing {note.get('what')} (PID {pid}, since "
                f"{note.get('since')})"
            )
    command = _process_command(pid)
    return f"PID {pid} ({command or match['exe']}), not a run of this platform's writers"


def connect_writer(
    database: str,
    config: dict[str, Any],
    *,
    wait_s: float,
    log: Callable[[str], None],
    published: str | os.PathLike[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> duckdb.DuckDBPyConnection:
    """A read-write connection to ``database``; while another process holds its lock, wait
    up to ``wait_s`` seconds, saying so through ``log`` (who holds it, for how long it will
    wait), then raise :class:`WarehouseLockTimeout` naming the holder."""
    started = time.monotonic()
    delay, last_said = 0.2, None
    while True:
        try:
            return duckdb.connect(database, read_only=False, config=config)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            holder = describe_holder(database, str(exc))
            waited = time.monotonic() - started
            if waited >= wait_s:
                readers = f" Readers belong on the published copy {published}." if published else ""
                raise WarehouseLockTimeout(
                    f"Could not open the warehouse {database} for writing within {wait_s:.0f} s "
                    f"(SPOTIFY_WAREHOUSE_LOCK_WAIT_S): it is locked by {holder}.{readers}"
                ) from None
            if last_said is None or waited - last_said >= 10:
                log(
                    f"Warehouse {database} is locked by {holder}; waiting up to "
                    f"{wait_s:.0f} s ({waited:.0f} s so far)"
                )
                last_said = waited
            sleep(min(delay, max(0.0, wait_s - waited)))
            delay = min(delay * 2, 2.0)


def publish(
    conn: duckdb.DuckDBPyConnection, database: str, published: str | os.PathLike[str]
) -> tuple[int, float] | None:
    """Copy the warehouse to ``published`` if it changed since the last copy; the caller holds
    the write lock, so the file is consistent once checkpointed. The copy goes to a temp file
    and is renamed over the old one: readers of the old file keep it until they close.
    Returns (bytes, seconds) when it copied."""
    started = time.perf_counter()
    conn.execute("CHECKPOINT")
    source, target = Path(database), Path(published)
    stat = source.stat()
    with suppress(FileNotFoundError):
        current = target.stat()
        if (current.st_size, current.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            return None  # unchanged (a read, or a write already published)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copy2(source, tmp)  # copy2 keeps the mtime: the "unchanged" test above
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return stat.st_size, time.perf_counter() - started


@contextmanager
def warehouse_writer(
    database: str,
    config: dict[str, Any],
    *,
    wait_s: float,
    published: str | None,
    log: dg.DagsterLogManager | Any,
    run_id: str | None,
    what: str,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A write connection with the bounded wait, a holder note while it is open, and the
    published copy refreshed when the block succeeds (not when it raised: a failed write is
    not published). Still locked after ``wait_s``: the step is retried (Dagster's step
    retries, :data:`LOCK_RETRIES` times), then fails naming the holder."""
    try:
        conn = connect_writer(database, config, wait_s=wait_s, log=log.warning, published=published)
    except WarehouseLockTimeout as exc:
        log.error(f"{exc} Trying the step again in {LOCK_RETRY_WAIT_S:.0f} s.")
        raise dg.RetryRequested(
            max_retries=LOCK_RETRIES, seconds_to_wait=LOCK_RETRY_WAIT_S
        ) from exc
    note = holder_note_path(database)
    try:
        with suppress(OSError):
            note.write_text(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "run_id": run_id,
                        "what": what,
                        "since": datetime.now(UTC).isoformat(timespec="seconds"),
                    }
                )
            )
        yield conn
        if published:
            done = publish(conn, database, published)
            if done:
                size, seconds = done
                log.info(
                    f"Published the warehouse to {published} ({size / 1e6:.1f} MB, {seconds:.2f} s)"
                )
    finally:
        with suppress(OSError):
            note.unlink()
        conn.close()


def _connection_config(config: dict[str, Any]) -> dict[str, Any]:
    return {"custom_user_agent": "dagster", **config}


class WarehouseClient(DuckDbClient):
    """dagster-duckdb's client with the bounded, logged wait and the published copy."""

    @staticmethod
    @contextmanager
    def connect(context, _):
        config = context.resource_config
        with warehouse_writer(
            config["database"],
            _connection_config(config["connection_config"]),
            wait_s=float(config.get("warehouse_lock_wait_s") or DEFAULT_LOCK_WAIT_S),
            published=config.get("published_warehouse_path"),
            log=context.log,
            run_id=getattr(context, "run_id", None),
            what=context.asset_key.to_user_string() if context.has_asset_key else "?",
        ) as conn:
            yield conn


class WarehouseIOManager(DuckDBIOManager):
    """DuckDB file at ``database``; the first part of an asset key is the schema
    (``core/tracks`` -> ``core.tracks``)."""

    warehouse_lock_wait_s: float = Field(
        default=DEFAULT_LOCK_WAIT_S,
        description="SPOTIFY_WAREHOUSE_LOCK_WAIT_S: how long a write waits for the lock",
    )
    published_warehouse_path: str | None = Field(
        default=None, description="Where each successful write is published for readers"
    )

    def create_io_manager(self, context):
        name_the_run_worker(context.run)
        manager = super().create_io_manager(context)
        # dagster-duckdb's DbIOManager takes its client only as a constructor argument of a
        # private class: swap it on the instance it built (a test holds that it took).
        if not hasattr(manager, "_db_client"):
            raise RuntimeError("dagster-duckdb changed: WarehouseIOManager cannot set its client")
        manager._db_client = WarehouseClient()
        return manager

    @staticmethod
    def type_handlers() -> Sequence[Any]:
        # imported here: dagster-duckdb-pandas imports pandas, which loading must not pay for
        from spotify_assets.resources.warehouse_frames import WarehousePandasTypeHandler

        return [WarehousePandasTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pd.DataFrame


class WarehouseResource(DuckDBResource):
    """``DuckDBResource`` (assets ask for it by that type) with the bounded, logged wait for
    the lock and the published copy refreshed after every successful block."""

    warehouse_lock_wait_s: float = Field(
        default=DEFAULT_LOCK_WAIT_S,
        description="SPOTIFY_WAREHOUSE_LOCK_WAIT_S: how long a connection waits for the lock",
    )
    published_warehouse_path: str | None = Field(
        default=None, description="Where each successful write is published for readers"
    )
    _log: Any = PrivateAttr(default=None)
    _run_id: str | None = PrivateAttr(default=None)
    _job: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._log = context.log
        run = context.run
        name_the_run_worker(run)
        self._run_id = run.run_id if run else None
        self._job = run.job_name if run else None

    @contextmanager
    def get_connection(self):
        log = self._log or dg.get_dagster_logger()
        with warehouse_writer(
            self.database,
            _connection_config(self.connection_config),
            wait_s=self.warehouse_lock_wait_s,
            published=self.published_warehouse_path,
            log=log,
            run_id=self._run_id,
            what=f"SQL of job {self._job}" if self._job else "SQL (warehouse resource)",
        ) as conn:
            yield conn
