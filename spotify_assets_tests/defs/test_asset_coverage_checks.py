"""Every asset has at least one check; the checks of the assets that hold no table catch what
they are for: a playlist cut short or missing from a window, an artist without a body, a
dashboard section missing, an export that lost rows, a check missing from data quality."""

from __future__ import annotations

import dagster as dg
import duckdb
import orjson
import pandas as pd
import pytest

from spotify_assets.defs.catalog.assets import (
    SNAPSHOTS_KEY,
    catalog_entities,
    playlist_snapshots,
)
from spotify_assets.defs.catalog.checks import every_playlist_complete, referenced_artists_fetched
from spotify_assets.defs.reports.checks import every_section_written
from spotify_assets.lib.catalog.snapshots import document_key
from spotify_assets.lib.quality.coverage import (
    export_row_problems,
    missing_sections,
    uncovered_checks,
)
from spotify_assets.resources import LakeIOManager, LakeResource, SpotifyResource

pytestmark = pytest.mark.slow  # materializes assets with real resources

WINDOW = "2026-06-01-00:00"


def test_every_asset_of_the_code_location_has_a_check():
    from spotify_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    checked = {key.asset_key for key in graph.asset_check_keys}
    unchecked = sorted(
        k.to_user_string() for k in graph.materializable_asset_keys if k not in checked
    )
    assert unchecked == []


def _resources(tmp_path):
    lake = LakeResource(url=str(tmp_path / "lake"))
    return {
        "spotify": SpotifyResource(source="sample", sample_scale="tiny", backoff_s=0.01),
        "lake": lake,
        "lake_io_manager": LakeIOManager(lake=lake),
    }


def _evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_snapshot_and_entity_checks_pass_then_name_a_playlist_cut_short(tmp_path, tiny_world):
    resources = _resources(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    assets = [playlist_snapshots, catalog_entities, every_playlist_complete]
    assets.append(referenced_artists_fetched)
    result = dg.materialize(assets, partition_key=WINDOW, resources=resources, instance=instance)
    found = _evaluations(result)
    assert found["every_playlist_complete"].passed, found["every_playlist_complete"].description
    assert found["referenced_artists_fetched"].passed

    # One playlist's last page of items is lost (what a truncated pagination would leave).
    store = resources["lake"].store()
    playlist_id = resources["spotify"].snapshot_playlist_ids()[0]
    doc = orjson.loads(store.get_bytes(document_key(WINDOW, playlist_id)))
    page = doc["item_pages"][-1] if doc["item_pages"] else doc["playlist"]["items"]
    lost = len(page["items"])
    page["items"] = []
    store.put_bytes(document_key(WINDOW, playlist_id), orjson.dumps(doc))
    # The window runs again: it reuses the documents it holds (the damaged one too).
    again = dg.materialize(
        assets,
        selection=dg.AssetSelection.assets(SNAPSHOTS_KEY),
        partition_key=WINDOW,
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    check = _evaluations(again)["every_playlist_complete"]
    assert not check.passed
    assert playlist_id in check.description and "the API announced" in check.description
    assert lost > 0
    assert check.metadata["violations"].value == 1


def test_dashboard_sections_are_checked_on_the_written_page(tmp_path):
    lake = LakeResource(url=str(tmp_path / "lake"))
    missing = every_section_written(lake=lake)
    assert not missing.passed and "is not written" in missing.description
    page = "".join(
        f"<section><h2>{t}</h2></section>"
        for t in ("Listening", "Data quality", "Landed files not ingested")
    )
    assert missing_sections(page, ["Listening", "Data quality", "Catalog"]) == ["Catalog"]
    # Titles are matched as the page escapes them.
    assert missing_sections("<h2>Skips &amp; sessions</h2>", ["Skips & sessions"]) == []


def test_export_rows_are_compared_with_their_mart(tmp_path):
    lake = LakeResource(url=str(tmp_path / "lake"))
    store = lake.store()
    conn = duckdb.connect()
    conn.execute("create schema marts")
    conn.execute("create table marts.a as select range as x from range(10)")
    conn.execute("create table marts.b as select range as x from range(5)")
    for table, rows in (("a", 10), ("b", 4)):
        path = tmp_path / f"{table}.parquet"
        pd.DataFrame({"x": range(rows)}).to_parquet(path)
        store.put_file(f"exports/bi/marts/{table}.parquet", path)
    exports = {t: f"exports/bi/{t.replace('.', '/')}.parquet" for t in ("marts.a", "marts.b")}
    assert export_row_problems(store, exports, conn) == [
        "marts.b: 4 rows exported, 5 in the warehouse"
    ]
    exports["marts.c"] = "exports/bi/marts/c.parquet"
    conn.execute("create table marts.c as select 1 as x")
    problems = export_row_problems(store, exports, conn)
    assert len(problems) == 2 and problems[1].startswith("marts.c: no export")


def test_uncovered_checks_are_named():
    declared = [("core/streams", "a"), ("core/streams", "b"), ("reports/dashboard", "c")]
    reported = [("core/streams", "a"), ("reports/dashboard", "c")]
    assert uncovered_checks(declared, reported) == ["core/streams / b"]
