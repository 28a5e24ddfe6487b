"""The Spotify catalog, Dagster-free: API bodies parsed into the catalog tables
(:mod:`.parse`) and micro-genres mapped to families (:mod:`.genres`)."""
