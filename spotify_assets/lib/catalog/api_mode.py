"""What ``api_mode=auto`` learned about the app, kept in the lake (Dagster-free).

``auto`` tries a multi-id call once and falls back to one call per id when the app is in
development mode. The answer is kept in ``state/spotify_api_mode.json`` so a
development-mode app does not pay a refused batch call every run, and probed again after
:data:`API_MODE_STATE_TTL` (an app can be granted extended quota, or lose it). The file is
written only when a run probed (nothing fresh was known): rewriting a known answer with a
new time would push its re-check back every window, and it would never come.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from spotify_assets.lib.catalog.snapshots import get_json, put_json
from spotify_assets.lib.lake import LakeError, LakeStore

logger = logging.getLogger("spotify_assets.catalog")

API_MODE_STATE_KEY = "state/spotify_api_mode.json"
API_MODE_STATE_TTL = timedelta(days=7)


@dataclass(frozen=True)
class LearnedApiMode:
    batch_ok: bool  # whether multi-id endpoints answered
    learned_at: datetime

    def fresh(self, now: datetime, ttl: timedelta = API_MODE_STATE_TTL) -> bool:
        return now - self.learned_at <= ttl


class ApiModeState:
    """The learned mode of one lake: read before a fetch, recorded after a probe."""

    def __init__(
        self,
        store: LakeStore,
        *,
        key: str = API_MODE_STATE_KEY,
        ttl: timedelta = API_MODE_STATE_TTL,
        log: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.ttl = ttl
        self._log = log or logger

    def load(self) -> LearnedApiMode | None:
        """The stored answer, or None when there is none or it cannot be read (the file is
        a cache: an unreadable one costs one probe, and is rewritten by it)."""
        if not self.store.exists(self.key):
            return None
        try:
            state = get_json(self.store, self.key)
            learned_at = datetime.fromisoformat(state["learned_at"])
            batch_ok = state["batch_ok"]
            if not isinstance(batch_ok, bool):
                raise TypeError(f"batch_ok is {batch_ok!r}, not true or false")
        except (LakeError, KeyError, TypeError, ValueError) as exc:
            self._log.warning(
                f"{self.store.uri(self.key)} is unreadable ({exc}); api_mode=auto probes again"
            )
            return None
        if learned_at.tzinfo is None:
            learned_at = learned_at.replace(tzinfo=UTC)
        return LearnedApiMode(batch_ok=batch_ok, learned_at=learned_at)

    def known(self, api_mode: str, now: datetime | None = None) -> bool | None:
        """What the client may take as known (its ``batch_ok``): the stored answer while it
        is fresh and the mode is ``auto``, else None (a fixed mode needs none; a stale or
        missing answer is probed again)."""
        if api_mode != "auto":
            return None
        learned = self.load()
        if learned is None or not learned.fresh(now or datetime.now(UTC), self.ttl):
            return None
        return learned.batch_ok

    def record(
        self,
        api_mode: str,
        *,
        known: bool | None,
        batch_mode: bool | None,
        confirmed: bool = True,
        batch_refused: bool = False,
        now: datetime | None = None,
    ) -> bool:
        """Keep what this run's probe found; returns whether the file was written.

        Written only in ``auto`` when nothing fresh was ``known`` before the run (so the run
        probed), the client ended with an answer (``batch_mode`` not None) and a call
        ``confirmed`` it (see :class:`~spotify_assets.lib.catalog.entities.ArtistRun`).

        A learned "batch calls work" that the run saw ``batch_refused`` (the app lost its
        extended quota) is forgotten, so the next run probes instead of failing for days."""
        if api_mode != "auto":
            return False
        if known is True and batch_refused:
            self.store.delete(self.key)
            self._log.warning(
                "multi-id calls were refused although api_mode=auto had learned they work: "
                "forgotten, the next run probes again"
            )
            return True
        if known is not None or batch_mode is None or not confirmed:
            return False
        at = now or datetime.now(UTC)
        put_json(self.store, self.key, {"batch_ok": batch_mode, "learned_at": at.isoformat()})
        self._log.info(
            f"api_mode=auto learned: {'batch calls work' if batch_mode else 'development mode'}"
            f" (kept in {self.store.uri(self.key)}, probed again after {self.ttl})"
        )
        return True
