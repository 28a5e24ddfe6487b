"""One play, one row: the scrobbles of ``core.scrobbles`` merged into ``core.streams``
(Dagster-free). Run at every build, after Spotify's rows are in, by :func:`merge_scrobbles`.

A scrobble's time is when the track started (Last.fm's and ListenBrainz's timestamp; some
clients send the time they submitted it, within the play); Spotify's ``ts`` is when it
ended. The rule (docs/USER_GUIDE.md, "KPI definitions"):

1. **The same scrobble twice is one play**: two scrobbles of one listener (from either
   service, or both: people scrobble to Last.fm and ListenBrainz at once) of the same track
   whose times are at most :data:`SLACK_S` apart. A time on a whole minute may have been cut
   to the minute (the CSV export tools write no seconds), so it stands for the whole minute
   (:data:`MINUTE_S` more). Scrobbles are taken in time order (then file and record); each is
   the same play as the earliest scrobble before it within reach that is not itself a
   repeat, else it is a play of its own. Of a play's scrobbles, the one with a track id, then
   with seconds, then with a duration, then the first by file and record, stays.
2. **A scrobble of a Spotify play is that play**: a scrobble matches a music play of the
   listener's Spotify history (export or polling) of the same track when its time falls
   within the play, widened by :data:`SLACK_S` on each side: ``ts - ms_played - 25 s <=
   time <= ts + 25 s`` (a minute more on the right for account data, whose ``ts`` is cut to
   the minute; a minute more on the left for a time on a whole minute). 25 s stays under the
   30 s a scrobbled track lasts at least, so the window reaches no other play of the same
   track before it; after it, a track played again at once can be reached, and the matching
   decides: one to one for each service (a play takes at most one Last.fm and one
   ListenBrainz scrobble: two clients may stamp one play at its start and at its end), never
   crossing in time (the k-th scrobble of a run takes the k-th play), the most pairs, then
   the least total distance from the scrobble's time to the play's start
   (:func:`spotify_assets.lib.listening.matching.monotone_matching`). A matched scrobble is
   not added: the Spotify row stays (it has ``ms_played``, the reasons, skips).
3. **What is left is a play of its own**, added to ``core.streams`` with its
   ``source_format``: ``ms_played`` is the track's duration (given by the file, else the
   catalog's for its track id, else :data:`DEFAULT_DURATION_MS`: a scrobble does not say how
   long the track played, and scrobblers send plays that reached half the track or four
   minutes, most played through), and ``ts`` is its time plus ``ms_played``: the end, as for
   every row of ``core.streams``.

**Same track**: the same track id, or the same artist and title after normalizing both
(:func:`name_key`: NFKC, case folded, curly quotes straight, commas and double quotes dropped
(lastfm-to-csv strips them from every value), whitespace collapsed, and the title without
featured artists and remaster marks).

``core.scrobble_matches`` lists every scrobble that was not added, with the row it was merged
into (a Spotify play, or the scrobble kept of its group): with the scrobbles of
``core.streams`` that is every scrobble of ``core.scrobbles``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa

from spotify_assets.lib.listening.matching import monotone_matching
from spotify_assets.lib.listening.sources import SCROBBLE_FORMATS, SPOTIFY_FORMATS, sql_list

#: Clock differences between a scrobbler, Spotify and the services (s).
SLACK_S = 25
#: A time on a whole minute may have been cut to it: it stands for the next 59 s too.
MINUTE_S = 59
#: Account-data ``ts`` are cut to the minute: the play may have ended a minute later.
ACCOUNT_DATA_SLACK_S = 60
#: ``ms_played`` of a scrobble whose track's duration is unknown (3.5 min, about the
#: median track).
DEFAULT_DURATION_MS = 210_000
MATCHES_TABLE = "core.scrobble_matches"

_SCROBBLES = sql_list(SCROBBLE_FORMATS)
_SPOTIFY = sql_list(SPOTIFY_FORMATS)
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": None, "”": None, "´": "'", "`": "'",
                         ",": None, '"': None})  # fmt: skip
_FEAT = re.compile(r"\s*[\(\[]\s*(feat\.?|ft\.?|featuring|with)\s[^\)\]]*[\)\]]", re.IGNORECASE)
_REMASTER = re.compile(
    r"\s*(-\s*[^-]*\bremaster(ed)?\b[^-]*$|[\(\[][^\)\]]*\bremaster(ed)?\b[^\)\]]*[\)\]])",
    re.IGNORECASE,
)


def name_key(artist: str | None, track: str | None) -> str | None:
    """Artist and title as compared (module docstring, "Same track"); None without both."""
    if not artist or not track:
        return None

    def norm(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
        return " ".join(text.split())

    title = _REMASTER.sub("", _FEAT.sub("", track))
    return f"{norm(artist)}\x00{norm(title) or norm(track)}"


@dataclass(frozen=True)
class MergeStats:
    scrobbles: int  # rows of core.scrobbles
    duplicates: int  # the same scrobble again (rule 1)
    matched: int  # scrobbles of Spotify plays (rule 2)
    added: int  # plays of their own, added to core.streams (rule 3)


# A scrobble is named by its key, (time in epoch seconds, source_file, record_index), which
# also orders scrobbles in time; what the rules read of it is in a _Info tuple.
Key = tuple[float, str, int]


class _Info(NamedTuple):
    user_id: str
    source_format: str
    ts: datetime
    cut: bool  # on a whole minute: may stand for the whole minute
    track_id: str | None
    has_duration: bool


def merge_scrobbles(conn: Any) -> MergeStats:
    """Bring the scrobbles of ``core.streams`` in line with ``core.scrobbles`` and the Spotify
    plays (module docstring) and write ``core.scrobble_matches``."""
    conn = conn.cursor()  # temp tables of its own; the caller's statements stay its business
    conn.execute(f"delete from core.streams where source_format in {_SCROBBLES}").fetchall()
    if not _has_scrobbles(conn):
        _write_matches(conn, [])
        return MergeStats(0, 0, 0, 0)
    _register_name_keys(conn)
    info = {
        (t, f, i): _Info(*rest)
        for t, f, i, *rest in conn.execute(
            "select t, source_file, record_index, user_id, source_format, ts, cut, track_id, "
            f"has_duration from ({_SCROBBLE_COLUMNS})"
        ).fetchall()
    }
    duplicates = _duplicates(conn, info)
    conn.register("_scrobble_dups", _keys_table([row[0] for row in duplicates]))
    matched = _spotify_matches(conn, info)
    _write_matches(conn, [_match_row(info, *row) for row in duplicates + matched])
    added = _add_the_rest(conn)
    for name in ("_scrobble_dups", "_name_keys"):
        conn.unregister(name)
    return MergeStats(len(info), len(duplicates), len(matched), added)


def _has_scrobbles(conn: Any) -> bool:
    (n,) = conn.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'core' and table_name = 'scrobbles'"
    ).fetchall()[0]
    return bool(n) and bool(conn.execute("select count(*) from core.scrobbles").fetchall()[0][0])


def _register_name_keys(conn: Any) -> None:
    """``_name_keys(artist_name, track_name, name_key)`` for every name pair of the
    scrobbles and of the Spotify music plays of the listeners who scrobble."""
    pairs = conn.execute(
        f"""
        select distinct artist_name, track_name from core.scrobbles
        union
        select distinct artist_name, track_name from core.streams
         where content_type = 'music' and source_format in {_SPOTIFY}
           and user_id in (select distinct user_id from core.scrobbles)
        """
    ).fetchall()
    pairs = [(a, t) for a, t in pairs if a and t]
    conn.register(
        "_name_keys",
        pa.table(
            {
                "artist_name": pa.array([a for a, _ in pairs], pa.string()),
                "track_name": pa.array([t for _, t in pairs], pa.string()),
                "name_key": pa.array([name_key(a, t) for a, t in pairs], pa.string()),
            }
        ),
    )


_SCROBBLE_COLUMNS = """
    select s.user_id, s.source_format, s.source_file, s.record_index, s.ts,
           epoch_ms(s.ts) / 1000.0 as t, epoch_ms(s.ts) % 60000 = 0 as cut,
           s.track_id, k.name_key, s.ms_played > 0 as has_duration
      from core.scrobbles s
      left join _name_keys k using (artist_name, track_name)
"""
# Candidate pairs are joined on (listener, track, time bucket), never on the listener and track
# alone: a favourite played a thousand times would make a million pairs to filter.
_DUP_BUCKET_S = 120  # > the farthest two scrobbles of one play can be (25 + 59 s)
_PLAY_BUCKET_S = 600


def _same_track_joins(select: str, left: str, right: str, on: str) -> str:
    """``select`` over ``left a join right b`` (``b.near`` the bucket of ``a`` it may be
    near), once on the name key and once on the track id (two equi-joins: an OR would make
    DuckDB compare every pair of a listener's rows)."""
    return " union all ".join(
        f"select '{by}' as same_by, {select} from {left} a join {right} b "
        f"on a.user_id = b.user_id and a.{col} = b.{col} and a.bucket = b.near and {on}"
        for by, col in (("names", "name_key"), ("track id", "track_id"))
    )


def _duplicates(conn: Any, info: dict[Key, _Info]) -> list[tuple]:
    """Rule 1: (scrobble, kind, the scrobble kept of its play, same track by) of each repeat."""
    reach = f"{SLACK_S} + case when {{x}}.cut then {MINUTE_S} else 0 end"
    on = (
        "(a.t, a.source_file, a.record_index) < (b.t, b.source_file, b.record_index) "
        f"and b.t <= a.t + {reach.format(x='a')} and a.t <= b.t + {reach.format(x='b')}"
    )
    sql = f"""
        with s as (select *, floor(t / {_DUP_BUCKET_S})::bigint as bucket
                     from ({_SCROBBLE_COLUMNS})),
        b as (select *, unnest([bucket - 1, bucket, bucket + 1]) as near from s)
        {_same_track_joins("a.t, a.source_file, a.record_index, b.t, b.source_file, "
                           "b.record_index", "s", "b", on)}
    """  # fmt: skip
    earlier: dict[Key, set[Key]] = {}
    for _, at, af, ai, bt, bf, bi in conn.execute(sql).fetchall():
        earlier.setdefault((bt, bf, bi), set()).add((at, af, ai))
    groups: dict[Key, list[Key]] = {}  # a play's first scrobble -> its repeats
    repeat: set[Key] = set()
    for b in sorted(earlier):
        firsts = [a for a in earlier[b] if a not in repeat]
        if firsts:
            repeat.add(b)
            groups.setdefault(min(firsts), []).append(b)
    out = []
    for first, later in groups.items():
        members = [first, *later]
        kept = min(members, key=lambda k: _preference(k, info[k]))
        for k in members:
            if k != kept:
                by = "track id" if _same_id(info[k], info[kept]) else "names"
                out.append((k, "scrobble", (*kept, info[kept], None), by))
    return out


def _preference(key: Key, s: _Info) -> tuple:
    """Which scrobble of a play stays: a track id, seconds, a duration, then file order."""
    return (s.track_id is None, s.cut, not s.has_duration, key[1], key[2])


def _same_id(a: _Info, b: _Info) -> bool:
    return a.track_id is not None and a.track_id == b.track_id


def _spotify_matches(conn: Any, info: dict[Key, _Info]) -> list[tuple]:
    """Rule 2: (scrobble, kind, its Spotify play, same track by) of each kept scrobble that
    is a Spotify play."""
    cut = f"case when a.cut then {MINUTE_S} else 0 end"
    on = (
        f"a.t <= b.e + {SLACK_S} + case when b.source_format = 'account_data' "
        f"then {ACCOUNT_DATA_SLACK_S} else 0 end and a.t + {cut} >= b.start - {SLACK_S}"
    )
    select = (
        "a.t, a.source_file, a.record_index, b.start, b.source_file, b.record_index, "
        f"b.source_format, b.ts, abs(a.t + {cut} / 2 - b.start)"
    )
    lo, hi = MINUTE_S + SLACK_S, SLACK_S + ACCOUNT_DATA_SLACK_S + 1
    sql = f"""
        with s as (select *, floor(t / {_PLAY_BUCKET_S})::bigint as bucket
                     from ({_SCROBBLE_COLUMNS}) x
                    where not exists (select 1 from _scrobble_dups d
                                       where d.source_file = x.source_file
                                         and d.record_index = x.record_index)),
        p as (select st.user_id, st.source_format, st.source_file, st.record_index, st.ts,
                     st.track_id, k.name_key, epoch_ms(st.ts) / 1000.0 as e,
                     (epoch_ms(st.ts) - st.ms_played) / 1000.0 as start
                from core.streams st
                left join _name_keys k using (artist_name, track_name)
               where st.content_type = 'music' and st.source_format in {_SPOTIFY}
                 and st.user_id in (select distinct user_id from core.scrobbles)),
        b as (select *, unnest(range(floor((start - {lo}) / {_PLAY_BUCKET_S})::bigint,
                                     floor((e + {hi}) / {_PLAY_BUCKET_S})::bigint + 1)) as near
                from p)
        {_same_track_joins(select, "s", "b", on)}
    """
    pairs: dict[tuple[Key, tuple], tuple[str, float]] = {}
    for by, at, af, ai, start, bf, bi, fmt, ts, cost in conn.execute(sql).fetchall():
        pair = ((at, af, ai), (start, bf, bi, fmt, ts))
        if pair not in pairs or by == "track id":
            pairs[pair] = (by, cost)
    out = []
    for service in SCROBBLE_FORMATS:  # one to one for each service
        mine = [pair for pair in pairs if info[pair[0]].source_format == service]
        for component in _components(mine):
            for k, play in monotone_matching((k, p, pairs[(k, p)][1]) for k, p in component):
                out.append((k, "spotify", play, pairs[(k, play)][0]))
    return out


def _components(pairs: list[tuple[Key, tuple]]) -> list[list[tuple[Key, tuple]]]:
    """The candidate pairs split into groups that share no scrobble and no play."""
    parent: dict[Any, Any] = {}

    def find(x: Any) -> Any:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for k, p in pairs:
        parent[find(("s", k))] = find(("p", p))
    groups: dict[Any, list] = {}
    for k, p in pairs:
        groups.setdefault(find(("s", k)), []).append((k, p))
    return list(groups.values())


def _match_row(info: dict[Key, _Info], key: Key, kind: str, other: tuple, by: str) -> tuple:
    """A row of ``core.scrobble_matches``; ``other`` is (start or time, file, record,
    format or _Info, ts) of the row the scrobble was merged into."""
    s = info[key]
    start, file, index, fmt, ts = other
    if kind == "scrobble":
        fmt, ts = fmt.source_format, fmt.ts
    return (s.user_id, s.source_format, key[1], key[2], s.ts, kind, fmt, file, index, ts, by,
            round(key[0] - start, 3))  # fmt: skip


_MATCH_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("source_format", pa.string()),
        ("source_file", pa.string()),
        ("record_index", pa.int64()),
        ("scrobbled_at", pa.timestamp("us")),
        ("matched_to", pa.string()),
        ("match_source_format", pa.string()),
        ("match_source_file", pa.string()),
        ("match_record_index", pa.int64()),
        ("match_ts", pa.timestamp("us")),
        ("same_track_by", pa.string()),
        ("seconds_from_start", pa.float64()),
    ]
)


def _write_matches(conn: Any, rows: list[tuple]) -> None:
    rows = sorted(rows, key=lambda r: (r[0], r[4], r[2], r[3]))
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in _MATCH_SCHEMA]
    table = pa.Table.from_arrays(
        [pa.array(c, f.type) for c, f in zip(columns, _MATCH_SCHEMA, strict=True)],
        schema=_MATCH_SCHEMA,
    )
    conn.register("_scrobble_matches", table)
    conn.execute(f"create or replace table {MATCHES_TABLE} as select * from _scrobble_matches")
    conn.unregister("_scrobble_matches")


def _keys_table(keys: list[Key]) -> pa.Table:
    return pa.table(
        {
            "source_file": pa.array([k[1] for k in keys], pa.string()),
            "record_index": pa.array([k[2] for k in keys], pa.int64()),
        }
    )


def _add_the_rest(conn: Any) -> int:
    """Rule 3: every scrobble not in ``core.scrobble_matches`` into ``core.streams``, its
    ``ms_played`` the track's duration and its ``ts`` the end."""
    (has_tracks,) = conn.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'core' and table_name = 'tracks'"
    ).fetchall()[0]
    catalog = (
        "(select track_id, max(duration_ms) as duration_ms from core.tracks group by 1)"
        if has_tracks
        else "(select null::varchar as track_id, null::bigint as duration_ms)"
    )
    ms = f"coalesce(nullif(s.ms_played, 0), c.duration_ms, {DEFAULT_DURATION_MS})"
    (added,) = conn.execute(
        f"""
        insert into core.streams by name
        select s.* replace ({ms} as ms_played, s.ts + to_milliseconds({ms}) as ts)
          from core.scrobbles s
          left join {catalog} c on c.track_id = s.track_id
         where not exists (select 1 from {MATCHES_TABLE} m
                            where m.source_file = s.source_file
                              and m.record_index = s.record_index)
        """
    ).fetchall()[0]
    return int(added)
