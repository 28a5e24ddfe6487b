"""The catalog-datasets landing zone, declared: the public artists and tracks CSVs people drop
into ``landing/catalog_datasets/`` (a source of popularity, followers and genres that
development-mode apps no longer get from the API; parser: ``spotify_assets.lib.catalog.datasets``).

Lineage::

    landing/catalog_datasets/**/*.csv   (the catalog_datasets sensor watches it)
      -> raw/catalog_dataset_files      (a batch of files per partition; Parquet in
                                         processed/catalog_datasets/)
      -> core/tracks, core/track_artists, core/artists, core/artist_genres (merged with the
         API's observations in defs/catalog/assets.py)
      -> core/rejected_catalog_dataset_rows
"""

import dagster as dg

from spotify_assets.defs.landing import landing_zone_defs
from spotify_assets.lib.catalog.datasets import CATALOG_DATASETS_ZONE

CATALOG_DATASET_FILES_KEY = dg.AssetKey(["raw", "catalog_dataset_files"])
REJECTED_DATASET_ROWS_KEY = dg.AssetKey(["core", "rejected_catalog_dataset_rows"])

CATALOG_DATASETS = landing_zone_defs(
    CATALOG_DATASETS_ZONE,
    key=CATALOG_DATASET_FILES_KEY,
    group="catalog",
    description=(
        "Landed catalog dataset CSVs, a batch per partition (artists: id, followers, genres, "
        "name, popularity; tracks: id, name, popularity, duration_ms, explicit, artists, "
        "id_artists, release_date and audio features; told apart by the header), as Parquet "
        "in the lake's processed area with each row's observation time (the date in the file "
        "name, else the landed time); bad rows kept aside with file, line and reason."
    ),
    kinds={"csv", "parquet", "s3"},
    # Catalog datasets arrive rarely: a look a minute (the listening history's: every 10 s).
    sensor_interval_s=60,
    rejected_records_table=REJECTED_DATASET_ROWS_KEY,
)
defs = CATALOG_DATASETS.definitions
