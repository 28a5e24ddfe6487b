"""The code location: every definition under ``spotify_assets/defs`` plus the executor.

The executor is in-process: Dagster's default starts a Python process per step (about 1.3 s
each on 2 cores, 0.65 s with forkserver), which would dominate a graph of light steps. Heavy
work happens inside DuckDB and scikit-learn, which use every core by themselves, and DuckDB
allows one writer anyway (the ``duckdb`` pool, limit 1 in dagster.yaml). Partitions are the
unit of parallel work: a backfill runs one run per partition, in parallel runs.
"""

from pathlib import Path

import dagster as dg

from spotify_assets.defs.quality.assets import build_data_quality_asset, check_specs_of


def build_definitions() -> dg.Definitions:
    """Every domain's definitions, then reports/data_quality over every check they declare
    (it is made once they are known), then the executor. A function, because Dagster allows
    one Definitions object at module scope."""
    domains = dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent)
    return dg.Definitions.merge(
        domains,
        dg.Definitions(assets=[build_data_quality_asset(check_specs_of(domains))]),
        dg.Definitions(executor=dg.in_process_executor),
    )


defs = build_definitions()
