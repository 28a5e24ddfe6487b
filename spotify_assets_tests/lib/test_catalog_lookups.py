"""Catalog lookups (lib/catalog/lookups.py) against the fake Spotify API: the acceptance rule
of a search on awkward names, minimal calls in both modes, ids Spotify does not know
remembered, the budget, and a run cut by a long Retry-After that the next run finishes with no
call repeated."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
import requests

from spotify_assets.lib.catalog.lookups import (
    PROGRESS_KEY,
    LookupBudget,
    accept_match,
    base_title,
    load_entity_state,
    load_name_matches,
    lookup_artist_bodies,
    lookup_tables,
    plan_lookups,
    run_lookups,
)
from spotify_assets.lib.catalog.parse import merge_sources, parse_track_bodies
from spotify_assets.lib.catalog.snapshots import get_json
from spotify_assets.lib.lake import LocalLakeStore
from spotify_assets.lib.sample.fake_api import FakeSpotifyServer, FaultConfig
from spotify_assets.lib.spotify_client import (
    ClientSettings,
    SpotifyCatalogClient,
    build_spotipy,
)

pytestmark = pytest.mark.slow  # a fake Spotify API server per test

AT = datetime(2026, 3, 1, tzinfo=UTC)
UNKNOWN_IDS = ["0000000000000000000000", "1111111111111111111111"]
BIG = LookupBudget(max_calls=100_000, max_seconds=600)


def make_client(server, **settings) -> SpotifyCatalogClient:
    sp = build_spotipy(
        client_id="id",
        client_secret="secret",
        refresh_token=None,
        timeout_s=5.0,
        api_prefix=server.api_prefix,
        token_url=server.token_url,
    )
    return SpotifyCatalogClient(
        sp, ClientSettings(**{"backoff_s": 0.01, **settings}), sleep=lambda s: None
    )


def track(id_, name, artists, isrc="X", album="A" * 22):
    return {
        "id": id_,
        "name": name,
        "artists": [{"id": f"{a[:1]}" * 22, "name": a} for a in artists],
        "external_ids": {"isrc": isrc},
        "album": {"id": album, "name": "Al", "artists": [], "release_date": "2001"},
    }


# -- the acceptance rule ---------------------------------------------------------------------


def test_a_single_result_with_the_same_title_and_primary_artist_is_a_match():
    items = [track("a" * 22, "Yellow", ["Coldplay"]), track("b" * 22, "Yellow", ["Other"])]
    d = accept_match("coldplay", "YELLOW", items)
    assert (d.status, d.track_id) == ("matched", "a" * 22)


def test_feat_and_remaster_marks_are_ignored_only_when_no_title_is_the_same():
    items = [track("a" * 22, "Song (feat. B)", ["A"]), track("c" * 22, "Song - Live", ["A"])]
    assert accept_match("A", "Song", items).track_id == "a" * 22
    items = [track("a" * 22, "Song - Remastered 2011", ["A"], isrc="1")]
    assert accept_match("A", "Song", items).status == "matched"
    assert base_title("Song [2009 Remaster]") == "song"
    assert base_title("Song - Live") == "song - live"  # another recording: not cut
    # The same title exists: the remaster is not taken instead of it.
    items = [
        track("a" * 22, "Song", ["A"], isrc="1"),
        track("b" * 22, "Song - 2011 Remaster", ["A"], isrc="2"),
    ]
    assert accept_match("A", "Song", items).track_id == "a" * 22


def test_non_ascii_names_match_by_unicode_form_not_by_dropping_accents():
    # NFKC: a decomposed é in the export is the composed é of the API; curly quotes alike.
    items = [track("a" * 22, "Café del Mar’s", ["Beyoncé"])]
    assert accept_match("Beyonce\u0301", "Cafe\u0301 del Mar's", items).status == "matched"
    assert accept_match("Beyonce", "Cafe del Mar's", items).status == "not_found"
    items = [track("k" * 22, "紅蓮華", ["LiSA"])]
    assert accept_match("ＬｉＳＡ", "紅蓮華", items).status == "matched"  # full-width letters


def test_several_recordings_are_ambiguous_and_one_recording_twice_is_a_match():
    items = [
        track("a" * 22, "Intro", ["A"], isrc="US1"),
        track("b" * 22, "Intro", ["A"], isrc="US2"),
    ]
    d = accept_match("A", "Intro", items)
    assert d.status == "ambiguous" and d.track_id is None and d.candidates == 2
    assert "a" * 22 in d.reason
    # The same ISRC on an album and a single: one recording, Spotify's first is taken.
    items[1]["external_ids"]["isrc"] = "US1"
    assert accept_match("A", "Intro", items).track_id == "a" * 22


def test_a_featured_artist_is_not_the_primary_artist():
    items = [track("a" * 22, "Hit", ["Star", "Guest"])]
    assert accept_match("Guest", "Hit", items).status == "not_found"


# -- the fake API's search -------------------------------------------------------------------


def test_fake_search_finds_a_world_track_and_caps_development_limits(tiny_world):
    t = tiny_world.tracks.iloc[7]
    artist = tiny_world.artists.set_index("artist_id").loc[t.primary_artist_id, "artist_name"]
    with FakeSpotifyServer(tiny_world, mode="development", as_of=AT) as server:
        client = make_client(server)
        body = client.search_tracks(f'track:"{t.track_name}" artist:"{artist}"')
        ids = [x["id"] for x in body["tracks"]["items"]]
        assert t.track_id in ids and body["tracks"]["limit"] == 10
        assert "popularity" not in body["tracks"]["items"][0]  # development mode
        auth = {"Authorization": "Bearer " + server.issue_token("client")}
        q = {"q": "a", "type": "track"}
        assert (
            requests.get(
                server.api_prefix + "search", params={**q, "limit": 11}, headers=auth
            ).status_code
            == 400
        )
        server.set_mode("extended")
        assert (
            requests.get(
                server.api_prefix + "search", params={**q, "limit": 11}, headers=auth
            ).status_code
            == 200
        )


# -- runs ------------------------------------------------------------------------------------


def history_warehouse(world, n_known: int = 50) -> tuple[duckdb.DuckDBPyConnection, set[str]]:
    """core.streams with the world's played tracks (plus two ids Spotify does not know) and
    account-data rows by name; core.tracks knows ``n_known`` of them (a playlist)."""
    rng = np.random.default_rng(0)
    ids = world.tracks["track_id"].to_numpy()
    played = sorted(set(rng.choice(ids, 300, replace=False)))
    names = world.tracks.merge(
        world.artists[["artist_id", "artist_name"]],
        left_on="primary_artist_id",
        right_on="artist_id",
    ).set_index("track_id")
    by_name = [i for i in ids if i not in set(played)][:20]
    streams = pd.DataFrame(
        {
            "track_id": [*played, *UNKNOWN_IDS, *[None] * 21],
            "source_format": ["extended"] * (len(played) + 2) + ["account_data"] * 21,
            "content_type": "music",
            "artist_name": [None] * (len(played) + 2)
            + [names.loc[i, "artist_name"] for i in by_name]
            + ["Nobody Knows Me"],
            "track_name": [None] * (len(played) + 2)
            + [names.loc[i, "track_name"] for i in by_name]
            + ["No Such Song"],
        }
    )
    conn = duckdb.connect()
    conn.execute("create schema core")
    conn.register("s", streams)
    conn.execute("create table core.streams as select * from s")
    known = pd.DataFrame({"track_id": played[:n_known], "last_seen": pd.Timestamp("2026-02-28")})
    conn.register("k", known)
    conn.execute("create table core.tracks as select * from k")
    return conn, set(played) | set(by_name)


@pytest.mark.parametrize("mode", ["extended", "development"])
def test_one_run_fetches_every_unknown_track_and_its_artists_with_minimal_calls(
    tmp_path, tiny_world, mode
):
    store = LocalLakeStore(tmp_path / "lake")
    conn, expected = history_warehouse(tiny_world)
    plan = plan_lookups(conn, store, refresh_hours=24, now=AT)
    assert len(plan.tracks) == 300 - 50 + 2 and len(plan.names) == 21
    with FakeSpotifyServer(tiny_world, mode=mode, as_of=AT) as server:
        run = run_lookups(plan, store, make_client(server, api_mode=mode), budget=BIG, now=AT)
        counts = server.request_counts
    assert run.finished and run.failure is None
    assert (run.names_matched, run.names_not_found) == (20, 1)
    assert run.tracks_not_found == 2
    fetched = lookup_tables(store)["tracks"]
    # Every played track the fake API knows is in the lookups or was known already.
    assert expected - set(fetched["track_id"]) <= set(plan.tracks[:0]) | {
        t for t in expected if t not in plan.tracks and t not in set(fetched["track_id"])
    }
    # Every track asked and every name matched is in the lookups' tracks, none twice.
    assert set(fetched["track_id"]) == (set(plan.tracks) - set(UNKNOWN_IDS)) | {
        m for m in load_name_matches(store)["track_id"].dropna()
    }
    assert (fetched["source"] == "lookup").all()
    credited = set(lookup_tables(store)["track_artists"]["artist_id"])
    per = 50 if mode == "extended" else 1
    tracks_calls = math.ceil(len(plan.tracks) / per)
    artist_calls = math.ceil(len(credited) / per)
    ep = "GET /v1/tracks" if mode == "extended" else "GET /v1/tracks/{id}"
    ap = "GET /v1/artists" if mode == "extended" else "GET /v1/artists/{id}"
    assert counts[ep] == tracks_calls
    assert counts[ap] == artist_calls
    assert counts["GET /v1/search"] == 21
    state = load_entity_state(store)
    assert set(state.loc[state["status"] == "not_found", "id"]) == set(UNKNOWN_IDS)
    progress = get_json(store, PROGRESS_KEY)
    assert progress["finished"] and progress["tracks_to_fetch"] == 0

    # The next run asks nothing: known, not found and searched are all remembered.
    plan2 = plan_lookups(conn, store, refresh_hours=24, now=AT)
    assert plan2.tracks == [] and plan2.names == []
    assert plan2.not_found_tracks == 2


def test_the_budget_ends_a_run_and_the_next_runs_continue(tmp_path, tiny_world):
    store = LocalLakeStore(tmp_path / "lake")
    conn, _ = history_warehouse(tiny_world)
    budget = LookupBudget(max_calls=100, max_seconds=600)
    runs = []
    with FakeSpotifyServer(tiny_world, mode="development", as_of=AT) as server:
        for _ in range(10):
            plan = plan_lookups(conn, store, refresh_hours=24, now=AT)
            run = run_lookups(
                plan, store, make_client(server, api_mode="development"), budget=budget, now=AT
            )
            runs.append(run)
            if run.finished:
                break
        answered = server.answered_requests
    assert len(runs) > 2 and runs[-1].finished
    assert all(r.total_calls <= 100 + 4 for r in runs)  # at most the calls in flight over
    assert "call budget" in (runs[0].stopped or "")
    assert runs[0].progress(budget, False)["estimated_runs_left"] >= 1
    api = {k: v for k, v in answered.items() if k.startswith("GET /v1/")}  # not the token
    assert max(api.values()) == 1  # no answered call asked twice


def test_a_long_retry_after_ends_the_run_and_the_next_run_repeats_no_call(tmp_path, tiny_world):
    """Development mode (SPOTIFY_SAMPLE_APP_MODE=development): after 40 single-track calls
    Spotify answers Retry-After: 3600. The run ends with its progress kept and says when to
    continue; the next run finishes, and the server saw no answered call twice."""
    store = LocalLakeStore(tmp_path / "lake")
    conn, _ = history_warehouse(tiny_world)
    faults = FaultConfig(
        rate_429=1.0,
        retry_after_s=3600,
        start_after_n=40,
        endpoints={"GET /v1/tracks/{id}"},
    )
    with FakeSpotifyServer(tiny_world, mode="development", as_of=AT, faults=faults) as server:
        plan = plan_lookups(conn, store, refresh_hours=24, now=AT)
        first = run_lookups(
            plan,
            store,
            make_client(server, api_mode="development", max_retry_wait_s=60),
            budget=BIG,
            now=AT,
        )
        assert first.failure is not None and not first.finished
        assert first.continue_after is not None
        assert first.tracks_fetched + first.tracks_not_found == 40  # every answer kept
        progress = get_json(store, PROGRESS_KEY)
        assert progress["continue_after"] and progress["tracks_to_fetch"] == first.tracks_left > 0
        server.set_faults(None)
        plan2 = plan_lookups(conn, store, refresh_hours=24, now=AT)
        assert len(plan2.tracks) == first.tracks_left
        second = run_lookups(
            plan2, store, make_client(server, api_mode="development"), budget=BIG, now=AT
        )
        answered = server.answered_requests
    assert second.finished and second.failure is None
    api = {k: v for k, v in answered.items() if k.startswith("GET /v1/")}  # not the token
    assert max(api.values()) == 1, [k for k, v in api.items() if v > 1]
    singles = sum(v for k, v in answered.items() if k.startswith("GET /v1/tracks/"))
    assert singles == len(plan.tracks) - len(UNKNOWN_IDS)  # each known track answered once


def test_catalog_merge_keeps_every_entity_and_the_newest_observation_wins():
    old = datetime(2026, 1, 1)
    new = datetime(2026, 2, 1)
    body = track("a" * 22, "Old name", ["A"])
    playlist = parse_track_bodies([(body, old)], source="playlist")
    playlist["playlists"] = pd.DataFrame()
    lookups = parse_track_bodies(
        [({**body, "name": "New name"}, new), (track("b" * 22, "Other", ["B"]), new)],
        source="lookup",
    )
    merged = merge_sources(playlist, lookups)
    tracks = merged["tracks"].set_index("track_id")
    assert tracks.loc["a" * 22, "track_name"] == "New name"
    assert tracks.loc["a" * 22, "source"] == "lookup"
    assert tracks.loc["a" * 22, "first_seen"] == pd.Timestamp(old)
    assert set(tracks.index) == {"a" * 22, "b" * 22}
    assert set(merged["track_artists"]["track_id"]) == {"a" * 22, "b" * 22}
    assert not merged["track_artists"].duplicated(["track_id", "artist_id"]).any()


@pytest.mark.parametrize("mode", ["extended", "development"])
def test_a_track_a_search_answered_is_not_fetched_again_by_id(tmp_path, tiny_world, mode):
    """An account-data pair names a track that other rows reference by id (one listener's
    old export and their later one): the search answers it with its full body, so the
    tracks step does not ask for it again."""
    store = LocalLakeStore(tmp_path / "lake")
    conn, _ = history_warehouse(tiny_world, n_known=0)
    names = tiny_world.tracks.merge(
        tiny_world.artists[["artist_id", "artist_name"]],
        left_on="primary_artist_id",
        right_on="artist_id",
    ).set_index("track_id")
    played = [r[0] for r in conn.execute(
        "select distinct track_id from core.streams where source_format = 'extended' "
        "and track_id not in ('0000000000000000000000', '1111111111111111111111') order by 1"
    ).fetchall()][:3]  # fmt: skip
    for tid in played:
        conn.execute(
            "insert into core.streams (track_id, source_format, content_type, artist_name, "
            "track_name) values (null, 'account_data', 'music', ?, ?)",
            [names.loc[tid, "artist_name"], names.loc[tid, "track_name"]],
        )
    plan = plan_lookups(conn, store, refresh_hours=24, now=AT)
    assert set(played) <= set(plan.tracks) and len(plan.names) == 21 + 3
    with FakeSpotifyServer(tiny_world, mode=mode, as_of=AT) as server:
        run = run_lookups(plan, store, make_client(server, api_mode=mode), budget=BIG, now=AT)
        counts = server.request_counts
        answered = server.answered_requests
    assert run.finished and run.names_matched == 20 + 3
    asked_by_id = len(plan.tracks) - 3
    if mode == "extended":
        assert counts["GET /v1/tracks"] == math.ceil(asked_by_id / 50)
        assert not any(any(t in k for t in played) for k in answered if "/v1/tracks" in k)
    else:
        assert counts["GET /v1/tracks/{id}"] == asked_by_id
        assert not any(f"/v1/tracks/{t}" in k for t in played for k in answered)
    assert counts["GET /v1/search"] == 24
    progress = get_json(store, PROGRESS_KEY)
    assert progress["tracks_to_fetch"] == 0
    assert progress["tracks_known"] == len(plan.tracks) - len(UNKNOWN_IDS)


def test_raw_objects_are_cut_by_bodies_not_by_calls(tmp_path, tiny_world, monkeypatch):
    """A batch call answers 50 bodies: the lake gets an object every BODIES_PER_OBJECT
    bodies (what a crash can lose, and what the run holds in memory), not every so many
    calls."""
    from spotify_assets.lib.catalog import lookups

    monkeypatch.setattr(lookups, "BODIES_PER_OBJECT", 60)
    store = LocalLakeStore(tmp_path / "lake")
    conn, _ = history_warehouse(tiny_world, n_known=0)
    plan = plan_lookups(conn, store, refresh_hours=24, now=AT)
    with FakeSpotifyServer(tiny_world, mode="extended", as_of=AT) as server:
        run_lookups(plan, store, make_client(server, api_mode="extended"), budget=BIG, now=AT)
    objects = [doc for key, doc in lookups.lookup_documents(store) if "/tracks-" in key]
    sizes = [sum(len(r["requested"]) for r in doc["records"]) for doc in objects]
    assert sum(sizes) == len(plan.tracks) == 302
    assert len(objects) >= 4 and max(sizes) < 60 + 50, sizes


def test_artists_that_catalog_datasets_credit_and_the_catalog_lacks_are_fetched(
    tmp_path, tiny_world
):
    """core.unresolved_track_artists (dataset credits of unknown artists) are asked for in
    the next run, those Spotify does not know are remembered and not asked again."""
    store = LocalLakeStore(tmp_path / "lake")
    conn, _ = history_warehouse(tiny_world, n_known=300)
    artists = tiny_world.artists["artist_id"].tolist()[:3]
    unresolved = pd.DataFrame({"track_id": "t" * 22, "artist_id": [*artists, UNKNOWN_IDS[0]]})
    conn.register("u", unresolved)
    conn.execute("create table core.unresolved_track_artists as select * from u")
    plan = plan_lookups(conn, store, refresh_hours=24, now=AT)
    assert plan.unresolved_artists == {*artists, UNKNOWN_IDS[0]}
    with FakeSpotifyServer(tiny_world, mode="extended", as_of=AT) as server:
        run = run_lookups(plan, store, make_client(server), budget=BIG, now=AT)
    assert run.finished
    fetched = {body["id"] for body, _ in lookup_artist_bodies(store)}
    assert set(artists) <= fetched and UNKNOWN_IDS[0] not in fetched
    state = load_entity_state(store)
    assert UNKNOWN_IDS[0] in set(state.loc[state["status"] == "not_found", "id"])
    plan2 = plan_lookups(conn, store, refresh_hours=24, now=AT)
    assert not (plan2.unresolved_artists - plan2.known_artists)
