"""The Iceberg catalog of the lakehouse: which one (SQL, REST or Glue), where its files live,
and the properties every table is created with.

pyiceberg is imported inside the functions: loading the code location must not pay for it
(about a second), only the steps that read or write the lakehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

#: The warehouse schemas, one Iceberg namespace each (``core.streams`` is the table
#: ``streams`` of namespace ``core``).
NAMESPACES = ("core", "marts", "ml", "reports")
#: The namespace of the lakehouse's own bookkeeping (published snapshots).
OWN_NAMESPACE = "lakehouse"
CATALOG_TYPES = ("sql", "rest", "glue")

#: Set on every table the lakehouse creates. Data files of about 128 MB of Arrow data bound a
#: writer's memory (pyiceberg holds one file's batches); old metadata files are deleted after
#: each commit (snapshot expiry keeps the metadata itself small, see ``publish``).
TABLE_PROPERTIES = {
    "write.target-file-size-bytes": str(128 * 2**20),
    "write.parquet.compression-codec": "zstd",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "100",
}


@dataclass(frozen=True)
class CatalogConfig:
    """Where the lakehouse is: an Iceberg catalog and the warehouse its tables' files go to.

    ``uri`` is a SQLAlchemy URL for ``sql`` (``postgresql+psycopg2://...``,
    ``sqlite:////abs/catalog.db``) and the server's URL for ``rest``; Glue needs none.
    ``warehouse`` is ``file:///abs/folder`` or ``s3://bucket/prefix``. S3 credentials are never
    here: pyarrow's S3 client takes them from the environment, the AWS config or the machine's
    role, as boto3 does."""

    name: str
    type: str = "sql"
    uri: str | None = None
    warehouse: str = ""
    s3_endpoint: str | None = None
    s3_region: str | None = None
    token: str | None = None

    def properties(self) -> dict[str, str]:
        """pyiceberg's catalog properties (``load_catalog(name, **properties)``)."""
        if self.type not in CATALOG_TYPES:
            raise ValueError(f"catalog type {self.type!r} is not one of {', '.join(CATALOG_TYPES)}")
        props: dict[str, str] = {"type": self.type, "warehouse": self.warehouse}
        if self.type in ("sql", "rest"):
            if not self.uri:
                raise ValueError(f"an Iceberg {self.type} catalog needs a URI")
            props["uri"] = self.uri
        if self.token:
            props["token"] = self.token
        if self.s3_endpoint:
            props["s3.endpoint"] = self.s3_endpoint
            if self.type == "glue":
                props["glue.endpoint"] = self.s3_endpoint
        if self.s3_region:
            # Without it, pyarrow asks AWS for the bucket's region (fails offline).
            props["s3.region"] = self.s3_region
            if self.type == "glue":
                props["glue.region"] = self.s3_region
        return props

    def describe(self) -> str:
        """The catalog in words for logs, without the URI (it may hold a password)."""
        return f"Iceberg {self.type} catalog {self.name!r}, warehouse {self.warehouse}"


def open_catalog(config: CatalogConfig) -> Catalog:
    """The catalog (its tables created on first use for ``sql``); a local warehouse folder and
    a SQLite catalog's folder are created when missing."""
    from pyiceberg.catalog import load_catalog

    if config.warehouse.startswith("file://"):
        Path(config.warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    if config.type == "sql" and (config.uri or "").startswith("sqlite:///"):
        Path(config.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return load_catalog(config.name, **config.properties())


def table_names(catalog: Catalog, namespaces: tuple[str, ...] = NAMESPACES) -> list[str]:
    """``namespace.table`` of every table of ``namespaces`` in the catalog, sorted."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    names = []
    for namespace in namespaces:
        try:
            names += [".".join(ident) for ident in catalog.list_tables(namespace)]
        except NoSuchNamespaceError:
            continue
    return sorted(names)


def ensure_namespace(catalog: Catalog, name: str) -> None:
    """Create the namespace of ``name`` unless it exists. A step commits its outputs side by
    side, so the first tables of a namespace race to create it: in a SQL catalog one insert
    wins and the others fail on its unique key (not pyiceberg's NamespaceAlreadyExistsError);
    a loser finds the namespace there and goes on."""
    namespace = name.split(".")[0]
    if catalog.namespace_exists(namespace):
        return
    try:
        catalog.create_namespace(namespace)
    except Exception:
        if not catalog.namespace_exists(namespace):
            raise


def split_name(name: str) -> tuple[str, str]:
    """``core.streams`` -> (``core``, ``streams``); anything else is refused."""
    parts = name.split(".")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"{name!r} is not schema.table")
    return parts[0], parts[1]


def metadata_locations(
    catalog: Catalog, namespaces: tuple[str, ...] = NAMESPACES
) -> dict[str, str | None]:
    """Every table of ``namespaces`` with its current metadata file: one query for a SQL
    catalog (its ``iceberg_tables``, the layout Iceberg's JDBC catalog shares), else a listing
    (the location then None: load the table to know it)."""
    from pyiceberg.catalog.sql import IcebergTables, SqlCatalog

    if not isinstance(catalog, SqlCatalog):
        return dict.fromkeys(table_names(catalog, namespaces))
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    query = select(
        IcebergTables.table_namespace, IcebergTables.table_name, IcebergTables.metadata_location
    ).where(
        IcebergTables.catalog_name == catalog.name,
        IcebergTables.table_namespace.in_(namespaces),
    )
    with Session(catalog.engine) as session:
        rows = session.execute(query).all()
    return {f"{ns}.{name}": location for ns, name, location in sorted(rows)}
