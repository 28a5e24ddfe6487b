"""Artist bodies in the lake, Dagster-free: which artists a window needs, which were fetched
recently enough, and the fetch that writes what it gets in batches as it goes.

``raw/catalog_entities/<window>/artists-<n>.json`` holds ``{"fetched_at", "endpoint",
"artists": [...]}``: up to 500 bodies per object, numbered on from the window's existing ones,
so a re-run of a window that stopped half-way adds to what it kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.catalog.parse import utc_naive
from spotify_assets.lib.catalog.snapshots import (
    ENTITIES_PREFIX,
    get_json,
    put_json,
    window_start,
)
from spotify_assets.lib.lake import LakeStore
from spotify_assets.lib.spotify_client import (
    CallStats,
    PremiumRequired,
    SpotifyApiError,
    SpotifyCatalogClient,
)

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

logger = logging.getLogger("spotify_assets.catalog")

ARTISTS_PER_OBJECT = 500  # bodies per lake object: a failure loses at most this many calls


def artist_batch_key(partition_key: str, batch_no: int) -> str:
    return f"{ENTITIES_PREFIX}/{partition_key}/artists-{batch_no:05d}.json"


def artist_batches(
    store: LakeStore, since: datetime | None = None, until: datetime | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Stored artist batches (key, doc) of the windows in [since, until], oldest first."""
    for obj in store.list(f"{ENTITIES_PREFIX}/"):
        parts = obj.key[len(ENTITIES_PREFIX) + 1 :].split("/")
        if len(parts) != 2 or not parts[1].startswith("artists-"):
            continue
        try:
            start = window_start(parts[0])
        except ValueError:
            continue
        if (since is None or start >= since) and (until is None or start <= until):
            yield obj.key, get_json(store, obj.key)


def artist_bodies(store: LakeStore) -> Iterator[tuple[dict[str, Any], datetime | None]]:
    """Every stored artist body with its fetch time, oldest batch first (latest wins)."""
    for _key, batch in artist_batches(store):
        fetched_at = utc_naive(batch.get("fetched_at"))
        for body in batch.get("artists") or []:
            yield body, fetched_at


def referenced_artists(tables: dict[str, pd.DataFrame]) -> set[str]:
    """Artists a window's tables point to: credited on a track, or an album's primary."""
    return set(tables["track_artists"]["artist_id"].dropna()) | set(
        tables["albums"]["primary_artist_id"].dropna()
    )


@dataclass
class ArtistPlan:
    """What a window needs: referenced artists, those fetched within the refresh window
    before it, and how many batches the window already holds (numbering goes on)."""

    partition_key: str
    referenced: set[str]
    cached: set[str]
    existing_batches: int

    @property
    def missing(self) -> list[str]:
        return sorted(self.referenced - self.cached)


def plan_artists(
    store: LakeStore, partition_key: str, referenced: Iterable[str], refresh_hours: float
) -> ArtistPlan:
    """An artist fetched in a window after ``start - refresh_hours`` (up to this window,
    this one included) is not fetched again."""
    start = window_start(partition_key)
    since = start - timedelta(hours=refresh_hours) + timedelta(seconds=1)
    cached: set[str] = set()
    existing = 0
    for key, batch in artist_batches(store, since=since, until=start):
        cached.update(a["id"] for a in batch.get("artists") or [] if a and a.get("id"))
        if key.startswith(f"{ENTITIES_PREFIX}/{partition_key}/"):
            existing += 1
    return ArtistPlan(partition_key, set(referenced), cached, existing)


@dataclass
class ArtistRun:
    """What the artist fetch of one window did."""

    plan: ArtistPlan
    fetched: int
    keys: list[str]
    stats: CallStats
    batch_mode: bool | None
    failure: SpotifyApiError | None = None
    # Whether a call answered in the mode the client ended in: what api_mode=auto may keep.
    mode_confirmed: bool = False

    @property
    def batch_refused(self) -> bool:
        """A multi-id call refused for the app (not the owner's missing Premium)."""
        return (
            self.batch_mode is True
            and self.failure is not None
            and self.failure.status in (403, 404)
            and not isinstance(self.failure, PremiumRequired)
        )

    def failure_message(self) -> str | None:
        if self.failure is None:
            return None
        return (
            f"Fetching artists for window {self.plan.partition_key} stopped after "
            f"{self.fetched} of {len(self.plan.missing)}; those are kept and a re-run fetches "
            f"only the rest: {self.failure}"
        )


def fetch_artists(
    store: LakeStore,
    client: SpotifyCatalogClient,
    plan: ArtistPlan,
    *,
    log: logging.Logger | None = None,
) -> ArtistRun:
    """Fetch the plan's missing artists (50 per call, or one per call in development mode)
    and write them to the lake every 500 bodies, and whatever was fetched when a call fails.

    With one call per id the first id goes alone, before the bounded-concurrency rest: a dead
    token then costs one call, not one per call in flight. An error stops the fetch and is
    returned in the run, not raised, so the caller reports what was kept.
    """
    log = log or logger
    missing = plan.missing
    started = time.perf_counter()
    batch_no = plan.existing_batches
    keys: list[str] = []
    pending: list[dict[str, Any]] = []
    fetched = 0
    failure: SpotifyApiError | None = None

    def flush() -> None:
        nonlocal pending, batch_no
        if not pending:
            return
        batch_no += 1
        key = artist_batch_key(plan.partition_key, batch_no)
        put_json(
            store,
            key,
            {
                "fetched_at": datetime.now(UTC).isoformat(),
                "endpoint": "GET /artists" if client.batch_mode else "GET /artists/{id}",
                "artists": pending,
            },
        )
        keys.append(key)
        pending = []

    def calls() -> Iterator[list[dict[str, Any]]]:
        if client.batch_mode is False and len(missing) > 1:
            yield from client.artists(missing[:1])
            yield from client.artists(missing[1:])
        else:
            yield from client.artists(missing)

    answered = 0  # calls that answered
    try:
        for got in calls():
            answered += 1
            pending.extend(got)
            fetched += len(got)
            if len(pending) >= ARTISTS_PER_OBJECT:
                flush()
                log.info(
                    f"{fetched}/{len(missing)} artists, {client.stats.total_calls} calls, "
                    f"{time.perf_counter() - started:.1f} s"
                )
    except SpotifyApiError as exc:
        failure = exc
    finally:
        flush()  # keep what was fetched
    # The mode the client ended in is confirmed when a call answered in it (a batch, or a
    # single call after the fallback: the batch probe yields nothing when refused) or nothing
    # failed. A fallback whose single calls were refused too was no development-mode answer,
    # and must not be remembered as one.
    confirmed = failure is None or answered > 0
    return ArtistRun(
        plan=plan,
        fetched=fetched,
        keys=keys,
        stats=client.stats,
        batch_mode=client.batch_mode,
        failure=failure,
        mode_confirmed=confirmed,
    )
