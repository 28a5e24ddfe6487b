"""What marts define beside their tables: the views of marts stored in parts
(``marts.content_daily``, see ``Mart.parts``) and the table macros of ``Mart.after_sql``
(``marts.top_content``, ``marts.affinity``, ``marts.top_chart_tracks``). DuckDB keeps them in
the warehouse file; an Iceberg catalog holds only tables, so in lakehouse mode every
connection over the lakehouse defines them again (readers too: see docs/LAKEHOUSE.md)."""

from __future__ import annotations

from spotify_assets.lib.marts.run import view_statement


def mart_definitions() -> dict[str, list[str]]:
    """Every mart's view and macro definitions (``create or replace view|macro ...``), in
    order, by the table they need (``marts.content_daily_counts``, the last table a mart is
    stored in): define them once it exists."""
    from spotify_assets.lib.marts import (
        catalog_marts,
        chart_marts,
        engagement_marts,
        listener_marts,
    )

    modules = (catalog_marts, engagement_marts, listener_marts, chart_marts)
    definitions: dict[str, list[str]] = {}
    for module in modules:
        for mart in module.MARTS:
            statements = [view_statement(mart)] if mart.parts else []
            statements += [
                sql
                for sql in mart.after_sql
                if sql.lstrip().lower().startswith("create or replace macro")
            ]
            if statements:
                definitions.setdefault(mart.stored_in[-1], []).extend(statements)
    return definitions
