"""``core/landing_files``: every object of every landing zone accounted for, in one table.

Each row is one landed object (or an archive member that was not taken): its zone, key,
owner, status (``accepted``, ``not_ingested``, ``rejected``, ``failed``, ``pending``,
``ignored``) and the reason. It updates whenever any zone's ingest asset does; the
dashboard's "Landed files not ingested" section reads it. A new zone is added to :data:`ZONES`.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.automation import LISTENING_FRESHNESS, on_upstream_change
from spotify_assets.defs.catalog.datasets import CATALOG_DATASETS
from spotify_assets.defs.charts.assets import CHARTS
from spotify_assets.defs.landing import ZoneDefs
from spotify_assets.defs.listening.history_files import STREAMING_HISTORY
from spotify_assets.lib.landing import inventory
from spotify_assets.lib.listening.streams import build_landing_files
from spotify_assets.resources import LakeResource
from spotify_assets.resources.warehouse import table_metadata

#: Every landing zone of the platform.
ZONES: tuple[ZoneDefs, ...] = (STREAMING_HISTORY, CHARTS, CATALOG_DATASETS)
LANDING_FILES_KEY = dg.AssetKey(["core", "landing_files"])


@dg.asset(
    key=LANDING_FILES_KEY,
    deps=[zone.key for zone in ZONES],
    group_name="listening",
    kinds={"duckdb", "sql"},
    owners=["team:data-platform"],
    pool="duckdb",
    automation_condition=on_upstream_change(),
    freshness_policy=LISTENING_FRESHNESS,
    description="Every object in every landing zone, accounted for: accepted, not_ingested "
    "(not this zone's data: an export's Userdata.json, video history, a zip's other files), "
    "rejected (unreadable, moved aside), pending or ignored, with the reason.",
)
def landing_files(lake: LakeResource, warehouse: DuckDBResource) -> dg.MaterializeResult:
    store = lake.store()
    rows = [row for zone in ZONES for row in inventory(store, zone.zone)]
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    with warehouse.get_connection() as conn:
        conn.execute("create schema if not exists core")
        build_landing_files(conn, rows)
        metadata = table_metadata(conn, LANDING_FILES_KEY)
    return dg.MaterializeResult(
        metadata={**metadata, "by_status": dg.MetadataValue.json(by_status)}
    )
