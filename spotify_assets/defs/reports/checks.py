"""Checks of what the reports wrote: the dashboard has every section
(``every_section_written``), the BI exports hold every row of their marts
(``exports_match_marts``, built by ``spotify_assets.definitions`` for the marts the registry
of tables finds). They read what the asset wrote and run with it, in the same run."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.quality.rule_checks import problems_result
from spotify_assets.defs.reports.assets import (
    BI_EXPORTS_KEY,
    BI_PREFIX,
    DASHBOARD_GROUPS,
    DASHBOARD_KEY,
    DASHBOARD_OBJECT,
)
from spotify_assets.defs.warehouse_tables import WAREHOUSE_POOL
from spotify_assets.lib.lake import LakeError
from spotify_assets.lib.quality.coverage import export_row_problems, missing_sections
from spotify_assets.resources import LakeResource

EAGER = dg.AutomationCondition.eager()
#: The sections the dashboard writes after the mart groups (lib/reports/overview.py).
TAIL_SECTIONS = ("Data quality", "Landed files not ingested")


@dg.asset_check(
    asset=DASHBOARD_KEY,
    name="every_section_written",
    blocking=True,
    automation_condition=EAGER,
    description="The dashboard page is in the lake with a section for every group of marts, "
    "data quality and landed files",
)
def every_section_written(lake: LakeResource) -> dg.AssetCheckResult:
    titles = [group.title for group in DASHBOARD_GROUPS] + list(TAIL_SECTIONS)
    try:
        page = lake.store().get_bytes(DASHBOARD_OBJECT).decode("utf-8", "replace")
    except LakeError as exc:
        return problems_result([f"{lake.uri(DASHBOARD_OBJECT)} is not written ({exc})"], "")
    missing = missing_sections(page, titles)
    return problems_result(
        [f"no section {t!r}" for t in missing],
        f"{len(titles)} sections written to {lake.uri(DASHBOARD_OBJECT)}",
        sections=len(titles),
    )


def build_exports_match_marts(marts: list[str]) -> dg.AssetChecksDefinition:
    """``exports_match_marts`` on ``reports/bi_exports``, for the marts it exports (known when
    the definitions are built from the registry of warehouse tables, so the check needs no
    repository at run time: it also runs in ``execute_in_process``)."""

    @dg.asset_check(
        asset=BI_EXPORTS_KEY,
        name="exports_match_marts",
        blocking=True,
        pool=WAREHOUSE_POOL,
        automation_condition=EAGER,
        description="Every mart the BI exports take is exported as Parquet with exactly the "
        "rows of its table in the warehouse",
    )
    def exports_match_marts(lake: LakeResource, warehouse: DuckDBResource) -> dg.AssetCheckResult:
        exports = {t: f"{BI_PREFIX}/{t.replace('.', '/')}.parquet" for t in marts}
        with warehouse.get_connection() as conn:
            problems = export_row_problems(lake.store(), exports, conn)
        return problems_result(
            problems, f"{len(marts)} marts exported with all their rows", marts=len(marts)
        )

    return exports_match_marts
