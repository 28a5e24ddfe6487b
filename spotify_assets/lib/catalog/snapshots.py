"""Playlist snapshots in the lake, Dagster-free: where the catalog keeps them in the lake, the
fetch loop of one 8-hour window, and the window's parsed tables.

Layout (``<window>`` is the partition key, ``2026-06-01-08:00``)::

    raw/playlist_snapshots/<window>/<playlist_id>.json     one SnapshotDocument a playlist
    raw/playlist_snapshots/<window>.json                   the window's manifest (asset value)
    processed/playlist_snapshots/<window>/<table>.parquet  the window's parsed tables
    raw/catalog_entities/<window>/artists-<n>.json         artist bodies (:mod:`.entities`)
    state/spotify_api_mode.json                            what api_mode=auto learned
                                                           (:mod:`.api_mode`)

Raw bodies are written as soon as they are fetched, so a run that fails half-way keeps what it
got and its re-run fetches only the rest.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from spotify_assets.lib.catalog.parse import (
    WINDOW_TABLES,
    CatalogAccumulator,
    ParsedPlaylist,
    ParseStats,
    SnapshotDocument,
    embedded_items_page,
    frame,
    parse_snapshot,
)
from spotify_assets.lib.lake import LakeError, LakeStore
from spotify_assets.lib.spotify_client import (
    CallStats,
    PremiumRequired,
    RetryAfterTooLong,
    SpotifyApiError,
    SpotifyCatalogClient,
    TokenError,
)

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

logger = logging.getLogger("spotify_assets.catalog")

SNAPSHOT_PARTITION_FORMAT = "%Y-%m-%d-%H:%M"
SNAPSHOTS_PREFIX = "raw/playlist_snapshots"
PROCESSED_SNAPSHOTS_PREFIX = "processed/playlist_snapshots"
ENTITIES_PREFIX = "raw/catalog_entities"

# Errors after which every further call of the run would fail the same way: the first one
# stops the fetch loop (one message, not one per playlist).
STOP_ERRORS = (RetryAfterTooLong, TokenError, PremiumRequired)


# -- key layout ---------------------------------------------------------------------------


def document_key(partition_key: str, playlist_id: str) -> str:
    return f"{SNAPSHOTS_PREFIX}/{partition_key}/{playlist_id}.json"


def manifest_key(partition_key: str) -> str:
    """Where the lake IO manager keeps the window's manifest (the asset's value)."""
    return f"{SNAPSHOTS_PREFIX}/{partition_key}.json"


def window_table_key(partition_key: str, table: str) -> str:
    return f"{PROCESSED_SNAPSHOTS_PREFIX}/{partition_key}/{table}.parquet"


def window_start(partition_key: str) -> datetime:
    """The UTC start of a window from its partition key; ValueError when it is not one."""
    return datetime.strptime(partition_key, SNAPSHOT_PARTITION_FORMAT).replace(tzinfo=UTC)


# -- JSON and Parquet over a LakeStore ----------------------------------------------------


def dumps_json(obj: Any) -> bytes:
    """Compact JSON; orjson because raw snapshot bodies run to hundreds of MB at scale."""
    return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS)


def put_json(store: LakeStore, key: str, obj: Any) -> None:
    store.put_bytes(key, dumps_json(obj))


def get_json(store: LakeStore, key: str) -> Any:
    try:
        return orjson.loads(store.get_bytes(key))
    except orjson.JSONDecodeError as exc:
        raise LakeError(f"{store.uri(key)} is not valid JSON: {exc}") from exc


def put_frame(store: LakeStore, key: str, df: pd.DataFrame) -> None:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    store.put_bytes(key, buf.getvalue())


def get_frame(store: LakeStore, key: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(store.get_bytes(key)))


# -- the fetch loop of one window -----------------------------------------------------------


@dataclass
class SnapshotRun:
    """What the fetch loop of one window did: the manifest (the asset's value), counts for
    metadata, and the playlists that failed, with why."""

    partition_key: str
    manifest: dict[str, Any]
    playlist_ids: list[str]
    items: int
    stats: CallStats
    parse_stats: ParseStats
    failures: dict[str, str] = field(default_factory=dict)
    stopped_by: SpotifyApiError | None = None  # the error that stopped the loop, if any

    @property
    def not_attempted(self) -> list[str]:
        """Playlists neither kept nor failed: left alone after a stop."""
        done = self.manifest["playlists"].keys() | self.failures.keys()
        return [p for p in self.playlist_ids if p not in done]

    def failure_message(self) -> str | None:
        """What a person needs when the window is incomplete, or None when it is complete."""
        if not self.failures:
            return None
        kept = len(self.manifest["playlists"])
        lines = [
            f"{len(self.failures)} of {len(self.playlist_ids)} playlists could not be "
            f"snapshotted for window {self.partition_key}; the {kept} fetched are kept in the "
            "lake and a re-run fetches only the rest."
        ]
        stop = None
        if self.stopped_by is not None:
            stop = str(self.stopped_by)
            left = len(self.not_attempted)
            lines.append(
                "Stopped at the first error that every further call would meet too"
                + (f" ({left} playlists not attempted)" if left else "")
                + f": {stop}"
            )
        lines += [
            f"- {pid}: {'stopped here' if why == stop else why}"
            for pid, why in self.failures.items()
        ]
        return "\n".join(lines)


def fetch_snapshot(
    store: LakeStore,
    client: SpotifyCatalogClient,
    playlist_ids: Sequence[str],
    *,
    partition_key: str,
    snapshot_time: datetime,
    source: str,
    concurrency: int = 4,
    refetch: bool = False,
    log: logging.Logger | None = None,
) -> SnapshotRun:
    """Fetch every playlist of a window into the lake and parse the window's tables once.

    A playlist whose document the window already holds is reused (unless ``refetch``), so a
    re-run fetches only what is missing. Playlists are fetched concurrently (the live API is
    latency-bound), except the first, which goes alone: a dead token or an owner without
    Premium then costs one call and one message. A ``Retry-After`` beyond the maximum wait,
    a token error or a Premium 403 stops the loop; other errors fail only their playlist.
    """
    playlist_ids = list(playlist_ids)
    loop = _FetchLoop(
        store,
        client,
        playlist_ids,
        partition_key=partition_key,
        snapshot_time=snapshot_time,
        refetch=refetch,
        log=log or logger,
    )
    loop.run(concurrency)
    acc = _write_window_tables(store, partition_key, playlist_ids, loop.parsed)
    calls = dict(sorted(client.stats.calls.items()))
    manifest = {
        "snapshot_time": snapshot_time.isoformat(),
        "source": source,
        # In the configured order, whatever order they finished in.
        "playlists": {pid: loop.entries[pid] for pid in playlist_ids if pid in loop.entries},
        "api_calls": calls,
    }
    return SnapshotRun(
        partition_key=partition_key,
        manifest=manifest,
        playlist_ids=playlist_ids,
        items=loop.items_total,
        stats=client.stats,
        parse_stats=acc.stats,
        failures={p: loop.failures[p] for p in playlist_ids if p in loop.failures},
        stopped_by=loop.stopped_by[0] if loop.stopped_by else None,
    )


class _FetchLoop:
    """The fetch loop of one window and what it gathered: :meth:`fetch` runs in worker
    threads, :meth:`collect` in the caller's, which alone updates the results."""

    def __init__(
        self,
        store: LakeStore,
        client: SpotifyCatalogClient,
        playlist_ids: list[str],
        *,
        partition_key: str,
        snapshot_time: datetime,
        refetch: bool,
        log: logging.Logger,
    ):
        self.store, self.client, self.playlist_ids = store, client, playlist_ids
        self.partition_key, self.snapshot_time = partition_key, snapshot_time
        self.refetch, self.log = refetch, log
        self.started = time.perf_counter()
        self.stop = threading.Event()
        self.stopped_by: list[SpotifyApiError] = []
        self.parsed: dict[str, ParsedPlaylist] = {}  # parsed once, as fetched
        self.entries: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, str] = {}
        self.items_total = 0

    def run(self, concurrency: int) -> None:
        """Fetch every playlist: the first to fetch alone, the rest concurrently."""
        store, partition_key, refetch = self.store, self.partition_key, self.refetch
        playlist_ids = self.playlist_ids
        # Reused documents cost no call: the first playlist to fetch is the one that goes alone.
        to_fetch = [
            p for p in playlist_ids if refetch or not store.exists(document_key(partition_key, p))
        ]
        first = to_fetch[:1]
        n = 0
        for pid in first:
            n += 1
            self.collect(pid, lambda pid=pid: self.fetch(pid), n)
        rest = [p for p in playlist_ids if p not in first]
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = {pool.submit(self.fetch, pid): pid for pid in rest}
            for future in as_completed(futures):
                n += 1
                self.collect(futures[future], future.result, n)

    def fetch(self, playlist_id: str) -> dict[str, Any] | None:
        """Fetch one playlist and write its document; None when skipped after a stop."""
        store, client = self.store, self.client
        key = document_key(self.partition_key, playlist_id)
        if not self.refetch and store.exists(key):
            doc = SnapshotDocument.from_json(get_json(store, key))
            items = sum(len(p.get("items") or []) for p in doc.pages())
            entry = {"key": key, "items": items, "pages": 1 + len(doc.item_pages)}
            return {**entry, "reused": True, "parsed": parse_snapshot(doc)}
        if self.stop.is_set():
            return None
        try:
            body = client.playlist(playlist_id)
            first = embedded_items_page(body)
            pages = list(client.playlist_item_pages(playlist_id, first))
        except STOP_ERRORS:
            self.stop.set()  # set here, in the worker, so no further call starts
            raise
        # Without an embedded first page (a metadata-only body) every page was fetched.
        doc = SnapshotDocument(
            playlist_id=playlist_id,
            snapshot_time=self.snapshot_time,
            fetched_at=datetime.now(UTC),
            playlist=body,
            item_pages=pages[1:] if first is not None else pages,
        )
        put_json(store, key, doc.to_json())
        items = sum(len(p.get("items") or []) for p in doc.pages())
        entry = {"key": key, "items": items, "pages": len(pages), "reused": False}
        return {**entry, "parsed": parse_snapshot(doc)}

    def collect(self, playlist_id: str, run: Any, n: int) -> None:
        """Keep the result of ``run`` (a fetch) for the ``n``-th playlist, or its failure."""
        log = self.log
        try:
            entry = run()
        except STOP_ERRORS as exc:
            self.failures[playlist_id] = str(exc)
            if not self.stopped_by:  # said once, however many calls were in flight
                self.stopped_by.append(exc)
                log.error(f"Stopping, every further call would be refused: {exc}")
            return
        except SpotifyApiError as exc:
            self.failures[playlist_id] = str(exc)
            log.error(f"playlist {playlist_id}: {exc}")
            return
        if entry is None:
            return
        self.parsed[playlist_id] = entry.pop("parsed")
        self.entries[playlist_id] = entry
        self.items_total += entry["items"]
        if n % 50 == 0 or n == len(self.playlist_ids):
            log.info(
                f"{n}/{len(self.playlist_ids)} playlists, {self.items_total} items, "
                f"{self.client.stats.total_calls} API calls, "
                f"{time.perf_counter() - self.started:.1f} s"
            )


def _write_window_tables(
    store: LakeStore,
    partition_key: str,
    playlist_ids: list[str],
    parsed: dict[str, ParsedPlaylist],
) -> CatalogAccumulator:
    """The window's tables, for the core assets: the raw bodies are read and parsed once, and
    fed in the configured order (the latest fed wins), as window_tables does from the lake."""
    acc = CatalogAccumulator()
    for pid in playlist_ids:
        if pid in parsed:
            acc.add(parsed.pop(pid))
    for table, df in acc.frames().items():
        put_frame(store, window_table_key(partition_key, table), df)
    return acc


# -- reading windows back ---------------------------------------------------------------------


def snapshot_documents(store: LakeStore, manifest: dict[str, Any]) -> Iterator[SnapshotDocument]:
    for entry in manifest["playlists"].values():
        yield SnapshotDocument.from_json(get_json(store, entry["key"]))


def window_tables(
    store: LakeStore, partition_key: str, manifest: dict[str, Any]
) -> dict[str, pd.DataFrame]:
    """A window's parsed tables from the processed area; parsed again from the raw bodies
    (and stored) when missing, so the raw area stays the source of truth."""
    keys = {t: window_table_key(partition_key, t) for t in WINDOW_TABLES}
    if all(store.exists(k) for k in keys.values()):
        return {t: frame(t, get_frame(store, k)) for t, k in keys.items()}
    acc = CatalogAccumulator()
    for doc in snapshot_documents(store, manifest):
        acc.add(parse_snapshot(doc))
    tables = acc.frames()
    for table, df in tables.items():
        put_frame(store, keys[table], df)
    return tables


def completed_snapshots(store: LakeStore) -> list[tuple[str, dict[str, Any]]]:
    """Manifests (partition key, manifest) of the windows whose snapshot completed, oldest
    first: a window has a manifest only once its asset succeeded."""
    out = []
    for obj in store.list(f"{SNAPSHOTS_PREFIX}/"):
        rest = obj.key[len(SNAPSHOTS_PREFIX) + 1 :]
        if "/" in rest or not rest.endswith(".json"):
            continue
        partition_key = rest[: -len(".json")]
        try:
            window_start(partition_key)
        except ValueError:
            continue
        out.append((partition_key, get_json(store, obj.key)))
    out.sort(key=lambda kv: kv[0])
    return out
