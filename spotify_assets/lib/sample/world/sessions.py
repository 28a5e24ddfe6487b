"""A sample listener's sessions, steps of the play generator (:mod:`.plays`): how many of
each kind (music, podcast, audiobook) and how long, on which days and at what local time they
start, and each session's platform, shuffle, offline, incognito and IP address. Each step draws
from the listener's stream in turn."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spotify_assets.lib.sample.world.base import _NS_DAY, _START_NS, WORLD_START
from spotify_assets.lib.sample.world.listeners import PLATFORMS

# Mean plays per session; podcasts and audiobooks come in short sessions of their own.
_SESSION_LEN = (12.0, 1.6, 1.3)
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


def _active_days(usr: pd.Series) -> tuple[int, int]:
    """The listener's first and (exclusive) last day, counted from WORLD_START."""
    d0 = int((usr["active_from"].value - _START_NS) // _NS_DAY)
    d1 = int((usr["active_until"].value - _START_NS) // _NS_DAY)
    return d0, d1


def _session_kinds(
    rng: np.random.Generator, n: int, s_pod: float, s_book: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sessions: type (index into CONTENT_TYPES), then length in plays, trimmed to exactly
    ``n`` plays in all."""
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
    return types, lengths


def _session_starts(rng: np.random.Generator, usr: pd.Series, n_sess: int) -> np.ndarray:
    """Each session's start (UTC epoch ns, in the order the sessions were drawn): active days
    (local calendar), weekday-weighted; sessions spread with heavy-tailed day volumes, at least
    one session per active day; the hour from the listener's daily rhythm."""
    d0, d1 = _active_days(usr)
    period = np.arange(d0, d1)
    weekday = (period + WORLD_START.dayofweek) % 7
    wf = _WEEKDAY_FACTOR[weekday] ** 0.5
    n_days = int(
        np.clip(round(n_sess / float(usr["sessions_per_day"])), 1, min(len(period), n_sess))
    )
    days = np.sort(rng.choice(period, size=n_days, replace=False, p=wf / wf.sum()))
    day_w = (
        rng.lognormal(0.0, 0.6, n_days) * _WEEKDAY_FACTOR[(days + WORLD_START.dayofweek) % 7] ** 0.5
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
    return (
        pd.DatetimeIndex(local_ns.astype("datetime64[ns]"))
        .tz_localize(
            str(usr["timezone"]),
            ambiguous=np.zeros(n_sess, dtype=bool),
            nonexistent="shift_forward",
        )
        .asi8
    )


def _session_attributes(
    rng: np.random.Generator,
    usr: pd.Series,
    n_sess: int,
    sess_of: np.ndarray,
    music: np.ndarray,
    n_ip: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per play, from its session (``sess_of``, of ``n_sess``): platform (index into
    PLATFORMS), shuffle (music only), offline (never on the web player), incognito, IP address
    (index into the listener's ``n_ip`` addresses)."""
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
    ip = np.minimum(rng.choice(3, size=n_sess, p=[0.8, 0.15, 0.05]), n_ip - 1)[sess_of]
    return plat_idx[sess_of], shuffle, offline, incognito, ip
