"""What people read, Dagster-free: charts drawn from declarative specs (:mod:`.charts`) and the
offline HTML dashboard (:mod:`.dashboard`)."""
