"""The sample world's listening: each listener's export records (sessions of music, podcasts or
audiobooks in local time, :mod:`.sessions`; the items played, how each play ended and started,
its timing; the sessions' attributes), generated on demand from the user's own stream
``_rng(seed, 101, user)``, and the recently-played view of them."""

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
    _ReleasePool,
    _rng,
    _to_ns,
    _utc,
)
from spotify_assets.lib.sample.world.scales import WorldScale
from spotify_assets.lib.sample.world.sessions import (
    _active_days,
    _session_attributes,
    _session_kinds,
    _session_starts,
)

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
        # One stream per listener: the steps draw from it in this order.
        types, lengths = _session_kinds(rng, n, s_pod, s_book)
        n_sess = len(types)
        utc = _session_starts(rng, usr, n_sess)
        order = np.argsort(utc, kind="stable")
        utc = utc[order]
        types, lengths = types[order], lengths[order]

        sess_of = np.repeat(np.arange(n_sess), lengths)
        content = types[sess_of]
        first_in = np.concatenate([[True], sess_of[1:] != sess_of[:-1]])
        last_in = np.concatenate([sess_of[1:] != sess_of[:-1], [True]])
        music = content == 0

        item = self._items(rng, usr, content, utc[sess_of] - _NS_DAY)
        dur = self._item_durations(content, item)
        ms, reason_end, skipped = _play_outcomes(rng, dur, music, last_in)
        reason_start = _start_reasons(rng, reason_end, first_in)
        start = _play_start_times(rng, ms, reason_end, utc, sess_of, first_in)
        end_ns = start + ms * 10**6
        ts = end_ns // 10**9
        n_ip = len(self._user_ips[u])
        platform, shuffle, offline, incognito, ip = _session_attributes(
            rng, usr, n_sess, sess_of, music, n_ip
        )
        skipped = _null_skips(rng, skipped, end_ns, music, self.scale.history_days)

        keep = ts < self.history_end.value // 10**9
        cols = {
            "ts": ts,
            "ms_played": ms,
            "content": content.astype(np.int8),
            "item": item,
            "platform": platform.astype(np.int8),
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

    def _items(
        self, rng: np.random.Generator, usr: pd.Series, content: np.ndarray, elig: np.ndarray
    ) -> np.ndarray:
        """What each play plays (row in tracks / episodes / audiobook_chapters); music is
        released before ``elig``, the day before its session."""
        n = len(content)
        item = np.zeros(n, dtype=np.int64)
        music = content == 0
        item[music] = self._music_picks(rng, usr, elig[music])
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
        return item

    def _music_picks(self, rng: np.random.Generator, usr: pd.Series, t_m: np.ndarray) -> np.ndarray:
        """Tracks of music plays at times ``t_m``: from the listener's rotation (favourites
        drawn as they start listening), from new releases or from the whole released catalog,
        by the listeners' stream weight."""
        nm = len(t_m)
        pool = self._static_pool
        d0, _ = _active_days(usr)
        rot_k = int(np.clip(rng.lognormal(np.log(120), 0.5), 20, max(20, len(self.tracks) // 3)))
        rot = self._favourite_pool.pick(
            np.full(rot_k, _START_NS + d0 * _NS_DAY - _NS_DAY), rng.random(rot_k)
        )
        rot = rot[rot >= 0]
        mode_u = rng.random(nm)
        u_pick = rng.random(nm)
        picks = pool.pick(t_m, u_pick)
        new = (mode_u >= float(usr["rotation_share"])) & (
            mode_u < float(usr["rotation_share"]) + _P_NEW
        )
        picks[new] = self._new_release_picks(rng, t_m[new], u_pick[new], picks[new])
        in_rot = mode_u < float(usr["rotation_share"])
        if len(rot):
            rot_w = (np.arange(len(rot)) + 1.0) ** -0.8
            rot_cdf = np.cumsum(rot_w / rot_w.sum())
            picks[in_rot] = rot[
                np.minimum(np.searchsorted(rot_cdf, u_pick[in_rot], side="right"), len(rot) - 1)
            ]
        if (picks < 0).any():  # nothing released yet (cannot happen after WORLD_START)
            picks[picks < 0] = int(np.argmax(self._l_w))
        return picks

    def _new_release_picks(
        self, rng: np.random.Generator, t_new: np.ndarray, u_new: np.ndarray, fallback: np.ndarray
    ) -> np.ndarray:
        """Tracks released in the last ``_NEW_WINDOW_DAYS`` before ``t_new`` (``fallback``
        where none). The family is drawn first (from the target shares), so which few tracks
        happen to come out during the history cannot skew the genre mix."""
        pool = self._static_pool
        window = _NEW_WINDOW_DAYS * _NS_DAY
        new_fam = rng.choice(len(GENRE_FAMILIES), size=len(t_new), p=_FAMILY_P)
        new_picks = np.full(len(t_new), -1, dtype=np.int64)
        for f, fpool in enumerate(self._family_pools):
            sel = new_fam == f
            if sel.any() and len(fpool):
                new_picks[sel] = fpool.pick(t_new[sel], u_new[sel], window_ns=window, min_count=3)
        missing = new_picks < 0
        new_picks[missing] = pool.pick(
            t_new[missing], u_new[missing], window_ns=window, min_count=10
        )
        return np.where(new_picks >= 0, new_picks, fallback)

    def _item_durations(self, content: np.ndarray, item: np.ndarray) -> np.ndarray:
        """Each play's item's full duration (ms)."""
        music, pod, book = content == 0, content == 1, content == 2
        return np.where(
            music,
            self._duration_ms[np.where(music, item, 0)],
            np.where(
                pod,
                self.episodes["duration_ms"].to_numpy()[np.where(pod, item, 0)],
                self.audiobook_chapters["duration_ms"].to_numpy()[np.where(book, item, 0)],
            ),
        )

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


def _play_outcomes(
    rng: np.random.Generator, dur: np.ndarray, music: np.ndarray, last_in: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How long each play lasted (ms), how it ended (index into REASONS) and whether it was
    skipped (1, 0): ~25% of music ends within 5 s, ~1/3 is skipped; the last play of a session
    ends it (``last_in``)."""
    n = len(dur)
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
    return ms, reason_end, skipped


def _start_reasons(
    rng: np.random.Generator, reason_end: np.ndarray, first_in: np.ndarray
) -> np.ndarray:
    """How each play started (index into REASONS): it follows the previous play's end within
    a session; a session's first play (``first_in``) starts by a click, the play button..."""
    n = len(reason_end)
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
    start_choices = np.array([_R_CLICKROW, _R_PLAYBTN, _R_APPLOAD, _R_REMOTE, _R_TRACKDONE, _R_FWD])
    first_reason = start_choices[rng.choice(6, size=n, p=[0.4, 0.25, 0.15, 0.08, 0.07, 0.05])]
    return np.where(first_in, first_reason, follow)


def _play_start_times(
    rng: np.random.Generator,
    ms: np.ndarray,
    reason_end: np.ndarray,
    utc: np.ndarray,
    sess_of: np.ndarray,
    first_in: np.ndarray,
) -> np.ndarray:
    """Each play's start (UTC epoch ns): plays back to back within a session, with a short
    gap (now and then a pause); a session starts at its drawn time ``utc`` or, if the previous
    session still runs, two minutes after it: sessions never overlap."""
    n = len(ms)
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
    return start_sess[sess_of] + offset_in


def _null_skips(
    rng: np.random.Generator,
    skipped: np.ndarray,
    end_ns: np.ndarray,
    music: np.ndarray,
    history_days: int,
) -> np.ndarray:
    """``skipped`` as int8 with -1 for null: older records (the first fifth of the history)
    lack it for a minority; spoken word mostly has it null."""
    n = len(skipped)
    null_cut = _START_NS + int(0.2 * history_days) * _NS_DAY
    null_skip = ((end_ns < null_cut) & (rng.random(n) < 0.5)) | (~music & (rng.random(n) < 0.5))
    return np.where(null_skip, -1, skipped).astype(np.int8)
