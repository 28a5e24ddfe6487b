"""A landing zone driven in a test as the daemon drives it: a sensor tick with the cursor of the
last one (batch partitions registered as the daemon would), then a run per batch it asks for."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from spotify_assets.defs.landing import ZoneDefs
from spotify_assets.resources import LakeResource


def settled(lake: LakeResource, settle_s: float = 0) -> LakeResource:
    """``lake`` taking files as soon as they land (or after ``settle_s``): a test writes a
    file and ticks at once."""
    return LakeResource(
        url=lake.url,
        s3_endpoint_url=lake.s3_endpoint_url,
        s3_region_name=lake.s3_region_name,
        ingest_batch_files=lake.ingest_batch_files,
        ingest_batch_bytes=lake.ingest_batch_bytes,
        landing_settle_s=settle_s,
    )


class Landing:
    """``zone`` ticked and run in ``instance`` with ``resources`` (the lake's files taken at
    once unless ``settle_s``); ``assets`` are materialized beside the ingest asset (only it
    is selected), for runs that need more definitions in the same repository."""

    def __init__(
        self,
        zone: ZoneDefs,
        resources: dict[str, Any],
        instance: dg.DagsterInstance | None = None,
        *,
        settle_s: float = 0,
        assets: Sequence[Any] = (),
    ) -> None:
        self.zone = zone
        self.resources = {**resources, "lake": settled(resources["lake"], settle_s)}
        self.instance = instance or dg.DagsterInstance.ephemeral()
        self.assets = list(assets)
        self.cursor: str | None = None

    def tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"lake": self.resources["lake"]}
        )
        result = self.zone.sensor(context)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(self.zone.partitions.name, request.partition_keys)
        return result

    def run(
        self, result: dg.SensorResult, *, config: dict | None = None
    ) -> list[dg.ExecuteInProcessResult]:
        """Each requested run, as the daemon would launch it (its batch and tags)."""
        return [
            dg.materialize(
                [self.zone.asset, *self.assets],
                selection=[self.zone.asset],
                instance=self.instance,
                resources=self.resources,
                partition_key=request.partition_key,
                tags=request.tags,
                run_config=config,
                raise_on_error=False,
            )
            for request in result.run_requests or []
        ]

    def land(self) -> list[dg.ExecuteInProcessResult]:
        """One tick, then its runs."""
        return self.run(self.tick())


def batch_files(lake: LakeResource, zone: ZoneDefs, request: dg.RunRequest) -> list[str]:
    """The paths of the files a run request's batch takes."""
    from spotify_assets.lib.landing import read_batch

    return sorted(read_batch(lake.store(), zone.zone, request.partition_key))


def hard_link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (no bytes written twice), or a copy where the
    two are on different file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
