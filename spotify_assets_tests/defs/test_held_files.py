"""Checks that do not forget: a landed file whose blocking check failed stays failed in
reports/data_quality, and its rows stay out of core.streams, however many good batches come
after it, until the file is fixed (landed again) or removed."""

from __future__ import annotations

import json

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.listening.assets import streams_tables
from spotify_assets.defs.listening.history_files import STREAMING_HISTORY
from spotify_assets.defs.quality.assets import build_data_quality_asset, check_specs_of
from spotify_assets.lib.reports.dashboard import build_dashboard
from spotify_assets.lib.reports.overview import data_quality_section
from spotify_assets.resources import LakeResource, WarehouseIOManager
from spotify_assets_tests.support.landing import Landing

pytestmark = pytest.mark.slow  # materializes assets with real resources

LANDING = "landing/streaming_history"


def play(ts: str, ms: int, track: str) -> dict:
    return {
        "ts": ts,
        "platform": "ios",
        "ms_played": ms,
        "conn_country": "SE",
        "master_metadata_track_name": f"Song {track}",
        "master_metadata_album_artist_name": "Artist",
        "master_metadata_album_album_name": "Album",
        "spotify_track_uri": f"spotify:track:{track:0>22}",
        "reason_start": "clickrow",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "incognito_mode": False,
    }


def history(n: int, bad: bool = False) -> bytes:
    rows = [play(f"2024-03-0{1 + i % 5}T1{i % 10}:00:00Z", 180000, f"t{i}") for i in range(n)]
    if bad:
        rows[0]["ms_played"] = -5  # no play lasts a negative time: ERROR check
    return json.dumps(rows).encode()


def land(lake: LakeResource, path: str, data: bytes) -> None:
    lake.store().put_bytes(f"{LANDING}/{path}", data)


def plays_by_file(database: str) -> dict[str, int]:
    with duckdb.connect(database, read_only=True) as conn:
        return dict(
            conn.execute("select source_file, count(*) from core.streams group by all").fetchall()
        )


def test_a_failed_file_stays_failed_and_out_of_core_streams_until_fixed(tmp_path):
    lake = LakeResource(url=str(tmp_path / "lake"))
    database = str(tmp_path / "warehouse.duckdb")
    resources = {
        "lake": lake,
        "warehouse": DuckDBResource(database=database),
        "warehouse_io_manager": WarehouseIOManager(database=database),
    }
    instance = dg.DagsterInstance.ephemeral()
    assets = [STREAMING_HISTORY.asset, streams_tables]
    zone = Landing(STREAMING_HISTORY, resources, instance, assets=assets)
    data_quality = build_data_quality_asset(
        check_specs_of(dg.Definitions(assets=assets)), [STREAMING_HISTORY]
    )

    def build():
        dg.materialize([*assets, data_quality], selection=[streams_tables, data_quality],
                       instance=instance, resources=zone.resources)  # fmt: skip

    def quality_rows(check: str):
        with duckdb.connect(database, read_only=True) as conn:
            return conn.execute(
                "select partition, status from reports.data_quality where asset_key = ? "
                "and check_name = ? order by partition nulls first",
                [STREAMING_HISTORY.key.to_user_string(), check],
            ).fetchall()

    land(lake, "alice/Streaming_History_Audio_2024.json", history(30))
    land(lake, "bob/Streaming_History_Audio_2024.json", history(20, bad=True))
    zone.land()
    build()
    bob = "bob/Streaming_History_Audio_2024.json"
    assert set(plays_by_file(database)) == {"alice/Streaming_History_Audio_2024.json"}
    event = instance.get_latest_materialization_event(dg.AssetKey(["core", "streams"]))
    held = event.asset_materialization.metadata["files_held_out"].value
    assert list(held) == [bob] and "ms_played_non_negative" in held[bob]

    # A later batch of good files passes its checks: bob's file is still failed and held out.
    land(lake, "carol/Streaming_History_Audio_2024.json", history(10))
    zone.land()
    check_key = dg.AssetCheckKey(STREAMING_HISTORY.key, "ms_played_non_negative")
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])
    assert latest[check_key].event.dagster_event.event_specific_data.passed  # the batch passed
    build()
    assert bob not in plays_by_file(database) and len(plays_by_file(database)) == 2
    assert quality_rows("ms_played_non_negative") == [(None, "failed"), (bob, "failed")]

    # The dashboard's data section lists the failures first.
    with duckdb.connect(database, read_only=True) as conn:
        section = data_quality_section(conn)
    assert list(section.table["status"][:2]) == ["failed", "failed"]
    assert section.table["status"].tolist().index("passed") >= 2
    page = build_dashboard("t", "now", [section], generated_at="now")
    # Severity is red on failed rows only: no unscoped colour rule for ERROR.
    assert "tr.failed .sev-error" in page and "\n.sev-error {" not in page

    # bob lands a fixed export: it passes, its rows come in, nothing is held any more.
    land(lake, bob, history(20))
    zone.land()
    build()
    assert plays_by_file(database)[bob] == 20
    assert quality_rows("ms_played_non_negative") == [(None, "passed")]
