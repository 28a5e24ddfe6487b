"""Zones of many small files (``rows_per_chunk``, ``parse_many``): one rows Parquet per chunk,
named by each object's manifest; readers keep each object's current rows only, a re-landed
object's old rows drop out, a batch no object uses any more is deleted, bad records are kept
with their object, and a parser crash on one object loses none of the others. On a local
folder and on S3 (moto)."""

from __future__ import annotations

from dataclasses import replace

import duckdb
import pyarrow as pa
import pytest

from spotify_assets.lib.lake import LocalLakeStore
from spotify_assets.lib.landing import (
    BadFile,
    LandingParseError,
    LandingZone,
    ParsedFile,
    RejectedRecord,
    StreamedFile,
    build_rejected_records,
    content_id,
    ingest_many,
    inventory,
    processed_files,
    processed_rows,
    read_manifest,
    rejected_records_table,
)


def parse(data: bytes, context) -> ParsedFile:
    text = data.decode()
    if text.startswith("crash"):
        raise RuntimeError("parser bug")
    if not text.startswith("n\n"):
        raise BadFile("no header 'n'")
    values, rejected = [], []
    for line, raw in enumerate(text.splitlines()[1:], start=2):
        if raw.isdigit():
            values.append(int(raw))
        else:
            rejected.append(RejectedRecord(line, f"{raw!r} is not a number", raw))
    table = pa.table({"n": values, "source_file": [context.path] * len(values)})
    return ParsedFile(table, rejected)


def parse_many(items):
    out = []
    for data, context in items:
        try:
            out.append(parse(data, context))
        except Exception as exc:  # noqa: BLE001 - the contract: the exception, returned
            out.append(exc)
    return out


ZONE = LandingZone(
    name="numbers", parse=parse, parse_many=parse_many, rows_per_chunk=True, files_per_chunk=10
)


@pytest.fixture
def store(lake_store):
    return lake_store  # a local folder, then S3 (conftest)


def land(store, **files: str) -> None:
    for name, text in files.items():
        store.put_bytes(f"landing/numbers/{name}.txt", text.encode())


def current(store, tmp_path) -> dict[str, list[int]]:
    files = processed_files(store, ZONE, tmp_path / "work")
    conn = duckdb.connect()
    with processed_rows(conn, files) as rows:
        got = conn.execute(
            f"select source_file, list(n order by n) from {rows} group by 1 order by 1"
        ).fetchall()
    return dict(got)


def batches(store) -> list[str]:
    return sorted(o.key for o in store.list(ZONE.batches_prefix) if ".rows." in o.key)


def test_one_parquet_per_batch_and_each_objects_current_rows(store, tmp_path):
    land(store, a="n\n1\n2\n", b="n\n3\n", c="n\n4\n")
    infos = ingest_many(store, ZONE, ["a.txt", "b.txt", "c.txt"])
    assert {i["status"] for i in infos.values()} == {"accepted"}
    [first] = batches(store)
    assert {i["parquet"] for i in infos.values()} == {first}
    files = processed_files(store, ZONE, tmp_path / "work")
    assert all(f.shared for f in files) and len({f.path for f in files}) == 1
    assert current(store, tmp_path) == {"a.txt": [1, 2], "b.txt": [3], "c.txt": [4]}

    # b re-landed, changed: its new rows only; the first batch still holds a and c.
    land(store, b="n\n30\n31\n")
    ingest_many(store, ZONE, ["b.txt"])
    assert current(store, tmp_path) == {"a.txt": [1, 2], "b.txt": [30, 31], "c.txt": [4]}
    assert first in batches(store) and len(batches(store)) == 2

    # a and c re-landed too: no object uses the first batch any more, so it is deleted.
    land(store, a="n\n10\n", c="n\n40\n")
    ingest_many(store, ZONE, ["a.txt", "c.txt"])
    assert first not in batches(store) and len(batches(store)) == 2
    assert current(store, tmp_path) == {"a.txt": [10], "b.txt": [30, 31], "c.txt": [40]}

    # c removed from the landing zone: its rows leave.
    store.delete("landing/numbers/c.txt")
    assert current(store, tmp_path) == {"a.txt": [10], "b.txt": [30, 31]}


def test_bad_records_unreadable_objects_and_a_crash_lose_nothing(store, tmp_path):
    land(store, a="n\n1\nx\n", b="n\n2\n", bad="no header", boom="crash", d="n\n5\ny\nz\n")
    keys = ["a.txt", "b.txt", "bad.txt", "boom.txt", "d.txt"]
    with pytest.raises(LandingParseError, match="boom.txt: RuntimeError: parser bug"):
        ingest_many(store, ZONE, keys)
    statuses = {r["key"].rsplit("/", 1)[-1]: r["status"] for r in inventory(store, ZONE)}
    # a and d have half or fewer of their records usable: held out by parse_rate.
    assert statuses == {
        "a.txt": "held", "b.txt": "accepted", "bad.txt": "rejected",
        "boom.txt": "failed", "d.txt": "held",
    }  # fmt: skip
    assert current(store, tmp_path) == {"b.txt": [2]}
    conn = duckdb.connect()
    held_too = processed_files(store, ZONE, tmp_path / "w", include_held=True)
    build_rejected_records(conn, "t.rejects", held_too)
    got = conn.execute("select source_file, record_index from t.rejects").fetchall()
    assert got == [("a.txt", 3), ("d.txt", 3), ("d.txt", 4)]

    # d fixed: its rejected records go, a's stay.
    land(store, d="n\n5\n6\n")
    ingest_many(store, ZONE, ["d.txt"])
    held_too = processed_files(store, ZONE, tmp_path / "w2", include_held=True)
    build_rejected_records(conn, "t.rejects", held_too)
    assert conn.execute("select source_file from t.rejects").fetchall() == [("a.txt",)]


def test_rows_that_do_not_name_their_object_are_refused(tmp_path):
    def anonymous(data, context):
        return ParsedFile(pa.table({"n": [1], "source_file": ["somewhere else"]}))

    zone = LandingZone(name="numbers", parse=anonymous, rows_per_chunk=True)
    store = LocalLakeStore(tmp_path / "lake")
    land(store, a="n\n1\n")
    with pytest.raises(ValueError, match="path as source_file"):
        ingest_many(store, zone, ["a.txt"])


def test_a_file_too_large_to_read_whole_stays_with_its_reason_and_is_not_asked_again(store):
    from dataclasses import replace
    from datetime import UTC, datetime

    from spotify_assets.lib.landing import ZoneCursor, scan

    small = replace(ZONE, max_bytes=16)
    land(store, a="n\n1\n", big="n\n" + "12345\n" * 10)
    infos = ingest_many(store, small, ["a.txt", "big.txt"])
    assert infos["a.txt"]["status"] == "accepted"
    assert infos["big.txt"]["status"] == "not_ingested"
    assert "split it into smaller files" in infos["big.txt"]["reason"]
    [row] = [r for r in inventory(store, small) if r["key"].endswith("big.txt")]
    assert (row["status"], row["reason"]) == ("not_ingested", infos["big.txt"]["reason"])
    # Its manifest records the landed object: the sensor does not ask for it again.
    found = scan(store, small, ZoneCursor(), now=datetime.now(UTC), settle_s=0)
    assert [f.path for f in found.to_run] == []


# -------------------------------------------------------------------- a format that streams


REWRITES: list = []  # what the parser does when it reads ``rewrite`` (rewrite its file)


def stream_parser(head: bytes, context):
    """Files starting ``streamed``: numbers read a line at a time into a Parquet of their own
    (``crash`` in them: a parser bug; ``bad``: an unreadable file)."""
    if not head.startswith(b"streamed\n"):
        return None

    def parse(stream, workdir):
        import io

        import pyarrow.parquet as pq

        text = io.TextIOWrapper(stream, "utf-8")
        next(text)
        values, rejected = [], []
        for line, raw in enumerate(text, start=2):
            raw = raw.strip()
            if raw == "rewrite":
                while REWRITES:
                    REWRITES.pop()()
                continue
            if raw in ("crash", "bad"):
                raise RuntimeError("parser bug") if raw == "crash" else BadFile("a bad line")
            if raw.isdigit():
                values.append(int(raw))
            else:
                rejected.append(RejectedRecord(line, f"{raw!r} is not a number", raw))
        rows = workdir / "rows.parquet"
        pq.write_table(pa.table({"n": values, "source_file": [context.path] * len(values)}), rows)
        rejects = None
        if rejected:
            rejects = workdir / "rejects.parquet"
            pq.write_table(rejected_records_table(context.path, rejected), rejects)
        info = {"records": len(values) + len(rejected), "accepted": len(values)}
        return StreamedFile(rows, rejects, {**info, "rejected": len(rejected)})

    return parse


STREAMING = replace(ZONE, stream=stream_parser, max_bytes=64)


def test_a_format_that_streams_lands_whatever_its_size_and_is_never_read_whole(
    store, tmp_path, monkeypatch
):
    big = "streamed\n" + "".join(f"{i}\n" for i in range(1000)) + "x\n"
    land(store, big=big, small="n\n1\n", other="n\n" + "12345\n" * 20)
    get_bytes = store.get_bytes
    monkeypatch.setattr(
        store, "get_bytes", lambda k: pytest.fail(k) if k.endswith("big.txt") else get_bytes(k)
    )
    infos = ingest_many(store, STREAMING, ["big.txt", "small.txt", "other.txt"])
    assert infos["big.txt"]["status"] == "accepted"
    assert (infos["big.txt"]["accepted"], infos["big.txt"]["rejected"]) == (1000, 1)
    assert infos["big.txt"]["version"] == content_id(big.encode())
    assert infos["big.txt"]["parquet"] == "processed/numbers/big.txt.parquet"
    assert infos["small.txt"]["status"] == "accepted"  # read whole, in a chunk
    assert infos["other.txt"]["status"] == "not_ingested"  # too big, does not stream
    assert current(store, tmp_path)["big.txt"] == list(range(1000))
    monkeypatch.setattr(store, "get_bytes", get_bytes)
    statuses = {r["key"].rsplit("/", 1)[-1]: r["status"] for r in inventory(store, STREAMING)}
    assert statuses == {"big.txt": "accepted", "small.txt": "accepted", "other.txt": "not_ingested"}
    conn = duckdb.connect()
    build_rejected_records(conn, "t.r", processed_files(store, STREAMING, tmp_path / "r"))
    assert conn.execute("select source_file, record_index from t.r").fetchall() == [
        ("big.txt", 1002)
    ]
    # Landed again as it was: not read again; changed: its rows replaced.
    assert ingest_many(store, STREAMING, ["big.txt"])["big.txt"].get("unchanged")
    land(store, big="streamed\n7\n" + "8\n" * 100)
    assert ingest_many(store, STREAMING, ["big.txt"])["big.txt"]["accepted"] == 101
    assert current(store, tmp_path)["big.txt"] == [7] + [8] * 100


def test_a_streamed_file_that_is_bad_crashes_or_changes_loses_nothing(store):
    pad = "".join(f"{i}\n" for i in range(100))
    land(store, bad="streamed\n" + pad + "bad\n", boom="streamed\n" + pad + "crash\n")
    with pytest.raises(LandingParseError, match="boom.txt: RuntimeError: parser bug"):
        ingest_many(store, STREAMING, ["bad.txt", "boom.txt"])
    statuses = {r["key"].rsplit("/", 1)[-1]: r for r in inventory(store, STREAMING)}
    assert (statuses["bad.txt"]["status"], statuses["bad.txt"]["reason"]) == (
        "rejected",
        "a bad line",
    )
    assert statuses["boom.txt"]["status"] == "failed"
    # The version is of the whole file, though the parser stopped early.
    manifest = read_manifest(store, STREAMING, "bad.txt")
    assert manifest["version"] == content_id(("streamed\n" + pad + "bad\n").encode())
    # A file rewritten while the parser reads it: left for a later run, no rows written.
    land(store, moving="streamed\n" + pad + "rewrite\n")
    REWRITES.append(lambda: land(store, moving="streamed\n1\n2\n"))
    result = ingest_many(store, STREAMING, ["moving.txt"])["moving.txt"]
    assert result["status"] == "changed" and "taken again" in result["reason"]
    assert read_manifest(store, STREAMING, "moving.txt") == {}
    assert ingest_many(store, STREAMING, ["moving.txt"])["moving.txt"]["accepted"] == 2


def test_a_tick_waits_for_files_settling_within_its_limit_only():
    from datetime import UTC, datetime, timedelta

    from spotify_assets.lib.landing.scan import SETTLE_WAIT_MAX_S, LandedFile, settle_wait_s

    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    def changed(seconds_ago: float) -> LandedFile:
        at = now - timedelta(seconds=seconds_ago)
        return LandedFile(key=f"k{seconds_ago}", path="f.csv", etag="e", size=1, last_modified=at)

    assert settle_wait_s([], now, 10.0) is None
    # until the newest has been unchanged for settle_s (and a tenth more: clocks' resolution)
    assert settle_wait_s([changed(8.0), changed(3.0)], now, 10.0) == pytest.approx(7.1)
    assert settle_wait_s([changed(12.0)], now, 10.0) == 0.0
    # a wait longer than the limit is left to a later tick
    assert settle_wait_s([changed(0.0)], now, SETTLE_WAIT_MAX_S + 1) is None
