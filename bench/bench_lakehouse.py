"""The engagement marts step in lakehouse mode against file mode, side by side in one run:
the platform's whole ``engagement_marts`` step (every engagement mart, its checks, metadata,
headlines and charts, through ``dg.materialize``, DuckDB ``memory_limit`` 2GB) on the same
synthetic ``core.streams``, once with the DuckDB file (``WarehouseResource``, its published
copy included, as file mode runs) and once with the lakehouse (``LakehouseWarehouseResource``:
the step's own DuckDB over the Iceberg tables, its marts committed; a SQLite catalog and a local
warehouse folder). Prints CPU seconds, wall seconds and peak RSS of each, and the
lakehouse/file ratio. Target (issue 23): at most 1.5x the file mode's CPU.

    .venv/bin/python bench/bench_lakehouse.py --plays 10000000 [--users 3000] [--repeat 2]
        [--data PATH]

The data (``spotify_assets_tests/support/synthetic.py``) is made once, as a DuckDB file and
as the same tables in a lakehouse, under ``--data`` (reused by later runs) or a temp folder.
Each run is a fresh process; the sides alternate which goes first; the lakehouse's marts are
dropped before each of its runs, as the file side starts from a copy without them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MEMORY_LIMIT = "2GB"


def peak_rss_mb() -> float:
    """VmHWM: ru_maxrss of a child keeps its parent's high-water mark after fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    return time.process_time()


def catalog_config(data: Path):
    from spotify_assets.lib.lakehouse import CatalogConfig

    return CatalogConfig(
        name="bench",
        uri=f"sqlite:///{data / 'lakehouse' / 'catalog.db'}",
        warehouse=(data / "lakehouse" / "warehouse").as_uri(),
    )


def make_data(data: Path, plays: int, users: int) -> Path:
    """The synthetic warehouse as a DuckDB file and as a lakehouse, once."""
    import duckdb

    from spotify_assets.lib.lakehouse import open_catalog, open_session
    from spotify_assets_tests.support.synthetic import synthetic_streams

    db = data / "warehouse.duckdb"
    if db.exists():
        return db
    data.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = data / "warehouse.duckdb.tmp"
    with duckdb.connect(str(tmp)) as conn:
        synthetic_streams(conn, users, plays)
        # Every table the synthetic warehouse has, whatever the marts read.
        tables = [
            f"{schema}.{name}"
            for schema, name in conn.execute(
                "select schema_name, table_name from duckdb_tables() order by all"
            ).fetchall()
        ]
    catalog = open_catalog(catalog_config(data))
    with open_session(catalog, outputs=tables, config={"memory_limit": "8GB"}) as session:
        session.conn.execute(f"attach '{tmp}' as src (read_only)")
        for table in tables:
            session.conn.execute(f"create or replace table {table} as from src.{table}")
        session.conn.execute("detach src")
        session.commit("bench-data")
    tmp.rename(db)
    print(f"data made in {time.perf_counter() - started:.0f} s: {db}, {data / 'lakehouse'}")
    return db


def run_file(db: Path) -> dict:
    import dagster as dg

    from spotify_assets.defs.marts.assets import ENGAGEMENT_MART_KEYS, engagement_marts
    from spotify_assets.resources.warehouse import WarehouseResource, published_path_for

    warehouse = WarehouseResource(
        database=str(db),
        connection_config={"memory_limit": MEMORY_LIMIT},
        published_warehouse_path=str(published_path_for(db)),
    )
    return _materialize(dg, engagement_marts, ENGAGEMENT_MART_KEYS, warehouse)


def run_lakehouse(data: Path) -> dict:
    import dagster as dg

    from spotify_assets.defs.marts.assets import ENGAGEMENT_MART_KEYS, engagement_marts
    from spotify_assets.resources.lakehouse import LakehouseCatalog, LakehouseWarehouseResource

    config = catalog_config(data)
    catalog = LakehouseCatalog(
        iceberg_catalog_name=config.name,
        iceberg_catalog_uri=config.uri,
        iceberg_warehouse=config.warehouse,
    )
    warehouse = LakehouseWarehouseResource(
        lakehouse=catalog, connection_config={"memory_limit": MEMORY_LIMIT}
    )
    return _materialize(dg, engagement_marts, ENGAGEMENT_MART_KEYS, warehouse)


def _materialize(dg, assets, keys, warehouse) -> dict:
    t0, c0 = time.perf_counter(), cpu_seconds()
    result = dg.materialize(
        [assets],
        resources={"warehouse": warehouse},
        instance=dg.DagsterInstance.ephemeral(),
        selection=keys,
    )
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    if not result.success:
        raise SystemExit("materialize failed")
    return {"wall": wall, "cpu": cpu}


def drop_marts(data: Path) -> None:
    from spotify_assets.lib.lakehouse import open_catalog, table_names

    catalog = open_catalog(catalog_config(data))
    for name in table_names(catalog, ("marts",)):
        catalog.purge_table(name)


def run_side(side: str, db: Path, data: Path, tmp: Path, run: int) -> dict:
    """One side in a fresh process: the file side on a copy of the DuckDB file."""
    folder = tmp / f"{side}-{run}"
    folder.mkdir()
    target = folder / "warehouse.duckdb"
    if side == "file":
        shutil.copyfile(db, target)
    else:
        drop_marts(data)
    out, log = folder / "result.json", folder / "side.log"
    cmd = [sys.executable, __file__, "--side", side, "--db", str(target), "--data", str(data)]
    with log.open("w") as f:
        proc = subprocess.run(
            [*cmd, "--result", str(out)],
            stdout=f,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
        )
    if proc.returncode or not out.exists():
        sys.stderr.write(log.read_text()[-5000:])
        sys.exit(f"{side} failed (exit code {proc.returncode}); log: {log}")
    if side == "file":
        shutil.rmtree(folder / "published", ignore_errors=True)
        target.unlink()
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plays", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--data", type=Path, help="keep the data here (made once, then reused)")
    parser.add_argument("--side", choices=["file", "lakehouse"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:  # a child: one side, figures to --result
        result = run_file(args.db) if args.side == "file" else run_lakehouse(args.data)
        result["peak_rss_mb"] = peak_rss_mb()
        args.result.write_text(json.dumps(result))
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="bench-lakehouse-"))
    try:
        data = args.data or tmp / "data"
        db = make_data(data, args.plays, args.users)
        print(f"data: {args.plays:,} synthetic plays, {args.users:,} users ({data})")
        runs: dict[str, list[dict]] = {"file": [], "lakehouse": []}
        for r in range(args.repeat):
            for side in ("file", "lakehouse") if r % 2 == 0 else ("lakehouse", "file"):
                out = run_side(side, db, data, tmp, r)
                runs[side].append(out)
                print(
                    f"run {r + 1} {side:<9} {out['cpu']:7.1f} s CPU, {out['wall']:7.1f} s wall, "
                    f"peak RSS {out['peak_rss_mb']:,.0f} MB",
                    flush=True,
                )
        report(runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def report(runs: dict[str, list[dict]]) -> None:
    best = {side: min(runs[side], key=lambda r: r["cpu"]) for side in runs}
    peak = {side: max(r["peak_rss_mb"] for r in runs[side]) for side in runs}
    print(f"\n{'engagement_marts step':<24} {'CPU s':>8} {'wall s':>8} {'peak RSS MB':>12}")
    for side in ("file", "lakehouse"):
        b = best[side]
        print(f"{side:<24} {b['cpu']:8.1f} {b['wall']:8.1f} {peak[side]:12,.0f}")
    ratio = best["lakehouse"]["cpu"] / best["file"]["cpu"]
    print(
        f"\nlakehouse / file, CPU (best vs best): {ratio:.2f} "
        f"({'within' if ratio <= 1.5 else 'OVER'} the 1.5x target); wall "
        f"{best['lakehouse']['wall'] / best['file']['wall']:.2f}; peak RSS "
        f"{peak['lakehouse'] / peak['file']:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
