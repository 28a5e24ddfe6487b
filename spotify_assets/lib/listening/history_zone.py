"""The landing zone of listening history: ``landing/streaming_history/<user folder>/...``.

Whatever people drop in a listener's folder (loose export files, the unpacked export with its
folders, the zip as downloaded, their Last.fm and ListenBrainz exports) is one partition per
object; the parsers (:mod:`spotify_assets.lib.listening.export_files`,
:mod:`spotify_assets.lib.listening.scrobble_files`, dispatched by
:func:`spotify_assets.lib.listening.export_archive.parse_landed_export`) recognise history by
content and say why anything else is not taken. The folder's name is the listener (mapped to a
safe, stable user id by :func:`spotify_assets.lib.listening.users.user_id_for_folder`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from spotify_assets.lib.landing import (
    FileCheck,
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
    from spotify_assets.lib.listening.export_archive import parse_landed_export

    if context.listener is None:
        raise NotIngested(
            "not in a listener's folder: put export files in "
            "landing/streaming_history/<listener>/ (the folder's name is the listener)"
        )
    return parse_landed_export(
        data,
        name=context.name,
        source_file=context.path,
        user_id=context.listener,
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


#: Spotify launched in October 2008; nothing can have been played before.
EARLIEST_PLAY = "2008-10-01"


def _implausible_times(info: dict) -> dict | None:
    """Plays before Spotify's launch or after now; a scrobble export says its own earliest
    (``earliest_play``: scrobbling began in 2002, years before Spotify)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 86400))
    low, high = info.get("min_ts"), info.get("max_ts")
    earliest = str(info.get("earliest_play") or EARLIEST_PLAY)
    if low is not None and (str(low) < earliest or str(high) > now):
        return {"min_ts": low, "max_ts": high}
    return None


FILE_CHECKS = (
    FileCheck(
        "timestamps_plausible",
        f"Every play ends between {EARLIEST_PLAY} (scrobbles: 2002-01-01) and now",
        _implausible_times,
    ),
    FileCheck(
        "ms_played_non_negative",
        "No record of the file has a negative ms_played",
        lambda info: info.get("negative_ms_played"),
    ),
    FileCheck(
        "plays_plausible",
        "No record of the file was left out for a value no play can have (ms_played above the "
        "bound, a play before Spotify existed or after the file landed)",
        lambda info: info.get("implausible_records"),
    ),
    FileCheck(
        "zip_members_readable",
        "Every member of a zip that looks like listening history could be read (the others "
        "are kept)",
        lambda info: info.get("bad_members"),
        blocking=False,
    ),
)

STREAMING_HISTORY_ZONE = LandingZone(
    name="streaming_history",
    parse=parse_history,
    description=(
        "Spotify privacy exports and Last.fm and ListenBrainz exports, one folder per listener "
        "(files, folders or zips)"
    ),
    listener_folders=True,
    listener_id=_user_id,
    file_checks=FILE_CHECKS,
    write_parquet=_write_parquet,
    summarise=summarise,
    # An export's zip as downloaded can hold the technical log too; its members are limited
    # one by one as they are inflated (export_archive.ZipLimits).
    max_bytes=2 * 2**30,
)
