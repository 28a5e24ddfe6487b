"""Export files as real listeners have them, beside the sample world's tidy ones.

Real exports are not all ``Streaming_History_Audio_<years>_<n>.json`` in one folder per
listener: older extended exports are ``endsong.json``/``endsong_<n>.json``; the account-data
export before 2020 had mixed ``StreamingHistory<N>.json`` files (music and podcasts together,
podcasts as artist = show, times cut to the minute); and most people drop the zip as they
downloaded it, with ``Userdata.json``, playlists and a PDF beside the history. This rewrites
three listeners' exports that way (deterministically), so the demo and the tests exercise each:

- the 2nd listener: the same extended history named ``endsong.json``, ``endsong_1.json`` ...;
- the 3rd: the first half of their plays as an old mixed account-data export
  (``StreamingHistory0.json`` ...), the second half as extended history (someone who asked
  for an export years ago and again later: the shows of the later export tell the old file's
  podcasts apart);
- the 4th: ``my_spotify_data.zip`` holding ``Spotify Extended Streaming History/`` (their
  history and a small video-history file) and ``Spotify Account Data/`` (``Userdata.json``,
  ``Playlist1.json``), plus a ``ReadMeFirst.pdf``.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from spotify_assets.lib.sample.world.history import write_user_history
from spotify_assets.lib.sample.world.world import SampleWorld

MIXED_RECORDS_PER_FILE = 10_000
ZIP_NAME = "my_spotify_data.zip"
_ZIP_TIME = (2024, 5, 1, 12, 0, 0)  # fixed member times: same seed, same bytes


def _renamed_as_endsong(paths: list[Path]) -> list[Path]:
    out = []
    for i, path in enumerate(sorted(paths)):
        target = path.with_name("endsong.json" if i == 0 else f"endsong_{i}.json")
        path.replace(target)
        out.append(target)
    return out


def _mixed_records(world: SampleWorld, plays: dict[str, np.ndarray]) -> list[dict]:
    """Account-data records of music and podcast plays (audiobooks were not in those files),
    built column-wise: the names are looked up by array indexing, not row by row."""
    tracks, episodes = world.tracks, world.episodes
    artist_of = world.artists.set_index("artist_id")["artist_name"]
    track_artist = artist_of.reindex(tracks["primary_artist_id"]).to_numpy(dtype=object)
    content, item = plays["content"], plays["item"].astype(np.int64)
    keep = content <= 1
    music = content[keep] == 0
    idx = item[keep]
    artist = np.where(
        music,
        track_artist[np.where(music, idx, 0)],
        episodes["show_name"].to_numpy(dtype=object)[np.where(music, 0, idx)],
    )
    title = np.where(
        music,
        tracks["track_name"].to_numpy(dtype=object)[np.where(music, idx, 0)],
        episodes["episode_name"].to_numpy(dtype=object)[np.where(music, 0, idx)],
    )
    end = plays["ts"][keep].astype("datetime64[s]").astype("datetime64[m]").astype(str)
    return [
        {"endTime": e.replace("T", " "), "artistName": a, "trackName": n, "msPlayed": int(m)}
        for e, a, n, m in zip(end, artist, title, plays["ms_played"][keep], strict=True)
    ]


def _write_json(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def _split_history(world: SampleWorld, user_id: str, landing_dir: Path) -> list[Path]:
    plays = world.user_plays(user_id)
    n = len(plays["ts"])
    if n < 2:
        return write_user_history(world, user_id, landing_dir)
    cut = int(plays["ts"][n // 2])
    first = {k: v[plays["ts"] < cut] for k, v in plays.items()}
    written = write_user_history(
        world, user_id, landing_dir, since=datetime.fromtimestamp(cut, UTC)
    )
    records = _mixed_records(world, first)
    for i in range(0, max(len(records), 1), MIXED_RECORDS_PER_FILE):
        path = landing_dir / user_id / f"StreamingHistory{i // MIXED_RECORDS_PER_FILE}.json"
        written.append(_write_json(path, records[i : i + MIXED_RECORDS_PER_FILE]))
    return written


def _zipped(world: SampleWorld, user_id: str, landing_dir: Path, paths: list[Path]) -> Path:
    user = world.users.set_index("user_id").loc[user_id]
    members: list[tuple[str, bytes]] = [
        (f"Spotify Extended Streaming History/{p.name}", p.read_bytes()) for p in sorted(paths)
    ]
    video = [
        {
            "ts": "2023-06-01T20:15:00Z",
            "platform": "android",
            "ms_played": 61000,
            "conn_country": str(user.get("country", "US")),
            "master_metadata_track_name": None,
            "spotify_track_uri": None,
            "episode_name": "A video episode",
            "episode_show_name": "A video show",
            "spotify_episode_uri": "spotify:episode:0000000000000000000000",
            "video": True,
        }
    ]
    members += [
        (
            "Spotify Extended Streaming History/Streaming_History_Video_2023.json",
            json.dumps(video).encode(),
        ),
        (
            "Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf",
            b"%PDF-1.4\n%sample\n",
        ),
        (
            "Spotify Account Data/Userdata.json",
            json.dumps({"username": user_id, "country": str(user.get("country", "US"))}).encode(),
        ),
        (
            "Spotify Account Data/Playlist1.json",
            json.dumps({"playlists": [{"name": "Sample", "items": []}]}).encode(),
        ),
    ]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    for p in paths:
        p.unlink()
    target = landing_dir / user_id / ZIP_NAME
    target.write_bytes(buf.getvalue())
    return target


def write_export_vintages(world: SampleWorld, landing_dir: Path) -> list[Path]:
    """Rewrite three listeners' exports in ``landing_dir`` (as written by
    ``write_streaming_history``) as older vintages and a zip; returns every file now there
    for those listeners. Listeners beyond the first are used (the first is the playlist
    curator); a world with fewer listeners gets fewer vintages."""
    landing_dir = Path(landing_dir)
    users = [u for u in world.users["user_id"].tolist() if u != "sample_curator"]
    out: list[Path] = []
    for kind, user_id in zip(("endsong", "mixed", "zip"), users[1:4], strict=False):
        for old in (landing_dir / user_id).glob("*"):
            old.unlink()
        if kind == "endsong":
            out += _renamed_as_endsong(write_user_history(world, user_id, landing_dir))
        elif kind == "mixed":
            out += _split_history(world, user_id, landing_dir)
        else:
            paths = write_user_history(world, user_id, landing_dir)
            if paths:
                out.append(_zipped(world, user_id, landing_dir, paths))
    return out
