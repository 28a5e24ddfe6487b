"""What reading a snapshot takes (its data files, schema and DuckDB types), kept by the
table's metadata file, which never changes once written: in the process (a run's steps read
mostly the same unchanged tables) and on the machine's disk (every run worker is a new
process; over S3, planning 47 tables took about 3 s a session, a kept session 0.2 s).

The disk copies live in the system's temporary folder, one small JSON file each, written
atomically; files older than :data:`KEEP_DAYS` go.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from spotify_assets.lib.lakehouse.tables import SnapshotView

CACHE_DIR = Path(tempfile.gettempdir()) / "spotify_assets-lakehouse-views"
KEPT_IN_MEMORY = 512
KEEP_DAYS = 7
_MEMORY: OrderedDict[str, SnapshotView] = OrderedDict()
_written = 0


def cached_view(location: str | None, load: Callable[[], tuple[str, SnapshotView]]) -> SnapshotView:
    """The view kept for metadata file ``location``, else ``load()`` (which returns the
    table's metadata file and its view), kept."""
    if location is not None:
        if location in _MEMORY:
            _MEMORY.move_to_end(location)
            return _MEMORY[location]
        view = _read(location)
        if view is not None:
            _remember(location, view)
            return view
    location, view = load()
    _remember(location, view)
    _write(location, view)
    return view


def _remember(location: str, view: SnapshotView) -> None:
    _MEMORY[location] = view
    while len(_MEMORY) > KEPT_IN_MEMORY:
        _MEMORY.popitem(last=False)


def _path(location: str) -> Path:
    return CACHE_DIR / f"{hashlib.sha256(location.encode()).hexdigest()}.json"


def _read(location: str) -> SnapshotView | None:
    import pyarrow as pa

    try:
        doc = json.loads(_path(location).read_text())
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(doc["schema"])))
    except (OSError, ValueError, KeyError, pa.ArrowInvalid):
        return None
    if doc.get("location") != location:
        return None
    return SnapshotView(
        doc["name"], doc["snapshot_id"], tuple(doc["files"]), schema, dict(doc["types"])
    )


def _write(location: str, view: SnapshotView) -> None:
    global _written
    doc = {
        "location": location,
        "name": view.name,
        "snapshot_id": view.snapshot_id,
        "files": list(view.files),
        "types": view.types,
        "schema": base64.b64encode(view.schema.serialize().to_pybytes()).decode(),
    }
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        path = _path(location)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)
    except OSError:
        return  # a cache: reading the metadata again is always possible
    _written += 1
    if _written % 100 == 1:
        _prune()


def _prune() -> None:
    cutoff = time.time() - KEEP_DAYS * 86_400
    for path in CACHE_DIR.glob("*.json"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue
