"""The sample world's listeners (the users whose exports land): country and time zone, platforms,
habits, activity period and IP addresses, drawn from the stream ``_rng(seed, 4)``, and their
taste, from ``_rng(seed, 6)``, which the play generator picks tracks by."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES
from spotify_assets.lib.sample.world.base import (
    _NS_DAY,
    _START_NS,
    APP_USER_DISPLAY_NAME,
    APP_USER_ID,
    _ReleasePool,
    _rng,
    _utc,
)
from spotify_assets.lib.sample.world.names import _FIRST, _LAST
from spotify_assets.lib.sample.world.scales import WorldScale
from spotify_assets.lib.timezones import COUNTRY_TIMEZONES

#: The listeners' countries (ISO codes), in the order ``_COUNTRY_WEIGHTS`` weighs them; a
#: listener's time zone is its country's in the platform's table
#: (:data:`spotify_assets.lib.timezones.COUNTRY_TIMEZONES`), as local time is computed.
SAMPLE_COUNTRIES: tuple[str, ...] = (
    "US", "BR", "GB", "MX", "DE", "FR", "ES", "IT", "CA", "AU", "NL", "SE",
    "PL", "IN", "ID", "PH", "JP", "AR", "CO", "TR", "NG", "ZA", "KR", "CL",
)  # fmt: skip
# Share of the listeners by country, in SAMPLE_COUNTRIES order (normalized when drawn).
_COUNTRY_WEIGHTS = np.array([
    0.26, 0.09, 0.07, 0.06, 0.06, 0.04, 0.03, 0.03, 0.04, 0.03, 0.02, 0.02,
    0.02, 0.04, 0.03, 0.03, 0.03, 0.02, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01,
])  # fmt: skip

# The listeners' taste against the population's (see SampleWorld._listener_taste): exponent
# of the population's weights, then lognormal factors per artist (scene) and per track.
_TASTE_ALPHA = 0.9
_TASTE_ARTIST_SIGMA = 2.0
_TASTE_TRACK_SIGMA = 2.0

PLATFORMS: tuple[str, ...] = (
    "android",
    "ios",
    "windows",
    "osx",
    "linux",
    "web_player",
    "android_tv",
    "sonos",
    "cast_to_device",
)
_PRIMARY_PLATFORM_P = np.array([0.38, 0.32, 0.12, 0.08, 0.02, 0.05, 0.015, 0.015, 0.0])
_SECONDARY_PLATFORM_P = np.array([0, 0, 0.3, 0.2, 0, 0.2, 0.1, 0.05, 0.15])


class ListenersMixin:
    """Builds ``users`` (and ``user_index``) for :class:`SampleWorld`, their IP addresses, and
    the pick pools the play generator draws their tracks from (``_static_pool``,
    ``_favourite_pool``, ``_family_pools``, all by the listeners' taste ``_l_w``)."""

    seed: int
    scale: WorldScale
    # from the catalog
    tracks: pd.DataFrame
    _a_w: np.ndarray
    _t_w: np.ndarray
    _fam: np.ndarray
    _trk_artist: np.ndarray
    _track_release_ns: np.ndarray

    def _build_users(self) -> None:
        sc = self.scale
        rng = _rng(self.seed, 4)
        n_u = sc.n_users
        user_ids = [APP_USER_ID] + [f"user_{i:04d}" for i in range(1, n_u)]
        country = rng.choice(
            len(SAMPLE_COUNTRIES), size=n_u, p=_COUNTRY_WEIGHTS / _COUNTRY_WEIGHTS.sum()
        )
        country[0] = SAMPLE_COUNTRIES.index("US")
        # Plays per user: heavy-tailed; the app user is a solid, steady listener.
        act = rng.lognormal(0.0, 0.9, n_u)
        act[0] = max(act[0], float(np.median(act)) * 1.5)
        n_plays = rng.multinomial(sc.n_plays - n_u * 20, act / act.sum()) + 20
        h = sc.history_days
        late = rng.random(n_u) < 0.3
        first_day = np.where(late, rng.integers(0, max(1, int(0.6 * h)), n_u), 0)
        churn = rng.random(n_u) < 0.25
        span = np.maximum(h - first_day, 1)
        last_day = np.where(
            churn,
            first_day + np.minimum(span - 1, 30 + (rng.random(n_u) * span).astype(np.int64)),
            h - 1,
        )
        first_day[0], last_day[0] = 0, h - 1
        primary = rng.choice(len(PLATFORMS), size=n_u, p=_PRIMARY_PLATFORM_P)
        secondary = rng.choice(len(PLATFORMS), size=n_u, p=_SECONDARY_PLATFORM_P)
        podcast = np.minimum(rng.gamma(0.8, 0.0375, n_u), 0.25)
        podcast[0] = max(podcast[0], 0.03)
        audiobook = np.where(rng.random(n_u) < 0.15, 0.01, 0.0)
        audiobook[0] = 0.005
        self.users = pd.DataFrame(
            {
                "user_id": np.array(user_ids, dtype=object),
                "display_name": np.array(
                    [APP_USER_DISPLAY_NAME]
                    + [
                        f"{_FIRST[i % len(_FIRST)]} {_LAST[(i * 7) % len(_LAST)][0]}."
                        for i in range(1, n_u)
                    ],
                    dtype=object,
                ),
                "country": np.array(SAMPLE_COUNTRIES, dtype=object)[country],
                "timezone": np.array(
                    [COUNTRY_TIMEZONES[SAMPLE_COUNTRIES[c]] for c in country], dtype=object
                ),
                "primary_platform": np.array(PLATFORMS, dtype=object)[primary],
                "secondary_platform": np.array(PLATFORMS, dtype=object)[secondary],
                "shuffle_share": rng.beta(2.0, 2.5, n_u),
                "podcast_share": podcast,
                "audiobook_share": audiobook,
                "sessions_per_day": rng.lognormal(np.log(3.9), 0.3, n_u),
                "rotation_share": rng.uniform(0.15, 0.35, n_u),
                "chronotype_shift": rng.choice([-1, 0, 0, 0, 1], size=n_u),
                "n_plays": n_plays.astype(np.int64),
                "active_from": _utc(_START_NS + first_day * _NS_DAY),
                "active_until": _utc(_START_NS + (last_day + 1) * _NS_DAY),
            }
        )
        self.user_index = pd.Index(self.users["user_id"])
        # 1-3 IP addresses per user (personal data in the raw area only).
        n_ip = rng.integers(1, 4, n_u)
        octets = rng.integers(1, 255, (n_u, 3, 4))
        octets[..., 0] = rng.integers(11, 223, (n_u, 3))
        self._user_ips = [
            [".".join(str(int(x)) for x in octets[u, k]) for k in range(n_ip[u])]
            for u in range(n_u)
        ]
        self._l_w = self._listener_taste()
        self._static_pool = _ReleasePool(
            np.arange(len(self.tracks)), self._track_release_ns, self._l_w
        )
        # Personal favourites lean further from the crowd: a flatter draw from the same taste.
        self._favourite_pool = _ReleasePool(
            np.arange(len(self.tracks)), self._track_release_ns, np.sqrt(self._l_w)
        )
        fam_t = self._fam[self._trk_artist]
        self._family_pools = [
            _ReleasePool(np.flatnonzero(fam_t == f), self._track_release_ns, self._l_w)
            for f in range(len(GENRE_FAMILIES))
        ]

    def _listener_taste(self) -> np.ndarray:
        """Stream weights of the listeners whose exports land: the population's weights
        (``_t_w``, which make popularity and the charts) flattened and reweighted by the
        listeners' own scene (a factor per artist: local scenes, what their circle plays) and
        personal favourites (a factor per track), both lognormal. Each cell of (genre family,
        release decade) keeps its population share, so the calibrated genre and decade shares
        of the listeners' streams hold; within a cell the ranking differs."""
        rng = _rng(self.seed, 6)
        n_a, n_t = len(self._a_w), len(self._t_w)
        scene = rng.normal(0.0, _TASTE_ARTIST_SIGMA, n_a)[self._trk_artist]
        personal = rng.normal(0.0, _TASTE_TRACK_SIGMA, n_t)
        log_w = _TASTE_ALPHA * np.log(self._t_w) + scene + personal
        w = np.exp(log_w - log_w.max())
        year = (self._track_release_ns // _NS_DAY).astype("datetime64[D]").astype(
            "datetime64[Y]"
        ).astype(np.int64) + 1970
        cell = self._fam[self._trk_artist] * 8 + np.clip((year - 1990) // 10, 0, 7)
        n_cells = int(cell.max()) + 1
        pop_share, own = np.bincount(cell, self._t_w, n_cells), np.bincount(cell, w, n_cells)
        w = w * (pop_share / np.where(own > 0, own, 1.0))[cell]
        return w / w.sum()

    def user_ips(self, user_id: str) -> list[str]:
        """The IP addresses the user's plays come from (``ip_addr`` in the export)."""
        return self._user_ips[int(self.user_index.get_loc(user_id))]
