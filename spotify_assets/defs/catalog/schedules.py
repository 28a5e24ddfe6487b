"""The API snapshot schedule: every 8 hours, each tick snapshots its own window.

Built from the partitioned job, so a tick at 08:00 UTC requests the partition
``<day>-08:00`` (the window that just opened: ``end_offset=1`` makes the current window a
partition) and the run is tagged with it; a tick the daemon missed shows in the UI's tick
history, and its window can be backfilled from the asset's partitions page (the sample world
answers as of any window; the live API only for the open one). Time zone: UTC, the same as the
partitions (a schedule built from a time-partitioned job takes the partitions' zone, which
``SNAPSHOT_PARTITIONS`` sets explicitly), so a machine's local zone never shifts the windows.
"""

import dagster as dg

from spotify_assets.defs.catalog.jobs import catalog_snapshot_job

catalog_snapshot_schedule = dg.build_schedule_from_partitioned_job(
    catalog_snapshot_job,
    name="catalog_snapshot_schedule",
    description="Snapshot the playlists (and new artists) every 8 hours, one window per tick.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
