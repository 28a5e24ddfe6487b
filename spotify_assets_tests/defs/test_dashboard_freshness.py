"""The dashboard shows the latest check results (issue 26): a check planned in the run that
collects the results shows its latest result, not 'not run' (covers_every_check stayed 'not
run' for good, and the dashboard's own check showed 'not run' after passing); every declared
check says what it checks in whole words; ``make demo`` names the UI where it is."""

import re

import dagster as dg

from spotify_assets.defs.quality.assets import check_results
from spotify_assets.demo import see_it
from spotify_assets.settings import load_settings

SEEN: list = []
BROKEN: list[bool] = []
COLLECTOR = dg.AssetCheckKey(dg.AssetKey("collector"), "covers")
PAGE = dg.AssetCheckKey(dg.AssetKey("page"), "written")
SPECS = {
    COLLECTOR: dg.AssetCheckSpec("covers", asset="collector", blocking=True),
    PAGE: dg.AssetCheckSpec("written", asset="page", blocking=True),
}


@dg.asset(check_specs=[SPECS[COLLECTOR]])
def collector(context: dg.AssetExecutionContext):
    """Like reports/data_quality: reads the results while its own check is planned."""
    SEEN.append(check_results(context.instance, SPECS, context.run.run_id))
    yield dg.Output(1)
    yield dg.AssetCheckResult(check_name="covers", passed=True)


@dg.asset(deps=[collector], check_specs=[SPECS[PAGE]])
def page():
    """Like reports/dashboard, drawn after the collector in the same run (dashboard_job)."""
    if BROKEN:
        raise RuntimeError("the page's worker died")
    yield dg.Output(1)
    yield dg.AssetCheckResult(check_name="written", passed=True)


def statuses(frame) -> dict[str, str]:
    return dict(zip(frame["check_name"], frame["status"], strict=True))


def test_checks_planned_in_the_collecting_run_show_their_latest_result():
    SEEN.clear()
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(3):
        assert dg.materialize([collector, page], instance=instance).success
    first, second, third = (statuses(f) for f in SEEN)
    # The first time, both run after the table is written: pending, not 'never run'.
    assert first == {"covers": "pending", "written": "pending"}
    assert second == third == {"covers": "passed", "written": "passed"}
    # Read from outside the run (no run id), a planned result is 'not run' as before: a run
    # that planned a check and stopped before it ran.
    assert statuses(check_results(instance, SPECS)) == {"covers": "passed", "written": "passed"}


def test_a_check_another_run_planned_and_never_ran_is_not_run():
    SEEN.clear()
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([collector, page], instance=instance).success
    BROKEN.append(True)
    try:
        broken = dg.materialize([collector, page], instance=instance, raise_on_error=False)
        assert not broken.success
    finally:
        BROKEN.clear()
    dg.materialize([collector], instance=instance)
    assert statuses(SEEN[-1]) == {"covers": "passed", "written": "not run"}


def test_every_check_of_the_code_location_describes_itself_in_whole_words():
    from spotify_assets.definitions import defs
    from spotify_assets.defs.quality.assets import check_specs_of

    descriptions = [(s.key.to_user_string(), s.description or "") for s in check_specs_of(defs)]
    assert len(descriptions) > 100
    half_written = [(k, d) for k, d in descriptions if re.search(r"\[[^\]]*, \]|\[, ", d)]
    assert half_written == []
    bounds = {k: d for k, d in descriptions if k.endswith(("followers_in_range",))}
    assert bounds == {
        "core/artists:artists_followers_in_range": (
            "core.artists.followers is at least 0 when present"
        )
    }


def test_make_demo_names_the_ui_where_dagster_port_puts_it(monkeypatch):
    monkeypatch.setenv("DAGSTER_PORT", "3456")
    assert see_it(load_settings()).endswith("http://127.0.0.1:3456")
    monkeypatch.setenv("SPOTIFY_UI_URL", "https://dagster.example.org/")
    assert see_it(load_settings()).endswith("open https://dagster.example.org")
