"""``covers_every_check`` on ``reports/data_quality``: a row for every check of the code
location (built by ``spotify_assets.definitions`` once every check is declared)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.quality.assets import DATA_QUALITY_KEY
from spotify_assets.defs.quality.rule_checks import problems_result
from spotify_assets.defs.warehouse_tables import WAREHOUSE_POOL
from spotify_assets.lib.quality.coverage import uncovered_checks

EAGER = dg.AutomationCondition.eager()


def build_covers_every_check(declared: list[tuple[str, str]]) -> dg.AssetChecksDefinition:
    """``covers_every_check`` on ``reports/data_quality``, over every check ``declared`` in
    the code location (itself included), known when the definitions are built."""
    declared = [*declared, (DATA_QUALITY_KEY.to_user_string(), "covers_every_check")]

    @dg.asset_check(
        asset=DATA_QUALITY_KEY,
        name="covers_every_check",
        blocking=True,
        pool=WAREHOUSE_POOL,
        automation_condition=EAGER,
        description="reports.data_quality has a row for every asset check of the code "
        "location (a check missing there would never show as failed)",
    )
    def covers_every_check(warehouse: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as conn:
            reported = conn.execute(
                "select distinct asset_key, check_name from reports.data_quality"
            ).fetchall()
        missing = uncovered_checks(declared, reported)
        return problems_result(
            [f"{m} is not in reports.data_quality" for m in missing],
            f"all {len(set(declared))} checks covered",
            checks=len(set(declared)),
        )

    return covers_every_check
