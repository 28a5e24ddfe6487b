"""Named sizes of the sample world: tiny for unit tests, demo for `make demo`, bench for load."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorldScale:
    """How big the generated world is. Everything else is calibrated, not configured.

    ``n_playlists`` counts the app user's playlists; the world adds two playlists owned by
    someone else (``owned_by_app_user`` False). ``n_plays`` counts every export record
    (music, podcast and audiobook) over ``history_days`` days from ``WORLD_START``.
    """

    name: str
    n_artists: int
    n_tracks: int
    n_playlists: int
    mean_playlist_size: int
    n_users: int
    n_plays: int
    history_days: int
    # Mean time a track stays in a playlist: sets how fast playlists churn between snapshots.
    playlist_lifetime_days: float
    # Records per export file before a user's history is split into another file.
    records_per_file: int
    n_shows: int = 30
    n_audiobooks: int = 6
    # People in the simulated population per listener whose export lands: popularity (and the
    # charts) come from the population's streams, the exports from a sample of 1 in this many.
    population_per_listener: int = 1_000


SCALES: dict[str, WorldScale] = {
    "tiny": WorldScale(
        name="tiny",
        n_artists=100,
        n_tracks=600,
        n_playlists=6,
        mean_playlist_size=100,
        n_users=5,
        n_plays=5_000,
        history_days=120,
        playlist_lifetime_days=30.0,
        records_per_file=400,
        n_shows=8,
        n_audiobooks=2,
    ),
    "demo": WorldScale(
        name="demo",
        n_artists=1_200,
        n_tracks=5_000,
        n_playlists=40,
        mean_playlist_size=60,
        n_users=60,
        n_plays=150_000,
        history_days=540,
        playlist_lifetime_days=60.0,
        records_per_file=2_000,
    ),
    "bench": WorldScale(
        name="bench",
        n_artists=40_000,
        n_tracks=200_000,
        n_playlists=4_000,
        mean_playlist_size=100,
        n_users=2_000,
        n_plays=10_000_000,
        history_days=730,
        playlist_lifetime_days=365.0,
        records_per_file=15_000,
        n_shows=200,
        n_audiobooks=40,
    ),
}


def get_scale(name: str) -> WorldScale:
    """Look a scale up by name; a ValueError lists the valid names (config errors read well)."""
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(
            f"unknown sample world scale {name!r}; valid scales: {', '.join(SCALES)}"
        ) from None
