"""Listening-history ingestion against its floor, then the deduplicated ``streams`` build.

    .venv/bin/python bench/bench_ingest.py --files /tmp/bench_history [--limit N] [--out DIR]

Make the input once (about 70 s, 6.5 GB):
    .venv/bin/python -c "from pathlib import Path; from spotify_assets.lib.sample.world import \
build_world; from spotify_assets.lib.sample.world.history import write_streaming_history; \
write_streaming_history(build_world('bench'), Path('/tmp/bench_history'))"

- floor: the simplest fast thing, with no validation or normalization at all: per file,
  ``orjson.loads`` -> ``pyarrow.Table.from_pylist`` -> ``pq.write_table`` (default snappy).
- ours: per file, ``process_file`` (parse, validate, normalize, sort) -> ``write_parquet``.
- streams: DuckDB ``CREATE TABLE streams AS`` :func:`streams_dedup_sql` over all our Parquet
  files; then one new, overlapping export file is added and the table is brought up to date
  twice: incrementally (:func:`streams_append_sql`) and by a full rebuild.

Floor and ours run in two worker processes (so that each peak RSS, ``ru_maxrss``, is its own)
that take turns on chunks of files, so both see the same machine load: on a shared machine a
ratio from two runs minutes apart measures the neighbours. Files are read one at a time: the
whole history is never in memory. Wall and CPU seconds are printed (CPU is steadier).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def list_files(root: Path, limit: int | None) -> list[Path]:
    files = sorted(root.glob("*/*.json"))
    return files[:limit] if limit else files


def floor_step(path: Path, out: Path, index: int) -> tuple[int, int]:
    """The floor for one file: parse, build Arrow, write Parquet; no checks at all."""
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(orjson.loads(path.read_bytes()))
    pq.write_table(table, out / f"{index:05d}.parquet")
    return table.num_rows, 0


def ours_step(path: Path, out: Path, index: int) -> tuple[int, int]:
    """Ours for one file, the platform's own path (``lib.landing.ingest`` of the
    streaming-history zone, which the asset runs): read from the landing zone, hash, parse,
    validate, normalize, sort, then write Parquet, rejected records and the manifest to the
    lake's processed area."""
    from spotify_assets.lib.landing import ingest
    from spotify_assets.lib.listening.history_zone import STREAMING_HISTORY_ZONE as ZONE

    key = f"{path.parent.name}/{path.name}"
    info = ingest(_bench_lake(out, path).store(), ZONE, key, reprocess=True)
    return info.get("accepted", 0), info.get("rejected", 0)


def _bench_lake(out: Path, path: Path):
    """A local lake under ``out`` whose landing zone holds the bench history as hard links
    (regular files sharing the bytes: the landing zone never follows symbolic links)."""
    from spotify_assets.resources import LakeResource
    from spotify_assets_tests.support.landing import hard_link_or_copy

    root = out / "lake"
    landing = root / "landing" / "streaming_history"
    history = path.parent.parent.resolve()
    for source in sorted(history.glob("*/*.json")):
        target = landing / source.relative_to(history)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            hard_link_or_copy(source, target)
    return LakeResource(url=str(root))


def worker_loop(kind: str, files: list[Path], out: Path) -> None:
    """Serve ``<start> <stop>`` lines (process those files) until stdin closes, then print
    the totals as one JSON line."""
    step = floor_step if kind == "floor" else ours_step
    with tempfile.TemporaryDirectory() as warm:  # imports and first-call setup, untimed
        step(files[0], Path(warm), 0)
    totals = {"wall": 0.0, "cpu": 0.0, "rows": 0, "rejected": 0, "bytes": 0}
    for line in sys.stdin:
        lo, hi = map(int, line.split())
        t, c = time.perf_counter(), cpu_seconds()
        for i in range(lo, hi):
            rows, rejected = step(files[i], out, i)
            totals["rows"] += rows
            totals["rejected"] += rejected
            totals["bytes"] += files[i].stat().st_size
        totals["wall"] += time.perf_counter() - t
        totals["cpu"] += cpu_seconds() - c
        print("ok", flush=True)
    totals["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(totals), flush=True)


def run_interleaved(args: argparse.Namespace, n_files: int, chunk: int = 20) -> dict:
    """Floor and ours take turns on chunks of ``chunk`` files (alternating who goes first)."""
    workers = {}
    for kind in ("floor", "ours"):
        (args.out / kind).mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            kind,
            "--files",
            str(args.files),
            "--out",
            str(args.out),
        ]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        workers[kind] = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
    order = ["floor", "ours"]
    for k, lo in enumerate(range(0, n_files, chunk)):
        for kind in order if k % 2 == 0 else order[::-1]:
            proc = workers[kind]
            proc.stdin.write(f"{lo} {min(lo + chunk, n_files)}\n")
            proc.stdin.flush()
            if proc.stdout.readline().strip() != "ok":
                sys.exit(f"{kind} worker failed")
    results = {}
    for kind, proc in workers.items():
        out, _ = proc.communicate()
        if proc.returncode:
            sys.exit(f"{kind} worker failed")
        results[kind] = json.loads(out.strip().splitlines()[-1])
    return results


def overlapping_export(files: list[Path], n_new: int = 500) -> tuple[str, bytes]:
    """A new export file for the first user: its last file again (all duplicates) plus
    ``n_new`` plays a year later (new), as when a user re-requests an export."""
    import orjson

    path = [p for p in files if p.parent.name == files[0].parent.name][-1]
    records = orjson.loads(path.read_bytes())
    for rec in records[-n_new:]:
        year = int(rec["ts"][:4])
        records.append({**rec, "ts": f"{year + 1}{rec['ts'][4:]}"})
    return path.parent.name, orjson.dumps(records)


def run_streams(files: list[Path], ours: Path) -> dict:
    """core.streams the platform's way (``build_streams`` over the processed files): a full
    build, then one new overlapping file ingested and added incrementally, then a full
    rebuild for comparison."""
    import duckdb

    from spotify_assets.lib.landing import ingest, processed_files
    from spotify_assets.lib.listening.history_zone import STREAMING_HISTORY_ZONE as ZONE
    from spotify_assets.lib.listening.streams import build_streams
    from spotify_assets.resources import LakeResource

    lake = LakeResource(url=str(ours / "lake"))
    db = ours.parent / "streams.duckdb"
    db.unlink(missing_ok=True)
    # The platform's DuckDB settings (SPOTIFY_DUCKDB_MEMORY_LIMIT).
    from spotify_assets.settings import load_settings

    con = duckdb.connect(str(db), config={"memory_limit": load_settings().duckdb_memory_limit})
    result: dict = {}
    processed = processed_files(lake.store(), ZONE, ours)

    t = time.perf_counter()
    stats = build_streams(con, processed)
    result["full_build"] = time.perf_counter() - t
    result["rows_in_files"] = stats.rows_read
    result["streams_rows"] = stats.total_rows

    user_id, data = overlapping_export(files)
    key = f"{user_id}/Streaming_History_Audio_2099_new.json"
    landed = ours / "lake" / "landing" / "streaming_history" / key  # lands in the input folder
    landed.write_bytes(data)
    try:
        t = time.perf_counter()
        info = ingest(lake.store(), ZONE, key)
        result["new_file_ingest"] = time.perf_counter() - t
        result["new_file_rows"] = info["accepted"]
    finally:
        landed.unlink()

    t = time.perf_counter()
    stats = build_streams(con, processed_files(lake.store(), ZONE, ours))
    result["incremental_append"] = time.perf_counter() - t
    result["incremental_mode"] = stats.mode
    result["streams_rows_after_append"] = stats.total_rows

    t = time.perf_counter()
    con.execute("drop table core.stream_sources")  # forget: the next build is a full one
    stats = build_streams(con, processed_files(lake.store(), ZONE, ours))
    result["full_rebuild_with_new_file"] = time.perf_counter() - t
    result["streams_rows_after_rebuild"] = stats.total_rows
    con.close()
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def child(kind: str, args: argparse.Namespace) -> dict:
    """Run one part in a fresh process and return what it printed (one JSON line)."""
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--files",
        str(args.files),
        "--out",
        str(args.out),
    ]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f"{kind} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=Path, required=True, help="landing folder <user>/*.json")
    parser.add_argument("--limit", type=int, help="only the first N files")
    parser.add_argument("--out", type=Path, help="where Parquet goes (default: a temp folder)")
    parser.add_argument("--worker", choices=["floor", "ours", "streams"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    files = list_files(args.files, args.limit)
    if not files:
        sys.exit(f"no <user>/*.json files under {args.files}")

    if args.worker == "streams":
        print(json.dumps(run_streams(files, args.out / "ours")))
        return
    if args.worker:
        worker_loop(args.worker, files, args.out / args.worker)
        return

    keep = args.out is not None
    args.out = args.out or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        size = sum(os.path.getsize(p) for p in files)
        print(f"{len(files):,} files, {size / 1e9:.2f} GB, from {args.files}", flush=True)
        results = run_interleaved(args, len(files))
        shutil.rmtree(args.out / "floor", ignore_errors=True)
        floor, ours = results["floor"], results["ours"]
        for name, r in (("floor", floor), ("ours", ours)):
            print(
                f"{name:<6} {r['wall']:7.1f} s wall {r['cpu']:7.1f} s CPU "
                f"{r['bytes'] / 1e6 / r['wall']:6.1f} MB/s  {r['rows']:>11,} rows  "
                f"peak RSS {r['peak_rss_mb']:6.0f} MB",
                flush=True,
            )
        print(
            f"ratio  ours speed / floor speed = {floor['wall'] / ours['wall']:.2f} (wall), "
            f"{floor['cpu'] / ours['cpu']:.2f} (CPU); rejected {ours['rejected']:,}"
        )
        s = child("streams", args)
        print(
            f"streams full build          {s['full_build']:6.1f} s  "
            f"{s['rows_in_files']:,} rows in files -> {s['streams_rows']:,} plays"
        )
        print(
            f"new overlapping file        {s['new_file_ingest']:6.2f} s ingest, "
            f"{s['new_file_rows']:,} rows"
        )
        print(
            f"  incremental append        {s['incremental_append']:6.2f} s  "
            f"-> {s['streams_rows_after_append']:,} plays"
        )
        print(
            f"  full rebuild              {s['full_rebuild_with_new_file']:6.1f} s  "
            f"-> {s['streams_rows_after_rebuild']:,} plays"
        )
        print(f"streams peak RSS {s['peak_rss_mb']:.0f} MB")
    finally:
        if not keep:
            shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
