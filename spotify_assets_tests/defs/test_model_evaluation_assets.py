"""The ml assets end to end on the tiny world written straight into the core tables: the
model's metadata (target, family importance, score without listening, forward evaluation or
why it did not run) and ml.model_evaluation, whose figures match the predictions table."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.ml.assets import (
    EVALUATION_COLUMNS,
    model_evaluation,
    popularity_features,
    popularity_model,
    popularity_predictions,
)
from spotify_assets.resources import LakeResource, SpotifyResource, WarehouseIOManager
from spotify_assets_tests.support.worlds import write_world

pytestmark = pytest.mark.slow  # materializes assets with real resources

ML = [popularity_features, popularity_model, popularity_predictions, model_evaluation]
FAST = {"ops": {"ml__popularity_model": {"config": {"n_estimators": 10, "n_folds": 3}}}}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from spotify_assets.lib.sample.world import build_world

    root = tmp_path_factory.mktemp("ml")
    database = str(root / "warehouse.duckdb")
    with duckdb.connect(database) as conn:
        write_world(conn, build_world("tiny", seed=42))
    resources = {
        "warehouse": DuckDBResource(database=database),
        "warehouse_io_manager": WarehouseIOManager(database=database),
        "lake": LakeResource(url=str(root / "lake")),
        "model_io_manager": dg.FilesystemIOManager(base_dir=str(root / "lake" / "models")),
        "spotify": SpotifyResource(source="sample", sample_scale="tiny"),
    }
    result = dg.materialize(ML, resources=resources, run_config=FAST)
    return database, result


def _metadata(result, name: str) -> dict:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.path == ["ml", name]
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_model_metadata_says_target_drivers_and_forward_status(built):
    _, result = built
    assert result.success
    md = _metadata(result, "popularity_model")
    assert md["target"] == "spotify_popularity" and md["labelled_tracks"] == 600
    assert {"without_listening r2", "without_listening mae"} <= set(md)
    assert "| listening |" in md["family_importances"]
    assert md["min_margin"] == 0.05
    # no snapshot window in this lake 90 days before the latest: said, not hidden
    assert md["forward"].startswith("not run: no completed snapshot window")


def test_model_evaluation_table_matches_the_model(built):
    database, result = built
    md = _metadata(result, "popularity_model")
    with duckdb.connect(database, read_only=True) as conn:
        columns = [r[0] for r in conn.execute("describe ml.model_evaluation").fetchall()]
        assert columns == list(EVALUATION_COLUMNS)
        rows = conn.execute(
            "select evaluation, name, r2 from ml.model_evaluation order by all"
        ).fetchall()
        (recomputed,) = conn.execute(
            "select 1 - sum((target - oof_prediction) ^ 2) / sum((target - (select "
            "avg(target) from ml.popularity_predictions where oof_prediction is not null)) ^ 2)"
            " from ml.popularity_predictions where oof_prediction is not null"
        ).fetchone()
        forward_cols = conn.execute(
            "select count(*) from ml.popularity_predictions where forward_prediction is not null"
        ).fetchone()[0]
    by_key = {(e, n): r2 for e, n, r2 in rows}
    assert by_key[("grouped_cv", "model")] == pytest.approx(md["model r2"], abs=1e-4)
    assert by_key[("grouped_cv", "model")] == pytest.approx(recomputed, abs=1e-6)
    assert by_key[("grouped_cv_without_listening", "model")] == pytest.approx(
        md["without_listening r2"], abs=1e-4
    )
    assert {n for e, n in by_key if e == "family_importance"} == {
        "track",
        "album",
        "artist",
        "playlists",
        "listening",
    }
    assert forward_cols == 0  # the forward evaluation did not run here
