"""The deterministic sample world: a synthetic but calibrated Spotify catalog, playlists and
listeners (docs/USER_GUIDE.md, "The sample world"), built with vectorized numpy from one seed.

Everything is drawn from ``np.random.default_rng([seed, tag, ...])`` streams, one per concern
(artists, albums, playlists, each user's plays...), so one part can be regenerated alone (a
user's plays on demand) and the world is the same in every process: no ``random`` module and no
``hash()`` of strings (Python salts it). Time-varying values (popularity, followers, playlist
membership) are pure functions of (seed, id, time).

The model, in short:

- artists have a Zipf-like stream weight; tracks share it through a heavy-tailed split, so half
  of all streams come from well under 1% of tracks;
- genre families (artist level) and release decades (album level) are assigned by a greedy
  weighted draw so that stream shares hit the targets, not just catalog shares;
- the listeners whose exports land are a sample of a simulated population
  ``scale.population_per_listener`` (1,000) times larger. The population's stream weights make
  popularity and the charts; the listeners have their own taste, correlated with the
  population's but not equal to it (the population's weights to the power 0.9, times lognormal
  factors per artist, their scene, and per track, their favourites, each of sigma 2; every
  (genre family, release decade) cell keeps its population share). On the demo world the rank
  correlation of a track's listener streams with its popularity is about 0.5, not 1;
- a music play picks a track from the user's rotation (their favourites, drawn flatter than
  their taste), from new releases (released in the last 120 days) or from the whole released
  catalog, by the listeners' stream weight;
- popularity is the quantile of the population's recency-weighted stream weight mapped so most
  tracks sit near 0, with a rise after release, a slow decay, and small noise per 8-hour
  window (at 1,000 people per listener the population's own sampling noise is far below one
  popularity point, so its expected streams are used);
- playlists are birth-death processes: tracks arrive at random times (mostly walking a shuffled
  cycle of the playlist's genre, so the playlists' union covers nearly the whole catalog) and
  stay a gamma-distributed time (mean ``scale.playlist_lifetime_days``), so memberships change
  a little every few windows.

One module per part, joined into :class:`SampleWorld` as mixins and built in this order:
``catalog`` (artists, albums, tracks), ``popularity`` (and followers), ``playlists``,
``listeners`` (the users, their taste and pick pools) and ``spoken_word`` (podcasts,
audiobooks); ``plays`` generates a listener's records on demand. ``base`` holds the time frame
and the shared helpers, ``names`` the word lists names are made of.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import pandas as pd

from spotify_assets.lib.sample.world.base import WORLD_START
from spotify_assets.lib.sample.world.catalog import CatalogMixin
from spotify_assets.lib.sample.world.listeners import ListenersMixin
from spotify_assets.lib.sample.world.playlists import PlaylistsMixin
from spotify_assets.lib.sample.world.plays import PlaysMixin
from spotify_assets.lib.sample.world.popularity import PopularityMixin
from spotify_assets.lib.sample.world.scales import WorldScale, get_scale
from spotify_assets.lib.sample.world.spoken_word import SpokenWordMixin


class SampleWorld(
    CatalogMixin,
    PopularityMixin,
    PlaylistsMixin,
    ListenersMixin,
    SpokenWordMixin,
    PlaysMixin,
):
    """A generated world. Frames are built once; time-varying values are computed on demand.

    Frames: ``artists``, ``albums``, ``tracks``, ``playlists``, ``playlist_entries``, ``users``,
    ``episodes`` (podcast episodes: episode_id, episode_name, show_name, duration_ms) and
    ``audiobook_chapters`` (chapter_id, chapter_title, audiobook_id, audiobook_title,
    duration_ms). Extra columns beyond the contract: ``artists.genre_family``,
    ``tracks.primary_artist_id``, ``tracks.release_ts`` (UTC), ``playlists.owned_by_app_user``,
    ``playlists.theme_family``, ``users.timezone`` and the user's plan columns.

    O(1) lookups for a fake HTTP server (``pandas.Index``: ``get_loc(id)`` gives the row
    position in the frame, ``get_indexer(ids)`` many at once with -1 for unknown ids):
    ``track_index``, ``artist_index``, ``album_index``, ``playlist_index``, ``user_index``.
    ``album_track_rows(album_id)`` gives the row positions of an album's tracks in disc/track
    order; ``artist_album_rows(artist_id)`` the rows of the albums of an artist.

    Time: the world starts at ``WORLD_START``; listening history runs for
    ``scale.history_days`` days from it (``history_end``); playlists evolve until
    ``WORLD_END`` and stay frozen after it.
    """

    def __init__(self, scale: WorldScale, seed: int):
        self.seed = int(seed)
        self.scale = scale
        self.history_end: pd.Timestamp = WORLD_START + pd.Timedelta(days=scale.history_days)
        self._plays_cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._plays_lock = threading.Lock()  # a fake server answers from several threads
        self._build_catalog()
        self._build_popularity()
        self._build_playlists()
        self._build_users()
        self._build_spoken_word()


@lru_cache(maxsize=4)
def _build_cached(scale: WorldScale, seed: int) -> SampleWorld:
    return SampleWorld(scale, seed)


def build_world(scale: str | WorldScale = "demo", seed: int = 42) -> SampleWorld:
    """Build (once per process and (scale, seed): fake server and assets share it) the world."""
    sc = get_scale(scale) if isinstance(scale, str) else scale
    return _build_cached(sc, int(seed))
