"""A bench-scale DuckDB warehouse (the ``core`` tables of the ``bench`` sample world) built by
the project's real code, for the benchmarks that need one (marts on 10 million plays, the
popularity model on 200,000 tracks).

    .venv/bin/python bench/bench_warehouse.py [--out /tmp/bench_wh] [--history /tmp/bench_history]
        [--window 2026-01-01-00:00] [--skip-catalog] [--skip-listening] [--memory-limit 4GB]
        [--scale tiny]  (a smoke test: --history must then hold the tiny world's history)

Run it in the background (15-25 min on 2 shared cores):
    mkdir -p /tmp/bench_wh && nohup .venv/bin/python bench/bench_warehouse.py \
        > /tmp/bench_wh/build.log 2>&1 &

Needs the bench listening history (2,120 export files, 10 million plays) in ``--history``;
make it once as the docstring of ``bench/bench_ingest.py`` says.

Steps, each in its own process (so each peak RSS is its own), into ``--out``:

1. catalog: the real Dagster jobs of the ``catalog`` group (only that group is loaded, so
   another group's work in progress cannot break this build) on the sample Spotify resource
   at scale ``bench``, as ``make demo`` runs them (``SPOTIFY_SAMPLE_SCALE=bench``,
   ``SPOTIFY_DATA_DIR=<out>``, ``DAGSTER_HOME=<out>/dagster_home``): ``catalog_snapshot_job``
   for ONE 8-hour window (by default the latest closed one), then ``catalog_tables_job`` ->
   ``core.tracks``, ``core.albums``, ``core.artists``, ``core.artist_genres``,
   ``core.track_artists``, ``core.playlists``, ``core.playlist_tracks``.
2. listening: the Dagster-free code the ``listening`` assets call. ``lib.landing.ingest``
   for every landed file (the lake's landing zone is one hard link per export file into
   ``--history``), then what
   the ``streams_tables`` asset does (``lib.streams``): ``core.streams``,
   ``core.stream_sources``, ``core.listeners``, ``core.rejected_stream_records``, with the
   asset's duplicate and source-file checks.

Then every table's row count is printed and ``<out>/READY`` (a JSON summary) is written; a
stale READY is removed first, so READY means that this run succeeded. Resumable: a step
already built can be skipped (``--skip-catalog``, ``--skip-listening``), and the ingest skips
files whose bytes were processed already (it still reads them, to hash them). The out folder
holds the warehouse (``warehouse.duckdb``), the lake (``lake/``) and the Dagster instance;
running the catalog step again with another ``--window`` adds a window (the tables are built
from every window).
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
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CATALOG_TABLES = (
    "core.tracks",
    "core.albums",
    "core.artists",
    "core.artist_genres",
    "core.track_artists",
    "core.playlists",
    "core.playlist_tracks",
)
LISTENING_TABLES = (
    "core.streams",
    "core.stream_sources",
    "core.listeners",
    "core.rejected_stream_records",
)
LANDING = "landing/streaming_history"


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def configure(out: Path, memory_limit: str, scale: str) -> None:
    """The platform's settings for this build (``spotify_assets.settings``), set before any
    project import: resources read the environment when the definitions load. Variables
    that would point elsewhere (another lake, warehouse or playlist list) are dropped."""
    for name in (
        "SPOTIFY_LAKE_URL",
        "SPOTIFY_WAREHOUSE_PATH",
        "SPOTIFY_PLAYLIST_IDS",
        "SPOTIFY_SAMPLE_SEED",  # the bench history was written from seed 42, the default
        "SPOTIFY_API_MODE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ):
        os.environ.pop(name, None)
    home = out / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ.update(
        SPOTIFY_SOURCE="sample",
        SPOTIFY_SAMPLE_SCALE=scale,
        SPOTIFY_SAMPLE_APP_MODE="extended",
        SPOTIFY_DATA_DIR=str(out),
        SPOTIFY_DUCKDB_MEMORY_LIMIT=memory_limit,
        DAGSTER_HOME=str(home),
    )


def run_job(job, instance, **kwargs) -> dict[str, int]:
    """Execute one job in process; exit on a failed step. A failed asset check is printed
    and counted (the tables are written before their checks), as ``make demo`` does."""
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = job.execute_in_process(
        instance=instance, raise_on_error=False, run_config=quiet, **kwargs
    )
    errors = [
        e.event_specific_data.error
        for e in result.all_events
        if e.is_step_failure and e.event_specific_data and e.event_specific_data.error
    ]
    real = [e for e in errors if "DagsterAssetCheckFailedError" not in (e.cls_name or "")]
    if real or (not result.success and not errors):
        sys.exit(f"run {result.run_id} of {job.name} failed:\n" + "\n".join(map(str, real)))
    checks = {"passed": 0, "failed": 0}
    for event in result.get_asset_check_evaluations():
        checks["passed" if event.passed else "failed"] += 1
        if not event.passed:
            log(
                f"  CHECK FAILED {event.asset_key.to_user_string()} / {event.check_name} "
                f"({event.severity.value})"
            )
    return checks


def catalog_step(args: argparse.Namespace) -> dict:
    """One snapshot window and the catalog tables, through Dagster as in production."""
    import dagster as dg

    import spotify_assets.defs.catalog
    from spotify_assets.defs.catalog.assets import SNAPSHOT_PARTITIONS
    from spotify_assets.defs.environment import defs as resources

    # The catalog group's definitions (assets, checks, jobs) with the platform's resources and
    # executor, as ``spotify_assets.definitions`` loads them; not the whole code location, so
    # that another group's work in progress cannot stop this build.
    with warnings.catch_warnings():  # load_defs is deprecated; definitions.py still uses it
        warnings.simplefilter("ignore", DeprecationWarning)
        catalog = dg.load_defs(spotify_assets.defs.catalog, project_root=ROOT)
    defs = dg.Definitions.merge(
        catalog,
        resources,
        dg.Definitions(executor=dg.in_process_executor),
    )
    from spotify_assets.lib.sample.world import build_world

    timings: dict[str, float] = {}
    t = time.perf_counter()
    world = build_world(args.scale)  # cached per process: the resource's fake API reuses it
    timings["world"] = time.perf_counter() - t
    log(
        f"world {args.scale}: {len(world.tracks):,} tracks, {len(world.artists):,} artists, "
        f"{len(world.playlists):,} playlists in {timings['world']:.1f} s"
    )
    # The last key is the window still open (end_offset=1): take the latest closed one.
    window = args.window or SNAPSHOT_PARTITIONS.get_partition_keys()[-2]
    instance = dg.DagsterInstance.get()
    log(f"catalog_snapshot_job, window {window} ...")
    t = time.perf_counter()
    checks = run_job(defs.resolve_job_def("catalog_snapshot_job"), instance, partition_key=window)
    timings["snapshot_window"] = time.perf_counter() - t
    log(f"  done in {timings['snapshot_window']:.1f} s, peak RSS {peak_rss_mb():,.0f} MB")
    log("catalog_tables_job ...")
    t = time.perf_counter()
    more = run_job(defs.resolve_job_def("catalog_tables_job"), instance)
    timings["catalog_tables"] = time.perf_counter() - t
    log(f"  done in {timings['catalog_tables']:.1f} s, peak RSS {peak_rss_mb():,.0f} MB")
    return {
        "window": window,
        "timings": timings,
        "checks": {k: checks[k] + more[k] for k in checks},
    }


def link_landing(history: Path, lake_root: Path) -> list[str]:
    """The lake's landing zone as one hard link per export file (``<user>/<file>.json``), and
    their paths, sorted. Links, not copies: 6.5 GB need not be written twice (hard links are
    regular files; the landing zone never follows symbolic links)."""
    from spotify_assets_tests.support.landing import hard_link_or_copy

    keys = []
    for path in sorted(history.glob("*/*.json")):
        key = f"{path.parent.name}/{path.name}"
        link = lake_root / LANDING / key
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            hard_link_or_copy(path.resolve(), link)
        keys.append(key)
    return keys


def listening_step(args: argparse.Namespace) -> dict:
    """Ingest every landed file, then the ``streams_tables`` asset's work, without Dagster."""
    import duckdb

    from spotify_assets.lib.landing import ingest, processed_files
    from spotify_assets.lib.listening.history_zone import STREAMING_HISTORY_ZONE as ZONE
    from spotify_assets.lib.listening.streams import (
        build_listeners,
        build_rejected_records,
        build_streams,
        play_key_sql,
        resolve_account_data_tracks,
    )
    from spotify_assets.resources import LakeResource

    timings: dict[str, float] = {}
    lake = LakeResource(url=str(args.out / "lake"))
    store = lake.store()
    keys = link_landing(args.history, args.out / "lake")
    if not keys:
        sys.exit(f"no <user>/*.json export files under {args.history}")
    log(f"ingest: {len(keys):,} landed files from {args.history}")
    statuses: dict[str, int] = {}
    records = {"accepted": 0, "rejected": 0, "unchanged_files": 0}
    t = time.perf_counter()
    for n, key in enumerate(keys, start=1):
        info = ingest(store, ZONE, key)  # a file processed already is only hashed
        statuses[info["status"]] = statuses.get(info["status"], 0) + 1
        if info["status"] != "accepted":
            log(f"  {key}: {info['status']}: {info.get('reason')}")
        else:
            records["accepted"] += info["accepted"]
            records["rejected"] += info["rejected"]
            records["unchanged_files"] += bool(info.get("unchanged"))
        if n % 200 == 0 or n == len(keys):
            log(f"  {n:,}/{len(keys):,} files, {time.perf_counter() - t:.1f} s")
    timings["ingest"] = time.perf_counter() - t
    log(
        f"  ingest {timings['ingest']:.1f} s: files {statuses}, {records['accepted']:,} "
        f"records accepted, {records['rejected']:,} rejected, "
        f"{records['unchanged_files']:,} files unchanged since a previous run"
    )

    warehouse = args.out / "warehouse.duckdb"
    result: dict = {"files": statuses, "records": records}
    with (
        tempfile.TemporaryDirectory(prefix="streams-") as tmp,
        duckdb.connect(str(warehouse), config={"memory_limit": args.memory_limit}) as conn,
    ):
        files = processed_files(store, ZONE, Path(tmp))
        t = time.perf_counter()
        stats = build_streams(conn, files)
        timings["streams"] = time.perf_counter() - t
        log(
            f"core.streams: {stats.mode} build in {timings['streams']:.1f} s, "
            f"{stats.rows_read:,} rows read, {stats.duplicates:,} duplicates, "
            f"{stats.total_rows:,} plays"
        )
        t = time.perf_counter()
        resolved = resolve_account_data_tracks(conn)
        timings["resolve_account_data"] = time.perf_counter() - t
        t = time.perf_counter()
        build_listeners(conn)
        timings["listeners"] = time.perf_counter() - t
        t = time.perf_counter()
        build_rejected_records(conn, files)
        timings["rejected_records"] = time.perf_counter() - t
        # The asset's blocking checks on core.streams (same SQL as _streams_checks).
        t = time.perf_counter()
        dupes = conn.execute(
            f"select count(*) from (select {', '.join(play_key_sql())} from core.streams "
            "group by all having count(*) > 1)"
        ).fetchone()[0]
        unknown = conn.execute(
            "select count(distinct source_file) from core.streams "
            "where source_file not in (select source_file from core.stream_sources)"
        ).fetchone()[0]
        timings["checks"] = time.perf_counter() - t
    log(
        f"account-data rows resolved {resolved:,}; listeners {timings['listeners']:.1f} s, "
        f"rejected records {timings['rejected_records']:.1f} s, checks {timings['checks']:.1f} s"
    )
    if dupes or unknown:
        sys.exit(f"checks failed: {dupes:,} duplicate plays, {unknown:,} unknown source files")
    result.update(
        timings=timings,
        build=stats.mode,
        rows_read=stats.rows_read,
        duplicates=stats.duplicates,
        account_data_resolved=resolved,
    )
    return result


def run_step(name: str, args: argparse.Namespace) -> dict:
    """Run one step in a child process (output goes to ours); read back its summary."""
    summary = args.out / f".step_{name}.json"
    summary.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--step", name, "--out", str(args.out)]
    cmd += ["--history", str(args.history), "--memory-limit", args.memory_limit]
    cmd += ["--scale", args.scale]
    if args.window:
        cmd += ["--window", args.window]
    t = time.perf_counter()
    proc = subprocess.run(cmd, check=False)
    if proc.returncode or not summary.exists():
        sys.exit(f"step {name} failed (exit code {proc.returncode}): no READY")
    out = json.loads(summary.read_text())
    out["wall"] = time.perf_counter() - t
    summary.write_text(json.dumps(out))  # kept: a later run that skips this step reports it
    return out


def table_counts(warehouse: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() order by table_schema, table_name"
        ).fetchall()
        return {
            f"{s}.{t}": conn.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]
            for s, t in tables
        }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_wh"))
    parser.add_argument("--history", type=Path, default=Path("/tmp/bench_history"))
    parser.add_argument("--window", help="snapshot partition key (default: latest closed)")
    parser.add_argument("--skip-catalog", action="store_true", help="catalog already built")
    parser.add_argument("--skip-listening", action="store_true", help="listening already built")
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit")
    parser.add_argument(
        "--scale", default="bench", choices=["tiny", "demo", "bench"], help="for a smoke test"
    )
    parser.add_argument("--step", choices=["catalog", "listening"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out = args.out.resolve()

    if args.step:  # a child: configure, run, write the summary for the parent
        configure(args.out, args.memory_limit, args.scale)
        result = (catalog_step if args.step == "catalog" else listening_step)(args)
        result["peak_rss_mb"] = peak_rss_mb()
        (args.out / f".step_{args.step}.json").write_text(json.dumps(result))
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    ready = args.out / "READY"
    ready.unlink(missing_ok=True)
    if not args.skip_listening and not any(args.history.glob("*/*.json")):
        sys.exit(f"no export files under {args.history}: see bench/bench_ingest.py")
    started = time.perf_counter()
    steps = {}
    for name, skip in (("catalog", args.skip_catalog), ("listening", args.skip_listening)):
        if skip:
            earlier = args.out / f".step_{name}.json"
            if earlier.exists():
                steps[name] = {**json.loads(earlier.read_text()), "reused": True}
            log(f"step {name}: skipped (built {'earlier' if earlier.exists() else 'elsewhere'})")
            continue
        log(f"step {name} ...")
        steps[name] = run_step(name, args)
        log(
            f"step {name}: {steps[name]['wall']:.1f} s wall, "
            f"peak RSS {steps[name]['peak_rss_mb']:,.0f} MB"
        )

    warehouse = args.out / "warehouse.duckdb"
    if not warehouse.exists():
        sys.exit(f"no warehouse at {warehouse}: no READY")
    counts = table_counts(warehouse)
    print(f"\nwarehouse {warehouse} ({warehouse.stat().st_size / 1e9:.2f} GB):")
    for table, n in counts.items():
        print(f"  {table:<32} {n:>12,} rows")
    missing = [t for t in (*CATALOG_TABLES, *LISTENING_TABLES) if t not in counts]
    empty = [t for t in ("core.tracks", "core.artists", "core.streams") if counts.get(t) == 0]
    if missing or empty:
        sys.exit(f"incomplete warehouse (missing {missing}, empty {empty}): no READY")

    total = time.perf_counter() - started
    print("\ntimings (* = an earlier run's, step skipped now):")
    for name, step in steps.items():
        mark = "*" if step.get("reused") else " "
        for part, seconds in step["timings"].items():
            print(f" {mark}{name:<10} {part:<22} {seconds:8.1f} s")
        print(
            f" {mark}{name:<10} {'(step wall)':<22} {step.get('wall', float('nan')):8.1f} s   "
            f"peak RSS {step['peak_rss_mb']:,.0f} MB"
        )
    print(f"  this run {total:.1f} s")
    summary = {
        "warehouse": str(warehouse),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tables": counts,
        "steps": steps,
        "skipped": [
            n for n, s in (("catalog", args.skip_catalog), ("listening", args.skip_listening)) if s
        ],
        "total_seconds": round(total, 1),
    }
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(ready)
    log(f"READY: {ready}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
