"""``make demo``: materialize the whole graph on the embedded sample world, headless, and
say where the results are.

It runs through the same Dagster instance as ``make dev`` ($DAGSTER_HOME), so every run,
materialization and check result it makes is there in the UI afterwards. Steps:

1. land the sample world's exports (and one listener's Last.fm and ListenBrainz exports),
   charts and catalog datasets into each landing zone that is empty (a zone holding files
   already, a user's own, is left as it is);
2. snapshot the latest ``SPOTIFY_DEMO_SNAPSHOTS`` 8-hour windows and one 91 days earlier (a
   backfill: the sample world answers as of any window; the model's forward evaluation
   compares the two);
3. build every unpartitioned asset from them: the core tables, the marts, the model, the
   dashboard and the BI exports;
4. print the warehouse tables with their row counts, the check results and the paths.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from spotify_assets.settings import Settings, load_settings

log = logging.getLogger("spotify_assets.demo")


def _history_files(world: Any, tmp: Path) -> list[Path]:
    from spotify_assets.lib.sample.world.history import write_streaming_history
    from spotify_assets.lib.sample.world.scrobbles import write_scrobbles
    from spotify_assets.lib.sample.world.vintages import write_export_vintages

    write_streaming_history(world, tmp)
    # Some listeners' exports as real ones come: endsong.json, an old mixed account-data
    # export, a zip as downloaded.
    write_export_vintages(world, tmp)
    # One listener scrobbles to Last.fm and ListenBrainz, for years before and beside
    # Spotify: their exports land beside their Spotify one.
    write_scrobbles(world, tmp)
    return sorted(p for p in tmp.rglob("*") if p.is_file())


def _chart_files(world: Any, tmp: Path) -> list[Path]:
    from spotify_assets.lib.sample.world.charts import write_sample_charts

    return write_sample_charts(tmp, world)


def _dataset_files(world: Any, tmp: Path) -> list[Path]:
    from spotify_assets.lib.sample.world.datasets import sample_dataset_files

    paths = []
    for name, data in sample_dataset_files(world).items():
        (tmp / name).write_bytes(data)
        paths.append(tmp / name)
    return paths


#: What the demo lands: (what, zone, the sample world's files of it).
SAMPLE_ZONES: tuple[tuple[str, str, Callable[[Any, Path], list[Path]]], ...] = (
    ("Listening-history exports", "streaming_history", _history_files),
    ("Chart CSVs", "charts", _chart_files),
    ("Catalog dataset CSVs", "catalog_datasets", _dataset_files),
)


def land_sample_world(settings: Settings) -> list[str]:
    """Put the sample world's files into each landing zone that is empty, and say so; a zone
    that already holds files (a user's own exports, charts or datasets) is left as it is, so
    the sample world never mixes with real data. Returns one line per zone."""
    from spotify_assets.lib.sample.world import build_world
    from spotify_assets.resources import LakeResource

    lake = LakeResource(
        url=settings.lake_url,
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_region_name=settings.aws_region,
    )
    store = lake.store()
    world = None
    lines = []
    for what, zone, make in SAMPLE_ZONES:
        prefix = f"landing/{zone}/"
        existing = store.list(prefix)
        if existing:
            lines.append(
                f"{what}: {len(existing)} files already at {lake.uri(prefix)}; the sample "
                "world's are not added (they land only into an empty zone)"
            )
            continue
        world = world or build_world(settings.sample_scale, seed=settings.sample_seed)
        with tempfile.TemporaryDirectory() as tmp:
            paths = make(world, Path(tmp))
            for path in paths:
                store.put_bytes(f"{prefix}{path.relative_to(tmp).as_posix()}", path.read_bytes())
        lines.append(f"{what}: the sample world's {len(paths)} files landed at {lake.uri(prefix)}")
    return lines


def fewer_sqlite_syncs(instance: dg.DagsterInstance) -> list[sqlite3.Connection]:
    """Dagster's SQLite storage (the local instance: runs, events, schedules) opens a
    connection per call, syncs the disk at every commit, and the last connection to close
    checkpoints the write-ahead log with another sync. The demo writes about 2,000 events, so
    on a busy disk those syncs were a third of its wall time. For this process only, the
    results unchanged: ``synchronous=NORMAL``, SQLite's advice for WAL databases (a power cut
    may lose the last events, never corrupt the file), and one connection held open to each
    database, so that closing the others does not checkpoint each time (SQLite still does
    every 1,000 pages). Returns the held connections (close them at the end); none for an
    instance on PostgreSQL."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _normal_sync):
        event.listen(Engine, "connect", _normal_sync)
    held = []
    for db in sorted(Path(instance.root_directory).rglob("*.db")):
        conn = sqlite3.connect(db)
        conn.execute("select count(*) from sqlite_master").fetchall()  # opens the WAL index
        held.append(conn)
    return held


def _normal_sync(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("pragma synchronous=NORMAL")


def _run(
    job: dg.JobDefinition, instance: dg.DagsterInstance, **kwargs
) -> dg.ExecuteInProcessResult:
    # Progress (INFO) on the console; every event is still in the UI.
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    result = job.execute_in_process(
        instance=instance, raise_on_error=False, run_config=quiet, **kwargs
    )
    if not result.success and not _only_blocking_checks_failed(result):
        failures = [
            e.event_specific_data.error.message.strip()  # type: ignore[union-attr]
            for e in result.all_events
            if e.is_step_failure and e.event_specific_data and e.event_specific_data.error
        ]
        raise SystemExit(
            f"Run {result.run_id} of {job.name} failed"
            + (f" {kwargs.get('partition_key', '')}" if kwargs.get("partition_key") else "")
            + ":\n"
            + "\n".join(failures)
            + "\nSee the run in the UI (make dev) for the full logs."
        )
    if result.success:
        _publish(instance, result.run_id)
    return result


def _publish(instance: dg.DagsterInstance, run_id: str) -> None:
    """Lakehouse mode: publish a successful run's snapshots, as the daemon's sensor does in
    `make dev` (readers read what is published). Nothing in file mode."""
    from spotify_assets.definitions import defs

    lakehouse = defs.resources.get("lakehouse")
    if lakehouse is None:
        return
    from spotify_assets.resources.lakehouse import publish_run

    publish_run(instance, instance.get_run_by_id(run_id), lakehouse)


def ingest_landing_zones(defs: dg.Definitions, instance: dg.DagsterInstance) -> list:
    """What the landing-zone sensors and the daemon do in `make dev`, done once per zone:
    evaluate the sensor, register the batches, run each batch. Files are taken as they are
    (no settle interval: the demo ingests what is in the landing folders now; a file still
    being copied in is taken again by `make dev` once it changes)."""
    from spotify_assets.defs.landing import landing_zones
    from spotify_assets.resources import LakeResource

    lake: LakeResource = defs.resources["lake"]
    now = LakeResource(
        url=lake.url,
        s3_endpoint_url=lake.s3_endpoint_url,
        s3_region_name=lake.s3_region_name,
        ingest_batch_files=lake.ingest_batch_files,
        ingest_batch_bytes=lake.ingest_batch_bytes,
        landing_settle_s=0,
    )
    results = []
    for zone in landing_zones(defs):
        tick = zone.sensor(dg.build_sensor_context(instance=instance, resources={"lake": now}))
        for request in tick.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(zone.partitions.name, request.partition_keys)
        job = defs.resolve_job_def(zone.job.name)
        for request in tick.run_requests or []:
            results.append(
                _run(job, instance, partition_key=request.partition_key, tags=request.tags)
            )
    return results


def _only_blocking_checks_failed(result: dg.ExecuteInProcessResult) -> bool:
    """A run whose steps all did their work but a blocking check failed: the check summary
    reports it; the demo goes on."""
    return all(
        "DagsterAssetCheckFailedError" in (e.event_specific_data.error.cls_name or "")  # type: ignore[union-attr]
        for e in result.all_events
        if e.is_step_failure
    )


def check_summary(results: list[dg.ExecuteInProcessResult]) -> tuple[int, list[str]]:
    passed = 0
    failed: list[str] = []
    for result in results:
        for event in result.get_asset_check_evaluations():
            if event.passed:
                passed += 1
            else:
                failed.append(
                    f"{event.asset_key.to_user_string()} / {event.check_name} "
                    f"({event.severity.value})"
                )
    return passed, failed


def model_summary(instance: dg.DagsterInstance) -> str | None:
    """The model's held-out scores against the baselines, from its latest materialization."""
    event = instance.get_latest_materialization_event(dg.AssetKey(["ml", "popularity_model"]))
    if event is None or event.asset_materialization is None:
        return None
    md = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    return (
        f"target {md.get('target')}; held-out R² {md.get('model r2')} (training mean "
        f"{md.get('mean r2')}, followers line {md.get('followers_linear r2')}), MAE "
        f"{md.get('model mae')} ({md.get('mean mae')}, {md.get('followers_linear mae')})"
    )


def dashboard_location(defs: dg.Definitions) -> str:
    from spotify_assets.defs.reports.assets import DASHBOARD_OBJECT

    return defs.resources["lake"].uri(DASHBOARD_OBJECT)


def bi_location(defs: dg.Definitions) -> str:
    from spotify_assets.defs.reports.assets import BI_PREFIX

    return defs.resources["lake"].uri(BI_PREFIX)


def see_it(settings: Settings) -> str:
    """Where the UI of ``make dev`` will be: SPOTIFY_UI_URL, else the port DAGSTER_PORT says
    (``settings.ui_url``), never a fixed 3000."""
    return f"See it:    make dev, then open {settings.ui_url}"


def print_tables(settings: Settings, defs: dg.Definitions) -> None:
    """Every table with its row count, as readers see it: the published copy of the DuckDB
    file, or the lakehouse's tables as of the last published run."""
    if settings.lakehouse:
        from spotify_assets.lib.lakehouse import attach_published
        from spotify_assets.lib.marts.definitions import mart_definitions

        lakehouse = defs.resources["lakehouse"]
        print(f"Warehouse (lakehouse): {lakehouse.describe()}")
        conn = duckdb.connect()
        attach_published(
            conn,
            lakehouse.catalog(),
            properties=lakehouse.properties(),
            definitions=mart_definitions(),
        )
    else:
        print(f"Warehouse (DuckDB): {settings.warehouse_path}")
        # Counted on the published copy: a reader never holds the file runs write.
        conn = duckdb.connect(str(settings.published_warehouse_path), read_only=True)
    with conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "order by table_schema, table_name"
        ).fetchall()
        for schema, table in tables:
            n = conn.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]
            print(f"  {schema}.{table:<24} {n:>10,} rows")


def main() -> int:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    settings = load_settings()
    from spotify_assets.definitions import defs
    from spotify_assets.defs.catalog.assets import SNAPSHOT_PARTITIONS

    started = time.perf_counter()
    try:
        instance = dg.DagsterInstance.get()
    except dg.DagsterInvariantViolationError:
        instance = dg.DagsterInstance.ephemeral()
        print("DAGSTER_HOME is not set: runs are not kept (use `make demo` to keep them).")
    held = fewer_sqlite_syncs(instance)

    for line in land_sample_world(settings):
        print(line)
    t0 = time.perf_counter()
    results = list(ingest_landing_zones(defs, instance))
    seconds = time.perf_counter() - t0
    print(f"Listening history, charts, datasets: {len(results)} ingest runs in {seconds:.1f} s")

    t0 = time.perf_counter()
    results.append(_run(defs.resolve_job_def("recently_played_job"), instance))
    print(f"Recently-played polled for every sample listener in {time.perf_counter() - t0:.1f} s")

    all_windows = SNAPSHOT_PARTITIONS.get_partition_keys(current_time=datetime.now(UTC))
    windows = all_windows[-settings.demo_snapshots :]
    # One window 91 days earlier too: the model's forward evaluation scores features as they
    # were 90 days before the latest snapshot against the target as it is now.
    earlier = len(all_windows) - 1 - 91 * 3
    if earlier >= 0 and all_windows[earlier] not in windows:
        windows = [all_windows[earlier], *windows]
    snapshot_job = defs.resolve_job_def("catalog_snapshot_job")
    for window in windows:
        t0 = time.perf_counter()
        results.append(_run(snapshot_job, instance, partition_key=window))
        print(f"Snapshot window {window}: done in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    results.append(_run(defs.resolve_job_def("catalog_tables_job"), instance))
    print(f"Catalog tables: done in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    results.append(_run(defs.resolve_job_def("listening_tables_job"), instance))
    print(f"Listening tables: done in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    results.append(_run(defs.resolve_job_def("charts_tables_job"), instance))
    print(f"Chart tables and marts: done in {time.perf_counter() - t0:.1f} s")
    # What the history plays that the playlists do not hold: looked up (one budgeted run),
    # then the catalog tables again, then core.streams resolves account-data names with it.
    t0 = time.perf_counter()
    results.append(_run(defs.resolve_job_def("catalog_lookups_job"), instance))
    results.append(_run(defs.resolve_job_def("listening_tables_job"), instance))
    print(f"Catalog lookups and tables with them: done in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    results.append(_run(defs.resolve_job_def("analytics_job"), instance))
    print(f"Marts, model and BI exports: done in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    results.append(_run(defs.resolve_job_def("dashboard_job"), instance))
    print(f"Data quality and dashboard: done in {time.perf_counter() - t0:.1f} s")
    model = model_summary(instance)
    for conn in held:  # the last to close checkpoints the log (on an error exit, the next opener)
        conn.close()

    passed, failed = check_summary(results)
    print()
    print(f"Whole graph materialized in {time.perf_counter() - started:.1f} s.")
    print_tables(settings, defs)
    print(f"Lake: {settings.lake_url}")
    print(f"Dashboard: {dashboard_location(defs)}  (opens offline in any browser)")
    print(f"BI exports (Parquet, CSV, DuckDB): {bi_location(defs)}")
    if model:
        print(f"Popularity model: {model}")
    print(f"Checks: {passed} passed, {len(failed)} failed")
    for line in failed:
        print(f"  FAILED {line}")
    if not settings.lakehouse:
        # People read the published copy (refreshed after every write), never the file runs
        # write.
        print(
            'Query it:  .venv/bin/python -c "import duckdb; print(duckdb.connect('
            f"'{settings.published_warehouse_path}', read_only=True)"
            ".sql('from core.tracks limit 5'))\""
        )
    print(see_it(settings))
    # WARN checks are for a person to look at; a failed ERROR check is a broken demo.
    return 1 if any("(ERROR)" in line for line in failed) else 0


if __name__ == "__main__":
    sys.exit(main())
