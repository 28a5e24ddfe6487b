"""Group ``marts``: the marts people read, in the DuckDB schema ``marts``.

Two steps, one per source: ``catalog_marts`` (from the playlist snapshots and the catalog
tables) and ``engagement_marts`` (from ``core.streams``). The SQL and the KPI definitions are
in ``spotify_assets.lib.marts`` (Dagster-free, tested against an independent computation);
this module only wires them to the warehouse, says what identifies a row of each mart, and
when each mart updates (see ``spotify_assets.defs.automation``).
"""

import dataclasses

import dagster as dg

from spotify_assets.defs.automation import (
    CATALOG_FRESHNESS,
    LISTENING_FRESHNESS,
    on_upstream_change,
)
from spotify_assets.defs.marts.factory import mart_assets, mart_key
from spotify_assets.lib.marts import catalog_marts as catalog_sql
from spotify_assets.lib.marts import engagement_marts as engagement_sql
from spotify_assets.lib.marts.spec import Mart

#: What identifies a row of each mart (checked unique and not null after every build).
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "top_artists": ("artist_id",),
    "genre_families": ("genre_family",),
    "popularity_vs_followers": ("artist_id",),
    "release_years": ("release_year",),
    "release_recency": ("cohort",),
    "duration_popularity": ("duration_bin_s",),
    "album_rollups": ("album_id",),
    "playlist_movement": ("snapshot_time", "playlist_id"),
    "daily_engagement": ("date",),
    "monthly_engagement": ("month",),
    "hourly_engagement": ("weekday", "local_hour"),
    "content_daily": ("date", "kind", "content_id"),
    "sessions": ("user_id", "session_start"),
    "session_summary": ("bucket",),
    "session_starts": ("start_reason",),
    "skip_rates": ("dimension", "value"),
    "play_funnel": ("reason_start", "reason_end"),
    "genre_share": ("genre_family",),
    "country_share": ("conn_country",),
    "taste_monthly": ("user_id", "month"),
}


def _keyed(marts: tuple[Mart, ...]) -> list[Mart]:
    missing = [m.name for m in marts if not m.key and m.name not in ROW_KEYS]
    if missing:
        raise ValueError(f"marts without a row key in ROW_KEYS: {', '.join(missing)}")
    return [m if m.key else dataclasses.replace(m, key=ROW_KEYS[m.name]) for m in marts]


CATALOG_MARTS = _keyed(catalog_sql.MARTS)
ENGAGEMENT_MARTS = _keyed(engagement_sql.MARTS)

STREAMS_KEY = dg.AssetKey(["core", "streams"])
CATALOG_TABLE_KEYS = [
    dg.AssetKey(["core", name])
    for name in (
        "tracks",
        "albums",
        "artists",
        "artist_genres",
        "track_artists",
        "playlists",
        "playlist_tracks",
    )
]

catalog_marts = mart_assets(
    "catalog_marts",
    CATALOG_MARTS,
    group="marts",
    description="Catalog marts: top artists, genre families, popularity against followers, "
    "release years, duration against popularity, albums, playlist movement over snapshots.",
    # A new snapshot rebuilds them; new listening history does not (see defs/automation.py).
    automation_condition=on_upstream_change(ignore=[STREAMS_KEY]),
    freshness_policy=CATALOG_FRESHNESS,
)

engagement_marts = mart_assets(
    "engagement_marts",
    ENGAGEMENT_MARTS,
    group="marts",
    description="Engagement marts from core.streams: daily, monthly (churn, year over year) "
    "and hourly engagement, top content over any range, sessions, skips and completion, "
    "genre and regional share, taste over time.",
    # New listening history rebuilds them; a new snapshot does not.
    automation_condition=on_upstream_change(ignore=CATALOG_TABLE_KEYS),
    freshness_policy=LISTENING_FRESHNESS,
)

CATALOG_MART_KEYS = [mart_key(m) for m in CATALOG_MARTS]
ENGAGEMENT_MART_KEYS = [mart_key(m) for m in ENGAGEMENT_MARTS]
MART_KEYS = CATALOG_MART_KEYS + ENGAGEMENT_MART_KEYS

marts_job = dg.define_asset_job(
    "marts_job",
    selection=dg.AssetSelection.assets(*MART_KEYS),
    description="Rebuild every mart (group marts) from the warehouse's core tables.",
)
