"""Turns a module's marts (``spotify_assets.lib.marts``) into one Dagster multi-asset.

One step per domain builds all its marts on one DuckDB connection: each mart is a
``CREATE OR REPLACE TABLE marts.<name> AS SELECT ...`` inside DuckDB (``core.streams`` never
becomes a DataFrame), so the cost of a step (a run event, a connection) is paid once per
domain rather than once per mart, while ``can_subset`` still lets the UI or automation refresh
a single mart. Each mart gets its own materialization with ``dagster/row_count``,
``dagster/column_schema`` (with the column descriptions), ``dagster/column_lineage``, its
headline numbers and its plots as Markdown with embedded PNGs.

Charts are drawn in a background thread while DuckDB computes the next mart: DuckDB releases
the GIL while it works, so drawing costs little extra wall time.
"""

import dataclasses
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.quality.rule_checks import rule_check_result, rule_check_spec
from spotify_assets.defs.quality.table_checks import (
    inline_row_count_result,
    inline_row_count_spec,
)
from spotify_assets.defs.warehouse_tables import WAREHOUSE_POOL
from spotify_assets.lib.listening.streams import ensure_streams
from spotify_assets.lib.marts.run import (
    build_mart,
    headline,
    memory_share,
    plot_frame,
    prepare,
    scratch_of,
    scratch_tables,
)
from spotify_assets.lib.marts.spec import Mart
from spotify_assets.lib.quality.rules import (
    Rule,
    evaluate,
    unique_key,
    within_unit_interval,
)
from spotify_assets.lib.reports.plots import markdown_image, render
from spotify_assets.resources.lakehouse import STORED_IN
from spotify_assets.resources.table_metadata import table_schema

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd


def table_key(table: str) -> dg.AssetKey:
    """``core.tracks`` -> ``AssetKey(["core", "tracks"])``: the layer is the DuckDB schema."""
    return dg.AssetKey(table.split("."))


def mart_key(mart: Mart) -> dg.AssetKey:
    return dg.AssetKey(["marts", mart.name])


def mart_spec(
    mart: Mart,
    *,
    group: str,
    automation_condition: dg.AutomationCondition | None,
    freshness_policy: dg.FreshnessPolicy | None,
) -> dg.AssetSpec:
    stored = "".join(f"\n- `{p.table}`: {p.description}" for p in mart.parts)
    return dg.AssetSpec(
        key=mart_key(mart),
        group_name=group,
        description=mart.description + (f"\n\nA view over:{stored}" if stored else ""),
        deps=[table_key(t) for t in mart.reads],
        kinds={"duckdb", "sql"},
        automation_condition=automation_condition,
        freshness_policy=freshness_policy,
        metadata={
            "dagster/table_name": f"warehouse.{mart.table}",
            **({STORED_IN: list(mart.stored_in)} if mart.parts else {}),
        },
        skippable=True,
    )


def column_lineage(mart: Mart) -> dg.TableColumnLineage:
    """Each derived column's upstream columns (each named once, as Dagster requires)."""
    return dg.TableColumnLineage(
        deps_by_column={
            column: [
                dg.TableColumnDep(asset_key=table_key(table), column_name=source)
                for table, source in dict.fromkeys(sources)
            ]
            for column, sources in mart.lineage.items()
        }
    )


def draw_plots(mart: Mart, frames: Sequence["pd.DataFrame"]) -> str:
    """All of a mart's plots as one Markdown block (a heading and an image each)."""
    parts = []
    for plot, frame in zip(mart.plots, frames, strict=True):
        parts.append(f"**{plot.title}**\n\n{markdown_image(render(plot, frame), plot.title)}")
    return "\n\n".join(parts)


def mart_sql_text(mart: Mart) -> str:
    """The mart's SELECT, after the scratch tables it reads (built once per step)."""
    parts = [
        f"-- scratch table, built once per step\ncreate temp table {s.name} as\n{s.sql.strip()};"
        for s in scratch_of([mart])
    ]
    parts += [f"create or replace table {p.table} as\n{p.sql.strip()};" for p in mart.parts]
    kind = "view" if mart.parts else "table"
    return "\n\n".join([*parts, f"create or replace {kind} {mart.table} as\n{mart.sql.strip()}"])


def mart_metadata(conn: Any, mart: Mart, seconds: float) -> dict[str, Any]:
    rows = conn.execute(f"select count(*) from {mart.table}").fetchall()[0][0]
    metadata: dict[str, Any] = {
        "dagster/row_count": int(rows),
        "dagster/column_schema": table_schema(conn, "marts", mart.name, mart.columns),
        "dagster/table_name": f"warehouse.{mart.table}",
        "seconds": round(seconds, 3),
        "sql": dg.MetadataValue.md(f"```sql\n{mart_sql_text(mart)}\n```"),
    }
    if mart.lineage:
        metadata["dagster/column_lineage"] = column_lineage(mart)
    for name, value in headline(conn, mart).items():
        metadata[name] = value
    return metadata


def mart_assets(
    name: str,
    marts: Sequence[Mart],
    *,
    group: str,
    description: str,
    automation_condition: dg.AutomationCondition | None = None,
    freshness_policy: dg.FreshnessPolicy | None = None,
) -> dg.AssetsDefinition:
    """One subsettable multi-asset ``name`` that builds ``marts`` in order, with each mart's
    checks (:func:`mart_check_specs`) evaluated inline right after it is built."""
    by_key = {mart_key(m): m for m in marts}
    specs = [
        mart_spec(
            m,
            group=group,
            automation_condition=automation_condition,
            freshness_policy=freshness_policy,
        )
        for m in marts
    ]

    @dg.multi_asset(
        name=name,
        specs=specs,
        check_specs=[spec for m in marts for spec in mart_check_specs(m)],
        can_subset=True,
        pool=WAREHOUSE_POOL,
        description=description,
    )
    def _build(
        context: dg.AssetExecutionContext, warehouse: DuckDBResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        selected = [m for key, m in by_key.items() if key in context.selected_asset_keys]
        started = time.perf_counter()
        built: list[tuple[Mart, dict[str, Any], Future[str], list]] = []
        with warehouse.get_connection() as conn, ThreadPoolExecutor(1) as drawer:
            prepare(conn)
            if any("core.streams" in m.reads for m in selected) and ensure_streams(conn):
                context.log.info(
                    "core.streams does not exist yet (no listening history has landed): "
                    "created empty, so these marts show no plays"
                )
            # One transaction for the step: a step stopped half-way (a killed run worker, an
            # error) leaves every mart as it was, never some rebuilt and some not; its retry
            # rebuilds them all.
            conn.execute("begin transaction")
            try:
                built = list(_build_in(context, conn, warehouse, selected, drawer))
                conn.execute("commit")
            except BaseException:
                conn.execute("rollback")
                raise
        # Materialized once committed (each mart's plots were drawn while the next was built).
        for item in built:
            yield from _results(*item)
        context.log.info(f"{len(selected)} marts in {time.perf_counter() - started:.1f} s")

    return _build


def _build_in(
    context: dg.AssetExecutionContext,
    conn: Any,
    warehouse: DuckDBResource,
    selected: list[Mart],
    drawer: ThreadPoolExecutor,
) -> Iterator[tuple[Mart, dict[str, Any], Future[str], list[dg.AssetCheckResult]]]:
    """Build ``selected`` in order on ``conn``, each with its metadata, checks and plots (drawn
    in ``drawer`` while the next mart is built); the scratch tables they share built once.
    DuckDB gets its share of the memory limit, leaving room for the process around it."""
    configured = (warehouse.connection_config or {}).get("memory_limit")
    with memory_share(conn, configured), scratch_tables(conn, selected) as scratch_seconds:
        for name, seconds in scratch_seconds.items():
            context.log.info(f"scratch table {name} in {seconds:.2f} s")
        for i, mart in enumerate(selected, 1):
            seconds = build_mart(conn, mart)
            metadata = mart_metadata(conn, mart, seconds)
            checks = [
                result
                for result in mart_check_results(context, conn, mart, metadata)
                if dg.AssetCheckKey(result.asset_key, result.check_name)
                in context.selected_asset_check_keys
            ]
            frames = [plot_frame(conn, mart, plot) for plot in mart.plots]
            context.log.info(
                f"[{i}/{len(selected)}] {mart.table}: "
                f"{metadata['dagster/row_count']:,} rows in {seconds:.2f} s"
            )
            yield mart, metadata, drawer.submit(draw_plots, mart, frames), checks


def _results(
    mart: Mart, metadata: dict[str, Any], plots: Future[str], checks: list[dg.AssetCheckResult]
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    if mart.plots:
        metadata = {**metadata, "plot": dg.MetadataValue.md(plots.result())}
    yield dg.MaterializeResult(asset_key=mart_key(mart), metadata=metadata)
    yield from checks


# Checks of every mart. A mart is a table people and dashboards read: a duplicated key doubles
# a KPI, a share outside [0, 1] is a bug, and a table that lost more than half its rows since
# the last build means an upstream table was cut short. All three are ERROR and blocking: the
# dashboard and the exports keep their previous version until a person looks. The first two
# are data-quality rules (lib/quality/rules.py) under short, mart-independent check names.
KEY_CHECK = "key_unique_not_null"
RATES_CHECK = "rates_within_0_1"


def mart_rules(mart: Mart) -> list[Rule]:
    rules = []
    if mart.key and not mart.key_by_construction:
        rules.append(dataclasses.replace(unique_key(mart.table, mart.key), name=KEY_CHECK))
    if mart.rate_columns:
        rule = within_unit_interval(mart.table, mart.rate_columns, key=", ".join(mart.key or ["*"]))
        rules.append(dataclasses.replace(rule, name=RATES_CHECK))
    return rules


def mart_check_specs(mart: Mart) -> list[dg.AssetCheckSpec]:
    key = mart_key(mart)
    return [
        inline_row_count_spec(key, mart.table),
        *[rule_check_spec(key, rule) for rule in mart_rules(mart)],
    ]


def mart_check_results(
    context: dg.AssetExecutionContext, conn: Any, mart: Mart, metadata: dict[str, Any]
) -> list[dg.AssetCheckResult]:
    key = mart_key(mart)
    return [
        inline_row_count_result(context.instance, key, int(metadata["dagster/row_count"])),
        *[rule_check_result(key, evaluate(conn, rule)) for rule in mart_rules(mart)],
    ]
