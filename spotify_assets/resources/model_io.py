"""Pickled models in the lake, unpickled only when their bytes are the ones training wrote.

A pickle executes code when loaded, and the lake (a folder or a bucket) is writable by more
people and processes than Dagster's event log. So the model's SHA-256 is recorded in the
materialization's metadata at training (``model_sha256``), and a load reads the bytes, hashes
them and compares with the hash of the asset's latest materialization *before* unpickling; a
file that differs, or a model with no recorded hash, is refused with what to do.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import dagster as dg

from spotify_assets.lib.lake import LakeError
from spotify_assets.resources.event_log import latest_metadata_value
from spotify_assets.resources.lake import LakeResource

HASH_METADATA = "model_sha256"
MODELS_PREFIX = "models"


class ModelIntegrityError(RuntimeError):
    """The model file is not the one its training recorded (or no record exists)."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verified_unpickle(data: bytes, expected_sha256: str | None, where: str) -> Any:
    """``pickle.loads(data)`` if ``data`` hashes to ``expected_sha256``; else raises
    :class:`ModelIntegrityError` naming the file, without unpickling it."""
    if not expected_sha256:
        raise ModelIntegrityError(
            f"{where}: no {HASH_METADATA} was recorded when this model was trained, so it is "
            "not unpickled; materialize the model asset again to retrain and record it"
        )
    actual = sha256(data)
    if actual != expected_sha256:
        raise ModelIntegrityError(
            f"{where}: SHA-256 {actual[:16]}... is not the {expected_sha256[:16]}... recorded "
            "at training: the file was changed after training, so it is not unpickled. "
            "Materialize the model asset again to retrain it"
        )
    return pickle.loads(data)  # noqa: S301 - bytes verified against the training's record


class HashedModelIOManager(dg.ConfigurableIOManager):
    """Models in the lake's ``models/`` area (``models/<layer>/<name>.pkl``, one object per
    partition below it), local or S3 alike; the hash is recorded and checked as above."""

    lake: LakeResource

    def _key(self, context: dg.OutputContext | dg.InputContext) -> str:
        base = f"{MODELS_PREFIX}/{'/'.join(context.asset_key.path)}"
        # The asset's partition, not the run's (a partitioned run may build unpartitioned assets).
        partition = context.asset_partition_key if context.has_asset_partitions else None
        return f"{base}/{partition}.pkl" if partition else f"{base}.pkl"

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        key = self._key(context)
        self.lake.store().put_bytes(key, data)
        context.add_output_metadata(
            {
                HASH_METADATA: sha256(data),
                "model_bytes": len(data),
                "path": dg.MetadataValue.path(self.lake.uri(key)),
            }
        )

    def _recorded_hash(self, context: dg.InputContext) -> str | None:
        partition = context.asset_partition_key if context.has_asset_partitions else None
        value = latest_metadata_value(
            context.instance, context.asset_key, HASH_METADATA, partition=partition
        )
        return None if value is None else str(value)

    def load_input(self, context: dg.InputContext) -> Any:
        key = self._key(context)
        where = f"{context.asset_key.to_user_string()} at {self.lake.uri(key)}"
        try:
            data = self.lake.store().get_bytes(key)
        except (LakeError, FileNotFoundError) as exc:
            raise ModelIntegrityError(
                f"{where}: no model file ({exc}); materialize the model asset first"
            ) from exc
        return verified_unpickle(data, self._recorded_hash(context), where)
