"""``make demo`` on the local SQLite instance: fewer disk syncs (``synchronous=NORMAL`` and
one connection held per database), and everything it records still there for the UI."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy

from spotify_assets.demo import _normal_sync, fewer_sqlite_syncs

pytestmark = pytest.mark.slow  # materializes assets with real resources

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_instance_syncs_less_and_keeps_every_event(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    shutil.copyfile(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.get() as instance:
        held = fewer_sqlite_syncs(instance)
        try:
            # The run, event and schedule databases of the project's instance.
            names = {Path(c.execute("pragma database_list").fetchone()[2]).name for c in held}
            assert {"runs.db", "event_log.db", "schedules.db"} <= names
            for i in range(3):
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(asset_key="demo_table", metadata={"i": i})
                )
            # SQLAlchemy connections (Dagster's storage makes one per call) sync at NORMAL
            # (1), not SQLite's FULL (2)...
            engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'event_log.db'}")
            with engine.connect() as conn:
                assert conn.exec_driver_sql("pragma synchronous").scalar() == 1
            engine.dispose()
            # ... and closing them no longer checkpoints the log away each time.
            assert (tmp_path / "event_log.db-wal").exists()
        finally:
            for conn in held:
                conn.close()
            # The demo's process ends there; here the other tests keep SQLite's default.
            sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", _normal_sync)
    # Another process (the UI) reads every event: nothing is lost or hidden.
    with dg.DagsterInstance.get() as reader:
        event = reader.get_latest_materialization_event(dg.AssetKey("demo_table"))
        assert event.asset_materialization.metadata["i"].value == 2
    with sqlite3.connect(tmp_path / "event_log.db") as conn:
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
