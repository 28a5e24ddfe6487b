"""What every part of the sample world shares: its time frame and the app user's ids, the seeded
random streams and pure hashes, and small vectorized helpers (ids, the inverse normal CDF,
weighted assignment, unique names, the release-ordered pick pool)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd

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

_ALPHABET = np.frombuffer(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
)


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
