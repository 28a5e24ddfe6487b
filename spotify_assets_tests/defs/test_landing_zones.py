"""A new landing zone costs a parser and a few lines of wiring: a toy CSV format gets the
sensor (cursor, batching, run keys), the ingest asset with its checks, rejected files and
records, and the "not ingested, and why" inventory from the one landed-file mechanism."""

from __future__ import annotations

import io
import os
import time

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from spotify_assets.defs.landing import RANGE_END, RANGE_START, FileCheck, landing_zone_defs
from spotify_assets.lib.landing import (
    BadFile,
    LandedContext,
    LandingZone,
    NotIngested,
    ParsedFile,
    RejectedRecord,
    ZoneCursor,
    inventory,
    processed_files,
)
from spotify_assets.resources import LakeResource


def parse_scores(data: bytes, context: LandedContext) -> ParsedFile:
    """The toy format: ``player,score`` CSV. Other CSVs are not ours; a score that is not a
    whole number is a bad record."""
    if not context.name.endswith(".csv"):
        raise NotIngested("not a CSV file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadFile(f"not UTF-8: {exc}") from exc
    lines = text.splitlines()
    if not lines or lines[0].strip() != "player,score":
        raise NotIngested("not a scores file (no 'player,score' header)")
    table = pacsv.read_csv(
        io.BytesIO(data), convert_options=pacsv.ConvertOptions(column_types={"score": pa.string()})
    )
    players, scores, rejected = [], [], []
    for i, (player, score) in enumerate(
        zip(table["player"].to_pylist(), table["score"].to_pylist(), strict=True), start=2
    ):
        if score is None or not score.strip().lstrip("-").isdigit():
            rejected.append(RejectedRecord(i, f"score not a whole number: {score!r}", player))
            continue
        players.append(player)
        scores.append(int(score))
    rows = pa.table(
        {
            "player": pa.array(players, pa.string()),
            "score": pa.array(scores, pa.int64()),
            "source_file": pa.array([context.partition_key] * len(players), pa.string()),
        }
    )
    return ParsedFile(rows, rejected, {"records": len(lines) - 1, "max_score": max(scores or [0])})


SCORES_ZONE = LandingZone(name="scores", parse=parse_scores)
SCORES = landing_zone_defs(
    SCORES_ZONE,
    key=dg.AssetKey(["raw", "score_files"]),
    group="toy",
    description="Toy score CSVs",
    file_checks=[
        FileCheck("scores_bounded", "Scores stay below 1000", lambda i: i["max_score"] > 999)
    ],
)


class Tick:
    def __init__(self, lake: LakeResource) -> None:
        self.lake = lake
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def __call__(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"lake": self.lake}
        )
        result = SCORES.sensor(context)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(SCORES.partitions.name, request.partition_keys)
        return result

    def run(self, result: dg.SensorResult) -> list[dg.ExecuteInProcessResult]:
        """Each requested run, as the daemon would launch it (its range tags)."""
        return [
            dg.materialize(
                [SCORES.asset],
                instance=self.instance,
                resources={"lake": self.lake},
                tags=request.tags,
                raise_on_error=False,
            )
            for request in result.run_requests
        ]


@pytest.fixture
def lake(tmp_path):
    return LakeResource(url=str(tmp_path / "lake"), ingest_batch_files=2)


def drop(lake: LakeResource, rel: str, data: bytes) -> None:
    lake.store().put_bytes(f"landing/scores/{rel}", data)


GOOD = b"player,score\nann,10\nbob,20\n"


def test_a_toy_zone_gets_sensor_ingest_checks_and_inventory(lake):
    drop(lake, "a.csv", GOOD)
    drop(lake, "b.csv", b"player,score\ncid,7\ndan,lots\n")  # one bad record
    drop(lake, "c.csv", b"\xff\xfe garbage")  # unreadable: moved aside
    drop(lake, "notes.txt", b"hello")  # not ours: stays, listed
    drop(lake, "sub/d.csv", b"player,score\neve,5000\n")  # nested; fails the zone's own check
    drop(lake, "e.csv.part", b"partial")  # a copy in progress: passed over
    tick = Tick(lake)
    first = tick()
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in first.run_requests] == [
        ("a.csv", "b.csv"),
        ("c.csv", "notes.txt"),
        ("sub/d.csv", "sub/d.csv"),
    ]
    assert all(r.run_key.startswith("scores:") for r in first.run_requests)
    assert not tick().run_requests  # requested, not yet processed: not asked twice

    runs = tick.run(first)
    checks = [{c.check_name: c for c in run.get_asset_check_evaluations()} for run in runs]
    assert [c["files_readable"].passed for c in checks] == [True, False, True]  # c.csv
    assert [c["parse_rate"].passed for c in checks] == [False, True, True]  # b.csv: 1 of 2
    assert [c["scores_bounded"].passed for c in checks] == [True, True, False]  # sub/d.csv
    assert list(checks[2]["scores_bounded"].metadata["files_failing"].value) == ["sub/d.csv"]
    # The run's summary is the first materialization (one per partition of its range).
    summary = runs[1].get_asset_materialization_events()[0].materialization.metadata
    not_taken = summary["not_ingested"].value
    assert not_taken["notes.txt"] == [
        {"member": None, "status": "not_ingested", "reason": "not a CSV file"}
    ]
    assert not_taken["c.csv"][0]["status"] == "rejected"
    store = lake.store()
    assert store.exists("landing/_rejected/scores/c.csv")
    assert "not UTF-8" in store.get_bytes("landing/_rejected/scores/c.csv.reason.txt").decode()
    files = processed_files(store, SCORES_ZONE, store.root)
    assert [f.source_file for f in files] == ["a.csv", "b.csv", "sub/d.csv"]
    assert pq.read_table(files[1].path).to_pydict()["player"] == ["cid"]
    assert pq.read_table(files[1].rejects_path).to_pydict()["reason"] == [
        "score not a whole number: 'lots'"
    ]
    rows = {
        (r["key"].rsplit("/", 1)[-1], r["status"]): r["reason"]
        for r in inventory(store, SCORES_ZONE)
    }
    assert rows[("notes.txt", "not_ingested")] == "not a CSV file"
    assert rows[("c.csv", "rejected")].startswith("not UTF-8")
    assert rows[("e.csv.part", "ignored")]
    assert {k for k, s in rows if s == "accepted"} == {"a.csv", "b.csv", "d.csv"}

    # Processed: nothing to do; the cursor stays small whatever the number of files.
    again = tick()
    assert not again.run_requests
    assert len(tick.cursor) < 200
    assert ZoneCursor.from_json(tick.cursor).pending == {}


def test_a_copy_with_an_old_mtime_and_a_changed_file_are_taken_untouched_ones_not(lake):
    drop(lake, "a.csv", GOOD)
    tick = Tick(lake)
    tick.run(tick())
    path = lake.store().path("landing/scores/a.csv")
    later = time.time() + 5
    os.utime(path, (later, later))  # touched: same bytes
    assert not tick().run_requests
    old = time.time() - 86400
    drop(lake, "z.csv", GOOD)
    os.utime(lake.store().path("landing/scores/z.csv"), (old, old))  # copied, kept its mtime
    drop(lake, "a.csv", b"player,score\nann,11\n")  # changed
    result = tick()
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in result.run_requests] == [
        ("a.csv", "z.csv")
    ]


def test_removed_fixed_and_crashing_files_are_accounted_for(lake):
    from spotify_assets.lib.landing import ingest

    store = lake.store()
    drop(lake, "a.csv", GOOD)
    drop(lake, "b.csv", b"\xff\xfe garbage")
    assert ingest(store, SCORES_ZONE, "a.csv")["status"] == "accepted"
    assert ingest(store, SCORES_ZONE, "b.csv")["status"] == "rejected"
    # b.csv landed again, fixed: accepted, and no longer listed as rejected.
    drop(lake, "b.csv", GOOD)
    assert ingest(store, SCORES_ZONE, "b.csv")["status"] == "accepted"
    statuses = {(r["key"].rsplit("/", 1)[-1], r["status"]) for r in inventory(store, SCORES_ZONE)}
    assert statuses == {("a.csv", "accepted"), ("b.csv", "accepted")}
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


BATCHED = landing_zone_defs(
    LandingZone(name="batched_scores", parse=crash_on_boom, rows_per_batch=True, files_per_batch=2),
    key=dg.AssetKey(["raw", "batched_score_files"]),
    group="toy",
    description="Toy score CSVs, two files parsed together, one rows Parquet per batch",
)


def test_a_parser_crash_fails_the_run_after_every_file_of_it_was_tried(tmp_path):
    lake = LakeResource(url=str(tmp_path / "lake"), ingest_batch_files=10)
    store = lake.store()
    names = ["a.csv", "b.csv", "c.csv", "d.csv", "e.csv"]
    for name in names:
        data = b"boom" if name == "b.csv" else GOOD
        store.put_bytes(f"landing/batched_scores/{name}", data)
    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(instance=instance, resources={"lake": lake})
    tick = BATCHED.sensor(context)
    for request in tick.dynamic_partitions_requests:
        instance.add_dynamic_partitions(BATCHED.partitions.name, request.partition_keys)
    [request] = tick.run_requests
    run = dg.materialize(
        [BATCHED.asset], instance=instance, resources={"lake": lake}, tags=request.tags,
        raise_on_error=False,
    )  # fmt: skip
    assert not run.success
    failure = next(e for e in run.all_events if e.is_step_failure)
    assert "failed on 1 file(s)" in failure.step_failure_data.error.message
    # The files after the crash (c, d in the same and e in the next batch) were ingested too.
    statuses = {r["key"].rsplit("/", 1)[-1]: r["status"] for r in inventory(store, BATCHED.zone)}
    assert statuses == {
        "a.csv": "accepted", "b.csv": "failed", "c.csv": "accepted", "d.csv": "accepted",
        "e.csv": "accepted",
    }  # fmt: skip
    # Nothing is left pending: the next tick asks for no file again.
    context = dg.build_sensor_context(
        instance=instance, cursor=tick.cursor, resources={"lake": lake}
    )
    assert not BATCHED.sensor(context).run_requests
