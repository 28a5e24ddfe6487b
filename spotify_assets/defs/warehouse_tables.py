"""The registry of warehouse tables: every DuckDB table the code location builds, found from its
definitions rather than listed by hand.

A warehouse table is an asset whose key's first part is a warehouse schema (``core``, ``marts``,
``ml``, ``reports``: the key ``core/streams`` is the table ``core.streams``) and that is stored
in DuckDB: written by the warehouse IO manager (``io_manager_key="warehouse_io_manager"``) or
built in SQL by its own step (kinds ``duckdb`` and ``sql``). ``spotify_assets.definitions``
derives the registry once every domain is loaded, then builds from it what every table has:
the table-wide checks (``spotify_assets.defs.quality.table_checks``), the BI exports and the
dashboard (``spotify_assets.defs.reports.assets``), and then ``reports/data_quality`` over every
check, those included. A new table is in the registry by being defined; nothing else lists it.

This module defines no Dagster objects itself (``dg.load_from_defs_folder`` loads it too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from spotify_assets.defs.automation import on_upstream_change
from spotify_assets.lib.lakehouse import NAMESPACES
from spotify_assets.resources.lakehouse import SQL_TABLE_KINDS, WAREHOUSE_IO_MANAGER_KEY

#: The schemas of the warehouse (the Iceberg namespaces in lakehouse mode).
WAREHOUSE_SCHEMAS = NAMESPACES
#: The pool of every step that writes the warehouse (its limit is in dagster.yaml: DuckDB
#: allows one writer; the lakehouse takes many, see deploy/dagster.yaml).
WAREHOUSE_POOL = "duckdb"


def warehouse_asset(**kwargs: Any) -> Callable[..., dg.AssetsDefinition]:
    """``dg.asset`` for a table built in SQL by its own step: in the warehouse pool, with the
    kinds that put it in the registry, and updated when what it reads changes (unless
    ``automation_condition`` says otherwise). Owners and freshness come from
    ``spotify_assets.definitions``, for every asset at once."""
    kwargs.setdefault("automation_condition", on_upstream_change())
    kinds = {*SQL_TABLE_KINDS, *kwargs.pop("kinds", ())}
    return dg.asset(pool=WAREHOUSE_POOL, kinds=kinds, **kwargs)


def warehouse_multi_asset(**kwargs: Any) -> Callable[..., dg.AssetsDefinition]:
    """``dg.multi_asset`` for a step that builds several tables in SQL (its specs carry the
    kinds), in the warehouse pool."""
    return dg.multi_asset(pool=WAREHOUSE_POOL, **kwargs)


@dataclass(frozen=True)
class WarehouseTable:
    """One table of the warehouse: its asset key, group and the checks its definitions declare
    on it (inline on the asset or standalone), by name."""

    key: dg.AssetKey
    group: str | None
    check_names: frozenset[str] = frozenset()
    #: Its row count may fall legitimately (asset metadata ``ROW_COUNT_MAY_DROP``: a table of
    #: rejected records empties when a bad file is fixed), so it gets no row-count check.
    row_count_may_drop: bool = False

    @property
    def schema(self) -> str:
        return self.key.path[0]

    @property
    def table(self) -> str:
        """``schema.table`` as SQL names it."""
        return ".".join(self.key.path)


def _is_warehouse_table(assets_def: dg.AssetsDefinition, spec: dg.AssetSpec) -> bool:
    if len(spec.key.path) != 2 or spec.key.path[0] not in WAREHOUSE_SCHEMAS:
        return False
    if "duckdb" not in spec.kinds:
        return False
    io_manager = assets_def.get_io_manager_key_for_asset_key(spec.key)
    return io_manager == WAREHOUSE_IO_MANAGER_KEY or "sql" in spec.kinds


#: Asset metadata key (a reason, str) of a table whose row count may fall legitimately.
ROW_COUNT_MAY_DROP = "spotify_assets/row_count_may_drop"


def warehouse_tables(defs: dg.Definitions) -> tuple[WarehouseTable, ...]:
    """Every warehouse table of ``defs``, ordered by key."""
    checks: dict[dg.AssetKey, set[str]] = {}
    items: Iterable = [*(defs.assets or []), *(defs.asset_checks or [])]
    for item in items:
        for check in getattr(item, "check_specs", ()):
            checks.setdefault(check.asset_key, set()).add(check.name)
    tables: dict[dg.AssetKey, WarehouseTable] = {}
    for assets_def in defs.assets or []:
        if not isinstance(assets_def, dg.AssetsDefinition):
            continue  # a bare AssetSpec is an external asset: not built here
        for spec in assets_def.specs:
            if _is_warehouse_table(assets_def, spec):
                tables[spec.key] = WarehouseTable(
                    spec.key,
                    spec.group_name,
                    frozenset(checks.get(spec.key, ())),
                    bool((spec.metadata or {}).get(ROW_COUNT_MAY_DROP)),
                )
    return tuple(sorted(tables.values(), key=lambda t: t.key.path))


def keys_of(
    tables: Iterable[WarehouseTable], *, schema: str | None = None, group: str | None = None
) -> list[dg.AssetKey]:
    """The keys of the tables in ``schema`` and/or ``group`` (all when neither is given)."""
    return [
        t.key
        for t in tables
        if (schema is None or t.schema == schema) and (group is None or t.group == group)
    ]
