"""The API snapshot schedule: every 8 hours, each tick snapshots its own window.

Built from the partitioned job, so a tick at 08:00 UTC requests the partition
``<day>-08:00`` (the window that just opened: ``end_offset=1`` makes the current window a
partition) and the run is tagged with it; a tick the daemon missed shows in the UI's tick
history, and its window can be backfilled from the asset's partitions page (the sample world
answers as of any window; the live API only for the open one). Time zone: UTC, the same as the
partitions (a schedule built from a time-partitioned job takes the partitions' zone, which
``SNAPSHOT_PARTITIONS`` sets explicitly), so a machine's local time zone never shifts the windows.
"""

from datetime import UTC, datetime

import dagster as dg

from spotify_assets.defs.catalog.jobs import catalog_lookups_job, catalog_snapshot_job
from spotify_assets.lib.catalog.lookups import PROGRESS_KEY
from spotify_assets.lib.catalog.snapshots import get_json
from spotify_assets.resources import LakeResource

catalog_snapshot_schedule = dg.build_schedule_from_partitioned_job(
    catalog_snapshot_job,
    name="catalog_snapshot_schedule",
    description="Snapshot the playlists (and new artists) every 8 hours, one window per tick.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.sensor(
    job=catalog_lookups_job,
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Continues the catalog lookups while the last run left work (its call or time "
    "budget ran out), and after a long Retry-After only once Spotify's wait is over.",
)
def catalog_lookups_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    store = lake.store()
    if not store.exists(PROGRESS_KEY):
        return dg.SkipReason("no catalog lookup ran yet (core/streams starts them)")
    progress = get_json(store, PROGRESS_KEY)
    if progress.get("finished"):
        return dg.SkipReason("the last lookup run finished everything it knew of")
    after = progress.get("continue_after")
    if after and datetime.fromisoformat(after) > datetime.now(UTC):
        return dg.SkipReason(f"Spotify asked to wait: continuing after {after}")
    # One request per unfinished run: the run key dedups ticks until a new run writes progress.
    return dg.RunRequest(run_key=f"lookups-after-{progress.get('run')}")
