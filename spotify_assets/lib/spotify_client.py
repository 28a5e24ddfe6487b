"""A Spotify Web API client for catalog snapshots, built on spotipy and hardened for 2026.

Why not plain spotipy: its urllib3 retry sleeps for any ``Retry-After`` (which can be hours),
it turns a truncated body into ``None`` silently, and its errors do not say what to do. This
wrapper keeps spotipy for auth and calls, and adds:

- timeouts on every call, the token call included;
- ``Retry-After`` honoured up to ``max_retry_wait_s``, past which it fails with the time to
  come back; 5xx, timeouts, broken connections and malformed bodies retried with backoff;
- a circuit breaker: after ``max_consecutive_failures`` such failures in a row (whatever the
  call), the client stops calling for ``unavailable_pause_s`` and every call fails at once
  with :class:`SpotifyUnavailable`, which ends the run as a long ``Retry-After`` does (what
  was fetched is kept): an API that is down is not asked 240 times;
- ``api_mode``: ``extended`` (multi-id endpoints), ``development`` (one id per call, bounded
  concurrency, no popularity/followers), ``auto`` (try a batch once, fall back on 403/404 and
  remember);
- errors that name the endpoint, the id and the fix;
- a call counter by endpoint, so the number of API calls of a snapshot can be reported.

Dagster-free: the Dagster resource in ``spotify_assets.defs.environment`` builds it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson
import requests

# spotipy is imported when a client is built: most runs never call the API.
if TYPE_CHECKING:
    import spotipy
else:
    from spotify_assets.lib.lazy import spotipy

logger = logging.getLogger("spotify_assets.spotify_client")

ApiMode = Literal["extended", "development", "auto"]
API_MODES: tuple[str, ...] = ("extended", "development", "auto")

SPOTIFY_API_PREFIX = "https://api.spotify.com/v1/"
SPOTIFY_TOKEN_URL = "https://accounts.spotify.com/api/token"

# Spotify's documented batch limits for extended-quota apps.
MAX_IDS = {"tracks": 50, "artists": 50, "albums": 20}
PAGE_LIMIT = 50  # the maximum `limit` of /playlists/{id}/items


class SpotifyApiError(RuntimeError):
    """A call that could not be completed; says which endpoint, what happened, what to do."""

    def __init__(
        self, endpoint: str, message: str, *, status: int | None = None, hint: str = ""
    ) -> None:
        self.endpoint = endpoint
        self.status = status
        self.hint = hint
        self.detail = message  # what happened, without the hint
        text = f"{endpoint}: {message}"
        if hint:
            text += f" -> {hint}"
        super().__init__(text)


class RetryAfterTooLong(SpotifyApiError):
    """Spotify asked us to wait longer than the configured maximum."""

    def __init__(self, endpoint: str, retry_after_s: float, max_wait_s: float, quota: bool):
        self.retry_after_s = retry_after_s
        what = "the app's quota is exceeded (QUOTA_EXCEEDED)" if quota else "rate limited"
        super().__init__(
            endpoint,
            f"HTTP 429, {what}, Retry-After {retry_after_s:.0f} s is longer than the maximum "
            f"wait of {max_wait_s:.0f} s",
            status=429,
            hint=(
                f"run again after {retry_after_s:.0f} s, or raise SPOTIFY_MAX_RETRY_WAIT_S; "
                "what was fetched so far is kept in the lake"
            ),
        )


class SpotifyUnavailable(RetryAfterTooLong):
    """Spotify failed (5xx, timeouts, broken connections) ``failures`` times in a row: the
    client stops calling for ``pause_s`` seconds. Ends a run the way a long ``Retry-After``
    does (what was fetched is kept; the next run goes on)."""

    def __init__(self, endpoint: str, failures: int, pause_s: float, last: str):
        self.retry_after_s = pause_s
        SpotifyApiError.__init__(
            self,
            endpoint,
            f"Spotify failed {failures} times in a row (last: {last}): the client stops "
            f"calling for {pause_s:.0f} s",
            hint="Spotify is down or unreachable; what was fetched so far is kept in the lake, "
            "run again later",
        )


class TokenError(SpotifyApiError):
    """The token is refused and a refresh cannot fix it (``invalid_grant``: since 2026 a
    refresh token expires six months after authorization, or when the user revokes the app;
    ``invalid_client``; a 401 on a call): every further call fails the same way, so a caller
    stops at the first."""


class PremiumRequired(SpotifyApiError):
    """403 "Active premium subscription required for the owner of the app" (since 2026).
    Not the development-mode restriction: every call fails until the owner has Premium."""


REAUTHORIZE_HINT = (
    "re-authorize with `python -m spotify_assets.auth` and set SPOTIFY_REFRESH_TOKEN to the "
    "refresh token it prints (a refresh token expires six months after authorization, or when "
    "the user revokes the app)"
)


@dataclass
class ClientSettings:
    """Knobs of the client; every one is also a setting of the Dagster resource."""

    api_mode: ApiMode = "auto"
    market: str = "US"
    timeout_s: float = 10.0
    max_retries: int = 5
    backoff_s: float = 0.5
    max_retry_wait_s: float = 60.0
    concurrency: int = 4
    max_consecutive_failures: int = 10
    unavailable_pause_s: float = 300.0

    def __post_init__(self) -> None:
        if self.api_mode not in API_MODES:
            raise ValueError(f"api_mode must be one of {API_MODES}, got {self.api_mode!r}")
        if self.max_retries < 0 or self.timeout_s <= 0 or self.max_retry_wait_s < 0:
            raise ValueError("max_retries >= 0, timeout_s > 0 and max_retry_wait_s >= 0")


@dataclass
class CallStats:
    """Calls made, by endpoint template, plus retries and waits (for asset metadata)."""

    calls: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    waited_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_call(self, endpoint: str) -> None:
        with self.lock:
            self.calls[endpoint] += 1

    def add_retry(self, endpoint: str, waited: float) -> None:
        with self.lock:
            self.retries[endpoint] += 1
            self.waited_s += waited

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def build_spotipy(
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str | None,
    timeout_s: float,
    api_prefix: str = SPOTIFY_API_PREFIX,
    token_url: str = SPOTIFY_TOKEN_URL,
    headers: dict[str, str] | None = None,
) -> spotipy.Spotify:
    """A spotipy client with our own session (no urllib3 retries: we retry ourselves) and
    timeouts on the API and the token calls. A refresh token gives a user token (needed for
    playlist items and recently-played); without one, client credentials."""
    if not client_id or not client_secret:
        raise SpotifyApiError(
            "POST /api/token",
            "no client credentials",
            hint="set SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET (from developer.spotify.com)",
        )
    # spotipy logs every HTTP error at ERROR, the expected ones too (the 403 of an `auto`
    # probe, a retried 429); this client reports each failure itself, with what to do.
    logging.getLogger("spotipy.client").setLevel(logging.CRITICAL)
    session = requests.Session()
    session.hooks["response"].append(_orjson_body)
    # Extra headers on every call (the fake API's as-of instant), through spotipy's public
    # `requests_session` argument rather than its private `_session`.
    session.headers.update(headers or {})
    auth: spotipy.SpotifyClientCredentials | spotipy.SpotifyOAuth
    if refresh_token:
        auth = spotipy.SpotifyOAuth(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri="http://127.0.0.1:8888/callback",
            open_browser=False,
            requests_timeout=timeout_s,
            requests_session=session,
            cache_handler=spotipy.MemoryCacheHandler(
                token_info={
                    "access_token": "",
                    "refresh_token": refresh_token,
                    "expires_at": 0,
                    "scope": None,
                }
            ),
        )
    else:
        auth = spotipy.SpotifyClientCredentials(
            client_id=client_id,
            client_secret=client_secret,
            requests_timeout=timeout_s,
            requests_session=session,
            cache_handler=spotipy.MemoryCacheHandler(),  # never a .cache file in the working dir
        )
    auth.OAUTH_TOKEN_URL = token_url  # instance attribute: points spotipy at a fake server
    sp = spotipy.Spotify(auth_manager=auth, requests_session=session, requests_timeout=timeout_s)
    sp.prefix = api_prefix
    return sp


_FATAL_OAUTH = {"invalid_client", "invalid_grant", "unauthorized_client", "invalid_request"}


class SpotifyCatalogClient:
    """The calls a catalog snapshot needs, each retried and counted."""

    def __init__(
        self,
        sp: spotipy.Spotify,
        settings: ClientSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        log: logging.Logger | None = None,
        batch_ok: bool | None = None,
    ) -> None:
        self.sp = sp
        self.settings = settings or ClientSettings()
        self.stats = CallStats()
        self._sleep = sleep
        self._log = log or logger
        # What `auto` learned: None until a batch call has been tried (or what an earlier
        # run learned, passed in as `batch_ok`).
        self._batch_ok: bool | None = {"extended": True, "development": False}.get(
            self.settings.api_mode, batch_ok
        )
        self._rng = random.Random(0)
        # The circuit breaker: failures in a row (any call), and until when calls stop.
        self._breaker = threading.Lock()
        self._failures_in_a_row = 0
        self._last_failure = ""
        self._closed_until = 0.0

    # -- the circuit breaker --------------------------------------------------------------

    def _check_circuit(self, label: str) -> None:
        with self._breaker:
            if time.monotonic() < self._closed_until:
                raise SpotifyUnavailable(
                    label,
                    self._failures_in_a_row,
                    self._closed_until - time.monotonic(),
                    self._last_failure,
                )

    def _failed(self, label: str, why: str) -> None:
        """One more failure in a row; at the limit, stop calling (raises)."""
        s = self.settings
        with self._breaker:
            self._failures_in_a_row += 1
            self._last_failure = why
            if self._failures_in_a_row < s.max_consecutive_failures:
                return
            self._closed_until = time.monotonic() + s.unavailable_pause_s
            failures = self._failures_in_a_row
        self._log.error(
            "%s: Spotify failed %d times in a row (last: %s); no call for %.0f s",
            label,
            failures,
            why,
            s.unavailable_pause_s,
        )
        raise SpotifyUnavailable(label, failures, s.unavailable_pause_s, why)

    def _answered(self) -> None:
        with self._breaker:
            self._failures_in_a_row = 0

    # -- the retry loop -------------------------------------------------------------------

    def call(self, endpoint: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one API call with retries. ``endpoint`` is a template like
        ``GET /playlists/{id}/items``; errors name it together with ``what``."""
        what = kwargs.pop("_what", "")
        label = f"{endpoint} ({what})" if what else endpoint
        s = self.settings
        attempt = 0
        while True:
            attempt += 1
            self._check_circuit(label)
            self.stats.add_call(endpoint)
            try:
                result = fn(*args, **kwargs)
                if result is None:
                    raise _Malformed()
                self._answered()
                return result
            except spotipy.SpotifyException as exc:
                status = exc.http_status
                if status is None or (status < 500 and status != 408):
                    self._answered()  # Spotify answered: it is up
                if status == 429:
                    wait = _retry_after(exc.headers)
                    quota = (exc.reason or "") == "QUOTA_EXCEEDED"
                    if wait > s.max_retry_wait_s:
                        raise RetryAfterTooLong(label, wait, s.max_retry_wait_s, quota) from exc
                    if attempt > s.max_retries:
                        raise SpotifyApiError(
                            label,
                            f"still rate limited after {s.max_retries} retries",
                            status=429,
                            hint="lower the request rate or run again later",
                        ) from exc
                    self._wait(endpoint, wait, f"429, Retry-After {wait:.1f} s", attempt)
                    continue
                if status >= 500 or status == 408:
                    self._failed(label, f"HTTP {status}")
                    if attempt > s.max_retries:
                        raise SpotifyApiError(
                            label,
                            f"HTTP {status} after {s.max_retries} retries: {_short(exc.msg)}",
                            status=status,
                            hint="Spotify is failing; run again later",
                        ) from exc
                    self._wait(endpoint, self._backoff(attempt), f"HTTP {status}", attempt)
                    continue
                raise _http_error(label, endpoint, exc) from exc
            except spotipy.SpotifyOauthError as exc:
                error = getattr(exc, "error", None)
                if error in _FATAL_OAUTH or attempt > s.max_retries:
                    fatal = error in _FATAL_OAUTH
                    raise (TokenError if fatal else SpotifyApiError)(
                        "POST /api/token",
                        f"token request failed: {error or exc}"
                        + (f" ({exc.error_description})" if exc.error_description else ""),
                        hint=(
                            REAUTHORIZE_HINT
                            if error == "invalid_grant"
                            else "check SPOTIPY_CLIENT_ID, SPOTIPY_CLIENT_SECRET and "
                            "SPOTIFY_REFRESH_TOKEN"
                        ),
                    ) from exc
                self._wait("POST /api/token", self._backoff(attempt), f"token: {error}", attempt)
            except (_Malformed, requests.exceptions.RequestException, ValueError) as exc:
                kind = (
                    "malformed or truncated JSON body"
                    if isinstance(exc, _Malformed | ValueError)
                    else f"{type(exc).__name__}: {_short(str(exc))}"
                )
                self._failed(label, kind)
                if attempt > s.max_retries:
                    raise SpotifyApiError(
                        label,
                        f"{kind} after {s.max_retries} retries",
                        hint="the network or Spotify is unreliable; run again later",
                    ) from exc
                self._wait(endpoint, self._backoff(attempt), kind, attempt)

    def _backoff(self, attempt: int) -> float:
        base = self.settings.backoff_s * (2 ** (attempt - 1))
        return min(base, self.settings.max_retry_wait_s) * (0.75 + 0.5 * self._rng.random())

    def _wait(self, endpoint: str, seconds: float, why: str, attempt: int) -> None:
        self._log.warning(
            "%s: %s; retry %d/%d in %.2f s",
            endpoint,
            why,
            attempt,
            self.settings.max_retries,
            seconds,
        )
        self.stats.add_retry(endpoint, seconds)
        if seconds > 0:
            self._sleep(seconds)

    # -- playlists ------------------------------------------------------------------------

    def playlist(self, playlist_id: str) -> dict[str, Any]:
        """Playlist metadata, with the first page of items embedded when Spotify gives it."""
        return self.call(
            "GET /playlists/{id}",
            self.sp.playlist,
            playlist_id,
            market=self.settings.market,
            _what=f"playlist {playlist_id}",
        )

    def playlist_item_pages(
        self, playlist_id: str, first_page: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every page of a playlist's items, following the absolute ``next`` URLs. Starts
        from ``first_page`` (the page embedded in the playlist body) when given, so the
        minimum number of calls is made."""
        page = first_page
        if page is None:
            page = self.call(
                "GET /playlists/{id}/items",
                self.sp.playlist_items,
                playlist_id,
                limit=PAGE_LIMIT,
                market=self.settings.market,
                additional_types=("track",),
                _what=f"playlist {playlist_id}, offset 0",
            )
        while True:
            yield page
            next_url = page.get("next")
            if not next_url:
                return
            offset = int(page.get("offset") or 0) + len(page.get("items") or [])
            page = self.call(
                "GET /playlists/{id}/items",
                self.sp.next,
                page,
                _what=f"playlist {playlist_id}, offset {offset}",
            )

    # -- entities -------------------------------------------------------------------------

    def artists(self, artist_ids: Iterable[str]) -> Iterator[list[dict[str, Any]]]:
        """Artist bodies, yielded per call (a batch of up to 50, or one in development
        mode) so a caller can keep what was fetched when a later call fails."""
        return self._entities("artists", list(dict.fromkeys(artist_ids)))

    def tracks(self, track_ids: Iterable[str]) -> Iterator[list[dict[str, Any]]]:
        return self._entities("tracks", list(dict.fromkeys(track_ids)))

    def albums(self, album_ids: Iterable[str]) -> Iterator[list[dict[str, Any]]]:
        return self._entities("albums", list(dict.fromkeys(album_ids)))

    @property
    def batch_mode(self) -> bool | None:
        """True when multi-id endpoints work, False when not, None while unknown (auto)."""
        return self._batch_ok

    def _entities(self, kind: str, ids: list[str]) -> Iterator[list[dict[str, Any]]]:
        size = MAX_IDS[kind]
        batches = [ids[i : i + size] for i in range(0, len(ids), size)]
        i = 0
        while i < len(batches) and self._batch_ok is not False:
            try:
                yield self._batch(kind, batches[i])
            except SpotifyApiError as exc:
                # Only the development-mode answer switches to one call per id: a 403
                # for the app owner's missing Premium fails every endpoint alike.
                if (
                    self._batch_ok is None
                    and exc.status in (403, 404)
                    and not isinstance(exc, PremiumRequired)
                ):
                    self._log.warning(
                        "GET /%s?ids= answered %s: this app is in development mode; "
                        "falling back to one call per id (api_mode=auto remembers this)",
                        kind,
                        exc.status,
                    )
                    self._batch_ok = False
                    break
                raise
            self._batch_ok = True
            i += 1
        if i < len(batches):
            yield from self._singles(kind, [x for b in batches[i:] for x in b])

    def _batch(self, kind: str, ids: list[str]) -> list[dict[str, Any]]:
        fn = {"tracks": self.sp.tracks, "artists": self.sp.artists, "albums": self.sp.albums}[kind]
        extra = {} if kind == "artists" else {"market": self.settings.market}
        body = self.call(f"GET /{kind}", fn, ids, _what=f"{len(ids)} ids from {ids[0]}", **extra)
        if kind not in body:
            raise SpotifyApiError(f"GET /{kind}", f"body has no '{kind}' list")
        # Spotify answers null for unknown ids: leave them out, the caller sees them missing.
        return [x for x in body[kind] if x]

    def _singles(self, kind: str, ids: list[str]) -> Iterator[list[dict[str, Any]]]:
        fn = {"tracks": self.sp.track, "artists": self.sp.artist, "albums": self.sp.album}[kind]
        extra = {} if kind == "artists" else {"market": self.settings.market}
        endpoint = f"GET /{kind}/{{id}}"

        def one(x: str) -> list[dict[str, Any]]:
            try:
                return [self.call(endpoint, fn, x, _what=f"{kind[:-1]} {x}", **extra)]
            except SpotifyApiError as exc:
                if exc.status == 404:  # gone from Spotify: not an error of the snapshot
                    self._log.warning("%s %s not found (404); skipped", kind[:-1], x)
                    return []
                raise

        # Bounded concurrency: development-mode apps have a small rate budget.
        with ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency)) as pool:
            window = max(1, self.settings.concurrency) * 4
            for start in range(0, len(ids), window):
                yield from pool.map(one, ids[start : start + window])

    def entity_calls(
        self,
        kind: str,
        ids: Iterable[str],
        *,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[tuple[list[str], list[dict[str, Any]]]]:
        """``(ids asked, bodies answered)`` per call, for lookups that must remember which
        ids Spotify does not know (an id asked and not answered: ``null`` in a batch, 404
        alone) and must keep every answered call when a later one fails.

        Batches in extended mode (with ``auto``'s fallback), else one id per call with
        bounded concurrency; ``should_stop`` is asked before each call (a budget). When a
        call fails, the calls already in flight finish and are yielded, then the error is
        raised: nothing that Spotify answered is lost, so no call is repeated next run."""
        ids = list(dict.fromkeys(ids))
        size = MAX_IDS[kind]
        i = 0
        while i < len(ids) and self._batch_ok is not False:
            if should_stop():
                return
            chunk = ids[i : i + size]
            try:
                bodies = self._batch(kind, chunk)
            except SpotifyApiError as exc:
                if (
                    self._batch_ok is None
                    and exc.status in (403, 404)
                    and not isinstance(exc, PremiumRequired)
                ):
                    self._log.warning(
                        "GET /%s?ids= answered %s: development mode; one call per id",
                        kind,
                        exc.status,
                    )
                    self._batch_ok = False
                    break
                raise
            self._batch_ok = True
            i += size
            yield chunk, bodies
        rest = ids[i:]
        if not rest:
            return
        fn = {"tracks": self.sp.track, "artists": self.sp.artist, "albums": self.sp.album}[kind]
        extra = {} if kind == "artists" else {"market": self.settings.market}
        endpoint = f"GET /{kind}/{{id}}"

        def one(x: str) -> list[dict[str, Any]]:
            try:
                return [self.call(endpoint, fn, x, _what=f"{kind[:-1]} {x}", **extra)]
            except SpotifyApiError as exc:
                if exc.status == 404:  # Spotify does not know it: the caller remembers
                    return []
                raise

        workers = max(1, self.settings.concurrency)
        failure: BaseException | None = None
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: dict[Any, str] = {}
            todo = iter(rest)
            while True:
                while failure is None and len(pending) < workers and not should_stop():
                    x = next(todo, None)
                    if x is None:
                        break
                    pending[pool.submit(one, x)] = x
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    x = pending.pop(future)
                    try:
                        yield [x], future.result()
                    except SpotifyApiError as exc:
                        failure = failure or exc
        if failure is not None:
            raise failure

    def search_tracks(self, query: str, *, limit: int = 10) -> dict[str, Any]:
        """``GET /search?type=track``: a page of up to ``limit`` TrackObjects (10 is the most
        a development-mode app gets per call)."""
        return self.call(
            "GET /search",
            self.sp.search,
            query,
            limit=limit,
            type="track",
            market=self.settings.market,
            _what=f"q={query!r}",
        )

    # -- listening ------------------------------------------------------------------------

    def recently_played(self, after_ms: int | None = None, limit: int = 50) -> dict[str, Any]:
        return self.call(
            "GET /me/player/recently-played",
            self.sp.current_user_recently_played,
            limit=limit,
            after=after_ms,
            _what=f"after {after_ms}",
        )


def _orjson_body(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Decode bodies with orjson: a page of 50 playlist items is ~300 KB (the track comes
    twice, under `item` and `track`), and the stdlib parser was a third of a snapshot's time.
    orjson's JSONDecodeError is a ValueError, so a truncated body still reads as malformed."""
    response.json = lambda **_: orjson.loads(response.content)  # type: ignore[method-assign]


class _Malformed(Exception):
    """spotipy returns None when a body is not JSON (truncated answers)."""


def _retry_after(headers: Any) -> float:
    try:
        return max(0.0, float((headers or {}).get("Retry-After", 1)))
    except (TypeError, ValueError):
        return 1.0


def _short(text: Any, n: int = 200) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= n else s[: n - 3] + "..."


def _http_error(label: str, endpoint: str, exc: spotipy.SpotifyException) -> SpotifyApiError:
    status = exc.http_status
    hint = ""
    message = f"HTTP {status}: {_short(exc.msg)}"
    if status == 401:
        hint = f"the access token was refused and a refresh did not fix it: {REAUTHORIZE_HINT}"
        return TokenError(label, message, status=status, hint=hint)
    if status == 403 and "premium" in str(exc.msg).lower():
        hint = (
            "since 2026 the Spotify account that owns the app (developer.spotify.com) needs an "
            "active Premium subscription; subscribe, or register the app under an account "
            "that has one (SPOTIFY_API_MODE does not help)"
        )
        return PremiumRequired(label, message, status=status, hint=hint)
    if status == 403 and "/items" in endpoint:
        hint = (
            "Spotify returns playlist items only to the user who owns or collaborates on the "
            "playlist, with a user token: set SPOTIFY_REFRESH_TOKEN for the owner, or remove "
            "this playlist from SPOTIFY_PLAYLIST_IDS"
        )
    elif status == 403 and "{id}" not in endpoint:
        hint = (
            "multi-id endpoints are closed to development-mode apps since 2026-03-09: set "
            "SPOTIFY_API_MODE=development (or auto)"
        )
    elif status == 403:
        hint = "the app is not allowed this call (development-mode restrictions?)"
    elif status == 404 and "playlists" in endpoint:
        hint = (
            "no such playlist, or a Spotify-owned editorial playlist (404 for apps since "
            "2024-11): check SPOTIFY_PLAYLIST_IDS"
        )
    elif status == 404:
        hint = "no such id"
    return SpotifyApiError(label, message, status=status, hint=hint)
