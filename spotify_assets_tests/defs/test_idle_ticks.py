"""Ticks that find nothing new cost next to nothing: the automation sensor evaluates the graph
only when the event log moved, a cron tick passed or its last evaluation is old; the landing
sensors read the location's lake without Dagster building resources at every tick; and
deploy/supervise.py stops a command (and all it started) on SIGINT or SIGTERM even when it was
started with SIGINT ignored."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from spotify_assets.defs import automation
from spotify_assets.defs.automation import FULL_EVALUATION_EVERY_S, _Gate, automation_sensor
from spotify_assets.defs.landing import sensor_lake
from spotify_assets.resources import LakeResource

ROOT = Path(__file__).resolve().parents[2]


def test_the_automation_sensor_is_evaluated_in_the_code_server_behind_the_gate():
    assert isinstance(automation_sensor, dg.AutomationConditionSensorDefinition)
    assert automation_sensor.sensor_type.value == "AUTOMATION"  # in the user code server
    assert automation_sensor.minimum_interval_seconds == automation.AUTOMATION_INTERVAL_S


def test_the_gate_skips_only_when_nothing_can_have_changed(monkeypatch):
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        gate = _Gate()
        monkeypatch.setattr(gate, "crons", lambda _context: ("0 * * * *",))
        newest = gate.instance(context).event_log_storage.get_maximum_record_id()
        assert gate.skip_reason(context, newest) is None  # never evaluated: evaluate
        now = 1_800_000_000.0 + 60  # one minute past a full hour
        monkeypatch.setattr(automation.time, "time", lambda: now)
        gate.last = (newest, now)
        assert gate.skip_reason(context, newest)  # nothing new
        instance.report_runless_asset_event(dg.AssetMaterialization("anything"))
        moved = gate.instance(context).event_log_storage.get_maximum_record_id()
        assert moved != newest
        assert gate.skip_reason(context, moved) is None  # the event log moved
        now += 3600  # the hourly cron ticked meanwhile
        assert gate.skip_reason(context, newest) is None
        gate.last = (newest, now - FULL_EVALUATION_EVERY_S)
        monkeypatch.setattr(gate, "crons", lambda _context: ())
        assert gate.skip_reason(context, newest) is None  # evaluated long ago


def test_a_runs_own_events_do_not_open_the_gate(monkeypatch, tmp_path):
    # The event log as make dev keeps it (one SQLite database): a step's log line moves it, but
    # cannot change a condition; a materialization can.
    storage = {
        "module": "dagster._core.storage.event_log",
        "class": "ConsolidatedSqliteEventLogStorage",
        "config": {"base_dir": str(tmp_path)},
    }
    with dg.instance_for_test(overrides={"event_log_storage": storage}) as instance:
        context = dg.build_sensor_context(instance=instance)
        gate = _Gate()
        monkeypatch.setattr(gate, "crons", lambda _context: ())
        storage_ = gate.instance(context).event_log_storage
        evaluated = storage_.get_maximum_record_id()
        gate.last = (evaluated, time.time())
        instance.report_engine_event(
            "a step's log line", job_name="a_job", run_id=str(uuid.uuid4())
        )
        logged = storage_.get_maximum_record_id()
        assert logged != evaluated
        assert gate.skip_reason(context, logged)  # only a run's own event
        assert gate.last[0] == logged  # the mark moved on
        instance.report_runless_asset_event(dg.AssetMaterialization("anything"))
        assert gate.skip_reason(context, storage_.get_maximum_record_id()) is None


def test_a_run_in_progress_opens_the_gate_at_its_end(monkeypatch, tmp_path):
    """What a run materializes while it runs is evaluated once it has ended (its evaluations
    took the cores from the run); a runless event still opens the gate at once."""
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData

    storage = {
        "module": "dagster._core.storage.event_log",
        "class": "ConsolidatedSqliteEventLogStorage",
        "config": {"base_dir": str(tmp_path)},
    }

    @dg.asset
    def table() -> None: ...

    job = dg.Definitions(assets=[table]).get_implicit_global_asset_job_def()
    with dg.instance_for_test(overrides={"event_log_storage": storage}) as instance:
        context = dg.build_sensor_context(instance=instance)
        gate = _Gate()
        monkeypatch.setattr(gate, "crons", lambda _context: ())
        log = gate.instance(context).event_log_storage
        gate.last = (log.get_maximum_record_id(), time.time())
        run = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
        instance.report_dagster_event(
            DagsterEvent(
                DagsterEventType.ASSET_MATERIALIZATION.value,
                job_name=run.job_name,
                event_specific_data=StepMaterializationData(dg.AssetMaterialization("table")),
            ),
            run_id=run.run_id,
        )
        materialized = log.get_maximum_record_id()
        assert gate.skip_reason(context, materialized)  # its run goes on
        assert gate.last[0] == materialized
        instance.report_run_failed(run)  # its end: the run's events count now
        assert gate.skip_reason(context, log.get_maximum_record_id()) is None
        gate.last = (log.get_maximum_record_id(), time.time())
        instance.report_runless_asset_event(dg.AssetMaterialization("anything"))
        assert gate.skip_reason(context, log.get_maximum_record_id()) is None


def test_a_tests_sensor_context_brings_its_own_lake(tmp_path):
    lake = LakeResource(url=str(tmp_path))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"lake": lake})
        assert sensor_lake(context).url == str(tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_supervise_stops_a_command_started_with_sigint_ignored(sig):
    # A child that, like dg dev, sleeps in Python and starts a grandchild in its group.
    token = uuid.uuid4().hex
    child = (
        f"import subprocess, sys, time  # {token}\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # {token}'])\n"
        "time.sleep(60)"
    )

    def ignore_sigint():  # what a non-interactive shell does to a background job
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy/supervise.py"), "--grace", "5", "--", sys.executable]
        + ["-c", child],
        preexec_fn=ignore_sigint,
        start_new_session=True,
    )
    time.sleep(1.5)
    started = time.monotonic()
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=15) == 128 + sig
    assert time.monotonic() - started < 5
    # Nothing the command started is left.
    left = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token in (entry / "cmdline").read_text():
                left.append(entry.name)
        except OSError:
            pass
    assert left == []


def test_a_local_zones_folders_fingerprint_moves_with_a_landed_file(tmp_path):
    from spotify_assets.lib.lake import LocalLakeStore

    store = LocalLakeStore(tmp_path)
    store.put_bytes("landing/zone/alice/a.json", b"[]")
    before = store.folders_fingerprint("landing/zone/")
    assert before == store.folders_fingerprint("landing/zone/")  # nothing changed
    time.sleep(0.01)
    store.put_bytes("landing/zone/alice/b.json", b"[]")  # a new file in a subfolder
    assert store.folders_fingerprint("landing/zone/") != before
