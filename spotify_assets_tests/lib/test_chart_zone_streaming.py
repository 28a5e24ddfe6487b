"""The Kaggle charts file through the charts landing zone, on a local folder and on S3 (moto):
it lands even when larger than the zone reads at once (other formats keep the limit and their
"split it"), is never read whole, every file is accounted for, a re-landed changed file
replaces its rows, a day in it and in a per-day file counts once (the newest file's), and a
mostly bad one is held out alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from spotify_assets.lib.lake import LakeError
from spotify_assets.lib.landing import (
    build_rejected_records,
    held_files,
    ingest_many,
    inventory,
    processed_files,
)
from spotify_assets.lib.spotify_charts.chart_entries import build_chart_entries
from spotify_assets.lib.spotify_charts.chart_zone import CHARTS_ZONE

FIXTURES = Path(__file__).parent / "fixtures" / "charts"
KAGGLE = (FIXTURES / "kaggle" / "charts.csv").read_bytes()
RESAVED = (FIXTURES / "kaggle" / "charts_2017.csv").read_bytes()
#: The zone with a read-at-once limit smaller than the Kaggle fixtures: they must stream.
SMALL = replace(CHARTS_ZONE, max_bytes=1024)
#: spotifycharts.com's file of the Global top 200 of 2017-01-01 (ranks 1-5, as in the Kaggle
#: fixture, streams one more each: a later download).
DAILY = "regional-global-daily-2017-01-01.csv"
DAILY_DATA = b"""Position,"Track Name",Artist,Streams,URL
1,Starboy,"The Weeknd, Daft Punk",3135626,https://open.spotify.com/track/5aAx2yezTd8zXrkmtKl66Z
2,Closer,"The Chainsmokers, Halsey",3015526,https://open.spotify.com/track/7BKLCZ1jbUBVqRi2FVlTVw
3,Let Me Love You,"DJ Snake, Justin Bieber",2545385,https://open.spotify.com/track/4pdPtRcBmOSQDlJ3Fk945m
4,Rockabye (feat. Sean Paul & Anne-Marie),Clean Bandit,2356605,https://open.spotify.com/track/5knuzwU65gJK7IF5yJsuaW
5,One Dance,"Drake, WizKid, Kyla",2259888,https://open.spotify.com/track/1xznGGDReH1oQq0xzbwXa3
"""


@pytest.fixture
def store(lake_store):
    return lake_store  # a local folder, then S3 (conftest)


def land(store, name: str, data: bytes) -> None:
    store.put_bytes(f"landing/charts/{name}", data)


def never_whole(store, monkeypatch, *names: str) -> None:
    """Reading these landed files whole fails the test: they must stream."""
    keys = {f"landing/charts/{n}" for n in names}
    get_bytes = store.get_bytes

    def guarded(key: str) -> bytes:
        if key in keys:
            raise AssertionError(f"{key} was read whole")
        return get_bytes(key)

    monkeypatch.setattr(store, "get_bytes", guarded)


def entries(store, tmp_path, zone=SMALL) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    files = processed_files(store, zone, tmp_path / "work")
    build_chart_entries(conn, files)  # files in key order: the later key is the newer
    every = processed_files(store, zone, tmp_path / "work", include_held=True)
    build_rejected_records(conn, "core.rejected_chart_rows", every)  # as the asset does
    return conn


def test_larger_than_the_zone_reads_at_once_it_streams_and_others_keep_the_limit(
    store, tmp_path, monkeypatch
):
    big_old_format = b"Position,Track Name,Artist,Streams,URL\n" + b"1,A,B,5,x\n" * 200
    assert len(KAGGLE) > SMALL.max_bytes and len(big_old_format) > SMALL.max_bytes
    land(store, "kaggle/charts.csv", KAGGLE)
    land(store, "regional-global-daily-2019-12-20.csv", big_old_format)
    never_whole(store, monkeypatch, "kaggle/charts.csv")
    paths = ["kaggle/charts.csv", "regional-global-daily-2019-12-20.csv"]
    infos = ingest_many(store, SMALL, paths)
    kaggle = infos["kaggle/charts.csv"]
    assert (kaggle["status"], kaggle["accepted"], kaggle["rejected"]) == ("accepted", 49, 4)
    assert kaggle["format"] == "kaggle charts.csv" and kaggle["parse_rate"] == 0.9245
    assert kaggle["parquet"] == "processed/charts/kaggle/charts.csv.parquet"
    assert store.exists(kaggle["parquet"]) and store.exists(kaggle["rejects_parquet"])
    other = infos["regional-global-daily-2019-12-20.csv"]
    assert other["status"] == "not_ingested" and "split it" in other["reason"]
    # Every landed file is accounted for, with its status.
    listed = {r["key"]: r["status"] for r in inventory(store, SMALL)}
    assert listed == {
        "landing/charts/kaggle/charts.csv": "accepted",
        "landing/charts/regional-global-daily-2019-12-20.csv": "not_ingested",
    }
    # Landed again unchanged: not read again.
    again = ingest_many(store, SMALL, ["kaggle/charts.csv"])["kaggle/charts.csv"]
    assert again.get("unchanged") and again["version"] == kaggle["version"]
    conn = entries(store, tmp_path)
    assert conn.execute("select count(*) from core.chart_entries").fetchone() == (49,)
    assert conn.execute(
        "select record_index from core.rejected_chart_rows order by 1"
    ).fetchall() == [(45,), (50,), (53,), (54,)]


def test_the_version_is_the_hash_of_the_whole_file(store):
    """The content version of a streamed file is the one the other files get: the same bytes
    landed small (read whole) or large (streamed) are the same version."""
    from spotify_assets.lib.landing import content_id

    land(store, "a.csv", KAGGLE)
    streamed = ingest_many(store, SMALL, ["a.csv"])["a.csv"]
    whole = ingest_many(store, CHARTS_ZONE, ["a.csv"], reprocess=True)["a.csv"]
    assert streamed["version"] == whole["version"] == content_id(KAGGLE)
    assert streamed["accepted"] == whole["accepted"] == 49


def test_a_relanded_changed_file_replaces_its_rows(store, tmp_path):
    land(store, "charts.csv", KAGGLE)
    ingest_many(store, SMALL, ["charts.csv"])
    before = entries(store, tmp_path).execute("select sum(streams) from core.chart_entries")
    before = before.fetchone()[0]
    land(store, "charts.csv", KAGGLE.replace(b",253019\n", b",253020\n"))
    info = ingest_many(store, SMALL, ["charts.csv"])["charts.csv"]
    assert info["status"] == "accepted" and not info.get("unchanged")
    after = entries(store, tmp_path).execute("select sum(streams) from core.chart_entries")
    assert after.fetchone()[0] == before + 1


def test_a_day_in_the_kaggle_file_and_in_a_per_day_file_counts_once(store, tmp_path):
    land(store, "a/charts.csv", KAGGLE)
    land(store, "a/charts_2017.csv", RESAVED)
    land(store, f"b/{DAILY}", DAILY_DATA)  # a later key: the newer file
    infos = ingest_many(store, SMALL, ["a/charts.csv", "a/charts_2017.csv", f"b/{DAILY}"])
    assert {i["status"] for i in infos.values()} == {"accepted"}
    conn = entries(store, tmp_path)
    got = conn.execute(
        "select rank, streams, source_file from core.chart_entries where region = 'global' "
        "and chart = 'regional-daily' and period_start = date '2017-01-01' order by rank"
    ).fetchall()
    assert [(r, s) for r, s, _ in got] == [
        (1, 3135626), (2, 3015526), (3, 2545385), (4, 2356605), (5, 2259888),
    ]  # fmt: skip
    assert {f for *_, f in got} == {f"b/{DAILY}"}
    # Nothing else is lost or doubled: 49 + 10 + 5 rows, 5 of them the same chart entries.
    assert conn.execute("select count(*) from core.chart_entries").fetchone() == (59,)
    assert conn.execute(
        "select count(*) - count(distinct (region, chart, period_start, rank)) "
        "from core.chart_entries"
    ).fetchone() == (0,)


def test_a_mostly_bad_kaggle_file_is_held_out_alone(store, tmp_path):
    lines = KAGGLE.decode().splitlines()
    bad = "\n".join([lines[0]] + [ln.replace(",Argentina,", ",Atlantis,") for ln in lines[1:]])
    land(store, "bad/charts.csv", bad.encode() + b"\n")
    land(store, "good/charts_2017.csv", RESAVED)
    ingest_many(store, SMALL, ["bad/charts.csv", "good/charts_2017.csv"])
    assert list(held_files(store, SMALL)) == ["bad/charts.csv"]
    conn = entries(store, tmp_path)
    sources = conn.execute("select distinct source_file from core.chart_entries").fetchall()
    assert sources == [("good/charts_2017.csv",)]
    reasons = conn.execute(
        "select count(*) from core.rejected_chart_rows where source_file = 'bad/charts.csv' "
        "and reason like 'region ''Atlantis''%'"
    ).fetchone()
    assert reasons == (21,)  # 20 Argentina rows and the fixture's own Atlantis row


def test_a_streamed_file_that_cannot_be_read_is_listed_with_the_reason(store, monkeypatch):
    land(store, "charts.csv", KAGGLE)

    def fail(*_):
        raise LakeError("the disk is gone")

    for method in ("open", "get_file"):
        if hasattr(store, method):
            monkeypatch.setattr(store, method, fail)
    info = ingest_many(store, SMALL, ["charts.csv"])["charts.csv"]
    assert info["status"] == "not_ingested" and "the disk is gone" in info["reason"]
