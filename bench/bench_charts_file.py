"""Kaggle's all-in-one chart file (``charts.csv``) through the charts zone against DuckDB's CSV
reader, each run in a fresh process (its own peak memory).

    .venv/bin/python bench/bench_charts_file.py [--rows 26000000] [--dir /tmp] [--rounds 2]

The default is the real file's size: 26 million rows, about 3.5 GB (``--rows`` for smaller
runs). The file is generated in the file's shape with DuckDB's ``COPY`` from a query (about 25
s at full size): its header, every region of spotifycharts.com by name, each region's day as
the top 200 then the viral 50 (empty streams), names with commas quoted as pandas writes them,
about 137 bytes a row. Then, alternately (reference, ours, reference, ours...):

- reference: DuckDB ``read_csv`` of the file into a table (in memory), the simplest fast thing
  (no checks, no record of the file, no lake);
- ours: the charts zone's ingest of the landed file (``lib.landing.ingest_many``: the file
  streamed through the checks into Parquet, rejected rows, manifest), the ``raw/chart_files``
  step without Dagster;
- and ``core.chart_entries`` built from it into a warehouse file (``build_chart_entries``,
  DuckDB with the warehouse's memory limit), the ``core/chart_entries`` step, once at the end.

Each line gives wall and CPU seconds of the work (the interpreter's start and imports left out
on both sides; pandas is imported first in ours, as in a Dagster process), the process's peak
RSS, and the load averages before and after (the machine is shared: say the load with the
figures). Targets: ours at most 2x the reference's wall, under 1 GB.
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
#: The file's name in the lake: landing/charts/<it>.
LANDED = "kaggle/charts.csv"


def generate(path: Path, rows: int) -> None:
    """A file of the Kaggle file's shape: 250 rows per region and day (top 200, viral 50)."""
    import duckdb

    from spotify_assets.lib.spotify_charts.regions import CHART_REGIONS

    names = list(CHART_REGIONS)
    regions = "[" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + "]"
    n = len(names)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect()
    conn.execute(
        f"""
copy (
  with base as (
    select i // 250 as chart_day, i % 250 as k, hash(i) as h from range({rows}) t(i)
  ), picked as (
    -- the same track at the same place for a week, as charts go
    select *, (hash(chart_day % {n}, (chart_day // {n}) // 7, k) % 300000)::bigint as track
      from base
  )
  select
    case when track % 17 = 0 then 'Song ' || track || ', Part 2'
         when track % 23 = 0 then 'Say "' || track || '" (feat. Someone)'
         when track % 7 = 0 then 'Reggaetón Lento ' || track
         else 'Track Number ' || track end as title,
    case when k < 200 then k + 1 else k - 199 end as rank,
    date '2017-01-01' + (chart_day // {n})::integer as date,
    case when track % 3 = 0 then 'Artist ' || (track % 9000) || ', Guest ' || (track % 400)
         else 'Artist ' || (track % 9000) end as artist,
    'https://open.spotify.com/track/' || substr(md5(track::varchar), 1, 22) as url,
    {regions}[(chart_day % {n})::bigint + 1] as region,
    case when k < 200 then 'top200' else 'viral50' end as chart,
    ['SAME_POSITION', 'MOVE_UP', 'MOVE_DOWN', 'NEW_ENTRY'][(h % 4)::bigint + 1] as trend,
    case when k < 200 then 3000000 // (k + 1) + (h % 5000)::bigint end as streams
  from picked
) to '{path}' (header, delimiter ',')
"""
    )
    conn.close()


# --------------------------------------------------------------------------------------------
# The children: one measured step each, in a fresh process
# --------------------------------------------------------------------------------------------


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child_reference(lake: Path) -> dict:
    import duckdb

    path = lake / "landing" / "charts" / LANDED
    t0, c0 = time.perf_counter(), _cpu()
    conn = duckdb.connect()
    conn.execute("create table entries as select * from read_csv(?)", [str(path)])
    (rows,) = conn.execute("select count(*) from entries").fetchone()
    conn.close()
    return {"wall": time.perf_counter() - t0, "cpu": _cpu() - c0, "rows": int(rows)}


def child_ingest(lake: Path) -> dict:
    import pandas  # noqa: F401 - loaded in a Dagster process; pyarrow.compute loads it
    import pyarrow.compute  # noqa: F401

    from spotify_assets.lib.lake import LocalLakeStore
    from spotify_assets.lib.landing import ingest_many
    from spotify_assets.lib.spotify_charts.chart_zone import CHARTS_ZONE

    store = LocalLakeStore(lake)
    t0, c0 = time.perf_counter(), _cpu()
    info = ingest_many(store, CHARTS_ZONE, [LANDED], reprocess=True)[LANDED]
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    assert info["status"] == "accepted", info
    return {"wall": wall, "cpu": cpu, "rows": int(info["accepted"]), "rejected": info["rejected"]}


def child_build(lake: Path) -> dict:
    import duckdb

    from spotify_assets.lib.lake import LocalLakeStore
    from spotify_assets.lib.landing import processed_files
    from spotify_assets.lib.spotify_charts.chart_entries import build_chart_entries
    from spotify_assets.lib.spotify_charts.chart_zone import CHARTS_ZONE
    from spotify_assets.settings import load_settings

    database = lake.parent / "warehouse.duckdb"
    for stale in lake.parent.glob("warehouse.duckdb*"):
        stale.unlink()
    t0, c0 = time.perf_counter(), _cpu()
    with tempfile.TemporaryDirectory(dir=lake.parent) as work:
        files = processed_files(LocalLakeStore(lake), CHARTS_ZONE, Path(work))
        # The warehouse's memory limit, as the platform connects (SPOTIFY_DUCKDB_MEMORY_LIMIT).
        limit = load_settings().duckdb_memory_limit
        conn = duckdb.connect(str(database), config={"memory_limit": limit})
        rows = build_chart_entries(conn, files)
        conn.close()
    return {"wall": time.perf_counter() - t0, "cpu": _cpu() - c0, "rows": int(rows)}


CHILDREN = {"reference": child_reference, "ingest": child_ingest, "build": child_build}


def run_child(step: str, lake: Path) -> dict:
    """One step in a fresh process: its figures, its peak RSS and the load around it."""
    before = os.getloadavg()
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, "--lake", str(lake)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{step} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "load": (before, os.getloadavg())}


# --------------------------------------------------------------------------------------------
# The parent
# --------------------------------------------------------------------------------------------


def _line(label: str, f: dict) -> str:
    (b1, b5, _), (a1, a5, _) = f["load"]
    return (
        f"{label:<44}{f['wall']:>8.1f}{f['cpu']:>8.1f}{f['rss_mb']:>9,.0f}{f['rows']:>12,}"
        f"   {b1:.1f}/{b5:.1f} -> {a1:.1f}/{a5:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=26_000_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--rounds", type=int, default=2, help="reference-ours pairs")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        figures = CHILDREN[args.child](args.lake)
        figures["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return 0

    sys.path.insert(0, str(ROOT))
    base = Path(tempfile.mkdtemp(prefix="bench-charts-file-", dir=args.dir))
    lake = base / "lake"
    try:
        csv = lake / "landing" / "charts" / LANDED
        t0 = time.perf_counter()
        generate(csv, args.rows)
        size = csv.stat().st_size
        print(
            f"{args.rows:,} rows, {size / 2**30:.2f} GiB ({size / max(args.rows, 1):.0f} bytes "
            f"a row) generated in {time.perf_counter() - t0:.1f} s; free in {args.dir}: "
            f"{shutil.disk_usage(args.dir).free / 2**30:.0f} GiB; {os.cpu_count()} CPUs"
        )
        print(
            f"{'':<44}{'wall s':>8}{'cpu s':>8}{'peak MB':>9}{'rows':>12}"
            "   load 1/5 min before -> after"
        )
        pairs = []
        for n in range(1, args.rounds + 1):
            ref = run_child("reference", lake)
            print(_line(f"reference {n}: DuckDB read_csv into a table", ref), flush=True)
            ours = run_child("ingest", lake)
            print(_line(f"ours {n}: charts zone ingest (streamed)", ours), flush=True)
            pairs.append((ref, ours))
            if ours["rows"] + ours["rejected"] != ref["rows"]:
                print(f"ROW COUNTS DIFFER: reference {ref['rows']:,}, ours {ours['rows']:,}")
                return 1
        build = run_child("build", lake)
        print(_line("ours: core.chart_entries from it (once)", build), flush=True)
        for n, (ref, ours) in enumerate(pairs, start=1):
            print(
                f"round {n}: ratio ours/reference: wall {ours['wall'] / ref['wall']:.2f}x, "
                f"cpu {ours['cpu'] / ref['cpu']:.2f}x; with core.chart_entries: wall "
                f"{(ours['wall'] + build['wall']) / ref['wall']:.2f}x; peak memory ours "
                f"{ours['rss_mb']:,.0f} MB, reference {ref['rss_mb']:,.0f} MB"
            )
        if args.keep:
            print(f"kept: {csv}")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
