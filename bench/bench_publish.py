"""What publishing the warehouse costs a writing step: the same write with and without the
published copy (checkpoint, copy to a temp file, fsync, atomic rename), at a few warehouse
sizes, side by side.

    .venv/bin/python bench/bench_publish.py
    .venv/bin/python bench/bench_publish.py --rows 2000000 20000000

Each size: a warehouse holding one table of ``rows`` rows (about 16 bytes a row compressed),
then a small write (a 1,000-row table replaced) timed three times each way; the figure is the
median. The copy is of the whole file, so its cost grows with the warehouse, not the write.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from spotify_assets.resources.warehouse import published_path_for, warehouse_writer


class _Quiet:
    @staticmethod
    def info(_):
        pass

    warning = info


def timed_write(database: Path, published: str | None) -> float:
    started = time.perf_counter()
    with warehouse_writer(
        str(database), {}, wait_s=5, published=published, log=_Quiet, run_id=None, what="bench"
    ) as conn:
        conn.execute("create or replace table small as select range as x from range(1000)")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    print(f"{'rows':>12} {'file MB':>8} {'write s':>8} {'write+publish s':>16} {'extra s':>8}")
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
            database = Path(tmp) / "warehouse.duckdb"
            with duckdb.connect(str(database)) as conn:
                conn.execute(
                    f"create table big as select range as id, hash(range) as h from range({rows})"
                )
            published = str(published_path_for(database))
            plain = statistics.median(timed_write(database, None) for _ in range(3))
            with_copy = statistics.median(timed_write(database, published) for _ in range(3))
            size = database.stat().st_size / 1e6
            print(
                f"{rows:>12,} {size:>8.1f} {plain:>8.3f} {with_copy:>16.3f} "
                f"{with_copy - plain:>8.3f}"
            )


if __name__ == "__main__":
    main()
