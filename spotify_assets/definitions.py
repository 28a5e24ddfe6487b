"""The code location: every definition under ``spotify_assets/defs``, then what is built over
all of them, then the executor.

The executor is in-process: Dagster's default starts a Python process per step (about 1.3 s
each on 2 cores, 0.65 s with forkserver), which would dominate a graph of light steps. Heavy
work happens inside DuckDB and scikit-learn, which use every core by themselves, and DuckDB
allows one writer anyway (the ``duckdb`` pool, limit 1 in dagster.yaml). Partitions are the
unit of parallel work: a backfill runs one run per partition, in parallel runs.
"""

from pathlib import Path

import dagster as dg

from spotify_assets.defs.conventions import with_conventions
from spotify_assets.defs.landing import landing_files_asset, landing_zones
from spotify_assets.defs.quality.assets import build_data_quality_asset, check_specs_of
from spotify_assets.defs.quality.coverage_checks import build_covers_every_check
from spotify_assets.defs.quality.table_checks import table_wide_checks
from spotify_assets.defs.reports.assets import exported_marts, report_assets
from spotify_assets.defs.reports.checks import build_exports_match_marts
from spotify_assets.defs.warehouse_tables import warehouse_tables


def with_warehouse_wide_definitions(domains: dg.Definitions) -> dg.Definitions:
    """``domains`` plus what is built over all of them: ``core/landing_files`` over every
    landing zone found in them (``spotify_assets.defs.landing``); what every warehouse table
    gets, from the registry of tables (``spotify_assets.defs.warehouse_tables``): the
    table-wide checks, the dashboard and the BI exports; then ``reports/data_quality`` over
    every check declared by then, with the files each zone holds out; then the platform's
    conventions (owners, freshness) on every asset."""
    zones = landing_zones(domains)
    domains = dg.Definitions.merge(domains, dg.Definitions(assets=[landing_files_asset(zones)]))
    tables = warehouse_tables(domains)
    exported = [".".join(k.path) for k in exported_marts(tables)]
    built = dg.Definitions(
        assets=report_assets(tables),
        asset_checks=[*table_wide_checks(tables), build_exports_match_marts(sorted(exported))],
    )
    merged = dg.Definitions.merge(domains, built)
    specs = check_specs_of(merged)
    # The coverage check is one of the checks reports/data_quality covers.
    covers = build_covers_every_check([(s.asset_key.to_user_string(), s.name) for s in specs])
    return with_conventions(
        dg.Definitions.merge(
            merged,
            dg.Definitions(
                assets=[build_data_quality_asset([*specs, *covers.check_specs], zones)],
                asset_checks=[covers],
            ),
        )
    )


def build_definitions() -> dg.Definitions:
    """Every domain's definitions, then the registry-wide ones, then the executor. A function,
    because Dagster allows one Definitions object at module scope."""
    domains = dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent)
    return dg.Definitions.merge(
        with_warehouse_wide_definitions(domains),
        dg.Definitions(executor=dg.in_process_executor),
    )


defs = build_definitions()
