"""Hand-written warehouse rows for tests: the core tables with their real column types, filled
from short lists of dicts (missing columns are null), so a test states only what it is about.

The schemas are those the catalog and listening assets write (checked against a real
materialization in ``spotify_assets_tests/defs``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

CORE_SCHEMAS: dict[str, tuple[tuple[str, str], ...]] = {
    "core.albums": (
        ("album_id", "VARCHAR"),
        ("album_name", "VARCHAR"),
        ("album_type", "VARCHAR"),
        ("release_date", "VARCHAR"),
        ("release_date_precision", "VARCHAR"),
        ("release_year", "BIGINT"),
        ("total_tracks", "BIGINT"),
        ("primary_artist_id", "VARCHAR"),
        ("last_seen", "TIMESTAMP"),
        ("source", "VARCHAR"),
    ),
    "core.artist_genres": (
        ("artist_id", "VARCHAR"),
        ("genre", "VARCHAR"),
        ("genre_family", "VARCHAR"),
    ),
    "core.artists": (
        ("artist_id", "VARCHAR"),
        ("artist_name", "VARCHAR"),
        ("followers", "BIGINT"),
        ("followers_source", "VARCHAR"),
        ("popularity", "BIGINT"),
        ("popularity_source", "VARCHAR"),
        ("fetched_at", "TIMESTAMP"),
        ("source", "VARCHAR"),
        ("field_sources", "VARCHAR"),
    ),
    "core.listeners": (
        ("user_id", "VARCHAR"),
        ("first_play", "TIMESTAMP"),
        ("last_play", "TIMESTAMP"),
        ("plays", "BIGINT"),
        ("streams", "BIGINT"),
        ("listening_hours", "DOUBLE"),
        ("podcast_plays", "BIGINT"),
        ("active_days", "BIGINT"),
        ("main_country", "VARCHAR"),
        ("main_platform", "VARCHAR"),
        ("source_files", "BIGINT"),
    ),
    "core.playlist_tracks": (
        ("snapshot_time", "TIMESTAMP"),
        ("playlist_id", "VARCHAR"),
        ("position", "BIGINT"),
        ("track_id", "VARCHAR"),
        ("added_at", "TIMESTAMP"),
        ("added_by", "VARCHAR"),
    ),
    "core.playlists": (
        ("playlist_id", "VARCHAR"),
        ("playlist_name", "VARCHAR"),
        ("description", "VARCHAR"),
        ("owner_id", "VARCHAR"),
        ("owner_display_name", "VARCHAR"),
        ("public", "BOOLEAN"),
        ("collaborative", "BOOLEAN"),
        ("followers", "BIGINT"),
        ("spotify_snapshot_id", "VARCHAR"),
        ("total_items", "BIGINT"),
        ("last_seen", "TIMESTAMP"),
    ),
    "core.rejected_stream_records": (
        ("source_file", "VARCHAR"),
        ("record_index", "BIGINT"),
        ("reason", "VARCHAR"),
        ("raw_excerpt", "VARCHAR"),
    ),
    "core.stream_sources": (
        ("source_file", "VARCHAR"),
        ("version", "VARCHAR"),
        ("built_at", "TIMESTAMP"),
    ),
    "core.streams": (
        ("user_id", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        ("content_type", "VARCHAR"),
        ("track_id", "VARCHAR"),
        ("episode_id", "VARCHAR"),
        ("audiobook_id", "VARCHAR"),
        ("audiobook_chapter_id", "VARCHAR"),
        ("track_name", "VARCHAR"),
        ("artist_name", "VARCHAR"),
        ("album_name", "VARCHAR"),
        ("episode_name", "VARCHAR"),
        ("show_name", "VARCHAR"),
        ("audiobook_title", "VARCHAR"),
        ("audiobook_chapter_title", "VARCHAR"),
        ("ms_played", "BIGINT"),
        ("conn_country", "VARCHAR"),
        ("platform", "VARCHAR"),
        ("reason_start", "VARCHAR"),
        ("reason_end", "VARCHAR"),
        ("shuffle", "BOOLEAN"),
        ("skipped", "BOOLEAN"),
        ("offline", "BOOLEAN"),
        ("offline_timestamp", "TIMESTAMP"),
        ("incognito_mode", "BOOLEAN"),
        ("source_format", "VARCHAR"),
        ("source_file", "VARCHAR"),
        ("record_index", "BIGINT"),
    ),
    "core.track_artists": (
        ("track_id", "VARCHAR"),
        ("artist_id", "VARCHAR"),
        ("artist_position", "BIGINT"),
    ),
    "core.track_audio_features": (
        ("track_id", "VARCHAR"),
        *(
            (name, "DOUBLE")
            for name in (
                "danceability",
                "energy",
                "key",
                "loudness",
                "mode",
                "speechiness",
                "acousticness",
                "instrumentalness",
                "liveness",
                "valence",
                "tempo",
                "time_signature",
            )
        ),
        ("observed_at", "TIMESTAMP"),
        ("source_file", "VARCHAR"),
    ),  # fmt: skip
    "core.tracks": (
        ("track_id", "VARCHAR"),
        ("track_name", "VARCHAR"),
        ("album_id", "VARCHAR"),
        ("primary_artist_id", "VARCHAR"),
        ("duration_ms", "BIGINT"),
        ("explicit", "BOOLEAN"),
        ("popularity", "BIGINT"),
        ("popularity_source", "VARCHAR"),
        ("track_number", "BIGINT"),
        ("disc_number", "BIGINT"),
        ("isrc", "VARCHAR"),
        ("first_seen", "TIMESTAMP"),
        ("last_seen", "TIMESTAMP"),
        ("source", "VARCHAR"),
        ("field_sources", "VARCHAR"),
    ),
}


def create_core_tables(conn: Any, tables: Iterable[str] | None = None) -> None:
    """Create the (empty) core tables on a DuckDB connection."""
    conn.execute("create schema if not exists core")
    for table in tables or CORE_SCHEMAS:
        cols = ", ".join(f'"{name}" {kind}' for name, kind in CORE_SCHEMAS[table])
        conn.execute(f"create or replace table {table} ({cols})")


def insert(conn: Any, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert rows (dicts) into a core table; columns a row leaves out are null. Unknown
    columns raise, so a typo in a test does not silently become a null."""
    schema = CORE_SCHEMAS[table]
    names = [name for name, _ in schema]
    count = 0
    for row in rows:
        unknown = set(row) - set(names)
        if unknown:
            raise KeyError(f"{table} has no column(s) {sorted(unknown)}")
        placeholders = ", ".join(f"cast(? as {kind})" for _, kind in schema)
        conn.execute(f"insert into {table} values ({placeholders})", [row.get(n) for n in names])
        count += 1
    return count


#: The snapshot windows of :func:`tiny_core_tables`.
TINY_WINDOWS = [datetime(2026, 6, 1, h, tzinfo=UTC) for h in (0, 8, 16)]


def tiny_core_tables(conn: Any, world: Any, tmp_path: Any) -> None:
    """The tiny world's core tables, made by the pipeline's own code without HTTP: the fake
    API's bodies for every playlist at three 8-hour windows, parsed and combined as the
    catalog assets do; its listening history exported, parsed and deduplicated as the
    listening assets do."""
    import pandas as pd

    from spotify_assets.lib.catalog.parse import (
        CatalogAccumulator,
        SnapshotDocument,
        combine_windows,
        parse_artist_bodies,
        parse_snapshot,
    )
    from spotify_assets.lib.sample.fake_api.bodies import SpotifyBodies

    bodies = SpotifyBodies(world, "http://fake.test/v1")
    windows, entries, artist_ids = [], [], set()
    for at in TINY_WINDOWS:
        acc = CatalogAccumulator()
        for playlist_id in world.playlists["playlist_id"]:
            kw = {"at": at, "mode": "extended", "market": "US"}
            body = bodies.playlist(playlist_id, with_items=True, **kw)
            pages, page = [], body["items"]
            while page["next"]:
                offset = page["offset"] + page["limit"]
                page = bodies.playlist_items_page(
                    playlist_id, limit=page["limit"], offset=offset, **kw
                )
                pages.append(page)
            acc.add(parse_snapshot(SnapshotDocument(playlist_id, at, at, body, pages)))
        frames = acc.frames()
        windows.append(frames)
        entries.append(frames["playlist_tracks"])
        artist_ids |= acc.artist_ids()
    tables = combine_windows(windows)
    fetched = TINY_WINDOWS[-1].replace(tzinfo=None)
    artist_bodies = bodies.artists(sorted(artist_ids), at=TINY_WINDOWS[-1], mode="extended")
    tables["artists"], tables["artist_genres"] = parse_artist_bodies(
        (b, fetched) for b in artist_bodies
    )
    tables["playlist_tracks"] = pd.concat(entries, ignore_index=True)
    create_core_tables(conn)
    for name, frame in tables.items():
        conn.register("_frame", frame)
        conn.execute(f"insert into core.{name} by name select * from _frame")
        conn.unregister("_frame")

    world_streams(conn, world, tmp_path)


def world_streams(conn: Any, world: Any, tmp_path: Any) -> None:
    """``core.streams`` (and what the streams step writes beside it) from a world's listening
    history, exported, parsed and deduplicated by the pipeline's own code; the core tables
    must exist."""
    from spotify_assets.lib.listening.export_files import process_file, write_parquet
    from spotify_assets.lib.listening.streams import ProcessedFile, build_streams
    from spotify_assets.lib.sample.world.history import write_streaming_history

    files = []
    for i, path in enumerate(write_streaming_history(world, tmp_path / "landing")):
        source = f"{path.parent.name}/{path.name}"
        parsed = process_file(path.read_bytes(), source_file=source, user_id=path.parent.name)
        out = tmp_path / f"{i}.parquet"
        write_parquet(parsed.table, out)
        files.append(ProcessedFile(source_file=source, path=str(out), version="v1"))
    build_streams(conn, files)
