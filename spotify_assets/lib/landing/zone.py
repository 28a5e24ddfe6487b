"""The contract between the landed-file mechanism and a zone: what a zone declares
(:class:`LandingZone`), what its parser gets (:class:`LandedContext`) and returns
(:class:`ParsedFile`, or raises :class:`NotIngested` / :class:`BadFile`), and the checks on each
file's manifest (:class:`FileCheck`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO


class NotIngested(ValueError):
    """The object is fine but is not this zone's kind of data (``Userdata.json`` in an export,
    video history, a README): it stays where it is and is listed as not ingested, with
    ``reason``. Raised by a zone's parser."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadFile(ValueError):
    """The object should be this zone's data but cannot be read (not JSON, truncated, an
    unreadable encoding, an unsafe zip): it stays where it is and is listed as rejected with
    ``reason`` until it changes. Raised by a zone's parser."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RejectedRecord:
    """One record of a readable file left out, with why. ``record_index`` is its position
    (record number, or line number for text formats) within ``source_file``; ``raw_excerpt``
    shows a person what was wrong and never holds personal fields."""

    record_index: int
    reason: str
    raw_excerpt: str
    source_file: str | None = None  # the member of a zip; None: the landed file itself


@dataclass
class ParsedFile:
    """What a zone's parser makes of one landed object.

    ``table``: the accepted rows, in the zone's Arrow schema (every row carries its
    ``source_file``); ``rejected``: records left out; ``info``: JSON-able figures for the
    file's manifest (format, records, accepted, ...); ``not_ingested``: parts of the object
    that were not taken, as (name, reason), e.g. the non-history members of a zip.
    """

    table: Any  # pyarrow.Table (not imported here: the sensor must not pay for pyarrow)
    rejected: list[RejectedRecord] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    not_ingested: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class StreamedFile:
    """What a streaming parser made of one landed file too big to hold in memory: its rows
    and its rejected records written as Parquet files in the work folder it was given.

    ``rows``: the accepted rows in the zone's schema (each carrying its ``source_file``);
    ``rejected``: the records left out, with the columns of
    :func:`~spotify_assets.lib.landing.ingest.rejected_records_table` (None: none);
    ``info``: JSON-able figures for the manifest, ``records``, ``accepted`` and ``rejected``
    among them (the rows are not in memory to be counted)."""

    rows: Path
    rejected: Path | None
    info: dict[str, Any]


#: A streaming parser of one landed file: it reads the file from the binary stream to its
#: end (the landing mechanism hashes what it reads: the content version) and writes its
#: outputs into the work folder. Raises :class:`NotIngested` or :class:`BadFile` as ``parse``.
StreamParser = Callable[[BinaryIO, Path], StreamedFile]


@dataclass(frozen=True)
class FileCheck:
    """A check over one landed file's manifest (what its ingest recorded): ``failing(manifest)``
    returns what is wrong (shown in the check's metadata) or a falsy value. A file failing a
    blocking check is *held*: its rows stay out of the zone's core tables until it is fixed or
    removed, while the other files flow on; the others only warn (a person should look)."""

    name: str
    description: str
    failing: Callable[[dict[str, Any]], Any]
    blocking: bool = True


#: A readable file with fewer usable records than this share is suspect: held out.
MIN_PARSE_RATE = 0.9


def parse_rate_check(min_parse_rate: float = MIN_PARSE_RATE) -> FileCheck:
    """The check every zone has: the share of a file's records that are usable."""
    return FileCheck(
        "parse_rate",
        f"At least {min_parse_rate:.0%} of the records of every readable file are usable",
        lambda m: m.get("parse_rate") if float(m.get("parse_rate", 1.0)) < min_parse_rate else None,
    )


@dataclass(frozen=True)
class LandedContext:
    """What a parser knows of the object besides its bytes."""

    path: str  # the object's path below landing/<zone>/ (its rows' source_file)
    name: str  # the path below the listener's folder (zones with listener folders), or path
    listener: str | None  # the listener's id (zones with listener folders), else None
    listener_folder: str | None  # the folder name as people wrote it
    landed_at: datetime | None  # the object's modification time


def _default_write(table: Any, where: Any) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, where, compression="zstd", compression_level=1)


@dataclass(frozen=True)
class LandingZone:
    """One kind of landed file. ``parse`` is the only part a new zone must write.

    ``listener_folders``: the first folder below the zone is a listener's (an export folder);
    ``listener_id`` maps that folder name to a stable id (the listening history maps ``José``
    to a safe id and keeps the name for display). ``file_checks``: the zone's own checks on each
    file's manifest, besides the ``parse_rate`` every zone has (``min_parse_rate``).
    ``summarise`` adds zone-specific figures to the manifest from the parsed file (duplicate
    plays within it, for example), for those checks. ``schema`` (an Arrow schema, optional) is
    the rows' schema, for a core table built before any file landed.

    ``stream`` is for formats too big to read whole (a 3.5 GB chart file): given the first
    ``head_bytes`` of a landed file and its context, it returns a :data:`StreamParser` when
    the file is in such a format (told by content), or None (the file is then read whole and
    given to ``parse``). A file whose format streams is read from the lake as a stream,
    whatever its size (``max_bytes`` does not apply); its rows go into a Parquet of its own.

    For zones of many small files (a year of charts is 25,000 files of 200 rows):
    ``parse_many`` parses a chunk of objects at once, returning for each a ``ParsedFile`` or
    the exception ``parse`` would have raised, with the same results as ``parse`` one by one;
    ``files_per_chunk`` is how many objects are parsed together (memory holds their bytes and
    rows); ``rows_per_chunk`` writes the accepted rows of a chunk into one Parquet (and its
    rejected records into one more) under ``processed/<zone>_batches/``, which each object's
    manifest names, instead of one Parquet per object. Rows of such a zone must carry the
    object's path as ``source_file``: readers keep an object's rows from the Parquet its
    manifest names, so a re-landed object's older rows drop out.
    """

    name: str
    parse: Callable[[bytes, LandedContext], ParsedFile]
    description: str = ""
    listener_folders: bool = False
    listener_id: Callable[[str], str] = str
    file_checks: tuple[FileCheck, ...] = ()
    min_parse_rate: float = MIN_PARSE_RATE
    write_parquet: Callable[[Any, Any], None] = _default_write
    summarise: Callable[[ParsedFile], dict[str, Any]] | None = None
    schema: Any = None  # pyarrow.Schema
    parse_many: Callable[[Sequence[tuple[bytes, LandedContext]]], list[Any]] | None = None
    rows_per_chunk: bool = False
    files_per_chunk: int = 1
    max_bytes: int = 512 * 2**20  # a landed file is read into memory whole
    stream: Callable[[bytes, LandedContext], StreamParser | None] | None = None
    head_bytes: int = 64 * 2**10

    @property
    def checks(self) -> tuple[FileCheck, ...]:
        """Every check on each file's manifest: ``parse_rate``, then the zone's own."""
        return (parse_rate_check(self.min_parse_rate), *self.file_checks)

    @property
    def blocking_checks(self) -> tuple[FileCheck, ...]:
        """The checks that hold a failing file out of the core tables."""
        return tuple(c for c in self.checks if c.blocking)

    @property
    def landing_prefix(self) -> str:
        return f"landing/{self.name}/"

    @property
    def processed_prefix(self) -> str:
        return f"processed/{self.name}/"

    @property
    def rejected_records_prefix(self) -> str:
        return f"processed/{self.name}_rejected_records/"

    @property
    def batches_prefix(self) -> str:
        return f"processed/{self.name}_batches/"

    def processed_keys(self, path: str) -> tuple[str, str, str]:
        """(rows Parquet, manifest JSON, rejected records Parquet) of a landed object."""
        return (
            f"{self.processed_prefix}{path}.parquet",
            f"{self.processed_prefix}{path}.manifest.json",
            f"{self.rejected_records_prefix}{path}.parquet",
        )

    def manifest_key(self, path: str) -> str:
        return f"{self.processed_prefix}{path}.manifest.json"

    def batch_key(self, batch: str) -> str:
        """Where the list of files of an ingest batch is."""
        return f"{self.batches_prefix}{batch}.files.json"

    def context(self, path: str, landed_at: datetime | None = None) -> LandedContext:
        folder, _, rest = path.partition("/")
        if self.listener_folders and rest:
            return LandedContext(path, rest, self.listener_id(folder), folder, landed_at)
        return LandedContext(path, path, None, None, landed_at)
