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
import stat as stat_module
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

#: Bytes a streamed copy moves at a time.
_CHUNK = 8 * 2**20

#: What a lake object is: a regular file (or an S3 object), or, in a local folder, a symbolic
#: link or a special file (a FIFO, a device, a socket), which are listed but never read.
REGULAR, LINK, SPECIAL = "file", "link", "special"


@dataclass(frozen=True)
class LakeObject:
    """One object in the lake, with what a sensor needs to tell new content from old."""

    key: str
    size: int
    last_modified: datetime
    etag: str
    kind: str = REGULAR


class LakeError(RuntimeError):
    """A lake read or write that failed; the message names the key and the lake."""


class LakeStore(Protocol):
    """Bytes by key, with listing; keys always use ``/`` and never start with one."""

    etag_is_content: bool

    def uri(self, key: str) -> str: ...
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def get_head(self, key: str, size: int) -> bytes: ...
    def get_file(self, key: str, path: Path) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[LakeObject]: ...
    def info(self, key: str) -> LakeObject | None: ...
    def delete(self, key: str) -> None: ...


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/"):
        raise LakeError(f"invalid lake key {key!r}: keys are relative, '/'-separated, no '..'")
    return key


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Files the lake writes are readable as the user's umask says (0644 with the usual 022), as a
#: plain ``open`` would make them: a web server or BI service running as another user must be
#: able to serve the dashboard and the exports (``mkstemp`` alone makes them 0600).
_FILE_MODE = 0o666 & ~_umask()


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file, never following a symbolic link and never blocking on a
    FIFO or a device (a link to ``/dev/zero`` would grow memory until the process dies, a FIFO
    would hang the run)."""
    with _open_regular(path) as handle:
        return handle.read()


def _open_regular(path: Path) -> BinaryIO:
    """A regular file opened for reading, with :func:`_read_regular`'s guarantees."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if path.is_symlink():
            raise LakeError(f"{path} is a symbolic link: links are not followed") from exc
        raise
    handle = os.fdopen(fd, "rb")
    mode = os.fstat(fd).st_mode
    if not stat_module.S_ISREG(mode):
        handle.close()
        raise LakeError(f"{path} is not a regular file ({_kind_name(mode)}): not read")
    return handle


def _kind_name(mode: int) -> str:
    for test, name in (
        (stat_module.S_ISFIFO, "a FIFO"),
        (stat_module.S_ISCHR, "a character device"),
        (stat_module.S_ISBLK, "a block device"),
        (stat_module.S_ISSOCK, "a socket"),
        (stat_module.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


class LocalLakeStore:
    """The lake as a folder. Writes are atomic (temp file + rename) so a reader never sees
    half a file, even when a run is killed mid-write; written files get the permissions of the
    user's umask. Only regular files are read: links and special files are listed with their
    kind and never followed or opened."""

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
            os.chmod(tmp, _FILE_MODE)
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
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_bytes(self, key: str) -> bytes:
        try:
            return _read_regular(self.path(key))
        except FileNotFoundError as exc:
            raise LakeError(f"no object {key!r} in the lake at {self.root}") from exc

    def open(self, key: str) -> BinaryIO:
        """The object as a file to read as it streams (a regular file only: links and special
        files are refused as :meth:`get_bytes` refuses them)."""
        try:
            return _open_regular(self.path(key))
        except FileNotFoundError as exc:
            raise LakeError(f"no object {key!r} in the lake at {self.root}") from exc

    def get_head(self, key: str, size: int) -> bytes:
        """The first ``size`` bytes of an object (fewer if it is shorter)."""
        with self.open(key) as handle:
            return handle.read(size)

    def get_file(self, key: str, path: Path) -> None:
        """Copy an object to a local file, a chunk at a time (never whole in memory)."""
        with self.open(key) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)

    def exists(self, key: str) -> bool:
        path = self.path(key)
        return path.is_file() and not path.is_symlink()

    def list(self, prefix: str) -> list[LakeObject]:
        """Every object below ``prefix``, by key: regular files, and symbolic links (to files
        or folders, never followed) and special files with their ``kind``."""
        base = self.root / prefix if prefix else self.root
        # A prefix is either a folder or the start of file names inside its parent folder.
        folder = base if base.is_dir() else base.parent
        if not folder.is_dir() or folder.is_symlink():
            return []
        out: list[LakeObject] = []
        root = str(self.root) + os.sep
        todo = [str(folder)]
        while todo:
            try:
                entries = list(os.scandir(todo.pop()))
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    todo.append(entry.path)
                    continue
                name = entry.name
                if name.startswith(".") and name.endswith(".tmp"):
                    continue  # a write of this lake in progress
                key = entry.path[len(root) :].replace(os.sep, "/")
                if not key.startswith(prefix):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while listing
                out.append(_local_object(key, st))
        out.sort(key=lambda o: o.key)
        return out

    def folders_fingerprint(self, prefix: str) -> str | None:
        """A digest of the modification times of the folders below ``prefix`` (``prefix``
        a folder): a file created, renamed in or deleted changes its folder's. One ``stat`` per
        folder, against one per file for :meth:`list` (25,000 chart files in one folder: 0.011
        CPU s against 0.4). A file rewritten in place under its name is not seen: callers list
        again now and then."""
        folder = self.root / prefix
        if not folder.is_dir() or folder.is_symlink():
            return None
        h = hashlib.sha256()
        todo = [str(folder)]
        while todo:
            path = todo.pop()
            try:
                h.update(f"{path}\0{os.stat(path).st_mtime_ns}\n".encode())
                with os.scandir(path) as entries:
                    todo.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                h.update(f"{path}\0-\n".encode())
        return h.hexdigest()[:32]

    def info(self, key: str) -> LakeObject | None:
        """One object's identity, as :meth:`list` gives it, without listing its folder."""
        try:
            st = self.path(key).lstat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _local_object(key, st)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        target = self.root / _check_key(prefix.rstrip("/"))
        if target.is_dir():
            shutil.rmtree(target)

    def __repr__(self) -> str:
        return f"LocalLakeStore({str(self.root)!r})"


def _local_object(key: str, st: os.stat_result) -> LakeObject:
    if stat_module.S_ISLNK(st.st_mode):
        kind = LINK
    elif stat_module.S_ISREG(st.st_mode):
        kind = REGULAR
    else:
        kind = SPECIAL
    return LakeObject(
        key=key,
        size=st.st_size if kind == REGULAR else 0,
        last_modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
        # A cheap identity for unchanged files; content hashing is the caller's choice (see
        # content_hash) because it reads the file.
        etag=f"{st.st_size:x}-{st.st_mtime_ns:x}",
        kind=kind,
    )


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

    def get_head(self, key: str, size: int) -> bytes:
        """The first ``size`` bytes of an object (a ranged GET; fewer if it is shorter)."""
        try:
            return self.client.get_object(
                Bucket=self.bucket, Key=self._full(key), Range=f"bytes=0-{max(size, 1) - 1}"
            )["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise LakeError(f"no object {self.uri(key)}") from exc
        except Exception as exc:
            raise LakeError(f"could not read {self.uri(key)}: {exc}") from exc

    def get_file(self, key: str, path: Path) -> None:
        """Download an object to a local file, a chunk at a time (never whole in memory)."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"]
            with open(path, "wb") as dst:
                for chunk in body.iter_chunks(_CHUNK):
                    dst.write(chunk)
        except self.client.exceptions.NoSuchKey as exc:
            raise LakeError(f"no object {self.uri(key)}") from exc
        except OSError:
            raise
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
