"""The registry of warehouse tables is found from the definitions: a table added anywhere gets
the table-wide checks, the data-quality view covers them, and the reports follow the marts,
without any other module listing it."""

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.definitions import with_warehouse_wide_definitions
from spotify_assets.defs.marts.assets import CATALOG_MARTS, ENGAGEMENT_MARTS, LISTENER_MARTS
from spotify_assets.defs.marts.factory import mart_assets, mart_key
from spotify_assets.defs.quality.assets import DATA_QUALITY_KEY
from spotify_assets.defs.quality.table_checks import ROW_COUNT_CHECK, SCHEMA_CHANGE_CHECK
from spotify_assets.defs.warehouse_tables import warehouse_tables
from spotify_assets.lib.marts.spec import Mart
from spotify_assets.resources import AlertsResource, LakeResource, WarehouseIOManager

TOY_KEY = dg.AssetKey(["core", "toy_plays"])


class ToyConfig(dg.Config):
    rows: int = 10


@dg.asset(key=TOY_KEY, io_manager_key="warehouse_io_manager", kinds={"duckdb", "pandas"})
def toy_plays(config: ToyConfig) -> pd.DataFrame:
    return pd.DataFrame({"play_id": range(config.rows)})


@dg.asset(key=["raw", "toy_files"], kinds={"json"})
def toy_files() -> None:
    """Not in a warehouse schema: not a table."""


def _resources(root) -> dict:
    database = str(root / "w.duckdb")
    return {
        "warehouse_io_manager": WarehouseIOManager(database=database),
        "warehouse": DuckDBResource(database=database),
        "lake": LakeResource(url=str(root / "lake")),
        "alerts": AlertsResource(),  # the dashboard links to the UI at its ui_url
    }


def test_the_code_locations_tables_are_found_from_its_definitions():
    from spotify_assets.definitions import defs

    tables = {t.table: t for t in warehouse_tables(defs)}
    # Written by the warehouse IO manager, or built in SQL by their own step.
    assert {
        "core.tracks",
        "core.streams",
        "marts.daily_engagement",
        "ml.popularity_features",
    } <= set(tables)
    assert tables["marts.candidate_hits"].group == "ml"
    # Not DuckDB tables: the lake's raw area, the pickled model, the files the reports write.
    for name in ("raw.playlist_snapshots", "ml.popularity_model", "reports.bi_exports"):
        assert name not in tables
    # Every table the domains define has the table-wide schema check.
    checks = defs.get_repository_def().asset_graph.asset_check_keys
    for table in tables.values():
        if table.key != DATA_QUALITY_KEY:  # built over every check, after them
            assert dg.AssetCheckKey(table.key, SCHEMA_CHANGE_CHECK) in checks, table.table


def test_a_new_warehouse_table_gets_the_table_wide_checks(tmp_path):
    defs = with_warehouse_wide_definitions(
        dg.Definitions(
            assets=[toy_plays, toy_files],
            jobs=[
                dg.define_asset_job("toy", selection=[TOY_KEY]),
                dg.define_asset_job("quality", selection=[DATA_QUALITY_KEY]),
            ],
            resources=_resources(tmp_path),
        )
    )
    checks = defs.get_repository_def().asset_graph.asset_check_keys
    assert {c for c in checks if c.asset_key == TOY_KEY} == {
        dg.AssetCheckKey(TOY_KEY, ROW_COUNT_CHECK),
        dg.AssetCheckKey(TOY_KEY, SCHEMA_CHANGE_CHECK),
    }
    assert not [c for c in checks if c.asset_key.path[0] == "raw"]
    # And they run with the table: losing more than half the rows fails the blocking check.
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("toy")
    for rows, passed in ((10, True), (3, False)):
        result = job.execute_in_process(
            instance=instance,
            run_config={"ops": {"core__toy_plays": {"config": {"rows": rows}}}},
            raise_on_error=False,
        )
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert set(evaluations) == {ROW_COUNT_CHECK, SCHEMA_CHANGE_CHECK}
        assert evaluations[ROW_COUNT_CHECK].passed is passed
        assert evaluations[SCHEMA_CHANGE_CHECK].passed
    # The data-quality view reports them.
    assert defs.resolve_job_def("quality").execute_in_process(instance=instance).success
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as conn:
        rows = conn.execute(
            "select check_name, status from reports.data_quality where asset_key = ? "
            "order by check_name",
            [TOY_KEY.to_user_string()],
        ).fetchall()
    assert rows == [(SCHEMA_CHANGE_CHECK, "passed"), (ROW_COUNT_CHECK, "failed")]


def test_the_reports_follow_the_marts_of_the_registry(tmp_path):
    toy_mart = Mart(
        name="toy_mart",
        description="A toy mart.",
        sql="select 1 as id",
        columns={"id": "The row"},
        reads=(),
        key=("id",),
    )
    marts = mart_assets("toy_marts", [toy_mart], group="marts", description="toy")
    defs = with_warehouse_wide_definitions(
        dg.Definitions(assets=[marts], resources=_resources(tmp_path))
    )
    graph = defs.get_repository_def().asset_graph
    assert mart_key(toy_mart) in graph.get(dg.AssetKey(["reports", "bi_exports"])).parent_keys
    assert mart_key(toy_mart) in graph.get(dg.AssetKey(["reports", "dashboard"])).parent_keys
    # The mart checks its own row count inline: no second check of the same name.
    assert dg.AssetCheckKey(mart_key(toy_mart), ROW_COUNT_CHECK) in graph.asset_check_keys


def test_the_bi_exports_are_every_mart_but_the_models_candidate_hits():
    from spotify_assets.definitions import defs
    from spotify_assets.lib.marts.chart_marts import MARTS as CHART_MARTS

    graph = defs.get_repository_def().asset_graph
    exported = graph.get(dg.AssetKey(["reports", "bi_exports"])).parent_keys
    assert exported == {
        mart_key(m) for m in [*CATALOG_MARTS, *ENGAGEMENT_MARTS, *LISTENER_MARTS, *CHART_MARTS]
    }
    assert dg.AssetKey(["marts", "candidate_hits"]) not in exported


def test_a_mart_carries_its_own_row_key():
    from spotify_assets.definitions import defs

    # Every mart's key is checked after each build, or its SQL makes it unique by construction.
    checks = defs.get_repository_def().asset_graph.asset_check_keys
    for m in [*CATALOG_MARTS, *ENGAGEMENT_MARTS, *LISTENER_MARTS]:
        checked = dg.AssetCheckKey(mart_key(m), "key_unique_not_null") in checks
        assert checked != m.key_by_construction, m.name
    spec = dict(name="no_key", description="d", sql="select 1 as a", columns={"a": "x"}, reads=())
    with pytest.raises(TypeError, match="key"):
        Mart(**spec)
    with pytest.raises(ValueError, match="mart no_key: key is empty"):
        Mart(**spec, key=())
    with pytest.raises(ValueError, match=r"mart no_key: key columns \['b'\] are not in"):
        Mart(**spec, key=("b",))
