"""Data quality, Dagster-free: rules evaluated in SQL (:mod:`.rules`) and alert messages and
webhook delivery (:mod:`.alerts`)."""
