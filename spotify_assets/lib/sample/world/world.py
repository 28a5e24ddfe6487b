"""The deterministic sample world: a synthetic but calibrated Spotify catalog, playlists and
listeners (docs/ARCHITECTURE.md, section 9), built with vectorized numpy from one seed.

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
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache

import numpy as np
import pandas as pd

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES, MICRO_GENRES
from spotify_assets.lib.sample.world.scales import WorldScale, get_scale

APP_USER_ID = "sample_curator"
APP_USER_DISPLAY_NAME = "Sample Curator"
FOREIGN_OWNER_ID = "another_user"
WORLD_START: pd.Timestamp = pd.Timestamp("2024-01-01", tz="UTC")
# Playlists evolve until WORLD_END and are frozen after it (memberships are finite tables).
WORLD_END: pd.Timestamp = pd.Timestamp("2028-01-01", tz="UTC")
SNAPSHOT_WINDOW = pd.Timedelta(hours=8)

_NS_DAY = 86_400 * 10**9
_NS_WINDOW = 8 * 3_600 * 10**9
_START_NS = WORLD_START.value
_END_NS = WORLD_END.value
_NAT_NS = np.iinfo(np.int64).max  # "never removed" in the int64 membership arrays

# One time zone per country: the capital's (docs/ARCHITECTURE.md, section 7, "local time").
COUNTRY_TIMEZONES: dict[str, str] = {
    "US": "America/New_York",
    "BR": "America/Sao_Paulo",
    "GB": "Europe/London",
    "MX": "America/Mexico_City",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "ES": "Europe/Madrid",
    "IT": "Europe/Rome",
    "CA": "America/Toronto",
    "AU": "Australia/Sydney",
    "NL": "Europe/Amsterdam",
    "SE": "Europe/Stockholm",
    "PL": "Europe/Warsaw",
    "IN": "Asia/Kolkata",
    "ID": "Asia/Jakarta",
    "PH": "Asia/Manila",
    "JP": "Asia/Tokyo",
    "AR": "America/Argentina/Buenos_Aires",
    "CO": "America/Bogota",
    "TR": "Europe/Istanbul",
    "NG": "Africa/Lagos",
    "ZA": "Africa/Johannesburg",
    "KR": "Asia/Seoul",
    "CL": "America/Santiago",
}
_COUNTRY_WEIGHTS = np.array(
    [
        0.26,
        0.09,
        0.07,
        0.06,
        0.06,
        0.04,
        0.03,
        0.03,
        0.04,
        0.03,
        0.02,
        0.02,
        0.02,
        0.04,
        0.03,
        0.03,
        0.03,
        0.02,
        0.02,
        0.02,
        0.01,
        0.01,
        0.01,
        0.01,
    ]
)
_COUNTRIES = tuple(COUNTRY_TIMEZONES)

# Stream shares by genre family (docs/ARCHITECTURE.md, section 9), in GENRE_FAMILIES order.
_FAMILY_STREAM_SHARE = {
    "hip hop/r&b": 0.25,
    "rock": 0.20,
    "pop": 0.19,
    "latin": 0.10,
    "country": 0.07,
    "electronic": 0.06,
    "jazz/blues": 0.02,
    "classical": 0.015,
    "metal": 0.025,
    "folk/acoustic": 0.02,
    "asian pop": 0.02,
    "world": 0.02,
    "other": 0.01,
}
_FAMILY_P = np.array([_FAMILY_STREAM_SHARE[f] for f in GENRE_FAMILIES])
_FAMILY_P = _FAMILY_P / _FAMILY_P.sum()
# Share of music picks that go to recent releases (all 2020s) rather than the whole catalog.
_P_NEW = 0.20
# The listeners' taste against the population's (see SampleWorld._listener_taste): exponent
# of the population's weights, then lognormal factors per artist (scene) and per track.
_TASTE_ALPHA = 0.9
_TASTE_ARTIST_SIGMA = 2.0
_TASTE_TRACK_SIGMA = 2.0
_NEW_WINDOW_DAYS = 120
# Static (catalog) decade shares so that, with the new-release picks, streams are about
# 2020s 50%, 2010s 30%, 2000s 10%, older 10%.
_DECADES = np.array([2020, 2010, 2000, 1990, 1980, 1970, 1960])
_DECADE_STATIC_SHARE = np.array([0.40, 0.35, 0.125, 0.06, 0.035, 0.02, 0.01])
# Mean plays per session; podcasts and audiobooks come in short sessions of their own.
_SESSION_LEN = (12.0, 1.6, 1.3)

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

REASONS: tuple[str, ...] = (
    "trackdone",
    "fwdbtn",
    "backbtn",
    "endplay",
    "logout",
    "remote",
    "clickrow",
    "playbtn",
    "appload",
    "trackerror",
    "unexpected-exit",
    "unexpected-exit-while-paused",
)
(
    _R_TRACKDONE,
    _R_FWD,
    _R_BACK,
    _R_ENDPLAY,
    _R_LOGOUT,
    _R_REMOTE,
    _R_CLICKROW,
    _R_PLAYBTN,
    _R_APPLOAD,
    _R_TRACKERROR,
    _R_UNEXP,
    _R_UNEXP_PAUSED,
) = range(len(REASONS))

CONTENT_TYPES: tuple[str, ...] = ("music", "podcast", "audiobook")

# Local-time rhythm of session starts (hour 0..23): low 02-05, morning peak 09-10, main 18-21.
_HOUR_WEIGHTS = np.array(
    [
        2.2,
        1.3,
        0.6,
        0.4,
        0.4,
        0.7,
        1.6,
        3.0,
        4.4,
        6.0,
        5.0,
        3.5,
        3.7,
        3.5,
        3.4,
        3.6,
        4.2,
        5.0,
        6.1,
        6.5,
        6.4,
        5.9,
        4.6,
        3.2,
    ]
)
# Monday..Sunday: Friday heaviest, Sunday about 85% of Friday.
_WEEKDAY_FACTOR = np.array([0.93, 0.94, 0.95, 0.97, 1.00, 0.93, 0.85])

_ALPHABET = np.frombuffer(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
)


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    """Word lists are written as one string for readability."""
    return tuple(text.split(sep))


_ADJ = _words(
    "Midnight Golden Electric Velvet Broken Neon Silent Wild Lonely Sweet Cold Burning Paper "
    "Crystal Endless Hollow Lucky Restless Summer Purple Faded Savage Gentle Crimson Bitter "
    "Shining Lost Secret Heavy Blue Silver Little Holy Dirty Sacred Fragile Vivid Quiet Bright "
    "Dark Honey Static Wicked Tender Frozen Radiant Borrowed Hidden Lazy"
)
_NOUN = _words(
    "Hearts Dreams Nights Waves Roads Lights Shadows Rivers Fire Rain Skies Echoes Roses "
    "Streets Tides Ghosts Wolves Mirrors Flowers Stars Bones Diamonds Sparks Horizons Angels "
    "Oceans Cities Wires Machines Seasons Storms Lines Gardens Highways Signals Kings Queens "
    "Youth Summers Clouds Letters Satellites Windows Bridges Tigers Comets Lanterns Islands"
)
_FIRST = _words(
    "Maya Leo Ava Jay Nina Kai Zoe Eli Luna Max Ivy Theo Aria Noah Sky Remy Jade Omar Lena Cruz "
    "Mila Dante Rosa Finn Nia Jonah Tessa Marco Selena Dev Yuna Kenji Amara Tomas Ines Sol Ray "
    "Wren Cleo Ezra Malik Priya Sven Chloe Mateo Aiko Kofi Lucia Bruno Hana"
)
_LAST = _words(
    "Rivers Stone Vale Cruz Park Moreno Hart Quinn Blake Reyes Kim Lane Ford Santos West Gray "
    "Nakamura Okafor Silva Novak Fox Bell Diaz Cole Meyer Sato Banks Rossi Ortiz Walker Lindqvist "
    "Haddad Mensah Ferreira Kowalski Brooks"
)
_SYLLABLES = _words(
    "ka ri mo zen lu ta vel sha no dri mi ra jo ve lin tor sa ki bel du na rio xa len ko fa "
    "ny ar el is ondo"
)
_VERB = _words(
    "Chasing Falling Running Dancing Waiting Burning Holding Losing Calling Breaking Saving "
    "Leaving Drifting Fading Finding Missing"
)
_OBJ = _words(
    "You|the Sun|Midnight|Home|Gold|Forever|Tonight|the Light|Your Love|Us|the Moon|Ghosts|"
    "the Weekend|Paradise|Nowhere|the Feeling",
    "|",
)
_NAME_PREFIX = {
    "hip hop/r&b": ("Lil ", "Young ", "MC ", "Big ", ""),
    "latin": ("Los ", "La ", "El ", ""),
    "electronic": ("DJ ", "", ""),
    "asian pop": ("", ""),
    "country": ("", ""),
}
_MAJOR_LABELS = (
    "Northwind Records",
    "Blue Harbor Music",
    "Meridian Recordings",
    "Atlas Sound",
    "Crownfield Music",
    "Silverline Records",
    "Parallel Music Group",
    "Redwood Entertainment",
    "Lumen Records",
    "Kestrel Music",
)
_INDIE_WORDS = (
    "Moth",
    "Lantern",
    "Copper",
    "Static",
    "Orchard",
    "Tide",
    "Basement",
    "Comet",
    "Harbor",
    "Fern",
    "Echo",
    "Granite",
    "Saffron",
    "Kite",
    "Marble",
    "Juniper",
)
_FAMILY_LABEL = {
    "hip hop/r&b": "Hip Hop",
    "rock": "Rock",
    "pop": "Pop",
    "latin": "Latin",
    "country": "Country",
    "electronic": "Electronic",
    "jazz/blues": "Jazz",
    "classical": "Classical",
    "metal": "Metal",
    "folk/acoustic": "Acoustic",
    "asian pop": "K-Pop & J-Pop",
    "world": "Afrobeats & World",
    "other": "Chill",
}
_MIXED_PLAYLIST_NAMES = (
    "Today's Mix",
    "Road Trip",
    "Focus Flow",
    "Workout Energy",
    "Throwback Jams",
    "Sunday Reset",
    "Fresh Finds",
    "Late Night Drive",
    "Morning Coffee",
    "Party Starters",
)


# ----------------------------------------------------------------------------- helpers


def _rng(seed: int, *tags: int) -> np.random.Generator:
    """An independent stream per (seed, concern): parts can be regenerated alone."""
    return np.random.default_rng([int(seed), *[int(t) for t in tags]])


def _base62_ids(rng: np.random.Generator, n: int, length: int = 22) -> np.ndarray:
    """n Spotify-like ids (22 base62 characters) as an object array of str."""
    codes = rng.integers(0, 62, size=(n, length), dtype=np.uint8)
    raw = _ALPHABET[codes].tobytes()
    return np.array(
        [raw[i * length : (i + 1) * length].decode("ascii") for i in range(n)], dtype=object
    )


def ndtri(p: np.ndarray) -> np.ndarray:
    """Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9): keeps
    scipy out of the import path."""
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    lo, hi = p < 0.02425, p > 1 - 0.02425
    mid = ~(lo | hi)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )
    for sel, sign in ((lo, 1.0), (hi, -1.0)):
        q = np.sqrt(-2 * np.log(np.where(sign > 0, p[sel], 1 - p[sel])))
        out[sel] = (
            sign
            * (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        )
    return out


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Counter-based hash (splitmix64 finalizer) for noise that is a pure function of ids."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x += np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


def _hash_uniform(seed: int, a: np.ndarray, b: np.ndarray | int, salt: int) -> np.ndarray:
    """Uniform(0, 1) as a pure function of (seed, a, b, salt)."""
    with np.errstate(over="ignore"):
        key = (
            np.asarray(a, dtype=np.uint64) * np.uint64(0x100000001B3)
            ^ (np.asarray(b, dtype=np.uint64) + np.uint64(salt)) * np.uint64(0xC2B2AE3D27D4EB4F)
            ^ np.uint64(seed) * np.uint64(0x165667B19E3779F9)
        )
    return (_splitmix64(key) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _to_ns(at: datetime | date | str | pd.Timestamp) -> int:
    """A point in time as UTC epoch nanoseconds; naive values are taken as UTC."""
    ts = pd.Timestamp(at)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value)


def _utc(ns: np.ndarray | int) -> pd.DatetimeIndex:
    """UTC DatetimeIndex from epoch nanoseconds (``_NAT_NS`` -> NaT), without parsing."""
    arr = np.atleast_1d(np.asarray(ns, dtype=np.int64))
    arr = np.where(arr == _NAT_NS, np.iinfo(np.int64).min, arr)
    return pd.DatetimeIndex(arr.view("datetime64[ns]")).tz_localize("UTC")


def _greedy_weighted_assign(
    rng: np.random.Generator,
    weights: np.ndarray,
    targets: np.ndarray,
    preassigned: np.ndarray | None = None,
    head_share: float = 0.97,
    max_head: int = 4000,
) -> np.ndarray:
    """Assign each item a category so that *weighted* category shares hit ``targets``.

    Heavy items (the head, by weight) are drawn one by one with probability proportional to
    each category's squared deficit; the light tail is drawn i.i.d. from ``targets``. A plain
    i.i.d. draw would leave the shares at the mercy of a few hits. ``preassigned`` (>= 0) items
    keep their category and count towards it.
    """
    n = len(weights)
    k = len(targets)
    out = np.full(n, -1, dtype=np.int64)
    assigned = np.zeros(k)
    total = 0.0
    if preassigned is not None:
        fixed = preassigned >= 0
        out[fixed] = preassigned[fixed]
        np.add.at(assigned, preassigned[fixed], weights[fixed])
        total = float(weights[fixed].sum())
    free = np.flatnonzero(out < 0)
    order = free[np.argsort(-weights[free], kind="stable")]
    cum = np.cumsum(weights[order]) / max(weights[order].sum(), 1e-300)
    n_head = int(min(max_head, np.searchsorted(cum, head_share) + 1, len(order)))
    draws = rng.random(n_head)
    for i, item in enumerate(order[:n_head]):
        w = weights[item]
        deficit = np.maximum(targets * (total + w) - assigned, 0.0) ** 2
        s = deficit.sum()
        if s <= 0:
            c = int(np.argmax(targets * (total + w) - assigned))
        else:
            c = int(np.searchsorted(np.cumsum(deficit) / s, draws[i], side="right"))
            c = min(c, k - 1)
        out[item] = c
        assigned[c] += w
        total += w
    tail = order[n_head:]
    out[tail] = rng.choice(k, size=len(tail), p=targets / targets.sum())
    return out


def _dedupe_names(names: list[str], suffixes: Sequence[str]) -> list[str]:
    """Make names unique by appending suffixes in order (then numbers) to repeats."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        k = seen.get(name, 0)
        seen[name] = k + 1
        if k == 0:
            out.append(name)
        elif k <= len(suffixes):
            out.append(f"{name}{suffixes[k - 1]}")
        else:
            out.append(f"{name} {k + 1}")
    return out


class _ReleasePool:
    """Tracks sorted by release time with cumulative stream weights, for vectorized picks of
    "a track released before t (and after t - window), by weight or uniformly"."""

    def __init__(self, track_idx: np.ndarray, release_ns: np.ndarray, weights: np.ndarray):
        order = np.argsort(release_ns[track_idx], kind="stable")
        self.idx = track_idx[order]
        self.release = release_ns[self.idx]
        self.cw = np.concatenate([[0.0], np.cumsum(weights[self.idx])])

    def __len__(self) -> int:
        return len(self.idx)

    def pick(
        self,
        times: np.ndarray,
        u: np.ndarray,
        window_ns: int | None = None,
        uniform: bool = False,
        min_count: int = 1,
    ) -> np.ndarray:
        """Track index per time (-1 where fewer than ``min_count`` tracks qualify)."""
        hi = np.searchsorted(self.release, times, side="right")
        lo = (
            np.searchsorted(self.release, times - window_ns, side="left")
            if window_ns is not None
            else np.zeros_like(hi)
        )
        ok = hi - lo >= min_count
        if uniform:
            j = lo + np.floor(u * (hi - lo)).astype(np.int64)
        else:
            target = self.cw[lo] + u * (self.cw[hi] - self.cw[lo])
            j = np.searchsorted(self.cw, target, side="right") - 1
        j = np.clip(j, lo, np.maximum(hi - 1, lo))
        out = np.full(len(times), -1, dtype=np.int64)
        if len(self.idx):
            out[ok] = self.idx[np.minimum(j[ok], len(self.idx) - 1)]
        return out


def _recency_factor(age_days: np.ndarray) -> np.ndarray:
    """Stream multiplier by age since release: a rise peaking ~18 days after release, then a
    slow decay over years (Spotify's popularity is recency-weighted streams)."""
    a = np.maximum(age_days, 0.0)
    tau = 18.0
    return (1.0 + a / 365.0) ** -0.35 * (1.0 + 5.0 * (a / tau) * np.exp(1.0 - a / tau))


# ----------------------------------------------------------------------------- the world


class SampleWorld:
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

    # ------------------------------------------------------------------ catalog

    def _build_catalog(self) -> None:
        sc, seed = self.scale, self.seed
        rng = _rng(seed, 1)
        n_a, n_t = sc.n_artists, sc.n_tracks
        if n_t < n_a:
            raise ValueError("a world needs at least one track per artist")

        # Stream weights. Track rank comes from a noisy score (artist prominence + the track's
        # own luck); the weight is a lognormal quantile of the rank (sigma 2.9, the top 15
        # compressed), so half of all streams come from under 1% of tracks at every scale,
        # without one random track swallowing everything in a small world.
        prominence = rng.normal(0.0, 1.0, n_a)
        p_tracks = np.exp(0.45 * prominence) * rng.lognormal(0.0, 0.4, n_a)
        n_per_artist = 1 + rng.multinomial(n_t - n_a, p_tracks / p_tracks.sum())
        trk_artist = np.repeat(np.arange(n_a), n_per_artist)
        score = 1.2 * prominence[trk_artist] + rng.normal(0.0, 1.0, n_t)
        rank = np.empty(n_t, dtype=np.int64)
        rank[np.argsort(-score, kind="stable")] = np.arange(n_t)
        zq = ndtri((n_t - rank - 0.5) / n_t)
        knee = max(float(ndtri(np.array([1.0 - 15.0 / n_t]))[0]), 1.5)
        zq = np.where(zq > knee, knee + 0.5 * (zq - knee), zq)
        t_w = np.exp(2.9 * zq)
        t_w /= t_w.sum()
        a_w = np.bincount(trk_artist, weights=t_w, minlength=n_a)

        # Genre family (artist level): ~10% of light artists have no genres at all ("other").
        fam_targets = np.array([_FAMILY_STREAM_SHARE[f] for f in GENRE_FAMILIES])
        other_code = GENRE_FAMILIES.index("other")
        pre = np.full(n_a, -1, dtype=np.int64)
        light = np.argsort(-a_w, kind="stable")[int(0.3 * n_a) :]
        no_genre = rng.choice(light, size=int(round(0.10 * n_a)), replace=False)
        pre[no_genre] = other_code
        fam = _greedy_weighted_assign(rng, a_w, fam_targets, preassigned=pre)
        has_genres = np.ones(n_a, dtype=bool)
        has_genres[no_genre] = False

        # Micro-genres: 1-3 from the family, favouring its first (more common) names.
        n_gen = rng.choice([1, 2, 3], size=n_a, p=[0.45, 0.35, 0.20])
        gdraw = rng.random((n_a, 3))
        genres_col: list[list[str]] = []
        fam_cdf = {}
        for f in GENRE_FAMILIES:
            p = (np.arange(len(MICRO_GENRES[f])) + 1.0) ** -0.7
            fam_cdf[f] = np.cumsum(p / p.sum())
        for i in range(n_a):
            if not has_genres[i]:
                genres_col.append([])
                continue
            f = GENRE_FAMILIES[fam[i]]
            names = MICRO_GENRES[f]
            picks = np.searchsorted(fam_cdf[f], gdraw[i, : n_gen[i]], side="right")
            genres_col.append(list(dict.fromkeys(names[min(j, len(names) - 1)] for j in picks)))

        # Names.
        pattern = rng.choice(5, size=n_a, p=[0.35, 0.15, 0.15, 0.2, 0.15])
        i_first = rng.integers(0, len(_FIRST), n_a)
        i_last = rng.integers(0, len(_LAST), n_a)
        i_adj = rng.integers(0, len(_ADJ), n_a)
        i_noun = rng.integers(0, len(_NOUN), n_a)
        i_pre = rng.integers(0, 1000, n_a)
        i_syl = rng.integers(0, len(_SYLLABLES), (n_a, 3))
        n_syl = rng.integers(2, 4, n_a)
        coined = [
            "".join(_SYLLABLES[j] for j in i_syl[i, : n_syl[i]]).capitalize() for i in range(n_a)
        ]
        names = []
        for i in range(n_a):
            p = pattern[i]
            surname = _LAST[i_last[i]] if i_pre[i] % 3 == 0 else coined[i]
            if p == 0:
                names.append(f"{_FIRST[i_first[i]]} {surname}")
            elif p == 1:
                names.append(f"The {_ADJ[i_adj[i]]} {_NOUN[i_noun[i]]}")
            elif p == 2:
                names.append(coined[i])
            elif p == 3:
                prefixes = _NAME_PREFIX.get(GENRE_FAMILIES[fam[i]], ("",))
                prefix = prefixes[i_pre[i] % len(prefixes)]
                first = _FIRST[i_first[i]]
                names.append(f"{prefix}{coined[i]}" if prefix else f"{first} {surname}")
            else:
                names.append(f"{_ADJ[i_adj[i]]} {_NOUN[i_noun[i]]}")
        artist_names = _dedupe_names(names, (" & Co", " Collective", " II", " Band", " Project"))
        artist_ids = _base62_ids(rng, n_a)

        # Labels: popular artists mostly on "majors", the tail indie or self-released.
        top = a_w >= np.quantile(a_w, 0.85)
        u_lab = rng.random(n_a)
        major = np.where(top, u_lab < 0.75, u_lab < 0.15)
        indie = ~major & (rng.random(n_a) < 0.55)
        maj_i = rng.integers(0, len(_MAJOR_LABELS), n_a)
        ind_i = rng.integers(0, len(_INDIE_WORDS), (n_a, 2))
        artist_label = [
            _MAJOR_LABELS[maj_i[i]]
            if major[i]
            else f"{_INDIE_WORDS[ind_i[i, 0]]} {_INDIE_WORDS[ind_i[i, 1]]} Records"
            if indie[i]
            else artist_names[i]
            for i in range(n_a)
        ]

        # Releases: split each artist's tracks into singles, EPs and albums.
        size_pool_n = 2 * n_t + 16
        kind = rng.choice(4, size=size_pool_n, p=[0.40, 0.17, 0.13, 0.30])
        sizes = np.where(
            kind == 0,
            1,
            np.where(
                kind == 1,
                rng.integers(2, 4, size_pool_n),
                np.where(
                    kind == 2, rng.integers(4, 7, size_pool_n), rng.integers(8, 21, size_pool_n)
                ),
            ),
        )
        album_artist: list[int] = []
        album_size: list[int] = []
        ptr = 0
        for i in range(n_a):
            remaining = int(n_per_artist[i])
            while remaining > 0:
                s = int(min(sizes[ptr], remaining))
                ptr += 1
                album_artist.append(i)
                album_size.append(s)
                remaining -= s
        alb_artist = np.array(album_artist, dtype=np.int64)
        alb_size = np.array(album_size, dtype=np.int64)
        n_al = len(alb_size)
        alb_type = np.where(alb_size <= 6, "single", "album").astype(object)
        comp = (alb_size >= 8) & (rng.random(n_al) < 0.04)
        alb_type[comp] = "compilation"

        # Tracks, album by album (so an album's tracks and an artist's tracks are contiguous).
        trk_album = np.repeat(np.arange(n_al), alb_size)
        assert (trk_artist == alb_artist[trk_album]).all()
        alb_first = np.concatenate([[0], np.cumsum(alb_size)[:-1]])
        trk_number = np.arange(n_t) - alb_first[trk_album] + 1
        two_discs = alb_size[trk_album] > 16
        half = (alb_size[trk_album] + 1) // 2
        disc = np.where(two_discs & (trk_number > half), 2, 1)
        trk_number = np.where(disc == 2, trk_number - half, trk_number)

        # Release decade (album level, by album stream weight), then dates.
        alb_w = np.bincount(trk_album, weights=t_w, minlength=n_al)
        dec_code = _greedy_weighted_assign(rng, alb_w, _DECADE_STATIC_SHARE)
        decade = _DECADES[dec_code]
        # About 12% of all releases come out while the world runs (all in the 2020s).
        # Not among the heaviest albums, so that catalog shares hold before they come out.
        heavy = alb_w >= np.quantile(alb_w, 0.98)
        in_world = (decade == 2020) & ~heavy & (rng.random(n_al) < 0.32)
        year = np.where(
            decade == 2020, rng.integers(2020, 2024, n_al), decade + rng.integers(0, 10, n_al)
        )
        day_of_year = rng.integers(0, 365, n_al)
        pre_ns = (year - 1970).astype("datetime64[Y]").astype("datetime64[ns]").astype(
            np.int64
        ) + day_of_year * _NS_DAY
        world_days = (_END_NS - _START_NS) // _NS_DAY
        in_ns = _START_NS + rng.integers(0, world_days - 1, n_al) * _NS_DAY
        release_ns = np.where(in_world, in_ns, pre_ns)
        prec_u = rng.random(n_al)
        precision = np.where(
            (year < 1990) & (prec_u < 0.35),
            "year",
            np.where((year < 2000) & (prec_u > 0.95), "month", "day"),
        ).astype(object)
        day = (release_ns // _NS_DAY).astype("datetime64[D]")
        full = np.datetime_as_string(day).astype(object)
        keep_chars = np.where(precision == "year", 4, np.where(precision == "month", 7, 10))
        release_date = np.array(
            [d[:k] for d, k in zip(full.tolist(), keep_chars.tolist(), strict=True)], dtype=object
        )
        # A year- or month-precision release is available from the start of that period.
        floored = np.where(
            precision == "year",
            day.astype("datetime64[Y]").astype("datetime64[D]"),
            np.where(
                precision == "month", day.astype("datetime64[M]").astype("datetime64[D]"), day
            ),
        )
        release_ns = floored.astype(np.int64) * _NS_DAY

        # Track names (singles are named after their lead track).
        tp = rng.choice(4, size=n_t, p=[0.4, 0.2, 0.3, 0.1])
        ia = rng.integers(0, len(_ADJ), n_t)
        inn = rng.integers(0, len(_NOUN), n_t)
        iv = rng.integers(0, len(_VERB), n_t)
        io = rng.integers(0, len(_OBJ), n_t)
        base_names = [
            f"{_ADJ[a]} {_NOUN[b]}"
            if k == 0
            else _NOUN[b]
            if k == 1
            else f"{_VERB[v]} {_OBJ[o]}"
            if k == 2
            else _ADJ[a]
            for k, a, b, v, o in zip(
                tp.tolist(), ia.tolist(), inn.tolist(), iv.tolist(), io.tolist(), strict=True
            )
        ]
        # Features: ~15% of tracks credit 1-2 more artists, mostly popular ones.
        has_feat = rng.random(n_t) < 0.15
        n_feat = np.where(rng.random(n_t) < 0.8, 1, 2)
        feat_p = a_w**0.7
        feat_cdf = np.cumsum(feat_p / feat_p.sum())
        feat = np.searchsorted(feat_cdf, rng.random((n_t, 2)), side="right").clip(0, n_a - 1)
        feat = np.where(feat == trk_artist[:, None], (feat + 1) % n_a, feat)
        artist_ids_col: list[list[str]] = []
        track_names: list[str] = []
        artist_id_list = artist_ids.tolist()
        trk_artist_list = trk_artist.tolist()
        feat_list = feat.tolist()
        n_feat_list = n_feat.tolist()
        for i, (a, flag) in enumerate(zip(trk_artist_list, has_feat.tolist(), strict=True)):
            name = base_names[i]
            if flag and n_a > 1:
                extra = list(dict.fromkeys(feat_list[i][: n_feat_list[i]]))
                artist_ids_col.append([artist_id_list[a]] + [artist_id_list[x] for x in extra])
                name += " (feat. " + " & ".join(artist_names[x] for x in extra) + ")"
            else:
                artist_ids_col.append([artist_id_list[a]])
            track_names.append(name)
        # Unique (primary artist, name), so name-based history (account-data format) resolves.
        keyed = _dedupe_names(
            [f"{a}\x00{t}" for a, t in zip(trk_artist_list, track_names, strict=True)],
            (" - Acoustic", " - Live", " - Remix", " - Remastered", " - Demo", " - Interlude"),
        )
        track_names = [k.split("\x00", 1)[1] for k in keyed]

        alb_names_raw = []
        ia2 = rng.integers(0, len(_ADJ), n_al)
        in2 = rng.integers(0, len(_NOUN), n_al)
        for j in range(n_al):
            if alb_type[j] == "single":
                alb_names_raw.append(track_names[alb_first[j]].split(" (feat.")[0])
            elif alb_type[j] == "compilation":
                alb_names_raw.append(f"The Best of {artist_names[alb_artist[j]]}")
            else:
                alb_names_raw.append(f"{_ADJ[ia2[j]]} {_NOUN[in2[j]]}")
        alb_names = [
            k.split("\x00", 1)[1]
            for k in _dedupe_names(
                [f"{alb_artist[j]}\x00{alb_names_raw[j]}" for j in range(n_al)],
                (" (Deluxe)", " (Expanded Edition)", " Vol. 2", " Vol. 3"),
            )
        ]
        album_ids = _base62_ids(rng, n_al)
        keep_label = rng.random(n_al) < 0.8
        other_major = rng.integers(0, len(_MAJOR_LABELS), n_al)
        album_label = [
            artist_label[alb_artist[j]] if keep_label[j] else _MAJOR_LABELS[other_major[j]]
            for j in range(n_al)
        ]
        upc = rng.integers(10**11, 10**12, n_al)

        # Durations: lognormal, median ~213 s, IQR ~174-262 s, plus a long tail.
        dur_s = rng.lognormal(np.log(213.0), 0.30, n_t)
        long_tail = rng.random(n_t) < 0.02
        dur_s = np.where(long_tail, rng.lognormal(np.log(420.0), 0.5, n_t), dur_s)
        fam_t = fam[trk_artist]
        classical = np.isin(
            fam_t, [GENRE_FAMILIES.index("classical"), GENRE_FAMILIES.index("jazz/blues")]
        )
        dur_s = np.where(classical & (rng.random(n_t) < 0.3), dur_s * 1.8, dur_s)
        duration_ms = np.clip(np.rint(dur_s * 1000), 30_000, 1_800_000).astype(np.int64)

        explicit_p = np.full(len(GENRE_FAMILIES), 0.05)
        for f, p in (
            ("hip hop/r&b", 0.6),
            ("latin", 0.35),
            ("pop", 0.2),
            ("rock", 0.15),
            ("electronic", 0.12),
            ("metal", 0.3),
        ):
            explicit_p[GENRE_FAMILIES.index(f)] = p
        explicit = rng.random(n_t) < explicit_p[fam_t]

        isrc_cc = np.array(["US", "GB", "DE", "SE", "BR", "MX", "FR", "QM", "QZ", "KR"])
        cc = rng.choice(
            isrc_cc, size=n_a, p=[0.3, 0.1, 0.06, 0.05, 0.07, 0.07, 0.05, 0.15, 0.1, 0.05]
        )
        reg = _base62_ids(rng, n_a, 3)
        seq = rng.integers(0, 100_000, n_t)
        t_year = (release_ns[trk_album] // _NS_DAY).astype("datetime64[D]").astype(
            "datetime64[Y]"
        ).astype(np.int64) + 1970
        registrant = [c + r.upper() for c, r in zip(cc.tolist(), reg.tolist(), strict=True)]
        isrc = [
            f"{registrant[a]}{y % 100:02d}{q:05d}"
            for a, y, q in zip(trk_artist.tolist(), t_year.tolist(), seq.tolist(), strict=True)
        ]
        track_ids = _base62_ids(rng, n_t)

        # Keep internal arrays for the time-varying functions and the play generator.
        self._a_w = a_w
        self._fam = fam
        self._t_w = t_w
        self._trk_album = trk_album
        self._trk_artist = trk_artist
        self._alb_first = alb_first
        self._alb_size = alb_size
        self._alb_artist = alb_artist
        self._track_release_ns = release_ns[trk_album]
        self._duration_ms = duration_ms
        art_first = np.searchsorted(trk_artist, np.arange(n_a), side="left")
        art_end = np.searchsorted(trk_artist, np.arange(n_a), side="right")
        self._art_first, self._art_end = art_first, art_end
        self._art_alb_first = np.searchsorted(alb_artist, np.arange(n_a), side="left")
        self._art_alb_end = np.searchsorted(alb_artist, np.arange(n_a), side="right")

        self.artists = pd.DataFrame(
            {
                "artist_id": artist_ids,
                "artist_name": np.array(artist_names, dtype=object),
                "genres": pd.Series(genres_col, dtype=object),
                "genre_family": np.array(GENRE_FAMILIES, dtype=object)[fam],
            }
        )
        self.albums = pd.DataFrame(
            {
                "album_id": album_ids,
                "album_name": np.array(alb_names, dtype=object),
                "album_type": alb_type,
                "release_date": release_date,
                "release_date_precision": precision,
                "total_tracks": alb_size,
                "artist_ids": pd.Series([[artist_ids[a]] for a in alb_artist], dtype=object),
                "label": np.array(album_label, dtype=object),
                "upc": np.array([f"{u:012d}" for u in upc], dtype=object),
            }
        )
        self.tracks = pd.DataFrame(
            {
                "track_id": track_ids,
                "track_name": np.array(track_names, dtype=object),
                "album_id": album_ids[trk_album],
                "artist_ids": pd.Series(artist_ids_col, dtype=object),
                "primary_artist_id": artist_ids[trk_artist],
                "duration_ms": duration_ms,
                "explicit": explicit,
                "disc_number": disc.astype(np.int64),
                "track_number": trk_number.astype(np.int64),
                "isrc": np.array(isrc, dtype=object),
                "stream_weight": t_w,
                "release_ts": _utc(self._track_release_ns),
            }
        )
        self.track_index = pd.Index(self.tracks["track_id"])
        self.artist_index = pd.Index(self.artists["artist_id"])
        self.album_index = pd.Index(self.albums["album_id"])

    # ------------------------------------------------------------------ popularity

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

    def album_track_rows(self, album_id: str) -> np.ndarray:
        """Row positions in ``tracks`` of an album's tracks, in disc/track order."""
        j = self.album_index.get_loc(album_id)
        return np.arange(self._alb_first[j], self._alb_first[j] + self._alb_size[j])

    def artist_album_rows(self, artist_id: str) -> np.ndarray:
        """Row positions in ``albums`` of the albums whose main artist is ``artist_id``."""
        i = self.artist_index.get_loc(artist_id)
        return np.arange(self._art_alb_first[i], self._art_alb_end[i])

    # ------------------------------------------------------------------ playlists

    def _build_playlists(self) -> None:
        sc = self.scale
        rng = _rng(self.seed, 3)
        n_own = sc.n_playlists
        n_p = n_own + 2
        n_t = len(self.tracks)
        fam_t = self._fam[self._trk_artist]
        release = self._track_release_ns
        all_idx = np.arange(n_t)
        lifetime_ns = sc.playlist_lifetime_days * _NS_DAY

        # Themes: a family (in proportion to its catalog size) or a mixed playlist (-1).
        fam_counts = np.bincount(fam_t[release < _START_NS], minlength=len(GENRE_FAMILIES)).astype(
            np.float64
        )
        # Only families with enough tracks for several playlists can be a theme.
        fam_counts[fam_counts < 4 * sc.mean_playlist_size] = 0.0
        if fam_counts.sum() == 0:
            fam_counts[:] = 1.0
        theme = np.where(
            (rng.random(n_p) < 0.15) | (fam_counts.max() < 4 * sc.mean_playlist_size),
            -1,
            rng.choice(len(GENRE_FAMILIES), size=n_p, p=fam_counts / fam_counts.sum()),
        )
        sizes = np.clip(
            np.rint(sc.mean_playlist_size * rng.lognormal(-0.1, 0.45, n_p)),
            8,
            4 * sc.mean_playlist_size,
        ).astype(np.int64)

        # Curators pick less concentrated than listeners stream: square-root weights.
        pick_w = np.sqrt(self._t_w)
        pools = {-1: _ReleasePool(all_idx, release, pick_w)}
        for f in range(len(GENRE_FAMILIES)):
            members = all_idx[fam_t == f]
            # A family without tracks released before WORLD_START borrows the whole catalog.
            if (release[members] < _START_NS).any():
                pools[f] = _ReleasePool(members, release, pick_w)
            else:
                pools[f] = pools[-1]

        # Coverage: most picks walk a shuffled cycle of the theme's tracks, so the live
        # memberships of a theme's playlists hold distinct tracks and their union covers the
        # catalog when the slots allow it; the rest follow stream weight (hits appear in several
        # playlists) or new releases.
        cover_share = 0.8
        pl_rows, tr_rows, add_rows = [], [], []
        n_cover = np.rint(sizes * cover_share).astype(np.int64)
        n_weighted = sizes - n_cover
        for f, pool in pools.items():
            ps = np.flatnonzero(theme == f)
            if not len(ps) or not len(pool):
                continue
            pre = pool.idx[pool.release < _START_NS]
            need = int(n_cover[ps].sum())
            reps = -(-need // len(pre))
            cover = np.concatenate([rng.permutation(pre) for _ in range(reps)])[:need]
            pl_rows.append(np.repeat(ps, n_cover[ps]))
            tr_rows.append(cover)
            k = int(n_weighted[ps].sum())
            picks = pool.pick(np.full(k, _START_NS - 1), rng.random(k))
            pl_rows.append(np.repeat(ps, n_weighted[ps]))
            tr_rows.append(np.where(picks < 0, rng.choice(pre, k), picks))
        init_pl = np.concatenate(pl_rows)
        init_tr = np.concatenate(tr_rows)
        n_init = len(init_pl)
        earliest = np.maximum(release[init_tr], _START_NS - 540 * _NS_DAY)
        init_add = earliest + (rng.random(n_init) * (_START_NS - earliest)).astype(np.int64)
        pl_rows, tr_rows, add_rows = [init_pl], [init_tr], [init_add]

        # Arrivals: Poisson in time, each staying an exponential time, so sizes are stationary.
        horizon = _END_NS - _START_NS
        n_arr = rng.poisson(sizes.astype(np.float64) * horizon / lifetime_ns)
        arr_pl = np.repeat(np.arange(n_p), n_arr)
        m = len(arr_pl)
        arr_t = _START_NS + (rng.random(m) * horizon).astype(np.int64)
        by_time = np.argsort(arr_t, kind="stable")  # sorted queries: fast, and cycle order
        arr_t, arr_pl = arr_t[by_time], arr_pl[by_time]
        # new release / weighted / coverage cycle
        mode = rng.choice(3, size=m, p=[0.12, 1 - cover_share - 0.12, cover_share])
        u = rng.random(m)
        arr_tr = np.full(m, -1, dtype=np.int64)
        arr_theme = theme[arr_pl]
        for f, pool in pools.items():
            sel = np.flatnonzero(arr_theme == f)
            if not len(sel) or not len(pool):
                continue
            t, uu, md = arr_t[sel], u[sel], mode[sel]
            out = np.where(md == 0, pool.pick(t, uu, window_ns=60 * _NS_DAY), pool.pick(t, uu))
            cyc = md == 2
            cycle = rng.permutation(pool.idx)
            walk = cycle[np.arange(int(cyc.sum())) % len(cycle)]
            out[cyc] = np.where(release[walk] <= t[cyc], walk, out[cyc])
            fallback = pools[-1].pick(t, uu)
            arr_tr[sel] = np.where(out < 0, fallback, out)
        ok = arr_tr >= 0
        pl_rows.append(arr_pl[ok])
        tr_rows.append(arr_tr[ok])
        add_rows.append(arr_t[ok])

        e_pl = np.concatenate(pl_rows)
        e_tr = np.concatenate(tr_rows)
        e_add = np.concatenate(add_rows)
        # Stays last a gamma time (shape 4: a track neither leaves at once nor lingers for
        # ever, which keeps the coverage cycle's union near the whole catalog); initial members
        # count from WORLD_START.
        e_rem = np.maximum(e_add, _START_NS) + rng.gamma(4.0, lifetime_ns / 4.0, len(e_add)).astype(
            np.int64
        )
        e_add = e_add // 10**9 * 10**9  # whole seconds
        e_rem = np.maximum(e_rem // 10**9 * 10**9, e_add + 10**9)
        e_rem[e_rem >= _END_NS] = _NAT_NS
        # A track is in a playlist at most once at a time: drop entries that start before the
        # previous entry of the same (playlist, track) ended, until none does.
        order = np.lexsort((e_add, e_tr, e_pl))
        e_pl, e_tr, e_add, e_rem = e_pl[order], e_tr[order], e_add[order], e_rem[order]
        while True:
            clash = (e_pl[1:] == e_pl[:-1]) & (e_tr[1:] == e_tr[:-1]) & (e_add[1:] < e_rem[:-1])
            if not clash.any():
                break
            keep = np.concatenate([[True], ~clash])
            e_pl, e_tr, e_add, e_rem = e_pl[keep], e_tr[keep], e_add[keep], e_rem[keep]
        order = np.lexsort((e_tr, e_add, e_pl))
        e = {"pl": e_pl[order], "tr": e_tr[order], "add": e_add[order], "rem": e_rem[order]}

        pl_ids = _base62_ids(rng, n_p)
        track_ids = self.tracks["track_id"].to_numpy()
        self._e_pl, self._e_tr, self._e_add, self._e_rem = e["pl"], e["tr"], e["add"], e["rem"]
        self._e_first = np.searchsorted(self._e_pl, np.arange(n_p), side="left")
        self._e_end = np.searchsorted(self._e_pl, np.arange(n_p), side="right")
        self.playlist_entries = pd.DataFrame(
            {
                "playlist_id": pl_ids[self._e_pl],
                "track_id": track_ids[self._e_tr],
                "added_at": _utc(self._e_add),
                "removed_at": _utc(self._e_rem),
            }
        )

        # Metadata.
        adj = rng.integers(0, len(_ADJ), n_p)
        mixed = rng.integers(0, len(_MIXED_PLAYLIST_NAMES), n_p)
        raw_names = [
            _MIXED_PLAYLIST_NAMES[mixed[p]]
            if theme[p] < 0
            else f"{_ADJ[adj[p]]} {_FAMILY_LABEL[GENRE_FAMILIES[theme[p]]]}"
            for p in range(n_p)
        ]
        names = _dedupe_names(raw_names, tuple(f" Vol. {k}" for k in range(2, 10)))
        descriptions = [
            "A bit of everything, refreshed every few hours."
            if theme[p] < 0
            else f"The {_FAMILY_LABEL[GENRE_FAMILIES[theme[p]]].lower()} tracks we keep coming "
            "back to, updated often."
            for p in range(n_p)
        ]
        collaborative = rng.random(n_p) < 0.1
        public = ~collaborative & (rng.random(n_p) < 0.9)
        owned = np.arange(n_p) < n_own
        self.playlists = pd.DataFrame(
            {
                "playlist_id": pl_ids,
                "name": np.array(names, dtype=object),
                "description": np.array(descriptions, dtype=object),
                "owner_id": np.where(owned, APP_USER_ID, FOREIGN_OWNER_ID).astype(object),
                "owner_display_name": np.where(owned, APP_USER_DISPLAY_NAME, "Another User").astype(
                    object
                ),
                "public": public,
                "collaborative": collaborative,
                "followers": np.rint(10 ** rng.normal(2.3, 1.0, n_p)).astype(np.int64),
                "owned_by_app_user": owned,
                "theme_family": np.array(
                    [GENRE_FAMILIES[t] if t >= 0 else None for t in theme], dtype=object
                ),
            }
        )
        self.playlist_index = pd.Index(self.playlists["playlist_id"])

    def _playlist_pos(self, playlist_id: str) -> int:
        try:
            return int(self.playlist_index.get_loc(playlist_id))
        except KeyError:
            raise KeyError(playlist_id) from None

    def playlist_items_at(self, playlist_id: str, at: datetime) -> pd.DataFrame:
        """Members at ``at`` (added_at <= at < removed_at) in playlist order: by added_at, so
        position 0 is the oldest addition. Columns: track_id, added_at (UTC)."""
        p = self._playlist_pos(playlist_id)
        at_ns = _to_ns(at)
        s, e = self._e_first[p], self._e_end[p]
        live = (self._e_add[s:e] <= at_ns) & (at_ns < self._e_rem[s:e])
        tr = self._e_tr[s:e][live]
        return pd.DataFrame(
            {
                "track_id": self.tracks["track_id"].to_numpy()[tr],
                "added_at": _utc(self._e_add[s:e][live]),
            }
        )

    def playlist_snapshot_id(self, playlist_id: str, at: datetime) -> str:
        """Spotify-like opaque snapshot id: a digest of the live membership (which entries, so
        also their order), so it changes exactly when the membership does."""
        p = self._playlist_pos(playlist_id)
        at_ns = _to_ns(at)
        s, e = self._e_first[p], self._e_end[p]
        live = np.flatnonzero((self._e_add[s:e] <= at_ns) & (at_ns < self._e_rem[s:e]))
        digest = hashlib.blake2b(
            f"{self.seed}:{playlist_id}:".encode() + (live + s).astype("<i8").tobytes(),
            digest_size=24,
        ).digest()
        return base64.b64encode(digest).decode("ascii")

    # ------------------------------------------------------------------ users

    def _build_users(self) -> None:
        sc = self.scale
        rng = _rng(self.seed, 4)
        n_u = sc.n_users
        user_ids = [APP_USER_ID] + [f"user_{i:04d}" for i in range(1, n_u)]
        country = rng.choice(len(_COUNTRIES), size=n_u, p=_COUNTRY_WEIGHTS / _COUNTRY_WEIGHTS.sum())
        country[0] = _COUNTRIES.index("US")
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
                "country": np.array(_COUNTRIES, dtype=object)[country],
                "timezone": np.array(
                    [COUNTRY_TIMEZONES[_COUNTRIES[c]] for c in country], dtype=object
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

    @property
    def population_size(self) -> int:
        """People in the simulated population whose streams make popularity: the listeners
        whose exports land are ``1 / scale.population_per_listener`` of it."""
        return self.scale.n_users * self.scale.population_per_listener

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

    def _build_spoken_word(self) -> None:
        sc = self.scale
        rng = _rng(self.seed, 5)
        n_ep_per = rng.integers(20, 60, sc.n_shows)
        show_names = _dedupe_names(
            [
                f"The {_ADJ[a]} {_NOUN[b]} Podcast" if k else f"{_NOUN[b]} Daily"
                for a, b, k in zip(
                    rng.integers(0, len(_ADJ), sc.n_shows),
                    rng.integers(0, len(_NOUN), sc.n_shows),
                    rng.random(sc.n_shows) < 0.7,
                    strict=True,
                )
            ],
            (" Show", " Hour", " Radio"),
        )
        ep_show = np.repeat(np.arange(sc.n_shows), n_ep_per)
        ep_num = (
            np.arange(len(ep_show))
            - np.repeat(np.concatenate([[0], np.cumsum(n_ep_per)[:-1]]), n_ep_per)
            + 1
        )
        self.episodes = pd.DataFrame(
            {
                "episode_id": _base62_ids(rng, len(ep_show)),
                "episode_name": np.array(
                    [
                        f"#{n}: {_VERB[(n * 3) % len(_VERB)]} {_OBJ[(n * 5 + s) % len(_OBJ)]}"
                        for n, s in zip(ep_num, ep_show, strict=True)
                    ],
                    dtype=object,
                ),
                "show_name": np.array(show_names, dtype=object)[ep_show],
                "duration_ms": np.rint(rng.lognormal(np.log(45 * 60e3), 0.45, len(ep_show))).astype(
                    np.int64
                ),
            }
        )
        self._ep_show_first = np.concatenate([[0], np.cumsum(n_ep_per)[:-1]])
        self._ep_show_n = n_ep_per
        n_ch = rng.integers(10, 30, sc.n_audiobooks)
        book_titles = _dedupe_names(
            [
                f"{_ADJ[a]} {_NOUN[b]}: A Novel"
                for a, b in zip(
                    rng.integers(0, len(_ADJ), sc.n_audiobooks),
                    rng.integers(0, len(_NOUN), sc.n_audiobooks),
                    strict=True,
                )
            ],
            (" (Unabridged)", " (Book 2)"),
        )
        book_ids = _base62_ids(rng, sc.n_audiobooks)
        ch_book = np.repeat(np.arange(sc.n_audiobooks), n_ch)
        ch_num = (
            np.arange(len(ch_book))
            - np.repeat(np.concatenate([[0], np.cumsum(n_ch)[:-1]]), n_ch)
            + 1
        )
        self.audiobook_chapters = pd.DataFrame(
            {
                "chapter_id": _base62_ids(rng, len(ch_book)),
                "chapter_title": np.array([f"Chapter {n}" for n in ch_num], dtype=object),
                "audiobook_id": book_ids[ch_book],
                "audiobook_title": np.array(book_titles, dtype=object)[ch_book],
                "duration_ms": np.rint(rng.lognormal(np.log(25 * 60e3), 0.3, len(ch_book))).astype(
                    np.int64
                ),
            }
        )
        self._book_first = np.concatenate([[0], np.cumsum(n_ch)[:-1]])
        self._book_n = n_ch

    # ------------------------------------------------------------------ plays

    def user_plays(self, user_id: str) -> dict[str, np.ndarray]:
        """All export records of one user, sorted by ``ts``, as numpy columns (generated on
        demand from the user's own random stream, so identical in every process):

        ``ts`` (int64 epoch seconds, end of play), ``ms_played``, ``content`` (index into
        CONTENT_TYPES), ``item`` (row in tracks / episodes / audiobook_chapters), ``platform``
        (index into PLATFORMS), ``reason_start``/``reason_end`` (index into REASONS),
        ``shuffle``, ``skipped`` (int8: 1, 0, -1 for null), ``offline``, ``offline_timestamp``
        (epoch seconds), ``incognito``, ``ip`` (index into :meth:`user_ips`)."""
        u = int(self.user_index.get_loc(user_id))
        with self._plays_lock:
            cached = self._plays_cache.get(u)
            if cached is not None:
                self._plays_cache.move_to_end(u)
                return cached
        plays = self._generate_user_plays(u)
        with self._plays_lock:
            self._plays_cache[u] = plays
            while len(self._plays_cache) > 8:
                self._plays_cache.popitem(last=False)
        return plays

    def _generate_user_plays(self, u: int) -> dict[str, np.ndarray]:
        rng = _rng(self.seed, 101, u)
        usr = self.users.iloc[u]
        n = int(usr["n_plays"])
        s_pod, s_book = float(usr["podcast_share"]), float(usr["audiobook_share"])

        # Sessions: type, then length; trim to exactly n records.
        shares = np.array([max(1.0 - s_pod - s_book, 0.0), s_pod, s_book])
        q = shares / np.array(_SESSION_LEN)
        q /= q.sum()
        mean_len = float((q * np.array(_SESSION_LEN)).sum())
        types = np.zeros(0, dtype=np.int64)
        lengths = np.zeros(0, dtype=np.int64)
        while lengths.sum() < n:
            k = int(n / mean_len * 1.3) + 8
            t = rng.choice(3, size=k, p=q)
            ln = rng.geometric(1.0 / np.array(_SESSION_LEN)[t])
            types, lengths = np.concatenate([types, t]), np.concatenate([lengths, ln])
        cs = np.cumsum(lengths)
        k = int(np.searchsorted(cs, n)) + 1
        types, lengths = types[:k], lengths[:k].copy()
        lengths[-1] -= cs[k - 1] - n
        n_sess = k

        # Active days (local calendar), weekday-weighted; sessions spread with heavy-tailed
        # day volumes, at least one session per active day.
        d0 = int((usr["active_from"].value - _START_NS) // _NS_DAY)
        d1 = int((usr["active_until"].value - _START_NS) // _NS_DAY)
        period = np.arange(d0, d1)
        weekday = (period + WORLD_START.dayofweek) % 7
        wf = _WEEKDAY_FACTOR[weekday] ** 0.5
        n_days = int(
            np.clip(round(n_sess / float(usr["sessions_per_day"])), 1, min(len(period), n_sess))
        )
        days = np.sort(rng.choice(period, size=n_days, replace=False, p=wf / wf.sum()))
        day_w = (
            rng.lognormal(0.0, 0.6, n_days)
            * _WEEKDAY_FACTOR[(days + WORLD_START.dayofweek) % 7] ** 0.5
        )
        sess_day = np.concatenate(
            [
                rng.permutation(n_days),
                rng.choice(n_days, size=n_sess - n_days, p=day_w / day_w.sum()),
            ]
        )
        hour_p = np.roll(_HOUR_WEIGHTS, int(usr["chronotype_shift"]))
        hour = rng.choice(24, size=n_sess, p=hour_p / hour_p.sum())
        local_ns = (_START_NS + days[sess_day] * _NS_DAY) + (
            hour * 3600 + rng.random(n_sess) * 3600
        ).astype(np.int64) * 10**9
        utc = (
            pd.DatetimeIndex(local_ns.astype("datetime64[ns]"))
            .tz_localize(
                str(usr["timezone"]),
                ambiguous=np.zeros(n_sess, dtype=bool),
                nonexistent="shift_forward",
            )
            .asi8
        )
        order = np.argsort(utc, kind="stable")
        utc = utc[order]
        types, lengths = types[order], lengths[order]

        sess_of = np.repeat(np.arange(n_sess), lengths)
        content = types[sess_of]
        first_in = np.concatenate([[True], sess_of[1:] != sess_of[:-1]])
        last_in = np.concatenate([sess_of[1:] != sess_of[:-1], [True]])

        # Items. Music: rotation / new release / catalog, all released before the session.
        elig = utc[sess_of] - _NS_DAY
        item = np.zeros(n, dtype=np.int64)
        music = content == 0
        nm = int(music.sum())
        pool = self._static_pool
        rot_k = int(np.clip(rng.lognormal(np.log(120), 0.5), 20, max(20, len(self.tracks) // 3)))
        rot = self._favourite_pool.pick(
            np.full(rot_k, _START_NS + d0 * _NS_DAY - _NS_DAY), rng.random(rot_k)
        )
        rot = rot[rot >= 0]
        mode_u = rng.random(nm)
        u_pick = rng.random(nm)
        t_m = elig[music]
        picks = pool.pick(t_m, u_pick)
        new = (mode_u >= float(usr["rotation_share"])) & (
            mode_u < float(usr["rotation_share"]) + _P_NEW
        )
        # New releases: the family is drawn first (from the target shares), so which few
        # tracks happen to come out during the history cannot skew the genre mix.
        window = _NEW_WINDOW_DAYS * _NS_DAY
        new_fam = rng.choice(len(GENRE_FAMILIES), size=int(new.sum()), p=_FAMILY_P)
        new_picks = np.full(int(new.sum()), -1, dtype=np.int64)
        t_new, u_new = t_m[new], u_pick[new]
        for f, fpool in enumerate(self._family_pools):
            sel = new_fam == f
            if sel.any() and len(fpool):
                new_picks[sel] = fpool.pick(t_new[sel], u_new[sel], window_ns=window, min_count=3)
        missing = new_picks < 0
        new_picks[missing] = pool.pick(
            t_new[missing], u_new[missing], window_ns=window, min_count=10
        )
        picks[new] = np.where(new_picks >= 0, new_picks, picks[new])
        in_rot = mode_u < float(usr["rotation_share"])
        if len(rot):
            rot_w = (np.arange(len(rot)) + 1.0) ** -0.8
            rot_cdf = np.cumsum(rot_w / rot_w.sum())
            picks[in_rot] = rot[
                np.minimum(np.searchsorted(rot_cdf, u_pick[in_rot], side="right"), len(rot) - 1)
            ]
        if (picks < 0).any():  # nothing released yet (cannot happen after WORLD_START)
            picks[picks < 0] = int(np.argmax(self._l_w))
        item[music] = picks
        pod = content == 1
        if pod.any():
            n_fav = int(rng.integers(1, 4))
            show_p = (np.arange(len(self._ep_show_n)) + 1.0) ** -1.0
            favs = rng.choice(len(show_p), size=n_fav, replace=False, p=show_p / show_p.sum())
            show = favs[rng.integers(0, n_fav, int(pod.sum()))]
            item[pod] = self._ep_show_first[show] + (
                rng.random(int(pod.sum())) * self._ep_show_n[show]
            ).astype(np.int64)
        book = content == 2
        if book.any():
            b = int(rng.integers(0, len(self._book_n)))
            item[book] = self._book_first[b] + np.arange(int(book.sum())) % self._book_n[b]

        # Outcomes: ~25% end within 5 s, ~1/3 skipped.
        dur = np.where(
            music,
            self._duration_ms[np.where(music, item, 0)],
            np.where(
                pod,
                self.episodes["duration_ms"].to_numpy()[np.where(pod, item, 0)],
                self.audiobook_chapters["duration_ms"].to_numpy()[np.where(book, item, 0)],
            ),
        )
        uo = rng.random(n)
        quick = music & (uo < 0.255)
        mid = music & (uo >= 0.255) & (uo < 0.40)
        ms = dur - rng.integers(0, 400, n)
        ms = np.where(quick, np.minimum(rng.exponential(1500.0, n), 4999).astype(np.int64), ms)
        ms = np.where(mid, 5000 + (rng.random(n) * np.maximum(dur * 0.9 - 5000, 1)), ms)
        spoken_partial = ~music & (rng.random(n) < 0.55)
        ms = np.where(spoken_partial, dur * rng.random(n) ** 0.7, ms)
        reason_end = np.full(n, _R_TRACKDONE, dtype=np.int64)
        re_u = rng.random(n)
        reason_end[quick] = np.select(
            [re_u[quick] < 0.83, re_u[quick] < 0.89, re_u[quick] < 0.97, re_u[quick] < 0.98],
            [_R_FWD, _R_BACK, _R_ENDPLAY, _R_TRACKERROR],
            _R_REMOTE,
        )
        reason_end[mid] = np.select(
            [re_u[mid] < 0.78, re_u[mid] < 0.86, re_u[mid] < 0.96],
            [_R_FWD, _R_BACK, _R_ENDPLAY],
            _R_REMOTE,
        )
        reason_end[spoken_partial] = np.where(re_u[spoken_partial] < 0.7, _R_ENDPLAY, _R_FWD)
        # The last play of a session ends it: pause, logout, app killed...
        last_choices = np.array(
            [_R_TRACKDONE, _R_ENDPLAY, _R_LOGOUT, _R_UNEXP, _R_UNEXP_PAUSED, _R_REMOTE]
        )
        last_p = np.array([0.2, 0.35, 0.15, 0.12, 0.1, 0.08])
        lr = last_choices[rng.choice(len(last_choices), size=n, p=last_p)]
        complete = reason_end == _R_TRACKDONE
        cut = last_in & complete & (lr != _R_TRACKDONE)
        ms = np.where(cut, 5000 + rng.random(n) * np.maximum(dur - 5000, 1), ms)
        reason_end = np.where(last_in & complete, lr, reason_end)
        ms = np.maximum(ms.astype(np.int64), 0)
        skipped = np.where(
            reason_end == _R_FWD,
            1,
            np.where(reason_end == _R_BACK, (rng.random(n) < 0.5).astype(np.int64), 0),
        )
        # reason_start follows the previous play's end within a session.
        prev_end = np.roll(reason_end, 1)
        follow = np.select(
            [
                prev_end == _R_TRACKDONE,
                prev_end == _R_FWD,
                prev_end == _R_BACK,
                prev_end == _R_REMOTE,
                prev_end == _R_TRACKERROR,
            ],
            [_R_TRACKDONE, _R_FWD, _R_BACK, _R_REMOTE, _R_TRACKERROR],
            _R_CLICKROW,
        )
        start_choices = np.array(
            [_R_CLICKROW, _R_PLAYBTN, _R_APPLOAD, _R_REMOTE, _R_TRACKDONE, _R_FWD]
        )
        first_reason = start_choices[rng.choice(6, size=n, p=[0.4, 0.25, 0.15, 0.08, 0.07, 0.05])]
        reason_start = np.where(first_in, first_reason, follow)

        # Timing: plays back to back within a session; sessions never overlap.
        gap = (
            np.where(
                reason_end == _R_TRACKDONE, rng.integers(0, 600, n), rng.integers(100, 1500, n)
            ).astype(np.int64)
            * 10**6
        )
        pause = rng.random(n) < 0.03
        gap = np.where(pause, (rng.exponential(240.0, n) * 1e9).astype(np.int64), gap)
        step = ms * 10**6 + gap
        cum = np.cumsum(step)
        sess_first = np.flatnonzero(first_in)
        sess_tot = np.add.reduceat(step, sess_first)
        before = cum - step  # global offset at each play's start
        offset_in = before - before[sess_first][sess_of]
        min_gap = 120 * 10**9
        dur_tot = sess_tot + min_gap
        c_prev = np.concatenate([[0], np.cumsum(dur_tot)[:-1]])
        start_sess = c_prev + np.maximum.accumulate(utc - c_prev)
        start = start_sess[sess_of] + offset_in
        end_ns = start + ms * 10**6
        ts = end_ns // 10**9

        # Session attributes.
        plat_u = rng.random(n_sess)
        plat_idx = np.where(
            plat_u < 0.78,
            PLATFORMS.index(str(usr["primary_platform"])),
            np.where(
                plat_u < 0.96,
                PLATFORMS.index(str(usr["secondary_platform"])),
                rng.integers(0, len(PLATFORMS), n_sess),
            ),
        )
        shuffle = (rng.random(n_sess) < float(usr["shuffle_share"]))[sess_of] & music
        offline = (rng.random(n_sess) < 0.04)[sess_of] & (
            plat_idx[sess_of] != PLATFORMS.index("web_player")
        )
        incognito = (rng.random(n_sess) < 0.01)[sess_of]
        n_ip = len(self._user_ips[u])
        ip = np.minimum(rng.choice(3, size=n_sess, p=[0.8, 0.15, 0.05]), n_ip - 1)[sess_of]
        # Older records lack "skipped" for a minority; spoken word mostly has it null.
        null_cut = _START_NS + int(0.2 * self.scale.history_days) * _NS_DAY
        null_skip = ((end_ns < null_cut) & (rng.random(n) < 0.5)) | (~music & (rng.random(n) < 0.5))
        skipped = np.where(null_skip, -1, skipped).astype(np.int8)

        keep = ts < self.history_end.value // 10**9
        cols = {
            "ts": ts,
            "ms_played": ms,
            "content": content.astype(np.int8),
            "item": item,
            "platform": plat_idx[sess_of].astype(np.int8),
            "reason_start": reason_start.astype(np.int8),
            "reason_end": reason_end.astype(np.int8),
            "shuffle": shuffle,
            "skipped": skipped,
            "offline": offline,
            "offline_timestamp": start // 10**9,
            "incognito": incognito,
            "ip": ip.astype(np.int8),
        }
        return {k: v[keep] for k, v in cols.items()}

    def recently_played(
        self,
        user_id: str,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int = 50,
    ) -> pd.DataFrame:
        """The user's music plays as Spotify's recently-played returns them: newest first,
        ``played_at`` equal to the export's ``ts`` (UTC) so both sources deduplicate.

        ``before``: the ``limit`` most recent plays strictly before it. ``after`` alone: the
        ``limit`` plays right after it (oldest ones), so a cursor walking forward misses
        nothing. Neither: the most recent plays of the whole history (pass ``before=now`` to
        simulate a clock)."""
        p = self.user_plays(user_id)
        music = p["content"] == 0
        ts = p["ts"][music]
        item = p["item"][music]
        lo = 0 if after is None else int(np.searchsorted(ts, _to_ns(after) // 10**9, "right"))
        hi = (
            len(ts)
            if before is None
            else int(np.searchsorted(ts, -(-_to_ns(before) // 10**9), "left"))
        )
        if hi < lo:
            hi = lo
        sl = (
            slice(lo, min(hi, lo + limit))
            if after is not None and before is None
            else slice(max(lo, hi - limit), hi)
        )
        out_ts, out_item = ts[sl][::-1], item[sl][::-1]
        return pd.DataFrame(
            {
                "track_id": self.tracks["track_id"].to_numpy()[out_item],
                "played_at": _utc(out_ts * 10**9),
            }
        )


@lru_cache(maxsize=4)
def _build_cached(scale: WorldScale, seed: int) -> SampleWorld:
    return SampleWorld(scale, seed)


def build_world(scale: str | WorldScale = "demo", seed: int = 42) -> SampleWorld:
    """Build (once per process and (scale, seed): fake server and assets share it) the world."""
    sc = get_scale(scale) if isinstance(scale, str) else scale
    return _build_cached(sc, int(seed))
