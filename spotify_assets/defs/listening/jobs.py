"""Jobs of the listening group (the sensors target assets directly; these are for the
Launchpad and for `make demo`). ``streaming_history_job`` is made with the landing zone
(``defs/listening/history_files.py``)."""

import dagster as dg

from spotify_assets.defs.landing import LANDING_FILES_KEY
from spotify_assets.defs.listening.assets import streams_tables

listening_tables_job = dg.define_asset_job(
    "listening_tables_job",
    selection=dg.AssetSelection.assets(streams_tables, LANDING_FILES_KEY),
    description="Build core/streams, core/listeners, core/rejected_stream_records and "
    "core/landing_files.",
)
