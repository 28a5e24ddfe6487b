"""Catalog parsers on bodies from the fake API (valid against the OpenAPI contract), on the
variants real bodies have, and the window combination."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pandas as pd

from spotify_assets.lib.catalog.parse import (
    CatalogAccumulator,
    SnapshotDocument,
    combine_windows,
    parse_artist_bodies,
    parse_snapshot,
)
from spotify_assets.lib.sample.world import APP_USER_ID

T1 = datetime(2026, 6, 1, tzinfo=UTC)
T2 = datetime(2026, 6, 1, 8, tzinfo=UTC)


def snapshot(server, world, playlist_id, at) -> SnapshotDocument:
    import requests

    server.set_as_of(at)
    headers = {"Authorization": f"Bearer {server.issue_token('user')}"}
    body = requests.get(
        f"{server.api_prefix}playlists/{playlist_id}?market=US", headers=headers, timeout=10
    ).json()
    pages = []
    page = body["items"]
    while page["next"]:
        page = requests.get(page["next"], headers=headers, timeout=10).json()
        pages.append(page)
    return SnapshotDocument(playlist_id, at, at, body, pages)


def longest_playlist(world):
    owned = world.playlists.loc[world.playlists["owner_id"] == APP_USER_ID, "playlist_id"]
    return max(owned, key=lambda p: len(world.playlist_items_at(p, T1)))


def test_parse_snapshot_matches_the_world(fake_api, tiny_world):
    playlist_id = longest_playlist(tiny_world)
    doc = snapshot(fake_api, tiny_world, playlist_id, T1)
    assert len(doc.item_pages) >= 1  # pages after the embedded one were followed
    parsed = parse_snapshot(doc)
    expected = tiny_world.playlist_items_at(playlist_id, T1)
    assert [e["track_id"] for e in parsed.entries] == expected["track_id"].tolist()
    assert [e["position"] for e in parsed.entries] == list(range(len(expected)))
    assert parsed.playlist["total_items"] == len(expected)
    row = parsed.tracks[0]
    world_row = tiny_world.tracks.set_index("track_id").loc[row["track_id"]]
    assert row["duration_ms"] == world_row["duration_ms"]
    assert row["album_id"] == world_row["album_id"]
    assert row["primary_artist_id"] == list(world_row["artist_ids"])[0]
    assert row["popularity"] == tiny_world.track_popularity_at([row["track_id"]], T1)[0]


def test_parse_handles_old_and_odd_bodies(fake_api, tiny_world):
    doc = snapshot(fake_api, tiny_world, longest_playlist(tiny_world), T1)
    body = copy.deepcopy(doc.playlist)
    page = body.pop("items")
    items = page["items"]
    del body["tracks"]
    body["tracks"] = page  # pre-2026 bodies: the page under `tracks`
    for it in items:
        it.pop("item", None)  # ... and the track under `track`
    items[0]["track"] = None  # removed from Spotify
    items[1]["is_local"] = True
    items[1]["track"] = {**items[1]["track"], "id": None, "is_local": True}
    items[2]["track"] = {"type": "episode", "id": "ep1", "name": "An episode"}
    odd = SnapshotDocument(doc.playlist_id, T1, T1, body, doc.item_pages)
    parsed = parse_snapshot(odd)
    assert (parsed.stats.unavailable, parsed.stats.local_files, parsed.stats.episodes) == (1, 1, 1)
    assert [e["position"] for e in parsed.entries][:2] == [3, 4]  # positions keep their place
    # Fields that development-mode apps lose are nulls, not errors.
    for it in body["tracks"]["items"][3:]:
        it["track"].pop("popularity", None)
    assert all(t["popularity"] is None for t in parse_snapshot(odd).tracks[:5])


def test_combine_windows_latest_wins_first_seen_earliest(fake_api, tiny_world):
    playlist_id = longest_playlist(tiny_world)
    windows = []
    for at in (T1, T2):
        acc = CatalogAccumulator()
        acc.add(parse_snapshot(snapshot(fake_api, tiny_world, playlist_id, at)))
        windows.append(acc.frames())
    combined = combine_windows(windows)
    tracks = combined["tracks"].set_index("track_id")
    both = set(windows[0]["tracks"]["track_id"]) & set(windows[1]["tracks"]["track_id"])
    assert both
    some = sorted(both)[0]
    assert tracks.loc[some, "first_seen"] == pd.Timestamp(T1).tz_localize(None)
    assert tracks.loc[some, "last_seen"] == pd.Timestamp(T2).tz_localize(None)
    assert tracks.loc[some, "popularity"] == tiny_world.track_popularity_at([some], T2)[0]
    assert not combined["track_artists"].duplicated(["track_id", "artist_id"]).any()
    assert set(combined["track_artists"]["track_id"]) == set(tracks.index)


def test_artist_bodies_latest_wins_and_genres_get_families():
    old = {
        "id": "a1",
        "name": "Old",
        "genres": ["dance pop"],
        "followers": {"total": 5},
        "popularity": 10,
    }
    new = {
        "id": "a1",
        "name": "New",
        "genres": ["dance pop", "atl hip hop", "dance pop"],
        "popularity": 20,
    }  # development mode: no followers
    artists, genres = parse_artist_bodies([(old, T1), (new, T2), ({}, T2)])
    assert artists.to_dict("records")[0]["artist_name"] == "New"
    assert pd.isna(artists.loc[0, "followers"]) and artists.loc[0, "popularity"] == 20
    assert genres[["genre", "genre_family"]].values.tolist() == [
        ["dance pop", "pop"],
        ["atl hip hop", "hip hop/r&b"],
    ]
