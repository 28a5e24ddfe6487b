"""The Dagster side of a landing zone, made once for every zone: a dynamic partition per
landed object, a sensor that requests new or changed objects in batched runs, and the ingest
asset with its checks. A zone (``spotify_assets.lib.landing.LandingZone``) brings its parser;
this brings the rest.

    HISTORY = landing_zone_defs(STREAMING_HISTORY_ZONE, key=..., group="listening", ...)
    streaming_history_files = HISTORY.asset     # module scope: the defs folder loads them
    streaming_history_sensor = HISTORY.sensor
    streaming_history_job = HISTORY.job
"""

import hashlib
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.automation import on_upstream_change
from spotify_assets.defs.warehouse_tables import ROW_COUNT_MAY_DROP
from spotify_assets.lib.landing import (
    FileCheck,
    LandingParseError,
    LandingZone,
    ZoneCursor,
    build_rejected_records,
    contiguous_batches,
    ingest_many,
    inventory,
    processed_files,
    scan,
)
from spotify_assets.lib.quality.held_files import parse_rate_check
from spotify_assets.resources import LakeResource
from spotify_assets.resources.warehouse import table_metadata

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
#: A readable file with fewer usable records than this is suspect: downstream waits.
MIN_PARSE_RATE = 0.9
PARSE_RATE = parse_rate_check(MIN_PARSE_RATE)
OWNERS = ["team:data-platform"]


class IngestConfig(dg.Config):
    reprocess: bool = False
    """Parse files again even when their bytes were processed already (after a parser fix)."""


@dataclass(frozen=True)
class ZoneDefs:
    zone: LandingZone
    key: dg.AssetKey
    partitions: dg.DynamicPartitionsDefinition
    asset: dg.AssetsDefinition
    sensor: dg.SensorDefinition
    job: Any  # what dg.define_asset_job returns (its class is not public)
    file_checks: tuple[FileCheck, ...] = ()


def _not_ingested(info: dict[str, Any]) -> list[dict[str, Any]]:
    if info.get("status") in ("not_ingested", "rejected"):
        return [{"member": None, "status": info["status"], "reason": info.get("reason")}]
    return [
        {"member": m.get("name"), "status": "not_ingested", "reason": m.get("reason")}
        for m in info.get("not_ingested") or []
    ]


def landing_zone_defs(
    zone: LandingZone,
    *,
    key: dg.AssetKey,
    group: str,
    description: str,
    file_checks: Sequence[FileCheck] = (),
    kinds: set[str] | None = None,
) -> ZoneDefs:
    """The partitions, ingest asset and sensor of ``zone``. A run takes at most
    ``lake.ingest_batch_files`` files (``SPOTIFY_INGEST_BATCH_FILES``), or the zone's
    ``files_per_batch`` if larger (2,000 chart files)."""
    partitions = dg.DynamicPartitionsDefinition(name=f"{zone.name}_files")

    # backfill_policy is beta in Dagster 1.13 and used on purpose (a run takes a whole batch
    # of files): its warning is not repeated at every load of the code location.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        ingest_asset = dg.asset(
            key=key,
            group_name=group,
            partitions_def=partitions,
            # A run takes a whole batch of files (the sensor asks for ranges): less orchestration.
            backfill_policy=dg.BackfillPolicy.single_run(),
            kinds=kinds or {"parquet"},
            owners=OWNERS,
            description=description,
            check_specs=[
                dg.AssetCheckSpec(
                    "files_readable",
                    asset=key,
                    description="Every file of the run could be read (unreadable files are "
                    f"moved to {zone.rejected_prefix} with the reason; WARN: a person should "
                    "look)",
                ),
                dg.AssetCheckSpec(
                    "parse_rate",
                    asset=key,
                    blocking=True,
                    description=f"At least {MIN_PARSE_RATE:.0%} of the records of every readable "
                    "file of the run are usable",
                ),
                *[
                    dg.AssetCheckSpec(
                        c.name, asset=key, blocking=c.blocking, description=c.description
                    )
                    for c in file_checks
                ],
            ],
        )

    @ingest_asset
    def _ingest(context: dg.AssetExecutionContext, config: IngestConfig, lake: LakeResource):
        keys = context.partition_keys
        store = lake.store()
        started = time.perf_counter()
        per_file: dict[str, dict[str, Any]] = {}
        step = zone.files_per_batch
        crashes: list[str] = []
        for start in range(0, len(keys), step):
            chunk = keys[start : start + step]
            try:
                per_file.update(ingest_many(store, zone, chunk, reprocess=config.reprocess))
            except LandingParseError as exc:  # the chunk's other files are written
                context.log.error(str(exc))
                crashes += exc.failures
                per_file.update(exc.results)
            for partition_key in chunk:
                info = per_file[partition_key]
                if info["status"] != "accepted":
                    context.log.warning(f"{partition_key}: {info['status']}: {info.get('reason')}")
                for member in info.get("not_ingested") or []:
                    context.log.info(
                        f"{partition_key}: {member.get('name')}: not ingested: "
                        f"{member.get('reason')}"
                    )
            done = start + len(chunk)
            if done == len(keys) or step > 1 or done % 20 == 0:
                context.log.info(f"{done}/{len(keys)} files, {time.perf_counter() - started:.1f} s")
        if crashes:  # every file was tried; the inventory lists these as failed
            raise dg.Failure(
                description=f"The parser of {zone.landing_prefix} failed on {len(crashes)} "
                "file(s) (a bug, not the files' fault; the other files were ingested): "
                + "; ".join(crashes[:5]),
                metadata={"failed_files": dg.MetadataValue.json(crashes[:200])},
            )
        accepted = {k: i for k, i in per_file.items() if i["status"] == "accepted"}
        not_taken = {k: _not_ingested(i) for k, i in per_file.items() if _not_ingested(i)}
        everything = inventory(store, zone)
        by_status: dict[str, int] = {}
        for row in everything:
            by_status[row["status"]] = by_status.get(row["status"], 0) + 1
        # Per-file figures on each partition's materialization (no extra event per file). Not
        # for zones of many small files: Dagster resolves the run's whole partition range at
        # each call (O(files) each), and core.landing_files lists every file's figures anyway.
        for partition_key, info in per_file.items() if zone.files_per_batch == 1 else ():
            context.add_asset_metadata(
                {
                    ("not_ingested_members" if k == "not_ingested" else k): dg.MetadataValue.json(v)
                    if isinstance(v, dict | list)
                    else v
                    for k, v in info.items()
                    if v is not None
                },
                partition_key=partition_key,
            )
        yield dg.MaterializeResult(
            metadata={
                "files": len(keys),
                "files_accepted": len(accepted),
                "files_not_ingested": sum(i["status"] == "not_ingested" for i in per_file.values()),
                "files_rejected": sum(i["status"] == "rejected" for i in per_file.values()),
                "files_missing": sum(i["status"] == "missing" for i in per_file.values()),
                "files_unchanged": sum(bool(i.get("unchanged")) for i in accepted.values()),
                "records_accepted": sum(int(i.get("accepted") or 0) for i in accepted.values()),
                "records_rejected": sum(int(i.get("rejected") or 0) for i in accepted.values()),
                # The first files not taken (the zone's inventory lists them all).
                "not_ingested": dg.MetadataValue.json(dict(list(not_taken.items())[:200])),
                "zone_inventory": dg.MetadataValue.json(by_status),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        unreadable = {k: i["reason"] for k, i in per_file.items() if i["status"] == "rejected"}
        yield dg.AssetCheckResult(
            check_name="files_readable",
            passed=not unreadable,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"rejected_files": dg.MetadataValue.json(unreadable)},
            description=f"{len(unreadable)} of {len(keys)} files moved to {zone.rejected_prefix}"
            if unreadable
            else None,
        )
        low_rate = {k: d for k, i in accepted.items() if (d := PARSE_RATE.failing(i))}
        yield dg.AssetCheckResult(
            check_name="parse_rate",
            passed=not low_rate,
            metadata={"files_below": dg.MetadataValue.json(low_rate)},
            description=f"{len(low_rate)} of {len(keys)} files below {MIN_PARSE_RATE:.0%}"
            if low_rate
            else None,
        )
        for check in file_checks:
            failing = {k: d for k, i in accepted.items() if (d := check.failing(i))}
            yield dg.AssetCheckResult(
                check_name=check.name,
                passed=not failing,
                severity=dg.AssetCheckSeverity.ERROR
                if check.blocking
                else dg.AssetCheckSeverity.WARN,
                metadata={"files_failing": dg.MetadataValue.json(failing)},
                description=f"{len(failing)} of {len(keys)} files fail" if failing else None,
            )

    @dg.sensor(
        name=f"{zone.name}_sensor",
        description=f"Watches {zone.landing_prefix} in the lake (folder or S3) and launches "
        f"runs of {key.to_user_string()} for new or changed files, batched.",
        asset_selection=[key],
        # A landed file waits at most this long (a scan lists one prefix: cheap, even on S3).
        minimum_interval_seconds=10,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
        store = lake.store()
        found = scan(store, zone, ZoneCursor.from_json(context.cursor))
        for reason in found.not_taken:
            context.log.warning(f"Not taken: {reason}")
        if not found.to_run:
            return dg.SensorResult(
                skip_reason=f"No new or changed files among {found.landed} in "
                f"{lake.uri(zone.landing_prefix)}",
                cursor=found.cursor.to_json(),
            )
        existing = context.instance.get_dynamic_partitions(partitions.name)
        known = set(existing)
        new_keys = [f.partition_key for f in found.to_run if f.partition_key not in known]
        requests = []
        # A zone that parses files together gets at least one parse batch per run.
        size = max(lake.ingest_batch_files, zone.files_per_batch)
        for batch in contiguous_batches(found.to_run, [*existing, *new_keys], size):
            ident = "\n".join(f"{f.partition_key}={f.etag}" for f in batch)
            digest = hashlib.sha256(ident.encode()).hexdigest()[:20]
            requests.append(
                dg.RunRequest(
                    run_key=f"{zone.name}:{digest}",
                    asset_selection=[key],
                    tags={
                        RANGE_START: batch[0].partition_key,
                        RANGE_END: batch[-1].partition_key,
                        "spotify_assets/files": str(len(batch)),
                    },
                )
            )
        context.log.info(
            f"{len(found.to_run)} files ({len(new_keys)} new) in {len(requests)} runs from "
            f"{lake.uri(zone.landing_prefix)}"
        )
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[partitions.build_add_request(new_keys)]
            if new_keys
            else [],
            cursor=found.cursor.to_json(),
        )

    job = dg.define_asset_job(
        f"{zone.name}_job",
        selection=dg.AssetSelection.assets(key),
        description=f"Parse landed files of {zone.landing_prefix} (a partition range per run) "
        "into the processed zone (the sensor launches it; also for the Launchpad and make demo).",
    )
    return ZoneDefs(zone, key, partitions, _ingest, _sensor, job, tuple(file_checks))


def rejected_rows_asset(
    zone_defs: ZoneDefs,
    key: dg.AssetKey,
    *,
    group: str,
    freshness_policy: Any = None,
) -> dg.AssetsDefinition:
    """The warehouse table of a zone's rejected records (file, record index or line, reason,
    excerpt), rebuilt when the zone's ingest asset updates: the same for every zone that keeps
    bad records aside."""
    zone = zone_defs.zone
    schema, table = key.path

    @dg.asset(
        key=key,
        deps=[zone_defs.key],
        group_name=group,
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        pool="duckdb",
        automation_condition=on_upstream_change(),
        freshness_policy=freshness_policy,
        metadata={ROW_COUNT_MAY_DROP: "rejected records empty when a bad file is fixed"},
        description=f"Records of the files landed in {zone.landing_prefix} that could not be "
        "used: file, record index or line, reason, excerpt.",
    )
    def _rejected_rows(lake: LakeResource, warehouse: DuckDBResource) -> dg.MaterializeResult:
        with tempfile.TemporaryDirectory(prefix=f"{zone.name}-rejects-") as tmp:
            files = processed_files(lake.store(), zone, Path(tmp))
            with warehouse.get_connection() as conn:
                build_rejected_records(conn, f"{schema}.{table}", files)
                metadata = table_metadata(conn, key)
        return dg.MaterializeResult(metadata={**metadata, "files": len(files)})

    return _rejected_rows
