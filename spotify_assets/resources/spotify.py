"""The Spotify Web API as a Dagster resource: the real API (``source=live``) or the embedded
sample world served by the local fake API (``source=sample``), behind the same client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from typing import Literal

import dagster as dg
from pydantic import Field

from spotify_assets.lib.spotify_client import (
    ClientSettings,
    SpotifyApiError,
    SpotifyCatalogClient,
    build_spotipy,
)

SAMPLE_CLIENT_ID = "sample-client"
SAMPLE_CLIENT_SECRET = "sample-secret"  # the fake API accepts any; not a secret
SAMPLE_REFRESH_TOKEN = "sample-refresh-token"


class LiveWindowError(SpotifyApiError):
    """A snapshot window that the live API cannot answer for."""


class SpotifyResource(dg.ConfigurableResource):
    """Spotify Web API access for catalog snapshots.

    ``source=sample`` starts the local fake Spotify API in-process over the sample world and
    points spotipy at it, so the same ingestion code (spotipy included) runs offline; the fake
    API answers as of the snapshot window, so backfills of past windows work. ``source=live``
    talks to api.spotify.com with ``SPOTIPY_CLIENT_ID``/``SPOTIPY_CLIENT_SECRET`` and, for
    playlist items and recently-played, ``SPOTIFY_REFRESH_TOKEN`` (a user token of the
    playlists' owner); it knows only the present.
    """

    source: Literal["sample", "live"] = Field(
        default="sample", description="sample (embedded world, offline) or live (Spotify)"
    )
    api_mode: Literal["extended", "development", "auto"] = Field(
        default="auto",
        description="extended: multi-id endpoints; development: one id per call, no "
        "popularity/followers; auto: try a batch once and fall back on 403/404",
    )
    client_id: str | None = Field(default=None, description="SPOTIPY_CLIENT_ID (live)")
    client_secret: str | None = Field(default=None, description="SPOTIPY_CLIENT_SECRET (live)")
    refresh_token: str | None = Field(
        default=None, description="SPOTIFY_REFRESH_TOKEN: user token for owned playlists"
    )
    user_refresh_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="Users whose recently-played is polled: user id -> refresh token (live: "
        "SPOTIFY_REFRESH_TOKEN_<USER>, one per authorized user; sample: empty = every sample "
        "listener, with the fake API's per-user tokens)",
    )
    playlist_ids: list[str] = Field(
        default_factory=list,
        description="Playlists to snapshot; empty in sample mode = the sample curator's",
    )
    market: str = "US"
    timeout_s: float = Field(default=10.0, description="Timeout of every HTTP call")
    max_retries: int = 5
    backoff_s: float = 0.5
    max_retry_wait_s: float = Field(
        default=60.0, description="Longest Retry-After honoured; longer fails the run"
    )
    max_consecutive_failures: int = Field(
        default=10,
        description="SPOTIFY_MAX_CONSECUTIVE_FAILURES: after this many 5xx answers, timeouts or "
        "broken connections in a row the client stops calling for unavailable_pause_s and the "
        "run ends, keeping what it fetched",
    )
    unavailable_pause_s: float = Field(
        default=300.0, description="SPOTIFY_UNAVAILABLE_PAUSE_S: how long calls stop then"
    )
    concurrency: int = Field(
        default=4,
        description="Calls in flight at once: playlists fetched in parallel, and artists one "
        "per call in development mode",
    )
    entity_refresh_hours: int = Field(
        default=168,
        description="An artist fetched within this many hours before a window is not fetched "
        "again for it",
    )
    lookup_max_calls: int = Field(
        default=2000, description="Most API calls one run of raw/catalog_lookups makes"
    )
    lookup_max_seconds: float = Field(
        default=300.0, description="A run of raw/catalog_lookups starts no call after this"
    )
    lookup_refresh_hours: int = Field(
        default=2160,
        description="A looked-up track or artist (or one Spotify did not know) is not asked "
        "again for this many hours",
    )
    allow_model_training: bool = Field(
        default=False,
        description="SPOTIFY_ML_ALLOW_LIVE_TRAINING: let the popularity model train on live API "
        "content (Spotify's developer terms forbid it; the sample world is always allowed)",
    )
    sample_scale: str = "demo"
    sample_seed: int = 42
    sample_app_mode: Literal["extended", "development"] = Field(
        default="extended",
        description="How the fake API behaves: an extended-quota or a development-mode app",
    )
    sample_server_url: str | None = Field(
        default=None,
        description="Use an already running fake API (tests) instead of starting one",
    )

    def training_allowed(self) -> bool:
        """Whether models may learn from this source's content (see ``allow_model_training``)."""
        return self.source == "sample" or self.allow_model_training

    def client_settings(self) -> ClientSettings:
        """The client's knobs, each from the resource field of the same name."""
        return ClientSettings(**{f.name: getattr(self, f.name) for f in fields(ClientSettings)})

    def check_window(self, start: datetime, end: datetime, now: datetime | None = None) -> None:
        """The live API only knows the present: a window that is over (or not begun) cannot
        be snapshotted. The sample world answers as of any window."""
        if self.source != "live":
            return
        now = now or datetime.now(UTC)
        if now >= end:
            raise LiveWindowError(
                "GET /playlists/{id}",
                f"the snapshot window {start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC is over and the "
                "live Spotify API only answers for the present",
                hint="materialize the current window (the schedule does), or backfill past "
                "windows with SPOTIFY_SOURCE=sample",
            )
        if now < start:
            raise LiveWindowError(
                "GET /playlists/{id}",
                f"the snapshot window starting {start:%Y-%m-%d %H:%M} UTC has not begun",
                hint="wait for the window, or materialize the current one",
            )

    def sample_world(self):  # -> SampleWorld (import kept lazy: live mode never builds it)
        from spotify_assets.lib.sample.world import build_world

        return build_world(self.sample_scale, seed=self.sample_seed)

    def snapshot_playlist_ids(self) -> list[str]:
        if self.playlist_ids:
            return list(dict.fromkeys(self.playlist_ids))
        if self.source == "live":
            raise SpotifyApiError(
                "GET /playlists/{id}",
                "no playlists configured",
                hint="set SPOTIFY_PLAYLIST_IDS to a comma-separated list of playlist ids",
            )
        from spotify_assets.lib.sample.world import APP_USER_ID

        playlists = self.sample_world().playlists
        return playlists.loc[playlists["owner_id"] == APP_USER_ID, "playlist_id"].tolist()

    def polled_users(self) -> list[str]:
        """The users whose recently-played is polled, sorted."""
        if self.user_refresh_tokens or self.source == "live":
            return sorted(self.user_refresh_tokens)
        return sorted(self.sample_world().users["user_id"].tolist())

    @contextmanager
    def user_clients(
        self,
        users: list[str] | None = None,
        *,
        as_of: datetime | None = None,
        log: logging.Logger | None = None,
    ) -> Iterator[dict[str, SpotifyCatalogClient]]:
        """One client per user, each with that user's refresh token (in sample mode one fake
        API serves them all). Building a client makes no call: a dead token shows up on the
        user's first call, so one user's token never stops the others'."""
        users = self.polled_users() if users is None else users
        settings = self.client_settings()
        if self.source == "live":
            missing = [u for u in users if u not in self.user_refresh_tokens]
            if missing:
                raise SpotifyApiError(
                    "POST /api/token",
                    f"no refresh token for {', '.join(missing)}",
                    hint="run `python -m spotify_assets.auth <user>` and set the variable it "
                    "prints",
                )
            yield {
                u: SpotifyCatalogClient(
                    build_spotipy(
                        client_id=self.client_id or "",
                        client_secret=self.client_secret or "",
                        refresh_token=self.user_refresh_tokens[u],
                        timeout_s=self.timeout_s,
                    ),
                    settings,
                    log=log,
                )
                for u in users
            }
            return
        with self._sample_server() as (url, headers):
            from spotify_assets.lib.sample.fake_api import FakeSpotifyServer

            yield {
                u: SpotifyCatalogClient(
                    self._sample_spotipy(
                        url,
                        {**headers, **_as_of_header(as_of)},
                        self.user_refresh_tokens.get(u) or FakeSpotifyServer.refresh_token_for(u),
                    ),
                    settings,
                    log=log,
                )
                for u in users
            }

    @contextmanager
    def _sample_server(self) -> Iterator[tuple[str, dict[str, str]]]:
        """The fake API's URL for the duration of the block (started here unless
        ``sample_server_url`` points at a running one)."""
        server = None
        url = self.sample_server_url
        if url is None:
            from spotify_assets.lib.sample.fake_api import FakeSpotifyServer

            server = FakeSpotifyServer(self.sample_world(), mode=self.sample_app_mode).start()
            url = server.url
        try:
            yield url, {}
        finally:
            if server is not None:
                server.stop()

    def _sample_spotipy(self, url: str, headers: dict[str, str], refresh_token: str):
        return build_spotipy(
            client_id=SAMPLE_CLIENT_ID,
            client_secret=SAMPLE_CLIENT_SECRET,
            refresh_token=refresh_token,
            timeout_s=self.timeout_s,
            api_prefix=url.rstrip("/") + "/v1/",
            token_url=url.rstrip("/") + "/api/token",
            headers=headers,
        )

    @contextmanager
    def client(
        self,
        *,
        as_of: datetime | None = None,
        log: logging.Logger | None = None,
        batch_ok: bool | None = None,
    ) -> Iterator[SpotifyCatalogClient]:
        """A ready client. In sample mode the fake API runs for the duration of the block
        and answers as of ``as_of``."""
        settings = self.client_settings()
        if self.source == "live":
            sp = build_spotipy(
                client_id=self.client_id or "",
                client_secret=self.client_secret or "",
                refresh_token=self.refresh_token,
                timeout_s=self.timeout_s,
            )
            yield SpotifyCatalogClient(sp, settings, log=log, batch_ok=batch_ok)
            return

        with self._sample_server() as (url, headers):
            sp = self._sample_spotipy(
                url, {**headers, **_as_of_header(as_of)}, self.refresh_token or SAMPLE_REFRESH_TOKEN
            )
            yield SpotifyCatalogClient(sp, settings, log=log, batch_ok=batch_ok)


def _as_of_header(as_of: datetime | None) -> dict[str, str]:
    """The fake API answers as of this instant (a request header, so concurrent runs of
    different windows can share one server)."""
    if as_of is None:
        return {}
    from spotify_assets.lib.sample.fake_api import AS_OF_HEADER

    stamp = as_of.astimezone(UTC) if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    return {AS_OF_HEADER: stamp.isoformat()}
