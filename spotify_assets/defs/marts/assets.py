"""Group ``marts``: the marts people read, in the DuckDB schema ``marts``.

Three steps: ``catalog_marts`` (from the playlist snapshots and the catalog tables),
``engagement_marts`` (from ``core.streams``) and ``listener_marts`` (every listener's Wrapped,
from ``core.streams`` and ``marts.sessions``). The SQL and the KPI definitions are
in ``spotify_assets.lib.marts`` (Dagster-free, tested against an independent computation);
this module only wires them to the warehouse and says when each mart updates (see
``spotify_assets.defs.automation``). Each mart names its own row key (``Mart.key``).
"""

import dagster as dg

from spotify_assets.defs.automation import (
    CATALOG_FRESHNESS,
    LISTENING_FRESHNESS,
    on_upstream_change,
)
from spotify_assets.defs.listening.assets import STREAMS_KEY
from spotify_assets.defs.marts.factory import mart_assets, mart_key, table_key
from spotify_assets.lib.marts import catalog_marts as catalog_sql
from spotify_assets.lib.marts import engagement_marts as engagement_sql
from spotify_assets.lib.marts import listener_marts as listener_sql

CATALOG_MARTS = list(catalog_sql.MARTS)
ENGAGEMENT_MARTS = list(engagement_sql.MARTS)
LISTENER_MARTS = list(listener_sql.MARTS)

#: The catalog tables the engagement marts read (for genres and popularity): a new snapshot
#: changes them, and does not rebuild the engagement marts.
ENGAGEMENT_CATALOG_INPUTS = sorted(
    {
        table_key(table)
        for mart in ENGAGEMENT_MARTS
        for table in mart.reads
        if table.startswith("core.") and table_key(table) != STREAMS_KEY
    },
    key=lambda key: key.path,
)

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
    automation_condition=on_upstream_change(ignore=ENGAGEMENT_CATALOG_INPUTS),
    freshness_policy=LISTENING_FRESHNESS,
)

listener_marts = mart_assets(
    "listener_marts",
    LISTENER_MARTS,
    group="marts",
    description="Listener marts: every listener's Wrapped per UTC year and all time "
    "(marts.listener_wrapped) and what each played per year with its rank "
    "(marts.listener_content; marts.affinity for what a set of listeners all play).",
    # New listening history (and the sessions built from it) rebuilds them; a snapshot does not.
    automation_condition=on_upstream_change(
        ignore=[*ENGAGEMENT_CATALOG_INPUTS, table_key("core.albums")]
    ),
    freshness_policy=LISTENING_FRESHNESS,
)

CATALOG_MART_KEYS = [mart_key(m) for m in CATALOG_MARTS]
ENGAGEMENT_MART_KEYS = [mart_key(m) for m in ENGAGEMENT_MARTS]
LISTENER_MART_KEYS = [mart_key(m) for m in LISTENER_MARTS]
MART_KEYS = CATALOG_MART_KEYS + ENGAGEMENT_MART_KEYS + LISTENER_MART_KEYS

marts_job = dg.define_asset_job(
    "marts_job",
    selection=dg.AssetSelection.assets(*MART_KEYS),
    description="Rebuild every mart (group marts) from the warehouse's core tables.",
)
