"""Small sharp edges: alert links follow the UI's port, a webhook's user info never reaches a
message, and a model file is unpickled only when its bytes are the ones training recorded."""

from __future__ import annotations

import dagster as dg
import pytest

from spotify_assets.defs.environment import build_resources
from spotify_assets.lib.quality.alerts import (
    AlertDeliveryError,
    check_failed_alert,
    post_webhook,
)
from spotify_assets.resources.model_io import ModelIntegrityError
from spotify_assets.settings import load_settings


def test_alert_links_follow_dagster_port_unless_ui_url_is_set(monkeypatch):
    monkeypatch.delenv("DAGSTER_PORT", raising=False)
    assert load_settings().ui_url == "http://127.0.0.1:3000"
    monkeypatch.setenv("DAGSTER_PORT", "3070")
    assert build_resources(load_settings())["alerts"].ui_url == "http://127.0.0.1:3070"
    monkeypatch.setenv("SPOTIFY_UI_URL", "https://dagster.example.org/")
    assert load_settings().ui_url == "https://dagster.example.org"


def test_webhook_user_info_never_appears_in_an_error():
    alert = check_failed_alert(
        asset="core/streams", check="c", severity="WARN", run_id="r", description=None
    )
    # Nothing listens on port 9 of 127.0.0.1 (discard): delivery fails and names the host.
    url = "http://hookuser:s3cr3t-pass@127.0.0.1:9/services/T0KEN"
    with pytest.raises(AlertDeliveryError) as raised:
        post_webhook(url, alert, timeout_s=2)
    message = str(raised.value)
    assert "127.0.0.1:9" in message
    assert not [part for part in ("hookuser", "s3cr3t-pass", "T0KEN") if part in message]


@dg.asset(key=["ml", "toy_model"], io_manager_key="model_io_manager")
def toy_model():
    return {"weights": [1, 2, 3]}


@dg.asset(key=["ml", "toy_predictions"], ins={"model": dg.AssetIn(["ml", "toy_model"])})
def toy_predictions(model) -> int:
    return sum(model["weights"])


def test_model_hash_is_checked_before_unpickling(tmp_path):
    resources = build_resources(load_settings())
    resources["io_manager"] = dg.InMemoryIOManager()
    instance = dg.DagsterInstance.ephemeral()
    first = dg.materialize([toy_model, toy_predictions], resources=resources, instance=instance)
    assert first.output_for_node("ml__toy_predictions") == 6

    # Someone rewrites the model file in the lake (a pickle runs code when loaded).
    path = tmp_path / "data" / "lake" / "models" / "ml" / "toy_model.pkl"
    import pickle

    path.write_bytes(pickle.dumps({"weights": [100]}))
    tampered = dg.materialize(
        [toy_model, toy_predictions],
        selection=[dg.AssetKey(["ml", "toy_predictions"])],
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not tampered.success
    errors = [e.step_failure_data.error for e in tampered.all_events if e.is_step_failure]
    text = "".join(e.to_string() for e in errors)
    assert ModelIntegrityError.__name__ in text and "toy_model.pkl" in text
    assert "not unpickled" in text

    # Retraining records the new hash, and the load goes through again.
    again = dg.materialize([toy_model, toy_predictions], resources=resources, instance=instance)
    assert again.output_for_node("ml__toy_predictions") == 6


def test_a_model_without_a_recorded_hash_is_refused(tmp_path):
    import pickle

    path = tmp_path / "data" / "lake" / "models" / "ml" / "toy_model.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"weights": [1]}))
    resources = build_resources(load_settings())
    resources["io_manager"] = dg.InMemoryIOManager()
    result = dg.materialize(
        [toy_model, toy_predictions],
        selection=[dg.AssetKey(["ml", "toy_predictions"])],
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    text = "".join(
        e.step_failure_data.error.to_string() for e in result.all_events if e.is_step_failure
    )
    assert "no model_sha256 was recorded" in text
