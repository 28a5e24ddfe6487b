"""Resources chosen by environment: sample by default, live and S3 by variables only; secrets
stay environment variables; bad settings name the variable."""

from __future__ import annotations

import dagster as dg
import pytest

from spotify_assets.defs.resources import build_resources
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
    import pickle

    @dg.asset(key=["ml", "toy_model"], io_manager_key="model_io_manager")
    def toy_model():
        return {"weights": [1, 2, 3]}

    # S3: dagster-aws's pickle IO manager under <lake prefix>/models/.
    monkeypatch.setenv("SPOTIFY_LAKE_URL", f"s3://{s3_bucket}/lake")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    resources = build_resources(load_settings())
    assert dg.materialize([toy_model], resources=resources).success
    body = s3_client.get_object(Bucket=s3_bucket, Key="lake/models/ml/toy_model")["Body"].read()
    assert pickle.loads(body) == {"weights": [1, 2, 3]}

    # Local lake: the same layout in the folder.
    monkeypatch.delenv("SPOTIFY_LAKE_URL")
    resources = build_resources(load_settings())
    assert dg.materialize([toy_model], resources=resources).success
    path = tmp_path / "data" / "lake" / "models" / "ml" / "toy_model"
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
