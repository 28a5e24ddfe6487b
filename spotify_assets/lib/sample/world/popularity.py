"""Popularity and followers in the sample world: the simulated population's recency-weighted
stream weight mapped to 0..100 as a quantile, with small noise per 8-hour window, for tracks,
artists and albums at any time; followers that grow slowly from a base."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from spotify_assets.lib.sample.world.base import (
    _NS_DAY,
    _NS_WINDOW,
    _START_NS,
    _hash_uniform,
    _rng,
    _to_ns,
)
from spotify_assets.lib.sample.world.scales import WorldScale


def _recency_factor(age_days: np.ndarray) -> np.ndarray:
    """Stream multiplier by age since release: a rise peaking ~18 days after release, then a
    slow decay over years (Spotify's popularity is recency-weighted streams)."""
    a = np.maximum(age_days, 0.0)
    tau = 18.0
    return (1.0 + a / 365.0) ** -0.35 * (1.0 + 5.0 * (a / tau) * np.exp(1.0 - a / tau))


class PopularityMixin:
    """Popularity and followers of :class:`SampleWorld`: the static ``popularity_base`` and
    ``followers_base`` columns, and their values at any time (``*_popularity_at``,
    ``artist_followers_at``)."""

    seed: int
    scale: WorldScale
    # from the catalog
    artists: pd.DataFrame
    tracks: pd.DataFrame
    track_index: pd.Index
    artist_index: pd.Index
    album_index: pd.Index
    _t_w: np.ndarray
    _track_release_ns: np.ndarray
    _art_first: np.ndarray
    _art_end: np.ndarray
    _alb_first: np.ndarray
    _alb_size: np.ndarray

    def _build_popularity(self) -> None:
        """Fix the reference distribution that maps recency-weighted stream weight to 0..100,
        then the static (no recency effect) popularity and followers."""
        log_w = np.log10(self._t_w)
        ref_ns = _START_NS + 365 * _NS_DAY
        released = self._track_release_ns <= ref_ns
        ref = log_w[released] + np.log10(
            _recency_factor((ref_ns - self._track_release_ns[released]) / _NS_DAY)
        )
        self._log_w = log_w
        self._ref_l = np.sort(ref)
        self._ref_q = (np.arange(len(ref)) + 0.5) / len(ref)
        track_pop_base = np.rint(self._pop_from_latent(log_w)).astype(np.int64)
        self.tracks["popularity_base"] = track_pop_base
        art_pop_base = self._reduce_artist(track_pop_base.astype(np.float64))
        self.artists["popularity_base"] = np.rint(art_pop_base).astype(np.int64)
        rng = _rng(self.seed, 2)
        n_a = len(self.artists)
        followers = 10 ** (1.3 + 0.055 * art_pop_base + rng.normal(0.0, 0.7, n_a))
        self.artists["followers_base"] = np.rint(followers).astype(np.int64)
        # Yearly follower growth: 3-40%, faster for smaller artists.
        self._follow_growth = 0.03 + 0.35 * rng.beta(1.0, 4.0, n_a) * (1 - art_pop_base / 150)
        # Column order as documented.
        self.artists = self.artists[
            [
                "artist_id",
                "artist_name",
                "genres",
                "followers_base",
                "popularity_base",
                "genre_family",
            ]
        ]
        self.tracks = self.tracks[
            [
                "track_id",
                "track_name",
                "album_id",
                "artist_ids",
                "duration_ms",
                "explicit",
                "disc_number",
                "track_number",
                "isrc",
                "stream_weight",
                "popularity_base",
                "primary_artist_id",
                "release_ts",
            ]
        ]

    def _pop_from_latent(self, latent: np.ndarray) -> np.ndarray:
        q = np.interp(latent, self._ref_l, self._ref_q)
        return 97.0 * q**5

    def _track_pop_idx(self, idx: np.ndarray, at_ns: int) -> np.ndarray:
        age_days = (at_ns - self._track_release_ns[idx]) / _NS_DAY
        cont = self._pop_from_latent(self._log_w[idx] + np.log10(_recency_factor(age_days)))
        window = (at_ns - _START_NS) // _NS_WINDOW
        u = _hash_uniform(self.seed, idx, window, 11)
        noise = (u - 0.5) * 4.0 * np.minimum(1.0, cont / 5.0)
        pop = np.clip(np.rint(cont + noise), 0, 100)
        pop[age_days < 0] = 0
        return pop.astype(np.int64)

    def _reduce_artist(self, track_values: np.ndarray) -> np.ndarray:
        """Per artist, from its tracks as primary artist (contiguous rows): 0.85 max + 0.15 mean,
        a stand-in for Spotify deriving artist popularity from its tracks'."""
        first, end = self._art_first, self._art_end
        mx = np.maximum.reduceat(track_values, first)
        mean = np.add.reduceat(track_values, first) / (end - first)
        return 0.85 * mx + 0.15 * mean

    def _indices(self, index: pd.Index, ids: Sequence[str] | str) -> np.ndarray:
        if isinstance(ids, str):
            ids = [ids]
        idx = index.get_indexer(pd.Index(list(ids), dtype=object))
        if (idx < 0).any():
            raise KeyError(list(ids)[int(np.flatnonzero(idx < 0)[0])])
        return idx

    def track_popularity_at(self, track_ids: Sequence[str], at: datetime) -> np.ndarray:
        """Popularity 0..100 of tracks at a time: recency-weighted stream weight as a quantile,
        rising after release, decaying slowly, with small noise per 8-hour window; 0 before
        release. Unknown ids raise KeyError."""
        return self._track_pop_idx(self._indices(self.track_index, track_ids), _to_ns(at))

    def artist_popularity_at(self, artist_ids: Sequence[str], at: datetime) -> np.ndarray:
        """Artist popularity derived from its tracks' popularity at ``at`` (as Spotify does)."""
        a_idx = self._indices(self.artist_index, artist_ids)
        at_ns = _to_ns(at)
        first, end = self._art_first[a_idx], self._art_end[a_idx]
        pos = (
            np.concatenate([np.arange(s, e) for s, e in zip(first, end, strict=True)])
            if len(a_idx)
            else np.zeros(0, dtype=np.int64)
        )
        vals = self._track_pop_idx(pos, at_ns).astype(np.float64)
        counts = end - first
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        if not len(a_idx):
            return np.zeros(0, dtype=np.int64)
        mx = np.maximum.reduceat(vals, starts)
        sums = np.add.reduceat(vals, starts)
        return np.clip(np.rint(0.85 * mx + 0.15 * sums / counts), 0, 100).astype(np.int64)

    def artist_followers_at(self, artist_ids: Sequence[str], at: datetime) -> np.ndarray:
        """Followers grow slowly and smoothly from ``followers_base`` at WORLD_START."""
        a_idx = self._indices(self.artist_index, artist_ids)
        years = (_to_ns(at) - _START_NS) / (365.25 * _NS_DAY)
        base = self.artists["followers_base"].to_numpy()[a_idx]
        return np.rint(base * np.exp(self._follow_growth[a_idx] * years)).astype(np.int64)

    def album_popularity_at(self, album_ids: Sequence[str], at: datetime) -> np.ndarray:
        """Album popularity: its most popular track's, slightly damped by the rest."""
        al_idx = self._indices(self.album_index, album_ids)
        if not len(al_idx):
            return np.zeros(0, dtype=np.int64)
        first, size = self._alb_first[al_idx], self._alb_size[al_idx]
        pos = np.concatenate([np.arange(s, s + n) for s, n in zip(first, size, strict=True)])
        vals = self._track_pop_idx(pos, _to_ns(at)).astype(np.float64)
        starts = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
        mx = np.maximum.reduceat(vals, starts)
        mean = np.add.reduceat(vals, starts) / size
        return np.clip(np.rint(0.9 * mx + 0.1 * mean), 0, 100).astype(np.int64)

    @property
    def population_size(self) -> int:
        """People in the simulated population whose streams make popularity: the listeners
        whose exports land are ``1 / scale.population_per_listener`` of it."""
        return self.scale.n_users * self.scale.population_per_listener
