"""The landing zone of listening history: ``landing/streaming_history/<user folder>/...``.

Whatever people drop in a listener's folder (loose export files, the unpacked export with its
folders, the zip as downloaded) is one partition per object; the export parser
(:mod:`spotify_assets.lib.listening.export_files`) recognises history by content and says why
anything else is not taken. The folder's name is the listener (mapped to a safe, stable user
id by :func:`spotify_assets.lib.listening.users.user_id_for_folder`).
"""

from __future__ import annotations

import threading
from typing import Any

from spotify_assets.lib.landing import (
    LandedContext,
    LandingZone,
    NotIngested,
    ParsedFile,
)

_local = threading.local()


def duplicates_in(table: Any) -> int:
    """Plays that the object itself holds twice (the same play key). One in-memory DuckDB
    connection per thread: opening one per file cost more than the query."""
    if not table.num_rows:
        return 0
    import duckdb

    from spotify_assets.lib.listening.streams import play_key_sql

    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = duckdb.connect()
    conn.register("_file_plays", table)
    try:
        return conn.execute(
            f"select count(*) - count(distinct ({', '.join(play_key_sql())})) from _file_plays"
        ).fetchall()[0][0]
    finally:
        conn.unregister("_file_plays")


def parse_history(data: bytes, context: LandedContext) -> ParsedFile:
    """One landed object of a listener's folder -> plays (see the export parser)."""
    from spotify_assets.lib.listening.export_files import parse_landed_export

    if context.owner is None:
        raise NotIngested(
            "not in a listener's folder: put export files in "
            "landing/streaming_history/<listener>/ (the folder's name is the listener)"
        )
    return parse_landed_export(
        data,
        name=context.name,
        source_file=context.partition_key,
        user_id=context.owner,
        landed_at=context.landed_at,
    )


#: Rejection reasons of values no play can have (the export parser's wording).
IMPLAUSIBLE_REASONS = (
    "before Spotify's launch",
    "after the file landed",
    "longer than a play can last",
    "out of range",
)


def summarise(parsed: ParsedFile) -> dict[str, Any]:
    """Figures of a parsed object beyond the parser's own, for the file checks: duplicate
    plays within it, records left out for a negative ``ms_played`` and for values no play can
    have (so a file holding one fails a blocking check, not only a lower parse rate)."""
    reasons = [r.reason for r in parsed.rejected]
    return {
        "duplicates_in_file": duplicates_in(parsed.table),
        "negative_ms_played": sum("negative" in r for r in reasons),
        "implausible_records": sum(any(m in r for m in IMPLAUSIBLE_REASONS) for r in reasons),
    }


def _write_parquet(table: Any, where: Any) -> None:
    from spotify_assets.lib.listening.export_files import write_parquet

    write_parquet(table, where)


def _user_id(folder: str) -> str:
    from spotify_assets.lib.listening.users import user_id_for_folder

    return user_id_for_folder(folder)


STREAMING_HISTORY_ZONE = LandingZone(
    name="streaming_history",
    parse=parse_history,
    description="Spotify privacy exports, one folder per listener (files, folders or zips)",
    owner_folders=True,
    owner_id=_user_id,
    write_parquet=_write_parquet,
    summarise=summarise,
    # An export's zip as downloaded can hold the technical log too; its members are limited
    # one by one as they are inflated (export_archive.ZipLimits).
    max_bytes=2 * 2**30,
)
