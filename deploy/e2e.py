"""`make e2e`: the production path on one machine, end to end, in lakehouse mode.

Started as processes of their own, each with its own working folder and data folder (as
separate machines would have: nothing is shared but PostgreSQL and S3): PostgreSQL (Debian's
packages, installed when missing) holding Dagster's storage and the Iceberg catalog; S3
(moto's server) holding the lake, the lakehouse's tables and Dagster's compute logs
(dagster-aws); the gRPC code server (its run workers), ``dagster-daemon`` and
``dagster-webserver`` on ``deploy/dagster.yaml`` and ``deploy/workspace.yaml``; and a reader
(``deploy/e2e_reader.py``) that knows only the catalog's address and the bucket. The platform
runs in the deployment image's environment (``.venv-deploy``: no dev tools, the ``deploy``
extra), which ``make e2e`` builds.

The scenario: two snapshot windows run at once (both commit ``core.playlist_tracks``), then
the catalog tables, while automation builds what they feed in runs of its own; listening
history exports land in S3, and the platform's own sensor and declarative automation carry
them into ``core.streams`` and the marts; ``dashboard_job`` draws the dashboard into S3. It
asserts that no run failed, that runs ran at the same time, that every read the reader made
while runs committed showed whole runs (and ended on the last one), that the compute logs are
in S3; then stops everything it started. Nothing listens beyond 127.0.0.1. Exit code 0 when
every assertion held.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# deploy/ is not a package; the project is imported from this checkout
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from e2e_platform import (  # noqa: E402 - deploy/ is not a package
    LOCATION,
    PLATFORM_BIN,
    ROOT,
    GraphQL,
    MotoS3,
    Postgres,
    Processes,
    free_port,
    run_scenario,
    say,
    start_code_server,
    wait_for,
    wait_for_marts_after_streams,
)

BUCKET = "spotify-e2e"
LAKE = f"s3://{BUCKET}/lake"
WAREHOUSE = f"{LAKE}/lakehouse"


class Lakehouse:
    """The catalog and bucket, seen from this driver (which checks what the platform did)."""

    def __init__(self, postgres: Postgres, s3: MotoS3) -> None:
        from spotify_assets.lib.lakehouse import CatalogConfig, open_catalog

        self.config = CatalogConfig(
            name="spotify_assets",
            uri=postgres.uri("iceberg"),
            warehouse=WAREHOUSE,
            s3_endpoint=s3.endpoint,
            s3_region="us-east-1",
        )
        self.catalog = open_catalog(self.config)

    def query(self, sql: str) -> list[tuple]:
        """``sql`` over every table as of the last published run ([] before one exists)."""
        import duckdb

        from spotify_assets.lib.lakehouse import attach_published

        conn = duckdb.connect()
        attach_published(conn, self.catalog, properties=self.config.properties())
        try:
            return conn.execute(sql).fetchall()
        except duckdb.CatalogException:
            return []


def platform_env(work: Path, name: str, postgres: Postgres, s3: MotoS3) -> tuple[dict, Path]:
    """The environment and working folder of one platform process: its own DAGSTER_HOME (a
    copy of deploy/dagster.yaml) and data folder; the lake, the tables and the compute logs
    in S3; the catalog's URI, with its password, as a secret would come."""
    folder = work / name
    (folder / "dagster_home").mkdir(parents=True)
    shutil.copyfile(ROOT / "deploy" / "dagster.yaml", folder / "dagster_home" / "dagster.yaml")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DAGSTER_"))},
        **postgres.env(),
        **s3.env(),
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "SPOTIFY_DATA_DIR": str(folder / "data"),
        "SPOTIFY_SAMPLE_SCALE": "tiny",
        "SPOTIFY_LAKE_URL": LAKE,
        "SPOTIFY_WAREHOUSE_MODE": "lakehouse",
        "SPOTIFY_ICEBERG_CATALOG_URI": postgres.uri("iceberg"),
        "SPOTIFY_COMPUTE_LOGS_BUCKET": BUCKET,
        "PYTHONPATH": str(ROOT),
        "PATH": f"{PLATFORM_BIN}:{os.environ.get('PATH', '')}",
    }
    return env, folder


def start_platform(work: Path, postgres: Postgres, s3: MotoS3, processes: Processes) -> GraphQL:
    """The code server, the daemon and the webserver, each from its own folder; returns the
    webserver's GraphQL once the code location is loaded."""
    code_port, web_port = free_port(), free_port()
    workspace = (ROOT / "deploy" / "workspace.yaml").read_text()
    workspace = workspace.replace("host: localhost", "host: 127.0.0.1").replace(
        "port: 4266", f"port: {code_port}"
    )
    (work / "workspace.yaml").write_text(workspace)
    ws = str(work / "workspace.yaml")
    env, folder = platform_env(work, "code-server", postgres, s3)
    env["SPOTIFY_UI_URL"] = f"http://127.0.0.1:{web_port}"
    start_code_server(processes, env, folder, code_port)
    env, folder = platform_env(work, "daemon", postgres, s3)
    processes.start("daemon", [str(PLATFORM_BIN / "dagster-daemon"), "run", "-w", ws], env, folder)
    env, folder = platform_env(work, "webserver", postgres, s3)
    web = [str(PLATFORM_BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port)]
    processes.start("webserver", [*web, "-w", ws], env, folder)
    gql = GraphQL(web_port)
    wait_for("the webserver", lambda: processes.check_alive() or gql.answers(), interval=2)
    wait_for("the code location", gql.location_loaded, interval=2)
    say(f"GraphQL answers at {gql.url}; code location {LOCATION} loaded")
    return gql


def start_reader(work: Path, postgres: Postgres, s3: MotoS3, processes: Processes) -> Path:
    """The reader elsewhere: its own folder, the catalog's address and the bucket only."""
    folder = work / "reader"
    folder.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DAGSTER_"))},
        **s3.env(),
        "LAKEHOUSE_CATALOG_URI": postgres.uri("iceberg"),
        "LAKEHOUSE_WAREHOUSE": WAREHOUSE,
        "PYTHONPATH": str(ROOT),
    }
    out = folder / "reads.jsonl"
    reader = str(ROOT / "deploy" / "e2e_reader.py")
    processes.start("reader", [str(PLATFORM_BIN / "python"), reader, str(out)], env, folder)
    return out


def seed_catalog(gql: GraphQL) -> None:
    """Two snapshot windows at once (both commit core.playlist_tracks), through the queue and
    the daemon, then the catalog tables (what the 8-hourly schedule does)."""
    os.environ.update({"SPOTIFY_SAMPLE_SCALE": "tiny"})
    from spotify_assets.defs.catalog.assets import SNAPSHOT_PARTITIONS

    windows = SNAPSHOT_PARTITIONS.get_partition_keys(current_time=datetime.now(UTC))[-2:]
    runs = [gql.launch("catalog_snapshot_job", {"dagster/partition": w}) for w in windows]
    for run in runs:
        gql.wait_run(run, "catalog_snapshot_job")
    gql.wait_run(gql.launch("catalog_tables_job"), "catalog_tables_job")


def land_exports(s3: MotoS3, work: Path) -> tuple[list[str], datetime]:
    """The tiny sample world's export files, every listener's, put into the landing zone in
    S3 as people would; returns the listeners and the first play's time."""
    from spotify_assets.lib.sample.world import build_world
    from spotify_assets.lib.sample.world.history import write_streaming_history

    client, exports, first = s3.client(), work / "exports", None
    write_streaming_history(build_world("tiny", seed=42), exports)
    for path in sorted(p for p in exports.rglob("*") if p.is_file()):
        key = f"lake/landing/streaming_history/{path.relative_to(exports).as_posix()}"
        client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        for record in json.loads(path.read_text()):
            ts = datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%SZ")
            first = ts if first is None or ts < first else first
    listeners = sorted(p.name for p in exports.iterdir() if p.is_dir())
    assert listeners and first, f"no plays in {exports}"
    return listeners, first


def listeners_in_streams(lake: Lakehouse, listeners: list[str]) -> int | None:
    """Plays in the published core.streams when every listener's files are in it."""
    rows = lake.query(
        "select split_part(source_file, '/', 1), count(*) from core.streams group by all"
    )
    found = dict(rows)
    return sum(found.values()) if all(found.get(name) for name in listeners) else None


def carry_exports(gql: GraphQL, processes: Processes, lake: Lakehouse, s3: MotoS3, work: Path):
    """People land their exports; the sensor and automation carry them into core.streams and
    the engagement marts. Returns the exports' first play's time."""
    listeners, first = land_exports(s3, work)
    say(f"landed the exports of {len(listeners)} listeners in {LAKE}")
    rows = wait_for(
        "every listener's plays in the published core.streams",
        lambda: processes.check_alive() or listeners_in_streams(lake, listeners),
    )
    say(f"core.streams (as of the last published run) holds {rows} plays")
    wait_for_marts_after_streams(gql, processes)
    return first


def check_dashboard(gql: GraphQL, s3: MotoS3, first: datetime) -> None:
    """dashboard_job draws the dashboard into S3; it says where its listening history starts."""
    gql.wait_run(gql.launch("dashboard_job"), "dashboard_job")
    body = s3.client().get_object(Bucket=BUCKET, Key="lake/exports/dashboard/index.html")["Body"]
    stamp = f"listening history: {first:%Y-%m-%d} to "
    assert stamp in body.read().decode(errors="replace"), f"the dashboard lacks {stamp!r}"
    say(f"dashboard in S3 shows {stamp}...")


def check_runs(gql: GraphQL, s3: MotoS3) -> list[dict]:
    """No run failed; runs ran at the same time; their step logs are in S3 (dagster-aws)."""
    runs = gql.runs()
    failed = [r for r in runs if r["status"] == "FAILURE"]
    assert not failed, f"runs failed: {failed}"
    spans = sorted((r["startTime"], r["endTime"]) for r in runs if r["startTime"] and r["endTime"])
    overlaps = sum(1 for (_, end), (start, _) in zip(spans, spans[1:], strict=False) if start < end)
    assert overlaps >= 1, f"no two runs ran at the same time: {spans}"
    logs = s3.client().list_objects_v2(Bucket=BUCKET, Prefix="dagster/compute-logs/")
    assert logs.get("KeyCount", 0) > 0, "no compute log in S3"
    say(
        f"{len(runs)} runs, none failed, {overlaps} started before the previous one ended; "
        f"{logs['KeyCount']} compute logs in s3://{BUCKET}/dagster/compute-logs/"
    )
    return runs


def check_reader(reads: Path, lake: Lakehouse, runs: list[dict]) -> None:
    """Every read showed whole runs of runs that succeeded, and the reader ended on the last
    published state; reads of the newest snapshots are counted for comparison."""
    reads.with_suffix(".stop").touch()
    time.sleep(3)
    lines = [json.loads(line) for line in reads.read_text().splitlines()]
    errors = [line["error"] for line in lines if "error" in line]
    assert not errors, f"the reader failed: {errors[:3]}"
    published = [line["published"] for line in lines]
    broken = [p for p in published if p.get("listeners_ok") is False or p.get("plays_ok") is False]
    assert not broken, f"the reader saw a mixed state: {broken[:3]}"
    succeeded = {r["runId"] for r in runs if r["status"] == "SUCCESS"}
    seen = {run for p in published for run in p["runs"]}
    assert seen <= succeeded, f"published runs that did not succeed: {seen - succeeded}"
    states = {tuple(p["runs"]) for p in published}
    same_run = sum("plays_ok" in p for p in published)
    assert len(states) >= 3 and same_run > 0, "the reader read while too little happened"
    final = lake.query("select count(*) from core.streams")[0][0]
    assert published[-1]["streams"] == final, (published[-1], final)
    mixed = sum(
        line["current"].get("listeners_ok") is False or line["current"].get("plays_ok") is False
        for line in lines
    )
    say(
        f"the reader made {len(lines)} reads of {len(states)} published states (runs seen: "
        f"{len(seen)}), none mixed ({same_run} with streams and marts of one run); reading the "
        f"newest snapshots instead, {mixed} reads were mixed"
    )


def scenario(work: Path) -> None:
    processes = Processes(work / "logs")
    postgres = Postgres(work / "postgres")
    s3 = MotoS3(processes, BUCKET)
    try:
        postgres.start()
        s3.start()
        gql = start_platform(work, postgres, s3, processes)
        lake = Lakehouse(postgres, s3)
        reads = start_reader(work, postgres, s3, processes)
        seed_catalog(gql)
        first = carry_exports(gql, processes, lake, s3, work)
        check_dashboard(gql, s3, first)
        runs = check_runs(gql, s3)
        check_reader(reads, lake, runs)
        print("e2e: 1 passed, 0 failed", flush=True)
    except BaseException:
        processes.tails()
        pg_log = work / "postgres" / "postgres.log"
        if pg_log.exists():
            print("----- postgres.log -----\n" + pg_log.read_text(errors="replace")[-3000:])
        raise
    finally:
        processes.stop()
        postgres.stop()
        say("stopped PostgreSQL")


def main() -> int:
    return run_scenario("e2e", scenario)


if __name__ == "__main__":
    sys.exit(main())
