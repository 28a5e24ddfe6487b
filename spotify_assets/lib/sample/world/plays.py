"""The sample world's listening: each listener's export records (sessions of music, podcasts or
audiobooks in local time, the items played, how each play ended and started, timing and
session attributes), generated on demand from the user's own stream ``_rng(seed, 101, user)``,
and the recently-played view of them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

import numpy as np
import pandas as pd

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES
from spotify_assets.lib.sample.world.artists import _FAMILY_STREAM_SHARE
from spotify_assets.lib.sample.world.base import (
    _NS_DAY,
    _START_NS,
    WORLD_START,
    _ReleasePool,
    _rng,
    _to_ns,
    _utc,
)
from spotify_assets.lib.sample.world.listeners import PLATFORMS
from spotify_assets.lib.sample.world.scales import WorldScale

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
_FAMILY_P = np.array([_FAMILY_STREAM_SHARE[f] for f in GENRE_FAMILIES])
_FAMILY_P = _FAMILY_P / _FAMILY_P.sum()
# Share of music picks that go to recent releases (all 2020s) rather than the whole catalog.
_P_NEW = 0.20
_NEW_WINDOW_DAYS = 120


class PlaysMixin:
    """Each listener's export records (``user_plays``, a small LRU cache in front of the
    generator) and their recently-played view for :class:`SampleWorld`."""

    seed: int
    scale: WorldScale
    history_end: pd.Timestamp
    _plays_cache: OrderedDict[int, dict[str, np.ndarray]]
    _plays_lock: threading.Lock
    # from the catalog, the listeners and the spoken word
    tracks: pd.DataFrame
    users: pd.DataFrame
    user_index: pd.Index
    episodes: pd.DataFrame
    audiobook_chapters: pd.DataFrame
    _duration_ms: np.ndarray
    _l_w: np.ndarray
    _user_ips: list[list[str]]
    _static_pool: _ReleasePool
    _favourite_pool: _ReleasePool
    _family_pools: list[_ReleasePool]
    _ep_show_first: np.ndarray
    _ep_show_n: np.ndarray
    _book_first: np.ndarray
    _book_n: np.ndarray

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
