"""Landed files held out of the warehouse because an ERROR (blocking) check fails on them
(Dagster-free).

An ingest run checks a batch of files, and its check results describe the batch: the next
batch's passing result would hide a failed file, while its usable rows sat in
``core.streams``. So a file's state is its own: the blocking file checks are evaluated again
on the file's manifest (what the ingest recorded for this version of the file), and a file
that fails any of them is *held*: its rows stay out of the warehouse and it is listed as
failed in ``reports.data_quality`` until it is fixed (landed again, re-ingested, passing) or
removed (no manifest any more).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from spotify_assets.lib.lake import LakeStore
from spotify_assets.lib.landing import FileCheck, LandingZone

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

MANIFEST_SUFFIX = ".manifest.json"


def parse_rate_check(min_parse_rate: float) -> FileCheck:
    """The ingest's ``parse_rate`` check, file by file: the share of usable records."""
    return FileCheck(
        "parse_rate",
        f"At least {min_parse_rate:.0%} of the records of every readable file are usable",
        lambda m: m.get("parse_rate") if float(m.get("parse_rate", 1.0)) < min_parse_rate else None,
    )


def held_reasons(
    manifests: Mapping[str, Mapping[str, Any]], checks: Iterable[FileCheck]
) -> dict[str, dict[str, Any]]:
    """``{source_file: {check: what fails}}`` for the accepted files that fail a check."""
    checks = list(checks)
    held: dict[str, dict[str, Any]] = {}
    for source, manifest in sorted(manifests.items()):
        if manifest.get("status", "accepted") != "accepted":
            continue
        failing = {c.name: d for c in checks if (d := c.failing(dict(manifest)))}
        if failing:
            held[source] = failing
    return held


def zone_manifests(store: LakeStore, zone: LandingZone) -> dict[str, dict[str, Any]]:
    """Every manifest of the zone's processed files, by source file (partition key)."""
    out = {}
    for obj in store.list(zone.processed_prefix):
        if obj.key.endswith(MANIFEST_SUFFIX):
            source = obj.key[len(zone.processed_prefix) : -len(MANIFEST_SUFFIX)]
            out[source] = orjson.loads(store.get_bytes(obj.key))
    return out


def held_files(
    store: LakeStore, zone: LandingZone, checks: Iterable[FileCheck]
) -> dict[str, dict[str, Any]]:
    """The zone's files held out of the warehouse, with the checks they fail."""
    return held_reasons(zone_manifests(store, zone), checks)


def with_held_files(
    frame: pd.DataFrame, held: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> pd.DataFrame:
    """``reports.data_quality`` rows (``frame``, one per check) plus one failed row per held
    file and check (``held``: ``{asset: {file: {check: what fails}}}``, partition = the file);
    a check's own row says failed while any file is held by it, whatever its latest batch."""
    extra = []
    frame = frame.copy()
    for asset, files in held.items():
        by_check: dict[str, int] = {}
        for source, failing in sorted(files.items()):
            for check, detail in failing.items():
                by_check[check] = by_check.get(check, 0) + 1
                extra.append(
                    {
                        "asset_key": asset,
                        "check_name": check,
                        "severity": "ERROR",
                        "blocking": True,
                        "status": "failed",
                        "passed": False,
                        "partition": source,
                        "description": "Held out of the warehouse until the file is fixed "
                        "(landed again) or removed",
                        "details": f"{check}={detail}",
                    }
                )
        for check, n in by_check.items():
            row = (frame["asset_key"] == asset) & (frame["check_name"] == check)
            frame.loc[row, ["status", "severity"]] = ["failed", "ERROR"]
            frame.loc[row, "passed"] = False
            frame.loc[row, "details"] = f"{n} files held out until fixed or removed"
    if not extra:
        return frame
    rows = pd.DataFrame(extra).reindex(columns=frame.columns)
    rows["passed"] = rows["passed"].astype("boolean")
    rows["evaluated_at"] = pd.to_datetime(rows["evaluated_at"])
    return pd.concat([frame, rows], ignore_index=True)
