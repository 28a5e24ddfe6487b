"""A local fake of the Spotify Web API over the sample world, on 127.0.0.1.

Why a real HTTP server rather than mocks: the ingestion code (spotipy, its session, our retry
loop, the parsers) must run the same path offline as online. The server speaks the 2026 API
(docs/USER_GUIDE.md, "The Spotify Web API in 2026"): the token endpoint (client credentials, refresh
token), playlists and their items (owned playlists only, user token only), single- and multi-id
catalog endpoints, recently-played; it can play a development-mode app (no multi-id endpoints, no
popularity, followers or label) and inject faults (429 with ``Retry-After``, 5xx, slow, truncated
bodies).

Time: every answer is "as of" an instant: the ``X-Sample-As-Of`` request header (ISO 8601) if
present, else the instant set with :meth:`FakeSpotifyServer.set_as_of`, else now clamped to the
world's span. Snapshot backfills of past windows therefore see the playlists of that window.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import pandas as pd

from spotify_assets.lib.sample.fake_api.bodies import ApiMode, Body, SpotifyBodies, dumps
from spotify_assets.lib.sample.fake_api.faults import (
    SERVER_ERRORS,
    FaultConfig,
    FaultDecision,
    FaultInjector,
)

LOGGER = logging.getLogger("spotify_assets.fake_spotify")

AS_OF_HEADER = "X-Sample-As-Of"
TOKEN_LIFETIME_S = 3600
USER_SCOPES = (
    "playlist-read-private playlist-read-collaborative user-read-recently-played user-read-private"
)
MAX_IDS = {"tracks": 50, "artists": 50, "albums": 20}
MAX_LIMIT = 50
DEFAULT_LIMIT = 20
SEARCH_MAX_LIMIT = 10  # development-mode apps (2026)
SEARCH_DEFAULT_LIMIT = 5

_BASE62_ID = re.compile(r"^[0-9A-Za-z]{22}$")
_MARKET = re.compile(r"^[A-Z]{2}$")
GrantKind = Literal["client", "user"]
#: Spotify's 403 message when the app's owner has no Premium (2026).
PREMIUM_REQUIRED = "Active premium subscription required for the owner of the app"


# ---------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Grant:
    """Who an access token speaks for: an app (client credentials) or a user."""

    kind: GrantKind
    user_id: str | None = None


def make_access_token(kind: GrantKind, user_id: str | None = None) -> str:
    """A self-describing token (``BQ`` + base64 JSON), valid on any fake server instance, so
    a client keeps working across a server restart as with Spotify's one-hour tokens."""
    payload = json.dumps({"k": kind, "u": user_id, "n": secrets.token_hex(6)}).encode()
    return "BQ" + base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")


def parse_access_token(token: str) -> Grant | None:
    """The grant a token encodes, or None if it is not one of ours."""
    if not token.startswith("BQ"):
        return None
    raw = token[2:]
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("k") not in ("client", "user"):
        return None
    if data["k"] == "user" and not data.get("u"):
        return None
    return Grant(kind=data["k"], user_id=data.get("u"))


# ---------------------------------------------------------------------------- errors


class ApiError(Exception):
    """An error answer: Spotify's ``{"error": {"status", "message"}}`` shape by default."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        body: Body | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.body = body if body is not None else error_body(status, message)
        self.headers = headers or {}


def error_body(status: int, message: str, reason: str | None = None) -> Body:
    err: Body = {"status": status, "message": message}
    if reason:
        err["reason"] = reason
    return {"error": err}


def _oauth_error(error: str, description: str) -> ApiError:
    return ApiError(400, error, body={"error": error, "error_description": description})


def _forbidden() -> ApiError:
    return ApiError(403, "Forbidden")


def _not_found() -> ApiError:
    return ApiError(404, "Resource not found")


# ---------------------------------------------------------------------------- requests


@dataclass
class Request:
    """One parsed call, handed to an endpoint function."""

    method: str
    path: str
    endpoint: str
    path_args: tuple[str, ...]
    query: list[tuple[str, str]]
    headers: Any
    body: bytes
    at: datetime | None = None
    grant: Grant | None = None
    params: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.params = dict(self.query)

    def rest_query(self, *drop: str) -> str:
        """The query string without ``drop`` keys (paging rebuilds offset/limit itself)."""
        return urlencode([(k, v) for k, v in self.query if k not in drop], safe=",:")


_ROUTES: list[tuple[str, re.Pattern[str], str, str]] = [
    # (method, path regex, endpoint template, method name on FakeSpotifyServer)
    ("POST", re.compile(r"^/api/token/?$"), "POST /api/token", "_ep_token"),
    ("GET", re.compile(r"^/v1/playlists/([^/]+)/?$"), "GET /v1/playlists/{id}", "_ep_playlist"),
    (
        "GET",
        re.compile(r"^/v1/playlists/([^/]+)/items/?$"),
        "GET /v1/playlists/{id}/items",
        "_ep_playlist_items",
    ),
    (
        "GET",
        re.compile(r"^/v1/playlists/([^/]+)/tracks/?$"),
        "GET /v1/playlists/{id}/tracks",
        "_ep_playlist_items",
    ),
    ("GET", re.compile(r"^/v1/tracks/?$"), "GET /v1/tracks", "_ep_many"),
    ("GET", re.compile(r"^/v1/tracks/([^/]+)/?$"), "GET /v1/tracks/{id}", "_ep_one"),
    ("GET", re.compile(r"^/v1/artists/?$"), "GET /v1/artists", "_ep_many"),
    ("GET", re.compile(r"^/v1/artists/([^/]+)/?$"), "GET /v1/artists/{id}", "_ep_one"),
    ("GET", re.compile(r"^/v1/albums/?$"), "GET /v1/albums", "_ep_many"),
    ("GET", re.compile(r"^/v1/albums/([^/]+)/?$"), "GET /v1/albums/{id}", "_ep_one"),
    (
        "GET",
        re.compile(r"^/v1/albums/([^/]+)/tracks/?$"),
        "GET /v1/albums/{id}/tracks",
        "_ep_album_tracks",
    ),
    ("GET", re.compile(r"^/v1/search/?$"), "GET /v1/search", "_ep_search"),
    ("GET", re.compile(r"^/v1/me/?$"), "GET /v1/me", "_ep_me"),
    (
        "GET",
        re.compile(r"^/v1/me/player/recently-played/?$"),
        "GET /v1/me/player/recently-played",
        "_ep_recently_played",
    ),
]


def _route(method: str, path: str) -> tuple[str, str | None, tuple[str, ...]]:
    for m, rx, endpoint, fn in _ROUTES:
        match = rx.match(path)
        if match and m == method:
            return endpoint, fn, tuple(unquote(g) for g in match.groups())
    return f"{method} <unmatched>", None, ()


# ---------------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    """Threaded server that knows its connections and their (daemon) handler threads, so
    ``stop`` can end keep-alive handlers and join them instead of leaking threads blocked on
    idle sockets. (``ThreadingMixIn`` does not join daemon threads.)"""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: FakeSpotifyServer) -> None:
        self.app = app
        self._conns: dict[Any, threading.Thread] = {}
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fake-spotify-{self.server_address[1]}-conn",
            daemon=True,
        )
        with self._conns_lock:
            self._conns[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.pop(request, None)
        super().shutdown_request(request)

    def close_connections(self, timeout_s: float = 10.0) -> None:
        """Hang up every open connection and wait for its handler thread to finish."""
        with self._conns_lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout_s
        for _, thread in conns:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                LOGGER.warning("fake Spotify handler thread %s did not stop", thread.name)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer (truncation tests, stop()) are normal here.
        LOGGER.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: thousands of pages over few connections
    server_version = "FakeSpotify/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body are separate writes
    timeout = 60  # an idle keep-alive connection does not pin a thread forever
    server: _HTTPServer

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        LOGGER.debug("%s - %s", self.address_string(), format % args)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self.server.app._serve(self, method, body)

    def send_json(
        self,
        status: int,
        payload: bytes,
        headers: dict[str, str] | None = None,
        *,
        truncate: str | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Cache-Control", "private, max-age=0")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        half = payload[: len(payload) // 2]
        if truncate == "short_body":
            # Announce the full length, send half, hang up: an incomplete read client-side.
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(half)
            self.close_connection = True
            return
        if truncate == "malformed":
            payload = half  # consistent length, invalid JSON
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _dumps(body: Any) -> bytes:
    """Bodies are dicts, or JSON text already (the hot paths build it from cached parts)."""
    if isinstance(body, str):
        return body.encode("utf-8")
    return dumps(body).encode("utf-8")


# ---------------------------------------------------------------------------- the server


class FakeSpotifyServer:
    """The fake Spotify Web API over one sample world.

    Start it (``with FakeSpotifyServer(world) as server:`` or ``.start()``/``.stop()``), point
    spotipy at ``server.token_url`` and ``server.api_prefix``, and read ``request_counts`` to
    assert how many calls the client made. ``mode``, ``faults`` and ``as_of`` can be switched
    while it runs.
    """

    def __init__(
        self,
        world: Any,
        *,
        mode: ApiMode = "extended",
        faults: FaultConfig | None = None,
        as_of: datetime | None = None,
        latency_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.world = world
        self.set_mode(mode)
        self.latency_s = float(latency_s)
        self._host = host
        self._port = port
        self._as_of: datetime | None = None
        self.set_as_of(as_of)
        self._injector: FaultInjector | None = None
        self.set_faults(faults)
        self._counts: Counter[str] = Counter()
        self._fault_counts: Counter[str] = Counter()
        self._fault_kinds: Counter[str] = Counter()
        self._answered: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._lifecycle_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bodies: SpotifyBodies | None = None
        self._url: str | None = None
        self._expired_refresh_tokens: set[str] = set()
        self._owner_premium = True

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSpotifyServer:
        """Bind (port 0: a free port) and serve in a background thread; returns self."""
        with self._lifecycle_lock:
            if self._httpd is not None:
                return self
            self._stopping.clear()
            httpd = _HTTPServer((self._host, self._port), self)
            host, port = httpd.server_address[:2]
            self._url = f"http://{host}:{port}"
            self._bodies = SpotifyBodies(self.world, self._url + "/v1")
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-spotify-{port}",
                daemon=True,
            )
            self._httpd = httpd
            self._thread.start()
        LOGGER.info("fake Spotify Web API on %s (mode=%s)", self._url, self.mode)
        return self

    def stop(self) -> None:
        """Stop serving, end open connections, join every thread, release the port.
        Idempotent."""
        with self._lifecycle_lock:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in slow/latency faults
        httpd.shutdown()
        httpd.close_connections()  # joins handler threads
        httpd.server_close()
        if thread is not None:
            thread.join()
        LOGGER.info("fake Spotify Web API on %s stopped", self._url)

    def __enter__(self) -> FakeSpotifyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (after ``start``)."""
        if self._url is None:
            raise RuntimeError("FakeSpotifyServer is not started")
        return self._url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def api_prefix(self) -> str:
        """What spotipy's ``prefix`` should be: ``url + "/v1/"``."""
        return self.url + "/v1/"

    @property
    def token_url(self) -> str:
        return self.url + "/api/token"

    @property
    def bodies(self) -> SpotifyBodies:
        """The body builder (hrefs point at this server); started servers only."""
        if self._bodies is None:
            raise RuntimeError("FakeSpotifyServer is not started")
        return self._bodies

    # ------------------------------------------------------------------ knobs

    def set_mode(self, mode: ApiMode) -> None:
        if mode not in ("extended", "development"):
            raise ValueError(f"mode must be 'extended' or 'development', not {mode!r}")
        self.mode: ApiMode = mode

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Replace the fault configuration; the deterministic sequence restarts."""
        self._injector = FaultInjector(faults) if faults is not None else None

    @property
    def faults(self) -> FaultConfig | None:
        injector = self._injector
        return injector.config if injector is not None else None

    def set_as_of(self, at: datetime | None) -> None:
        """Answer as of ``at`` (None: now, clamped to the world's span)."""
        self._as_of = None if at is None else _utc(at)

    @property
    def as_of(self) -> datetime:
        """The instant answers are computed for when a request does not say."""
        if self._as_of is not None:
            return self._as_of
        now = pd.Timestamp.now(tz=UTC)
        start = getattr(_world_module(), "WORLD_START", None)
        end = getattr(_world_module(), "WORLD_END", None)
        if start is not None and now < start:
            now = start
        if end is not None and now > end:
            now = end
        return now.to_pydatetime()

    def expire_refresh_token(self, refresh_token: str) -> None:
        """From now on, refreshing with this token answers ``invalid_grant`` (since 2026 a
        refresh token expires six months after the user authorized the app)."""
        self._expired_refresh_tokens.add(refresh_token)

    def set_owner_premium(self, premium: bool) -> None:
        """Without Premium for the app's owner, every Web API call answers 403 (2026)."""
        self._owner_premium = bool(premium)

    # ------------------------------------------------------------------ counters

    @property
    def request_counts(self) -> Counter[str]:
        """Calls per endpoint template (faulted ones included); a snapshot copy."""
        with self._counts_lock:
            return Counter(self._counts)

    @property
    def fault_counts(self) -> Counter[str]:
        """Faulted calls (429, 5xx, truncated or slow) per endpoint template; a copy."""
        with self._counts_lock:
            return Counter(self._fault_counts)

    @property
    def fault_kinds(self) -> Counter[str]:
        """Faulted calls per kind: ``"429"``, ``"5xx"``, ``"truncated"``, ``"slow"``."""
        with self._counts_lock:
            return Counter(self._fault_kinds)

    @property
    def answered_requests(self) -> Counter[str]:
        """Requests answered 200 in full, by method and path with its query: a request
        that appears twice was asked again after Spotify had answered it (a copy)."""
        with self._counts_lock:
            return Counter(self._answered)

    def reset_counts(self) -> None:
        with self._counts_lock:
            self._answered.clear()
            self._counts.clear()
            self._fault_counts.clear()
            self._fault_kinds.clear()

    # ------------------------------------------------------------------ tokens for tests

    def issue_token(self, kind: GrantKind = "user", user_id: str | None = None) -> str:
        """An access token without the token endpoint (for tests using plain ``requests``):
        ``kind="user"`` for the app user (or ``user_id``), ``"client"`` for client
        credentials."""
        if kind == "user":
            return make_access_token("user", user_id or _app_user_id())
        return make_access_token("client")

    @staticmethod
    def refresh_token_for(user_id: str) -> str:
        """The refresh token the fake issues for a sample listener (``sample-refresh-<user>``):
        one authorized user per token, as with Spotify's authorization-code flow."""
        return f"sample-refresh-{user_id}"

    # ------------------------------------------------------------------ dispatch

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _serve(self, handler: _Handler, method: str, body: bytes) -> None:
        split = urlsplit(handler.path)
        endpoint, fn_name, args = _route(method, split.path)
        with self._counts_lock:
            self._counts[endpoint] += 1
        self._sleep(self.latency_s)

        injector = self._injector
        decision = injector.decide(endpoint) if injector is not None else FaultDecision()
        if decision.kind is not None or decision.slow_s > 0:
            with self._counts_lock:
                self._fault_counts[endpoint] += 1
                self._fault_kinds[decision.kind or "slow"] += 1
            LOGGER.debug("fault %s (slow %.2fs) on %s", decision.kind, decision.slow_s, endpoint)
        self._sleep(decision.slow_s)
        if decision.kind == "429":
            cfg = injector.config  # type: ignore[union-attr]
            reason = "QUOTA_EXCEEDED" if cfg.quota_exceeded else None
            handler.send_json(
                429,
                _dumps(error_body(429, "API rate limit exceeded", reason)),
                {"Retry-After": str(int(cfg.retry_after_s))},
            )
            return
        if decision.kind == "5xx":
            status = decision.status
            handler.send_json(status, _dumps(error_body(status, SERVER_ERRORS[status])))
            return

        try:
            if fn_name is None:
                raise ApiError(404, "Service not found")
            request = Request(
                method=method,
                path=split.path,
                endpoint=endpoint,
                path_args=args,
                query=parse_qsl(split.query, keep_blank_values=True),
                headers=handler.headers,
                body=body,
            )
            if not endpoint.startswith("POST /api/token"):
                request.grant = self._authorize(request)
                if not self._owner_premium:
                    raise ApiError(403, PREMIUM_REQUIRED)
                request.at = self._request_at(request)
            status, payload = getattr(self, fn_name)(request)
            extra: dict[str, str] = {}
        except ApiError as exc:
            status, payload, extra = exc.status, exc.body, exc.headers
        except Exception:  # a bug in the fake must not look like a network fault
            LOGGER.exception("fake Spotify failed on %s %s", method, handler.path)
            status, payload, extra = 500, error_body(500, "Server error."), {}
        truncate = injector.config.truncate_style if decision.kind == "truncated" else None  # type: ignore[union-attr]
        handler.send_json(status, _dumps(payload), extra, truncate=truncate)
        if status == 200 and truncate is None:
            with self._counts_lock:
                self._answered[f"{method} {handler.path}"] += 1
        LOGGER.debug("%s %s -> %s", method, handler.path, status)

    def _authorize(self, request: Request) -> Grant:
        auth = request.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if not auth or scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401, "No token provided", headers={"WWW-Authenticate": 'Bearer realm="spotify"'}
            )
        grant = parse_access_token(token.strip())
        if grant is None:
            raise ApiError(
                401, "Invalid access token", headers={"WWW-Authenticate": 'Bearer realm="spotify"'}
            )
        return grant

    def _request_at(self, request: Request) -> datetime:
        raw = request.headers.get(AS_OF_HEADER)
        if not raw:
            return self.as_of
        try:
            return _utc(datetime.fromisoformat(raw.strip().replace("Z", "+00:00")))
        except ValueError:
            raise ApiError(400, f"Invalid {AS_OF_HEADER} header: {raw!r}") from None

    # ------------------------------------------------------------------ parameters

    @staticmethod
    def _market(request: Request) -> str | None:
        market = request.params.get("market")
        if market is None or market == "":
            return None
        if market == "from_token":
            return "US"
        if not _MARKET.match(market):
            raise ApiError(400, "Invalid market code")
        return market

    @staticmethod
    def _int_param(request: Request, name: str, default: int, lo: int, hi: int | None) -> int:
        raw = request.params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, f"Invalid {name}") from None
        if value < lo or (hi is not None and value > hi):
            raise ApiError(400, f"Invalid {name}")
        return value

    @staticmethod
    def _check_id(object_id: str) -> str:
        if not _BASE62_ID.match(object_id):
            raise ApiError(400, "Invalid base62 id")
        return object_id

    def _user(self, request: Request) -> str:
        grant = request.grant
        if grant is None or grant.kind != "user" or not grant.user_id:
            raise ApiError(401, "This request requires user authentication.")
        return grant.user_id

    # ------------------------------------------------------------------ endpoints

    def _ep_token(self, request: Request) -> tuple[int, Body]:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id = self._client_auth(request, form)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise _oauth_error("unsupported_grant_type", "grant_type parameter is missing")
        if grant_type == "client_credentials":
            if client_id is None:
                raise _oauth_error("invalid_client", "Invalid client")
            return 200, {
                "access_token": make_access_token("client"),
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
                "scope": "",
            }
        if grant_type == "refresh_token":
            if client_id is None:
                raise _oauth_error("invalid_client", "Invalid client")
            refresh = form.get("refresh_token")
            if not refresh:
                raise _oauth_error("invalid_request", "refresh_token must be supplied")
            if not refresh.startswith("sample"):
                raise _oauth_error("invalid_grant", "Invalid refresh token")
            if refresh in self._expired_refresh_tokens:
                raise _oauth_error("invalid_grant", "Refresh token expired")
            return 200, self._user_token_body(self._refresh_token_user(refresh))
        if grant_type == "authorization_code":
            if client_id is None:
                raise _oauth_error("invalid_client", "Invalid client")
            code = form.get("code") or ""
            if not code.startswith("sample"):
                raise _oauth_error("invalid_grant", "Invalid authorization code")
            return 200, {**self._user_token_body(), "refresh_token": "sample-refresh-token"}
        raise _oauth_error(
            "unsupported_grant_type",
            "grant_type must be client_credentials, authorization_code or refresh_token",
        )

    def _refresh_token_user(self, refresh: str) -> str:
        """``sample-refresh-<user>`` speaks for that sample listener; any other ``sample*``
        token for the app user (the playlists' owner)."""
        user = refresh.removeprefix("sample-refresh-")
        if user != refresh and user in self.world.user_index:
            return user
        return _app_user_id()

    def _user_token_body(self, user_id: str | None = None) -> Body:
        return {
            "access_token": make_access_token("user", user_id or _app_user_id()),
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_S,
            "scope": USER_SCOPES,
        }

    @staticmethod
    def _client_auth(request: Request, form: dict[str, str]) -> str | None:
        """The client id from HTTP Basic auth or the form; None when missing or malformed.
        Any non-empty id and secret are accepted (a PKCE refresh sends the id alone)."""
        auth = request.headers.get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        if auth:
            if scheme.lower() != "basic":
                return None
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            cid, sep, secret = decoded.partition(":")
            return cid if sep and cid and secret else None
        cid = form.get("client_id") or ""
        if not cid:
            return None
        if form.get("grant_type") == "client_credentials" and not form.get("client_secret"):
            return None
        return cid

    def _owned_by(self, playlist_id: str, request: Request) -> bool:
        grant = request.grant
        if grant is None or grant.kind != "user":
            return False
        return self.bodies.playlist_owner(playlist_id) == grant.user_id

    def _ep_playlist(self, request: Request) -> tuple[int, Body | str]:
        playlist_id = self._check_id(request.path_args[0])
        market = self._market(request)
        if self.bodies.playlist_row(playlist_id) is None:
            raise _not_found()
        return 200, self.bodies.playlist_json(
            playlist_id,
            at=request.at,  # type: ignore[arg-type]
            mode=self.mode,
            market=market,
            with_items=self._owned_by(playlist_id, request),
        )

    def _ep_playlist_items(self, request: Request) -> tuple[int, Body | str]:
        playlist_id = self._check_id(request.path_args[0])
        market = self._market(request)
        limit = self._int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = self._int_param(request, "offset", 0, 0, None)
        if self.bodies.playlist_row(playlist_id) is None:
            raise _not_found()
        if not self._owned_by(playlist_id, request):
            raise _forbidden()
        return 200, self.bodies.playlist_items_page_json(
            playlist_id,
            at=request.at,  # type: ignore[arg-type]
            mode=self.mode,
            market=market,
            limit=limit,
            offset=offset,
            query=request.rest_query("offset", "limit"),
            path=request.endpoint.rsplit("/", 1)[1],
        )

    def _kind(self, request: Request) -> str:
        return request.endpoint.split("/")[2]  # "GET /v1/tracks..." -> "tracks"

    def _entities(self, kind: str, ids: list[str], request: Request) -> list[str | None]:
        """JSON texts (None for unknown ids) of tracks, albums or artists."""
        at: datetime = request.at  # type: ignore[assignment]
        market = self._market(request)
        if kind == "tracks":
            return self.bodies.track_jsons(ids, at=at, mode=self.mode, market=market)
        if kind == "albums":
            found = self.bodies.albums(ids, at=at, mode=self.mode, market=market)
        else:
            found = self.bodies.artists(ids, at=at, mode=self.mode)
        return [None if b is None else dumps(b) for b in found]

    def _ep_one(self, request: Request) -> tuple[int, Body | str]:
        object_id = self._check_id(request.path_args[0])
        body = self._entities(self._kind(request), [object_id], request)[0]
        if body is None:
            raise _not_found()
        return 200, body

    def _ep_many(self, request: Request) -> tuple[int, Body | str]:
        kind = self._kind(request)
        if self.mode == "development":
            raise _forbidden()  # multi-id endpoints were removed for development mode in 2026
        raw = request.params.get("ids")
        if not raw:
            raise ApiError(400, "invalid id")
        ids = [x.strip() for x in raw.split(",")]
        if len(ids) > MAX_IDS[kind]:
            raise ApiError(400, "Too many ids requested")
        for x in ids:
            self._check_id(x)
        found = self._entities(kind, ids, request)
        return 200, f'{{"{kind}":[{",".join(b or "null" for b in found)}]}}'

    def _ep_album_tracks(self, request: Request) -> tuple[int, Body]:
        album_id = self._check_id(request.path_args[0])
        market = self._market(request)
        limit = self._int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = self._int_param(request, "offset", 0, 0, None)
        page = self.bodies.album_tracks_page(
            album_id,
            limit=limit,
            offset=offset,
            market=market,
            query=request.rest_query("offset", "limit"),
        )
        if page is None:
            raise _not_found()
        return 200, page

    def _ep_search(self, request: Request) -> tuple[int, Body]:
        """Tracks only (what the lookups ask); ``limit`` 1-10 as the 2026 contract says (a
        development-mode app gets at most 10), 1-50 for an extended-quota app."""
        query = (request.params.get("q") or "").strip()
        if not query:
            raise ApiError(400, "No search query")
        types = set((request.params.get("type") or "").split(","))
        if "track" not in types:
            raise ApiError(400, "Only type=track is served by the fake API")
        hi = SEARCH_MAX_LIMIT if self.mode == "development" else MAX_LIMIT
        limit = self._int_param(request, "limit", SEARCH_DEFAULT_LIMIT, 1, hi)
        offset = self._int_param(request, "offset", 0, 0, 1000)
        return 200, self.bodies.search_tracks(
            query,
            at=request.at,  # type: ignore[arg-type]
            mode=self.mode,
            market=self._market(request),
            limit=limit,
            offset=offset,
        )

    def _ep_me(self, request: Request) -> tuple[int, Body]:
        return 200, self.bodies.me(self._user(request))

    def _ep_recently_played(self, request: Request) -> tuple[int, Body]:
        user_id = self._user(request)
        limit = self._int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        after = request.params.get("after")
        before = request.params.get("before")
        if after and before:
            raise ApiError(400, "Only one of 'after' and 'before' may be given")
        try:
            after_ms = int(after) if after else None
            before_ms = int(before) if before else None
        except ValueError:
            raise ApiError(400, "Invalid cursor") from None
        return 200, self.bodies.recently_played(
            user_id,
            at=request.at,  # type: ignore[arg-type]
            mode=self.mode,
            after_ms=after_ms,
            before_ms=before_ms,
            limit=limit,
        )


# ---------------------------------------------------------------------------- helpers


def _utc(at: datetime) -> datetime:
    ts = pd.Timestamp(at)
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
    return ts.to_pydatetime()


def _world_module() -> Any:
    from spotify_assets.lib.sample import world as sample_world

    return sample_world


def _app_user_id() -> str:
    return _world_module().APP_USER_ID
