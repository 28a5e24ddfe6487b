"""Landing zones: one mechanism for every kind of file people drop into the lake
(Dagster-free).

A zone is a prefix, a parser that recognises its files by content, and its processed outputs::

    landing/<zone>/<path>                               what people drop (any folder depth)
    processed/<zone>/<path>.parquet                     the accepted rows of that file
    processed/<zone>/<path>.manifest.json               status, counts, content version, etag
    processed/<zone>_rejected_records/<path>.parquet    records left out, with reasons
    processed/<zone>_batches/<batch>.files.json         the files one ingest run takes

Every regular file in a zone (but hidden and partial files: ``.name``, ``*.tmp``, ``*.part``,
``*.crdownload``) is taken once it has stopped changing, keyed by its path below
``landing/<zone>/``. The zone's parser decides what it is: rows (``ParsedFile``), not this
zone's data (``NotIngested``: listed with the reason) or unreadable (``BadFile``: listed as
rejected with the reason). A zone may also read a format as it streams (``stream``: a
3.5 GB chart file), never holding the file whole. Nothing is ever moved or deleted from the
landing folder: a file still being copied in that was read half-written is taken again when
it changes. Symbolic links, FIFOs and devices are listed as not ingested and never followed or
opened. So every landed object ends in exactly one of: accepted, held (accepted, but failing a
blocking check of the zone: its rows stay out of the core tables until it is fixed or removed),
not ingested (why), rejected (why), failed (the parser crashed) or pending (landed, not taken
yet), and :func:`inventory` lists them all.

Files are taken in **batches**: a sensor tick writes the list of files (with the etag it saw)
that one ingest run takes, and the run ingests those whose etag is still the one seen. A run
parses its batch in **chunks** of ``files_per_chunk`` files (memory holds one chunk's bytes and
rows); zones of many small files write one Parquet per chunk under ``processed/<zone>_batches/``,
which each file's manifest names.

What a sensor keeps between ticks is small (:class:`ZoneCursor`): a high-water mark of the
objects' modification times, a digest of the last listing (so a tick that finds nothing new
reads nothing more) and the batches in flight. Whether a file was processed, and from which
bytes, is in its manifest in the lake: a file that lands with an old modification time (a copy
that kept it) is still found, because it has no manifest; a re-uploaded unchanged file is not
run again, because its manifest records the landed object's etag (or, locally, the hash of its
bytes).

Zones are declared with :class:`LandingZone` (the listening history's is in
``spotify_assets.lib.listening.history_zone``); the Dagster wiring (sensor, batch partitions,
the ingest asset and its checks, the zone's core table) is made for any zone by
``spotify_assets.defs.landing``.
"""

from spotify_assets.lib.landing.ingest import (
    LandingParseError,
    content_id,
    ingest,
    ingest_many,
    landed_content_id,
    read_manifest,
    rejected_records_table,
)
from spotify_assets.lib.landing.inventory import INVENTORY_COLUMNS, STATUSES, inventory
from spotify_assets.lib.landing.processed import (
    ProcessedFile,
    build_rejected_records,
    failing_checks,
    held_files,
    processed_files,
    processed_rows,
    zone_manifests,
)
from spotify_assets.lib.landing.scan import (
    LandedFile,
    ScanResult,
    ZoneCursor,
    classify,
    is_partial,
    new_batch_id,
    plan_batches,
    read_batch,
    scan,
    settle_wait_s,
    write_batch,
)
from spotify_assets.lib.landing.zone import (
    MIN_PARSE_RATE,
    BadFile,
    FileCheck,
    LandedContext,
    LandingZone,
    NotIngested,
    ParsedFile,
    RejectedRecord,
    StreamedFile,
    StreamParser,
    parse_rate_check,
)

__all__ = [
    "INVENTORY_COLUMNS",
    "MIN_PARSE_RATE",
    "STATUSES",
    "BadFile",
    "FileCheck",
    "LandedContext",
    "LandedFile",
    "LandingParseError",
    "LandingZone",
    "NotIngested",
    "ParsedFile",
    "ProcessedFile",
    "RejectedRecord",
    "ScanResult",
    "StreamParser",
    "StreamedFile",
    "ZoneCursor",
    "build_rejected_records",
    "classify",
    "content_id",
    "failing_checks",
    "held_files",
    "ingest",
    "ingest_many",
    "inventory",
    "landed_content_id",
    "is_partial",
    "new_batch_id",
    "parse_rate_check",
    "plan_batches",
    "processed_files",
    "processed_rows",
    "read_batch",
    "read_manifest",
    "rejected_records_table",
    "scan",
    "settle_wait_s",
    "write_batch",
    "zone_manifests",
]
