"""The raw/recently_played asset and its sensor: users from settings, metadata per user, an
expired token for one of two users fails the run at the end without stopping the other."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from spotify_assets.defs.listening.recently_played import (
    RECENTLY_PLAYED_KEY,
    recently_played,
    recently_played_job,
    recently_played_sensor,
)
from spotify_assets.lib.lake import LocalLakeStore
from spotify_assets.lib.listening.recently_played import (
    REFRESH_TOKEN_VAR_PREFIX,
    polled_files,
    read_cursor,
)
from spotify_assets.lib.sample.fake_api import FakeSpotifyServer
from spotify_assets.lib.sample.world import APP_USER_ID
from spotify_assets.resources import LakeResource, SpotifyResource
from spotify_assets.settings import REFRESH_TOKEN_VAR_PREFIX as SETTINGS_PREFIX
from spotify_assets.settings import SettingsError, load_settings

pytestmark = pytest.mark.slow  # materializes assets with real resources

AT = datetime(2026, 6, 1, tzinfo=UTC)
USERS = [APP_USER_ID, "user_0001"]


@pytest.fixture
def server(tiny_world):
    srv = FakeSpotifyServer(tiny_world, as_of=AT).start()
    yield srv
    srv.stop()


def resources(server, tmp_path, tokens):
    return {
        "spotify": SpotifyResource(
            source="sample",
            sample_scale="tiny",
            sample_server_url=server.url,
            user_refresh_tokens=tokens,
            max_retries=0,
        ),
        "lake": LakeResource(url=str(tmp_path / "lake")),
    }


def materialization(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    [event] = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    ]
    assert event.asset_key == RECENTLY_PLAYED_KEY
    return event


def test_polls_every_user_and_records_per_user_metadata(server, tmp_path):
    tokens = {u: FakeSpotifyServer.refresh_token_for(u) for u in USERS}
    result = dg.materialize([recently_played], resources=resources(server, tmp_path, tokens))
    assert result.success
    meta = materialization(result).metadata
    assert meta["users_polled"].value == 2
    assert meta["plays_new"].value > 0
    per_user = meta["per_user"].value
    assert set(per_user) == set(USERS)
    assert {p["status"] for p in per_user.values()} == {"new plays"}
    store = LocalLakeStore(tmp_path / "lake")
    assert {f.source_file.split("/")[1] for f in polled_files(store, tmp_path)} == set(USERS)


def test_an_expired_token_for_one_of_two_users_fails_the_run_after_polling_the_other(
    server, tmp_path
):
    tokens = {u: FakeSpotifyServer.refresh_token_for(u) for u in USERS}
    server.expire_refresh_token(tokens["user_0001"])
    result = dg.materialize(
        [recently_played], resources=resources(server, tmp_path, tokens), raise_on_error=False
    )
    assert not result.success
    # The healthy user's plays were polled and recorded before the run failed.
    store = LocalLakeStore(tmp_path / "lake")
    assert read_cursor(store, APP_USER_ID) is not None
    assert read_cursor(store, "user_0001") is None
    meta = materialization(result).metadata
    assert meta["users_failed"].value == ["user_0001"]
    assert meta["per_user"].value["user_0001"]["status"] == "token expired"
    [check] = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert check.check_name == "every_user_polled" and not check.passed
    message = check.description
    assert "user_0001" in message
    assert "python -m spotify_assets.auth user_0001" in message
    assert "SPOTIFY_REFRESH_TOKEN_USER_0001" in message
    assert APP_USER_ID not in message.split("(the other 1 were polled)")[1]
    # Never the playlist owner's variable: the user's own is the one to set.
    assert "SPOTIFY_REFRESH_TOKEN " not in message and "SPOTIFY_REFRESH_TOKEN to" not in message
    assert any(e.event_type == dg.DagsterEventType.STEP_FAILURE for e in result.all_events)


def test_when_every_user_fails_the_check_does_not_say_others_were_polled(server, tmp_path):
    tokens = {u: FakeSpotifyServer.refresh_token_for(u) for u in USERS}
    for token in tokens.values():
        server.expire_refresh_token(token)
    result = dg.materialize(
        [recently_played], resources=resources(server, tmp_path, tokens), raise_on_error=False
    )
    [check] = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert "(every user failed)" in check.description
    assert "were polled" not in check.description


def test_sensor_requests_a_poll_by_default_and_is_on():
    assert recently_played_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert recently_played_sensor.minimum_interval_seconds == 30 * 60
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        [request] = recently_played_sensor.evaluate_tick(context).run_requests
        assert request.job_name is None or request.job_name == recently_played_job.name


def test_users_come_from_variable_names_only(monkeypatch):
    assert REFRESH_TOKEN_VAR_PREFIX == SETTINGS_PREFIX
    monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN_ALICE", "secret-a")
    monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN_JOHN_DOE", "secret-b")
    monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN", "the playlists' owner")
    settings = load_settings()
    assert settings.recently_played_users == ("alice", "john_doe")
    assert "secret-a" not in repr(settings)
    monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN_bob", "x")
    with pytest.raises(SettingsError, match="SPOTIFY_REFRESH_TOKEN_bob"):
        load_settings()


def test_live_resource_gets_each_users_token_as_an_env_var(monkeypatch):
    from spotify_assets.defs.environment import spotify_resource

    monkeypatch.setenv("SPOTIFY_SOURCE", "live")
    monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN_ALICE", "secret-a")
    res = spotify_resource(load_settings())
    assert res.polled_users() == ["alice"]
    assert "secret-a" not in repr(res)  # an EnvVar, resolved only when a run starts


def test_polled_plays_merge_with_the_export_without_double_counting(server, tmp_path, tiny_world):
    """The sample world serves each listener's last export plays again (some reported at
    their start) and new plays after the export: core.streams keeps the export's row of each
    play seen twice, adds the new ones, and its checks pass."""
    import duckdb
    from dagster_duckdb import DuckDBResource

    from spotify_assets.defs.listening.assets import streams_tables
    from spotify_assets.defs.listening.history_files import STREAMING_HISTORY
    from spotify_assets.lib.sample.world.history import write_user_history
    from spotify_assets_tests.support.landing import Landing

    tokens = {u: FakeSpotifyServer.refresh_token_for(u) for u in USERS}
    res = resources(server, tmp_path, tokens)
    database = str(tmp_path / "warehouse.duckdb")
    res["warehouse"] = DuckDBResource(database=database)
    out = tmp_path / "export"
    for user in USERS:
        for path in write_user_history(tiny_world, user, out):
            key = path.relative_to(out).as_posix()
            res["lake"].store().put_bytes(f"landing/streaming_history/{key}", path.read_bytes())
    instance = dg.DagsterInstance.ephemeral()
    everything = [STREAMING_HISTORY.asset, streams_tables, recently_played]
    assert all(
        r.success for r in Landing(STREAMING_HISTORY, res, instance, assets=everything).land()
    )
    assert dg.materialize(everything, selection=[recently_played], resources=res).success
    built = dg.materialize(everything, selection=[streams_tables], instance=instance, resources=res)
    assert all(c.passed for c in built.get_asset_check_evaluations())
    meta = next(
        e.materialization.metadata
        for e in built.get_asset_materialization_events()
        if e.materialization.asset_key == dg.AssetKey(["core", "streams"])
    )
    assert meta["polled_plays_also_in_exports"].value > 0
    with duckdb.connect(database, read_only=True) as conn:
        (dupes,) = conn.execute(
            """
            select count(*) from core.streams p join core.streams e
              on p.user_id = e.user_id and p.track_id = e.track_id
             and p.source_format = 'recently_played' and e.source_format = 'extended'
             and p.ts between e.ts - interval 5 second and e.ts + interval 5 second
            """
        ).fetchone()
        (new_plays,) = conn.execute(
            "select count(*) from core.streams where source_format = 'recently_played'"
        ).fetchone()
    assert dupes == 0  # a play seen by both is one row, the export's
    assert new_plays > 0  # plays after the export ends come from polling
