"""A landed object of a listener's folder, dispatched by content, and the zips of exports,
opened safely in memory (Dagster-free).

People drop the export as downloaded (``my_spotify_data.zip``, with folders such as
``Spotify Account Data/`` or ``Spotify Extended Streaming History/`` inside, next to
``Userdata.json``, ``Playlist1.json``, ``ReadMeFirst_ExtendedStreamingHistory.pdf`` ...; or
ListenBrainz's ``listenbrainz_<user>_<time>.zip`` with ``listens/<year>/<month>.jsonl``, or
Last.fm's old archive). :func:`parse_export_zip` reads every member in memory (nothing is
extracted to disk) and parses it as if it had been dropped alone (:func:`parse_history_file`:
a scrobble export by :mod:`spotify_assets.lib.listening.scrobble_files`, anything else by
:func:`spotify_assets.lib.listening.export_files.parse_landed_file`): its rows carry
``source_file = "<zip's partition key>/<member path>"`` and the zip's user; the members' tables
become one table, sorted by ``ts``.

What is listed, what is skipped
-------------------------------
- members that are not listening history (``Userdata.json``, the PDF, video history, ...) are
  listed in ``ParsedFile.not_ingested`` as (member path, reason);
- macOS metadata (``__MACOSX/...``, ``.DS_Store``, ``._*`` AppleDouble files) is listed too,
  with the reason ``"macOS metadata"``, so every member that holds bytes is accounted for;
  folder entries (names ending in ``/``) hold nothing and are skipped;
- a nested zip is not opened (listed: ``"nested zip: not opened ..."``): exports do not nest
  them, and opening them would multiply every limit below;
- a member that should be history but cannot be read (truncated, garbage, a CRC error) is
  listed as ``"unreadable: <reason>"`` and counted in ``info["bad_members"]``; the other
  members' plays are kept (bad input never loses good data).

When the whole zip is refused (:class:`~spotify_assets.lib.landing.BadFile`)
------------------------------------------------------------------------------
Before any member is read: a member name that is absolute (``/x``, ``C:\\x``), holds a ``..``
part (path traversal) or a NUL, two members with the same name, encrypted members
(password-protected zips cannot be read unattended), more than :data:`ZipLimits.members`
members, a declared size above :data:`ZipLimits.member_bytes` for one member or
:data:`ZipLimits.total_bytes` in all, a declared compression ratio above
:data:`ZipLimits.ratio` (for members above :data:`ZipLimits.ratio_floor` bytes), or members
whose data overlap (the "better zip bomb" shares one compressed kernel among many entries).
While reading, the same limits are enforced on the bytes actually inflated, so a member that
lies about its size is stopped at its limit, not at the end of its data. And a file that is no
readable zip at all.

The limits: Spotify splits extended history into files of about 12 MB, and account-data files
are smaller; a member of 512 MiB or 4 GiB in all leave room for decades of history and the
technical-log package. Export JSON deflates about 16:1 (measured on sample-world files); a
ratio of 100 leaves six-fold headroom while a zip bomb's members run near deflate's limit of
about 1000:1.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from spotify_assets.lib.landing import BadFile, NotIngested, ParsedFile
from spotify_assets.lib.listening.export_files import (
    STREAMS_SCHEMA,
    parse_landed_file,
    sort_by_ts,
)
from spotify_assets.lib.listening.scrobble_files import (
    not_listens_reason,
    parse_scrobble_file,
    scrobble_kind,
)

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty zip's end record
MACOS_METADATA = "macOS metadata"
_CHUNK = 1 << 20
_LOCAL_HEADER = 30  # bytes of a local file header before its name and extra field
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ZipLimits:
    """What a zip may hold before it is refused as a zip bomb (module docstring: why these)."""

    members: int = 10_000
    member_bytes: int = 512 * 2**20
    total_bytes: int = 4 * 2**30
    ratio: float = 100.0
    ratio_floor: int = 2**20  # members smaller than this may compress as well as they like


DEFAULT_LIMITS = ZipLimits()


def parse_landed_export(
    data: bytes,
    *,
    name: str,
    source_file: str,
    user_id: str,
    landed_at: datetime | None = None,
) -> ParsedFile:
    """What a landed object of the streaming-history zone holds: the entry point of the
    landed-file mechanism. Spotify's export files and zips, and the Last.fm and ListenBrainz
    exports (:mod:`spotify_assets.lib.listening.scrobble_files`), told apart by content.

    ``name``: the object's path below the user's folder (a hint only: content decides);
    ``source_file``: the landed object's partition key, written on every row (a zip member's
    rows carry ``"<source_file>/<member path>"``); ``user_id``: the user the folder maps to;
    ``landed_at``: when the object landed (plays dated after it, beyond :data:`CLOCK_SKEW`,
    are rejected). A zip is opened in memory
    (:func:`parse_export_zip`).

    Raises :class:`~spotify_assets.lib.landing.NotIngested` for an object that is not listening
    history (or is video history) and :class:`~spotify_assets.lib.landing.BadFile` for one that
    should be but cannot be read (module docstring). Rows come sorted by ``ts``.
    """
    if is_zip(data):
        return parse_export_zip(data, source_file=source_file, user_id=user_id, landed_at=landed_at)
    return parse_history_file(
        data, name=name, source_file=source_file, user_id=user_id, landed_at=landed_at
    )


def parse_history_file(
    data: bytes,
    *,
    name: str,
    source_file: str,
    user_id: str,
    landed_at: datetime | None = None,
) -> ParsedFile:
    """One file that is not a zip (loose, or a zip's member): a scrobble export when its
    content is one, a file of another service's export that holds no listens (ListenBrainz's
    ``user.json``, ``feedback.jsonl``) not ingested with the reason, else Spotify's export
    parser decides."""
    if scrobble_kind(data, name) is not None:
        return parse_scrobble_file(
            data, name=name, source_file=source_file, user_id=user_id, landed_at=landed_at
        )
    if (reason := not_listens_reason(data, name)) is not None:
        raise NotIngested(reason)
    return parse_landed_file(
        data, name=name, source_file=source_file, user_id=user_id, landed_at=landed_at
    )


def is_zip(data: bytes) -> bool:
    return data[:4] in ZIP_MAGIC


def parse_export_zip(
    data: bytes,
    *,
    source_file: str,
    user_id: str,
    landed_at: datetime | None = None,
    limits: ZipLimits = DEFAULT_LIMITS,
) -> ParsedFile:
    """Every member of the zip ``data`` parsed as if dropped alone, in one
    :class:`~spotify_assets.lib.landing.ParsedFile`. ``info`` holds the totals and
    ``info["members"]`` the figures of each member. Raises
    :class:`~spotify_assets.lib.landing.BadFile` when the zip is refused (module docstring)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise BadFile(f"not a readable zip: {exc}") from None
    with zf:
        entries = _checked_entries(zf, limits)
        tables: list[pa.Table] = []
        rejected = []
        not_ingested: list[tuple[str, str]] = []
        members: dict[str, dict[str, Any]] = {}
        budget = [limits.total_bytes]  # bytes still allowed to be inflated, all members
        for entry in entries:
            path = _path(entry)
            if entry.is_dir():
                continue
            figures: dict[str, Any] = {
                "bytes": entry.file_size,
                "compressed_bytes": entry.compress_size,
            }
            if _is_macos_metadata(path):
                members[path] = {"status": "not_ingested", "reason": MACOS_METADATA, **figures}
                not_ingested.append((path, MACOS_METADATA))
                continue
            try:
                body = read_member(zf, entry, limits, budget)
            except BadFile:
                raise  # a zip bomb: the whole zip is refused
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError) as exc:
                reason = f"unreadable: {exc}"
                members[path] = {"status": "bad", "reason": reason, **figures}
                not_ingested.append((path, reason))
                continue
            if is_zip(body):
                reason = "nested zip: not opened (unzip it and drop its files instead)"
                members[path] = {"status": "not_ingested", "reason": reason, **figures}
                not_ingested.append((path, reason))
                continue
            member_key = f"{source_file}/{path}"
            try:
                parsed = parse_history_file(
                    body, name=path, source_file=member_key, user_id=user_id, landed_at=landed_at
                )
            except NotIngested as exc:
                members[path] = {"status": "not_ingested", "reason": exc.reason, **figures}
                not_ingested.append((path, exc.reason))
                continue
            except BadFile as exc:
                reason = f"unreadable: {exc.reason}"
                members[path] = {"status": "bad", "reason": reason, **figures}
                not_ingested.append((path, reason))
                continue
            members[path] = {"status": "ingested", **figures, **parsed.info}
            tables.append(parsed.table)
            rejected.extend(replace(r, source_file=member_key) for r in parsed.rejected)
    _refuse_without_history(members, not_ingested)
    table = sort_by_ts(pa.concat_tables(tables)) if tables else STREAMS_SCHEMA.empty_table()
    return ParsedFile(
        table=table,
        rejected=rejected,
        info=_zip_info(table, members),
        not_ingested=not_ingested,
    )


def _refuse_without_history(
    members: dict[str, dict[str, Any]], not_ingested: list[tuple[str, str]]
) -> None:
    """A zip with no member of listening history is not taken as an export with no plays:
    an empty zip, or one holding only other files or a nested zip, is not ingested (why,
    member by member); one whose history members are all unreadable is rejected."""
    if any(m["status"] == "ingested" for m in members.values()):
        return
    if not members:
        raise NotIngested("an empty zip: no files in it")
    shown = "; ".join(f"{name}: {reason}" for name, reason in not_ingested[:5])
    more = f"; and {len(not_ingested) - 5} more" if len(not_ingested) > 5 else ""
    if any(m["status"] == "bad" for m in members.values()):
        raise BadFile(f"no readable listening history in this zip ({shown}{more})")
    raise NotIngested(f"no listening history in this zip ({shown}{more})")


def read_member(
    zf: zipfile.ZipFile,
    entry: zipfile.ZipInfo,
    limits: ZipLimits = DEFAULT_LIMITS,
    budget: list[int] | None = None,
) -> bytes:
    """A member's bytes, inflated in memory chunk by chunk and stopped as soon as they pass the
    member's limit, the ratio limit or what is left of the zip's ``budget`` (a one-element
    list, decreased by what is read): :class:`~spotify_assets.lib.landing.BadFile` then."""
    path = _path(entry)
    ratio_cap = max(limits.ratio_floor, int(entry.compress_size * limits.ratio))
    cap = min(limits.member_bytes, ratio_cap)
    if budget is not None:
        cap = min(cap, budget[0])
    chunks: list[bytes] = []
    size = 0
    with zf.open(entry) as f:
        while chunk := f.read(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise BadFile(_bomb(path, size, entry, limits, ratio_cap, budget))
            chunks.append(chunk)
    if budget is not None:
        budget[0] -= size
    return b"".join(chunks)


def _bomb(
    path: str,
    size: int,
    entry: zipfile.ZipInfo,
    limits: ZipLimits,
    ratio_cap: int,
    budget: list[int] | None,
) -> str:
    if size > limits.member_bytes:
        why = f"more than {limits.member_bytes} bytes inflated"
    elif size > ratio_cap:
        why = (
            f"more than {limits.ratio:g} times its {entry.compress_size} compressed bytes inflated"
        )
    else:
        why = f"the zip's members inflate to more than {limits.total_bytes} bytes in all"
    return f"zip bomb refused: member {path!r}: {why} (declared {entry.file_size})"


def _checked_entries(zf: zipfile.ZipFile, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """The zip's entries, after every check that needs no member to be read."""
    entries = zf.infolist()
    if len(entries) > limits.members:
        raise BadFile(
            f"zip bomb refused: {len(entries)} members, more than the {limits.members} allowed"
        )
    seen: set[str] = set()
    total = 0
    for entry in entries:
        name = entry.filename
        path = _path(entry)
        unsafe = _unsafe_name(path)
        if unsafe:
            raise BadFile(f"unsafe zip refused: member {name!r}: {unsafe}")
        if path in seen:
            raise BadFile(f"unsafe zip refused: member {name!r} appears twice")
        seen.add(path)
        if entry.flag_bits & 0x1:
            raise BadFile(
                f"encrypted zip refused: member {name!r} is password-protected; "
                "drop the export's files or an unencrypted zip"
            )
        if entry.file_size > limits.member_bytes:
            raise BadFile(
                f"zip bomb refused: member {name!r} declares {entry.file_size} bytes, more than "
                f"the {limits.member_bytes} allowed"
            )
        if (
            entry.file_size > limits.ratio_floor
            and entry.file_size > entry.compress_size * limits.ratio
        ):
            raise BadFile(
                f"zip bomb refused: member {name!r} declares {entry.file_size} bytes from "
                f"{entry.compress_size} compressed, a ratio above {limits.ratio:g}"
            )
        total += entry.file_size
    if total > limits.total_bytes:
        raise BadFile(
            f"zip bomb refused: the members declare {total} bytes in all, more than the "
            f"{limits.total_bytes} allowed"
        )
    # Overlapping members: each member's data must end before the next member's header.
    by_offset = sorted(entries, key=lambda e: e.header_offset)
    for a, b in zip(by_offset, by_offset[1:], strict=False):
        end = a.header_offset + _LOCAL_HEADER + len(a.orig_filename.encode()) + a.compress_size
        if end > b.header_offset:
            raise BadFile(
                f"zip bomb refused: members {a.filename!r} and {b.filename!r} overlap "
                "(entries that share compressed data)"
            )
    return entries


def _path(entry: zipfile.ZipInfo) -> str:
    return entry.filename.replace("\\", "/")


def _unsafe_name(path: str) -> str | None:
    if not path.strip("/"):
        return "an empty name"
    if "\x00" in path:
        return "a NUL in its name"
    if path.startswith("/") or _DRIVE.match(path):
        return "an absolute path"
    if ".." in path.split("/"):
        return "a '..' part (path traversal)"
    return None


def _is_macos_metadata(path: str) -> bool:
    parts = path.split("/")
    base = parts[-1]
    return "__MACOSX" in parts[:-1] or base == ".DS_Store" or base.startswith("._")


def _earliest(ingested: list[dict[str, Any]]) -> dict[str, str]:
    """The earliest plausible play of a zip's members (scrobble exports go back before
    Spotify), when a member says."""
    bounds = [m["earliest_play"] for m in ingested if m.get("earliest_play")]
    return {"earliest_play": min(bounds)} if bounds else {}


def _zip_info(table: pa.Table, members: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ingested = [m for m in members.values() if m["status"] == "ingested"]
    normalized: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    for m in ingested:
        normalized.update(m.get("normalized", {}))
        by_reason.update(m.get("rejected_by_reason", {}))
    ts_min = ts_max = None
    if table.num_rows:
        bounds = pc.min_max(table["ts"])
        ts_min, ts_max = bounds["min"].as_py().isoformat(), bounds["max"].as_py().isoformat()
    status = Counter(m["status"] for m in members.values())
    return {
        "format": "zip",
        "formats": sorted({m["format"] for m in ingested}),
        "records": sum(m["records"] for m in ingested),
        "accepted": sum(m["accepted"] for m in ingested),
        "rejected": sum(m["rejected"] for m in ingested),
        "rejected_by_reason": dict(sorted(by_reason.items())),
        "min_ts": ts_min,
        "max_ts": ts_max,
        "normalized": dict(sorted(normalized.items())),
        "mixed_history_rows": sum(m["mixed_history_rows"] for m in ingested),
        "now_playing": sum(m.get("now_playing", 0) for m in ingested),
        **_earliest(ingested),
        "ingested_members": status["ingested"],
        "not_ingested_members": status["not_ingested"],
        "bad_members": status["bad"],
        "members": members,
    }
