"""Jobs of the catalog group: the 8-hourly snapshot of one window, and the tables built
from every window."""

import dagster as dg

from spotify_assets.defs.catalog.assets import (
    ENTITIES_KEY,
    LOOKUPS_KEY,
    SNAPSHOT_PARTITIONS,
    SNAPSHOTS_KEY,
    catalog_artists,
    catalog_dimensions,
)
from spotify_assets.defs.catalog.datasets import REJECTED_DATASET_ROWS_KEY

catalog_snapshot_job = dg.define_asset_job(
    "catalog_snapshot_job",
    selection=dg.AssetSelection.assets(SNAPSHOTS_KEY, ENTITIES_KEY, ["core", "playlist_tracks"]),
    partitions_def=SNAPSHOT_PARTITIONS,
    description="Snapshot the configured playlists and new artists for one 8-hour window.",
)

catalog_tables_job = dg.define_asset_job(
    "catalog_tables_job",
    selection=dg.AssetSelection.assets(
        catalog_dimensions, catalog_artists, REJECTED_DATASET_ROWS_KEY
    ),
    description="Rebuild the catalog dimension tables from every completed snapshot window and "
    "every landed catalog dataset, and the table of the datasets' rejected rows.",
)

catalog_lookups_job = dg.define_asset_job(
    "catalog_lookups_job",
    selection=dg.AssetSelection.assets(LOOKUPS_KEY, catalog_dimensions, catalog_artists),
    description="Look up what the history and the charts reference (one budgeted run), then "
    "rebuild the catalog tables with it.",
)
