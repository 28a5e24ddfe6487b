"""The Dagster side of every landing zone, made once: batch partitions, the sensor that takes
settled files in batches and frees the files of dead runs, the ingest asset with its file
checks, and, when the declaration asks, the zone's core table and table of rejected records.

A zone is declared in one module of ``defs/`` (with its parser in ``lib/``)::

    SCORES = landing_zone_defs(
        SCORES_ZONE, key=dg.AssetKey(["raw", "score_files"]), group="scores",
        description="...", table=dg.AssetKey(["core", "scores"]),
    )
    defs = SCORES.definitions

Nothing else lists it: ``spotify_assets.definitions`` finds every zone in the loaded
definitions (:func:`landing_zones`) and builds ``core/landing_files`` (every landed object of
every zone, accounted for) and the held-file rows of ``reports/data_quality`` from them.

A **batch** is the files one ingest run takes: a Dagster partition (so Dagster's event log and
the UI grow with runs, not with files), with its list of files in the lake
(``processed/<zone>_batches/<batch>.files.json``). A batch's run also builds what the zone
feeds in its own group (its core tables and marts) and ``core/landing_files``, after its
ingest: a landed file reaches them without waiting for the automation's next tick and another
run worker (a year of charts: about 12 s sooner), and every run that ingested files rebuilds
the tables after it, whatever other runs do meanwhile. What lies beyond (the catalog, the
dashboard) follows by automation once the run has ended. Each file's own state is in its manifest
and in ``core/landing_files``. A file failing a blocking check of its zone is *held*: its rows
stay out of the core tables, alone, until it is fixed or removed; the check results of the
batch say so (ERROR) without stopping the other files of the batch, nor what is downstream.
"""

import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.quality.table_checks import inline_row_count_result, inline_row_count_spec
from spotify_assets.defs.warehouse_tables import ROW_COUNT_MAY_DROP, warehouse_asset
from spotify_assets.lib.lake import LakeError
from spotify_assets.lib.landing import (
    LandingParseError,
    LandingZone,
    ScanResult,
    ZoneCursor,
    build_rejected_records,
    held_files,
    ingest_many,
    inventory,
    new_batch_id,
    plan_batches,
    processed_files,
    processed_rows,
    read_batch,
    scan,
    settle_wait_s,
    write_batch,
)
from spotify_assets.lib.landing.inventory import STATUSES, inventory_table
from spotify_assets.resources import LakeResource
from spotify_assets.resources.table_metadata import table_metadata

#: The run tag naming the batch a run takes (``<zone>/<batch>``): how the sensor finds it.
BATCH_TAG = "spotify_assets/batch"
FILES_TAG = "spotify_assets/files"
#: The ingest asset's metadata entry naming its zone: how zones are found in the definitions.
ZONE_METADATA = "spotify_assets/landing_zone"
LANDING_FILES_KEY = dg.AssetKey(["core", "landing_files"])
#: The account of landed files and rejected records is built after the other steps of its run
#: (Dagster runs a run's ready steps by ``dagster/priority``): the tables and marts people read
#: come first (a year of charts: the chart marts 3 s sooner).
ACCOUNT_OP_TAGS = {"dagster/priority": "-1"}
#: Seconds between two looks at a zone (a tick that finds the listing unchanged reads nothing
#: more).
SENSOR_INTERVAL_S = 10
#: A batch whose run has not appeared after this long (a request that was lost), or whose
#: failed run is still waiting for its retry after this long, is freed.
BATCH_GRACE = timedelta(minutes=10)

_DONE = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


class IngestConfig(dg.Config):
    reprocess: bool = False
    """Parse files again even when their bytes were processed already (after a parser fix)."""


@dataclass(frozen=True)
class ZoneDefs:
    """Everything one zone gets: its batch partitions, ingest asset, sensor, job and, when
    declared, its core table and its table of rejected records."""

    zone: LandingZone
    key: dg.AssetKey
    partitions: dg.DynamicPartitionsDefinition
    asset: dg.AssetsDefinition
    sensor: dg.SensorDefinition
    job: Any  # what dg.define_asset_job returns (its class is not public)
    tables: tuple[dg.AssetsDefinition, ...] = ()

    @property
    def definitions(self) -> dg.Definitions:
        return dg.Definitions(
            assets=[self.asset, *self.tables], sensors=[self.sensor], jobs=[self.job]
        )


_DECLARED: dict[str, ZoneDefs] = {}


def landing_zones(defs: dg.Definitions) -> tuple[ZoneDefs, ...]:
    """Every landing zone of ``defs`` (its ingest asset carries the zone's name), by name."""
    found = {}
    for assets_def in defs.assets or []:
        if not isinstance(assets_def, dg.AssetsDefinition):
            continue
        for spec in assets_def.specs:
            name = (spec.metadata or {}).get(ZONE_METADATA)
            if name is not None and spec.key.to_user_string() in _DECLARED:
                found[str(name)] = _DECLARED[spec.key.to_user_string()]
    return tuple(found[n] for n in sorted(found))


def landing_zone_defs(
    zone: LandingZone,
    *,
    key: dg.AssetKey,
    group: str,
    description: str,
    kinds: set[str] | None = None,
    table: dg.AssetKey | None = None,
    table_description: str | None = None,
    rejected_records_table: dg.AssetKey | None = None,
    sensor_interval_s: int = SENSOR_INTERVAL_S,
) -> ZoneDefs:
    """The batch partitions, ingest asset, sensor and job of ``zone``; with ``table``, its
    core table (every row of its files that are not held, as the parser made them); with
    ``rejected_records_table``, the table of its rejected records. The sensor looks at the
    zone every ``sensor_interval_s`` seconds (each look costs the daemon about 0.07 CPU s)."""
    partitions = dg.DynamicPartitionsDefinition(name=f"{zone.name}_batches")
    ingest_asset = _ingest_asset(zone, key, partitions, group, description, kinds)
    job = dg.define_asset_job(
        f"{zone.name}_job",
        selection=dg.AssetSelection.assets(key),
        description=f"Ingest batches of landed files of {zone.landing_prefix} (the sensor "
        "launches it; also for the Launchpad and make demo).",
    )
    sensor = _sensor(zone, key, partitions, sensor_interval_s, group)
    made = ZoneDefs(zone, key, partitions, ingest_asset, sensor, job)
    tables = []
    if table is not None:
        tables.append(zone_table_asset(made, table, group=group, description=table_description))
    if rejected_records_table is not None:
        tables.append(rejected_rows_asset(made, rejected_records_table, group=group))
    made = replace(made, tables=tuple(tables))
    _DECLARED[key.to_user_string()] = made
    return made


# --------------------------------------------------------------------------------------------
# The ingest asset
# --------------------------------------------------------------------------------------------


def _check_specs(zone: LandingZone, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(
            "files_readable",
            asset=key,
            description="Every file of the batch could be read (unreadable ones stay where they "
            "are, listed as rejected with the reason in core.landing_files; WARN: a person "
            "should look)",
        )
    ]
    for check in zone.checks:
        held = (
            " A failing file is held out of the core tables alone, until fixed or removed."
            if check.blocking
            else " WARN: a person should look."
        )
        # Not blocking in Dagster's sense: a held file stops only itself, so the batch's other
        # files and what is downstream go on.
        specs.append(
            dg.AssetCheckSpec(check.name, asset=key, description=check.description + "." + held)
        )
    return specs


def _ingest_asset(
    zone: LandingZone,
    key: dg.AssetKey,
    partitions: dg.DynamicPartitionsDefinition,
    group: str,
    description: str,
    kinds: set[str] | None,
) -> dg.AssetsDefinition:
    # backfill_policy is beta in Dagster 1.13 and used on purpose (a backfill of many batches
    # is one run): its warning is not repeated at every load of the code location.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        decorator = dg.asset(
            key=key,
            group_name=group,
            partitions_def=partitions,
            backfill_policy=dg.BackfillPolicy.single_run(),
            kinds=kinds or {"parquet"},
            description=description,
            metadata={ZONE_METADATA: zone.name},
            check_specs=_check_specs(zone, key),
        )

    @decorator
    def _ingest(context: dg.AssetExecutionContext, config: IngestConfig, lake: LakeResource):
        store = lake.store()
        started = time.perf_counter()
        files: dict[str, str] = {}
        for batch in context.partition_keys:
            files.update(read_batch(store, zone, batch))
        paths = sorted(files)
        context.log.info(f"{len(paths)} files in batch {', '.join(context.partition_keys)}")
        per_file, crashes = _ingest_files(context, store, zone, files, paths, config.reprocess)
        yield _summary(per_file, started)
        yield from _check_results(zone, per_file)
        if crashes:  # every file was tried; the inventory lists these as failed
            raise dg.Failure(
                description=f"The parser of {zone.landing_prefix} failed on {len(crashes)} "
                "file(s) (a bug, not the files' fault; the other files were ingested): "
                + "; ".join(crashes[:5]),
                metadata={"failed_files": dg.MetadataValue.json(crashes[:200])},
            )

    return _ingest


def _ingest_files(
    context: dg.AssetExecutionContext,
    store: Any,
    zone: LandingZone,
    files: dict[str, str],
    paths: list[str],
    reprocess: bool,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every file of the batch, a chunk at a time, with progress in the log."""
    per_file: dict[str, dict[str, Any]] = {}
    crashes: list[str] = []
    step = max(1, zone.files_per_chunk)
    started = last_log = time.perf_counter()
    label = context.partition_keys[0] if len(context.partition_keys) == 1 else None
    for start in range(0, len(paths), step):
        chunk = paths[start : start + step]
        try:
            per_file.update(
                ingest_many(
                    store, zone, chunk, reprocess=reprocess, expected_etags=files, batch=label
                )
            )
        except LandingParseError as exc:  # the chunk's other files are written
            context.log.error(str(exc))
            crashes += exc.failures
            per_file.update(exc.results)
        for path in chunk:
            info = per_file[path]
            if info["status"] not in ("accepted", "changed"):
                context.log.warning(f"{path}: {info['status']}: {info.get('reason')}")
            for member in info.get("not_ingested") or []:
                context.log.info(f"{path}: {member.get('name')}: not ingested: {member['reason']}")
        done = start + len(chunk)
        now = time.perf_counter()
        if done == len(paths) or now - last_log > 5:
            last_log = now
            context.log.info(f"{done}/{len(paths)} files, {now - started:.1f} s")
    changed = [p for p, i in per_file.items() if i["status"] == "changed"]
    if changed:
        context.log.info(
            f"{len(changed)} files changed since the sensor saw them (still being written?): "
            f"taken again once they settle: {', '.join(changed[:10])}"
        )
    return per_file, crashes


def _summary(per_file: dict[str, dict[str, Any]], started: float) -> dg.MaterializeResult:
    by_status: dict[str, int] = {}
    for info in per_file.values():
        by_status[info["status"]] = by_status.get(info["status"], 0) + 1
    accepted = [i for i in per_file.values() if i["status"] == "accepted"]
    not_taken = {
        path: [{"member": m.get("name"), "reason": m.get("reason")} for m in i["not_ingested"]]
        if i["status"] == "accepted"
        else [{"member": None, "status": i["status"], "reason": i.get("reason")}]
        for path, i in per_file.items()
        if i["status"] not in ("accepted", "changed") or i.get("not_ingested")
    }
    return dg.MaterializeResult(
        metadata={
            "files": len(per_file),
            **{f"files_{status}": n for status, n in sorted(by_status.items())},
            "files_unchanged": sum(bool(i.get("unchanged")) for i in accepted),
            "records_accepted": sum(int(i.get("accepted") or 0) for i in accepted),
            "records_rejected": sum(int(i.get("rejected") or 0) for i in accepted),
            # The first files not taken (core.landing_files lists them all).
            "not_ingested": dg.MetadataValue.json(dict(list(not_taken.items())[:200])),
            "seconds": round(time.perf_counter() - started, 2),
        }
    )


def _check_results(
    zone: LandingZone, per_file: dict[str, dict[str, Any]]
) -> list[dg.AssetCheckResult]:
    n = len(per_file)
    unreadable = {k: i["reason"] for k, i in per_file.items() if i["status"] == "rejected"}
    results = [
        dg.AssetCheckResult(
            check_name="files_readable",
            passed=not unreadable,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rejected_files": dg.MetadataValue.json(dict(list(unreadable.items())[:200]))
            },
            description=f"{len(unreadable)} of {n} files unreadable (listed as rejected)"
            if unreadable
            else None,
        )
    ]
    accepted = {k: i for k, i in per_file.items() if i["status"] == "accepted"}
    for check in zone.checks:
        failing = {k: d for k, i in accepted.items() if (d := check.failing(i))}
        what = "held out of the core tables until fixed or removed" if check.blocking else "fail"
        results.append(
            dg.AssetCheckResult(
                check_name=check.name,
                passed=not failing,
                severity=dg.AssetCheckSeverity.ERROR
                if check.blocking
                else dg.AssetCheckSeverity.WARN,
                metadata={
                    "files_failing": dg.MetadataValue.json(dict(list(failing.items())[:200]))
                },
                description=f"{len(failing)} of {n} files {what}" if failing else None,
            )
        )
    return results


# --------------------------------------------------------------------------------------------
# The sensor
# --------------------------------------------------------------------------------------------


def batch_state(
    instance: dg.DagsterInstance, zone: LandingZone, batch: str, requested: str, now: datetime
) -> tuple[bool, str | None]:
    """(still in flight, why it was freed): a batch is in flight while a run of it is queued
    or running, or a failed run of it waits for its retry; freed otherwise, so its files that
    were not processed are taken again."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={BATCH_TAG: f"{zone.name}/{batch}"}), limit=20
    )
    if not records:
        waited = now - datetime.fromisoformat(requested)
        if waited < BATCH_GRACE:
            return True, None
        return False, f"batch {batch}: no run was launched in {waited}; its files are taken again"
    if any(r.dagster_run.status not in _DONE for r in records):
        return True, None
    latest = max(records, key=lambda r: r.create_timestamp)
    run = latest.dagster_run
    if run.status == dg.DagsterRunStatus.SUCCESS:
        return False, None
    ended = latest.end_time or latest.update_timestamp.timestamp()
    if run.tags.get("dagster/will_retry") == "true" and now.timestamp() - ended < (
        BATCH_GRACE.total_seconds()
    ):
        return True, None  # Dagster's run retries will run it again
    return False, (
        f"batch {batch}: run {run.run_id} ended {run.status.value.lower()} before processing "
        "all its files; those files are taken again"
    )


#: A local zone's folders unchanged since a tick that found nothing to do are not listed again,
#: for at most this long: a file rewritten in place under its name (a corrected file landed at
#: the same path) leaves its folder's time as it was and is seen within this. A listing of
#: 25,000 files costs about 0.4 CPU s: every 2 minutes, 0.2 CPU s a minute.
FULL_LISTING_EVERY_S = 120
#: zone -> (its folders' fingerprint, the listing digest then, when), in the code server.
_QUIET_ZONES: dict[str, tuple[str, str, float]] = {}


def sensor_lake(context: dg.SensorEvaluationContext) -> LakeResource:
    """The lake of the code location for a sensor tick. Dagster builds a sensor's declared
    resources at every tick with a new DagsterInstance (storage set-up and schema migration
    checks: about 35 ms of the code server's CPU a tick), so the landing sensors take the
    location's own ``lake`` object instead; a test's context (``build_sensor_context(
    resources={"lake": ...})``, no instance ref) brings its own."""
    if context.instance_ref is None:
        return context.resources.lake
    from spotify_assets.defs.environment import RESOURCES

    return RESOURCES["lake"]  # type: ignore[return-value]


def batch_run_selection(key: dg.AssetKey, group: str) -> dg.AssetSelection:
    """What a batch's run builds: the ingest asset ``key``, what is downstream of it in its own
    ``group`` (the zone's core tables and marts) and ``core/landing_files``."""
    downstream = dg.AssetSelection.assets(key).downstream()
    return dg.AssetSelection.assets(key) | (
        downstream
        & (dg.AssetSelection.groups(group) | dg.AssetSelection.key_prefixes(LANDING_FILES_KEY.path))
    )


def _sensor(
    zone: LandingZone,
    key: dg.AssetKey,
    partitions: dg.DynamicPartitionsDefinition,
    interval_s: int,
    group: str,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{zone.name}_sensor",
        description=f"Watches {zone.landing_prefix} in the lake (folder or S3) and launches a "
        f"run of {key.to_user_string()} per batch of new or changed files once they have "
        f"stopped changing, then what the zone feeds in group {group} and "
        "core/landing_files; frees the files of runs that died without processing them.",
        asset_selection=batch_run_selection(key, group),
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _watch(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        lake = sensor_lake(context)
        store = lake.store()
        now = datetime.now(UTC)
        cursor = ZoneCursor.from_json(context.cursor)
        flying: dict[str, str] = {}
        released = []
        for batch, requested in sorted(cursor.in_flight.items()):
            alive, why = batch_state(context.instance, zone, batch, requested, now)
            if alive:
                try:
                    flying.update(read_batch(store, zone, batch))
                    continue
                except LakeError as exc:
                    why = str(exc)
            released.append(batch)
            if why:
                context.log.warning(why)
        cursor.in_flight = {b: t for b, t in cursor.in_flight.items() if b not in released}
        fingerprint = None
        if not cursor.in_flight and not cursor.settling and not released:
            fingerprint = getattr(store, "folders_fingerprint", lambda _p: None)(
                zone.landing_prefix
            )
            quiet = _QUIET_ZONES.get(zone.name)
            if (
                fingerprint is not None
                and quiet is not None
                and quiet[:2] == (fingerprint, cursor.listing)
                and time.monotonic() - quiet[2] < FULL_LISTING_EVERY_S
            ):
                return dg.SensorResult(
                    skip_reason=f"Nothing new in {lake.uri(zone.landing_prefix)} (its folders "
                    "are unchanged)",
                    cursor=context.cursor,
                )

        def look(at: datetime) -> ScanResult:
            return scan(
                store,
                zone,
                cursor,
                now=at,
                settle_s=lake.landing_settle_s,
                in_flight=flying,
                force=bool(released),
            )

        found = look(now)
        wait = settle_wait_s(found.settling, now, lake.landing_settle_s)
        if wait is not None:  # once per tick: a copy still going on is left to a later tick
            context.log.info(
                f"{len(found.settling)} files settle within {wait:.1f} s: waiting for them"
            )
            time.sleep(wait)
            now = datetime.now(UTC)
            found = look(now)
        for reason in found.not_taken:
            context.log.warning(f"Not taken: {reason}")
        if found.settling:
            context.log.info(
                f"{len(found.settling)} files still changing (taken once unchanged for "
                f"{lake.landing_settle_s:g} s): {', '.join(f.path for f in found.settling[:5])}"
            )
        if fingerprint is not None and not found.to_run and not found.cursor.settling:
            _QUIET_ZONES[zone.name] = (fingerprint, found.cursor.listing, time.monotonic())
        if not found.to_run:
            return dg.SensorResult(
                skip_reason=f"Nothing new to take in {lake.uri(zone.landing_prefix)}"
                + (f" ({len(cursor.in_flight)} batches in flight)" if cursor.in_flight else ""),
                cursor=found.cursor.to_json(),
            )
        requests, new = [], []
        for files in plan_batches(
            found.to_run, max_files=lake.ingest_batch_files, max_bytes=lake.ingest_batch_bytes
        ):
            batch = new_batch_id(now)
            write_batch(store, zone, batch, files)
            found.cursor.in_flight[batch] = now.isoformat()
            new.append(batch)
            requests.append(
                dg.RunRequest(
                    run_key=f"{zone.name}:{batch}",
                    partition_key=batch,
                    # The sensor's whole selection: the ingest, then the zone's tables. Every
                    # batch's run rebuilds them: a tick's batches run side by side, and a table
                    # built by one of them while another was still ingesting would miss that
                    # one's files (a tick makes several batches only past the batch limits).
                    asset_selection=None,
                    tags={BATCH_TAG: f"{zone.name}/{batch}", FILES_TAG: str(len(files))},
                )
            )
        context.log.info(
            f"{len(found.to_run)} files in {len(requests)} batches from "
            f"{lake.uri(zone.landing_prefix)}"
        )
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[partitions.build_add_request(new)],
            cursor=found.cursor.to_json(),
        )

    return _watch


# --------------------------------------------------------------------------------------------
# The tables of a zone, and of every zone
# --------------------------------------------------------------------------------------------


def log_held_files(
    context: dg.AssetExecutionContext, store: Any, zone: LandingZone, *, out_of: str
) -> dict[str, dict[str, Any]]:
    """The zone's held files (``processed_files`` leaves them out), said in the step's log."""
    held = held_files(store, zone)
    if held:
        context.log.warning(
            f"{len(held)} files held out of {out_of} until fixed or removed: "
            + "; ".join(f"{k} ({', '.join(v)})" for k, v in list(held.items())[:10])
        )
    return held


def zone_table_asset(
    zone_defs: ZoneDefs, key: dg.AssetKey, *, group: str, description: str | None = None
) -> dg.AssetsDefinition:
    """A zone's core table: every row of its files that are not held, as the parser made
    them (a zone whose rows need more, such as deduplication, builds its own)."""
    zone = zone_defs.zone
    schema, table = key.path

    @warehouse_asset(
        key=key,
        deps=[zone_defs.key],
        group_name=group,
        description=description
        or f"Every row of the files landed in {zone.landing_prefix}, but the held ones.",
    )
    def _table(
        context: dg.AssetExecutionContext, lake: LakeResource, warehouse: DuckDBResource
    ) -> dg.MaterializeResult:
        store = lake.store()
        held = log_held_files(context, store, zone, out_of=f"{schema}.{table}")
        with tempfile.TemporaryDirectory(prefix=f"{zone.name}-") as tmp:
            files = processed_files(store, zone, Path(tmp))
            with warehouse.get_connection() as conn:
                conn.execute(f"create schema if not exists {schema}")
                with processed_rows(conn, files) as rows:
                    if rows is None and zone.schema is not None:
                        conn.register("_zone_empty", zone.schema.empty_table())
                        rows = "_zone_empty"
                    source = rows or "(select null::varchar as source_file where false)"
                    conn.execute(f"create or replace table {schema}.{table} as from {source}")
                metadata = table_metadata(conn, key)
        return dg.MaterializeResult(
            metadata={
                **metadata,
                "files": len(files),
                "files_held_out": dg.MetadataValue.json(held),
            }
        )

    return _table


def rejected_rows_asset(
    zone_defs: ZoneDefs, key: dg.AssetKey, *, group: str, freshness_policy: Any = None
) -> dg.AssetsDefinition:
    """The warehouse table of a zone's rejected records (file, record index or line, reason,
    excerpt), held files' included, rebuilt when the zone's ingest asset updates."""
    zone = zone_defs.zone
    schema, table = key.path

    @warehouse_asset(
        op_tags=ACCOUNT_OP_TAGS,
        key=key,
        deps=[zone_defs.key],
        group_name=group,
        freshness_policy=freshness_policy,
        metadata={ROW_COUNT_MAY_DROP: "rejected records empty when a bad file is fixed"},
        description=f"Records of the files landed in {zone.landing_prefix} that could not be "
        "used: file, record index or line, reason, excerpt.",
    )
    def _rejected_rows(lake: LakeResource, warehouse: DuckDBResource) -> dg.MaterializeResult:
        with tempfile.TemporaryDirectory(prefix=f"{zone.name}-rejects-") as tmp:
            files = processed_files(lake.store(), zone, Path(tmp), include_held=True)
            with warehouse.get_connection() as conn:
                build_rejected_records(conn, f"{schema}.{table}", files)
                metadata = table_metadata(conn, key)
        return dg.MaterializeResult(metadata={**metadata, "files": len(files)})

    return _rejected_rows


def landing_files_asset(zones: Sequence[ZoneDefs]) -> dg.AssetsDefinition:
    """``core/landing_files``: every object of every zone accounted for, in one table (its
    zone, key, listener, status and the reason), rebuilt whenever any zone's ingest asset
    updates. The dashboard's "Landed files not ingested" section reads it."""

    @warehouse_asset(
        key=LANDING_FILES_KEY,
        op_tags=ACCOUNT_OP_TAGS,
        deps=[z.key for z in zones],
        group_name="listening",
        # Checked in its own step: in a batch's run it comes last (ACCOUNT_OP_TAGS), and the
        # shared check step of the zone's core table, which its marts wait for, need not wait
        # for it (a year of charts: 2 s).
        check_specs=[inline_row_count_spec(LANDING_FILES_KEY, "core.landing_files")],
        description="Every object in every landing zone, accounted for: "
        + ", ".join(STATUSES)
        + " (not this zone's data: an export's Userdata.json, video history, a zip's other "
        "files, a link; held: failing a blocking check, out of the core tables until fixed), "
        "with the reason.",
    )
    def landing_files(
        context: dg.AssetExecutionContext, lake: LakeResource, warehouse: DuckDBResource
    ) -> dg.MaterializeResult:
        store = lake.store()
        rows = [
            row for z in zones for row in inventory(store, z.zone, settle_s=lake.landing_settle_s)
        ]
        by_status: dict[str, int] = {}
        for row in rows:
            by_status[row["status"]] = by_status.get(row["status"], 0) + 1
        with warehouse.get_connection() as conn:
            conn.execute("create schema if not exists core")
            inventory_table(conn, "core.landing_files", rows)
            metadata = table_metadata(conn, LANDING_FILES_KEY)
        return dg.MaterializeResult(
            metadata={**metadata, "by_status": dg.MetadataValue.json(by_status)},
            check_results=[inline_row_count_result(context.instance, LANDING_FILES_KEY, len(rows))],
        )

    return landing_files
