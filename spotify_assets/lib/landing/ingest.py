"""Ingesting landed objects: read, parse (one by one or a chunk at a time), write the rows,
rejected records and a manifest per object into the processed outputs. Nothing is moved or
deleted from the landing folder.

A file in a format that streams (the zone's ``stream`` says so from its first bytes) is never
read whole: it is parsed as it is read, from the lake's folder or from a local copy of the
S3 object made a chunk at a time, and its content version is hashed on the way."""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from spotify_assets.lib.lake import REGULAR, LakeError, LakeObject, LakeStore, LocalLakeStore
from spotify_assets.lib.landing.zone import (
    BadFile,
    LandedContext,
    LandingZone,
    NotIngested,
    ParsedFile,
    RejectedRecord,
    StreamedFile,
    StreamParser,
    _default_write,
)

#: A file of a zone with ``stream`` up to this size is read whole at once (one request) and
#: its format told from those bytes; a bigger one has its head read first, so that a file
#: in a format that streams is never read whole.
READ_WHOLE_UP_TO = 8 * 2**20
_CHUNK = 8 * 2**20

#: Threads for reading and writing many small objects in a bucket, where each request waits
#: on the network (on a local disk threads only add Python work: measured slower).
_S3_THREADS = 8


def content_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def landed_content_id(store: LakeStore, key: str) -> str:
    """:func:`content_id` of a landed object, read a chunk at a time from a local lake (a
    landed file may be gigabytes; the sensor asks when a local file was touched)."""
    if isinstance(store, LocalLakeStore):
        with store.open(key) as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()[:24]
    return content_id(store.get_bytes(key))


def read_manifest(store: LakeStore, zone: LandingZone, path: str) -> dict[str, Any]:
    """The manifest of a landed object, or {} when it has none (not processed yet)."""
    try:
        manifest = orjson.loads(store.get_bytes(zone.manifest_key(path)))
    except (LakeError, orjson.JSONDecodeError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _clear_processed(
    store: LakeStore,
    zone: LandingZone,
    path: str,
    previous: dict[str, Any] | None = None,
    *,
    keep: set[str | None] | frozenset[str | None] = frozenset(),
) -> None:
    """Remove what an object's earlier processing wrote (its own Parquet, rejected records and
    manifest; a chunk Parquet shared with other objects is left to
    :func:`_drop_unreferenced_chunks`), except ``keep``."""
    keys = [*zone.processed_keys(path)]
    if previous:
        keys += [previous.get("parquet"), previous.get("rejects_parquet")]
    for key in dict.fromkeys(keys):
        if key and key not in keep and not key.startswith(zone.batches_prefix):
            store.delete(key)


def rejected_records_table(path: str, rejected: Sequence[RejectedRecord]) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "source_file": [r.source_file or path for r in rejected],
            "record_index": pa.array([r.record_index for r in rejected], pa.int64()),
            "reason": [r.reason for r in rejected],
            "raw_excerpt": [r.raw_excerpt for r in rejected],
        }
    )


def ingest(
    store: LakeStore, zone: LandingZone, path: str, *, reprocess: bool = False
) -> dict[str, Any]:
    """Parse one landed object and return its manifest (see :func:`ingest_many`)."""
    return ingest_many(store, zone, [path], reprocess=reprocess)[path]


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


def _not_read(
    store: LakeStore, zone: LandingZone, path: str, landed: LakeObject, reason: str
) -> dict[str, Any]:
    """Record an object that is not read (it stays, listed with the reason)."""
    info = {"status": "not_ingested", "reason": reason, "landed_etag": landed.etag}
    _clear_processed(store, zone, path, read_manifest(store, zone, path))
    store.put_bytes(zone.manifest_key(path), _dumps(info))
    return info


@dataclass
class _ToStream:
    """A landed object whose format streams: parsed as it is read, by ``parser``."""

    landed: LakeObject
    parser: StreamParser
    data: bytes | None  # its bytes, when it was small enough to be read whole at once
    previous: dict[str, Any]


def _read_landed(
    store: LakeStore, zone: LandingZone, path: str, expected_etag: str | None
) -> tuple[bytes, str, LakeObject, dict[str, Any]] | _ToStream | dict[str, Any]:
    """(bytes, content version, the landed object, its previous manifest), an object to
    parse as it streams (:class:`_ToStream`, not read yet unless small), or the outcome of
    an object that is not read: missing, changed since the sensor saw it (still being
    written: taken again once it settles), not a regular file, or larger than the zone reads
    at once in a format that does not stream (it stays, with the reason, and is not read
    into memory)."""
    key = zone.landing_prefix + path
    landed = store.info(key)
    if landed is None:
        return {"status": "missing", "reason": "not in the landing zone any more: it was removed"}
    if expected_etag is not None and landed.etag != expected_etag:
        return {
            "status": "changed",
            "reason": "changed since the sensor saw it (still being written?): taken again "
            "once it stops changing",
        }
    if landed.kind != REGULAR:
        return _not_read(store, zone, path, landed, not_regular_reason(landed))
    context = zone.context(path, landed.last_modified)
    if zone.stream is not None and landed.size > min(zone.max_bytes, READ_WHOLE_UP_TO):
        try:
            head = store.get_head(key, zone.head_bytes)
        except LakeError as exc:
            if store.info(key) is None:
                return {"status": "missing", "reason": "removed while being read"}
            return _not_read(store, zone, path, landed, f"cannot be read: {exc}")
        parser = zone.stream(head, context)
        if parser is not None:
            return _ToStream(landed, parser, None, read_manifest(store, zone, path))
    if landed.size > zone.max_bytes:
        return _not_read(
            store,
            zone,
            path,
            landed,
            f"{landed.size / 2**20:,.0f} MiB, more than the {zone.max_bytes / 2**20:,.0f} MiB "
            "a file of this zone may have (it would be read into memory whole): split it into "
            "smaller files",
        )
    try:
        data = store.get_bytes(key)
    except LakeError as exc:
        if store.info(key) is None:
            return {"status": "missing", "reason": "removed while being read"}
        return _not_read(store, zone, path, landed, f"cannot be read: {exc}")
    if expected_etag is not None and len(data) != landed.size:
        return {"status": "changed", "reason": "changed while being read: taken again later"}
    if zone.stream is not None:
        parser = zone.stream(data[: zone.head_bytes], context)
        if parser is not None:
            return _ToStream(landed, parser, data, read_manifest(store, zone, path))
    return data, content_id(data), landed, read_manifest(store, zone, path)


def not_regular_reason(obj: LakeObject) -> str:
    if obj.kind == "link":
        return (
            "a symbolic link: links are never followed (copy the file itself into the landing "
            "folder)"
        )
    return "not a regular file (a FIFO, a device or a socket): never read"


def ingest_many(
    store: LakeStore,
    zone: LandingZone,
    paths: Sequence[str],
    *,
    reprocess: bool = False,
    expected_etags: Mapping[str, str] | None = None,
    batch: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Parse landed objects into the processed outputs; returns each one's outcome by path.

    ``status`` is ``accepted`` (rows written), ``not_ingested`` (not this zone's data),
    ``rejected`` (unreadable), ``failed`` (the parser raised: recorded, the other objects still
    processed, then raised), ``missing`` or ``changed`` (its etag is not the one in
    ``expected_etags``, what the sensor saw: it is being written, and will be taken again).
    The object itself is never moved. Bytes processed already are not parsed again unless
    ``reprocess``. A zone with ``parse_many`` parses the objects together; a zone with
    ``rows_per_chunk`` writes one rows Parquet (and one of rejected records) for all of them,
    named after ``batch``, which each manifest names. An object whose format streams (the
    zone's ``stream``) is parsed alone, as it is read, into Parquet files of its own; its
    bytes are not compared before (it is not read again when its etag is the one its
    manifest records)."""
    out: dict[str, dict[str, Any]] = {}
    todo: list[_Pending] = []
    streamed: list[tuple[str, _ToStream]] = []
    etags = expected_etags or {}
    reads = _in_threads(store, lambda p: _read_landed(store, zone, p, etags.get(p)), paths)
    for path, read in zip(paths, reads, strict=True):
        if isinstance(read, dict):  # not read
            out[path] = read
            continue
        if isinstance(read, _ToStream):  # parsed as it is read, one at a time, below
            streamed.append((path, read))
            continue
        data, version, landed, previous = read
        if previous.get("version") == version and not reprocess:
            if previous.get("landed_etag") != landed.etag:  # touched, or re-uploaded as it was
                previous["landed_etag"] = landed.etag
                store.put_bytes(zone.manifest_key(path), _dumps(previous))
            out[path] = {**previous, "unchanged": True}
            continue
        context = zone.context(path, landed.last_modified)
        common = {"version": version, "landed_etag": landed.etag, "listener": context.listener}
        todo.append(_Pending(path, data, context, common, previous))
    reads = read = data = None  # the read bytes live in todo only, released below
    failures: list[str] = []
    first_error: BaseException | None = None
    if todo:
        failures, first_error = _ingest_read(store, zone, todo, batch, out)
        todo.clear()  # before a streamed file is read
    for path, item in streamed:
        info, error = _ingest_streamed(store, zone, path, item, reprocess=reprocess)
        out[path] = info
        if error is not None:
            failures.append(f"{zone.landing_prefix}{path}: {info['reason']}")
            first_error = error
    if failures:
        raise LandingParseError(failures, out) from first_error
    return out


def _ingest_read(
    store: LakeStore,
    zone: LandingZone,
    todo: Sequence[_Pending],
    batch: str | None,
    out: dict[str, dict[str, Any]],
) -> tuple[list[str], BaseException | None]:
    """Parse the objects read whole and write their outputs (their outcomes into ``out``);
    (the parser's failures, the last exception)."""
    if zone.parse_many is not None:
        results = zone.parse_many([(p.data, p.context) for p in todo])
    else:
        results = [_parse_one(zone, p.data, p.context) for p in todo]

    failures: list[str] = []
    first_error: BaseException | None = None
    accepted: list[tuple[_Pending, ParsedFile]] = []
    for pending, result in zip(todo, results, strict=True):
        path, manifest_key = pending.key, zone.manifest_key(pending.key)
        if isinstance(result, NotIngested | BadFile):
            # Not ours, or unreadable: it stays where it is, listed with the reason; an
            # earlier, readable version of it no longer counts.
            status = "not_ingested" if isinstance(result, NotIngested) else "rejected"
            _clear_processed(store, zone, path, pending.previous)
            info = {"status": status, "reason": result.reason, **pending.common}
            store.put_bytes(manifest_key, _dumps(info))
            out[path] = info
        elif isinstance(result, BaseException):
            # A parser bug, not the file's fault: recorded (inventory shows the error, the
            # sensor does not ask again for the same bytes) and raised once the other objects
            # are written, so the run fails visibly and loses nothing.
            reason = f"{type(result).__name__}: {result}"
            info = {"status": "failed", "reason": reason, **pending.common}
            store.put_bytes(manifest_key, _dumps(info))
            out[path] = info
            failures.append(f"{zone.landing_prefix}{path}: {reason}")
            first_error = result
        else:
            accepted.append((pending, result))

    written = _write_rows(store, zone, accepted, batch)

    def finish(item: tuple[tuple[_Pending, ParsedFile], tuple[str, str | None]]) -> dict:
        (pending, parsed), (parquet_key, rejects_key) = item
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
        manifest_key = zone.manifest_key(pending.key)
        if pending.previous:  # what the previous version left and this one does not replace
            keep = {parquet_key, rejects_key, manifest_key}
            _clear_processed(store, zone, pending.key, pending.previous, keep=keep)
        store.put_bytes(manifest_key, _dumps(info))
        return info

    pairs = list(zip(accepted, written, strict=True))
    for ((pending, _), _), info in zip(pairs, _in_threads(store, finish, pairs), strict=True):
        out[pending.key] = info
    _drop_unreferenced_chunks(store, zone, [p.previous for p, _ in accepted])
    return failures, first_error


class _HashingReader(io.RawIOBase):
    """A binary stream that hashes what is read through it: the content version of an
    object that is never held whole."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        self._hash.update(data)  # releases the GIL: hashing overlaps the parser's threads
        self.size += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read (and hash) what the parser left unread."""
        while self.read(_CHUNK):
            pass

    def version(self) -> str:
        return self._hash.hexdigest()[:24]  # as content_id of the same bytes


@contextmanager
def _landed_stream(
    store: LakeStore, key: str, data: bytes | None, work: Path
) -> Iterator[BinaryIO]:
    """The landed object as a binary stream: its bytes when read already, the file itself in
    a local lake, else a local copy of the S3 object made a chunk at a time."""
    if data is not None:
        yield io.BytesIO(data)
    elif isinstance(store, LocalLakeStore):
        with store.open(key) as handle:
            yield handle
    else:
        copy = work / "landed.download"
        store.get_file(key, copy)
        try:
            with open(copy, "rb") as handle:
                yield handle
        finally:
            copy.unlink(missing_ok=True)


def _ingest_streamed(
    store: LakeStore, zone: LandingZone, path: str, item: _ToStream, *, reprocess: bool
) -> tuple[dict[str, Any], BaseException | None]:
    """Parse one object as it streams and write its outputs: (its outcome, the parser's
    exception when it crashed). Its rows and rejected records are Parquet files of its own
    (never a chunk's), copied into the lake from the work folder."""
    landed, previous = item.landed, item.previous
    key, manifest_key = zone.landing_prefix + path, zone.manifest_key(path)
    if not reprocess and previous.get("version"):
        same = (
            previous["version"] == content_id(item.data)
            if item.data is not None
            else previous.get("landed_etag") == landed.etag  # not read again to know
        )
        if same:
            if previous.get("landed_etag") != landed.etag:  # touched, or re-uploaded as it was
                previous["landed_etag"] = landed.etag
                store.put_bytes(manifest_key, _dumps(previous))
            return {**previous, "unchanged": True}, None
    context = zone.context(path, landed.last_modified)
    with tempfile.TemporaryDirectory(prefix=f"{zone.name}-stream-") as tmp:
        work = Path(tmp)
        try:
            with _landed_stream(store, key, item.data, work) as raw:
                reader = _HashingReader(raw)
                try:
                    result: StreamedFile | Exception = item.parser(reader, work)
                except Exception as exc:  # noqa: BLE001 - told apart below, as for parse
                    result = exc
                reader.drain()
        except LakeError as exc:
            if store.info(key) is None:
                return {"status": "missing", "reason": "removed while being read"}, None
            return _not_read(store, zone, path, landed, f"cannot be read: {exc}"), None
        now = store.info(key)
        if now is None:
            return {"status": "missing", "reason": "removed while being read"}, None
        if reader.size != landed.size or now.etag != landed.etag:
            return {
                "status": "changed",
                "reason": "changed while being read: taken again once it stops changing",
            }, None
        common = {"version": reader.version(), "landed_etag": landed.etag}
        common["listener"] = context.listener
        if isinstance(result, NotIngested | BadFile):
            status = "not_ingested" if isinstance(result, NotIngested) else "rejected"
            _clear_processed(store, zone, path, previous)
            info = {"status": status, "reason": result.reason, **common}
            store.put_bytes(manifest_key, _dumps(info))
            _drop_unreferenced_chunks(store, zone, [previous])
            return info, None
        if isinstance(result, BaseException):
            info = {"status": "failed", "reason": f"{type(result).__name__}: {result}", **common}
            store.put_bytes(manifest_key, _dumps(info))
            return info, result
        parquet_key, _, rejects_key = zone.processed_keys(path)
        store.put_file(parquet_key, result.rows)
        if result.rejected is not None:
            store.put_file(rejects_key, result.rejected)
        else:
            store.delete(rejects_key)
    n_accepted = int(result.info.get("accepted") or 0)
    records = int(result.info.get("records") or n_accepted + int(result.info.get("rejected") or 0))
    info = {
        "status": "accepted",
        "records": records,
        "accepted": n_accepted,
        "rejected": records - n_accepted,
        "parse_rate": round(n_accepted / records, 4) if records else 1.0,
        **result.info,
        "not_ingested": [],
        "parquet": parquet_key,
        "rejects_parquet": rejects_key if result.rejected is not None else None,
        **common,
    }
    keep = {parquet_key, rejects_key, manifest_key}
    _clear_processed(store, zone, path, previous, keep=keep)
    store.put_bytes(manifest_key, _dumps(info))
    _drop_unreferenced_chunks(store, zone, [previous])
    return info, None


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
        self.results = results or {}  # every object's outcome, the failed ones' too


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
    store: LakeStore,
    zone: LandingZone,
    accepted: Sequence[tuple[_Pending, ParsedFile]],
    batch: str | None,
) -> list[tuple[str, str | None]]:
    """Write the accepted objects' rows and rejected records; (rows key, rejects key or None)
    for each, in order."""
    if not accepted:
        return []
    if not zone.rows_per_chunk:
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
            f"zone {zone.name}: rows of a chunk must carry their object's path as "
            f"source_file; found {sorted(sources - keys)[:3]}"
        )
    ident = "\n".join(f"{p.key}={p.common['version']}" for p, _ in accepted)
    digest = hashlib.sha256(ident.encode()).hexdigest()[:12]
    chunk = f"{batch or f'{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}'}-{digest}"
    rows_key = f"{zone.batches_prefix}{chunk}.rows.parquet"
    store.put_bytes(rows_key, _parquet_bytes(rows, zone.write_parquet))
    with_rejects = [(p, parsed) for p, parsed in accepted if parsed.rejected]
    rejects_key = None
    if with_rejects:
        rejects_key = f"{zone.batches_prefix}{chunk}.rejects.parquet"
        table = pa.concat_tables(
            [rejected_records_table(p.key, parsed.rejected) for p, parsed in with_rejects]
        )
        store.put_bytes(rejects_key, _parquet_bytes(table, _default_write))
    return [(rows_key, rejects_key if parsed.rejected else None) for _, parsed in accepted]


def _drop_unreferenced_chunks(
    store: LakeStore, zone: LandingZone, previous: Sequence[dict[str, Any]]
) -> None:
    """Delete the chunk Parquet files that the objects just processed again were the last
    ones to use (a re-landed chart's old chunk, once every object in it moved on)."""
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
