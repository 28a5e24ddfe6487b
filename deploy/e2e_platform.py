"""What ``make e2e`` (deploy/e2e.py) starts and talks to, each a process of its own on
127.0.0.1, stopped by whoever started it: a throwaway PostgreSQL (Debian's packages, installed
when missing), moto's S3 server, the platform's processes, and the webserver's GraphQL.
Tests use the PostgreSQL (``spotify_assets_tests/support/postgres.py``)."""

from __future__ import annotations

import contextlib
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


# -- S3 ---------------------------------------------------------------------------------------

#: moto accepts any credentials; these are what every process of the scenario is given.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "e2e",
    "AWS_SECRET_ACCESS_KEY": "e2e",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class MotoS3:
    """moto's S3 server as a process of its own on 127.0.0.1 (a bucket in "the cloud")."""

    def __init__(self, processes: Processes, bucket: str) -> None:
        self.processes = processes
        self.bucket = bucket
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.processes.start("s3", server, dict(os.environ), ROOT)
        wait_for("moto's S3", self._answers, interval=0.5)
        self.client().create_bucket(Bucket=self.bucket)
        say(f"S3 (moto) on {self.endpoint}, bucket {self.bucket}")

    def _answers(self) -> bool:
        self.processes.check_alive()
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                return True
        except OSError:
            return False

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=S3_ENV["AWS_REGION"],
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        )

    def env(self) -> dict[str, str]:
        return {**S3_ENV, "AWS_ENDPOINT_URL_S3": self.endpoint}


# -- Dagster processes -----------------------------------------------------------------------


def default_signals() -> None:
    """SIGINT and SIGTERM to their defaults in a child: started from a background job
    (``make e2e &`` in a script), this script has SIGINT ignored, which its children would
    inherit; every Dagster CLI then ignores SIGTERM as well (it gives SIGTERM SIGINT's handler)
    and ``stop`` could only SIGKILL them after 30 s."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Processes:
    """The processes this script started, each in its own process group, stopped in reverse."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=default_signals,
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
            # what it left in its group goes too (a code server's gRPC server outlived it)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
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
            "{ runsOrError(limit: 200) { ... on Runs { results { runId jobName status "
            "startTime endTime } } } }"
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


def wait_for_marts_after_streams(gql: GraphQL, processes: Processes) -> None:
    """Automation carries new plays on into the engagement marts: waits until
    marts/daily_engagement is materialized after the latest core/streams."""
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


def run_scenario(name: str, scenario) -> int:
    """``scenario(work)`` in a new temporary folder (kept with E2E_KEEP=1): 0 when it passed,
    1 with one line saying why when it failed."""
    work = Path(tempfile.mkdtemp(prefix=f"spotify-{name}-"))
    os.chmod(work, 0o755)  # the postgres user reaches its folder inside
    (work / "logs").mkdir()
    try:
        scenario(work)
    except Exception as exc:
        print(f"{name}: 0 passed, 1 failed: {type(exc).__name__}: {exc}", flush=True)
        return 1
    finally:
        if not os.environ.get("E2E_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    say(f"done in {time.monotonic() - STARTED:.0f} s")
    return 0


#: The platform's Python: the deployment image's environment (make e2e builds .venv-deploy),
#: or this one.
PLATFORM_BIN = Path(os.environ.get("E2E_PLATFORM_VENV", str(Path(sys.executable).parents[1])))
PLATFORM_BIN = PLATFORM_BIN / "bin"


def start_code_server(processes: Processes, env: dict[str, str], folder: Path, port: int) -> None:
    """The gRPC code server of the project (its run workers are its children), once its
    health check answers."""
    dagster = str(PLATFORM_BIN / "dagster")
    args = ["code-server", "start", "-h", "127.0.0.1", "-p", str(port)]
    args += ["-m", "spotify_assets.definitions", "--location-name", LOCATION]
    processes.start("code-server", [dagster, *args], env, folder)
    health = [dagster, "api", "grpc-health-check", "-p", str(port), "-h", "127.0.0.1"]
    wait_for(
        "the code server",
        lambda: (
            processes.check_alive()
            or subprocess.run(health, capture_output=True, env=env).returncode == 0
        ),
        interval=2,
    )
