"""The fake Spotify Web API: lifecycle, tokens, bodies against the OpenAPI contract, paging,
time, development mode, access rules, faults, counters, and spotipy driving it for real."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import requests
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials

from spotify_assets.lib.sample.fake_api import (
    AS_OF_HEADER,
    PREMIUM_REQUIRED,
    FakeSpotifyServer,
    FaultConfig,
    parse_access_token,
)
from spotify_assets.lib.sample.world import APP_USER_ID, build_world
from spotify_assets.lib.sample.world.recent import VISIBLE_PLAYS, recent_plays, visible_plays
from spotify_assets_tests.support.openapi_schema import (
    DEVELOPMENT_MODE_DROPS,
    WITH_MARKET_DROPS,
    response_validator,
)

AT = datetime(2026, 6, 1, tzinfo=UTC)


def drops(mode: str, market: str | None) -> dict[str, list[str]]:
    """Required fields the spec has but Spotify (and so the fake) leaves out."""
    out: dict[str, list[str]] = {}
    if market:
        # Spotify omits `available_markets` when a market is named (track relinking); the
        # spec's AlbumBase requires it anyway.
        out.update(WITH_MARKET_DROPS)
    if mode == "development":
        # Development-mode apps lost album `label`/`popularity` on 2026-03-09; the spec's
        # AlbumObject still requires them: it predates the 2026 removal.
        out.update(DEVELOPMENT_MODE_DROPS)
    return out


def assert_schema(name: str, body, drop_required=None) -> None:
    errors = list(response_validator(name, drop_required=drop_required).iter_errors(body))
    assert not errors, f"{name}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10]
    )


@pytest.fixture(scope="module")
def world():
    return build_world("tiny", seed=42)


@pytest.fixture
def server(world):
    srv = FakeSpotifyServer(world, as_of=AT).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def owned(world) -> list[str]:
    pl = world.playlists
    return pl.loc[pl["owner_id"] == APP_USER_ID, "playlist_id"].tolist()


@pytest.fixture(scope="module")
def foreign(world) -> str:
    pl = world.playlists
    return pl.loc[pl["owner_id"] != APP_USER_ID, "playlist_id"].iloc[0]


@pytest.fixture(scope="module")
def biggest(world, owned) -> str:
    return max(owned, key=lambda p: len(world.playlist_items_at(p, AT)))


def get(server, path, *, token="user", headers=None, **params):
    """GET /v1/<path> with a user token (default), a client token, or none (token=None)."""
    h = dict(headers or {})
    if token in ("user", "client"):
        h["Authorization"] = f"Bearer {server.issue_token(token)}"
    elif token is not None:
        h["Authorization"] = f"Bearer {token}"
    url = path if path.startswith("http") else server.api_prefix + path
    return requests.get(url, params=params or None, headers=h, timeout=10)


def fake_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fake-spotify")]


# ---------------------------------------------------------------------------- lifecycle


def test_start_stop_twice_on_port_0_releases_the_port(world):
    before = set(fake_threads())
    ports = []
    for _ in range(2):
        srv = FakeSpotifyServer(world).start()
        assert srv.url.startswith("http://127.0.0.1:")
        assert srv.api_prefix == srv.url + "/v1/"
        assert srv.token_url == srv.url + "/api/token"
        with requests.Session() as session:  # keep-alive connection left open on purpose
            r = session.get(srv.api_prefix + "tracks/x", timeout=5)
            assert r.status_code == 401
            port = srv.port
            srv.stop()
            srv.stop()  # idempotent
        ports.append(port)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/v1/tracks", timeout=2)
        with socket.socket() as s:  # the port is free again
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    assert all(p > 0 for p in ports)
    assert set(fake_threads()) <= before  # no serve or handler thread left behind


def test_context_manager_and_stop_wakes_slow_handlers(world):
    with FakeSpotifyServer(world, faults=FaultConfig(rate_slow=1.0, slow_s=30)) as srv:
        url = srv.api_prefix + "tracks/x"
        t = threading.Thread(target=lambda: _swallow(lambda: requests.get(url, timeout=60)))
        t.start()
        time.sleep(0.3)
    started = time.monotonic()
    t.join(10)
    assert not t.is_alive()
    assert time.monotonic() - started < 5


def _swallow(fn):
    with contextlib.suppress(requests.RequestException):
        fn()


# ---------------------------------------------------------------------------- tokens


def test_client_credentials_token(server):
    r = requests.post(
        server.token_url, data={"grant_type": "client_credentials"}, auth=("id", "secret")
    )
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and "scope" in body
    grant = parse_access_token(body["access_token"])
    assert grant is not None and grant.kind == "client" and grant.user_id is None
    assert get(server, "tracks/" + "a" * 22, token=body["access_token"]).status_code == 404


def test_refresh_token_gives_a_user_token(server):
    r = requests.post(
        server.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "sample-refresh-token"},
        auth=("id", "secret"),
    )
    assert r.status_code == 200
    body = r.json()
    assert "playlist-read-private" in body["scope"]
    grant = parse_access_token(body["access_token"])
    assert grant is not None and grant.kind == "user" and grant.user_id == APP_USER_ID


@pytest.mark.parametrize(
    "data,auth,error",
    [
        ({"grant_type": "client_credentials"}, None, "invalid_client"),
        ({"grant_type": "client_credentials"}, ("id", ""), "invalid_client"),
        ({"grant_type": "refresh_token", "refresh_token": "stolen"}, ("i", "s"), "invalid_grant"),
        ({"grant_type": "refresh_token"}, ("i", "s"), "invalid_request"),
        ({}, ("i", "s"), "unsupported_grant_type"),
        ({"grant_type": "password"}, ("i", "s"), "unsupported_grant_type"),
    ],
)
def test_bad_token_requests_answer_400_like_spotify(server, data, auth, error):
    r = requests.post(server.token_url, data=data, auth=auth)
    assert r.status_code == 400
    assert r.json()["error"] == error and r.json()["error_description"]


def test_api_calls_need_a_valid_bearer_token(server, biggest):
    r = get(server, f"playlists/{biggest}", token=None)
    assert r.status_code == 401
    assert r.json() == {"error": {"status": 401, "message": "No token provided"}}
    assert_schema("Unauthorized", r.json())
    r = get(server, f"playlists/{biggest}", token="not-a-token")
    assert r.status_code == 401
    assert_schema("Unauthorized", r.json())


# ---------------------------------------------------------------------------- contract


@pytest.mark.parametrize("market", [None, "US"])
@pytest.mark.parametrize("mode", ["extended", "development"])
def test_every_endpoint_validates_against_the_openapi_contract(
    server, world, biggest, mode, market
):
    server.set_mode(mode)
    drop = drops(mode, market)
    mk = {"market": market} if market else {}
    track_ids = world.playlist_items_at(biggest, AT)["track_id"].tolist()[:5]
    album_ids = world.albums["album_id"].tolist()[:5]
    artist_ids = world.artists["artist_id"].tolist()[:5]

    playlist = get(server, f"playlists/{biggest}", **mk)
    assert playlist.status_code == 200
    assert_schema("OnePlaylist", playlist.json(), drop)
    page = get(server, f"playlists/{biggest}/items", limit=10, offset=3, **mk)
    assert page.status_code == 200
    assert_schema("PagingPlaylistTrackObject", page.json(), drop)
    played = get(server, "me/player/recently-played", limit=5)
    assert played.status_code == 200 and played.json()["items"]
    assert_schema("CursorPagedPlayHistory", played.json(), drops(mode, None))

    for kind, ids, one, many in [
        ("tracks", track_ids, "OneTrack", "ManyTracks"),
        ("albums", album_ids, "OneAlbum", "ManyAlbums"),
        ("artists", artist_ids, "OneArtist", "ManyArtists"),
    ]:
        r = get(server, f"{kind}/{ids[0]}", **mk)
        assert r.status_code == 200, r.text
        assert_schema(one, r.json(), drop)
        r = get(server, kind, ids=",".join(ids), **mk)
        if mode == "extended":
            assert r.status_code == 200
            assert_schema(many, r.json(), drop)
            assert [b["id"] for b in r.json()[kind]] == ids
        else:
            assert r.status_code == 403
            assert_schema("Forbidden", r.json())


def test_bodies_look_like_spotify(server, world, biggest):
    track_id = world.playlist_items_at(biggest, AT)["track_id"].iloc[0]
    t = get(server, f"tracks/{track_id}").json()
    assert t["id"] == track_id and len(track_id) == 22 and track_id.isalnum()
    assert t["uri"] == f"spotify:track:{track_id}"
    assert t["href"] == f"{server.api_prefix}tracks/{track_id}"
    assert t["external_urls"]["spotify"] == f"https://open.spotify.com/track/{track_id}"
    assert t["type"] == "track" and t["album"]["type"] == "album"
    assert t["album"]["images"] and t["album"]["images"][0]["url"].startswith(
        "https://i.scdn.co/image/ab67616d"
    )
    assert "available_markets" in t and "is_playable" not in t
    with_market = get(server, f"tracks/{track_id}", market="US").json()
    assert "available_markets" not in with_market and with_market["is_playable"] is True
    assert "available_markets" not in with_market["album"]
    assert len(json.dumps(with_market)) < len(json.dumps(t))
    row = world.tracks.set_index("track_id").loc[track_id]
    assert t["name"] == row["track_name"] and t["duration_ms"] == row["duration_ms"]
    assert [a["id"] for a in t["artists"]] == list(row["artist_ids"])
    assert t["external_ids"]["isrc"] == row["isrc"]
    assert t["popularity"] == int(world.track_popularity_at([track_id], AT)[0])

    album_id = row["album_id"]
    a = get(server, f"albums/{album_id}").json()
    album_rows = world.album_track_rows(album_id)
    assert [x["id"] for x in a["tracks"]["items"]] == world.tracks["track_id"].to_numpy()[
        album_rows
    ].tolist()
    assert a["label"] == world.albums.set_index("album_id").at[album_id, "label"]

    artist_id = row["artist_ids"][0]
    ar = get(server, f"artists/{artist_id}").json()
    assert ar["followers"]["total"] == int(world.artist_followers_at([artist_id], AT)[0])
    assert ar["popularity"] == int(world.artist_popularity_at([artist_id], AT)[0])
    assert ar["genres"] == list(world.artists.set_index("artist_id").at[artist_id, "genres"])


# ---------------------------------------------------------------------------- paging


@pytest.mark.parametrize("path", ["items", "tracks"])
def test_following_next_visits_every_item_exactly_once(server, world, owned, path):
    for playlist_id in owned:
        expected = world.playlist_items_at(playlist_id, AT)
        url = f"{server.api_prefix}playlists/{playlist_id}/{path}?limit=7&market=US"
        seen, added, pages = [], [], 0
        while url:
            r = get(server, url)
            assert r.status_code == 200
            page = r.json()
            assert page["total"] == len(expected) and page["limit"] == 7
            assert "market=US" in page["href"]
            if page["next"]:
                assert page["next"].startswith(server.url) and "market=US" in page["next"]
            if page["offset"]:
                assert (
                    page["previous"] and f"offset={max(0, page['offset'] - 7)}" in page["previous"]
                )
            else:
                assert page["previous"] is None
            for it in page["items"]:
                assert it["item"] == it["track"] and it["is_local"] is False
                assert it["added_by"]["id"] == APP_USER_ID
            seen += [it["item"]["id"] for it in page["items"]]
            added += [it["added_at"] for it in page["items"]]
            url = page["next"]
            pages += 1
        assert seen == expected["track_id"].tolist()
        assert added == expected["added_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
        assert pages == max(1, -(-len(expected) // 7))


def test_playlist_embeds_the_first_page_and_its_next_continues(server, world, biggest):
    body = get(server, f"playlists/{biggest}", market="US").json()
    expected = world.playlist_items_at(biggest, AT)["track_id"].tolist()
    assert body["items"] == body["tracks"]
    assert body["items"]["total"] == len(expected)
    assert body["snapshot_id"] == world.playlist_snapshot_id(biggest, AT)
    ids = [it["item"]["id"] for it in body["items"]["items"]]
    url = body["items"]["next"]
    while url:
        page = get(server, url).json()
        ids += [it["item"]["id"] for it in page["items"]]
        url = page["next"]
    assert ids == expected


def test_limit_and_ids_bounds(server, world, biggest):
    assert get(server, f"playlists/{biggest}/items", limit=50).status_code == 200
    r = get(server, f"playlists/{biggest}/items", limit=51)
    assert r.status_code == 400
    assert_schema("BadRequest", r.json())
    assert get(server, f"playlists/{biggest}/items", offset=-1).status_code == 400
    tracks = world.tracks["track_id"].tolist()
    albums = world.albums["album_id"].tolist()
    assert get(server, "tracks", ids=",".join(tracks[:50])).status_code == 200
    r = get(server, "tracks", ids=",".join(tracks[:51]))
    assert r.status_code == 400 and r.json()["error"]["message"] == "Too many ids requested"
    assert get(server, "albums", ids=",".join(albums[:20])).status_code == 200
    assert get(server, "albums", ids=",".join(albums[:21])).status_code == 400
    assert get(server, "tracks/not-an-id").status_code == 400


def test_unknown_ids_are_null_in_multi_id_answers_and_404_alone(server, world):
    known = world.artists["artist_id"].iloc[0]
    unknown = "0" * 22
    r = get(server, "artists", ids=f"{known},{unknown}")
    assert r.status_code == 200
    body = r.json()["artists"]
    assert body[0]["id"] == known and body[1] is None
    r = get(server, f"artists/{unknown}")
    assert r.status_code == 404
    assert r.json() == {"error": {"status": 404, "message": "Resource not found"}}
    assert_schema("NotFound", r.json())


# ---------------------------------------------------------------------------- time


def _changing_instants(world, playlist_id):
    t = AT
    first = world.playlist_items_at(playlist_id, t)["track_id"].tolist()
    for _ in range(400):
        t = t + timedelta(hours=8)
        if world.playlist_items_at(playlist_id, t)["track_id"].tolist() != first:
            return AT, t
    pytest.fail("playlist never changes")


def test_as_of_changes_items_snapshot_and_popularity(server, world, biggest):
    t1, t2 = _changing_instants(world, biggest)
    seen = {}
    for t in (t1, t2):
        server.set_as_of(t)
        page = get(server, f"playlists/{biggest}/items", limit=50).json()
        ids = [it["item"]["id"] for it in page["items"]]
        assert ids == world.playlist_items_at(biggest, t)["track_id"].tolist()[:50]
        pops = [it["item"]["popularity"] for it in page["items"]]
        assert pops == world.track_popularity_at(ids, t).tolist()
        snap = get(server, f"playlists/{biggest}").json()["snapshot_id"]
        assert snap == world.playlist_snapshot_id(biggest, t)
        seen[t] = (ids, snap)
    assert seen[t1] != seen[t2]

    # A popularity that moves over a year: the server must follow as_of.
    track_ids = world.tracks["track_id"].tolist()[:50]
    later = t1 + timedelta(days=365)
    server.set_as_of(t1)
    p1 = [t["popularity"] for t in get(server, "tracks", ids=",".join(track_ids)).json()["tracks"]]
    server.set_as_of(later)
    p2 = [t["popularity"] for t in get(server, "tracks", ids=",".join(track_ids)).json()["tracks"]]
    assert p1 == world.track_popularity_at(track_ids, t1).tolist()
    assert p2 == world.track_popularity_at(track_ids, later).tolist()
    assert p1 != p2


def test_as_of_header_overrides_the_server_instant(server, world, biggest):
    t1, t2 = _changing_instants(world, biggest)
    server.set_as_of(t1)
    r = get(server, f"playlists/{biggest}", headers={AS_OF_HEADER: t2.isoformat()})
    assert r.json()["snapshot_id"] == world.playlist_snapshot_id(biggest, t2)
    assert (
        get(server, f"playlists/{biggest}", headers={AS_OF_HEADER: "yesterday"}).status_code == 400
    )


def test_default_as_of_is_now_clamped_to_the_world(world):
    from spotify_assets.lib.sample.world import WORLD_END, WORLD_START

    srv = FakeSpotifyServer(world)
    now = pd.Timestamp.now(tz=UTC)
    assert WORLD_START <= pd.Timestamp(srv.as_of) <= WORLD_END
    clamped = min(max(now, WORLD_START), WORLD_END)
    assert abs(pd.Timestamp(srv.as_of) - clamped) < pd.Timedelta("1min")


# ---------------------------------------------------------------------------- modes, access


def test_development_mode_403s_batches_and_strips_2026_fields(server, world, biggest):
    track_id = world.tracks["track_id"].iloc[0]
    album_id = world.albums["album_id"].iloc[0]
    artist_id = world.artists["artist_id"].iloc[0]
    server.set_mode("development")
    for kind, x in [("tracks", track_id), ("albums", album_id), ("artists", artist_id)]:
        r = get(server, kind, ids=x)
        assert r.status_code == 403
        assert r.json() == {"error": {"status": 403, "message": "Forbidden"}}
    t = get(server, f"tracks/{track_id}", market="US").json()
    a = get(server, f"albums/{album_id}", market="US").json()
    ar = get(server, f"artists/{artist_id}").json()
    assert "popularity" not in t
    assert "popularity" not in a and "label" not in a and a["tracks"]["items"]
    assert "popularity" not in ar and "followers" not in ar and ar["name"]
    page = get(server, f"playlists/{biggest}/items").json()
    assert all("popularity" not in it["item"] for it in page["items"])

    server.set_mode("extended")  # switchable while running
    assert get(server, "tracks", ids=track_id).status_code == 200
    assert "popularity" in get(server, f"tracks/{track_id}").json()
    assert "followers" in get(server, f"artists/{artist_id}").json()
    assert "label" in get(server, f"albums/{album_id}").json()


def test_items_only_for_playlists_the_user_owns(server, foreign, biggest):
    r = get(server, f"playlists/{foreign}/items")
    assert r.status_code == 403
    assert r.json() == {"error": {"status": 403, "message": "Forbidden"}}
    assert_schema("Forbidden", r.json())
    assert get(server, f"playlists/{biggest}/items", token="client").status_code == 403

    # Metadata stays readable; the items are left out where they may not be read.
    for token, playlist_id in [("user", foreign), ("client", biggest)]:
        r = get(server, f"playlists/{playlist_id}", token=token)
        assert r.status_code == 200
        assert "items" not in r.json() and "tracks" not in r.json()
        assert_schema("OnePlaylist", r.json())
    assert "items" in get(server, f"playlists/{biggest}").json()


def test_unknown_playlist_is_404(server):
    for path in ["playlists/{}", "playlists/{}/items"]:
        r = get(server, path.format("0" * 22))
        assert r.status_code == 404
        assert r.json() == {"error": {"status": 404, "message": "Resource not found"}}


def test_recently_played_cursors_walk_back_and_forward(server, world):
    assert get(server, "me/player/recently-played", token="client").status_code == 401
    body = get(server, "me/player/recently-played", limit=20).json()
    # The sample listener's recent plays: the end of the export and some after it.
    expected = visible_plays(world, APP_USER_ID, at=pd.Timestamp(AT))
    assert len(expected) > 20
    seen = []
    while True:
        seen += [(it["track"]["id"], it["played_at"]) for it in body["items"]]
        if body["next"] is None:
            break
        assert body["next"].startswith(server.url) and "before=" in body["next"]
        body = get(server, body["next"]).json()
    assert [s[0] for s in seen] == expected["track_id"].tolist()
    played = pd.to_datetime([s[1] for s in seen], utc=True)
    assert list(played) == list(expected["played_at"])
    assert played.is_monotonic_decreasing

    # Forward from an `after` cursor: the plays right after it, then onwards via `next`.
    start_ms = int(played[-1].value // 10**6)
    fwd = get(server, "me/player/recently-played", limit=10, after=start_ms).json()
    assert fwd["cursors"]["after"] > str(start_ms) and "after=" in fwd["next"]
    again = get(server, fwd["next"]).json()
    t_fwd = pd.to_datetime([it["played_at"] for it in fwd["items"]], utc=True)
    t_again = pd.to_datetime([it["played_at"] for it in again["items"]], utc=True)
    assert t_fwd.min() > played[-1] and t_again.min() > t_fwd.max()

    # Nothing before the world began: Spotify answers null `next` and `cursors` (which the
    # spec types as non-nullable, so this body is checked by hand).
    empty = get(server, "me/player/recently-played", before=1_500_000_000_000).json()
    assert empty["items"] == [] and empty["next"] is None and empty["cursors"] is None


def test_recently_played_answers_for_the_tokens_user_with_fifty_plays_at_most(server, world):
    """Per-user tokens: each sample listener sees their own plays; the plays after the export
    are new, the first are the export's last; only the 50 most recent exist."""
    for user in world.users["user_id"].tolist()[:3]:
        token = requests.post(
            server.token_url,
            data={"grant_type": "refresh_token", "refresh_token": server.refresh_token_for(user)},
            auth=("id", "secret"),
            timeout=5,
        ).json()["access_token"]
        body = get(server, "me/player/recently-played", token=token, limit=50).json()
        truth = recent_plays(world, user)
        assert [it["track"]["id"] for it in body["items"]] == truth["track_id"].tolist()[::-1]
        last_export_ts = pd.Timestamp(int(world.user_plays(user)["ts"].max()), unit="s", tz=UTC)
        played = pd.to_datetime([it["played_at"] for it in body["items"]], utc=True)
        assert (played > last_export_ts).any() and (played <= last_export_ts).any()

    # A clock inside the new plays: only the plays ended before it.
    truth = recent_plays(world, APP_USER_ID)
    at = truth["played_at"].iloc[-3]
    shown = visible_plays(world, APP_USER_ID, at=at)
    assert len(shown) == min(VISIBLE_PLAYS, len(truth) - 3)
    assert shown["played_at"].max() < at


def test_expired_refresh_token_and_owner_without_premium(server):
    user_token = server.refresh_token_for("user_0001")
    server.expire_refresh_token(user_token)
    form = {"grant_type": "refresh_token", "refresh_token": user_token}
    r = requests.post(server.token_url, data=form, auth=("i", "s"), timeout=5)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    other = {"grant_type": "refresh_token", "refresh_token": server.refresh_token_for("user_0002")}
    assert requests.post(server.token_url, data=other, auth=("i", "s"), timeout=5).ok

    server.set_owner_premium(False)
    r = get(server, "me/player/recently-played")
    assert r.status_code == 403
    assert r.json()["error"]["message"] == PREMIUM_REQUIRED


# ---------------------------------------------------------------------------- faults


def test_429_with_retry_after_and_quota_reason(server, biggest):
    server.set_faults(FaultConfig(rate_429=1.0, retry_after_s=7))
    r = get(server, f"playlists/{biggest}")
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    assert r.json() == {"error": {"status": 429, "message": "API rate limit exceeded"}}
    assert_schema("TooManyRequests", r.json())
    server.set_faults(FaultConfig(rate_429=1.0, retry_after_s=3600, quota_exceeded=True))
    r = get(server, f"playlists/{biggest}")
    assert r.status_code == 429 and r.headers["Retry-After"] == "3600"
    assert r.json()["error"]["reason"] == "QUOTA_EXCEEDED"
    assert_schema("TooManyRequests", r.json())


def test_5xx_faults(server, biggest):
    server.set_faults(FaultConfig(rate_5xx=1.0, seed=3))
    statuses = {get(server, f"playlists/{biggest}").status_code for _ in range(30)}
    assert statuses == {500, 502, 503}
    r = get(server, f"playlists/{biggest}")
    assert r.json()["error"]["status"] == r.status_code and r.json()["error"]["message"]


def test_truncated_bodies_both_styles(server, biggest):
    server.set_faults(FaultConfig(rate_truncated=1.0, truncate_style="short_body"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(server, f"playlists/{biggest}")
    server.set_faults(FaultConfig(rate_truncated=1.0, truncate_style="malformed"))
    r = get(server, f"playlists/{biggest}")
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == len(r.content)
    with pytest.raises(ValueError):
        r.json()
    server.set_faults(None)
    assert get(server, f"playlists/{biggest}").json()["id"] == biggest


def test_slow_answers(server, biggest):
    server.set_faults(FaultConfig(rate_slow=1.0, slow_s=0.3))
    started = time.monotonic()
    r = get(server, f"playlists/{biggest}")
    assert r.status_code == 200 and time.monotonic() - started >= 0.3
    assert server.fault_kinds["slow"] == 1


def test_fail_first_n_then_succeed_and_endpoint_filter(server, world, biggest):
    server.set_faults(
        FaultConfig(
            fail_first_n=2, fail_first_kind="429", endpoints={"GET /v1/playlists/{id}/items"}
        )
    )
    server.reset_counts()
    track_id = world.tracks["track_id"].iloc[0]
    assert get(server, f"tracks/{track_id}").status_code == 200  # not a faulted endpoint
    codes = [get(server, f"playlists/{biggest}/items").status_code for _ in range(4)]
    assert codes == [429, 429, 200, 200]
    assert server.request_counts["GET /v1/playlists/{id}/items"] == 4
    assert server.fault_counts == {"GET /v1/playlists/{id}/items": 2}
    assert server.fault_kinds == {"429": 2}


def test_faults_are_deterministic_for_a_seed(world, biggest):
    def run(seed):
        cfg = FaultConfig(rate_429=0.3, rate_5xx=0.2, seed=seed)
        with FakeSpotifyServer(world, faults=cfg, as_of=AT) as srv:
            return [get(srv, f"playlists/{biggest}").status_code for _ in range(25)]

    a, b, c = run(1), run(1), run(2)
    assert a == b and a != c
    assert {429, 200} <= set(a)


def test_fault_config_rejects_impossible_rates():
    with pytest.raises(ValueError):
        FaultConfig(rate_429=0.7, rate_5xx=0.5)
    with pytest.raises(ValueError):
        FaultConfig(truncate_style="sideways")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- counters


def test_request_counts_by_endpoint_template(server, world, biggest):
    server.reset_counts()
    ids = world.artists["artist_id"].tolist()[:3]
    requests.post(server.token_url, data={"grant_type": "client_credentials"}, auth=("a", "b"))
    get(server, "artists", ids=",".join(ids))
    for x in ids:
        get(server, f"artists/{x}")
    get(server, f"playlists/{biggest}/items")
    get(server, f"playlists/{biggest}/items", offset=20)
    get(server, "nowhere")
    counts = server.request_counts
    assert counts == {
        "POST /api/token": 1,
        "GET /v1/artists": 1,
        "GET /v1/artists/{id}": 3,
        "GET /v1/playlists/{id}/items": 2,
        "GET <unmatched>": 1,
    }
    counts["GET /v1/artists"] += 100  # a copy: the server's counter is untouched
    assert server.request_counts["GET /v1/artists"] == 1
    server.reset_counts()
    assert server.request_counts == {}


def test_counts_are_thread_safe(server, world):
    server.reset_counts()
    artist_id = world.artists["artist_id"].iloc[0]
    token = server.issue_token("client")

    def worker():
        with requests.Session() as s:
            for _ in range(25):
                s.get(
                    f"{server.api_prefix}artists/{artist_id}",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                )

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.request_counts["GET /v1/artists/{id}"] == 200


# ---------------------------------------------------------------------------- spotipy


def test_spotipy_drives_the_fake_server(server, world, biggest):
    # A memory cache: the default CacheFileHandler would write ./.cache into the repo.
    auth = SpotifyClientCredentials(
        client_id="x", client_secret="y", cache_handler=MemoryCacheHandler()
    )
    sp = spotipy.Spotify(auth_manager=auth, retries=0)
    sp.auth_manager.OAUTH_TOKEN_URL = server.token_url
    sp.prefix = server.api_prefix

    playlist = sp.playlist(biggest, market="US")
    assert playlist["id"] == biggest and playlist["name"]
    assert "items" not in playlist  # client credentials: metadata only

    user_token = requests.post(
        server.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "sample-refresh-token"},
        auth=("x", "y"),
    ).json()["access_token"]
    sp_user = spotipy.Spotify(auth=user_token, retries=0)
    sp_user.prefix = server.api_prefix
    page = sp_user.playlist_items(biggest, limit=10, market="US")
    ids = [it["item"]["id"] for it in page["items"]]
    while page["next"]:
        page = sp_user.next(page)
        ids += [it["item"]["id"] for it in page["items"]]
    assert ids == world.playlist_items_at(biggest, AT)["track_id"].tolist()

    artist_ids = world.artists["artist_id"].tolist()[:50]
    artists = sp.artists(artist_ids)["artists"]
    assert [a["id"] for a in artists] == artist_ids
    assert server.request_counts["POST /api/token"] == 2  # client credentials + refresh
    assert server.request_counts["GET /v1/artists"] == 1


def test_json_fast_path_matches_the_dict_bodies(server, world, biggest):
    """Pages and tracks are served as JSON text spliced from cached fragments; the text must
    say exactly what the dict builders say."""
    bodies = server.bodies
    ids = world.playlist_items_at(biggest, AT)["track_id"].tolist()[:20] + ["0" * 22]
    for mode in ("extended", "development"):
        for market in (None, "US"):
            texts = bodies.track_jsons(ids, at=AT, mode=mode, market=market)
            dicts = bodies.tracks(ids, at=AT, mode=mode, market=market)
            assert [json.loads(t) if t else None for t in texts] == dicts
            page = bodies.playlist_items_page(
                biggest, at=AT, mode=mode, market=market, limit=20, offset=0
            )
            assert [it["item"] for it in page["items"]] == dicts[:-1]


def test_a_page_of_50_serializes_fast(server, biggest):
    """Static parts are cached per id: once warm, a page costs little more than a copy."""
    bodies = server.bodies
    kwargs = dict(at=AT, mode="extended", market="US", limit=50, offset=0)
    bodies.playlist_items_page_json(biggest, **kwargs)  # warm the per-id caches
    started = time.perf_counter()
    for _ in range(50):
        bodies.playlist_items_page_json(biggest, **kwargs)
    per_page = (time.perf_counter() - started) / 50
    assert per_page < 0.02, f"{per_page * 1000:.1f} ms per page"


def test_me_and_album_tracks(server, world):
    me = get(server, "me")
    assert me.status_code == 200 and me.json()["id"] == APP_USER_ID
    assert_schema("OnePrivateUser", me.json())
    assert get(server, "me", token="client").status_code == 401
    album_id = max(world.albums["album_id"], key=lambda a: len(world.album_track_rows(a)))
    n = len(world.album_track_rows(album_id))
    page = get(server, f"albums/{album_id}/tracks", limit=1, market="US")
    assert page.status_code == 200 and page.json()["total"] == n
    assert_schema("PagingSimplifiedTrackObject", page.json())
    assert (page.json()["next"] is None) == (n == 1)


# ---------------------------------------------------------------------------- the schema helper


def test_schema_helper_translates_nullable_and_drops_required(monkeypatch):
    artist = response_validator("OneArtist")
    assert artist.is_valid({"followers": {"href": None, "total": 3}})  # nullable: true
    assert not artist.is_valid({"followers": {"href": 3, "total": 3}})
    assert not artist.is_valid({"type": "track"})  # enum through $ref
    played = response_validator("CursorPagedPlayHistory")
    assert not played.is_valid({"items": [{"played_at": "yesterday"}]})  # date-time checked
    album_errors = {e.message for e in response_validator("OneAlbum").iter_errors({})}
    assert "'label' is a required property" in album_errors
    relaxed = response_validator("OneAlbum", drop_required=DEVELOPMENT_MODE_DROPS)
    assert "'label' is a required property" not in {e.message for e in relaxed.iter_errors({})}
    with pytest.raises(KeyError):
        response_validator("NoSuchResponse")
    monkeypatch.setenv("SPOTIFY_OPENAPI_SPEC", "/nonexistent/spec.yml")
    with pytest.raises(FileNotFoundError):
        response_validator("OneArtist")
