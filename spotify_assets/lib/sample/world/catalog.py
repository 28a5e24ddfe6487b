"""The sample world's music catalog: artists (:mod:`.artists`), then their releases and tracks
(:mod:`.releases`), all drawn from the one stream ``_rng(seed, 1)`` in a fixed order, made
into the ``artists``, ``albums`` and ``tracks`` frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES
from spotify_assets.lib.sample.world.artists import _Artists, _draw_artists
from spotify_assets.lib.sample.world.base import _rng, _utc
from spotify_assets.lib.sample.world.releases import _Albums, _draw_releases, _Tracks
from spotify_assets.lib.sample.world.scales import WorldScale


class CatalogMixin:
    """Builds ``artists``, ``albums`` and ``tracks`` (and their indexes) for :class:`SampleWorld`,
    and keeps the internal arrays the other parts use: stream weights (``_t_w`` per track,
    ``_a_w`` per artist), genre family per artist (``_fam``), each track's album and artist,
    release times and durations, and the contiguous row ranges of an album's tracks and an
    artist's tracks and albums."""

    seed: int
    scale: WorldScale

    def _build_catalog(self) -> None:
        sc, seed = self.scale, self.seed
        rng = _rng(seed, 1)
        n_a, n_t = sc.n_artists, sc.n_tracks
        if n_t < n_a:
            raise ValueError("a world needs at least one track per artist")
        # One stream for the whole catalog: the artists draw first, then the releases.
        art = _draw_artists(rng, n_a, n_t)
        alb, trk = _draw_releases(rng, art)
        self._keep_catalog_arrays(art, alb, trk)
        self.artists = _artists_frame(art)
        self.albums = _albums_frame(alb, art)
        self.tracks = _tracks_frame(trk, alb, art)
        self.track_index = pd.Index(self.tracks["track_id"])
        self.artist_index = pd.Index(self.artists["artist_id"])
        self.album_index = pd.Index(self.albums["album_id"])

    def _keep_catalog_arrays(self, art: _Artists, alb: _Albums, trk: _Tracks) -> None:
        """Keep internal arrays for the time-varying functions and the play generator."""
        n_a = len(art.ids)
        trk_artist, alb_artist = art.track_artist, alb.artist
        self._a_w = art.weight
        self._fam = art.family
        self._t_w = art.track_weight
        self._trk_album = trk.album
        self._trk_artist = trk_artist
        self._alb_first = alb.first
        self._alb_size = alb.size
        self._alb_artist = alb_artist
        self._track_release_ns = trk.release_ns
        self._duration_ms = trk.duration_ms
        art_first = np.searchsorted(trk_artist, np.arange(n_a), side="left")
        art_end = np.searchsorted(trk_artist, np.arange(n_a), side="right")
        self._art_first, self._art_end = art_first, art_end
        self._art_alb_first = np.searchsorted(alb_artist, np.arange(n_a), side="left")
        self._art_alb_end = np.searchsorted(alb_artist, np.arange(n_a), side="right")

    def album_track_rows(self, album_id: str) -> np.ndarray:
        """Row positions in ``tracks`` of an album's tracks, in disc/track order."""
        j = self.album_index.get_loc(album_id)
        return np.arange(self._alb_first[j], self._alb_first[j] + self._alb_size[j])

    def artist_album_rows(self, artist_id: str) -> np.ndarray:
        """Row positions in ``albums`` of the albums whose main artist is ``artist_id``."""
        i = self.artist_index.get_loc(artist_id)
        return np.arange(self._art_alb_first[i], self._art_alb_end[i])


def _artists_frame(art: _Artists) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "artist_id": art.ids,
            "artist_name": np.array(art.names, dtype=object),
            "genres": pd.Series(art.genres, dtype=object),
            "genre_family": np.array(GENRE_FAMILIES, dtype=object)[art.family],
        }
    )


def _albums_frame(alb: _Albums, art: _Artists) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "album_id": alb.ids,
            "album_name": np.array(alb.names, dtype=object),
            "album_type": alb.type,
            "release_date": alb.release_date,
            "release_date_precision": alb.precision,
            "total_tracks": alb.size,
            "artist_ids": pd.Series([[art.ids[a]] for a in alb.artist], dtype=object),
            "label": np.array(alb.labels, dtype=object),
            "upc": np.array([f"{u:012d}" for u in alb.upc], dtype=object),
        }
    )


def _tracks_frame(trk: _Tracks, alb: _Albums, art: _Artists) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "track_id": trk.ids,
            "track_name": np.array(trk.names, dtype=object),
            "album_id": alb.ids[trk.album],
            "artist_ids": pd.Series(trk.artist_ids, dtype=object),
            "primary_artist_id": art.ids[art.track_artist],
            "duration_ms": trk.duration_ms,
            "explicit": trk.explicit,
            "disc_number": trk.disc.astype(np.int64),
            "track_number": trk.number.astype(np.int64),
            "isrc": np.array(trk.isrc, dtype=object),
            "stream_weight": art.track_weight,
            "release_ts": _utc(trk.release_ns),
        }
    )
