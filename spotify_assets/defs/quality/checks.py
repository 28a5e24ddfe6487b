"""Checks every warehouse table has, whatever it holds:

- ``row_count_vs_previous`` (ERROR, blocking): the table keeps at least half the rows of its
  previous materialization (for a partitioned table: of the previous partition written). A
  table that halves between two builds almost always means an upstream input was cut short,
  and downstream must not publish it. The marts carry the same check inline.
- ``column_schema_change`` (WARN), below.

Schema-change checks on every warehouse table, over the ``dagster/column_schema`` each table
records at every materialization: a column added, removed or retyped between the last two
materializations is a WARN, because whoever queries the table (SQL, notebooks, BI tools) may
need to change.

Dagster's ``build_column_schema_change_checks`` does the same comparison, but its checks carry
no automation condition (and ``with_attributes`` does not set one on checks), so runs launched
by declarative automation would never execute them. These are one multi-asset check whose
specs are eager: they run whenever their table updates, in the same run.
"""

import dagster as dg

from spotify_assets.defs.catalog.assets import PLAYLIST_TRACKS_KEY
from spotify_assets.defs.listening.assets import (
    LISTENERS_KEY,
    REJECTED_RECORDS_KEY,
    STREAMS_KEY,
)
from spotify_assets.defs.marts.assets import MART_KEYS
from spotify_assets.defs.marts.factory import mart_key
from spotify_assets.defs.ml.assets import FEATURES_KEY, PREDICTIONS_KEY
from spotify_assets.lib.marts.candidate_hits import CANDIDATE_HITS
from spotify_assets.lib.quality.rules import MIN_ROW_RATIO, row_count_change, schema_change

CATALOG_TABLES = [
    dg.AssetKey(["core", name])
    for name in ("tracks", "albums", "artists", "artist_genres", "track_artists", "playlists")
]
WAREHOUSE_TABLES = [
    *CATALOG_TABLES,
    PLAYLIST_TRACKS_KEY,
    STREAMS_KEY,
    LISTENERS_KEY,
    REJECTED_RECORDS_KEY,
    *MART_KEYS,
    mart_key(CANDIDATE_HITS),
    FEATURES_KEY,
    PREDICTIONS_KEY,
]

# The marts check their row count inline (defs/marts/factory.py); rejected records may drop to
# zero when a bad file is fixed.
ROW_COUNT_TABLES = [
    key
    for key in WAREHOUSE_TABLES
    if key not in (*MART_KEYS, mart_key(CANDIDATE_HITS), REJECTED_RECORDS_KEY)
]
SCHEMA_CHANGE_CHECK = "column_schema_change"
ROW_COUNT_CHECK = "row_count_vs_previous"


def _row_count(record) -> int | None:
    value = record.asset_materialization.metadata.get("dagster/row_count")
    return None if value is None else int(value.value)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            ROW_COUNT_CHECK,
            asset=key,
            blocking=True,
            description=f"Keeps at least {MIN_ROW_RATIO:.0%} of the rows of the previous "
            "materialization",
            automation_condition=dg.AutomationCondition.eager(),
        )
        for key in ROW_COUNT_TABLES
    ],
    can_subset=True,
    name="row_count_checks",
)
def row_count_checks(context: dg.AssetCheckExecutionContext):
    for check_key in context.selected_asset_check_keys:
        records = context.instance.fetch_materializations(check_key.asset_key, limit=2).records
        counts = [_row_count(r) for r in records]
        passed, figures = row_count_change(
            counts[0] if counts else None, counts[1] if len(counts) > 1 else None
        )
        yield dg.AssetCheckResult(
            asset_key=check_key.asset_key,
            check_name=ROW_COUNT_CHECK,
            passed=passed,
            metadata=figures,
        )


def _schema(record) -> dict[str, str] | None:
    value = record.asset_materialization.metadata.get("dagster/column_schema")
    if value is None:
        return None
    return {c.name: c.type for c in value.schema.columns}


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            SCHEMA_CHANGE_CHECK,
            asset=key,
            description="The columns (names and types) are those of the previous "
            "materialization (WARN: readers of the table may need to change)",
            automation_condition=dg.AutomationCondition.eager(),
        )
        for key in WAREHOUSE_TABLES
    ],
    can_subset=True,
    name="column_schema_change_checks",
)
def column_schema_change_checks(context: dg.AssetCheckExecutionContext):
    for check_key in context.selected_asset_check_keys:
        records = context.instance.fetch_materializations(check_key.asset_key, limit=2).records
        schemas = [_schema(r) for r in records]
        if len(schemas) < 2 or None in schemas:
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key,
                check_name=SCHEMA_CHANGE_CHECK,
                passed=True,
                severity=dg.AssetCheckSeverity.WARN,
                description="Nothing to compare yet (fewer than two materializations with a "
                "column schema)",
            )
            continue
        change = schema_change(previous=schemas[1], current=schemas[0])
        yield dg.AssetCheckResult(
            asset_key=check_key.asset_key,
            check_name=SCHEMA_CHANGE_CHECK,
            passed=not any(change.values()),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={name: dg.MetadataValue.json(cols) for name, cols in change.items()},
        )
