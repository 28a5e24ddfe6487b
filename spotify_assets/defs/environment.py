"""Resources for the current environment, chosen from environment variables (see
``spotify_assets.settings`` and docs/USER_GUIDE.md, "Configuration"). Assets ask for resources by
key and never change between environments: the lake is a folder or S3, Spotify is the sample world
or the real API, through these keys:

- ``spotify``: :class:`SpotifyResource`
- ``lake``: :class:`LakeResource` (also how many landed files an ingest run takes,
  ``ingest_batch_files``); ``lake_io_manager`` stores raw JSON and Parquet in it
- ``warehouse_io_manager``: DuckDB tables; ``warehouse``: a DuckDB connection for SQL (both
  wait for the write lock within a bound and publish the copy readers use after each write);
  in lakehouse mode (``SPOTIFY_WAREHOUSE_MODE=lakehouse``) the same keys are Iceberg tables
  through an Iceberg catalog, and ``lakehouse`` is that catalog (docs/LAKEHOUSE.md)
- ``model_io_manager``: pickled models in the lake (``models/``), S3 or local, hash-checked
- ``alerts``: :class:`AlertsResource` (the failure sensors' webhook, if any)

Settings flow once: a resource field takes the setting of the same name (:func:`from_settings`),
so only fields named differently and secrets (``dg.EnvVar``, never a value) are written here.
"""

from __future__ import annotations

from typing import Any, TypeVar

import dagster as dg

from spotify_assets.lib.listening.recently_played import refresh_token_variable
from spotify_assets.resources import (
    AlertsResource,
    LakeIOManager,
    LakeResource,
    SpotifyResource,
    WarehouseIOManager,
)
from spotify_assets.resources.lakehouse import LakehouseCatalog, LakehouseWarehouseResource
from spotify_assets.resources.model_io import HashedModelIOManager
from spotify_assets.resources.warehouse import WarehouseResource
from spotify_assets.settings import Settings, load_settings

R = TypeVar("R", bound=dg.ConfigurableResource)


def from_settings(resource: type[R], settings: Settings, **values: Any) -> R:
    """``resource`` with every field that has a setting of the same name taken from
    ``settings``, so a new setting reaches its resource by being named alike; ``values`` are
    the fields named differently and the secrets. Settings hold no secret (see
    ``spotify_assets.settings``): secrets come in ``values`` as ``dg.EnvVar``."""
    named = {
        name: getattr(settings, name)
        for name in resource.model_fields
        if name not in values and hasattr(settings, name)
    }
    return resource(**named, **values)


def spotify_resource(settings: Settings) -> SpotifyResource:
    secrets: dict[str, Any] = {}
    if settings.source == "live":
        secrets = dict(
            client_id=dg.EnvVar("SPOTIPY_CLIENT_ID"),
            client_secret=dg.EnvVar("SPOTIPY_CLIENT_SECRET"),
            # Optional: without it only playlist metadata is readable (client credentials).
            refresh_token=dg.EnvVar("SPOTIFY_REFRESH_TOKEN")
            if settings.has_refresh_token
            else None,
            # Recently-played: one refresh token per authorized user (SPOTIFY_REFRESH_TOKEN_<USER>).
            user_refresh_tokens={
                user: dg.EnvVar(refresh_token_variable(user))
                for user in settings.recently_played_users
            },
        )
    return from_settings(
        SpotifyResource,
        settings,
        playlist_ids=list(settings.playlist_ids),
        allow_model_training=settings.ml_allow_live_training,
        **secrets,
    )


def lake_resource(settings: Settings) -> LakeResource:
    return from_settings(
        LakeResource, settings, url=settings.lake_url, s3_region_name=settings.aws_region
    )


def model_io_manager(settings: Settings, lake: LakeResource) -> dg.ConfigurableIOManager:
    """Pickled models under the lake's ``models/`` area (local or S3 alike), whose SHA-256 is
    recorded at training and checked before a load unpickles them
    (:class:`~spotify_assets.resources.model_io.HashedModelIOManager`)."""
    return HashedModelIOManager(lake=lake)


def lakehouse_catalog(settings: Settings) -> LakehouseCatalog:
    """The Iceberg catalog: its URI (it may hold a password) and a REST token as
    ``dg.EnvVar``; unset, a SQLite catalog in the data folder."""
    return from_settings(
        LakehouseCatalog,
        settings,
        iceberg_catalog_uri=dg.EnvVar("SPOTIFY_ICEBERG_CATALOG_URI")
        if settings.has_iceberg_catalog_uri
        else settings.iceberg_local_catalog_uri,
        iceberg_rest_token=dg.EnvVar("SPOTIFY_ICEBERG_REST_TOKEN")
        if settings.has_iceberg_rest_token
        else None,
    )


def warehouse_resources(settings: Settings) -> dict[str, object]:
    """``warehouse_io_manager`` and ``warehouse``: the DuckDB file, or the lakehouse (with
    its catalog as ``lakehouse``, for the publishing sensor)."""
    duckdb_config = {"memory_limit": settings.duckdb_memory_limit}
    if settings.lakehouse:
        # imported here: its frames module is only for lakehouse mode
        from spotify_assets.resources.lakehouse_frames import LakehouseIOManager

        catalog = lakehouse_catalog(settings)
        return {
            "lakehouse": catalog,
            "warehouse_io_manager": LakehouseIOManager(
                lakehouse=catalog, connection_config=duckdb_config
            ),
            "warehouse": LakehouseWarehouseResource(
                lakehouse=catalog, connection_config=duckdb_config
            ),
        }
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    # Every write waits for the lock within a bound and publishes the copy readers use.
    warehouse = {
        "warehouse_lock_wait_s": settings.warehouse_lock_wait_s,
        "published_warehouse_path": str(settings.published_warehouse_path),
    }
    return {
        "warehouse_io_manager": WarehouseIOManager(
            database=str(settings.warehouse_path), connection_config=duckdb_config, **warehouse
        ),
        "warehouse": WarehouseResource(
            database=str(settings.warehouse_path), connection_config=duckdb_config, **warehouse
        ),
    }


def build_resources(settings: Settings | None = None) -> dict[str, object]:
    settings = settings or load_settings()
    lake = lake_resource(settings)
    if not settings.lake_is_s3:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "spotify": spotify_resource(settings),
        "lake": lake,
        "lake_io_manager": LakeIOManager(lake=lake),
        **warehouse_resources(settings),
        "model_io_manager": model_io_manager(settings, lake),
        "alerts": from_settings(
            AlertsResource,
            settings,
            webhook_url=dg.EnvVar("SPOTIFY_ALERT_WEBHOOK_URL")
            if settings.has_alert_webhook
            else None,
        ),
    }


#: The location's resources, also read as they are by the landing sensors (landing.sensor_lake).
RESOURCES = build_resources()
defs = dg.Definitions(resources=RESOURCES)
