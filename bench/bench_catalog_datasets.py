"""Landing a big catalog dataset (tracks and artists CSVs) through the platform, against
DuckDB's CSV reader.

    .venv/bin/python bench/bench_catalog_datasets.py [--tracks 600000] [--artists 120000]

The issue's target: a 600k-track catalog CSV lands in well under a minute with peak memory
under 2 GB. The generated files have the Kaggle tracks/artists layout (``id, name,
popularity, duration_ms, explicit, artists, id_artists, release_date`` and the twelve audio
features; ``id, followers, genres, name, popularity`` with float followers and Python-list
genres); tracks have one to three artists, dates of year, month or day precision.

- reference: DuckDB ``read_csv`` of each file into a table (types sniffed, lists left as
  text, no checks), in a fresh process;
- ours, in a fresh process each (so that each peak RSS, ``ru_maxrss``, is its own):
  ``ingest``: ``lib.landing.ingest`` of both files from a local lake (parse, check every row,
  lists parsed, Parquet, manifest); ``catalog``: ``dataset_tracks`` + ``dataset_artists``
  (each field from its newest observation per id) and ``merge_dataset_tracks`` /
  ``merge_dataset_artists`` into an empty API catalog (credits resolved against the artists
  file, audio features), what ``core/tracks`` and ``core/artists`` do with the dataset.

Prints wall and CPU seconds and peak RSS of each, side by side.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ZONE = "landing/catalog_datasets"
FEATURES = (
    "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo", "time_signature",
)  # fmt: skip


def write_files(lake_root: Path, n_tracks: int, n_artists: int) -> tuple[Path, Path]:
    """The two CSVs in the lake's landing zone, vectorized (numpy strings)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))

    def ids(n: int) -> np.ndarray:
        return alphabet[rng.integers(0, 62, (n, 22))].view("<U22").ravel()

    artist_ids = ids(n_artists)
    artist_names = np.char.add("Artist ", np.arange(n_artists).astype(str))
    genres = np.array(["['pop', 'dance pop']", "[]", "['rock']", '["children\'s music"]'])
    artists = pd.DataFrame(
        {
            "id": artist_ids,
            "followers": rng.lognormal(7, 2.5, n_artists).round(0),
            "genres": genres[rng.integers(0, len(genres), n_artists)],
            "name": artist_names,
            "popularity": rng.integers(0, 101, n_artists),
        }
    )
    k = rng.integers(1, 4, n_tracks)
    picks = rng.integers(0, n_artists, (n_tracks, 3))
    q = np.char.add
    one_id = q(q("'", artist_ids[picks[:, 0]]), "'")
    two_id = q(q(one_id, ", '"), q(artist_ids[picks[:, 1]], "'"))
    three_id = q(q(two_id, ", '"), q(artist_ids[picks[:, 2]], "'"))
    id_lists = np.where(k == 1, one_id, np.where(k == 2, two_id, three_id))
    one_nm = q(q("'", artist_names[picks[:, 0]]), "'")
    two_nm = q(q(one_nm, ", '"), q(artist_names[picks[:, 1]], "'"))
    three_nm = q(q(two_nm, ", '"), q(artist_names[picks[:, 2]], "'"))
    name_lists = np.where(k == 1, one_nm, np.where(k == 2, two_nm, three_nm))
    years = rng.integers(1922, 2022, n_tracks).astype(str)
    days = pd.to_datetime(rng.integers(-17000, 18600, n_tracks), unit="D").strftime("%Y-%m-%d")
    precision = rng.random(n_tracks)
    dates = np.where(precision < 0.1, years, np.where(precision < 0.15, days.str[:7], days))
    tracks = pd.DataFrame(
        {
            "id": ids(n_tracks),
            "name": np.char.add("Song ", np.arange(n_tracks).astype(str)),
            "popularity": rng.integers(0, 101, n_tracks),
            "duration_ms": rng.integers(30_000, 600_000, n_tracks),
            "explicit": rng.integers(0, 2, n_tracks),
            "artists": q(q("[", name_lists), "]"),
            "id_artists": q(q("[", id_lists), "]"),
            "release_date": dates,
            **{f: rng.random(n_tracks).round(4) for f in FEATURES},
        }
    )
    folder = lake_root / ZONE
    folder.mkdir(parents=True, exist_ok=True)
    tracks_path, artists_path = folder / "tracks.csv", folder / "artists.csv"
    tracks.to_csv(tracks_path, index=False)
    artists.to_csv(artists_path, index=False)
    return tracks_path, artists_path


def _usage() -> dict[str, float]:
    """CPU seconds and peak RSS of this process (VmHWM: unlike ru_maxrss, not inherited
    from the parent across fork and exec)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    status = Path("/proc/self/status").read_text()
    hwm = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM:"))
    return {"cpu": r.ru_utime + r.ru_stime, "rss_mb": hwm / 1024}


def step(name: str, lake_root: Path) -> dict[str, float]:
    """One measured step, run in this (fresh) process."""
    started = time.perf_counter()
    rows = 0
    if name == "duckdb":
        import duckdb

        with duckdb.connect() as conn:
            for csv in ("tracks.csv", "artists.csv"):
                path = lake_root / ZONE / csv
                table = csv.removesuffix(".csv")
                conn.execute(f"create table {table} as from read_csv('{path}')")
                rows += conn.execute(f"select count(*) from {table}").fetchone()[0]
    elif name == "ingest":
        from spotify_assets.lib.catalog.datasets import CATALOG_DATASETS_ZONE
        from spotify_assets.lib.lake import LocalLakeStore
        from spotify_assets.lib.landing import ingest

        store = LocalLakeStore(lake_root)
        for key in ("tracks.csv", "artists.csv"):
            info = ingest(store, CATALOG_DATASETS_ZONE, key, reprocess=True)
            assert info["status"] == "accepted", info
            rows += info["accepted"]
    else:
        from spotify_assets.lib.catalog.dataset_merge import (
            dataset_artist_ids,
            dataset_artists,
            dataset_tracks,
            merge_dataset_artists,
            merge_dataset_tracks,
        )
        from spotify_assets.lib.catalog.parse import empty_frame
        from spotify_assets.lib.lake import LocalLakeStore

        store = LocalLakeStore(lake_root)
        with tempfile.TemporaryDirectory() as tmp:
            tracks, _ = dataset_tracks(store, Path(tmp))
            artists, _ = dataset_artists(store, Path(tmp))
            known = dataset_artist_ids(store, Path(tmp))
        api = {t: empty_frame(t) for t in ("tracks", "albums", "track_artists")}
        merged = merge_dataset_tracks(api, tracks, known)
        all_artists, _ = merge_dataset_artists(
            empty_frame("artists"), empty_frame("artist_genres"), artists
        )
        rows = len(merged["tracks"]) + len(all_artists)
    return {"wall": time.perf_counter() - started, "rows": rows, **_usage()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=600_000)
    parser.add_argument("--artists", type=int, default=120_000)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step, Path(args.lake))))
        return
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as tmp:
        lake = Path(tmp)
        t0 = time.perf_counter()
        tracks_path, artists_path = write_files(lake, args.tracks, args.artists)
        mb = (tracks_path.stat().st_size + artists_path.stat().st_size) / 2**20
        print(
            f"{args.tracks:,} tracks + {args.artists:,} artists, {mb:.0f} MB of CSV "
            f"(written in {time.perf_counter() - t0:.1f} s)"
        )
        results = {}
        for name in ("duckdb", "ingest", "catalog"):
            out = subprocess.run(
                [sys.executable, __file__, "--step", name, "--lake", str(lake)],
                check=True,
                capture_output=True,
                text=True,
            )
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{'step':<44} {'wall s':>7} {'cpu s':>7} {'peak RSS MB':>12} {'rows':>10}")
    labels = {
        "duckdb": "reference: DuckDB read_csv into tables",
        "ingest": "ours: ingest (parse, check, Parquet, manifest)",
        "catalog": "ours: catalog observations + merge",
    }
    for name, r in results.items():
        print(
            f"{labels[name]:<44} {r['wall']:>7.1f} {r['cpu']:>7.1f} {r['rss_mb']:>12.0f} "
            f"{int(r['rows']):>10,}"
        )
    total = results["ingest"]["wall"] + results["catalog"]["wall"]
    print(
        f"ours, landing to catalog frames: {total:.1f} s wall "
        f"({total / results['duckdb']['wall']:.1f}x the reference); peak RSS "
        f"{max(results['ingest']['rss_mb'], results['catalog']['rss_mb']):.0f} MB"
    )


if __name__ == "__main__":
    main()
