"""What every asset of the platform gets, applied in one place (``spotify_assets.definitions``
maps every asset spec through :func:`with_conventions`): owners by layer, and the freshness
policy of its group for the tables of the warehouse that declare none. Kinds and the
warehouse pool of tables built in SQL come with ``warehouse_asset``
(``spotify_assets.defs.warehouse_tables``)."""

from __future__ import annotations

import dagster as dg

from spotify_assets.defs.automation import (
    CATALOG_FRESHNESS,
    LISTENING_FRESHNESS,
    MODEL_FRESHNESS,
)

PLATFORM, ANALYTICS, DATA_SCIENCE = "team:data-platform", "team:analytics", "team:data-science"
#: Who answers for an asset, by the first part of its key: raw and core data are the
#: platform's, the marts and what people read are analytics', the model is data science's.
OWNERS_BY_LAYER = {
    "raw": PLATFORM,
    "core": PLATFORM,
    "marts": ANALYTICS,
    "ml": DATA_SCIENCE,
    "reports": ANALYTICS,
}
#: What "stale" means for a table of the warehouse, by group (matching what updates it): a
#: table that declares its own policy (the marts, the reports) keeps it; partitioned tables
#: (one snapshot window each) have none.
FRESHNESS_BY_GROUP = {
    "catalog": CATALOG_FRESHNESS,
    "listening": LISTENING_FRESHNESS,
    "charts": LISTENING_FRESHNESS,
    "ml": MODEL_FRESHNESS,
}
WAREHOUSE_LAYERS = ("core", "marts", "ml", "reports")


def conventions(spec: dg.AssetSpec) -> dg.AssetSpec:
    """``spec`` with the owners of its layer and, for an unpartitioned warehouse table, the
    freshness policy of its group, where it declares none."""
    layer = spec.key.path[0]
    changes: dict = {}
    if not spec.owners:
        changes["owners"] = [OWNERS_BY_LAYER.get(layer, PLATFORM)]
    if (
        spec.freshness_policy is None
        and layer in WAREHOUSE_LAYERS
        and spec.partitions_def is None
        and spec.group_name in FRESHNESS_BY_GROUP
    ):
        changes["freshness_policy"] = FRESHNESS_BY_GROUP[spec.group_name]
    return spec.replace_attributes(**changes) if changes else spec


def with_conventions(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with :func:`conventions` applied to every asset spec (``dg.map_asset_specs``;
    ``Definitions.map_asset_specs`` is still a preview in Dagster 1.13)."""
    # A module that imports another's asset (a job's selection) lists it again: map it once.
    assets = list({id(a): a for a in defs.assets or []}.values())
    return dg.Definitions(
        assets=dg.map_asset_specs(conventions, assets),
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        schedules=defs.schedules,
        sensors=defs.sensors,
        resources=defs.resources,
        executor=defs.executor,
        loggers=defs.loggers,
        metadata=defs.metadata,
    )
