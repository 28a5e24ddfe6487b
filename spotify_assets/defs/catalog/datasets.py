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

import tempfile
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.automation import CATALOG_FRESHNESS, on_upstream_change
from spotify_assets.defs.landing import landing_zone_defs
from spotify_assets.lib.catalog.datasets import CATALOG_DATASETS_ZONE
from spotify_assets.lib.landing import build_rejected_records, processed_files
from spotify_assets.resources import LakeResource
from spotify_assets.resources.warehouse import table_schema

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


@dg.asset(
    key=REJECTED_DATASET_ROWS_KEY,
    deps=[CATALOG_DATASET_FILES_KEY],
    group_name="catalog",
    kinds={"duckdb", "sql"},
    owners=["team:data-platform"],
    pool="duckdb",
    automation_condition=on_upstream_change(),
    freshness_policy=CATALOG_FRESHNESS,
    description="Rows of landed catalog dataset files that could not be used: file, line, "
    "reason, excerpt.",
)
def rejected_catalog_dataset_rows(
    lake: LakeResource, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    table = "core.rejected_catalog_dataset_rows"
    with tempfile.TemporaryDirectory(prefix="catalog-datasets-") as tmp:
        files = processed_files(lake.store(), CATALOG_DATASETS_ZONE, Path(tmp))
        rejects = [f.rejects_path for f in files if f.rejects_path]
        with warehouse.get_connection() as conn:
            build_rejected_records(conn, table, rejects)
            (rows,) = conn.execute(f"select count(*) from {table}").fetchone()
            schema = table_schema(conn, "core", "rejected_catalog_dataset_rows", {})
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(rows),
            "dagster/column_schema": schema,
            "dagster/table_name": f"warehouse.{table}",
            "files": len(files),
        }
    )


catalog_dataset_rejects_job = dg.define_asset_job(
    "catalog_dataset_rejects_job",
    selection=dg.AssetSelection.assets(REJECTED_DATASET_ROWS_KEY),
    description="Build core/rejected_catalog_dataset_rows (make demo; automation does it too).",
)
