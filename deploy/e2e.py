"""`make e2e`: the production path on one machine, end to end.

PostgreSQL (from Debian's packages, installed when missing), then the gRPC code server,
``dagster-daemon`` and ``dagster-webserver`` as separate processes on ``deploy/dagster.yaml``
(Postgres storage, queued runs, run monitoring) and ``deploy/workspace.yaml``. It seeds the
catalog through the UI's GraphQL API (runs queued and launched by the daemon), drops one
listener's export files into the landing zone and waits for the platform's own sensors and
declarative automation to carry them into ``core.streams`` (read from the published copy, as
people read it) and into the dashboard. It asserts no run failed and that GraphQL answers,
then stops everything it started. Everything lives in a temporary folder; nothing listens
beyond 127.0.0.1. Exit code 0 when every assertion held.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DEADLINE_S = float(os.environ.get("E2E_DEADLINE_S", "540"))  # 9 minutes for the waits
LOCATION = "spotify_assets"
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[e2e {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def remaining() -> float:
    return DEADLINE_S - (time.monotonic() - STARTED)


def wait_for(what: str, probe, interval: float = 3.0):
    """Call ``probe`` until it returns something truthy, within the overall deadline."""
    while True:
        value = probe()
        if value:
            return value
        if remaining() <= 0:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


# -- PostgreSQL ------------------------------------------------------------------------------


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        if os.geteuid() != 0:
            raise SystemExit("PostgreSQL is not installed: apt-get install postgresql (as root)")
        say("installing PostgreSQL from Debian's packages")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
            check=True,
            env=env,
        )
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent


class Postgres:
    """A throwaway cluster in ``folder`` on 127.0.0.1, password auth, a random password, with
    the databases named (Dagster's storage, the Iceberg catalog). Tests use it too
    (``spotify_assets_tests/support/postgres.py``)."""

    def __init__(self, folder: Path, databases: tuple[str, ...] = ("dagster", "iceberg")) -> None:
        self.databases = databases
        self.bin = pg_bin()
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.user = "dagster"
        self.as_user: list[str] = []
        folder.mkdir(parents=True)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(folder, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password)
        if self.as_user:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "scram-sha-256",
            f"--pwfile={pwfile}",
        )
        pwfile.unlink()
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "postgres.log"),
            "-w",
            "start",
        )
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname="postgres",
        )
        conn.autocommit = True
        for database in self.databases:
            conn.cursor().execute(f"create database {database}")
        conn.close()
        say(f"PostgreSQL {self.bin.parent.name} on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                [
                    *self.as_user,
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "fast",
                    "stop",
                ],
                check=False,
                stdout=subprocess.DEVNULL,
            )

    def uri(self, database: str) -> str:
        """A SQLAlchemy URL of ``database`` (it holds the password: pass it as a secret)."""
        return f"postgresql+psycopg2://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def env(self) -> dict[str, str]:
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": "dagster",
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
        }


# -- Dagster processes -----------------------------------------------------------------------


class Processes:
    """The processes this script started, each in its own process group, stopped in reverse."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append((name, proc))
        say(f"started {name} (PID {proc.pid})")

    def check_alive(self) -> None:
        for name, proc in self.started:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}")

    def stop(self) -> None:
        for _name, proc in reversed(self.started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in reversed(self.started):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            say(f"stopped {name}")

    def tails(self, lines: int = 40) -> None:
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            print(f"----- {log.name} (last {lines} lines) -----\n" + "\n".join(text))


class GraphQL:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"

    def __call__(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def answers(self) -> bool:
        try:
            return bool(self("{ version }")["version"])
        except OSError:
            return False

    def location_loaded(self) -> bool:
        data = self(
            "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
            "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
        )
        for entry in data["workspaceOrError"]["locationEntries"]:
            if entry["name"] == LOCATION and entry["loadStatus"] == "LOADED":
                if entry["locationOrLoadError"]["__typename"] == "PythonError":
                    raise RuntimeError(entry["locationOrLoadError"]["message"])
                return True
        return False

    def launch(self, job: str, tags: dict[str, str] | None = None) -> str:
        data = self(
            """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
                __typename ... on LaunchRunSuccess { run { runId } }
                ... on PythonError { message } ... on InvalidSubsetError { message }
                ... on RunConfigValidationInvalid { errors { message } } } }""",
            {
                "params": {
                    "selector": {
                        "repositoryLocationName": LOCATION,
                        "repositoryName": "__repository__",
                        "jobName": job,
                    },
                    "executionMetadata": {
                        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]
                    },
                }
            },
        )["launchRun"]
        if data["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launching {job}: {data}")
        return data["run"]["runId"]

    def run_status(self, run_id: str) -> str:
        data = self(
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id}
        )
        return data["runOrError"]["status"]

    def wait_run(self, run_id: str, job: str) -> None:
        status = wait_for(
            f"run {run_id} of {job}",
            lambda: (s := self.run_status(run_id)) in ("SUCCESS", "FAILURE", "CANCELED") and s,
        )
        if status != "SUCCESS":
            raise RuntimeError(f"run {run_id} of {job} ended {status}")
        say(f"run of {job} succeeded ({run_id[:8]})")

    def runs(self) -> list[dict]:
        data = self(
            "{ runsOrError(limit: 200) { ... on Runs { results { runId jobName status } } } }"
        )
        return data["runsOrError"]["results"]

    def row_count(self, path: list[str]) -> int | None:
        """``dagster/row_count`` of the asset's latest materialization."""
        data = self(
            """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
                ... on Asset { assetMaterializations(limit: 1) { metadataEntries {
                    label ... on IntMetadataEntry { intValue } } } } } }""",
            {"path": path},
        )
        found = data["assetOrError"].get("assetMaterializations") or []
        for entry in found[0]["metadataEntries"] if found else []:
            if entry["label"] == "dagster/row_count":
                return entry.get("intValue")
        return None

    def latest_materialization(self, path: list[str]) -> dict | None:
        data = self(
            """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
                ... on Asset { assetMaterializations(limit: 1) { runId timestamp } } } }""",
            {"path": path},
        )
        found = data["assetOrError"].get("assetMaterializations") or []
        return found[0] if found else None


# -- The scenario ----------------------------------------------------------------------------


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


def scenario(work: Path) -> None:
    logs = work / "logs"
    logs.mkdir()
    postgres = Postgres(work / "postgres")
    processes = Processes(logs)
    readers: list[subprocess.Popen] = []
    try:
        postgres.start()
        data = work / "data"
        gql = start_platform(work, data, postgres, processes)
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
        check_runs(gql, published)
        print("e2e: 1 passed, 0 failed", flush=True)
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


def start_platform(work: Path, data: Path, postgres: Postgres, processes: Processes) -> GraphQL:
    """The gRPC code server, the daemon and the webserver on ``deploy/dagster.yaml`` (in a
    ``DAGSTER_HOME`` under ``work``) and ``deploy/workspace.yaml`` (on free ports); returns
    the webserver's GraphQL once the code location is loaded."""
    home = work / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    code_port, web_port = free_port(), free_port()
    workspace = (ROOT / "deploy" / "workspace.yaml").read_text()
    workspace = workspace.replace("host: localhost", "host: 127.0.0.1").replace(
        "port: 4266", f"port: {code_port}"
    )
    (work / "workspace.yaml").write_text(workspace)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DAGSTER_"))},
        **postgres.env(),
        "DAGSTER_HOME": str(home),
        "SPOTIFY_DATA_DIR": str(data),
        "SPOTIFY_SAMPLE_SCALE": "tiny",
        "SPOTIFY_UI_URL": f"http://127.0.0.1:{web_port}",
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
    }
    start_code_server(processes, env, code_port)
    ws = str(work / "workspace.yaml")
    processes.start("daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-w", ws], env, home)
    processes.start(
        "webserver",
        [str(VENV_BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-w", ws],
        env,
        home,
    )
    gql = GraphQL(web_port)
    wait_for("the webserver", lambda: processes.check_alive() or gql.answers(), interval=2)
    wait_for("the code location", gql.location_loaded, interval=2)
    say(f"GraphQL answers at {gql.url}; code location {LOCATION} loaded")
    return gql


def start_code_server(processes: Processes, env: dict[str, str], code_port: int) -> None:
    """The gRPC code server of the project, once its health check answers."""
    dagster = str(VENV_BIN / "dagster")
    processes.start(
        "code-server",
        [
            dagster,
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(code_port),
            "-m",
            "spotify_assets.definitions",
            "--location-name",
            LOCATION,
        ],
        env,
        ROOT,
    )
    wait_for(
        "the code server",
        lambda: (
            processes.check_alive()
            or subprocess.run(
                [dagster, "api", "grpc-health-check", "-p", str(code_port), "-h", "127.0.0.1"],
                capture_output=True,
            ).returncode
            == 0
        ),
        interval=2,
    )


def seed_catalog(gql: GraphQL, data: Path) -> Path:
    """The catalog first (what the 8-hourly schedule does), through the queue and daemon;
    returns the published copy of the warehouse."""
    sys.path.insert(0, str(ROOT))
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
    streams_at = gql.latest_materialization(["core", "streams"])["timestamp"]
    wait_for(
        "marts/daily_engagement rebuilt from the new plays",
        lambda: (
            processes.check_alive()
            or (
                (m := gql.latest_materialization(["marts", "daily_engagement"]))
                and float(m["timestamp"]) >= float(streams_at)
            )
        ),
    )
    say("automation rebuilt the engagement marts from them")
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


def check_runs(gql: GraphQL, published: Path) -> None:
    """No run failed."""
    runs = gql.runs()
    failed = [r for r in runs if r["status"] == "FAILURE"]
    assert not failed, f"runs failed: {failed}; failed checks: {failed_checks(published)}"
    jobs = sorted({r["jobName"] for r in runs})
    say(f"{len(runs)} runs, none failed: {', '.join(jobs)}")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="spotify-e2e-"))
    os.chmod(work, 0o755)  # the postgres user reaches its folder inside
    try:
        scenario(work)
    except Exception as exc:
        print(f"e2e: 0 passed, 1 failed: {type(exc).__name__}: {exc}", flush=True)
        return 1
    finally:
        if not os.environ.get("E2E_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    say(f"done in {time.monotonic() - STARTED:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
