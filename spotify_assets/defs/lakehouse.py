"""Lakehouse mode only (``SPOTIFY_WAREHOUSE_MODE=lakehouse``): when a run succeeds, publish
the Iceberg snapshots it committed, all together, so readers see whole runs
(``lakehouse.published_snapshots``, docs/LAKEHOUSE.md), then expire the snapshots of those
tables that nobody can ask for any more. A run that failed is not published: readers keep
the previous run's tables. In file mode this module defines nothing.
"""

import dagster as dg

from spotify_assets.resources.lakehouse import LakehouseCatalog, publish_run
from spotify_assets.settings import load_settings

#: How often the daemon looks for newly succeeded runs: what a reader waits at most, beyond
#: the run itself, to see it.
PUBLISH_INTERVAL_S = 5


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="lakehouse_publish_sensor",
    minimum_interval_seconds=PUBLISH_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Publishes the Iceberg snapshots each successful run committed, together "
    "(lakehouse.published_snapshots: what readers read), and expires the snapshots nobody can "
    "ask for.",
)
def lakehouse_publish_sensor(
    context: dg.RunStatusSensorContext, lakehouse: LakehouseCatalog
) -> None:
    rows, expired = publish_run(context.instance, context.dagster_run, lakehouse)
    if rows:
        context.log.info(
            f"Published run {context.dagster_run.run_id}: "
            + ", ".join(f"{r.table} ({r.snapshot_id})" for r in rows)
        )
    for item in expired:
        if item.snapshots:
            context.log.info(
                f"{item.table}: {item.snapshots} snapshots expired, {item.files_deleted} files "
                "deleted"
            )


defs = (
    dg.Definitions(sensors=[lakehouse_publish_sensor])
    if load_settings().lakehouse
    else dg.Definitions()
)
