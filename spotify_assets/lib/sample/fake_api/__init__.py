"""A local fake Spotify Web API over the sample world (docs/USER_GUIDE.md, "The sample world"),
Dagster-free.

Start ``FakeSpotifyServer(world, mode=..., faults=FaultConfig(...))`` (a context manager), then
point spotipy at it: ``sp.prefix = server.api_prefix`` and the auth manager's
``OAUTH_TOKEN_URL = server.token_url``.
"""

from spotify_assets.lib.sample.fake_api.bodies import (
    AVAILABLE_MARKETS,
    EMBEDDED_ITEMS_LIMIT,
    ApiMode,
    SpotifyBodies,
)
from spotify_assets.lib.sample.fake_api.faults import FaultConfig, FaultDecision, FaultInjector
from spotify_assets.lib.sample.fake_api.server import (
    AS_OF_HEADER,
    LOGGER,
    MAX_IDS,
    PREMIUM_REQUIRED,
    ApiError,
    FakeSpotifyServer,
    Grant,
    make_access_token,
    parse_access_token,
)

__all__ = [
    "AS_OF_HEADER",
    "AVAILABLE_MARKETS",
    "EMBEDDED_ITEMS_LIMIT",
    "LOGGER",
    "MAX_IDS",
    "PREMIUM_REQUIRED",
    "ApiError",
    "ApiMode",
    "FakeSpotifyServer",
    "FaultConfig",
    "FaultDecision",
    "FaultInjector",
    "Grant",
    "SpotifyBodies",
    "make_access_token",
    "parse_access_token",
]
