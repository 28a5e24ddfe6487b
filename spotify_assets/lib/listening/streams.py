"""``core.streams`` and friends, built by DuckDB over the processed Parquet files
(Dagster-free).

Each landed export file becomes one Parquet file of normalized plays (see
``spotify_assets.lib.listening.export_files``). ``core.streams`` is their union with duplicates
removed: the same play (user, ``ts``, content id, ``ms_played``) in overlapping export files is
one play (docs/USER_GUIDE.md, "KPI definitions"); for account-data rows, which have no URI, the item
is its names (see :func:`play_key_sql`). Of duplicates, the row of the first file (by file key, then
record index) is kept.

The build is incremental when files were only added: their rows are inserted unless the same
play is already there (an anti-join restricted to the users of the new files), which costs a
small fraction of a rebuild. When a file changed or went away, the table is rebuilt whole,
because a removed file may have been the one whose copy of a duplicated play was kept.
``core.stream_sources`` records which file version each build took in.

Scrobbles (Last.fm, ListenBrainz) are built the same way into ``core.scrobbles`` (with
``core.scrobble_sources``), and enter ``core.streams`` only through
``spotify_assets.lib.listening.scrobbles``, which merges them with the Spotify plays again at
every build: a scrobble of a play Spotify's history holds is not added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spotify_assets.lib.landing import ProcessedFile
from spotify_assets.lib.listening.sources import NAME_KEYED_FORMATS, SCROBBLE_FORMATS, sql_list

#: The rows of other services (scrobbles) go to ``core.scrobbles`` first, and into
#: ``core.streams`` only as ``spotify_assets.lib.listening.scrobbles`` merges them.
_SCROBBLE_ROWS = f"source_format in {sql_list(SCROBBLE_FORMATS)}"
_STREAM_ROWS = f"source_format not in {sql_list(SCROBBLE_FORMATS)}"


@dataclass(frozen=True)
class BuildStats:
    mode: str  # "full", "incremental" or "unchanged"
    files: int
    files_added: int
    rows_read: int
    rows_inserted: int
    duplicates: int
    total_rows: int


def play_key_sql(alias: str = "") -> list[str]:
    """The play key as SQL expressions over ``alias`` (docs/USER_GUIDE.md, "KPI definitions"):
    user, format, ``ts``, ``ms_played`` and the item. The item of an extended-format row is
    its Spotify id (track, episode, chapter or audiobook), or its names when it has none; an
    account-data row or a scrobble (no URIs in the file, or not always) is always keyed by its
    names, so resolving its track id later by name (:func:`resolve_account_data_tracks`) never
    changes its key."""
    a = f"{alias}." if alias else ""
    item = (
        f"CASE WHEN {a}source_format IN {sql_list(NAME_KEYED_FORMATS)} THEN NULL ELSE "
        f"coalesce({a}track_id, {a}episode_id, {a}audiobook_chapter_id, {a}audiobook_id) END"
    )
    return [
        f"{a}user_id",
        f"{a}source_format",
        f"{a}ts",
        f"{a}ms_played",
        item,
        f"CASE WHEN {item} IS NULL THEN coalesce({a}track_name, {a}episode_name, "
        f"{a}audiobook_chapter_title) END",
        f"CASE WHEN {item} IS NULL THEN coalesce({a}artist_name, {a}show_name, "
        f"{a}audiobook_title) END",
    ]


def resolve_account_data_tracks(conn: Any) -> int:
    """Give account-data rows of ``core.streams`` and the scrobbles of ``core.scrobbles``
    (names, no URI) the track id of the catalog track with the same name and primary artist
    (case-insensitive), where exactly one matches; such rows of the old mixed files become
    ``music``. Uses ``core.tracks`` and ``core.artists`` as they are; without them nothing is
    resolved. Then the pairs the catalog lookups searched and matched
    (``core.track_name_matches``). Returns the rows resolved."""
    tables = {
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'core'"
        ).fetchall()
    }
    if not {"tracks", "artists", "streams"} <= tables:
        return 0
    resolved = _resolve_by_name(conn, "core.streams", "source_format = 'account_data'", tables)
    if "scrobbles" in tables:
        rows = f"source_format in {sql_list(SCROBBLE_FORMATS)}"
        resolved += _resolve_by_name(conn, "core.scrobbles", rows, tables)
    return resolved


def _resolve_by_name(conn: Any, table: str, rows: str, tables: set[str]) -> int:
    count = f"select count(*) from {table} where {rows} and track_id is not null"
    before = conn.execute(count).fetchall()[0][0]
    conn.execute(
        f"""
        update {table} s
        set track_id = m.track_id,
            content_type = case when s.content_type = 'unknown' then 'music' else s.content_type end
        from (
            select lower(t.track_name) as tn, lower(a.artist_name) as an,
                   min(t.track_id) as track_id
            from core.tracks t join core.artists a on a.artist_id = t.primary_artist_id
            group by all
            having count(distinct t.track_id) = 1
        ) m
        where s.{rows} and s.track_id is null
          and s.content_type in ('music', 'unknown')
          and lower(s.track_name) = m.tn and lower(s.artist_name) = m.an
        """
    )
    if "track_name_matches" in tables:
        # The catalog lookups' search cache: pairs the catalog alone could not resolve,
        # searched once and accepted by the rule in lib/catalog/lookups.accept_match
        # (ambiguous and not-found pairs stay null; the table says why).
        conn.execute(
            f"""
            update {table} s
            set track_id = m.track_id,
                content_type = case when s.content_type = 'unknown' then 'music'
                                    else s.content_type end
            from core.track_name_matches m
            where s.{rows} and s.track_id is null
              and s.content_type in ('music', 'unknown') and m.status = 'matched'
              and s.artist_name = m.artist_name and s.track_name = m.track_name
            """
        )
    return int(conn.execute(count).fetchall()[0][0] - before)


def streams_dedup_sql(source: str) -> str:
    """A DuckDB ``SELECT`` that keeps one row per play from ``source`` (a table name or a
    ``read_parquet(...)`` call over the processed Parquet files).

    Duplicates (docs/USER_GUIDE.md, "KPI definitions") are the same user, ``ts``, item and
    ``ms_played`` from overlapping export files; the item is its Spotify id (track, episode,
    chapter or audiobook) or, when a row has none (every account-data row), its names
    (track/episode/chapter name and artist/show/audiobook title). The two formats never merge
    (account-data times are cut to the minute). The row from the first file by
    ``source_file``, then ``record_index``, wins, so the result does not depend on load order.

    Why not one window over everything: on 10 million plays that sorts every column and took
    5.5 GB. Here a 64-bit hash of the key finds the few candidate duplicates in a narrow hash
    aggregate, and only those rows go through the exact window (a hash collision costs time,
    never a play); about 1 GB, as fast as copying the rows.
    """
    key = ", ".join(play_key_sql())
    return (
        f"WITH _dup_keys AS (SELECT hash({key}) AS _h FROM {source} GROUP BY _h "
        f"HAVING count(*) > 1) "
        f"SELECT * FROM {source} WHERE hash({key}) NOT IN (SELECT _h FROM _dup_keys) "
        f"UNION ALL "
        f"SELECT * FROM (SELECT * FROM {source} WHERE hash({key}) IN "
        f"(SELECT _h FROM _dup_keys) QUALIFY row_number() OVER (PARTITION BY {key} "
        f"ORDER BY source_file, record_index) = 1)"
    )


def streams_append_sql(target: str, source: str) -> str:
    """A DuckDB ``INSERT`` that adds the plays of ``source`` (new files) to the deduplicated
    ``target`` table and skips plays already there: the incremental form of
    :func:`streams_dedup_sql`, for a new file (here the play already loaded wins)."""
    match = " AND ".join(
        f"{t} = {n}" if i < 4 else f"{t} IS NOT DISTINCT FROM {n}"  # the first four: not null
        for i, (t, n) in enumerate(zip(play_key_sql("t"), play_key_sql("n"), strict=True))
    )
    return (
        f"INSERT INTO {target} SELECT n.* FROM ({streams_dedup_sql(source)}) AS n "
        f"ANTI JOIN (SELECT * FROM {target} WHERE user_id IN "
        f"(SELECT DISTINCT user_id FROM {source})) AS t ON {match}"
    )


def _sql_list(paths: Sequence[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _read(paths: Sequence[str]) -> str:
    # Timestamps become TIMESTAMP in UTC: a TIMESTAMPTZ would make every date_trunc follow
    # the session's time zone, so a UTC day would depend on the machine running the query.
    return (
        "(select * replace (timezone('UTC', ts) as ts, "
        "timezone('UTC', offline_timestamp) as offline_timestamp) "
        f"from read_parquet({_sql_list(paths)}, union_by_name = true))"
    )


def current_sources(conn: Any, sources: str = "core.stream_sources") -> dict[str, str]:
    try:
        return dict(conn.execute(f"select source_file, version from {sources}").fetchall())
    except Exception:  # noqa: BLE001 - first build: no table yet
        return {}


@dataclass(frozen=True)
class _Target:
    """A table of plays built from the processed files: ``core.streams`` takes Spotify's
    rows, ``core.scrobbles`` the other services' (merged into ``core.streams`` afterwards);
    ``sources`` records which file versions it holds."""

    table: str
    sources: str
    rows: str  # SQL: the files' rows it takes


STREAMS = _Target("core.streams", "core.stream_sources", _STREAM_ROWS)
SCROBBLES = _Target("core.scrobbles", "core.scrobble_sources", _SCROBBLE_ROWS)


def create_empty_streams(conn: Any, target: _Target = STREAMS) -> None:
    """``core.streams`` (and ``core.stream_sources``) with their schema and no rows."""
    from spotify_assets.lib.listening.export_files import STREAMS_SCHEMA

    conn.execute("create schema if not exists core")
    conn.register("_no_streams", STREAMS_SCHEMA.empty_table())
    conn.execute(
        f"create or replace table {target.table} as select * replace "
        "(timezone('UTC', ts) as ts, timezone('UTC', offline_timestamp) as offline_timestamp) "
        "from _no_streams"
    )
    conn.unregister("_no_streams")
    _write_sources(conn, [], target)


def ensure_streams(conn: Any) -> bool:
    """Create an empty ``core.streams`` when none exists yet (no export has landed, e.g. a
    live deployment that only snapshots playlists), so what reads it sees "no plays" instead
    of failing. Returns whether it had to."""
    if _exists(conn, STREAMS.table):
        return False
    create_empty_streams(conn)
    return True


def _exists(conn: Any, table: str) -> bool:
    schema, name = table.split(".")
    (n,) = conn.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()[0]
    return bool(n)


def build_streams(conn: Any, files: Sequence[ProcessedFile]) -> BuildStats:
    """Bring ``core.streams`` and ``core.stream_sources`` in line with ``files`` (Spotify's
    rows; a scrobble merged earlier stays until ``merge_scrobbles`` runs again)."""
    return _build(conn, files, STREAMS)


def build_scrobbles(conn: Any, files: Sequence[ProcessedFile]) -> BuildStats:
    """Bring ``core.scrobbles`` (every scrobble of the files, exact duplicates removed as in
    ``core.streams``, ``ts`` the scrobble's time) and ``core.scrobble_sources`` in line with
    ``files``."""
    return _build(conn, files, SCROBBLES)


def _build(conn: Any, files: Sequence[ProcessedFile], target: _Target) -> BuildStats:
    conn.execute("create schema if not exists core")
    wanted = {f.source_file: f for f in files}
    have = current_sources(conn, target.sources)
    changed = [k for k, v in have.items() if k not in wanted or wanted[k].version != v]
    added = [f for k, f in wanted.items() if k not in have]
    exists = _exists(conn, target.table)
    if not files:
        # An empty landing zone is valid: an empty table with the schema, for queries.
        create_empty_streams(conn, target)
        return BuildStats("full", 0, 0, 0, 0, 0, 0)
    if exists and not changed and not added:
        total = conn.execute(f"select count(*) from {target.table}").fetchall()[0][0]
        return BuildStats("unchanged", len(files), 0, 0, 0, 0, total)

    if exists and not changed and have and _columns(conn, target) != _file_columns(conn, added):
        changed = ["(the table's columns differ from the files': rebuilt)"]
    if exists and not changed and have:
        paths = [f.path for f in added]
        conn.execute(f"create or replace temp view _stream_files as {_rows(paths, target)}")
        rows_read = conn.execute("select count(*) from _stream_files").fetchall()[0][0]
        before = conn.execute(f"select count(*) from {target.table}").fetchall()[0][0]
        conn.execute(streams_append_sql(target.table, "_stream_files"))
        total = conn.execute(f"select count(*) from {target.table}").fetchall()[0][0]
        _write_sources(conn, files, target)
        inserted = total - before
        return BuildStats(
            "incremental", len(files), len(added), rows_read, inserted, rows_read - inserted, total
        )

    paths = [f.path for f in files]
    conn.execute(f"create or replace temp view _stream_files as {_rows(paths, target)}")
    rows_read = conn.execute("select count(*) from _stream_files").fetchall()[0][0]
    conn.execute(
        f"create or replace table {target.table} as "
        f"select * from ({streams_dedup_sql('_stream_files')})"
    )
    total = conn.execute(f"select count(*) from {target.table}").fetchall()[0][0]
    _write_sources(conn, files, target)
    return BuildStats("full", len(files), len(added), rows_read, total, rows_read - total, total)


def _rows(paths: Sequence[str], target: _Target) -> str:
    return f"(select * from {_read(paths)} where {target.rows})"


def _columns(conn: Any, target: _Target = STREAMS) -> list[str]:
    return [r[0] for r in conn.execute(f"describe {target.table}").fetchall()]


def _file_columns(conn: Any, files: Sequence[ProcessedFile]) -> list[str]:
    """The columns the new files read as (a warehouse built before a column was added to
    the schema is rebuilt whole rather than appended to by position)."""
    return [r[0] for r in conn.execute(f"describe {_read([f.path for f in files])}").fetchall()]


def _write_sources(conn: Any, files: Sequence[ProcessedFile], target: _Target = STREAMS) -> None:
    conn.execute(
        f"create or replace table {target.sources} "
        "(source_file varchar, version varchar, built_at timestamp)"
    )
    if files:
        now = datetime.now(UTC).replace(tzinfo=None)
        conn.executemany(
            f"insert into {target.sources} values (?, ?, ?)",
            [(f.source_file, f.version, now) for f in files],
        )


LISTENERS_SQL = """
create or replace table core.listeners as
select
    user_id,
    min(ts) as first_play,
    max(ts) as last_play,
    count(*) filter (where content_type = 'music') as plays,
    count(*) filter (where content_type = 'music' and ms_played >= 30000) as streams,
    round(sum(ms_played) filter (where content_type = 'music') / 3600000.0, 3) as listening_hours,
    count(*) filter (where content_type = 'podcast') as podcast_plays,
    count(distinct cast(ts as date)) as active_days,
    mode(conn_country) as main_country,
    mode(platform) as main_platform,
    count(distinct source_file) as source_files,
    -- The landing folder's name as people wrote it (user_id is its safe form).
    min(split_part(source_file, '/', 1))
        filter (where source_format <> 'recently_played') as display_name
from core.streams
group by user_id
order by user_id
"""


def classify_mixed_history(conn: Any) -> int:
    """Rows of the old mixed account-data files (``StreamingHistory<N>.json``, before music
    and podcasts were split) are music unless the same user's files know their artist name
    as a podcast show (a show of their podcast files, or an ``episode_show_name`` of their
    extended history): those become ``podcast``, with the name moved to ``show_name``.
    Returns the rows turned into podcasts."""
    columns = {r[0] for r in conn.execute("describe core.streams").fetchall()}
    if "mixed_history" not in columns:
        return 0
    (n,) = conn.execute(
        """
        update core.streams s
        set content_type = 'podcast', show_name = s.artist_name, episode_name = s.track_name,
            artist_name = null, track_name = null, track_id = null
        from (
            select distinct user_id, lower(show_name) as show from core.streams
            where show_name is not null and content_type = 'podcast'
        ) shows
        where s.mixed_history and s.content_type = 'music'
          and shows.user_id = s.user_id and shows.show = lower(s.artist_name)
        """
    ).fetchone()
    return int(n)


def build_listeners(conn: Any) -> None:
    """``core.listeners`` from ``core.streams``: one row per user."""
    conn.execute(LISTENERS_SQL)


def build_rejected_records(conn: Any, files: Sequence[ProcessedFile]) -> None:
    """``core.rejected_stream_records`` from the files' rejected-records Parquet."""
    from spotify_assets.lib.landing import build_rejected_records as build_rejected_table

    build_rejected_table(conn, "core.rejected_stream_records", files)
