"""A sample listener who scrobbles: their Last.fm and ListenBrainz exports, beside their Spotify
one, as real scrobblers have them (Dagster-free, deterministic: same seed, same bytes; drawn
from the stream ``_rng(seed, 301)``, so no other listener's files change).

The scrobbler (:func:`scrobbling_listener`) is a listener whose Spotify export the world
writes already, who has scrobbled to Last.fm since :data:`LASTFM_SINCE` and to ListenBrainz as
well since :data:`LISTENBRAINZ_SINCE` (one client sends each play to both, with the same
time). Their scrobbles (:func:`scrobbled_plays`):

- **Spotify plays**: a scrobble for a music play of a track longer than 30 s that played half
  its length or 4 minutes (the scrobble rule), unless the scrobbler was off
  (:data:`P_SCROBBLER_OFF`); none for the skips; its time is the play's start (plus 0-2 s of
  clock difference). A few (:data:`P_TWICE`) reach Last.fm twice, 1 to 20 s apart. A
  ListenBrainz listen carries the duration, and the track's Spotify URL when played in a
  browser or on a desktop (a client that sees it).
- **Plays on other services** (records, another app): sessions of 4 to 12 tracks played
  through, every few days since :data:`LASTFM_SINCE`, rarer once the listener is on Spotify,
  never within an hour of a Spotify play, never across midnight UTC; tracks of the listener's
  taste released by then, longer than 90 s.

Their files (:func:`write_scrobbles`), in ``<landing_dir>/<user>/``: ``<user>.csv`` as
lastfm-to-csv writes it (no header, newest first, commas and quotes stripped, minutes, a
now-playing row at the top of every page of 200, a row repeated across a page boundary now and
then) up to :data:`CSV_DAYS_BEFORE_END` days before the history ends; ``user.getRecentTracks``
pages (``recenttracks_<user>_page<N>.json``, 200 a page, the now-playing track first) from two
days before that on; ListenBrainz's export zip (``listens/<year>/<month>.jsonl``, today's
format, ``user.json``, ``feedback.jsonl``).
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from spotify_assets.lib.sample.world.base import _NS_DAY, APP_USER_ID, WORLD_START, _rng
from spotify_assets.lib.sample.world.listeners import PLATFORMS
from spotify_assets.lib.sample.world.world import SampleWorld

LASTFM_SINCE = pd.Timestamp("2021-01-01", tz="UTC")
LISTENBRAINZ_SINCE = pd.Timestamp("2022-06-01", tz="UTC")
P_SCROBBLER_OFF = 0.08
P_TWICE = 0.01
CSV_DAYS_BEFORE_END = 30
PAGE_SIZE = 200
_ZIP_TIME = (2025, 6, 1, 12, 0, 0)  # fixed member times: same seed, same bytes
_BROWSER = {PLATFORMS.index(p) for p in ("web_player", "windows", "osx", "linux")}
_SEED_TAG = 301


def scrobbling_listener(world: SampleWorld) -> str:
    """The listener who scrobbles: not the curator, not one whose export ``vintages`` rewrites
    (the 2nd to 4th listener), the longest active, then with the most plays."""
    users = [u for u in world.users["user_id"].tolist() if u != APP_USER_ID]
    candidates = [u for i, u in enumerate(users) if not 1 <= i <= 3] or users
    frame = world.users.set_index("user_id").loc[candidates]
    span = frame["active_until"] - frame["active_from"]
    order = sorted(candidates, key=lambda u: (-span[u].value, -frame.at[u, "n_plays"], u))
    return order[0]


def scrobbled_plays(world: SampleWorld, user_id: str) -> pd.DataFrame:
    """Every scrobble of the listener, oldest first: ``start`` (UTC epoch s), ``track`` (row
    in ``world.tracks``), ``spotify_play`` (its row in ``world.user_plays``, -1 for a play on
    another service), ``play`` (the play it is a scrobble of: one number per play),
    ``service`` (``lastfm`` or ``listenbrainz``), ``again`` (a second submission), ``url``
    (the listen names the Spotify track)."""
    rng = _rng(world.seed, _SEED_TAG)
    spotify = _spotify_scrobbles(world, user_id, rng)
    other = _other_plays(world, user_id, rng)
    plays = pd.concat([spotify, other], ignore_index=True)
    plays = plays.sort_values(["start", "spotify_play"], kind="stable")
    plays["play"] = np.arange(len(plays))
    lastfm = plays.assign(service="lastfm", again=False)
    twice = lastfm[(rng.random(len(lastfm)) < P_TWICE) & (lastfm["spotify_play"] >= 0)]
    twice = twice.assign(start=twice["start"] + rng.integers(1, 21, len(twice)), again=True)
    lb = plays[plays["start"] >= LISTENBRAINZ_SINCE.value // 10**9]
    out = pd.concat([lastfm, twice, lb.assign(service="listenbrainz", again=False)])
    return out.sort_values(["start", "service", "again"], kind="stable").reset_index(drop=True)


def _spotify_scrobbles(world: SampleWorld, user_id: str, rng: np.random.Generator) -> pd.DataFrame:
    p = world.user_plays(user_id)
    music = np.flatnonzero(p["content"] == 0)
    dur = world._duration_ms[p["item"][music]]
    ms = p["ms_played"][music]
    scrobbled = (dur > 30_000) & (ms >= np.minimum(dur / 2, 240_000))
    scrobbled &= rng.random(len(music)) >= P_SCROBBLER_OFF
    rows = music[scrobbled]
    start = p["ts"][rows] - p["ms_played"][rows] // 1000 + rng.integers(0, 3, len(rows))
    return pd.DataFrame(
        {
            "start": start.astype(np.int64),
            "track": p["item"][rows].astype(np.int64),
            "spotify_play": rows.astype(np.int64),
            "url": np.isin(p["platform"][rows], list(_BROWSER)),
        }
    )


def _other_plays(world: SampleWorld, user_id: str, rng: np.random.Generator) -> pd.DataFrame:
    """Sessions on other services (module docstring), as (start, track) of each play."""
    p = world.user_plays(user_id)
    usr = world.users.set_index("user_id").loc[user_id]
    first_day = (LASTFM_SINCE.value - WORLD_START.value) // _NS_DAY
    days = np.arange(first_day, world.scale.history_days)
    on_spotify = days >= (usr["active_from"].value - WORLD_START.value) // _NS_DAY
    days = days[rng.random(len(days)) < np.where(on_spotify, 0.08, 0.35)]
    hour = rng.integers(6, 19, len(days))
    starts, tracks = [], []
    spotify_ts = np.sort(p["ts"])
    for day, h in zip(days, hour, strict=True):
        t = int((WORLD_START.value // 10**9) + day * 86_400 + h * 3600 + rng.integers(0, 3600))
        picks = _session_tracks(world, rng, t, int(rng.integers(4, 13)))
        end = t + int(world._duration_ms[picks].sum() // 1000) + 3 * len(picks)
        near = np.searchsorted(spotify_ts, [t - 3600, end + 3600])
        if near[1] > near[0] or end // 86_400 != t // 86_400:
            continue  # a Spotify play within the hour, or across midnight: not this day
        for track in picks:
            starts.append(t)
            tracks.append(int(track))
            t += int(world._duration_ms[track] // 1000) + int(rng.integers(0, 4))
    n = len(starts)
    return pd.DataFrame(
        {
            "start": np.array(starts, np.int64),
            "track": np.array(tracks, np.int64),
            "spotify_play": np.full(n, -1, np.int64),
            "url": np.zeros(n, bool),
        }
    )


def _session_tracks(world: SampleWorld, rng: np.random.Generator, t: int, n: int) -> np.ndarray:
    """``n`` tracks of the listeners' taste released before ``t``, longer than 90 s."""
    picks = world._static_pool.pick(np.full(n, t * 10**9), rng.random(n))
    picks = picks[picks >= 0]
    return picks[world._duration_ms[picks] > 90_000]


# --------------------------------------------------------------------------------------------
# The files
# --------------------------------------------------------------------------------------------


def write_scrobbles(world: SampleWorld, landing_dir: Path) -> list[Path]:
    """Write the scrobbler's Last.fm and ListenBrainz exports into ``landing_dir/<user>/``
    (module docstring); returns the files written."""
    user_id = scrobbling_listener(world)
    s = scrobbled_plays(world, user_id)
    names = _names(world)
    folder = Path(landing_dir) / user_id
    folder.mkdir(parents=True, exist_ok=True)
    end = int(world.history_end.value // 10**9)
    cut = end - CSV_DAYS_BEFORE_END * 86_400
    lastfm = s[s["service"] == "lastfm"]
    written = [folder / f"{user_id}.csv"]
    written[0].write_bytes(_lastfm_csv(lastfm[lastfm["start"] < cut], names))
    recent = lastfm[lastfm["start"] >= cut - 2 * 86_400]
    for i, page in enumerate(_api_pages(recent, names, user_id), start=1):
        path = folder / f"recenttracks_{user_id}_page{i}.json"
        path.write_bytes(page)
        written.append(path)
    zip_path = folder / f"listenbrainz_{user_id}_{end}.zip"
    zip_path.write_bytes(_listenbrainz_zip(world, s[s["service"] == "listenbrainz"], names))
    return [*written, zip_path]


def _names(world: SampleWorld) -> pd.DataFrame:
    """Each track's artist (primary), title, album and duration, by track row."""
    artist = world.artists["artist_name"].to_numpy()[world._trk_artist]
    album = world.albums["album_name"].to_numpy()[world._trk_album]
    return pd.DataFrame(
        {
            "artist": artist,
            "title": world.tracks["track_name"].to_numpy(),
            "album": album,
            "id": world.tracks["track_id"].to_numpy(),
            "duration": world._duration_ms,
        }
    )


def _stripped(text: str) -> str:
    return text.replace(",", "").replace('"', "")


def _lastfm_csv(scrobbles: pd.DataFrame, names: pd.DataFrame) -> bytes:
    """lastfm-to-csv's file: pages of 200, newest first, each page opening with the track
    playing now (no date); every tenth page repeats the previous page's last row."""
    lines: list[str] = []
    rows = scrobbles.sort_values("start", ascending=False, kind="stable")
    now = names.iloc[int(rows["track"].iloc[0])] if len(rows) else None
    for k, lo in enumerate(range(0, len(rows), PAGE_SIZE)):
        page = rows.iloc[max(lo - (k % 10 == 9), 0) : lo + PAGE_SIZE]
        if now is not None:
            lines.append(f"{_stripped(now.artist)},{_stripped(now.album)},{_stripped(now.title)},")
        for start, track in zip(page["start"], page["track"], strict=True):
            n = names.iloc[int(track)]
            when = datetime.fromtimestamp(int(start), UTC).strftime("%d %b %Y %H:%M")
            lines.append(f"{_stripped(n.artist)},{_stripped(n.album)},{_stripped(n.title)},{when}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _api_pages(scrobbles: pd.DataFrame, names: pd.DataFrame, user_id: str) -> list[bytes]:
    """``user.getRecentTracks`` answers as saved, newest first, the now-playing track first."""
    rows = scrobbles.sort_values("start", ascending=False, kind="stable")
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    out = []
    for i in range(pages):
        page = rows.iloc[i * PAGE_SIZE : (i + 1) * PAGE_SIZE]
        pairs = zip(page["start"], page["track"], strict=True)
        tracks = [_api_track(names.iloc[int(t)], int(s)) for s, t in pairs]
        if i == 0 and len(rows):
            tracks.insert(0, _api_track(names.iloc[int(rows["track"].iloc[0])], None))
        attr = {"user": user_id, "totalPages": str(pages), "page": str(i + 1),
                "perPage": str(PAGE_SIZE), "total": str(len(rows))}  # fmt: skip
        body = {"recenttracks": {"track": tracks, "@attr": attr}}
        out.append(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
    return out


def _api_track(n: pd.Series, start: int | None) -> dict:
    track = {
        "artist": {"mbid": "", "#text": n.artist},
        "streamable": "0",
        "mbid": "",
        "album": {"mbid": "", "#text": n.album},
        "name": n.title,
        "url": "https://www.last.fm/music/",
    }
    if start is None:
        return {**track, "@attr": {"nowplaying": "true"}}
    when = datetime.fromtimestamp(start, UTC).strftime("%d %b %Y, %H:%M")
    return {**track, "date": {"uts": str(start), "#text": when}}


def _listenbrainz_zip(world: SampleWorld, listens: pd.DataFrame, names: pd.DataFrame) -> bytes:
    """The export zip: ``listens/<year>/<month>.jsonl`` (month not zero-padded), one listen a
    line in today's compact format, with ``user.json`` and ``feedback.jsonl``."""
    by_month: dict[str, list[str]] = {}
    for start, track, url in zip(listens["start"], listens["track"], listens["url"], strict=True):
        n = names.iloc[int(track)]
        info = {"duration_ms": int(n.duration), "submission_client": "Pano Scrobbler"}
        if url:
            link = f"https://open.spotify.com/track/{n.id}"
            info = {**info, "music_service": "spotify.com", "origin_url": link, "spotify_id": link}
        listen = {"inserted_at": int(start) + 2, "listened_at": float(start),
                  "track_metadata": {"track_name": n.title, "artist_name": n.artist,
                                     "release_name": n.album, "additional_info": info}}  # fmt: skip
        month = datetime.fromtimestamp(int(start), UTC)
        by_month.setdefault(f"listens/{month.year}/{month.month}.jsonl", []).append(
            json.dumps(listen, ensure_ascii=False, separators=(",", ":"))
        )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:

        def put(name: str, text: str) -> None:
            zf.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), text, zipfile.ZIP_DEFLATED)

        put("user.json", json.dumps({"user_id": world.seed, "username": "scrobbler"}))
        for name, lines in by_month.items():
            put(name, "\n".join(lines) + "\n")
        put("feedback.jsonl", '{"score": 1, "created": 1700000000, "recording_mbid": null, '
            '"recording_msid": "00000000-0000-0000-0000-000000000000"}\n')  # fmt: skip
    return buf.getvalue()
