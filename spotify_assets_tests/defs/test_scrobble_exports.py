"""Last.fm and ListenBrainz exports through the assets: landed in a listener's folder, taken by
the sensor, built into ``core.streams`` with its checks passing, every landed object listed
in ``core.landing_files`` with its status and reason; and ``core.streams``' checks fail when
the merge counts a scrobble twice or loses the play it merged into."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.landing import landing_files_asset
from spotify_assets.defs.listening import assets as listening_assets
from spotify_assets.defs.listening.assets import streams_tables
from spotify_assets.defs.listening.history_files import STREAMING_HISTORY
from spotify_assets.resources import LakeResource
from spotify_assets_tests.lib.test_scrobbles import LANDED as STORY
from spotify_assets_tests.support.landing import Landing

pytestmark = pytest.mark.slow  # materializes assets with real resources

LANDING = "landing/streaming_history"
FIXTURES = Path(__file__).parents[1] / "lib" / "fixtures" / "scrobbles"


def build(tmp_path, files: dict[str, bytes]):
    lake = LakeResource(url=str(tmp_path / "lake"))
    for rel, data in files.items():
        lake.store().put_bytes(f"{LANDING}/{rel}", data)
    database = str(tmp_path / "warehouse.duckdb")
    instance = dg.DagsterInstance.ephemeral()
    resources = {"lake": lake, "warehouse": DuckDBResource(database=database)}
    zone = Landing(STREAMING_HISTORY, resources, instance, assets=[streams_tables])
    assert all(result.success for result in zone.land())
    landing_files = landing_files_asset([STREAMING_HISTORY])
    built = dg.materialize(
        [STREAMING_HISTORY.asset, streams_tables, landing_files],
        selection=[streams_tables, landing_files],
        instance=instance,
        resources=zone.resources,
        raise_on_error=False,
    )
    return built, database


def test_every_export_of_every_service_lands_and_counts_once(tmp_path):
    files = {
        f"example_user/{p.name}": p.read_bytes() for p in FIXTURES.iterdir() if p.suffix != ".md"
    }
    built, database = build(tmp_path, files)
    checks = {c.check_name: c for c in built.get_asset_check_evaluations()}
    assert all(c.passed for c in checks.values()), [n for n, c in checks.items() if not c.passed]
    with duckdb.connect(database, read_only=True) as conn:
        by_source = dict(
            conn.execute("select source_format, count(*) from core.streams group by all").fetchall()
        )
        # Last.fm: the 13 scrobbles of January 2021 (in 7 files of 5 shapes, minutes or seconds,
        # commas stripped or not), 7 of July 2024 (one twice), 5 of the old archive (TSV and
        # JSON); ListenBrainz: 5 listens (in two export zips, the old array, two API answers)
        assert by_source == {"lastfm": 25, "listenbrainz": 5}
        inventory = {
            (Path(k).name, m): (s, r)
            for k, m, s, r in conn.execute(
                "select key, member, status, reason from core.landing_files"
            ).fetchall()
        }
    assert {k for k, _ in inventory} == {Path(k).name for k in files}
    rejected = {k for (k, _), (s, _) in inventory.items() if s == "rejected"}
    assert rejected == {
        "error_429.json",
        "error_8_operation_failed.json",
        "recenttracks_example_user_page3.json",
        "recenttracks_example_user_page4.json",
    }
    not_taken = {m for (_, m), (s, _) in inventory.items() if s == "not_ingested" and m}
    assert {"user.json", "feedback.jsonl", "pinned_recording.jsonl", "README.txt"} <= not_taken
    assert all(r for (s, r) in inventory.values() if s != "accepted")


@pytest.mark.parametrize("fault", ["counted twice", "play lost"])
def test_the_checks_fail_when_a_scrobble_counts_twice_or_its_play_is_lost(
    tmp_path, monkeypatch, fault
):
    real = listening_assets.merge_scrobbles

    def broken(conn):
        stats = real(conn)
        if fault == "counted twice":  # a merged scrobble is added all the same
            conn.execute(
                "insert into core.streams by name select s.* from core.scrobbles s "
                "join core.scrobble_matches m using (source_file, record_index) limit 1"
            )
        else:  # the Spotify play a scrobble merged into goes missing
            conn.execute(
                "delete from core.streams s using core.scrobble_matches m "
                "where m.matched_to = 'spotify' and s.source_file = m.match_source_file "
                "and s.record_index = m.match_record_index and m.source_format = 'listenbrainz'"
            )
        return stats

    monkeypatch.setattr(listening_assets, "merge_scrobbles", broken)
    built, _ = build(tmp_path, STORY)
    checks = {c.check_name: c for c in built.get_asset_check_evaluations()}
    if fault == "counted twice":
        assert not checks["no_duplicate_plays"].passed
        assert checks["no_duplicate_plays"].metadata["scrobbles_counted_twice"].value == 1
    else:
        assert checks["no_duplicate_plays"].passed
    assert not checks["row_count_matches_files"].passed
