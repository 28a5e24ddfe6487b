"""Catalog lookups at scale (issue 12, "Speed"): the calls by endpoint, wall time and peak
memory of what ``raw/catalog_lookups`` does (``lib.catalog.lookups``: ``plan_lookups`` then
``run_lookups``) against the fake Spotify API, for the demo and bench sample worlds, in
extended and development mode, beside the minimum the API allows; and how many runs a
development-mode app needs to enrich the whole history at the default budget
(``SPOTIFY_LOOKUP_MAX_CALLS`` 2,000 calls, ``SPOTIFY_LOOKUP_MAX_SECONDS`` 300 s per run).

    .venv/bin/python bench/bench_lookups.py [--world demo --world bench]
        [--mode extended --mode development] [--catalog playlists|none] [--max-dev-runs 200]

About 2 minutes on 2 shared cores; ``--world bench --catalog none`` about 9.

Each (world, mode) runs in its own process (its peak RSS is its own); the fake API runs in a
forked child process, so the client neither shares the GIL with the server nor counts its
memory. The app's mode is known (``SPOTIFY_API_MODE`` set, or learned by the snapshot runs
as in ``make demo``), so no batch call is probed.

The input is what the asset finds after ``make demo``'s first catalog and listening steps,
built from the world directly (writing and ingesting the bench world's 10 million plays of
export files takes 20 minutes; ``bench/bench_warehouse.py`` does that):

- ``core.tracks`` / ``core.artists``: the tracks of the app user's playlists at the end of the
  world's history (one snapshot window) and the artists they credit;
- ``core.streams``: one row per music play of every listener, with its track id, except the
  first half of the plays of the listener whose export ``make demo`` writes as an old mixed
  account-data export (``lib/sample/world/vintages.py``): rows with names and no id, which
  get an id where the catalog resolves them, by the real
  ``lib.listening.streams.resolve_account_data_tracks``.

``--catalog none`` leaves the playlists out: every played track is looked up, as for a real
listener whose history the configured playlists hardly cover (issue 12: 2,412 distinct
tracks, none in the catalog).

Minimum calls, computed from the world independently of the lookups' code: tracks referenced
by id that the catalog lacks and no search answered (``T``; a matched search result is a
full track), distinct unresolved name pairs (``N``, one search each),
and the artists credited on the tracks fetched or matched that the catalog lacks (``A``):
extended ``ceil(T/50) + ceil(A/50) + N``, development ``T + A + N``.

Development mode is measured twice: one run with an unlimited budget (the calls and speed of
the whole job), then runs at the default budget, each planned again from the warehouse and
the lookups' state as the sensor's next run would, until the work is done (or
``--max-dev-runs``; the rest is then estimated from the calls left).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_MAX_CALLS = 2000  # spotify_assets.settings: SPOTIFY_LOOKUP_MAX_CALLS
DEFAULT_MAX_SECONDS = 300.0  # SPOTIFY_LOOKUP_MAX_SECONDS
BATCH = 50  # tracks and artists per call in extended mode


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


# -- the input warehouse ---------------------------------------------------------------------


def build_input(world: Any, conn: Any, now: datetime, catalog: str) -> dict[str, Any]:
    """core.tracks, core.artists and core.streams as described in the module docstring
    (``catalog="none"``: no playlist, the catalog is empty); returns what the minimum is
    computed from."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from spotify_assets.lib.listening.streams import resolve_account_data_tracks
    from spotify_assets.lib.sample.world import APP_USER_ID

    tracks = world.tracks
    names = world.artists.set_index("artist_id")["artist_name"]
    owned = world.playlists.loc[world.playlists["owner_id"] == APP_USER_ID, "playlist_id"]
    in_playlists: set[str] = set()
    for playlist_id in owned if catalog == "playlists" else []:
        in_playlists.update(world.playlist_items_at(playlist_id, world.history_end)["track_id"])
    known = tracks[tracks["track_id"].isin(in_playlists)]
    catalog_artists = sorted({a for ids in known["artist_ids"] for a in ids})
    stamp = pd.Timestamp(now.replace(tzinfo=None))
    conn.execute("create schema if not exists core")
    conn.register(
        "t",
        pd.DataFrame(
            {
                "track_id": known["track_id"],
                "track_name": known["track_name"],
                "primary_artist_id": known["primary_artist_id"],
                "last_seen": stamp,
            }
        ),
    )
    conn.execute("create table core.tracks as select * from t")
    conn.register(
        "a",
        pd.DataFrame(
            {
                "artist_id": pd.Series(catalog_artists, dtype=object),
                "artist_name": names.loc[catalog_artists].to_numpy(dtype=object),
                "fetched_at": stamp,
            }
        ),
    )
    conn.execute("create table core.artists as select * from a")

    track_ids = pa.array(tracks["track_id"].to_numpy(dtype=object))
    users = world.users["user_id"].tolist()
    mixed = [u for u in users if u != APP_USER_ID][2]  # as vintages.write_export_vintages
    named_rows = np.zeros(0, dtype=np.int64)
    conn.execute(
        "create table core.streams (user_id varchar, track_id varchar, track_name varchar, "
        "artist_name varchar, content_type varchar, source_format varchar)"
    )
    for user in users:
        plays = world.user_plays(user)
        rows = plays["item"][plays["content"] == 0].astype(np.int64)
        if user == mixed:
            half = len(rows) // 2
            named_rows, rows = rows[:half], rows[half:]
        batch = pa.table(
            {
                "user_id": pa.array([user] * len(rows)),
                "track_id": track_ids.take(pa.array(rows)),
            }
        )
        conn.register("b", batch)
        conn.execute(
            "insert into core.streams select user_id, track_id, null, null, 'music', "
            "'extended' from b"
        )
        conn.unregister("b")
    named = tracks.iloc[np.unique(named_rows)]
    conn.register(
        "n",
        pd.DataFrame(
            {
                "user_id": mixed,
                "track_name": named["track_name"].to_numpy(),
                "artist_name": names.loc[named["primary_artist_id"]].to_numpy(),
                "world_track_id": named["track_id"].to_numpy(),
            }
        ),
    )
    conn.execute(
        "insert into core.streams select user_id, null, track_name, artist_name, 'music', "
        "'account_data' from n"
    )
    resolve_account_data_tracks(conn)
    unresolved = conn.execute(
        "select distinct s.artist_name, s.track_name, n.world_track_id from core.streams s "
        "join n using (artist_name, track_name) where s.track_id is null"
    ).fetchall()
    by_id = {r[0] for r in conn.execute("select distinct track_id from core.streams").fetchall()}
    by_id.discard(None)
    # A searched pair's track arrives in the search answer (the world's names are unique per
    # artist, so every pair matches): no track call for it, even if other rows play it by id.
    matched = {r[2] for r in unresolved}
    to_fetch = by_id - in_playlists - matched
    credits = tracks.set_index("track_id")["artist_ids"]
    new_artists = {a for t in to_fetch | matched for a in credits[t]} - set(catalog_artists)
    return {
        "plays": conn.execute("select count(*) from core.streams").fetchone()[0],
        "catalog_tracks": len(known),
        "catalog_artists": len(catalog_artists),
        "played_outside_catalog": len((by_id | matched) - in_playlists),
        "tracks_to_fetch": len(to_fetch),
        "name_pairs": len(unresolved),
        "new_artists": len(new_artists),
    }


def minimum_calls(inp: dict[str, Any], mode: str) -> dict[str, int]:
    t, a, n = inp["tracks_to_fetch"], inp["new_artists"], inp["name_pairs"]
    if mode == "extended":
        return {"tracks": math.ceil(t / BATCH), "artists": math.ceil(a / BATCH), "search": n}
    return {"tracks": t, "artists": a, "search": n}


# -- the fake API in its own process ---------------------------------------------------------


def _serve(world: Any, mode: str, conn: Any) -> None:
    from spotify_assets.lib.sample.fake_api import FakeSpotifyServer

    server = FakeSpotifyServer(world, mode=mode).start()
    conn.send(server.url)
    while True:
        message = conn.recv()
        if message == "counts":
            conn.send(dict(server.request_counts))
        elif message == "stop":
            server.stop()
            conn.send("stopped")
            return


class ServerProcess:
    def __init__(self, world: Any, mode: str) -> None:
        ctx = mp.get_context("fork")  # the child has the world without building it again
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(world, mode, child), daemon=True)
        self.process.start()
        self.url = self.conn.recv()

    def counts(self) -> dict[str, int]:
        self.conn.send("counts")
        return {k: v for k, v in self.conn.recv().items() if k.startswith("GET /v1/")}

    def stop(self) -> None:
        self.conn.send("stop")
        self.conn.recv()
        self.process.join(10)


# -- one (world, mode) -----------------------------------------------------------------------


def endpoint_kind(endpoint: str) -> str:
    return "search" if "search" in endpoint else endpoint.split("/")[2]


def measure(world_name: str, mode: str, catalog: str, max_dev_runs: int) -> dict[str, Any]:
    import duckdb

    from spotify_assets.lib.catalog.lookups import (
        LookupBudget,
        load_entity_state,
        plan_lookups,
        run_lookups,
    )
    from spotify_assets.lib.lake import LocalLakeStore
    from spotify_assets.lib.sample.world import build_world
    from spotify_assets.resources import SpotifyResource

    out: dict[str, Any] = {"world": world_name, "mode": mode, "catalog": catalog}
    t = time.perf_counter()
    world = build_world(world_name)
    out["world_s"] = time.perf_counter() - t
    now = datetime.now(UTC)
    conn = duckdb.connect()
    t = time.perf_counter()
    inp = build_input(world, conn, now, catalog)
    out["input_s"] = time.perf_counter() - t
    out["input"] = inp
    out["minimum"] = minimum_calls(inp, mode)
    out["rss_before_mb"] = current_rss_mb()
    server = ServerProcess(world, mode)
    spotify = SpotifyResource(
        source="sample",
        sample_scale=world_name,
        sample_app_mode=mode,
        sample_server_url=server.url,
        api_mode=mode,
    )
    unlimited = LookupBudget(max_calls=10**9, max_seconds=10**9)
    default = LookupBudget(DEFAULT_MAX_CALLS, DEFAULT_MAX_SECONDS)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-lookups-") as tmp:
            store = LocalLakeStore(Path(tmp) / "lake")
            t = time.perf_counter()
            plan = plan_lookups(conn, store, refresh_hours=2160, now=now)
            out["plan_s"] = time.perf_counter() - t
            out["planned"] = {"tracks": len(plan.tracks), "names": len(plan.names)}
            t = time.perf_counter()
            with spotify.client() as client:
                run = run_lookups(plan, store, client, budget=unlimited, now=now)
            out["run_s"] = time.perf_counter() - t
            out["finished"] = run.finished
            out["client_calls"] = run.calls
            out["server_calls"] = server.counts()
            state = load_entity_state(store)
            out["artists_looked_up"] = int((state["kind"] == "artist").sum())
            out["peak_rss_mb"] = peak_rss_mb()
            calls = sum(out["server_calls"].values())
            out["calls_per_s"] = calls / max(out["run_s"], 1e-9)
        if mode == "development":
            out["budgeted"] = budgeted_runs(
                conn, spotify, default, now, max_dev_runs, plan_lookups, run_lookups
            )
    finally:
        server.stop()
    return out


def budgeted_runs(conn, spotify, budget, now, max_runs, plan_lookups, run_lookups) -> dict:
    """Runs at the default budget from an empty lookups state, each planned again, until the
    work is done or ``max_runs``."""
    from spotify_assets.lib.lake import LocalLakeStore

    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-lookups-") as tmp:
        store = LocalLakeStore(Path(tmp) / "lake")
        estimate_after_first = None
        while len(runs) < max_runs:
            t = time.perf_counter()
            plan = plan_lookups(conn, store, refresh_hours=2160, now=now)
            with spotify.client() as client:
                run = run_lookups(plan, store, client, budget=budget, now=now)
            runs.append(
                {"calls": run.total_calls, "s": time.perf_counter() - t, "stopped": run.stopped}
            )
            if estimate_after_first is None:
                estimate_after_first = 1 + run.estimated_runs_left(budget, batch=False)
            if run.finished:
                break
        left = 0 if run.finished else run.estimated_runs_left(budget, batch=False)
    return {
        "runs": len(runs),
        "finished": run.finished,
        "runs_left_estimated": left,
        "estimate_after_first_run": estimate_after_first,
        "calls": sum(r["calls"] for r in runs),
        "mean_run_s": sum(r["s"] for r in runs) / len(runs),
        "max_run_s": max(r["s"] for r in runs),
        "stopped_by": sorted({(r["stopped"] or "finished").split(" of ")[0] for r in runs}),
        "total_s": time.perf_counter() - started,
    }


# -- the report ------------------------------------------------------------------------------


def report(results: list[dict[str, Any]]) -> None:
    print()
    print(
        f"{'world':<6} {'mode':<12} {'plays':>11} {'catalog':>8} {'to fetch':>9} "
        f"{'names':>6} {'new art.':>8} | {'calls by endpoint (server)':<44} "
        f"{'minimum':>8} {'x min':>6} | {'plan s':>6} {'run s':>7} {'calls/s':>7} "
        f"{'RSS MB':>13}"
    )
    for r in results:
        inp, mn = r["input"], r["minimum"]
        by_kind: dict[str, int] = {}
        for endpoint, n in r["server_calls"].items():
            by_kind[endpoint_kind(endpoint)] = by_kind.get(endpoint_kind(endpoint), 0) + n
        calls = sum(by_kind.values())
        minimum = sum(mn.values())
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(by_kind.items()))
        print(
            f"{r['world']:<6} {r['mode']:<12} {inp['plays']:>11,} {inp['catalog_tracks']:>8,} "
            f"{inp['tracks_to_fetch']:>9,} {inp['name_pairs']:>6,} {inp['new_artists']:>8,} | "
            f"{shown:<44} {minimum:>8,} {calls / max(minimum, 1):>6.2f} | "
            f"{r['plan_s']:>6.1f} {r['run_s']:>7.1f} {r['calls_per_s']:>7.0f} "
            f"{r['rss_before_mb']:>5.0f}->{r['peak_rss_mb']:<6.0f}"
        )
        for kind, n in mn.items():
            if by_kind.get(kind, 0) != n:
                print(f"    {kind}: {by_kind.get(kind, 0):,} calls, minimum {n:,}")
        if not r["finished"]:
            print("    the unlimited run did not finish")
    for r in results:
        b = r.get("budgeted")
        if not b:
            continue
        how = "finished" if b["finished"] else f"stopped, ~{b['runs_left_estimated']} more"
        print(
            f"{r['world']} world, development mode, default budget ({DEFAULT_MAX_CALLS:,} calls, "
            f"{DEFAULT_MAX_SECONDS:.0f} s a run): {b['runs']} runs ({how}), {b['calls']:,} calls, "
            f"{b['mean_run_s']:.1f} s a run (longest {b['max_run_s']:.1f} s), ended by "
            f"{', '.join(b['stopped_by'])}; the first run's estimate: "
            f"{b['estimate_after_first_run']} runs"
        )
    print(
        "\n(reference: the minimum is the calls the API allows at least, from the world; RSS: "
        "before the lookups -> peak, the world and the input warehouse included)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", action="append", choices=["tiny", "demo", "bench"])
    parser.add_argument("--mode", action="append", choices=["extended", "development"])
    parser.add_argument(
        "--catalog",
        choices=["playlists", "none"],
        default="playlists",
        help="none: no playlist, every played track is looked up (a real listener's history)",
    )
    parser.add_argument("--max-dev-runs", type=int, default=200)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # child: world mode
    args = parser.parse_args()
    if args.one:
        world, mode = args.one
        result = measure(world, mode, args.catalog, args.max_dev_runs)
        print(json.dumps(result, default=str))
        return 0
    results = []
    for world in args.world or ["demo", "bench"]:
        for mode in args.mode or ["extended", "development"]:
            print(f"[{time.strftime('%H:%M:%S')}] {world} world, {mode} mode ...", flush=True)
            cmd = [sys.executable, __file__, "--one", world, mode]
            cmd += ["--catalog", args.catalog, "--max-dev-runs", str(args.max_dev_runs)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr[-3000:])
                return 1
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = results[-1]
            print(
                f"  world {r['world_s']:.1f} s, input {r['input_s']:.1f} s, plan "
                f"{r['plan_s']:.1f} s, run {r['run_s']:.1f} s",
                flush=True,
            )
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
