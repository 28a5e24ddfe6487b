"""Alerts: a failed run or a failed asset check is reported to the log always, and to a
webhook when ``SPOTIFY_ALERT_WEBHOOK_URL`` is set (Slack, Teams, Mattermost...).

Failed checks need their own sensor: a WARN check never fails its run, and a run-failure
sensor would never hear of it. The check sensor reads new check evaluations from the event
log (its cursor is the last storage id seen), so each failure is reported once, even across
daemon restarts.

The same sensor refreshes ``reports/data_quality``, but only when a check's status changed
(it failed after passing, passed after failing, or ran for the first time): a run whose checks
all came out as before asks for nothing, so bookkeeping runs do not queue after every pipeline
run. The refresh is batched (one run per tick) and queued behind pipeline runs
(``dagster/priority`` -1), which it would otherwise hold up at the one ``duckdb`` slot.
"""

import warnings

import dagster as dg

from spotify_assets.defs.quality.assets import DATA_QUALITY_KEY
from spotify_assets.lib.quality.alerts import Alert, check_failed_alert, run_failed_alert
from spotify_assets.resources.alerts import AlertsResource
from spotify_assets.resources.event_log import plain_values

# A tick reads at most this many check results; the next tick goes on from the cursor.
CHECK_EVENTS_PER_TICK = 500
#: Seconds between two ticks of each alert sensor: an alert is at most this late. Each tick of
#: these two costs about 0.1 CPU s (the daemon's bookkeeping, and a DagsterInstance set up in the
#: code server for the resources and the event log): every 30 s they were 0.4 CPU s a minute of
#: an idle dg dev.
ALERT_INTERVAL_S = 120
# How far back (check results before the cursor, newest first) a tick looks for the previous
# status of the checks it read; a check without one there counts as changed.
PREVIOUS_RESULTS_LIMIT = 5_000
#: Queued behind pipeline runs: the refresh is bookkeeping.
DATA_QUALITY_RUN_TAGS = {"dagster/priority": "-1"}


def _check_evaluations(instance: dg.DagsterInstance, records_filter, **kwargs):
    """Check evaluations of every check by storage id. Dagster 1.13 has a public ``fetch_*``
    for materializations, observations and run status changes but none for check
    evaluations across checks, so this uses ``get_event_records`` (deprecated for 2.0, with
    no replacement yet) and keeps its warning out of every sensor tick."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return instance.get_event_records(records_filter, **kwargs)


def _summary(metadata: dict) -> dict[str, object]:
    """The few metadata values a reader needs in the alert (not the SQL or the examples)."""
    keep = ("violations", "parse_rate", "rows", "previous_rows", "change", "files", "value")
    return plain_values(metadata, keep)


def _deliver(context, alerts: AlertsResource, alert: Alert) -> str | None:
    """Log the alert and send it; returns an error text when delivery failed."""
    context.log.warning(alert.text)
    return alerts.send(alert)


def _root_message(error) -> str:
    """The user's error, not Dagster's wrapper ("Error occurred while executing op ..."): the
    innermost cause of the error chain."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip()


def _statuses(records) -> dict[dg.AssetCheckKey, bool]:
    """Each check's last outcome (passed) in ``records`` (oldest first)."""
    out: dict[dg.AssetCheckKey, bool] = {}
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if evaluation is not None:
            out[dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name)] = evaluation.passed
    return out


def changed_checks(
    instance: dg.DagsterInstance, statuses: dict[dg.AssetCheckKey, bool], after: int | None
) -> list[dg.AssetCheckKey]:
    """The checks of ``statuses`` whose outcome differs from their last result at or before
    storage id ``after`` (all of them on a first tick); read newest first, page by page, until
    every check has its previous result or ``PREVIOUS_RESULTS_LIMIT`` results were read."""
    if after is None:
        return list(statuses)
    previous: dict[dg.AssetCheckKey, bool] = {}
    before, read = after + 1, 0
    while len(previous) < len(statuses) and read < PREVIOUS_RESULTS_LIMIT:
        page = _check_evaluations(
            instance,
            dg.EventRecordsFilter(
                event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, before_cursor=before
            ),
            limit=CHECK_EVENTS_PER_TICK,
            ascending=False,
        )
        if not page:
            break
        for record in page:  # newest first: a check's first result here is its previous one
            for key, passed in _statuses([record]).items():
                if key in statuses and key not in previous:
                    previous[key] = passed
        read += len(page)
        before = page[-1].storage_id
    return [key for key, passed in statuses.items() if previous.get(key) is not passed]


def _run_assets(instance: dg.DagsterInstance, run) -> set[dg.AssetKey]:
    """The assets a run set out to materialize: its asset selection, or, for a run of a whole
    asset job (schedules, jobs), the assets it planned."""
    if run.asset_selection:
        return set(run.asset_selection)
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    return {
        r.event_log_entry.dagster_event.asset_key
        for r in records
        if r.event_log_entry.dagster_event and r.event_log_entry.dagster_event.asset_key
    }


@dg.sensor(
    name="check_failure_alert_sensor",
    minimum_interval_seconds=ALERT_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    target=[DATA_QUALITY_KEY],
    description="Reports every failed asset check (ERROR and WARN) to the log and the webhook, "
    "and refreshes reports/data_quality when a check changed status (batched, queued behind "
    "pipeline runs).",
)
def check_failure_alert_sensor(context: dg.SensorEvaluationContext, alerts: AlertsResource):
    after = int(context.cursor) if context.cursor else None
    try:
        records = _check_evaluations(
            context.instance,
            dg.EventRecordsFilter(
                event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=after
            ),
            limit=CHECK_EVENTS_PER_TICK,
            ascending=True,
        )
    except Exception as exc:
        if "run-sharded" not in str(exc):
            raise
        # Dagster's default SQLite storage keeps one database per run: no cross-run cursor.
        return dg.SkipReason(
            "This instance's event log is sharded by run (Dagster's default SQLite storage), "
            "so check results cannot be read across runs: use the project's dagster.yaml "
            "(ConsolidatedSqliteEventLogStorage) or Postgres."
        )
    if not records:
        return dg.SkipReason("No new check results since the last tick.")
    failed, undelivered = 0, []
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if evaluation is None or evaluation.passed:
            continue
        failed += 1
        alert = check_failed_alert(
            asset=evaluation.asset_key.to_user_string(),
            check=evaluation.check_name,
            severity=evaluation.severity.value,
            run_id=record.run_id,
            description=evaluation.description,
            details=_summary(dict(evaluation.metadata)),
            ui_url=alerts.ui_url,
        )
        error = _deliver(context, alerts, alert)
        if error:
            undelivered.append(error)
    last = records[-1].storage_id
    message = f"{len(records)} new check results, {failed} failed and reported"
    if undelivered:
        message += f"; webhook delivery failed {len(undelivered)} times: {undelivered[0]}"
    context.log.info(message)
    changed = changed_checks(context.instance, _statuses(records), after)
    context.log.info(
        f"{len(changed)} checks changed status: reports/data_quality is refreshed"
        if changed
        else "No check changed status: reports/data_quality is left as it is"
    )
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"check-results-{last}", tags=DATA_QUALITY_RUN_TAGS)]
        if changed
        else [],
        cursor=str(last),
    )


#: What Dagster says of a run failed by run monitoring or the daemon, not by its own code.
_FAILED_FROM_OUTSIDE = "marked as failed from outside the execution context"
_DEATHS = {"UNEXPECTED_TERMINATION", "RUN_WORKER_RESTART", "START_TIMEOUT"}


def _died(run: dg.DagsterRun, message: str | None) -> bool:
    """The run's worker stopped without finishing (killed, out of memory, machine lost)."""
    reason = run.tags.get("dagster/failure_reason")
    return reason in _DEATHS or _FAILED_FROM_OUTSIDE in (message or "")


def _death_note(run: dg.DagsterRun) -> str:
    reason = run.tags.get("dagster/failure_reason")
    if reason == "START_TIMEOUT":
        what = "its worker did not start in time (run_monitoring.start_timeout_seconds)"
    else:
        what = (
            "its worker process stopped without finishing: killed (SIGKILL, the OOM killer) or "
            "its machine was lost; run monitoring marked it failed"
        )
    retry = run.tags.get("dagster/will_retry")
    then = (
        "Dagster's run retries will run it again."
        if retry == "true"
        else "It will not be retried automatically: launch it again (or its assets) from the UI."
        if retry == "false"
        else "Dagster's run retries run it again if any are left (dagster.yaml run_retries)."
    )
    return f"{what}. {then}"


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    minimum_interval_seconds=ALERT_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reports every failed run (its failed steps, error and assets) to the log and "
    "the webhook.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: AlertsResource):
    run = context.dagster_run
    steps = []
    first_error = None
    for event in context.get_step_failure_events():
        steps.append(event.step_key or "?")
        data = event.event_specific_data
        if first_error is None and data is not None and getattr(data, "error", None):
            first_error = _root_message(data.error)
    if first_error is None and context.failure_event.message:
        first_error = context.failure_event.message
    if not steps and _died(run, first_error):
        first_error = _death_note(run)
    assets = sorted(key.to_user_string() for key in _run_assets(context.instance, run))
    alert = run_failed_alert(
        job=run.job_name,
        run_id=run.run_id,
        error=first_error,
        failed_steps=steps,
        assets=assets,
        ui_url=alerts.ui_url,
    )
    error = _deliver(context, alerts, alert)
    if error:
        context.log.error(f"Alert not delivered: {error}")
