"""Recently-played polling: every authorized user's ``/me/player/recently-played`` into the
lake, as rows of ``core.streams``, merged with the exports without counting a play twice
(Dagster-free; the ``raw/recently_played`` asset calls :func:`poll_users`).

Lake layout
-----------
- ``raw/recently_played/<user>/<poll time>.json``: each non-empty body, as it arrived
  (``<poll time>`` is UTC, ``20261129T143000Z``); an empty answer is not stored;
- ``processed/recently_played/<user>/<poll time>.parquet``: its plays in the streams schema
  (``STREAMS_SCHEMA``), ``source_format = 'recently_played'``,
  ``source_file = 'recently_played/<user>/<poll time>.parquet'`` (the key below
  ``processed/``);
- ``state/recently_played/<user>.json``: the user's cursor, the newest ``played_at`` seen
  (Unix ms), written after the body and its Parquet, so a poll that dies half-way is simply
  made again (its plays then come twice with the same key and ``core.streams`` keeps one).

The rows
--------
- ``ts`` = ``played_at``, taken as the **end** of the play, like the export's ``ts``
  (Spotify's export ReadMe: "when the track stopped playing", UTC). Spotify documents
  ``played_at`` only as "the date and time the track was played"; what people measured is that
  it is set when the play ends (a track being played is not listed until it has completed; a
  pause before skipping moves it later), with clients that at times report the start instead
  (spotify/web-api#613, #1083; FoxxMD/multi-scrobbler#709: "a timestamp near the end of a
  track"). The match below accepts both.
- ``ms_played``: the API gives none and lists only plays of 30 s or more. We use the track's
  ``duration_ms``, capped by the time since the user's previous listed play ended (a user plays
  one thing at a time, so a play cannot have lasted longer than that), and never below 30 000.
  Skipped plays are therefore counted whole unless the next play shows they were cut short.
- ``content_type``: ``music`` for a track, ``podcast`` for an episode (the endpoint lists
  tracks today); ``conn_country``, ``platform``, the reasons, ``shuffle``, ``skipped``,
  ``offline`` and ``incognito_mode`` are null (the API does not say; private-session plays are
  not listed at all).

Polling interval
----------------
One call returns at most 50 plays, and Spotify keeps only the 50 most recent: if more than 50
plays end between two polls, the older ones are lost. 50 plays are about 2.5 to 3 hours of
continuous music (3.5-minute tracks; 25 minutes if every play is a 30-second skip). Measured
on the demo sample world (60 listeners, 104 k listed plays over 18 months): the quickest 51
consecutive plays of any listener span 150 minutes (1st percentile 183, median 91 hours), and
polls on a fixed grid every 30, 60 or 120 minutes lose none of the plays, every 240 minutes
0.6 % (648). 30 minutes keeps a five-fold margin for continuous listening (and covers
skipping sprees of 50 plays in 25 minutes) at one call per user per poll: 48 calls a day per
user, 240 for the five users of a development-mode app, nothing next to the rate limit.
A gap can be *detected*, not repaired: when all 50 plays of an answer are newer than the
cursor, plays may have been lost between the cursor and the oldest one, and the poll
says so (``possible_gap``).

No double counting
------------------
A polled play and an export row are the same play when they have the same user and track id
and ``played_at`` falls within the export play's span widened by :data:`MATCH_SLACK_S`:
``ts - ms_played - slack <= played_at <= ts + slack`` (a minute more on the right for account
data, whose ``ts`` is cut to the minute). The span covers both readings of ``played_at`` (end
or start); the slack absorbs clock differences between the client's log and the API, and is
below the 30 s that a listed play lasts at least, so it cannot reach over a whole other play.
The match is one-to-one and keeps time order (:func:`drop_polled_duplicates`): the same track
played twice in a row gives two polled plays and two export rows whose spans touch, and the
first polled play takes the first export row, the second the second. The export's row is kept
(it has ``ms_played``, ``reason_end``, ``skipped``...).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from spotify_assets.lib.lake import LakeError, LakeStore, LocalLakeStore
from spotify_assets.lib.listening.export_files import STREAMS_SCHEMA, write_parquet
from spotify_assets.lib.listening.matching import monotone_matching
from spotify_assets.lib.listening.streams import ProcessedFile
from spotify_assets.lib.spotify_client import (
    PremiumRequired,
    SpotifyApiError,
    SpotifyCatalogClient,
    TokenError,
)

logger = logging.getLogger("spotify_assets.recently_played")

SOURCE_FORMAT = "recently_played"
RAW_PREFIX = "raw/recently_played/"
PROCESSED_PREFIX = "processed/recently_played/"
STATE_PREFIX = "state/recently_played/"
PAGE_LIMIT = 50  # the most one call returns, and the most Spotify keeps
MIN_LISTED_MS = 30_000  # recently-played lists plays of 30 s or more
MATCH_SLACK_S = 25
ACCOUNT_DATA_SLACK_S = 60  # account-data ts are cut to the minute
REFRESH_TOKEN_VAR_PREFIX = "SPOTIFY_REFRESH_TOKEN_"


def refresh_token_variable(user_id: str) -> str:
    """The environment variable holding a user's refresh token: ``alice`` ->
    ``SPOTIFY_REFRESH_TOKEN_ALICE`` (anything but letters and digits becomes ``_``)."""
    safe = "".join(c if c.isascii() and c.isalnum() else "_" for c in user_id)
    return REFRESH_TOKEN_VAR_PREFIX + safe.upper()


def poll_time_key(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass
class UserPoll:
    """What one poll did for one user (the asset's per-user metadata)."""

    user_id: str
    status: str  # "new plays", "no new plays", "token expired", "premium required", "failed"
    plays_new: int = 0
    cursor_before: int | None = None
    cursor_after: int | None = None
    possible_gap: bool = False
    raw_key: str | None = None
    processed_key: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


class PollingError(RuntimeError):
    """Some users could not be polled; raised after every user was tried."""

    def __init__(self, failed: list[UserPoll]) -> None:
        self.failed = failed
        super().__init__(
            f"recently-played polling failed for {len(failed)} user(s): "
            + "; ".join(f"{p.user_id}: {p.error}" for p in failed)
        )


# -------------------------------------------------------------------------- normalize


def normalize(
    body: Mapping[str, Any], *, user_id: str, source_file: str, previous_ms: int | None = None
) -> pa.Table:
    """A recently-played body -> rows of ``STREAMS_SCHEMA`` sorted by ``ts`` (see the module
    docstring for each column). ``previous_ms``: ``played_at`` of the user's play before the
    body's oldest (the cursor), to cap the oldest play's ``ms_played``. Items without a
    ``played_at`` or an item are skipped (a body holds at most 50)."""
    items = [
        (i, it)
        for i, it in enumerate(body.get("items") or [])
        if isinstance(it, dict) and it.get("played_at") and isinstance(it.get("track"), dict)
    ]
    n = len(items)
    played = pa.array([it["played_at"] for _, it in items], pa.string())
    ts = _parse_ts(played)
    track = [it["track"] for _, it in items]
    is_episode = np.array([t.get("type") == "episode" for t in track], dtype=bool)
    duration = np.array([int(t.get("duration_ms") or 0) for t in track], dtype=np.int64)
    ts_ms = ts.cast(pa.int64()).to_numpy(zero_copy_only=False) // 1000 if n else np.array([])
    order = np.argsort(ts_ms, kind="stable")
    prev = np.empty(n, dtype=np.int64)
    if n:
        prev[order[1:]] = ts_ms[order[:-1]]
        prev[order[0]] = previous_ms if previous_ms is not None else np.iinfo(np.int64).min // 2
    since_prev = np.where(prev > np.iinfo(np.int64).min // 4, ts_ms - prev, duration)
    ms_played = np.maximum(np.minimum(duration, since_prev), MIN_LISTED_MS)

    def ids(kind: bool) -> list[str | None]:
        return [t.get("id") if e == kind else None for t, e in zip(track, is_episode, strict=True)]

    def artist(t: dict[str, Any]) -> str | None:
        artists = t.get("artists") or []
        return artists[0].get("name") if artists and isinstance(artists[0], dict) else None

    null_s = pa.nulls(n, pa.string())
    null_b = pa.nulls(n, pa.bool_())
    cols = {
        "user_id": pa.array([user_id] * n, pa.string()),
        "ts": ts,
        "content_type": pa.array(np.where(is_episode, "podcast", "music").tolist(), pa.string()),
        "track_id": pa.array(ids(False), pa.string()),
        "episode_id": pa.array(ids(True), pa.string()),
        "audiobook_id": null_s,
        "audiobook_chapter_id": null_s,
        "track_name": pa.array(
            [None if e else t.get("name") for t, e in zip(track, is_episode, strict=True)],
            pa.string(),
        ),
        "artist_name": pa.array(
            [None if e else artist(t) for t, e in zip(track, is_episode, strict=True)],
            pa.string(),
        ),
        "album_name": pa.array(
            [
                None if e else (t.get("album") or {}).get("name")
                for t, e in zip(track, is_episode, strict=True)
            ],
            pa.string(),
        ),
        "episode_name": pa.array(
            [t.get("name") if e else None for t, e in zip(track, is_episode, strict=True)],
            pa.string(),
        ),
        "show_name": pa.array(
            [
                (t.get("show") or {}).get("name") if e else None
                for t, e in zip(track, is_episode, strict=True)
            ],
            pa.string(),
        ),
        "audiobook_title": null_s,
        "audiobook_chapter_title": null_s,
        "audiobook_author": null_s,
        "ms_played": pa.array(ms_played, pa.int64()),
        "conn_country": null_s,
        "platform": null_s,
        "reason_start": null_s,
        "reason_end": null_s,
        "shuffle": null_b,
        "skipped": null_b,
        "offline": null_b,
        "offline_timestamp": pa.nulls(n, STREAMS_SCHEMA.field("offline_timestamp").type),
        "incognito_mode": null_b,
        "source_format": pa.array([SOURCE_FORMAT] * n, pa.string()),
        "source_file": pa.array([source_file] * n, pa.string()),
        "record_index": pa.array([i for i, _ in items], pa.int64()),
    }
    # Columns the API has nothing for (and any the exports' schema gains) are null.
    table = pa.table(
        {f.name: cols.get(f.name, pa.nulls(n, f.type)) for f in STREAMS_SCHEMA},
        schema=STREAMS_SCHEMA,
    )
    return table.take(pa.array(order, pa.int64())) if n else table


def _parse_ts(values: pa.Array) -> pa.Array:
    """ISO 8601 ``played_at`` (``2026-11-29T14:30:00.123Z``) -> timestamp[us, UTC]."""
    target = STREAMS_SCHEMA.field("ts").type
    if not len(values):
        return pa.array([], target)
    parsed = [datetime.fromisoformat(v.replace("Z", "+00:00")) for v in values.to_pylist()]
    return pa.array([p if p.tzinfo else p.replace(tzinfo=UTC) for p in parsed], target)


# -------------------------------------------------------------------------- state


def cursor_key(user_id: str) -> str:
    return f"{STATE_PREFIX}{user_id}.json"


def read_cursor(store: LakeStore, user_id: str) -> int | None:
    """The newest ``played_at`` (Unix ms) stored for the user, or None before the first poll."""
    try:
        state = orjson.loads(store.get_bytes(cursor_key(user_id)))
    except LakeError:
        return None
    except orjson.JSONDecodeError as exc:
        raise LakeError(
            f"{store.uri(cursor_key(user_id))} is not valid JSON ({exc}): delete it to poll "
            "from the newest 50 plays again"
        ) from exc
    value = state.get("cursor_ms") if isinstance(state, dict) else None
    return int(value) if value is not None else None


def _write_cursor(store: LakeStore, user_id: str, cursor_ms: int, at: datetime) -> None:
    store.put_bytes(
        cursor_key(user_id),
        orjson.dumps({"cursor_ms": cursor_ms, "updated_at": at.astimezone(UTC).isoformat()}),
    )


# -------------------------------------------------------------------------- polling


def poll_user(
    store: LakeStore, client: SpotifyCatalogClient, user_id: str, *, at: datetime
) -> UserPoll:
    """One call for one user: keep the body, write its plays, move the cursor. A dead token
    or any API error is returned in the result (``error``), never raised, so the caller goes on
    with the next user."""
    cursor = read_cursor(store, user_id)
    result = UserPoll(user_id, "no new plays", cursor_before=cursor, cursor_after=cursor)
    try:
        body = client.recently_played(after_ms=cursor, limit=PAGE_LIMIT)
    except TokenError as exc:
        result.status = "token expired"
        # Not the exception's own hint: it names the playlist owner's SPOTIFY_REFRESH_TOKEN.
        result.error = (
            f"the refresh token of user {user_id!r} was refused ({exc.endpoint}: "
            f"{exc.detail}); the user must "
            f"authorize again: run `python -m spotify_assets.auth {user_id}` and set "
            f"{refresh_token_variable(user_id)} to the token it prints (since 2026 a refresh "
            "token expires six months after authorization)"
        )
        return result
    except PremiumRequired as exc:
        result.status = "premium required"
        result.error = (
            f"polling user {user_id!r}: {exc}. Once the app owner has Premium, nothing else "
            "is needed; if the app moved to another account, run "
            f"`python -m spotify_assets.auth {user_id}` again"
        )
        return result
    except SpotifyApiError as exc:
        result.status = "failed"
        result.error = f"polling user {user_id!r}: {exc}"
        return result

    key = poll_time_key(at)
    source_file = f"recently_played/{user_id}/{key}.parquet"
    table = normalize(body, user_id=user_id, source_file=source_file, previous_ms=cursor)
    if cursor is not None and table.num_rows:
        # Spotify's `after` is exclusive; keep the rule even if an answer strays.
        ts_ms = table.column("ts").cast(pa.int64()).to_numpy() // 1000
        table = table.filter(pa.array(ts_ms > cursor))
    if not table.num_rows:
        return result
    raw_key = f"{RAW_PREFIX}{user_id}/{key}.json"
    processed_key = f"{PROCESSED_PREFIX}{user_id}/{key}.parquet"
    store.put_bytes(raw_key, orjson.dumps(body))
    buf = io.BytesIO()
    write_parquet(table, buf)
    store.put_bytes(processed_key, buf.getvalue())
    newest = int(table.column("ts").cast(pa.int64()).to_numpy().max() // 1000)
    _write_cursor(store, user_id, newest, at)
    result.status = "new plays"
    result.plays_new = table.num_rows
    result.cursor_after = newest
    result.raw_key, result.processed_key = raw_key, processed_key
    # All of a full page newer than the cursor: plays between them may be gone.
    result.possible_gap = table.num_rows >= PAGE_LIMIT
    return result


def poll_users(
    store: LakeStore,
    clients: Mapping[str, SpotifyCatalogClient],
    *,
    at: datetime | None = None,
    log: logging.Logger | None = None,
) -> list[UserPoll]:
    """Poll every user (in order), each independently: one user's dead token or failing call
    never stops the others. Returns every user's result; the caller decides to fail after."""
    at = at or datetime.now(UTC)
    log = log or logger
    out = []
    for user_id, client in clients.items():
        result = poll_user(store, client, user_id, at=at)
        if result.failed:
            log.error("%s", result.error)
        elif result.possible_gap:
            log.warning(
                "%s: all %d plays of the answer are newer than the cursor: plays between the "
                "last poll and the oldest of them may be lost (poll more often)",
                user_id,
                result.plays_new,
            )
        out.append(result)
    return out


def summarize(results: Iterable[UserPoll]) -> dict[str, Any]:
    """Asset metadata for a poll: users polled, new plays, each user's status."""
    results = list(results)
    return {
        "users_polled": len(results),
        "plays_new": sum(r.plays_new for r in results),
        "users_failed": sorted(r.user_id for r in results if r.failed),
        "users_possible_gap": sorted(r.user_id for r in results if r.possible_gap),
        "per_user": {
            r.user_id: {k: v for k, v in asdict(r).items() if v is not None} for r in results
        },
    }


# -------------------------------------------------------------------------- core.streams


def polled_files(store: LakeStore, workdir: Path) -> list[ProcessedFile]:
    """Every polled Parquet file, for the ``core.streams`` build; S3 objects are copied to
    ``workdir`` first (DuckDB reads local files). A file's version is its object's etag (polled
    files are written once)."""
    out = []
    for obj in store.list(PROCESSED_PREFIX):
        if not obj.key.endswith(".parquet"):
            continue
        if isinstance(store, LocalLakeStore):
            path = str(store.path(obj.key))
        else:
            local = workdir / obj.key
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(store.get_bytes(obj.key))
            path = str(local)
        out.append(
            ProcessedFile(
                source_file=obj.key.removeprefix("processed/"), path=path, version=obj.etag
            )
        )
    return out


def read_polled(paths: Iterable[str]) -> pa.Table:
    """The rows of polled Parquet files (tests and checks)."""
    tables = [pq.read_table(p) for p in paths]
    return pa.concat_tables(tables) if tables else STREAMS_SCHEMA.empty_table()


#: Preference for reading ``played_at`` as the end of the play (the usual case) over the start.
START_PENALTY_MS = 10_000

_CANDIDATES_SQL = f"""
select p.user_id, p.track_id,
       p.source_file as p_file, p.record_index as p_index, epoch_ms(p.ts) as p_ms,
       e.source_file as e_file, e.record_index as e_index, epoch_ms(e.ts) as e_ms,
       least(abs(epoch_ms(p.ts) - epoch_ms(e.ts)),
             abs(epoch_ms(p.ts) - epoch_ms(e.ts) + e.ms_played) + {START_PENALTY_MS}) as cost
from core.streams p
join core.streams e
  on e.user_id = p.user_id and e.track_id = p.track_id
 and e.source_format in ('extended', 'account_data')
 and p.ts >= e.ts - to_milliseconds(e.ms_played) - interval {MATCH_SLACK_S} second
 and p.ts <= e.ts + case when e.source_format = 'account_data'
                         then interval {MATCH_SLACK_S + ACCOUNT_DATA_SLACK_S} second
                         else interval {MATCH_SLACK_S} second end
where p.source_format = '{SOURCE_FORMAT}' and p.track_id is not null
"""


def drop_polled_duplicates(conn: Any) -> int:
    """Delete from ``core.streams`` the polled rows that are a play an export also has (see
    the module docstring for the match); returns how many.

    One-to-one and in time order: DuckDB finds the candidate pairs (same user and track,
    ``played_at`` within the export play's widened span); for each user and track, the pairs
    kept are the most that can be matched without crossing (the k-th polled play of a run
    takes the k-th export play: plays of one user do not overlap), and among those the
    closest (``played_at`` to the export's end, or to its start plus
    :data:`START_PENALTY_MS`). So two polled plays of a track played twice in a row take the
    two export rows, never one, whichever end each was reported at. Only candidate pairs go
    through Python: a poll adds at most 50 polled plays per user."""
    # A cursor of its own: whatever the caller left unfinished on ``conn`` stays its business.
    conn = conn.cursor()
    candidates = conn.sql(_CANDIDATES_SQL + " order by all").to_arrow_table()
    if not candidates.num_rows:
        return 0
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in candidates.to_pylist():
        groups.setdefault((row["user_id"], row["track_id"]), []).append(row)
    drop: list[tuple[str, int]] = []
    for rows in groups.values():
        drop.extend(_monotone_matching(rows))
    conn.register(
        "_rp_drop",
        pa.table(
            {
                "source_file": pa.array([f for f, _ in drop], pa.string()),
                "record_index": pa.array([i for _, i in drop], pa.int64()),
            }
        ),
    )
    try:
        conn.execute(
            "delete from core.streams s using _rp_drop d "
            "where s.source_file = d.source_file and s.record_index = d.record_index"
        )
    finally:
        conn.unregister("_rp_drop")
    return len(drop)


def _monotone_matching(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """The polled rows matched by the largest non-crossing matching of least total cost
    between one user-track's polled and export plays (``rows``: the candidate pairs)."""
    pairs = [
        (
            (r["p_ms"], r["p_file"], r["p_index"]),
            (r["e_ms"], r["e_file"], r["e_index"]),
            r["cost"],
        )
        for r in rows
    ]
    return [polled[1:] for polled, _ in monotone_matching(pairs)]
