"""The landing zone for listening-history exports, and what a sensor needs to watch it
(Dagster-free).

Layout (in the lake, local folder or S3 prefix)::

    landing/streaming_history/<user_id>/<file>.json   what users drop, as it comes out of the zip
    landing/_rejected/<user_id>/<file>.json           whole files that could not be read
    landing/_rejected/<user_id>/<file>.json.reason.txt   why
    processed/streaming_history/<user_id>/<file>.json.parquet         its normalized plays
    processed/streaming_history/<user_id>/<file>.json.manifest.json   counts, content version
    processed/streaming_history_rejects/<user_id>/<file>.json.parquet its unusable records

A landed file's partition key is its path below ``landing/streaming_history/``
(``<user_id>/<file>.json``), so the user is always known and two users' files never clash.

The cursor remembers every file by its identity (key) and content (``etag``: S3's ETag, or
size and modification time locally, confirmed by a content hash before a run is requested).
Comparing against it, rather than against a last-modified high-water mark, means nothing is
missed when several files land within the same second or a copy keeps an old modification
time, a re-uploaded changed file is processed again, and an unchanged one is not.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from spotify_assets.lib.lake import LakeObject

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

LANDING_PREFIX = "landing/streaming_history/"
REJECTED_PREFIX = "landing/_rejected/"
PROCESSED_PREFIX = "processed/streaming_history/"
REJECTS_PREFIX = "processed/streaming_history_rejects/"

# What a privacy export contains that is listening history: extended streaming history
# (audio; video is skipped), older endsong files, and the account-data short format.
_EXPORT_NAME = re.compile(
    r"^(Streaming_History_Audio_.*|endsong_.*|StreamingHistory.*|Streaming_History_.*)\.json$",
    re.IGNORECASE,
)
_SKIPPED_NAME = re.compile(r"^Streaming_History_Video_.*", re.IGNORECASE)
_USER_ID = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")


class LandingError(ValueError):
    """A landed object that is not where or what the layout says; names the key."""


@dataclass(frozen=True)
class LandedFile:
    key: str
    etag: str
    size: int

    @property
    def partition_key(self) -> str:
        return self.key[len(LANDING_PREFIX) :]

    @property
    def user_id(self) -> str:
        return self.partition_key.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def classify(obj: LakeObject) -> LandedFile | None | str:
    """A landed export file, None for an object to ignore silently (temp files, folders'
    markers), or a reason (str) why the object is in the landing zone but cannot be taken."""
    if not obj.key.startswith(LANDING_PREFIX):
        return None
    rest = obj.key[len(LANDING_PREFIX) :]
    name = rest.rsplit("/", 1)[-1]
    if not name or name.startswith(".") or name.endswith((".tmp", ".part", ".crdownload")):
        return None
    parts = rest.split("/")
    if len(parts) != 2:
        return (
            f"{obj.key}: files go in landing/streaming_history/<user_id>/<file>.json "
            "(one folder per user, no deeper folders)"
        )
    user_id = parts[0]
    if not _USER_ID.match(user_id):
        return f"{obj.key}: {user_id!r} is not a usable user id (letters, digits, . _ @ + -)"
    if _SKIPPED_NAME.match(name) or not name.lower().endswith(".json"):
        return None  # video history, ReadMe.pdf, other files of the export: not ours
    if not _EXPORT_NAME.match(name):
        return None
    return LandedFile(key=obj.key, etag=obj.etag, size=obj.size)


@dataclass
class LandingCursor:
    """Files already requested: key -> [etag, content id]. The content id is a hash of the
    bytes (S3's ETag already is one), so a file touched but not changed is not re-run."""

    seen: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"v": 1, "seen": self.seen}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> LandingCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(seen={k: list(v) for k, v in (data.get("seen") or {}).items()})
        except (ValueError, AttributeError, TypeError):
            return cls()  # an unreadable cursor: start over; run keys prevent duplicates

    def etag(self, key: str) -> str | None:
        entry = self.seen.get(key)
        return entry[0] if entry else None

    def content(self, key: str) -> str | None:
        entry = self.seen.get(key)
        return entry[1] if entry and len(entry) > 1 else None


def new_or_changed(files: Iterable[LandedFile], cursor: LandingCursor) -> list[LandedFile]:
    """Files whose key is unknown or whose etag changed since the cursor, in key order."""
    return sorted((f for f in files if cursor.etag(f.key) != f.etag), key=lambda f: f.key)


def content_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def batches(items: Sequence[LandedFile], size: int) -> list[list[LandedFile]]:
    return [list(items[i : i + size]) for i in range(0, len(items), max(1, size))]


def rejected_keys(partition_key: str) -> tuple[str, str]:
    """Where a rejected file and its reason go."""
    return f"{REJECTED_PREFIX}{partition_key}", f"{REJECTED_PREFIX}{partition_key}.reason.txt"


def processed_keys(partition_key: str) -> tuple[str, str, str]:
    """(plays Parquet, manifest JSON, rejected records Parquet) of a landed file."""
    return (
        f"{PROCESSED_PREFIX}{partition_key}.parquet",
        f"{PROCESSED_PREFIX}{partition_key}.manifest.json",
        f"{REJECTS_PREFIX}{partition_key}.parquet",
    )
