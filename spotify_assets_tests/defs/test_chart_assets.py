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
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.charts.assets import CHARTS, chart_marts, chart_tables, rejected_chart_rows
from spotify_assets.lib.sample.world.charts import write_sample_charts
from spotify_assets.resources import LakeResource

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
        self.cursor = None

    def land(self, name: str, data: bytes) -> None:
        self.lake.store().put_bytes(f"landing/charts/{name}", data)

    def ingest_and_build(self) -> dg.ExecuteInProcessResult:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources=self.resources
        )
        tick = CHARTS.sensor(context)
        self.cursor = tick.cursor
        for request in tick.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(CHARTS.partitions.name, request.partition_keys)
        assets = [CHARTS.asset, chart_tables, rejected_chart_rows, chart_marts]
        for request in tick.run_requests or []:
            dg.materialize(
                assets, selection=[CHARTS.asset], instance=self.instance,
                resources=self.resources, tags=request.tags, raise_on_error=False,
            )  # fmt: skip
        return dg.materialize(
            assets, selection=assets[1:], instance=self.instance, resources=self.resources
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
    # No date in the name: set aside, with how to name it.
    store = zone.lake.store()
    why = store.get_bytes("landing/_rejected/charts/regional-global-daily-latest.csv.reason.txt")
    assert "regional-global-daily-" in why.decode() and "latest" in why.decode()
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
