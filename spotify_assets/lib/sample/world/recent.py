"""What ``/me/player/recently-played`` shows for a sample listener: the end of their export
plus a little listening after it (Dagster-free, deterministic from the world's seed).

Why this shape: polling must find plays that no export holds yet (new plays), and some polled
plays must also be in the export so that the merge of the two sources is exercised. Per user:

- **overlap**: the last :data:`OVERLAP_PLAYS` music plays of the export that lasted 30 s or
  more (Spotify lists nothing shorter). ``played_at`` is the export's ``ts`` (end of play) plus
  0-2 s of clock difference; about one in six is reported at the *start* of the play
  (``ts - ms_played``), a quirk real clients show (spotify/web-api#1083).
- **new**: 15 to 35 plays after the export's last play, in two or three listening sessions
  starting 2 to 12 hours after it; tracks drawn from the user's own history; one track is played
  twice in a row; about one play in six is stopped early (but after 30 s).

Together they are fewer than :data:`VISIBLE_PLAYS`, so one poll made any time after the new
plays sees all of them, and the 50-item window of the API never hides a play in the sample
world unless a test moves the clock into the middle of it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pandas as pd

from spotify_assets.lib.sample.world.world import SampleWorld

#: Spotify keeps a user's 50 most recent plays for this endpoint, and one call returns 50 at most.
VISIBLE_PLAYS = 50
OVERLAP_PLAYS = 10
NEW_PLAYS = (15, 35)
MIN_LISTED_MS = 30_000

_cache: OrderedDict[tuple[int, str], pd.DataFrame] = OrderedDict()
_lock = threading.Lock()


def recent_plays(world: SampleWorld, user_id: str) -> pd.DataFrame:
    """The user's recently-played timeline, oldest first: ``track_id``, ``played_at`` (UTC),
    ``ms_played`` (what was really played: the ground truth tests compare with), ``in_export``
    (the play is also a row of the export) and ``reported_at_start``."""
    key = (id(world), user_id)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
    out = _build(world, user_id)
    with _lock:
        _cache[key] = out
        while len(_cache) > 64:
            _cache.popitem(last=False)
    return out


def _build(world: SampleWorld, user_id: str) -> pd.DataFrame:
    u = int(world.user_index.get_loc(user_id))
    rng = np.random.default_rng([int(world.seed), 303, u])
    p = world.user_plays(user_id)
    music = (p["content"] == 0) & (p["ms_played"] >= MIN_LISTED_MS)
    ts, ms, item = p["ts"][music], p["ms_played"][music], p["item"][music]
    durations = world.tracks["duration_ms"].to_numpy()
    track_ids = world.tracks["track_id"].to_numpy()

    # Overlap: the export's last listed plays, as the API reports them.
    k = min(OVERLAP_PLAYS, len(ts))
    o_end_ms = ts[len(ts) - k :] * 1000 + rng.integers(0, 2001, k)
    o_ms = ms[len(ts) - k :]
    at_start = rng.random(k) < 1 / 6
    o_played = np.where(at_start, ts[len(ts) - k :] * 1000 - o_ms, o_end_ms)

    # New plays after the export's last play (of any kind).
    if len(p["ts"]):
        last_ms = int(p["ts"].max()) * 1000
    else:
        last_ms = int(world.users.at[u, "active_from"].value // 10**6)
    n = int(rng.integers(NEW_PLAYS[0], NEW_PLAYS[1] + 1))
    pool = item if len(item) else np.arange(len(track_ids))
    new_item = pool[rng.integers(0, len(pool), n)]
    new_item[3] = new_item[2]  # the same track twice in a row
    full = durations[new_item]
    early = rng.random(n) < 1 / 6
    n_ms = np.where(
        early, MIN_LISTED_MS + (rng.random(n) * (full - MIN_LISTED_MS)).astype(np.int64), full
    )
    n_sessions = int(rng.integers(2, 4))
    breaks = np.sort(rng.choice(np.arange(1, n), n_sessions - 1, replace=False))
    gap_ms = np.zeros(n, dtype=np.int64)
    gap_ms[0] = int(rng.integers(2, 13)) * 3_600_000
    gap_ms[breaks] = rng.integers(3, 11, len(breaks)) * 3_600_000
    gap_ms += rng.integers(0, 1500, n)  # a moment between tracks
    new_end = last_ms + np.cumsum(gap_ms + n_ms)

    out = pd.DataFrame(
        {
            "track_id": np.concatenate([track_ids[item[len(item) - k :]], track_ids[new_item]]),
            "played_at": pd.to_datetime(
                np.concatenate([o_played, new_end]).astype(np.int64), unit="ms", utc=True
            ),
            "ms_played": np.concatenate([o_ms, n_ms]).astype(np.int64),
            "in_export": np.concatenate([np.ones(k, bool), np.zeros(n, bool)]),
            "reported_at_start": np.concatenate([at_start, np.zeros(n, bool)]),
        }
    )
    return out.sort_values("played_at", kind="stable").reset_index(drop=True)


def visible_plays(
    world: SampleWorld,
    user_id: str,
    *,
    at: pd.Timestamp,
    after: pd.Timestamp | None = None,
    before: pd.Timestamp | None = None,
    limit: int = VISIBLE_PLAYS,
) -> pd.DataFrame:
    """What one call answers at ``at``, newest first: of the :data:`VISIBLE_PLAYS` most recent
    plays ended before ``at``, the ``limit`` newest strictly before ``before``, or the
    ``limit`` oldest strictly after ``after``. Older plays are gone, as on Spotify: a poll gap
    longer than 50 plays loses plays (the newest 50 are all after the cursor, which is how a
    poller can tell)."""
    plays = recent_plays(world, user_id)
    plays = plays[plays["played_at"] < at].tail(VISIBLE_PLAYS)
    if before is not None:
        plays = plays[plays["played_at"] < before]
    if after is not None:
        # The plays right after the cursor, so a cursor walking forward misses none of them.
        plays = plays[plays["played_at"] > after].head(limit)
    return plays.iloc[::-1].head(limit).reset_index(drop=True)
