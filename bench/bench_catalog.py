"""Benchmark of the `catalog` group: API calls, wall time and peak memory per step, at a
sample-world scale, plus the orchestration overhead of a whole run.

    .venv/bin/python bench/bench_catalog.py --scale demo
    .venv/bin/python bench/bench_catalog.py --scale bench --windows 2

Each window is snapshotted against the fake Spotify API (in-process, counting requests by
endpoint), then the catalog tables are built from every window. Figures printed:

- per window: API calls by endpoint, against the minimum the API allows (item pages plus one
  call per 50 new artists), wall time and peak RSS;
- the tables' build time;
- orchestration: each run's wall time (RUN_START to RUN_SUCCESS in the event log) against the
  sum of its steps' own durations, per asset.

Runs use a throwaway Dagster instance and data folder under a temp dir (or --data-dir).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from spotify_assets_tests.support.run_events import run_times


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="demo", choices=["tiny", "demo", "bench"])
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--mode", default="extended", choices=["extended", "development"])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    tmp = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-catalog-"))
    os.environ["SPOTIFY_DATA_DIR"] = str(tmp / "data")
    os.environ["SPOTIFY_SAMPLE_SCALE"] = args.scale
    os.environ["SPOTIFY_SAMPLE_APP_MODE"] = args.mode
    os.environ["DAGSTER_HOME"] = str(tmp / "dagster_home")
    (tmp / "dagster_home").mkdir(parents=True, exist_ok=True)
    (tmp / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    import dagster as dg

    from spotify_assets.defs.catalog.assets import SNAPSHOT_PARTITIONS
    from spotify_assets.lib.sample.fake_api import FakeSpotifyServer
    from spotify_assets.lib.sample.world import APP_USER_ID, build_world

    t0 = time.perf_counter()
    world = build_world(args.scale)
    print(
        f"world {args.scale}: {len(world.tracks):,} tracks, {len(world.artists):,} artists, "
        f"{len(world.playlists):,} playlists; built in {time.perf_counter() - t0:.1f} s"
    )

    server = FakeSpotifyServer(world, mode=args.mode).start()

    from spotify_assets.definitions import defs
    from spotify_assets.resources import SpotifyResource

    # The same definitions, with the Spotify resource pointed at this counting server.
    spotify = SpotifyResource(
        source="sample",
        sample_scale=args.scale,
        sample_app_mode=args.mode,
        api_mode="auto",
        sample_server_url=server.url,
    )
    resources = {**defs.resources, "spotify": spotify}
    bench_defs = dg.Definitions.merge(
        dg.Definitions(
            assets=defs.assets,
            asset_checks=defs.asset_checks,
            jobs=defs.jobs,
            executor=defs.executor,
        ),
        dg.Definitions(resources=resources),
    )
    instance = dg.DagsterInstance.get()
    owned = world.playlists.loc[world.playlists["owner_id"] == APP_USER_ID, "playlist_id"]
    windows = SNAPSHOT_PARTITIONS.get_partition_keys()[-args.windows :]
    overheads = []
    for key in windows:
        at = SNAPSHOT_PARTITIONS.time_window_for_partition_key(key).start
        pages = sum(max(1, math.ceil(len(world.playlist_items_at(p, at)) / 50)) for p in owned)
        server.reset_counts()
        t0 = time.perf_counter()
        result = bench_defs.resolve_job_def("catalog_snapshot_job").execute_in_process(
            partition_key=key, instance=instance
        )
        wall = time.perf_counter() - t0
        assert result.success
        meta = result.asset_materializations_for_node("raw__catalog_entities")[0].metadata
        fetched = meta["artists_fetched"].value
        per_artist = 50 if args.mode == "extended" else 1
        minimum = pages + math.ceil(fetched / per_artist)
        counts = {k: v for k, v in sorted(server.request_counts.items()) if k != "POST /api/token"}
        print(f"\nwindow {key}: {wall:.1f} s wall, peak RSS {peak_rss_mb():,.0f} MB")
        print(
            f"  API calls {sum(counts.values()):,} (minimum {minimum:,} = {pages:,} item pages"
            f" + {fetched:,} new artists / {per_artist}); cached artists "
            f"{meta['artists_from_cache'].value:,}"
        )
        for endpoint, n in counts.items():
            print(f"    {endpoint:<36} {n:>8,}")
        overheads.append(run_times(instance, result.run_id))
    t0 = time.perf_counter()
    result = bench_defs.resolve_job_def("catalog_tables_job").execute_in_process(instance=instance)
    assert result.success
    print(
        f"\ncatalog tables: {time.perf_counter() - t0:.1f} s wall, peak RSS {peak_rss_mb():,.0f} MB"
    )
    overheads.append(run_times(instance, result.run_id))
    server.stop()

    print("\norchestration (run wall time vs. the sum of its steps):")
    for times, label in zip(overheads, [*windows, "tables"], strict=True):
        wall, steps, total = times.wall, times.steps, times.step_total
        print(
            f"  {label:<18} run {wall:6.2f} s, steps {total:6.2f} s, {len(steps)} steps, "
            f"overhead {(wall - total) / max(len(steps), 1) * 1000:5.0f} ms per step"
        )
        for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
            print(f"      {step:<36} {seconds:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
