"""How long a run takes to reach its first step, against importing Dagster.

    .venv/bin/python bench/bench_run_start.py [--select core/landing_files] [--repeat 3]

Side by side in one run, alternating: ``python -c "import dagster"`` (the floor every Dagster
process pays), and ``dagster asset materialize -m spotify_assets.definitions --select ...``
on a throwaway ``DAGSTER_HOME`` and data folder, timed from the command's start to the
``STEP_START`` event in its output (what a run of a sensor or the UI pays before any work:
loading the code location, creating the run, starting the step). Prints wall seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def import_dagster() -> float:
    t0 = time.perf_counter()
    subprocess.run([PYTHON, "-c", "import dagster"], check=True)
    return time.perf_counter() - t0


def first_step(select: str, home: Path) -> float:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home / "dagster_home"),
        "SPOTIFY_DATA_DIR": str(home / "data"),
    }
    (home / "dagster_home").mkdir(parents=True, exist_ok=True)
    (home / "dagster_home" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    command = [
        str(ROOT / ".venv" / "bin" / "dagster"), "asset", "materialize",
        "-m", "spotify_assets.definitions", "--select", select,
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    reached = None
    for line in proc.stdout:  # type: ignore[union-attr]
        if reached is None and "STEP_START" in line:
            reached = time.perf_counter() - t0
    proc.wait()
    if reached is None:
        raise SystemExit(f"no STEP_START in the output of {' '.join(command)}")
    return reached


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--select", default="core/landing_files")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    floor, runs = [], []
    with tempfile.TemporaryDirectory(prefix="bench-run-start-") as tmp:
        for i in range(args.repeat):
            floor.append(import_dagster())
            runs.append(first_step(args.select, Path(tmp) / str(i)))
    print(f"{'':<58}{'best s':>8}{'median s':>10}")
    for label, values in (
        ("python -c 'import dagster'", floor),
        (f"dagster asset materialize {args.select}: first step", runs),
    ):
        values = sorted(values)
        print(f"{label:<58}{values[0]:>8.1f}{values[len(values) // 2]:>10.1f}")
    print(f"first step after import dagster + {sorted(runs)[0] - sorted(floor)[0]:.1f} s (best)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
