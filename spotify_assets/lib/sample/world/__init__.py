"""The embedded sample world (docs/USER_GUIDE.md, "The sample world"): a deterministic, calibrated
synthetic Spotify catalog, playlists and listening histories, Dagster-free."""

from spotify_assets.lib.sample.world.base import (
    APP_USER_ID,
    FOREIGN_OWNER_ID,
    WORLD_END,
    WORLD_START,
)
from spotify_assets.lib.sample.world.listeners import SAMPLE_COUNTRIES
from spotify_assets.lib.sample.world.scales import SCALES, WorldScale, get_scale
from spotify_assets.lib.sample.world.world import SampleWorld, build_world

__all__ = [
    "APP_USER_ID",
    "FOREIGN_OWNER_ID",
    "SAMPLE_COUNTRIES",
    "SCALES",
    "WORLD_END",
    "WORLD_START",
    "SampleWorld",
    "WorldScale",
    "build_world",
    "get_scale",
]
