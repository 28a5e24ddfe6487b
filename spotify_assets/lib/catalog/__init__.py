"""The Spotify catalog, Dagster-free: API bodies parsed into the catalog tables
(:mod:`.parse`), micro-genres mapped to families (:mod:`.genres`), playlist snapshots and the
lake layout (:mod:`.snapshots`), artist fetches (:mod:`.entities`) and what ``api_mode=auto``
learned (:mod:`.api_mode`)."""
