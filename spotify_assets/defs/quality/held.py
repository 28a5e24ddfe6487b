"""Which landed files are held out of the warehouse: the blocking checks of a landing zone
(its ``parse_rate`` and blocking file checks) evaluated on each file's own manifest, so a failed
file stays failed until it is fixed or removed (see ``spotify_assets.lib.quality.held_files``).
``core/streams``, ``core/chart_entries`` and the catalog tables leave their rows out;
``reports/data_quality`` lists them as failed."""

from typing import Any

from spotify_assets.defs.landing import PARSE_RATE, ZoneDefs
from spotify_assets.lib.lake import LakeStore
from spotify_assets.lib.landing import FileCheck
from spotify_assets.lib.quality.held_files import held_files


def blocking_file_checks(zone: ZoneDefs) -> list[FileCheck]:
    return [
        PARSE_RATE,
        *(c for c in zone.file_checks if c.blocking),
    ]


def zone_held_files(
    store: LakeStore, zone: ZoneDefs, *, log: Any = None, out_of: str = ""
) -> dict[str, dict[str, Any]]:
    """``{source_file: {check: what fails}}`` for ``zone``'s held files; with ``log`` (a
    Dagster logger), says which are held out ``out_of`` what table."""
    held = held_files(store, zone.zone, blocking_file_checks(zone))
    if held and log is not None:
        log.warning(
            f"{len(held)} files held out of {out_of} until fixed or removed: "
            + "; ".join(f"{k} ({', '.join(v)})" for k, v in list(held.items())[:10])
        )
    return held
