"""One dynamic partition per landed export file; its key is the file's path below
``landing/streaming_history/`` (``<user_id>/<file>.json``)."""

import dagster as dg

STREAMING_HISTORY_FILES = dg.DynamicPartitionsDefinition(name="streaming_history_files")
STREAMING_FILES_KEY = dg.AssetKey(["raw", "streaming_history_files"])
