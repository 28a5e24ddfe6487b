"""The bench scripts docs/PERFORMANCE.md quotes still run: each at a tiny size, as a
subprocess, with its printed figures checked for shape (the figures themselves are not
asserted: timing is measured, never tested)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the benches as subprocesses

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_bench_ingest_and_warehouse_run_on_the_tiny_world(tiny_world, tmp_path):
    from spotify_assets.lib.sample.world.history import write_streaming_history

    write_streaming_history(tiny_world, tmp_path / "history")
    out = run("bench/bench_ingest.py", "--files", str(tmp_path / "history"), "--out",
              str(tmp_path / "ingest"))  # fmt: skip
    assert "ratio  ours speed / floor speed" in out and "streams full build" in out
    out = run("bench/bench_warehouse.py", "--out", str(tmp_path / "wh"), "--history",
              str(tmp_path / "history"), "--scale", "tiny")  # fmt: skip
    assert (tmp_path / "wh" / "READY").is_file()


def test_bench_charts_runs_on_a_few_files():
    out = run("bench/bench_charts.py", "--regions", "2", "--days", "2", "--rows", "20")
    assert "ratio ours/reference" in out and "ROW COUNTS DIFFER" not in out


def test_bench_charts_file_runs_on_a_small_file(tmp_path):
    out = run("bench/bench_charts_file.py", "--rows", "3000", "--rounds", "1", "--dir",
              str(tmp_path))  # fmt: skip
    assert "round 1: ratio ours/reference" in out and "ROW COUNTS DIFFER" not in out
    assert "core.chart_entries from it" in out and list(tmp_path.iterdir()) == []


def test_bench_model_runs_on_the_tiny_world():
    out = run("bench/bench_model.py", "--world", "tiny")
    assert "world warehouse" in out and "model_version" in out


def test_bench_lakehouse_runs_on_a_few_plays(tmp_path):
    out = run("bench/bench_lakehouse.py", "--plays", "20000", "--users", "50", "--repeat", "1",
              "--data", str(tmp_path / "data"))  # fmt: skip
    assert "lakehouse / file, CPU (best vs best)" in out
