"""How the graph keeps itself fresh: the automation conditions and freshness policies every
domain uses, and one automation-condition sensor for the whole graph (below: why not one per
group).

- Downstream of raw data, assets update when an upstream asset updated (``eager``), but only
  when every blocking check upstream passed: bad data stops where it is found.
  ``any_deps_missing`` is dropped from ``eager`` because the snapshot history is partitioned:
  windows before the platform was started are missing forever and must not block anything.
- Some updates are ignored on purpose, so one upstream change moves one part of the graph:
  catalog marts do not rebuild for new listening history (only ``genre_families`` reads
  ``core.streams``, for a streams count), engagement marts do not rebuild for a new snapshot
  (they read the catalog for genres and popularity, which change slowly). The dashboard
  follows ``reports/data_quality`` too: the check sensor refreshes that table only when a
  check changed status, and the page must show it (a refresh, then one redraw).
- The model retrains weekly (cron), the BI exports are refreshed hourly when a mart changed;
  both would churn if they followed every upstream change.

One automation-condition sensor evaluates the whole graph, every ``AUTOMATION_INTERVAL_S``:
``eager``'s ``any_deps_updated`` counts a parent that *will be requested* on the same tick, so
everything a change sets in motion (a landed file's ``core/streams``, the lookups and catalog
tables they need, the marts, the dashboard) is requested together, as one run, whose steps run
in dependency order and whose blocking checks still stop what follows them. A sensor per group
only sees its own group: each hop across groups then waited for another tick and another run
(a landed file went through 7 runs).
"""

import time
import warnings
from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

#: Model retraining: Mondays 04:00 UTC.
MODEL_CRON = "0 4 * * 1"
#: BI exports: hourly, when a mart changed since the last tick.
BI_EXPORT_CRON = "0 * * * *"
CRON_TIMEZONE = "UTC"
#: Every cron a condition of this module uses (on_cron adds its own): the automation sensor
#: evaluates after each of their ticks even when nothing else happened.
CRONS: set[str] = set()


def on_upstream_change(ignore: Sequence[dg.AssetKey] = ()) -> dg.AutomationCondition:
    """Eager, guarded by upstream blocking checks, not blocked by never-materialized partitions
    of a partitioned upstream. Updates of ``ignore`` do not trigger it."""
    eager = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
    if ignore:
        eager = eager.ignore(dg.AssetSelection.assets(*ignore))
    return (eager & dg.AutomationCondition.all_deps_blocking_checks_passed()).with_label(
        "eager, when upstream blocking checks passed"
    )


def on_cron(cron: str) -> dg.AutomationCondition:
    """Once after each cron tick, as soon as *any* upstream updated since the tick (and every
    blocking check upstream passed).

    Dagster's ``on_cron`` waits for *all* upstream assets to update since the tick: an asset
    reading both the 8-hourly catalog and the listening history (which moves only when exports
    land) would then almost never run. Here one updated input is enough."""
    CRONS.add(cron)
    tick = dg.AutomationCondition.cron_tick_passed(cron, cron_timezone=CRON_TIMEZONE)
    any_updated = dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.newly_updated().since(tick)
        | dg.AutomationCondition.will_be_requested()
    ).with_label(f"any_deps_updated_since_cron({cron}, {CRON_TIMEZONE})")
    return (
        dg.AutomationCondition.on_cron(cron, cron_timezone=CRON_TIMEZONE).replace(
            f"all_deps_updated_since_cron({cron}, {CRON_TIMEZONE})", any_updated
        )
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label(f"on cron {cron} ({CRON_TIMEZONE}), when any upstream updated")


# Freshness: what "stale" means for each kind of asset, matching what updates it.
#: Snapshots every 8 hours: a catalog table or mart is late after one missed window and failing
#: after two.
CATALOG_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=17), warn_window=timedelta(hours=9)
)
#: Listening history arrives as exports that people request (Spotify sends them within days to
#: weeks): a week without a new file is worth a look, a month is failing.
LISTENING_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(days=31), warn_window=timedelta(days=8)
)
#: Weekly retraining, with a day of slack.
MODEL_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(days=8), warn_window=timedelta(days=7, hours=6)
)
#: Hourly exports.
EXPORT_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=2)
)


#: Seconds between ticks: a change waits at most this long (plus the daemon's 5 s loop) before
#: its downstream run is requested. One evaluation of the whole graph takes 1-2 CPU s: evaluated
#: at every tick it was 5-6 of dg dev's 10 CPU s a minute while idle; gated (below), an idle
#: tick costs what any sensor tick costs (about 0.07 CPU s, mostly the daemon's bookkeeping).
AUTOMATION_INTERVAL_S = 10
#: Without anything new, the graph is evaluated again at least this often anyway.
FULL_EVALUATION_EVERY_S = 30 * 60
#: The events that can change a condition: an asset's (materialized, observed, failed, planned
#: by a new run: in progress, wiped), a check's result, a run's end. A run's other events (its
#: steps' starts, outputs, logs) cannot: evaluating the graph for them cost 1-2 CPU s at every
#: tick of a long run, taken from the run itself on a small machine. Those of a run still in
#: progress wait for its end (below).
GATE_EVENT_TYPES = (
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_OBSERVATION,
    dg.DagsterEventType.ASSET_FAILED_TO_MATERIALIZE,
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_WIPED,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
)


#: Events of one type read per tick to tell whose they are; more than that opens the gate.
_GATE_EVENTS_READ = 500


class _Gate:
    """When an evaluation of the graph can find something new: the event log moved by an event
    of :data:`GATE_EVENT_TYPES` (an asset was materialized or observed, a check evaluated, a
    run ended) reported from outside any run or by a run that has ended, a cron tick or a time
    partition's boundary passed, or the last evaluation is old. Kept in the code server's
    memory: a new code server (a reload, a restart) evaluates at its first tick."""

    def __init__(self) -> None:
        # (newest event id looked at, last evaluated at)
        self.last: tuple[int | None, float] | None = None
        self._instance: dg.DagsterInstance | None = None
        self._crons: tuple[str, ...] | None = None

    def instance(self, context: dg.SensorEvaluationContext) -> dg.DagsterInstance:
        # context.instance would set up a new instance (storage, migration checks) each tick.
        if context.instance_ref is None:  # a test's context
            return context.instance
        if self._instance is None:
            self._instance = dg.DagsterInstance.from_ref(context.instance_ref)
        return self._instance

    def crons(self, context: dg.SensorEvaluationContext) -> tuple[str, ...]:
        if self._crons is None:
            found = set(CRONS)
            repository = context.repository_def
            for node in repository.asset_graph.asset_nodes if repository else ():
                cron = getattr(node.partitions_def, "cron_schedule", None)
                if cron:
                    found.add(cron)
            self._crons = tuple(sorted(found))
        return self._crons

    def moved(self, context: dg.SensorEvaluationContext, since: int | None) -> bool:
        """Whether an event of :data:`GATE_EVENT_TYPES` was written after event id ``since`` by
        no run (reported from outside) or by a run that has ended (its end is one of them).

        The events of a run still in progress wait for its end: what it materializes can move
        assets outside it, but evaluated while it runs, the graph's evaluations (1-2 CPU s
        each, one per tick) and the runs they launch take the cores from it (a year of charts:
        its chart marts 22 s instead of 17 s), and what follows its last assets waits for its
        end anyway. So a run's downstream is requested at its end, in one run; runs that end
        and runless events still open the gate while another run goes on for hours, and every
        ``FULL_EVALUATION_EVERY_S`` the graph is evaluated anyway."""
        instance = self.instance(context)
        runs: set[str] = set()
        try:
            for event_type in GATE_EVENT_TYPES:
                entries = instance.event_log_storage.get_logs_for_all_runs_by_log_id(
                    after_cursor=-1 if since is None else since,
                    dagster_event_type=event_type,
                    limit=_GATE_EVENTS_READ,
                )
                if len(entries) >= _GATE_EVENTS_READ:
                    return True
                for entry in entries.values():
                    if not entry.run_id:
                        return True
                    runs.add(entry.run_id)
        except NotImplementedError:  # an event log sharded by run: any event counts
            return True
        if not runs:
            return False
        found = {
            r.dagster_run.run_id: r.dagster_run
            for r in instance.get_run_records(filters=dg.RunsFilter(run_ids=sorted(runs)))
        }
        return any(run_id not in found or found[run_id].is_finished for run_id in runs)

    def skip_reason(self, context: dg.SensorEvaluationContext, newest: int | None) -> str | None:
        """Why this tick need not evaluate the graph, or None. The event log having moved only
        by a run's own events moves the gate's mark on, not the time of the last evaluation."""
        from dagster._utils.schedules import cron_string_iterator  # no public equivalent

        if self.last is None:
            return None
        last_newest, evaluated_at = self.last
        now = time.time()
        if now - evaluated_at >= FULL_EVALUATION_EVERY_S:
            return None
        if newest != last_newest:
            if self.moved(context, last_newest):
                return None
            self.last = (newest, evaluated_at)
        for cron in self.crons(context):
            if next(cron_string_iterator(evaluated_at, cron, CRON_TIMEZONE)).timestamp() <= now:
                return None
        return f"Nothing new since the last evaluation (event log at {newest})"


class GatedAutomationConditionSensor(dg.AutomationConditionSensorDefinition):
    """An automation-condition sensor evaluated in the code server (``use_user_code_server``)
    whose ticks evaluate the graph only when :class:`_Gate` says something may have changed:
    an idle tick costs one ``max(id)`` query instead of a whole evaluation (1-2 CPU s)."""

    def __init__(self, name: str, **kwargs) -> None:
        with warnings.catch_warnings():  # the parameter is beta in Dagster 1.13
            warnings.simplefilter("ignore", dg.BetaWarning)
            super().__init__(name, use_user_code_server=True, **kwargs)
        gate, evaluate = _Gate(), self._evaluation_fn  # Dagster's own evaluation

        def gated(context: dg.SensorEvaluationContext):
            newest = gate.instance(context).event_log_storage.get_maximum_record_id()
            reason = gate.skip_reason(context, newest)
            if reason:
                return [dg.SkipReason(reason)]
            result = evaluate(context)
            gate.last = (newest, time.time())
            return result

        self._evaluation_fn = gated


automation_sensor = GatedAutomationConditionSensor(
    "automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=AUTOMATION_INTERVAL_S,
    description="Evaluates every asset's automation condition: what a landed file, a snapshot "
    "or a cron tick sets in motion is requested together, as one run (the core tables, the "
    "lookups, the marts, the dashboard); the model weekly, the BI exports hourly. A tick "
    "evaluates only when the event log moved or a cron tick passed since the last evaluation.",
)
