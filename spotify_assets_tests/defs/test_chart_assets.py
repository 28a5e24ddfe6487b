"""Group charts materialized in memory: chart CSVs of both sites landed in landing/charts/,
ingested per file by the one landed-file mechanism, core.chart_entries and the chart marts
built; rows and stream totals equal an independent reading of the files; a file without a
date is set aside with its reason; a re-landed changed file replaces its rows."""

from __future__ import annotations

import csv
import io
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
