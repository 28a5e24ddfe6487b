"""Groups marts, ml and reports materialized in memory with real resources on the tiny world:
DuckDB in tmp_path, the lake in a folder, the model pickled into the lake."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.marts.assets import (
    CATALOG_MARTS,
    ENGAGEMENT_MARTS,
    catalog_marts,
    engagement_marts,
)
from spotify_assets.defs.ml.assets import (
    candidate_hits,
    popularity_features,
    popularity_model,
    popularity_predictions,
)
from spotify_assets.defs.quality.assets import build_data_quality_asset
from spotify_assets.defs.reports.assets import BI_PREFIX, DASHBOARD_OBJECT, report_assets
from spotify_assets.defs.warehouse_tables import warehouse_tables
from spotify_assets.lib.marts.export import BI_DATABASE
from spotify_assets.lib.ml.candidate_hits import CANDIDATE_HITS
from spotify_assets.resources import (
    AlertsResource,
    LakeResource,
    SpotifyResource,
    WarehouseIOManager,
)
from spotify_assets_tests.support.warehouse import (
    CORE_SCHEMAS,
    create_core_tables,
    tiny_core_tables,
)

pytestmark = pytest.mark.slow  # materializes assets with real resources

ALL_MARTS = [*CATALOG_MARTS, *ENGAGEMENT_MARTS, CANDIDATE_HITS]
ML = [popularity_features, popularity_model, popularity_predictions, candidate_hits]
# The reports over the registry of these tables, as the code location builds them.
dashboard, bi_exports = report_assets(
    warehouse_tables(dg.Definitions(assets=[catalog_marts, engagement_marts, *ML]))
)
# Fewer, smaller trees: the tests check the wiring, the lib tests check the model.
FAST_MODEL = {"ops": {"ml__popularity_model": {"config": {"n_estimators": 20, "n_folds": 3}}}}


def resources(root: Path, **spotify) -> dict:
    database = str(root / "warehouse.duckdb")
    lake = LakeResource(url=str(root / "lake"))
    return {
        "warehouse": DuckDBResource(database=database),
        "warehouse_io_manager": WarehouseIOManager(database=database),
        "lake": lake,
        "model_io_manager": dg.FilesystemIOManager(base_dir=str(root / "lake" / "models")),
        "spotify": SpotifyResource(**{"source": "sample", "sample_scale": "tiny", **spotify}),
        "alerts": AlertsResource(ui_url="http://127.0.0.1:3000"),
    }


@pytest.fixture(scope="module")
def built(tiny_world, tmp_path_factory):
    """The tiny world's core tables, then every mart, the model and the reports, in one run."""
    root = tmp_path_factory.mktemp("analytics")
    with duckdb.connect(str(root / "warehouse.duckdb")) as conn:
        tiny_core_tables(conn, tiny_world, root)
    instance = dg.DagsterInstance.ephemeral()
    data_quality = build_data_quality_asset(
        [*catalog_marts.check_specs, *engagement_marts.check_specs]
    )
    assets = [catalog_marts, engagement_marts, *ML, data_quality, dashboard, bi_exports]
    result = dg.materialize(
        assets, resources=resources(root), instance=instance, run_config=FAST_MODEL
    )
    return root, instance, result, assets


def query(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def materialization(result, *path: str) -> dict:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.path == list(path)
    ]
    return event.materialization.metadata


def test_every_mart_is_a_described_table_with_a_chart(built):
    root, _, result, _ = built
    assert result.success
    for mart in ALL_MARTS:
        md = materialization(result, "marts", mart.name)
        (rows,) = query(root, f"select count(*) from {mart.table}")[0]
        assert md["dagster/row_count"].value == rows
        schema = md["dagster/column_schema"].schema
        assert [c.name for c in schema.columns] == list(mart.columns), mart.name
        assert all(c.description for c in schema.columns), mart.name
        if mart.lineage:
            lineage = md["dagster/column_lineage"].value
            assert set(lineage.deps_by_column) == set(mart.lineage)
        for part in mart.parts:  # a view over tables: each built, named on the asset's page
            found = query(
                root,
                "select table_type from information_schema.tables "
                f"where table_schema = 'marts' and table_name = '{part.name}'",
            )
            assert found == [("BASE TABLE",)], part.table
            description = next(
                a.specs_by_key[dg.AssetKey(["marts", mart.name])].description
                for a in built[3]
                if dg.AssetKey(["marts", mart.name]) in getattr(a, "specs_by_key", {})
            )
            assert part.table in description and part.description in description
        chart = md["plot"].value
        pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", chart)
        assert len(pngs) == len(mart.plots) >= 1, mart.name
        assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_mart_checks_all_ran_and_passed(built):
    _, _, result, _ = built
    evaluations = result.get_asset_check_evaluations()
    mart_checks = [e for e in evaluations if e.asset_key.path[0] == "marts"]
    # Every mart has the row-count and key checks; some have the rates check.
    assert len(mart_checks) >= 2 * len(ALL_MARTS)
    assert [e.check_name for e in mart_checks if not e.passed] == []


def test_engagement_contract_tables(built):
    root, *_ = built
    columns = [r[0] for r in query(root, "describe marts.monthly_engagement")]
    assert columns[:4] == ["month", "active_users", "churned_users", "churn_rate"]
    last = query(
        root, "select churned_users, churn_rate from marts.monthly_engagement order by month desc"
    )[0]
    assert last == (None, None)
    assert query(root, "select count(*) from marts.hourly_engagement")[0][0] == 168
    streams = query(
        root,
        "select count(*) from core.streams where content_type = 'music' and ms_played >= 30000",
    )[0][0]
    assert query(root, "select sum(streams) from marts.daily_engagement")[0][0] == streams


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value and re.match(r"^(https?:)?//", value):
                self.external.append(value)
            if tag == "img" and name == "src":
                self.images.append(value)


def test_dashboard_is_offline_and_shows_every_chart(built):
    root, _, result, _ = built
    md = materialization(result, "reports", "dashboard")
    path = root / "lake" / DASHBOARD_OBJECT
    assert md["path"].value == str(path)
    html = path.read_text()
    refs = _Refs()
    refs.feed(html)
    assert refs.external == []
    assert "url(http" not in html and "@import" not in html
    # Every mart's charts as interactive Vega-Lite specs (the bundle vendored beside the page),
    # plus the model's importance and predicted-against-actual charts as PNG.
    specs = html.count('class="vega-spec"')
    assert specs == sum(len(m.plots) for m in ALL_MARTS)
    assert len(refs.images) == 2 and specs + 2 == md["charts"].value
    assert all(src.startswith("data:image/png;base64,") for src in refs.images)
    assert (path.parent / "vendor" / "vega-bundle.js").stat().st_size > 500_000
    for title in ("Listening engagement", "Catalog", "Popularity model", "Data quality"):
        assert title in html
    assert "listening history" in html  # the date of the data


def test_bi_exports_are_readable_without_the_warehouse(built):
    root, *_ = built
    folder = root / "lake" / BI_PREFIX
    with duckdb.connect(str(folder / BI_DATABASE), read_only=True) as bi:
        for mart in [*CATALOG_MARTS, *ENGAGEMENT_MARTS]:
            (rows,) = query(root, f"select count(*) from {mart.table}")[0]
            assert bi.execute(f"select count(*) from {mart.table}").fetchall()[0][0] == rows
            assert len(pd.read_parquet(folder / "marts" / f"{mart.name}.parquet")) == rows
            assert len(pd.read_csv(folder / "marts" / f"{mart.name}.csv")) == rows


def test_model_predictions_and_its_metadata(built):
    root, _, result, _ = built
    md = materialization(result, "ml", "popularity_model")
    assert md["target"].value == "spotify_popularity"
    for name in ("model", "mean", "followers_linear"):
        assert {f"{name} r2", f"{name} mae", f"{name} rmse"} <= set(md)
    assert "data:image/png;base64," in md["charts"].value
    assert (root / "lake" / "models" / "ml" / "popularity_model").exists()
    tracks = query(root, "select count(*) from core.tracks")[0][0]
    rows, low, high, versions = query(
        root,
        "select count(*), min(prediction), max(prediction), count(distinct model_version) "
        "from ml.popularity_predictions",
    )[0]
    assert rows == tracks and 0 <= low <= high <= 100 and versions == 1
    # Anyone can recompute the held-out score from the table.
    (r2,) = query(
        root,
        "select 1 - sum((target - oof_prediction) ^ 2) / "
        "sum((target - (select avg(target) from ml.popularity_predictions "
        "where oof_prediction is not null)) ^ 2) "
        "from ml.popularity_predictions where oof_prediction is not null",
    )[0]
    assert r2 == pytest.approx(md["model r2"].value, abs=1e-3)


def test_a_model_that_does_not_beat_the_baselines_refreshes_no_prediction(built, tmp_path):
    root, instance, _, _ = built
    before = query(root, "select count(*) from ml.popularity_predictions")[0][0]
    config = {
        "ops": {
            "ml__popularity_model": {"config": {"n_estimators": 5, "n_folds": 3, "min_margin": 5}}
        }
    }
    result = dg.materialize(
        ML,
        selection=ML[1:3],
        resources=resources(root),
        instance=instance,
        run_config=config,
        raise_on_error=False,
    )
    (check,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "beats_baselines"
    ]
    assert not check.passed
    assert [e.asset_key.path for e in result.get_asset_materialization_events()] == [
        ["ml", "popularity_model"]
    ]
    assert query(root, "select count(*) from ml.popularity_predictions")[0][0] == before


def test_live_content_is_not_trained_on_without_opt_in(built):
    root, instance, _, _ = built
    result = dg.materialize(
        ML,
        resources=resources(root, source="live", client_id="x", client_secret="y"),
        instance=instance,
        run_config=FAST_MODEL,
        raise_on_error=False,
        selection=[popularity_model],
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.event_specific_data.error.message
    assert "SPOTIFY_ML_ALLOW_LIVE_TRAINING" in message


def test_a_mart_that_loses_most_rows_fails_its_blocking_check(built, tmp_path):
    root, instance, _, _ = built
    work = tmp_path / "copy"
    work.mkdir()
    (work / "warehouse.duckdb").write_bytes((root / "warehouse.duckdb").read_bytes())
    with duckdb.connect(str(work / "warehouse.duckdb")) as conn:
        # An upstream cut short: only the first user's plays remain.
        conn.execute(
            "delete from core.streams where user_id <> (select min(user_id) from core.streams)"
        )
    result = dg.materialize(
        [engagement_marts], resources=resources(work), instance=instance, raise_on_error=False
    )
    failed = {
        e.asset_key.path[-1]
        for e in result.get_asset_check_evaluations()
        if e.check_name == "row_count_vs_previous" and not e.passed
    }
    assert "content_daily" in failed and "sessions" in failed
    assert not result.success  # blocking: the run reports the failure


def test_marts_build_before_any_listening_history_has_landed(tmp_path):
    # A live deployment that only snapshots playlists: core.streams does not exist yet.
    catalog_tables = [t for t in CORE_SCHEMAS if t not in ("core.streams", "core.stream_sources")]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        create_core_tables(conn, catalog_tables)
    result = dg.materialize(
        [catalog_marts, engagement_marts], resources=resources(tmp_path), raise_on_error=False
    )
    assert result.success
    assert query(tmp_path, "select count(*) from core.streams") == [(0,)]
    assert query(tmp_path, "select count(*) from marts.daily_engagement") == [(0,)]
    assert query(tmp_path, "select count(*) from marts.hourly_engagement") == [(168,)]
