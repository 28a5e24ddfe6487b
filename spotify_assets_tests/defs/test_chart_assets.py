"""Group charts materialized in memory: chart CSVs of both sites landed in landing/charts/,
ingested per file by the one landed-file mechanism, core.chart_entries and the chart marts
built; rows and stream totals equal an independent reading of the files; a file without a
date is set aside with its reason; a re-landed changed file replaces its rows."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.charts.assets import chart_marts, chart_tables
from spotify_assets.defs.charts.zone import CHARTS
from spotify_assets.lib.landing import inventory
from spotify_assets.lib.sample.world.charts import write_sample_charts
from spotify_assets.resources import LakeResource
from spotify_assets_tests.support.landing import Landing

pytestmark = pytest.mark.slow  # materializes assets with real resources

FIXTURES = Path(__file__).parents[1] / "lib" / "fixtures" / "charts"
CLEAN = ["regional-ar-weekly-2026-03-05.csv", "regional-global-daily-2023-06-01.csv"]


def independent(data: bytes) -> tuple[int, int]:
    """(rows, total streams) of a clean charts.spotify.com file, with the csv module."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    return len(rows), sum(int(r["streams"].replace(",", "")) for r in rows)


class Zone:
    def __init__(self, tmp_path: Path) -> None:
        self.lake = LakeResource(url=str(tmp_path / "lake"))
        self.database = str(tmp_path / "warehouse.duckdb")
        self.instance = dg.DagsterInstance.ephemeral()
        self.resources = {"lake": self.lake, "warehouse": DuckDBResource(database=self.database)}
        self.assets = [CHARTS.asset, chart_tables, *CHARTS.tables, chart_marts]
        self.zone = Landing(CHARTS, self.resources, self.instance, assets=self.assets)

    def land(self, name: str, data: bytes) -> None:
        self.lake.store().put_bytes(f"landing/charts/{name}", data)

    def ingest_and_build(self) -> dg.ExecuteInProcessResult:
        self.zone.land()
        return dg.materialize(
            self.assets,
            selection=self.assets[1:],
            instance=self.instance,
            resources=self.zone.resources,
        )

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(self.database, read_only=True) as conn:
            return conn.execute(sql).fetchall()


def test_chart_files_land_with_independent_rows_and_streams(tmp_path, tiny_world):
    zone = Zone(tmp_path)
    for path in FIXTURES.glob("*.csv"):
        zone.land(path.name, path.read_bytes())
    sample = write_sample_charts(tmp_path / "sample", tiny_world, days=3)
    for path in sample:
        zone.land(f"sample/{path.name}", path.read_bytes())
    built = zone.ingest_and_build()
    assert built.success
    assert all(c.passed for c in built.get_asset_check_evaluations())

    got = {
        f: (n, s)
        for f, n, s in zone.query(
            "select source_file, count(*), sum(streams) from core.chart_entries group by all"
        )
    }
    for name in CLEAN:
        assert got[name] == independent((FIXTURES / name).read_bytes())
    for path in sample:
        if path.read_bytes().lstrip(b"\xef\xbb\xbf").startswith(b"rank,"):
            assert got[f"sample/{path.name}"] == independent(path.read_bytes())
    # The file with bad rows (2 of 7 usable) fails its blocking parse_rate check: it is held
    # out of core.chart_entries until fixed or removed, its bad rows kept with line and reason.
    assert "regional-de-daily-2023-06-01.csv" not in got
    entries = next(
        e.materialization.metadata
        for e in built.get_asset_materialization_events()
        if e.materialization.asset_key.path == ["core", "chart_entries"]
    )
    assert list(entries["files_held_out"].value) == ["regional-de-daily-2023-06-01.csv"]
    bad = zone.query(
        "select record_index, reason from core.rejected_chart_rows "
        "where source_file = 'regional-de-daily-2023-06-01.csv' order by 1"
    )
    assert [line for line, _ in bad] == [3, 4, 5, 6, 7]
    # No date in the name: listed as rejected, with how to name it (the file stays).
    store = zone.lake.store()
    [why] = [
        r["reason"]
        for r in inventory(store, CHARTS.zone)
        if r["key"].endswith("regional-global-daily-latest.csv") and r["status"] == "rejected"
    ]
    assert "regional-global-daily-" in why and "latest" in why
    assert store.exists("landing/charts/regional-global-daily-latest.csv")
    # Every chart mart is built.
    tables = {t for (t,) in zone.query("select table_name from information_schema.tables")}
    assert {"chart_tracks", "chart_movement", "chart_reach", "chart_artists"} <= tables


def test_a_relanded_changed_chart_replaces_its_rows(tmp_path):
    zone = Zone(tmp_path)
    name = CLEAN[1]
    data = (FIXTURES / name).read_bytes()
    zone.land(name, data)
    zone.ingest_and_build()
    before = zone.query("select sum(streams) from core.chart_entries")[0][0]
    zone.land(name, data.replace(b'"7706254"', b'"7706255"'))
    zone.ingest_and_build()
    after = zone.query("select sum(streams) from core.chart_entries")[0][0]
    assert after == before + 1


KAGGLE = FIXTURES / "kaggle"
DAILY = "regional-global-daily-2017-01-01.csv"
DAILY_DATA = b"""Position,"Track Name",Artist,Streams,URL
1,Starboy,"The Weeknd, Daft Punk",3135625,https://open.spotify.com/track/5aAx2yezTd8zXrkmtKl66Z
2,Closer,"The Chainsmokers, Halsey",3015525,https://open.spotify.com/track/7BKLCZ1jbUBVqRi2FVlTVw
"""


def test_the_kaggle_file_lands_into_chart_entries_as_pandas_reads_it(tmp_path):
    """The Kaggle all-in-one file and a pandas re-save of a per-year split, under any names,
    through the sensor and runs: core.chart_entries holds what an independent reading gives;
    a day also landed later as a spotifycharts.com file counts once, from that file."""
    import os

    from spotify_assets_tests.support.charts import independent

    zone = Zone(tmp_path)
    zone.land("dhruvildave/charts.csv", (KAGGLE / "charts.csv").read_bytes())
    zone.land("splits/2017 (re-saved).csv", (KAGGLE / "charts_2017.csv").read_bytes())
    zone.land(DAILY, DAILY_DATA)
    landed = tmp_path / "lake" / "landing" / "charts"
    for kaggle in (landed / "dhruvildave" / "charts.csv", landed / "splits"):
        earlier = (landed / DAILY).stat().st_mtime - 60
        for path in [kaggle, *kaggle.glob("*")]:
            os.utime(path, (earlier, earlier))  # landed before the per-day file
    built = zone.ingest_and_build()
    assert built.success

    want = {}
    bad = {}
    for name, fixture in (
        ("dhruvildave/charts.csv", "charts.csv"),
        ("splits/2017 (re-saved).csv", "charts_2017.csv"),
    ):
        rows, bad[name] = independent(KAGGLE / fixture)
        for row in rows:
            want[(row[0], row[1], row[2], row[4])] = (*row[5:9], name)
    # The per-day file's two ranks replace the Kaggle file's.
    want[("global", "regional-daily", date(2017, 1, 1), 1)] = (
        "5aAx2yezTd8zXrkmtKl66Z", "Starboy", "The Weeknd, Daft Punk", 3135625, DAILY,
    )  # fmt: skip
    want[("global", "regional-daily", date(2017, 1, 1), 2)] = (
        "7BKLCZ1jbUBVqRi2FVlTVw", "Closer", "The Chainsmokers, Halsey", 3015525, DAILY,
    )  # fmt: skip
    got = {
        (r, c, p, k): (t, n, a, s, f)
        for r, c, p, e, k, t, n, a, s, f in zone.query(
            "select region, chart, period_start, period_end, rank, track_id, track_name, "
            "artist_names, streams, source_file from core.chart_entries"
        )
    }
    assert got == want
    rejected = zone.query(
        "select source_file, record_index from core.rejected_chart_rows order by 1, 2"
    )
    assert rejected == [("dhruvildave/charts.csv", line) for line in bad["dhruvildave/charts.csv"]]
    statuses = {r["key"]: r["status"] for r in inventory(zone.lake.store(), CHARTS.zone)}
    assert set(statuses.values()) == {"accepted"} and len(statuses) == 3
