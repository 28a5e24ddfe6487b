"""A new landing zone costs three files: a parser, its declaration and this test (the scores zone
of ``spotify_assets_tests/support/``). From the one landed-file mechanism it gets the sensor
(settled files only, batches, the files of dead runs freed), the ingest asset with its checks,
its core table without held files, and, found in the definitions without being listed, its
place in ``core/landing_files`` and ``reports/data_quality``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.landing import BATCH_TAG, LANDING_FILES_KEY, landing_zone_defs
from spotify_assets.lib.landing import (
    LandedContext,
    LandingZone,
    ParsedFile,
    ZoneCursor,
    ingest,
    inventory,
    processed_files,
)
from spotify_assets.lib.landing.scan import SETTLE_WAIT_MAX_S
from spotify_assets.resources import LakeResource, WarehouseIOManager
from spotify_assets_tests.support.landing import Landing, batch_files
from spotify_assets_tests.support.scores_defs import SCORES
from spotify_assets_tests.support.scores_zone import SCORES_ZONE, parse_scores

GOOD = b"player,score\nann,10\nbob,20\n"


@pytest.fixture
def lake(tmp_path):
    return LakeResource(url=str(tmp_path / "lake"), ingest_batch_files=2)


def drop(lake: LakeResource, rel: str, data: bytes, *, age_s: float = 0) -> Path:
    lake.store().put_bytes(f"landing/scores/{rel}", data)
    path = lake.store().path(f"landing/scores/{rel}")
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def statuses(lake: LakeResource) -> dict[str, str]:
    return {r["key"].rsplit("/", 1)[-1]: r["status"] for r in inventory(lake.store(), SCORES_ZONE)}


def test_a_toy_zone_gets_batches_ingest_checks_and_inventory(lake):
    drop(lake, "a.csv", GOOD)
    drop(lake, "b.csv", b"player,score\ncid,7\ndan,lots\n")  # one bad record
    drop(lake, "c.csv", b"\xff\xfe garbage")  # unreadable: listed as rejected, left in place
    drop(lake, "notes.txt", b"hello")  # not ours: stays, listed
    drop(lake, "sub/d.csv", b"player,score\neve,5000\n")  # nested; fails the zone's own check
    drop(lake, "e.csv.part", b"partial")  # a copy in progress: passed over
    zone = Landing(SCORES, {"lake": lake})
    first = zone.tick()
    # Batches of at most ingest_batch_files files, each a partition of its own.
    assert [batch_files(lake, SCORES, r) for r in first.run_requests] == [
        ["a.csv", "b.csv"],
        ["c.csv", "notes.txt"],
        ["sub/d.csv"],
    ]
    assert all(r.partition_key == r.tags[BATCH_TAG].split("/", 1)[1] for r in first.run_requests)
    # Every batch's run also builds the zone's tables after its ingest (the sensor's whole
    # selection): batches run side by side, each table build sees its own batch's files.
    assert [r.asset_selection for r in first.run_requests] == [None, None, None]
    assert len(zone.instance.get_dynamic_partitions(SCORES.partitions.name)) == 3
    assert not zone.tick().run_requests  # requested, their runs not ended: not asked twice

    runs = zone.run(first)
    assert all(run.success for run in runs)  # a held file stops nothing
    checks = [{c.check_name: c for c in run.get_asset_check_evaluations()} for run in runs]
    assert [c["files_readable"].passed for c in checks] == [True, False, True]  # c.csv
    assert [c["parse_rate"].passed for c in checks] == [False, True, True]  # b.csv: 1 of 2
    assert [c["scores_bounded"].passed for c in checks] == [True, True, False]  # sub/d.csv
    assert checks[2]["scores_bounded"].severity == dg.AssetCheckSeverity.ERROR
    assert list(checks[2]["scores_bounded"].metadata["files_failing"].value) == ["sub/d.csv"]
    # One materialization per run (per batch), whatever its number of files.
    assert [len(run.get_asset_materialization_events()) for run in runs] == [1, 1, 1]
    summary = runs[1].get_asset_materialization_events()[0].materialization.metadata
    assert summary["not_ingested"].value["notes.txt"][0]["reason"] == "not a CSV file"
    store = lake.store()
    assert store.get_bytes("landing/scores/c.csv") == b"\xff\xfe garbage"  # never moved
    assert not store.list("landing/_rejected/")
    files = processed_files(store, SCORES_ZONE, store.root)
    assert [f.source_file for f in files] == ["a.csv"]  # b.csv and sub/d.csv are held
    assert pq.read_table(files[0].path).to_pydict()["player"] == ["ann", "bob"]
    held = processed_files(store, SCORES_ZONE, store.root, include_held=True)
    assert [f.source_file for f in held] == ["a.csv", "b.csv", "sub/d.csv"]
    assert pq.read_table(held[1].rejects_path).to_pydict()["reason"] == [
        "score not a whole number: 'lots'"
    ]
    rows = {
        (r["key"].rsplit("/", 1)[-1], r["status"]): r["reason"]
        for r in inventory(store, SCORES_ZONE)
    }
    assert rows[("notes.txt", "not_ingested")] == "not a CSV file"
    assert rows[("c.csv", "rejected")].startswith("not UTF-8")
    assert "scores_bounded" in rows[("d.csv", "held")] and "parse_rate" in rows[("b.csv", "held")]
    assert rows[("e.csv.part", "ignored")]
    assert statuses(lake)["a.csv"] == "accepted"

    # Processed: nothing to do; the cursor stays small whatever the number of files.
    again = zone.tick()
    assert not again.run_requests
    assert len(zone.cursor) < 300 and ZoneCursor.from_json(zone.cursor).in_flight == {}


def test_an_unreadable_file_fixed_in_place_is_taken_again(lake):
    drop(lake, "c.csv", b"\xff\xfe garbage")
    zone = Landing(SCORES, {"lake": lake})
    zone.land()
    assert statuses(lake)["c.csv"] == "rejected"
    drop(lake, "c.csv", GOOD)
    zone.land()
    assert statuses(lake)["c.csv"] == "accepted"


def test_a_file_is_taken_only_once_it_has_stopped_changing(lake):
    drop(lake, "old.csv", GOOD, age_s=120)
    drop(lake, "copying.csv", b"player,score\nann,1")  # still being written
    zone = Landing(SCORES, {"lake": lake}, settle_s=30)
    first = zone.tick()
    assert [batch_files(lake, SCORES, r) for r in first.run_requests] == [["old.csv"]]
    assert statuses(lake)["copying.csv"] == "pending"
    [row] = [r for r in inventory(lake.store(), SCORES_ZONE, settle_s=30) if "copying" in r["key"]]
    assert row["reason"].startswith("still changing")
    zone.run(first)
    # The copy goes on (new bytes, a new time), then stops: taken whole once settled.
    drop(lake, "copying.csv", b"player,score\nann,1\nbob,2\n")
    assert not zone.tick().run_requests
    drop(lake, "copying.csv", b"player,score\nann,1\nbob,2\n", age_s=31)
    [request] = zone.tick().run_requests
    assert batch_files(lake, SCORES, request) == ["copying.csv"]
    zone.run(dg.SensorResult(run_requests=[request]))
    files = processed_files(lake.store(), SCORES_ZONE, lake.store().root)
    copied = next(f for f in files if f.source_file == "copying.csv")
    assert pq.read_table(copied.path).to_pydict()["player"] == ["ann", "bob"]


def test_a_tick_waits_for_files_that_settle_within_seconds(lake, monkeypatch):
    # A copy that just ended is taken by the tick that sees it, once settled, not an interval
    # later; a file that settles too late for a tick's wait is left to a later tick.
    waits: list[float] = []
    sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda s: (waits.append(s), sleep(s))[-1])
    drop(lake, "just_copied.csv", GOOD, age_s=0.5)
    zone = Landing(SCORES, {"lake": lake}, settle_s=2.0)
    [request] = zone.tick().run_requests
    assert batch_files(lake, SCORES, request) == ["just_copied.csv"]
    # one wait (how long depends on this machine's speed: settle_wait_s's own test has the
    # figures), never longer than the settle time
    [waited] = waits
    assert 0 < waited <= 2.1
    drop(lake, "slow_upload.csv", GOOD)
    slow = Landing(SCORES, {"lake": lake}, settle_s=SETTLE_WAIT_MAX_S + 30)
    assert not slow.tick().run_requests
    assert waits == [waited]  # no wait for it
    assert statuses(lake)["slow_upload.csv"] == "pending"


def test_a_file_changed_after_the_tick_is_left_for_a_later_batch(lake):
    drop(lake, "a.csv", b"player,score\nann,1\n")
    zone = Landing(SCORES, {"lake": lake})
    first = zone.tick()
    drop(lake, "a.csv", GOOD + b"cid,3\n")  # written again before the run reads it
    [run] = zone.run(first)
    summary = run.get_asset_materialization_events()[0].materialization.metadata
    assert summary["files_changed"].value == 1 and "files_accepted" not in summary
    assert statuses(lake)["a.csv"] == "pending"
    zone.land()
    [f] = processed_files(lake.store(), SCORES_ZONE, lake.store().root)
    assert pq.read_table(f.path).to_pydict()["player"] == ["ann", "bob", "cid"]


def test_links_and_fifos_are_never_followed_and_the_batch_lands(lake, tmp_path):
    drop(lake, "good.csv", GOOD)
    folder = lake.store().path("landing/scores")
    secret = tmp_path / "secret.csv"
    secret.write_text("player,score\nroot,0\n")
    os.symlink(secret, folder / "link.csv")
    os.symlink("/dev/zero", folder / "zero.csv")
    os.mkfifo(folder / "pipe.csv")
    zone = Landing(SCORES, {"lake": lake})
    tick = zone.tick()
    assert [batch_files(lake, SCORES, r) for r in tick.run_requests] == [["good.csv"]]
    [run] = zone.run(tick)  # returns: nothing hangs on the FIFO
    assert run.success
    rows = {r["key"].rsplit("/", 1)[-1]: r for r in inventory(lake.store(), SCORES_ZONE)}
    assert rows["good.csv"]["status"] == "accepted"
    for name in ("link.csv", "zero.csv", "pipe.csv"):
        assert rows[name]["status"] == "not_ingested", name
    assert "symbolic link" in rows["link.csv"]["reason"]
    assert "FIFO" in rows["pipe.csv"]["reason"]
    copied = [p for p in lake.store().root.rglob("*") if p.is_file() and not p.is_symlink()]
    assert not any(b"root" in p.read_bytes() for p in copied if p.suffix != ".parquet")
    with duckdb.connect() as conn:
        parquet = [str(p) for p in copied if p.suffix == ".parquet"]
        assert conn.execute(
            f"select count(*) from read_parquet({parquet}) where player = 'root'"
        ).fetchone() == (0,)
    # Even asked directly, a link is not read.
    assert ingest(lake.store(), SCORES_ZONE, "link.csv")["status"] == "not_ingested"


def test_the_files_of_a_run_that_died_are_taken_again(lake):
    drop(lake, "a.csv", GOOD)
    drop(lake, "b.csv", GOOD)
    zone = Landing(SCORES, {"lake": lake})
    [request] = zone.tick().run_requests
    assert not zone.tick().run_requests  # its run is not known to have ended

    @dg.asset
    def killed() -> None:
        raise RuntimeError("the run worker was killed")

    dg.materialize([killed], instance=zone.instance, tags=request.tags, raise_on_error=False)
    again = zone.tick()
    [retry] = again.run_requests
    assert retry.partition_key != request.partition_key
    assert batch_files(lake, SCORES, retry) == ["a.csv", "b.csv"]
    zone.run(again)
    assert statuses(lake) == {"a.csv": "accepted", "b.csv": "accepted"}
    assert not zone.tick().run_requests


def test_a_copy_with_an_old_mtime_and_a_changed_file_are_taken_untouched_ones_not(lake):
    drop(lake, "a.csv", GOOD)
    zone = Landing(SCORES, {"lake": lake})
    zone.land()
    path = lake.store().path("landing/scores/a.csv")
    later = time.time() + 5
    os.utime(path, (later, later))  # touched: same bytes
    assert not zone.tick().run_requests
    drop(lake, "z.csv", GOOD, age_s=86400)  # copied, kept its mtime
    drop(lake, "a.csv", b"player,score\nann,11\n")  # changed
    result = zone.tick()
    assert [batch_files(lake, SCORES, r) for r in result.run_requests] == [["a.csv", "z.csv"]]


def test_removed_fixed_and_crashing_files_are_accounted_for(lake):
    store = lake.store()
    drop(lake, "a.csv", GOOD)
    drop(lake, "b.csv", b"\xff\xfe garbage")
    assert ingest(store, SCORES_ZONE, "a.csv")["status"] == "accepted"
    assert ingest(store, SCORES_ZONE, "b.csv")["status"] == "rejected"
    # b.csv landed again, fixed: accepted, and no longer listed as rejected.
    drop(lake, "b.csv", GOOD)
    assert ingest(store, SCORES_ZONE, "b.csv")["status"] == "accepted"
    assert statuses(lake) == {"a.csv": "accepted", "b.csv": "accepted"}
    # a.csv removed from the landing zone: its rows no longer count.
    store.delete("landing/scores/a.csv")
    assert [f.source_file for f in processed_files(store, SCORES_ZONE, store.root)] == ["b.csv"]

    # A parser that crashes: the run fails, and the inventory shows the error.
    def crash(data, context):
        raise RuntimeError("parser bug")

    crashing = LandingZone(name="scores", parse=crash)
    drop(lake, "c.csv", b"player,score\n1,2\n")
    with pytest.raises(RuntimeError):
        ingest(store, crashing, "c.csv")
    [row] = [r for r in inventory(store, crashing) if r["key"].endswith("c.csv")]
    assert (row["status"], row["reason"]) == ("failed", "RuntimeError: parser bug")


def crash_on_boom(data: bytes, context: LandedContext) -> ParsedFile:
    if data.startswith(b"boom"):
        raise RuntimeError("parser bug")
    return parse_scores(data, context)


CHUNKED = landing_zone_defs(
    LandingZone(name="chunked_scores", parse=crash_on_boom, rows_per_chunk=True, files_per_chunk=2),
    key=dg.AssetKey(["raw", "chunked_score_files"]),
    group="toy",
    description="Toy score CSVs, two files parsed together, one rows Parquet per chunk",
)


def test_a_parser_crash_fails_the_run_after_every_file_of_it_was_tried(tmp_path):
    lake = LakeResource(url=str(tmp_path / "lake"), ingest_batch_files=10)
    store = lake.store()
    for name in ["a.csv", "b.csv", "c.csv", "d.csv", "e.csv"]:
        store.put_bytes(f"landing/chunked_scores/{name}", b"boom" if name == "b.csv" else GOOD)
    zone = Landing(CHUNKED, {"lake": lake})
    [run] = zone.land()
    assert not run.success
    failure = next(e for e in run.all_events if e.is_step_failure)
    assert "failed on 1 file(s)" in failure.step_failure_data.error.message
    # The files after the crash (c, d in the same and e in the next chunk) were ingested too.
    rows = {r["key"].rsplit("/", 1)[-1]: r["status"] for r in inventory(store, CHUNKED.zone)}
    assert rows == {
        "a.csv": "accepted", "b.csv": "failed", "c.csv": "accepted", "d.csv": "accepted",
        "e.csv": "accepted",
    }  # fmt: skip
    # Nothing is left pending: the next tick asks for no file again.
    assert not zone.tick().run_requests


def test_a_zone_declared_in_its_own_module_is_found_by_the_whole_platform(lake, tmp_path):
    """The toy zone, in the platform's definitions, is in core/landing_files, its held files
    in reports/data_quality and out of its core table, without being listed anywhere."""
    from spotify_assets.definitions import with_warehouse_wide_definitions
    from spotify_assets.defs.landing import landing_zones
    from spotify_assets.defs.quality.assets import DATA_QUALITY_KEY
    from spotify_assets_tests.support import scores_defs

    domains = dg.load_from_defs_folder(
        path_within_project=Path(__file__).parents[2] / "spotify_assets"
    )
    defs = with_warehouse_wide_definitions(dg.Definitions.merge(domains, scores_defs.defs))
    assert "scores" in [z.zone.name for z in landing_zones(defs)]
    graph = defs.resolve_asset_graph()
    assert SCORES.key in graph.get(LANDING_FILES_KEY).parent_keys
    scores_table = dg.AssetKey(["core", "scores"])
    # The registry of tables found the zone's table: it has the table-wide checks.
    assert dg.AssetCheckKey(scores_table, "row_count_vs_previous") in graph.asset_check_keys

    drop(lake, "good.csv", GOOD)
    drop(lake, "high.csv", b"player,score\nzed,5000\n")  # fails scores_bounded: held
    database = str(tmp_path / "warehouse.duckdb")
    resources = {
        "lake": lake,
        "warehouse": DuckDBResource(database=database),
        "warehouse_io_manager": WarehouseIOManager(database=database),
    }
    zone = Landing(SCORES, resources)
    [request] = zone.tick().run_requests
    # The batch's run, as the daemon launches it: the sensor's selection (no subset asked),
    # the ingest of its batch then the zone's table in its group and the account of files.
    assert request.asset_selection is None
    selected = SCORES.sensor.asset_selection.resolve(graph)
    assert selected == {SCORES.key, scores_table, LANDING_FILES_KEY}
    checks = [c for c in defs.asset_checks or [] if {k.asset_key for k in c.check_keys} & selected]
    run = dg.materialize(
        [*{defs.get_assets_def(k) for k in selected}, *checks],
        selection=list(selected),
        instance=zone.instance,
        resources=zone.resources,
        partition_key=request.partition_key,
        tags=request.tags,
    )
    assert run.success
    materialized = [e.materialization for e in run.get_asset_materialization_events()]
    assert {(m.asset_key, m.partition) for m in materialized} == {
        (SCORES.key, request.partition_key),
        (scores_table, None),
        (LANDING_FILES_KEY, None),
    }
    # The account of the landed files is built after the tables people read (its priority).
    started = [e.step_key for e in run.all_events if e.event_type_value == "STEP_START"]
    assert started.index("core__scores") < started.index("core__landing_files")
    # core.landing_files checks its row count in its own step: the shared check step of the
    # zone's table (which what reads the table waits for) does not wait for it.
    assert started.index("row_count_checks") < started.index("core__landing_files")
    assert {(c.asset_key, c.check_name, c.passed) for c in run.get_asset_check_evaluations()} >= {
        (LANDING_FILES_KEY, "row_count_vs_previous", True)
    }
    built = dg.materialize(
        [defs.get_assets_def(DATA_QUALITY_KEY)], instance=zone.instance, resources=zone.resources
    )
    assert built.success
    with duckdb.connect(database, read_only=True) as conn:
        assert conn.execute("select player from core.scores").fetchall() == [("ann",), ("bob",)]
        assert sorted(
            conn.execute(
                "select key, status from core.landing_files where zone = 'scores'"
            ).fetchall()
        ) == [("landing/scores/good.csv", "accepted"), ("landing/scores/high.csv", "held")]
        assert conn.execute(
            "select partition, status from reports.data_quality "
            "where asset_key = 'raw/score_files' and check_name = 'scores_bounded' "
            "and partition is not null"
        ).fetchall() == [("high.csv", "failed")]


@pytest.mark.slow  # a real copy over a few seconds
def test_a_slowly_copied_file_lands_whole(lake):
    """A file written in pieces over seconds (as ``cp`` of a big export over a network
    share), with the sensor ticking all along: it is taken only once the copy has finished,
    whole, and is never listed as rejected on the way."""
    import threading

    rows = [f"p{i},{i % 100}" for i in range(4000)]
    text = "player,score\n" + "\n".join(rows) + "\n"
    target = lake.store().path("landing/scores/big.csv")
    target.parent.mkdir(parents=True, exist_ok=True)

    def copy() -> None:
        with target.open("w") as handle:
            for start in range(0, len(text), len(text) // 8):
                handle.write(text[start : start + len(text) // 8])
                handle.flush()
                time.sleep(0.3)

    writer = threading.Thread(target=copy)
    zone = Landing(SCORES, {"lake": lake}, settle_s=1.0)
    writer.start()
    seen = []
    while writer.is_alive():
        zone.land()
        seen.append(statuses(lake).get("big.csv"))
        time.sleep(0.2)
    writer.join()
    deadline = time.monotonic() + 10
    while statuses(lake).get("big.csv") != "accepted" and time.monotonic() < deadline:
        zone.land()
        time.sleep(0.2)
    assert "rejected" not in seen and statuses(lake)["big.csv"] == "accepted"
    [f] = processed_files(lake.store(), SCORES_ZONE, lake.store().root)
    assert pq.read_table(f.path).num_rows == 4000
