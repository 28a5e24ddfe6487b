"""What a sensor needs: which landed files to take now, in which batches, with a cursor that
stays small whatever the number of files ever landed.

A file is taken once it has stopped changing: its modification time at least ``settle_s``
seconds old (a copy in progress keeps touching it; an S3 object appears whole). Each batch of
files taken together is written to the lake (its files and the etag of each as seen), so the
ingest run takes exactly what was seen, and a file that changed since is left for a later
tick. A batch stays *in flight* in the cursor until its run has ended; files of a run that
ended without processing them (failed, canceled, killed) are free to be taken again.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from spotify_assets.lib.lake import REGULAR, LakeError, LakeObject, LakeStore
from spotify_assets.lib.landing.ingest import landed_content_id, read_manifest
from spotify_assets.lib.landing.processed import MANIFEST_SUFFIX
from spotify_assets.lib.landing.zone import LandingZone

#: Objects this much older than the high-water mark are looked at again: clocks of machines
#: that write the zone disagree, and S3 times have one-second resolution.
RECHECK_WINDOW = timedelta(hours=1)
#: A tick that finds files settling within this many seconds (a copy that just ended) waits
#: for them and looks again, rather than leaving them to the next tick (up to an interval
#: later): a drop is taken about ``landing_settle_s`` after it ends, whatever the interval.
#: The platform's sensors tick in threads, so the wait holds up no other sensor.
SETTLE_WAIT_MAX_S = 15.0
_PARTIAL_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial", ".download")
# Characters Dagster and people's tools trip on in names; such a name is reported, not taken.
_UNUSABLE_IN_KEYS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")


@dataclass(frozen=True)
class LandedFile:
    """An object of a zone that can be taken."""

    key: str
    path: str  # below landing/<zone>/
    etag: str
    size: int
    last_modified: datetime


def is_partial(name: str) -> bool:
    """Hidden files and downloads or copies still in progress: not landed yet."""
    return not name or name.startswith(".") or name.lower().endswith(_PARTIAL_SUFFIXES)


def classify(zone: LandingZone, obj: LakeObject) -> LandedFile | str | None:
    """A file to take, None for an object to pass over (hidden or partial), or the reason
    (str) why an object in the zone cannot be taken at all."""
    if not obj.key.startswith(zone.landing_prefix):
        return None
    rest = obj.key[len(zone.landing_prefix) :]
    if is_partial(rest.rsplit("/", 1)[-1]):
        return None
    if any(bad in rest for bad in _UNUSABLE_IN_KEYS):
        return f"{obj.key}: the name holds '...' or a control character; rename it"
    return LandedFile(obj.key, rest, obj.etag, obj.size, obj.last_modified)


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


def new_batch_id(now: datetime) -> str:
    """A batch id that sorts by time (and reads as one): ``20261207T113105Z-3f2a9c``."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def write_batch(
    store: LakeStore, zone: LandingZone, batch: str, files: Iterable[LandedFile]
) -> None:
    body = {"zone": zone.name, "batch": batch, "files": {f.path: f.etag for f in files}}
    store.put_bytes(zone.batch_key(batch), orjson.dumps(body))


def read_batch(store: LakeStore, zone: LandingZone, batch: str) -> dict[str, str]:
    """``{path: etag as seen}`` of a batch; a clear error when the batch is unknown."""
    try:
        body = orjson.loads(store.get_bytes(zone.batch_key(batch)))
    except (LakeError, orjson.JSONDecodeError) as exc:
        raise LakeError(
            f"batch {batch!r} of zone {zone.name} has no file list at "
            f"{store.uri(zone.batch_key(batch))} ({exc}); batches are made by the zone's sensor"
        ) from exc
    return dict(body.get("files") or {})


def plan_batches(
    files: Sequence[LandedFile], *, max_files: int, max_bytes: int
) -> list[list[LandedFile]]:
    """``files`` (in key order) cut into batches of at most ``max_files`` files and about
    ``max_bytes`` bytes (a file larger than that is a batch of its own)."""
    out: list[list[LandedFile]] = []
    current: list[LandedFile] = []
    size = 0
    for f in files:
        if current and (len(current) >= max_files or size + f.size > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        out.append(current)
    return out


# --------------------------------------------------------------------------------------------
# The cursor and one scan
# --------------------------------------------------------------------------------------------


@dataclass
class ZoneCursor:
    """A sensor's memory of a zone: the newest modification time seen, a digest of the last
    listing, whether files were still settling then, and the batches in flight (batch id ->
    when requested). Small whatever the number of files ever landed: the per-file state is
    in the manifests, a batch's files in its file list."""

    high_water: str = ""  # ISO time
    listing: str = ""
    settling: bool = False
    in_flight: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": 3,
                "hwm": self.high_water,
                "listing": self.listing,
                "settling": self.settling,
                "in_flight": self.in_flight,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> ZoneCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("v") != 3:
                return cls()  # an older cursor: start over; manifests and run keys dedupe
            return cls(
                str(data.get("hwm") or ""),
                str(data.get("listing") or ""),
                bool(data.get("settling")),
                dict(data.get("in_flight") or {}),
            )
        except (ValueError, AttributeError, TypeError):
            return cls()


@dataclass
class ScanResult:
    to_run: list[LandedFile]  # settled, not processed as they are, not in flight
    landed: int  # files that can be taken (settled or not)
    settling: list[LandedFile]  # still changing: taken at a later tick
    not_taken: list[str]  # reasons for objects that cannot be taken, newly seen
    cursor: ZoneCursor
    unchanged: bool = False  # the listing was the one of the last tick: nothing else was read


def listing_digest(objects: Iterable[LakeObject]) -> str:
    h = hashlib.sha256()
    for o in objects:
        h.update(f"{o.key}\0{o.etag}\0{o.kind}\n".encode())
    return h.hexdigest()[:32]


def scan(
    store: LakeStore,
    zone: LandingZone,
    cursor: ZoneCursor,
    *,
    now: datetime,
    settle_s: float,
    in_flight: Mapping[str, str] | None = None,
    force: bool = False,
) -> ScanResult:
    """New or changed files of a zone since ``cursor`` that have stopped changing, in key
    order.

    A tick whose listing is the last one's (same keys, etags and kinds), with no file
    settling then and nothing ``force``-d (a batch released), reads nothing more. Otherwise a
    file is looked at closely only when it is newer than the high-water mark or has no
    manifest; it is taken when its manifest does not record this etag (nor, on a local lake,
    these bytes), it is not in a batch in flight (``in_flight``: path -> etag as seen), and it
    has not changed for ``settle_s`` seconds."""
    objects = store.list(zone.landing_prefix)
    digest = listing_digest(objects)
    if digest == cursor.listing and not cursor.settling and not force:
        return ScanResult([], 0, [], [], cursor, unchanged=True)
    manifests = {
        o.key[len(zone.processed_prefix) : -len(MANIFEST_SUFFIX)]
        for o in store.list(zone.processed_prefix)
        if o.key.endswith(MANIFEST_SUFFIX)
    }
    flying = dict(in_flight or {})
    hwm = cursor.high_water
    recheck_from = (datetime.fromisoformat(hwm) - RECHECK_WINDOW).isoformat() if hwm else ""
    settled_before = now - timedelta(seconds=settle_s)
    to_run: list[LandedFile] = []
    settling: list[LandedFile] = []
    not_taken: list[str] = []
    landed = 0
    newest = hwm
    for obj in objects:
        stamp = obj.last_modified.astimezone(UTC).isoformat()
        verdict = classify(zone, obj)
        if verdict is None:
            continue
        newly_seen = stamp >= recheck_from and stamp > cursor.high_water
        if isinstance(verdict, str) or obj.kind != REGULAR:
            if newly_seen:
                not_taken.append(
                    verdict if isinstance(verdict, str) else f"{obj.key}: not a regular file"
                )
            newest = max(newest, stamp)
            continue
        landed += 1
        f = verdict
        known = f.path in manifests
        if stamp < recheck_from and known:
            continue  # processed, and not modified since the last tick
        if flying.get(f.path) == f.etag:
            continue  # in a batch whose run has not ended
        if f.last_modified > settled_before:
            settling.append(f)  # still changing: the high-water mark waits for it
            continue
        newest = max(newest, stamp)
        if known:
            manifest = read_manifest(store, zone, f.path)
            if manifest.get("landed_etag") == f.etag:
                continue
            if not store.etag_is_content and manifest.get("version") == landed_content_id(
                store, f.key
            ):
                continue  # touched, same bytes
        to_run.append(f)
    if settling:  # look again at what is settling, whatever the mark says
        newest = min(newest, min(f.last_modified.astimezone(UTC).isoformat() for f in settling))
    new_cursor = ZoneCursor(newest, digest, bool(settling), dict(cursor.in_flight))
    return ScanResult(sorted(to_run, key=lambda f: f.key), landed, settling, not_taken, new_cursor)


def settle_wait_s(settling: Sequence[LandedFile], now: datetime, settle_s: float) -> float | None:
    """Seconds until every file of ``settling`` has been unchanged for ``settle_s``, when that
    is at most :data:`SETTLE_WAIT_MAX_S` (else None: the next tick takes them)."""
    if not settling:
        return None
    newest = max(f.last_modified for f in settling)
    wait = (newest - now).total_seconds() + settle_s + 0.1
    return max(wait, 0.0) if wait <= SETTLE_WAIT_MAX_S else None
