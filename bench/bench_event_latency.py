"""From a dropped export file (and a year of charts) to the dashboard, through a real
``dg dev``, no clicks; and what ``dg dev`` costs while idle, beside Dagster's own floor.

    .venv/bin/python bench/bench_event_latency.py [--timeout 900] [--keep] [--idle 30]
        [--chart-days 365 [--chart-regions 70] [--chart-rows 200]] [--floor]

Issue 24's run: ``--chart-days 365 --idle 120 --floor`` (about 25 minutes on a busy 2-core
machine). In a throwaway folder (``DAGSTER_HOME`` with the project's dagster.yaml,
``SPOTIFY_DATA_DIR``):

1. ``make demo``'s pipeline (``python -m spotify_assets.demo``) builds everything once on the
   sample world (timed: that is ``make demo`` after the install); with ``--chart-days``, the
   chart files (``bench_charts.write_files``: charts.spotify.com daily CSVs, 200 ranks each,
   ``--chart-regions`` x ``--chart-days`` files) are written aside, outside the lake;
2. ``dg dev`` starts (webserver, daemon, the code location; timed until GraphQL answers);
   once no run has been queued or running for 30 s, the CPU of its processes is measured for
   ``--idle`` seconds more (ours: the sensors' idle ticks);
3. one more listener's export file is dropped into ``landing/streaming_history/`` (a copy of
   a landed file under a new listener, so every play in it is new);
4. the platform's own sensors and declarative automation take it on; the script reads the
   instance's event log and prints, from the drop, when each stage was reached: the ingest
   run was created and started, ``raw/streaming_history_files``, ``core/streams``, the
   engagement marts (``marts/daily_engagement``), ``reports/dashboard``; then every run that
   was launched meanwhile with its job, assets and wall time, how long it waited (queued or
   starting) and its steps;
5. with ``--chart-days``, once quiet again, the chart files are moved into ``landing/charts/``
   at once (renames, each file's modification time the drop's, as a copy's would be) and
   the same is printed for ``raw/chart_files``, ``core/chart_entries``, the chart marts
   (``marts/chart_tracks``, ``chart_movement``, ``chart_reach``, ``chart_artists``: one step)
   and ``reports/dashboard``; then the idle CPU again (with every chart file in the lake);
6. CPU as well as wall: the CPU seconds of ``dg dev``'s processes (webserver, daemon, code
   server and the run workers it starts, by session) from each drop to its last stage, and
   each sensor's mean tick time;
7. with ``--floor``, every sensor and schedule is stopped through GraphQL (the UI's toggles)
   and the idle CPU measured once more: what ``dg dev`` costs with none of ours running
   (daemon threads, the code server's proxy and gRPC heartbeats), the floor under ours.

A summary at the end puts the figures side by side. Targets: the dashboard within 60 s of the
export's drop (issue 17); the chart year in ``core.chart_entries`` and the chart marts within
60 s of its drop, idle under 1 CPU s a minute (issue 24). Report the machine's load beside the
figures (printed at the start, at each drop and at the end). Nothing listens beyond
127.0.0.1; everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

#: What a dropped file goes through, in order: (label, asset keys); a stage is reached once
#: every key of it materialized after the previous stage.
STAGES = (
    ("raw/streaming_history_files", (("raw", "streaming_history_files"),)),
    ("core/streams", (("core", "streams"),)),
    ("marts/daily_engagement", (("marts", "daily_engagement"),)),
    ("reports/dashboard", (("reports", "dashboard"),)),
)
#: The same for a year of charts (the chart marts are one multi-asset: four tables).
CHART_STAGES = (
    ("raw/chart_files", (("raw", "chart_files"),)),
    ("core/chart_entries", (("core", "chart_entries"),)),
    ("the chart marts", tuple(("marts", m) for m in
                              ("chart_tracks", "chart_movement", "chart_reach", "chart_artists"))),
    ("reports/dashboard", (("reports", "dashboard"),)),
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def session_cpu(session: int) -> float:
    """CPU seconds of every live process of ``session`` (``dg dev`` and what it started),
    with their reaped children's: a run worker that ended is counted in its parent's."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[3]) == session:  # field 6 of stat: the session id
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / tick


def sensor_ticks(instance) -> list[str]:
    """Each sensor's tick count and mean and max duration (wall) on this instance."""
    from dagster._core.scheduler.instigation import InstigatorType

    lines = []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1000)
        took = [t.end_timestamp - t.timestamp for t in ticks if t.end_timestamp]
        if took:
            lines.append(
                f"  {state.instigator_name:<30} {len(took):4} ticks, "
                f"mean {sum(took) / len(took):5.2f} s, max {max(took):5.2f} s"
            )
    return sorted(lines)


def step_times(instance, run_id: str) -> dict[str, tuple[float, float]]:
    """Each step of a run: when it started (epoch seconds) and how long it took."""
    import dagster as dg

    begun: dict[str, float] = {}
    out: dict[str, tuple[float, float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not entry.step_key:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            begun[entry.step_key] = entry.timestamp
        elif (
            event.event_type
            in (
                dg.DagsterEventType.STEP_SUCCESS,
                dg.DagsterEventType.STEP_FAILURE,
            )
            and entry.step_key in begun
        ):
            out[entry.step_key] = (begun[entry.step_key], entry.timestamp - begun[entry.step_key])
    return out


def latest_materialization(instance, key) -> float | None:
    event = instance.get_latest_materialization_event(key)
    return event.timestamp if event else None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for each step"
    )
    parser.add_argument("--keep", action="store_true", help="keep the folder (to investigate)")
    parser.add_argument(
        "--idle", type=float, default=30.0, help="seconds of each idle CPU measurement"
    )
    parser.add_argument(
        "--chart-days",
        type=int,
        default=0,
        help="after the export, drop this many days of daily charts (365: the issue's year)",
    )
    parser.add_argument("--chart-regions", type=int, default=70)
    parser.add_argument("--chart-rows", type=int, default=200)
    parser.add_argument(
        "--floor",
        action="store_true",
        help="at the end, stop every sensor and schedule and measure idle CPU again: "
        "Dagster's own floor, beside ours",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    home, data = tmp / "dagster_home", tmp / "data"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "SPOTIFY_DATA_DIR": str(data)}
    env.pop("SPOTIFY_LAKE_URL", None)
    # This checkout's code in every process (the code server, the run workers it starts in
    # DAGSTER_HOME, the demo), whichever checkout the venv's editable install points at.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    os.environ.update(env)
    print(f"folder {tmp}; {load()}", flush=True)
    run_demo(env)
    staged = stage_charts(tmp / "charts_staged", args) if args.chart_days else None

    port = free_port()
    log = (tmp / "dg_dev.log").open("w")
    started = time.perf_counter()
    server = start_dg_dev(home, env, port, log)
    summary: list[str] = []
    try:
        import dagster as dg

        deadline = time.time() + args.timeout
        wait_for_graphql(port, deadline, tmp / "dg_dev.log")
        print(f"dg dev up (code location loaded): {time.perf_counter() - started:.1f} s")
        instance = dg.DagsterInstance.get()
        idle = wait_until_quiet(instance, server.pid, time.time() + args.timeout, args.idle)
        print(f"quiet before the drop; dg dev idle: {idle:.1f} CPU s per minute; {load()}")
        summary.append(f"dg dev idle (ours, before the drops): {idle:.2f} CPU s per minute")

        before = before_stages(instance, STAGES)
        dropped, cpu_at_drop = drop_export(data, server.pid)
        reached = wait_for_stages(instance, STAGES, before, dropped, time.time() + args.timeout)
        cpu = session_cpu(server.pid) - cpu_at_drop
        print_runs(instance, dropped)
        ok = report(summary, "export", STAGES, reached, cpu, args.timeout, "reports/dashboard")

        if staged is not None:
            wait_until_quiet(instance, server.pid, time.time() + args.timeout, 0)
            before = before_stages(instance, CHART_STAGES)
            dropped, cpu_at_drop = drop_charts(staged, data, server.pid)
            reached = wait_for_stages(
                instance, CHART_STAGES, before, dropped, time.time() + args.timeout
            )
            cpu = session_cpu(server.pid) - cpu_at_drop
            print_runs(instance, dropped)
            ok = (
                report(
                    summary,
                    "chart year",
                    CHART_STAGES,
                    reached,
                    cpu,
                    args.timeout,
                    "the chart marts",
                )
                and ok
            )
            idle = wait_until_quiet(instance, server.pid, time.time() + args.timeout, args.idle)
            print(f"quiet after the charts; dg dev idle: {idle:.1f} CPU s per minute; {load()}")
            summary.append(f"dg dev idle (ours, after the chart year): {idle:.2f} CPU s per minute")

        print("\nsensor ticks (wall, in the daemon or the code server):")
        print("\n".join(sensor_ticks(instance)))
        if args.floor:
            stopped = stop_instigators(port)
            time.sleep(15)  # a tick under way ends; the daemon sees the stopped states
            idle = wait_until_quiet(instance, server.pid, time.time() + args.timeout, args.idle)
            print(f"{stopped} sensors and schedules stopped; dg dev idle: {idle:.1f} CPU s "
                  f"per minute; {load()}")  # fmt: skip
            summary.append(
                f"dg dev idle, every sensor and schedule stopped (Dagster's floor): "
                f"{idle:.2f} CPU s per minute"
            )
        print(f"\n{load()}\n\nsummary:")
        print("\n".join(f"  {line}" for line in summary))
        return 0 if ok else 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def report(
    summary: list[str],
    what: str,
    stages: tuple,
    reached: dict[str, float],
    cpu: float,
    timeout: float,
    target: str,
) -> bool:
    """A line of the summary for one drop (``target``: the stage the 60 s are for); False if
    a stage was not reached."""
    steps = ", ".join(
        f"{s} +{reached[s]:.1f} s" if s in reached else f"{s} NOT REACHED in {timeout:.0f} s"
        for s, _ in stages
    )
    total = reached.get(target, float("inf"))
    summary.append(
        f"{what}: {steps} ({target} {'within' if total <= 60 else 'OVER'} 60 s); "
        f"dg dev's processes {cpu:.1f} CPU s"
    )
    return len(reached) == len(stages)


def run_demo(env: dict[str, str]) -> None:
    """1. ``make demo``'s pipeline, timed, with its stages as it prints them; exits if it
    fails."""
    started = time.perf_counter()
    demo = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "spotify_assets.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    demo_s = time.perf_counter() - started
    if demo.returncode:
        sys.stderr.write(demo.stdout[-3000:] + demo.stderr[-3000:])
        sys.exit(f"the demo failed (exit {demo.returncode})")
    print(f"make demo's pipeline (after the install): {demo_s:.1f} s", flush=True)
    for line in demo.stdout.splitlines():  # its stages, as the demo prints them
        if re.search(r" in \d+\.\d s\.?$", line):
            print(f"  demo: {line.strip()}")


def make_dev_settings() -> dict[str, str]:
    """The Dagster settings ``make dev`` exports (``export NAME ?= value`` lines of the Makefile
    with a plain value: the daemon's intervals), so ``dg dev`` here idles as ``make dev`` does;
    the environment's own values win, as with make's ``?=``."""
    text = (ROOT / "Makefile").read_text()
    found = re.findall(r"(?m)^export (\w+) \?= ([^$\s]+)\s*$", text)
    return {name: os.environ.get(name, value) for name, value in found}


def start_dg_dev(home: Path, env: dict[str, str], port: int, log: Any) -> subprocess.Popen:
    """2. ``dg dev`` on 127.0.0.1:``port`` with ``make dev``'s settings, in its own session,
    output to ``log``."""
    env = {**env, **make_dev_settings()}
    print("make dev's settings: " + ", ".join(f"{k}={v}" for k, v in make_dev_settings().items()))
    return subprocess.Popen(
        [
            str(VENV_BIN / "dg"),
            "dev",
            "-w",
            str(ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],  # fmt: skip
        cwd=home,
        env={**env, "VIRTUAL_ENV": str(VENV_BIN.parent), "PATH": f"{VENV_BIN}:{env['PATH']}"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # dg dev's webserver and daemon are stopped with it
    )


def wait_for_graphql(port: int, deadline: float, log_path: Path) -> None:
    """Wait until GraphQL answers, which it does once the code location is loaded."""
    import requests

    while True:
        try:
            answer = requests.post(
                f"http://127.0.0.1:{port}/graphql",
                json={"query": "{ repositoriesOrError { __typename } }"},
                timeout=5,
            )
            if answer.ok and "RepositoryConnection" in answer.text:
                return
        except requests.RequestException:
            pass
        if time.time() > deadline:
            sys.exit(f"dg dev did not come up; see {log_path}")
        time.sleep(0.5)


def wait_until_quiet(instance, session: int, deadline: float, idle_s: float) -> float:
    """The daemon's first ticks still act on the demo's (or a drop's) state: return once no
    run has been queued or running for 30 s, then for ``idle_s`` more, so every run after the
    next drop is the drop's. Returns the idle CPU seconds per minute of ``dg dev``'s processes
    over those last ``idle_s`` seconds (the start's first sensor evaluations are over by
    then): the steady cost of the sensors' ticks."""
    import dagster as dg

    busy = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.NOT_STARTED)  # fmt: skip
    quiet_since, idle_cpu, idle_at = time.time(), 0.0, None
    while time.time() - quiet_since < 30 + idle_s and time.time() < deadline:
        time.sleep(2)
        if instance.get_runs_count(dg.RunsFilter(statuses=list(busy))):
            quiet_since, idle_at = time.time(), None
        elif idle_at is None and time.time() - quiet_since >= 30:
            idle_cpu, idle_at = session_cpu(session), time.time()
    if not idle_s or idle_at is None:
        return 0.0
    return (session_cpu(session) - idle_cpu) / (time.time() - idle_at) * 60


def stop_instigators(port: int) -> int:
    """Stop every running sensor and schedule of the location through GraphQL (as the UI's
    toggles do); returns how many."""
    import requests

    def graphql(query: str, **variables: Any) -> dict:
        answer = requests.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": query, "variables": variables},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()["data"]

    repos = graphql(
        "{ repositoriesOrError { ... on RepositoryConnection { nodes {"
        " sensors { id name sensorState { status } }"
        " schedules { id name scheduleState { status } } } } } }"
    )["repositoriesOrError"]["nodes"]
    stopped = 0
    for repo in repos:
        for sensor in repo["sensors"]:
            if sensor["sensorState"]["status"] == "RUNNING":
                graphql("mutation($id: String) { stopSensor(id: $id) { __typename } }",
                        id=sensor["id"])  # fmt: skip
                stopped += 1
        for schedule in repo["schedules"]:
            if schedule["scheduleState"]["status"] == "RUNNING":
                graphql("mutation($id: String) { stopRunningSchedule(id: $id) "
                        "{ __typename } }", id=schedule["id"])  # fmt: skip
                stopped += 1
    return stopped


def drop_export(data: Path, session: int) -> tuple[float, float]:
    """3. One more listener's export file (a copy of a landed one under a new listener), landed
    whole by a rename. Returns when it was dropped and the CPU seconds of ``dg dev`` then."""
    landing = data / "lake" / "landing" / "streaming_history"
    source = sorted(p for p in landing.rglob("*.json") if "Audio" in p.name)[0]
    target = landing / "bench_listener" / source.name
    target.parent.mkdir(parents=True)
    tmp_target = target.with_name("." + target.name + ".part")
    shutil.copyfile(source, tmp_target)
    dropped, cpu_at_drop = time.time(), session_cpu(session)
    tmp_target.rename(target)  # whole, as a person's copy lands
    print(f"dropped {target.relative_to(data)} ({target.stat().st_size:,} bytes); {load()}")
    return dropped, cpu_at_drop


def before_stages(instance, stages: tuple) -> dict[str, tuple[float | None, ...]]:
    """Each key's latest materialization before a drop."""
    import dagster as dg

    return {
        stage: tuple(latest_materialization(instance, dg.AssetKey(list(k))) for k in keys)
        for stage, keys in stages
    }


def wait_for_stages(
    instance, stages: tuple, before: dict, dropped: float, deadline: float
) -> dict[str, float]:
    """4. Seconds from the drop to each stage reached. Each stage counts once every key of it
    materialized again after the previous stage was reached (a run that only started earlier
    did not carry the dropped files)."""
    import dagster as dg

    reached: dict[str, float] = {}
    while len(reached) < len(stages) and time.time() < deadline:
        since = dropped
        for stage, keys in stages:
            if stage in reached:
                since = dropped + reached[stage]
                continue
            times = [latest_materialization(instance, dg.AssetKey(list(k))) for k in keys]
            if all(at and at != old and at > since
                   for at, old in zip(times, before[stage], strict=True)):  # fmt: skip
                reached[stage] = max(times) - dropped  # type: ignore[type-var]
                print(f"  +{reached[stage]:6.1f} s  {stage}", flush=True)
            break
        time.sleep(1)
    return reached


def stage_charts(staging: Path, args: argparse.Namespace) -> list[Path]:
    """A year of daily charts (``bench_charts.py``'s files: charts.spotify.com CSVs, 200 ranks
    each) written before ``dg dev`` starts, outside the lake: the drop is then only renames."""
    from bench_charts import reference, write_files  # bench/ is on sys.path

    started = time.perf_counter()
    keys = write_files(staging, args.chart_regions, args.chart_days, args.chart_rows)
    files = [staging / "landing" / "charts" / k for k in keys]
    size = sum(f.stat().st_size for f in files)
    print(
        f"{len(files):,} chart files ({args.chart_regions} regions x {args.chart_days} days, "
        f"{len(files) * args.chart_rows:,} rows, {size / 2**20:,.0f} MB) written aside in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    # The simple reference, in this run on this machine (whose speed varies with its host):
    # one DuckDB read_csv of every file into one table (9.0 s wall, 14.7 CPU s when issue 24
    # was filed, before dg dev starts).
    wall, cpu_s, rows = reference(staging, keys)
    print(f"reference: DuckDB read_csv of the {len(files):,} files ({rows:,} rows): {wall:.1f} s "
          f"wall, {cpu_s:.1f} CPU s; {load()}", flush=True)  # fmt: skip
    return files


def drop_charts(files: list[Path], data: Path, session: int) -> tuple[float, float]:
    """The chart files moved into ``landing/charts/`` at once, each with the drop's time as its
    modification time (as a copy would have), so they settle as a copy does. Returns when
    they were dropped and the CPU seconds of ``dg dev`` then."""
    landing = data / "lake" / "landing" / "charts"
    landing.mkdir(parents=True, exist_ok=True)
    dropped, cpu_at_drop = time.time(), session_cpu(session)
    for f in files:
        os.utime(f, (dropped, dropped))
        f.rename(landing / f.name)
    print(
        f"\ndropped {len(files):,} chart files into {landing.relative_to(data)} in "
        f"{time.time() - dropped:.1f} s; {load()}",
        flush=True,
    )
    return dropped, cpu_at_drop


def print_runs(instance, dropped: float) -> None:
    """Every run created since the drop, with its steps' times."""
    import dagster as dg

    runs = instance.get_run_records(dg.RunsFilter(created_after=dropped_dt(dropped)))
    print(f"\nruns since the drop: {len(runs)}")
    for record in sorted(runs, key=lambda r: r.create_timestamp.timestamp()):
        run = record.dagster_run
        created = record.create_timestamp.timestamp() - dropped
        start, end = record.start_time, record.end_time
        waited = (start - record.create_timestamp.timestamp()) if start else None
        wall = (end - start) if start and end else None
        assets = len(run.asset_selection or [])
        print(
            f"  +{created:6.1f} s {run.job_name:<28} {run.status.value:<9} "
            f"waited {waited or 0:5.1f} s, ran {wall or 0:5.1f} s, {assets} assets selected, "
            f"by {run.tags.get('dagster/sensor_name', '?')}"
        )
        for step, (begun, took) in step_times(instance, run.run_id).items():
            print(f"      +{begun - dropped:6.1f} s {step:<40} {took:5.1f} s")


def dropped_dt(ts: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, tz=UTC)


if __name__ == "__main__":
    sys.exit(main())
