"""The sample world's playlists: the app user's (and two of another user's), each a birth-death
process of memberships over the world's time (tracks arrive, stay a gamma-distributed time and
leave), drawn from the stream ``_rng(seed, 3)``; their items and snapshot id at any time."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

import numpy as np
import pandas as pd

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES
from spotify_assets.lib.sample.world.base import (
    _END_NS,
    _NAT_NS,
    _NS_DAY,
    _START_NS,
    APP_USER_DISPLAY_NAME,
    APP_USER_ID,
    FOREIGN_OWNER_ID,
    _base62_ids,
    _dedupe_names,
    _ReleasePool,
    _rng,
    _to_ns,
    _utc,
)
from spotify_assets.lib.sample.world.names import _ADJ, _FAMILY_LABEL, _MIXED_PLAYLIST_NAMES
from spotify_assets.lib.sample.world.scales import WorldScale


class PlaylistsMixin:
    """Builds ``playlists`` and ``playlist_entries`` (and ``playlist_index``) for
    :class:`SampleWorld`; answers a playlist's items and snapshot id at any time.
    Memberships are kept sorted by playlist, then added time, in the ``_e_*`` arrays."""

    seed: int
    scale: WorldScale
    # from the catalog
    tracks: pd.DataFrame
    _t_w: np.ndarray
    _fam: np.ndarray
    _trk_artist: np.ndarray
    _track_release_ns: np.ndarray

    def _build_playlists(self) -> None:
        sc = self.scale
        rng = _rng(self.seed, 3)
        n_own = sc.n_playlists
        n_p = n_own + 2
        fam_t = self._fam[self._trk_artist]
        release = self._track_release_ns
        lifetime_ns = sc.playlist_lifetime_days * _NS_DAY
        # One stream for all playlists: the steps draw from it in this order.
        theme, sizes = _themes_and_sizes(rng, sc.mean_playlist_size, fam_t, release, n_p)
        # Curators pick less concentrated than listeners stream: square-root weights.
        pools = _theme_pools(fam_t, release, np.sqrt(self._t_w))
        init_pl, init_tr, init_add = _initial_members(rng, pools, theme, sizes, release)
        arr_pl, arr_tr, arr_t = _arrivals(rng, pools, theme, sizes, release, lifetime_ns)
        e_pl = np.concatenate([init_pl, arr_pl])
        e_tr = np.concatenate([init_tr, arr_tr])
        e_add, e_rem = _stays(rng, np.concatenate([init_add, arr_t]), lifetime_ns)
        e_pl, e_tr, e_add, e_rem = _once_at_a_time(e_pl, e_tr, e_add, e_rem)
        pl_ids = _base62_ids(rng, n_p)
        self._e_pl, self._e_tr, self._e_add, self._e_rem = e_pl, e_tr, e_add, e_rem
        self._e_first = np.searchsorted(self._e_pl, np.arange(n_p), side="left")
        self._e_end = np.searchsorted(self._e_pl, np.arange(n_p), side="right")
        track_ids = self.tracks["track_id"].to_numpy()
        self.playlist_entries = pd.DataFrame(
            {
                "playlist_id": pl_ids[self._e_pl],
                "track_id": track_ids[self._e_tr],
                "added_at": _utc(self._e_add),
                "removed_at": _utc(self._e_rem),
            }
        )
        self.playlists = _playlists_frame(rng, pl_ids, theme, n_own)
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


# Coverage: most picks walk a shuffled cycle of the theme's tracks, so the live memberships of a
# theme's playlists hold distinct tracks and their union covers the catalog when the slots allow
# it; the rest follow stream weight (hits appear in several playlists) or new releases.
_COVER_SHARE = 0.8


def _themes_and_sizes(
    rng: np.random.Generator,
    mean_size: int,
    fam_t: np.ndarray,
    release: np.ndarray,
    n_p: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each playlist's theme, a family (in proportion to its catalog size) or a mixed playlist
    (-1), and its target size."""
    fam_counts = np.bincount(fam_t[release < _START_NS], minlength=len(GENRE_FAMILIES)).astype(
        np.float64
    )
    # Only families with enough tracks for several playlists can be a theme.
    fam_counts[fam_counts < 4 * mean_size] = 0.0
    if fam_counts.sum() == 0:
        fam_counts[:] = 1.0
    theme = np.where(
        (rng.random(n_p) < 0.15) | (fam_counts.max() < 4 * mean_size),
        -1,
        rng.choice(len(GENRE_FAMILIES), size=n_p, p=fam_counts / fam_counts.sum()),
    )
    sizes = np.clip(
        np.rint(mean_size * rng.lognormal(-0.1, 0.45, n_p)),
        8,
        4 * mean_size,
    ).astype(np.int64)
    return theme, sizes


def _theme_pools(
    fam_t: np.ndarray, release: np.ndarray, pick_w: np.ndarray
) -> dict[int, _ReleasePool]:
    """The tracks each theme picks from: the whole catalog (-1) or a family's tracks."""
    all_idx = np.arange(len(release))
    pools = {-1: _ReleasePool(all_idx, release, pick_w)}
    for f in range(len(GENRE_FAMILIES)):
        members = all_idx[fam_t == f]
        # A family without tracks released before WORLD_START borrows the whole catalog.
        if (release[members] < _START_NS).any():
            pools[f] = _ReleasePool(members, release, pick_w)
        else:
            pools[f] = pools[-1]
    return pools


def _initial_members(
    rng: np.random.Generator,
    pools: dict[int, _ReleasePool],
    theme: np.ndarray,
    sizes: np.ndarray,
    release: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The members at WORLD_START (playlist, track, added time), theme by theme: the coverage
    cycle's share, then picks by weight."""
    pl_rows, tr_rows = [], []
    n_cover = np.rint(sizes * _COVER_SHARE).astype(np.int64)
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
    return init_pl, init_tr, init_add


def _arrivals(
    rng: np.random.Generator,
    pools: dict[int, _ReleasePool],
    theme: np.ndarray,
    sizes: np.ndarray,
    release: np.ndarray,
    lifetime_ns: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tracks added while the world runs (playlist, track, added time): Poisson in time, each
    staying a random time, so sizes are stationary; a new release, a pick by weight or the
    next track of the theme's coverage cycle."""
    n_p = len(theme)
    horizon = _END_NS - _START_NS
    n_arr = rng.poisson(sizes.astype(np.float64) * horizon / lifetime_ns)
    arr_pl = np.repeat(np.arange(n_p), n_arr)
    m = len(arr_pl)
    arr_t = _START_NS + (rng.random(m) * horizon).astype(np.int64)
    by_time = np.argsort(arr_t, kind="stable")  # sorted queries: fast, and cycle order
    arr_t, arr_pl = arr_t[by_time], arr_pl[by_time]
    # new release / weighted / coverage cycle
    mode = rng.choice(3, size=m, p=[0.12, 1 - _COVER_SHARE - 0.12, _COVER_SHARE])
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
    return arr_pl[ok], arr_tr[ok], arr_t[ok]


def _stays(
    rng: np.random.Generator, e_add: np.ndarray, lifetime_ns: float
) -> tuple[np.ndarray, np.ndarray]:
    """Added and removed times in whole seconds (removed ``_NAT_NS``: never, within the world).
    A stay lasts a gamma time (shape 4: a track neither leaves at once nor lingers for ever,
    which keeps the coverage cycle's union near the whole catalog); initial members count
    from WORLD_START."""
    e_rem = np.maximum(e_add, _START_NS) + rng.gamma(4.0, lifetime_ns / 4.0, len(e_add)).astype(
        np.int64
    )
    e_add = e_add // 10**9 * 10**9  # whole seconds
    e_rem = np.maximum(e_rem // 10**9 * 10**9, e_add + 10**9)
    e_rem[e_rem >= _END_NS] = _NAT_NS
    return e_add, e_rem


def _once_at_a_time(
    e_pl: np.ndarray, e_tr: np.ndarray, e_add: np.ndarray, e_rem: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A track is in a playlist at most once at a time: drop entries that start before the
    previous entry of the same (playlist, track) ended, until none does. Returns the entries
    by playlist, added time and track."""
    order = np.lexsort((e_add, e_tr, e_pl))
    e_pl, e_tr, e_add, e_rem = e_pl[order], e_tr[order], e_add[order], e_rem[order]
    while True:
        clash = (e_pl[1:] == e_pl[:-1]) & (e_tr[1:] == e_tr[:-1]) & (e_add[1:] < e_rem[:-1])
        if not clash.any():
            break
        keep = np.concatenate([[True], ~clash])
        e_pl, e_tr, e_add, e_rem = e_pl[keep], e_tr[keep], e_add[keep], e_rem[keep]
    order = np.lexsort((e_tr, e_add, e_pl))
    return e_pl[order], e_tr[order], e_add[order], e_rem[order]


def _playlists_frame(
    rng: np.random.Generator, pl_ids: np.ndarray, theme: np.ndarray, n_own: int
) -> pd.DataFrame:
    """The playlists' metadata: names and descriptions from the theme, flags, followers."""
    n_p = len(pl_ids)
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
    return pd.DataFrame(
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
