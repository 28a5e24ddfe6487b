"""The listening-history landing zone, declared: ``landing/streaming_history/<listener>/``
(its parser and file checks: ``spotify_assets.lib.listening.history_zone``), ingested into
``raw/streaming_history_files`` a batch at a time (``spotify_assets.defs.landing`` makes the
partitions, sensor, asset and checks). ``core/streams`` is built from it in ``assets.py``."""

import dagster as dg

from spotify_assets.defs.landing import landing_zone_defs
from spotify_assets.lib.listening.history_zone import STREAMING_HISTORY_ZONE

STREAMING_HISTORY = landing_zone_defs(
    STREAMING_HISTORY_ZONE,
    key=dg.AssetKey(["raw", "streaming_history_files"]),
    group="listening",
    description=(
        "The landed objects of the listeners' folders (Spotify's export files, or zips of the "
        "export; Last.fm and ListenBrainz exports), a batch per partition, recognised by "
        "content, parsed, validated and normalized to one "
        "schema (personal data dropped), as Parquet in the lake's processed area; what is not "
        "listening history is listed with the reason."
    ),
    kinds={"json", "parquet", "s3"},
)
defs = STREAMING_HISTORY.definitions
