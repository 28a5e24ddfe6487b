"""The hardened client against the fake Spotify API: paging, api modes, retries, errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from spotify_assets.lib.sample.fake_api import FaultConfig
from spotify_assets.lib.sample.world import APP_USER_ID
from spotify_assets.lib.spotify_client import (
    ClientSettings,
    RetryAfterTooLong,
    SpotifyApiError,
    SpotifyCatalogClient,
    SpotifyUnavailable,
    build_spotipy,
)

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)


def make_client(server, *, refresh_token="sample-refresh", sleeps=None, **settings):
    sp = build_spotipy(
        client_id="id",
        client_secret="secret",
        refresh_token=refresh_token,
        timeout_s=settings.pop("timeout_s", 5.0),
        api_prefix=server.api_prefix,
        token_url=server.token_url,
    )
    recorded = sleeps if sleeps is not None else []
    return SpotifyCatalogClient(
        sp, ClientSettings(**{"backoff_s": 0.01, **settings}), sleep=recorded.append
    )


def owned_playlists(world):
    pl = world.playlists
    return pl.loc[pl["owner_id"] == APP_USER_ID, "playlist_id"].tolist()


def foreign_playlist(world):
    pl = world.playlists
    return pl.loc[pl["owner_id"] != APP_USER_ID, "playlist_id"].iloc[0]


def fetch_items(client, playlist_id):
    from spotify_assets.lib.catalog.parse import embedded_items_page

    body = client.playlist(playlist_id)
    pages = list(client.playlist_item_pages(playlist_id, embedded_items_page(body)))
    return [it for p in pages for it in p["items"]]


def test_paging_fetches_every_item_once_with_minimal_calls(fake_api, tiny_world):
    fake_api.set_as_of(AS_OF)
    client = make_client(fake_api)
    for playlist_id in owned_playlists(tiny_world):
        fake_api.reset_counts()
        items = fetch_items(client, playlist_id)
        expected = tiny_world.playlist_items_at(playlist_id, AS_OF)["track_id"].tolist()
        assert [(it.get("item") or it["track"])["id"] for it in items] == expected
        pages = max(1, math.ceil(len(expected) / 50))
        counts = fake_api.request_counts
        assert counts["GET /v1/playlists/{id}"] == 1
        # The first page comes embedded in the playlist body.
        assert counts["GET /v1/playlists/{id}/items"] == pages - 1


def test_artists_extended_batches_of_50(fake_api, tiny_world):
    ids = tiny_world.artists["artist_id"].tolist()
    assert len(ids) > 50
    client = make_client(fake_api, api_mode="extended")
    fake_api.reset_counts()
    got = [a for batch in client.artists(ids + ids[:3]) for a in batch]  # duplicates asked once
    assert [a["id"] for a in got] == ids
    assert fake_api.request_counts["GET /v1/artists"] == math.ceil(len(ids) / 50)
    assert all("popularity" in a and "followers" in a for a in got)


def test_artists_auto_falls_back_in_development_mode_and_remembers(fake_api, tiny_world):
    fake_api.set_mode("development")
    ids = tiny_world.artists["artist_id"].tolist()[:30]
    client = make_client(fake_api, api_mode="auto")
    fake_api.reset_counts()
    got = [a for batch in client.artists(ids) for a in batch]
    assert sorted(a["id"] for a in got) == sorted(ids)
    assert fake_api.request_counts["GET /v1/artists"] == 1  # tried once
    assert fake_api.request_counts["GET /v1/artists/{id}"] == 30
    assert client.batch_mode is False
    assert all(a.get("popularity") is None and a.get("followers") is None for a in got)
    fake_api.reset_counts()
    list(client.artists(ids[:5]))
    assert fake_api.request_counts["GET /v1/artists"] == 0  # remembered


def test_development_mode_never_tries_batches(fake_api, tiny_world):
    fake_api.set_mode("development")
    client = make_client(fake_api, api_mode="development")
    fake_api.reset_counts()
    list(client.artists(tiny_world.artists["artist_id"].tolist()[:7]))
    assert fake_api.request_counts["GET /v1/artists"] == 0
    assert fake_api.request_counts["GET /v1/artists/{id}"] == 7


def test_extended_mode_on_a_development_app_says_what_to_do(fake_api, tiny_world):
    fake_api.set_mode("development")
    client = make_client(fake_api, api_mode="extended")
    with pytest.raises(SpotifyApiError, match="SPOTIFY_API_MODE=development"):
        list(client.artists(tiny_world.artists["artist_id"].tolist()[:3]))


@pytest.mark.parametrize(
    "kind,style",
    [
        ("429", "short_body"),
        ("5xx", "short_body"),
        ("truncated", "short_body"),
        ("truncated", "malformed"),
    ],
)
def test_transient_faults_are_retried_and_nothing_is_lost(fake_api, tiny_world, kind, style):
    fake_api.set_as_of(AS_OF)
    playlist_id = max(
        owned_playlists(tiny_world),
        key=lambda p: len(tiny_world.playlist_items_at(p, AS_OF)),
    )
    expected = tiny_world.playlist_items_at(playlist_id, AS_OF)["track_id"].tolist()
    fake_api.set_faults(
        FaultConfig(fail_first_n=3, fail_first_kind=kind, truncate_style=style, retry_after_s=2)
    )
    sleeps: list[float] = []
    client = make_client(fake_api, sleeps=sleeps)
    items = fetch_items(client, playlist_id)
    assert [(it.get("item") or it["track"])["id"] for it in items] == expected
    assert sum(client.stats.retries.values()) == 3
    if kind == "429":
        assert sleeps == [2.0, 2.0, 2.0]  # Retry-After honoured exactly


def test_retry_after_longer_than_max_wait_fails_with_when_to_come_back(fake_api, tiny_world):
    fake_api.set_faults(FaultConfig(rate_429=1.0, retry_after_s=7200, quota_exceeded=True))
    client = make_client(fake_api, max_retry_wait_s=60)
    playlist_id = owned_playlists(tiny_world)[0]
    with pytest.raises(RetryAfterTooLong) as err:
        client.playlist(playlist_id)
    text = str(err.value)
    assert playlist_id in text and "7200" in text and "QUOTA_EXCEEDED" in text
    assert "SPOTIFY_MAX_RETRY_WAIT_S" in text


def test_persistent_5xx_gives_up_naming_the_endpoint(fake_api, tiny_world):
    fake_api.set_faults(FaultConfig(rate_5xx=1.0))
    client = make_client(fake_api, max_retries=2)
    with pytest.raises(SpotifyApiError, match=r"GET /playlists/\{id\}.*after 2 retries"):
        client.playlist(owned_playlists(tiny_world)[0])
    assert client.stats.calls["GET /playlists/{id}"] == 3


def test_an_api_that_keeps_failing_is_not_called_again_for_a_while(fake_api, tiny_world):
    """The circuit breaker: 10 failures in a row (whatever the call) and the client stops
    calling; every further call fails at once with when to come back, like a long
    Retry-After (which callers treat as 'stop the run, keep what was fetched')."""
    fake_api.set_faults(FaultConfig(rate_5xx=1.0))
    client = make_client(fake_api, max_retries=5, max_consecutive_failures=10)
    playlists = owned_playlists(tiny_world)
    with pytest.raises(SpotifyApiError, match="after 5 retries"):
        client.playlist(playlists[0])  # 6 attempts
    with pytest.raises(SpotifyUnavailable, match="failed 10 times in a row") as stopped:
        client.playlist(playlists[1])  # 4 more: the 10th opens the circuit
    assert isinstance(stopped.value, RetryAfterTooLong) and stopped.value.retry_after_s == 300
    for playlist_id in playlists[2:6]:
        with pytest.raises(SpotifyUnavailable):
            client.playlist(playlist_id)
    assert client.stats.total_calls == 10  # not 6 per playlist
    # One answer in between resets the count: faults that come and go never trip it.
    flaky = make_client(fake_api, max_retries=5, max_consecutive_failures=10)
    fake_api.set_faults(FaultConfig(rate_5xx=0.5, seed=3))
    for playlist_id in playlists[:6]:
        flaky.playlist(playlist_id)


def test_timeouts_are_retried_then_reported(fake_api, tiny_world):
    fake_api.set_faults(FaultConfig(rate_slow=1.0, slow_s=1.0))
    client = make_client(fake_api, max_retries=1, timeout_s=0.2)
    with pytest.raises(SpotifyApiError, match="Timeout"):
        client.playlist(owned_playlists(tiny_world)[0])


def test_items_of_a_playlist_not_owned_says_why(fake_api, tiny_world):
    client = make_client(fake_api)
    playlist_id = foreign_playlist(tiny_world)
    with pytest.raises(SpotifyApiError) as err:
        list(client.playlist_item_pages(playlist_id))
    assert err.value.status == 403
    assert playlist_id in str(err.value) and "owns or collaborates" in str(err.value)


def test_client_credentials_cannot_read_items(fake_api, tiny_world):
    client = make_client(fake_api, refresh_token=None)
    with pytest.raises(SpotifyApiError, match="SPOTIFY_REFRESH_TOKEN"):
        list(client.playlist_item_pages(owned_playlists(tiny_world)[0]))


def test_missing_playlist_is_a_clear_404(fake_api):
    client = make_client(fake_api)
    with pytest.raises(SpotifyApiError, match="no such playlist") as err:
        client.playlist("0000000000000000000000")
    assert err.value.status == 404 and "0000000000000000000000" in str(err.value)


def test_bad_refresh_token_names_the_setting(fake_api, tiny_world):
    client = make_client(fake_api, refresh_token="revoked-token")
    with pytest.raises(SpotifyApiError, match="SPOTIFY_REFRESH_TOKEN") as err:
        client.playlist(owned_playlists(tiny_world)[0])
    assert "token" in str(err.value)


def test_no_credentials_is_refused_before_any_call():
    with pytest.raises(SpotifyApiError, match="SPOTIPY_CLIENT_ID"):
        build_spotipy(client_id="", client_secret="", refresh_token=None, timeout_s=1)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="api_mode"):
        ClientSettings(api_mode="turbo")  # type: ignore[arg-type]
