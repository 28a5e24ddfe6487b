"""The lakehouse's Dagster side: the same assets, the lakehouse resources swapped in. A step
commits its outputs with their snapshot ids in the materializations, a check only reads, a
conflict makes the step compute again (never a lost update), a partition replaces only its
rows, and the sensor publishes a successful run's snapshots for readers."""

from datetime import datetime

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.environment import build_resources
from spotify_assets.defs.lakehouse import lakehouse_publish_sensor
from spotify_assets.defs.warehouse_tables import warehouse_asset
from spotify_assets.lib.lakehouse import attach_published, open_session, published
from spotify_assets.resources import lakehouse as lakehouse_module
from spotify_assets.resources.lakehouse import (
    ALSO_COMMITTED,
    SNAPSHOT_ID,
    STORED_IN,
    LakehouseCatalog,
    LakehouseWarehouseResource,
    publish_run,
)
from spotify_assets.resources.lakehouse_frames import LakehouseIOManager
from spotify_assets.settings import SettingsError, load_settings

pytestmark = pytest.mark.slow  # materializes assets with real resources


@pytest.fixture
def lakehouse(tmp_path) -> LakehouseCatalog:
    return LakehouseCatalog(
        iceberg_catalog_uri=f"sqlite:///{tmp_path / 'catalog.db'}",
        iceberg_warehouse=(tmp_path / "lakehouse").as_uri(),
    )


def resources(lakehouse: LakehouseCatalog) -> dict:
    return {
        "lakehouse": lakehouse,
        "warehouse": LakehouseWarehouseResource(lakehouse=lakehouse),
        "warehouse_io_manager": LakehouseIOManager(lakehouse=lakehouse),
    }


@dg.asset(key=["core", "toy"], io_manager_key="warehouse_io_manager")
def toy() -> pd.DataFrame:
    return pd.DataFrame({"version": [1, 2, 3], "at": pd.to_datetime(["2026-01-01"] * 3)})


@warehouse_asset(key=["marts", "toy_sql"], deps=[toy])
def toy_sql(warehouse: DuckDBResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as conn:
        conn.execute(
            "create or replace table marts.toy_sql as select max(version) as v from core.toy"
        )
    return dg.MaterializeResult(metadata={"built": True})


@dg.asset_check(asset=toy_sql)
def toy_sql_check(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as conn:
        (v,) = conn.execute("select v from marts.toy_sql").fetchall()[0]
        conn.execute("create table marts.made_by_a_check as select 1 as x")
    return dg.AssetCheckResult(passed=v == 3)


def current(lakehouse: LakehouseCatalog, sql: str) -> list[tuple]:
    with open_session(lakehouse.catalog()) as session:
        return session.conn.execute(sql).fetchall()


def test_steps_commit_their_tables_and_a_successful_run_is_published(lakehouse):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [toy, toy_sql, toy_sql_check], resources=resources(lakehouse), instance=instance
    )
    assert result.success
    events = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    metadata = {k: e.materialization.metadata for k, e in events.items()}
    assert metadata["core/toy"]["dagster/row_count"].value == 3
    assert metadata["marts/toy_sql"]["built"].value is True  # the step's own, kept
    ids = {k: m[SNAPSHOT_ID].value for k, m in metadata.items()}
    # a check only reads: what it created is not committed
    assert current(
        lakehouse,
        "select count(*) from information_schema.tables where table_name = 'made_by_a_check'",
    ) == [(0,)]
    assert published(lakehouse.catalog()) == {}  # committed, not yet published
    run = instance.get_run_by_id(result.run_id)
    context = dg.build_run_status_sensor_context(
        sensor_name=lakehouse_publish_sensor.name,
        dagster_event=result.get_run_success_event(),
        dagster_instance=instance,
        dagster_run=run,
        resources={"lakehouse": lakehouse},
    )
    lakehouse_publish_sensor(context)
    found = published(lakehouse.catalog())
    assert {n: p.snapshot_id for n, p in found.items()} == {
        "core.toy": ids["core/toy"],
        "marts.toy_sql": ids["marts/toy_sql"],
    }
    assert {p.run_id for p in found.values()} == {result.run_id}
    conn = duckdb.connect()
    attach_published(conn, lakehouse.catalog())
    assert conn.execute("select v from marts.toy_sql").fetchall() == [(3,)]
    assert conn.execute('select typeof("at") from core.toy limit 1').fetchall() == [
        ("TIMESTAMP_NS",)  # as the file mode's table from the same frame
    ]


def test_a_step_whose_table_another_run_committed_meanwhile_computes_again(lakehouse, monkeypatch):
    monkeypatch.setattr(lakehouse_module.random, "uniform", lambda a, b: 0.1)
    with open_session(lakehouse.catalog(), outputs=["core.plays"]) as session:
        session.conn.execute("create table core.plays as select 'first' as who")
        session.commit("setup")
    attempts = []

    @warehouse_asset(key=["core", "plays"])
    def plays(warehouse: DuckDBResource) -> None:
        with warehouse.get_connection() as conn:
            conn.execute("insert into core.plays values ('this run')")
            if not attempts:  # another run commits the same table meanwhile
                with open_session(lakehouse.catalog(), outputs=["core.plays"]) as other:
                    other.conn.execute("insert into core.plays values ('other run')")
                    other.commit("other")
            attempts.append(1)

    result = dg.materialize([plays], resources=resources(lakehouse))
    assert result.success and len(attempts) == 2
    assert any(e.event_type_value == "STEP_RESTARTED" for e in result.all_events)
    assert current(lakehouse, "select who from core.plays order by who") == [
        ("first",),
        ("other run",),
        ("this run",),
    ]


WINDOWS = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * *", start=datetime(2026, 1, 1), fmt="%Y-%m-%d"
)


@dg.asset(
    key=["core", "daily"],
    io_manager_key="warehouse_io_manager",
    partitions_def=WINDOWS,
    metadata={"partition_expr": "day"},
)
def daily(context: dg.AssetExecutionContext) -> pd.DataFrame:
    day = pd.Timestamp(context.partition_key)
    runs = context.instance.get_runs_count()  # this run's number: 1, 2, 3
    return pd.DataFrame({"day": [day, day], "version": [runs, runs]})


def test_a_partition_replaces_only_its_own_rows(lakehouse):
    instance = dg.DagsterInstance.ephemeral()
    for key in ("2026-01-01", "2026-01-02", "2026-01-01"):
        result = dg.materialize(
            [daily], resources=resources(lakehouse), instance=instance, partition_key=key
        )
        assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["table_row_count"].value == 4
    assert current(
        lakehouse, "select strftime(day, '%d'), version from core.daily order by 1, 2"
    ) == [("01", 3), ("01", 3), ("02", 2), ("02", 2)]  # the first day replaced by run 3


def test_lakehouse_mode_is_chosen_by_settings_and_its_uri_stays_a_secret(monkeypatch, tmp_path):
    uri = "postgresql+psycopg2://dagster:s3cr3t-pw@db.internal:5432/iceberg"
    monkeypatch.setenv("SPOTIFY_WAREHOUSE_MODE", "lakehouse")
    monkeypatch.setenv("SPOTIFY_ICEBERG_CATALOG_URI", uri)
    monkeypatch.setenv("SPOTIFY_LAKE_URL", "s3://bucket/prefix")
    settings = load_settings()
    built = build_resources(settings)
    assert isinstance(built["warehouse"], LakehouseWarehouseResource)
    catalog = built["lakehouse"]
    assert catalog.iceberg_warehouse == "s3://bucket/prefix/lakehouse"
    assert catalog.iceberg_catalog_uri == dg.EnvVar("SPOTIFY_ICEBERG_CATALOG_URI")
    shown = repr(settings) + "".join(repr(r) for r in built.values()) + catalog.describe()
    assert "s3cr3t-pw" not in shown
    assert catalog.config().uri == uri  # read from the environment only when used
    monkeypatch.setenv("SPOTIFY_ICEBERG_CATALOG_TYPE", "rest")
    monkeypatch.delenv("SPOTIFY_ICEBERG_CATALOG_URI")
    with pytest.raises(SettingsError, match="SPOTIFY_ICEBERG_CATALOG_URI"):
        load_settings()


def test_file_mode_stays_the_default(tmp_path):
    built = build_resources(load_settings())
    assert "lakehouse" not in built
    assert type(built["warehouse"]).__name__ == "WarehouseResource"
    assert publish_run  # the sensor's function exists in both modes; only lakehouse uses it


FAIL_B = {"on": True}


@warehouse_asset(key=["core", "first_half"])
def first_half(warehouse: DuckDBResource) -> None:
    with warehouse.get_connection() as conn:
        conn.execute("create or replace table core.first_half as select 1 as x")


@warehouse_asset(key=["core", "second_half"], deps=[first_half])
def second_half(warehouse: DuckDBResource) -> None:
    if FAIL_B["on"]:
        raise RuntimeError("the run's worker died here")
    with warehouse.get_connection() as conn:
        conn.execute("create or replace table core.second_half as select 2 as x")


def test_a_retry_that_succeeds_publishes_what_the_run_it_retries_committed(lakehouse):
    instance = dg.DagsterInstance.ephemeral()
    assets = [first_half, second_half]
    failed = dg.materialize(
        assets, resources=resources(lakehouse), instance=instance, raise_on_error=False
    )
    assert not failed.success
    assert publish_run(instance, instance.get_run_by_id(failed.run_id), lakehouse) == ([], [])
    FAIL_B["on"] = False
    try:
        retry = dg.materialize(
            [second_half],
            resources=resources(lakehouse),
            instance=instance,
            tags={"dagster/root_run_id": failed.run_id, "dagster/parent_run_id": failed.run_id},
        )
    finally:
        FAIL_B["on"] = True
    rows, _ = publish_run(instance, instance.get_run_by_id(retry.run_id), lakehouse)
    assert sorted(r.table for r in rows) == ["core.first_half", "core.second_half"]
    assert {r.run_id for r in rows} == {retry.run_id}


@warehouse_asset(key=["marts", "toy_view"], deps=[toy])
def toy_view_as_a_table(warehouse: DuckDBResource) -> None:
    """What an earlier version built: the table itself."""
    with warehouse.get_connection() as conn:
        conn.execute("create or replace table marts.toy_view as select 'stale' as v")


TOY_VIEW = "create or replace view marts.toy_view as select v || '!' as v from marts.toy_part"


@warehouse_asset(key=["marts", "toy_view"], deps=[toy], metadata={STORED_IN: ["marts.toy_part"]})
def toy_view(warehouse: DuckDBResource) -> None:
    """Now: a view over the table it is stored in."""
    with warehouse.get_connection() as conn:
        conn.execute(
            "create or replace table marts.toy_part as "
            "select max(version)::varchar as v from core.toy"
        )
        # replaces the earlier version's table, here a view over its snapshot
        conn.execute(TOY_VIEW)


def test_a_view_commits_the_tables_it_is_stored_in_and_readers_define_it(lakehouse):
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize(
        [toy, toy_view_as_a_table], resources=resources(lakehouse), instance=instance
    ).success
    result = dg.materialize(
        [toy, toy_view], resources=resources(lakehouse), instance=instance, selection=[toy_view]
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert f"{ALSO_COMMITTED}marts.toy_part" in metadata  # the part, committed
    assert SNAPSHOT_ID not in metadata  # not the view
    definitions = {"marts.toy_part": [TOY_VIEW]}
    with open_session(lakehouse.catalog(), definitions=definitions) as session:
        # the table of an earlier version stays in the catalog, unchanged, but readers see the view
        assert session.conn.execute("select v from marts.toy_view").fetchall() == [("3!",)]
