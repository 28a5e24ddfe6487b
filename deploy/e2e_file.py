"""`make e2e`, file mode: the production path on one machine with the embedded warehouse (the
DuckDB file, ``SPOTIFY_WAREHOUSE_MODE=file``, the default), as a single-machine deployment
runs it.

PostgreSQL (Debian's packages, installed when missing) holding Dagster's storage, S3 (moto's
server) holding only Dagster's compute logs (dagster-aws, as ``deploy/dagster.yaml`` has
them), then the gRPC code server, ``dagster-daemon`` and ``dagster-webserver`` as separate
processes on ``deploy/dagster.yaml`` with the ``duckdb`` pool at 1 (one writer of the file)
and ``deploy/workspace.yaml``, sharing one data folder (the lake and the DuckDB file). It
seeds the catalog through the UI's GraphQL API (runs queued and launched by the daemon), drops
every listener's export files into the landing zone and waits for the platform's own sensors
and declarative automation to carry them into ``core.streams`` (read from the published copy,
as people read it) and into the dashboard, while a reader holds the published copy open. It
asserts no run failed, then stops everything it started. Nothing listens beyond 127.0.0.1.
The lakehouse mode's scenario is ``deploy/e2e.py``. Exit code 0 when every assertion held.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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

BUCKET = "spotify-e2e-logs"


def drop_exports(lake: Path, work: Path) -> tuple[list[str], datetime, datetime]:
    """The tiny sample world's export files, every listener's, dropped into the landing zone
    as people would; returns the listeners' folders and the first and last play's times."""
    from spotify_assets.lib.sample.world import build_world
    from spotify_assets.lib.sample.world.history import write_streaming_history

    exports = work / "exports"
    write_streaming_history(build_world("tiny", seed=42), exports)
    listeners = sorted(p.name for p in exports.iterdir() if p.is_dir())
    first = last = None
    for path in sorted(exports.rglob("*.json")):
        target = lake / "landing" / "streaming_history" / path.relative_to(exports)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        for record in json.loads(path.read_text()):
            ts = datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%SZ")
            last = ts if last is None or ts > last else last
            first = ts if first is None or ts < first else first
    assert listeners and first and last, f"no plays in {exports}"
    return listeners, first, last


#: A notebook holding a read-only connection to the published copy for the whole cycle: it
#: prints what it sees when it opens, and again when told to (a line on stdin).
HELD_READER = """
import sys, duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
sql = "select (select count(*) from core.tracks), (select count(*) from core.playlist_tracks)"
print(conn.execute(sql).fetchone(), flush=True)
sys.stdin.readline()
print(conn.execute(sql).fetchone(), flush=True)
"""


def query_published(published: Path, sql: str, params: list | None = None) -> list[tuple]:
    """A short read of the published copy, as a person's notebook would (closed at once, so
    the next read sees the next publication)."""
    import duckdb

    if not published.exists():
        return []
    conn = duckdb.connect(str(published), read_only=True)
    try:
        return conn.execute(sql, params or []).fetchall()
    except duckdb.CatalogException:
        return []  # not built yet
    finally:
        conn.close()


def listeners_in_streams(published: Path, listeners: list[str]) -> int | None:
    """Plays in core.streams when every listener's files are in it, else None."""
    rows = query_published(
        published,
        "select split_part(source_file, '/', 1) as listener, count(*) from core.streams "
        "group by all",
    )
    found = dict(rows)
    return sum(found.values()) if all(found.get(name) for name in listeners) else None


def failed_checks(published: Path) -> list[tuple]:
    return query_published(
        published,
        "select asset_key, check_name, severity, details from reports.data_quality "
        "where status = 'failed'",
    )


def start_platform(
    work: Path, data: Path, postgres: Postgres, s3: MotoS3, processes: Processes
) -> GraphQL:
    """The gRPC code server, the daemon and the webserver on ``deploy/dagster.yaml`` (in a
    ``DAGSTER_HOME`` under ``work``, the ``duckdb`` pool at 1) and ``deploy/workspace.yaml``
    (on free ports); returns the webserver's GraphQL once the code location is loaded."""
    home = work / "dagster_home"
    home.mkdir()
    instance = (ROOT / "deploy" / "dagster.yaml").read_text()
    assert "default_limit: 4" in instance, "deploy/dagster.yaml's pool limit moved"
    (home / "dagster.yaml").write_text(instance.replace("default_limit: 4", "default_limit: 1"))
    code_port, web_port = free_port(), free_port()
    workspace = (ROOT / "deploy" / "workspace.yaml").read_text()
    workspace = workspace.replace("host: localhost", "host: 127.0.0.1").replace(
        "port: 4266", f"port: {code_port}"
    )
    (work / "workspace.yaml").write_text(workspace)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DAGSTER_"))},
        **postgres.env(),
        **s3.env(),
        "DAGSTER_HOME": str(home),
        "SPOTIFY_DATA_DIR": str(data),
        "SPOTIFY_SAMPLE_SCALE": "tiny",
        "SPOTIFY_WAREHOUSE_MODE": "file",
        "SPOTIFY_COMPUTE_LOGS_BUCKET": BUCKET,
        "SPOTIFY_UI_URL": f"http://127.0.0.1:{web_port}",
        "PYTHONPATH": str(ROOT),
        "PATH": f"{PLATFORM_BIN}:{os.environ.get('PATH', '')}",
    }
    start_code_server(processes, env, ROOT, code_port)
    ws = str(work / "workspace.yaml")
    processes.start("daemon", [str(PLATFORM_BIN / "dagster-daemon"), "run", "-w", ws], env, home)
    web = [str(PLATFORM_BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port)]
    processes.start("webserver", [*web, "-w", ws], env, home)
    gql = GraphQL(web_port)
    wait_for("the webserver", lambda: processes.check_alive() or gql.answers(), interval=2)
    wait_for("the code location", gql.location_loaded, interval=2)
    say(f"GraphQL answers at {gql.url}; code location {LOCATION} loaded")
    return gql


def seed_catalog(gql: GraphQL, data: Path) -> Path:
    """The catalog first (what the 8-hourly schedule does), through the queue and daemon;
    returns the published copy of the warehouse."""
    os.environ.update({"SPOTIFY_DATA_DIR": str(data), "SPOTIFY_SAMPLE_SCALE": "tiny"})
    from spotify_assets.defs.catalog.assets import SNAPSHOT_PARTITIONS

    window = SNAPSHOT_PARTITIONS.get_partition_keys(current_time=datetime.now(UTC))[-1]
    run = gql.launch("catalog_snapshot_job", {"dagster/partition": window})
    gql.wait_run(run, "catalog_snapshot_job")
    gql.wait_run(gql.launch("catalog_tables_job"), "catalog_tables_job")
    return data / "published" / "warehouse.duckdb"


def carry_exports(
    gql: GraphQL, processes: Processes, data: Path, work: Path, published: Path
) -> datetime:
    """People drop their exports; sensors and automation carry them into core.streams and
    the engagement marts. Returns the exports' first play's time."""
    listeners, first, last = drop_exports(data / "lake", work)
    say(
        f"dropped the export files of {len(listeners)} listeners "
        f"(last play {last:%Y-%m-%d %H:%M} UTC)"
    )
    rows = wait_for(
        "every listener's plays in core.streams",
        lambda: processes.check_alive() or listeners_in_streams(published, listeners),
    )
    say(f"core.streams (published copy) holds {rows} plays from {len(listeners)} listeners")
    # Automation carries the plays on into the engagement marts; the dashboard is then
    # drawn by dashboard_job through the queue (its own automation also redraws it, but
    # only once every upstream check settles, which this test does not wait for).
    wait_for_marts_after_streams(gql, processes)
    return first


def check_dashboard(gql: GraphQL, data: Path, published: Path, first: datetime) -> None:
    """dashboard_job draws the dashboard, which says where its listening history starts."""
    gql.wait_run(gql.launch("dashboard_job"), "dashboard_job")
    dashboard = data / "lake" / "exports" / "dashboard" / "index.html"
    # "Data as of listening history: <first play> to <last play>": the exports' first play
    # (polled recent plays may extend the end).
    stamp = f"listening history: {first:%Y-%m-%d} to "
    page = dashboard.read_text(errors="replace") if dashboard.exists() else ""
    assert stamp in page, (
        f"the dashboard does not show {stamp!r}; failed checks: {failed_checks(published)}"
    )
    materialized = gql.latest_materialization(["reports", "dashboard"])
    assert materialized, "GraphQL knows no materialization of reports/dashboard"
    say(f"dashboard shows {stamp}... (run {materialized['runId'][:8]})")


def check_readers(gql: GraphQL, published: Path, reader: subprocess.Popen, opened: str) -> None:
    """The reader held open all along saw one consistent state and broke no run (see
    :func:`check_runs`); a new reader sees the last successful write."""
    reader.stdin.write("again\n")
    reader.stdin.flush()
    assert reader.stdout.readline().strip() == opened, "the held reader's view changed"
    latest = gql.row_count(["core", "streams"])
    fresh = query_published(published, "select count(*) from core.streams")[0][0]
    assert fresh == latest, f"published core.streams has {fresh} rows, last write {latest}"
    say(f"held reader unchanged; a new reader sees core.streams as last written ({fresh})")


def check_runs(gql: GraphQL, published: Path, s3: MotoS3) -> None:
    """No run failed; the steps' logs are in S3."""
    runs = gql.runs()
    failed = [r for r in runs if r["status"] == "FAILURE"]
    assert not failed, f"runs failed: {failed}; failed checks: {failed_checks(published)}"
    logs = s3.client().list_objects_v2(Bucket=BUCKET, Prefix="dagster/compute-logs/")
    assert logs.get("KeyCount", 0) > 0, "no compute log in S3"
    jobs = sorted({r["jobName"] for r in runs})
    say(f"{len(runs)} runs, none failed: {', '.join(jobs)}; compute logs in S3")


def scenario(work: Path) -> None:
    processes = Processes(work / "logs")
    postgres = Postgres(work / "postgres", databases=("dagster",))
    s3 = MotoS3(processes, BUCKET)
    readers: list[subprocess.Popen] = []
    try:
        postgres.start()
        s3.start()
        data = work / "data"
        gql = start_platform(work, data, postgres, s3, processes)
        published = seed_catalog(gql, data)
        reader = subprocess.Popen(
            [sys.executable, "-c", HELD_READER, str(published)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        readers.append(reader)
        opened = reader.stdout.readline().strip()
        say(f"a reader holds the published copy open: (tracks, playlist rows) = {opened}")
        first = carry_exports(gql, processes, data, work, published)
        check_dashboard(gql, data, published, first)
        check_readers(gql, published, reader, opened)
        check_runs(gql, published, s3)
        print("e2e-file: 1 passed, 0 failed", flush=True)
    except BaseException:
        processes.tails()
        pg_log = work / "postgres" / "postgres.log"
        if pg_log.exists():
            print("----- postgres.log -----\n" + pg_log.read_text(errors="replace")[-3000:])
        raise
    finally:
        for reader in readers:
            reader.kill()
            reader.wait()
        processes.stop()
        postgres.stop()
        say("stopped PostgreSQL")


def main() -> int:
    return run_scenario("e2e-file", scenario)


if __name__ == "__main__":
    sys.exit(main())
