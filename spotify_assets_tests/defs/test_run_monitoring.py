"""Dead runs release what they hold and are tried again: with the project's dagster.yaml (run
monitoring and run retries on), a run worker launched by ``dagster-daemon`` and killed with
SIGKILL in the middle of a mart step is failed, its ``duckdb`` pool slot is freed, the marts
stay as they were (the step is one transaction: none half-written), the daemon retries the
run without anyone asking, and the warehouse then equals a clean build.

A real daemon and code server run as subprocesses on 127.0.0.1 with a temporary
DAGSTER_HOME (SQLite storage); the polling intervals are shortened for the test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

pytestmark = pytest.mark.slow  # a real dagster-daemon and run workers

ROOT = Path(__file__).resolve().parents[2]
LOCATION = Path(__file__).parents[1] / "support" / "kill_location.py"
BIN = Path(sys.executable).parent


def wait_for(what: str, probe, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def table_digest(database: Path) -> dict[str, tuple]:
    with duckdb.connect(str(database), read_only=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        return {
            t: conn.execute(f"select count(*), sum(x), bit_xor(h) from marts.{t}").fetchone()
            for t in tables
        }


def test_a_killed_run_worker_frees_the_warehouse_and_the_next_run_proceeds(tmp_path, monkeypatch):
    home, database = tmp_path / "home", tmp_path / "data" / "warehouse.duckdb"
    home.mkdir()
    database.parent.mkdir()
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert config["run_monitoring"]["enabled"] is True  # what this test is about
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    assert config["run_retries"]["enabled"] is True and config["run_retries"]["max_retries"] >= 1
    # Quicker than production: poll every second, free a dead run's slot after a second.
    config["run_monitoring"].update(poll_interval_seconds=1, free_slots_after_run_end_seconds=1)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "workspace.yaml").write_text(
        yaml.safe_dump(
            {"load_from": [{"python_file": {"relative_path": str(LOCATION),
                                            "working_directory": str(ROOT),
                                            "location_name": "kill_test"}}]}
        )
    )  # fmt: skip
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")},
        "DAGSTER_HOME": str(home),
        "KILL_TEST_WAREHOUSE": str(database),
        "PYTHONPATH": str(ROOT),
    }
    # Storage is created here first: the daemon and this test would race to create it.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.from_config(str(home))
    instance.get_runs()
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(tmp_path / "workspace.yaml")],
        cwd=home,
        env=env,
        stdout=open(tmp_path / "daemon.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def launch() -> str:
            before = {r.run_id for r in instance.get_runs()}
            subprocess.run(
                [str(BIN / "dagster"), "job", "launch", "-w", str(tmp_path / "workspace.yaml"),
                 "-j", "many_tables_job"],
                cwd=home, env=env, check=True, capture_output=True,
            )  # fmt: skip
            (run_id,) = {r.run_id for r in instance.get_runs()} - before
            return run_id

        def status(run_id: str) -> dg.DagsterRunStatus:
            return instance.get_run_by_id(run_id).status

        # The first run: wait until its worker holds the warehouse and is writing, then kill it.
        first = launch()
        note = Path(f"{database}.holder.json")

        def writing():
            try:
                held = json.loads(note.read_text())
            except (OSError, ValueError):
                return None
            return held if held.get("run_id") == first else None

        holder = wait_for("the first run to write the warehouse", writing, timeout=120)
        # An operator finds the run's worker with ps: its process title names the run.
        title = Path(f"/proc/{holder['pid']}/cmdline").read_bytes().replace(b"\0", b" ")
        assert f"dagster run {first}".encode() in title
        time.sleep(1.0)  # let it write a few tables first
        os.kill(int(holder["pid"]), signal.SIGKILL)

        final = wait_for(
            "the killed run to be marked failed",
            lambda: (s := status(first)) in (dg.DagsterRunStatus.FAILURE,) and s,
            timeout=120,
            interval=0.5,
        )
        assert final == dg.DagsterRunStatus.FAILURE
        # It died mid-step, after some tables were written: the step's transaction leaves
        # none of them (before, some marts were rebuilt and the others stale).
        assert table_digest(database) == {}
        # Run monitoring frees the dead run's slot in the duckdb pool.
        wait_for(
            "the dead run's duckdb slot to be freed",
            lambda: first not in instance.event_log_storage.get_concurrency_run_ids(),
            timeout=60,
            interval=0.5,
        )

        # The daemon retries it (no one asks), and the retry proceeds and completes.
        retry = wait_for(
            "the daemon to retry the dead run",
            lambda: next((r.run_id for r in instance.get_runs() if r.parent_run_id == first), None),
            timeout=120,
            interval=0.5,
        )
        wait_for(
            "the retry to finish",
            lambda: status(retry) in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE),
            timeout=240,
            interval=0.5,
        )
        assert status(retry) == dg.DagsterRunStatus.SUCCESS
        assert instance.get_run_by_id(retry).tags.get("dagster/retry_number") == "1"
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()

    # The warehouse (and its published copy) equal a clean build of the same asset.
    clean = tmp_path / "clean" / "warehouse.duckdb"
    clean.parent.mkdir()
    code = (
        f"import runpy, dagster as dg; ns = runpy.run_path({str(LOCATION)!r}); "
        "assert dg.materialize([ns['many_tables']], resources=ns['defs'].resources).success"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "KILL_TEST_WAREHOUSE": str(clean)},
        check=True,
        capture_output=True,
    )
    expected = table_digest(clean)
    assert len(expected) == 12
    assert table_digest(database) == expected
    assert table_digest(database.parent / "published" / "warehouse.duckdb") == expected
