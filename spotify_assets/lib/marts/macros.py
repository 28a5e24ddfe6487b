"""The table macros some marts define beside their table (``Mart.after_sql``:
``marts.top_content``, ``marts.affinity``, ``marts.top_chart_tracks``). DuckDB keeps them in
the warehouse file; an Iceberg catalog holds only tables, so in lakehouse mode every
connection over the lakehouse defines them again (readers too: see docs/LAKEHOUSE.md)."""

from __future__ import annotations


def mart_macros() -> dict[str, list[str]]:
    """Every mart's macro definitions (``create or replace macro ...``) by the mart's table
    (``marts.content_daily``), which they read: define them once it exists."""
    from spotify_assets.lib.marts import (
        catalog_marts,
        chart_marts,
        engagement_marts,
        listener_marts,
    )

    modules = (catalog_marts, engagement_marts, listener_marts, chart_marts)
    macros: dict[str, list[str]] = {}
    for module in modules:
        for mart in module.MARTS:
            for sql in mart.after_sql:
                if sql.lstrip().lower().startswith("create or replace macro"):
                    macros.setdefault(mart.table, []).append(sql)
    return macros
