"""Resources chosen by environment: sample by default, live and S3 by variables only; secrets
stay environment variables; bad settings name the variable."""

from __future__ import annotations

import dagster as dg
import pytest

from spotify_assets.defs.environment import build_resources
from spotify_assets.settings import SettingsError, load_settings


def test_defaults_are_the_sample_world_under_the_data_dir(tmp_path):
    settings = load_settings()
    assert settings.data_dir == (tmp_path / "data").resolve()  # conftest sets SPOTIFY_DATA_DIR
    resources = build_resources(settings)
    assert resources["spotify"].source == "sample"
    assert resources["lake"].url == str(tmp_path / "data" / "lake")
    assert resources["warehouse"].database == str(tmp_path / "data" / "warehouse.duckdb")


def test_live_and_s3_by_environment_only(monkeypatch):
    monkeypatch.setenv("SPOTIFY_SOURCE", "live")
    monkeypatch.setenv("SPOTIFY_PLAYLIST_IDS", "a1, b2 ,")
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "the-id")
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "the-secret")
    monkeypatch.setenv("SPOTIFY_LAKE_URL", "s3://bucket/prefix")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    resources = build_resources(load_settings())
    spotify = resources["spotify"]
    assert spotify.source == "live" and spotify.playlist_ids == ["a1", "b2"]
    assert resources["lake"].url == "s3://bucket/prefix"
    assert resources["lake"].s3_endpoint_url == "http://127.0.0.1:9000"
    # Secrets are references to the environment, resolved only when a run starts.
    defs = dg.Definitions(resources=resources)
    assert defs.resources["spotify"].client_secret == dg.EnvVar("SPOTIPY_CLIENT_SECRET")
    assert "the-secret" not in repr(defs.resources["spotify"])


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("SPOTIFY_SOURCE", "cloud", "SPOTIFY_SOURCE='cloud' must be one of sample, live"),
        ("SPOTIFY_MAX_RETRIES", "many", "SPOTIFY_MAX_RETRIES='many' is not an integer"),
        ("SPOTIFY_TIMEOUT_S", "0", "SPOTIFY_TIMEOUT_S=0.0 must be at least 0.1"),
    ],
)
def test_bad_settings_name_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        load_settings()


def test_models_are_pickled_into_the_lake_on_s3_and_locally(
    tmp_path, monkeypatch, moto_endpoint, s3_bucket, s3_client
):
    import hashlib
    import pickle

    @dg.asset(key=["ml", "toy_model"], io_manager_key="model_io_manager")
    def toy_model():
        return {"weights": [1, 2, 3]}

    # S3: under <lake prefix>/models/, its SHA-256 recorded in the materialization.
    monkeypatch.setenv("SPOTIFY_LAKE_URL", f"s3://{s3_bucket}/lake")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    resources = build_resources(load_settings())
    result = dg.materialize([toy_model], resources=resources)
    body = s3_client.get_object(Bucket=s3_bucket, Key="lake/models/ml/toy_model.pkl")["Body"]
    data = body.read()
    assert pickle.loads(data) == {"weights": [1, 2, 3]}
    recorded = result.asset_materializations_for_node("ml__toy_model")[0].metadata
    assert recorded["model_sha256"].value == hashlib.sha256(data).hexdigest()

    # Local lake: the same layout in the folder.
    monkeypatch.delenv("SPOTIFY_LAKE_URL")
    resources = build_resources(load_settings())
    assert dg.materialize([toy_model], resources=resources).success
    path = tmp_path / "data" / "lake" / "models" / "ml" / "toy_model.pkl"
    assert pickle.loads(path.read_bytes()) == {"weights": [1, 2, 3]}


def test_alert_webhook_is_a_secret_reference(monkeypatch):
    monkeypatch.setenv("SPOTIFY_ALERT_WEBHOOK_URL", "https://hooks.example/services/T0KEN")
    defs = dg.Definitions(resources=build_resources(load_settings()))
    assert defs.resources["alerts"].webhook_url == dg.EnvVar("SPOTIFY_ALERT_WEBHOOK_URL")
    assert "T0KEN" not in repr(defs.resources["alerts"])


def test_live_training_is_opt_in(monkeypatch):
    monkeypatch.setenv("SPOTIFY_SOURCE", "live")
    assert not build_resources(load_settings())["spotify"].training_allowed()
    monkeypatch.setenv("SPOTIFY_ML_ALLOW_LIVE_TRAINING", "true")
    assert build_resources(load_settings())["spotify"].training_allowed()
    monkeypatch.setenv("SPOTIFY_ML_ALLOW_LIVE_TRAINING", "maybe")
    with pytest.raises(SettingsError, match="SPOTIFY_ML_ALLOW_LIVE_TRAINING='maybe'"):
        load_settings()


def test_settings_reach_resources_by_name(monkeypatch):
    monkeypatch.setenv("SPOTIFY_CONCURRENCY", "7")
    monkeypatch.setenv("SPOTIFY_MARKET", "se")
    monkeypatch.setenv("SPOTIFY_MAX_RETRY_WAIT_S", "12.5")
    monkeypatch.setenv("SPOTIFY_INGEST_BATCH_FILES", "3")
    monkeypatch.setenv("SPOTIFY_UI_URL", "http://dagster.internal:3000/")
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    resources = build_resources(load_settings())
    spotify = resources["spotify"]
    assert (spotify.concurrency, spotify.market, spotify.max_retry_wait_s) == (7, "SE", 12.5)
    # ... and on to the client, field by field of the same name.
    client = spotify.client_settings()
    assert (client.concurrency, client.market, client.max_retry_wait_s) == (7, "SE", 12.5)
    assert resources["lake"].ingest_batch_files == 3  # what the landing sensors batch by
    assert resources["lake"].s3_region_name == "eu-north-1"
    assert resources["alerts"].ui_url == "http://dagster.internal:3000"


def test_no_secret_value_reaches_settings_or_resource_config(monkeypatch):
    secrets = {
        "SPOTIPY_CLIENT_SECRET": "s3cr3t-client",
        "SPOTIFY_REFRESH_TOKEN": "s3cr3t-refresh",
        "SPOTIFY_ALERT_WEBHOOK_URL": "https://hooks.example/s3cr3t-hook",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t-aws",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SPOTIFY_SOURCE", "live")
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "the-id")
    settings = load_settings()
    defs = dg.Definitions(resources=build_resources(settings))
    shown = repr(settings) + "".join(repr(r) for r in defs.resources.values())
    assert not [name for name, value in secrets.items() if value in shown]
    assert defs.resources["spotify"].refresh_token == dg.EnvVar("SPOTIFY_REFRESH_TOKEN")


def test_only_the_settings_module_reads_the_environment():
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "spotify_assets"
    # The auth CLI reads the app's credentials itself: it runs once, by hand, outside Dagster.
    allowed = {"settings.py", "auth.py"}
    readers = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name not in allowed
        and re.search(r"os\.environ|os\.getenv|\bgetenv\(", path.read_text())
    ]
    assert readers == []


def test_model_config_reaches_the_model_params_by_name():
    import dataclasses

    from spotify_assets.defs.ml.assets import ModelConfig
    from spotify_assets.lib.ml import ModelParams

    params = ModelConfig(n_estimators=7, n_folds=3, max_samples=None).params()
    assert (params.n_estimators, params.n_folds, params.max_samples) == (7, 3, None)
    shared = {f.name for f in dataclasses.fields(ModelParams)} & set(ModelConfig.model_fields)
    assert {"n_estimators", "max_depth", "min_samples_leaf", "max_features", "n_jobs"} <= shared
