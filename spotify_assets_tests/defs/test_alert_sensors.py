"""Failure alerts and the data-quality report on an ephemeral instance: the check-failure
sensor (cursor, run key, one alert per failed check, webhook failures that fail nothing,
the webhook URL never shown), the run-failure sensor, and ``reports/data_quality``."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator

import dagster as dg
import duckdb
import pytest

from spotify_assets.defs.quality import sensors as quality_sensors
from spotify_assets.defs.quality.assets import (
    DATA_QUALITY_KEY,
    build_data_quality_asset,
    check_results,
)
from spotify_assets.defs.quality.sensors import check_failure_alert_sensor, run_failure_alert_sensor
from spotify_assets.lib.quality.rules import DATA_QUALITY_COLUMNS
from spotify_assets.resources import AlertsResource, WarehouseIOManager
from spotify_assets_tests.support.webhook import TOKEN, Hook

UI = "http://ui"


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.stop()


@pytest.fixture
def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# A toy asset with one passing check, one failing ERROR check and one failing WARN check.
TOY_CHECKS = [
    dg.AssetCheckSpec("ok", asset="toy", description="always passes"),  # WARN, as in rule_checks
    dg.AssetCheckSpec("bad", asset="toy", blocking=True, description="key is unique"),
    dg.AssetCheckSpec("meh", asset="toy", description="parse rate"),
]


@dg.asset(check_specs=TOY_CHECKS)
def toy():
    yield dg.Output(1)
    yield dg.AssetCheckResult(check_name="ok", passed=True, severity=dg.AssetCheckSeverity.WARN)
    yield dg.AssetCheckResult(
        check_name="bad",
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description="3 duplicate keys",
        metadata={"violations": 3, "sql": "select secret_sql_text"},
    )
    yield dg.AssetCheckResult(
        check_name="meh",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"parse_rate": 0.5},
    )


def run_toy(instance: dg.DagsterInstance) -> str:
    """Materializes ``toy``; the failed blocking check fails the run. Returns the run id."""
    result = dg.materialize([toy], instance=instance, raise_on_error=False)
    assert not result.success  # the ERROR check is blocking
    return result.run_id


def check_tick(instance, cursor, webhook_url=None):
    """One evaluation of the check sensor; returns (result, log messages)."""
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"alerts": AlertsResource(webhook_url=webhook_url, ui_url=UI, timeout_s=5)},
    )
    captured = Captured()
    context.log.addHandler(captured)
    return check_failure_alert_sensor(context), captured.messages


def last_check_storage_id(instance: dg.DagsterInstance) -> int:
    records = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION),
        ascending=False,
        limit=1,
    )
    return records[0].storage_id


def test_failed_checks_are_alerted_once_with_what_a_person_needs(instance, hook):
    run_id = run_toy(instance)
    result, logs = check_tick(instance, None, hook.url)
    assert isinstance(result, dg.SensorResult)
    # Two failed (ERROR and WARN), the passing one is not alerted.
    assert sorted((p["check"], p["severity"]) for p in hook.posts) == [
        ("bad", "ERROR"),
        ("meh", "WARN"),
    ]
    bad = next(p for p in hook.posts if p["check"] == "bad")
    assert bad["kind"] == "check_failed"
    assert bad["asset"] == "toy" and bad["run_id"] == run_id
    text = bad["text"]
    assert text.startswith("[ERROR] check bad failed on toy\n3 duplicate keys\n")
    assert "violations: 3" in text  # the key figure is kept...
    assert "secret_sql_text" not in text  # ...not the SQL
    assert f"run {run_id} ({UI}/runs/{run_id})" in text
    meh = next(p for p in hook.posts if p["check"] == "meh")
    assert meh["text"].startswith("[WARN] check meh failed on toy\n")
    assert "parse_rate: 0.5" in meh["text"]
    # The log has the same two alerts and a summary: 3 results, 2 failed.
    assert sum(m.startswith("[ERROR] check bad failed on toy") for m in logs) == 1
    assert sum(m.startswith("[WARN] check meh failed on toy") for m in logs) == 1
    assert "3 new check results, 2 failed and reported" in logs
    assert not any("check ok" in m for m in logs)


def test_cursor_advances_and_run_key_is_stable_per_cursor(instance, hook):
    run_toy(instance)
    first, _ = check_tick(instance, None, hook.url)
    last = last_check_storage_id(instance)
    assert first.cursor == str(last)
    # One refresh of reports/data_quality per batch of results, keyed by the cursor.
    assert [r.run_key for r in first.run_requests] == [f"check-results-{last}"]
    # The same tick evaluated again (a daemon restart) asks for the same run: deduplicated.
    again, _ = check_tick(instance, None, hook.url)
    assert [r.run_key for r in again.run_requests] == [f"check-results-{last}"]
    posts = len(hook.posts)
    assert posts == 4  # 2 failures, evaluated twice from the same cursor
    # From the new cursor: nothing new, nothing sent, no run.
    after, logs = check_tick(instance, first.cursor, hook.url)
    assert isinstance(after, dg.SkipReason)
    assert after.skip_message == "No new check results since the last tick."
    assert len(hook.posts) == posts
    assert not any("failed on" in m for m in logs)


def test_only_results_after_the_cursor_are_alerted(instance, hook):
    run_toy(instance)
    first, _ = check_tick(instance, None, hook.url)
    second_run = run_toy(instance)
    hook.requests.clear()
    second, _ = check_tick(instance, first.cursor, hook.url)
    assert {p["run_id"] for p in hook.posts} == {second_run}
    assert len(hook.posts) == 2
    assert int(second.cursor) > int(first.cursor)
    # The same statuses again: reports/data_quality is not refreshed (issue 17).
    assert second.run_requests == []


def test_a_tick_reads_at_most_a_batch_and_the_next_goes_on(instance, hook, monkeypatch):
    monkeypatch.setattr(quality_sensors, "CHECK_EVENTS_PER_TICK", 2)
    run_toy(instance)  # 3 results: ok, bad, meh (in yield order)
    first, logs = check_tick(instance, None, hook.url)
    assert "2 new check results, 1 failed and reported" in logs  # ok, bad
    second, logs = check_tick(instance, first.cursor, hook.url)
    assert "1 new check results, 1 failed and reported" in logs  # meh
    assert [p["check"] for p in hook.posts] == ["bad", "meh"]
    assert second.cursor == str(last_check_storage_id(instance))


def test_passing_results_refresh_the_report_without_alerting(instance, hook):
    @dg.asset(check_specs=[dg.AssetCheckSpec("fine", asset="good")])
    def good():
        yield dg.Output(1)
        yield dg.AssetCheckResult(check_name="fine", passed=True)

    assert dg.materialize([good], instance=instance).success
    result, logs = check_tick(instance, None, hook.url)
    assert hook.posts == []
    assert len(result.run_requests) == 1  # reports/data_quality still shows the new result
    assert "1 new check results, 0 failed and reported" in logs


def test_webhook_url_never_appears_in_logs_or_messages(instance, hook):
    run_toy(instance)
    result, logs = check_tick(instance, None, hook.url)
    assert len(hook.posts) == 2
    assert logs
    everything = "\n".join([*logs, *(json.dumps(p) for p in hook.posts), str(result)])
    assert TOKEN not in everything
    assert "/services/" not in everything


@pytest.mark.parametrize("status", [500, 403])
def test_webhook_error_fails_nothing_and_names_only_the_host(instance, hook, status):
    hook.status = status
    run_toy(instance)
    result, logs = check_tick(instance, None, hook.url)
    assert isinstance(result, dg.SensorResult)
    assert result.cursor == str(last_check_storage_id(instance))  # advanced anyway
    assert len(result.run_requests) == 1
    assert len(hook.posts) == 2  # both were tried
    summary = next(m for m in logs if m.startswith("3 new check results"))
    assert summary == (
        "3 new check results, 2 failed and reported; webhook delivery failed 2 times: "
        f"the webhook at {hook.host} answered HTTP {status}"
    )
    assert TOKEN not in "\n".join(logs)


def test_unreachable_webhook_fails_nothing_and_names_only_the_host(instance):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/{TOKEN}"  # nothing listens there any more
    run_toy(instance)
    result, logs = check_tick(instance, None, url)
    assert result.cursor == str(last_check_storage_id(instance))
    summary = next(m for m in logs if m.startswith("3 new check results"))
    assert f"webhook delivery failed 2 times: the webhook at 127.0.0.1:{port} is unreachable" in (
        summary
    )
    assert TOKEN not in "\n".join(logs)


def test_without_a_webhook_alerts_go_to_the_log_only(instance):
    run_toy(instance)
    result, logs = check_tick(instance, None, None)
    assert result.cursor == str(last_check_storage_id(instance))
    assert sum(" failed on toy" in m for m in logs) == 2
    assert not any("webhook" in m for m in logs)


def test_misconfigured_webhook_url_fails_nothing_and_is_not_shown(instance):
    run_toy(instance)
    # The scheme left out of SPOTIFY_ALERT_WEBHOOK_URL.
    result, logs = check_tick(instance, None, f"hooks.example.com/services/{TOKEN}")
    assert result.cursor == str(last_check_storage_id(instance))
    summary = next(m for m in logs if m.startswith("3 new check results"))
    assert summary.endswith(
        "webhook delivery failed 2 times: the webhook URL is not a valid http(s) URL with a host "
        "(check SPOTIFY_ALERT_WEBHOOK_URL)"
    )
    assert TOKEN not in "\n".join(logs)


def test_check_sensor_settings():
    assert check_failure_alert_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert run_failure_alert_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # Its runs refresh reports/data_quality.
    targets = check_failure_alert_sensor.job.selection.resolve([build_data_quality_asset([])])
    assert targets == {DATA_QUALITY_KEY}


# --- run-failure sensor ------------------------------------------------------------------


@dg.op
def extract():
    return 1


@dg.op
def load(value):
    raise ValueError(f"disk is full on /warehouse ({value})")


@dg.job
def nightly():
    load(extract())


@dg.asset
def fragile_table():
    raise dg.Failure(description="3 of 9 playlists could not be snapshotted\n- p1: HTTP 429")


def failure_tick(instance, result, hook) -> list[str]:
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"alerts": AlertsResource(webhook_url=hook.url, ui_url=UI, timeout_s=5)},
    ).for_run_failure()
    captured = Captured()
    context.log.addHandler(captured)
    assert run_failure_alert_sensor(context) is None
    return captured.messages


def test_run_failure_alert_names_job_failed_step_and_run(instance, hook):
    result = nightly.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    logs = failure_tick(instance, result, hook)
    assert len(hook.posts) == 1
    post = hook.posts[0]
    assert post["kind"] == "run_failed"
    assert post["job"] == "nightly"
    assert post["run_id"] == result.run_id
    assert post["failed_steps"] == ["load"]  # extract succeeded
    lines = post["text"].splitlines()
    assert lines[0] == "Run of nightly failed"
    assert "Failed steps: load" in lines
    assert lines[-1] == f"Look at: the run's logs, run {result.run_id} ({UI}/runs/{result.run_id})"
    assert logs == [post["text"]]  # logged once, as sent
    assert TOKEN not in post["text"] and TOKEN not in "\n".join(logs)


def test_a_dead_run_worker_is_named_as_such_not_as_a_failure_from_outside(instance, hook):
    """Run monitoring fails a run whose worker was killed with Dagster's generic message: the
    alert says what that means and whether the run is retried."""
    from dagster._core.events import DagsterEventType

    result = fragile_defs.resolve_job_def("fragile_job").execute_in_process(
        instance=instance, raise_on_error=False, asset_selection=[upstream_table.key]
    )
    run = result.dagster_run
    instance.add_run_tags(
        run.run_id,
        {"dagster/failure_reason": "UNEXPECTED_TERMINATION", "dagster/will_retry": "true"},
    )
    instance.report_run_failed(instance.get_run_by_id(run.run_id))
    failure = (
        instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
        .records[-1]
        .event_log_entry.dagster_event
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run.run_id),
        resources={"alerts": AlertsResource(webhook_url=hook.url, ui_url=UI, timeout_s=5)},
    ).for_run_failure()
    run_failure_alert_sensor(context)
    text = hook.posts[0]["text"]
    assert "from outside the execution context" not in text
    assert "worker process stopped without finishing" in text and "will run it again" in text


def test_run_failure_alert_names_the_users_error(instance, hook):
    result = nightly.execute_in_process(instance=instance, raise_on_error=False)
    failure_tick(instance, result, hook)
    # The user's exception, not Dagster's wrapper ("Error occurred while executing op").
    assert "Error: ValueError: disk is full on /warehouse (1)" in hook.posts[0]["text"].splitlines()


@dg.asset
def upstream_table():
    return 1


fragile_job = dg.define_asset_job("fragile_job", selection=[upstream_table, fragile_table])
fragile_defs = dg.Definitions(assets=[upstream_table, fragile_table], jobs=[fragile_job])


def test_run_failure_alert_of_an_asset_run_names_assets_and_failure(instance, hook):
    # A run of a subset of a job's assets (what automation and the UI launch).
    result = fragile_defs.resolve_job_def("fragile_job").execute_in_process(
        instance=instance, raise_on_error=False, asset_selection=[fragile_table.key]
    )
    failure_tick(instance, result, hook)
    post = hook.posts[0]
    assert post["job"] == "fragile_job"
    assert post["assets"] == ["fragile_table"]
    assert post["failed_steps"] == ["fragile_table"]
    assert "Assets in the run: fragile_table" in post["text"]
    # dg.Failure's description reaches the alert; only its first line.
    assert "3 of 9 playlists could not be snapshotted" in post["text"]
    assert "p1: HTTP 429" not in post["text"]


def test_run_failure_alert_of_a_whole_job_run_names_its_assets(instance, hook):
    result = fragile_defs.resolve_job_def("fragile_job").execute_in_process(
        instance=instance, raise_on_error=False
    )
    failure_tick(instance, result, hook)
    # A whole-job run has no asset selection: the assets it planned are listed.
    assert hook.posts[0]["assets"] == ["fragile_table", "upstream_table"]
    assert "Assets in the run: fragile_table, upstream_table" in hook.posts[0]["text"]


def test_undelivered_run_alert_is_logged_with_the_host_only(instance, hook):
    hook.status = 500
    result = nightly.execute_in_process(instance=instance, raise_on_error=False)
    logs = failure_tick(instance, result, hook)
    assert logs[-1] == f"Alert not delivered: the webhook at {hook.host} answered HTTP 500"
    assert TOKEN not in "\n".join(logs)


# --- reports/data_quality ----------------------------------------------------------------


@dg.asset(check_specs=[dg.AssetCheckSpec("after_build", asset="fragile", blocking=True)])
def fragile():
    raise RuntimeError("the step failed before its check")


ORPHAN_SPEC = dg.AssetCheckSpec("declared_only", asset="orphan", description="never executed")


def quality_specs() -> dict[dg.AssetCheckKey, dg.AssetCheckSpec]:
    return {spec.key: spec for spec in [*toy.check_specs, *fragile.check_specs, ORPHAN_SPEC]}


def test_check_results_statuses(instance):
    toy_run = run_toy(instance)
    fragile_run = dg.materialize([fragile], instance=instance, raise_on_error=False)
    assert not fragile_run.success
    frame = check_results(instance, quality_specs())
    assert list(frame.columns) == list(DATA_QUALITY_COLUMNS)
    rows = {r.check_name: r for r in frame.itertuples()}
    # Sorted by asset key path, then check name.
    assert list(frame["check_name"]) == ["after_build", "declared_only", "bad", "meh", "ok"]
    assert (rows["ok"].status, bool(rows["ok"].passed)) == ("passed", True)
    assert (rows["bad"].status, bool(rows["bad"].passed)) == ("failed", False)
    assert (rows["bad"].severity, rows["bad"].blocking) == ("ERROR", True)
    assert rows["bad"].description == "3 duplicate keys"  # what it found
    assert rows["bad"].details == "violations=3"  # not the SQL
    assert (rows["meh"].status, rows["meh"].severity, rows["meh"].blocking) == (
        "failed",
        "WARN",
        False,
    )
    assert rows["meh"].details == "parse_rate=0.5"
    assert rows["meh"].description == "parse rate"  # no result description: the spec's
    assert {rows[n].run_id for n in ("ok", "bad", "meh")} == {toy_run}
    # Planned in a run whose asset step failed: not run, with that run.
    assert rows["after_build"].status == "not run"
    assert rows["after_build"].run_id == fragile_run.run_id
    assert frame.loc[frame["check_name"] == "after_build", "passed"].isna().all()
    # Declared and never executed.
    assert rows["declared_only"].status == "never run"
    assert rows["declared_only"].run_id is None
    assert frame.loc[frame["check_name"] == "declared_only", "evaluated_at"].isna().all()
    assert str(frame["passed"].dtype) == "boolean"


def test_latest_result_wins(instance):
    run_toy(instance)

    @dg.asset(check_specs=TOY_CHECKS, name="toy")
    def fixed_toy():
        yield dg.Output(1)
        for name in ("ok", "bad", "meh"):
            yield dg.AssetCheckResult(check_name=name, passed=True)

    fixed = dg.materialize([fixed_toy], instance=instance)
    frame = check_results(instance, {spec.key: spec for spec in TOY_CHECKS})
    assert list(frame["status"]) == ["passed", "passed", "passed"]
    assert set(frame["run_id"]) == {fixed.run_id}


def test_data_quality_asset_writes_the_table(instance, tmp_path):
    run_toy(instance)
    dg.materialize([fragile], instance=instance, raise_on_error=False)
    specs = list(quality_specs().values())
    data_quality = build_data_quality_asset(specs)
    database = tmp_path / "warehouse.duckdb"
    result = dg.materialize(
        [data_quality],
        instance=instance,
        resources={"warehouse_io_manager": WarehouseIOManager(database=str(database))},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("reports__data_quality")[0].metadata
    assert metadata["checks"].value == 5
    # 2 failed (bad, meh), 1 passed, 1 not run, 1 never run.
    assert metadata["status: failed"].value == 2
    assert metadata["status: passed"].value == 1
    assert metadata["status: not run"].value == 1
    assert metadata["status: never run"].value == 1
    assert metadata["failed_error_checks"].value == "- toy / bad"  # the WARN one is not listed
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute(
            "select asset_key, check_name, severity, blocking, status, passed "
            "from reports.data_quality order by asset_key, check_name"
        ).fetchall()
        columns = [
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'reports' and table_name = 'data_quality' "
                "order by ordinal_position"
            ).fetchall()
        ]
    assert columns == list(DATA_QUALITY_COLUMNS)
    assert rows == [
        ("fragile", "after_build", "ERROR", True, "not run", None),
        ("orphan", "declared_only", "WARN", False, "never run", None),
        ("toy", "bad", "ERROR", True, "failed", False),
        ("toy", "meh", "WARN", False, "failed", False),
        ("toy", "ok", "WARN", False, "passed", True),
    ]
