"""A synthetic warehouse of many plays that looks like listeners, for the benches
(``bench/bench_marts.py --synthetic``, ``bench/bench_dashboard.py``): one generator, so the
marts and the dashboard are measured on the same kind of data.

Why not uniform random plays: with every play at a uniform random time, every listener was
active every month (churn 0) and nearly every play was its own session, so the session and
churn logic was measured on degenerate data. Here:

- listeners join (a third were listening already when the data starts, the others join over
  the two years) and leave (an exponential lifetime, mean 18 months), and light listeners skip
  months: monthly churn of a few percent to about 15%;
- plays come in sessions: a session starts at a local time of day drawn from a diurnal profile
  (weekdays and weekends differ) in the listener's country (about 50 countries, weighted like
  Spotify's markets; a few sessions abroad, a few with no country), and its plays run back to
  back (the next starts when the previous ended plus a gap of a second or two, sometimes
  tens of seconds or minutes), about ten plays per session on average;
- about a quarter of music plays are skips (a few seconds, ``skipped`` true, ``reason_end``
  ``fwdbtn``, the next play starting ``fwdbtn``), the last play of a session often ends
  ``endplay`` or ``logout`` part-way;
- a quarter of the listeners also play podcasts (sessions of one to three long episodes);
- tracks come from a catalog (``core.tracks``, ``albums``, ``artists``, ``artist_genres``,
  ``track_artists`` and ``track_audio_features`` for 85% of the tracks), each listener mixing
  a personal library leaning to one genre family with globally popular tracks; a few tracks
  are played under a second spelling and a few plays are local files (no track id).

Vectorised (numpy for the plays as integer codes, DuckDB joins the strings on) and seeded: the
same arguments give the same rows. 10 million plays took 87 s on the shared 2-core machine
(30 million: 11 minutes, under a load of 10-20).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES
from spotify_assets.lib.timezones import COUNTRY_TIMEZONES

#: The first day of the data; :data:`DAYS` days follow (2024 and 2025).
START = date(2024, 1, 1)
DAYS = 731

#: Countries the listeners play from, weighted roughly like Spotify's markets.
COUNTRY_WEIGHTS: dict[str, float] = {
    "US": 20, "BR": 8, "GB": 6, "DE": 6, "MX": 6, "IN": 4, "FR": 4, "ES": 3.5, "ID": 3,
    "IT": 3, "CA": 3, "AU": 2.5, "PH": 2.5, "AR": 2.5, "NL": 2, "PL": 2, "TR": 2, "JP": 2,
    "CO": 2, "SE": 1.5, "CL": 1.5, "PE": 1, "ZA": 1, "TH": 1, "VN": 1, "SA": 1, "NG": 0.8,
    "EG": 0.8, "MY": 0.8, "BE": 0.7, "AT": 0.6, "CH": 0.6, "DK": 0.6, "NO": 0.6, "FI": 0.6,
    "PT": 0.6, "RO": 0.6, "AE": 0.6, "TW": 0.6, "IE": 0.5, "IL": 0.5, "NZ": 0.5, "SG": 0.5,
    "KR": 0.5, "UA": 0.5, "CZ": 0.5, "HU": 0.4, "GR": 0.4, "HK": 0.4, "MA": 0.4, "KE": 0.3,
    "NP": 0.2, "IR": 0.1, "LK": 0.2,
}  # fmt: skip

#: Relative chance that a session starts in each local hour (0-23), weekdays and weekends.
WEEKDAY_HOURS = [1.2, 0.7, 0.4, 0.25, 0.2, 0.3, 0.8, 2.0, 3.2, 3.0, 2.6, 2.6,
                 2.9, 2.8, 2.6, 2.7, 3.0, 3.4, 3.6, 3.5, 3.2, 2.8, 2.3, 1.7]  # fmt: skip
WEEKEND_HOURS = [1.8, 1.2, 0.8, 0.5, 0.3, 0.25, 0.35, 0.7, 1.4, 2.2, 2.8, 3.1,
                 3.2, 3.2, 3.1, 3.0, 3.0, 3.1, 3.2, 3.2, 3.0, 2.8, 2.5, 2.1]  # fmt: skip

PLATFORMS = ["android", "ios", "windows", "osx", "web_player", "cast_to_device", "linux"]
PLATFORM_WEIGHTS = [0.42, 0.30, 0.12, 0.07, 0.05, 0.03, 0.01]
REASONS = ["trackdone", "fwdbtn", "backbtn", "clickrow", "playbtn", "appload", "remote",
           "endplay", "logout"]  # fmt: skip
_R = {name: i for i, name in enumerate(REASONS)}
#: How a session's first play starts.
FIRST_REASONS = {"clickrow": 0.45, "playbtn": 0.25, "appload": 0.15, "remote": 0.08,
                 "trackdone": 0.07}  # fmt: skip

_WORDS = """midnight echo river golden neon summer heart fire night light dream city rain
wild blue electric shadow love paradise ocean velvet storm silver broken sweet dark young
forever lost highway diamond moon sun star glass honey ghost paper crystal thunder desert
morning dancing falling burning running hollow little secret sugar empty cold warm last
first slow fast high low happy sad lonely crazy perfect simple better bright quiet loud
window garden mirror satellite radio motion gravity tide wave harbor island mountain valley
forest canyon avenue station signal circuit machine engine rocket comet planet orbit""".split()  # noqa: SIM905
_GENRES = {
    "hip hop/r&b": ["hip hop", "rap", "trap", "r&b", "drill"],
    "rock": ["rock", "indie rock", "alternative rock", "classic rock", "punk"],
    "pop": ["pop", "dance pop", "indie pop", "electropop", "k-pop boy group"],
    "latin": ["reggaeton", "latin pop", "urbano latino", "bachata", "cumbia"],
    "country": ["country", "contemporary country", "country pop", "americana"],
    "electronic": ["edm", "house", "techno", "trance", "drum and bass"],
    "jazz/blues": ["jazz", "smooth jazz", "blues", "soul jazz"],
    "classical": ["classical", "baroque", "opera", "early romantic era"],
    "metal": ["metal", "metalcore", "death metal", "nu metal"],
    "folk/acoustic": ["folk", "indie folk", "singer-songwriter", "acoustic"],
    "asian pop": ["j-pop", "k-pop", "mandopop", "anime"],
    "world": ["afrobeats", "bollywood", "highlife", "fado"],
    "other": ["lo-fi beats", "sleep", "children's music"],
}
_FAMILY_WEIGHTS = [16, 12, 22, 10, 5, 8, 3, 2, 4, 5, 5, 4, 4]


def _mix(x: np.ndarray) -> np.ndarray:
    """A fixed 64-bit mix (splitmix64's finaliser): deterministic pseudo-random integers from
    integers, vectorised (a listener's library slot -> a track)."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "S1")


def _pick(rng: np.random.Generator, weights: Any, n: int) -> np.ndarray:
    """``n`` indices drawn with chance proportional to ``weights`` (``rng.choice`` with ``p``,
    several times faster)."""
    cumulative = np.cumsum(np.asarray(weights, float))
    return np.searchsorted(cumulative, rng.random(n) * cumulative[-1], "right")


def _ids(n: int, salt: int) -> list[str]:
    """``n`` distinct Spotify-like ids (22 base-62 characters)."""
    out = np.empty((n, 22), "S1")
    a = _mix(np.arange(n, dtype=np.uint64) * np.uint64(2) + np.uint64(salt * 1_000_003))
    b = _mix(a + np.uint64(salt))
    for k in range(11):
        out[:, k] = _BASE62[(a % np.uint64(62)).astype(np.int64)]
        out[:, 11 + k] = _BASE62[(b % np.uint64(62)).astype(np.int64)]
        a, b = a // np.uint64(62), b // np.uint64(62)
    ids = out.view("S22").ravel().astype(str).tolist()
    if len(set(ids)) < n:  # two 64-bit values each: never in practice, but ids must differ
        ids = [f"{i[:16]}{k:06d}" for k, i in enumerate(ids)]
    return ids


def _names(rng: np.random.Generator, n: int, low: int, high: int) -> list[str]:
    counts = rng.integers(low, high + 1, n)
    picks = rng.integers(0, len(_WORDS), int(counts.sum()))
    words, out, at = [w.capitalize() for w in _WORDS], [], 0
    for c in counts.tolist():
        out.append(" ".join(words[i] for i in picks[at : at + c]))
        at += c
    return out


def _catalog(conn: Any, rng: np.random.Generator, tracks: int) -> dict[str, np.ndarray]:
    """The catalog tables, and per track (in index order) what the plays need: its family
    range, duration and popularity order."""
    artists, albums = max(tracks // 10, 20), max(tracks // 4, 50)
    family_p = np.array(_FAMILY_WEIGHTS, float) / sum(_FAMILY_WEIGHTS)
    artist_family = np.sort(rng.choice(len(GENRE_FAMILIES), artists, p=family_p))
    album_artist = np.sort(rng.integers(0, artists, albums))  # albums grouped by artist
    album_artist[:artists] = np.arange(artists)[: min(artists, albums)]  # every artist one
    album_artist.sort()
    track_album = np.sort(rng.integers(0, albums, tracks))  # tracks grouped by family too
    track_artist = album_artist[track_album]
    track_family = artist_family[track_artist]
    duration = np.clip(rng.lognormal(np.log(205_000), 0.28, tracks), 45_000, 900_000).astype(
        np.int64
    )
    # Popularity: a random order of the tracks; global picks follow it (rank 0 most played).
    by_rank = rng.permutation(tracks)
    rank = np.empty(tracks, np.int64)
    rank[by_rank] = np.arange(tracks)
    popularity = np.clip(
        np.round(88 - 70 * (rank / tracks) ** 0.45 + rng.normal(0, 6, tracks)), 0, 100
    )
    artist_names = [
        ("The " if k % 5 == 0 else "") + name for k, name in enumerate(_names(rng, artists, 1, 2))
    ]
    artist_names = [f"{n} {k}" if k % 7 == 3 else n for k, n in enumerate(artist_names)]
    artist_ids, album_ids, track_ids = _ids(artists, 1), _ids(albums, 2), _ids(tracks, 3)
    release_year = np.clip(2025 - np.round(rng.exponential(9, albums)), 1955, 2025).astype(int)
    frames = {
        "artists": pa.table(
            {
                "artist_id": artist_ids,
                "artist_name": artist_names,
                "followers": (rng.pareto(1.2, artists) * 5_000).astype(np.int64),
                "popularity": np.clip(rng.normal(45, 18, artists), 0, 100).astype(np.int64),
                "source": ["synthetic"] * artists,
            }
        ),
        "albums": pa.table(
            {
                "album_id": album_ids,
                "album_name": _names(rng, albums, 1, 3),
                "album_type": np.where(rng.random(albums) < 0.6, "album", "single").tolist(),
                "release_year": release_year,
                "release_date": [f"{y}-01-01" for y in release_year.tolist()],
                "release_date_precision": ["year"] * albums,
                "primary_artist_id": [artist_ids[a] for a in album_artist.tolist()],
                "source": ["synthetic"] * albums,
            }
        ),
        "tracks": pa.table(
            {
                "track_id": track_ids,
                "track_name": _names(rng, tracks, 1, 4),
                "album_id": [album_ids[a] for a in track_album.tolist()],
                "primary_artist_id": [artist_ids[a] for a in track_artist.tolist()],
                "duration_ms": duration,
                "explicit": rng.random(tracks) < 0.15,
                "popularity": pa.array(popularity.astype(np.int64), mask=rng.random(tracks) < 0.05),
                "source": ["synthetic"] * tracks,
            }
        ),
    }
    genres = [
        (artist_ids[a], g, fam)
        for a, f in enumerate(artist_family.tolist())
        for fam in [GENRE_FAMILIES[f]]
        for g in _GENRES[fam][: 1 + a % 3]
    ]
    frames["artist_genres"] = pa.table(
        {
            k: list(v)
            for k, v in zip(
                ("artist_id", "genre", "genre_family"), zip(*genres, strict=True), strict=True
            )
        }
    )
    featured = rng.random(tracks) < 0.1
    other = rng.integers(0, artists, tracks)
    keep = featured & (other != track_artist)
    frames["track_artists"] = pa.table(
        {
            "track_id": track_ids + [t for t, k in zip(track_ids, keep.tolist(), strict=True) if k],
            "artist_id": [artist_ids[a] for a in track_artist.tolist()]
            + [artist_ids[a] for a in other[keep].tolist()],
            "artist_position": [0] * tracks + [1] * int(keep.sum()),
        }
    )
    # Audio features for 85% of the tracks: valence and energy lean by family.
    has = rng.random(tracks) < 0.85
    lean = (np.arange(len(GENRE_FAMILIES)) % 5 - 2) * 0.08
    energy = np.clip(rng.beta(4, 3, tracks) + lean[track_family], 0, 1)
    n = int(has.sum())
    frames["track_audio_features"] = pa.table(
        {
            "track_id": [t for t, h in zip(track_ids, has.tolist(), strict=True) if h],
            "danceability": np.clip(rng.beta(5, 3, tracks) - lean[track_family] / 2, 0, 1)[has],
            "energy": energy[has],
            "key": rng.integers(0, 12, tracks)[has].astype(float),
            "loudness": np.clip(-14 + 10 * energy + rng.normal(0, 2, tracks), -40, 0)[has],
            "mode": (rng.random(tracks) < 0.62)[has].astype(float),
            "speechiness": rng.beta(1.2, 12, tracks)[has],
            "acousticness": np.clip(1 - energy + rng.normal(0, 0.15, tracks), 0, 1)[has],
            "instrumentalness": rng.beta(0.3, 3, tracks)[has],
            "liveness": rng.beta(1.5, 8, tracks)[has],
            "valence": np.clip(rng.beta(3, 3, tracks) + lean[::-1][track_family], 0, 1)[has],
            "tempo": np.clip(rng.normal(120, 28, tracks), 50, 215)[has],
            "time_signature": np.where(rng.random(tracks) < 0.92, 4.0, 3.0)[has],
            "observed_at": pa.array([datetime(2025, 6, 1)] * n, pa.timestamp("us")),
            "source_file": ["bench/audio_features.csv"] * n,
        }
    )
    for name, frame in frames.items():
        conn.register("_syn_frame", frame)
        conn.execute(f"insert into core.{name} by name select * from _syn_frame")
        conn.unregister("_syn_frame")
    family_lo = np.searchsorted(track_family, np.arange(len(GENRE_FAMILIES)), "left")
    family_hi = np.searchsorted(track_family, np.arange(len(GENRE_FAMILIES)), "right")
    # The strings the plays join on, per track index (and a second spelling for 2% of them).
    conn.register(
        "_syn_frame",
        pa.table(
            {
                "i": np.arange(tracks, dtype=np.int32),
                "track_id": track_ids,
                "track_name": frames["tracks"]["track_name"],
                "alt_name": [
                    f"{n} - Remastered {2000 + k % 25}" if k % 50 == 7 else n
                    for k, n in enumerate(frames["tracks"]["track_name"].to_pylist())
                ],
                "artist_name": [artist_names[a] for a in track_artist.tolist()],
                "album_name": frames["albums"]["album_name"].take(pa.array(track_album)),
            }
        ),
    )
    conn.execute("create or replace temp table _syn_tracks as select * from _syn_frame")
    conn.unregister("_syn_frame")
    return {
        "family_lo": family_lo,
        "family_size": np.maximum(family_hi - family_lo, 1),
        "family_p": family_p,
        "duration": duration,
        "by_rank": by_rank,
    }


def _utc_offsets(countries: list[str]) -> np.ndarray:
    """Minutes east of UTC of each country's zone on each day (at local noon)."""
    out = np.zeros((len(countries) + 1, DAYS), np.int64)  # the last row: no country, UTC
    for c, code in enumerate(countries):
        zone = ZoneInfo(COUNTRY_TIMEZONES[code])
        for d in range(DAYS):
            day = START + timedelta(days=d)
            noon = datetime(day.year, day.month, day.day, 12, tzinfo=zone)
            out[c, d] = int(noon.utcoffset().total_seconds()) // 60
    return out


def _listeners(rng: np.random.Generator, users: int, countries: int) -> dict[str, np.ndarray]:
    """Per listener: when they join and leave, how much and what they play, where from."""
    join = np.where(rng.random(users) < 0.35, 0, rng.integers(0, DAYS - 30, users))
    lifetime = np.maximum(rng.exponential(540, users), 20).astype(np.int64)
    leave = np.minimum(join + lifetime, DAYS)
    intensity = rng.lognormal(0, 1.1, users)
    country_p = np.array(list(COUNTRY_WEIGHTS.values()))
    platform = rng.choice(len(PLATFORMS), users, p=PLATFORM_WEIGHTS)
    return {
        "join": join,
        "span": leave - join,
        "session_rate": intensity**0.6,
        "session_plays": 3 + 7 * intensity**0.4,  # mean plays per session
        "skip_rate": rng.beta(2.2, 6.5, users),
        "podcasts": rng.random(users) < 0.3,
        "country": rng.choice(countries, users, p=country_p / country_p.sum()),
        "platform": platform,
        "platform2": (platform + rng.integers(1, len(PLATFORMS), users)) % len(PLATFORMS),
        "family": rng.choice(len(GENRE_FAMILIES), users, p=np.array(_FAMILY_WEIGHTS) / 100),
        "library": (150 + 900 * intensity**0.5).astype(np.int64),
    }


def _sessions(
    rng: np.random.Generator, who: dict[str, np.ndarray], plays: int, offsets: np.ndarray
) -> dict[str, np.ndarray]:
    """Sessions in random order, with their plays summing to exactly ``plays``."""
    weight = who["session_rate"] * who["span"]
    mean_plays = float((weight * who["session_plays"]).sum() / weight.sum())
    margin = 1.08
    while True:  # enough sessions for the plays (the first draw has, at bench sizes)
        n = int(plays / mean_plays * margin) + 10
        user = _pick(rng, weight, n)
        podcast = who["podcasts"][user] & (rng.random(n) < 0.3)
        length = np.where(
            podcast, rng.integers(1, 4, n), rng.geometric(1 / who["session_plays"][user])
        )
        total = np.cumsum(length)
        if total[-1] >= plays:
            break
        margin *= 1.2
    keep = int(np.searchsorted(total, plays)) + 1
    length[keep - 1] -= int(total[keep - 1]) - plays
    user, podcast, length = user[:keep], podcast[:keep], length[:keep]
    return _fields(rng, who, user, podcast, length, offsets)


def _fields(
    rng: np.random.Generator,
    who: dict[str, np.ndarray],
    user: np.ndarray,
    podcast: np.ndarray,
    length: np.ndarray,
    offsets: np.ndarray,
) -> dict[str, np.ndarray]:
    """A session's day (within the listener's span), local start hour, country, platform."""
    n = len(user)
    day = who["join"][user] + (rng.random(n) * who["span"][user]).astype(np.int64)
    weekend = (START.weekday() + day) % 7 >= 5
    hour = np.where(
        weekend,
        _pick(rng, WEEKEND_HOURS, n),
        _pick(rng, WEEKDAY_HOURS, n),
    )
    countries = offsets.shape[0] - 1
    where = rng.random(n)
    country = np.where(
        where < 0.03, rng.integers(0, countries, n), np.where(where < 0.035, countries,
                                                               who["country"][user])
    )  # fmt: skip
    local_ms = (day * 86_400 + hour * 3_600) * 1000 + rng.integers(0, 3_600_000, n)
    start_ms = local_ms - offsets[country, day] * 60_000
    start_ms[start_ms < 0] += 86_400_000  # before the data's first UTC day: a day later
    return {
        "user": user,
        "podcast": podcast,
        "length": length,
        "start_ms": start_ms,
        "country": country,
        "platform": np.where(rng.random(n) < 0.8, who["platform"][user], who["platform2"][user]),
        "shuffle": rng.random(n) < 0.45,
        "offline": rng.random(n) < 0.03,
    }


def _plays(
    rng: np.random.Generator,
    who: dict[str, np.ndarray],
    s: dict[str, np.ndarray],
    catalog: dict[str, np.ndarray],
    first_play: int,
) -> pa.Table:
    """The plays of sessions ``s`` as integer codes (one row per play)."""
    n_sessions = len(s["user"])
    session = np.repeat(np.arange(n_sessions), s["length"])
    n = len(session)
    first = np.zeros(n, bool)
    first[np.cumsum(s["length"])[:-1]] = True
    first[0] = True
    last = np.zeros(n, bool)
    last[np.cumsum(s["length"]) - 1] = True
    user = s["user"][session]
    podcast = s["podcast"][session]
    tracks = len(catalog["duration"])

    # What is played: the listener's library (leaning to one family; favourites first) or a
    # globally popular track; local files (no track id) now and then.
    u = rng.random(n)
    slot = (who["library"][user] * (u * u * np.sqrt(u))).astype(np.uint64)
    h = _mix(user.astype(np.uint64) * np.uint64(1_000_003) + slot)
    fam = who["family"][user]
    in_family = (slot % np.uint64(10)) < np.uint64(7)
    library = np.where(
        in_family,
        catalog["family_lo"][fam]
        + (h % catalog["family_size"][fam].astype(np.uint64)).astype(np.int64),
        (h % np.uint64(tracks)).astype(np.int64),
    )
    u = rng.random(n)
    popular = catalog["by_rank"][(tracks * (u * u * u)).astype(np.int64)]
    track = np.where(rng.random(n) < 0.55, library, popular)
    duration = catalog["duration"][track]
    episode = (_mix(user.astype(np.uint64) + np.uint64(7)) % np.uint64(300)).astype(
        np.int64
    ) * 200 + rng.integers(0, 200, n)

    # How long and why it ended: skips are short (fwdbtn), most plays run to the end, a
    # session's last play often stops part-way.
    skipped = rng.random(n) < np.where(podcast, 0.15, who["skip_rate"][user])
    skip_ms = np.minimum(
        np.where(
            rng.random(n) < 0.9,
            300 + rng.exponential(8_000, n),
            duration * rng.uniform(0.15, 0.7, n),
        ),
        duration,
    ).astype(np.int64)
    stop = last & (rng.random(n) < 0.5)
    episode_ms = np.clip(rng.lognormal(np.log(25 * 60_000), 0.6, n), 60_000, 3 * 3_600_000)
    full = np.where(podcast, episode_ms, duration).astype(np.int64)
    ms = np.where(skipped, skip_ms, np.where(stop, full * rng.uniform(0.1, 0.95, n), full))
    ms = ms.astype(np.int64)
    end = np.where(
        skipped,
        np.where(rng.random(n) < 0.9, _R["fwdbtn"], _R["backbtn"]),
        np.where(stop, np.where(rng.random(n) < 0.8, _R["endplay"], _R["logout"]),
                 _R["trackdone"]),
    )  # fmt: skip
    first_reason = np.array([_R[r] for r in FIRST_REASONS])[
        _pick(rng, list(FIRST_REASONS.values()), n)
    ]
    previous_end = np.roll(end, 1)
    start_reason = np.where(
        first,
        first_reason,
        np.where(rng.random(n) < 0.08, _R["clickrow"], np.where(
            previous_end == _R["backbtn"], _R["backbtn"], np.where(
                previous_end == _R["fwdbtn"], _R["fwdbtn"], _R["trackdone"]))),
    )  # fmt: skip

    # When: back to back within the session (a second or two between plays, sometimes tens
    # of seconds or a few minutes); ts, the end, in whole seconds as the exports write it.
    kind = rng.random(n)
    gap = np.where(
        kind < 0.85,
        rng.integers(0, 2_000, n),
        np.minimum(np.where(kind < 0.97, rng.exponential(40_000, n),
                            rng.exponential(240_000, n)), 20 * 60_000),
    ).astype(np.int64)  # fmt: skip
    step = ms + gap
    before = np.cumsum(step) - step  # time of all earlier plays of the chunk
    session_start = np.cumsum(s["length"]) - s["length"]
    offset = before - before[session_start][session]
    ts_ms = s["start_ms"][session] + offset + ms
    # A session running past the data's last UTC day moves back a day (or more): the data
    # ends with a whole month, so no month's churn is measured against a partial next month.
    overrun = ts_ms[last] - (DAYS * 86_400_000 - 1_000)  # each session's last play ends last
    ts_ms -= np.where(overrun > 0, (overrun + 86_399_999) // 86_400_000, 0)[session] * 86_400_000
    epoch = int(datetime(START.year, START.month, START.day, tzinfo=UTC).timestamp() * 1000)
    ts_us = (epoch + ts_ms) // 1000 * 1_000_000
    local = ~podcast & (rng.random(n) < 0.002)
    spelling = rng.random(n) < 0.1
    return pa.table(
        {
            "i": np.arange(first_play, first_play + n, dtype=np.int64),
            "user": user.astype(np.int32),
            "ts": pa.array(ts_us, pa.timestamp("us")),
            "podcast": podcast,
            "track": track.astype(np.int32),
            "local_file": local,
            "alt_spelling": spelling,
            "episode": episode.astype(np.int32),
            "ms_played": ms,
            "country": s["country"][session].astype(np.int16),
            "platform": s["platform"][session].astype(np.int8),
            "reason_start": start_reason.astype(np.int8),
            "reason_end": end.astype(np.int8),
            "shuffle": s["shuffle"][session],
            "skipped": skipped,
            "offline": s["offline"][session],
        }
    )


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def synthetic_streams(
    conn: Any,
    users: int,
    plays: int,
    *,
    seed: int = 17,
    tracks: int = 60_000,
    chunk_plays: int = 4_000_000,
) -> None:
    """Write ``core.streams`` with ``plays`` plays by ``users`` listeners over two years
    (2024-2025), the catalog tables and ``core.listeners`` (see the module docstring)."""
    from spotify_assets.lib.listening.streams import build_listeners, create_empty_streams
    from spotify_assets_tests.support.warehouse import create_core_tables

    countries = list(COUNTRY_WEIGHTS)
    conn.execute("set TimeZone = 'UTC'")
    conn.execute("set enable_progress_bar = false")
    create_core_tables(conn)
    create_empty_streams(conn)
    catalog = _catalog(conn, np.random.default_rng([seed, 0]), tracks)
    who = _listeners(np.random.default_rng([seed, 1]), users, len(countries))
    offsets = _utc_offsets(countries)
    sessions = _sessions(np.random.default_rng([seed, 2]), who, plays, offsets)
    user_ids = [f"user_{k:05d}" for k in range(users)]
    shows = _names(np.random.default_rng([seed, 3]), 300, 1, 3)
    conn.register("_syn_users", pa.table({"i": np.arange(users, dtype=np.int32),
                                          "user_id": user_ids}))  # fmt: skip
    conn.execute("create or replace temp table _syn_user_ids as select * from _syn_users")
    conn.unregister("_syn_users")
    # Chunks of whole sessions, each from its own seeded generator.
    bounds = np.searchsorted(np.cumsum(sessions["length"]),
                             np.arange(chunk_plays, plays, chunk_plays), "right")  # fmt: skip
    cuts = [0, *bounds.tolist(), len(sessions["user"])]
    done = 0
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        part = {name: v[a:b] for name, v in sessions.items()}
        table = _plays(np.random.default_rng([seed, 4, k]), who, part, catalog, done)
        done += table.num_rows
        conn.register("_syn_plays", table)
        conn.execute(
            f"""
insert into core.streams by name
select u.user_id, p.ts,
       case when p.podcast then 'podcast' else 'music' end as content_type,
       case when not p.podcast and not p.local_file then t.track_id end as track_id,
       case when p.podcast then 'E' || lpad(p.episode::varchar, 21, '0') end as episode_id,
       case when p.podcast then null
            when p.alt_spelling then t.alt_name else t.track_name end as track_name,
       case when not p.podcast then t.artist_name end as artist_name,
       case when not p.podcast then t.album_name end as album_name,
       case when p.podcast then 'Episode ' || (p.episode % 200 + 1) end as episode_name,
       case when p.podcast then {_sql_list([s.replace("'", "''") for s in shows])}
                                [p.episode // 200 + 1] end as show_name,
       p.ms_played,
       {_sql_list(countries)}[p.country + 1] as conn_country,
       {_sql_list(PLATFORMS)}[p.platform + 1] as platform,
       {_sql_list(REASONS)}[p.reason_start + 1] as reason_start,
       {_sql_list(REASONS)}[p.reason_end + 1] as reason_end,
       p.shuffle, p.skipped, p.offline,
       case when p.offline then p.ts - interval 2 hour end as offline_timestamp,
       false as incognito_mode,
       'extended' as source_format,
       u.user_id || '/Streaming_History_Audio_' || year(p.ts) || '.json' as source_file,
       p.i as record_index
  from _syn_plays p
  join _syn_user_ids u on u.i = p.user
  left join _syn_tracks t on t.i = p.track
"""
        )
        conn.unregister("_syn_plays")
    conn.execute("drop table _syn_tracks")
    conn.execute("drop table _syn_user_ids")
    build_listeners(conn)


def describe(conn: Any) -> dict[str, Any]:
    """What the plays look like (so a reader sees the data is not degenerate): listeners,
    countries, podcast and skip shares; and, from ``marts.monthly_engagement`` and
    ``marts.sessions`` when they exist, the monthly churn range and plays per session."""
    (plays, users, countries, podcast, skips, short) = conn.execute(
        """
select count(*), count(distinct user_id), count(distinct conn_country),
       avg((content_type = 'podcast')::int),
       avg(skipped::int) filter (where content_type = 'music'),
       avg((ms_played < 30000)::int) filter (where content_type = 'music')
  from core.streams
"""
    ).fetchone()
    out: dict[str, Any] = {
        "plays": plays,
        "listeners": users,
        "countries": countries,
        "podcast_share": podcast,
        "skip_share": skips,
        "short_play_share": short,
    }
    tables = {r[0] for r in conn.execute("select table_name from duckdb_tables()").fetchall()}
    if "monthly_engagement" in tables:
        low, high, mean = conn.execute(
            "select min(churn_rate), max(churn_rate), avg(churn_rate) "
            "from marts.monthly_engagement where churn_rate is not null"
        ).fetchone()
        out.update(churn_min=low, churn_max=high, churn_mean=mean)
    if "sessions" in tables:
        sessions, mean, median, one = conn.execute(
            "select count(*), avg(plays), median(plays), avg((plays = 1)::int) from marts.sessions"
        ).fetchone()
        out.update(
            sessions=sessions,
            plays_per_session=mean,
            median_plays_per_session=median,
            one_play_sessions=one,
        )
    return out


def describe_text(shape: dict[str, Any]) -> str:
    """:func:`describe`'s figures as two lines, with a verdict on degeneracy."""
    text = (
        f"{shape['plays']:,} plays by {shape['listeners']:,} listeners from "
        f"{shape['countries']} countries; podcasts {shape['podcast_share']:.1%} of plays, "
        f"skips {shape['skip_share']:.1%} of music plays ({shape['short_play_share']:.1%} "
        "under 30 s)"
    )
    checks = []
    if "churn_min" in shape:
        text += (
            f"\nmonthly churn {shape['churn_min']:.1%} to {shape['churn_max']:.1%} "
            f"(mean {shape['churn_mean']:.1%})"
        )
        checks.append(shape["churn_min"] >= 0.02 and shape["churn_max"] <= 0.20)
    if "sessions" in shape:
        text += (
            f"; {shape['sessions']:,} sessions, {shape['plays_per_session']:.1f} plays per "
            f"session (median {shape['median_plays_per_session']:.0f}, "
            f"{shape['one_play_sessions']:.0%} of one play)"
        )
        checks.append(shape["plays_per_session"] >= 3)
    if checks:
        text += (
            "\nlistener-like: churn within 2-20%, 3+ plays per session"
            if all(checks)
            else "\nDEGENERATE: churn outside 2-20% or fewer than 3 plays per session"
        )
    return text
