"""The listening-history landing zone wired: one dynamic partition per landed object of
``landing/streaming_history/<listener>/`` (its path there is the partition key), the sensor
that watches it and ``raw/streaming_history_files``, which parses each object into the lake's
processed zone (``spotify_assets.defs.landing`` makes all three for any zone)."""

import time

import dagster as dg

from spotify_assets.defs.landing import FileCheck, landing_zone_defs
from spotify_assets.lib.listening.history_zone import STREAMING_HISTORY_ZONE

#: Spotify launched in October 2008; nothing can have been played before.
EARLIEST_PLAY = "2008-10-01"


def _implausible_times(info: dict) -> dict | None:
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 86400))
    low, high = info.get("min_ts"), info.get("max_ts")
    if low is not None and (str(low) < EARLIEST_PLAY or str(high) > now):
        return {"min_ts": low, "max_ts": high}
    return None


STREAMING_HISTORY = landing_zone_defs(
    STREAMING_HISTORY_ZONE,
    key=dg.AssetKey(["raw", "streaming_history_files"]),
    group="listening",
    description=(
        "One landed object of a listener's folder per partition (an export file, or a zip of "
        "the export), recognised by content, parsed, validated and normalized to one schema "
        "(personal data dropped), as Parquet in the lake's processed zone; what is not "
        "listening history is listed with the reason."
    ),
    kinds={"json", "parquet", "s3"},
    file_checks=[
        FileCheck(
            "timestamps_plausible",
            f"Every play ends between {EARLIEST_PLAY} and now",
            _implausible_times,
        ),
        FileCheck(
            "ms_played_non_negative",
            "No record of the run's files has a negative ms_played",
            lambda info: info.get("negative_ms_played"),
        ),
        FileCheck(
            "plays_plausible",
            "No record of the run's files was left out for a value no play can have "
            "(ms_played above the bound, a play before Spotify existed or after the file landed)",
            lambda info: info.get("implausible_records"),
        ),
        FileCheck(
            "zip_members_readable",
            "Every member of a zip that looks like listening history could be read (the others "
            "are kept; WARN: a person should look)",
            lambda info: info.get("bad_members"),
            blocking=False,
        ),
    ],
)
STREAMING_HISTORY_FILES = STREAMING_HISTORY.partitions
STREAMING_FILES_KEY = STREAMING_HISTORY.key
streaming_history_files = STREAMING_HISTORY.asset
streaming_history_sensor = STREAMING_HISTORY.sensor
streaming_history_job = STREAMING_HISTORY.job
