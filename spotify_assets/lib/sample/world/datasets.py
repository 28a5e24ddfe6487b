"""Write the sample world's public catalog dataset: an artists CSV and a tracks CSV in the
format of the widely used Kaggle-style datasets (``id, followers, genres, name, popularity``;
``id, name, popularity, duration_ms, explicit, artists, id_artists, release_date`` and audio
features), for the world's whole catalog, with popularity and followers as of one day.

This is what a development-mode app, which gets no popularity or followers from the API,
lands to fill them (``landing/catalog_datasets/``). The file names carry the day
(``artists-2024-04-30.csv``): the rows are observations of that day, so API answers taken
later win over them where they have values. Lists are written as Python writes them
(``['pop', 'dance pop']``, ``["Guns N' Roses"]``), followers as floats (``44.0``) and
``explicit`` as 0/1, as in the real files. Deterministic: the same world and day give the
same bytes.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from spotify_assets.lib.sample.world.base import _rng
from spotify_assets.lib.sample.world.world import SampleWorld, build_world

ARTISTS_HEADER = ("id", "followers", "genres", "name", "popularity")
TRACKS_HEADER = (
    "id", "name", "popularity", "duration_ms", "explicit", "artists", "id_artists",
    "release_date", "danceability", "energy", "key", "loudness", "mode", "speechiness",
    "acousticness", "instrumentalness", "liveness", "valence", "tempo", "time_signature",
)  # fmt: skip


def _csv(header: tuple[str, ...], columns: list[list[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*columns, strict=True))
    return buf.getvalue().encode("utf-8")


def sample_dataset_files(world: SampleWorld, day: date | None = None) -> dict[str, bytes]:
    """{file name: bytes} of the world's artists and tracks datasets as of ``day`` (default:
    the last day of the world's listening history); tracks released after ``day`` are left
    out, as a dataset exported that day would."""
    day = day or world.history_end.date()
    at = pd.Timestamp(day, tz="UTC").to_pydatetime()
    artists = world.artists
    artist_ids = artists["artist_id"].tolist()
    followers = world.artist_followers_at(artist_ids, at)
    artist_pop = world.artist_popularity_at(artist_ids, at)
    artists_csv = _csv(
        ARTISTS_HEADER,
        [
            artist_ids,
            [f"{float(f):.1f}" for f in followers],
            [repr(list(g)) for g in artists["genres"]],
            artists["artist_name"].tolist(),
            artist_pop.tolist(),
        ],
    )

    tracks = world.tracks[world.tracks["release_ts"] <= pd.Timestamp(day, tz="UTC")]
    tracks = tracks.sort_values("track_id", kind="stable")
    ids = tracks["track_id"].tolist()
    name_of = dict(zip(artists["artist_id"], artists["artist_name"], strict=True))
    albums = world.albums.set_index("album_id")
    release = albums.loc[tracks["album_id"], "release_date"].tolist()
    n = len(tracks)
    rng = _rng(world.seed, 901)  # audio features: plausible, independent of popularity
    features = {
        "danceability": rng.beta(5, 3, n),
        "energy": rng.beta(4, 3, n),
        "key": rng.integers(0, 12, n),
        "loudness": -np.abs(rng.normal(7, 3.5, n)),
        "mode": (rng.random(n) < 0.65).astype(int),
        "speechiness": rng.beta(1.2, 12, n),
        "acousticness": rng.beta(0.8, 2.5, n),
        "instrumentalness": np.where(rng.random(n) < 0.8, 0.0, rng.beta(0.6, 1.5, n)),
        "liveness": rng.beta(1.5, 8, n),
        "valence": rng.beta(2.5, 2.5, n),
        "tempo": rng.normal(120, 28, n).clip(50, 210),
        "time_signature": np.where(rng.random(n) < 0.92, 4, 3),
    }
    formatted = [
        [f"{v:.4g}" for v in values.tolist()] if values.dtype.kind == "f" else values.tolist()
        for values in features.values()
    ]
    tracks_csv = _csv(
        TRACKS_HEADER,
        [
            ids,
            tracks["track_name"].tolist(),
            world.track_popularity_at(ids, at).tolist(),
            tracks["duration_ms"].tolist(),
            tracks["explicit"].astype(int).tolist(),
            [repr([name_of[a] for a in a_ids]) for a_ids in tracks["artist_ids"]],
            [repr(list(a_ids)) for a_ids in tracks["artist_ids"]],
            release,
            *formatted,
        ],
    )
    stamp = day.isoformat()
    return {f"artists-{stamp}.csv": artists_csv, f"tracks-{stamp}.csv": tracks_csv}


def write_sample_dataset(
    out_dir: str | Path, world: SampleWorld | int = 42, *, scale: str = "demo"
) -> list[Path]:
    """Write the world's catalog dataset (:func:`sample_dataset_files`) into ``out_dir``;
    returns the files written, sorted. ``world`` is a built world or a seed."""
    if isinstance(world, int):
        world = build_world(scale, world)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in sample_dataset_files(world).items():
        path = out / name
        path.write_bytes(data)
        paths.append(path)
    return sorted(paths)
