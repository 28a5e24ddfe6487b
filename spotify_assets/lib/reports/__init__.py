"""What people read, Dagster-free: plots drawn from declarative specs (:mod:`.plots`,
:mod:`.vega`), the offline HTML dashboard (:mod:`.dashboard`), its overview from the marts
(:mod:`.overview`) and a page per listener (:mod:`.listener_pages`)."""
