"""The landing-zone sensor: new or changed export files -> runs of
``raw/streaming_history_files``, batched, each file once."""

import hashlib

import dagster as dg

from spotify_assets.defs.listening.partitions import STREAMING_FILES_KEY, STREAMING_HISTORY_FILES
from spotify_assets.lib.ingest import processed_manifest
from spotify_assets.lib.landing import (
    LANDING_PREFIX,
    LandedFile,
    LandingCursor,
    classify,
    content_id,
    new_or_changed,
)
from spotify_assets.resources import LakeResource
from spotify_assets.settings import load_settings

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def plan_runs(
    to_run: list[tuple[LandedFile, str]], partitions: list[str], size: int
) -> list[dg.RunRequest]:
    """Run requests over contiguous ranges of the dynamic partitions (a run covers a range),
    at most ``size`` files each; the run key is the batch's keys and content ids, so the same
    content is never requested twice and changed content always is."""
    position = {key: i for i, key in enumerate(partitions)}
    ordered = sorted(to_run, key=lambda fc: position[fc[0].partition_key])
    segments: list[list[tuple[LandedFile, str]]] = []
    for item in ordered:
        pos = position[item[0].partition_key]
        last = segments[-1] if segments else None
        if last is not None and len(last) < size and position[last[-1][0].partition_key] == pos - 1:
            last.append(item)
        else:
            segments.append([item])
    requests = []
    for segment in segments:
        ident = "\n".join(f"{f.partition_key}={cid}" for f, cid in segment)
        digest = hashlib.sha256(ident.encode()).hexdigest()[:20]
        requests.append(
            dg.RunRequest(
                run_key=f"streaming_history:{digest}",
                asset_selection=[STREAMING_FILES_KEY],
                tags={
                    RANGE_START: segment[0][0].partition_key,
                    RANGE_END: segment[-1][0].partition_key,
                    "spotify_assets/files": str(len(segment)),
                },
            )
        )
    return requests


@dg.sensor(
    name="streaming_history_sensor",
    description=(
        "Watches landing/streaming_history/<user_id>/ in the lake (folder or S3) and launches "
        "runs of raw/streaming_history_files for new or changed export files, batched."
    ),
    asset_selection=[STREAMING_FILES_KEY],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def streaming_history_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    cursor = LandingCursor.from_json(context.cursor)
    store = lake.store()
    landed: list[LandedFile] = []
    for obj in store.list(LANDING_PREFIX):
        verdict = classify(obj)
        if isinstance(verdict, LandedFile):
            landed.append(verdict)
        elif isinstance(verdict, str) and cursor.etag(obj.key) != obj.etag:
            context.log.warning(f"Not taken: {verdict}")
            cursor.seen[obj.key] = [obj.etag, ""]  # say it once per version of the object
    to_run: list[tuple[LandedFile, str]] = []
    for f in new_or_changed(landed, cursor):
        if cursor.etag(f.key) is None:
            # Unknown to this cursor, but maybe processed already (by `make demo`, or before
            # the cursor was reset): the asset records the landed object's etag.
            done = processed_manifest(store, f.partition_key)
            if done.get("landed_etag") == f.etag:
                cursor.seen[f.key] = [f.etag, done.get("version", "")]
                continue
        if store.etag_is_content or cursor.etag(f.key) is None:
            # S3's ETag is a digest of the bytes; a local file never seen is new anyway (and
            # hashing every new file here would read whole exports in a sensor tick).
            cid = f.etag
        else:
            # A known local file whose size or mtime changed: run again only if its bytes
            # differ from the version processed last (the asset records it in the manifest).
            cid = content_id(store.get_bytes(f.key))
            if cid in (
                cursor.content(f.key),
                processed_manifest(store, f.partition_key).get("version"),
            ):
                cursor.seen[f.key] = [f.etag, cid]
                continue
        to_run.append((f, cid))
        cursor.seen[f.key] = [f.etag, cid]
    if not to_run:
        return dg.SensorResult(
            skip_reason=f"No new or changed export files among {len(landed)} in "
            f"{lake.uri(LANDING_PREFIX)}",
            cursor=cursor.to_json(),
        )
    existing = context.instance.get_dynamic_partitions(STREAMING_HISTORY_FILES.name)
    known = set(existing)
    new_keys = [f.partition_key for f, _ in to_run if f.partition_key not in known]
    # Files per run (SPOTIFY_INGEST_BATCH_FILES): fewer, larger runs cost less orchestration.
    requests = plan_runs(to_run, [*existing, *new_keys], load_settings().ingest_batch_files)
    context.log.info(
        f"{len(to_run)} files ({len(new_keys)} new) in {len(requests)} runs from "
        f"{lake.uri(LANDING_PREFIX)}"
    )
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[STREAMING_HISTORY_FILES.build_add_request(new_keys)]
        if new_keys
        else [],
        cursor=cursor.to_json(),
    )
