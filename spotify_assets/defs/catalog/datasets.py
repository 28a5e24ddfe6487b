"""Catalog datasets (group ``catalog``): the public artists and tracks CSVs people drop into
``landing/catalog_datasets/``, a source of popularity, followers and genres that
development-mode apps no longer get from the API.

Lineage::

    landing/catalog_datasets/**/*.csv   (the catalog_datasets sensor watches it)
      -> raw/catalog_dataset_files      (one dynamic partition per file; Parquet in
                                         processed/catalog_datasets/)
      -> core/tracks, core/track_artists, core/artists, core/artist_genres (merged with the
         API's observations in defs/catalog/assets.py: the newest observation wins)
      -> core/rejected_catalog_dataset_rows
"""

import dagster as dg

from spotify_assets.defs.automation import CATALOG_FRESHNESS
from spotify_assets.defs.landing import landing_zone_defs, rejected_rows_asset
from spotify_assets.lib.catalog.datasets import CATALOG_DATASETS_ZONE

CATALOG_DATASETS = landing_zone_defs(
    CATALOG_DATASETS_ZONE,
    key=dg.AssetKey(["raw", "catalog_dataset_files"]),
    group="catalog",
    description=(
        "One landed catalog dataset CSV per partition (artists: id, followers, genres, name, "
        "popularity; tracks: id, name, popularity, duration_ms, explicit, artists, id_artists, "
        "release_date and audio features; told apart by the header), as Parquet in the lake's "
        "processed zone with each row's observation time (the date in the file name, else "
        "the landed time); bad rows kept aside with file, line and reason."
    ),
    kinds={"csv", "parquet", "s3"},
)
CATALOG_DATASET_FILES_KEY = CATALOG_DATASETS.key
catalog_dataset_files = CATALOG_DATASETS.asset
catalog_datasets_sensor = CATALOG_DATASETS.sensor
catalog_datasets_job = CATALOG_DATASETS.job
REJECTED_DATASET_ROWS_KEY = dg.AssetKey(["core", "rejected_catalog_dataset_rows"])


rejected_catalog_dataset_rows = rejected_rows_asset(
    CATALOG_DATASETS, REJECTED_DATASET_ROWS_KEY, group="catalog", freshness_policy=CATALOG_FRESHNESS
)


catalog_dataset_rejects_job = dg.define_asset_job(
    "catalog_dataset_rejects_job",
    selection=dg.AssetSelection.assets(REJECTED_DATASET_ROWS_KEY),
    description="Build core/rejected_catalog_dataset_rows (make demo; automation does it too).",
)
