"""The lakehouse (Dagster-free): the warehouse's tables as Apache Iceberg tables in the lake
(a folder or S3), registered in an Iceberg catalog (pyiceberg's SQL catalog in PostgreSQL or
SQLite, a REST catalog or AWS Glue), so that runs on any machine read and write one warehouse
and readers anywhere see whole runs.

- :mod:`.catalog`: which catalog, where the files live, the properties of every table;
- :mod:`.session`: a step's own in-process DuckDB over the tables, its outputs committed at
  the end (optimistic: a concurrent writer's commit is never overwritten);
- :mod:`.tables`: one table read into DuckDB at a snapshot, or committed from a query;
- :mod:`.publish`: the snapshots of each successful run published together, and every table
  read as of a run; :mod:`.maintenance`: the snapshots nobody can ask for expired.

pyiceberg is imported inside functions only: loading the code location does not pay for it.
"""

from spotify_assets.lib.lakehouse.catalog import (
    NAMESPACES,
    CatalogConfig,
    open_catalog,
    table_names,
)
from spotify_assets.lib.lakehouse.publish import (
    PUBLISHED_TABLE,
    Published,
    attach_published,
    publish,
    published,
)
from spotify_assets.lib.lakehouse.session import Committed, Session, open_session
from spotify_assets.lib.lakehouse.tables import CommitConflict, attach
from spotify_assets.lib.lakehouse.write import commit

__all__ = [
    "NAMESPACES",
    "PUBLISHED_TABLE",
    "CatalogConfig",
    "CommitConflict",
    "Committed",
    "Published",
    "Session",
    "attach",
    "attach_published",
    "commit",
    "open_catalog",
    "open_session",
    "publish",
    "published",
    "table_names",
]
