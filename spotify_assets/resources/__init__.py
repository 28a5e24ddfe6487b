"""Dagster resources and IO managers: the only place where the platform touches Spotify,
the lake and the warehouse. Assets stay the same in every environment; these change."""

from spotify_assets.resources.alerts import AlertsResource
from spotify_assets.resources.lake import LakeIOManager, LakeResource
from spotify_assets.resources.spotify import SpotifyResource
from spotify_assets.resources.warehouse import WarehouseIOManager

__all__ = [
    "AlertsResource",
    "LakeIOManager",
    "LakeResource",
    "SpotifyResource",
    "WarehouseIOManager",
]
