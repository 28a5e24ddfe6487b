"""Engagement marts at scale: the platform's whole ``engagement_marts`` step against the floor,
a minimal DuckDB script of the four contract marts, at one or several sizes side by side in one
run; optionally each contract mart's own SQL against its minimal SQL. Prints CPU seconds, wall
seconds, peak RSS and the machine's load beside each run.

    .venv/bin/python bench/bench_marts.py --synthetic 10000000 30000000 --data /tmp/bench_marts_data
    .venv/bin/python bench/bench_marts.py --warehouse /tmp/bench_wh/warehouse.duckdb [--per-mart]

``--synthetic N [N ...]`` makes a warehouse of N synthetic plays for each size
(``spotify_assets_tests.support.synthetic``, the generator ``bench/bench_dashboard.py`` uses
too: listeners who join and leave, sessions of plays back to back, skips, podcasts, about 50
countries with local-time days, and a catalog with audio features; 3,000 listeners per 10
million plays unless ``--users`` says), in the temp folder, or in the folder ``--data`` when
given (built there once, about 1.6 GB for 30 million plays, and reused by later runs). The
data's shape (monthly churn range, plays per session, skips, podcasts) is printed from the
platform's marts for each size. ``--warehouse`` takes the bench world of
``bench/bench_warehouse.py`` instead.

Targets (issue 24), on the same data and machine, measured side by side:

- the whole step (every engagement mart, its checks, metadata, headlines and charts, through
  ``dg.materialize`` on an ephemeral instance, DuckDB ``memory_limit`` 2GB) within 1.5x the
  CPU seconds of the floor, at 10 and 30 million plays, with a peak RSS under 1.5 GB, its cost
  growing linearly with the plays;
- with ``--per-mart``, each contract mart (daily, monthly with churn, hourly in local time,
  sessions) against its own minimal SQL: both statements in one process on one copy, minimal
  then platform, each charged the process's CPU seconds while it runs (DuckDB's threads
  included). The platform's marts read scratch tables (the music plays as integer codes,
  built once per step and shared by the marts): they are built first and their cost printed,
  and each mart is also shown charged with all of the scratch tables it reads (an upper bound).

The floor (``MINIMAL``) is the obvious SQL from the KPI definitions (docs/ARCHITECTURE.md,
section 7), imports nothing from the marts, sorts nothing. Each run is a fresh process on its
own copy (the warehouse is never opened for writing), strictly alternating: floor, platform,
floor, platform. The best CPU of each side is compared; then the platform's contract marts are
compared with the floor's row by row.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEMORY_LIMIT = "2GB"
CONTRACT = ("daily_engagement", "monthly_engagement", "hourly_engagement", "sessions")


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------------------
# the floor: the four contract marts as a data engineer would script them
# ------------------------------------------------------------------------------------------


def minimal_sql() -> dict[str, str]:
    """Mart -> SELECT of the minimal script (music plays, streams >= 30 s, hours from all
    music plays, active = a stream, local time of ts in the country's zone, sessions broken
    where a play starts more than 30 minutes after the previous one ended)."""
    from spotify_assets.lib.timezones import COUNTRY_TIMEZONES

    zones = ", ".join(f"('{c}', '{z}')" for c, z in COUNTRY_TIMEZONES.items())
    zone = f"(values {zones}) z(conn_country, time_zone)"
    # music plays on Spotify: scrobbles (Last.fm, ListenBrainz) record no platform or country
    music = (
        "content_type = 'music' and coalesce(source_format, '') not in ('lastfm', 'listenbrainz')"
    )
    return {
        "daily_engagement": f"""
with per_day as (
    select cast(ts as date) as date, count(*) as plays,
           count(*) filter (where ms_played >= 30000) as streams,
           sum(ms_played) / 3.6e6 as listening_hours,
           count(distinct user_id) filter (where ms_played >= 30000) as active_users
      from core.streams where {music}
     group by 1
)
select c.date, coalesce(p.plays, 0) as plays, coalesce(p.streams, 0) as streams,
       coalesce(p.listening_hours, 0) as listening_hours,
       coalesce(p.active_users, 0) as active_users,
       p.listening_hours / nullif(p.active_users, 0) as listening_hours_per_active_user
  from (select cast(unnest(generate_series(min(date)::timestamp, max(date)::timestamp,
                                           interval 1 day)) as date) as date
          from per_day) c
  left join per_day p using (date)""",
        "monthly_engagement": f"""
with music as (
    select user_id, ts, cast(date_trunc('month', ts) as date) as month, ms_played
      from core.streams where {music}
),
per_month as (
    select month, count(*) as plays, count(*) filter (where ms_played >= 30000) as streams,
           sum(ms_played) / 3.6e6 as listening_hours,
           count(distinct user_id) filter (where ms_played >= 30000) as active_users
      from music group by month
),
calendar as (
    select cast(unnest(generate_series(min(month)::timestamp, max(month)::timestamp,
                                       interval 1 month)) as date) as month
      from per_month
),
active as (select distinct month, user_id from music where ms_played >= 30000),
churned as (
    select a.month, count(*) as churned_users
      from active a
     where not exists (select 1 from active b
                        where b.user_id = a.user_id and b.month = a.month + interval 1 month)
     group by a.month
),
filled as (
    select c.month, coalesce(p.active_users, 0) as active_users,
           -- churn only against a next month the data covers whole
           case when c.month + interval 2 month - interval 1 day
                     <= (select max(ts)::date from music)
                then coalesce(ch.churned_users, 0) end as churned_users,
           coalesce(p.plays, 0) as plays, coalesce(p.streams, 0) as streams,
           coalesce(p.listening_hours, 0) as listening_hours
      from calendar c
      left join per_month p using (month)
      left join churned ch using (month)
)
select month, active_users, churned_users,
       churned_users / nullif(active_users, 0) as churn_rate, plays, streams, listening_hours,
       listening_hours / nullif(active_users, 0) as listening_hours_per_active_user,
       streams / nullif(lag(streams, 12) over (order by month), 0) - 1 as streams_yoy_growth,
       listening_hours / nullif(lag(listening_hours, 12) over (order by month), 0) - 1
           as listening_hours_yoy_growth
  from filled""",
        "hourly_engagement": f"""
with cells as (
    select isodow(l) - 1 as weekday, hour(l) as local_hour,
           count(*) filter (where ms_played >= 30000) as streams,
           sum(ms_played) / 3.6e6 as listening_hours
      from (select timezone(coalesce(z.time_zone, 'UTC'), s.ts::timestamptz) as l, s.ms_played
              from core.streams s
              left join {zone} on z.conn_country = s.conn_country
             where {music})
     group by all
)
select w.weekday, h.local_hour, coalesce(c.streams, 0) as streams,
       coalesce(c.listening_hours, 0) as listening_hours,
       coalesce(c.streams, 0) / nullif(sum(coalesce(c.streams, 0)) over (), 0)
           as share_of_streams
  from range(7) w(weekday) cross join range(24) h(local_hour)
  left join cells c on c.weekday = w.weekday and c.local_hour = h.local_hour""",
        "sessions": f"""
with plays as (
    select user_id, ts - to_milliseconds(ms_played) as start_ts, ts, ms_played, reason_start,
           conn_country
      from core.streams where {music}
),
numbered as (
    select *, sum(new_session) over (partition by user_id order by start_ts, ts
                                     rows unbounded preceding) as session_no
      from (select *,
                   case when start_ts - max(ts) over (partition by user_id
                                                      order by start_ts, ts rows between
                                                      unbounded preceding and 1 preceding)
                             <= interval 30 minute then 0 else 1 end as new_session
              from plays)
),
grouped as (
    select user_id, min(start_ts) as session_start, max(ts) as session_end,
           count(*) as plays, sum(ms_played) as ms_played,
           arg_min_null(reason_start, start_ts) as start_reason,
           arg_min_null(conn_country, start_ts) as conn_country
      from numbered group by user_id, session_no
)
select s.user_id, s.session_start, s.session_end, s.plays,
       date_diff('millisecond', s.session_start, s.session_end) / 60000.0 as duration_minutes,
       s.ms_played / 60000.0 as listening_minutes, s.start_reason,
       hour(timezone(coalesce(z.time_zone, 'UTC'), s.session_start::timestamptz))
           as first_local_hour
  from grouped s
  left join {zone} on z.conn_country = s.conn_country""",
    }


def connect(db: Path):
    import duckdb

    conn = duckdb.connect(str(db), config={"memory_limit": MEMORY_LIMIT})
    conn.execute("set TimeZone = 'UTC'")
    return conn


def run_floor(db: Path) -> dict:
    import duckdb  # noqa: F401  (imported before the clock, as the step's is by dagster_duckdb)

    statements = minimal_sql()
    t0, c0 = time.perf_counter(), cpu_seconds()
    conn = connect(db)
    conn.execute("create schema floor")
    for name, sql in statements.items():
        conn.execute(f"create table floor.{name} as {sql}")
    conn.close()
    return {"wall": time.perf_counter() - t0, "cpu": cpu_seconds() - c0}


def run_platform(db: Path) -> dict:
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from spotify_assets.defs.marts.assets import ENGAGEMENT_MART_KEYS, engagement_marts

    warehouse = DuckDBResource(database=str(db), connection_config={"memory_limit": MEMORY_LIMIT})
    # The instance is the run worker's before any step runs (0.7 CPU s here, for imports):
    # set up before the clock, as the floor's imports are.
    instance = dg.DagsterInstance.ephemeral()
    t0, c0 = time.perf_counter(), cpu_seconds()
    result = dg.materialize(
        [engagement_marts],
        resources={"warehouse": warehouse},
        instance=instance,
        selection=ENGAGEMENT_MART_KEYS,
    )
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    if not result.success:
        raise SystemExit("materialize failed")
    seconds = {
        m.asset_key.path[-1]: float(m.metadata["seconds"].value)
        for m in result.asset_materializations_for_node("engagement_marts")
    }
    return {"wall": wall, "cpu": cpu, "seconds": seconds}


def run_per_mart(db: Path, repeat: int) -> dict:
    """Each contract mart: its platform SQL and its minimal SQL, alternating, best CPU each."""
    from spotify_assets.lib.marts.engagement_marts import MARTS
    from spotify_assets.lib.marts.run import prepare, scratch_of

    by_name = {m.name: m for m in MARTS}
    minimal = minimal_sql()
    conn = connect(db)
    prepare(conn)
    conn.execute("create schema floor")
    out: dict[str, dict[str, float]] = {}
    scratch_cpu: dict[str, float] = {}
    for scratch in scratch_of([by_name[name] for name in CONTRACT]):
        c0 = cpu_seconds()
        conn.execute(f"create temp table {scratch.name} as {scratch.sql}")
        scratch_cpu[scratch.name] = cpu_seconds() - c0
    for name in CONTRACT:
        statements = {
            "platform": f"create or replace table marts.{name} as {by_name[name].sql}",
            "minimal": f"create or replace table floor.{name} as {minimal[name]}",
        }
        best: dict[str, float] = {}
        for _ in range(repeat):
            for side in ("minimal", "platform"):
                c0 = cpu_seconds()
                conn.execute(statements[side])
                best[side] = min(best.get(side, float("inf")), cpu_seconds() - c0)
        best["scratch"] = sum(scratch_cpu[s.name] for s in by_name[name].scratch)
        out[name] = best
    conn.close()
    return {"marts": out, "scratch": scratch_cpu}


# ------------------------------------------------------------------------------------------
# the parent: data, copies, alternation, figures, agreement
# ------------------------------------------------------------------------------------------


def run_side(side: str, warehouse: Path, tmp: Path, run: int, repeat: int) -> dict:
    """Copy the warehouse and run one side on the copy in a fresh process."""
    folder = tmp / f"{side}-{run}"
    folder.mkdir()
    db = folder / "warehouse.duckdb"
    shutil.copyfile(warehouse, db)
    out, log = folder / "result.json", folder / "side.log"
    cmd = [sys.executable, __file__, "--side", side, "--db", str(db), "--result", str(out)]
    cmd += ["--repeat", str(repeat)]
    with log.open("w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False)
    if proc.returncode or not out.exists():
        sys.stderr.write(log.read_text()[-5000:])
        sys.exit(f"{side} failed (exit code {proc.returncode}); log: {log}")
    return {**json.loads(out.read_text()), "db": str(db)}


def synthetic_warehouse(path: Path, plays: int, users: int, seed: int) -> None:
    import duckdb

    from spotify_assets_tests.support.synthetic import synthetic_streams

    t0, c0 = time.perf_counter(), cpu_seconds()
    with duckdb.connect(str(path)) as conn:
        synthetic_streams(conn, users, plays, seed=seed)
    print(
        f"built {path} in {time.perf_counter() - t0:.1f} s wall, "
        f"{cpu_seconds() - c0:.1f} CPU s ({path.stat().st_size / 1e9:.2f} GB)"
    )


def data_shape(db: str) -> str:
    """What the plays look like, from the platform's marts (churn, sessions) and core.streams."""
    import duckdb

    from spotify_assets_tests.support.synthetic import describe, describe_text

    with duckdb.connect(db, read_only=True) as conn:
        return describe_text(describe(conn))


def compare(platform_db: str, floor_db: str) -> bool:
    """The platform's contract marts against the floor's, row by row (doubles to 1e-9)."""
    import duckdb

    conn = duckdb.connect()
    conn.execute(f"attach '{platform_db}' as p (read_only)")
    conn.execute(f"attach '{floor_db}' as q (read_only)")
    agree = True
    print("\nagreement with the floor, row by row:")
    for name in CONTRACT:
        described = conn.execute(f"describe q.floor.{name}").fetchall()
        # doubles to 9 decimals (sums depend on the order DuckDB adds in); a session's
        # start_reason under tied starts follows each side's own tie-break: left out
        exprs = ", ".join(
            f"round({c}::double, 9)" if t.startswith(("DOUBLE", "DECIMAL")) else c
            for c, t, *_ in described
            if not (name == "sessions" and c == "start_reason")
        )
        a = f"select {exprs} from p.marts.{name}"
        b = f"select {exprs} from q.floor.{name}"
        diff = conn.execute(
            f"select count(*) from (({a} except all {b}) union all ({b} except all {a}))"
        ).fetchone()[0]
        rows = conn.execute(f"select count(*) from p.marts.{name}").fetchone()[0]
        agree = agree and diff == 0
        print(f"  {'agree   ' if not diff else 'DISAGREE'} {name}: {rows:,} rows, {diff} differ")
    conn.close()
    return agree


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes): other work shares the cores."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure(warehouse: Path, tmp: Path, repeat: int, keep: bool) -> dict:
    """Floor, ours, floor, ours ... (``repeat`` of each, each in a fresh process on its own
    copy); best CPU of each side, the highest peak RSS, the load beside each run."""
    runs: dict[str, list[dict]] = {"floor": [], "platform": []}
    for r in range(repeat):
        for side in ("floor", "platform"):
            out = run_side(side, warehouse, tmp, r, repeat)
            out["load"] = load()
            print(
                f"  run {r + 1} {side:<8} {out['cpu']:7.1f} s CPU, {out['wall']:7.1f} s wall, "
                f"peak RSS {out['peak_rss_mb']:,.0f} MB; load {out['load']}",
                flush=True,
            )
            previous = runs[side][-1]["db"] if runs[side] else None
            runs[side].append(out)
            if previous and not keep:
                shutil.rmtree(Path(previous).parent)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warehouse", type=Path, default=Path("/tmp/bench_wh/warehouse.duckdb"))
    parser.add_argument(
        "--synthetic",
        type=int,
        nargs="+",
        help="synthetic plays instead of --warehouse (several sizes: side by side in one run)",
    )
    parser.add_argument(
        "--users", type=int, help="synthetic listeners (default: 3,000 per 10 million plays)"
    )
    parser.add_argument("--seed", type=int, default=17, help="synthetic data seed")
    parser.add_argument(
        "--data",
        type=Path,
        help="keep the synthetic warehouses in this folder (built once, then reused)",
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--per-mart", action="store_true", help="also each contract mart against its minimal SQL"
    )
    parser.add_argument("--keep", action="store_true", help="keep the copies (to investigate)")
    parser.add_argument("--side", choices=["platform", "floor", "per_mart"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:  # a child: one side on its copy, figures to --result
        if args.side == "per_mart":
            result = run_per_mart(args.db, args.repeat)
        else:
            result = (run_platform if args.side == "platform" else run_floor)(args.db)
        result["peak_rss_mb"] = peak_rss_mb()
        args.result.write_text(json.dumps(result))
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="bench-marts-"))
    agree = True
    rows: list[tuple[str, dict]] = []
    print(f"load before: {load()} ({os.cpu_count()} cores)")
    try:
        worlds: list[tuple[str, Path]] = []
        if args.synthetic:
            folder = args.data or tmp
            folder.mkdir(parents=True, exist_ok=True)
            for plays in args.synthetic:
                users = args.users or max(plays * 3 // 10_000, 10)
                path = folder / f"synthetic_{plays}_{users}_{args.seed}.duckdb"
                if not path.exists():
                    synthetic_warehouse(path, plays, users, args.seed)
                worlds.append((f"{plays / 1e6:g}M", path))
        elif not args.warehouse.exists():
            sys.exit(
                f"no warehouse at {args.warehouse}: see bench/bench_warehouse.py or --synthetic"
            )
        else:
            worlds.append((args.warehouse.stem, args.warehouse))
        for label, warehouse in worlds:
            print(f"\n{label}: {warehouse}")
            folder = tmp / label
            folder.mkdir()
            runs = measure(warehouse, folder, args.repeat, args.keep)
            if args.per_mart:
                report_per_mart(run_side("per_mart", warehouse, folder, 0, args.repeat))
            report_seconds(runs)
            agree = compare(runs["platform"][-1]["db"], runs["floor"][-1]["db"]) and agree
            print(f"the data:\n{data_shape(runs['platform'][-1]['db'])}")
            rows.append((label, runs))
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
        report(rows)
        print(f"load after: {load()}")
    finally:
        if args.keep:
            print(f"\ncopies kept under {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if agree else 1


#: The targets (issue 24): the step within this many times the floor's CPU, under this RSS.
TARGET_RATIO = 1.5
TARGET_RSS_MB = 1536


def report(rows: list[tuple[str, dict[str, list[dict]]]]) -> None:
    """Every size side by side: best CPU of each side, their ratio, peak RSS, the load."""
    print(
        f"\n{'data':<8} {'step CPU s':>10} {'floor CPU s':>11} {'ratio':>6} "
        f"{'step wall s':>11} {'floor wall s':>12} {'step RSS MB':>11} {'floor RSS MB':>12}"
        "  load during the runs (1 min)"
    )
    per_play = []
    for label, runs in rows:
        best = {side: min(runs[side], key=lambda r: r["cpu"]) for side in runs}
        peak = {side: max(r["peak_rss_mb"] for r in runs[side]) for side in runs}
        ratio = best["platform"]["cpu"] / best["floor"]["cpu"]
        loads = ", ".join(r["load"].split()[0] for side in runs for r in runs[side])
        verdict = "ok" if ratio <= TARGET_RATIO and peak["platform"] < TARGET_RSS_MB else "OVER"
        print(
            f"{label:<8} {best['platform']['cpu']:10.1f} {best['floor']['cpu']:11.1f} "
            f"{ratio:6.2f} {best['platform']['wall']:11.1f} {best['floor']['wall']:12.1f} "
            f"{peak['platform']:11,.0f} {peak['floor']:12,.0f}  {loads}  {verdict}"
        )
        per_play.append((label, best["platform"]["cpu"], best["floor"]["cpu"]))
    print(
        f"\ntargets: step <= {TARGET_RATIO}x the floor's CPU (best of each), step peak RSS < "
        f"{TARGET_RSS_MB:,} MB (DuckDB memory_limit {MEMORY_LIMIT})"
    )
    if len(per_play) > 1:
        (a, ca, fa), *rest = per_play
        for b, cb, fb in rest:
            print(f"growth {a} -> {b}: step CPU x{cb / ca:.2f}, floor CPU x{fb / fa:.2f}")


def report_seconds(runs: dict[str, list[dict]]) -> None:
    best = min(runs["platform"], key=lambda r: r["cpu"])
    seconds = best["seconds"]
    total = sum(seconds.values())
    print("  the step's marts, SQL seconds (wall, best platform run):")
    print(
        "    "
        + ", ".join(f"{n} {s:.1f}" for n, s in sorted(seconds.items(), key=lambda kv: -kv[1]))
        + f" (total {total:.1f})"
    )


def report_per_mart(per_mart: dict) -> None:
    print("  scratch tables the contract marts read, CPU s (built once per step):")
    for name, cpu in per_mart["scratch"].items():
        print(f"    {name:<22} {cpu:6.2f}")
    print("  each contract mart, CPU s (best of each, same process, alternating):")
    for name, figures in per_mart["marts"].items():
        r = figures["platform"] / figures["minimal"]
        charged = (figures["platform"] + figures["scratch"]) / figures["minimal"]
        print(
            f"    {name:<20} platform {figures['platform']:6.2f}  minimal "
            f"{figures['minimal']:6.2f}  ratio {r:.2f}; with all its scratch tables "
            f"{figures['platform'] + figures['scratch']:6.2f}, ratio {charged:.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
