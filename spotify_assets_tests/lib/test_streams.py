"""core.streams built by DuckDB over Parquet: deduplication across overlapping files,
incremental additions, rebuilds on change or removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spotify_assets.lib.listening.streams import ProcessedFile, build_streams

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def plays(source: str, user: str, rows: list[tuple[int, str | None, int]], **extra) -> pa.Table:
    """rows: (minutes after T0, track id or None, ms_played)."""
    n = len(rows)
    return pa.table(
        {
            "user_id": [user] * n,
            "ts": pa.array(
                [T0 + timedelta(minutes=m) for m, _, _ in rows], pa.timestamp("us", "UTC")
            ),
            "content_type": ["music"] * n,
            "track_id": pa.array([t for _, t, _ in rows], pa.string()),
            "episode_id": pa.nulls(n, pa.string()),
            "audiobook_chapter_id": pa.nulls(n, pa.string()),
            "audiobook_id": pa.nulls(n, pa.string()),
            "episode_name": pa.nulls(n, pa.string()),
            "show_name": pa.nulls(n, pa.string()),
            "audiobook_chapter_title": pa.nulls(n, pa.string()),
            "audiobook_title": pa.nulls(n, pa.string()),
            "source_format": [extra.get("source_format", "extended")] * n,
            "offline_timestamp": pa.nulls(n, pa.timestamp("us", "UTC")),
            "track_name": extra.get("names", [f"song {t}" for _, t, _ in rows]),
            "artist_name": extra.get("artists", ["someone"] * n),
            "ms_played": pa.array([ms for _, _, ms in rows], pa.int64()),
            "source_file": [source] * n,
            "record_index": pa.array(range(n), pa.int64()),
        }
    )


@pytest.fixture
def conn(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as c:
        yield c


def write(tmp_path, name: str, table: pa.Table, version: str = "v1") -> ProcessedFile:
    path = tmp_path / f"{name.replace('/', '_')}.parquet"
    pq.write_table(table, path)
    return ProcessedFile(source_file=name, path=str(path), version=version)


def count(conn, sql="select count(*) from core.streams"):
    return conn.execute(sql).fetchone()[0]


def test_overlapping_exports_are_one_play_each(tmp_path, conn):
    a = write(
        tmp_path,
        "u1/a.json",
        plays("u1/a.json", "u1", [(0, "t1", 1000), (5, "t2", 40000), (9, "t3", 5)]),
    )
    # b repeats two of a's plays, and has one play that differs only in ms_played.
    b = write(
        tmp_path,
        "u1/b.json",
        plays("u1/b.json", "u1", [(5, "t2", 40000), (9, "t3", 5), (0, "t1", 999)]),
    )
    stats = build_streams(conn, [a, b])
    assert stats.mode == "full" and stats.rows_read == 6 and stats.duplicates == 2
    assert count(conn) == 4
    # The first file's copy is kept.
    assert count(conn, "select count(*) from core.streams where source_file = 'u1/a.json'") == 3


def test_same_play_for_two_users_is_two_plays(tmp_path, conn):
    a = write(tmp_path, "u1/a.json", plays("u1/a.json", "u1", [(0, "t1", 1000)]))
    b = write(tmp_path, "u2/a.json", plays("u2/a.json", "u2", [(0, "t1", 1000)]))
    build_streams(conn, [a, b])
    assert count(conn) == 2


def test_account_data_rows_dedupe_by_names(tmp_path, conn):
    t = plays(
        "u1/s.json",
        "u1",
        [(0, None, 1000), (0, None, 1000), (0, None, 1000)],
        names=["x", "x", "y"],
        artists=["a", "a", "a"],
        source_format="account_data",
    )
    build_streams(conn, [write(tmp_path, "u1/s.json", t)])
    assert count(conn) == 2


def test_adding_a_file_is_incremental_and_equals_a_rebuild(tmp_path, conn):
    a = write(tmp_path, "u1/a.json", plays("u1/a.json", "u1", [(0, "t1", 1000), (5, "t2", 40000)]))
    b = write(tmp_path, "u2/b.json", plays("u2/b.json", "u2", [(1, "t9", 3000)]))
    assert build_streams(conn, [a, b]).mode == "full"
    c = write(tmp_path, "u1/c.json", plays("u1/c.json", "u1", [(5, "t2", 40000), (7, "t4", 100)]))
    stats = build_streams(conn, [a, b, c])
    assert (
        stats.mode,
        stats.files_added,
        stats.rows_read,
        stats.rows_inserted,
        stats.duplicates,
    ) == ("incremental", 1, 2, 1, 1)
    incremental = conn.execute(
        "select * exclude (source_file) from core.streams order by all"
    ).fetchall()
    with duckdb.connect(str(tmp_path / "fresh.duckdb")) as fresh:
        build_streams(fresh, [a, b, c])
        rebuilt = fresh.execute(
            "select * exclude (source_file) from core.streams order by all"
        ).fetchall()
    assert incremental == rebuilt
    assert build_streams(conn, [a, b, c]).mode == "unchanged"


def test_changed_or_removed_file_rebuilds(tmp_path, conn):
    a = write(tmp_path, "u1/a.json", plays("u1/a.json", "u1", [(0, "t1", 1000)]))
    b = write(tmp_path, "u1/b.json", plays("u1/b.json", "u1", [(0, "t1", 1000), (3, "t5", 10)]))
    build_streams(conn, [a, b])
    assert count(conn) == 2
    # a goes away: its play must survive through b's copy.
    stats = build_streams(conn, [b])
    assert stats.mode == "full" and count(conn) == 2
    assert count(conn, "select count(*) from core.streams where source_file = 'u1/a.json'") == 0
    b2 = write(tmp_path, "u1/b.json", plays("u1/b.json", "u1", [(3, "t5", 10)]), version="v2")
    assert build_streams(conn, [b2]).mode == "full" and count(conn) == 1
    assert conn.execute("select source_file, version from core.stream_sources").fetchall() == [
        ("u1/b.json", "v2")
    ]


def test_no_files_gives_an_empty_streams_table(tmp_path, conn):
    a = write(tmp_path, "u1/a.json", plays("u1/a.json", "u1", [(0, "t1", 1000)]))
    build_streams(conn, [a])
    assert build_streams(conn, []).total_rows == 0
    assert count(conn) == 0
    columns = {r[0] for r in conn.execute("describe core.streams").fetchall()}
    assert {"user_id", "ts", "track_id", "ms_played", "source_file"} <= columns


def test_account_data_rows_are_resolved_by_name_without_changing_their_key(tmp_path, conn):
    t = plays(
        "u1/s.json",
        "u1",
        [(0, None, 1000), (3, None, 2000), (5, None, 3000)],
        names=["Song A", "song a", "Nowhere"],
        artists=["Artist", "ARTIST", "Artist"],
        source_format="account_data",
    )
    f = write(tmp_path, "u1/s.json", t)
    build_streams(conn, [f])
    conn.execute(
        "create table core.tracks as select 'T1' as track_id, 'Song A' as track_name, "
        "'A1' as primary_artist_id"
    )
    conn.execute("create table core.artists as select 'A1' as artist_id, 'Artist' as artist_name")
    from spotify_assets.lib.listening.streams import resolve_account_data_tracks

    assert resolve_account_data_tracks(conn) == 2
    got = conn.execute("select track_name, track_id from core.streams order by ts").fetchall()
    assert got == [("Song A", "T1"), ("song a", "T1"), ("Nowhere", None)]
    # The same file landing again under another name adds nothing: the key is unchanged.
    again = write(
        tmp_path,
        "u1/t.json",
        t.set_column(
            t.schema.get_field_index("source_file"), "source_file", pa.array(["u1/t.json"] * 3)
        ),
    )
    assert build_streams(conn, [f, again]).rows_inserted == 0
