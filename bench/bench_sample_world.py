"""Build the bench-scale sample world and write its listening history to a temporary folder,
printing wall time and peak RSS per step.

    .venv/bin/python bench/bench_sample_world.py [--scale bench] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def step(name: str, started: float) -> None:
    print(
        f"{name:<28} {time.perf_counter() - started:8.1f} s   peak RSS {peak_rss_mb():7.0f} MB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="bench")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", type=Path, help="write here and keep the files")
    args = parser.parse_args()

    t = time.perf_counter()
    from spotify_assets.lib.sample.world import build_world
    from spotify_assets.lib.sample.world.history import write_streaming_history

    step("import", t)
    t = time.perf_counter()
    world = build_world(args.scale, seed=args.seed)
    step(f"build_world({args.scale!r})", t)
    print(
        f"  {len(world.artists):,} artists, {len(world.albums):,} albums, "
        f"{len(world.tracks):,} tracks, {len(world.playlists):,} playlists, "
        f"{len(world.playlist_entries):,} playlist entries, {len(world.users):,} users"
    )
    at = world.history_end
    t = time.perf_counter()
    live = set()
    for playlist_id in world.playlists["playlist_id"]:
        live.update(world.playlist_items_at(playlist_id, at)["track_id"])
    step("items of every playlist", t)
    print(
        f"  union of playlists at {at:%Y-%m-%d}: {len(live):,} tracks "
        f"({len(live) / len(world.tracks):.0%} of the catalog)"
    )
    t = time.perf_counter()
    world.track_popularity_at(world.tracks["track_id"], at)
    world.artist_popularity_at(world.artists["artist_id"], at)
    step("popularity of everything", t)

    out = args.keep or Path(tempfile.mkdtemp(prefix="sample_world_bench_"))
    try:
        t = time.perf_counter()
        paths = write_streaming_history(world, out)
        step("write_streaming_history", t)
        size = sum(p.stat().st_size for p in paths)
        print(
            f"  {len(paths):,} files, {size / 1e9:.2f} GB, "
            f"{int(world.users['n_plays'].sum()):,} planned plays"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
