"""A small code location for test_run_monitoring.py: one mart step (the platform's own mart
factory, in its warehouse pool) that writes many tables through the project's warehouse
resource, slowly enough that its run worker can be killed mid-step. Paths come from the
test's environment."""

import os

import dagster as dg

from spotify_assets.defs.marts.factory import mart_assets
from spotify_assets.lib.marts.spec import Mart
from spotify_assets.resources.warehouse import WarehouseResource, published_path_for

TABLES = 12
ROWS = 1_500_000

MARTS = [
    Mart(
        name=f"t{i}",
        description=f"Toy mart {i}: many rows, slowly sorted.",
        sql=f"select range as x, hash(range + {i}) as h from range({ROWS}) order by h",
        columns={"x": "A number.", "h": "Its hash."},
        reads=(),
        key=("x",),
        key_by_construction=True,
    )
    for i in range(TABLES)
]
many_tables = mart_assets("many_tables", MARTS, group="marts", description="Toy marts.")

database = os.environ["KILL_TEST_WAREHOUSE"]
defs = dg.Definitions(
    executor=dg.in_process_executor,  # the platform's executor: steps in the run worker
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
