"""The code location loads the way `dagster dev` loads it (workspace.yaml), with every
schedule and sensor on by default where docs/OPERATIONS.md says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

pytestmark = pytest.mark.slow  # dg and dagster subprocesses

ROOT = Path(__file__).resolve().parents[2]


def test_workspace_validates_like_dagster_dev(tmp_path):
    # `dagster dev` refuses a module with more than one Definitions object at module scope,
    # which importing the module in a test would not notice.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "definitions",
            "validate",
            "-w",
            str(ROOT / "workspace.yaml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": "/usr/bin:/bin",
            "DAGSTER_HOME": str(tmp_path),
            "SPOTIFY_DATA_DIR": str(tmp_path / "data"),
        },
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "passed validation" in result.stdout + result.stderr


def test_automation_is_on_by_default():
    from spotify_assets.definitions import defs

    repo = defs.get_repository_def()
    schedules = {s.name: s for s in repo.schedule_defs}
    sensors = {s.name: s for s in repo.sensor_defs}
    assert set(schedules) == {"catalog_snapshot_schedule"}
    assert {
        "streaming_history_sensor",
        "charts_sensor",
        "catalog_datasets_sensor",
        "recently_played_sensor",
        "catalog_lookups_sensor",
        "check_failure_alert_sensor",
        "run_failure_alert_sensor",
        "automation_sensor",
    } == set(sensors)
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in schedules.values())
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())


def test_the_projects_instance_lets_the_check_sensor_read_across_runs(tmp_path, monkeypatch):
    # dagster.yaml's event storage must support the check-failure sensor's cursor (Dagster's
    # default SQLite storage, one database per run, does not).
    from spotify_assets.defs.quality.sensors import check_failure_alert_sensor
    from spotify_assets.resources import AlertsResource

    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))

    @dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
    def numbers():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="positive", passed=False)

    with dg.DagsterInstance.get() as instance:
        dg.materialize([numbers], instance=instance, raise_on_error=False)
        context = dg.build_sensor_context(instance=instance, resources={"alerts": AlertsResource()})
        result = check_failure_alert_sensor(context)
        assert isinstance(result, dg.SensorResult)
        assert len(result.run_requests) == 1
        assert int(result.cursor) > 0


def test_batch_runs_build_the_zones_tables_and_load_nothing_through_io_managers():
    """A batch's run has the batch's partition key and builds unpartitioned tables: an input
    loaded through an IO manager there would see the run's partition, not its own (see
    LakeIOManager.load_input), so every asset of those runs reads the warehouse by itself."""
    from spotify_assets.definitions import defs
    from spotify_assets.defs.landing import LANDING_FILES_KEY, landing_zones

    graph = defs.resolve_asset_graph()
    selected = {z.zone.name: z.sensor.asset_selection.resolve(graph) for z in landing_zones(defs)}
    charts = {k.to_user_string() for k in selected["charts"]}
    assert {"raw/chart_files", "core/chart_entries", "marts/chart_reach"} <= charts
    assert all(LANDING_FILES_KEY in keys for keys in selected.values())
    loaded = [
        (zone, key.to_user_string(), i.name)
        for zone, keys in selected.items()
        for key in keys
        for i in defs.get_assets_def(key).node_def.input_defs
        if not i.dagster_type.is_nothing
    ]
    assert loaded == []
