"""One play, one row: two listeners' Spotify histories beside their Last.fm and ListenBrainz
exports, written as the real files are (lastfm-to-csv, lastfm.ghan.nl's CSV, a
``user.getRecentTracks`` page, a ListenBrainz export zip), landed and built by the pipeline's
code, against

1. an independent computation of the documented rule (docs/USER_GUIDE.md, "KPI definitions";
   ``lib/listening/scrobbles.py``) in plain Python, straight from the files' bytes;
2. the outcome worked out by hand for each play of the story below.

The story (UTC, 2024-03-01, ``ana``; ``ben`` has account data, times cut to the minute):

- a  10:00:07 EARFQUAKE, played through: scrobbled to Last.fm (CSV, ``10:00``) and to
  ListenBrainz (10:00:07, with its duration): one play, Spotify's row;
- o  09:59:30 a scrobble of EARFQUAKE 37 s before a started (no play of it then), on an API
  page: outside the window (25 s before the start), a play of its own;
- b  10:03:20 a 4 s skip of Feels Like..., not scrobbled; c 10:03:25 the same track played
  through (CSV ``10:03``, which reaches b too: the closer start, c, takes it); d 10:06:40 it
  again, scrobbled in the CSV (``10:06``) and on an API page (10:06:40): one play;
- e  10:10:00 Some Resolve (feat. ...), scrobbled twice (10:10:00 and 10:10:03, a double
  submission) as "Some Resolve": one play, Spotify's;
- f  10:14:10 Motherboard, scrobbled at its end (10:19:51, a client's quirk): Spotify's;
- g  10:20:00 Ghost, half played: scrobbled; h 10:21:30 Ghost, a 3 s skip: not;
- i  10:30:00 EARFQUAKE on another device (in the CSV): a scrobble only, a play of its own
  (the CSV stripped the artist's comma: no catalog match, so 3.5 minutes; o, on the API page,
  keeps the comma and gets the catalog's duration);
- j, k in 2019, before Spotify: Last.fm only (j twice in the CSV: a page boundary);
- l  2024-03-02 09:00 a ListenBrainz listen with a duration, no Spotify play: its own;
- n  2024-03-02 11:00:00 Motherboard on Spotify; m its ListenBrainz listen, imported by
  ListenBrainz from Spotify's history (``listened_at`` the end, ``ms_played``): Spotify's;
- q  2024-03-02 12:00:05 Feels Like... on Spotify, scrobbled to Last.fm at its start and to
  ListenBrainz at its end (two clients): both merge into it (one scrobble per service);
- ben: one account-data play ending "20:04" (really 20:04:40) scrobbled at 20:01:27, and a
  scrobble at 21:00 with no play.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import zipfile
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from spotify_assets_tests.support.listening import land_and_build
from spotify_assets_tests.support.warehouse import create_core_tables, insert

DAY = datetime(2024, 3, 1, tzinfo=UTC)
TRACKS = {  # key: (id, artist, title, album, duration ms)
    "T1": ("1" * 22, "Tyler, The Creator", "EARFQUAKE", "IGOR", 190_000),
    "T2": ("2" * 22, "Tame Impala", "Feels Like We Only Go Backwards", "Lonerism", 193_000),
    "T3": ("3" * 22, "Röyksopp", "Some Resolve (feat. Susanne Sundfør)", "Profound II", 240_000),
    "T4": ("4" * 22, "Daft Punk", "Motherboard", "Random Access Memories", 341_000),
    "T5": ("5" * 22, "Justin Bieber", "Ghost", "Justice", 153_000),
}


def at(hms: str, day: datetime = DAY) -> datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return day + timedelta(hours=h, minutes=m, seconds=s)


# (name, start, track, ms_played)
SPOTIFY = [
    ("a", at("10:00:07"), "T1", 190_000),
    ("b", at("10:03:20"), "T2", 4_000),
    ("c", at("10:03:25"), "T2", 193_000),
    ("d", at("10:06:40"), "T2", 193_000),
    ("e", at("10:10:00"), "T3", 240_000),
    ("f", at("10:14:10"), "T4", 341_000),
    ("g", at("10:20:00"), "T5", 80_000),
    ("h", at("10:21:30"), "T5", 3_000),
    ("n", at("11:00:00", DAY + timedelta(days=1)), "T4", 200_000),
    ("q", at("12:00:05", DAY + timedelta(days=1)), "T2", 193_000),
]
OLD = datetime(2019, 6, 1, tzinfo=UTC)
OTHER = {  # tracks only other services played: (artist, title, album)
    "W1": ("Wild Belle", "June", "Isles"),
    "W2": ("Wild Belle", "Take Me Away", "Isles"),
    "A1": ("Acid King", "2 Wheel Nation", "III"),
}


def names(track: str) -> tuple[str, str, str]:
    if track in OTHER:
        return OTHER[track]
    _, artist, title, album, _ = TRACKS[track]
    return artist, title.replace(" (feat. Susanne Sundfør)", ""), album  # as scrobblers send it


# ------------------------------------------------------------------------------------------
# The files, as the tools write them
# ------------------------------------------------------------------------------------------


def extended_history(plays) -> bytes:
    records = []
    for _, start, track, ms in plays:
        tid, artist, title, album, _ = TRACKS[track]
        end = start + timedelta(milliseconds=ms)
        records.append({
            "ts": end.strftime("%Y-%m-%dT%H:%M:%SZ"), "platform": "android", "ms_played": ms,
            "conn_country": "SE", "master_metadata_track_name": title,
            "master_metadata_album_artist_name": artist, "master_metadata_album_album_name": album,
            "spotify_track_uri": f"spotify:track:{tid}", "reason_start": "trackdone",
            "reason_end": "trackdone", "shuffle": False, "skipped": ms < 30_000,
        })  # fmt: skip
    return json.dumps(records, indent=2).encode()


def lastfm_to_csv(scrobbles, now_playing: str) -> bytes:
    """Headerless, newest first, the track playing now first with an empty date; commas and
    double quotes stripped from values; minutes, no seconds."""

    def clean(v: str) -> str:
        return re.sub(r'[",]', "", v)

    artist, title, album = names(now_playing)
    lines = [f"{clean(artist)},{clean(album)},{clean(title)},"]
    for when, track in sorted(scrobbles, reverse=True):
        artist, title, album = names(track)
        lines.append(f"{clean(artist)},{clean(album)},{clean(title)},{when:%d %b %Y %H:%M}")
    return ("\n".join(lines) + "\n").encode()


def ghan_csv(scrobbles) -> bytes:
    out = io.StringIO()
    out.write("uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\r\n")
    w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for when, track in sorted(scrobbles, reverse=True):
        artist, title, album = names(track)
        w.writerow([int(when.timestamp()), f"{when:%d %b %Y, %H:%M}", artist, "", album, "",
                    title, ""])  # fmt: skip
    return out.getvalue().encode()


def api_page(scrobbles, now_playing: str) -> bytes:
    def track(when, key):
        artist, title, album = names(key)
        body = {"artist": {"mbid": "", "#text": artist}, "streamable": "0", "mbid": "",
                "album": {"mbid": "", "#text": album}, "name": title}  # fmt: skip
        if when is None:
            return {**body, "@attr": {"nowplaying": "true"}}
        return {**body, "date": {"uts": str(int(when.timestamp())),
                                 "#text": f"{when:%d %b %Y, %H:%M}"}}  # fmt: skip

    tracks = [track(None, now_playing)] + [track(w, k) for w, k in sorted(scrobbles, reverse=True)]
    attr = {"user": "ana", "totalPages": "1", "page": "1", "perPage": "50", "total": "3"}
    return json.dumps({"recenttracks": {"track": tracks, "@attr": attr}}).encode()


def listenbrainz_zip(listens) -> bytes:
    """``listens``: (listened_at, track, additional_info)."""
    lines = []
    for when, key, info in sorted(listens, key=lambda x: x[0]):
        artist, title, album = names(key)
        meta = {"track_name": title, "artist_name": artist, "release_name": album,
                "additional_info": info}  # fmt: skip
        lines.append(json.dumps({"inserted_at": int(when.timestamp()) + 3,
                                 "listened_at": when.timestamp(), "recording_msid": "x",
                                 "track_metadata": meta}, separators=(",", ":")))  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("user.json", '{"user_id":1,"username":"ana"}')
        zf.writestr("listens/2024/3.jsonl", "\n".join(lines) + "\n")
        zf.writestr("feedback.jsonl", '{"score": 1, "created": 1, "recording_mbid": null, '
                    '"recording_msid": "x"}\n')  # fmt: skip
    return buf.getvalue()


def account_data(plays) -> bytes:
    return json.dumps([
        {"endTime": end, "artistName": TRACKS[t][1], "trackName": TRACKS[t][2], "msPlayed": ms}
        for end, t, ms in plays
    ], indent=2).encode()  # fmt: skip


S = {name: (start, track) for name, start, track, _ in SPOTIFY}
END_F = S["f"][0] + timedelta(milliseconds=341_000)
PANO = {"submission_client": "Pano Scrobbler", "duration_ms": 190_000}
LANDED = {
    "ana/Streaming_History_Audio_2024_0.json": extended_history(SPOTIFY),
    "ana/ana.csv": lastfm_to_csv(
        [
            S["a"],
            S["c"],
            S["d"],
            (at("10:30:00"), "T1"),
            (OLD + timedelta(hours=12), "W1"),
            (OLD + timedelta(hours=12), "W1"),
            (OLD + timedelta(hours=12, minutes=3, seconds=40), "W2"),
        ],
        now_playing="T5",
    ),  # fmt: skip
    "ana/recenttracks-ana-1709300000.csv": ghan_csv(
        [S["e"], (at("10:10:03"), "T3"), (END_F, "T4"), S["q"]]
    ),
    "ana/recenttracks_ana_page1.json": api_page(
        [(at("09:59:30"), "T1"), S["d"], S["g"]], now_playing="T5"
    ),
    "ana/listenbrainz_ana_1709900000.zip": listenbrainz_zip(
        [
            (S["a"][0], "T1", PANO),
            (
                at("09:00:00", DAY + timedelta(days=1)),
                "A1",
                {"duration_ms": 323_000, "submission_client": "Pano Scrobbler"},
            ),
            (
                S["n"][0] + timedelta(milliseconds=200_000),
                "T4",
                {
                    "ms_played": 200_000,
                    "music_service": "spotify.com",
                    "origin_url": f"https://open.spotify.com/track/{'4' * 22}",
                    "submission_client": "listenbrainz-spotify-importer",
                },
            ),
            (
                S["q"][0] + timedelta(milliseconds=193_000),
                "T2",
                {"duration_ms": 193_000, "submission_client": "WebScrobbler"},
            ),
        ]
    ),  # fmt: skip
    "ben/StreamingHistory_music_0.json": account_data([("2024-03-05 20:04", "T2", 193_000)]),
    "ben/recenttracks-ben-1.csv": ghan_csv(
        [
            (datetime(2024, 3, 5, 20, 1, 27, tzinfo=UTC), "T2"),
            (datetime(2024, 3, 5, 21, 0, 0, tzinfo=UTC), "T5"),
        ]
    ),  # fmt: skip
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scrobbles")
    conn = duckdb.connect()
    create_core_tables(conn, ["core.tracks", "core.artists"])
    # The catalog knows EARFQUAKE (its primary artist with the comma Spotify writes).
    earfquake = {"track_id": TRACKS["T1"][0], "track_name": "EARFQUAKE",
                 "primary_artist_id": "tyler", "duration_ms": 190_000}  # fmt: skip
    insert(conn, "core.tracks", [earfquake])
    insert(conn, "core.artists", [{"artist_id": "tyler", "artist_name": "Tyler, The Creator"}])
    outcomes = land_and_build(conn, LANDED, tmp)
    yield conn, outcomes
    conn.close()


def rows(conn) -> list[tuple]:
    return sorted(
        conn.execute(
            "select user_id, source_format, ts, ms_played, lower(artist_name), lower(track_name) "
            "from core.streams"
        ).fetchall()
    )


# ------------------------------------------------------------------------------------------
# 1. The rule, computed independently from the files
# ------------------------------------------------------------------------------------------

SLACK, MINUTE, ACCOUNT, DEFAULT_MS = 25, 59, 60, 210_000
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def utc(seconds: float) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=seconds)


def independent_scrobbles(landed: dict[str, bytes]) -> list[dict]:
    """Every scrobble of the files: listener, service, time (s), names, track id, duration,
    cut to the minute, file and position; now-playing rows left out; exact repeats once."""
    out = []

    def add(key, pos, service, t, artist, title, tid=None, dur=None):
        out.append({"user": key.split("/")[0], "service": service, "t": t, "artist": artist,
                    "title": title, "tid": tid, "dur": dur, "cut": t % 60 == 0,
                    "pos": (key, pos)})  # fmt: skip

    for key, data in landed.items():
        name = key.split("/", 1)[1]
        if name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                text = zf.read("listens/2024/3.jsonl").decode()
            for i, line in enumerate(text.splitlines()):
                listen = json.loads(line)
                meta, info = listen["track_metadata"], listen["track_metadata"]["additional_info"]
                t, dur = listen["listened_at"], info.get("duration_ms")
                if "ms_played" in info:  # imported from Spotify: the time is the end
                    dur = info["ms_played"]
                    t -= dur / 1000
                tid = (info.get("origin_url") or "").rsplit("/", 1)[-1] or None
                add(key, i, "listenbrainz", t, meta["artist_name"], meta["track_name"], tid, dur)
        elif name.endswith(".csv") and data.startswith(b"uts,"):
            for i, r in enumerate(csv.DictReader(io.StringIO(data.decode()))):
                add(key, i, "lastfm", float(r["uts"]), r["artist"], r["track"])
        elif name.endswith(".csv"):
            for i, line in enumerate(data.decode().splitlines()):
                artist, album, title, date = line.split(",")
                if not date:
                    continue  # now playing
                d, mon, y, hm = date.split(" ")
                when = datetime(int(y), MONTHS.index(mon) + 1, int(d), int(hm[:2]), int(hm[3:]),
                                tzinfo=UTC)  # fmt: skip
                add(key, i, "lastfm", when.timestamp(), artist, title)
        elif name.startswith("recenttracks_"):
            for i, tr in enumerate(json.loads(data)["recenttracks"]["track"]):
                if "date" in tr:
                    add(key, i, "lastfm", float(tr["date"]["uts"]), tr["artist"]["#text"],
                        tr["name"])  # fmt: skip
    seen, unique = set(), []
    for s in sorted(out, key=lambda s: s["pos"]):
        same = (s["user"], s["service"], s["t"], s["dur"], s["artist"], s["title"])
        if same not in seen:
            seen.add(same)
            unique.append(s)
    return unique


def independent_spotify(landed: dict[str, bytes]) -> list[dict]:
    plays = []
    for key, data in landed.items():
        user, name = key.split("/", 1)
        if name.startswith("Streaming_History"):
            for i, r in enumerate(json.loads(data)):
                end = datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).timestamp()
                plays.append({"user": user, "fmt": "extended", "end": end, "ms": r["ms_played"],
                              "start": end - r["ms_played"] / 1000, "pos": (key, i),
                              "tid": r["spotify_track_uri"].split(":")[-1],
                              "artist": r["master_metadata_album_artist_name"],
                              "title": r["master_metadata_track_name"]})  # fmt: skip
        elif name.startswith("StreamingHistory"):
            for i, r in enumerate(json.loads(data)):
                end = datetime.fromisoformat(r["endTime"]).replace(tzinfo=UTC).timestamp()
                plays.append({"user": user, "fmt": "account_data", "end": end,
                              "ms": r["msPlayed"], "start": end - r["msPlayed"] / 1000,
                              "pos": (key, i), "tid": None, "artist": r["artistName"],
                              "title": r["trackName"]})  # fmt: skip
    return plays


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    for a, b in (("’", "'"), (",", ""), ('"', "")):
        text = text.replace(a, b)
    text = re.sub(r"\s*\((feat\.|with) [^)]*\)", "", text)
    return " ".join(text.split())


def same_track(a: dict, b: dict) -> bool:
    ids = a["tid"] is not None and a["tid"] == b["tid"]
    return ids or (norm(a["artist"]), norm(a["title"])) == (norm(b["artist"]), norm(b["title"]))


def reach(s: dict) -> float:
    return MINUTE if s["cut"] else 0


def one_per_play(scrobbles: list[dict]) -> list[dict]:
    """Rule 1: in time order, a scrobble within reach of an earlier one that is not itself a
    repeat is that play again; of each play's scrobbles the preferred one stays."""
    order = sorted(scrobbles, key=lambda s: (s["t"], s["pos"]))
    first_of: dict[int, int] = {}
    for j, b in enumerate(order):
        for i in range(j):
            a = order[i]
            if (i not in first_of and a["user"] == b["user"] and same_track(a, b)
                    and b["t"] <= a["t"] + reach(a) + SLACK
                    and a["t"] <= b["t"] + reach(b) + SLACK):  # fmt: skip
                first_of[j] = i
                break
    groups: dict[int, list[dict]] = {}
    for j, s in enumerate(order):
        groups.setdefault(first_of.get(j, j), []).append(s)
    return [
        min(g, key=lambda s: (s["tid"] is None, s["cut"], not s["dur"], s["pos"]))
        for g in groups.values()
    ]


def matched_to_spotify(scrobbles: list[dict], plays: list[dict]) -> set[int]:
    """Rule 2, each service on its own: the indexes of the scrobbles that match."""
    return set().union(
        *(matched_for(scrobbles, plays, service) for service in ("lastfm", "listenbrainz"))
    )


def matched_for(scrobbles: list[dict], plays: list[dict], service: str) -> set[int]:
    """By exhaustive search: the indexes of the ``service``'s scrobbles a one-to-one,
    non-crossing matching with the most pairs, then the least total distance, gives a
    Spotify play."""
    cand = {}
    for i, s in enumerate(scrobbles):
        if s["service"] != service:
            continue
        for j, p in enumerate(plays):
            right = p["end"] + SLACK + (ACCOUNT if p["fmt"] == "account_data" else 0)
            if (s["user"] == p["user"] and same_track(s, p) and s["t"] <= right
                    and s["t"] + reach(s) >= p["start"] - SLACK):  # fmt: skip
                cand[i, j] = abs(s["t"] + reach(s) / 2 - p["start"])
    s_order = sorted({i for i, _ in cand}, key=lambda i: (scrobbles[i]["t"], scrobbles[i]["pos"]))
    p_rank = {j: (plays[j]["start"], plays[j]["pos"]) for _, j in cand}

    def best(k: int, last) -> tuple[int, float, frozenset]:
        if k == len(s_order):
            return 0, 0.0, frozenset()
        i = s_order[k]
        n, c, chosen = best(k + 1, last)
        options = [(n, -c, chosen)]
        for (si, j), cost in cand.items():
            if si == i and (last is None or p_rank[j] > p_rank[last]):
                n2, c2, ch2 = best(k + 1, j)
                options.append((n2 + 1, -(c2 + cost), ch2 | {i}))
        n, negc, chosen = max(options, key=lambda o: (o[0], o[1]))
        return n, -negc, chosen

    return set(best(0, None)[2])


def independent_streams(landed: dict[str, bytes], catalog: dict) -> list[tuple]:
    plays = independent_spotify(landed)
    kept = one_per_play(independent_scrobbles(landed))
    matched = matched_to_spotify(kept, plays)
    out = [
        (p["user"], p["fmt"], utc(p["end"]), p["ms"], p["artist"].lower(), p["title"].lower())
        for p in plays
    ]
    for i, s in enumerate(kept):
        if i in matched:
            continue
        known = catalog.get((s["artist"].lower(), s["title"].lower()))
        ms = s["dur"] or known or DEFAULT_MS
        out.append((s["user"], s["service"], utc(s["t"] + ms / 1000), ms, s["artist"].lower(),
                    s["title"].lower()))  # fmt: skip
    return sorted(out)


def test_core_streams_is_the_documented_rule_computed_independently(built):
    conn, _ = built
    catalog = {("tyler, the creator", "earfquake"): 190_000}
    assert rows(conn) == independent_streams(LANDED, catalog)


# ------------------------------------------------------------------------------------------
# 2. The story, by hand
# ------------------------------------------------------------------------------------------


def test_each_play_of_the_story_counts_once(built):
    conn, _ = built
    got = conn.execute(
        "select user_id, source_format, strftime(ts, '%Y-%m-%d %H:%M:%S'), ms_played, "
        "track_name from core.streams where source_format in ('lastfm', 'listenbrainz') "
        "order by all"
    ).fetchall()
    assert got == [
        # j, k (2019): Last.fm only, durations unknown: 3.5 min; j once though twice in the CSV
        ("ana", "lastfm", "2019-06-01 12:03:30", 210_000, "June"),
        ("ana", "lastfm", "2019-06-01 12:06:30", 210_000, "Take Me Away"),  # "12:03" + 3.5 min
        # o: 37 s before a's start, outside the window; resolved by name: the catalog's duration
        ("ana", "lastfm", "2024-03-01 10:02:40", 190_000, "EARFQUAKE"),
        # i: another device; the CSV stripped the comma: no catalog match
        ("ana", "lastfm", "2024-03-01 10:33:30", 210_000, "EARFQUAKE"),
        # l: ListenBrainz with its duration
        ("ana", "listenbrainz", "2024-03-02 09:05:23", 323_000, "2 Wheel Nation"),
        # ben's scrobble at 21:00 without a play
        ("ben", "lastfm", "2024-03-05 21:03:30", 210_000, "Ghost"),
    ]
    spotify = dict(
        conn.execute(
            "select user_id, count(*) from core.streams "
            "where source_format not in ('lastfm', 'listenbrainz') group by all"
        ).fetchall()
    )
    assert spotify == {"ana": 10, "ben": 1}  # every Spotify play is there, once


def test_every_scrobble_is_a_row_or_merged_into_one(built):
    conn, _ = built
    merged = conn.execute(
        "select m.source_format, m.matched_to, m.same_track_by, m.match_source_format, "
        "s.track_name from core.scrobble_matches m join core.scrobbles s using "
        "(source_file, record_index) order by m.scrobbled_at, m.source_file"
    ).fetchall()
    assert merged == [
        ("lastfm", "scrobble", "names", "listenbrainz", "EARFQUAKE"),  # a (CSV) -> a (LB)
        # a (LB) -> Spotify's a; resolved by name in the catalog, so by the track id
        ("listenbrainz", "spotify", "track id", "extended", "EARFQUAKE"),
        ("lastfm", "spotify", "names", "extended", "Feels Like We Only Go Backwards"),  # c
        ("lastfm", "scrobble", "names", "lastfm", "Feels Like We Only Go Backwards"),  # d CSV
        ("lastfm", "spotify", "names", "extended", "Feels Like We Only Go Backwards"),  # d
        ("lastfm", "scrobble", "names", "lastfm", "Some Resolve"),  # e, sent again 3 s later
        ("lastfm", "spotify", "names", "extended", "Some Resolve"),  # e
        ("lastfm", "spotify", "names", "extended", "Motherboard"),  # f, stamped at its end
        ("lastfm", "spotify", "names", "extended", "Ghost"),  # g
        ("listenbrainz", "spotify", "track id", "extended", "Motherboard"),  # m -> n
        ("lastfm", "spotify", "names", "extended", "Feels Like We Only Go Backwards"),  # q
        ("listenbrainz", "spotify", "names", "extended", "Feels Like We Only Go Backwards"),
        ("lastfm", "spotify", "names", "account_data", "Feels Like We Only Go Backwards"),  # ben
    ]
    (scrobbles,) = conn.execute("select count(*) from core.scrobbles").fetchone()
    (kept,) = conn.execute(
        "select count(*) from core.streams where source_format in ('lastfm', 'listenbrainz')"
    ).fetchone()
    assert scrobbles == kept + len(merged)
    # c took the scrobble "10:03", not the 4 s skip b of the same track just before it
    (c_start,) = conn.execute(
        "select strftime(match_ts, '%H:%M:%S') from core.scrobble_matches "
        "where match_source_format = 'extended' and scrobbled_at = '2024-03-01 10:03:00'"
    ).fetchone()
    assert c_start == "10:06:38"  # c's end (10:03:25 + 193 s)


def test_files_of_every_service_land_with_reasons(built):
    _, outcomes = built
    zip_ = outcomes["ana/listenbrainz_ana_1709900000.zip"]
    assert dict(zip_.not_ingested) == {
        "user.json": "ListenBrainz account (user.json): not listening history",
        "feedback.jsonl": "ListenBrainz feedback (loved and hated recordings): not listening "
        "history",
    }
    csv_ = outcomes["ana/ana.csv"].info
    assert (csv_["records"], csv_["accepted"], csv_["now_playing"]) == (7, 7, 1)
    assert outcomes["ana/recenttracks_ana_page1.json"].info["now_playing"] == 1


def test_merging_again_gives_the_same_rows_and_a_spotify_export_takes_over(built, tmp_path):
    """A build is the same whatever came first: scrobbles landed before the Spotify export
    are plays of their own until it lands, then merge into its rows."""
    conn, _ = built
    before = rows(conn)
    from spotify_assets.lib.listening.scrobbles import merge_scrobbles

    merge_scrobbles(conn)
    assert rows(conn) == before
    alone = duckdb.connect()
    scrobbles_only = {k: v for k, v in LANDED.items() if not k.startswith("ana/Streaming")}
    land_and_build(alone, scrobbles_only, tmp_path)
    (n,) = alone.execute("select count(*) from core.streams where user_id = 'ana'").fetchone()
    # the 5 plays of their own, and the 8 Spotify plays scrobbled (a, c-g, n, q): q's two
    # scrobbles, at its start and at its end, are two plays without Spotify's row to hold them
    assert n == 5 + 8 + 1


def test_wrapped_counts_every_play_by_source_and_engagement_only_spotify(built):
    from spotify_assets.lib.marts import engagement_marts, listener_marts
    from spotify_assets.lib.marts.run import build_marts

    conn, _ = built
    create_core_tables(conn, ["core.albums", "core.artist_genres"])
    engagement = [m for m in engagement_marts.MARTS if m.name in ("daily_engagement", "sessions")]
    build_marts(conn, [*engagement, *listener_marts.MARTS])
    wrapped = {
        (u, p): rest
        for u, p, *rest in conn.execute(
            "select user_id, period, plays, spotify_plays, lastfm_plays, listenbrainz_plays "
            "from marts.listener_wrapped"
        ).fetchall()
    }
    assert wrapped[("ana", "2019")] == [2, 0, 2, 0]  # j, k
    assert wrapped[("ana", "2024")] == [13, 10, 2, 1]  # a-h, n, q on Spotify; o, i; l
    assert wrapped[("ana", "all")] == [15, 10, 4, 1]
    assert wrapped[("ben", "all")] == [2, 1, 1, 0]
    # The engagement marts describe Spotify usage: no 2019 day, Spotify's plays only.
    first_day, plays = conn.execute(
        "select min(date), sum(plays) from marts.daily_engagement"
    ).fetchone()
    assert (str(first_day), plays) == ("2024-03-01", 11)


def test_the_lookups_search_the_names_of_the_scrobbles_kept_not_of_those_merged(built, tmp_path):
    from spotify_assets.lib.catalog.lookups import plan_lookups
    from spotify_assets.lib.lake import LocalLakeStore

    conn, _ = built
    names = set(plan_lookups(conn, LocalLakeStore(tmp_path), refresh_hours=24).names)
    # plays of their own whose names the catalog did not resolve: searched (within the budget)
    assert {("Tyler The Creator", "EARFQUAKE"), ("Wild Belle", "June"),
            ("Acid King", "2 Wheel Nation")} <= names  # fmt: skip
    # scrobbles merged into a Spotify play need no search; a resolved one neither
    assert not {t for _, t in names} & {"Some Resolve", "Motherboard"}
    assert ("Tyler, The Creator", "EARFQUAKE") not in names
