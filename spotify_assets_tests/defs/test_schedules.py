"""The 8-hourly snapshot schedule: each tick requests its own window (the one that just
opened, ``end_offset=1``), in UTC whatever the zone of the tick's timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import dagster as dg
import pytest

from spotify_assets.defs.catalog.assets import SNAPSHOT_PARTITIONS
from spotify_assets.defs.catalog.jobs import catalog_snapshot_job
from spotify_assets.defs.catalog.schedules import catalog_snapshot_schedule


def tick(when: datetime) -> list[dg.RunRequest]:
    """Evaluates the schedule as the daemon does at ``when``."""
    context = dg.build_schedule_context(scheduled_execution_time=when)
    data = catalog_snapshot_schedule.evaluate_tick(context)
    assert data.skip_message is None
    return list(data.run_requests or [])


@pytest.mark.parametrize(
    ("when", "partition"),
    [
        (datetime(2026, 6, 1, 0, 0, tzinfo=UTC), "2026-06-01-00:00"),
        (datetime(2026, 6, 1, 8, 0, tzinfo=UTC), "2026-06-01-08:00"),
        (datetime(2026, 6, 1, 16, 0, tzinfo=UTC), "2026-06-01-16:00"),
        # Year end: the 16:00 window of Dec 31 is still 2026's.
        (datetime(2026, 12, 31, 16, 0, tzinfo=UTC), "2026-12-31-16:00"),
        # The first window of the partitions (start 2026-01-01-00:00).
        (datetime(2026, 1, 1, 0, 0, tzinfo=UTC), "2026-01-01-00:00"),
    ],
)
def test_each_tick_requests_its_own_window(when, partition):
    requests = tick(when)
    assert [r.partition_key for r in requests] == [partition]
    request = requests[0]
    assert request.job_name == "catalog_snapshot_job"
    assert request.tags["dagster/partition"] == partition
    # One run per window: a second evaluation of the same tick is deduplicated by the key.
    assert request.run_key == partition
    assert [r.run_key for r in tick(when)] == [partition]


def test_tick_in_another_zone_means_the_same_utc_window():
    # 10:00 at UTC+2 is 08:00 UTC: the 08:00 window, not the 00:00 one nor a 10:00 one.
    when = datetime(2026, 6, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    assert [r.partition_key for r in tick(when)] == ["2026-06-01-08:00"]
    # 23:00 on May 31 at UTC-9 is 08:00 UTC on June 1.
    when = datetime(2026, 5, 31, 23, 0, tzinfo=timezone(timedelta(hours=-9)))
    assert [r.partition_key for r in tick(when)] == ["2026-06-01-08:00"]


def test_a_late_tick_still_requests_the_window_it_falls_in():
    # A tick evaluated at 15:59 (late 08:00 tick) is in the 08:00-16:00 window.
    requests = tick(datetime(2026, 6, 1, 15, 59, tzinfo=UTC))
    assert [r.partition_key for r in requests] == ["2026-06-01-08:00"]


def test_schedule_settings_match_the_partitions():
    assert catalog_snapshot_schedule.cron_schedule == "0 */8 * * *"
    assert catalog_snapshot_schedule.execution_timezone == "UTC"
    assert catalog_snapshot_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert catalog_snapshot_schedule.job_name == catalog_snapshot_job.name
    assert SNAPSHOT_PARTITIONS.cron_schedule == catalog_snapshot_schedule.cron_schedule
    assert SNAPSHOT_PARTITIONS.timezone == "UTC"
    assert SNAPSHOT_PARTITIONS.end_offset == 1
    assert catalog_snapshot_job.partitions_def == SNAPSHOT_PARTITIONS


def test_the_open_window_is_a_partition():
    # end_offset=1: at 08:30 the window 08:00-16:00 is already a partition (the last one).
    keys = SNAPSHOT_PARTITIONS.get_partition_keys(
        current_time=datetime(2026, 1, 2, 8, 30, tzinfo=UTC)
    )
    # Jan 1 00:00, 08:00, 16:00, Jan 2 00:00, 08:00: 3 + 2 = 5 windows.
    assert keys == [
        "2026-01-01-00:00",
        "2026-01-01-08:00",
        "2026-01-01-16:00",
        "2026-01-02-00:00",
        "2026-01-02-08:00",
    ]
