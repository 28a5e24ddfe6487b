"""What the coverage checks of the reports verify (Dagster-free): the dashboard has every
section, the BI exports hold every row of their marts, the data-quality table covers every
check (the catalog's own, a complete snapshot window and its artists' bodies, are in
:mod:`spotify_assets.lib.catalog.coverage`).

Each function returns the problems found (empty when all is well), each naming the playlist,
artist, section, file or check, so a failed check says what to fix.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable, Mapping
from typing import Any

from spotify_assets.lib.lake import LakeError, LakeStore


def missing_sections(page: str, titles: Iterable[str]) -> list[str]:
    """The section titles with no ``<h2>`` heading in the page."""
    return [t for t in titles if f"<h2>{html.escape(t)}</h2>" not in page]


def export_row_problems(store: LakeStore, exports: Mapping[str, str], conn: Any) -> list[str]:
    """Each export (lake key of a Parquet file, by ``schema.table``) has the rows of its
    table in the warehouse."""
    import pyarrow.parquet as pq

    problems = []
    for table, key in sorted(exports.items()):
        try:
            exported = pq.ParquetFile(io.BytesIO(store.get_bytes(key))).metadata.num_rows
        except LakeError as exc:
            problems.append(f"{table}: no export ({exc})")
            continue
        (rows,) = conn.execute(f"select count(*) from {table}").fetchone()
        if int(rows) != int(exported):
            problems.append(f"{table}: {exported} rows exported, {rows} in the warehouse")
    return problems


def uncovered_checks(
    declared: Iterable[tuple[str, str]], reported: Iterable[tuple[str, str]]
) -> list[str]:
    """Declared checks (asset, check) with no row in reports.data_quality."""
    have = set(reported)
    return [
        f"{asset} / {check}" for asset, check in sorted(set(declared)) if (asset, check) not in have
    ]
