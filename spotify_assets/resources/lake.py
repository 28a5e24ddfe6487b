"""The lake as a Dagster resource and IO manager, over a local folder or S3."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import dagster as dg
import orjson
from pydantic import Field, PrivateAttr

from spotify_assets.lib.lake import LakeError, LakeStore, open_lake
from spotify_assets.resources.process_title import name_the_run_worker

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd


class LakeResource(dg.ConfigurableResource):
    """Where the lake lives: a folder (``./data/lake``) or ``s3://bucket/prefix``.

    S3 goes through a boto3 client (standard retries, 5 attempts), so credentials come from
    the usual AWS chain and any S3-compatible endpoint (MinIO, moto, Ceph) works through
    ``s3_endpoint_url`` or ``AWS_ENDPOINT_URL``. boto3 is imported only then: the S3 stack
    costs seconds at every load of the code location.
    """

    url: str
    s3_endpoint_url: str | None = None
    s3_region_name: str | None = None
    ingest_batch_files: int = Field(
        default=50_000,
        ge=1,
        description="SPOTIFY_INGEST_BATCH_FILES: landed files one ingest run (a batch) takes "
        "at most",
    )
    ingest_batch_bytes: int = Field(
        default=2 * 2**30,
        ge=1,
        description="SPOTIFY_INGEST_BATCH_MB (in bytes here): about how many bytes of landed "
        "files one ingest run takes (a larger file is a batch of its own)",
    )
    landing_settle_s: float = Field(
        default=10.0,
        ge=0,
        description="SPOTIFY_LANDING_SETTLE_S: a landed file is taken once it has not changed "
        "for this many seconds (a copy in progress keeps changing it)",
    )

    _store: LakeStore | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        name_the_run_worker(context.run)

    def store(self) -> LakeStore:
        if self._store is None:
            client = None
            if self.url.startswith("s3://"):
                import boto3
                from botocore.config import Config

                client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self.s3_endpoint_url,
                    region_name=self.s3_region_name,
                    config=Config(retries={"max_attempts": 5, "mode": "standard"}),
                )
            self._store = open_lake(self.url, s3_client=client)
        return self._store

    def uri(self, key: str) -> str:
        return self.store().uri(key)

    def put_json(self, key: str, obj: Any) -> None:
        self.store().put_bytes(key, dumps_json(obj))

    def put_frame(self, key: str, df: pd.DataFrame) -> None:
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        self.store().put_bytes(key, buf.getvalue())

    def get_frame(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.store().get_bytes(key)))

    def get_json(self, key: str) -> Any:
        data = self.store().get_bytes(key)
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise LakeError(f"{self.uri(key)} is not valid JSON: {exc}") from exc


def dumps_json(obj: Any) -> bytes:
    """Compact JSON; orjson because raw snapshot bodies run to hundreds of MB at scale."""
    return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS)


def _asset_path(context: dg.OutputContext | dg.InputContext) -> str:
    return "/".join(context.asset_key.path)


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores asset values in the lake under their asset key, one object per partition:
    ``<layer>/<name>.json`` or ``<layer>/<name>/<partition>.json`` (dicts and lists) and
    ``.parquet`` (DataFrames). Loading several partitions gives a dict by partition key and
    leaves out the ones that were never materialized."""

    lake: LakeResource

    def _key(self, base: str, partition: str | None, ext: str) -> str:
        return f"{base}/{partition}.{ext}" if partition else f"{base}.{ext}"

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        # The asset's partition, not the run's (a partitioned run may build unpartitioned assets).
        partition = context.asset_partition_key if context.has_asset_partitions else None
        base = _asset_path(context)
        store = self.lake.store()
        if isinstance(obj, pd.DataFrame):
            key = self._key(base, partition, "parquet")
            buf = io.BytesIO()
            obj.to_parquet(buf, index=False)
            store.put_bytes(key, buf.getvalue())
        elif isinstance(obj, dict | list):
            key = self._key(base, partition, "json")
            store.put_bytes(key, dumps_json(obj))
        else:
            raise LakeError(
                f"LakeIOManager stores dicts, lists and DataFrames; {base} returned "
                f"{type(obj).__name__}"
            )
        context.add_output_metadata({"lake_uri": dg.MetadataValue.path(store.uri(key))})

    def _load_one(self, base: str, partition: str | None) -> Any:
        store = self.lake.store()
        json_key = self._key(base, partition, "json")
        if store.exists(json_key):
            return orjson.loads(store.get_bytes(json_key))
        parquet_key = self._key(base, partition, "parquet")
        if store.exists(parquet_key):
            return pd.read_parquet(io.BytesIO(store.get_bytes(parquet_key)))
        raise LakeError(
            f"{base}{' partition ' + partition if partition else ''} is not in the lake "
            f"({store.uri(json_key)}): materialize it first"
        )

    def load_input(self, context: dg.InputContext) -> Any:
        base = _asset_path(context)
        if not context.has_asset_partitions:
            return self._load_one(base, None)
        keys = list(context.asset_partition_keys)
        if len(keys) == 1 and not _wants_mapping(context):
            return self._load_one(base, keys[0])
        out: dict[str, Any] = {}
        for key in keys:
            try:
                out[key] = self._load_one(base, key)
            except LakeError:
                continue  # never materialized: a backfill need not cover every window
        return out


def _wants_mapping(context: dg.InputContext) -> bool:
    """An unpartitioned asset reading a partitioned one gets every partition as a dict."""
    return not context.has_partition_key
