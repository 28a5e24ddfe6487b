"""Jobs of the listening group (the sensor targets the asset directly; these are for the
Launchpad and for `make demo`)."""

import dagster as dg

from spotify_assets.defs.listening.assets import streams_tables
from spotify_assets.defs.listening.history_files import STREAMING_FILES_KEY, STREAMING_HISTORY_FILES

streaming_history_job = dg.define_asset_job(
    "streaming_history_job",
    selection=dg.AssetSelection.assets(STREAMING_FILES_KEY),
    partitions_def=STREAMING_HISTORY_FILES,
    description="Parse landed export files (a partition range per run) into the processed zone.",
)

listening_tables_job = dg.define_asset_job(
    "listening_tables_job",
    selection=dg.AssetSelection.assets(streams_tables),
    description="Build core/streams, core/listeners and core/rejected_stream_records.",
)
