"""Declarative automation: the project's conditions (``on_upstream_change``, ``on_cron``)
evaluated on toy assets, then the real graph's wiring (conditions, freshness, one sensor for
the whole graph) and what a landed file or a new ``core/streams`` sets in motion, with
``dg.evaluate_automation_conditions`` on an ephemeral instance.

Evaluation times are set explicitly, a day ahead of the clock: a cron condition's result
then depends on the test, not on the minute it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests

from spotify_assets.defs.automation import (
    AUTOMATION_INTERVAL_S,
    BI_EXPORT_CRON,
    on_cron,
    on_upstream_change,
)
from spotify_assets.defs.catalog.assets import SNAPSHOT_PARTITIONS
from spotify_assets.defs.listening.history_files import STREAMING_HISTORY
from spotify_assets.defs.marts.assets import CATALOG_MART_KEYS, ENGAGEMENT_MART_KEYS
from spotify_assets.defs.quality.assets import DATA_QUALITY_KEY

pytestmark = pytest.mark.slow  # materializes assets with real resources

# A whole hour a day ahead: no cron tick of the real clock interferes.
HOUR = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


def at(minutes: int) -> datetime:
    return HOUR + timedelta(minutes=minutes)


class Evaluator:
    """Evaluates like the daemon: the cursor carries over from one tick to the next."""

    def __init__(self, defs, selection: dg.AssetSelection | None = None) -> None:
        self.defs = defs
        self.selection = selection
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor = None
        self.run_requests: list = []

    def tick(self, minutes: int = 0) -> set[str]:
        """The keys requested at ``at(minutes)``, as user strings."""
        result = dg.evaluate_automation_conditions(
            defs=self.defs,
            instance=self.instance,
            cursor=self.cursor,
            evaluation_time=at(minutes),
            asset_selection=self.selection,
        )
        self.cursor = result.cursor
        graph = (
            self.defs.resolve_asset_graph()
            if isinstance(self.defs, dg.Definitions)
            else dg.Definitions(assets=self.defs).resolve_asset_graph()
        )
        # The runs the daemon would launch for this tick (Dagster's own grouping).
        self.run_requests = build_run_requests(
            [r.true_subset for r in result.results if not r.true_subset.is_empty],
            graph,
            run_tags=None,
            emit_backfills=False,
        )
        return {
            key.to_user_string()
            for key in graph.get_all_asset_keys()
            if result.get_num_requested(key)
        }


# --- toy assets carrying the project's conditions ----------------------------------------


@dg.asset(partitions_def=SNAPSHOT_PARTITIONS)
def snapshots(): ...


@dg.asset(deps=[snapshots], automation_condition=on_upstream_change())
def table_from_snapshots(): ...


@dg.asset(deps=[snapshots], automation_condition=dg.AutomationCondition.eager())
def eager_from_snapshots(): ...


def test_one_materialized_window_triggers_the_unpartitioned_downstream_once():
    ev = Evaluator([snapshots, table_from_snapshots, eager_from_snapshots])
    assert ev.tick(0) == set()  # nothing upstream yet
    # One 8-hour window of the hundreds since 2026-01-01: the others stay missing forever.
    dg.materialize([snapshots], instance=ev.instance, partition_key="2026-06-01-08:00")
    # Dagster's eager() would wait for the missing windows; on_upstream_change() does not.
    assert ev.tick(1) == {"table_from_snapshots"}
    assert ev.tick(2) == set()  # requested once, not again
    dg.materialize([snapshots], instance=ev.instance, partition_key="2026-06-01-16:00")
    assert ev.tick(3) == {"table_from_snapshots"}  # the next window: once more


class Switch:
    passed = False


@dg.asset(check_specs=[dg.AssetCheckSpec("valid", asset="checked", blocking=True)])
def checked():
    yield dg.Output(1)
    yield dg.AssetCheckResult(check_name="valid", passed=Switch.passed)


@dg.asset(deps=[checked], automation_condition=on_upstream_change())
def guarded(): ...


@dg.asset(deps=[checked], automation_condition=dg.AutomationCondition.eager())
def unguarded(): ...


def test_failed_blocking_check_upstream_stops_the_downstream_until_it_passes():
    ev = Evaluator([checked, guarded, unguarded])
    ev.tick(0)
    Switch.passed = False
    try:
        assert not dg.materialize([checked], instance=ev.instance, raise_on_error=False).success
        # The update is there (plain eager() would go), the failed check stops it.
        assert ev.tick(1) == {"unguarded"}
        assert ev.tick(2) == set()
        Switch.passed = True
        assert dg.materialize([checked], instance=ev.instance).success
        assert ev.tick(3) == {"guarded", "unguarded"}
        assert ev.tick(4) == set()
    finally:
        Switch.passed = False


@dg.asset(check_specs=[dg.AssetCheckSpec("valid", asset="unchecked_yet", blocking=True)])
def unchecked_yet(): ...


@dg.asset(deps=[unchecked_yet], automation_condition=on_upstream_change())
def waits_for_a_result(): ...


def test_a_blocking_check_that_never_ran_counts_as_not_passed():
    ev = Evaluator([unchecked_yet, waits_for_a_result])
    ev.tick(0)
    # Updated without its check (a runless report): the downstream waits for a result.
    ev.instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="unchecked_yet"))
    assert ev.tick(1) == set()
    ev.instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("unchecked_yet"), check_name="valid", passed=True
        )
    )
    assert ev.tick(2) == {"waits_for_a_result"}


@dg.asset
def landed(): ...


@dg.asset(
    deps=[landed],
    automation_condition=on_upstream_change(),
    check_specs=[dg.AssetCheckSpec("valid", asset="parsed", blocking=True)],
)
def parsed():
    yield dg.Output(1)
    yield dg.AssetCheckResult(check_name="valid", passed=Switch.passed)


@dg.asset(deps=[parsed], automation_condition=on_upstream_change())
def reported(): ...


def test_a_change_and_its_downstream_are_one_run_and_a_failed_check_still_stops_it():
    ev = Evaluator([landed, parsed, reported])
    Switch.passed = True
    try:
        dg.materialize([landed, parsed, reported], instance=ev.instance)
        assert ev.tick(0) == set()
        dg.materialize([landed], instance=ev.instance)
        # The parent will be requested on this tick, so the child goes with it: one run.
        assert ev.tick(1) == {"parsed", "reported"}
        (request,) = ev.run_requests
        assert set(request.asset_selection) == {dg.AssetKey("parsed"), dg.AssetKey("reported")}
        Switch.passed = False  # the run finds bad data: its blocking check fails
        run = dg.materialize(
            [landed, parsed, reported],
            selection=[parsed, reported],
            instance=ev.instance,
            raise_on_error=False,
        )
        assert not run.success
        assert ev.instance.get_latest_materialization_event(dg.AssetKey("parsed")).run_id == (
            run.run_id
        )
        # The check stopped the child inside the run, and it is not requested again for it.
        assert ev.instance.get_latest_materialization_event(dg.AssetKey("reported")).run_id != (
            run.run_id
        )
        assert ev.tick(2) == set()
        Switch.passed = True  # fixed: the next change goes all the way again
        dg.materialize([landed], instance=ev.instance)
        assert ev.tick(3) == {"parsed", "reported"}
    finally:
        Switch.passed = False


@dg.asset
def followed(): ...


@dg.asset
def ignored(): ...


@dg.asset(
    deps=[followed, ignored],
    automation_condition=on_upstream_change(ignore=[dg.AssetKey("ignored")]),
)
def selective(): ...


def test_an_ignored_dependency_does_not_trigger():
    ev = Evaluator([followed, ignored, selective])
    dg.materialize([followed, ignored, selective], instance=ev.instance)
    assert ev.tick(0) == set()
    dg.materialize([ignored], instance=ev.instance)
    assert ev.tick(1) == set()
    assert ev.tick(2) == set()  # not postponed either
    dg.materialize([followed], instance=ev.instance)
    assert ev.tick(3) == {"selective"}
    assert ev.tick(4) == set()


@dg.asset
def source(): ...


@dg.asset(deps=[source], automation_condition=on_cron("0 * * * *"))
def hourly(): ...


def test_on_cron_requests_after_a_tick_once_deps_updated():
    ev = Evaluator([source, hourly])
    assert ev.tick(10) == set()
    dg.materialize([source], instance=ev.instance)
    assert ev.tick(20) == set()  # updated, but no tick passed since the last evaluation
    # 01:05: the 01:00 tick passed, but the update (00:20) is older than the tick.
    assert ev.tick(65) == set()
    dg.materialize([source], instance=ev.instance)
    assert ev.tick(70) == {"hourly"}  # tick passed and deps updated since
    assert ev.tick(75) == set()  # once per tick
    dg.materialize([source], instance=ev.instance)
    assert ev.tick(80) == set()  # once per tick, even with a newer update
    # 02:05: the 02:00 tick passed, but the last update (01:20) is older than it.
    assert ev.tick(125) == set()
    dg.materialize([source], instance=ev.instance)
    assert ev.tick(130) == {"hourly"}


# --- the real graph ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from spotify_assets.definitions import defs

    return defs


@pytest.fixture(scope="module")
def graph(defs):
    return defs.resolve_asset_graph()


def test_every_downstream_asset_has_a_condition_and_freshness(graph):
    nodes = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    automated = {
        name
        for name, node in nodes.items()
        if node.group_name in ("marts", "ml", "reports")
        or (name.startswith("core/") and node.partitions_def is None)
    } - {DATA_QUALITY_KEY.to_user_string()}  # requested by the check sensor
    # The core tables: the unpartitioned ones of the catalog, listening, charts and landing.
    assert {n for n in automated if n.startswith("core/")} == {
        "core/tracks",
        "core/albums",
        "core/track_artists",
        "core/unresolved_track_artists",
        "core/track_audio_features",
        "core/playlists",
        "core/artists",
        "core/artist_genres",
        "core/streams",
        "core/listeners",
        "core/rejected_stream_records",
        "core/landing_files",
        "core/chart_entries",
        "core/rejected_chart_rows",
        "core/track_name_matches",
        "core/rejected_catalog_dataset_rows",
    }
    assert len(automated) > 30
    assert sorted(n for n in automated if nodes[n].automation_condition is None) == []
    assert nodes[DATA_QUALITY_KEY.to_user_string()].automation_condition is None
    fresh = {n for n, node in nodes.items() if node.group_name in ("marts", "ml")} | {
        "reports/dashboard"
    }
    assert sorted(n for n in fresh if nodes[n].freshness_policy is None) == []


def test_one_running_automation_sensor_covers_every_condition(defs, graph):
    sensors = [s for s in defs.sensors if isinstance(s, dg.AutomationConditionSensorDefinition)]
    assert [s.name for s in sensors] == ["automation_sensor"]
    (sensor,) = sensors
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == AUTOMATION_INTERVAL_S <= 15
    conditioned = {k for k in graph.get_all_asset_keys() if graph.get(k).automation_condition}
    # Every conditioned asset is evaluated by it (none by Dagster's default sensor), so a
    # change and everything downstream of it are requested on one tick.
    assert conditioned <= sensor.asset_selection.resolve(graph)


class RealGraph(Evaluator):
    """The real definitions, every asset (or ``keys``) and its checks reported once (nothing
    missing, every blocking check passed), so a later report is the only change."""

    WINDOW = "2026-06-01-08:00"
    FILE = "20240101T000000Z-aaaaaa"  # a batch of landed files

    def __init__(self, defs, selection=None, keys=None) -> None:
        super().__init__(defs, selection)
        self.graph = defs.resolve_asset_graph()
        self.instance.add_dynamic_partitions(STREAMING_HISTORY.partitions.name, [self.FILE])
        self.report(self.graph.get_all_asset_keys() if keys is None else keys)

    def partition(self, key: dg.AssetKey) -> str | None:
        partitions_def = self.graph.get(key).partitions_def
        if partitions_def is None:
            return None
        return self.FILE if partitions_def == STREAMING_HISTORY.partitions else self.WINDOW

    def report(self, keys) -> None:
        """What a successful run of ``keys`` records: materializations, then passed checks
        (a blocking check must pass on the latest materialization, or downstream waits)."""
        keys = set(keys)
        for key in keys:
            self.instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=key, partition=self.partition(key))
            )
        for check in self.graph.asset_check_keys:
            if check.asset_key in keys:
                self.instance.report_runless_asset_event(
                    dg.AssetCheckEvaluation(
                        asset_key=check.asset_key,
                        check_name=check.name,
                        passed=True,
                        partition=self.partition(check.asset_key),
                    )
                )


STREAMS_RUN = [
    dg.AssetKey(["core", n]) for n in ("streams", "listeners", "rejected_stream_records")
]


def test_new_listening_history_moves_the_engagement_side_and_the_lookups(defs):
    ev = RealGraph(defs)
    assert ev.tick(5) == set()  # everything is there: nothing to do
    # core/streams is built with core/listeners and core/rejected_stream_records (one
    # step, can_subset=False): a run records all three.
    ev.report(STREAMS_RUN)
    requested = ev.tick(10)
    engagement = {k.to_user_string() for k in ENGAGEMENT_MART_KEYS}
    assert engagement <= requested
    # The dashboard follows the marts in the same evaluation (one evaluation of the whole
    # graph; the reports sensor alone would request it once the marts have landed).
    assert "reports/dashboard" in requested
    # New plays may reference tracks the catalog does not know: the lookups run, and the
    # catalog tables and marts they feed follow them.
    assert "raw/catalog_lookups" in requested
    assert {"core/tracks", "core/artists"} <= requested
    assert not {r for r in requested if r.startswith("ml/")}  # weekly cron; not re-run
    assert "reports/bi_exports" not in requested  # its hourly cron
    assert not {r for r in requested if "chart" in r or r.startswith("raw/streaming")}
    assert ev.tick(15) == set()  # requested once
    # Then a new snapshot reaches core/tracks: the catalog side moves, not the engagement one.
    ev.report([dg.AssetKey(["core", "tracks"])])
    catalog = {k.to_user_string() for k in CATALOG_MART_KEYS}
    # Every catalog mart reads core/tracks except popularity_vs_followers (core/artists);
    # marts/candidate_hits reads it for track names.
    assert ev.tick(20) == (catalog - {"marts/popularity_vs_followers"}) | {
        "reports/dashboard",
        "marts/candidate_hits",
    }


def test_a_landed_file_brings_its_whole_downstream_in_one_run(defs):
    sensor = next(s for s in defs.sensors if s.name == "automation_sensor")
    ev = RealGraph(defs, selection=sensor.asset_selection)
    assert ev.tick(5) == set()
    # One more listener's file lands: the landing sensor adds its batch, its run ingests it.
    ev.FILE = "20250101T000000Z-bbbbbb"
    ev.instance.add_dynamic_partitions(STREAMING_HISTORY.partitions.name, [ev.FILE])
    ev.report([STREAMING_HISTORY.key])
    requested = ev.tick(10)
    engagement = {k.to_user_string() for k in ENGAGEMENT_MART_KEYS}
    assert {"core/streams", "core/landing_files", "raw/catalog_lookups"} <= requested
    assert engagement | {"reports/dashboard", "core/tracks"} <= requested
    assert not {r for r in requested if r.startswith("ml/") or "chart" in r}
    # One run (all unpartitioned): no hop waits for another tick or another run worker.
    (request,) = ev.run_requests
    assert {k.to_user_string() for k in request.asset_selection} == requested
    assert ev.tick(15) == set()  # requested once


def test_a_batch_with_a_held_file_still_brings_the_others_to_the_dashboard(defs):
    """One listener's bad file and another's good one in one batch: the batch's file check
    fails (ERROR), but it holds out that file alone, so core/streams and the dashboard follow
    on the same tick (a blocking check here stopped the good file's plays for minutes)."""
    sensor = next(s for s in defs.sensors if s.name == "automation_sensor")
    ev = RealGraph(defs, selection=sensor.asset_selection)
    assert ev.tick(5) == set()
    ev.FILE = "20250101T000000Z-cccccc"
    ev.instance.add_dynamic_partitions(STREAMING_HISTORY.partitions.name, [ev.FILE])
    ev.instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=STREAMING_HISTORY.key, partition=ev.FILE)
    )
    for check in ("parse_rate", "plays_plausible"):
        ev.instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=STREAMING_HISTORY.key,
                check_name=check,
                passed=check == "parse_rate",
                severity=dg.AssetCheckSeverity.ERROR,
                partition=ev.FILE,
            )
        )
    requested = ev.tick(10)
    assert {"core/streams", "reports/dashboard"} <= requested


def test_bi_exports_refresh_after_the_next_tick_when_a_mart_changed(defs):
    assert BI_EXPORT_CRON == "0 * * * *"
    bi_exports = dg.AssetKey(["reports", "bi_exports"])
    # What bi_exports sees: its marts and itself.
    parents = defs.resolve_asset_graph().get(bi_exports).parent_keys
    ev = RealGraph(
        defs, selection=dg.AssetSelection.assets(bi_exports), keys=[*parents, bi_exports]
    )
    assert ev.tick(5) == set()
    assert ev.tick(65) == set()  # the 01:00 tick: nothing changed
    ev.report(ENGAGEMENT_MART_KEYS)  # new listening history reached the marts at 01:10
    requested = {m for minutes in (70, 125, 130) for m in ev.tick(minutes)}
    assert requested == {"reports/bi_exports"}


def test_weekly_retraining_follows_the_catalog_without_new_listening_history(defs, graph):
    features = dg.AssetKey(["ml", "popularity_features"])
    parents = graph.get(features).parent_keys
    ev = RealGraph(defs, selection=dg.AssetSelection.assets(features), keys=[*parents, features])
    # Minutes from HOUR (the current hour, tomorrow) to the next Monday's 04:00 UTC tick.
    next_monday = (HOUR + timedelta(days=(7 - HOUR.weekday()) % 7 or 7)).replace(hour=4)
    monday = int((next_monday - HOUR).total_seconds() // 60)
    assert ev.tick(monday - 60) == set()
    assert ev.tick(monday + 5) == set()  # the tick: nothing new yet
    ev.WINDOW = "2026-06-01-16:00"  # the next snapshot window (a new partition)
    ev.report(parents - {dg.AssetKey(["core", "streams"])})  # a new snapshot, no new export
    assert ev.tick(monday + 10) | ev.tick(monday + 3 * 24 * 60) == {"ml/popularity_features"}


def test_refreshed_check_results_redraw_the_dashboard(defs):
    """Issue 26: the page drawn at 09:58 said '0 failed' for a check that failed at 09:57,
    because new check results never redrew it. The check sensor refreshes
    reports/data_quality when a check changed status; the dashboard follows that refresh."""
    ev = RealGraph(defs)
    assert ev.tick(5) == set()
    ev.report([DATA_QUALITY_KEY])
    assert ev.tick(10) == {"reports/dashboard"}
    assert ev.tick(15) == set()  # once
