"""Every setting of the platform, read from environment variables in one place.

Assets never read the environment: resources do, through this module, so the same asset code
runs on a laptop with the sample world and in production with Spotify and S3. Secrets
(``SPOTIPY_CLIENT_SECRET``, ``SPOTIFY_REFRESH_TOKEN``, AWS keys) are not read here: they reach
resources as ``dg.EnvVar`` (see ``spotify_assets.defs.environment``) or boto3's own lookup, so
they never appear in code, logs or run config.

No other module reads the environment (a test holds it): resources are built from these
settings, each field from the setting of the same name (``spotify_assets.defs.environment``). The
one exception is ``spotify_assets.auth``, the command run once by hand to obtain a refresh
token, which reads the app's credentials itself.

docs/USER_GUIDE.md, "Configuration", lists the same variables; keep the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """A setting with a value the platform cannot use; names the variable."""


def _get(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = _get(name, str(default))
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not an integer") from exc
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = _get(name, str(default))
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a number") from exc
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = _get(name, "true" if default else "false").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} must be true or false")


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _get(name, default).lower()
    if value not in choices:
        raise SettingsError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    lake_url: str
    warehouse_path: Path
    s3_endpoint_url: str | None
    aws_region: str | None
    source: str
    api_mode: str
    playlist_ids: tuple[str, ...]
    market: str
    timeout_s: float
    max_retries: int
    max_retry_wait_s: float
    concurrency: int
    entity_refresh_hours: int
    sample_scale: str
    sample_seed: int
    sample_app_mode: str
    demo_snapshots: int
    ingest_batch_files: int
    duckdb_memory_limit: str
    has_refresh_token: bool  # whether SPOTIFY_REFRESH_TOKEN is set (its value is not read)
    ui_url: str
    ml_allow_live_training: bool
    has_alert_webhook: bool  # whether SPOTIFY_ALERT_WEBHOOK_URL is set (it holds a token)
    extra: dict[str, str] = field(default_factory=dict)
    # Users whose recently-played is polled (live): one SPOTIFY_REFRESH_TOKEN_<USER> variable
    # per authorized user; only the names are read here, the values reach the resource as
    # dg.EnvVar. The user id is <USER> lower-cased (name the landing folder the same).
    recently_played_users: tuple[str, ...] = ()
    recently_played_minutes: int = 30
    # Readers connect to the published copy, refreshed after every successful write; a writer
    # waits at most this long for the warehouse's lock, saying who holds it.
    published_warehouse_path: Path | None = None
    warehouse_lock_wait_s: float = 120.0
    # Catalog lookups (raw/catalog_lookups): the budget of one run, and how long a looked-up
    # track or artist is not asked again.
    lookup_max_calls: int = 2000
    lookup_max_seconds: float = 300.0
    lookup_refresh_hours: int = 2160
    # The Spotify client's circuit breaker: failures in a row before it stops calling, and for
    # how long.
    max_consecutive_failures: int = 10
    unavailable_pause_s: float = 300.0
    # A landed file is taken once unchanged for landing_settle_s; an ingest run (a batch)
    # takes at most ingest_batch_files files and about ingest_batch_bytes bytes.
    landing_settle_s: float = 10.0
    ingest_batch_bytes: int = 2 * 2**30
    # The warehouse: one DuckDB file (file, the default: one machine) or Iceberg tables in the
    # lake with an Iceberg catalog (lakehouse: runs on any machine). The catalog's URI may
    # hold a password: only whether it is set is read here (the value reaches the resource as
    # dg.EnvVar); unset, a SQLite catalog in the data folder (one machine only).
    warehouse_mode: str = "file"
    iceberg_catalog_name: str = "spotify_assets"
    iceberg_catalog_type: str = "sql"
    iceberg_warehouse: str = ""
    has_iceberg_catalog_uri: bool = False
    iceberg_local_catalog_uri: str = ""
    has_iceberg_rest_token: bool = False

    @property
    def lake_is_s3(self) -> bool:
        return self.lake_url.startswith("s3://")

    @property
    def lakehouse(self) -> bool:
        return self.warehouse_mode == "lakehouse"


def load_settings() -> Settings:
    """Read the environment now (tests set variables, then call this)."""
    data_dir = Path(_get("SPOTIFY_DATA_DIR", "./data")).expanduser().resolve()
    lake_url = _get("SPOTIFY_LAKE_URL", str(data_dir / "lake"))
    if not lake_url.startswith("s3://"):
        lake_url = str(Path(lake_url.removeprefix("file://")).expanduser().resolve())
    playlists = tuple(p.strip() for p in _get("SPOTIFY_PLAYLIST_IDS", "").split(",") if p.strip())
    return Settings(
        data_dir=data_dir,
        lake_url=lake_url,
        warehouse_path=Path(_get("SPOTIFY_WAREHOUSE_PATH", str(data_dir / "warehouse.duckdb")))
        .expanduser()
        .resolve(),
        s3_endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None,
        aws_region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
        source=_choice("SPOTIFY_SOURCE", "sample", ("sample", "live")),
        api_mode=_choice("SPOTIFY_API_MODE", "auto", ("extended", "development", "auto")),
        playlist_ids=playlists,
        market=_get("SPOTIFY_MARKET", "US").upper(),
        timeout_s=_float("SPOTIFY_TIMEOUT_S", 10.0, minimum=0.1),
        max_retries=_int("SPOTIFY_MAX_RETRIES", 5),
        max_retry_wait_s=_float("SPOTIFY_MAX_RETRY_WAIT_S", 60.0),
        concurrency=_int("SPOTIFY_CONCURRENCY", 4, minimum=1),
        entity_refresh_hours=_int("SPOTIFY_ENTITY_REFRESH_HOURS", 168, minimum=1),
        sample_scale=_get("SPOTIFY_SAMPLE_SCALE", "demo"),
        sample_seed=_int("SPOTIFY_SAMPLE_SEED", 42),
        sample_app_mode=_choice("SPOTIFY_SAMPLE_APP_MODE", "extended", ("extended", "development")),
        demo_snapshots=_int("SPOTIFY_DEMO_SNAPSHOTS", 3, minimum=1),
        # One ingest run (a batch) takes at most this many landed files and about this many
        # bytes; a landed file is taken once it has not changed for this many seconds.
        ingest_batch_files=_int("SPOTIFY_INGEST_BATCH_FILES", 50_000, minimum=1),
        ingest_batch_bytes=_int("SPOTIFY_INGEST_BATCH_MB", 2048, minimum=1) * 2**20,
        landing_settle_s=_float("SPOTIFY_LANDING_SETTLE_S", 10.0),
        max_consecutive_failures=_int("SPOTIFY_MAX_CONSECUTIVE_FAILURES", 10, minimum=1),
        unavailable_pause_s=_float("SPOTIFY_UNAVAILABLE_PAUSE_S", 300.0),
        # DuckDB's own default is 80% of RAM; a cap makes big builds spill to disk instead.
        duckdb_memory_limit=_get("SPOTIFY_DUCKDB_MEMORY_LIMIT", "2GB"),
        has_refresh_token=bool(os.environ.get("SPOTIFY_REFRESH_TOKEN")),
        ml_allow_live_training=_bool("SPOTIFY_ML_ALLOW_LIVE_TRAINING", False),
        # Links in alerts: the UI `make dev` serves (DAGSTER_PORT) unless SPOTIFY_UI_URL says.
        ui_url=_get(
            "SPOTIFY_UI_URL", f"http://127.0.0.1:{_int('DAGSTER_PORT', 3000, minimum=1)}"
        ).rstrip("/"),
        has_alert_webhook=bool(os.environ.get("SPOTIFY_ALERT_WEBHOOK_URL", "").strip()),
        recently_played_users=_recently_played_users(),
        recently_played_minutes=_int("SPOTIFY_RECENTLY_PLAYED_MINUTES", 30, minimum=1),
        lookup_max_calls=_int("SPOTIFY_LOOKUP_MAX_CALLS", 2000, minimum=1),
        lookup_max_seconds=_float("SPOTIFY_LOOKUP_MAX_SECONDS", 300.0, minimum=1.0),
        lookup_refresh_hours=_int("SPOTIFY_LOOKUP_REFRESH_HOURS", 2160, minimum=1),
        published_warehouse_path=_published_path(data_dir),
        warehouse_lock_wait_s=_float("SPOTIFY_WAREHOUSE_LOCK_WAIT_S", 120.0),
        **_lakehouse_settings(data_dir, lake_url),
    )


def _lakehouse_settings(data_dir: Path, lake_url: str) -> dict[str, object]:
    """SPOTIFY_WAREHOUSE_MODE and the Iceberg catalog's settings (docs/LAKEHOUSE.md). The
    warehouse of the tables' files defaults to ``lakehouse/`` in the lake (folder or S3)."""
    default_warehouse = (
        f"{lake_url.rstrip('/')}/lakehouse"
        if lake_url.startswith("s3://")
        else (Path(lake_url) / "lakehouse").as_uri()
    )
    warehouse = _get("SPOTIFY_ICEBERG_WAREHOUSE", default_warehouse)
    if not warehouse.startswith(("s3://", "file://")):
        warehouse = Path(warehouse).expanduser().resolve().as_uri()
    catalog_type = _choice("SPOTIFY_ICEBERG_CATALOG_TYPE", "sql", ("sql", "rest", "glue"))
    has_uri = bool(os.environ.get("SPOTIFY_ICEBERG_CATALOG_URI", "").strip())
    if catalog_type == "rest" and not has_uri:
        raise SettingsError("SPOTIFY_ICEBERG_CATALOG_TYPE=rest needs SPOTIFY_ICEBERG_CATALOG_URI")
    return {
        "warehouse_mode": _choice("SPOTIFY_WAREHOUSE_MODE", "file", ("file", "lakehouse")),
        "iceberg_catalog_name": _get("SPOTIFY_ICEBERG_CATALOG_NAME", "spotify_assets"),
        "iceberg_catalog_type": catalog_type,
        "iceberg_warehouse": warehouse,
        "has_iceberg_catalog_uri": has_uri,
        "iceberg_local_catalog_uri": f"sqlite:///{data_dir / 'lakehouse' / 'catalog.db'}",
        "has_iceberg_rest_token": bool(os.environ.get("SPOTIFY_ICEBERG_REST_TOKEN", "").strip()),
    }


def _published_path(data_dir: Path) -> Path:
    """SPOTIFY_PUBLISHED_WAREHOUSE_PATH, else ``published/<warehouse file name>`` beside the
    warehouse."""
    warehouse = Path(_get("SPOTIFY_WAREHOUSE_PATH", str(data_dir / "warehouse.duckdb")))
    default = warehouse.expanduser().resolve().parent / "published" / warehouse.name
    return Path(_get("SPOTIFY_PUBLISHED_WAREHOUSE_PATH", str(default))).expanduser().resolve()


#: One refresh token per authorized user: SPOTIFY_REFRESH_TOKEN_<USER>.
REFRESH_TOKEN_VAR_PREFIX = "SPOTIFY_REFRESH_TOKEN_"


def _recently_played_users() -> tuple[str, ...]:
    """The users that have a SPOTIFY_REFRESH_TOKEN_<USER> variable set (values are not read);
    <USER> is capitals, digits and underscores, and the user id is it lower-cased."""
    users: list[str] = []
    for name in sorted(os.environ):
        if not name.startswith(REFRESH_TOKEN_VAR_PREFIX) or not os.environ[name].strip():
            continue
        suffix = name[len(REFRESH_TOKEN_VAR_PREFIX) :]
        if (
            not suffix
            or suffix != suffix.upper()
            or not all(c.isascii() and (c.isalnum() or c == "_") for c in suffix)
        ):
            raise SettingsError(
                f"{name}: after {REFRESH_TOKEN_VAR_PREFIX} comes the user id in capitals, digits "
                "and underscores (SPOTIFY_REFRESH_TOKEN_ALICE for user alice)"
            )
        users.append(suffix.lower())
    return tuple(users)
