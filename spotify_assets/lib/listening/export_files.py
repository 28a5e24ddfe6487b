"""Parse, validate and normalize one landed file of a Spotify privacy export into Arrow rows.

Dagster-free. The landed-file mechanism calls
:func:`spotify_assets.lib.listening.export_archive.parse_landed_export` once per landed object
(``landing/streaming_history/<user_id>/...``, a loose file or a zip) and gets a
:class:`~spotify_assets.lib.landing.ParsedFile`; it writes the rows with :func:`write_parquet`
and ``core.streams`` is then built by DuckDB over those Parquet files
(``spotify_assets.lib.listening.streams``). Zips are opened by
``spotify_assets.lib.listening.export_archive``, which parses each member as if dropped alone.

What is listening history: by content, never by name
----------------------------------------------------
A file is parsed when its JSON is an array and at least one record carries the time and the
duration of a format: ``ts`` and ``ms_played`` (Extended Streaming History) or ``endTime`` and
``msPlayed`` (account data), whatever the file is called (``endsong.json``,
``Streaming_History_Audio_2019-2021_3.json``, ``my copy.json``). An empty array is a valid,
empty file. Otherwise the object is either

- not listening history (:class:`~spotify_assets.lib.landing.NotIngested`, ``"not listening
  history: <why>"``): ``Userdata.json``, ``Playlist1.json``, ``Inferences.json`` (objects at the
  top level), ``SearchQueries.json`` or ``Marquee.json`` (arrays of other records), a PDF or an
  image of the export, any text that is not JSON; or
- meant to be history but unreadable (:class:`BadExportFile`, a
  :class:`~spotify_assets.lib.landing.BadFile`): the same problems when the name says history
  (``endsong*``, ``Streaming_History_*``, ``StreamingHistory*``) or the file's first 64 KiB
  name a history field (``"ts":``, ``"ms_played":``, ``"endTime":``, ``"msPlayed":``, a track
  URI or track name field): a truncated download, garbage, a UTF-16 file that does not decode.

Video history (``Streaming_History_Video_*.json``) is out of scope:
``NotIngested("video history: out of scope")``. It can only be told by its name: Spotify's
Read Me First documents the same record fields for ``end_video`` as for ``end_song`` (video
podcast episodes: ``episode_name``, ``episode_show_name``, ``spotify_episode_uri``), so a
renamed video file is read as the podcast plays it holds.

Encodings: UTF-8 with or without a BOM is read as it is; UTF-16 (LE or BE) and UTF-32 with a
BOM, and BOM-less UTF-16 (told by the NUL bytes of its ASCII characters), are decoded to UTF-8
and read; bytes that do not decode are a bad file whose reason names the encoding (``"not
UTF-16 LE: ..."``, ``"not UTF-8: byte 0xe9 at offset 17 ..."``). Other encodings are refused.

Formats (told by the records' field names; the file name only breaks ties)
--------------------------------------------------------------------------
- ``extended``: Extended Streaming History, ``Streaming_History_Audio_*.json`` and the older
  ``endsong_*.json``: records with ``ts``, ``ms_played``, ``master_metadata_*``,
  ``spotify_track_uri``, ``episode_*``, ``audiobook_*``...
- ``account_data``: the account-data short history, ``StreamingHistory_music_*.json``,
  ``StreamingHistory_podcast_*.json`` and the older mixed ``StreamingHistory<N>.json``: records
  with ``endTime`` ("YYYY-MM-DD HH:MM", UTC), ``msPlayed`` and ``artistName``/``trackName``
  (music, and podcasts in the old mixed files) or ``podcastName``/``episodeName`` (podcast files).
  No URIs: ``track_id`` is null and the names are kept for a later name resolution.

Whole-file problems raise :class:`BadExportFile` from the format-level :func:`parse_export`: an
empty file, bytes that are not JSON, truncated JSON, a top level that is not an array, an array
whose elements are all non-objects, no record with the time and duration fields of a format.
The JSON dialect is DuckDB's reader's: RFC 8259, plus a UTF-8 BOM, ``NaN``/``Infinity`` (which
are then "not a number") and a trailing comma inside an object; with a duplicate key the last
value wins.

Rejections (a record is dropped and listed in ``rejected`` with its reasons)
---------------------------------------------------------------------------
- the element is not a JSON object (``null``, a number, a string, an array);
- ``ts`` (``endTime``) is missing, blank, not a timestamp, before Spotify's launch
  (:data:`SPOTIFY_LAUNCH`, 2008-10-07: no play can be older), after the file landed (when the
  caller gives ``landed_at``; :data:`CLOCK_SKEW` of one hour is allowed for the clocks of the
  store and of whoever wrote the file), or, without ``landed_at``, in 2100 or later;
- ``ms_played`` (``msPlayed``) is missing or blank, not a number, not a whole number, out of the
  int64 range, negative, or above :data:`MAX_MS_PLAYED` (24 hours). ``ms_played`` counts the
  time one item actually played. Songs last minutes, podcast episodes a few hours (published
  extended histories show plays of 3-4 hours at most) and audiobooks play chapter by chapter;
  a full day of uninterrupted playing is beyond any single item, while 9e15 (285,000 years) is
  a corrupt value that would otherwise count as billions of listening hours.
Nothing else rejects a record: ``accepted + rejected == records`` always.

Normalizations (the record is kept; an unusable value becomes null and is counted in
``normalized`` so that quality checks can watch it)
------------------------------------------------------------------------------------
- ``ts``: ISO 8601 with ``Z``, an offset (converted to UTC), no time zone (taken as UTC), a space
  instead of ``T``, any fraction; stored as ``timestamp[us, UTC]``. ``endTime`` likewise.
- numbers may come as JSON numbers or strings (``"1234"``, ``" 1234 "``, ``1234.0``).
- booleans (``shuffle``, ``skipped``, ``offline``, ``incognito_mode``) may come as JSON booleans
  or the strings ``true``/``false``/``1``/``0`` (any case); anything else becomes null.
- text fields: an empty or whitespace-only string is null (Spotify writes ``""`` for null);
  names are otherwise kept as given; ``platform``, ``reason_start``, ``reason_end`` are trimmed.
- ``conn_country``: trimmed, upper-cased, and null unless an ISO 3166-1 alpha-2 code (so
  ``"ZZ"``, Spotify's unknown country, is null).
- URIs become ids (``spotify:track:<id>`` -> ``track_id``, ``spotify:episode:<id>`` ->
  ``episode_id``, ``spotify:audiobook:<id>`` or ``spotify:show:<id>`` -> ``audiobook_id``,
  ``spotify:chapter:<id>`` or ``spotify:episode:<id>`` -> ``audiobook_chapter_id``; the id is
  22 base-62 characters); any other value (a local file URI, a typo) gives a null id.
- ``offline_timestamp``: epoch seconds in older files, milliseconds in newer ones, told apart by
  magnitude (< 1e11: seconds, < 1e14: milliseconds, < 1e17: microseconds); 0, negative or a
  time outside [2000, 2100) is null.
- ``content_type``: ``music`` with a valid track URI, else ``podcast`` with an episode URI, else
  ``audiobook`` with an audiobook or chapter URI; without any URI the names decide in the
  same order (track name; episode or show name; audiobook or chapter title); else ``unknown``
  (still accepted).
  Account data: ``podcastName``/``episodeName`` -> ``podcast``; ``artistName``/``trackName`` ->
  ``music`` in ``StreamingHistory_music_*`` files and ``podcast`` (show, episode) in
  ``StreamingHistory_podcast_*`` files. In a file whose name does not tell its kind (the old
  mixed ``StreamingHistory<N>.json``, a renamed copy) an ``artistName``/``trackName`` row is a
  play of ``music`` with ``mixed_history = true``: podcasts hide there as artist = show, and
  the streams build turns such a row into ``podcast`` when the same user's files know its
  ``artistName`` as a show. ``mixed_history`` is false on the other account-data rows and null
  on extended rows.
- unknown extra fields are ignored. Personal data (``ip_addr``, ``ip_addr_decrypted``,
  ``user_agent_decrypted``, ``username``) is never read, so it cannot reach the output or the
  rejection excerpts.
- record order is free: ``record_index`` keeps each record's position in the file, and
  :func:`process_file` and :func:`parse_landed_file` return rows sorted by ``ts``.

Speed: the file is read by DuckDB's JSON reader (C++, no Python object per record) into Arrow
string columns, and every check and conversion is a vectorized Arrow kernel over a column, with
a per-value Python path only for the values that fail the vectorized one. Files that the
columnar read refuses (a non-object element, a duplicate key) take a per-record path that gives
the same rows and exact reasons. Recognising a file costs a look at its first bytes.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any, Literal

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spotify_assets.lib.landing import BadFile, NotIngested, ParsedFile, RejectedRecord
from spotify_assets.lib.text_files import binary_kind

ExportFormat = Literal["extended", "account_data"]
ContentType = Literal["music", "podcast", "audiobook", "unknown"]

TS_TYPE = pa.timestamp("us", tz="UTC")

STREAMS_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("content_type", pa.string(), nullable=False),
        pa.field("track_id", pa.string()),
        pa.field("episode_id", pa.string()),
        pa.field("audiobook_id", pa.string()),
        pa.field("audiobook_chapter_id", pa.string()),
        pa.field("track_name", pa.string()),
        pa.field("artist_name", pa.string()),
        pa.field("album_name", pa.string()),
        pa.field("episode_name", pa.string()),
        pa.field("show_name", pa.string()),
        pa.field("audiobook_title", pa.string()),
        pa.field("audiobook_chapter_title", pa.string()),
        pa.field("audiobook_author", pa.string()),
        pa.field("ms_played", pa.int64(), nullable=False),
        pa.field("conn_country", pa.string()),
        pa.field("platform", pa.string()),
        pa.field("reason_start", pa.string()),
        pa.field("reason_end", pa.string()),
        pa.field("shuffle", pa.bool_()),
        pa.field("skipped", pa.bool_()),
        pa.field("offline", pa.bool_()),
        pa.field("offline_timestamp", TS_TYPE),
        pa.field("incognito_mode", pa.bool_()),
        pa.field("source_format", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("record_index", pa.int64(), nullable=False),
        pa.field("mixed_history", pa.bool_()),
    ]
)
"""One row per accepted record of either format; ``ts`` is the end of the play (UTC).
``mixed_history``: true for an account-data row of a file that does not tell music from
podcasts (taken as music until known as a podcast), false for other account-data rows, null
for extended rows."""

CONTENT_TYPES: tuple[ContentType, ...] = ("music", "podcast", "audiobook", "unknown")

# The only fields ever read from a record. Personal fields are deliberately absent.
EXTENDED_FIELDS: tuple[str, ...] = (
    "ts",
    "platform",
    "ms_played",
    "conn_country",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "offline_timestamp",
    "incognito_mode",
)
ACCOUNT_DATA_FIELDS: tuple[str, ...] = (
    "endTime",
    "artistName",
    "trackName",
    "msPlayed",
    "podcastName",
    "episodeName",
    "audiobookName",
    "chapterName",
    "authorName",
)
PERSONAL_FIELDS: tuple[str, ...] = (
    "ip_addr",
    "ip_addr_decrypted",
    "user_agent_decrypted",
    "username",
)
_READ_FIELDS = EXTENDED_FIELDS + ACCOUNT_DATA_FIELDS
_READ_COLUMNS = dict.fromkeys(_READ_FIELDS, "VARCHAR")
# Non-null values of these vote for a format; the format with more votes wins.
_EXTENDED_MARKERS = (
    "ts",
    "ms_played",
    "spotify_track_uri",
    "spotify_episode_uri",
    "master_metadata_track_name",
    "episode_name",
    "conn_country",
    "platform",
    "reason_start",
    "reason_end",
    "audiobook_uri",
)
_ACCOUNT_MARKERS = (
    "endTime", "msPlayed", "artistName", "trackName", "podcastName", "episodeName",
    "audiobookName", "chapterName",
)  # fmt: skip

_ISO_CODES = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW XK"
)
ISO_COUNTRIES: frozenset[str] = frozenset(_ISO_CODES.split())
"""ISO 3166-1 alpha-2 codes, plus XK (Kosovo, user-assigned but in common use)."""


@functools.cache
def _country_set() -> pa.Array:
    # built on first use: pa.array probes for pandas, which loading must not import
    return pa.array(sorted(ISO_COUNTRIES))


SPOTIFY_LAUNCH = datetime(2008, 10, 7, tzinfo=UTC)
"""Spotify's public launch: a play dated before it cannot be true."""
CLOCK_SKEW = timedelta(hours=1)
"""How far after ``landed_at`` a play may still be dated (clocks of the store and the writer)."""
MAX_MS_PLAYED = 24 * 3_600_000
"""The longest a single play can last, in ms (24 h; the module docstring says why)."""

_LAUNCH_US = int(SPOTIFY_LAUNCH.timestamp()) * 1_000_000
# offline_timestamp is normalized (not rejected) within these bounds
_TS_MIN_US = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
_TS_MAX_US = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
_EXCERPT_CHARS = 300
_BOM = b"\xef\xbb\xbf"


class BadExportFile(BadFile):
    """The file as a whole cannot be read as an export; ``reason`` says why, for people.
    A :class:`~spotify_assets.lib.landing.BadFile`, so the landed-file mechanism moves it aside."""


@dataclass
class ParsedExport:
    """The outcome for one file: accepted rows (``STREAMS_SCHEMA``), rejected records, and
    counts that always add up (``n_accepted + n_rejected == n_records``)."""

    table: pa.Table
    rejected: list[RejectedRecord]
    format: ExportFormat
    n_records: int
    source_file: str
    user_id: str
    normalized: dict[str, int] = field(default_factory=dict)
    """Values made null or rewritten because they were unusable, by ``"<field>: <what>"``."""

    @property
    def n_accepted(self) -> int:
        return self.table.num_rows

    @property
    def n_rejected(self) -> int:
        return len(self.rejected)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def parse_export(
    data: bytes,
    *,
    source_file: str,
    user_id: str,
    name: str | None = None,
    landed_at: datetime | None = None,
) -> ParsedExport:
    """Parse one export file's bytes (JSON, UTF-8) into normalized rows, in file order.

    ``source_file`` is recorded on every row; ``name`` (default: ``source_file``) is the file's
    name, whose base name is the format hint; ``user_id`` is the landing folder's user;
    ``landed_at`` bounds ``ts`` (see the module docstring). Raises :class:`BadExportFile` for
    whole-file problems; record problems are rejections.
    """
    return _parse(data, source_file=source_file, user_id=user_id, name=name, landed_at=landed_at)


def process_file(
    data: bytes, *, source_file: str, user_id: str, landed_at: datetime | None = None
) -> ParsedExport:
    """:func:`parse_export`, with rows sorted by ``ts`` (stable), as written to the lake: sorted
    rows give Parquet row groups tight ``ts`` statistics for time-range pruning."""
    parsed = parse_export(data, source_file=source_file, user_id=user_id, landed_at=landed_at)
    parsed.table = sort_by_ts(parsed.table)
    return parsed


def sort_by_ts(table: pa.Table) -> pa.Table:
    """Rows sorted by ``ts`` (stable); the table itself when already in order."""
    ts = table.column("ts")
    if ts.num_chunks and table.num_rows > 1:
        values = ts.combine_chunks().cast(pa.int64()).to_numpy()
        if np.any(values[1:] < values[:-1]):
            return table.take(pa.array(np.argsort(values, kind="stable")))
    return table


def parse_landed_file(
    data: bytes,
    *,
    name: str,
    source_file: str,
    user_id: str,
    landed_at: datetime | None = None,
) -> ParsedFile:
    """One landed file that is not a zip (a loose file, a zip's member): see
    :func:`spotify_assets.lib.listening.export_archive.parse_landed_export`."""
    if _VIDEO_NAME.search(_base_name(name)):
        raise NotIngested("video history: out of scope")
    try:
        text, encoding = _decode(data)
        parsed = parse_export(
            text, source_file=source_file, user_id=user_id, name=name, landed_at=landed_at
        )
    except BadExportFile as exc:
        if _meant_as_history(name, data):
            raise
        raise NotIngested(f"not listening history: {exc.reason}") from None
    parsed.table = sort_by_ts(parsed.table)
    return ParsedFile(
        table=parsed.table,
        rejected=parsed.rejected,
        info=file_info(parsed, encoding=encoding),
    )


_VALUE = re.compile(r": (?=['\d-])")  # where a rejection reason quotes the value


def file_info(parsed: ParsedExport, *, encoding: str | None = None) -> dict[str, Any]:
    """The JSON-able figures of one parsed file for its manifest."""
    table = parsed.table
    ts_min = ts_max = None
    if table.num_rows:
        bounds = pc.min_max(table["ts"])
        ts_min, ts_max = bounds["min"].as_py().isoformat(), bounds["max"].as_py().isoformat()
    by_reason: Counter[str] = Counter()
    for r in parsed.rejected:
        by_reason.update(_VALUE.split(part, maxsplit=1)[0] for part in r.reason.split("; "))
    info: dict[str, Any] = {
        "format": parsed.format,
        "formats": [parsed.format],
        "records": parsed.n_records,
        "accepted": parsed.n_accepted,
        "rejected": parsed.n_rejected,
        "rejected_by_reason": dict(sorted(by_reason.items())),
        "min_ts": ts_min,
        "max_ts": ts_max,
        "normalized": dict(sorted(parsed.normalized.items())),
        "mixed_history_rows": int(pc.sum(table["mixed_history"]).as_py() or 0),
    }
    if encoding is not None:
        info["encoding"] = encoding
    return info


def write_parquet(table: pa.Table, where: str | os.PathLike[str] | IO[bytes]) -> None:
    """Write rows to Parquet, zstd level 1: measured on bench-world files it writes as fast as
    snappy and lz4, reads as fast, and is a fifth smaller. Dictionary pages for the text
    columns (names and ids repeat within a user's history) and min/max statistics only where
    a reader can prune with them save another fifth of the size and of the write time."""
    pq.write_table(
        table,
        where,
        compression="zstd",
        compression_level=1,
        use_dictionary=_DICTIONARY_COLUMNS,
        write_statistics=_STATISTICS_COLUMNS,
    )


_DICTIONARY_COLUMNS = [f.name for f in STREAMS_SCHEMA if f.type == pa.string()]
_STATISTICS_COLUMNS = [
    "user_id",
    "ts",
    "content_type",
    "ms_played",
    "conn_country",
    "source_format",
    "source_file",
    "record_index",
    "offline_timestamp",
]


def format_hint(file_name: str) -> tuple[ExportFormat | None, str | None]:
    """What a file name suggests: the format and, for account data, ``"music"``,
    ``"podcast"``, ``"audiobook"`` or ``None`` (the old mixed files). Only a hint: content
    decides."""
    name = file_name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if _EXTENDED_NAME.match(name):
        return "extended", None
    m = _ACCOUNT_NAME.match(name)
    if m:
        return "account_data", m.group(1)
    return None, None


_EXTENDED_NAME = re.compile(r"(streaming_history_(audio|video)_.*|endsong(_\d+)?)\.json$")
_ACCOUNT_NAME = re.compile(r"streaminghistory_?(music|podcast|audiobook)?_?\d*\.json$")
# Video history, out of scope: extended (Streaming_History_Video_*) and account data
# (StreamingHistory_video_N, since 2024).
_VIDEO_NAME = re.compile(r"^(streaming_history_video_|streaminghistory_?video)", re.IGNORECASE)


def _base_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------------------------
# Recognising a landed file: encoding, binary kinds, "meant to be history"
# --------------------------------------------------------------------------------------------

_BOMS = (  # the UTF-32 ones first: their BOMs start like UTF-16 LE's
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32 LE"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32 BE"),
    (b"\xff\xfe", "utf-16-le", "UTF-16 LE"),
    (b"\xfe\xff", "utf-16-be", "UTF-16 BE"),
)
# A history field name in a file's head: the file was meant to be listening history.
_HISTORY_SNIFF = re.compile(
    rb'"(ts|ms_played|endTime|msPlayed|spotify_track_uri|master_metadata_track_name)"\s*:'
)
_SNIFF_BYTES = 65_536


def _decode(data: bytes) -> tuple[bytes, str]:
    """The bytes as UTF-8 (without copying when they are UTF-8 already) and the encoding found.
    Raises :class:`BadExportFile` for a binary file or one that does not decode."""
    kind = binary_kind(data)
    if kind is not None:
        raise BadExportFile(f"not JSON: {kind}")
    if data.startswith(_BOM):
        return data, "UTF-8 with BOM"
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            return _transcode(data[len(bom) :], codec, f"{label} with BOM"), f"{label} with BOM"
    head = data[:512]
    if b"\x00" in head:
        # BOM-less UTF-16: the ASCII characters of JSON ("[", "{", quotes, digits) leave a NUL
        # in every other byte, the second (LE) or the first (BE).
        even, odd = head[0::2], head[1::2]
        if odd.count(0) * 4 >= len(odd) * 3 and even.count(0) == 0:
            return _transcode(data, "utf-16-le", "UTF-16 LE"), "UTF-16 LE (no BOM)"
        if even.count(0) * 4 >= len(even) * 3 and odd.count(0) == 0:
            return _transcode(data, "utf-16-be", "UTF-16 BE"), "UTF-16 BE (no BOM)"
        raise BadExportFile("not JSON: binary data (NUL bytes, and not UTF-16)")
    return data, "UTF-8"


def _transcode(data: bytes, codec: str, label: str) -> bytes:
    try:
        return data.decode(codec).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadExportFile(
            f"not {label}: the bytes at offset {exc.start} do not decode ({exc.reason})"
        ) from None


def _meant_as_history(name: str, data: bytes) -> bool:
    """Whether an unreadable file was meant to be listening history: its name says so, or its
    head names a history field (any of the encodings read here)."""
    if format_hint(name)[0] is not None:
        return True
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head:
        head = head.replace(b"\x00", b"")  # UTF-16/32 text: its ASCII field names remain
    return _HISTORY_SNIFF.search(head) is not None


# --------------------------------------------------------------------------------------------
# Reading: JSON bytes -> one Arrow string column per known field
# --------------------------------------------------------------------------------------------

_local = threading.local()


def _duckdb() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB connection per thread (connecting costs tens of milliseconds)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(":memory:")
        con.execute("SET preserve_insertion_order = true")  # row i is record i
        _local.con = con
    return con


@dataclass
class _Raw:
    """The known fields of every element as strings (JSON text for non-strings, as DuckDB
    renders them), plus which elements were not objects."""

    columns: dict[str, pa.Array]
    n: int
    not_object: dict[int, tuple[str, str]]  # record index -> (JSON type name, JSON text)


def _first_byte(data: bytes) -> int | None:
    m = re.match(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*(.)", data[:4096], re.DOTALL)
    return m.group(1)[0] if m else None


def _read(data: bytes, *, force_per_record: bool = False) -> _Raw:
    if _first_byte(data) != ord("["):
        _load_strict(data)  # raises: an empty file, not JSON, a top level that is not an array
    if not force_per_record:
        try:
            table = (
                _duckdb()
                .read_json(io.BytesIO(data), format="array", records="true", columns=_READ_COLUMNS)
                .to_arrow_table()
            )
        except duckdb.Error:
            pass  # a non-object element, a duplicate key, or not JSON: per-record path
        else:
            table = table.combine_chunks()
            cols = {name: _single_chunk(table.column(name)) for name in _READ_FIELDS}
            return _Raw(columns=cols, n=table.num_rows, not_object={})
    return _read_per_record(data)


def _single_chunk(col: pa.ChunkedArray) -> pa.Array:
    if col.num_chunks == 1:
        return col.chunk(0)
    return pa.concat_arrays(col.chunks) if col.num_chunks else pa.array([], col.type)


def _read_per_record(data: bytes) -> _Raw:
    """The slow path: every element on its own, as Python values, in the same JSON dialect as
    the columnar read (DuckDB's), falling back on strict orjson for diagnosis."""
    try:
        rows = (
            _duckdb()
            .read_json(io.BytesIO(data), format="array", records="false", columns={"json": "JSON"})
            .fetchall()
        )
        elements = [None if text is None else json.loads(text) for (text,) in rows]
    except duckdb.Error:
        elements = _load_strict(data)
    cols: dict[str, list[str | None]] = {name: [None] * len(elements) for name in _READ_FIELDS}
    not_object: dict[int, tuple[str, str]] = {}
    for i, element in enumerate(elements):
        if not isinstance(element, dict):
            # Arrays are not rendered: they may hold records, and so personal fields.
            text = (
                f"[an array of {len(element)} elements]"
                if isinstance(element, list)
                else json.dumps(element, ensure_ascii=False)[:_EXCERPT_CHARS]
            )
            not_object[i] = (_json_type(element), text)
            continue
        for name in _READ_FIELDS:
            value = element.get(name)
            if value is not None:
                cols[name][i] = _as_text(value)
    arrays = {name: pa.array(values, pa.string()) for name, values in cols.items()}
    return _Raw(columns=arrays, n=len(elements), not_object=not_object)


def _as_text(value: Any) -> str:
    """A JSON value as the columnar read renders it into a string column."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return repr(value) if math.isfinite(value) else ("-" if value < 0 else "") + "Infinity"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_UNKNOWN_FORMAT = (
    "unknown format: no record has both ts and ms_played (Extended Streaming History) or both "
    "endTime and msPlayed (account data)"
)


def _no_records(n: int, kinds: set[str]) -> str:
    return (
        f"the array holds no records: all {n} elements are non-objects ({', '.join(sorted(kinds))})"
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _load_strict(data: bytes) -> list[Any]:
    """Parse with orjson (strict RFC 8259) to say precisely why a file is not an export."""
    body = data[len(_BOM) :] if data.startswith(_BOM) else data
    if not body.strip(b" \t\r\n"):
        raise BadExportFile("empty file: no JSON document")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise BadExportFile(
                f"not UTF-8: byte 0x{body[bad.start]:02x} at offset {bad.start} does not decode "
                "(a Latin-1 or Windows-1252 file? save it as UTF-8)"
            ) from None
        if exc.msg.startswith("unexpected end of data"):
            raise BadExportFile(
                f"truncated JSON: the file ends inside the document ({exc})"
            ) from None
        raise BadExportFile(f"not JSON: {exc}") from None
    if not isinstance(doc, list):
        raise BadExportFile(f"top level is a JSON {_json_type(doc)}, expected an array of records")
    return doc


# --------------------------------------------------------------------------------------------
# Vectorized conversions. Each returns the converted Arrow array and a per-row status array
# (uint8; 0 = ok) where a status matters; the slow Python path sees only failing values.
# --------------------------------------------------------------------------------------------

_OK, _MISSING, _NOT_NUMBER, _NOT_WHOLE, _OUT_OF_RANGE, _NOT_TS = 0, 1, 2, 3, 4, 5
_BEFORE_LAUNCH, _AFTER_LANDING, _TOO_LONG = 6, 7, 8
_INT_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_SAFE_INT = r"^-?[0-9]{1,18}$"
_NULL_STR = pa.nulls(1, pa.string())[0]  # pa.scalar(None) would import pandas at load


def _mask(arr: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, null as False."""
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def _blank_to_null(arr: pa.Array) -> pa.Array:
    if arr.null_count == len(arr):
        return arr
    blank = pc.or_(pc.equal(arr, ""), pc.utf8_is_space(arr))
    if not pc.any(blank).as_py():
        return arr
    return pc.if_else(blank, _NULL_STR, arr)


def _trimmed(arr: pa.Array) -> pa.Array:
    if arr.null_count == len(arr):
        return arr
    return _blank_to_null(pc.utf8_trim_whitespace(arr))


def _parse_int(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Whole numbers from text: (int64 values, status). Null or blank is ``_MISSING``."""
    n = len(arr)
    status = np.zeros(n, np.uint8)
    if arr.null_count == n:
        return np.zeros(n, np.int64), np.full(n, _MISSING, np.uint8)
    try:
        values = pc.cast(arr, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = None
    if values is not None:  # the common case: every value is an integer literal
        status[_mask(pc.is_null(values))] = _MISSING
        return values.fill_null(0).to_numpy(), status
    safe = _mask(pc.match_substring_regex(arr, _SAFE_INT))
    out = np.zeros(n, np.int64)
    if safe.any():
        out[safe] = pc.cast(arr.filter(pa.array(safe)), pa.int64()).to_numpy()
    status[_mask(pc.is_null(arr))] = _MISSING
    odd = np.flatnonzero(~safe & _mask(pc.is_valid(arr)))
    for i, text in zip(odd, arr.take(pa.array(odd)).to_pylist(), strict=True):
        out[i], status[i] = _int_from_text(text)
    return out, status


def _int_from_text(text: str) -> tuple[int, int]:
    t = text.strip()
    if not t:
        return 0, _MISSING
    if _INT_TEXT.fullmatch(t):
        value = int(t)
    else:
        if "_" in t:
            return 0, _NOT_NUMBER
        try:
            f = float(t)
        except ValueError:
            return 0, _NOT_NUMBER
        if math.isnan(f) or (math.isinf(f) and "inf" in t.lower()):
            return 0, _NOT_NUMBER
        if math.isinf(f):  # 1e400
            return 0, _OUT_OF_RANGE
        if not f.is_integer():
            return 0, _NOT_WHOLE
        value = int(f)
    if not -(2**63) <= value < 2**63:
        return 0, _OUT_OF_RANGE
    return value, _OK


def _parse_bool(arr: pa.Array, name: str, normalized: Counter[str]) -> pa.Array:
    n = len(arr)
    if arr.null_count == n:
        return pa.nulls(n, pa.bool_())
    canonical = pc.is_in(arr, value_set=pa.array(["true", "false"]))
    if pc.sum(canonical).as_py() + arr.null_count == n:
        return pc.equal(arr, "true")
    norm = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
    true = _mask(pc.is_in(norm, value_set=pa.array(["true", "1"])))
    false = _mask(pc.is_in(norm, value_set=pa.array(["false", "0"])))
    blank = _mask(pc.equal(norm, ""))
    bad = _mask(pc.is_valid(arr)) & ~true & ~false & ~blank
    if bad.any():
        normalized[f"{name}: not a boolean -> null"] += int(bad.sum())
    return pa.array(np.where(true, True, False), pa.bool_(), mask=~(true | false))


def _parse_ts(arr: pa.Array, fast_format: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps from text as UTC microseconds: (int64 values, status)."""
    n = len(arr)
    status = np.zeros(n, np.uint8)
    if arr.null_count == n:
        return np.zeros(n, np.int64), np.full(n, _MISSING, np.uint8)
    parsed: pa.Array | None = None
    if fast_format is None:  # ISO 8601 with a zone: Arrow's cast parses it exactly
        try:
            parsed = pc.cast(arr, TS_TYPE)
        except pa.ArrowInvalid:
            parsed = pc.strptime(arr, format="%Y-%m-%dT%H:%M:%SZ", unit="us", error_is_null=True)
    else:
        parsed = pc.strptime(arr, format=fast_format, unit="us", error_is_null=True)
    good = _mask(pc.is_valid(parsed))
    out = parsed.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False, writable=True)
    status[_mask(pc.is_null(arr))] = _MISSING
    odd = np.flatnonzero(~good & _mask(pc.is_valid(arr)))
    for i, text in zip(odd, arr.take(pa.array(odd)).to_pylist(), strict=True):
        out[i], status[i] = _ts_from_text(text)
    return out, status


def _ts_from_text(text: str) -> tuple[int, int]:
    t = text.strip()
    if not t:
        return 0, _MISSING
    if t[-1] in "Zz":
        t = t[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return 0, _NOT_TS
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return _epoch_us(dt), _OK


def _uri_ids(
    arr: pa.Array, kinds: tuple[str, ...], name: str, normalized: Counter[str]
) -> pa.Array:
    """``spotify:<kind>:<22 base-62 chars>`` -> the id; anything else -> null (counted)."""
    if arr.null_count == len(arr):
        return arr
    ids = _ids(arr, kinds[0])
    if ids is not None:  # the usual case: every URI is a well-formed one of the first kind
        return ids
    arr = _trimmed(arr)
    ids = pa.nulls(len(arr), pa.string())
    for kind in kinds:
        prefix = f"spotify:{kind}:"
        cand = pc.utf8_slice_codeunits(arr, len(prefix))
        ok = pc.and_(
            pc.starts_with(arr, prefix),
            pc.and_(pc.equal(pc.binary_length(cand), 22), pc.ascii_is_alnum(cand)),
        )
        ids = pc.coalesce(ids, pc.if_else(ok, cand, _NULL_STR))
    bad = ids.null_count - arr.null_count
    if bad:
        normalized[f"{name}: not a spotify:{'/'.join(kinds)} URI -> null id"] += bad
    return ids


def _ids(arr: pa.Array, kind: str) -> pa.Array | None:
    """The ids if every non-null value is ``spotify:<kind>:<22 base-62 chars>``, else None."""
    prefix = f"spotify:{kind}:"
    ok = pc.and_(pc.equal(pc.binary_length(arr), len(prefix) + 22), pc.starts_with(arr, prefix))
    if pc.sum(ok).as_py() != len(arr) - arr.null_count:
        return None
    ids = pc.utf8_slice_codeunits(arr, len(prefix))
    return ids if pc.all(pc.ascii_is_alnum(ids)).as_py() else None


def _offline_ts(arr: pa.Array, normalized: Counter[str]) -> pa.Array:
    """Epoch seconds, milliseconds or microseconds, told apart by magnitude."""
    n = len(arr)
    if arr.null_count == n:
        return pa.nulls(n, TS_TYPE)
    values, status = _parse_int(arr)
    bad = (status != _OK) & (status != _MISSING)
    if bad.any():
        normalized["offline_timestamp: not an integer -> null"] += int(bad.sum())
    v = values
    us = np.where(v < 10**11, v * 1_000_000, np.where(v < 10**14, v * 1_000, v))
    present = (status == _OK) & (v > 0) & (v < 10**17)
    in_range = present & (us >= _TS_MIN_US) & (us < _TS_MAX_US)
    out_of_range = present & ~in_range
    if out_of_range.any():
        normalized["offline_timestamp: out of range -> null"] += int(out_of_range.sum())
    return pa.array(np.where(in_range, us, 0), pa.int64(), mask=~in_range).cast(TS_TYPE)


def _country(arr: pa.Array, normalized: Counter[str]) -> pa.Array:
    n = len(arr)
    if arr.null_count == n:
        return arr
    known = pc.is_in(arr, value_set=_country_set())
    if pc.sum(known).as_py() + arr.null_count == n:
        return arr
    norm = pc.utf8_upper(_trimmed(arr))
    known = pc.is_in(norm, value_set=_country_set())
    out = pc.if_else(known, norm, _NULL_STR)
    bad = out.null_count - norm.null_count
    if bad:
        normalized["conn_country: not an ISO 3166 code -> null"] += bad
    return out


# --------------------------------------------------------------------------------------------
# Normalization: raw string columns -> STREAMS_SCHEMA columns + rejection reasons
# --------------------------------------------------------------------------------------------


def _detect_format(raw: _Raw, hint: ExportFormat | None) -> ExportFormat | None:
    """The format whose time and duration fields more records carry together; None when no
    record has both of either (not listening history: ``platform`` alone is also a field of
    ``SearchQueries.json``, ``artistName`` of ``Marquee.json``). A tie goes to the format with
    more of its fields present, then to the name's."""
    ext_pairs = _both(raw, "ts", "ms_played")
    acc_pairs = _both(raw, "endTime", "msPlayed")
    if ext_pairs != acc_pairs:
        return "extended" if ext_pairs > acc_pairs else "account_data"
    if ext_pairs == 0:
        return None
    ext = sum(len(raw.columns[f]) - raw.columns[f].null_count for f in _EXTENDED_MARKERS)
    acc = sum(len(raw.columns[f]) - raw.columns[f].null_count for f in _ACCOUNT_MARKERS)
    if ext != acc:
        return "extended" if ext > acc else "account_data"
    return hint or "extended"


def _both(raw: _Raw, a: str, b: str) -> int:
    x, y = raw.columns[a], raw.columns[b]
    if not raw.n or x.null_count == raw.n or y.null_count == raw.n:
        return 0
    return int(pc.sum(pc.and_(pc.is_valid(x), pc.is_valid(y))).as_py() or 0)


def _content_type(*groups: np.ndarray) -> pa.Array:
    """The first group (music, podcast, audiobook) whose mask is set, else unknown."""
    n = len(groups[0])
    codes = np.full(n, len(CONTENT_TYPES) - 1, np.int8)
    for code in reversed(range(len(groups))):
        codes[groups[code]] = code
    return pc.take(pa.array(CONTENT_TYPES, pa.string()), pa.array(codes))


def _valid(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), bool)
    if arr.null_count == len(arr):
        return np.zeros(len(arr), bool)
    return _mask(pc.is_valid(arr))


_STATUS_TEXT = {
    _MISSING: "{f} missing",
    _NOT_NUMBER: "{f} not a number: {v!r}",
    _NOT_WHOLE: "{f} not a whole number: {v!r}",
    _OUT_OF_RANGE: "{f} out of range: {v!r}",
    _NOT_TS: "{f} not a timestamp: {v!r}",
    _BEFORE_LAUNCH: f"{{f}} before Spotify's launch ({SPOTIFY_LAUNCH:%Y-%m-%d}): {{v!r}}",
    _AFTER_LANDING: "{f} after the file landed ({landed}, allowing "
    f"{CLOCK_SKEW.total_seconds() / 3600:g} h of clock skew): {{v!r}}",
    _TOO_LONG: f"{{f}} above {MAX_MS_PLAYED // 3_600_000} h ({MAX_MS_PLAYED} ms), longer than "
    "a play can last: {v!r}",
}


def _extended_columns(c: dict[str, pa.Array], normalized: Counter[str]) -> dict[str, pa.Array]:
    """The non-key columns of Extended Streaming History records."""
    ids = {
        "track_id": _uri_ids(c["spotify_track_uri"], ("track",), "spotify_track_uri", normalized),
        "episode_id": _uri_ids(
            c["spotify_episode_uri"], ("episode",), "spotify_episode_uri", normalized
        ),
        "audiobook_id": _uri_ids(
            c["audiobook_uri"], ("audiobook", "show"), "audiobook_uri", normalized
        ),
        "audiobook_chapter_id": _uri_ids(
            c["audiobook_chapter_uri"], ("chapter", "episode"), "audiobook_chapter_uri", normalized
        ),
    }
    names = {
        "track_name": _blank_to_null(c["master_metadata_track_name"]),
        "artist_name": _blank_to_null(c["master_metadata_album_artist_name"]),
        "album_name": _blank_to_null(c["master_metadata_album_album_name"]),
        "episode_name": _blank_to_null(c["episode_name"]),
        "show_name": _blank_to_null(c["episode_show_name"]),
        "audiobook_title": _blank_to_null(c["audiobook_title"]),
        "audiobook_chapter_title": _blank_to_null(c["audiobook_chapter_title"]),
        "audiobook_author": pa.nulls(len(c["ts"]), pa.string()),
    }
    by_uri = (
        _valid(ids["track_id"]),
        _valid(ids["episode_id"]),
        _valid(ids["audiobook_chapter_id"]) | _valid(ids["audiobook_id"]),
    )
    by_name = (
        _valid(names["track_name"]),
        _valid(names["episode_name"]) | _valid(names["show_name"]),
        _valid(names["audiobook_title"]) | _valid(names["audiobook_chapter_title"]),
    )
    no_uri = ~(by_uri[0] | by_uri[1] | by_uri[2])
    # A URI decides; without any URI, the names decide (music, podcast, audiobook order).
    groups = [uri | (name & no_uri) for uri, name in zip(by_uri, by_name, strict=True)]
    return {
        "content_type": _content_type(*groups),
        **ids,
        **names,
        "conn_country": _country(c["conn_country"], normalized),
        "platform": _trimmed(c["platform"]),
        "reason_start": _trimmed(c["reason_start"]),
        "reason_end": _trimmed(c["reason_end"]),
        "shuffle": _parse_bool(c["shuffle"], "shuffle", normalized),
        "skipped": _parse_bool(c["skipped"], "skipped", normalized),
        "offline": _parse_bool(c["offline"], "offline", normalized),
        "offline_timestamp": _offline_ts(c["offline_timestamp"], normalized),
        "incognito_mode": _parse_bool(c["incognito_mode"], "incognito_mode", normalized),
        "mixed_history": pa.nulls(len(c["ts"]), pa.bool_()),
    }


def _account_columns(
    c: dict[str, pa.Array], n: int, content_hint: str | None
) -> dict[str, pa.Array]:
    """The non-key columns of account-data records (names only; the rest is null)."""
    artist = _blank_to_null(c["artistName"])
    track = _blank_to_null(c["trackName"])
    show = _blank_to_null(c["podcastName"])
    episode = _blank_to_null(c["episodeName"])
    book = _blank_to_null(c["audiobookName"])
    chapter = _blank_to_null(c["chapterName"])
    author = _blank_to_null(c["authorName"])
    audiobook = _valid(book) | _valid(chapter)
    podcast = (_valid(show) | _valid(episode)) & ~audiobook
    named = _valid(artist) | _valid(track)
    if content_hint == "podcast":  # podcast files may name the show artist, the episode track
        show, episode = pc.coalesce(show, artist), pc.coalesce(episode, track)
        podcast |= named & ~audiobook
    # Music files, and files that do not tell (the old mixed ones): an artist/track row is music,
    # flagged as mixed in the latter so that the streams build can still make it a podcast.
    music = named & ~podcast & ~audiobook if content_hint != "podcast" else np.zeros(n, bool)
    mixed = music if content_hint is None else np.zeros(n, bool)
    strings = pa.nulls(n, pa.string())
    bools = pa.nulls(n, pa.bool_())
    is_music = pa.array(music | ~(podcast | audiobook))
    is_book = pa.array(audiobook)
    return {
        "content_type": _content_type(music, podcast, audiobook),
        **dict.fromkeys(
            ("track_id", "episode_id", "audiobook_id", "audiobook_chapter_id"), strings
        ),
        "track_name": pc.if_else(is_music, track, _NULL_STR),
        "artist_name": pc.if_else(is_music, artist, _NULL_STR),
        "album_name": strings,
        "episode_name": pc.if_else(is_book, _NULL_STR, episode),
        "show_name": pc.if_else(is_book, _NULL_STR, show),
        "audiobook_title": pc.if_else(is_book, book, _NULL_STR),
        "audiobook_chapter_title": pc.if_else(is_book, chapter, _NULL_STR),
        "audiobook_author": pc.if_else(is_book, author, _NULL_STR),
        "conn_country": strings,
        "platform": strings,
        "reason_start": strings,
        "reason_end": strings,
        "shuffle": bools,
        "skipped": bools,
        "offline": bools,
        "offline_timestamp": pa.nulls(n, TS_TYPE),
        "incognito_mode": bools,
        "mixed_history": pa.array(mixed, pa.bool_()),
    }


def _normalize(
    raw: _Raw,
    fmt: ExportFormat,
    content_hint: str | None,
    normalized: Counter[str],
    landed_at: datetime | None = None,
) -> tuple[dict[str, pa.Array], np.ndarray, list[str]]:
    """Columns for every element (rejected ones included) and the per-element reasons."""
    c = raw.columns
    n = raw.n
    if fmt == "extended":
        ts_field, ms_field, ts_format = "ts", "ms_played", None
        columns = _extended_columns(c, normalized)
    else:
        ts_field, ms_field, ts_format = "endTime", "msPlayed", "%Y-%m-%d %H:%M"
        columns = _account_columns(c, n, content_hint)
    ts_us, ts_status = _parse_ts(c[ts_field], ts_format)
    ms, ms_status = _parse_int(c[ms_field])
    # Values that cannot be true (the module docstring says why these bounds).
    dated = ts_status == _OK
    ts_status[dated & (ts_us < _LAUNCH_US)] = _BEFORE_LAUNCH
    if landed_at is None:
        ts_status[dated & (ts_us >= _TS_MAX_US)] = _OUT_OF_RANGE
    else:
        latest = landed_at if landed_at.tzinfo else landed_at.replace(tzinfo=UTC)
        latest_us = _epoch_us(latest + CLOCK_SKEW)
        ts_status[dated & (ts_us > latest_us)] = _AFTER_LANDING
    ms_status[(ms_status == _OK) & (ms > MAX_MS_PLAYED)] = _TOO_LONG
    negative = (ms_status == _OK) & (ms < 0)
    not_object = np.zeros(n, bool)
    if raw.not_object:
        not_object[list(raw.not_object)] = True
    rejected = not_object | (ts_status != _OK) | (ms_status != _OK) | negative
    reasons: list[str] = []
    idx = np.flatnonzero(rejected)
    if len(idx):
        landed_text = landed_at.isoformat() if landed_at else None
        ts_raw = c[ts_field].take(pa.array(idx)).to_pylist()
        ms_raw = c[ms_field].take(pa.array(idx)).to_pylist()
        for k, i in enumerate(idx):
            if not_object[i]:
                reasons.append(f"not a JSON object ({raw.not_object[int(i)][0]})")
                continue
            parts = []
            if ts_status[i] != _OK:
                text = _STATUS_TEXT[int(ts_status[i])]
                parts.append(text.format(f=ts_field, v=ts_raw[k], landed=landed_text))
            if ms_status[i] != _OK:
                parts.append(_STATUS_TEXT[int(ms_status[i])].format(f=ms_field, v=ms_raw[k]))
            elif negative[i]:
                parts.append(f"{ms_field} negative: {int(ms[i])}")
            reasons.append("; ".join(parts))
    columns["ts"] = pa.array(ts_us, pa.int64()).cast(TS_TYPE)
    columns["ms_played"] = pa.array(ms, pa.int64())
    return columns, rejected, reasons


def _epoch_us(dt: datetime) -> int:
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _excerpt(raw: _Raw, i: int) -> str:
    if i in raw.not_object:
        return raw.not_object[i][1]
    values = {name: raw.columns[name][i].as_py() for name in _READ_FIELDS}
    shown = {k: v for k, v in values.items() if v is not None}
    return orjson.dumps(shown).decode()[:_EXCERPT_CHARS]


def _repeat(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n) if n else pa.array([], pa.string())


def _parse(
    data: bytes,
    *,
    source_file: str,
    user_id: str,
    force_per_record: bool = False,
    name: str | None = None,
    landed_at: datetime | None = None,
) -> ParsedExport:
    hint, content_hint = format_hint(name or source_file)
    raw = _read(data, force_per_record=force_per_record)
    fmt = _detect_format(raw, hint)
    again = {"source_file": source_file, "user_id": user_id, "name": name, "landed_at": landed_at}
    if fmt is None and raw.n and not force_per_record:
        # No record with a format's fields. The columnar read took every element as an object
        # or a null; a "{" anywhere means an object: other records (a large non-history file,
        # such as a technical log, must not take the per-record path). Else look closer.
        if b"{" in data:
            raise BadExportFile(_UNKNOWN_FORMAT)
        return _parse(data, force_per_record=True, **again)
    if raw.n and len(raw.not_object) == raw.n:
        raise BadExportFile(_no_records(raw.n, {kind for kind, _ in raw.not_object.values()}))
    if fmt is None:
        if raw.n:
            raise BadExportFile(_UNKNOWN_FORMAT)
        fmt = hint or "extended"  # an empty array: nothing to disagree with the name
    if fmt == "account_data" and hint == "extended":
        content_hint = None
    normalized: Counter[str] = Counter()
    columns, rejected_mask, reasons = _normalize(raw, fmt, content_hint, normalized, landed_at)

    if not force_per_record and not raw.not_object and rejected_mask.any():
        # An element with none of the known fields may be a JSON null (not an object): only
        # the per-record read can tell, and only such elements are rejected, so look there.
        idx = np.flatnonzero(rejected_mask)
        empty = np.ones(len(idx), bool)
        for known in _READ_FIELDS:
            empty &= ~_valid(raw.columns[known].take(pa.array(idx)))
        if empty.any():
            return _parse(data, force_per_record=True, **again)

    n = raw.n
    keep = ~rejected_mask
    constant = {
        "user_id": _repeat(user_id, n),
        "source_format": _repeat(fmt, n),
        "source_file": _repeat(source_file, n),
        "record_index": pa.array(np.arange(n, dtype=np.int64)),
    }
    arrays = [columns.get(f.name, constant.get(f.name)) for f in STREAMS_SCHEMA]
    table = pa.Table.from_arrays(arrays, schema=STREAMS_SCHEMA)
    rejected: list[RejectedRecord] = []
    if rejected_mask.any():
        table = table.filter(pa.array(keep))
        for i, reason in zip(np.flatnonzero(rejected_mask), reasons, strict=True):
            rejected.append(
                RejectedRecord(
                    record_index=int(i), reason=reason, raw_excerpt=_excerpt(raw, int(i))
                )
            )
    return ParsedExport(
        table=table,
        rejected=rejected,
        format=fmt,
        n_records=n,
        source_file=source_file,
        user_id=user_id,
        normalized=dict(normalized),
    )
