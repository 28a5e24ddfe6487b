"""Landed files held out of the warehouse, as rows of ``reports.data_quality``
(Dagster-free): which files are held is the landing mechanism's rule
(:func:`spotify_assets.lib.landing.held_files`); here each held file becomes a failed row of
the check it fails, and the check's own row says failed while any file is held by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd


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
