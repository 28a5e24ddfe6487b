"""The catalog's mechanics without Dagster: snapshot fetch loop, artist fetch with batching and
the learned api_mode, against the fake Spotify API and a LocalLakeStore in tmp_path."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from spotify_assets.lib.catalog import entities
from spotify_assets.lib.catalog.api_mode import API_MODE_STATE_KEY, ApiModeState
from spotify_assets.lib.catalog.entities import (
    artist_bodies,
    fetch_artists,
    plan_artists,
    referenced_artists,
)
from spotify_assets.lib.catalog.parse import WINDOW_TABLES
from spotify_assets.lib.catalog.snapshots import (
    completed_snapshots,
    document_key,
    fetch_snapshot,
    manifest_key,
    put_json,
    window_start,
    window_table_key,
    window_tables,
)
from spotify_assets.lib.lake import LocalLakeStore
from spotify_assets.lib.sample.fake_api import ApiError, FakeSpotifyServer, FaultConfig
from spotify_assets.lib.sample.world import APP_USER_ID
from spotify_assets.lib.spotify_client import (
    ClientSettings,
    PremiumRequired,
    SpotifyCatalogClient,
    TokenError,
    build_spotipy,
)

WINDOW = "2026-06-01-00:00"
AT = window_start(WINDOW)
PREMIUM_403 = "Active premium subscription required for the owner of the app"


class NoPremiumServer(FakeSpotifyServer):
    """Every API call answers Spotify's 2026 403 for an app owner without Premium."""

    def _authorize(self, request):
        super()._authorize(request)
        raise ApiError(403, PREMIUM_403)


class RefusesEverythingServer(FakeSpotifyServer):
    """Multi-id and single-id artist calls both refused with a bare 403: not the
    development-mode answer (there the single-id endpoint works)."""

    def _ep_one(self, request):
        raise ApiError(403, "Forbidden")


def make_client(server, *, refresh_token="sample-refresh", **settings) -> SpotifyCatalogClient:
    sp = build_spotipy(
        client_id="id",
        client_secret="secret",
        refresh_token=refresh_token,
        timeout_s=5.0,
        api_prefix=server.api_prefix,
        token_url=server.token_url,
    )
    batch_ok = settings.pop("batch_ok", None)
    return SpotifyCatalogClient(
        sp,
        ClientSettings(**{"backoff_s": 0.01, **settings}),
        sleep=lambda s: None,
        batch_ok=batch_ok,
    )


def owned(world) -> list[str]:
    pl = world.playlists
    return pl.loc[pl["owner_id"] == APP_USER_ID, "playlist_id"].tolist()


def snapshot(store, server, playlist_ids, **kwargs):
    client = make_client(server, **kwargs.pop("client", {}))
    run = fetch_snapshot(
        store,
        client,
        playlist_ids,
        partition_key=WINDOW,
        snapshot_time=AT,
        source="sample",
        **kwargs,
    )
    return run


@pytest.fixture
def store(tmp_path) -> LocalLakeStore:
    return LocalLakeStore(tmp_path / "lake")


@pytest.fixture
def server(tiny_world):
    with FakeSpotifyServer(tiny_world, as_of=AT) as srv:
        yield srv


# -- playlist snapshots ---------------------------------------------------------------------


def test_snapshot_writes_bodies_tables_and_manifest_with_minimal_calls(store, server, tiny_world):
    playlists = owned(tiny_world)
    run = snapshot(store, server, list(reversed(playlists)))
    assert run.failure_message() is None
    # The manifest lists playlists in the configured order, with their lake keys.
    assert list(run.manifest["playlists"]) == list(reversed(playlists))
    for pid in playlists:
        assert run.manifest["playlists"][pid]["key"] == document_key(WINDOW, pid)
        assert store.exists(document_key(WINDOW, pid))
    expected = {p: len(tiny_world.playlist_items_at(p, AT)) for p in playlists}
    assert run.items == sum(expected.values())
    assert {p: e["items"] for p, e in run.manifest["playlists"].items()} == expected
    # One call per page, the first page embedded in the playlist body.
    pages = sum(max(1, math.ceil(n / 50)) for n in expected.values())
    counts = server.request_counts
    assert counts["GET /v1/playlists/{id}"] + counts["GET /v1/playlists/{id}/items"] == pages
    assert run.manifest["api_calls"]["GET /playlists/{id}"] == len(playlists)
    # The window's parsed tables are in the processed area.
    tables = window_tables(store, WINDOW, run.manifest)
    assert set(tables) == set(WINDOW_TABLES)
    assert len(tables["playlist_tracks"]) == sum(expected.values()) - (
        run.parse_stats.episodes + run.parse_stats.local_files + run.parse_stats.unavailable
    )
    assert all(store.exists(window_table_key(WINDOW, t)) for t in WINDOW_TABLES)


def test_rerun_fetches_only_what_is_missing_and_refetch_fetches_all(store, server, tiny_world):
    playlists = owned(tiny_world)
    first = snapshot(store, server, playlists)
    store.delete(document_key(WINDOW, playlists[1]))
    server.reset_counts()
    again = snapshot(store, server, playlists)
    assert server.request_counts["GET /v1/playlists/{id}"] == 1
    assert [p for p, e in again.manifest["playlists"].items() if not e["reused"]] == [playlists[1]]
    assert again.items == first.items
    server.reset_counts()
    snapshot(store, server, playlists, refetch=True)
    assert server.request_counts["GET /v1/playlists/{id}"] == len(playlists)


def test_window_tables_are_parsed_again_from_raw_bodies_when_missing(store, server, tiny_world):
    run = snapshot(store, server, owned(tiny_world))
    before = window_tables(store, WINDOW, run.manifest)
    store.delete_prefix(f"processed/playlist_snapshots/{WINDOW}")
    rebuilt = window_tables(store, WINDOW, run.manifest)
    for table in WINDOW_TABLES:
        assert rebuilt[table].equals(before[table]), table
        assert store.exists(window_table_key(WINDOW, table))


def test_completed_snapshots_are_the_manifests_oldest_first(store):
    put_json(store, manifest_key("2026-06-01-08:00"), {"playlists": {}, "n": 2})
    put_json(store, manifest_key(WINDOW), {"playlists": {}, "n": 1})
    put_json(store, "raw/playlist_snapshots/notes.json", {"not": "a window"})
    put_json(store, document_key(WINDOW, "p1"), {"a": "document"})
    assert [(k, m["n"]) for k, m in completed_snapshots(store)] == [
        (WINDOW, 1),
        ("2026-06-01-08:00", 2),
    ]


def test_a_dead_refresh_token_stops_the_run_once(store, server, tiny_world, caplog):
    playlists = owned(tiny_world)
    log = logging.getLogger("test.catalog")
    with caplog.at_level(logging.ERROR, logger="test.catalog"):
        run = snapshot(
            store,
            server,
            playlists,
            concurrency=4,
            client={"refresh_token": "revoked-token"},
            log=log,
        )
    assert isinstance(run.stopped_by, TokenError)
    assert server.request_counts["POST /api/token"] == 1  # not one per playlist
    assert sum(server.request_counts.values()) == 1
    assert list(run.failures) == [playlists[0]]
    assert run.not_attempted == playlists[1:]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    message = run.failure_message()
    assert "python -m spotify_assets.auth" in message and "invalid_grant" in message
    assert f"{len(playlists) - 1} playlists not attempted" in message
    assert store.list("raw/playlist_snapshots/") == []
    # The playlists are not lost: a re-run with a good token fetches them all.
    server.reset_counts()
    assert snapshot(store, server, playlists).failure_message() is None
    assert server.request_counts["GET /v1/playlists/{id}"] == len(playlists)


def test_an_owner_without_premium_stops_the_run_with_what_to_do(store, tiny_world):
    playlists = owned(tiny_world)
    with NoPremiumServer(tiny_world, as_of=AT) as server:
        run = snapshot(store, server, playlists, concurrency=4)
        assert server.request_counts["GET /v1/playlists/{id}"] == 1
    assert isinstance(run.stopped_by, PremiumRequired)
    message = run.failure_message()
    assert "Premium" in message and "owns the app" in message
    assert "SPOTIFY_API_MODE" in message  # says that switching mode does not help


def test_other_errors_fail_only_their_playlist(store, server, tiny_world):
    good = owned(tiny_world)[:2]
    run = snapshot(store, server, [good[0], "0000000000000000000000", good[1]])
    assert run.stopped_by is None
    assert list(run.failures) == ["0000000000000000000000"]
    assert "404" in run.failures["0000000000000000000000"]
    assert list(run.manifest["playlists"]) == good


# -- artists ----------------------------------------------------------------------------------


def window_plan(store, server, tiny_world, refresh_hours=168):
    run = snapshot(store, server, owned(tiny_world))
    tables = window_tables(store, WINDOW, run.manifest)
    return plan_artists(store, WINDOW, referenced_artists(tables), refresh_hours)


def test_artists_are_fetched_in_batches_of_50_and_written_as_they_come(
    store, server, tiny_world, monkeypatch
):
    monkeypatch.setattr(entities, "ARTISTS_PER_OBJECT", 30)
    plan = window_plan(store, server, tiny_world)
    missing = plan.missing
    assert len(missing) > 50 and plan.cached == set() and plan.existing_batches == 0
    server.reset_counts()
    run = fetch_artists(store, make_client(server, api_mode="extended"), plan)
    assert run.failure is None and run.fetched == len(missing)
    assert server.request_counts["GET /v1/artists"] == math.ceil(len(missing) / 50)
    # One lake object per 30 bodies or more (flushed after each call that passes 30).
    assert run.keys == [f"raw/catalog_entities/{WINDOW}/artists-{i:05d}.json" for i in (1, 2)]
    assert sorted(b["id"] for b, _ in artist_bodies(store)) == missing
    # Fetched within the refresh window: the next plan needs none of them.
    again = plan_artists(store, WINDOW, plan.referenced, 168)
    assert again.missing == [] and again.existing_batches == 2


def test_a_long_retry_after_keeps_the_fetched_artists_and_the_rerun_fetches_the_rest(
    store, server, tiny_world
):
    plan = window_plan(store, server, tiny_world)
    assert 50 < len(plan.missing) <= 100  # two batch calls
    # Seed 0: the first batch call answers, the second gets a 2-hour Retry-After.
    server.set_faults(
        FaultConfig(rate_429=0.5, retry_after_s=7200, seed=0, endpoints={"GET /v1/artists"})
    )
    run = fetch_artists(store, make_client(server, api_mode="extended"), plan)
    assert run.fetched == 50
    message = run.failure_message()
    assert "Retry-After 7200" in message and "stopped after 50 of" in message
    assert "a re-run fetches only the rest" in message
    assert run.keys == [f"raw/catalog_entities/{WINDOW}/artists-00001.json"]  # kept
    rest = plan_artists(store, WINDOW, plan.referenced, 168)
    assert rest.existing_batches == 1 and len(rest.missing) == len(plan.missing) - 50
    server.set_faults(None)
    server.reset_counts()
    run = fetch_artists(store, make_client(server, api_mode="extended"), rest)
    assert run.failure is None and run.fetched == len(rest.missing)
    assert run.keys == [f"raw/catalog_entities/{WINDOW}/artists-00002.json"]  # numbering goes on
    assert server.request_counts["GET /v1/artists"] == 1
    assert sorted(b["id"] for b, _ in artist_bodies(store)) == plan.missing


def test_dead_token_in_development_mode_costs_one_call(store, server, tiny_world):
    plan = window_plan(store, server, tiny_world)
    server.set_mode("development")
    server.reset_counts()
    client = make_client(server, api_mode="development", refresh_token="revoked-token")
    run = fetch_artists(store, client, plan)
    assert isinstance(run.failure, TokenError)
    assert server.request_counts["POST /api/token"] == 1
    assert server.request_counts["GET /v1/artists/{id}"] == 0


# -- the learned api_mode -------------------------------------------------------------------


def state_of(store) -> dict:
    return orjson.loads(store.get_bytes(API_MODE_STATE_KEY))


def test_auto_learns_development_mode_once_and_rechecks_after_the_ttl(store, server, tiny_world):
    plan = window_plan(store, server, tiny_world)
    server.set_mode("development")
    state = ApiModeState(store)
    t0 = datetime(2026, 6, 1, tzinfo=UTC)

    def run_once(now, ids):
        known = state.known("auto", now)
        sub = plan_artists(store, WINDOW, ids, 168)
        client = make_client(server, api_mode="auto", batch_ok=known)
        run = fetch_artists(store, client, sub)
        wrote = state.record(
            "auto", known=known, batch_mode=run.batch_mode, confirmed=run.mode_confirmed, now=now
        )
        return known, run, wrote

    ids = plan.missing
    server.reset_counts()
    known, run, wrote = run_once(t0, ids[:10])
    assert known is None and run.batch_mode is False and wrote
    assert server.request_counts["GET /v1/artists"] == 1  # the one probe
    assert state_of(store) == {"batch_ok": False, "learned_at": t0.isoformat()}
    # Later windows within the TTL: no probe, and the state is not rewritten.
    for day in (1, 3, 6):
        server.reset_counts()
        known, run, wrote = run_once(t0 + timedelta(days=day), ids[10 * day : 10 * day + 5])
        assert known is False and not wrote and run.fetched == 5
        assert server.request_counts["GET /v1/artists"] == 0
        assert state_of(store)["learned_at"] == t0.isoformat()
    # Past the TTL the app is probed again (it may have been granted extended quota).
    server.set_mode("extended")
    server.reset_counts()
    later = t0 + timedelta(days=8)
    known, run, wrote = run_once(later, ids[40:45])
    assert known is None and run.batch_mode is True and wrote
    assert server.request_counts["GET /v1/artists"] == 1
    assert state_of(store) == {"batch_ok": True, "learned_at": later.isoformat()}


def test_a_premium_403_does_not_switch_auto_to_one_call_per_id(store, server, tiny_world):
    plan = window_plan(store, server, tiny_world)
    with NoPremiumServer(tiny_world, as_of=AT) as no_premium:
        client = make_client(no_premium, api_mode="auto")
        run = fetch_artists(store, client, plan)
        assert no_premium.request_counts["GET /v1/artists"] == 1
        assert no_premium.request_counts["GET /v1/artists/{id}"] == 0
    assert isinstance(run.failure, PremiumRequired)
    assert run.batch_mode is None and run.fetched == 0
    assert "Premium" in run.failure_message()
    state = ApiModeState(store)
    assert not state.record("auto", known=None, batch_mode=run.batch_mode)
    assert not store.exists(API_MODE_STATE_KEY)


def test_a_fallback_refused_too_is_not_remembered(store, server, tiny_world):
    plan = window_plan(store, server, tiny_world)
    with RefusesEverythingServer(tiny_world, as_of=AT, mode="development") as refusing:
        run = fetch_artists(store, make_client(refusing, api_mode="auto"), plan)
    assert run.failure is not None and run.failure.status == 403
    assert run.batch_mode is False and not run.mode_confirmed
    state = ApiModeState(store)
    assert not state.record(
        "auto", known=None, batch_mode=run.batch_mode, confirmed=run.mode_confirmed
    )
    assert not store.exists(API_MODE_STATE_KEY)


def test_a_learned_batch_mode_that_is_refused_later_is_forgotten(store, server, tiny_world):
    plan = window_plan(store, server, tiny_world)
    state = ApiModeState(store)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    put_json(store, API_MODE_STATE_KEY, {"batch_ok": True, "learned_at": now.isoformat()})
    server.set_mode("development")  # the app lost its extended quota
    known = state.known("auto", now)
    run = fetch_artists(store, make_client(server, api_mode="auto", batch_ok=known), plan)
    assert known is True and run.batch_refused
    state.record("auto", known=known, batch_mode=run.batch_mode, batch_refused=run.batch_refused)
    assert state.known("auto", now) is None  # the next run probes, and falls back
    server.reset_counts()
    run = fetch_artists(store, make_client(server, api_mode="auto"), plan)
    assert run.failure is None and run.batch_mode is False
    assert server.request_counts["GET /v1/artists"] == 1


def test_api_mode_state_is_a_cache(store, caplog):
    state = ApiModeState(store)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert state.known("auto", now) is None
    store.put_bytes(API_MODE_STATE_KEY, b"{not json")
    with caplog.at_level(logging.WARNING, logger="spotify_assets.catalog"):
        assert state.known("auto", now) is None
    assert API_MODE_STATE_KEY in caplog.text and "probes again" in caplog.text
    # A fixed mode neither reads nor writes the state.
    put_json(store, API_MODE_STATE_KEY, {"batch_ok": False, "learned_at": now.isoformat()})
    assert state.known("extended", now) is None
    assert not state.record("development", known=None, batch_mode=False)
    assert state.known("auto", now) is False
