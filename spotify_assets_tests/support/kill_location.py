"""A small code location for test_run_monitoring.py: one asset that writes many warehouse
tables through the project's warehouse resource (in pool ``duckdb``), slowly enough that its
run worker can be killed mid-write. Paths come from the test's environment."""

import os

import dagster as dg

from spotify_assets.resources.warehouse import WarehouseResource, published_path_for

TABLES = 12
ROWS = 1_500_000


@dg.asset(key=["marts", "many_tables"], pool="duckdb")
def many_tables(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as conn:
        conn.execute("create schema if not exists marts")
        for i in range(TABLES):
            conn.execute(
                f"create or replace table marts.t{i} as select range as x, "
                f"hash(range + {i}) as h from range({ROWS}) order by h"
            )
    return dg.MaterializeResult(metadata={"tables": TABLES})


database = os.environ["KILL_TEST_WAREHOUSE"]
defs = dg.Definitions(
    assets=[many_tables],
    jobs=[dg.define_asset_job("many_tables_job", selection=[many_tables])],
    resources={
        "warehouse": WarehouseResource(
            database=database,
            warehouse_lock_wait_s=60,
            published_warehouse_path=str(published_path_for(database)),
        )
    },
)
