"""Listening history, Dagster-free: privacy-export files parsed into plays
(:mod:`.export_files`) and the deduplicated ``core.streams`` built from them (:mod:`.streams`)."""
