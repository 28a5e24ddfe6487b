"""Checks on the assets that hold no warehouse table, so every asset has at least one:

- ``raw/playlist_snapshots`` / ``every_playlist_complete`` (ERROR, blocking): every configured
  playlist was fetched in the window, with as many items as its body's ``total``;
- ``raw/catalog_entities`` / ``referenced_artists_fetched`` (WARN): every artist the window
  references has a body fetched within the refresh window;
- ``raw/catalog_lookups`` / ``referenced_tracks_resolve`` (WARN): at most 20% of the tracks
  the history and charts reference are unknown to Spotify (more means bad references);
- ``reports/dashboard`` / ``every_section_written`` (ERROR): the page is in the lake with a
  section for every dashboard group, data quality and landed files;
- ``reports/bi_exports`` / ``exports_match_marts`` (ERROR): every exported mart is there, with
  exactly its mart's rows;
- ``reports/data_quality`` / ``covers_every_check`` (ERROR): a row for every check of the
  code location.

They read what the asset wrote (the lake, the warehouse) and run with it (eager), in the same
run. Snapshot checks look at the window the asset materialized last (the one of this run).
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.catalog.assets import ENTITIES_KEY, LOOKUPS_KEY, SNAPSHOTS_KEY
from spotify_assets.defs.quality.assets import DATA_QUALITY_KEY
from spotify_assets.defs.reports.assets import (
    BI_EXPORTS_KEY,
    BI_PREFIX,
    DASHBOARD_GROUPS,
    DASHBOARD_KEY,
    DASHBOARD_OBJECT,
)
from spotify_assets.lib.catalog.snapshots import manifest_key
from spotify_assets.lib.lake import LakeError
from spotify_assets.lib.quality.coverage import (
    export_row_problems,
    missing_artist_bodies,
    missing_sections,
    snapshot_problems,
    uncovered_checks,
)
from spotify_assets.resources import LakeResource, SpotifyResource
from spotify_assets.resources.event_log import latest_metadata, latest_partition

EAGER = dg.AutomationCondition.eager()
#: The sections the dashboard writes after the mart groups (lib/reports/overview.py).
TAIL_SECTIONS = ("Data quality", "Landed files not ingested")
SHOWN = 20  # problems listed in a result's description; all are in its metadata


def _result(problems: list[str], ok: str, **metadata) -> dg.AssetCheckResult:
    description = (
        ok
        if not problems
        else "; ".join(problems[:SHOWN])
        + (f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else "")
    )
    return dg.AssetCheckResult(
        passed=not problems,
        description=description,
        metadata={"violations": len(problems), **metadata},
    )


@dg.asset_check(
    asset=SNAPSHOTS_KEY,
    name="every_playlist_complete",
    blocking=True,
    automation_condition=EAGER,
    description="Every configured playlist was fetched in the window, with as many items as "
    "the API's total for it (a lost page would cut core.playlist_tracks)",
)
def every_playlist_complete(
    context: dg.AssetCheckExecutionContext, spotify: SpotifyResource, lake: LakeResource
) -> dg.AssetCheckResult:
    window = latest_partition(context.instance, SNAPSHOTS_KEY)
    if window is None:
        return _result(["no window was materialized"], "")
    store = lake.store()
    manifest = store_json(lake, manifest_key(window))
    expected = spotify.snapshot_playlist_ids()
    problems = snapshot_problems(store, window, manifest, expected)
    return _result(
        problems,
        f"{len(expected)} playlists complete in window {window}",
        window=window,
        playlists=len(expected),
    )


@dg.asset_check(
    asset=ENTITIES_KEY,
    name="referenced_artists_fetched",
    automation_condition=EAGER,
    description="Every artist the window's playlists reference has a body fetched within the "
    "refresh window (else core.artists lacks it: WARN, a person should look)",
)
def referenced_artists_fetched(
    context: dg.AssetCheckExecutionContext, spotify: SpotifyResource, lake: LakeResource
) -> dg.AssetCheckResult:
    window = latest_partition(context.instance, ENTITIES_KEY)
    if window is None:
        return _result(["no window was materialized"], "")
    manifest = store_json(lake, manifest_key(window))
    missing = missing_artist_bodies(lake.store(), window, manifest, spotify.entity_refresh_hours)
    return _result(
        [f"artist {a} has no body" for a in missing],
        f"every referenced artist of window {window} has a body",
        window=window,
    )


#: Share of referenced tracks Spotify may not know before the lookups check warns.
MAX_UNKNOWN_TRACKS = 0.2


@dg.asset_check(
    asset=LOOKUPS_KEY,
    name="referenced_tracks_resolve",
    automation_condition=EAGER,
    description=f"At most {MAX_UNKNOWN_TRACKS:.0%} of the tracks core.streams and "
    "core.chart_entries reference are unknown to Spotify (more means ids from another source "
    "or market: WARN)",
)
def referenced_tracks_resolve(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    md = latest_metadata(context.instance, LOOKUPS_KEY)
    if md is None:
        return _result(["raw/catalog_lookups was never materialized"], "")
    referenced = int(md.get("tracks_referenced") or 0)
    unknown = int(md.get("tracks_not_found") or 0)
    share = unknown / referenced if referenced else 0.0
    problems = (
        [f"{unknown} of {referenced} referenced tracks ({share:.0%}) are unknown to Spotify"]
        if share > MAX_UNKNOWN_TRACKS
        else []
    )
    return _result(
        problems,
        f"{unknown} of {referenced} referenced tracks unknown to Spotify",
        tracks_referenced=referenced,
        tracks_not_found=unknown,
    )


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
        return _result([f"{lake.uri(DASHBOARD_OBJECT)} is not written ({exc})"], "")
    missing = missing_sections(page, titles)
    return _result(
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
        pool="duckdb",
        automation_condition=EAGER,
        description="Every mart the BI exports take is exported as Parquet with exactly the "
        "rows of its table in the warehouse",
    )
    def exports_match_marts(lake: LakeResource, warehouse: DuckDBResource) -> dg.AssetCheckResult:
        exports = {t: f"{BI_PREFIX}/{t.replace('.', '/')}.parquet" for t in marts}
        with warehouse.get_connection() as conn:
            problems = export_row_problems(lake.store(), exports, conn)
        return _result(
            problems, f"{len(marts)} marts exported with all their rows", marts=len(marts)
        )

    return exports_match_marts


def build_covers_every_check(declared: list[tuple[str, str]]) -> dg.AssetChecksDefinition:
    """``covers_every_check`` on ``reports/data_quality``, over every check ``declared`` in
    the code location (itself included), known when the definitions are built."""
    declared = [*declared, (DATA_QUALITY_KEY.to_user_string(), "covers_every_check")]

    @dg.asset_check(
        asset=DATA_QUALITY_KEY,
        name="covers_every_check",
        blocking=True,
        pool="duckdb",
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
        return _result(
            [f"{m} is not in reports.data_quality" for m in missing],
            f"all {len(set(declared))} checks covered",
            checks=len(set(declared)),
        )

    return covers_every_check


def store_json(lake: LakeResource, key: str) -> dict:
    """A JSON object of the lake (a window's manifest); an unreadable one reads as empty, so
    the check reports every playlist or artist as missing instead of crashing."""
    try:
        return dict(lake.get_json(key))
    except (LakeError, TypeError, ValueError):
        return {}
