"""Checks every warehouse table has, whatever it holds, built for every table of the registry
(``spotify_assets.defs.warehouse_tables``) once the definitions are loaded, so a new table gets
them by being defined:

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

from collections.abc import Sequence

import dagster as dg

from spotify_assets.defs.warehouse_tables import WarehouseTable
from spotify_assets.lib.quality.rules import MIN_ROW_RATIO, row_count_change, schema_change
from spotify_assets.resources.event_log import (
    latest_metadata_value,
    materialization_metadata,
    recent_materializations,
)

SCHEMA_CHANGE_CHECK = "column_schema_change"

#: The check every warehouse table (and every mart, inline) has: it keeps at least half the rows
#: of its previous materialization.
ROW_COUNT_CHECK = "row_count_vs_previous"


def row_count_tables(tables: Sequence[WarehouseTable]) -> list[dg.AssetKey]:
    """The tables that get ``row_count_vs_previous`` here: all but those declared to shrink
    legitimately (asset metadata ``ROW_COUNT_MAY_DROP``: rejected records) and those that
    already check it inline (the marts, right after each build)."""
    return [
        t.key for t in tables if not t.row_count_may_drop and ROW_COUNT_CHECK not in t.check_names
    ]


def inline_row_count_spec(key: dg.AssetKey, what: str | None = None) -> dg.AssetCheckSpec:
    """``row_count_vs_previous`` (ERROR, blocking) evaluated by the asset's own step, right
    after it is built (:func:`inline_row_count_result`), instead of in the shared check step:
    a step that waits for that shared step then need not wait for every table checked in it."""
    return dg.AssetCheckSpec(
        ROW_COUNT_CHECK,
        asset=key,
        blocking=True,
        description=f"{what or 'The table'} keeps at least {MIN_ROW_RATIO:.0%} of the rows of "
        "its previous materialization",
    )


def inline_row_count_result(
    instance: dg.DagsterInstance, key: dg.AssetKey, rows: int
) -> dg.AssetCheckResult:
    """The result of :func:`inline_row_count_spec` for ``rows`` just built, against the
    ``dagster/row_count`` of the asset's latest materialization (before this one)."""
    previous = latest_metadata_value(instance, key, "dagster/row_count")
    passed, figures = row_count_change(rows, None if previous is None else int(previous))
    return dg.AssetCheckResult(
        asset_key=key, check_name=ROW_COUNT_CHECK, passed=passed, metadata=figures
    )


def _row_count(record: dg.EventLogRecord) -> int | None:
    value = materialization_metadata(record).get("dagster/row_count")
    return None if value is None else int(value)


def row_count_checks(keys: Sequence[dg.AssetKey]) -> dg.AssetChecksDefinition:
    """``row_count_vs_previous`` (ERROR, blocking) on each of ``keys``, as one multi-asset
    check."""

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
            for key in keys
        ],
        can_subset=True,
        name="row_count_checks",
    )
    def _row_count_checks(context: dg.AssetCheckExecutionContext):
        for check_key in context.selected_asset_check_keys:
            records = recent_materializations(context.instance, check_key.asset_key, limit=2)
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

    return _row_count_checks


def _schema(record: dg.EventLogRecord) -> dict[str, str] | None:
    schema = materialization_metadata(record).get("dagster/column_schema")
    return None if schema is None else {c.name: c.type for c in schema.columns}


def column_schema_change_checks(keys: Sequence[dg.AssetKey]) -> dg.AssetChecksDefinition:
    """``column_schema_change`` (WARN) on each of ``keys``, as one multi-asset check."""

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                SCHEMA_CHANGE_CHECK,
                asset=key,
                description="The columns (names and types) are those of the previous "
                "materialization (WARN: readers of the table may need to change)",
                automation_condition=dg.AutomationCondition.eager(),
            )
            for key in keys
        ],
        can_subset=True,
        name="column_schema_change_checks",
    )
    def _column_schema_change_checks(context: dg.AssetCheckExecutionContext):
        for check_key in context.selected_asset_check_keys:
            records = recent_materializations(context.instance, check_key.asset_key, limit=2)
            schemas = [_schema(r) for r in records]
            if len(schemas) < 2 or None in schemas:
                yield dg.AssetCheckResult(
                    asset_key=check_key.asset_key,
                    check_name=SCHEMA_CHANGE_CHECK,
                    passed=True,
                    severity=dg.AssetCheckSeverity.WARN,
                    description="Nothing to compare yet (fewer than two materializations with "
                    "a column schema)",
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

    return _column_schema_change_checks


def table_wide_checks(tables: Sequence[WarehouseTable]) -> list[dg.AssetChecksDefinition]:
    """The checks every warehouse table of the registry gets, whatever it holds (built by
    ``spotify_assets.definitions`` from ``spotify_assets.defs.warehouse_tables``)."""
    return [
        row_count_checks(row_count_tables(tables)),
        column_schema_change_checks([t.key for t in tables]),
    ]
