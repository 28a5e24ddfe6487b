"""Exports as people have them (issue: real listening history): ``endsong.json``, an old
mixed account-data export beside a later extended one, a zip as downloaded with its other
files, nested folders and folder names that are not ids. Every distinct music play that an
independent reading of the files finds lands in core.streams, per user, and every landed
object is accounted for in core.landing_files."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.landing import landing_files_asset
from spotify_assets.defs.listening.assets import streams_tables
from spotify_assets.defs.listening.history_files import STREAMING_HISTORY
from spotify_assets.lib.listening.users import user_id_for_folder
from spotify_assets.lib.sample.world.history import write_streaming_history
from spotify_assets.lib.sample.world.vintages import write_export_vintages
from spotify_assets.resources import LakeResource
from spotify_assets_tests.support.landing import Landing

pytestmark = pytest.mark.slow  # materializes assets with real resources

LANDING = "landing/streaming_history"


def _records(name: str, data: bytes) -> list[tuple[str, list]]:
    """(member name, records) of a landed object, read with the standard library only."""
    if name.endswith(".zip"):
        out = []
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for member in zf.namelist():
                out += _records(member, zf.read(member))
        return out
    if not name.endswith(".json"):
        return []
    doc = json.loads(data.decode("utf-8-sig"))
    return [(name, doc)] if isinstance(doc, list) else []


def independent_music_plays(files: dict[str, bytes]) -> dict[str, int]:
    """Distinct music plays per listener folder: extended rows with a track URI (or, with no
    URI at all, a track name), keyed (ts, uri or names, ms_played); account-data rows keyed
    (endTime, artist, track, msPlayed), minus those whose artist is a show the listener's
    extended history names. Video history is not listening history."""
    plays: dict[str, set] = {}
    shows: dict[str, set] = {}
    mixed: dict[str, list] = {}
    for rel, data in files.items():
        folder = rel.split("/", 1)[0]
        for member, records in _records(rel, data):
            if "Video" in member:
                continue
            for r in records:
                if "endTime" in r:
                    mixed.setdefault(folder, []).append(r)
                elif r.get("spotify_track_uri") or (
                    r.get("master_metadata_track_name") and not r.get("spotify_episode_uri")
                ):
                    uri = r.get("spotify_track_uri") or r.get("master_metadata_track_name")
                    plays.setdefault(folder, set()).add((r["ts"], uri, int(r["ms_played"])))
                elif r.get("episode_show_name"):
                    shows.setdefault(folder, set()).add(r["episode_show_name"].lower())
    for folder, records in mixed.items():
        for r in records:
            if r["artistName"].lower() not in shows.get(folder, set()):
                key = ("mixed", r["endTime"], r["artistName"], r["trackName"], r["msPlayed"])
                plays.setdefault(folder, set()).add(key)
    return {user_id_for_folder(folder): len(p) for folder, p in plays.items()}


def test_real_vintages_land_whole(tmp_path, tiny_world):
    out = tmp_path / "export"
    write_streaming_history(tiny_world, out)
    write_export_vintages(tiny_world, out)
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # Folder names people use: a name that is not an id, a nested export folder.
    moved = {}
    for rel, data in files.items():
        folder, _, rest = rel.partition("/")
        if folder == "user_0001":
            rel = f"José Núñez/{rest}"
        elif folder == "sample_curator":
            rel = f"{folder}/Spotify Extended Streaming History/{rest}"
        moved[rel] = data
    files = moved
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
    )
    assert all(e.passed for e in built.get_asset_check_evaluations())

    with duckdb.connect(database, read_only=True) as conn:
        got = dict(
            conn.execute(
                "select user_id, count(*) from core.streams where content_type = 'music' "
                "group by all"
            ).fetchall()
        )
        expected = independent_music_plays(files)
        assert got == expected
        assert user_id_for_folder("José Núñez") in got
        display = dict(conn.execute("select user_id, display_name from core.listeners").fetchall())
        assert display[user_id_for_folder("José Núñez")] == "José Núñez"
        # Podcasts of the old mixed file were told apart by the later export's shows.
        (mixed_podcasts,) = conn.execute(
            "select count(*) from core.streams where mixed_history and content_type = 'podcast'"
        ).fetchone()
        assert mixed_podcasts > 0
        # Every landed object and every zip member not taken is accounted for, with a reason.
        inventory = conn.execute(
            "select key, member, status, reason from core.landing_files"
        ).fetchall()
        landed = {f"{LANDING}/{rel}" for rel in files}
        assert {k for k, _, _, _ in inventory} == landed
        not_taken = {(Path(m or k).name, s) for k, m, s, r in inventory if s != "accepted"}
        assert {
            ("Streaming_History_Video_2023.json", "not_ingested"),
            ("Userdata.json", "not_ingested"),
            ("Playlist1.json", "not_ingested"),
            ("ReadMeFirst_ExtendedStreamingHistory.pdf", "not_ingested"),
        } <= not_taken
        assert all(r for k, m, s, r in inventory if s != "accepted")


def test_values_no_play_can_have_fail_the_blocking_check(tmp_path):
    lake = LakeResource(url=str(tmp_path / "lake"))
    good = {"ts": "2024-01-01T10:00:00Z", "ms_played": 1000, "spotify_track_uri": None}
    records = [
        *[{**good, "ts": f"2024-01-01T10:{m:02d}:00Z"} for m in range(30)],
        {**good, "ms_played": 9e15},  # 2.5 billion hours
        {**good, "ts": "2099-01-01T00:00:00Z"},  # after the file landed
    ]
    lake.store().put_bytes(f"{LANDING}/ann/endsong.json", json.dumps(records).encode())
    [result] = Landing(STREAMING_HISTORY, {"lake": lake}).land()
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert result.success  # the file is held out of core.streams alone
    assert checks["plays_plausible"].severity == dg.AssetCheckSeverity.ERROR
    assert not checks["plays_plausible"].passed
    assert checks["plays_plausible"].metadata["files_failing"].value == {"ann/endsong.json": 2}
    assert checks["parse_rate"].passed  # 30 of 32 usable: only the plausibility check says so


def test_the_dashboard_lists_what_was_not_ingested_with_reasons():
    from spotify_assets.lib.landing.inventory import inventory_table
    from spotify_assets.lib.reports.overview import landed_files_section

    conn = duckdb.connect()
    conn.execute("create schema core")
    inventory_table(
        conn,
        "core.landing_files",
        [
            {"zone": "streaming_history", "key": "a/x.json", "status": "accepted"},
            {"zone": "streaming_history", "key": "a/Userdata.json", "status": "not_ingested",
             "reason": "not listening history: no play records"},
            {"zone": "streaming_history", "key": "a/bad.json", "status": "rejected",
             "reason": "truncated JSON"},
        ],
    )  # fmt: skip
    section = landed_files_section(conn)
    assert section.table["status"].tolist() == ["rejected", "not_ingested"]  # failures first
    assert section.table["reason"].tolist() == [
        "truncated JSON",
        "not listening history: no play records",
    ]
    assert [(h.label, h.value) for h in section.headlines][:3] == [
        ("accepted", "1"),
        ("not ingested", "1"),
        ("rejected", "1"),
    ]
