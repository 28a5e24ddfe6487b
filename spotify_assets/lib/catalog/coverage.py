"""What the coverage checks of the catalog verify (Dagster-free): a snapshot window is complete
(every configured playlist, every item its body announces) and the window's referenced artists
have bodies. Each function returns the problems found (empty when all is well), each naming the
playlist or artist, so a failed check says what to fix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from spotify_assets.lib.catalog.entities import plan_artists, referenced_artists
from spotify_assets.lib.catalog.parse import SnapshotDocument, embedded_items_page
from spotify_assets.lib.catalog.snapshots import document_key, get_json, window_tables
from spotify_assets.lib.lake import LakeError, LakeStore


def playlist_total(playlist: Mapping[str, Any]) -> int | None:
    """The item count the API announced for a playlist body (``items.total``, or
    ``tracks.total`` in older bodies)."""
    first = embedded_items_page(dict(playlist))
    for page in (first, playlist.get("items"), playlist.get("tracks")):
        if isinstance(page, Mapping) and isinstance(page.get("total"), int):
            return int(page["total"])
    return None


def snapshot_problems(
    store: LakeStore, partition_key: str, manifest: Mapping[str, Any], expected: Iterable[str]
) -> list[str]:
    """Every configured playlist is in the window, and each has as many items as its body's
    ``total`` (a short count means a page was lost)."""
    problems: list[str] = []
    fetched = manifest.get("playlists") or {}
    for playlist_id in expected:
        if playlist_id not in fetched:
            problems.append(f"{playlist_id}: not fetched in window {partition_key}")
            continue
        key = (fetched[playlist_id] or {}).get("key") or document_key(partition_key, playlist_id)
        try:
            doc = SnapshotDocument.from_json(get_json(store, key))
        except (LakeError, ValueError) as exc:
            problems.append(f"{playlist_id}: {store.uri(key)} cannot be read ({exc})")
            continue
        items = sum(len(page.get("items") or []) for page in doc.pages())
        total = playlist_total(doc.playlist)
        if total is None:
            problems.append(f"{playlist_id}: the body announces no item total")
        elif items != total:
            problems.append(f"{playlist_id}: {items} items kept, the API announced {total}")
    return problems


def missing_artist_bodies(
    store: LakeStore, partition_key: str, manifest: Mapping[str, Any], refresh_hours: float
) -> list[str]:
    """Artists the window's tables reference that have no body fetched within the refresh
    window (so core.artists lacks them)."""
    tables = window_tables(store, partition_key, dict(manifest))
    plan = plan_artists(store, partition_key, referenced_artists(tables), refresh_hours)
    return plan.missing
