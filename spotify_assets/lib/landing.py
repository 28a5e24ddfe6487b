"""Landing zones: one mechanism for every kind of file people drop into the lake
(Dagster-free).

A zone is a prefix, a parser that recognises its files by content, and a processed zone::

    landing/<zone>/<path>                          what people drop (any folder depth)
    processed/<zone>/<path>.parquet                the accepted rows of that object
    processed/<zone>/<path>.manifest.json          status, counts, content version, etag
    processed/<zone>_rejects/<path>.parquet        records left out, with reasons
    landing/_rejected/<zone>/<path>                an object that could not be read, moved
    landing/_rejected/<zone>/<path>.reason.txt     ... and why

Every object in a zone (but hidden and partial files: ``.name``, ``*.tmp``, ``*.part``,
``*.crdownload``) is one partition, keyed by its path below ``landing/<zone>/``. The zone's
parser decides what it is: rows (``ParsedFile``), not this zone's data (``NotIngested``: it
stays and is listed with the reason) or unreadable (``BadFile``: moved aside with the reason).
So every landed object ends in exactly one of: ingested, not ingested (why), rejected (why),
or pending, and :func:`inventory` lists them all.

What a sensor keeps between ticks is small (:class:`ZoneCursor`): a high-water mark of the
objects' modification times and the few objects requested but not processed yet. Whether an
object was processed, and from which bytes, is in its manifest in the lake: a file that lands
with an old modification time (a copy that kept it) is still found, because it has no
manifest; a re-uploaded unchanged file is not run again, because its manifest records the
landed object's etag (or, locally, the hash of its bytes).

Zones are declared with :class:`LandingZone` (the listening history's is in
``spotify_assets.lib.listening.history_zone``); the Dagster wiring (sensor, partitions, the
ingest asset and its checks) is made for any zone by ``spotify_assets.defs.landing``.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from spotify_assets.lib.lake import LakeError, LakeObject, LakeStore, LocalLakeStore

REJECTED_ROOT = "landing/_rejected/"
RECHECK_WINDOW = timedelta(hours=1)
#: Threads for reading and writing many small objects in a bucket, where each request waits
#: on the network (on a local disk threads only add Python work: measured slower).
_S3_THREADS = 8
_PARTIAL_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial", ".download")
# Dagster refuses partition keys with these; such a name is reported, not taken.
_UNUSABLE_IN_KEYS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")

# --------------------------------------------------------------------------------------------
# The contract between the landed-file mechanism and a zone's parser
# --------------------------------------------------------------------------------------------


class NotIngested(ValueError):
    """The object is fine but is not this zone's kind of data (``Userdata.json`` in an export,
    video history, a README): it stays where it is and is listed as not ingested, with
    ``reason``. Raised by a zone's parser."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadFile(ValueError):
    """The object should be this zone's data but cannot be read (not JSON, truncated, an
    unreadable encoding, an unsafe zip): it is moved aside to the rejected zone with
    ``reason``. Raised by a zone's parser."""

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


@dataclass(frozen=True)
class FileCheck:
    """A check over one landed file's manifest (what its ingest recorded): ``failing(manifest)``
    returns what is wrong (shown in the check's metadata) or a falsy value. Blocking checks are
    ERROR and hold a failing file out of the warehouse until it is fixed or removed; the others
    WARN (a person should look)."""

    name: str
    description: str
    failing: Callable[[dict[str, Any]], Any]
    blocking: bool = True


@dataclass(frozen=True)
class LandedContext:
    """What a parser knows of the object besides its bytes."""

    partition_key: str  # the object's path below landing/<zone>/
    name: str  # the path below the owner's folder (zones with owners) or the partition key
    owner: str | None  # the owner's id (a user of the listening history), or None
    owner_folder: str | None  # the folder name as people wrote it
    landed_at: datetime | None  # the object's modification time


def _default_write(table: Any, where: Any) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, where, compression="zstd", compression_level=1)


@dataclass(frozen=True)
class LandingZone:
    """One kind of landed file. ``parse`` is the only part a new zone must write.

    ``owner_folders``: the first folder below the zone is its owner's (a listener's export
    folder); ``owner_id`` maps that folder name to a stable id (the listening history maps
    ``José`` to a safe id and keeps the name for display). ``summarise`` adds zone-specific
    figures to the manifest from the parsed file (e.g. duplicate plays within it).

    For zones of many small files (a year of charts is 25,000 files of 200 rows):
    ``parse_many`` parses a batch of objects at once, returning for each a ``ParsedFile`` or
    the exception ``parse`` would have raised, with the same results as ``parse`` one by one;
    ``files_per_batch`` is how many objects a run gives :func:`ingest_many` at once (memory
    holds their bytes and rows together); ``rows_per_batch`` writes the accepted rows of a
    batch into one Parquet (and its rejected
    records into one more) under ``processed/<zone>_batches/``, which each object's manifest
    names, instead of one Parquet per object. Rows of such a zone must carry the object's
    partition key as ``source_file``: readers (:func:`processed_rows`) keep an object's rows
    from the Parquet its manifest names, so a re-landed object's older rows drop out.
    """

    name: str
    parse: Callable[[bytes, LandedContext], ParsedFile]
    description: str = ""
    owner_folders: bool = False
    owner_id: Callable[[str], str] = str
    write_parquet: Callable[[Any, Any], None] = _default_write
    summarise: Callable[[ParsedFile], dict[str, Any]] | None = None
    parse_many: Callable[[Sequence[tuple[bytes, LandedContext]]], list[Any]] | None = None
    rows_per_batch: bool = False
    files_per_batch: int = 1
    max_bytes: int = 512 * 2**20  # a landed file is read into memory whole

    @property
    def landing_prefix(self) -> str:
        return f"landing/{self.name}/"

    @property
    def processed_prefix(self) -> str:
        return f"processed/{self.name}/"

    @property
    def rejects_prefix(self) -> str:
        return f"processed/{self.name}_rejects/"

    @property
    def rejected_prefix(self) -> str:
        return f"{REJECTED_ROOT}{self.name}/"

    @property
    def batches_prefix(self) -> str:
        return f"processed/{self.name}_batches/"

    def processed_keys(self, partition_key: str) -> tuple[str, str, str]:
        """(rows Parquet, manifest JSON, rejected records Parquet) of a landed object."""
        return (
            f"{self.processed_prefix}{partition_key}.parquet",
            f"{self.processed_prefix}{partition_key}.manifest.json",
            f"{self.rejects_prefix}{partition_key}.parquet",
        )

    def rejected_keys(self, partition_key: str) -> tuple[str, str]:
        """Where an unreadable object and its reason go."""
        target = f"{self.rejected_prefix}{partition_key}"
        return target, f"{target}.reason.txt"

    def context(self, partition_key: str, landed_at: datetime | None = None) -> LandedContext:
        folder, _, rest = partition_key.partition("/")
        if self.owner_folders and rest:
            return LandedContext(partition_key, rest, self.owner_id(folder), folder, landed_at)
        return LandedContext(partition_key, partition_key, None, None, landed_at)


# --------------------------------------------------------------------------------------------
# What is in a zone
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LandedFile:
    """An object of a zone that is a partition."""

    key: str
    partition_key: str
    etag: str
    size: int
    last_modified: datetime


def is_partial(name: str) -> bool:
    """Hidden files and downloads or copies still in progress: not landed yet."""
    return not name or name.startswith(".") or name.lower().endswith(_PARTIAL_SUFFIXES)


def classify(zone: LandingZone, obj: LakeObject) -> LandedFile | str | None:
    """A partition, None for an object to pass over (hidden or partial), or the reason (str)
    why an object in the zone cannot be taken at all."""
    if not obj.key.startswith(zone.landing_prefix):
        return None
    rest = obj.key[len(zone.landing_prefix) :]
    if is_partial(rest.rsplit("/", 1)[-1]):
        return None
    if any(bad in rest for bad in _UNUSABLE_IN_KEYS):
        return f"{obj.key}: the name holds '...' or a control character; rename it"
    return LandedFile(obj.key, rest, obj.etag, obj.size, obj.last_modified)


def content_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


# --------------------------------------------------------------------------------------------
# Ingesting one object
# --------------------------------------------------------------------------------------------


def read_manifest(store: LakeStore, zone: LandingZone, partition_key: str) -> dict[str, Any]:
    """The manifest of a landed object, or {} when the processed zone has none."""
    try:
        manifest = orjson.loads(store.get_bytes(zone.processed_keys(partition_key)[1]))
    except (LakeError, orjson.JSONDecodeError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _clear_processed(
    store: LakeStore,
    zone: LandingZone,
    partition_key: str,
    previous: dict[str, Any] | None = None,
    *,
    keep: set[str | None] | frozenset[str | None] = frozenset(),
) -> None:
    """Remove what an object's earlier processing wrote (its own Parquet, rejects and
    manifest; a batch Parquet shared with other objects is left to
    :func:`_drop_unreferenced_batches`), except ``keep``."""
    keys = [*zone.processed_keys(partition_key)]
    if previous:
        keys += [previous.get("parquet"), previous.get("rejects_parquet")]
    for key in dict.fromkeys(keys):
        if key and key not in keep and not key.startswith(zone.batches_prefix):
            store.delete(key)


def reject_file(
    store: LakeStore, zone: LandingZone, partition_key: str, data: bytes, reason: str
) -> str:
    """Move an unreadable object aside (copy, then remove) with a reason file beside it; an
    earlier, readable version of it no longer counts."""
    target, reason_key = zone.rejected_keys(partition_key)
    store.put_bytes(target, data)
    store.put_bytes(reason_key, (reason.strip() + "\n").encode())
    store.delete(zone.landing_prefix + partition_key)
    _clear_processed(store, zone, partition_key)
    return store.uri(target)


def rejected_records_table(partition_key: str, rejected: Sequence[RejectedRecord]) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "source_file": [r.source_file or partition_key for r in rejected],
            "record_index": pa.array([r.record_index for r in rejected], pa.int64()),
            "reason": [r.reason for r in rejected],
            "raw_excerpt": [r.raw_excerpt for r in rejected],
        }
    )


def ingest(
    store: LakeStore, zone: LandingZone, partition_key: str, *, reprocess: bool = False
) -> dict[str, Any]:
    """Parse one landed object into the processed zone and return its manifest (see
    :func:`ingest_many`)."""
    return ingest_many(store, zone, [partition_key], reprocess=reprocess)[partition_key]


@dataclass
class _Pending:
    key: str
    data: bytes
    context: LandedContext
    common: dict[str, Any]
    previous: dict[str, Any]


def _in_threads(store: LakeStore, work: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``work`` over ``items`` in order; in threads for many objects of a bucket."""
    if len(items) < 8 or isinstance(store, LocalLakeStore) or _S3_THREADS < 2:
        return [work(i) for i in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=_S3_THREADS) as pool:
        return list(pool.map(work, items))


def _read_landed(
    store: LakeStore, zone: LandingZone, partition_key: str
) -> tuple[bytes, str, LakeObject | None, dict[str, Any]] | dict[str, Any]:
    """(bytes, content version, the landed object, its previous manifest), or the manifest
    of an object that is not read: missing, or larger than the zone reads at once (it stays,
    with the reason, and is not read into memory)."""
    key = zone.landing_prefix + partition_key
    landed = store.info(key)
    if landed is not None and landed.size > zone.max_bytes:
        reason = (
            f"{landed.size / 2**20:,.0f} MiB, more than the {zone.max_bytes / 2**20:,.0f} MiB "
            "a file of this zone may have (it would be read into memory whole): split it into "
            "smaller files"
        )
        info = {"status": "not_ingested", "reason": reason, "landed_etag": landed.etag}
        _clear_processed(store, zone, partition_key, read_manifest(store, zone, partition_key))
        store.put_bytes(zone.processed_keys(partition_key)[1], _dumps(info))
        return info
    try:
        data = store.get_bytes(key)
    except LakeError:
        rejected, _ = zone.rejected_keys(partition_key)
        where = "it was rejected earlier" if store.exists(rejected) else "it was removed"
        return {"status": "missing", "reason": f"not in the landing zone: {where}"}
    return data, content_id(data), landed, read_manifest(store, zone, partition_key)


def ingest_many(
    store: LakeStore,
    zone: LandingZone,
    partition_keys: Sequence[str],
    *,
    reprocess: bool = False,
) -> dict[str, dict[str, Any]]:
    """Parse landed objects into the processed zone; returns each one's manifest by key.

    ``status`` is ``accepted`` (rows written), ``not_ingested`` (not this zone's data; the
    object stays), ``rejected`` (unreadable; moved aside), ``missing``, or ``failed`` (the
    parser raised: recorded, the other objects still processed, then raised). Bytes processed
    already are not parsed again unless ``reprocess``. A zone with ``parse_many`` parses the
    objects together; a zone with ``rows_per_batch`` writes one rows Parquet (and one of
    rejected records) for all of them, which each manifest names."""
    out: dict[str, dict[str, Any]] = {}
    todo: list[_Pending] = []
    reads = _in_threads(store, lambda k: _read_landed(store, zone, k), partition_keys)
    for partition_key, read in zip(partition_keys, reads, strict=True):
        if isinstance(read, dict):  # missing, or too large to read
            out[partition_key] = read
            continue
        data, version, landed, previous = read
        landed_etag = landed.etag if landed else None
        if previous.get("version") == version and not reprocess:
            if previous.get("landed_etag") != landed_etag:  # touched, or re-uploaded as it was
                previous["landed_etag"] = landed_etag
                store.put_bytes(zone.processed_keys(partition_key)[1], _dumps(previous))
            out[partition_key] = {**previous, "unchanged": True}
            continue
        context = zone.context(partition_key, landed.last_modified if landed else None)
        common = {"version": version, "landed_etag": landed_etag, "owner": context.owner}
        todo.append(_Pending(partition_key, data, context, common, previous))
    if not todo:
        return out

    if zone.parse_many is not None:
        results = zone.parse_many([(p.data, p.context) for p in todo])
    else:
        results = [_parse_one(zone, p.data, p.context) for p in todo]

    failures: list[str] = []
    first_error: BaseException | None = None
    accepted: list[tuple[_Pending, ParsedFile]] = []
    rejected_now = {o.key for o in store.list(zone.rejected_prefix)} if todo else set()
    for pending, result in zip(todo, results, strict=True):
        partition_key, manifest_key = pending.key, zone.processed_keys(pending.key)[1]
        if isinstance(result, NotIngested):
            _clear_processed(store, zone, partition_key, pending.previous)
            _clear_rejected(store, zone, partition_key, rejected_now)
            info = {"status": "not_ingested", "reason": result.reason, **pending.common}
            store.put_bytes(manifest_key, _dumps(info))
            out[partition_key] = info
        elif isinstance(result, BadFile):
            uri = reject_file(store, zone, partition_key, pending.data, result.reason)
            out[partition_key] = {
                "status": "rejected", "reason": result.reason, "moved_to": uri, **pending.common
            }  # fmt: skip
        elif isinstance(result, BaseException):
            # A parser bug, not the file's fault: recorded (inventory shows the error, the
            # sensor does not ask again for the same bytes) and raised once the other objects
            # are written, so the run fails visibly and loses nothing.
            reason = f"{type(result).__name__}: {result}"
            info = {"status": "failed", "reason": reason, **pending.common}
            store.put_bytes(manifest_key, _dumps(info))
            out[partition_key] = info
            failures.append(f"{zone.landing_prefix}{partition_key}: {reason}")
            first_error = result
        else:
            accepted.append((pending, result))

    written = _write_rows(store, zone, accepted)

    def finish(item: tuple[tuple[_Pending, ParsedFile], tuple[str, str | None]]) -> dict:
        (pending, parsed), (parquet_key, rejects_key) = item
        partition_key = pending.key
        n_accepted, n_rejected = parsed.table.num_rows, len(parsed.rejected)
        records = int(parsed.info.get("records") or n_accepted + n_rejected)
        info = {
            "status": "accepted",
            "records": records,
            "accepted": n_accepted,
            "rejected": n_rejected,
            "parse_rate": round(n_accepted / records, 4) if records else 1.0,
            **parsed.info,
            **(zone.summarise(parsed) if zone.summarise else {}),
            "not_ingested": [{"name": n, "reason": r} for n, r in parsed.not_ingested],
            "parquet": parquet_key,
            "rejects_parquet": rejects_key,
            **pending.common,
        }
        manifest_key = zone.processed_keys(partition_key)[1]
        if pending.previous:  # what the previous version left and this one does not replace
            keep = {parquet_key, rejects_key, manifest_key}
            _clear_processed(store, zone, partition_key, pending.previous, keep=keep)
        store.put_bytes(manifest_key, _dumps(info))
        _clear_rejected(store, zone, partition_key, rejected_now)  # an unreadable version is fixed
        return info

    pairs = list(zip(accepted, written, strict=True))
    for ((pending, _), _), info in zip(pairs, _in_threads(store, finish, pairs), strict=True):
        out[pending.key] = info
    _drop_unreferenced_batches(store, zone, [p.previous for p, _ in accepted])
    if failures:
        raise LandingParseError(failures, out) from first_error
    return out


class LandingParseError(RuntimeError):
    """A zone's parser raised on some objects (a bug, not the files' fault); the others were
    processed and written."""

    def __init__(
        self, failures: Sequence[str], results: dict[str, dict[str, Any]] | None = None
    ) -> None:
        shown = "; ".join(failures[:5]) + (
            f"; and {len(failures) - 5} more" if len(failures) > 5 else ""
        )
        super().__init__(f"the parser failed on {len(failures)} object(s): {shown}")
        self.failures = list(failures)
        self.results = results or {}  # every object's manifest, the failed ones' too


def _parse_one(zone: LandingZone, data: bytes, context: LandedContext) -> ParsedFile | Exception:
    try:
        return zone.parse(data, context)
    except Exception as exc:  # noqa: BLE001 - the caller tells NotIngested, BadFile and bugs apart
        return exc


def _dumps(info: dict[str, Any]) -> bytes:
    return orjson.dumps(info, default=str)


def _parquet_bytes(table: Any, write: Callable[[Any, Any], None]) -> bytes:
    buf = io.BytesIO()
    write(table, buf)
    return buf.getvalue()


def _write_rows(
    store: LakeStore, zone: LandingZone, accepted: Sequence[tuple[_Pending, ParsedFile]]
) -> list[tuple[str, str | None]]:
    """Write the accepted objects' rows and rejected records; (rows key, rejects key or None)
    for each, in order."""
    if not accepted:
        return []
    if not zone.rows_per_batch:
        out = []
        for pending, parsed in accepted:
            parquet_key, _, rejects_key = zone.processed_keys(pending.key)
            store.put_bytes(parquet_key, _parquet_bytes(parsed.table, zone.write_parquet))
            if parsed.rejected:
                table = rejected_records_table(pending.key, parsed.rejected)
                store.put_bytes(rejects_key, _parquet_bytes(table, _default_write))
                out.append((parquet_key, rejects_key))
            else:
                store.delete(rejects_key)
                out.append((parquet_key, None))
        return out

    import pyarrow as pa
    import pyarrow.compute as pc

    rows = pa.concat_tables([parsed.table for _, parsed in accepted]).combine_chunks()
    keys = {pending.key for pending, _ in accepted}
    sources = set(pc.unique(rows.column("source_file")).to_pylist())
    if not sources <= keys:
        raise ValueError(
            f"zone {zone.name}: rows of a batch must carry their object's partition key as "
            f"source_file; found {sorted(sources - keys)[:3]}"
        )
    ident = "\n".join(f"{p.key}={p.common['version']}" for p, _ in accepted)
    batch = (
        f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}"
    )
    rows_key = f"{zone.batches_prefix}{batch}.rows.parquet"
    store.put_bytes(rows_key, _parquet_bytes(rows, zone.write_parquet))
    with_rejects = [(p, parsed) for p, parsed in accepted if parsed.rejected]
    rejects_key = None
    if with_rejects:
        rejects_key = f"{zone.batches_prefix}{batch}.rejects.parquet"
        table = pa.concat_tables(
            [rejected_records_table(p.key, parsed.rejected) for p, parsed in with_rejects]
        )
        store.put_bytes(rejects_key, _parquet_bytes(table, _default_write))
    return [(rows_key, rejects_key if parsed.rejected else None) for _, parsed in accepted]


def _drop_unreferenced_batches(
    store: LakeStore, zone: LandingZone, previous: Sequence[dict[str, Any]]
) -> None:
    """Delete the batch Parquet files that the objects just processed again were the last
    ones to use (a re-landed chart's old batch, once every object in it moved on)."""
    old = {
        m["parquet"]
        for m in previous
        if str(m.get("parquet") or "").startswith(zone.batches_prefix)
    }
    if not old:
        return
    import pyarrow.parquet as pq

    for rows_key in sorted(old):
        try:
            table = pq.read_table(io.BytesIO(store.get_bytes(rows_key)), columns=["source_file"])
        except LakeError:
            continue
        sources = set(table.column("source_file").unique().to_pylist())
        if any(read_manifest(store, zone, s).get("parquet") == rows_key for s in sources):
            continue
        store.delete(rows_key)
        store.delete(rows_key.removesuffix(".rows.parquet") + ".rejects.parquet")


def _clear_rejected(
    store: LakeStore, zone: LandingZone, partition_key: str, present: set[str] | None = None
) -> None:
    """Remove an earlier, unreadable version's copy and reason (``present``: the keys of the
    rejected zone, listed once for a batch, so absent ones cost no request)."""
    for key in zone.rejected_keys(partition_key):
        if present is None or key in present:
            store.delete(key)


@dataclass(frozen=True)
class ProcessedFile:
    """One processed Parquet file: the landed object it came from and that version's id."""

    source_file: str  # the partition key
    path: str  # a path DuckDB can read
    version: str  # content id of the landed object it was made from
    rejects_path: str | None = None
    owner: str | None = None
    shared: bool = False  # ``path`` is a batch Parquet holding other objects' rows too


def processed_files(store: LakeStore, zone: LandingZone, workdir: Path) -> list[ProcessedFile]:
    """Every accepted object's Parquet with its version; S3 objects are copied to ``workdir``
    first (DuckDB reads local files; the lake may be a bucket), a batch Parquet once. An
    object removed from the landing zone no longer counts: its rows leave the tables built
    from these files. Read the rows with :func:`processed_rows`."""
    landed = {o.key for o in store.list(zone.landing_prefix)}
    local: dict[str, str | None] = {}

    def path_of(key: str | None, *, check: bool) -> str | None:
        if key is None:
            return None
        if key not in local:
            if isinstance(store, LocalLakeStore):
                path = store.path(key)
                local[key] = str(path) if not check or path.exists() else None
            elif not check or store.exists(key):
                target = workdir / key
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(store.get_bytes(key))
                local[key] = str(target)
            else:
                local[key] = None
        return local[key]

    out = []
    for obj in store.list(zone.processed_prefix):
        if not obj.key.endswith(".manifest.json"):
            continue
        source = obj.key[len(zone.processed_prefix) : -len(".manifest.json")]
        if zone.landing_prefix + source not in landed:
            continue
        manifest = orjson.loads(store.get_bytes(obj.key))
        if manifest.get("status", "accepted") != "accepted":
            continue
        if "parquet" in manifest:  # the manifest names where its rows are
            path = path_of(manifest["parquet"], check=False)
            rejects = path_of(manifest.get("rejects_parquet"), check=False)
        else:  # written before manifests named them: the object's own files, if there
            parquet_key, _, rejects_key = zone.processed_keys(source)
            path = path_of(parquet_key, check=True)
            rejects = path_of(rejects_key, check=True)
        if path is None:
            continue
        out.append(
            ProcessedFile(
                source_file=source,
                path=path,
                version=manifest["version"],
                rejects_path=rejects,
                owner=manifest.get("owner"),
                shared=str(manifest.get("parquet") or "").startswith(zone.batches_prefix),
            )
        )
    out.sort(key=lambda f: f.source_file)
    return out


def _sql_list(paths: Iterable[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


@contextmanager
def processed_rows(
    conn: Any, files: Sequence[ProcessedFile], *, rejects: bool = False
) -> Iterator[str | None]:
    """A SQL relation (a parenthesised query) of the current rows of ``files`` (their rejected
    records with ``rejects``), or None when there are none. An object's own Parquet is read
    whole; of a batch Parquet only the rows of the objects whose manifest names it, so a
    re-landed object's older rows drop out. Use it inside the ``with``."""
    import pyarrow as pa

    chosen = [(f, f.rejects_path if rejects else f.path) for f in files]
    chosen = [(f, p) for f, p in chosen if p]
    own = sorted({p for f, p in chosen if not f.shared})
    shared = [(f.source_file, p) for f, p in chosen if f.shared]
    parts = []
    if own:
        parts.append(f"select * from read_parquet({_sql_list(own)}, union_by_name = true)")
    name = f"_landed_{uuid.uuid4().hex[:12]}"
    if shared:
        conn.register(
            name,
            pa.table({"source_file": [s for s, _ in shared], "filename": [p for _, p in shared]}),
        )
        parts.append(
            "select b.* exclude (filename) from read_parquet("
            f"{_sql_list(sorted({p for _, p in shared}))}, filename = true, union_by_name = true)"
            f" b semi join {name} k on b.filename = k.filename and b.source_file = k.source_file"
        )
    try:
        yield "(" + " union all by name ".join(parts) + ")" if parts else None
    finally:
        if shared:
            conn.unregister(name)


def build_rejected_records(conn: Any, table: str, files: Sequence[ProcessedFile]) -> None:
    """A warehouse table of every rejected record of a zone's files (file, record index or
    line, reason, excerpt), from their rejects Parquet."""
    schema = table.split(".", 1)[0]
    conn.execute(f"create schema if not exists {schema}")
    with processed_rows(conn, files, rejects=True) as rows:
        if rows is None:
            conn.execute(
                f"create or replace table {table} (source_file varchar, record_index bigint, "
                "reason varchar, raw_excerpt varchar)"
            )
            return
        conn.execute(
            f"create or replace table {table} as select source_file, record_index, reason, "
            f"raw_excerpt from {rows} r order by source_file, record_index"
        )


# --------------------------------------------------------------------------------------------
# Everything in a zone, accounted for
# --------------------------------------------------------------------------------------------

INVENTORY_COLUMNS = (
    "zone", "key", "member", "owner", "status", "reason", "records", "accepted", "rejected",
)  # fmt: skip


def inventory(store: LakeStore, zone: LandingZone) -> list[dict[str, Any]]:
    """One row per landed object (and per member of an archive that was not taken): status
    ``accepted``, ``not_ingested``, ``rejected`` (moved aside), ``pending`` (landed, not
    processed yet) or ``ignored`` (a partial download or hidden file), with the reason."""
    rows: list[dict[str, Any]] = []

    def row(key: str, status: str, **kw: Any) -> dict[str, Any]:
        base = dict.fromkeys(INVENTORY_COLUMNS)
        return {**base, "zone": zone.name, "key": key, "status": status, **kw}

    for obj in store.list(zone.landing_prefix):
        verdict = classify(zone, obj)
        rest = obj.key[len(zone.landing_prefix) :]
        if verdict is None:
            rows.append(row(obj.key, "ignored", reason="hidden or partial file"))
            continue
        if isinstance(verdict, str):
            rows.append(row(obj.key, "not_ingested", reason=verdict))
            continue
        owner = zone.context(rest).owner
        manifest = read_manifest(store, zone, rest)
        status = manifest.get("status")
        if not status:
            rows.append(row(obj.key, "pending", owner=owner, reason="landed, not processed yet"))
            continue
        rows.append(
            row(
                obj.key,
                status,
                owner=owner,
                reason=manifest.get("reason"),
                records=manifest.get("records"),
                accepted=manifest.get("accepted"),
                rejected=manifest.get("rejected"),
            )
        )
        for member in manifest.get("not_ingested") or []:
            rows.append(
                row(
                    obj.key,
                    "not_ingested",
                    member=member.get("name"),
                    owner=owner,
                    reason=member.get("reason"),
                )
            )
    for obj in store.list(zone.rejected_prefix):
        if obj.key.endswith(".reason.txt"):
            continue
        try:
            reason = store.get_bytes(obj.key + ".reason.txt").decode("utf-8", "replace").strip()
        except LakeError:
            reason = "moved aside (no reason file)"
        rest = obj.key[len(zone.rejected_prefix) :]
        rows.append(row(obj.key, "rejected", owner=zone.context(rest).owner, reason=reason))
    return rows


# --------------------------------------------------------------------------------------------
# What a sensor needs
# --------------------------------------------------------------------------------------------


@dataclass
class ZoneCursor:
    """A sensor's memory of a zone: the newest modification time seen, and the objects
    requested whose processing has not been seen yet (key -> etag). Small whatever the number
    of files ever landed: the per-file state is in the manifests."""

    high_water: str = ""  # ISO time
    pending: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"v": 2, "hwm": self.high_water, "pending": self.pending},
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> ZoneCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("v") != 2:
                return cls()  # an older cursor: start over; manifests and run keys dedupe
            return cls(str(data.get("hwm") or ""), dict(data.get("pending") or {}))
        except (ValueError, AttributeError, TypeError):
            return cls()


@dataclass
class ScanResult:
    to_run: list[LandedFile]
    landed: int
    not_taken: list[str]  # reasons for objects that cannot be partitions, newly seen
    cursor: ZoneCursor


def scan(store: LakeStore, zone: LandingZone, cursor: ZoneCursor) -> ScanResult:
    """New or changed objects of a zone since ``cursor``, in key order.

    An object is looked at closely only when it is newer than the high-water mark, was
    requested and not yet seen processed, or has no manifest; it is run when its manifest
    does not record this etag (nor, on a local lake, these bytes)."""
    objects = store.list(zone.landing_prefix)
    manifests = {
        o.key[len(zone.processed_prefix) : -len(".manifest.json")]
        for o in store.list(zone.processed_prefix)
        if o.key.endswith(".manifest.json")
    }
    hwm = cursor.high_water
    # Objects this much older than the mark are looked at again: clocks of machines that
    # write the zone disagree, and S3 times have one-second resolution.
    recheck_from = (datetime.fromisoformat(hwm) - RECHECK_WINDOW).isoformat() if hwm else ""
    pending = dict(cursor.pending)
    to_run: list[LandedFile] = []
    not_taken: list[str] = []
    landed = 0
    newest = hwm
    for obj in objects:
        stamp = obj.last_modified.astimezone(UTC).isoformat()
        newest = max(newest, stamp)
        verdict = classify(zone, obj)
        if verdict is None:
            continue
        if isinstance(verdict, str):
            if stamp >= recheck_from and stamp > cursor.high_water:
                not_taken.append(verdict)
            continue
        landed += 1
        f = verdict
        known = f.partition_key in manifests
        if stamp < recheck_from and known and f.key not in pending:
            continue  # processed, and not modified since the last tick
        if pending.get(f.key) == f.etag and not known:
            continue  # requested already; its run has not finished
        if known:
            manifest = read_manifest(store, zone, f.partition_key)
            if manifest.get("landed_etag") == f.etag:
                pending.pop(f.key, None)
                continue
            if not store.etag_is_content and manifest.get("version") == content_id(
                store.get_bytes(f.key)
            ):
                pending.pop(f.key, None)
                continue  # touched, same bytes
            if pending.get(f.key) == f.etag:
                continue
        to_run.append(f)
        pending[f.key] = f.etag
    present = {o.key for o in objects}
    pending = {k: v for k, v in pending.items() if k in present}
    return ScanResult(
        sorted(to_run, key=lambda f: f.key), landed, not_taken, ZoneCursor(newest, pending)
    )


def batches(items: Sequence[LandedFile], size: int) -> list[list[LandedFile]]:
    return [list(items[i : i + size]) for i in range(0, len(items), max(1, size))]


def contiguous_batches(
    files: Iterable[LandedFile], partitions: Sequence[str], size: int
) -> list[list[LandedFile]]:
    """Files grouped into runs over contiguous ranges of the partitions (a run covers a range
    of a dynamic partitions definition), at most ``size`` each."""
    position = {key: i for i, key in enumerate(partitions)}
    segments: list[list[LandedFile]] = []
    for f in sorted(files, key=lambda f: position[f.partition_key]):
        pos = position[f.partition_key]
        last = segments[-1] if segments else None
        if last is not None and len(last) < size and position[last[-1].partition_key] == pos - 1:
            last.append(f)
        else:
            segments.append([f])
    return segments
