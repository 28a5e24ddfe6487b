"""Orchestration overhead of runs launched the way the UI launches them.

    .venv/bin/python bench/bench_ui_run.py [--scale demo] [--windows 1]

Starts ``dagster dev`` on a free port with a throwaway instance and data folder, submits the
catalog jobs through the webserver's GraphQL API (what the Launch button does: the run
launcher starts a run worker process that loads the code location and executes the job with
its executor), waits for them, and prints, per run: the run's wall time (RUN_START to
RUN_SUCCESS), the sum of its steps' own durations, and the difference per asset. Also prints
the time from submission to RUN_START (run worker start-up), which is paid once per run.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from spotify_assets_tests.support.run_events import run_times

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--windows", type=int, default=1)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SPOTIFY_DATA_DIR": str(tmp / "data"),
        "SPOTIFY_SAMPLE_SCALE": args.scale,
    }
    os.environ.update(env)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from dagster import DagsterInstance, DagsterRunStatus
        from dagster_graphql import DagsterGraphQLClient

        from spotify_assets.defs.catalog.assets import SNAPSHOT_PARTITIONS

        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        deadline = time.time() + 180
        while True:  # the webserver answers /server_info once the code location is loaded
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                    client._get_repo_locations_and_names_with_pipeline("catalog_tables_job")
                    break
            except Exception as exc:  # noqa: BLE001 - not up yet
                if time.time() > deadline:
                    raise SystemExit(f"dagster dev did not come up: {exc}") from exc
            time.sleep(1)
        instance = DagsterInstance.get()
        submissions = []
        for key in SNAPSHOT_PARTITIONS.get_partition_keys()[-args.windows :]:
            submissions.append(("catalog_snapshot_job", {"dagster/partition": key}))
        submissions.append(("catalog_tables_job", {}))
        print(
            f"{'run':<34} {'submit->start':>13} {'run wall':>9} {'steps':>8} "
            f"{'assets':>6} {'overhead/asset':>15}"
        )
        for job, tags in submissions:
            submitted = time.time()
            run_id = client.submit_job_execution(job, tags=tags)
            while client.get_run_status(run_id) not in (
                DagsterRunStatus.SUCCESS,
                DagsterRunStatus.FAILURE,
                DagsterRunStatus.CANCELED,
            ):
                time.sleep(0.5)
            status = client.get_run_status(run_id)
            if status != DagsterRunStatus.SUCCESS:
                raise SystemExit(f"{job} {tags} ended {status}; see {home}")
            times = run_times(instance, run_id)
            wall, total, start, assets = times.wall, times.step_total, times.start, times.assets
            label = f"{job} {tags.get('dagster/partition', '')}".strip()
            print(
                f"{label:<34} {start - submitted:>12.2f}s {wall:>8.2f}s {total:>7.2f}s "
                f"{len(assets):>6} {(wall - total) / max(len(assets), 1) * 1000:>12.0f} ms"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
