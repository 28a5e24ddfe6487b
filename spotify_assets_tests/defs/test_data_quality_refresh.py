"""check_failure_alert_sensor refreshes reports/data_quality only when a check changed status
(issue 17: a refresh after every run with checks queued 14 bookkeeping runs in 15 minutes
ahead of pipeline runs), batched in one run per tick, queued behind pipeline runs."""

import dagster as dg
import pytest

from spotify_assets.defs.quality import sensors as quality_sensors
from spotify_assets.defs.quality.sensors import changed_checks, check_failure_alert_sensor
from spotify_assets.resources import AlertsResource

ALL_PASS = {"key": True, "rates": True}
OUTCOMES = dict(ALL_PASS)  # what the next materialization of mart reports


@dg.asset(check_specs=[dg.AssetCheckSpec(name, asset="mart") for name in ALL_PASS])
def mart():
    yield dg.Output(1)
    for name, passed in OUTCOMES.items():
        yield dg.AssetCheckResult(check_name=name, passed=passed)


@pytest.fixture
def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


def run_mart(instance, monkeypatch, **outcomes: bool) -> None:
    monkeypatch.setitem(globals(), "OUTCOMES", {**ALL_PASS, **outcomes})
    assert dg.materialize([mart], instance=instance).success


def tick(instance, cursor):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"alerts": AlertsResource(webhook_url=None)}
    )
    return check_failure_alert_sensor(context)


def test_refresh_only_when_a_check_changed_status(instance, monkeypatch):
    run_mart(instance, monkeypatch)
    first = tick(instance, None)  # first results ever: the report lists them
    assert len(first.run_requests) == 1
    assert first.run_requests[0].tags == {"dagster/priority": "-1"}  # behind pipeline runs

    for _ in range(3):  # runs whose checks come out as before ask for nothing
        run_mart(instance, monkeypatch)
    same = tick(instance, first.cursor)
    assert isinstance(same, dg.SensorResult) and same.run_requests == []
    assert int(same.cursor) > int(first.cursor)

    run_mart(instance, monkeypatch, rates=False)  # passed -> failed
    run_mart(instance, monkeypatch, rates=False)
    failed = tick(instance, same.cursor)
    assert [r.run_key for r in failed.run_requests] == [f"check-results-{failed.cursor}"]

    run_mart(instance, monkeypatch, rates=False)  # still failing: no refresh
    assert tick(instance, failed.cursor).run_requests == []


def test_a_flap_within_a_batch_that_ends_as_before_is_no_change(instance, monkeypatch):
    run_mart(instance, monkeypatch)
    first = tick(instance, None)
    run_mart(instance, monkeypatch, key=False)
    run_mart(instance, monkeypatch)  # back to passed before the next tick
    assert tick(instance, first.cursor).run_requests == []


def test_previous_status_is_found_across_pages(instance, monkeypatch):
    monkeypatch.setattr(quality_sensors, "CHECK_EVENTS_PER_TICK", 1)
    run_mart(instance, monkeypatch)
    cursor = None
    for _ in range(2):  # a tick reads one result
        cursor = tick(instance, cursor).cursor
    run_mart(instance, monkeypatch, key=False)
    run_mart(instance, monkeypatch)
    run_mart(instance, monkeypatch)
    key = dg.AssetCheckKey(dg.AssetKey("mart"), "key")
    rates = dg.AssetCheckKey(dg.AssetKey("mart"), "rates")
    # key's previous result (passed, 3 runs back) is two pages behind the cursor
    records = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION),
        ascending=False,
        limit=2,
    )
    after = records[-1].storage_id - 1  # the last run's two results are "new"
    assert changed_checks(instance, {key: True, rates: True}, after) == []
    assert changed_checks(instance, {key: False, rates: True}, after) == [key]
    # a check never evaluated before counts as changed
    assert changed_checks(instance, {dg.AssetCheckKey(dg.AssetKey("x"), "y"): True}, after)
