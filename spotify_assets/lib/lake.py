"""The lake: one key layout (``raw/...``, ``processed/...``, ``models/...``, ``exports/...``,
``landing/...``) over a local folder or an S3 bucket and prefix.

Dagster-free on purpose: the IO managers, the sensors and the assets all speak to the lake
through :class:`LakeStore`, so the same code runs against a folder on a laptop and against S3
(or any ``AWS_ENDPOINT_URL``-style endpoint) in production.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class LakeObject:
    """One object in the lake, with what a sensor needs to tell new content from old."""

    key: str
    size: int
    last_modified: datetime
    etag: str


class LakeError(RuntimeError):
    """A lake read or write that failed; the message names the key and the lake."""


class LakeStore(Protocol):
    """Bytes by key, with listing; keys always use ``/`` and never start with one."""

    etag_is_content: bool

    def uri(self, key: str) -> str: ...
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[LakeObject]: ...
    def info(self, key: str) -> LakeObject | None: ...
    def delete(self, key: str) -> None: ...


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/"):
        raise LakeError(f"invalid lake key {key!r}: keys are relative, '/'-separated, no '..'")
    return key


class LocalLakeStore:
    """The lake as a folder. Writes are atomic (temp file + rename) so a reader never sees
    half a file, even when a run is killed mid-write."""

    # The etag is size and modification time: it changes with the content, but also when a
    # file is only touched, so a caller that must know hashes the bytes (content_hash).
    etag_is_content = False

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def uri(self, key: str) -> str:
        return str(self.path(key))

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path) -> None:
        """Copy a local file in (atomically), without reading it into memory."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError as exc:
            raise LakeError(f"no object {key!r} in the lake at {self.root}") from exc

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list(self, prefix: str) -> list[LakeObject]:
        base = self.root / prefix if prefix else self.root
        # A prefix is either a folder or the start of file names inside its parent folder.
        folder = base if base.is_dir() else base.parent
        if not folder.is_dir():
            return []
        out: list[LakeObject] = []
        for dirpath, _dirnames, filenames in os.walk(folder):
            for name in filenames:
                if name.startswith(".") and name.endswith(".tmp"):
                    continue
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                stat = full.stat()
                out.append(
                    LakeObject(
                        key=key,
                        size=stat.st_size,
                        last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                        # A cheap identity for unchanged files; content hashing is the
                        # caller's choice (see content_hash) because it reads the file.
                        etag=f"{stat.st_size:x}-{stat.st_mtime_ns:x}",
                    )
                )
        out.sort(key=lambda o: o.key)
        return out

    def info(self, key: str) -> LakeObject | None:
        """One object's identity, as :meth:`list` gives it, without listing its folder."""
        try:
            stat = self.path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return LakeObject(
            key=key,
            size=stat.st_size,
            last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
            etag=f"{stat.st_size:x}-{stat.st_mtime_ns:x}",
        )

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        target = self.root / _check_key(prefix.rstrip("/"))
        if target.is_dir():
            shutil.rmtree(target)

    def __repr__(self) -> str:
        return f"LocalLakeStore({str(self.root)!r})"


class S3LakeStore:
    """The lake as ``s3://bucket/prefix``; ``client`` is a boto3 S3 client (from
    ``LakeResource.store()`` in the platform)."""

    etag_is_content = True  # S3's ETag is a digest of the uploaded bytes

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _full(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def put_bytes(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)
        except Exception as exc:  # botocore errors are many; the key is what a user needs
            raise LakeError(f"could not write {self.uri(key)}: {exc}") from exc

    def put_file(self, key: str, path: Path) -> None:
        """Upload a local file (multipart for big ones, by boto3), without reading it whole."""
        try:
            self.client.upload_file(str(path), self.bucket, self._full(key))
        except Exception as exc:
            raise LakeError(f"could not write {self.uri(key)}: {exc}") from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise LakeError(f"no object {self.uri(key)}") from exc
        except Exception as exc:
            raise LakeError(f"could not read {self.uri(key)}: {exc}") from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            return True
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise LakeError(f"could not check {self.uri(key)}: {exc}") from exc

    def list(self, prefix: str) -> list[LakeObject]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        full_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        out: list[LakeObject] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
            for obj in page.get("Contents", []):
                out.append(
                    LakeObject(
                        key=obj["Key"][strip:],
                        size=int(obj["Size"]),
                        last_modified=obj["LastModified"].astimezone(UTC),
                        etag=str(obj.get("ETag", "")).strip('"'),
                    )
                )
        out.sort(key=lambda o: o.key)
        return out

    def info(self, key: str) -> LakeObject | None:
        """One object's identity, as :meth:`list` gives it (a HEAD request)."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise LakeError(f"could not read {self.uri(key)}: {exc}") from exc
        return LakeObject(
            key=key,
            size=int(head["ContentLength"]),
            last_modified=head["LastModified"].astimezone(UTC),
            etag=str(head.get("ETag", "")).strip('"'),
        )

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def delete_prefix(self, prefix: str) -> None:
        for obj in self.list(prefix.rstrip("/") + "/"):
            self.delete(obj.key)

    def __repr__(self) -> str:
        return f"S3LakeStore('s3://{self.bucket}/{self.prefix}')"


def open_lake(url: str, s3_client: Any | None = None) -> LakeStore:
    """A store from a lake URL: a folder path, ``file://`` path or ``s3://bucket/prefix``."""
    if url.startswith("s3://"):
        if s3_client is None:
            raise LakeError(f"lake {url!r} is on S3 but no S3 client was given")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise LakeError(f"lake URL {url!r} names no bucket (expected s3://bucket/prefix)")
        return S3LakeStore(s3_client, bucket, prefix)
    if url.startswith("file://"):
        url = url[len("file://") :]
    return LocalLakeStore(url)


def content_hash(data: bytes) -> str:
    """A content identity that is the same for the same bytes on any store."""
    return hashlib.sha256(data).hexdigest()[:32]


def iter_keys(store: LakeStore, prefix: str, suffix: str = "") -> Iterator[str]:
    for obj in store.list(prefix):
        if obj.key.endswith(suffix):
            yield obj.key
