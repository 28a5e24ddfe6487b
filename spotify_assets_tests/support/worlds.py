"""A sample world written as core tables, now and at an earlier time (the model's tests and
``bench/bench_model.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from spotify_assets.lib.catalog.genres import genre_families
from spotify_assets.lib.ml import ModelParams
from spotify_assets.lib.sample.world.plays import CONTENT_TYPES
from spotify_assets_tests.support.warehouse import create_core_tables

#: A small, fast forest for tests.
FAST = ModelParams(n_estimators=10, n_folds=5, importance_rows=500, importance_repeats=1, n_jobs=1)


def insert_frame(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    conn.register("_frame", frame)
    conn.execute(f"insert into {table} by name select * from _frame")
    conn.unregister("_frame")


def write_world(conn: duckdb.DuckDBPyConnection, world, *, popularity: bool = True) -> datetime:
    """The world's catalog, three 8-hourly playlist snapshots and every play as core tables
    (exact schemas), as of the end of its listening history. Returns the latest snapshot."""
    create_core_tables(conn)
    at = world.history_end
    at_naive = at.tz_convert(None).to_pydatetime()
    tracks, albums, artists = world.tracks, world.albums, world.artists
    insert_frame(
        conn,
        "core.tracks",
        pd.DataFrame(
            {
                "track_id": tracks["track_id"],
                "track_name": tracks["track_name"],
                "album_id": tracks["album_id"],
                "primary_artist_id": tracks["primary_artist_id"],
                "duration_ms": tracks["duration_ms"],
                "explicit": tracks["explicit"],
                "popularity": world.track_popularity_at(tracks["track_id"], at)
                if popularity
                else None,
                "track_number": tracks["track_number"],
                "disc_number": tracks["disc_number"],
                "isrc": tracks["isrc"],
                "first_seen": at_naive,
                "last_seen": at_naive,
            }
        ),
    )
    insert_frame(
        conn,
        "core.albums",
        pd.DataFrame(
            {
                "album_id": albums["album_id"],
                "album_name": albums["album_name"],
                "album_type": albums["album_type"],
                "release_date": albums["release_date"],
                "release_date_precision": albums["release_date_precision"],
                "release_year": albums["release_date"].str[:4].astype(int),
                "total_tracks": albums["total_tracks"],
                "primary_artist_id": albums["artist_ids"].str[0],
                "last_seen": at_naive,
            }
        ),
    )
    insert_frame(
        conn,
        "core.artists",
        pd.DataFrame(
            {
                "artist_id": artists["artist_id"],
                "artist_name": artists["artist_name"],
                "followers": world.artist_followers_at(artists["artist_id"], at),
                "popularity": world.artist_popularity_at(artists["artist_id"], at)
                if popularity
                else None,
                "fetched_at": at_naive,
            }
        ),
    )
    genres = artists[["artist_id", "genres"]].explode("genres").dropna()
    genres = genres.rename(columns={"genres": "genre"})
    genres["genre_family"] = genre_families(genres["genre"])
    insert_frame(conn, "core.artist_genres", genres)
    credits = tracks[["track_id", "artist_ids"]].explode("artist_ids")
    credits["artist_position"] = credits.groupby("track_id").cumcount()
    insert_frame(conn, "core.track_artists", credits.rename(columns={"artist_ids": "artist_id"}))
    snapshots = []
    for hours in (16, 8, 0):
        when = at - timedelta(hours=hours)
        for playlist_id in world.playlists["playlist_id"]:
            items = world.playlist_items_at(playlist_id, when)
            snapshots.append(
                pd.DataFrame(
                    {
                        "snapshot_time": when.tz_convert(None),
                        "playlist_id": playlist_id,
                        "position": np.arange(len(items)),
                        "track_id": items["track_id"],
                        "added_at": items["added_at"].dt.tz_convert(None),
                    }
                )
            )
    insert_frame(conn, "core.playlist_tracks", pd.concat(snapshots, ignore_index=True))
    track_ids = tracks["track_id"].to_numpy()
    for user_id in world.users["user_id"]:  # one user at a time: bounded memory at any scale
        p = world.user_plays(user_id)
        music = p["content"] == 0
        insert_frame(
            conn,
            "core.streams",
            pd.DataFrame(
                {
                    "user_id": user_id,
                    "ts": pd.to_datetime(p["ts"], unit="s"),
                    "content_type": np.array(CONTENT_TYPES, dtype=object)[p["content"]],
                    "track_id": np.where(music, track_ids[np.where(music, p["item"], 0)], None),
                    "ms_played": p["ms_played"],
                    "skipped": pd.array(np.where(p["skipped"] < 0, None, p["skipped"] == 1)),
                    "source_format": "extended",
                }
            ),
        )
    return at_naive


def world_at_two_times(world: Any, days_before: float) -> tuple[Any, Any, Any, pd.DataFrame]:
    """(connection, T1, T2, popularity at T1): ``world`` written as core tables (T2: its
    latest snapshot) with one more playlist snapshot ``days_before`` earlier (T1), and the
    popularity the API served at T1. The bench (bench/bench_model.py) uses it too."""
    conn = duckdb.connect()
    latest = write_world(conn, world)
    as_of = latest - timedelta(days=days_before)
    at = pd.Timestamp(as_of, tz="UTC")
    frames = []
    for playlist_id in world.playlists["playlist_id"]:
        items = world.playlist_items_at(playlist_id, at)
        frames.append(
            pd.DataFrame(
                {
                    "snapshot_time": as_of,
                    "playlist_id": playlist_id,
                    "position": np.arange(len(items)),
                    "track_id": items["track_id"],
                    "added_at": items["added_at"].dt.tz_convert(None),
                }
            )
        )
    insert_frame(conn, "core.playlist_tracks", pd.concat(frames, ignore_index=True))
    ids = world.tracks["track_id"]
    earlier = pd.DataFrame({"track_id": ids, "popularity": world.track_popularity_at(ids, at)})
    return conn, as_of, latest, earlier
