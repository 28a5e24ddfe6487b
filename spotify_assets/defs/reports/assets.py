"""Group ``reports``: what leaves the platform, written to the lake's ``exports/`` zone.

- ``reports/dashboard``: an overview page with the interactive charts and headline numbers of
  every mart and the date of the data, and a page per listener (their Wrapped), with the Vega
  bundle vendored beside them (no network needed to open them);
- ``reports/bi_exports``: every mart as Parquet and CSV for Tableau, Power BI or QuickSight,
  and a DuckDB file with copies of them that BI tools open read-only without ever locking the
  warehouse while runs write it.

Both are built by :func:`report_assets` from the registry of warehouse tables
(``spotify_assets.defs.warehouse_tables``) once the definitions are loaded, so a new mart is
exported and its table is a dependency of the dashboard without being listed here.
"""

import functools
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.automation import (
    BI_EXPORT_CRON,
    CATALOG_FRESHNESS,
    EXPORT_FRESHNESS,
    on_cron,
    on_upstream_change,
)
from spotify_assets.defs.ml.assets import MODEL_KEY
from spotify_assets.defs.quality.assets import DATA_QUALITY_KEY
from spotify_assets.defs.warehouse_tables import WAREHOUSE_POOL, WarehouseTable, keys_of
from spotify_assets.lib.marts import catalog_marts as catalog_sql
from spotify_assets.lib.marts import chart_marts as chart_sql
from spotify_assets.lib.marts import engagement_marts as engagement_sql
from spotify_assets.lib.marts import listener_marts as listener_sql
from spotify_assets.lib.marts.export import BI_DATABASE, export_tables
from spotify_assets.lib.ml.candidate_hits import CANDIDATE_HITS
from spotify_assets.lib.reports.dashboard import Plot
from spotify_assets.lib.reports.overview import (
    LISTENER_DIR,
    MartGroup,
    data_quality_section,
    images_in_markdown,
    landed_files_section,
    write_dashboard,
)
from spotify_assets.resources import AlertsResource, LakeResource
from spotify_assets.resources.event_log import latest_metadata_value

DASHBOARD_KEY = dg.AssetKey(["reports", "dashboard"])
BI_EXPORTS_KEY = dg.AssetKey(["reports", "bi_exports"])
DASHBOARD_PREFIX = "exports/dashboard"
DASHBOARD_OBJECT = f"{DASHBOARD_PREFIX}/index.html"
MODEL_GROUP_TITLE = "Popularity model"
BI_PREFIX = "exports/bi"

DASHBOARD_GROUPS = (
    MartGroup(
        "Listening engagement",
        "Who listens, how much and when, from the listening-history exports (music only). The "
        "cards and the charts over time show the period picked at the top of the page; the "
        "other charts cover all time.",
        engagement_sql.MARTS,
        follows_period=True,
        period_tiles=True,
        without_headlines=(engagement_sql.DAILY_ENGAGEMENT.table,),
    ),
    MartGroup(
        MODEL_GROUP_TITLE,
        "Tracks a Random Forest rates well above their current popularity (held-out "
        "predictions: the model never saw the artist). Scores and charts: ml/popularity_model.",
        (CANDIDATE_HITS,),
    ),
    MartGroup(
        "Catalog",
        "The tracks and artists in the tracked playlists, from the Spotify Web API snapshots.",
        catalog_sql.MARTS,
    ),
    MartGroup(
        "Charts",
        "The public Spotify charts (charts.spotify.com, spotifycharts.com) that landed: top "
        "songs, movement, regional reach, artists by chart streams.",
        chart_sql.MARTS,
    ),
    MartGroup(
        "Listener Wrapped",
        "Every listener's year: marts.listener_wrapped (one row per listener and year, plus "
        "all time) and marts.listener_content; each listener has a page of their own.",
        listener_sql.MARTS,
        follows_period=True,
    ),
)


def _drawn_images(
    instance: dg.DagsterInstance, key: dg.AssetKey, name: str
) -> list[tuple[str, bytes]]:
    """The PNGs an asset drew into its latest materialization's ``name`` metadata."""
    value = latest_metadata_value(instance, key, name)
    return images_in_markdown(str(value)) if value is not None else []


def _location(uri: str) -> dg.MetadataValue:
    return dg.MetadataValue.url(uri) if "://" in uri else dg.MetadataValue.path(uri)


def exported_marts(tables: Sequence[WarehouseTable]) -> list[dg.AssetKey]:
    """The marts the BI exports take: every table of schema ``marts`` but the model's
    candidate hits (group ``ml``: exporting it would fail whenever the model is not trained,
    e.g. live without the training opt-in)."""
    return [t.key for t in tables if t.schema == "marts" and t.group != "ml"]


def report_assets(tables: Sequence[WarehouseTable]) -> list[dg.AssetsDefinition]:
    """``reports/dashboard`` over every mart of the registry and ``reports/bi_exports`` of
    :func:`exported_marts`; ``spotify_assets.definitions`` builds them once the registry is
    known."""
    exported = exported_marts(tables)

    @dg.asset(
        key=DASHBOARD_KEY,
        group_name="reports",
        deps=[*keys_of(tables, schema="marts"), MODEL_KEY, DATA_QUALITY_KEY],
        # Redrawn when reports/data_quality is refreshed too (the check sensor refreshes it
        # when a check changed status), so the page never shows check results older than the
        # table's: a check failing at 09:57 is on the page drawn after its refresh.
        automation_condition=on_upstream_change(),
        freshness_policy=CATALOG_FRESHNESS,
        kinds={"html"},
        pool=WAREHOUSE_POOL,
        description="The dashboard: an overview page with every mart's interactive charts and "
        "headline numbers (exports/dashboard/index.html) and a page per listener "
        "(exports/dashboard/listeners/<user>.html), the Vega bundle vendored beside them. "
        "Opens offline.",
    )
    def dashboard(
        context: dg.AssetExecutionContext,
        warehouse: DuckDBResource,
        lake: LakeResource,
        alerts: AlertsResource,
    ) -> dg.MaterializeResult:
        started = time.perf_counter()
        model_charts = [
            Plot(alt.capitalize(), png, caption="From ml/popularity_model's latest training.")
            for alt, png in _drawn_images(context.instance, MODEL_KEY, "charts")
        ]
        store = lake.store()
        with warehouse.get_connection() as conn:
            summary = write_dashboard(
                conn,
                lambda path, data: store.put_bytes(f"{DASHBOARD_PREFIX}/{path}", data),
                DASHBOARD_GROUPS,
                generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                extra_plots={MODEL_GROUP_TITLE: model_charts},
                # Each check needing attention links to its asset in the Dagster UI (the
                # address alerts link to: SPOTIFY_UI_URL, else the local port).
                tail_sections=(
                    functools.partial(data_quality_section, ui_url=alerts.ui_url),
                    landed_files_section,
                ),
            )
        uri = lake.uri(DASHBOARD_OBJECT)
        pages = {p: n for p, n in summary.files.items() if p.startswith(f"{LISTENER_DIR}/")}
        context.log.info(
            f"Dashboard with {summary.charts} charts and {len(pages)} listener pages written "
            f"to {uri}"
        )
        return dg.MaterializeResult(
            metadata={
                "path": _location(uri),
                "charts": summary.charts,
                "sections": summary.sections,
                "bytes": summary.files["index.html"],
                "listener_pages": len(pages),
                "largest_listener_page_bytes": max(pages.values(), default=0),
                "total_bytes": sum(summary.files.values()),
                **{f"data: {k}": v for k, v in summary.as_of.items()},
                "missing": dg.MetadataValue.json(summary.notes),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )

    @dg.asset(
        key=BI_EXPORTS_KEY,
        group_name="reports",
        deps=exported,
        automation_condition=on_cron(BI_EXPORT_CRON),
        freshness_policy=EXPORT_FRESHNESS,
        kinds={"parquet", "csv", "duckdb"},
        pool=WAREHOUSE_POOL,
        description="Every mart as Parquet and CSV under exports/bi/<schema>/<table>.<ext>, and "
        f"exports/bi/{BI_DATABASE} (copies of the marts) for BI tools to open read-only.",
    )
    def bi_exports(
        context: dg.AssetExecutionContext, warehouse: DuckDBResource, lake: LakeResource
    ) -> dg.MaterializeResult:
        started = time.perf_counter()
        names = [".".join(key.path) for key in exported]
        store = lake.store()
        with tempfile.TemporaryDirectory(prefix="bi-exports-") as tmp:
            with warehouse.get_connection() as conn:
                files = export_tables(conn, names, Path(tmp))
            for f in files:
                store.put_file(f"{BI_PREFIX}/{f.name}", f.path)
        context.log.info(f"{len(names)} marts exported to {lake.uri(BI_PREFIX)}")
        listing = dg.TableRecord
        return dg.MaterializeResult(
            metadata={
                "path": _location(lake.uri(BI_PREFIX)),
                "duckdb_file": _location(lake.uri(f"{BI_PREFIX}/{BI_DATABASE}")),
                "tables": len(names),
                "files": dg.MetadataValue.table(
                    [
                        listing({"file": f.name, "rows": f.rows or 0, "bytes": f.bytes})
                        for f in files
                    ],
                    schema=dg.TableSchema(
                        columns=[
                            dg.TableColumn("file", "string"),
                            dg.TableColumn("rows", "int"),
                            dg.TableColumn("bytes", "int"),
                        ]
                    ),
                ),
                "bytes": sum(f.bytes for f in files),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )

    return [dashboard, bi_exports]


analytics_job = dg.define_asset_job(
    "analytics_job",
    selection=dg.AssetSelection.groups("marts", "ml", "reports")
    - dg.AssetSelection.assets(DASHBOARD_KEY, DATA_QUALITY_KEY),
    description="Rebuild every mart, the popularity model and the BI exports from the core "
    "tables (then dashboard_job draws the dashboard with their check results).",
)

dashboard_job = dg.define_asset_job(
    "dashboard_job",
    selection=dg.AssetSelection.assets(DATA_QUALITY_KEY, DASHBOARD_KEY),
    description="Collect the latest check results into reports/data_quality, then draw the "
    "dashboard.",
)
