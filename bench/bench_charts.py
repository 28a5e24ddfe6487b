"""Chart CSV ingestion through the landed-file mechanism against DuckDB's CSV reader.

    .venv/bin/python bench/bench_charts.py [--regions 70] [--days 36] [--rows 200]

The issue's full size is a year of daily charts for 70 regions (25,550 files, about 5 million
rows): ``--days 365``. The default (70 regions x 36 days, 2,520 files, 504,000 rows) is a
tenth of it and takes about a minute.

- reference: one DuckDB process reads every CSV into one table
  (``read_csv([...])``; the files share one header), the simplest fast thing (no validation, no
  per-file record, no lake);
- ours: what ``raw/chart_files`` and ``core/chart_entries`` do, without Dagster's
  orchestration: per file ``lib.landing.ingest`` (read from the lake, parse and validate,
  Parquet rows, rejects and a manifest written to the lake), then
  ``build_chart_entries`` over every Parquet.

Both sides run in the same process, alternately on the same machine (reference, ours,
reference, ours: the first reference run also warms the page cache for the first of ours), and
print wall and CPU seconds and rows of each run, and the ratio (ours / reference) of each
round. Files are charts.spotify.com daily CSVs (BOM, quoted numbers, multi-artist names with
commas), 200 ranks each. Kaggle's all-in-one file has its own bench: bench_charts_file.py.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HEADER = "rank,uri,artist_names,track_name,source,peak_rank,previous_rank,days_on_chart,streams"


def write_files(lake_root: Path, regions: int, days: int, rows: int) -> list[str]:
    """Chart CSVs into the lake's landing zone; returns their partition keys."""
    import random

    rng = random.Random(7)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij0123"
    # As real charts: a few thousand tracks, each region's chart mostly the same from one day
    # to the next (a track stays for weeks), a new one now and then.
    pool = ["".join(rng.choice(alphabet) for _ in range(22)) for _ in range(max(rows * 15, 1))]
    names = [f"{c}{d}" for c in "abcdefghij" for d in "klmnopqrst"][:regions]
    start = date(2025, 1, 1)
    keys = []
    for region in names:
        chart = rng.sample(range(len(pool)), rows)
        for d in range(days):
            day = start + timedelta(days=d)
            for _ in range(max(rows // 20, 1)):  # about 5% of the chart changes a day
                new = rng.randrange(len(pool))
                if new not in chart:
                    chart[rng.randrange(rows)] = new
            i = rng.randrange(rows - 1) if rows > 1 else 0
            chart[i], chart[i + 1] = chart[i + 1], chart[i]
            lines = [HEADER]
            for rank, track in enumerate(chart, start=1):
                lines.append(
                    f'{rank},spotify:track:{pool[track]},"Artist {track % 997}, Guest '
                    f'{track % 13}",Song {track},Label,{rank},{rank + 1},{d + 1},'
                    f'"{1_000_000 // rank}"'
                )
            key = f"regional-{region}-daily-{day:%Y-%m-%d}.csv"
            path = lake_root / "landing" / "charts" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode())
            keys.append(key)
    return keys


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def reference(lake_root: Path, keys: list[str]) -> tuple[float, float, int]:
    import duckdb

    paths = [str(lake_root / "landing" / "charts" / k) for k in keys]
    t0, c0 = time.perf_counter(), cpu()
    conn = duckdb.connect()
    conn.execute(
        "create table entries as select * from read_csv(?, filename = true)",
        [paths],
    )
    (n,) = conn.execute("select count(*) from entries").fetchone()
    conn.close()
    return time.perf_counter() - t0, cpu() - c0, int(n)


def ours(lake_root: Path, keys: list[str], work: Path) -> tuple[float, float, int]:
    import duckdb
    import pandas  # noqa: F401 - loaded in a Dagster process; pyarrow.compute loads it
    import pyarrow.compute  # noqa: F401

    from spotify_assets.lib.lake import LocalLakeStore
    from spotify_assets.lib.landing import ingest_many, processed_files
    from spotify_assets.lib.spotify_charts.chart_entries import build_chart_entries
    from spotify_assets.lib.spotify_charts.chart_zone import CHARTS_ZONE

    store = LocalLakeStore(lake_root)
    t0, c0 = time.perf_counter(), cpu()
    step = CHARTS_ZONE.files_per_chunk  # what a run of raw/chart_files does
    for start in range(0, len(keys), step):
        infos = ingest_many(store, CHARTS_ZONE, keys[start : start + step], reprocess=True)
        assert all(i["status"] == "accepted" for i in infos.values())
    files = processed_files(store, CHARTS_ZONE, work)
    conn = duckdb.connect()
    n = build_chart_entries(conn, files)
    conn.close()
    return time.perf_counter() - t0, cpu() - c0, int(n)


def through_dagster(lake_root: Path, keys: list[str], home: Path) -> tuple[float, float, int]:
    """The first ``len(keys)`` files through ``raw/chart_files`` as a real run: one batch of
    them (what the charts sensor writes), then ``dg.materialize`` of its partition on a SQLite
    instance (what ``make dev`` uses, with its consolidated event log). Returns wall s, CPU s
    and events written."""
    from datetime import UTC, datetime

    import dagster as dg

    from spotify_assets.defs.charts.zone import CHARTS
    from spotify_assets.lib.landing import new_batch_id, write_batch
    from spotify_assets.lib.landing.scan import LandedFile
    from spotify_assets.resources import LakeResource

    lake = LakeResource(url=str(lake_root), ingest_batch_files=len(keys))
    home.mkdir(parents=True, exist_ok=True)
    # The event log as dagster.yaml configures it for make dev: one SQLite database.
    storage = {
        "module": "dagster._core.storage.event_log",
        "class": "ConsolidatedSqliteEventLogStorage",
        "config": {"base_dir": str(home)},
    }
    with dg.instance_for_test(
        temp_dir=str(home), overrides={"event_log_storage": storage}
    ) as instance:
        store = lake.store()
        now = datetime.now(UTC)
        batch = new_batch_id(now)
        landed = {o.key: o for o in store.list(CHARTS.zone.landing_prefix)}
        files = [landed[CHARTS.zone.landing_prefix + k] for k in sorted(keys)]
        write_batch(
            store,
            CHARTS.zone,
            batch,
            [LandedFile(o.key, o.key[len(CHARTS.zone.landing_prefix) :], o.etag, o.size, now)
             for o in files],
        )  # fmt: skip
        instance.add_dynamic_partitions(CHARTS.partitions.name, [batch])
        t0, c0 = time.perf_counter(), cpu()
        result = dg.materialize(
            [CHARTS.asset],
            instance=instance,
            resources={"lake": lake},
            partition_key=batch,
            run_config={"ops": {"raw__chart_files": {"config": {"reprocess": True}}}},
        )
        wall, cpu_s = time.perf_counter() - t0, cpu() - c0
        assert result.success
        events = len(instance.all_logs(result.run_id))
    return wall, cpu_s, events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", type=int, default=70)
    parser.add_argument("--days", type=int, default=36)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument(
        "--dagster",
        type=int,
        default=0,
        metavar="N",
        help="also run the first N files through raw/chart_files as one Dagster run on a "
        "SQLite instance, and print what orchestration adds per file",
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # DuckDB opens many at once
    with tempfile.TemporaryDirectory(prefix="bench-charts-") as tmp:
        root = Path(tmp) / "lake"
        t0 = time.perf_counter()
        keys = write_files(root, args.regions, args.days, args.rows)
        print(f"{len(keys):,} files x {args.rows} rows written in {time.perf_counter() - t0:.1f} s")
        print(f"{'':<38}{'wall s':>9}{'cpu s':>9}{'rows':>12}{'files/s':>10}")
        rounds = []
        for n in (1, 2):  # alternately: reference, ours, reference, ours
            ref = reference(root, keys)
            mine = ours(root, keys, Path(tmp) / f"work{n}")
            rounds.append((ref, mine))
            for label, (wall, cpu_s, rows) in (
                (f"reference {n}: DuckDB read_csv, 1 table", ref),
                (f"ours {n}: ingest per file + entries", mine),
            ):
                print(f"{label:<38}{wall:>9.1f}{cpu_s:>9.1f}{rows:>12,}{len(keys) / wall:>10.0f}")
            if ref[2] != mine[2]:
                print(f"ROW COUNTS DIFFER: reference {ref[2]:,}, ours {mine[2]:,}")
                return 1
        for n, (ref, mine) in enumerate(rounds, start=1):
            print(
                f"round {n}: ratio ours/reference: wall {mine[0] / ref[0]:.1f}x, "
                f"cpu {mine[1] / ref[1]:.1f}x"
            )
        if args.dagster:
            some = keys[: args.dagster]
            wall, cpu_s, events = through_dagster(root, some, Path(tmp) / "dagster_home")
            per_file = min(m[0] for _, m in rounds) / len(keys) * 1000
            print(
                f"through Dagster, {len(some):,} files in one run: {wall:.1f} s wall, "
                f"{cpu_s:.1f} CPU s, {events:,} events: {wall / len(some) * 1000:.1f} ms per "
                f"file against {per_file:.2f} ms per file for the ingest itself (above)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
